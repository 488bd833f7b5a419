/* SPDX-License-Identifier: GPL-2.0-or-later */
/* WANIPConnection:2 (and :1) and WANCommonInterfaceConfig:1 action handlers, plus soap_call, the one
 * entry the libupnp glue uses. Parsed arguments in, one core call, out-arguments or an error code out. */
#include <arpa/inet.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/lib/log.h"
#include "igdd/iwf.h"
#include "igdd/upnp.h"

/* The interworking function (RFC 6970) when igdd sits behind a CGN and port mappings go upstream now,
 * else NULL (no upstream, unit tests: local mappings only). */
static struct iwf *upstream(const struct soap_ctx *ctx)
{
	return iwf_active(ctx->iwf) ? ctx->iwf : NULL;
}

/* The external port a UPnP client knows a mapping by: the CGN's when it is mapped upstream. */
static uint16_t ext_port_of(struct iwf *w, const struct rule *r)
{
	struct iwf_ext e;

	if (w && r->kind == RULE_PORTMAP && iwf_get(w, r->id, &e) && e.port)
		return e.port;
	return r->ext_port;
}

/* What the control point may see: its own mappings, or every one where the policy lets anyone act
 * for anyone (the core decides: core_reader). own_only: IGD:2 Manage=0, or an unauthenticated CP. */
static struct core_reader reader_of(const struct soap_ctx *ctx, bool own_only)
{
	struct core_reader rd = { .requester = ctx->peer, .own_only = own_only };

	return rd;
}

int soap_call(const struct soap_ctx *ctx, enum soap_service svc, const char *action,
	      const struct soap_arg *in, size_t n, struct soap_out *out)
{
	const struct soap_actiondef *def = soap_action_find(svc, action);
	int rc;

	memset(out, 0, sizeof(*out));
	/* an IGD:1 CP only has the IGD:1 actions (AddAnyPortMapping and friends are v2) */
	if (def == NULL || (def->v2_only && ctx->v1 && svc == SOAP_SVC_WANIPC))
		return SOAP_E_INVALID_ACTION;
	if ((rc = soap_check_args(def, in, n)))
		return rc;
	switch (svc) {
	case SOAP_SVC_WANIPC: rc = soap_wanipc_call(ctx, def, in, n, out); break;
	case SOAP_SVC_V6FC: rc = soap_v6fc_call(ctx, def, in, n, out); break;
	case SOAP_SVC_WANCIC: rc = soap_wancic_call(ctx, def, out); break;
	default: rc = SOAP_E_INVALID_ACTION; break;
	}
	if (rc == SOAP_OK && out->oom)
		rc = SOAP_E_OUT_OF_MEMORY;
	if (rc != SOAP_OK)
		soap_out_free(out);
	return rc;
}

static const char *pm_proto(uint16_t p)
{
	return p == IPPROTO_UDP ? "UDP" : "TCP";
}

static uint32_t remaining(const struct soap_ctx *ctx, const struct rule *r)
{
	if (r->expires == 0)
		return 0;
	return r->expires > ctx->now ? (uint32_t)(r->expires - ctx->now) : 0;
}

/* The lease GetGeneric/GetSpecificPortMappingEntry report. Windows' and the Xbox's IGD:1 clients hide
 * every mapping with a lease from their list (IGD:1 knew 0 as "permanent", and they asked 0): to them a
 * long lease (a day or more, or the longest the policy grants) is shown as the 0 they asked for. */
static uint32_t reported_lease(const struct soap_ctx *ctx, const struct rule *r)
{
	struct policy_config pc;

	if (ctx->ua_igd1 && r->expires != 0) {
		core_policy_get(ctx->core, &pc);
		if (r->lease >= SOAP_LONG_LEASE || r->lease >= pc.max_lifetime)
			return 0;
	}
	return remaining(ctx, r);
}

static const char *host_str(const struct in6_addr *a, uint8_t len, char buf[ADDR_STRLEN])
{
	if (len == 0) {
		buf[0] = '\0';
		return buf;
	}
	return addr_str(a, buf);
}

