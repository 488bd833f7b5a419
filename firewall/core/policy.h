/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Policy: pure decisions about requests. No I/O, no clock (the caller passes "now").
 * A verdict is protocol-neutral; each front end renders it (UPnP error code, PCP result code,
 * HTTP status). */
#ifndef IGDD_POLICY_H
#define IGDD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/rule.h"

enum verdict {
	V_OK = 0,
	V_INVALID,            /* malformed or inconsistent request (bad port, bad address, bad protocol) */
	V_NOT_AUTHORIZED,     /* requester may not act for this target / rule (secure mode, permission line) */
	V_BAD_TARGET,         /* target address not allowed (link-local, multicast, loopback, outside the LAN) */
	V_LOW_PORT,           /* internal/external port < 1024 and not allowed by configuration */
	V_CONFLICT,           /* external port / pinhole key held by another owner */
	V_QUOTA,              /* per-client or global quota reached */
	V_NOT_FOUND,          /* no such rule */
	V_UNSUPPORTED_PROTO,  /* protocol the backend cannot express here */
	V_NO_RESOURCES,       /* store or firewall failed: nothing changed, try later */
	V_DISABLED,           /* the feature is switched off */
	/* The answer depends on an address the LAN has not shown yet (a host's silent stable address, a
	 * source the router has not heard from): the core is asking the link (neighbour solicitation).
	 * Never an answer to a client: the front end waits for the address (core_add_wait) or holds the
	 * request, then asks again with core_add_req.asked set, and the core decides with what it knows. */
	V_ASKING,
};
const char *verdict_str(enum verdict v);

enum pinhole_target_policy {
	PINHOLE_TARGET_REQUESTED = 1,  /* only the address the app named */
	PINHOLE_TARGET_STABLE,         /* only the device's stable address */
	PINHOLE_TARGET_BOTH,           /* both (default) */
};

/* miniupnpd-style permission line, extended to IPv6: allow|deny EXTPORTS ADDR/LEN INTPORTS ["regex"] */
struct perm_rule {
	bool allow;
	uint16_t eport_min, eport_max;
	struct in6_addr addr;      /* v4-mapped for IPv4 */
	uint8_t addr_len;
	uint16_t iport_min, iport_max;
	char desc_regex[128];      /* empty = any description */
};

#define POLICY_MAX_PERMS 64
#define POLICY_MAX_SUBNETS 32
#define POLICY_MAX_OWN     64

struct policy_config {
	bool secure_mode;                  /* default yes: a client acts only for its own device */
	bool allow_low_ports;              /* default no: ports < 1024 refused for app requests */
	bool allow_temporary;              /* default yes: pinholes may target temporary addresses */
	enum pinhole_target_policy pinhole_target; /* default both */
	uint32_t min_lifetime;             /* default 120 s */
	uint32_t max_lifetime;             /* default 86400 s: leases are clamped to this (0 asked = max) */
	uint32_t max_rules;                /* default 65535: whole table */
	uint32_t max_rules_per_client;     /* default 256: per owner address/device */
	struct perm_rule perms[POLICY_MAX_PERMS];
	size_t n_perms;
};

/* What the LAN interfaces hold right now (lanif.h, from rtnetlink): a request's target and, unless it
 * is privileged, its requester must be on one of these subnets, and a target must not be one of the
 * router's own addresses (a port mapping to the router would expose its own services). known = false
 * (no report yet: unit tests, or pcpd, whose subscribers are routed rather than on a link) restricts
 * nothing. */
struct policy_lan {
	bool known;
	struct in6_addr subnet[POLICY_MAX_SUBNETS];   /* v4-mapped for IPv4; link-local ones included */
	uint8_t subnet_len[POLICY_MAX_SUBNETS];
	size_t n_subnets;
	struct in6_addr own[POLICY_MAX_OWN];
	size_t n_own;
};

void policy_defaults(struct policy_config *pc);

