/* SPDX-License-Identifier: GPL-2.0-or-later */
/* desc_: description XML as plain templates. Everything variable is either ours (types, paths) or
 * escaped (friendly name, URL), so no XML library is needed to get it right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "igdd/desc.h"

struct svc_info {
	const char *type_v2, *type_v1, *id, *scpd, *scpd_v1, *ctl, *evt;
};

static const struct svc_info svcs[SOAP_SVC_COUNT] = {
	[SOAP_SVC_WANIPC] = { "urn:schemas-upnp-org:service:WANIPConnection:2",
			      "urn:schemas-upnp-org:service:WANIPConnection:1",
			      "urn:upnp-org:serviceId:WANIPConn1", "/igd/WANIPCn.xml", "/igd/WANIPCn1.xml",
			      "/ctl/IPConn", "/evt/IPConn" },
	[SOAP_SVC_V6FC] = { "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1",
			    "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1",
			    "urn:upnp-org:serviceId:WANIPv6Firewall1", "/igd/WANIPv6FC.xml", "/igd/WANIPv6FC.xml",
			    "/ctl/IP6FCtl", "/evt/IP6FCtl" },
	[SOAP_SVC_WANCIC] = { "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
			      "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
			      "urn:upnp-org:serviceId:WANCommonIFC1", "/igd/WANCfg.xml", "/igd/WANCfg.xml",
			      "/ctl/CmnIfCfg", "/evt/CmnIfCfg" },
};

const char *desc_service_type(enum soap_service svc, bool v1)
{
	return svc < SOAP_SVC_COUNT ? (v1 ? svcs[svc].type_v1 : svcs[svc].type_v2) : "";
}

const char *desc_service_id(enum soap_service svc)
{
	return svc < SOAP_SVC_COUNT ? svcs[svc].id : "";
}

const char *desc_scpd_path(enum soap_service svc, bool v1)
{
	return svc < SOAP_SVC_COUNT ? (v1 ? svcs[svc].scpd_v1 : svcs[svc].scpd) : "";
}

const char *desc_control_path(enum soap_service svc)
{
	return svc < SOAP_SVC_COUNT ? svcs[svc].ctl : "";
}

const char *desc_event_path(enum soap_service svc)
{
	return svc < SOAP_SVC_COUNT ? svcs[svc].evt : "";
}

enum soap_service desc_service_by_id(const char *service_id)
{
	for (int s = 0; s < SOAP_SVC_COUNT && service_id; s++)
		if (strcmp(svcs[s].id, service_id) == 0)
			return (enum soap_service)s;
	return SOAP_SVC_COUNT;
}

bool desc_ua_needs_v1(const char *ua)
{
	if (ua == NULL)
		return false;
	/* Windows ("Microsoft-Windows/10.0 UPnP/1.0", its SSDP service "FDSSDP") and the Xbox stop at an
	 * IGD:2 description; the Windows-XP-era strings are what older Apple (mDNSResponder's legacy NAT
	 * traversal) and clients of its age send, and they look for "WANIPConnection:1" in the text; an
	 * old Mac's own UPnP stack says "Darwin/...". miniupnpc on Windows ("MSWindows/...") reads IGD:2. */
	return strcasestr(ua, "microsoft") != NULL || strstr(ua, "FDSSDP") != NULL ||
	       strcasestr(ua, "xbox") != NULL || strstr(ua, "Windows NT/") != NULL ||
	       strstr(ua, "Windows 9x") != NULL || strncmp(ua, "Darwin/", 7) == 0;
}

bool desc_uuid_valid(const char *s)
{
	if (s == NULL || strlen(s) != DESC_UUID_LEN)
		return false;
	for (size_t i = 0; i < DESC_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	}
	return true;
}

void desc_udn(const struct desc_params *p, enum desc_device d, char out[DESC_UUID_LEN + 6])
{
	snprintf(out, DESC_UUID_LEN + 6, "uuid:%s", p->base_uuid);
	out[DESC_UUID_LEN + 4] = (char)('0' + (int)d);
}

/* Writes s with the five XML specials escaped. */
static void put_escaped(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc(*s, f); break;
		}
	}
}

static void put_device_head(FILE *f, const struct desc_params *p, enum desc_device d, const char *type,
			    const char *suffix)
{
	char udn[DESC_UUID_LEN + 6];

	desc_udn(p, d, udn);
	fprintf(f, "<device><deviceType>urn:schemas-upnp-org:device:%s</deviceType><friendlyName>", type);
	put_escaped(f, p->friendly_name ? p->friendly_name : "igdd");
	fprintf(f, "%s</friendlyName><manufacturer>igdd</manufacturer>"
		"<manufacturerURL>https://github.com/</manufacturerURL>"
		"<modelDescription>igdd UPnP IGD and PCP daemon</modelDescription><modelName>igdd</modelName>"
		"<modelNumber>1</modelNumber><modelURL>https://github.com/</modelURL>"
		"<serialNumber>%.8s</serialNumber><UDN>%s</UDN>", suffix, p->base_uuid, udn);
}

