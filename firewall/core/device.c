/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The device table (see device.h). Two indexes: devices by MAC, and the device holding each address;
 * beside them the name registry, an array of slots (searched linearly: at most DEVICE_NAMES_MAX, and
 * only when a device appears or is named). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/device.h"
#include "firewall/lib/hmap.h"
#include "firewall/lib/utf8.h"

struct name_slot {
	bool used;
	uint8_t mac[6];
	char name[DEVICE_NAME_MAX + 1];
	bool apps_blocked;
};

#define MAX_BUCKETS 16   /* LAN interfaces told apart for the per-interface limit; more share the last */
#define ASKED_RING  64   /* recent asks remembered */

/* The devices of one LAN interface: how many, and the unpinned ones in eviction order (head = heard
 * from least recently). */
struct bucket {
	int ifindex;
	size_t count;
	struct device *head, *tail;
};

struct asked {
	struct in6_addr addr;
	int64_t when;
};

struct device_table {
	struct hmap *by_mac;    /* 6-byte MAC -> struct device * (owned) */
	struct hmap *by_addr;   /* in6_addr -> struct device * holding it */
	struct hmap *pins;      /* 6-byte MAC -> (uintptr_t) rules naming it, present or not */
	struct name_slot *names; /* DEVICE_NAMES_MAX slots, allocated with the first name */
	int64_t stable_after;
	int64_t forget_after;
	size_t max_per_if;
	struct bucket buckets[MAX_BUCKETS];
	size_t n_buckets;
	struct asked asked[ASKED_RING];
	size_t asked_next;
	struct device_table_stats st;
	uint32_t subnets_gen;   /* device_subnets_changed; devices start at 0, so each is asked once */
	int64_t clock_ms;       /* device_table_clock_ms */
	int64_t look_due_ms;    /* device_take_look_due: the earliest moment a look again may be handed out */
};

struct device_table *device_table_new(int64_t stable_after, int64_t forget_after)
{
	struct device_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->by_mac = hmap_new(6);
	t->by_addr = hmap_new(sizeof(struct in6_addr));
	t->pins = hmap_new(6);
	if (!t->by_mac || !t->by_addr || !t->pins) {
		device_table_free(t);
		return NULL;
	}
	t->stable_after = stable_after > 0 ? stable_after : DEVICE_STABLE_AFTER_DEFAULT;
	t->forget_after = forget_after > 0 ? forget_after : DEVICE_FORGET_AFTER_DEFAULT;
	t->max_per_if = DEVICE_MAX_PER_IF_DEFAULT;
	t->subnets_gen = 1;
	return t;
}

void device_table_clock_ms(struct device_table *t, int64_t now_ms)
{
	if (t)
		t->clock_ms = now_ms;
}

/* now (seconds) to the millisecond, when the feeder said so for this second */
static int64_t now_ms_of(const struct device_table *t, int64_t now)
{
	return t->clock_ms / 1000 == now ? t->clock_ms : now * 1000;
}

void device_table_set_limit(struct device_table *t, size_t max_per_if)
{
	if (t)
		t->max_per_if = max_per_if ? max_per_if : DEVICE_MAX_PER_IF_DEFAULT;
}

void device_table_free(struct device_table *t)
{
	struct device *d;
	size_t pos = 0;

	if (!t)
		return;
	if (t->by_mac) {
		while ((d = hmap_next(t->by_mac, &pos))) {
			free(d->addrs);
			free(d);
		}
		hmap_free(t->by_mac);
	}
	hmap_free(t->by_addr);
	hmap_free(t->pins);
	free(t->names);
	free(t);
}

/* ---------------------------------------------------------------- pure helpers */

void addr_eui64_iid(const uint8_t mac[6], uint8_t iid[8])
{
	iid[0] = mac[0] ^ 0x02;   /* RFC 4291 App. A: "u" bit inverted, so universal MACs give 1 */
	iid[1] = mac[1];
	iid[2] = mac[2];
	iid[3] = 0xff;
	iid[4] = 0xfe;
	iid[5] = mac[3];
	iid[6] = mac[4];
	iid[7] = mac[5];
}

bool addr_iid_is_eui64(const struct in6_addr *a, uint8_t mac_out[6])
{
	const uint8_t *b = a->s6_addr;

	if (b[11] != 0xff || b[12] != 0xfe)
		return false;
	if (mac_out) {
		mac_out[0] = b[8] ^ 0x02;
		mac_out[1] = b[9];
		mac_out[2] = b[10];
		mac_out[3] = b[13];
		mac_out[4] = b[14];
		mac_out[5] = b[15];
	}
	return true;
}

const char *mac_str(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}

