/* SPDX-License-Identifier: GPL-2.0-or-later */
/* soap_: pure argument handling. Everything that arrives from a control point is hostile text: every
 * length is checked before a byte is read, and every failure is a UPnP error code, never a crash. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "firewall/lib/addr.h"
#include "igdd/soap_args.h"

/* ---------- the action table ---------- */

#define A(n, v) { n, v }
#define PM_KEY A("NewRemoteHost", "RemoteHost"), A("NewExternalPort", "ExternalPort"), \
	A("NewProtocol", "PortMappingProtocol")
#define PM_VALUE A("NewInternalPort", "InternalPort"), A("NewInternalClient", "InternalClient"), \
	A("NewEnabled", "PortMappingEnabled"), A("NewPortMappingDescription", "PortMappingDescription"), \
	A("NewLeaseDuration", "PortMappingLeaseDuration")
#define PH_5TUPLE A("RemoteHost", "A_ARG_TYPE_IPv6Address"), A("RemotePort", "A_ARG_TYPE_Port"), \
	A("InternalClient", "A_ARG_TYPE_IPv6Address"), A("InternalPort", "A_ARG_TYPE_Port"), \
	A("Protocol", "A_ARG_TYPE_Protocol")
#define PH_ID A("UniqueID", "A_ARG_TYPE_UniqueID")

/* Order inside each service and of the arguments is the order of the SCPDs and responses. */
static const struct soap_actiondef actions[] = {
	{ "SetConnectionType", SOAP_SVC_WANIPC, false, { A("NewConnectionType", "ConnectionType") }, { { 0 } } },
	{ "GetConnectionTypeInfo", SOAP_SVC_WANIPC, false, { { 0 } },
	  { A("NewConnectionType", "ConnectionType"), A("NewPossibleConnectionTypes", "PossibleConnectionTypes") } },
	{ "RequestConnection", SOAP_SVC_WANIPC, false, { { 0 } }, { { 0 } } },
	{ "ForceTermination", SOAP_SVC_WANIPC, false, { { 0 } }, { { 0 } } },
	{ "GetStatusInfo", SOAP_SVC_WANIPC, false, { { 0 } },
	  { A("NewConnectionStatus", "ConnectionStatus"), A("NewLastConnectionError", "LastConnectionError"),
	    A("NewUptime", "Uptime") } },
	{ "GetNATRSIPStatus", SOAP_SVC_WANIPC, false, { { 0 } },
	  { A("NewRSIPAvailable", "RSIPAvailable"), A("NewNATEnabled", "NATEnabled") } },
	{ "GetGenericPortMappingEntry", SOAP_SVC_WANIPC, false,
	  { A("NewPortMappingIndex", "PortMappingNumberOfEntries") }, { PM_KEY, PM_VALUE } },
	{ "GetSpecificPortMappingEntry", SOAP_SVC_WANIPC, false, { PM_KEY }, { PM_VALUE } },
	{ "AddPortMapping", SOAP_SVC_WANIPC, false, { PM_KEY, PM_VALUE }, { { 0 } } },
	{ "AddAnyPortMapping", SOAP_SVC_WANIPC, true, { PM_KEY, PM_VALUE },
	  { A("NewReservedPort", "ExternalPort") } },
	{ "DeletePortMapping", SOAP_SVC_WANIPC, false, { PM_KEY }, { { 0 } } },
	{ "DeletePortMappingRange", SOAP_SVC_WANIPC, true,
	  { A("NewStartPort", "ExternalPort"), A("NewEndPort", "ExternalPort"),
	    A("NewProtocol", "PortMappingProtocol"), A("NewManage", "A_ARG_TYPE_Manage") }, { { 0 } } },
	{ "GetExternalIPAddress", SOAP_SVC_WANIPC, false, { { 0 } },
	  { A("NewExternalIPAddress", "ExternalIPAddress") } },
	{ "GetListOfPortMappings", SOAP_SVC_WANIPC, true,
	  { A("NewStartPort", "ExternalPort"), A("NewEndPort", "ExternalPort"),
	    A("NewProtocol", "PortMappingProtocol"), A("NewManage", "A_ARG_TYPE_Manage"),
	    A("NewNumberOfPorts", "PortMappingNumberOfEntries") },
	  { A("NewPortListing", "A_ARG_TYPE_PortListing") } },

	{ "GetFirewallStatus", SOAP_SVC_V6FC, true, { { 0 } },
	  { A("FirewallEnabled", "FirewallEnabled"), A("InboundPinholeAllowed", "InboundPinholeAllowed") } },
	{ "GetOutboundPinholeTimeout", SOAP_SVC_V6FC, true, { PH_5TUPLE },
	  { A("OutboundPinholeTimeout", "A_ARG_TYPE_OutboundPinholeTimeout") } },
	{ "AddPinhole", SOAP_SVC_V6FC, true, { PH_5TUPLE, A("LeaseTime", "A_ARG_TYPE_LeaseTime") },
	  { PH_ID } },
	{ "UpdatePinhole", SOAP_SVC_V6FC, true, { PH_ID, A("NewLeaseTime", "A_ARG_TYPE_LeaseTime") }, { { 0 } } },
	{ "DeletePinhole", SOAP_SVC_V6FC, true, { PH_ID }, { { 0 } } },
	{ "GetPinholePackets", SOAP_SVC_V6FC, true, { PH_ID },
	  { A("PinholePackets", "A_ARG_TYPE_PinholePackets") } },
	{ "CheckPinholeWorking", SOAP_SVC_V6FC, true, { PH_ID }, { A("IsWorking", "A_ARG_TYPE_Boolean") } },

	{ "GetCommonLinkProperties", SOAP_SVC_WANCIC, false, { { 0 } },
	  { A("NewWANAccessType", "WANAccessType"), A("NewLayer1UpstreamMaxBitRate", "Layer1UpstreamMaxBitRate"),
	    A("NewLayer1DownstreamMaxBitRate", "Layer1DownstreamMaxBitRate"),
	    A("NewPhysicalLinkStatus", "PhysicalLinkStatus") } },
	{ "GetTotalBytesSent", SOAP_SVC_WANCIC, false, { { 0 } }, { A("NewTotalBytesSent", "TotalBytesSent") } },
	{ "GetTotalBytesReceived", SOAP_SVC_WANCIC, false, { { 0 } },
	  { A("NewTotalBytesReceived", "TotalBytesReceived") } },
	{ "GetTotalPacketsSent", SOAP_SVC_WANCIC, false, { { 0 } },
	  { A("NewTotalPacketsSent", "TotalPacketsSent") } },
	{ "GetTotalPacketsReceived", SOAP_SVC_WANCIC, false, { { 0 } },
	  { A("NewTotalPacketsReceived", "TotalPacketsReceived") } },
};