static void put_service(FILE *f, enum soap_service s, bool v1)
{
	fprintf(f, "<service><serviceType>%s</serviceType><serviceId>%s</serviceId><SCPDURL>%s</SCPDURL>"
		"<controlURL>%s</controlURL><eventSubURL>%s</eventSubURL></service>",
		desc_service_type(s, v1), desc_service_id(s), desc_scpd_path(s, v1), desc_control_path(s),
		desc_event_path(s));
}

/* Closes the memstream; only then is *buf final (it moves as the stream grows). */
static char *finish(FILE *f, char **buf)
{
	if (fclose(f) != 0) {
		free(*buf);
		return NULL;
	}
	return *buf;
}

char *desc_root(const struct desc_params *p, bool v1)
{
	const char *ver = v1 ? "1" : "2";
	char *buf = NULL, type[64];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	fputs("<?xml version=\"1.0\"?>\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\" configId=\"1\">"
	      "<specVersion><major>1</major><minor>1</minor></specVersion>", f);
	snprintf(type, sizeof(type), "InternetGatewayDevice:%s", ver);
	put_device_head(f, p, DESC_DEV_IGD, type, "");
	snprintf(type, sizeof(type), "WANDevice:%s", ver);
	fputs("<deviceList>", f);
	put_device_head(f, p, DESC_DEV_WAN, type, " WAN");
	fputs("<serviceList>", f);
	put_service(f, SOAP_SVC_WANCIC, v1);
	fputs("</serviceList><deviceList>", f);
	snprintf(type, sizeof(type), "WANConnectionDevice:%s", ver);
	put_device_head(f, p, DESC_DEV_WCD, type, " WAN Connection");
	fputs("<serviceList>", f);
	put_service(f, SOAP_SVC_WANIPC, v1);
	if (!v1)  /* IGD:1 is IPv4 only: pinholes exist only in IGD:2 */
		put_service(f, SOAP_SVC_V6FC, v1);
	fputs("</serviceList></device></deviceList></device></deviceList>", f);
	if (p->presentation_url && p->presentation_url[0]) {
		fputs("<presentationURL>", f);
		put_escaped(f, p->presentation_url);
		fputs("</presentationURL>", f);
	}
	fputs("</device></root>\n", f);
	return finish(f, &buf);
}

/* ---------- SCPDs ---------- */

struct var_def {
	const char *name, *type;
	bool evented, v2_only;
	const char *allowed;      /* space-separated allowedValueList, or NULL */
	const char *range;        /* "min max", or NULL */
	const char *def;          /* defaultValue, or NULL */
};

static const struct var_def wanipc_vars[] = {
	{ "ConnectionType", "string", false, false, "Unconfigured IP_Routed IP_Bridged", NULL, "IP_Routed" },
	{ "PossibleConnectionTypes", "string", true, false, "Unconfigured IP_Routed IP_Bridged", NULL, NULL },
	{ "ConnectionStatus", "string", true, false, "Unconfigured Connecting Connected PendingDisconnect "
	  "Disconnecting Disconnected", NULL, NULL },
	{ "Uptime", "ui4", false, false, NULL, NULL, NULL },
	{ "LastConnectionError", "string", false, false, "ERROR_NONE", NULL, NULL },
	{ "RSIPAvailable", "boolean", false, false, NULL, NULL, NULL },
	{ "NATEnabled", "boolean", false, false, NULL, NULL, NULL },
	{ "ExternalIPAddress", "string", true, false, NULL, NULL, NULL },
	{ "PortMappingNumberOfEntries", "ui2", true, false, NULL, NULL, NULL },
	{ "PortMappingEnabled", "boolean", false, false, NULL, NULL, NULL },
	{ "PortMappingLeaseDuration", "ui4", false, false, NULL, "0 604800", "3600" },
	{ "RemoteHost", "string", false, false, NULL, NULL, NULL },
	{ "ExternalPort", "ui2", false, false, NULL, NULL, NULL },
	{ "InternalPort", "ui2", false, false, NULL, "1 65535", NULL },
	{ "PortMappingProtocol", "string", false, false, "TCP UDP", NULL, NULL },
	{ "InternalClient", "string", false, false, NULL, NULL, NULL },
	{ "PortMappingDescription", "string", false, false, NULL, NULL, NULL },
	{ "SystemUpdateID", "ui4", true, true, NULL, NULL, NULL },
	{ "A_ARG_TYPE_Manage", "boolean", false, true, NULL, NULL, NULL },
	{ "A_ARG_TYPE_PortListing", "string", false, true, NULL, NULL, NULL },
	{ NULL, NULL, false, false, NULL, NULL, NULL },
};

