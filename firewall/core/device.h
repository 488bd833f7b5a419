/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The device table: a device is a MAC seen on a LAN interface, with every address it was seen using.
 * Each address carries a kind (link-local, ULA, EUI-64, stable opaque, temporary, IPv4) and the
 * evidence behind the guess, because a router can only tell stable from temporary by behaviour
 * (see reference/ipv6-cpe.md, section 3). rtnl.c (the kernel's neighbour table) and ndsnoop.c (what
 * hosts announce on the link: Duplicate Address Detection, advertisements, solicitations) feed it;
 * the core asks it questions. No I/O here: time comes in as `now` (wall clock, unix seconds).
 *
 * How an opaque IID (not derived from the MAC) is judged, strongest evidence first (the first that
 * applies decides; "sticky" verdicts are kept until stronger evidence says otherwise):
 *  1. the kernel's own flags (our own addresses only), or a hint (DHCPv6, the operator);
 *  2. the same IID in another prefix of the same device: stable (Windows keeps one random IID per
 *     network; RFC 7217 and RFC 8981 IIDs differ per prefix) - sticky;
 *  3. in one /64 of the device, one address has been silent since we know it while another spoke (the
 *     host sent from it, or the router's neighbour entry for it was confirmed by traffic outside the
 *     moments we asked ourselves): hosts send from their temporary address (RFC 6724 rule 7), and the
 *     stable one exists to be reached, so the silent one is stable - sticky - and the talkers temporary
 *     (unless we saw the silent one configured well after the talker: that is the next temporary one).
 *     Talk counts only once both were usable (DAD done, DEVICE_DAD_MS after we saw it): when a prefix
 *     changes, the host configures both addresses at once and sends from whichever finishes DAD first
 *     (the old ones are deprecated) until its temporary one is usable. So the talker is the one that
 *     spoke last, after the silent one was usable, and speech from before the talker was usable does
 *     not make an address a talker (times to the millisecond: device_table_clock_ms). When the times are
 *     too close to tell, the router looks again at both (device_to_relisten): the one the host sends
 *     from then is the talker, the other silent;
 *  4. the only address the host configured in a /64 (we saw its Duplicate Address Detection, and no
 *     sibling within DEVICE_SETTLE_S): a host without temporary addresses - stable, sticky;
 *  5. alive longer than a temporary address is preferred (stable_after, 25 h): stable;
 *  6. an opaque sibling of the /64's stable (or EUI-64) address: temporary;
 *  otherwise unknown. Every wrong guess stays inside the device: a rule only ever follows a device to an
 *  address that device holds, so at worst it opens the same device's other address. */
#ifndef IGDD_DEVICE_H
#define IGDD_DEVICE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/rule.h"

#define ADDR_LIFETIME_INFINITE 0xffffffffu
#define DEVICE_NAME_MAX        63     /* bytes of a user-given name (UTF-8), without the NUL */
#define DEVICE_NAMES_MAX       1024   /* names the registry keeps, present devices or not */
#define DEVICE_EVIDENCE_MAX    112
#define DEVICE_MAX_ADDRS       32   /* per device; ≥ 3 global + link-local + ULA is normal, 32 is generous */
/* RFC 8981 TEMP_PREFERRED_LIFETIME is 1 day: an opaque address alive longer than that (plus slack for
 * REGEN_ADVANCE and DESYNC_FACTOR) is not a temporary one. */
#define DEVICE_STABLE_AFTER_DEFAULT (86400 + 3600)
/* RFC 8981 TEMP_VALID_LIFETIME (2 days): lifetimes no longer than these look temporary. */
#define ADDR_TEMP_PREFERRED_MAX 86400u
#define ADDR_TEMP_VALID_MAX     172800u
/* An address whose neighbour entry is gone or failed is forgotten after this long. */
#define DEVICE_FORGET_AFTER_DEFAULT (2 * 86400)
/* A host configures its temporary address together with the public one (RFC 8981 3.4); both finish
 * DAD within about two seconds. An address alone in its /64 this long after its DAD has no sibling. */
#define DEVICE_SETTLE_S 5
/* An address is usable this long after its DAD probe (RFC 4862: one probe, RetransTimer 1 s). */
#define DEVICE_DAD_MS 1000
/* Talk is heard a little after the host sent it: the router's neighbour exchange, and igdd's loop busy
 * (often with the renumbering that made the addresses). Rule 3 takes talk within this much of the
 * moment an address became usable as too close to tell before from after; the router looks again. */
