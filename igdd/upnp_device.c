/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The device's life (see upnp_priv.h): one IGD registered for IPv4 and IPv6 on the LAN interface, with
 * libupnp brought up by a supervisor thread once the interface is ready and brought up again whenever
 * its addresses change; upnp_start and upnp_stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/lanif.h"
#include "firewall/lib/log.h"
#include "igdd/upnp_priv.h"

/* pupnp queues every SOAP request and every GENA NOTIFY (one per subscriber) as a job; its default of
 * 100 queued jobs drops NOTIFYs to all but ~100 subscribers of one event. Bounded subscriptions keep the
 * queue (and memory) bounded in turn. */
#define UPNP_MAX_JOBS          4096

/* ---------- libupnp callback and life cycle ---------- */

static int upnp_cb(Upnp_EventType type, const void *event, void *cookie)
{
	struct upnp_handle *h = cookie;

	switch (type) {
	case UPNP_CONTROL_ACTION_REQUEST:
		upnp_soap_action(h->u, (UpnpActionRequest *)(uintptr_t)event);
		break;
	case UPNP_EVENT_SUBSCRIPTION_REQUEST:
		upnp_gena_subscribe(h, event);
		break;
	default:
		break;
	}
	return 0;
}

static int register_family(struct upnp_service *u, struct upnp_handle *h, int family, const char *ip,
			   unsigned short port)
{
	char url[256], lower[256];
	const char *fmt = family == AF_INET6 ? "http://[%s]:%u/%s" : "http://%s:%u/%s";
	int rc;

	h->u = u;
	h->family = family;
	if (ip == NULL || ip[0] == '\0' || port == 0)
		return -1;
	snprintf(url, sizeof(url), fmt, ip, port, &DESC_ROOT_PATH[1]);
	/* A search for InternetGatewayDevice:1 gets the same (IGD:2) description, with ST :1 echoed by
	 * pupnp. Not rootDesc1.xml: miniupnpc 2.2 searches for IGD:1 first and would never see the
	 * pinhole service (tried: `upnpc -6 -A` found no WANIPv6FirewallControl). force_igd_v1 serves
	 * the IGD:1 description for every search instead. */
	snprintf(lower, sizeof(lower), fmt, ip, port, &DESC_ROOT_PATH[1]);
	rc = UpnpRegisterRootDevice4(url, upnp_cb, h, &h->h, family, lower);
	if (rc == UPNP_E_SUCCESS) {
		/* IGD:2 MUST send ssdp:byebye before its first ssdp:alive, so control points notice the
		 * restart (their mappings may be gone). pupnp exports no byebye-only call: unregistering
		 * sends it, then we register again. */
		UpnpUnRegisterRootDevice(h->h);
		rc = UpnpRegisterRootDevice4(url, upnp_cb, h, &h->h, family, lower);
	}
	if (rc != UPNP_E_SUCCESS) {
		log_warnx("upnp: register %s: %s (%d)", url, UpnpGetErrorMessage(rc), rc);
		return -1;
	}
	h->registered = true;
	upnp_gena_limit(h);
	rc = UpnpSendAdvertisement(h->h, (int)(2 * (u->p.notify_interval ? u->p.notify_interval : 900)));
	if (rc != UPNP_E_SUCCESS)
		log_warnx("upnp: advertise %s: %s", url, UpnpGetErrorMessage(rc));
	log_info("upnp: IGD%s at %s", u->p.force_v1 ? ":1" : ":2", url);
	return 0;
}

/* libupnp binds its SSDP sockets to 0.0.0.0:1900 / [::]:1900, and the kernel would hand its HTTP
 * listeners a connection arriving on the WAN for a LAN address: seen answering a unicast M-SEARCH
 * sent from the WAN to the WAN address. UPnP must not be reachable from the WAN (IGD:2 2.3), and
 * libupnp has no option for it, so its listening sockets are tied to the LAN interface here. */
static bool our_port(const struct sockaddr_storage *ss, const unsigned short ports[4])
{
	unsigned short port;

	if (ss->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	else
		return false;
	for (int i = 0; i < 4; i++)
		if (port != 0 && port == ports[i])
			return true;
	return false;
}

static void bind_to_lan(const struct upnp_service *u)
{
	unsigned short ports[4] = { 1900, UpnpGetServerPort(), UpnpGetServerPort6(), UpnpGetServerUlaGuaPort6() };
	int n = 0;

	/* bounded: descriptors below 4096 (libupnp's sockets are among the first a daemon opens) */
	for (int fd = 0; fd < 4096; fd++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char dev[IF_NAMESIZE] = "";
		socklen_t devlen = sizeof(dev);

		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || !our_port(&ss, ports))
			continue;
		/* A socket bound to a link-local address is tied to its interface already, and changing a
		 * socket's device takes CAP_NET_RAW, which we do not keep: only the unbound ones are tied. */
		if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &devlen) == 0 && dev[0]) {
			if (strcmp(dev, u->ifname) != 0)
				log_warnx("upnp: socket %d is tied to %s, not %s", fd, dev, u->ifname);
			n++;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, u->ifname, (socklen_t)strlen(u->ifname) + 1) < 0)
			log_warn("upnp: cannot tie socket %d to %s", fd, u->ifname);
		else
			n++;
	}
	log_debug("upnp: %d sockets tied to %s", n, u->ifname);
}