bool mac_parse(const char *s, uint8_t mac[6])
{
	/* exactly "xx:xx:xx:xx:xx:xx": 17 characters */
	if (!s || strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

bool mac_usable(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	/* group bit set = multicast/broadcast: never a device */
	return mac && memcmp(mac, zero, 6) != 0 && !(mac[0] & 0x01);
}

static void say(char *ev, size_t evlen, const char *fmt, const char *arg)
{
	if (ev && evlen)
		snprintf(ev, evlen, fmt, arg ? arg : "");
}

static bool iid_matches_mac(const struct in6_addr *a, const uint8_t mac[6])
{
	uint8_t iid[8];

	addr_eui64_iid(mac, iid);
	return memcmp(a->s6_addr + 8, iid, 8) == 0;
}

/* Opaque IID (not derived from this MAC): only kernel flags or lifetimes can say more on their own. */
static enum addr_kind classify_opaque(const struct addr_facts *f, char *ev, size_t evlen, const char *pre)
{
	if (f && f->flag_temporary) {
		say(ev, evlen, "%skernel flag temporary (RFC 8981)", pre);
		return ADDR_KIND_TEMPORARY;
	}
	if (f && f->flag_stable_privacy) {
		say(ev, evlen, "%skernel flag stable-privacy (RFC 7217)", pre);
		return ADDR_KIND_STABLE;
	}
	if (f && f->flag_permanent) {
		say(ev, evlen, "%sconfigured by hand (permanent)", pre);
		return ADDR_KIND_STABLE;
	}
	if (f && f->lifetimes_known && f->preferred != ADDR_LIFETIME_INFINITE &&
	    f->preferred <= ADDR_TEMP_PREFERRED_MAX && f->valid <= ADDR_TEMP_VALID_MAX) {
		say(ev, evlen, "%spreferred lifetime finite and short (<= 1 day, valid <= 2 days)", pre);
		return ADDR_KIND_TEMPORARY;
	}
	say(ev, evlen, "%sopaque IID, not yet seen to persist", pre);
	return ADDR_KIND_UNKNOWN;
}

enum addr_kind addr_classify(const struct in6_addr *a, const uint8_t mac[6], const struct addr_facts *facts,
			     char *evidence, size_t evlen)
{
	uint8_t from[6];

	if (!a) {
		say(evidence, evlen, "no address%s", NULL);
		return ADDR_KIND_UNKNOWN;
	}
	if (addr_is_unspecified(a) || addr_is_multicast(a) || addr_is_loopback(a)) {
		say(evidence, evlen, "not a host address (unspecified, multicast or loopback)%s", NULL);
		return ADDR_KIND_UNKNOWN;
	}
	if (addr_is_v4(a)) {
		say(evidence, evlen, "IPv4%s", NULL);
		return ADDR_KIND_IPV4;
	}
	if (addr_is_link_local(a)) {
		say(evidence, evlen, "in fe80::/10%s", NULL);
		return ADDR_KIND_LINK_LOCAL;
	}
	if (addr_is_ula(a)) {
		say(evidence, evlen, "in fc00::/7%s", NULL);
		return ADDR_KIND_ULA;
	}
	if (mac && iid_matches_mac(a, mac)) {
		say(evidence, evlen, "IID matches MAC (EUI-64, U/L bit flipped)%s", NULL);
		return ADDR_KIND_EUI64;
	}
	/* ff:fe alone is not proof: without the MAC behind it the address is as opaque as any other
	 * (a bridged host, or a random IID that happens to hold ff:fe). */
	if (addr_iid_is_eui64(a, from))
		return classify_opaque(facts, evidence, evlen, mac ? "EUI-64 form but another MAC; " :
				       "EUI-64 form, MAC unknown; ");
	return classify_opaque(facts, evidence, evlen, "");
}

/* ---------------------------------------------------------------- table internals */

static bool same_64(const struct in6_addr *a, const struct in6_addr *b)
{
	return memcmp(a->s6_addr, b->s6_addr, 8) == 0;
}

static bool same_iid(const struct in6_addr *a, const struct in6_addr *b)
{
	return memcmp(a->s6_addr + 8, b->s6_addr + 8, 8) == 0;
}

static bool addr_present(const struct device_addr *da)
{
	return da->neigh != NEIGH_FAILED && da->neigh != NEIGH_ABSENT;
}

/* An address whose kind only behaviour can tell: global IPv6 with an IID not made from this MAC. */
static bool opaque_global(const struct device *d, const struct device_addr *da)
{
	const struct in6_addr *a = &da->addr;

	return !addr_is_v4(a) && !addr_is_link_local(a) && !addr_is_ula(a) && !addr_is_multicast(a) &&
	       !iid_matches_mac(a, d->mac);
}

static void decide(struct device_addr *da, enum addr_kind k, const char *why)
{
	da->decided = k;
	snprintf(da->decided_why, sizeof(da->decided_why), "%s", why);
}

/* One address on its own (evidence 1, 2, 5 and 6 of device.h; 3 and 4 need the whole /64, see
 * judge_subnet). Sticky verdicts hold unless the address itself says more (flags, EUI-64). */
static void judge(const struct device_table *t, struct device *d, struct device_addr *da, int64_t now)
{
	char ev[DEVICE_EVIDENCE_MAX];
	enum addr_kind k = addr_classify(&da->addr, d->mac, &da->facts, ev, sizeof(ev));
	int64_t alive;

	if (k == ADDR_KIND_UNKNOWN && da->decided != ADDR_KIND_UNKNOWN) {
		k = da->decided;
		snprintf(ev, sizeof(ev), "%s", da->decided_why);
	}
	if (k == ADDR_KIND_UNKNOWN && !da->facts.lifetimes_known) {
		for (size_t i = 0; i < d->naddrs; i++) {
			const struct device_addr *o = &d->addrs[i];

			if (o != da && !same_64(&o->addr, &da->addr) && same_iid(&o->addr, &da->addr) &&
			    !addr_is_v4(&o->addr) && !addr_is_link_local(&o->addr)) {
				k = ADDR_KIND_STABLE;
				snprintf(ev, sizeof(ev), "seen in two prefixes with the same IID");
				decide(da, k, ev);
				break;
			}
		}
	}
	/* an address that left stopped persisting when it left */
	alive = (da->gone_since ? da->gone_since : now) - da->first_seen;
	if (k == ADDR_KIND_UNKNOWN && alive >= t->stable_after) {
		k = ADDR_KIND_STABLE;
		snprintf(ev, sizeof(ev), "persisted %lld s, longer than a temporary address is preferred",
			 (long long)alive);
	}
	if (k == ADDR_KIND_UNKNOWN) {
		for (size_t i = 0; i < d->naddrs; i++) {
			const struct device_addr *o = &d->addrs[i];

			if (o != da && same_64(&o->addr, &da->addr) && addr_present(o) &&
			    (o->kind == ADDR_KIND_EUI64 || o->kind == ADDR_KIND_STABLE)) {
				k = ADDR_KIND_TEMPORARY;
				snprintf(ev, sizeof(ev), "opaque sibling of the /64's stable address");
				break;
			}
		}
	}
	da->kind = k;
	memcpy(da->evidence, ev, sizeof(ev));
}

/* An address whose DAD we saw well after the talker was configured (or first seen) is newer than it:
 * RFC 8981 makes the next temporary address REGEN_ADVANCE (~5 s) before the one in use is deprecated,
 * and it is silent until then. A stable address is configured together with the talker, or earlier. */
static bool configured_after(const struct device_addr *a, const struct device_addr *talker)
{
	int64_t since = talker->configured ? talker->configured : talker->first_seen;

	return a->configured && a->configured > since + DEVICE_SETTLE_S;
}

/* Evidence 3 and 4 of device.h, for the /64 of da: the device's present opaque global addresses there. */
/* When x became usable (its DAD done): 0 when we did not see its DAD (usable since before we knew it). */
static int64_t usable_ms(const struct device_addr *x)
{
	return x->configured_ms ? x->configured_ms + DEVICE_DAD_MS : 0;
}

/* The earliest moment x is known to have been usable: its DAD done, or when we first saw it. Talk that
 * is to tell x apart must come after it (x might have been configured just before we saw it). */
static int64_t surely_usable_ms(const struct device_addr *x)
{
	return x->configured_ms ? x->configured_ms + DEVICE_DAD_MS : x->first_seen_ms;
}

/* Rule 3's and rule 4's candidates in da's /64: present opaque global addresses not flagged by the kernel. */
static bool subnet_candidate(const struct device *d, const struct device_addr *o, const struct device_addr *da)
{
	return same_64(&o->addr, &da->addr) && addr_present(o) && opaque_global(d, o) && !o->facts.flag_temporary &&
	       !o->facts.flag_stable_privacy;
}

/* What rule 3 sees in da's /64 (judge_subnet decides by it, device_to_relisten looks again by it). */
struct subnet_view {
	bool has_stable;              /* the /64 has its stable address: the rest is the sibling rule's */
	size_t n;                     /* candidates (subnet_candidate) */
	struct device_addr *only;     /* the last candidate seen (the only one when n == 1) */
	struct device_addr *talker;   /* the candidate that spoke last */
	int64_t latest_usable;        /* when the last candidate was surely usable */
};

static void view_subnet(struct device *d, const struct device_addr *da, struct subnet_view *v)
{
	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < d->naddrs; i++) {
		struct device_addr *o = &d->addrs[i];

		if (!same_64(&o->addr, &da->addr))
			continue;
		if (o->kind == ADDR_KIND_EUI64 || o->decided == ADDR_KIND_STABLE ||
		    (o->kind == ADDR_KIND_STABLE && addr_present(o))) {
			v->has_stable = true;
			return;
		}
		if (!subnet_candidate(d, o, da))
			continue;
		v->n++;
		v->only = o;
		if (surely_usable_ms(o) > v->latest_usable)
			v->latest_usable = surely_usable_ms(o);
		if (o->spoke && (!v->talker || o->spoke_ms > v->talker->spoke_ms))
			v->talker = o;
	}
}

static void judge_subnet(struct device *d, const struct device_addr *da, int64_t now)
{
	struct device_addr *silent = NULL, *talker, *only;
	struct subnet_view v;
	size_t n, n_silent = 0;
	char why[DEVICE_EVIDENCE_MAX], a[ADDR_STRLEN];

	view_subnet(d, da, &v);
	if (v.has_stable)
		return;
	talker = v.talker;
	only = v.only;
	n = v.n;
	for (size_t i = 0; talker && i < d->naddrs; i++) {
		struct device_addr *o = &d->addrs[i];

		/* silent: never spoke, or only before the talker was usable (the host had no other address), or
		 * about then and not since the router looked again (device_to_relisten, once all were usable);
		 * talk clearly after that makes an address no silent one, whatever a look finds later */
		if (o != talker && subnet_candidate(d, o, da) && o->decided != ADDR_KIND_TEMPORARY &&
		    (!o->spoke || o->spoke_ms + DEVICE_TALK_SLACK_MS < usable_ms(talker) ||
		     (o->quiet_ms > o->spoke_ms && o->spoke_ms < usable_ms(talker) + DEVICE_TALK_SLACK_MS))) {
			n_silent++;
			silent = o;
		}
	}
	/* the talker spoke while the silent one was usable, or in an earlier life (before its own last DAD:
	 * the host left and came back, reconfiguring both; not the race of a new prefix) */
	if (talker && n_silent == 1 &&
	    (talker->spoke_ms >= surely_usable_ms(silent) + DEVICE_TALK_SLACK_MS ||
	     talker->spoke_ms < talker->configured_ms) &&
	    !configured_after(silent, talker)) {
		snprintf(why, sizeof(why), "silent while the host speaks from %s (hosts send from temporary addresses)",
			 addr_str(&talker->addr, a));
		decide(silent, ADDR_KIND_STABLE, why);
		return;
	}
	if (n == 1 && only->configured && now - only->configured >= DEVICE_SETTLE_S && only->decided == ADDR_KIND_UNKNOWN)
		decide(only, ADDR_KIND_STABLE, "the only address the host configured in its /64 (seen in DAD)");
}

/* May the router look again at o, a candidate of da's /64 (v: its view)? If the host has sent from it
 * and it was not handed out since the /64's last address became usable. */
static bool worth_a_look(const struct device *d, const struct device_addr *o, const struct device_addr *da,
			 const struct subnet_view *v)
{
	return subnet_candidate(d, o, da) && o->spoke && o->relisten_ms < v->latest_usable && o->neigh != NEIGH_FAILED;
}

/* When the router may look again at da's /64 (rule 3 still open there with two candidates or more, one
 * of them worth a look): once all are usable and the slack has passed. 0: not at all. Fills *v. */
static int64_t look_due(struct device *d, const struct device_addr *da, struct subnet_view *v)
{
	view_subnet(d, da, v);
	if (v->has_stable || v->n < 2)
		return 0;
	for (size_t i = 0; i < d->naddrs; i++)
		if (worth_a_look(d, &d->addrs[i], da, v))
			return v->latest_usable + DEVICE_TALK_SLACK_MS;
	return 0;
}

/* da's /64 is undecided: the table keeps the earliest moment a look again is due, for
 * device_take_look_due. */
static void note_look_due(struct device_table *t, struct device *d, const struct device_addr *da)
{
	struct subnet_view v;
	int64_t due = look_due(d, da, &v);

	if (due && (t->look_due_ms == 0 || due < t->look_due_ms))
		t->look_due_ms = due;
}

/* Judges every address of d: per address, then per /64, then per address again so the sibling rule
 * sees the /64's stable address. Returns how many changed kind. */
static size_t judge_device(struct device_table *t, struct device *d, int64_t now)
{
	enum addr_kind before[DEVICE_MAX_ADDRS];
	size_t changed = 0;

	for (size_t i = 0; i < d->naddrs; i++) {
		before[i] = d->addrs[i].kind;
		d->addrs[i].kind = ADDR_KIND_UNKNOWN;
	}
	for (size_t i = 0; i < d->naddrs; i++)
		judge(t, d, &d->addrs[i], now);
	for (size_t i = 0; i < d->naddrs; i++)
		if (d->addrs[i].kind == ADDR_KIND_UNKNOWN && opaque_global(d, &d->addrs[i]))
			judge_subnet(d, &d->addrs[i], now);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < d->naddrs; i++)
			judge(t, d, &d->addrs[i], now);
	for (size_t i = 0; i < d->naddrs; i++) {
		changed += before[i] != d->addrs[i].kind;
		if (d->addrs[i].kind == ADDR_KIND_UNKNOWN && opaque_global(d, &d->addrs[i]))
			note_look_due(t, d, &d->addrs[i]);
	}
	return changed;
}

