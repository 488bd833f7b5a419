/* SPDX-License-Identifier: GPL-2.0-or-later */
/* igdd: the CPE daemon. The shared life cycle (config, store, nft backend, core, control socket,
 * privilege drop, loop) is firewall/daemon.c; this file starts igdd's front ends on top of it. */
#include <stdlib.h>

#include "firewall/daemon.h"
#include "firewall/log.h"
#include "pcpd/pcp_io.h"
#include "web/api.h"

struct igdd_fronts {
	struct pcp_service *pcp;
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

static int igdd_start(struct daemon *d)
{
	struct igdd_fronts *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	d->front = f;
	d->on_prefix_change = igdd_prefix_changed;
	if (d->conf.enable_pcp && pcp_service_start_conf(&f->pcp, d->loop, d->core, &d->conf) < 0)
		return -1;
	return 0;
}

static void igdd_stop(struct daemon *d)
{
	struct igdd_fronts *f = d->front;

	if (f == NULL)
		return;
	pcp_service_stop(f->pcp);
	free(f);
	d->front = NULL;
}

/* Keys this build accepts but cannot act on yet: say so instead of pretending. */
static void igdd_note_features(const struct conf *c)
{
	if (c->enable_upnp)
		log_info("enable_upnp=yes: the UPnP IGD:2 front end is not yet part of this build");
	if (c->web_listen[0])
		log_info("web_listen=%s: the web UI is not yet part of this build", c->web_listen);
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
