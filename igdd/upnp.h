/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The UPnP IGD front end: the libupnp glue (upnp_device.c, upnp_soap.c, upnp_gena.c, upnp_docs.c,
 * upnp_uuid.c: see upnp_priv.h), SOAP action handlers (soap_wanipc.c, soap_v6fc.c) and the context they
 * share. Nothing in this header needs libupnp, so the handlers
 * are unit-tested and fuzzed against an in-memory core. */
#ifndef IGDD_UPNP_H
#define IGDD_UPNP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/core.h"
#include "firewall/runtime/lanif.h"
#include "firewall/runtime/netif.h"
#include "igdd/soap_args.h"

/* ---------- the service as main.c sees it ---------- */

struct upnp_service;

struct iwf;

struct upnp_params {
	struct core *core;            /* required; the core outlives the service */
	const char *lan_ifname;       /* required: libupnp binds one interface (SSDP, HTTP, GENA) */
	const char *ext_ifname;       /* WAN interface: external IPv4 address, link state, counters; NULL = none */
	const char *state_dir;        /* required: where an older version kept "upnp_uuid" (the UUID is the store's meta now) */
	bool force_v1;                /* serve only the IGD:1 description (config force_igd_v1) */
	unsigned notify_interval;     /* seconds between SSDP re-announcements; 0 = 900 (max-age = 2x) */
	unsigned short http_port;     /* 0 = libupnp's default (49152 or the next free one) */
	const char *friendly_name;    /* NULL = "igdd" */
	/* Are a and b addresses of the same LAN device? Called from libupnp threads without the core lock.
	 * NULL (normal) = ask the core's device table (core_with_devices), or the kernel's neighbour table
	 * when the core has none. */
	bool (*same_device)(void *arg, const struct in6_addr *a, const struct in6_addr *b);
	void *device_arg;
	const struct lanif_set *lan;  /* the LAN interfaces as they are now (copied); NULL = not known yet */
	/* The host's interfaces (devwatch_netif), asked from libupnp's threads: is the control point on the
	 * LAN interface's subnets, is an address the router's own, the WAN's address and link state. Must
	 * outlive the service. NULL: no control point is on the LAN, the WAN is unknown. */
	const struct netif *ifaces;
	struct iwf *iwf;              /* RFC 6970 interworking (igdd/iwf.h), outlives the service; NULL = none */
};

/* Prepares the service (UUID and descriptions in state_dir: a failure there is -1, logged) and starts
 * its supervisor thread, which starts libupnp on lan_ifname once the interface is up with usable
 * addresses, registers the IGD for IPv4 and IPv6 and announces it; and starts it again on the new
 * addresses whenever they change (upnp_lan_changed). Returns 0, or -1 with a message already logged. */
int upnp_start(struct upnp_service **out, const struct upnp_params *p);
/* The LAN interfaces' links or addresses changed (any thread): libupnp follows within moments. */
void upnp_lan_changed(struct upnp_service *u, const struct lanif_set *lan);
/* Sends byebye, unregisters and stops libupnp. NULL is fine. */
void upnp_stop(struct upnp_service *u);
/* Tell the service that the rule table changed: SystemUpdateID + 1 and a GENA NOTIFY (with
 * PortMappingNumberOfEntries) soon after. main.c calls it from the core's on_change callback, under
 * the core lock: it only counts and wakes the eventing thread, never calls the core. r may be NULL
 * (e.g. after a LAN prefix change re-anchored rules). u NULL is a no-op. */
void upnp_rule_changed(struct upnp_service *u, const struct rule *r, enum core_event ev);

/* ---------- SOAP handlers (pure but for the core calls) ---------- */

struct soap_wan_info {
	char ext_ip[16];              /* dotted IPv4, "" when unknown */
	bool link_up;
	uint64_t tx_bytes, rx_bytes, tx_packets, rx_packets;
};

struct soap_ctx {
	struct core *core;
	struct iwf *iwf;              /* the interworking function (igdd/iwf.h); NULL = no upstream */
	struct in6_addr peer;         /* the control point's address (v4-mapped for IPv4) */
	bool v1;                      /* the CP spoke the IGD:1 namespace: v1 error codes */
	bool ua_igd1;                 /* its User-Agent gets IGD:1 (desc_ua_needs_v1: Windows, Xbox, old
				       * Apple): long leases read back as 0 */
	int64_t now;                  /* wall clock, unix seconds (remaining leases) */
	int64_t uptime;               /* seconds the WAN connection has been up */
	struct soap_wan_info wan;
	bool firewall_enabled;        /* WANIPv6FirewallControl FirewallEnabled */
	bool pinholes_allowed;        /* InboundPinholeAllowed */
	bool (*same_device)(void *arg, const struct in6_addr *a, const struct in6_addr *b);
	bool (*is_gateway_addr)(void *arg, const struct in6_addr *a);  /* one of our own addresses? */
	void *arg;
};

/* Runs one action: finds it, checks the arguments, calls the handler. 0 with out filled, or a UPnP
 * error code (out empty). 401 for an unknown action or one the CP's namespace version lacks. */
int soap_call(const struct soap_ctx *ctx, enum soap_service svc, const char *action,
	      const struct soap_arg *in, size_t n, struct soap_out *out);
int soap_wanipc_call(const struct soap_ctx *ctx, const struct soap_actiondef *def,
		     const struct soap_arg *in, size_t n, struct soap_out *out);
int soap_wancic_call(const struct soap_ctx *ctx, const struct soap_actiondef *def, struct soap_out *out);
int soap_v6fc_call(const struct soap_ctx *ctx, const struct soap_actiondef *def,
		   const struct soap_arg *in, size_t n, struct soap_out *out);
/* The GetListOfPortMappings document (libxml2), malloc'd; NULL when out of memory. */
char *soap_portlisting_xml(const struct soap_ctx *ctx, const struct rule *rules, size_t n);

#endif