/* ---------- adding and deleting ---------- */

/* The CP's own UPnP mapping of this internal endpoint (client, port, protocol, remote), if it has one:
 * AddAnyPortMapping gives its port back. Clients ask again after a restart or a lost answer with
 * another port (Tailscale a random one), and would collect a mapping per attempt. */
static bool own_mapping_of(const struct soap_ctx *ctx, const struct soap_pm_req *q, struct rule *found)
{
	struct core_reader rd = reader_of(ctx, true);
	struct rule chunk[32];
	uint32_t after = 0;
	size_t got;

	while ((got = core_portmaps_after(ctx->core, &rd, after, chunk, 32)) > 0) {
		after = chunk[got - 1].id;
		for (size_t i = 0; i < got; i++) {
			const struct rule *r = &chunk[i];

			if (r->origin == ORIGIN_UPNP && r->proto == q->proto && r->int_port == q->int_port &&
			    addr_equal(&r->target.exact, &q->client) && r->remote_len == q->remote_len &&
			    (q->remote_len == 0 || addr_equal(&r->remote, &q->remote))) {
				*found = *r;
				return true;
			}
		}
	}
	return false;
}

static int add_portmap(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n, bool any,
		       struct soap_out *out)
{
	struct soap_pm_req q;
	struct core_add_req req;
	struct rule got, prev;
	struct iwf *w;
	struct iwf_ext had;
	enum verdict v;
	bool had_local;
	int rc = soap_parse_add_portmap(in, n, any, &q);

	if (rc)
		return rc;
	if (q.client_empty) {
		/* v1 clients that leave it empty mean themselves (miniupnp #236); v2 says 715 */
		if (!ctx->v1 || !addr_is_v4(&ctx->peer))
			return 715;
		q.client = ctx->peer;
	}
	memset(&req, 0, sizeof(req));
	req.rule.kind = RULE_PORTMAP;
	req.rule.proto = q.proto;
	req.rule.ext_port = q.ext_port ? q.ext_port : q.int_port;  /* AddAny with 0: start from the internal port */
	if (any && own_mapping_of(ctx, &q, &got)) {
		req.rule.ext_port = got.ext_port;   /* the local port */
		if (iwf_get(upstream(ctx), got.id, &had) && had.port)
			q.ext_port = had.port;      /* and the CGN's, which the client knows it by */
	}
	req.rule.int_port = q.int_port;
	req.rule.target.use_exact = true;
	req.rule.target.exact = q.client;
	req.rule.target.exact_kind = ADDR_KIND_IPV4;
	req.rule.remote = q.remote;
	req.rule.remote_len = q.remote_len;
	req.rule.lease = q.lease;
	req.rule.origin = ORIGIN_UPNP;
	req.rule.owner = ctx->peer;
	memcpy(req.rule.desc, q.desc, sizeof(req.rule.desc));
	req.port = any ? CORE_PORT_NEAREST : CORE_PORT_EXACT;
	/* Is this the client's mapping already (a refresh)? Then it stands whatever the upstream says now:
	 * it may be the one the same app's PCP or NAT-PMP request made a moment ago (libtorrent sends both
	 * at once), mapped on the CGN already. */
	had_local = core_find_portmap(ctx->core, (struct in_addr){ 0 }, req.rule.proto, req.rule.ext_port,
				      &req.rule.remote, req.rule.remote_len, &prev) == V_OK &&
		    addr_equal(&prev.target.exact, &q.client) && prev.int_port == q.int_port;
	if (had_local && !any && (w = upstream(ctx)) != NULL && iwf_get(w, prev.id, &had) && had.port &&
	    had.port != q.ext_port)
		return iwf_upnp_code(PCP_CANNOT_PROVIDE_EXTERNAL, ctx->v1);   /* the CGN gave it another port */
	v = core_add_wait(ctx->core, &req, &got);
	if (v != V_OK)
		return soap_verdict_code(any ? SOAP_OP_ADD_ANY_PM : SOAP_OP_ADD_PM, v, ctx->v1);
	if ((w = upstream(ctx)) != NULL) {
		/* RFC 6970: the policy said yes and the local DNAT (CPE port got.ext_port) is in; now the CGN,
		 * through the one path every front end takes (iwf.h): refused or unanswered, the local rule
		 * this call made goes again (no half mapping); another port than an exact request named is 718 */
		struct iwf_req up = { .rule_id = got.id, .owner = ctx->peer, .made = !had_local, .sugg_port = q.ext_port,
				      .prefer_failure = !any, .exact = !any };
		struct iwf_ext ext;
		int prc = iwf_request(w, &up, &ext);

		if (prc != PCP_SUCCESS)
			return iwf_upnp_code(prc, ctx->v1);
		got.ext_port = ext.port;
	}
	if (any)
		soap_out_addf(out, "NewReservedPort", "%u", got.ext_port);
	return SOAP_OK;
}