/* Facts about the request the front end and the core gathered (so policy needs no I/O). */
struct policy_request {
	const struct rule *rule;       /* the rule as it would be installed */
	struct in6_addr requester;     /* source address of the request (v4-mapped) */
	bool privileged;               /* operator or household UI: secure mode and port limits do not apply */
	bool same_device;              /* requester and target are addresses of the same device (neighbour table) */
	bool third_party;              /* PCP THIRD_PARTY from an authorised requester */
	bool own_device_only;          /* the target must be the requester's own device (even with secure_mode=no) */
	uint32_t owner_rule_count;     /* rules the requester already holds */
	uint32_t table_rule_count;     /* rules in the table */
	const struct policy_lan *lan;  /* NULL = not known (nothing restricted) */
};

/* Decides whether a new rule may be added: every address it opens (the one asked for and the device's
 * stable one) is a LAN unicast target and, for app requests, passes the deny lines; secure mode; low
 * ports; quotas. Also for a request that replaces an existing rule: it must pass as if it were new. */
enum verdict policy_check_add(const struct policy_config *pc, const struct policy_request *req);
/* Whether an existing rule may stay open as it is (a refresh, a target that moved or resolved): the
 * same checks of what it opens as policy_check_add (targets, temporary addresses, low ports, deny
 * lines, the LAN's bounds when lan is known), without who asks and the quotas, which the change does not alter. */
enum verdict policy_check_standing(const struct policy_config *pc, const struct policy_lan *lan, const struct rule *r,
				   bool privileged);
/* Do the permission lines let this rule open address a (for rules apps made; rules by hand always)?
 * What a target that moves (re-anchoring) or resolves later (the device's stable address) is checked
 * against: the address itself comes from the LAN's own prefix and the rule's device. */
bool policy_address_allowed(const struct policy_config *pc, const struct rule *r, const struct in6_addr *a);
/* The household's per-device switch (device.h): apps on a device it blocked may not open ports, neither
 * for that device nor from it for another. Rules made by hand (web, igdctl, config) still may: the
 * household chose them. V_OK or V_NOT_AUTHORIZED. */
enum verdict policy_check_apps(enum rule_origin origin, bool requester_blocked, bool target_blocked);
/* Is the requester the rule's owner: it asked for it, or it is the rule's target or an address of the
 * target's device (same_device)? Without secure mode everyone is. */
enum verdict policy_check_owner(const struct policy_config *pc, const struct rule *existing,
				const struct in6_addr *requester, bool privileged, bool same_device);
/* May the requester see this rule (list it, read its description and target)? The one rule for every
 * read (core_get_as and friends): the household and the operator see all; an app sees its own rules
 * (as policy_check_owner), and every rule without secure mode; own_only (IGD:2 Manage=0) narrows any
 * reader to its own. */
bool policy_may_see(const struct policy_config *pc, const struct rule *r, const struct in6_addr *requester,
		    bool privileged, bool own_only, bool same_device);
/* May requester change (refresh, replace) or delete an existing rule? The household and the operator
 * (privileged) may change any. An app request only a rule an app made, never one made by hand (web,
 * igdctl, config), only as its owner (policy_check_owner), and not from a device whose apps the
 * household blocked. */
enum verdict policy_check_change(const struct policy_config *pc, const struct rule *existing,
				 const struct in6_addr *requester, bool privileged, bool same_device,
				 bool requester_blocked);
/* Lease clamp: 0 asked = max_lifetime (IGD:2 / PCP semantics); otherwise into [min, max]. */
uint32_t policy_clamp_lease(const struct policy_config *pc, uint32_t asked);
/* The lease a request from origin gets: policy_clamp_lease, but the min_lifetime floor applies only
 * where the answer tells the client what it got (PCP, NAT-PMP, the web UI, igdctl). UPnP cannot say:
 * its leases are kept as asked, 0 and above max_lifetime becoming max_lifetime. */
uint32_t policy_lease_for(const struct policy_config *pc, enum rule_origin origin, uint32_t asked);
/* Parses a permission line (without the leading keyword handling done by conf). false + msg on error. */
bool policy_parse_perm(const char *line, struct perm_rule *out, char *err, size_t errlen);

#endif
