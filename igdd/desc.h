/* SPDX-License-Identifier: GPL-2.0-or-later */
/* desc_: the device and service descriptions (UPnP IGD:2, and IGD:1 for clients that break on :2).
 * Pure string building; the SCPDs come from the action table in soap_args.c so the two cannot drift. */
#ifndef IGDD_DESC_H
#define IGDD_DESC_H

#include <stdbool.h>

#include "igdd/soap_args.h"

#define DESC_UUID_LEN 36    /* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */

enum desc_device {
	DESC_DEV_IGD = 0,   /* InternetGatewayDevice */
	DESC_DEV_WAN,       /* WANDevice */
	DESC_DEV_WCD,       /* WANConnectionDevice */
	DESC_DEV_COUNT,
};

struct desc_params {
	char base_uuid[DESC_UUID_LEN + 1];  /* the persistent one; each device's UDN is derived from it */
	const char *friendly_name;          /* NULL = "igdd" */
	const char *presentation_url;       /* NULL or "" = none */
};

/* "uuid:..." of a device: the base uuid with its last hex digit replaced by the device index. */
void desc_udn(const struct desc_params *p, enum desc_device d, char out[DESC_UUID_LEN + 6]);
/* Does this HTTP User-Agent belong to a client that breaks on IGD:2 (Windows, Xbox, older Apple)? */
bool desc_ua_needs_v1(const char *ua);
/* Is s a well-formed uuid text (36 characters, hex digits and four dashes)? */
bool desc_uuid_valid(const char *s);

/* Root description (malloc'd, NULL when out of memory). v1: IGD:1 types, no v2-only services. */
char *desc_root(const struct desc_params *p, bool v1);
/* Service description (malloc'd). v1 drops the v2-only actions and variables (WANIPConnection:1). */
char *desc_scpd(enum soap_service svc, bool v1);

/* Names and paths. Paths are relative to the description's location, so one file serves v4 and v6. */
const char *desc_service_type(enum soap_service svc, bool v1);
const char *desc_service_id(enum soap_service svc);
#define DESC_DIR "/igd"   /* libupnp virtual directory the descriptions are served from */
#define DESC_ROOT_PATH DESC_DIR "/rootDesc.xml"
const char *desc_scpd_path(enum soap_service svc, bool v1);   /* "/igd/WANIPCn.xml" */
const char *desc_control_path(enum soap_service svc);         /* "/ctl/IPConn" */
const char *desc_event_path(enum soap_service svc);           /* "/evt/IPConn" */
/* The service a serviceId names, or SOAP_SVC_COUNT. */
enum soap_service desc_service_by_id(const char *service_id);

#endif
