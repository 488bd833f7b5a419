/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pcpd: the PCP server for CGN operators. For now the core, the store, the nft backend and the
 * control socket run exactly as in igdd (firewall/daemon.c); the PCP server is the next step. */
#include "firewall/daemon.h"
#include "firewall/log.h"
#include "web/api.h"

static void pcpd_note_features(const struct conf *c)
{
	log_info("pcpd: the PCP server is the next step; rules are managed through the control socket for now");
	if (c->enable_upnp)
		log_info("enable_upnp=yes: pcpd never speaks UPnP; the key is ignored");
	if (c->web_listen[0])
		log_info("web_listen=%s: pcpd has no web UI; the key is ignored", c->web_listen);
	if (c->has_upstream_pcp)
		log_info("upstream_pcp_server=%s: PCP interworking is not yet part of this build",
			 c->upstream_pcp_server);
}

static const struct daemon_info pcpd_info = {
	.name = "pcpd",
	.ctl_answer = api_ctl_answer,
	.start = NULL,
	.note_features = pcpd_note_features,
};

int main(int argc, char **argv)
{
	return daemon_main(&pcpd_info, argc, argv);
}