#define DEVICE_TALK_SLACK_MS 250
/* The kernel's neighbour entry for an address we asked about is our doing, not the host's talk. */
#define DEVICE_ASK_WINDOW_S 5
/* Devices kept per LAN interface (a flood of made-up neighbours cannot take more): past it, the one
 * heard from least recently that holds no rule makes room. */
#define DEVICE_MAX_PER_IF_DEFAULT 1024

/* What is known about an address besides its value; all zero = nothing (the usual case for a neighbour). */
struct addr_facts {
	bool lifetimes_known;
	uint32_t preferred, valid;   /* seconds; ADDR_LIFETIME_INFINITE = forever */
	bool flag_temporary;         /* IFA_F_TEMPORARY: the kernel made it per RFC 8981 (own addresses only) */
	bool flag_stable_privacy;    /* IFA_F_STABLE_PRIVACY: RFC 7217 (own addresses only) */
	bool flag_permanent;         /* IFA_F_PERMANENT: configured by hand */
};

enum neigh_state {
	NEIGH_UNKNOWN = 0,
	NEIGH_REACHABLE,   /* REACHABLE, DELAY, PROBE, PERMANENT, NOARP */
	NEIGH_STALE,       /* not confirmed lately, but nothing said it is gone */
	NEIGH_FAILED,      /* did not answer neighbour solicitation */
	NEIGH_ABSENT,      /* the kernel dropped the entry */
};

struct device_addr {
	struct in6_addr addr;
	enum addr_kind kind;
	char evidence[DEVICE_EVIDENCE_MAX];
	int ifindex;
	struct addr_facts facts;
	enum neigh_state neigh;
	int64_t first_seen, last_seen;
	int64_t gone_since;          /* when the neighbour entry failed or left; 0 = present */
	int64_t configured;          /* when we saw the host's DAD for it; 0 = not seen */
	int64_t spoke;               /* last time the host was seen sending from it; 0 = silent so far */
	int64_t configured_ms, spoke_ms;   /* the same two, in milliseconds (0 = not seen) */
	int64_t first_seen_ms;
	int64_t relisten_ms;         /* device_to_relisten handed it out then (0 = never) */
	int64_t quiet_ms;            /* the router looked again from then on and the host did not send from
	                              * it (device_addr_quiet; 0 = never looked, or it spoke since) */
	enum addr_kind decided;      /* a sticky verdict from behaviour (rules 2-4 above); UNKNOWN = none */
	char decided_why[DEVICE_EVIDENCE_MAX];
};

/* Where a device's name came from, the household's first: the order they are shown in. */
enum name_source {
	NAME_SOURCE_NONE = 0,
	NAME_SOURCE_HOUSEHOLD,   /* given in the web UI / igdctl (the registry below) */
	NAME_SOURCE_DHCP,        /* the hostname its DHCPv4/DHCPv6 client sent (dnsmasq, odhcpd lease files) */
	NAME_SOURCE_MDNS,        /* the host name it announces on the link (mDNS, RFC 6762) */
};
const char *name_source_str(enum name_source s);   /* "household", "dhcp", "mdns", "" */

struct device {
	uint8_t mac[6];
	char name[DEVICE_NAME_MAX + 1];   /* user-given (from the name registry), "" = none */
	char dhcp_name[DEVICE_NAME_MAX + 1];   /* learned (names.h), device_name_valid text; "" = none */
	char mdns_name[DEVICE_NAME_MAX + 1];
	bool apps_blocked;                /* the household forbade apps on it to open ports (registry too) */
	int ifindex;                      /* LAN interface it was last seen on */
	int64_t first_seen, last_seen;
	size_t naddrs, cap;
	struct device_addr *addrs;        /* naddrs of them (at most DEVICE_MAX_ADDRS) */
	uint32_t pins;                    /* rules that name it (device_pin): never evicted while > 0 */
	struct device *lru_prev, *lru_next;   /* its interface's eviction order (unpinned ones only) */
	int bucket;                       /* index of its interface's bucket */
	uint32_t eui64_asked_gen;         /* device_eui64_to_ask: the subnets' generation it was asked in */
};

struct device_table;

/* stable_after: seconds an opaque address must persist to count as stable (0 = the default);
 * forget_after: seconds an absent/failed address is kept (0 = the default). NULL on ENOMEM. */