static const struct var_def v6fc_vars[] = {
	{ "FirewallEnabled", "boolean", true, false, NULL, NULL, NULL },
	{ "InboundPinholeAllowed", "boolean", true, false, NULL, NULL, NULL },
	{ "A_ARG_TYPE_IPv6Address", "string", false, false, NULL, NULL, NULL },
	{ "A_ARG_TYPE_Port", "ui2", false, false, NULL, NULL, NULL },
	{ "A_ARG_TYPE_Protocol", "ui2", false, false, NULL, NULL, NULL },
	{ "A_ARG_TYPE_LeaseTime", "ui4", false, false, NULL, "1 86400", NULL },
	{ "A_ARG_TYPE_UniqueID", "ui2", false, false, NULL, NULL, NULL },
	{ "A_ARG_TYPE_OutboundPinholeTimeout", "ui4", false, false, NULL, NULL, NULL },
	{ "A_ARG_TYPE_PinholePackets", "ui4", false, false, NULL, NULL, NULL },
	{ "A_ARG_TYPE_Boolean", "boolean", false, false, NULL, NULL, NULL },
	{ NULL, NULL, false, false, NULL, NULL, NULL },
};

static const struct var_def wancic_vars[] = {
	{ "WANAccessType", "string", false, false, "DSL POTS Cable Ethernet", NULL, NULL },
	{ "Layer1UpstreamMaxBitRate", "ui4", false, false, NULL, NULL, NULL },
	{ "Layer1DownstreamMaxBitRate", "ui4", false, false, NULL, NULL, NULL },
	{ "PhysicalLinkStatus", "string", true, false, "Up Down", NULL, NULL },
	{ "TotalBytesSent", "ui4", false, false, NULL, NULL, NULL },
	{ "TotalBytesReceived", "ui4", false, false, NULL, NULL, NULL },
	{ "TotalPacketsSent", "ui4", false, false, NULL, NULL, NULL },
	{ "TotalPacketsReceived", "ui4", false, false, NULL, NULL, NULL },
	{ NULL, NULL, false, false, NULL, NULL, NULL },
};

static void put_args(FILE *f, const struct soap_argdef *defs, const char *dir)
{
	for (size_t i = 0; i < soap_argdef_count(defs); i++)
		fprintf(f, "<argument><name>%s</name><direction>%s</direction>"
			"<relatedStateVariable>%s</relatedStateVariable></argument>", defs[i].name, dir, defs[i].var);
}

static void put_var(FILE *f, const struct var_def *v)
{
	char words[128], *save = NULL;

	fprintf(f, "<stateVariable sendEvents=\"%s\"><name>%s</name><dataType>%s</dataType>",
		v->evented ? "yes" : "no", v->name, v->type);
	if (v->def)
		fprintf(f, "<defaultValue>%s</defaultValue>", v->def);
	if (v->allowed) {
		snprintf(words, sizeof(words), "%s", v->allowed);
		fputs("<allowedValueList>", f);
		for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
			fprintf(f, "<allowedValue>%s</allowedValue>", w);
		fputs("</allowedValueList>", f);
	}
	if (v->range) {
		unsigned lo = 0, hi = 0;

		if (sscanf(v->range, "%u %u", &lo, &hi) == 2)
			fprintf(f, "<allowedValueRange><minimum>%u</minimum><maximum>%u</maximum></allowedValueRange>",
				lo, hi);
	}
	fputs("</stateVariable>", f);
}

char *desc_scpd(enum soap_service svc, bool v1)
{
	static const struct var_def *const vars[SOAP_SVC_COUNT] = { wanipc_vars, v6fc_vars, wancic_vars };
	const struct soap_actiondef *acts;
	size_t nacts;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (svc >= SOAP_SVC_COUNT || (f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	acts = soap_actions(&nacts);
	fputs("<?xml version=\"1.0\"?>\n<scpd xmlns=\"urn:schemas-upnp-org:service-1-0\">"
	      "<specVersion><major>1</major><minor>0</minor></specVersion><actionList>", f);
	for (size_t i = 0; i < nacts; i++) {
		/* WANIPConnection:1 lacks the v2 actions (Windows stops at an SCPD that lists them) */
		if (acts[i].svc != svc || (v1 && acts[i].v2_only && svc == SOAP_SVC_WANIPC))
			continue;
		fprintf(f, "<action><name>%s</name><argumentList>", acts[i].name);
		put_args(f, acts[i].in, "in");
		put_args(f, acts[i].out, "out");
		fputs("</argumentList></action>", f);
	}
	fputs("</actionList><serviceStateTable>", f);
	for (const struct var_def *v = vars[svc]; v->name; v++)
		if (!(v1 && v->v2_only))
			put_var(f, v);
	fputs("</serviceStateTable></scpd>\n", f);
	return finish(f, &buf);
}
