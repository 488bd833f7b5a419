/* SPDX-License-Identifier: GPL-2.0-or-later */
/* WANIPConnection:2 (and :1) and WANCommonInterfaceConfig:1 action handlers, plus soap_call, the one
 * entry the libupnp glue uses. Parsed arguments in, one core call, out-arguments or an error code out. */
#include <arpa/inet.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/addr.h"
#include "firewall/log.h"
#include "igdd/iwf.h"
#include "igdd/upnp.h"

/* The interworking function (RFC 6970) when igdd sits behind a CGN: set by main.c around the UPnP
 * service's life, read by the libupnp threads. NULL (unit tests, no upstream) = local mappings only. */
static struct iwf *the_iwf;

void soap_wanipc_set_iwf(struct iwf *w)
{
	__atomic_store_n(&the_iwf, w, __ATOMIC_RELEASE);
}

struct iwf *soap_wanipc_iwf(void)
{
	return __atomic_load_n(&the_iwf, __ATOMIC_ACQUIRE);
}

/* The IWF when port mappings go upstream, else NULL. */
static struct iwf *upstream(void)
{
	struct iwf *w = soap_wanipc_iwf();

	return iwf_active(w) ? w : NULL;
}

/* The external port a UPnP client knows a mapping by: the CGN's when it is mapped upstream. */
static uint16_t ext_port_of(struct iwf *w, const struct rule *r)
{
	struct iwf_ext e;

	if (w && r->kind == RULE_PORTMAP && iwf_get(w, r->id, &e) && e.port)
		return e.port;
	return r->ext_port;
}

