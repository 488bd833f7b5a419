/* SPDX-License-Identifier: GPL-2.0-or-later */
/* WANIPv6FirewallControl:1 action handlers: parsed arguments in, one core call, out-arguments or a
 * UPnP error code out. Authorisation is by device (the core's same_device), not by exact address:
 * the core decides what a CP may see and change. */
#include <stdio.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "igdd/upnp.h"

/* The outbound state lifetimes of Linux conntrack's defaults (nf_conntrack_*_timeout*): what an
 * outbound-created pinhole lives for once idle. */
static uint32_t outbound_timeout(uint16_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return 432000;   /* established */
	case IPPROTO_UDP: return 120;      /* stream (assured) */
	case RULE_PROTO_ANY: return 120;
	default: return 600;               /* generic */
	}
}

static int add_pinhole(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n, struct soap_out *out)
{
	struct soap_ph_req q;
	struct core_add_req req;
	struct rule got;
	enum verdict v;
	int rc = soap_parse_add_pinhole(in, n, &q);

	if (rc)
		return rc;
	if (!ctx->firewall_enabled)
		return 702;
	if (!ctx->pinholes_allowed)
		return 703;
	/* a pinhole to the gateway itself would open the router to the internet */
	if (ctx->is_gateway_addr && ctx->is_gateway_addr(ctx->arg, &q.client))
		return SOAP_E_NOT_AUTHORIZED;
	memset(&req, 0, sizeof(req));
	req.rule.kind = RULE_PINHOLE;
	req.rule.proto = q.proto;
	req.rule.int_port = q.int_port;
	req.rule.remote = q.remote;
	req.rule.remote_len = q.remote_len;
	req.rule.remote_port = q.remote_port;
	req.rule.target.use_exact = true;
	req.rule.target.exact = q.client;
	req.rule.lease = q.lease;
	req.rule.origin = ORIGIN_UPNP;
	req.rule.owner = ctx->peer;
	/* AddPinhole carries no description: say what asked, so a household can tell the rules apart */
	{
		char who[ADDR_STRLEN];

		snprintf(req.rule.desc, sizeof(req.rule.desc), "UPnP AddPinhole from %s", addr_str(&ctx->peer, who));
	}
	v = core_add_wait(ctx->core, &req, &got);
	if (v != V_OK)
		return soap_verdict_code(SOAP_OP_ADD_PH, v, false);
	if (got.id > 65535) {
		/* UniqueID is a ui2: a rule we cannot name is useless to the CP */
		core_delete(ctx->core, got.id, NULL, true);
		return 701;
	}
	soap_out_addf(out, "UniqueID", "%u", got.id);
	return SOAP_OK;
}

/* The pinhole behind a UniqueID, if the CP may see it (the core's reader decides). */
static int own_pinhole(const struct soap_ctx *ctx, uint16_t id, struct rule *r)
{
	struct core_reader rd = { .requester = ctx->peer };

	if (!ctx->firewall_enabled)
		return 702;
	switch (core_get_as(ctx->core, id, &rd, r)) {
	case V_OK:
		return r->kind == RULE_PINHOLE ? SOAP_OK : 704;
	case V_NOT_AUTHORIZED:
		return SOAP_E_NOT_AUTHORIZED;
	default:
		return 704;
	}
}

static int id_action(const struct soap_ctx *ctx, const char *a, const struct soap_arg *in, size_t n,
		     struct soap_out *out)
{
	struct rule r;
	uint32_t lease = 0;
	uint16_t id;
	bool update = strcmp(a, "UpdatePinhole") == 0;
	int rc = update ? soap_parse_update_pinhole(in, n, &id, &lease) : soap_parse_pinhole_id(in, n, &id);

	if (rc || (rc = own_pinhole(ctx, id, &r)))
		return rc;
	if (update)
		return soap_verdict_code(SOAP_OP_PH_ID, core_refresh(ctx->core, id, lease, &ctx->peer, false, NULL),
					 false);
	if (strcmp(a, "DeletePinhole") == 0)
		return soap_verdict_code(SOAP_OP_PH_ID, core_delete(ctx->core, id, &ctx->peer, false), false);
	/* counters live in the kernel: read them (under the core lock, no client I/O) before answering */
	core_read_counters(ctx->core);
	if (core_get(ctx->core, id, &r) != V_OK)
		return 704;
	if (strcmp(a, "GetPinholePackets") == 0) {
		soap_out_addf(out, "PinholePackets", "%u", r.packets > UINT32_MAX ? UINT32_MAX : (uint32_t)r.packets);
		return SOAP_OK;
	}
	if (r.packets == 0)
		return 709;
	soap_out_add(out, "IsWorking", "1");
	return SOAP_OK;
}

int soap_v6fc_call(const struct soap_ctx *ctx, const struct soap_actiondef *def,
		   const struct soap_arg *in, size_t n, struct soap_out *out)
{
	const char *a = def->name;
	struct soap_ph_req q;
	int rc;

	if (strcmp(a, "GetFirewallStatus") == 0) {
		soap_out_add(out, "FirewallEnabled", ctx->firewall_enabled ? "1" : "0");
		soap_out_add(out, "InboundPinholeAllowed", ctx->pinholes_allowed ? "1" : "0");
		return SOAP_OK;
	}
	if (strcmp(a, "AddPinhole") == 0)
		return add_pinhole(ctx, in, n, out);
	if (strcmp(a, "GetOutboundPinholeTimeout") == 0) {
		if ((rc = soap_parse_outbound(in, n, &q)))
			return rc;
		if (!ctx->firewall_enabled)
			return 702;
		soap_out_addf(out, "OutboundPinholeTimeout", "%u", outbound_timeout(q.proto));
		return SOAP_OK;
	}
	return id_action(ctx, a, in, n, out);
}