const struct soap_actiondef *soap_actions(size_t *n)
{
	*n = sizeof(actions) / sizeof(actions[0]);
	return actions;
}

const struct soap_actiondef *soap_action_find(enum soap_service svc, const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (actions[i].svc == svc && strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

size_t soap_argdef_count(const struct soap_argdef *defs)
{
	size_t n = 0;

	while (n < SOAP_MAX_ARGS && defs[n].name)
		n++;
	return n;
}

/* ---------- generic argument checks ---------- */

int soap_check_args(const struct soap_actiondef *def, const struct soap_arg *a, size_t n)
{
	size_t want = soap_argdef_count(def->in);
	bool seen[SOAP_MAX_ARGS] = { false };

	if (n != want)
		return SOAP_E_INVALID_ARGS;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		if (a[i].name == NULL || a[i].value == NULL)
			return SOAP_E_INVALID_ARGS;
		for (j = 0; j < want; j++)
			if (strcmp(def->in[j].name, a[i].name) == 0)
				break;
		if (j == want || seen[j])
			return SOAP_E_INVALID_ARGS;
		seen[j] = true;
		if (strnlen(a[i].value, SOAP_VALUE_MAX + 1) > SOAP_VALUE_MAX)
			return strstr(a[i].name, "Description") ? SOAP_E_STRING_TOO_LONG : SOAP_E_INVALID_ARGS;
	}
	return SOAP_OK;
}

const char *soap_arg_get(const struct soap_arg *a, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].name && strcmp(a[i].name, name) == 0)
			return a[i].value;
	return NULL;
}

/* Copies s without surrounding white space into buf (len bytes); false when it does not fit. */
static bool trimmed(const char *s, char *buf, size_t len)
{
	size_t l;

	if (s == NULL)
		return false;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	l = strnlen(s, len);
	if (l >= len)
		return false;
	while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r' || s[l - 1] == '\n'))
		l--;
	memcpy(buf, s, l);
	buf[l] = '\0';
	return true;
}

