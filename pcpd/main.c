/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pcpd: the PCP server alone, for CGN operators: the shared life cycle (firewall/daemon.c) plus the
 * PCP/NAT-PMP service on the subscriber-facing interfaces. */
#include "firewall/daemon.h"
#include "firewall/log.h"
#include "pcpd/pcp_io.h"
#include "web/api.h"

static int pcpd_start(struct daemon *d)
{
	struct pcp_service *pcp = NULL;

	if (!d->conf.enable_pcp) {
		log_info("enable_pcp=no: pcpd runs with the control socket only");
		return 0;
	}
	if (pcp_service_start_conf(&pcp, d->loop, d->core, &d->conf) < 0)
		return -1;
	d->front = pcp;
	return 0;
}

static void pcpd_stop(struct daemon *d)
{
	pcp_service_stop(d->front);
	d->front = NULL;
}

static void pcpd_note_features(const struct conf *c)
{
	if (c->enable_upnp)
		log_info("enable_upnp=yes: pcpd never speaks UPnP; the key is ignored");
	if (c->web_listen[0])
		log_info("web_listen=%s: pcpd has no web UI; the key is ignored", c->web_listen);
	if (c->has_upstream_pcp)
		log_info("upstream_pcp_server=%s: pcpd is the upstream server itself; the key is ignored",
			 c->upstream_pcp_server);
}

static const struct daemon_info pcpd_info = {
	.name = "pcpd",
	.ctl_answer = api_ctl_answer,
	.start = pcpd_start,
	.stop = pcpd_stop,
	.note_features = pcpd_note_features,
};

int main(int argc, char **argv)
{
	return daemon_main(&pcpd_info, argc, argv);
}
