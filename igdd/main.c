/* SPDX-License-Identifier: GPL-2.0-or-later */
/* igdd: the CPE daemon. The shared life cycle (config, store, nft backend, core, control socket,
 * privilege drop, loop) is firewall/daemon.c; this file starts igdd's front ends on top of it:
 * the PCP/NAT-PMP server and the household web UI (and switches the former on and off when the
 * household asks, from the web thread, through an eventfd handled on the loop). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "firewall/daemon.h"
#include "firewall/log.h"
#include "pcpd/pcp_io.h"
#include "web/api.h"
#include "web/http.h"

struct igdd_fronts {
	struct daemon *d;
	struct pcp_service *pcp;
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
	if (c->enable_upnp)
		log_info("enable_upnp=yes: the UPnP IGD:2 front end is not yet part of this build");
	if (c->has_upstream_pcp)
		log_info("upstream_pcp_server=%s: PCP interworking is not yet part of this build",
			 c->upstream_pcp_server);
}

static const struct daemon_info igdd_info = {
	.name = "igdd",
	.ctl_answer = api_ctl_answer,
	.start = igdd_start,
	.stop = igdd_stop,
	.note_features = igdd_note_features,
};

int main(int argc, char **argv)
{
	return daemon_main(&igdd_info, argc, argv);
}