static int parse_uint(const char *s, uint32_t max, uint32_t *out)
{
	char buf[16];
	uint64_t v = 0;
	size_t l;

	if (!trimmed(s, buf, sizeof(buf)))
		return SOAP_E_INVALID_ARGS;
	l = strlen(buf);
	/* ten digits are enough for a ui4; only digits: no sign, no hex, no empty value */
	if (l == 0 || l > 10)
		return SOAP_E_INVALID_ARGS;
	for (size_t i = 0; i < l; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return SOAP_E_INVALID_ARGS;
		v = v * 10 + (uint64_t)(buf[i] - '0');
	}
	if (v > max)
		return SOAP_E_INVALID_ARGS;
	*out = (uint32_t)v;
	return SOAP_OK;
}

int soap_parse_ui2(const char *s, uint16_t *out)
{
	uint32_t v;
	int rc = parse_uint(s, 65535, &v);

	if (rc == SOAP_OK)
		*out = (uint16_t)v;
	return rc;
}

int soap_parse_ui4(const char *s, uint32_t *out)
{
	return parse_uint(s, UINT32_MAX, out);
}

int soap_parse_lease(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	size_t i = 0, digits = 0;

	if (s == NULL)
		return SOAP_E_INVALID_ARGS;
	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
		i++;
	for (; s[i] >= '0' && s[i] <= '9'; i++, digits++)
		if (v <= max)   /* saturates: a longer number is "more than the maximum" all the same */
			v = v * 10 + (uint64_t)(s[i] - '0');
	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
		i++;
	if (digits == 0 || s[i] != '\0')
		return SOAP_E_INVALID_ARGS;
	*out = v == 0 || v > max ? max : (uint32_t)v;
	return SOAP_OK;
}

int soap_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes" }, *const no[] = { "0", "false", "no" };
	char buf[8];

	if (!trimmed(s, buf, sizeof(buf)))
		return SOAP_E_INVALID_ARGS;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(buf, yes[i]) == 0) {
			*out = true;
			return SOAP_OK;
		}
		if (strcasecmp(buf, no[i]) == 0) {
			*out = false;
			return SOAP_OK;
		}
	}
	return SOAP_E_INVALID_ARGS;
}

/* ---------- WANIPConnection ---------- */

/* PortMappingProtocol: TCP or UDP. Case is forgiven (clients differ); anything else is out of range. */
static int parse_pm_proto(const char *s, uint16_t *out)
{
	char buf[8];

	if (s == NULL)
		return SOAP_E_INVALID_ARGS;
	if (!trimmed(s, buf, sizeof(buf)))
		return SOAP_E_OUT_OF_RANGE;
	if (strcasecmp(buf, "TCP") == 0)
		*out = IPPROTO_TCP;
	else if (strcasecmp(buf, "UDP") == 0)
		*out = IPPROTO_UDP;
	else
		return SOAP_E_OUT_OF_RANGE;
	return SOAP_OK;
}

static bool is_wildcard_host(const char *buf)
{
	return buf[0] == '\0' || strcmp(buf, "*") == 0;
}

/* An IPv4 literal, or the wildcard. DNS names are not resolved: a parser does no I/O. */
static int parse_v4_host(const char *s, bool allow_wild, uint8_t *len, struct in6_addr *out)
{
	char buf[ADDR_STRLEN];

	if (!trimmed(s, buf, sizeof(buf)))
		return SOAP_E_INVALID_ARGS;
	memset(out, 0, sizeof(*out));
	*len = 0;
	if (is_wildcard_host(buf))
		return allow_wild ? SOAP_OK : SOAP_E_INVALID_ARGS;
	if (!addr_parse(buf, out) || !addr_is_v4(out))
		return SOAP_E_INVALID_ARGS;
	if (addr_is_unspecified(out) || addr_to_v4(out).s_addr == 0) {
		memset(out, 0, sizeof(*out));
		return allow_wild ? SOAP_OK : SOAP_E_INVALID_ARGS;
	}
	*len = 128;
	return SOAP_OK;
}

int soap_parse_portmap_key(const struct soap_arg *a, size_t n, struct soap_pm_req *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = parse_v4_host(soap_arg_get(a, n, "NewRemoteHost"), true, &out->remote_len, &out->remote)))
		return rc;
	if ((rc = soap_parse_ui2(soap_arg_get(a, n, "NewExternalPort"), &out->ext_port)))
		return rc;
	return parse_pm_proto(soap_arg_get(a, n, "NewProtocol"), &out->proto);
}