/* libupnp picks its IPv6 ULA/GUA listener address itself, in UpnpGetIfInfo, and its choice is broken
 * for us twice: it takes a GUA only while this global is empty, and nothing ever empties it, so after a
 * restart it keeps the old prefix's address forever (and fails to bind it); and among several GUAs (old
 * and new prefix during a renumbering) it takes whichever getifaddrs lists last. Setting the global
 * before UpnpInit2 makes it skip its own GUA choice and use ours (a ULA, when the interface has one,
 * still wins in libupnp, as documented). Both are exported by libupnp (upnpapi.c); only read by it. */
extern char gIF_IPV6_ULA_GUA[INET6_ADDRSTRLEN];
extern unsigned gIF_IPV6_ULA_GUA_PREFIX_LENGTH;

static void preset_gua(const struct upnp_want *w)
{
	memset(gIF_IPV6_ULA_GUA, 0, INET6_ADDRSTRLEN);
	gIF_IPV6_ULA_GUA_PREFIX_LENGTH = 0;
	if (w->has_gua && inet_ntop(AF_INET6, &w->gua, gIF_IPV6_ULA_GUA, INET6_ADDRSTRLEN))
		gIF_IPV6_ULA_GUA_PREFIX_LENGTH = w->gua_plen;
}

/* Stops libupnp (byebye first, so control points learn our mappings' host is going). sdk_lock held. */
static void libupnp_down(struct upnp_service *u)
{
	if (!u->have.ready)
		return;
	if (u->h4.registered)
		UpnpUnRegisterRootDevice(u->h4.h);
	if (u->h6.registered)
		UpnpUnRegisterRootDevice(u->h6.h);
	u->h4.registered = u->h6.registered = false;
	UpnpFinish();
	memset(&u->have, 0, sizeof(u->have));
}

/* Starts libupnp on the addresses of w. sdk_lock held. 0, or -1 (libupnp stopped again). */
static int libupnp_up(struct upnp_service *u, const struct upnp_want *w)
{
	int rc;
	const char *ip6;

	UpnpSetMaxJobsTotal(UPNP_MAX_JOBS);   /* before UpnpInit2: it sizes the thread pools */
	preset_gua(w);
	rc = UpnpInit2(u->ifname, u->p.http_port);
	if (rc != UPNP_E_SUCCESS) {
		log_warnx("upnp: UpnpInit2(%s): %s (%d)", u->ifname, UpnpGetErrorMessage(rc), rc);
		return -1;
	}
	u->have = *w;
	u->have.ready = true;
	if (upnp_docs_serve(u) < 0) {
		log_warnx("upnp: cannot serve the descriptions");
		libupnp_down(u);
		return -1;
	}
	register_family(u, &u->h4, AF_INET, UpnpGetServerIpAddress(), UpnpGetServerPort());
	/* a ULA/GUA listener: LOCATION with a link-local literal needs a zone id clients mishandle */
	ip6 = UpnpGetServerUlaGuaIp6Address();
	if (ip6 && ip6[0] && strcmp(ip6, "::") != 0)
		register_family(u, &u->h6, AF_INET6, ip6, UpnpGetServerUlaGuaPort6());
	else
		register_family(u, &u->h6, AF_INET6, UpnpGetServerIp6Address(), UpnpGetServerPort6());
	if (!u->h4.registered && !u->h6.registered) {
		log_warnx("upnp: no address family could be registered on %s", u->ifname);
		libupnp_down(u);
		return -1;
	}
	bind_to_lan(u);
	return 0;
}

static bool want_same(const struct upnp_want *a, const struct upnp_want *b)
{
	return a->ready == b->ready && a->ifindex == b->ifindex && a->has_v4 == b->has_v4 &&
	       a->has_ll == b->has_ll && a->has_gua == b->has_gua && a->has_ula == b->has_ula &&
	       (!a->has_v4 || addr_equal(&a->v4, &b->v4)) && (!a->has_ll || addr_equal(&a->ll, &b->ll)) &&
	       (!a->has_gua || addr_equal(&a->gua, &b->gua)) && (!a->has_ula || addr_equal(&a->ula, &b->ula));
}