/* Rewrites a copied rule list so the external ports are the ones the clients know. */
static void ext_ports_upstream(struct rule *rules, size_t n)
{
	struct iwf *w = upstream();

	for (size_t i = 0; w && i < n; i++)
		rules[i].ext_port = ext_port_of(w, &rules[i]);
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

bool soap_is_own(const struct soap_ctx *ctx, const struct rule *r)
{
	struct in6_addr addrs[2];
	size_t n;

	if (addr_equal(&r->owner, &ctx->peer))
		return true;
	/* every address the rule opens counts, the device's stable one too: after a renumbering the
	 * owner's (temporary) address is gone and a rule asked for the stable address has no exact one */
	n = rule_addresses(r, addrs);
	for (size_t i = 0; i < n; i++)
		if (addr_equal(&addrs[i], &ctx->peer) ||
		    (ctx->same_device && ctx->same_device(ctx->arg, &ctx->peer, &addrs[i])))
			return true;
	return false;
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

static const char *host_str(const struct in6_addr *a, uint8_t len, char buf[ADDR_STRLEN])
{
	if (len == 0) {
		buf[0] = '\0';
		return buf;
	}
	return addr_str(a, buf);
}

/* ---------- adding and deleting ---------- */

static int add_portmap(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n, bool any,
		       struct soap_out *out)
{
	struct soap_pm_req q;
	struct core_add_req req;
	struct rule got;
	struct iwf *w;
	enum verdict v;
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
	req.any_ext_port = any;
	v = core_add_wait(ctx->core, &req, &got);
	if (v != V_OK)
		return soap_verdict_code(any ? SOAP_OP_ADD_ANY_PM : SOAP_OP_ADD_PM, v, ctx->v1);
	if ((w = upstream()) != NULL) {
		/* RFC 6970: the policy said yes and the local DNAT (CPE port got.ext_port) is in; now the CGN.
		 * Refused or unanswered -> the local rule goes again (if this call made it): no half mapping. */
		bool existed = iwf_get(w, got.id, NULL);
		struct iwf_ext ext;
		int prc = iwf_map(w, &got, q.ext_port, !any, 0, &ext);

		if (prc == 0 && !any && ext.port != q.ext_port) {
			iwf_unmap(w, got.id);  /* a server that ignored PREFER_FAILURE */
			prc = PCP_CANNOT_PROVIDE_EXTERNAL;
		}
		if (prc != 0) {
			if (!existed && core_delete(ctx->core, got.id, &ctx->peer, true) != V_OK)
				log_warnx("iwf: rollback of local rule %u failed", got.id);
			return iwf_upnp_code(prc, ctx->v1);
		}
		got.ext_port = ext.port;
	}
	if (any)
		soap_out_addf(out, "NewReservedPort", "%u", got.ext_port);
	return SOAP_OK;
}

static int find_portmap(const struct soap_ctx *ctx, const struct soap_pm_req *q, struct rule *r)
{
	struct in_addr any = { 0 };
	struct iwf *w = upstream();
	uint32_t id;

	/* behind a CGN the client names the CGN's port: find the local rule through the IWF */
	if (w && iwf_find_ext(w, q->proto, q->ext_port, &id) && core_get(ctx->core, id, r) == V_OK &&
	    r->remote_len == q->remote_len && (q->remote_len == 0 || addr_equal(&r->remote, &q->remote))) {
		r->ext_port = q->ext_port;
		return SOAP_OK;
	}
	return core_find_portmap(ctx->core, any, q->proto, q->ext_port, &q->remote, q->remote_len, r) == V_OK
		       ? SOAP_OK : 714;
}

static int delete_portmap(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n)
{
	struct soap_pm_req q;
	struct rule r;
	int rc = soap_parse_portmap_key(in, n, &q);

	enum verdict v;

	if (rc || (rc = find_portmap(ctx, &q, &r)))
		return rc;
	v = core_delete(ctx->core, r.id, &ctx->peer, false);
	if (v == V_OK)
		iwf_unmap(upstream(), r.id);
	return soap_verdict_code(SOAP_OP_DEL_PM, v, ctx->v1);
}

/* Manage=1 lists/deletes everyone's mappings only where the policy lets anyone act for anyone;
 * an unauthenticated CP's Manage SHOULD be ignored (IGD:2 security model). */
static bool range_match(const struct soap_ctx *ctx, const struct soap_pm_range *q, const struct rule *r)
{
	bool manage = q->manage && !core_policy(ctx->core)->secure_mode;

	return r->kind == RULE_PORTMAP && r->proto == q->proto && r->ext_port >= q->start &&
	       r->ext_port <= q->end && (manage || soap_is_own(ctx, r));
}

static int delete_range(const struct soap_ctx *ctx, const struct soap_arg *in, size_t n)
{
	struct soap_pm_range q;
	struct rule *rules = NULL;
	size_t cnt, deleted = 0;
	int rc = soap_parse_pm_range(in, n, false, &q);

	if (rc)
		return rc;
	/* Not one transaction: the core has no batch delete yet. Each delete is checked on its own. */
	cnt = core_list(ctx->core, &rules);
	ext_ports_upstream(rules, cnt);
	for (size_t i = 0; i < cnt; i++)
		if (range_match(ctx, &q, &rules[i]) &&
		    core_delete(ctx->core, rules[i].id, &ctx->peer, false) == V_OK) {
			iwf_unmap(upstream(), rules[i].id);  /* one PCP delete per mapping (RFC 6970) */
			deleted++;
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
	soap_out_addf(out, "NewLeaseDuration", "%u", remaining(ctx, r));
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
	struct rule *rules = NULL;
	uint16_t index;
	size_t cnt, seen = 0;
	int rc = soap_parse_pm_index(in, n, &index);

	if (rc)
		return rc;
	/* the array is the port mappings in id order: compacted on delete, stable otherwise */
	cnt = core_list(ctx->core, &rules);
	ext_ports_upstream(rules, cnt);
	rc = 713;
	for (size_t i = 0; i < cnt; i++) {
		if (rules[i].kind != RULE_PORTMAP)
			continue;
		if (seen++ == index) {
			entry_out(ctx, &rules[i], true, out);
			rc = SOAP_OK;
			break;
		}
	}
	free(rules);
	return rc;
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
	size_t cnt, kept = 0;
	int rc = soap_parse_pm_range(in, n, true, &q);

	if (rc)
		return rc;
	cnt = core_list(ctx->core, &rules);
	ext_ports_upstream(rules, cnt);
	/* compact the matches to the front, in id order, at most NumberOfPorts (0 = no limit) */
	for (size_t i = 0; i < cnt && (q.max == 0 || kept < q.max); i++)
		if (range_match(ctx, &q, &rules[i]))
			rules[kept++] = rules[i];
	if (kept == 0) {
		free(rules);
		return 730;
	}
	soap_out_take(out, "NewPortListing", soap_portlisting_xml(ctx, rules, kept));
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
		struct iwf *w = upstream();
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