static struct device_addr *find_addr(struct device *d, const struct in6_addr *a)
{
	for (size_t i = 0; i < d->naddrs; i++)
		if (addr_equal(&d->addrs[i].addr, a))
			return &d->addrs[i];
	return NULL;
}

static void drop_addr(struct device_table *t, struct device *d, struct device_addr *da)
{
	size_t i = (size_t)(da - d->addrs);

	hmap_del(t->by_addr, &da->addr);
	d->addrs[i] = d->addrs[--d->naddrs];
}

/* ---------- eviction order, per interface ---------- */

static struct bucket *bucket_for(struct device_table *t, int ifindex)
{
	for (size_t i = 0; i < t->n_buckets; i++)
		if (t->buckets[i].ifindex == ifindex)
			return &t->buckets[i];
	if (t->n_buckets < MAX_BUCKETS) {
		t->buckets[t->n_buckets].ifindex = ifindex;
		return &t->buckets[t->n_buckets++];
	}
	return &t->buckets[MAX_BUCKETS - 1];   /* a seventeenth interface shares the last one's limit */
}

static void lru_unlink(struct device_table *t, struct device *d)
{
	struct bucket *b = &t->buckets[d->bucket];

	if (d->lru_prev)
		d->lru_prev->lru_next = d->lru_next;
	else if (b->head == d)
		b->head = d->lru_next;
	if (d->lru_next)
		d->lru_next->lru_prev = d->lru_prev;
	else if (b->tail == d)
		b->tail = d->lru_prev;
	d->lru_prev = d->lru_next = NULL;
}