/* The mapping a key names, if the CP may see it: 0, 714 (none), or 606 (someone else's). Behind a
 * CGN the client names the CGN's port: the local rule is found through the IWF. */
static int find_portmap(const struct soap_ctx *ctx, const struct soap_pm_req *q, struct rule *r)
{
	struct core_reader rd = reader_of(ctx, false);
	struct in_addr any = { 0 };
	struct iwf *w = upstream(ctx);
	uint32_t id = 0;
	enum verdict v;

	if (w && iwf_find_ext(w, q->proto, q->ext_port, &id) && core_get(ctx->core, id, r) == V_OK &&
	    r->remote_len == q->remote_len && (q->remote_len == 0 || addr_equal(&r->remote, &q->remote))) {
		v = core_get_as(ctx->core, id, &rd, r);
		r->ext_port = q->ext_port;
	} else if (core_find_portmap(ctx->core, any, q->proto, q->ext_port, &q->remote, q->remote_len, r) == V_OK) {
		v = core_get_as(ctx->core, r->id, &rd, r);
	} else {
		v = V_NOT_FOUND;
	}
	return soap_verdict_code(SOAP_OP_DEL_PM, v, ctx->v1);
}

static int delete_portmap(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n)
{
	struct soap_pm_req q;
	struct rule r;
	int rc = soap_parse_portmap_key(in, n, &q);

	enum verdict v;

	if (rc || (rc = find_portmap(ctx, &q, &r)))
		return rc;
	/* the upstream mapping follows the rule's DELETED event (iwf_rule_event) */
	v = core_delete(ctx->core, r.id, &ctx->peer, false);
	return soap_verdict_code(SOAP_OP_DEL_PM, v, ctx->v1);
}

/* The CP's port mappings in a range, in id order (GetListOfPortMappings, DeletePortMappingRange): read
 * through the core a chunk at a time, matched on the external port the CP knows. Manage=1 widens to
 * everyone's only where the policy lets anyone act for anyone (the core's reader); an unauthenticated
 * CP's Manage SHOULD be ignored (IGD:2 security model), which secure_mode does. *out: malloc'd, at
 * most max entries (0 = no limit); returns how many, or -1 out of memory. */
static ssize_t range_matches(const struct soap_ctx *ctx, const struct soap_pm_range *q, size_t max,
			     struct rule **out)
{
	struct core_reader rd = reader_of(ctx, !q->manage);
	struct rule chunk[32], *all = NULL;
	struct iwf *w = upstream(ctx);
	size_t got, n = 0, cap = 0;
	uint32_t after = 0;

	*out = NULL;
	while ((max == 0 || n < max) && (got = core_portmaps_after(ctx->core, &rd, after, chunk, 32)) > 0) {
		after = chunk[got - 1].id;
		for (size_t i = 0; i < got && (max == 0 || n < max); i++) {
			struct rule *r = &chunk[i];

			r->ext_port = ext_port_of(w, r);
			if (r->proto != q->proto || r->ext_port < q->start || r->ext_port > q->end)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct rule *p = realloc(all, ncap * sizeof(*p));

				if (p == NULL) {
					free(all);
					return -1;
				}
				all = p;
				cap = ncap;
			}
			all[n++] = *r;
		}
	}
	*out = all;
	return (ssize_t)n;
}

