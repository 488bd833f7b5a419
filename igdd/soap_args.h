/* SPDX-License-Identifier: GPL-2.0-or-later */
/* soap_: pure argument handling for the UPnP IGD services. Name/value pairs in, typed requests or a
 * UPnP error code out; policy verdicts in, UPnP error codes out. No libupnp types and no I/O, so every
 * SOAP entry point is unit-tested and fuzzed through here (tests/unit/check_soap.c, tests/fuzz/). */
#ifndef IGDD_SOAP_ARGS_H
#define IGDD_SOAP_ARGS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/policy.h"
#include "firewall/core/rule.h"

/* UPnP error codes (UDA common ones; service-specific ones are numbers in the tables of soap_args.c). */
#define SOAP_OK                 0
#define SOAP_E_INVALID_ACTION   401
#define SOAP_E_INVALID_ARGS     402
#define SOAP_E_ACTION_FAILED    501
#define SOAP_E_VALUE_INVALID    600
#define SOAP_E_OUT_OF_RANGE     601
#define SOAP_E_NOT_IMPLEMENTED  602
#define SOAP_E_OUT_OF_MEMORY    603
#define SOAP_E_STRING_TOO_LONG  605
#define SOAP_E_NOT_AUTHORIZED   606

#define SOAP_MAX_ARGS    10     /* no action of ours has more than 8 arguments in either direction */
#define SOAP_VALUE_MAX   1024   /* longest in-argument value we look at; longer -> 402 (605 for strings) */
#define SOAP_LEASE_MAX_PM 604800u  /* WANIPConnection:2 PortMappingLeaseDuration maximum */
#define SOAP_LEASE_MAX_PH 86400u   /* WANIPv6FirewallControl:1 LeaseTime maximum */
#define SOAP_LONG_LEASE   86400u   /* a port mapping lease this long reads as 0 to IGD:1 user agents */

enum soap_service {
	SOAP_SVC_WANIPC = 0,   /* WANIPConnection:2 (and :1) */
	SOAP_SVC_V6FC,         /* WANIPv6FirewallControl:1 */
	SOAP_SVC_WANCIC,       /* WANCommonInterfaceConfig:1 */
	SOAP_SVC_COUNT,
};

/* One in-argument as it arrived: both strings NUL-terminated, value "" when the element was empty. */
struct soap_arg {
	const char *name;
	const char *value;
};

/* Out-arguments of a handler: names are static strings, values malloc'd (soap_out_free). */
struct soap_out {
	size_t n;
	const char *name[SOAP_MAX_ARGS];
	char *value[SOAP_MAX_ARGS];
	bool oom;
};

struct soap_argdef {
	const char *name;   /* argument name on the wire */
	const char *var;    /* relatedStateVariable */
};

struct soap_actiondef {
	const char *name;
	enum soap_service svc;
	bool v2_only;       /* absent from the IGD:1 SCPD */
	struct soap_argdef in[SOAP_MAX_ARGS];   /* terminated by a NULL name */
	struct soap_argdef out[SOAP_MAX_ARGS];
};

/* The action table (also the source of the SCPDs in desc.c). */
const struct soap_actiondef *soap_actions(size_t *n);
const struct soap_actiondef *soap_action_find(enum soap_service svc, const char *name);
size_t soap_argdef_count(const struct soap_argdef *defs);

/* Every declared in-argument present exactly once, nothing else, each value at most SOAP_VALUE_MAX
 * bytes: 0, or 402. Order is not enforced (clients differ). */
int soap_check_args(const struct soap_actiondef *def, const struct soap_arg *a, size_t n);
/* The value of a declared argument (after soap_check_args), or NULL. */
const char *soap_arg_get(const struct soap_arg *a, size_t n, const char *name);

/* Typed value parsers; each returns 0 or 402. Surrounding ASCII white space is ignored. */
int soap_parse_ui2(const char *s, uint16_t *out);
int soap_parse_ui4(const char *s, uint32_t *out);
int soap_parse_bool(const char *s, bool *out);
/* A lease in seconds (ui4 text): 0 and anything above max (however many digits) become max, so a
 * client never hears 402 (nor the deprecated 725) for the lease it asked; Tailscale and iroh answer
 * those by asking 0, Transmission asks 0 from the start. 402 only for what is not a number. */