/* Heard from just now: the end of its interface's eviction order (pinned ones are not in it). */
static void lru_touch(struct device_table *t, struct device *d)
{
	struct bucket *b = &t->buckets[d->bucket];

	lru_unlink(t, d);
	if (d->pins)
		return;
	d->lru_prev = b->tail;
	if (b->tail)
		b->tail->lru_next = d;
	else
		b->head = d;
	b->tail = d;
}

static void drop_device(struct device_table *t, struct device *d)
{
	while (d->naddrs)
		drop_addr(t, d, &d->addrs[0]);
	lru_unlink(t, d);
	t->buckets[d->bucket].count--;
	hmap_del(t->by_mac, d->mac);
	free(d->addrs);
	free(d);
}

/* Moves d to the bucket of ifindex (a device seen on another LAN interface). */
static void rebucket(struct device_table *t, struct device *d, int ifindex)
{
	struct bucket *b = bucket_for(t, ifindex);
	int nb = (int)(b - t->buckets);

	if (nb == d->bucket)
		return;
	lru_unlink(t, d);
	t->buckets[d->bucket].count--;
	d->bucket = nb;
	b->count++;
	lru_touch(t, d);
}

/* Room for one more device on ifindex's interface: the one heard from least recently that no rule
 * names goes. false when every device there is pinned. */
static bool make_room(struct device_table *t, int ifindex)
{
	struct bucket *b = bucket_for(t, ifindex);

	if (b->count < t->max_per_if)
		return true;
	if (!b->head) {
		t->st.refused++;
		return false;
	}
	drop_device(t, b->head);
	t->st.evicted++;
	return true;
}

static int find_name(const struct device_table *t, const uint8_t mac[6])
{
	for (int i = 0; t->names && i < DEVICE_NAMES_MAX; i++)
		if (t->names[i].used && memcmp(t->names[i].mac, mac, 6) == 0)
			return i;
	return -1;
}

static struct device *get_device(struct device_table *t, const uint8_t mac[6], int ifindex, int64_t now)
{
	struct device *d = hmap_get(t->by_mac, mac);
	struct bucket *b;
	int slot;

	if (d)
		return d;
	if (!make_room(t, ifindex))
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	memcpy(d->mac, mac, 6);
	/* named or blocked before (even before this run): that holds when the device is there */
	if ((slot = find_name(t, mac)) >= 0) {
		memcpy(d->name, t->names[slot].name, sizeof(d->name));
		d->apps_blocked = t->names[slot].apps_blocked;
	}
	d->pins = (uint32_t)(uintptr_t)hmap_get(t->pins, mac);
	d->first_seen = now;
	d->ifindex = ifindex;
	if (hmap_put(t->by_mac, d->mac, d) < 0) {
		free(d);
		return NULL;
	}
	b = bucket_for(t, ifindex);
	d->bucket = (int)(b - t->buckets);
	b->count++;
	lru_touch(t, d);
	return d;
}