static int delete_range(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n)
{
	struct soap_pm_range q;
	struct rule *rules = NULL;
	size_t deleted = 0;
	ssize_t cnt;
	int rc = soap_parse_pm_range(in, n, false, &q);

	if (rc)
		return rc;
	if ((cnt = range_matches(ctx, &q, 0, &rules)) < 0)
		return SOAP_E_OUT_OF_MEMORY;
	/* IGD:2: atomic. One core batch (one journal sync, one transaction); entries the CP may not delete
	 * are skipped. The upstream (RFC 6970) deletes follow the DELETED events, on the IWF's thread. */
	core_batch_begin(ctx->core);
	for (ssize_t i = 0; i < cnt; i++)
		if (core_delete(ctx->core, rules[i].id, &ctx->peer, false) == V_OK)
			rules[deleted++].id = rules[i].id;
	if (core_batch_end(ctx->core) < 0) {
		free(rules);
		return SOAP_E_ACTION_FAILED;
	}
	free(rules);
	return deleted ? SOAP_OK : 730;
}

/* ---------- reading ---------- */

static void entry_out(const struct soap_ctx *ctx, const struct rule *r, bool with_key, struct soap_out *out)
{
	char buf[ADDR_STRLEN];

	if (with_key) {
		soap_out_add(out, "NewRemoteHost", host_str(&r->remote, r->remote_len, buf));
		soap_out_addf(out, "NewExternalPort", "%u", r->ext_port);
		soap_out_add(out, "NewProtocol", pm_proto(r->proto));
	}
	soap_out_addf(out, "NewInternalPort", "%u", r->int_port);
	soap_out_add(out, "NewInternalClient", addr_str(&r->target.exact, buf));
	soap_out_add(out, "NewEnabled", "1");
	soap_out_add(out, "NewPortMappingDescription", r->desc);
	soap_out_addf(out, "NewLeaseDuration", "%u", reported_lease(ctx, r));
}

static int get_specific(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n, struct soap_out *out)
{
	struct soap_pm_req q;
	struct rule r;
	int rc = soap_parse_portmap_key(in, n, &q);

	if (rc || (rc = find_portmap(ctx, &q, &r)))
		return rc;
	entry_out(ctx, &r, false, out);
	return SOAP_OK;
}

static int get_generic(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n, struct soap_out *out)
{
	struct core_reader rd = reader_of(ctx, false);
	struct rule r;
	uint16_t index;
	int rc = soap_parse_pm_index(in, n, &index);

	if (rc)
		return rc;
	/* the port mappings the CP may see, in id order: compacted on delete, stable otherwise */
	switch (core_portmap_at(ctx->core, &rd, index, &r)) {
	case V_OK:
		break;
	case V_NO_RESOURCES:
		return SOAP_E_OUT_OF_MEMORY;
	default:
		return 713;
	}
	r.ext_port = ext_port_of(upstream(ctx), &r);
	entry_out(ctx, &r, true, out);
	return SOAP_OK;
}

static int w_elem(xmlTextWriterPtr w, const char *name, const char *value)
{
	return xmlTextWriterWriteElementNS(w, BAD_CAST "p", BAD_CAST name, NULL, BAD_CAST value);
}

static int w_entry(xmlTextWriterPtr w, const struct soap_ctx *ctx, const struct rule *r)
{
	char host[ADDR_STRLEN], client[ADDR_STRLEN], ext[8], in[8], lease[12];
	int rc = 0;

	snprintf(ext, sizeof(ext), "%u", r->ext_port);
	snprintf(in, sizeof(in), "%u", r->int_port);
	snprintf(lease, sizeof(lease), "%u", remaining(ctx, r));
	rc |= xmlTextWriterStartElementNS(w, BAD_CAST "p", BAD_CAST "PortMappingEntry", NULL) < 0;
	rc |= w_elem(w, "NewRemoteHost", host_str(&r->remote, r->remote_len, host)) < 0;
	rc |= w_elem(w, "NewExternalPort", ext) < 0;
	rc |= w_elem(w, "NewProtocol", pm_proto(r->proto)) < 0;
	rc |= w_elem(w, "NewInternalPort", in) < 0;
	rc |= w_elem(w, "NewInternalClient", addr_str(&r->target.exact, client)) < 0;
	rc |= w_elem(w, "NewEnabled", "1") < 0;
	rc |= w_elem(w, "NewDescription", r->desc) < 0;
	rc |= w_elem(w, "NewLeaseTime", lease) < 0;
	rc |= xmlTextWriterEndElement(w) < 0;
	return rc ? -1 : 0;
}