struct device_table *device_table_new(int64_t stable_after, int64_t forget_after);
void device_table_free(struct device_table *t);

/* --- pure helpers --- */
/* The modified EUI-64 IID of a MAC (RFC 4291 App. A): ff:fe in the middle, U/L bit (0x02) inverted. */
void addr_eui64_iid(const uint8_t mac[6], uint8_t iid[8]);
/* Does the IID have the EUI-64 form (ff:fe at bytes 11-12)? If so and mac_out, the MAC it came from. */
bool addr_iid_is_eui64(const struct in6_addr *a, uint8_t mac_out[6]);
/* Classifies one address on its own. mac and facts may be NULL. An opaque IID with no facts is
 * ADDR_KIND_UNKNOWN: only behaviour over time (the table) can tell stable from temporary.
 * Multicast, loopback and unspecified are not host addresses: ADDR_KIND_UNKNOWN with that evidence.
 * evidence (may be NULL) gets a short human reason, truncated to evlen. */
enum addr_kind addr_classify(const struct in6_addr *a, const uint8_t mac[6], const struct addr_facts *facts,
			     char *evidence, size_t evlen);
/* "52:54:00:12:34:01" <-> bytes. */
const char *mac_str(const uint8_t mac[6], char buf[18]);
bool mac_parse(const char *s, uint8_t mac[6]);
/* A MAC a device can have: not all zero, not multicast/broadcast (group bit clear). */
bool mac_usable(const uint8_t mac[6]);

/* The time of what is fed next, in milliseconds of the same wall clock as `now`: orders DAD and talk
 * within a second (rule 3). Ignored when it is not within the `now` second given with the feeding
 * (then now * 1000 stands in). */
void device_table_clock_ms(struct device_table *t, int64_t now_ms);
/* Devices kept per LAN interface (0 = DEVICE_MAX_PER_IF_DEFAULT). */
void device_table_set_limit(struct device_table *t, size_t max_per_if);

/* --- feeding the table --- */
/* How the router heard of an address. */
enum device_heard {
	DEVICE_HEARD_TABLE = 0,   /* a neighbour entry as found (a dump) or one that only aged: it exists */
	DEVICE_HEARD_TRAFFIC,     /* the neighbour entry was confirmed by traffic just now (the router sent
				   * to it: replies to what the host sent, unless we asked ourselves) */
	DEVICE_HEARD_DAD,         /* the host's Duplicate Address Detection: it configured the address now */
	DEVICE_HEARD_ADVERT,      /* the host advertised it (neighbour advertisement naming its own MAC) */
	DEVICE_HEARD_SPEAK,       /* the host sent from it (a neighbour solicitation from that source) */
};
/* An address was heard of with a MAC on a LAN interface. From the kernel (TABLE, TRAFFIC) the table
 * follows it: an address now with another MAC moves to that device, as the kernel delivers to it.
 * Snooped from the link (DAD, ADVERT, SPEAK), a host's word about an address that another present
 * device holds is not taken: only the kernel's own resolution moves it. A new device on an interface
 * at its limit evicts the least recently heard one that no rule names, or is refused.
 * Returns 1 new address, 0 updated (or a snooped claim ignored), -1 bad input (zero/multicast MAC,
 * multicast/unspecified/loopback address), device full, interface full, ENOMEM. */
int device_addr_heard(struct device_table *t, const uint8_t mac[6], int ifindex, const struct in6_addr *a,
		      enum device_heard how, int64_t now);
/* device_addr_heard(TABLE) with what the kernel says about an address of ours (facts may be NULL). */
int device_addr_seen(struct device_table *t, const uint8_t mac[6], int ifindex, const struct in6_addr *a,
		     const struct addr_facts *facts, int64_t now);
/* We asked the LAN about a (a neighbour solicitation): the kernel's entry for it in the next
 * DEVICE_ASK_WINDOW_S is our doing. Remembers the last few asks. */
void device_note_asked(struct device_table *t, const struct in6_addr *a, int64_t now);
/* Modified EUI-64 addresses worth asking the LAN about. A host that forms its stable address from its
 * MAC (many phones, printers and older systems) holds it silently, yet the router can name it: for each
 * device not asked since the subnets last changed (device_subnets_changed), its EUI-64 address in each
 * of the n /64 subnets, unless some device holds it already. A device's candidates come whole or not at
 * all (the rest wait for the next call); each is noted as asked (device_note_asked). Returns how many
 * went into out (at most max). */