static struct device_addr *add_addr(struct device_table *t, struct device *d, const struct in6_addr *a, int64_t now)
{
	struct device_addr *da;

	if (d->naddrs >= DEVICE_MAX_ADDRS)
		return NULL;
	if (d->naddrs == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 2;
		struct device_addr *p = realloc(d->addrs, ncap * sizeof(*p));

		if (!p)
			return NULL;
		d->addrs = p;
		d->cap = ncap;
	}
	if (hmap_put(t->by_addr, a, d) < 0)
		return NULL;
	da = &d->addrs[d->naddrs++];
	memset(da, 0, sizeof(*da));
	da->addr = *a;
	da->first_seen = now;
	da->first_seen_ms = now_ms_of(t, now);
	return da;
}

static bool asked_lately(const struct device_table *t, const struct in6_addr *a, int64_t now)
{
	for (size_t i = 0; i < ASKED_RING; i++)
		if (t->asked[i].when && now - t->asked[i].when <= DEVICE_ASK_WINDOW_S && addr_equal(&t->asked[i].addr, a))
			return true;
	return false;
}

/* ---------------------------------------------------------------- feeding */

/* The kernel's word (TABLE, TRAFFIC) or a host's (DAD, ADVERT, SPEAK). */
static bool from_kernel(enum device_heard how)
{
	return how == DEVICE_HEARD_TABLE || how == DEVICE_HEARD_TRAFFIC;
}

static int heard(struct device_table *t, const uint8_t mac[6], int ifindex, const struct in6_addr *a,
		 enum device_heard how, const struct addr_facts *facts, int64_t now)
{
	struct device *d, *holder;
	struct device_addr *da;
	int isnew = 0;

	if (!t || !a || !mac_usable(mac) || addr_is_unspecified(a) || addr_is_multicast(a) || addr_is_loopback(a))
		return -1;
	holder = hmap_get(t->by_addr, a);
	if (holder && memcmp(holder->mac, mac, 6) != 0) {
		struct device_addr *hd = find_addr(holder, a);

		/* The kernel resolves an address to whoever answers; a host's own word about an address
		 * another device still holds changes nothing (a spoofer would take over its rules). */
		if (!from_kernel(how) && hd && addr_present(hd)) {
			t->st.claims_ignored++;
			return 0;
		}
		/* the address moved to another MAC (a new NIC, or a MAC rotation): the old claim is void */
		drop_addr(t, holder, hd);
		judge_device(t, holder, now);
	}
	d = get_device(t, mac, ifindex, now);
	if (!d)
		return -1;
	da = find_addr(d, a);
	if (!da) {
		if (!(da = add_addr(t, d, a, now))) {
			if (!d->naddrs)
				drop_device(t, d);
			return -1;
		}
		isnew = 1;
	}
	if (facts)
		da->facts = *facts;
	if (how == DEVICE_HEARD_DAD) {
		da->configured = now;
		da->configured_ms = now_ms_of(t, now);
	}
	/* the host sent from it: its own solicitation, or traffic the router answered (not our asking) */
	if (how == DEVICE_HEARD_SPEAK || (how == DEVICE_HEARD_TRAFFIC && !asked_lately(t, a, now))) {
		da->spoke = now;
		da->spoke_ms = now_ms_of(t, now);
	}
	da->ifindex = ifindex;
	da->last_seen = now;
	da->gone_since = 0;
	if (da->neigh != NEIGH_REACHABLE)
		da->neigh = NEIGH_STALE;   /* seen with a MAC: present, whatever the caller says next */
	if (d->ifindex != ifindex) {
		rebucket(t, d, ifindex);
		d->ifindex = ifindex;
	}
	d->last_seen = now;
	lru_touch(t, d);
	judge_device(t, d, now);
	return isnew;
}

int device_addr_heard(struct device_table *t, const uint8_t mac[6], int ifindex, const struct in6_addr *a,
		      enum device_heard how, int64_t now)
{
	return heard(t, mac, ifindex, a, how, NULL, now);
}

int device_addr_seen(struct device_table *t, const uint8_t mac[6], int ifindex, const struct in6_addr *a,
		     const struct addr_facts *facts, int64_t now)
{
	return heard(t, mac, ifindex, a, DEVICE_HEARD_TABLE, facts, now);
}

void device_note_asked(struct device_table *t, const struct in6_addr *a, int64_t now)
{
	if (!t || !a)
		return;
	t->asked[t->asked_next].addr = *a;
	t->asked[t->asked_next].when = now;
	t->asked_next = (t->asked_next + 1) % ASKED_RING;
}

void device_subnets_changed(struct device_table *t)
{
	if (t && ++t->subnets_gen == 0)
		t->subnets_gen = 1;
}

/* The candidates of da's /64 the router is to look at again now (device_to_relisten), into out: all
 * that the host has sent from, once look_due says so. Returns how many. */
static size_t to_look_again(struct device *d, const struct device_addr *da, int64_t now_ms,
			    struct device_addr *out[DEVICE_MAX_ADDRS])
{
	struct subnet_view v;
	int64_t due = look_due(d, da, &v);
	size_t n = 0;

	if (due == 0 || now_ms < due)
		return 0;
	for (size_t i = 0; i < d->naddrs; i++)
		if (worth_a_look(d, &d->addrs[i], da, &v))
			out[n++] = &d->addrs[i];
	return n;
}