char *soap_portlisting_xml(const struct soap_ctx *ctx, const struct rule *rules, size_t n)
{
	xmlBufferPtr buf = xmlBufferCreate();
	xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
	char *res = NULL;
	int bad = w == NULL;

	if (!bad) {
		bad |= xmlTextWriterStartDocument(w, "1.0", "utf-8", NULL) < 0;
		bad |= xmlTextWriterStartElementNS(w, BAD_CAST "p", BAD_CAST "PortMappingList",
						   BAD_CAST "urn:schemas-upnp-org:gw:WANIPConnection") < 0;
		bad |= xmlTextWriterWriteAttributeNS(w, BAD_CAST "xmlns", BAD_CAST "xsi", NULL,
			BAD_CAST "http://www.w3.org/2001/XMLSchema-instance") < 0;
		bad |= xmlTextWriterWriteAttributeNS(w, BAD_CAST "xsi", BAD_CAST "schemaLocation", NULL,
			BAD_CAST "urn:schemas-upnp-org:gw:WANIPConnection "
			"http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd") < 0;
		for (size_t i = 0; i < n && !bad; i++)
			bad |= w_entry(w, ctx, &rules[i]) < 0;
		bad |= xmlTextWriterEndDocument(w) < 0;
	}
	if (w)
		xmlFreeTextWriter(w);  /* flushes into buf */
	if (!bad && buf)
		res = strdup((const char *)xmlBufferContent(buf));
	if (buf)
		xmlBufferFree(buf);
	return res;
}

static int list_portmaps(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n, struct soap_out *out)
{
	struct soap_pm_range q;
	struct rule *rules = NULL;
	ssize_t kept;
	int rc = soap_parse_pm_range(in, n, true, &q);

	if (rc)
		return rc;
	/* in id order, at most NumberOfPorts (0 = no limit) */
	if ((kept = range_matches(ctx, &q, q.max, &rules)) < 0)
		return SOAP_E_OUT_OF_MEMORY;
	if (kept == 0) {
		free(rules);
		return 730;
	}
	soap_out_take(out, "NewPortListing", soap_portlisting_xml(ctx, rules, (size_t)kept));
	free(rules);
	return SOAP_OK;
}

/* ---------- connection state ---------- */

static bool connected(const struct soap_ctx *ctx)
{
	/* a non-public WAN address (CGN, test ranges) is still a connection: mappings work behind it */
	return ctx->wan.ext_ip[0] != '\0' || ctx->wan.link_up;
}

static int conn_action(const struct soap_ctx *ctx, const char *name, const struct soap_arg *in, size_t n,
		       struct soap_out *out)
{
	char type[16];
	int rc;

