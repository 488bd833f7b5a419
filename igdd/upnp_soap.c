/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SOAP dispatch (see upnp_priv.h): an action request turned into name/value pairs for soap_call, with
 * the context the handlers need (who asks, the WAN's facts), and the answer rendered back. The interface
 * facts come from netif.h (kept current from rtnetlink by the loop): no request dumps the host's
 * interfaces itself. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "firewall/lib/addr.h"
#include "firewall/core/device.h"
#include "firewall/lib/log.h"
#include "firewall/runtime/rtnl.h"
#include "igdd/upnp_priv.h"

#define MAX_IN_ARGS (SOAP_MAX_ARGS + 2)  /* one more than any action takes: more is 402 anyway */

/* ---------- addresses and WAN facts ---------- */

/* Copies rather than casts: libupnp's sockaddr_storage need not hold an aligned sockaddr_in6. */
static void sockaddr_to_in6(const void *sa, struct in6_addr *out)
{
	sa_family_t fam;

	memset(out, 0, sizeof(*out));
	if (sa == NULL)
		return;
	memcpy(&fam, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof(fam));
	if (fam == AF_INET) {
		struct sockaddr_in s4;

		memcpy(&s4, sa, sizeof(s4));
		addr_from_v4(out, s4.sin_addr);
	} else if (fam == AF_INET6) {
		struct sockaddr_in6 s6;

		memcpy(&s6, sa, sizeof(s6));
		*out = s6.sin6_addr;
	}
}

/* Is the control point on one of the LAN interface's subnets? UPnP is for the LAN only (IGD:2 §2.3). */
static bool peer_on_lan(const struct upnp_service *u, const struct in6_addr *peer)
{
	return netif_on_link(u->p.ifaces, u->ifname, peer);
}

/* One of the router's own addresses, on any interface (a pinhole to it opens nothing on the LAN). */
static bool is_gateway_addr(void *arg, const struct in6_addr *x)
{
	const struct upnp_service *u = arg;

	return netif_is_own(u->p.ifaces, x);
}

static uint64_t read_stat(const char *ifname, const char *name)
{
	char path[128], buf[32];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		v = strtoull(buf, NULL, 10);
	fclose(f);
	return v;
}

void upnp_wan_info(const struct upnp_service *u, bool counters, struct soap_wan_info *w)
{
	struct netif_facts f;

	memset(w, 0, sizeof(*w));
	if (u->ext_ifname[0] == '\0')
		return;
	netif_facts(u->p.ifaces, u->ext_ifname, &f);
	if (!f.exists)
		return;
	w->link_up = f.up && f.running;
	if (f.has_v4)
		inet_ntop(AF_INET, &f.v4, w->ext_ip, sizeof(w->ext_ip));
	if (counters) {
		w->tx_bytes = read_stat(u->ext_ifname, "tx_bytes");
		w->rx_bytes = read_stat(u->ext_ifname, "rx_bytes");
		w->tx_packets = read_stat(u->ext_ifname, "tx_packets");
		w->rx_packets = read_stat(u->ext_ifname, "rx_packets");
	}
}

struct same_q {
	const struct in6_addr *a, *b;
};

static int same_fn(void *arg, struct device_table *t)
{
	const struct same_q *q = arg;

	return device_same(t, q->a, q->b) ? 1 : 2;
}

/* The core's device table decides, as it does for the core's own checks; without a table (tests,
 * a build without devwatch) the kernel's neighbour table does. upnp_params.same_device overrides both. */
static bool core_same_device(void *arg, const struct in6_addr *a, const struct in6_addr *b)
{
	const struct upnp_service *u = arg;
	struct same_q q = { a, b };
	int rc;

	if (u->p.same_device)
		return u->p.same_device(u->p.device_arg, a, b);
	rc = core_with_devices(u->p.core, same_fn, &q);
	if (rc != 0)
		return rc == 1;
	return rtnl_same_device_neigh(NULL, a, b);
}

static void make_ctx(const struct upnp_service *u, const struct in6_addr *peer, bool v1, const char *ua,
		     bool counters, struct soap_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->core = u->p.core;
	ctx->iwf = u->p.iwf;
	ctx->peer = *peer;
	ctx->v1 = v1;
	ctx->ua_igd1 = desc_ua_needs_v1(ua);
	ctx->now = (int64_t)time(NULL);
	ctx->uptime = ctx->now - u->started;
	upnp_wan_info(u, counters, &ctx->wan);
	ctx->firewall_enabled = true;
	ctx->pinholes_allowed = true;
	ctx->same_device = core_same_device;
	ctx->is_gateway_addr = is_gateway_addr;
	ctx->arg = (void *)(uintptr_t)u;
}

/* ---------- SOAP ---------- */

/* Text of an element's only text child; "" when empty. NULL when it has element children (402). */
static const char *elem_text(IXML_Node *e)
{
	IXML_Node *c = ixmlNode_getFirstChild(e);
	const char *v;

	if (c == NULL)
		return "";
	if (ixmlNode_getNodeType(c) != eTEXT_NODE || ixmlNode_getNextSibling(c) != NULL)
		return NULL;
	v = ixmlNode_getNodeValue(c);
	return v ? v : "";
}

/* The action element's children as name/value pairs (names without prefix). -1 when malformed. */
static int collect_args(IXML_Node *action, struct soap_arg *a, size_t *n)
{
	*n = 0;
	for (IXML_Node *c = ixmlNode_getFirstChild(action); c; c = ixmlNode_getNextSibling(c)) {
		const char *name;

		if (ixmlNode_getNodeType(c) == eTEXT_NODE)
			continue;  /* white space between arguments */
		if (ixmlNode_getNodeType(c) != eELEMENT_NODE || *n >= MAX_IN_ARGS)
			return -1;
		name = ixmlNode_getLocalName(c);
		if (name == NULL)
			name = ixmlNode_getNodeName(c);
		a[*n].name = name;
		a[*n].value = elem_text(c);
		if (a[*n].name == NULL || a[*n].value == NULL)
			return -1;
		(*n)++;
	}
	return 0;
}

static IXML_Node *action_element(IXML_Document *doc)
{
	IXML_Node *c = doc ? ixmlNode_getFirstChild((IXML_Node *)doc) : NULL;

	while (c && ixmlNode_getNodeType(c) != eELEMENT_NODE)
		c = ixmlNode_getNextSibling(c);
	return c;
}

/* The service type to answer in: the CP's own namespace when it is a version of ours (IGD:1 CPs post
 * WANIPConnection:1 to our v2 URL and expect :1 back). */
static const char *answer_type(enum soap_service svc, const char *ns, bool *v1)
{
	const char *v2 = desc_service_type(svc, false), *t1 = desc_service_type(svc, true);

	*v1 = false;
	if (ns && strcmp(ns, t1) == 0 && strcmp(t1, v2) != 0) {
		*v1 = true;
		return t1;
	}
	return v2;
}

static void set_error(UpnpActionRequest *r, enum soap_service svc, int code)
{
	UpnpActionRequest_set_ErrCode(r, code);
	UpnpActionRequest_strcpy_ErrStr(r, soap_error_desc(svc, code));
	UpnpActionRequest_set_ActionResult(r, NULL);
}

/* The answer's document, <u:{action}Response xmlns:u="{type}"/>, built node by node: pupnp's
 * UpnpAddToActionResponse prints that element into a 2,000-byte buffer and parses it back for every
 * answer (with the malloc heap consolidation a buffer that size sets off), a tenth of igdd's CPU time
 * under many AddPinhole clients. NULL when out of memory. */
static IXML_Document *response_doc(const char *action, const char *type)
{
	IXML_Document *doc = NULL;
	IXML_Element *top = NULL;
	char qname[128];
	int n = snprintf(qname, sizeof(qname), "u:%sResponse", action);

	if (n < 0 || (size_t)n >= sizeof(qname) || ixmlDocument_createDocumentEx(&doc) != IXML_SUCCESS)
		return NULL;
	if (ixmlDocument_createElementNSEx(doc, type, qname, &top) != IXML_SUCCESS)
		goto fail;
	if (ixmlElement_setAttribute(top, "xmlns:u", type) != IXML_SUCCESS ||
	    ixmlNode_appendChild((IXML_Node *)doc, (IXML_Node *)top) != IXML_SUCCESS) {
		ixmlElement_free(top);
		goto fail;
	}
	return doc;
fail:
	ixmlDocument_free(doc);
	return NULL;
}

/* One output argument: <name>value</name>, the value as text (escaped when printed) or, for
 * NewPortListing, as CDATA as miniupnpd sends it: miniupnpc's small XML parser does not decode
 * entities, so an escaped listing (&lt;p:PortMappingList...) parses as zero entries (tried). */
static bool add_arg(IXML_Document *resp, const char *name, const char *value, bool cdata)
{
	IXML_Node *top = ixmlNode_getFirstChild((IXML_Node *)resp), *content = NULL;
	IXML_Element *el = NULL;
	int rc;

	if (top == NULL || (cdata && strstr(value, "]]>") != NULL))
		return false;
	if (ixmlDocument_createElementEx(resp, name, &el) != IXML_SUCCESS)
		return false;
	if (cdata)
		rc = ixmlDocument_createCDATASectionEx(resp, value, (IXML_CDATASection **)&content);
	else
		rc = ixmlDocument_createTextNodeEx(resp, value, &content);
	if (rc != IXML_SUCCESS || ixmlNode_appendChild((IXML_Node *)el, content) != IXML_SUCCESS) {
		if (content)
			ixmlNode_free(content);
		ixmlElement_free(el);
		return false;
	}
	if (ixmlNode_appendChild(top, (IXML_Node *)el) != IXML_SUCCESS) {
		ixmlElement_free(el);
		return false;
	}
	return true;
}

static void respond(UpnpActionRequest *r, const char *action, const char *type, const struct soap_out *o)
{
	IXML_Document *resp = response_doc(action, type);

	for (size_t i = 0; resp && i < o->n; i++) {
		bool cdata = strcmp(o->name[i], "NewPortListing") == 0;

		/* a listing that cannot be CDATA (it holds "]]>") goes as escaped text */
		if (!(cdata && add_arg(resp, o->name[i], o->value[i], true)) &&
		    !add_arg(resp, o->name[i], o->value[i], false)) {
			ixmlDocument_free(resp);
			resp = NULL;
		}
	}
	if (resp == NULL) {
		set_error(r, SOAP_SVC_COUNT, SOAP_E_OUT_OF_MEMORY);
		return;
	}
	UpnpActionRequest_set_ErrCode(r, UPNP_E_SUCCESS);
	UpnpActionRequest_set_ActionResult(r, resp);
}

void upnp_soap_action(struct upnp_service *u, UpnpActionRequest *r)
{
	const char *action = UpnpActionRequest_get_ActionName_cstr(r);
	enum soap_service svc = desc_service_by_id(UpnpActionRequest_get_ServiceID_cstr(r));
	IXML_Node *el = action_element(UpnpActionRequest_get_ActionRequest(r));
	struct soap_arg args[MAX_IN_ARGS];
	struct in6_addr peer;
	struct soap_ctx ctx;
	struct soap_out out;
	const char *type;
	char pbuf[ADDR_STRLEN];
	size_t n;
	bool v1;
	int rc;

	sockaddr_to_in6(UpnpActionRequest_get_CtrlPtIPAddr(r), &peer);
	if (svc == SOAP_SVC_COUNT || action == NULL || el == NULL) {
		set_error(r, SOAP_SVC_COUNT, SOAP_E_INVALID_ACTION);
		return;
	}
	type = answer_type(svc, ixmlNode_getNamespaceURI(el), &v1);
	if (!peer_on_lan(u, &peer)) {
		log_warnx("upnp: %s from %s, not on %s: refused", action, addr_str(&peer, pbuf), u->ifname);
		set_error(r, svc, SOAP_E_NOT_AUTHORIZED);
		return;
	}
	if (collect_args(el, args, &n) < 0) {
		set_error(r, svc, SOAP_E_INVALID_ARGS);
		return;
	}
	/* pupnp 1.14 copies the request's User-Agent into the action request's "Os" (soap_device.c) */
	make_ctx(u, &peer, v1 || u->p.force_v1, UpnpActionRequest_get_Os_cstr(r), svc == SOAP_SVC_WANCIC, &ctx);
	rc = soap_call(&ctx, svc, action, args, n, &out);
	log_debug("upnp: %s from %s -> %d", action, addr_str(&peer, pbuf), rc);
	if (rc != SOAP_OK) {
		set_error(r, svc, rc);
		return;
	}
	respond(r, action, type, &out);
	soap_out_free(&out);
}