size_t device_to_relisten(struct device_table *t, int64_t now_ms, struct device_relisten *out, size_t max)
{
	struct device *d;
	size_t pos = 0, got = 0;

	while (t && got < max && (d = hmap_next(t->by_mac, &pos)) != NULL) {
		for (size_t i = 0; i < d->naddrs && got < max; i++) {
			struct device_addr *look[DEVICE_MAX_ADDRS];
			size_t n;

			if (d->addrs[i].kind != ADDR_KIND_UNKNOWN || !opaque_global(d, &d->addrs[i]))
				continue;
			n = to_look_again(d, &d->addrs[i], now_ms, look);
			if (n == 0 || got + n > max)
				continue;   /* a /64's come together: a look compares them at one moment */
			for (size_t k = 0; k < n; k++) {
				look[k]->relisten_ms = now_ms;
				out[got].addr = look[k]->addr;
				out[got].ifindex = look[k]->ifindex;
				memcpy(out[got++].mac, d->mac, 6);
			}
		}
	}
	return got;
}

int64_t device_take_look_due(struct device_table *t)
{
	int64_t due = t ? t->look_due_ms : 0;

	if (t)
		t->look_due_ms = 0;
	return due;
}

int device_addr_quiet(struct device_table *t, const uint8_t mac[6], const struct in6_addr *a, int64_t since_ms,
		      int64_t now)
{
	struct device *d;
	struct device_addr *da;

	if (!t || !a || !mac || !(d = hmap_get(t->by_addr, a)) || memcmp(d->mac, mac, 6) != 0 ||
	    !(da = find_addr(d, a)))
		return 0;
	if (da->spoke_ms <= since_ms && since_ms > da->quiet_ms) {
		da->quiet_ms = since_ms;
		judge_device(t, d, now);
	}
	return 1;
}

size_t device_eui64_to_ask(struct device_table *t, const struct in6_addr *subnets, size_t n, struct in6_addr *out,
			   size_t max, int64_t now)
{
	struct device *d;
	size_t pos = 0, got = 0;

	if (!t)
		return 0;
	while ((d = hmap_next(t->by_mac, &pos)) != NULL) {
		size_t mine = 0;
		uint8_t iid[8];

		if (d->eui64_asked_gen == t->subnets_gen || d->naddrs == 0)
			continue;   /* asked already, or away (a named device kept while gone) */
		addr_eui64_iid(d->mac, iid);
		for (size_t i = 0; i < n; i++) {
			struct in6_addr a = subnets[i];

			if (addr_is_v4(&a))
				continue;
			memcpy(&a.s6_addr[8], iid, 8);
			if (hmap_get(t->by_addr, &a) != NULL)
				continue;
			if (got + mine == max)
				return got;   /* not whole: this device waits for the next call */
			out[got + mine++] = a;
		}
		for (size_t i = 0; i < mine; i++)
			device_note_asked(t, &out[got + i], now);
		got += mine;
		d->eui64_asked_gen = t->subnets_gen;
	}
	return got;
}

void device_pin(struct device_table *t, const uint8_t mac[6], int delta)
{
	uintptr_t n;
	struct device *d;

	if (!t || !mac)
		return;
	n = (uintptr_t)hmap_get(t->pins, mac);
	n = delta > 0 ? n + 1 : (n ? n - 1 : 0);
	if (n == 0)
		hmap_del(t->pins, mac);
	else if (hmap_put(t->pins, mac, (void *)n) < 0)
		return;   /* out of memory: the device stays evictable, which only costs its address knowledge */
	if ((d = hmap_get(t->by_mac, mac))) {
		d->pins = (uint32_t)n;
		lru_touch(t, d);   /* in the eviction order exactly when unpinned */
	}
}

void device_table_stats(const struct device_table *t, struct device_table_stats *out)
{
	struct device *d;
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	if (!t)
		return;
	*out = t->st;
	out->devices = hmap_count(t->by_mac);
	out->addresses = 0;
	while ((d = hmap_next(t->by_mac, &pos)))
		out->addresses += d->naddrs;
}

int device_addr_gone(struct device_table *t, const struct in6_addr *a, int64_t now)
{
	struct device *d;

	if (!t || !a || !(d = hmap_get(t->by_addr, a)))
		return 0;
	drop_addr(t, d, find_addr(d, a));
	judge_device(t, d, now);
	return 1;
}

int device_neigh_state(struct device_table *t, const struct in6_addr *a, enum neigh_state st, int64_t now)
{
	struct device *d;
	struct device_addr *da;

	if (!t || !a || !(d = hmap_get(t->by_addr, a)) || !(da = find_addr(d, a)))
		return 0;
	if ((st == NEIGH_FAILED || st == NEIGH_ABSENT) && !da->gone_since)
		da->gone_since = now;
	if (st == NEIGH_REACHABLE || st == NEIGH_STALE) {
		da->gone_since = 0;
		da->last_seen = now;
		d->last_seen = now;
	}
	da->neigh = st;
	judge_device(t, d, now);
	return 1;
}

int device_addr_hint(struct device_table *t, const struct in6_addr *a, enum addr_kind kind, const char *evidence)
{
	struct device *d;
	struct device_addr *da;

	/* only the two kinds behaviour decides can be told; the others follow from the address itself */
	if (!t || !a || (kind != ADDR_KIND_STABLE && kind != ADDR_KIND_TEMPORARY))
		return 0;
	if (!(d = hmap_get(t->by_addr, a)) || !(da = find_addr(d, a)))
		return 0;
	/* kept as facts, so that re-judging does not undo it */
	da->facts.flag_temporary = kind == ADDR_KIND_TEMPORARY;
	da->facts.flag_stable_privacy = kind == ADDR_KIND_STABLE;
	judge_device(t, d, da->last_seen);
	if (da->kind == kind)   /* an EUI-64 address stays EUI-64 */
		snprintf(da->evidence, sizeof(da->evidence), "%s", evidence ? evidence : "hint");
	return 1;
}

/* ---------------------------------------------------------------- the name registry */

/* Unicode's format characters (general category Cf, Unicode 15): invisible, and some reorder the text
 * around them (U+202E RIGHT-TO-LEFT OVERRIDE turns "gnp.exe" into "exe.png" on screen). A name shows in
 * the UI and in igdctl's output: it may not hold one, as it may not hold a control character. */