size_t device_eui64_to_ask(struct device_table *t, const struct in6_addr *subnets, size_t n, struct in6_addr *out,
			   size_t max, int64_t now);
/* Rule 3 cannot decide a /64 by talk whose time is too close to when its addresses became usable: the
 * temporary address finished DAD first after a prefix change and the host's talk from it came before
 * its sibling was usable (the kernel reports no more talk while the neighbour entry stays REACHABLE), or
 * the host's last packet from the stable address left just before the temporary one was usable and was
 * heard just after (the neighbour exchange, or our loop busy with the renumbering itself). Once all of
 * an undecided /64's candidates are usable, the ones the host has sent from are handed out together,
 * once per the /64's latest usable moment: the caller marks the router's neighbour entries STALE, so the
 * host's next packet from one goes through the kernel's reachability check again (DELAY, PROBE,
 * REACHABLE) and is heard as talk (DEVICE_HEARD_TRAFFIC), and an entry still STALE a moment later is
 * an address the host did not send from (device_addr_quiet). Returns how many went into out (address,
 * interface, MAC), at most max; a /64's come whole or wait for the next call. */
struct device_relisten {
	struct in6_addr addr;
	int ifindex;
	uint8_t mac[6];
};
size_t device_to_relisten(struct device_table *t, int64_t now_ms, struct device_relisten *out, size_t max);
/* The earliest moment (wall clock ms) device_to_relisten may hand something out, as judging found it
 * since the last call (0: nothing waits), so the caller need not wait for its next periodic look;
 * resets it. A moment already past means now. */
int64_t device_take_look_due(struct device_table *t);
/* The router looked again at a (device_to_relisten) from since_ms on, and by now the host with this MAC
 * had not sent from it: unless it spoke after since_ms, it counts as silent for rule 3 from then on.
 * 1 if taken, 0 if a is not this device's. */
int device_addr_quiet(struct device_table *t, const uint8_t mac[6], const struct in6_addr *a, int64_t since_ms,
		      int64_t now);
/* The LAN's subnets changed: every device's EUI-64 address is worth asking about again. */
void device_subnets_changed(struct device_table *t);
/* A rule names the device with this MAC (delta +1) or stopped naming it (-1): a pinned device is never
 * evicted. Counted even while the device is away (it is pinned when it shows up). */
void device_pin(struct device_table *t, const uint8_t mac[6], int delta);
struct device_table_stats {
	size_t devices, addresses;
	uint64_t evicted, refused;        /* devices evicted to make room / refused on a full interface */
	uint64_t claims_ignored;          /* snooped claims on an address another device holds */
};
void device_table_stats(const struct device_table *t, struct device_table_stats *out);
/* The address was removed for sure (e.g. the host said so). Returns 1 if it was known, else 0. */
int device_addr_gone(struct device_table *t, const struct in6_addr *a, int64_t now);
/* A neighbour state change without a MAC (failed, or the entry left). 1 if known, else 0. */
int device_neigh_state(struct device_table *t, const struct in6_addr *a, enum neigh_state st, int64_t now);
/* Stable or temporary, learned from elsewhere (a DHCPv6 lease, the operator). 1 if taken, 0 if the
 * address is unknown or kind is not one of those two. */
int device_addr_hint(struct device_table *t, const struct in6_addr *a, enum addr_kind kind, const char *evidence);

/* --- the name registry: what the household decided about a device, by MAC ---
 * A household names a device once and the name sticks to its MAC: it is kept in the registry
 * whether the device is in the table or not (a phone that is away), and given to the device when
 * it appears. The same entry says whether apps on the device may open ports (UPnP, PCP, NAT-PMP; the
 * default) or not, like a home router's per-device "permit independent port sharing".
 * Each entry lives in one of DEVICE_NAMES_MAX numbered slots that never move while it exists (it
 * exists while the device has a name or is blocked), so that a store can keep one small record per
 * slot (devwatch.c does). */
/* Well-formed UTF-8, at most DEVICE_NAME_MAX bytes, no control characters (C0, DEL, C1) and no
 * line separators or bidirectional overrides (a name must not rearrange the text around it). "" is valid. */
