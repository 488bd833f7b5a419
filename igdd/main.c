/* SPDX-License-Identifier: GPL-2.0-or-later */
/* igdd: the CPE daemon. The shared life cycle (config, store, nft backend, core, control socket,
 * privilege drop, loop) is firewall/runtime/daemon.c; this file starts igdd's front ends on top of it:
 * the UPnP IGD device, the PCP/NAT-PMP server and the household web UI (and switches PCP on and off
 * when the household asks, from the web thread, through an eventfd handled on the loop). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "firewall/runtime/daemon.h"
#include "firewall/lib/log.h"
#include "igdd/iwf.h"
#include "igdd/upnp.h"
#include "pcpd/pcp_io.h"
#include "firewall/runtime/api.h"
#include "web/http.h"

struct igdd_fronts {
	struct daemon *d;
	struct pcp_service *pcp;
	struct upnp_service *upnp;
	struct web *web;
	struct iwf *iwf;             /* RFC 6970 interworking with an upstream PCP server (igdd/iwf.h) */
	struct pcp_upstream pcp_up;  /* the PCP server's view of it (iwf_pcp_upstream) */
	struct api_upstream api_up;  /* the control API's (igdctl, the web UI) */
	int switch_fd;               /* eventfd: the web UI changed the on/off switches */
	int upstream_fd;             /* eventfd: the upstream's external address or an upstream port changed */
	atomic_bool want_pcp;
};

/* RFC 6887 (14.1.3): after a renumbering, PCP clients must re-map: restart the epoch and ANNOUNCE. */
static void igdd_prefix_changed(struct daemon *d, const struct in6_addr *old_prefix, uint8_t old_len,
				const struct in6_addr *new_prefix, uint8_t new_len,
				const struct core_reanchor_result *res)
{
	struct igdd_fronts *f = d->front;

	(void)old_prefix, (void)old_len, (void)new_prefix, (void)new_len, (void)res;
	if (f && f->pcp)
		pcp_service_state_lost(f->pcp);
	if (f)
		upnp_rule_changed(f->upnp, NULL, CORE_EV_CHANGED);
}

/* Under the core lock, after the change committed, any thread: upnp_rule_changed only counts and wakes
 * its eventing thread, iwf_rule_event only queues and wakes the IWF's (a leaf lock each). */
static void igdd_rule_changed(struct daemon *d, const struct rule *r, enum core_event ev)
{
	struct igdd_fronts *f = d->front;

	if (f == NULL)
		return;
	upnp_rule_changed(f->upnp, r, ev);
	iwf_rule_event(f->iwf, r, ev);
}

/* ---------- the interworking function, as the front ends see it ---------- */