static const struct {
	uint32_t lo, hi;
} format_chars[] = {
	{ 0x00ad, 0x00ad },   { 0x0600, 0x0605 },   { 0x061c, 0x061c },   { 0x06dd, 0x06dd },
	{ 0x070f, 0x070f },   { 0x0890, 0x0891 },   { 0x08e2, 0x08e2 },   { 0x180e, 0x180e },
	{ 0x200b, 0x200f },   { 0x202a, 0x202e },   { 0x2060, 0x2064 },   { 0x2066, 0x206f },
	{ 0xfeff, 0xfeff },   { 0xfff9, 0xfffb },   { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },
	{ 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 },
	{ 0xe0020, 0xe007f },
};

static bool name_char_ok(uint32_t c)
{
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f) ||   /* C0, DEL, C1 controls */
	    c == 0x2028 || c == 0x2029)               /* line and paragraph separators */
		return false;
	for (size_t i = 0; i < sizeof(format_chars) / sizeof(format_chars[0]); i++)
		if (c >= format_chars[i].lo && c <= format_chars[i].hi)
			return false;
	return true;
}

bool device_name_valid(const char *name)
{
	size_t len = name ? strnlen(name, DEVICE_NAME_MAX + 1) : DEVICE_NAME_MAX + 1;

	if (len > DEVICE_NAME_MAX)
		return false;
	for (size_t i = 0, n; i < len; i += n) {
		uint32_t c;

		n = utf8_decode((const unsigned char *)name + i, len - i, &c);
		if (n == 0 || !name_char_ok(c))
			return false;
	}
	return true;
}

int device_name_slot(const struct device_table *t, const uint8_t mac[6])
{
	int i;

	if (!t || !mac)
		return -1;
	if ((i = find_name(t, mac)) >= 0 || !t->names)
		return i >= 0 ? i : 0;
	for (i = 0; i < DEVICE_NAMES_MAX; i++)
		if (!t->names[i].used)
			return i;
	return -1;
}

int device_name_put(struct device_table *t, int slot, const uint8_t mac[6], const char *name, bool apps_blocked)
{
	struct name_slot *ns;
	struct device *d;
	int held;

	if (!t || slot < 0 || slot >= DEVICE_NAMES_MAX || !mac_usable(mac) || !device_name_valid(name))
		return -1;
	held = find_name(t, mac);
	if (held >= 0 && held != slot)
		return -1;
	if (!t->names && !(t->names = calloc(DEVICE_NAMES_MAX, sizeof(*t->names))))
		return -1;
	ns = &t->names[slot];
	if (ns->used && memcmp(ns->mac, mac, 6) != 0)
		return -1;   /* another MAC's slot: a caller's mistake, never an overwrite */
	memset(ns, 0, sizeof(*ns));
	if (*name || apps_blocked) {
		ns->used = true;
		memcpy(ns->mac, mac, 6);
		snprintf(ns->name, sizeof(ns->name), "%s", name);
		ns->apps_blocked = apps_blocked;
	}
	if ((d = hmap_get(t->by_mac, mac))) {
		snprintf(d->name, sizeof(d->name), "%s", name);
		d->apps_blocked = apps_blocked;
	}
	return 0;
}

/* Changes one half of mac's entry (name, or blocked when name is NULL), keeping the other. */
static int set_entry(struct device_table *t, const uint8_t mac[6], const char *name, bool blocked)
{
	int slot = device_name_slot(t, mac);
	char kept[DEVICE_NAME_MAX + 1];

	if (!t || !mac_usable(mac))
		return -1;
	if (name) {
		blocked = device_apps_blocked(t, mac);
	} else {   /* a copy: device_name_put clears the slot the registry's name lives in */
		snprintf(kept, sizeof(kept), "%s", device_name_of(t, mac));
		name = kept;
	}
	if (slot < 0)   /* full: only emptying an entry the MAC does not have can still succeed (nothing to do) */
		return !*name && !blocked ? 0 : -1;
	return device_name_put(t, slot, mac, name, blocked);
}

int device_set_name(struct device_table *t, const uint8_t mac[6], const char *name)
{
	return name ? set_entry(t, mac, name, false) : -1;
}

int device_set_apps_blocked(struct device_table *t, const uint8_t mac[6], bool blocked)
{
	return set_entry(t, mac, NULL, blocked);
}

const char *device_name_of(const struct device_table *t, const uint8_t mac[6])
{
	int slot = t && mac ? find_name(t, mac) : -1;

	return slot >= 0 ? t->names[slot].name : "";
}

bool device_apps_blocked(const struct device_table *t, const uint8_t mac[6])
{
	const struct device *d = t && mac ? hmap_get(t->by_mac, mac) : NULL;
	int slot;

	if (d)
		return d->apps_blocked;  /* O(1) on every app request; the registry scan is for away devices */
	slot = t && mac ? find_name(t, mac) : -1;
	return slot >= 0 && t->names[slot].apps_blocked;
}

size_t device_name_count(const struct device_table *t)
{
	size_t n = 0;

	for (int i = 0; t && t->names && i < DEVICE_NAMES_MAX; i++)
		n += t->names[i].used;
	return n;
}

void device_name_record(const uint8_t mac[6], const char *name, bool apps_blocked, char buf[DEVICE_NAME_RECORD_MAX])
{
	char m[18];

	snprintf(buf, DEVICE_NAME_RECORD_MAX, "%s %s%s", mac_str(mac, m), name,
		 apps_blocked ? DEVICE_APPS_BLOCKED_TAG : "");
}

