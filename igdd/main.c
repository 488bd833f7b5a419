/* SPDX-License-Identifier: GPL-2.0-or-later */
/* igdd: the CPE daemon. The shared life cycle (config, store, nft backend, core, control socket,
 * privilege drop, loop) is firewall/daemon.c; this file starts igdd's front ends on top of it:
 * the UPnP IGD device, the PCP/NAT-PMP server and the household web UI (and switches PCP on and off
 * when the household asks, from the web thread, through an eventfd handled on the loop). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "firewall/daemon.h"
#include "firewall/log.h"
#include "igdd/upnp.h"
#include "pcpd/pcp_io.h"
#include "web/api.h"
#include "web/http.h"

struct igdd_fronts {
	struct daemon *d;
	struct pcp_service *pcp;
	struct upnp_service *upnp;
	struct web *web;
	int switch_fd;               /* eventfd: the web UI changed the on/off switches */
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

/* Under the core lock, any thread: upnp_rule_changed only counts and wakes its eventing thread. */
static void igdd_rule_changed(struct daemon *d, const struct rule *r, enum core_event ev)
{
	struct igdd_fronts *f = d->front;

	if (f)
		upnp_rule_changed(f->upnp, r, ev);
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
	};

	if (!d->conf.enable_upnp)
		return 0;
	if (d->conf.fw.n_lan > 1)
		log_info("upnp: libupnp serves one interface: %s (the other LAN interfaces get PCP and the web UI)",
			 up.lan_ifname);
	return upnp_start(&f->upnp, &up);
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
		if (pcp_service_start_conf(&f->pcp, f->d->loop, f->d->core, &f->d->conf) < 0)
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

static int igdd_start(struct daemon *d)
{
	struct igdd_fronts *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->d = d;
	f->switch_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_store(&f->want_pcp, d->conf.enable_pcp);
	d->front = f;
	d->on_prefix_change = igdd_prefix_changed;
	d->on_rule_change = igdd_rule_changed;
	if (f->switch_fd < 0 || loop_add_fd(d->loop, f->switch_fd, EPOLLIN, apply_switches, f) < 0) {
		log_warn("front-end switches");
		return -1;
	}
	if (d->conf.web_listen[0]) {
		struct web_params wp = { .core = d->core, .conf = &d->conf, .store = d->store,
					 .fronts = fronts_wish, .fronts_arg = f };

		if (web_start(&f->web, &wp) < 0)
			return -1;
	}
	/* The web UI's persisted switch (if any) has been recorded by now; start what is wanted. */
	if (atomic_load(&f->want_pcp) && pcp_service_start_conf(&f->pcp, d->loop, d->core, &d->conf) < 0)
		return -1;
	return 0;
}

static void igdd_stop(struct daemon *d)
{
	struct igdd_fronts *f = d->front;

	if (f == NULL)
		return;
	upnp_stop(f->upnp);
	f->upnp = NULL;
	web_stop(f->web);
	pcp_service_stop(f->pcp);
	if (f->switch_fd >= 0) {
		loop_del_fd(d->loop, f->switch_fd);
		close(f->switch_fd);
	}
	free(f);
	d->front = NULL;
}

/* Keys this build accepts but cannot act on yet: say so instead of pretending. */
static void igdd_note_features(const struct conf *c)
{
	if (c->has_upstream_pcp)
		log_info("upstream_pcp_server=%s: PCP interworking is not yet part of this build",
			 c->upstream_pcp_server);
}

static const struct daemon_info igdd_info = {
	.name = "igdd",
	.ctl_answer = api_ctl_answer,
	.start = igdd_start,
	.start_after_drop = igdd_start_upnp,
	.stop = igdd_stop,
	.note_features = igdd_note_features,
};

int main(int argc, char **argv)
{
	return daemon_main(&igdd_info, argc, argv);
}
