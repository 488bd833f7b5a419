/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Re-anchoring: what happens to every rule when the delegated prefix changes. A pure function from
 * (rules, old prefix, new prefix, device table) to a plan; the core turns the plan into ONE firewall
 * transaction and the rule table's state changes. No I/O, no locks, nothing modified.
 *
 * Per target selector whose address lies in the old prefix:
 *  - EUI-64 (IID = the device's MAC): the same IID under the new prefix, installed at once. The IID is the
 *    MAC's by construction (and DAD keeps anyone else off it), so the device holds it as soon as it is in
 *    the table; a MAC the table does not know becomes a pending stable selector instead.
 *  - stable opaque (RFC 7217): its IID depends on the prefix, so it becomes the device's stable address in
 *    the mapped subnet: installed if the table already shows one, else pending.
 *  - temporary (RFC 8981) or of unknown kind: the address dies with its prefix: the selector is dropped.
 * A rule left with no selector is removed; rules with nothing in the old prefix are not in the plan.
 * No address is ever planned that the table does not tie to the rule's device. */
#ifndef IGDD_REANCHOR_H
#define IGDD_REANCHOR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/device.h"
#include "firewall/core/rule.h"

#define REANCHOR_WHY_MAX 192   /* two selectors' reasons whole */

struct reanchor_step {
	size_t index;                 /* into the rules array given */
	uint32_t rule_id;
	enum rule_state state;        /* RULE_INSTALLED, RULE_PENDING or RULE_GONE */
	struct rule_target target;    /* the rule's new target (RULE_GONE: the old one, unchanged) */
	char why[REANCHOR_WHY_MAX];   /* for the log line and the UI */
};

struct reanchor_plan {
	size_t n;
	struct reanchor_step *steps;  /* malloc'd, in rules order; NULL when n == 0 */
	size_t installed, pending, removed;
};

/* Both prefixes IPv6 (not v4-mapped), lengths 1..64; subnet ids (the bits between the delegated length
 * and /64) keep their value, so /56 -> /56 maps 2001:db8:1:1::/64 to 2001:db8:2:1::/64; a subnet id that
 * does not fit a longer new prefix loses its selector. The same prefix twice gives an empty plan.
 * Returns 0 (out filled; free with reanchor_plan_free), or -1 on bad arguments or ENOMEM (out empty). */
int reanchor_plan(const struct rule *rules, size_t n, const struct in6_addr *old_prefix, uint8_t old_len,
		  const struct in6_addr *new_prefix, uint8_t new_len, const struct device_table *t,
		  struct reanchor_plan *out);
/* Pending stable selectors that the table can resolve now (call after device events): one step per rule
 * that becomes installed. Same return convention. */
int reanchor_resolve(const struct rule *rules, size_t n, const struct device_table *t, struct reanchor_plan *out);
void reanchor_plan_free(struct reanchor_plan *p);
/* Adds a reason to a step's why ("; "-joined, truncated to fit). */
void reanchor_step_why(struct reanchor_step *s, const char *msg);

/* One address moved from old to new prefix (the bits after the prefix kept). false if a is not in the
 * old prefix, a length is out of 1..64, or its subnet id does not fit the new prefix. */
bool reanchor_map(const struct in6_addr *a, const struct in6_addr *old_prefix, uint8_t old_len,
		  const struct in6_addr *new_prefix, uint8_t new_len, struct in6_addr *out);
/* Prefix-relative form for the store: the prefix bits zeroed (e.g. 2001:db8:1:1::5 in 2001:db8:1::/48
 * -> ::1:0:0:0:5: subnet id and IID). false if a is not in prefix/len or len > 128. */
bool reanchor_to_rel(const struct in6_addr *a, const struct in6_addr *prefix, uint8_t len, struct in6_addr *rel);
/* Back: prefix bits from prefix, the rest from rel. false if rel has bits inside the prefix or len > 128. */
bool reanchor_from_rel(const struct in6_addr *rel, const struct in6_addr *prefix, uint8_t len, struct in6_addr *out);

#endif