bool device_name_record_parse(const char *rec, uint8_t mac[6], char name[DEVICE_NAME_MAX + 1], bool *apps_blocked)
{
	const char *tag;
	char m[18];
	size_t len;

	if (!rec || strnlen(rec, 18) < 18 || rec[17] != ' ')
		return false;
	memcpy(m, rec, 17);
	m[17] = '\0';
	rec += 18;
	tag = strchr(rec, '\t');
	len = tag ? (size_t)(tag - rec) : strlen(rec);
	/* the only tag there is; anything else is a record we do not understand */
	*apps_blocked = tag != NULL;
	if (len > DEVICE_NAME_MAX || (tag && strcmp(tag, DEVICE_APPS_BLOCKED_TAG) != 0))
		return false;
	memcpy(name, rec, len);
	name[len] = '\0';
	return mac_parse(m, mac) && mac_usable(mac) && (len || *apps_blocked) && device_name_valid(name);
}

size_t device_table_age(struct device_table *t, int64_t now)
{
	struct device *dead[64];
	size_t changed = 0, ndead, pos;
	struct device *d;

	if (!t)
		return 0;
	pos = 0;
	while ((d = hmap_next(t->by_mac, &pos))) {
		for (size_t i = 0; i < d->naddrs;) {
			struct device_addr *da = &d->addrs[i];

			if (da->gone_since && now - da->gone_since >= t->forget_after) {
				hmap_del(t->by_addr, &da->addr);   /* not by_mac: we are iterating it */
				d->addrs[i] = d->addrs[--d->naddrs];
				changed++;
				continue;
			}
			i++;
		}
		changed += judge_device(t, d, now);
	}
	/* devices with no address left are dropped, unless in the registry; in rounds, as no
	 * change is allowed while iterating */
	do {
		ndead = 0;
		pos = 0;
		while (ndead < 64 && (d = hmap_next(t->by_mac, &pos)))
			if (!d->naddrs && !d->name[0] && !d->apps_blocked)
				dead[ndead++] = d;
		for (size_t i = 0; i < ndead; i++)
			drop_device(t, dead[i]);
	} while (ndead == 64);
	return changed;
}

/* ---------------------------------------------------------------- questions */

size_t device_count(const struct device_table *t)
{
	return t ? hmap_count(t->by_mac) : 0;
}

const struct device *device_find(const struct device_table *t, const uint8_t mac[6])
{
	return t && mac ? hmap_get(t->by_mac, mac) : NULL;
}

const struct device *device_by_addr(const struct device_table *t, const struct in6_addr *a,
				    const struct device_addr **da)
{
	struct device *d;

	if (!t || !a || !(d = hmap_get(t->by_addr, a)))
		return NULL;
	if (da)
		*da = find_addr(d, a);
	return d;
}

const struct device *device_next(const struct device_table *t, size_t *pos)
{
	return t ? hmap_next(t->by_mac, pos) : NULL;
}

bool device_same(const struct device_table *t, const struct in6_addr *a, const struct in6_addr *b)
{
	const struct device *da, *db;

	if (!a || !b)
		return false;
	if (addr_equal(a, b))
		return true;
	da = device_by_addr(t, a, NULL);
	db = device_by_addr(t, b, NULL);
	return da && da == db;
}

bool device_same_cb(void *arg, const struct in6_addr *a, const struct in6_addr *b)
{
	return device_same(arg, a, b);
}

bool device_stable_address(const struct device_table *t, const uint8_t mac[6], const struct in6_addr *subnet,
			   uint8_t len, struct in6_addr *out)
{
	const struct device *d = device_find(t, mac);
	const struct device_addr *best = NULL;

	if (!d || !subnet || len > 128)
		return false;
	for (size_t i = 0; i < d->naddrs; i++) {
		const struct device_addr *da = &d->addrs[i];

		if (!addr_present(da) || !addr_in_prefix(&da->addr, subnet, len))
			continue;
		if (da->kind == ADDR_KIND_EUI64) {
			best = da;
			break;
		}
		if (da->kind == ADDR_KIND_STABLE && (!best || da->first_seen < best->first_seen))
			best = da;
	}
	if (!best)
		return false;
	if (out)
		*out = best->addr;
	return true;
}

bool device_apps_blocked_at(const struct device_table *t, const struct in6_addr *a)
{
	const struct device *d = device_by_addr(t, a, NULL);

	return d && d->apps_blocked;
}

bool device_holds(const struct device_table *t, const uint8_t mac[6], const struct in6_addr *a)
{
	const struct device_addr *da;
	const struct device *d = device_by_addr(t, a, &da);

	return d && mac && memcmp(d->mac, mac, 6) == 0 && da && addr_present(da);
}

const char *name_source_str(enum name_source s)
{
	switch (s) {
	case NAME_SOURCE_HOUSEHOLD: return "household";
	case NAME_SOURCE_DHCP:      return "dhcp";
	case NAME_SOURCE_MDNS:      return "mdns";
	case NAME_SOURCE_NONE:      break;
	}
	return "";
}

int device_learn_name(struct device_table *t, const uint8_t mac[6], enum name_source src, const char *name)
{
	struct device *d;
	char *slot;

	if (!t || !mac || !device_name_valid(name) || !(d = hmap_get(t->by_mac, mac)))
		return -1;
	if (src == NAME_SOURCE_DHCP)
		slot = d->dhcp_name;
	else if (src == NAME_SOURCE_MDNS)
		slot = d->mdns_name;
	else
		return -1;
	if (strcmp(slot, name) == 0)
		return 0;
	snprintf(slot, DEVICE_NAME_MAX + 1, "%s", name);
	return 1;
}

const char *device_shown_name(const struct device *d, enum name_source *src)
{
	enum name_source s = NAME_SOURCE_NONE;
	const char *n = "";

	if (d && d->name[0])
		s = NAME_SOURCE_HOUSEHOLD, n = d->name;
	else if (d && d->dhcp_name[0])
		s = NAME_SOURCE_DHCP, n = d->dhcp_name;
	else if (d && d->mdns_name[0])
		s = NAME_SOURCE_MDNS, n = d->mdns_name;
	if (src)
		*src = s;
	return n;
}