static int parse_client_v4(const char *s, struct soap_pm_req *out)
{
	char buf[ADDR_STRLEN];
	uint8_t len;

	if (!trimmed(s, buf, sizeof(buf)))
		return SOAP_E_INVALID_ARGS;
	if (buf[0] == '\0') {
		out->client_empty = true;
		return SOAP_OK;
	}
	return parse_v4_host(buf, false, &len, &out->client);
}

static int parse_desc(const char *s, char out[RULE_DESC_MAX + 1])
{
	size_t l;

	if (s == NULL)
		return SOAP_E_INVALID_ARGS;
	l = strnlen(s, RULE_DESC_MAX + 1);
	if (l > RULE_DESC_MAX)
		return SOAP_E_STRING_TOO_LONG;
	/* control characters are the core's to scrub (rule_scrub_desc), as for every front end */
	memcpy(out, s, l);
	out[l] = '\0';
	return SOAP_OK;
}

int soap_parse_add_portmap(const struct soap_arg *a, size_t n, bool any_port, struct soap_pm_req *out)
{
	int rc;

	if ((rc = soap_parse_portmap_key(a, n, out)))
		return rc;
	if ((rc = soap_parse_ui2(soap_arg_get(a, n, "NewInternalPort"), &out->int_port)))
		return rc;
	if ((rc = parse_client_v4(soap_arg_get(a, n, "NewInternalClient"), out)))
		return rc;
	if ((rc = soap_parse_bool(soap_arg_get(a, n, "NewEnabled"), &out->enabled)))
		return rc;
	if ((rc = parse_desc(soap_arg_get(a, n, "NewPortMappingDescription"), out->desc)))
		return rc;
	/* IGD:2: 0 means the maximum, never "forever"; above the maximum is clamped (as miniupnpd) */
	if ((rc = soap_parse_lease(soap_arg_get(a, n, "NewLeaseDuration"), SOAP_LEASE_MAX_PM, &out->lease)))
		return rc;
	if (out->int_port == 0)
		return 732;
	if (out->ext_port == 0 && !any_port)
		return 716;
	return SOAP_OK;
}

int soap_parse_pm_range(const struct soap_arg *a, size_t n, bool with_count, struct soap_pm_range *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = soap_parse_ui2(soap_arg_get(a, n, "NewStartPort"), &out->start)))
		return rc;
	if ((rc = soap_parse_ui2(soap_arg_get(a, n, "NewEndPort"), &out->end)))
		return rc;
	if ((rc = parse_pm_proto(soap_arg_get(a, n, "NewProtocol"), &out->proto)))
		return rc;
	if ((rc = soap_parse_bool(soap_arg_get(a, n, "NewManage"), &out->manage)))
		return rc;
	if (with_count && (rc = soap_parse_ui2(soap_arg_get(a, n, "NewNumberOfPorts"), &out->max)))
		return rc;
	return out->start > out->end ? 733 : SOAP_OK;
}

int soap_parse_pm_index(const struct soap_arg *a, size_t n, uint16_t *index)
{
	return soap_parse_ui2(soap_arg_get(a, n, "NewPortMappingIndex"), index);
}

int soap_parse_conn_type(const struct soap_arg *a, size_t n, char out[16])
{
	static const char *const types[] = { "Unconfigured", "IP_Routed", "IP_Bridged" };
	char buf[16];

	if (!trimmed(soap_arg_get(a, n, "NewConnectionType"), buf, sizeof(buf)))
		return soap_arg_get(a, n, "NewConnectionType") ? SOAP_E_VALUE_INVALID : SOAP_E_INVALID_ARGS;
	for (size_t i = 0; i < 3; i++)
		if (strcmp(buf, types[i]) == 0) {
			strcpy(out, types[i]);
			return SOAP_OK;
		}
	return SOAP_E_VALUE_INVALID;
}

/* ---------- WANIPv6FirewallControl ---------- */

/* An IPv6 literal or the wildcard ("", "*" or "::"). IPv4 (even v4-mapped) is not an IPv6 host. */
static int parse_v6_host(const char *s, bool *wild, struct in6_addr *out)
{
	char buf[ADDR_STRLEN];

	if (!trimmed(s, buf, sizeof(buf)))
		return SOAP_E_INVALID_ARGS;
	memset(out, 0, sizeof(*out));
	*wild = is_wildcard_host(buf);
	if (*wild)
		return SOAP_OK;
	if (!addr_parse(buf, out) || addr_is_v4(out) || strchr(buf, ':') == NULL)
		return SOAP_E_INVALID_ARGS;
	*wild = addr_is_unspecified(out);
	return SOAP_OK;
}