/* the CGN's address or a mapping's port changed: UPnP clients learn it through eventing */
/* Any thread (the IWF's, a UPnP one): the loop tells the PCP and NAT-PMP clients. */
static void iwf_changed(void *arg)
{
	struct igdd_fronts *f = arg;
	uint64_t one = 1;

	upnp_rule_changed(__atomic_load_n(&f->upnp, __ATOMIC_ACQUIRE), NULL, CORE_EV_CHANGED);
	if (write(f->upstream_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("iwf: waking the loop");
}

/* Loop thread: what the LAN's PCP and NAT-PMP clients were told (the external address, a mapping's
 * external port) changed upstream, which to them is a loss of state (RFC 6887 8.5): the epoch restarts
 * and the ANNOUNCE burst goes out, the NAT-PMP one with the upstream's address. */
static void upstream_changed(void *arg, int fd, uint32_t events)
{
	struct igdd_fronts *f = arg;
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("iwf: loop wake-up");
	if (f->pcp == NULL)
		return;
	log_info("pcp: the upstream's external address or port changed: epoch restarts, ANNOUNCE");
	pcp_service_state_lost(f->pcp);
}

static json_t *api_upstream_status(void *arg)
{
	struct iwf_status st;
	struct iwf_mapping m[64];
	size_t n = iwf_list(arg, m, 64);
	json_t *arr = json_array(), *j;
	char a[16];

	for (size_t i = 0; arr && i < n && i < 64; i++) {
		inet_ntop(AF_INET, &m[i].ext.addr, a, sizeof(a));
		json_array_append_new(arr, json_pack("{s:I,s:s,s:i,s:s,s:i,s:s,s:I}", "rule", (json_int_t)m[i].rule_id,
			"proto", m[i].proto == IPPROTO_TCP ? "tcp" : "udp", "int_port", (int)m[i].int_port,
			"ext_addr", a, "ext_port", (int)m[i].ext.port, "state", pcp_client_state_name(m[i].ext.state),
			"lifetime", (json_int_t)m[i].ext.lifetime));
	}
	iwf_status(arg, &st);
	j = json_pack("{s:s?,s:s,s:o,s:s?,s:I,s:I,s:I,s:I}",
			 "server", st.server[0] ? st.server : NULL,
			 "state", iwf_state_name(st.state),
			 "epoch", st.has_epoch ? json_integer(st.epoch) : json_null(),
			 "ext_addr", st.ext_addr[0] ? st.ext_addr : NULL,
			 "mappings", (json_int_t)st.mappings,
			 "mapped", (json_int_t)st.mapped,
			 "recreated", (json_int_t)st.recreated,
			 "resets", (json_int_t)st.resets);
	if (j && arr)
		json_object_set_new(j, "list", arr);
	else
		json_decref(arr);
	return j;
}

static json_t *api_upstream_rule(void *arg, uint32_t id)
{
	struct iwf_ext e;
	char a[16];

	if (!iwf_get(arg, id, &e))
		return iwf_active(arg) ? json_pack("{s:s}", "state", "none") : NULL;
	inet_ntop(AF_INET, &e.addr, a, sizeof(a));
	return json_pack("{s:s,s:s,s:i,s:I}", "state", pcp_client_state_name(e.state), "ext_addr", a,
			 "ext_port", (int)e.port, "lifetime", (json_int_t)e.lifetime);
}

/* Before the privilege drop (its socket for unsolicited ANNOUNCEs), without threads yet: the one
 * handle the front ends are given (the PCP service when it starts, UPnP, the API). */
static int igdd_new_iwf(struct daemon *d)
{
	struct igdd_fronts *f = d->front;
	struct iwf_params p = {
		.core = d->core,
		.has_server = d->conf.has_upstream_pcp,
		.server = d->conf.upstream_pcp_addr,
		.ext_ifname = d->conf.ext_ifname,
		.send_descriptions = d->conf.upstream_descriptions,
		.changed = iwf_changed,
		.changed_arg = f,
	};
	if (iwf_new(&f->iwf, &p) < 0)
		return -1;
	iwf_pcp_upstream(f->iwf, &f->pcp_up);
	f->api_up = (struct api_upstream){ .status = api_upstream_status, .rule = api_upstream_rule, .arg = f->iwf };
	d->api_upstream = &f->api_up;
	return 0;
}

/* libupnp starts a pool of threads: after the privilege drop, so they keep only CAP_NET_ADMIN (the
 * core's nft commits happen on them) and nothing else. */
static int igdd_start_upnp(struct daemon *d)
{
	struct igdd_fronts *f = d->front;
	struct upnp_params up = {
		.core = d->core,
		.lan_ifname = d->conf.fw.lan_ifname[0],
		.ext_ifname = d->conf.ext_ifname,
		.state_dir = d->conf.state_dir,
		.force_v1 = d->conf.force_igd_v1,
		.notify_interval = d->conf.upnp_notify_interval,
		.http_port = (unsigned short)d->conf.upnp_http_port,
		.lan = devwatch_lan(d->devwatch),
		.ifaces = devwatch_netif(d->devwatch),
		.iwf = f->iwf,
	};

	/* after the privilege drop, so its threads keep only what the daemon keeps */
	if (iwf_run(f->iwf) < 0)
		return -1;
	if (!d->conf.enable_upnp)
		return 0;
	if (d->conf.fw.n_lan > 1)
		log_info("upnp: libupnp serves one interface: %s (the other LAN interfaces get PCP and the web UI)",
			 up.lan_ifname);
	{
		struct upnp_service *u = NULL;
		int rc = upnp_start(&u, &up);

		__atomic_store_n(&f->upnp, u, __ATOMIC_RELEASE);
		return rc;
	}
}

/* Loop thread: bring the PCP service to the state the household asked for. */
static void apply_switches(void *arg, int fd, uint32_t events)
{
	struct igdd_fronts *f = arg;
	uint64_t n;
	bool want = atomic_load(&f->want_pcp);

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("front-end switches");
	if (want && !f->pcp) {
		if (pcp_service_start_conf(&f->pcp, f->d->loop, f->d->core, &f->d->conf, devwatch_netif(f->d->devwatch),
					   &f->pcp_up) < 0)
			log_warnx("web: cannot switch the PCP server on");
		else
			log_info("web: PCP server switched on");
	} else if (!want && f->pcp) {
		pcp_service_stop(f->pcp);
		f->pcp = NULL;
		log_info("web: PCP server switched off");
	}
}

/* Web thread: only record the wish and wake the loop. */
static void fronts_wish(void *arg, const struct web_settings *s)
{
	struct igdd_fronts *f = arg;
	uint64_t one = 1;

	atomic_store(&f->want_pcp, s->enable_pcp);
	if (write(f->switch_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("front-end switches");
}

/* Loop thread: UPnP follows the LAN interface (it may come up after us, and renumbering changes the
 * address SSDP must announce); the web UI listens on a LAN interface that did not exist at start. */
static void igdd_lan_changed(struct daemon *d, const struct lanif_set *lan)
{
	struct igdd_fronts *f = d->front;

	if (f) {
		upnp_lan_changed(__atomic_load_n(&f->upnp, __ATOMIC_ACQUIRE), lan);
		web_lan_changed(f->web);
	}
}

static void igdd_policy_reloaded(struct daemon *d)
{
	struct igdd_fronts *f = d->front;

	if (f)
		web_reapply_settings(f->web);
}

static int igdd_start(struct daemon *d)
{
	struct igdd_fronts *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->d = d;
	f->switch_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	f->upstream_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_store(&f->want_pcp, d->conf.enable_pcp);
	d->front = f;
	d->on_prefix_change = igdd_prefix_changed;
	d->on_rule_change = igdd_rule_changed;
	d->on_policy_reload = igdd_policy_reloaded;
	d->on_lan_change = igdd_lan_changed;
	if (f->switch_fd < 0 || loop_add_fd(d->loop, f->switch_fd, EPOLLIN, apply_switches, f) < 0) {
		log_warn("front-end switches");
		return -1;
	}
	if (f->upstream_fd < 0 || loop_add_fd(d->loop, f->upstream_fd, EPOLLIN, upstream_changed, f) < 0) {
		log_warn("iwf: loop wake-up");
		return -1;
	}
	if (igdd_new_iwf(d) < 0)
		return -1;
	/* The web UI's persisted switch, recorded when the web server starts, corrects this later. */
	if (atomic_load(&f->want_pcp) &&
	    pcp_service_start_conf(&f->pcp, d->loop, d->core, &d->conf, devwatch_netif(d->devwatch), &f->pcp_up) < 0)
		return -1;
	return 0;
}

/* Everything that runs threads of its own starts after the privilege drop: capabilities are per
 * thread, and a thread made before the drop would keep none (as another user) or all (as root). */
static int igdd_start_after_drop(struct daemon *d)
{
	struct igdd_fronts *f = d->front;

	if (d->conf.web_listen[0]) {
		struct web_params wp = { .core = d->core, .conf = &d->conf, .store = d->store,
					 .ifaces = devwatch_netif(d->devwatch), .fronts = fronts_wish, .fronts_arg = f,
					 .upstream = &f->api_up };

		if (web_start(&f->web, &wp) < 0)
			return -1;
	}
	return igdd_start_upnp(d);
}

static void igdd_stop(struct daemon *d)
{
	struct igdd_fronts *f = d->front;

	if (f == NULL)
		return;
	upnp_stop(f->upnp);
	__atomic_store_n(&f->upnp, NULL, __ATOMIC_RELEASE);
	web_stop(f->web);
	pcp_service_stop(f->pcp);
	f->pcp = NULL;
	d->api_upstream = NULL;
	iwf_stop(f->iwf);
	f->iwf = NULL;
	if (f->switch_fd >= 0) {
		loop_del_fd(d->loop, f->switch_fd);
		close(f->switch_fd);
	}
	if (f->upstream_fd >= 0) {
		loop_del_fd(d->loop, f->upstream_fd);
		close(f->upstream_fd);
	}
	free(f);
	d->front = NULL;
}

/* Keys this build accepts but cannot act on yet: say so instead of pretending. */
static void igdd_note_features(const struct conf *c)
{
	(void)c;  /* everything the config asks for is built in (upstream_pcp_server: igdd/iwf.c) */
}

static const struct daemon_info igdd_info = {
	.name = "igdd",
	.start = igdd_start,
	.start_after_drop = igdd_start_after_drop,
	.stop = igdd_stop,
	.note_features = igdd_note_features,
	.lan_is_link = true,
};

int main(int argc, char **argv)
{
	return daemon_main(&igdd_info, argc, argv);
}