	if (strcmp(name, "GetStatusInfo") == 0) {
		soap_out_add(out, "NewConnectionStatus", connected(ctx) ? "Connected" : "Disconnected");
		soap_out_add(out, "NewLastConnectionError", "ERROR_NONE");
		soap_out_addf(out, "NewUptime", "%u", connected(ctx) ? (uint32_t)ctx->uptime : 0u);
	} else if (strcmp(name, "GetExternalIPAddress") == 0) {
		struct iwf *w = upstream(ctx);
		struct in_addr cgn;
		char ip[16] = "";

		/* behind a CGN the address the internet sees is the CGN's (RFC 6970); "" until it is known */
		if (w == NULL)
			soap_out_add(out, "NewExternalIPAddress", ctx->wan.ext_ip);
		else {
			if (iwf_ext_addr(w, &cgn))
				inet_ntop(AF_INET, &cgn, ip, sizeof(ip));
			soap_out_add(out, "NewExternalIPAddress", ip);
		}
	} else if (strcmp(name, "GetConnectionTypeInfo") == 0) {
		soap_out_add(out, "NewConnectionType", "IP_Routed");
		soap_out_add(out, "NewPossibleConnectionTypes", "IP_Routed");
	} else if (strcmp(name, "SetConnectionType") == 0) {
		if ((rc = soap_parse_conn_type(in, n, type)))
			return rc;
		/* the router's WAN is configured by its operator, not by LAN clients */
		return strcmp(type, "IP_Routed") == 0 ? SOAP_OK : 731;
	} else if (strcmp(name, "RequestConnection") == 0) {
		return connected(ctx) ? SOAP_OK : 704;
	} else if (strcmp(name, "ForceTermination") == 0) {
		return SOAP_E_NOT_AUTHORIZED;  /* one LAN app must not cut everyone's internet */
	} else if (strcmp(name, "GetNATRSIPStatus") == 0) {
		soap_out_add(out, "NewRSIPAvailable", "0");
		soap_out_add(out, "NewNATEnabled", "1");
	} else {
		return SOAP_E_INVALID_ACTION;
	}
	return SOAP_OK;
}

int soap_wanipc_call(const struct soap_ctx *ctx, const struct soap_actiondef *def,
		     const struct soap_arg *in, size_t n, struct soap_out *out)
{
	const char *a = def->name;

	if (strcmp(a, "AddPortMapping") == 0)
		return add_portmap(ctx, in, n, false, out);
	if (strcmp(a, "AddAnyPortMapping") == 0)
		return add_portmap(ctx, in, n, true, out);
	if (strcmp(a, "DeletePortMapping") == 0)
		return delete_portmap(ctx, in, n);
	if (strcmp(a, "DeletePortMappingRange") == 0)
		return delete_range(ctx, in, n);
	if (strcmp(a, "GetSpecificPortMappingEntry") == 0)
		return get_specific(ctx, in, n, out);
	if (strcmp(a, "GetGenericPortMappingEntry") == 0)
		return get_generic(ctx, in, n, out);
	if (strcmp(a, "GetListOfPortMappings") == 0)
		return list_portmaps(ctx, in, n, out);
	return conn_action(ctx, a, in, n, out);
}

int soap_wancic_call(const struct soap_ctx *ctx, const struct soap_actiondef *def, struct soap_out *out)
{
	const char *a = def->name;

	/* ui4 counters wrap at 2^32 (WANCommonInterfaceConfig:1) */
	if (strcmp(a, "GetCommonLinkProperties") == 0) {
		soap_out_add(out, "NewWANAccessType", "Ethernet");
		soap_out_add(out, "NewLayer1UpstreamMaxBitRate", "1000000000");
		soap_out_add(out, "NewLayer1DownstreamMaxBitRate", "1000000000");
		soap_out_add(out, "NewPhysicalLinkStatus", ctx->wan.link_up ? "Up" : "Down");
	} else if (strcmp(a, "GetTotalBytesSent") == 0) {
		soap_out_addf(out, "NewTotalBytesSent", "%u", (uint32_t)ctx->wan.tx_bytes);
	} else if (strcmp(a, "GetTotalBytesReceived") == 0) {
		soap_out_addf(out, "NewTotalBytesReceived", "%u", (uint32_t)ctx->wan.rx_bytes);
	} else if (strcmp(a, "GetTotalPacketsSent") == 0) {
		soap_out_addf(out, "NewTotalPacketsSent", "%u", (uint32_t)ctx->wan.tx_packets);
	} else if (strcmp(a, "GetTotalPacketsReceived") == 0) {
		soap_out_addf(out, "NewTotalPacketsReceived", "%u", (uint32_t)ctx->wan.rx_packets);
	} else {
		return SOAP_E_INVALID_ACTION;
	}
	return SOAP_OK;
}