/* The five-tuple shared by AddPinhole and GetOutboundPinholeTimeout: types only (402). */
static int parse_5tuple(const struct soap_arg *a, size_t n, struct soap_ph_req *out, bool *client_wild)
{
	bool remote_wild;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = parse_v6_host(soap_arg_get(a, n, "RemoteHost"), &remote_wild, &out->remote)))
		return rc;
	out->remote_len = remote_wild ? 0 : 128;
	if ((rc = soap_parse_ui2(soap_arg_get(a, n, "RemotePort"), &out->remote_port)))
		return rc;
	if ((rc = parse_v6_host(soap_arg_get(a, n, "InternalClient"), client_wild, &out->client)))
		return rc;
	if ((rc = soap_parse_ui2(soap_arg_get(a, n, "InternalPort"), &out->int_port)))
		return rc;
	return soap_parse_ui2(soap_arg_get(a, n, "Protocol"), &out->proto);
}

int soap_parse_add_pinhole(const struct soap_arg *a, size_t n, struct soap_ph_req *out)
{
	bool client_wild;
	int rc;

	if ((rc = parse_5tuple(a, n, out, &client_wild)))
		return rc;
	if ((rc = soap_parse_lease(soap_arg_get(a, n, "LeaseTime"), SOAP_LEASE_MAX_PH, &out->lease)))
		return rc;
	if (client_wild)
		return 708;
	if (out->proto == RULE_PROTO_ANY)
		return 707;
	if (out->proto == 0 || out->proto > 255)
		return 705;
	if (!proto_has_ports(out->proto)) {
		/* ports mean nothing for this protocol (ICMPv6, ESP ...): the pinhole covers the protocol */
		out->int_port = out->remote_port = 0;
		return SOAP_OK;
	}
	return out->int_port == 0 ? 706 : SOAP_OK;
}

int soap_parse_outbound(const struct soap_arg *a, size_t n, struct soap_ph_req *out)
{
	bool client_wild;
	int rc;

	if ((rc = parse_5tuple(a, n, out, &client_wild)))
		return rc;
	if (out->proto != RULE_PROTO_ANY && (out->proto == 0 || out->proto > 255))
		return 705;
	return SOAP_OK;
}

int soap_parse_pinhole_id(const struct soap_arg *a, size_t n, uint16_t *id)
{
	return soap_parse_ui2(soap_arg_get(a, n, "UniqueID"), id);
}

int soap_parse_update_pinhole(const struct soap_arg *a, size_t n, uint16_t *id, uint32_t *lease)
{
	int rc;

	if ((rc = soap_parse_pinhole_id(a, n, id)))
		return rc;
	return soap_parse_lease(soap_arg_get(a, n, "NewLeaseTime"), SOAP_LEASE_MAX_PH, lease);
}

/* ---------- verdicts ---------- */

static int verdict_portmap(enum soap_op op, enum verdict v, bool v1)
{
	switch (v) {
	case V_OK: return SOAP_OK;
	case V_INVALID: return SOAP_E_INVALID_ARGS;
	case V_NOT_AUTHORIZED:
	case V_BAD_TARGET:
	case V_LOW_PORT:
		if (op == SOAP_OP_DEL_PM)
			return v1 ? 714 : SOAP_E_NOT_AUTHORIZED;
		return v1 ? 718 : SOAP_E_NOT_AUTHORIZED;
	case V_CONFLICT: return op == SOAP_OP_ADD_PM ? 718 : 728;
	case V_QUOTA: return 728;
	case V_NOT_FOUND: return op == SOAP_OP_DEL_PM ? 714 : SOAP_E_ACTION_FAILED;
	case V_UNSUPPORTED_PROTO: return SOAP_E_OUT_OF_RANGE;
	case V_DISABLED: return 729;
	case V_NO_RESOURCES:
	case V_ASKING: return SOAP_E_ACTION_FAILED;
	}
	return SOAP_E_ACTION_FAILED;
}

