/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The LAN interfaces as they are now: whether each exists (by name: a bridge may be created after us),
 * is up with carrier, and which addresses of ours it holds, each with the kernel's flags (a tentative
 * address is still in Duplicate Address Detection and cannot be bound to; a deprecated one is on its
 * way out after a renumbering). rtnl.c feeds it from RTM_NEWLINK/NEWADDR; everything that must follow
 * the LAN (UPnP's listeners and SSDP, the policy's "is this on the LAN?") asks it. Pure: no I/O. */
#ifndef IGDD_LANIF_H
#define IGDD_LANIF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LANIF_MAX_IFS   8
#define LANIF_MAX_ADDRS 16    /* per interface: IPv4, link-local, a ULA, two prefixes mid-renumbering... */
#define LANIF_NAME_MAX  16    /* IFNAMSIZ */

struct lanif_addr {
	struct in6_addr addr;     /* v4-mapped for IPv4 */
	uint8_t plen;             /* v4: 96 + prefix length */
	bool tentative;           /* DAD not done (or failed): cannot be bound to yet */
	bool deprecated;          /* preferred lifetime 0: kept for old connections, not for new ones */
	uint64_t seq;             /* order of arrival: a higher one is newer */
};

struct lanif {
	char name[LANIF_NAME_MAX];
	int ifindex;              /* 0 = no such interface now */
	bool up, running;         /* IFF_UP, IFF_RUNNING (carrier) */
	size_t n;
	struct lanif_addr a[LANIF_MAX_ADDRS];
};

struct lanif_set {
	size_t n;
	struct lanif ifs[LANIF_MAX_IFS];
	uint64_t gen;             /* changes whenever anything above does */
	uint64_t seq;
};

/* The interfaces to follow, by name (names beyond LANIF_MAX_IFS are ignored). */
void lanif_init(struct lanif_set *s, const char (*names)[LANIF_NAME_MAX], size_t n);
/* The interface with this index, or NULL (not one of ours). */
const struct lanif *lanif_by_index(const struct lanif_set *s, int ifindex);

/* --- feeding (each returns true if something changed) --- */
/* RTM_NEWLINK: name and index as the kernel says; flags IFF_*. A known name with a new index (the
 * interface was made again) forgets the old addresses. */
bool lanif_link(struct lanif_set *s, int ifindex, const char *name, unsigned flags);
/* RTM_DELLINK. */
bool lanif_link_gone(struct lanif_set *s, int ifindex);
/* RTM_NEWADDR (added) / RTM_DELADDR for one of our addresses. */
bool lanif_addr(struct lanif_set *s, int ifindex, const struct in6_addr *a, uint8_t plen, bool tentative,
		bool deprecated, bool added);

/* --- questions --- */
/* Can sockets be bound and multicast be sent on it (exists, up, running)? */
bool lanif_usable(const struct lanif *i);
/* The interface's IPv4 address (the oldest of them), its link-local address and its best global or
 * ULA address: not tentative, preferred over deprecated, the newest prefix first (after a
 * renumbering the new one). false when there is none. */
bool lanif_v4(const struct lanif *i, struct in6_addr *out, uint8_t *plen);
bool lanif_link_local(const struct lanif *i, struct in6_addr *out);
bool lanif_global(const struct lanif *i, struct in6_addr *out, uint8_t *plen);
/* The LAN subnets (each address's prefix; v4-mapped for IPv4, link-local included) into out
 * (at most max, duplicates once). Returns how many. */
size_t lanif_subnets(const struct lanif_set *s, struct in6_addr *out, uint8_t *len, size_t max);
/* Our own addresses on the LAN interfaces (tentative ones too). */
size_t lanif_own(const struct lanif_set *s, struct in6_addr *out, size_t max);
/* Is a one of our own addresses on the LAN interfaces (tentative ones too)? */
bool lanif_is_own(const struct lanif_set *s, const struct in6_addr *a);
/* The LAN interface whose subnet holds a (0 if none). */
int lanif_index_for(const struct lanif_set *s, const struct in6_addr *a);

#endif