static void describe_want(const struct upnp_want *w, char *buf, size_t len)
{
	char a[ADDR_STRLEN], b[ADDR_STRLEN], c[ADDR_STRLEN];

	snprintf(buf, len, "IPv4 %s, link-local %s, global %s", w->has_v4 ? addr_str(&w->v4, a) : "none",
		 w->has_ll ? addr_str(&w->ll, b) : "none",
		 w->has_ula ? addr_str(&w->ula, c) : w->has_gua ? addr_str(&w->gua, c) : "none");
}

#define CTL_RETRY_MIN_MS 500
#define CTL_RETRY_MAX_MS 10000

/* 1 s, 2 s, 4 s, 8 s, then every 10 s */
static uint64_t retry_ms(unsigned failures)
{
	uint64_t ms = (uint64_t)CTL_RETRY_MIN_MS << (failures < 6 ? failures : 6);

	return ms < CTL_RETRY_MAX_MS ? ms : CTL_RETRY_MAX_MS;
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The supervisor: whenever what the interface offers differs from what libupnp serves, stop it and
 * (when the interface is ready) start it again; a start that fails for the same addresses is tried
 * again with backoff. SOAP callbacks in flight finish first (UpnpFinish waits for libupnp's threads). */
static void *ctl_main(void *arg)
{
	struct upnp_service *u = arg;
	struct upnp_want failed = { 0 };
	struct timespec retry_at = { 0 };
	bool has_failed = false;
	char said[sizeof(u->want.why)] = "";

	pthread_mutex_lock(&u->ctl_mu);
	while (!u->ctl_stop) {
		struct upnp_want w = u->want;
		bool as_wanted = u->have.ready ? want_same(&w, &u->have) : !w.ready, ok = true;
		char d[200];

		if (!w.ready && strcmp(said, w.why) != 0) {
			log_info("upnp: waiting for %s: %s", u->ifname, w.why);
			snprintf(said, sizeof(said), "%s", w.why);
		}
		if (as_wanted) {
			pthread_cond_wait(&u->ctl_cond, &u->ctl_mu);
			continue;
		}
		if (has_failed && want_same(&w, &failed) &&
		    pthread_cond_timedwait(&u->ctl_cond, &u->ctl_mu, &retry_at) != ETIMEDOUT)
			continue;   /* woken before the retry is due: look at the news first */
		pthread_mutex_unlock(&u->ctl_mu);
		pthread_rwlock_wrlock(&u->sdk_lock);
		if (u->have.ready) {
			describe_want(&w, d, sizeof(d));
			log_info("upnp: %s changed (%s): restarting UPnP", u->ifname, w.ready ? d : w.why);
			libupnp_down(u);
		}
		if (w.ready)
			ok = libupnp_up(u, &w) == 0;
		pthread_rwlock_unlock(&u->sdk_lock);
		if (ok && w.ready)
			upnp_rule_changed(u, NULL, CORE_EV_CHANGED);   /* new subscribers hear the current count */
		pthread_mutex_lock(&u->ctl_mu);
		if (ok) {
			has_failed = false;
			u->failures = 0;
			said[0] = '\0';
			continue;
		}
		/* the interface may change again meanwhile (a port still in use, an address on its way) */
		failed = w;
		has_failed = true;
		u->failures++;
		deadline_in(&retry_at, retry_ms(u->failures));
		if (u->failures == 1 || u->failures % 10 == 0)
			log_warnx("upnp: could not start on %s (%u tries so far); trying again", u->ifname, u->failures);
	}
	pthread_mutex_unlock(&u->ctl_mu);
	pthread_rwlock_wrlock(&u->sdk_lock);
	libupnp_down(u);
	pthread_rwlock_unlock(&u->sdk_lock);
	return NULL;
}

/* What libupnp should serve, from the interface's facts. */
static void want_of(const struct lanif *i, struct upnp_want *w)
{
	memset(w, 0, sizeof(*w));
	if (!i || i->ifindex <= 0) {
		snprintf(w->why, sizeof(w->why), "the interface does not exist");
		return;
	}
	w->ifindex = i->ifindex;
	if (!lanif_usable(i)) {
		snprintf(w->why, sizeof(w->why), "the interface is %s", i->up ? "without carrier" : "down");
		return;
	}
	for (size_t k = 0; k < i->n; k++) {
		const struct lanif_addr *x = &i->a[k];

		/* libupnp would take these and fail to bind (or bind an address about to vanish) */
		if (x->tentative && (addr_is_link_local(&x->addr) || addr_is_ula(&x->addr))) {
			snprintf(w->why, sizeof(w->why), "an address is still in Duplicate Address Detection");
			return;
		}
	}
	w->has_v4 = lanif_v4(i, &w->v4, NULL);
	w->has_ll = lanif_link_local(i, &w->ll);
	for (size_t k = 0; k < i->n; k++) {
		const struct lanif_addr *x = &i->a[k];

		if (!x->tentative && addr_is_ula(&x->addr) && !w->has_ula) {
			w->ula = x->addr;
			w->has_ula = true;
		}
	}
	/* the newest preferred prefix: after a renumbering, the new one */
	{
		const struct lanif_addr *b = NULL;

		for (size_t k = 0; k < i->n; k++) {
			const struct lanif_addr *x = &i->a[k];

			if (x->tentative || addr_is_v4(&x->addr) || addr_is_link_local(&x->addr) || addr_is_ula(&x->addr) ||
			    addr_is_multicast(&x->addr))
				continue;
			if (!b || (b->deprecated && !x->deprecated) || (b->deprecated == x->deprecated && x->seq > b->seq))
				b = x;
		}
		if (b) {
			w->gua = b->addr;
			w->gua_plen = b->plen;
			w->has_gua = true;
		}
	}
	if (!w->has_v4 && !w->has_ll) {
		snprintf(w->why, sizeof(w->why), "no IPv4 or link-local address yet");
		return;
	}
	w->ready = true;
}

void upnp_lan_changed(struct upnp_service *u, const struct lanif_set *lan)
{
	struct upnp_want w;
	const struct lanif *i = NULL;

	if (!u || !lan)
		return;
	for (size_t k = 0; k < lan->n; k++)
		if (strcmp(lan->ifs[k].name, u->ifname) == 0)
			i = &lan->ifs[k];
	want_of(i, &w);
	pthread_mutex_lock(&u->ctl_mu);
	if (!want_same(&w, &u->want) || strcmp(w.why, u->want.why) != 0) {
		u->want = w;
		pthread_cond_signal(&u->ctl_cond);
	}
	pthread_mutex_unlock(&u->ctl_mu);
}

int upnp_start(struct upnp_service **out, const struct upnp_params *p)
{
	struct upnp_service *u;

	*out = NULL;
	if (p->core == NULL || p->lan_ifname == NULL || p->state_dir == NULL ||
	    strlen(p->lan_ifname) >= IF_NAMESIZE || (p->ext_ifname && strlen(p->ext_ifname) >= IF_NAMESIZE)) {
		log_warnx("upnp: missing or bad parameters");
		return -1;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -1;
	u->p = *p;
	snprintf(u->ifname, sizeof(u->ifname), "%s", p->lan_ifname);
	snprintf(u->ext_ifname, sizeof(u->ext_ifname), "%s", p->ext_ifname ? p->ext_ifname : "");
	u->desc.friendly_name = p->friendly_name;
	u->started = (int64_t)time(NULL);
	pthread_mutex_init(&u->ev_lock, NULL);
	pthread_cond_init(&u->ev_cond, NULL);
	pthread_mutex_init(&u->ctl_mu, NULL);
	pthread_cond_init(&u->ctl_cond, NULL);
	pthread_rwlock_init(&u->sdk_lock, NULL);
	if (upnp_uuid_load(u) < 0 || upnp_docs_build(u) < 0) {
		log_warnx("upnp: cannot prepare descriptions in %s", p->state_dir);
		upnp_stop(u);
		return -1;
	}
	for (int d = 0; d < DESC_DEV_COUNT; d++)
		desc_udn(&u->desc, (enum desc_device)d, u->udn[d]);
	if (upnp_gena_start(u) < 0) {
		upnp_stop(u);
		return -1;
	}
	/* the interface's facts arrive now (p->lan) and whenever they change (upnp_lan_changed) */
	snprintf(u->want.why, sizeof(u->want.why), "no news of the interface yet");
	upnp_lan_changed(u, p->lan);
	if (pthread_create(&u->ctl_thread, NULL, ctl_main, u) != 0) {
		upnp_stop(u);
		return -1;
	}
	u->ctl_running = true;
	*out = u;
	return 0;
}

void upnp_stop(struct upnp_service *u)
{
	if (u == NULL)
		return;
	if (u->ctl_running) {
		/* it unregisters (byebye) and stops libupnp on its way out */
		pthread_mutex_lock(&u->ctl_mu);
		u->ctl_stop = true;
		pthread_cond_signal(&u->ctl_cond);
		pthread_mutex_unlock(&u->ctl_mu);
		pthread_join(u->ctl_thread, NULL);
	}
	upnp_gena_stop(u);
	pthread_mutex_destroy(&u->ev_lock);
	pthread_cond_destroy(&u->ev_cond);
	pthread_mutex_destroy(&u->ctl_mu);
	pthread_cond_destroy(&u->ctl_cond);
	pthread_rwlock_destroy(&u->sdk_lock);
	upnp_docs_free();
	free(u);
}