static int verdict_pinhole(enum soap_op op, enum verdict v)
{
	switch (v) {
	case V_OK: return SOAP_OK;
	case V_INVALID: return SOAP_E_INVALID_ARGS;
	case V_NOT_AUTHORIZED:
	case V_BAD_TARGET:
	case V_LOW_PORT:
	case V_CONFLICT:
		return SOAP_E_NOT_AUTHORIZED;
	case V_QUOTA: return op == SOAP_OP_ADD_PH ? 701 : SOAP_E_ACTION_FAILED;
	case V_NOT_FOUND: return op == SOAP_OP_PH_ID ? 704 : SOAP_E_ACTION_FAILED;
	case V_UNSUPPORTED_PROTO: return op == SOAP_OP_ADD_PH ? 705 : SOAP_E_ACTION_FAILED;
	case V_DISABLED: return 703;
	case V_NO_RESOURCES:
	case V_ASKING: return SOAP_E_ACTION_FAILED;
	}
	return SOAP_E_ACTION_FAILED;
}

int soap_verdict_code(enum soap_op op, enum verdict v, bool v1)
{
	if (op == SOAP_OP_ADD_PH || op == SOAP_OP_PH_ID)
		return verdict_pinhole(op, v);
	return verdict_portmap(op, v, v1);
}

struct code_desc {
	int code;
	const char *desc;
};

static const struct code_desc common_desc[] = {
	{ 401, "Invalid Action" }, { 402, "Invalid Args" }, { 501, "Action Failed" },
	{ 600, "Argument Value Invalid" }, { 601, "Argument Value Out of Range" },
	{ 602, "Optional Action Not Implemented" }, { 603, "Out of Memory" },
	{ 604, "Human Intervention Required" }, { 605, "String Argument Too Long" },
	{ 606, "Action not authorized" }, { 0, NULL },
};

static const struct code_desc wanipc_desc[] = {
	{ 703, "InactiveConnectionStateRequired" }, { 704, "ConnectionSetupFailed" },
	{ 705, "ConnectionSetupInProgress" }, { 706, "ConnectionNotConfigured" },
	{ 707, "DisconnectInProgress" }, { 708, "InvalidLayer2Address" }, { 709, "InternetAccessDisabled" },
	{ 710, "InvalidConnectionType" }, { 711, "ConnectionAlreadyTerminated" },
	{ 713, "SpecifiedArrayIndexInvalid" }, { 714, "NoSuchEntryInArray" },
	{ 715, "WildCardNotPermittedInSrcIP" }, { 716, "WildCardNotPermittedInExtPort" },
	{ 718, "ConflictInMappingEntry" }, { 728, "NoPortMapsAvailable" },
	{ 729, "ConflictWithOtherMechanisms" }, { 730, "PortMappingNotFound" }, { 731, "ReadOnly" },
	{ 732, "WildCardNotPermittedInIntPort" }, { 733, "InconsistentParameters" }, { 0, NULL },
};

static const struct code_desc v6fc_desc[] = {
	{ 701, "PinholeSpaceExhausted" }, { 702, "FirewallDisabled" }, { 703, "InboundPinholeNotAllowed" },
	{ 704, "NoSuchEntry" }, { 705, "ProtocolNotSupported" }, { 706, "InternalPortWildcardingNotAllowed" },
	{ 707, "ProtocolWildcardingNotAllowed" }, { 708, "WildCardNotPermittedInSrcIP" },
	{ 709, "NoTrafficReceived" }, { 0, NULL },
};

static const char *lookup_desc(const struct code_desc *t, int code)
{
	for (; t->desc; t++)
		if (t->code == code)
			return t->desc;
	return NULL;
}

const char *soap_error_desc(enum soap_service svc, int code)
{
	const char *d = lookup_desc(common_desc, code);

	if (d == NULL && svc == SOAP_SVC_WANIPC)
		d = lookup_desc(wanipc_desc, code);
	if (d == NULL && svc == SOAP_SVC_V6FC)
		d = lookup_desc(v6fc_desc, code);
	return d ? d : "Action Failed";
}

/* ---------- out-arguments ---------- */

void soap_out_take(struct soap_out *o, const char *name, char *value)
{
	if (value == NULL || o->n >= SOAP_MAX_ARGS) {
		o->oom = true;
		free(value);
		return;
	}
	o->name[o->n] = name;
	o->value[o->n++] = value;
}

void soap_out_add(struct soap_out *o, const char *name, const char *value)
{
	/* an absent value is the empty string on the wire, never "(null)" */
	soap_out_take(o, name, strdup(value ? value : ""));
}

void soap_out_addf(struct soap_out *o, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	soap_out_take(o, name, rc < 0 ? NULL : s);
}

void soap_out_free(struct soap_out *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->value[i]);
	memset(o, 0, sizeof(*o));
}
