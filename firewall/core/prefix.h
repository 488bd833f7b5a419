/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Prefix tracking: decides, from our own addresses on the LAN interfaces (rtnl on_prefix events), when
 * the LAN prefix changed. Pure: no I/O, no clock; the caller owns the tracker and acts on the answer.
 *
 * Per interface, the *anchor* is the one global prefix (not ULA, length 1..64) we hold a preferred
 * address in. A renumbering as RFC 7084 / RFC 9096 routers do it adds the new prefix, then deprecates
 * (preferred lifetime 0) or removes the old one, so for a moment there are two candidates: we wait then,
 * and decide once exactly one is left. ULA prefixes are ignored: they are ours and do not move, and
 * the policy never opens pinholes to them anyway. */
#ifndef IGDD_PREFIX_H
#define IGDD_PREFIX_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/device.h"

#define PREFIX_MAX_IFS   8
#define PREFIX_MAX_ADDRS 16   /* our addresses per LAN interface */
#define PREFIX_STRLEN    (46 + 4)

struct prefix_addr {
	struct in6_addr addr, prefix;
	uint8_t len;
	bool preferred;
};

struct prefix_if {
	int ifindex;
	size_t n;
	struct prefix_addr a[PREFIX_MAX_ADDRS];
	bool has_anchor;
	struct in6_addr anchor;
	uint8_t anchor_len;
};

struct prefix_tracker {
	size_t n;
	struct prefix_if ifs[PREFIX_MAX_IFS];
};

enum prefix_result {
	PREFIX_NONE = 0,   /* nothing to do */
	PREFIX_FIRST,      /* the interface got its first anchor (compare with what the store remembers) */
	PREFIX_CHANGED,    /* the anchor moved from old to new: re-anchor */
};

struct prefix_change {
	int ifindex;
	struct in6_addr old_prefix, new_prefix;
	uint8_t old_len, new_len;
};

void prefix_tracker_init(struct prefix_tracker *t);
/* One of our addresses on a LAN interface appeared/changed (added) or left. prefix is addr masked to len;
 * facts may be NULL (= preferred). Fills *chg for PREFIX_FIRST (new_* only) and PREFIX_CHANGED. */
enum prefix_result prefix_event(struct prefix_tracker *t, int ifindex, const struct in6_addr *addr,
				const struct in6_addr *prefix, uint8_t len, bool added, const struct addr_facts *facts,
				struct prefix_change *chg);
/* The interface's anchor, if it has one. */
bool prefix_anchor(const struct prefix_tracker *t, int ifindex, struct in6_addr *prefix, uint8_t *len);
/* "2001:db8:1:1::/64" <-> value (the store meta text). parse is strict: IPv6, 1..64, no host bits. */
const char *prefix_format(const struct in6_addr *p, uint8_t len, char buf[PREFIX_STRLEN]);
bool prefix_parse(const char *s, struct in6_addr *p, uint8_t *len);

#endif