int soap_parse_lease(const char *s, uint32_t max, uint32_t *out);

/* ----- WANIPConnection ----- */

/* AddPortMapping / AddAnyPortMapping / DeletePortMapping / GetSpecificPortMappingEntry. */
struct soap_pm_req {
	uint8_t remote_len;        /* 0 = wildcard ("" or "*"), 128 = one IPv4 host (v4-mapped) */
	struct in6_addr remote;
	uint16_t ext_port;
	uint16_t proto;            /* IPPROTO_TCP or IPPROTO_UDP */
	/* add only: */
	uint16_t int_port;
	bool client_empty;         /* NewInternalClient was empty: v2 -> 715, v1 -> the CP's address */
	struct in6_addr client;    /* v4-mapped */
	bool enabled;
	char desc[RULE_DESC_MAX + 1];
	uint32_t lease;            /* 0 = maximum (IGD:2); > 604800 clamped to 604800 */
};
int soap_parse_add_portmap(const struct soap_arg *a, size_t n, bool any_port, struct soap_pm_req *out);
int soap_parse_portmap_key(const struct soap_arg *a, size_t n, struct soap_pm_req *out);

/* DeletePortMappingRange (with_count false) / GetListOfPortMappings (with_count true). */
struct soap_pm_range {
	uint16_t start, end, proto;
	bool manage;
	uint16_t max;              /* NewNumberOfPorts; 0 = no limit */
};
int soap_parse_pm_range(const struct soap_arg *a, size_t n, bool with_count, struct soap_pm_range *out);
int soap_parse_pm_index(const struct soap_arg *a, size_t n, uint16_t *index);
/* SetConnectionType: 0 for a known type name (copied to out), 402 when missing, 600 otherwise. */
int soap_parse_conn_type(const struct soap_arg *a, size_t n, char out[16]);

/* ----- WANIPv6FirewallControl ----- */

struct soap_ph_req {
	uint8_t remote_len;        /* 0 = wildcard, 128 = one host */
	struct in6_addr remote;
	uint16_t remote_port;      /* 0 = any */
	struct in6_addr client;
	uint16_t int_port;
	uint16_t proto;            /* IANA number; RULE_PROTO_ANY only from GetOutboundPinholeTimeout */
	uint32_t lease;            /* AddPinhole: 1..86400 (0 and above: 86400) */
};
/* AddPinhole: 402 bad types, 708 wildcard client, 706 wildcard port, 707 wildcard protocol,
 * 705 protocol out of range. */
int soap_parse_add_pinhole(const struct soap_arg *a, size_t n, struct soap_ph_req *out);
/* GetOutboundPinholeTimeout: same five arguments; wildcards allowed. */
int soap_parse_outbound(const struct soap_arg *a, size_t n, struct soap_ph_req *out);
int soap_parse_pinhole_id(const struct soap_arg *a, size_t n, uint16_t *id);
int soap_parse_update_pinhole(const struct soap_arg *a, size_t n, uint16_t *id, uint32_t *lease);

/* ----- verdicts and error texts ----- */

enum soap_op {
	SOAP_OP_ADD_PM = 1,    /* AddPortMapping */
	SOAP_OP_ADD_ANY_PM,    /* AddAnyPortMapping */
	SOAP_OP_DEL_PM,        /* DeletePortMapping, GetSpecificPortMappingEntry */
	SOAP_OP_ADD_PH,        /* AddPinhole */
	SOAP_OP_PH_ID,         /* UpdatePinhole, DeletePinhole, GetPinholePackets, CheckPinholeWorking */
};
/* The UPnP error code for a core verdict (0 for V_OK). v1 = the CP spoke the IGD:1 namespace, which
 * does not know 606 for port mappings (718 on add, 714 on delete, as miniupnpd answers). */
int soap_verdict_code(enum soap_op op, enum verdict v, bool v1);
/* errorDescription for a code in a service; never NULL. */
const char *soap_error_desc(enum soap_service svc, int code);

/* ----- out-arguments ----- */
void soap_out_add(struct soap_out *o, const char *name, const char *value);
void soap_out_addf(struct soap_out *o, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Takes ownership of a malloc'd value (NULL marks out of memory). */
void soap_out_take(struct soap_out *o, const char *name, char *value);
void soap_out_free(struct soap_out *o);

#endif