bool device_name_valid(const char *name);
/* The slot holding mac's entry, else the lowest free slot; -1 when mac has none and none is free. */
int device_name_slot(const struct device_table *t, const uint8_t mac[6]);
/* Puts mac's entry in slot (name "" and not blocked frees the slot) and gives it to the device now if
 * it is in the table. 0, or -1: bad slot, MAC (zero/multicast) or name, or mac's entry in another slot. */
int device_name_put(struct device_table *t, int slot, const uint8_t mac[6], const char *name, bool apps_blocked);
/* device_name_slot + device_name_put, keeping the other half of the entry: 0, or -1 (bad input,
 * registry full). */
int device_set_name(struct device_table *t, const uint8_t mac[6], const char *name);
int device_set_apps_blocked(struct device_table *t, const uint8_t mac[6], bool blocked);
/* The registry's name for mac ("" = none), and whether apps on it are blocked. */
const char *device_name_of(const struct device_table *t, const uint8_t mac[6]);
bool device_apps_blocked(const struct device_table *t, const uint8_t mac[6]);
/* Entries in the registry (named or blocked devices). */
size_t device_name_count(const struct device_table *t);
/* One registry entry as a store keeps it, one line: "52:54:00:12:34:01 NAME", followed by
 * DEVICE_APPS_BLOCKED_TAG when apps are blocked (a tab cannot be part of a name; records written
 * before the flag existed have none and mean allowed). parse: true with mac, name (copied) and
 * *apps_blocked when rec is an entry with a valid name that is non-empty or blocked. */
#define DEVICE_APPS_BLOCKED_TAG "\tapps=blocked"
#define DEVICE_NAME_RECORD_MAX  (18 + DEVICE_NAME_MAX + sizeof(DEVICE_APPS_BLOCKED_TAG))
void device_name_record(const uint8_t mac[6], const char *name, bool apps_blocked, char buf[DEVICE_NAME_RECORD_MAX]);
bool device_name_record_parse(const char *rec, uint8_t mac[6], char name[DEVICE_NAME_MAX + 1], bool *apps_blocked);
/* Re-judges every address at time now (persistence promotes opaque addresses to stable) and forgets
 * addresses absent for longer than forget_after, and devices left with none unless in the registry
 * (a named or blocked device stays listed while away; the registry keeps its entry either way).
 * Returns how many addresses changed kind or were forgotten: non-zero means pending rules may resolve. */
size_t device_table_age(struct device_table *t, int64_t now);

/* A name learned from the LAN (DHCP, mDNS) for the device with this MAC, which must be in the table
 * (learned names are not kept for absent devices: they are learned again). name must be
 * device_name_valid; "" forgets it. 1 changed, 0 the same, -1 unknown device, bad source or name. */
int device_learn_name(struct device_table *t, const uint8_t mac[6], enum name_source src, const char *name);
/* The name to show: the household's, else the DHCP one, else the mDNS one ("" and NAME_SOURCE_NONE
 * when none). src may be NULL. */
const char *device_shown_name(const struct device *d, enum name_source *src);

/* --- questions --- */
size_t device_count(const struct device_table *t);
const struct device *device_find(const struct device_table *t, const uint8_t mac[6]);
/* The device holding a, and (if da) which of its addresses it is. NULL if nobody holds it. */
const struct device *device_by_addr(const struct device_table *t, const struct in6_addr *a,
				    const struct device_addr **da);
/* Iteration: *pos starts at 0; NULL at the end. No changes while iterating. */
const struct device *device_next(const struct device_table *t, size_t *pos);
/* Are a and b addresses of the same device (by MAC)? Equal addresses are. Unknown addresses are not. */
bool device_same(const struct device_table *t, const struct in6_addr *a, const struct in6_addr *b);
/* The same, shaped for core_params.same_device (arg is the table). */
bool device_same_cb(void *arg, const struct in6_addr *a, const struct in6_addr *b);
/* The device's stable address in subnet/len: its EUI-64 one first, then the oldest stable opaque one.
 * Failed or absent addresses are skipped. false if none. */
bool device_stable_address(const struct device_table *t, const uint8_t mac[6], const struct in6_addr *subnet,
			   uint8_t len, struct in6_addr *out);
/* Is a an address of a device whose apps the household blocked? false for an address nobody holds. */
bool device_apps_blocked_at(const struct device_table *t, const struct in6_addr *a);
/* Does the device with this MAC hold a (seen, not failed/absent)? */
bool device_holds(const struct device_table *t, const uint8_t mac[6], const struct in6_addr *a);

#endif
