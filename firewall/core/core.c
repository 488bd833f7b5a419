/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core: rule table, element index, durability, and the single lock.
 *
 * Rules map to kernel elements (0..2 per rule: the exact address and/or the device's stable one).
 * Several rules may need the same element (two apps on one host opening the same port), so the
 * element index counts which rules hold each element; the element's kernel timeout is the latest
 * expiry among them. Every change is: decide (policy) -> journal (store, durable) -> one firewall
 * transaction -> answer. If the firewall refuses, the journal entry is reverted and nothing changed.
 *
 * Group commit: changes are made in batches (a call outside core_batch_begin/end is a batch of one).
 * Each change applies to memory at once, queues its journal line and records how to undo it; the
 * batch's end syncs the journal once and sends every touched kernel element once, in one transaction.
 * If either fails, the batch is undone in reverse, so no change is ever half applied.
 *
 * Across threads: UPnP's and the control socket's threads each make one change at a time, and each
 * change used to pay a journal sync and a transaction of its own. A request entry point (core_add,
 * core_refresh, core_delete) that ends its batch while another thread is waiting for the lock leaves
 * the batch open as a group instead, and waits (without the lock) until the group is committed; the
 * waiting thread joins the group, and the last one in, finding nobody waiting, commits all of it. A
 * thread answers only after its group is durable and in the kernel, as before. Everything else that
 * takes the lock (readers, expiry, re-anchoring, the store) first commits an open group, so nothing
 * but the group's own members ever sees a change that is not yet committed. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include "firewall/lib/hmap.h"
#include "firewall/lib/log.h"
#include "firewall/core/reanchor.h"

/* The canonical key of a kernel element; laid out without padding so it can be hashed as bytes. */
struct elem_key {
	uint8_t v4;
	uint8_t remote_len;
	uint16_t proto;
	uint16_t port;         /* pinhole: destination port; portmap: external port */
	uint16_t remote_port;
	uint8_t addr[16];      /* pinhole: destination; portmap: external address (first 4 bytes) */
	uint8_t remote[16];
};

/* The element index holds, per kernel element, the rules that need it, each as its id and which of its
 * elements (rule_elems) it is: the element itself, and so its key, is rebuilt from the first of them
 * (hmap_new_derived_arg), never copied. Most elements have one rule and no counter read: the index
 * then holds that pair itself as the value (odd, so never a pointer), and nothing is allocated. An
 * element with more rules, or with counters, gets a struct elem_slot (the value is its pointer). */
struct slot_holder {
	uint32_t id;
	uint32_t which;         /* 0 or 1: the rule's first or second element */
};

struct elem_slot {
	uint64_t packets, bytes;   /* as last read from the kernel */
	int64_t rose_at;           /* when a counter read found more packets than the one before; 0 = never */
	struct slot_holder *h;
	uint32_t n, cap;
};

#define SLOT_INLINE_TAG 1u

static bool slot_is_inline(const void *v)
{
	return (uintptr_t)v & SLOT_INLINE_TAG;
}

/* The pair as an index value, when the id fits beside the tag (always on 64-bit hosts); NULL if not. */
static void *slot_inline_make(uint32_t id, uint32_t which)
{
	if (sizeof(uintptr_t) < 8 && id > 0x3fffffffu)
		return NULL;
	return (void *)((uintptr_t)id << 2 | (uintptr_t)which << 1 | SLOT_INLINE_TAG);
}

/* The holders of an index value: *one is filled for an inline one. Returns how many. */
static size_t slot_holders(const void *v, const struct slot_holder **h, struct slot_holder *one)
{
	const struct elem_slot *s = v;

	if (slot_is_inline(v)) {
		one->id = (uint32_t)((uintptr_t)v >> 2);
		one->which = (uint32_t)((uintptr_t)v >> 1) & 1;
		*h = one;
		return 1;
	}
	*h = s->h;
	return s->n;
}

static uint32_t slot_first_id(const void *v)
{
	const struct slot_holder *h;
	struct slot_holder one;

	return slot_holders(v, &h, &one) ? h[0].id : 0;
}

static void slot_free(void *v)
{
	struct elem_slot *s = v;

	if (v == NULL || slot_is_inline(v))
		return;
	free(s->h);
	free(s);
}

struct txn {
	struct fw_elem *del, *add;
	size_t ndel, nadd, cap_del, cap_add;
	bool oom;
};

/* Kernel elements changes touched, each once, with what the kernel held before the first touch.
 * The one transaction of a batch (or of a re-anchor plan) is made from it, per key: shared elements
 * (two rules, one key), a rule moved away and back, an add then a delete, all net out. */
struct touched {
	struct hmap *seen;        /* elem_key -> (void *)1; made on the first touch */
	struct fw_elem *before;   /* the element as the kernel had it (existed), else just its key */
	bool *existed;
	size_t n, cap;
	bool oom;
};

enum op_kind { OP_INSERTED, OP_REPLACED, OP_REMOVED };

/* One change of a batch: how to undo it, and what on_change hears once it is committed. */
struct batch_op {
	enum op_kind kind;
	enum core_event ev;
	bool keep;             /* removed by expiry: stays removed even if the batch fails */
	struct rec *x;         /* in the table; OP_REMOVED: out of it, freed when the batch ends */
	struct rule saved;     /* the rule before the change (OP_REPLACED undoes to it) */
	struct rule note;      /* the rule as on_change is told */
};

/* A thread whose change waits in an open group (its own stack): the committer fills it. */
struct group_member {
	bool done, ok;
};

/* Changes of one group beyond which a thread commits even with others waiting: bounds the latency
 * the first member of a long stream waits, and the undo of a refused transaction. */
#define GROUP_MAX_OPS 256

struct batch {
	unsigned depth;           /* open levels: core_batch_begin's and each entry point's own */
	bool open;                /* a group: changes made, not committed (depth may be 0 between members) */
	size_t mine_from;         /* ops before the current lock holder's outermost level */
	struct group_member **members;   /* threads waiting for this group's commit */
	size_t n_members, cap_members;
	struct touched tt;
	struct batch_op *ops;     /* in the order made; kept allocated from batch to batch */
	size_t n_ops, cap_ops;
	bool broken;              /* a change could not be fully recorded: the batch cannot commit */
	struct store_mark mark;   /* the journal before the batch */
};

/* Kernel elements that the kernel could refuse side by side (fw_elems_clash), grouped by what any two
 * such share (fw_elem_clash_scope): a new element is checked against its few neighbours only. */
struct clash_group {
	struct fw_elem *elems;
	size_t n, cap;
};

/* Port mappings in id order (GetGenericPortMappingEntry's index). New ids mostly grow, so an add is
 * usually an append; a removal leaves a tombstone (the id with ID_DEAD set: ids never have it) after a
 * binary search; any other add marks the array stale. A reader compacts it (O(n)) or, when stale,
 * rebuilds it from the table (O(n log n)) once; then the n-th mapping is one array access. */
#define ID_DEAD 0x80000000u
struct id_order {
	uint32_t *ids;
	size_t n, cap, dead;
	bool stale;
};

struct core {
	bool counters_read;      /* a counter read went through since the start (core_last_packet) */
	bool counters_skipped;   /* the last read was skipped: too many elements (logged once) */
	pthread_mutex_t lock;     /* recursive: the batch owner calls the entry points while holding it */
	pthread_cond_t devices_changed;   /* with lock: the device table was fed (core_with_devices) */
	pthread_cond_t group_done;        /* with lock: an open group was committed (or undone) */
	unsigned entering;                /* threads waiting for the lock (atomic: counted before taking it) */
	struct batch b;
	struct core_params p;
	struct policy_lan lan;     /* the LAN as rtnetlink last reported it (core_set_lan) */
	struct hmap *rules;        /* uint32 id -> struct rule * */
	struct hmap *elems;        /* struct elem_key -> a slot (see struct slot_holder) */
	struct hmap *clash;        /* clash scope -> struct clash_group * (remote-filtered elements) */
	struct id_order pm_order;  /* port mapping ids, ascending */
	struct log_limit commit_log;  /* a refused transaction is logged at most so often */
	struct hmap *owners;       /* struct in6_addr -> (uintptr_t) number of rules owned */
	struct hmap *pcp;          /* struct pcp_name -> struct rule * (PCP and NAT-PMP mappings by name) */
	uint32_t next_id;
	int64_t next_expiry;       /* earliest known expiry; INT64_MAX = none */
	uint64_t reconciles;
	uint32_t n_kind[RULE_PORTMAP + 1];   /* rules per kind, kept as they come and go (a kind never changes) */
	/* core_set_start_reanchor: applied by core_start before its resync */
	bool start_reanchor;
	struct in6_addr sr_old, sr_new;
	uint8_t sr_old_len, sr_new_len;
};

#define EXPIRY_NONE INT64_MAX
#define ID_SMALL_MAX 65535u    /* UPnP UniqueID is a ui2: try to stay below it */

static int64_t core_now(struct core *c)
{
	return c->p.clock ? c->p.clock(c->p.clock_arg) : (int64_t)time(NULL);
}

/* ---------- element keys ---------- */

static struct elem_key key_of(const struct fw_elem *e)
{
	struct elem_key k;

	memset(&k, 0, sizeof(k));
	k.v4 = e->v4;
	k.proto = e->proto;
	k.remote_len = e->remote_len;
	k.remote_port = e->remote_port;
	if (e->remote_len) {
		struct in6_addr r = e->remote;

		addr_mask(&r, e->remote_len);
		memcpy(k.remote, &r, 16);
	}
	if (e->v4) {
		k.port = e->ext_port;
		memcpy(k.addr, &e->ext_addr, 4);
	} else {
		k.port = e->port;
		memcpy(k.addr, &e->addr, 16);
	}
	return k;
}

/* The kernel elements a rule needs now (timeouts and counters filled in later). */
static size_t rule_elems(const struct rule *r, struct fw_elem out[2])
{
	struct in6_addr addrs[2];
	size_t n = rule_addresses(r, addrs);

	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].v4 = r->kind == RULE_PORTMAP;
		out[i].proto = r->proto;
		out[i].addr = addrs[i];
		out[i].port = r->int_port;
		out[i].ext_port = r->ext_port;
		out[i].ext_addr = r->ext_addr;
		out[i].remote = r->remote;
		out[i].remote_len = r->remote_len;
		out[i].remote_port = r->remote_port;
		if (r->remote_len)
			addr_mask(&out[i].remote, r->remote_len);
		/* a PEER on a CGN: its SNAT is for its flow alone (the MAP of the same internal endpoint, if
		 * any, keeps the endpoint's) */
		out[i].flow = r->kind == RULE_PORTMAP && r->origin == ORIGIN_PCP_PEER && r->ext_addr.s_addr != 0 &&
			      r->remote_len == 128 && r->remote_port != 0;
	}
	return n;
}

/* ---------- the table's record of a rule ----------
 * A struct rule is ~440 bytes, most of them zero in most rules (a CGN mapping: an IPv4 target and
 * owner, a nonce, no MAC, no remote filter, no stable selector, rarely a description). The table keeps
 * each rule as a record instead: the fields every rule has, then only the parts this one has, IPv4
 * addresses (v4-mapped) in 4 bytes, the owner not at all when it is the target, the description only as
 * long as it is. A part is kept whenever any of its bytes is not zero, so a record gives back exactly
 * the rule it was made from (its counters aside: those live with the kernel elements). Readers get
 * whole struct rule copies (rec_get); the packing is nobody's business but the table's. */
struct rec {
	int64_t expires;
	uint32_t id;
	uint32_t lease;
	uint16_t proto, int_port, ext_port;
	uint8_t kind, state, origin, exact_kind;
	uint32_t has;          /* REC_*: the flags, and which parts follow in var, in this order */
	uint8_t var[];
};

/* flags of struct rule */
#define REC_HAS_MAC        (1u << 0)
#define REC_USE_EXACT      (1u << 1)
#define REC_USE_STABLE     (1u << 2)
#define REC_STABLE_RESOLVED (1u << 3)
#define REC_HAS_OWNER_MAC  (1u << 4)
#define REC_HAS_NONCE      (1u << 5)
/* parts, in var in this order */
#define REC_EXT_ADDR       (1u << 6)    /* 4 bytes */
#define REC_MAC            (1u << 7)    /* 6 */
#define REC_EXACT4         (1u << 8)    /* the last 4 bytes of a v4-mapped address */
#define REC_EXACT16        (1u << 9)    /* 16 */
#define REC_STABLE         (1u << 10)   /* subnet 16, subnet_len 1, stable 16 */
#define REC_OWNER_IS_EXACT (1u << 11)   /* no bytes */
#define REC_OWNER4         (1u << 12)
#define REC_OWNER16        (1u << 13)
#define REC_OWNER_MAC      (1u << 14)   /* 6 */
#define REC_NONCE          (1u << 15)   /* RULE_NONCE_LEN */
#define REC_REMOTE4        (1u << 16)
#define REC_REMOTE16       (1u << 17)
#define REC_REMOTE_META    (1u << 18)   /* remote_len 1, remote_port 2 */
#define REC_DESC           (1u << 19)   /* length 1, then the bytes (no NUL) */

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* An address part: none (all zero), 4 bytes (v4-mapped) or 16. */
static uint32_t addr_part(const struct in6_addr *a, uint32_t four, uint32_t sixteen)
{
	if (all_zero(a, sizeof(*a)))
		return 0;
	return addr_is_v4(a) ? four : sixteen;
}

/* Which parts r needs (the flags included), and *len: the bytes they take. */
static uint32_t rec_parts(const struct rule *r, size_t *len)
{
	const struct rule_target *t = &r->target;
	uint32_t has = 0;
	size_t n = 0, dlen = strnlen(r->desc, RULE_DESC_MAX);

	has |= t->has_mac ? REC_HAS_MAC : 0;
	has |= t->use_exact ? REC_USE_EXACT : 0;
	has |= t->use_stable ? REC_USE_STABLE : 0;
	has |= t->stable_resolved ? REC_STABLE_RESOLVED : 0;
	has |= r->has_owner_mac ? REC_HAS_OWNER_MAC : 0;
	has |= r->has_nonce ? REC_HAS_NONCE : 0;
	if (r->ext_addr.s_addr)
		has |= REC_EXT_ADDR, n += 4;
	if (!all_zero(t->mac, 6))
		has |= REC_MAC, n += 6;
	has |= addr_part(&t->exact, REC_EXACT4, REC_EXACT16);
	n += has & REC_EXACT4 ? 4 : has & REC_EXACT16 ? 16 : 0;
	if (!all_zero(&t->subnet, 16) || t->subnet_len || !all_zero(&t->stable, 16))
		has |= REC_STABLE, n += 33;
	if (addr_equal(&r->owner, &t->exact) && !all_zero(&r->owner, 16)) {
		has |= REC_OWNER_IS_EXACT;
	} else {
		has |= addr_part(&r->owner, REC_OWNER4, REC_OWNER16);
		n += has & REC_OWNER4 ? 4 : has & REC_OWNER16 ? 16 : 0;
	}
	if (!all_zero(r->owner_mac, 6))
		has |= REC_OWNER_MAC, n += 6;
	if (!all_zero(r->nonce, RULE_NONCE_LEN))
		has |= REC_NONCE, n += RULE_NONCE_LEN;
	has |= addr_part(&r->remote, REC_REMOTE4, REC_REMOTE16);
	n += has & REC_REMOTE4 ? 4 : has & REC_REMOTE16 ? 16 : 0;
	if (r->remote_len || r->remote_port)
		has |= REC_REMOTE_META, n += 3;
	if (dlen)
		has |= REC_DESC, n += 1 + dlen;
	*len = n;
	return has;
}

static size_t rec_size(const struct rule *r)
{
	size_t len;

	rec_parts(r, &len);
	return offsetof(struct rec, var) + len;
}

static uint8_t *put(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

static const uint8_t *get(const uint8_t *p, void *dst, size_t n)
{
	memcpy(dst, p, n);
	return p + n;
}

static uint8_t *put_addr(uint8_t *p, uint32_t has, uint32_t four, uint32_t sixteen, const struct in6_addr *a)
{
	if (has & four)
		return put(p, &a->s6_addr[12], 4);
	return has & sixteen ? put(p, a, 16) : p;
}

static const uint8_t *get_addr(const uint8_t *p, uint32_t has, uint32_t four, uint32_t sixteen, struct in6_addr *a)
{
	if (has & four) {
		struct in_addr v4;

		p = get(p, &v4, 4);
		addr_from_v4(a, v4);
		return p;
	}
	return has & sixteen ? get(p, a, 16) : p;
}

/* Writes r into x, which has room for rec_size(r) bytes. */
static void rec_set(struct rec *x, const struct rule *r)
{
	const struct rule_target *t = &r->target;
	size_t len;
	uint32_t has = rec_parts(r, &len);
	uint8_t *p = x->var, dlen = (uint8_t)strnlen(r->desc, RULE_DESC_MAX);

	x->expires = r->expires;
	x->id = r->id;
	x->lease = r->lease;
	x->proto = r->proto;
	x->int_port = r->int_port;
	x->ext_port = r->ext_port;
	x->kind = (uint8_t)r->kind;
	x->state = (uint8_t)r->state;
	x->origin = (uint8_t)r->origin;
	x->exact_kind = (uint8_t)t->exact_kind;
	x->has = has;
	if (has & REC_EXT_ADDR)
		p = put(p, &r->ext_addr, 4);
	if (has & REC_MAC)
		p = put(p, t->mac, 6);
	p = put_addr(p, has, REC_EXACT4, REC_EXACT16, &t->exact);
	if (has & REC_STABLE) {
		p = put(p, &t->subnet, 16);
		*p++ = t->subnet_len;
		p = put(p, &t->stable, 16);
	}
	p = put_addr(p, has, REC_OWNER4, REC_OWNER16, &r->owner);
	if (has & REC_OWNER_MAC)
		p = put(p, r->owner_mac, 6);
	if (has & REC_NONCE)
		p = put(p, r->nonce, RULE_NONCE_LEN);
	p = put_addr(p, has, REC_REMOTE4, REC_REMOTE16, &r->remote);
	if (has & REC_REMOTE_META) {
		*p++ = r->remote_len;
		p = put(p, &r->remote_port, 2);
	}
	if (has & REC_DESC) {
		*p++ = dlen;
		put(p, r->desc, dlen);
	}
}

/* The rule x records (counters 0). */
static void rec_get(const struct rec *x, struct rule *r)
{
	struct rule_target *t = &r->target;
	const uint8_t *p = x->var;
	uint32_t has = x->has;
	uint8_t dlen;

	memset(r, 0, offsetof(struct rule, desc));
	r->desc[0] = '\0';
	r->expires = x->expires;
	r->id = x->id;
	r->lease = x->lease;
	r->proto = x->proto;
	r->int_port = x->int_port;
	r->ext_port = x->ext_port;
	r->kind = (enum rule_kind)x->kind;
	r->state = (enum rule_state)x->state;
	r->origin = (enum rule_origin)x->origin;
	t->exact_kind = (enum addr_kind)x->exact_kind;
	t->has_mac = has & REC_HAS_MAC;
	t->use_exact = has & REC_USE_EXACT;
	t->use_stable = has & REC_USE_STABLE;
	t->stable_resolved = has & REC_STABLE_RESOLVED;
	r->has_owner_mac = has & REC_HAS_OWNER_MAC;
	r->has_nonce = has & REC_HAS_NONCE;
	if (has & REC_EXT_ADDR)
		p = get(p, &r->ext_addr, 4);
	if (has & REC_MAC)
		p = get(p, t->mac, 6);
	p = get_addr(p, has, REC_EXACT4, REC_EXACT16, &t->exact);
	if (has & REC_STABLE) {
		p = get(p, &t->subnet, 16);
		t->subnet_len = *p++;
		p = get(p, &t->stable, 16);
	}
	if (has & REC_OWNER_IS_EXACT)
		r->owner = t->exact;
	p = get_addr(p, has, REC_OWNER4, REC_OWNER16, &r->owner);
	if (has & REC_OWNER_MAC)
		p = get(p, r->owner_mac, 6);
	if (has & REC_NONCE)
		p = get(p, r->nonce, RULE_NONCE_LEN);
	p = get_addr(p, has, REC_REMOTE4, REC_REMOTE16, &r->remote);
	if (has & REC_REMOTE_META) {
		r->remote_len = *p++;
		p = get(p, &r->remote_port, 2);
	}
	if (has & REC_DESC) {
		dlen = *p++;
		memcpy(r->desc, p, dlen);
		r->desc[dlen] = '\0';
	}
}

static struct rec *rec_new(const struct rule *r)
{
	struct rec *x = malloc(rec_size(r));

	if (x)
		rec_set(x, r);
	return x;
}

static bool rec_fits(struct rec *x, const struct rule *next)
{
	return malloc_usable_size(x) >= rec_size(next);
}

/* ---------- transactions being assembled ---------- */

static void txn_push(struct txn *t, bool add, const struct fw_elem *e)
{
	struct fw_elem **arr = add ? &t->add : &t->del;
	size_t *n = add ? &t->nadd : &t->ndel, *cap = add ? &t->cap_add : &t->cap_del;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct fw_elem *p = realloc(*arr, ncap * sizeof(**arr));

		if (p == NULL) {
			t->oom = true;
			return;
		}
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = *e;
}

static void txn_free(struct txn *t)
{
	free(t->del);
	free(t->add);
	memset(t, 0, sizeof(*t));
}

static int txn_commit(struct core *c, struct txn *t)
{
	unsigned long dropped;
	int rc;

	if (t->oom) {
		errno = ENOMEM;
		return -1;
	}
	if (t->ndel == 0 && t->nadd == 0)
		return 0;
	rc = c->p.fw->ops->commit(c->p.fw, t->del, t->ndel, t->add, t->nadd);
	/* a client whose request the kernel refuses can make this happen at will: not a line per request */
	if (rc < 0 && log_limit_pass(&c->commit_log, 10000, &dropped)) {
		char more[80] = "";

		if (dropped)
			snprintf(more, sizeof(more), " (%lu more refused transactions not logged)", dropped);
		log_warnx("firewall: %s%s", c->p.fw->err[0] ? c->p.fw->err : "commit failed", more);
	}
	return rc;
}

/* ---------- touched elements ---------- */

static void touched_free(struct touched *tt)
{
	hmap_free(tt->seen);
	free(tt->before);
	free(tt->existed);
	memset(tt, 0, sizeof(*tt));
}

static bool touched_grow(struct touched *tt)
{
	size_t ncap = tt->cap ? tt->cap * 2 : 16;
	struct fw_elem *nb;
	bool *ne;

	if (tt->seen == NULL && (tt->seen = hmap_new(sizeof(struct elem_key))) == NULL)
		return false;
	if (tt->n < tt->cap)
		return true;
	nb = realloc(tt->before, ncap * sizeof(*nb));
	if (nb == NULL)
		return false;
	tt->before = nb;
	ne = realloc(tt->existed, ncap * sizeof(*ne));
	if (ne == NULL)
		return false;
	tt->existed = ne;
	tt->cap = ncap;
	return true;
}

static bool slot_elem(const struct core *c, const void *v, struct fw_elem *out);

/* Before e's element changes: remember it as the kernel has it, the first time only. tt NULL: no one asks. */
static void touch_key(struct core *c, struct touched *tt, const struct fw_elem *e)
{
	struct elem_key k = key_of(e);
	void *v;

	if (tt == NULL || (tt->seen && hmap_get(tt->seen, &k)))
		return;
	if (!touched_grow(tt) || hmap_put(tt->seen, &k, (void *)1) < 0) {
		tt->oom = true;
		return;
	}
	v = hmap_get(c->elems, &k);
	if (v == NULL || !slot_elem(c, v, &tt->before[tt->n]))
		tt->before[tt->n] = *e;
	tt->existed[tt->n++] = v != NULL;
}

static void touch_rule(struct core *c, struct touched *tt, const struct rule *r)
{
	struct fw_elem e[2];
	size_t n = rule_elems(r, e);

	for (size_t i = 0; i < n; i++)
		touch_key(c, tt, &e[i]);
}

static void slot_send(struct core *c, struct txn *t, const void *v, int64_t now);

/* The transaction for everything touched, one message per key: an add (new timeout, new data) if a
 * rule still needs the element, a delete if none does and the kernel held it, nothing otherwise. */
static void touched_txn(struct core *c, const struct touched *tt, struct txn *t, int64_t now)
{
	for (size_t i = 0; i < tt->n; i++) {
		struct elem_key k = key_of(&tt->before[i]);
		const void *v = hmap_get(c->elems, &k);

		if (v)
			slot_send(c, t, v, now);
		else if (tt->existed[i])
			txn_push(t, false, &tt->before[i]);
	}
	if (tt->oom)
		t->oom = true;
}

/* ---------- the element index ---------- */

static struct rec *rec_by_id(const struct core *c, uint32_t id)
{
	return hmap_get(c->rules, &id);
}

/* The element an index value stands for, rebuilt from its first rule (counters from the slot). False
 * when that rule is not in the table (never, while the index and the table agree). */
static bool slot_elem(const struct core *c, const void *v, struct fw_elem *out)
{
	const struct slot_holder *h;
	struct slot_holder one;
	struct fw_elem e[2];
	const struct rec *x;
	struct rule r;

	memset(out, 0, sizeof(*out));
	if (slot_holders(v, &h, &one) == 0 || (x = rec_by_id(c, h[0].id)) == NULL)
		return false;
	rec_get(x, &r);
	if (rule_elems(&r, e) <= h[0].which)
		return false;
	*out = e[h[0].which];
	if (!slot_is_inline(v)) {
		out->packets = ((const struct elem_slot *)v)->packets;
		out->bytes = ((const struct elem_slot *)v)->bytes;
	}
	return true;
}

/* Kernel timeout of a slot: the latest expiry of the rules holding it; 0 if any never expires. */
static uint64_t slot_timeout_ms(struct core *c, const void *v, int64_t now)
{
	const struct slot_holder *h;
	struct slot_holder one;
	size_t n = slot_holders(v, &h, &one);
	int64_t latest = 0;

	for (size_t i = 0; i < n; i++) {
		const struct rec *x = rec_by_id(c, h[i].id);

		if (x == NULL || x->expires == 0)
			return 0;
		if (x->expires > latest)
			latest = x->expires;
	}
	/* Never hand the kernel a timeout of 0 (= no timeout) for a rule that is about to expire. */
	return latest > now ? (uint64_t)(latest - now) * 1000 : 1000;
}

static void slot_send(struct core *c, struct txn *t, const void *v, int64_t now)
{
	struct fw_elem e;

	if (!slot_elem(c, v, &e)) {
		t->oom = true;   /* cannot happen; refuse the transaction rather than send a wrong element */
		return;
	}
	e.timeout_ms = slot_timeout_ms(c, v, now);
	txn_push(t, true, &e);
}

/* The allocated form of the index value at k (made from an inline one: the index then holds it). */
static struct elem_slot *slot_alloc(struct core *c, const struct elem_key *k, void *v)
{
	const struct slot_holder *h;
	struct slot_holder one;
	struct elem_slot *s;
	size_t n;

	if (!slot_is_inline(v))
		return v;
	n = slot_holders(v, &h, &one);
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->h = malloc(2 * sizeof(*s->h))) == NULL) {
		free(s);
		return NULL;
	}
	s->cap = 2;
	s->n = (uint32_t)n;
	s->h[0] = one;
	(void)hmap_put(c->elems, k, s);   /* a replacement (same key): it cannot fail */
	return s;
}

/* A new index value for a rule's element which, holding that rule alone. */
static void *slot_new(uint32_t id, uint32_t which)
{
	void *v = slot_inline_make(id, which);
	struct elem_slot *s;

	if (v)
		return v;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->h = malloc(sizeof(*s->h))) == NULL) {
		free(s);
		return NULL;
	}
	s->cap = s->n = 1;
	s->h[0].id = id;
	s->h[0].which = which;
	return s;
}

static bool slot_add_rule(struct core *c, const struct elem_key *k, void *v, uint32_t id, uint32_t which)
{
	struct elem_slot *s = slot_alloc(c, k, v);

	if (s == NULL)
		return false;
	if (s->n == s->cap) {
		uint32_t ncap = s->cap * 2;
		struct slot_holder *p = ncap > s->cap ? realloc(s->h, ncap * sizeof(*p)) : NULL;

		if (p == NULL)
			return false;
		s->h = p;
		s->cap = ncap;
	}
	s->h[s->n].id = id;
	s->h[s->n++].which = which;
	return true;
}

/* Is id the only rule holding the element? (Then the element leaves the index: while the rule still
 * holds it, for the index finds a slot by the key it derives from its rule.) */
static bool slot_held_by_only(const void *v, uint32_t id)
{
	const struct slot_holder *h;
	struct slot_holder one;

	return slot_holders(v, &h, &one) == 1 && h[0].id == id;
}

/* Takes id off a slot that other rules hold too (if it is among them). */
static void slot_remove_rule(void *v, uint32_t id)
{
	struct elem_slot *s = v;

	if (slot_is_inline(v))
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->h[i].id == id) {
			s->h[i] = s->h[--s->n];
			return;
		}
}

/* ---------- elements the kernel could refuse side by side ---------- */

static int clash_index_add(struct core *c, const struct fw_elem *e)
{
	uint8_t scope[FW_CLASH_SCOPE_LEN];
	struct clash_group *g;

	if (!fw_elem_clash_scope(e, scope))
		return 0;
	g = hmap_get(c->clash, scope);
	if (g == NULL) {
		g = calloc(1, sizeof(*g));
		if (g == NULL || hmap_put(c->clash, scope, g) < 0) {
			free(g);
			return -1;
		}
	}
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 4;
		struct fw_elem *p = realloc(g->elems, ncap * sizeof(*p));

		if (p == NULL)
			return -1;
		g->elems = p;
		g->cap = ncap;
	}
	g->elems[g->n++] = *e;
	return 0;
}

static void clash_index_del(struct core *c, const struct fw_elem *e)
{
	uint8_t scope[FW_CLASH_SCOPE_LEN];
	struct clash_group *g;

	if (!fw_elem_clash_scope(e, scope) || (g = hmap_get(c->clash, scope)) == NULL)
		return;
	for (size_t i = 0; i < g->n; i++)
		if (fw_elem_same_key(&g->elems[i], e)) {
			g->elems[i] = g->elems[--g->n];
			break;
		}
	if (g->n > 0)
		return;
	hmap_del(c->clash, scope);
	free(g->elems);
	free(g);
}

/* Would the kernel refuse e beside an element the index holds (fw_elems_clash)? Elements held by rule
 * `self` alone (a rule being replaced or moved) do not count: they go with it. */
static bool elem_clashes(struct core *c, const struct fw_elem *e, uint32_t self)
{
	uint8_t scope[FW_CLASH_SCOPE_LEN];
	const struct clash_group *g;

	if (!fw_elem_clash_scope(e, scope) || (g = hmap_get(c->clash, scope)) == NULL)
		return false;
	for (size_t i = 0; i < g->n; i++) {
		struct elem_key k;
		const void *v;

		if (!fw_elems_clash(e, &g->elems[i]))
			continue;
		k = key_of(&g->elems[i]);
		v = hmap_get(c->elems, &k);
		if (v && slot_held_by_only(v, self))
			continue;
		return true;
	}
	return false;
}

/* One PCP client's MAP with a /64 FILTER and its PEER inside that /64 were both accepted here and then
 * refused by the kernel, which undid everyone's requests in the same batch. What the kernel would
 * refuse is refused here, for the one request that asks for it (V_CONFLICT). */
static bool rule_clashes(struct core *c, const struct rule *r, uint32_t self)
{
	struct fw_elem e[2];
	size_t n = rule_elems(r, e);

	for (size_t i = 0; i < n; i++)
		if (elem_clashes(c, &e[i], self))
			return true;
	return false;
}

/* Puts a rule's elements into the index (tt: noting them for the kernel), and sets its state. The rule
 * is in the table already: the index rebuilds its elements from it. */
static int attach_rule(struct core *c, struct touched *tt, struct rec *x)
{
	struct fw_elem e[2];
	struct rule rr, *r = &rr;
	size_t n;

	rec_get(x, r);
	n = rule_elems(r, e);
	x->state = n ? RULE_INSTALLED : RULE_PENDING;
	for (size_t i = 0; i < n; i++) {
		struct elem_key k = key_of(&e[i]);
		void *v = hmap_get(c->elems, &k);

		touch_key(c, tt, &e[i]);
		if (v == NULL) {
			v = slot_new(r->id, (uint32_t)i);
			if (v == NULL || hmap_put(c->elems, &k, v) < 0) {
				slot_free(v);
				return -1;
			}
			if (clash_index_add(c, &e[i]) < 0) {
				hmap_del(c->elems, &k);
				slot_free(v);
				return -1;
			}
		} else if (!slot_add_rule(c, &k, v, r->id, (uint32_t)i)) {
			return -1;
		}
	}
	return 0;
}

/* Takes a rule's elements out of the index (tt: noting them for the kernel); an element no rule
 * holds any more leaves the index. The rule is still as it was attached. */
static void detach_rule(struct core *c, struct touched *tt, const struct rec *x)
{
	struct fw_elem e[2];
	struct rule rr, *r = &rr;
	size_t n;

	rec_get(x, r);
	n = rule_elems(r, e);

	for (size_t i = 0; i < n; i++) {
		struct elem_key k = key_of(&e[i]);
		void *v = hmap_get(c->elems, &k);

		if (v == NULL)
			continue;
		touch_key(c, tt, &e[i]);
		if (!slot_held_by_only(v, r->id)) {
			slot_remove_rule(v, r->id);
			continue;
		}
		hmap_del(c->elems, &k);
		clash_index_del(c, &e[i]);
		slot_free(v);
	}
}

/* ---------- owners (quota) and the devices rules name ---------- */

/* Who a rule counts against: its requester's device when the LAN showed it (so one device cannot
 * get a quota per address it uses), else the requester's address. A device is keyed as an address no
 * requester can have: ff00:: (multicast) followed by "MAC" and the MAC. */
static struct in6_addr owner_key(const struct rule *r)
{
	struct in6_addr k = { .s6_addr = { 0xff, 0x00, 'M', 'A', 'C' } };

	if (!r->has_owner_mac)
		return r->owner;
	memcpy(&k.s6_addr[10], r->owner_mac, 6);
	return k;
}

static uint32_t owner_count(const struct core *c, const struct in6_addr *key)
{
	return (uint32_t)(uintptr_t)hmap_get(c->owners, key);
}

/* A rule joins (+1) or leaves (-1) the table: its owner's count, and the devices it names are pinned
 * in the device table (never evicted while a rule names them). */
static void owner_adjust(struct core *c, const struct rule *r, int delta)
{
	struct in6_addr key = owner_key(r);
	uint32_t n = owner_count(c, &key);

	n = delta > 0 ? n + 1 : (n ? n - 1 : 0);
	if (n == 0)
		hmap_del(c->owners, &key);
	else if (hmap_put(c->owners, &key, (void *)(uintptr_t)n) < 0)
		log_warnx("core: out of memory counting rules per client");
	if (r->target.has_mac)
		device_pin(c->p.devices, r->target.mac, delta);
	if (r->has_owner_mac && (!r->target.has_mac || memcmp(r->owner_mac, r->target.mac, 6) != 0))
		device_pin(c->p.devices, r->owner_mac, delta);
}

/* ---------- PCP mapping names ---------- */

/* core_pcp_key packed for the index, which derives it from the rule it holds (hmap_new_derived): a
 * slot costs its value and a state byte, whatever the key's length. */
struct pcp_name {
	uint8_t internal[16];
	uint8_t peer[16];
	uint16_t proto, port, peer_port;
	uint8_t is_peer, zero;
};

static struct pcp_name pcp_name_of(const struct in6_addr *internal, uint16_t proto, uint16_t port,
				   const struct in6_addr *peer, uint16_t peer_port)
{
	struct pcp_name n;

	memset(&n, 0, sizeof(n));
	memcpy(n.internal, internal->s6_addr, 16);
	n.proto = proto;
	n.port = port;
	if (peer) {
		n.is_peer = 1;
		memcpy(n.peer, peer->s6_addr, 16);
		n.peer_port = peer_port;
	}
	return n;
}

static bool pcp_named(const struct rule *r)
{
	return (r->origin == ORIGIN_PCP || r->origin == ORIGIN_NATPMP || r->origin == ORIGIN_PCP_PEER) &&
	       r->target.use_exact;
}

static struct pcp_name pcp_name_of_rule(const struct rule *r)
{
	bool peer = r->origin == ORIGIN_PCP_PEER;

	return pcp_name_of(&r->target.exact, r->proto, r->int_port, peer ? &r->remote : NULL,
			   peer ? r->remote_port : 0);
}

static void pcp_key(const void *value, void *key)
{
	struct rule r;
	struct pcp_name n;

	rec_get(value, &r);
	n = pcp_name_of_rule(&r);
	memcpy(key, &n, sizeof(n));
}

/* Does x (recording r) hold its name in the index (*n: the name)? Not when it has none, or another
 * rule holds it. */
static bool pcp_holds(const struct core *c, const struct rec *x, const struct rule *r, struct pcp_name *n)
{
	if (!pcp_named(r))
		return false;
	*n = pcp_name_of_rule(r);
	return hmap_get(c->pcp, n) == x;
}

/* Before x's name changes or x leaves the table (the index finds a slot by the key its rule has now). */
static void pcp_unindex(struct core *c, const struct rec *x)
{
	struct pcp_name n;
	struct rule r;

	rec_get(x, &r);
	if (pcp_holds(c, x, &r, &n))
		hmap_del(c->pcp, &n);
}

/* x, in the table, takes its name (from another rule holding it, if one does). -1: out of memory. */
static int pcp_index(struct core *c, struct rec *x)
{
	struct pcp_name n;
	struct rule r;

	rec_get(x, &r);
	if (!pcp_named(&r))
		return 0;
	n = pcp_name_of_rule(&r);
	return hmap_put(c->pcp, &n, x);
}

/* ---------- port mappings in id order ---------- */

static size_t order_find(const struct id_order *o, uint32_t id)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((o->ids[mid] & ~ID_DEAD) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void order_add(struct id_order *o, uint32_t id)
{
	size_t at;

	if (o->stale)
		return;
	at = order_find(o, id);
	if (at < o->n && (o->ids[at] & ~ID_DEAD) == id) {
		if (o->ids[at] & ID_DEAD) {
			o->ids[at] = id;   /* back again (a batch undone): the tombstone lives */
			o->dead--;
		}
		return;
	}
	if (at != o->n || o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 64;
		uint32_t *p = at == o->n ? realloc(o->ids, ncap * sizeof(*p)) : NULL;

		if (p == NULL) {
			o->stale = true;   /* not an append, or out of memory: the next reader rebuilds */
			return;
		}
		o->ids = p;
		o->cap = ncap;
	}
	o->ids[o->n++] = id;
}

static void order_del(struct id_order *o, uint32_t id)
{
	size_t at;

	if (o->stale)
		return;
	at = order_find(o, id);
	if (at < o->n && o->ids[at] == id) {
		o->ids[at] |= ID_DEAD;
		o->dead++;
	} else {
		o->stale = true;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Makes the array exact (no tombstones, sorted) for a reader: false when out of memory. */
static bool order_ready(struct core *c)
{
	struct id_order *o = &c->pm_order;
	size_t pos = 0, n = 0;
	struct rec *x;

	if (o->stale) {
		size_t want = c->n_kind[RULE_PORTMAP];
		uint32_t *p = want > o->cap ? realloc(o->ids, want * sizeof(*p)) : o->ids;

		if (p == NULL)
			return false;
		if (want > o->cap) {
			o->ids = p;
			o->cap = want;
		}
		while ((x = hmap_next(c->rules, &pos)) != NULL)
			if (x->kind == RULE_PORTMAP && n < want)
				o->ids[n++] = x->id;
		if (n > 1)
			qsort(o->ids, n, sizeof(*o->ids), cmp_u32);
		o->n = n;
		o->dead = 0;
		o->stale = false;
	} else if (o->dead) {
		for (size_t i = 0; i < o->n; i++)
			if (!(o->ids[i] & ID_DEAD))
				o->ids[n++] = o->ids[i];
		o->n = n;
		o->dead = 0;
	}
	return true;
}

/* ---------- table ---------- */

static void note_expiry(struct core *c, int64_t expires)
{
	if (expires != 0 && expires < c->next_expiry)
		c->next_expiry = expires;
}

static int table_insert(struct core *c, struct rec *x)
{
	struct rule r;

	if (hmap_put(c->rules, &x->id, x) < 0)
		return -1;
	if (pcp_index(c, x) < 0) {
		hmap_del(c->rules, &x->id);
		return -1;
	}
	rec_get(x, &r);
	owner_adjust(c, &r, +1);
	c->n_kind[x->kind]++;
	if (x->kind == RULE_PORTMAP)
		order_add(&c->pm_order, x->id);
	note_expiry(c, x->expires);
	return 0;
}

static void table_remove(struct core *c, struct rec *x)
{
	struct rule r;

	rec_get(x, &r);
	pcp_unindex(c, x);
	hmap_del(c->rules, &x->id);
	owner_adjust(c, &r, -1);
	c->n_kind[x->kind]--;
	if (x->kind == RULE_PORTMAP)
		order_del(&c->pm_order, x->id);
}

static uint32_t alloc_id(struct core *c)
{
	bool small = hmap_count(c->rules) < ID_SMALL_MAX;
	uint32_t lo = small ? 1 : ID_SMALL_MAX + 1, hi = small ? ID_SMALL_MAX : RULE_ID_MAX;

	/* Bounded: there are at most count rules, so at most count + 1 probes find a free id. */
	for (size_t n = 0; n <= hmap_count(c->rules) + 1; n++) {
		uint32_t id = c->next_id;

		c->next_id = (id >= hi || id < lo) ? lo : id + 1;
		if (id < lo || id > hi)
			continue;
		if (rec_by_id(c, id) == NULL)
			return id;
	}
	return 0;
}

static void maybe_snapshot(struct core *c);
static int snapshot_locked(struct core *c);
static void lock_settled(struct core *c);
static int reanchor_locked(struct core *c, const struct in6_addr *op, uint8_t ol, const struct in6_addr *np,
			   uint8_t nl, bool to_kernel, struct core_reanchor_result *res);

/* ---------- public: life cycle ---------- */

/* The indexes derive their keys from what they hold (hmap_new_derived): no copy of each key. */
static void rule_key(const void *value, void *key)
{
	memcpy(key, &((const struct rec *)value)->id, sizeof(uint32_t));
}

static void slot_key(void *arg, const void *value, void *key)
{
	struct fw_elem e;
	struct elem_key k;

	slot_elem(arg, value, &e);
	k = key_of(&e);
	memcpy(key, &k, sizeof(k));
}

struct core *core_new(const struct core_params *p)
{
	struct core *c = calloc(1, sizeof(*c));
	pthread_mutexattr_t ma;

	if (c == NULL)
		return NULL;
	c->p = *p;
	if (c->p.snapshot_every == 0)
		c->p.snapshot_every = 1000;
	if (c->p.ext_port_min == 0 && c->p.ext_port_max == 0) {
		c->p.ext_port_min = 1024;
		c->p.ext_port_max = 65535;
	}
	c->rules = hmap_new_derived(sizeof(uint32_t), rule_key);
	c->elems = hmap_new_derived_arg(sizeof(struct elem_key), slot_key, c);
	c->owners = hmap_new(sizeof(struct in6_addr));
	c->clash = hmap_new(FW_CLASH_SCOPE_LEN);
	c->pcp = hmap_new_derived(sizeof(struct pcp_name), pcp_key);
	c->next_id = 1;
	c->next_expiry = EXPIRY_NONE;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_cond_init(&c->devices_changed, NULL);
	pthread_cond_init(&c->group_done, NULL);
	if (c->rules == NULL || c->elems == NULL || c->owners == NULL || c->clash == NULL || c->pcp == NULL) {
		core_free(c);
		return NULL;
	}
	return c;
}

void core_free(struct core *c)
{
	size_t pos = 0;
	void *v;

	if (c == NULL)
		return;
	if (c->rules)
		while ((v = hmap_next(c->rules, &pos)) != NULL)
			free(v);
	pos = 0;
	if (c->elems)
		while ((v = hmap_next(c->elems, &pos)) != NULL) {
			slot_free(v);
		}
	pos = 0;
	if (c->clash)
		while ((v = hmap_next(c->clash, &pos)) != NULL) {
			free(((struct clash_group *)v)->elems);
			free(v);
		}
	hmap_free(c->rules);
	hmap_free(c->elems);
	hmap_free(c->owners);
	hmap_free(c->clash);
	hmap_free(c->pcp);
	free(c->pm_order.ids);
	free(c->b.ops);
	free(c->b.members);
	touched_free(&c->b.tt);
	pthread_cond_destroy(&c->devices_changed);
	pthread_cond_destroy(&c->group_done);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

struct load_ctx {
	struct core *c;
	int64_t now;
	size_t loaded, expired, skipped;
	struct rule tmp;
};

/* What is wrong with a rule read back from the store, or NULL. The store holds what we wrote, but a
 * file is input like any other (an old version's, a damaged one, an edited one): one bad rule is
 * skipped and logged rather than stopping the start (and with it every other rule). */
static const char *load_problem(struct core *c, const struct rule *r)
{
	const char *why = rule_validate(r);

	if (why)
		return why;
	if (r->id == 0 || r->id > RULE_ID_MAX)
		return "id out of range";
	if (rec_by_id(c, r->id) != NULL)
		return "id used twice";
	if (r->state == RULE_GONE)
		return "a removed rule";
	/* expiries are lease seconds ahead of a clock: without a lease there is none to have */
	if (r->expires != 0 && r->lease == 0)
		return "an expiry without a lease";
	if (rule_clashes(c, r, 0))
		return "the firewall cannot hold it beside a rule loaded before it";
	return NULL;
}

static int load_one(void *arg, const struct rule *in)
{
	struct load_ctx *lc = arg;
	const char *why;
	struct rec *x;

	if (in->expires != 0 && in->expires <= lc->now) {
		lc->expired++;
		return 0;
	}
	if ((why = load_problem(lc->c, in)) != NULL) {
		log_warnx("store: rule %u skipped: %s", in->id, why);
		lc->skipped++;
		return 0;
	}
	rule_copy(&lc->tmp, in);
	rule_scrub_desc(lc->tmp.desc);
	/* A clock that went backwards (a router without RTC before NTP) must not stretch a lease; this
	 * also bounds every expiry to now + 2^32 s, so the millisecond arithmetic on it cannot overflow. */
	if (lc->tmp.expires != 0 && lc->tmp.expires - lc->now > (int64_t)lc->tmp.lease)
		lc->tmp.expires = lc->now + lc->tmp.lease;
	x = rec_new(&lc->tmp);
	if (x == NULL)
		return -1;
	if (table_insert(lc->c, x) < 0) {
		free(x);
		return -1;
	}
	if (attach_rule(lc->c, NULL, x) < 0) {
		detach_rule(lc->c, NULL, x);
		table_remove(lc->c, x);
		free(x);
		return -1;
	}
	if (x->id >= lc->c->next_id)
		lc->c->next_id = x->id + 1;
	lc->loaded++;
	return 0;
}

/* All current elements with fresh timeouts, for a resync. */
static struct fw_elem *all_elems(struct core *c, int64_t now, size_t *n)
{
	struct fw_elem *arr = malloc((hmap_count(c->elems) + 1) * sizeof(*arr));
	const void *v;
	size_t pos = 0;

	*n = 0;
	if (arr == NULL)
		return NULL;
	while ((v = hmap_next(c->elems, &pos)) != NULL) {
		if (!slot_elem(c, v, &arr[*n])) {
			free(arr);
			return NULL;
		}
		arr[(*n)++].timeout_ms = slot_timeout_ms(c, v, now);
	}
	return arr;
}

static int resync_locked(struct core *c)
{
	size_t n;
	struct fw_elem *all = all_elems(c, core_now(c), &n);
	int rc;

	if (all == NULL)
		return -1;
	rc = c->p.fw->ops->resync(c->p.fw, all, n);
	free(all);
	if (rc < 0)
		log_warnx("firewall: resync failed: %s", c->p.fw->err);
	return rc;
}

int core_start(struct core *c, char *err, size_t errlen)
{
	struct load_ctx lc = { .c = c };
	bool moved;
	int rc = 0;

	lock_settled(c);
	lc.now = core_now(c);
	if (c->p.store && store_load(c->p.store, load_one, &lc, err, errlen) < 0) {
		rc = -1;
		goto out;
	}
	if (lc.loaded || lc.expired || lc.skipped)
		log_info("store: %zu rules restored, %zu expired while we were away, %zu skipped", lc.loaded,
			 lc.expired, lc.skipped);
	/* The prefix changed while we were away: move the restored rules in memory, so the resync below
	 * is the one transaction that installs them, and no old-prefix address ever reaches the kernel. */
	moved = c->start_reanchor && reanchor_locked(c, &c->sr_old, c->sr_old_len, &c->sr_new, c->sr_new_len,
						     false, NULL) == 0;
	c->start_reanchor = false;
	/* Only when the disk holds rules the table no longer does: otherwise it says what the table says,
	 * and the journal replayed counts toward the next snapshot (maybe_snapshot). A snapshot of a
	 * million rules was seconds of a restart, before the resync. */
	if (c->p.store && (lc.expired || lc.skipped || moved))
		snapshot_locked(c);  /* forgets the expired and skipped rules on disk too, and the old prefix */
	if (resync_locked(c) < 0) {
		snprintf(err, errlen, "firewall: %s", c->p.fw->err);
		rc = -1;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---------- durability ---------- */

static void fill_counters(struct core *c, struct rule *r);

struct snap_iter {
	struct core *c;
	size_t pos;
	bool counters;
};

static bool snap_next(void *arg, struct rule *out)
{
	struct snap_iter *it = arg;
	const struct rec *x = hmap_next(it->c->rules, &it->pos);

	if (x == NULL)
		return false;
	rec_get(x, out);
	if (it->counters)
		fill_counters(it->c, out);
	return true;
}

static int snapshot_locked(struct core *c)
{
	/* the counters as last read, where they are read at all (core_read_counters) */
	struct snap_iter it = { c, 0, hmap_count(c->elems) <= FW_COUNTERS_MAX_ELEMS };
	int rc = store_snapshot_each(c->p.store, snap_next, &it);

	if (rc < 0)
		log_warn("store: snapshot failed");
	return rc;
}

static void maybe_snapshot(struct core *c)
{
	if (c->p.store == NULL)
		return;
	/* A snapshot rewrites every rule: take one only after at least as many journal lines as rules,
	 * so its cost stays O(1) per change however large the table grows. */
	size_t due = c->p.snapshot_every > hmap_count(c->rules) ? c->p.snapshot_every : hmap_count(c->rules);

	if (store_journal_lines(c->p.store) >= due)
		snapshot_locked(c);
}

int core_snapshot(struct core *c)
{
	int rc = 0;

	lock_settled(c);
	if (c->p.store)
		rc = snapshot_locked(c);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Journal lines are queued here and written by the batch's one persist_sync. */
static int persist_put(struct core *c, const struct rule *r)
{
	if (c->p.store == NULL)
		return 0;
	if (store_queue_put(c->p.store, r) < 0) {
		log_warn("store: cannot journal rule %u", r->id);
		return -1;
	}
	return 0;
}

static int persist_del(struct core *c, uint32_t id)
{
	if (c->p.store == NULL)
		return 0;
	if (store_queue_del(c->p.store, id) < 0) {
		log_warn("store: cannot journal deletion of rule %u", id);
		return -1;
	}
	return 0;
}

static int persist_sync(struct core *c)
{
	if (c->p.store == NULL || store_sync(c->p.store) == 0)
		return 0;
	log_warn("store: cannot make the journal durable");
	return -1;
}

static void notify(struct core *c, const struct rule *r, enum core_event ev)
{
	if (c->p.on_change)
		c->p.on_change(c->p.change_arg, r, ev);
}

/* ---------- batches ---------- */

static void batch_open(struct core *c)
{
	struct batch *b = &c->b;

	if (b->depth++ > 0)
		return;
	if (!b->open) {
		b->open = true;
		b->n_ops = 0;
		b->broken = false;
		if (c->p.store)
			b->mark = store_mark(c->p.store);
	}
	b->mine_from = b->n_ops;
}

/* Room for one more change, asked before anything is changed so that recording it cannot fail. */
static bool batch_reserve(struct core *c)
{
	struct batch *b = &c->b;
	size_t ncap = b->cap_ops ? b->cap_ops * 2 : 16;
	struct batch_op *p;

	if (b->n_ops < b->cap_ops)
		return true;
	p = realloc(b->ops, ncap * sizeof(*p));
	if (p == NULL)
		return false;
	b->ops = p;
	b->cap_ops = ncap;
	return true;
}

/* Records a change about to be made to r (after batch_reserve); the caller fills note once made. */
static struct batch_op *batch_push(struct core *c, enum op_kind kind, struct rec *x, enum core_event ev)
{
	struct batch_op *op = &c->b.ops[c->b.n_ops++];

	op->kind = kind;
	op->ev = ev;
	op->keep = false;
	op->x = x;
	rec_get(x, &op->saved);
	return op;
}

static bool rule_moves(const struct rule *a, const struct rule *b);

/* Puts nx, recording the same rule id as *xp, in *xp's place: in the table, and in the batch's records
 * (the element index finds rules by id). The caller keeps the PCP index right. */
static void rec_move(struct core *c, struct rec **xp, struct rec *nx)
{
	struct rec *x = *xp;

	(void)hmap_put(c->rules, &nx->id, nx);   /* the id is there: a replacement, which cannot fail */
	for (size_t i = 0; i < c->b.n_ops; i++)
		if (c->b.ops[i].x == x)
			c->b.ops[i].x = nx;
	*xp = nx;
}

/* Rewrites *xp, which is in the table but neither in the element index nor in the PCP index, as r
 * (moving it when r needs more room). -1 when out of memory (nothing changed). */
static int rec_rewrite(struct core *c, struct rec **xp, const struct rule *r)
{
	struct rec *x = *xp, *nx;

	if (rec_fits(x, r)) {
		rec_set(x, r);
		return 0;
	}
	if ((nx = rec_new(r)) == NULL)
		return -1;
	rec_move(c, xp, nx);
	free(x);
	return 0;
}

/* Makes the table's rule *xp become next, in the element index too (tt: noting the kernel elements).
 * A record without room for next moves: *xp, the table and the batch's records then point at the new
 * place. -1 when out of memory (nothing changed if that was the move). */
static int rule_set(struct core *c, struct rec **xp, const struct rule *next, struct touched *tt)
{
	struct rec *x = *xp, *nx = NULL;
	struct rule cur;
	struct pcp_name was = { .zero = 0 }, now = { .zero = 0 };
	bool moved, held, named = pcp_named(next), same;

	rec_get(x, &cur);
	moved = rule_moves(&cur, next);
	held = pcp_holds(c, x, &cur, &was);
	if (!rec_fits(x, next) && (nx = malloc(rec_size(next))) == NULL)
		return -1;
	if (named)
		now = pcp_name_of_rule(next);
	same = held && named && memcmp(&was, &now, sizeof(was)) == 0;
	if (held && !same)
		hmap_del(c->pcp, &was);   /* while x still has the name the slot is found by */
	if (moved)
		detach_rule(c, tt, x);
	else
		touch_rule(c, tt, &cur);   /* the same elements, with a new timeout */
	owner_adjust(c, &cur, -1);
	if (nx) {
		rec_set(nx, next);
		rec_move(c, xp, nx);
		if (same)
			(void)hmap_put(c->pcp, &now, nx);  /* likewise a replacement; x is still readable for the compare */
		free(x);
		x = nx;
	} else {
		rec_set(x, next);   /* in place: a name it kept is still its key */
	}
	owner_adjust(c, next, +1);
	if (named && !same && hmap_put(c->pcp, &now, x) < 0)
		log_warnx("core: out of memory naming PCP mapping %u", x->id);
	return moved ? attach_rule(c, tt, x) : 0;
}

static void op_undo(struct core *c, struct batch_op *op)
{
	struct rec *x = op->x;

	switch (op->kind) {
	case OP_INSERTED:
		detach_rule(c, NULL, x);
		table_remove(c, x);
		free(x);
		break;
	case OP_REPLACED:
		if (rule_set(c, &x, &op->saved, NULL) < 0)
			log_warnx("core: out of memory restoring rule %u", x->id);
		break;
	case OP_REMOVED:
		if (table_insert(c, x) < 0 || attach_rule(c, NULL, x) < 0)
			log_warnx("core: out of memory restoring rule %u", x->id);
		break;
	}
}

/* A change that stands: tell on_change, and free what left the table. */
static void op_done(struct core *c, struct batch_op *op)
{
	notify(c, &op->note, op->ev);
	if (op->kind == OP_REMOVED)
		free(op->x);
}

/* Commits the open group: makes it durable (one journal sync), then commits it to the firewall (one
 * transaction); if either fails, every change is undone in reverse, in memory, in the index and in the
 * journal (cut back to where the group began). Tells the members waiting for it. Returns false if undone. */
static bool group_commit(struct core *c)
{
	struct batch *b = &c->b;
	struct txn t = { 0 };
	bool ok;

	touched_txn(c, &b->tt, &t, core_now(c));
	ok = !b->broken && persist_sync(c) == 0 && txn_commit(c, &t) == 0;
	if (!ok) {
		for (size_t i = b->n_ops; i-- > 0;)
			if (!b->ops[i].keep)
				op_undo(c, &b->ops[i]);
		if (c->p.store && store_rewind(c->p.store, &b->mark) < 0)
			log_warn("store: cannot cut a refused batch out of the journal");
	}
	for (size_t i = 0; i < b->n_ops; i++)
		if (ok || b->ops[i].keep)
			op_done(c, &b->ops[i]);
	b->n_ops = 0;
	b->open = false;
	touched_free(&b->tt);
	txn_free(&t);
	for (size_t i = 0; i < b->n_members; i++) {
		b->members[i]->ok = ok;
		b->members[i]->done = true;
	}
	if (b->n_members) {
		b->n_members = 0;
		pthread_cond_broadcast(&c->group_done);
	}
	if (ok)
		maybe_snapshot(c);
	return ok;
}

static bool others_waiting(struct core *c)
{
	return __atomic_load_n(&c->entering, __ATOMIC_ACQUIRE) > 0;
}

/* Takes the lock as one of the threads counted in c->entering (which keeps an open group alive). */
static void lock_counted(struct core *c)
{
	__atomic_add_fetch(&c->entering, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&c->lock);
	__atomic_sub_fetch(&c->entering, 1, __ATOMIC_ACQ_REL);
}

/* The lock, for anything but a request joining a group: an open group is committed first. */
static void lock_settled(struct core *c)
{
	lock_counted(c);
	if (c->b.depth == 0 && c->b.open)
		group_commit(c);
}

enum close_result { CLOSED_OK, CLOSED_UNDONE, LEFT_OPEN, DEFERRED };

/* Closes one level. The outermost commits the batch (group_commit), unless join_ok and another thread
 * is waiting for the lock to make a change of its own: then the batch stays open as a group, and the
 * caller, if it changed anything, waits for the group as *me. */
static enum close_result batch_close(struct core *c, bool join_ok, struct group_member *me)
{
	struct batch *b = &c->b;
	bool changed;

	if (--b->depth > 0)
		return CLOSED_OK;
	changed = b->n_ops > b->mine_from;
	/* (a request changes rules only through ops; other paths may have queued journal lines of their
	 * own, so they always end in a commit) */
	if (join_ok && b->n_ops == 0 && !b->broken) {
		b->open = false;
		return CLOSED_OK;
	}
	if (join_ok && others_waiting(c) && b->n_ops < GROUP_MAX_OPS) {
		if (!changed)
			return LEFT_OPEN;   /* the answer does not depend on the group; a waiting thread commits it */
		if (b->n_members == b->cap_members) {
			size_t ncap = b->cap_members ? b->cap_members * 2 : 16;
			struct group_member **m = realloc(b->members, ncap * sizeof(*m));

			if (m == NULL)
				return group_commit(c) ? CLOSED_OK : CLOSED_UNDONE;
			b->members = m;
			b->cap_members = ncap;
		}
		b->members[b->n_members++] = me;
		return DEFERRED;
	}
	return group_commit(c) ? CLOSED_OK : CLOSED_UNDONE;
}

/* Every entry point that changes rules runs as (part of) a batch. A request (join_ok) may join the
 * group other threads left open; anything else commits that group first. */
static void core_enter_as(struct core *c, bool join_ok)
{
	if (join_ok)
		lock_counted(c);
	else
		lock_settled(c);
	batch_open(c);
}

static void core_enter(struct core *c)
{
	core_enter_as(c, false);
}

static bool core_leave_as(struct core *c, bool join_ok)
{
	struct group_member me = { 0 };
	enum close_result r = batch_close(c, join_ok, &me);
	bool ok = r != CLOSED_UNDONE;

	if (r == DEFERRED) {
		/* the lock is held once here (entry points are not called under it): the wait releases it */
		while (!me.done)
			pthread_cond_wait(&c->group_done, &c->lock);
		ok = me.ok;
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static bool core_leave(struct core *c)
{
	return core_leave_as(c, false);
}

/* The verdict of a request once its group ended: one the group could not commit is NO_RESOURCES. */
static enum verdict request_leave_verdict(struct core *c, enum verdict v)
{
	return core_leave_as(c, true) || v != V_OK ? v : V_NO_RESOURCES;
}

void core_batch_begin(struct core *c)
{
	core_enter_as(c, true);   /* an explicit batch joins an open group, and commits it at its end */
}

int core_batch_end(struct core *c)
{
	return core_leave(c) ? 0 : -1;
}

unsigned core_waiting(struct core *c)
{
	return __atomic_load_n(&c->entering, __ATOMIC_ACQUIRE);
}

size_t core_batch_changes(struct core *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);   /* held already by the batch's owner (recursive) */
	n = c->b.depth ? c->b.n_ops : 0;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* ---------- requests ---------- */

static bool same_device(struct core *c, const struct in6_addr *a, const struct in6_addr *b)
{
	if (addr_equal(a, b))
		return true;
	return c->p.same_device ? c->p.same_device(c->p.device_arg, a, b) : false;
}

static bool requester_owns_target(struct core *c, const struct rule *r, const struct in6_addr *requester)
{
	struct in6_addr addrs[2];
	size_t n = rule_addresses(r, addrs);

	for (size_t i = 0; i < n; i++)
		if (same_device(c, requester, &addrs[i]))
			return true;
	return false;
}

/* Same request = same thing opened for the same target (lease, description and owner aside). */
static bool same_request(const struct rule *a, const struct rule *b)
{
	const struct rule_target *x = &a->target, *y = &b->target;

	return a->kind == b->kind && a->proto == b->proto && a->int_port == b->int_port &&
	       a->ext_port == b->ext_port && a->ext_addr.s_addr == b->ext_addr.s_addr &&
	       a->remote_len == b->remote_len && a->remote_port == b->remote_port &&
	       addr_equal(&a->remote, &b->remote) && x->use_exact == y->use_exact &&
	       (!x->use_exact || addr_equal(&x->exact, &y->exact)) && x->use_stable == y->use_stable &&
	       (!x->use_stable || (x->subnet_len == y->subnet_len && addr_equal(&x->subnet, &y->subnet) &&
				   memcmp(x->mac, y->mac, 6) == 0));
}

/* Does changing a into b change its kernel elements (not just their timeout)? */
static bool rule_moves(const struct rule *a, const struct rule *b)
{
	return !same_request(a, b) || memcmp(&a->target, &b->target, sizeof(a->target)) != 0;
}

/* The rules sharing the element of r's first address (pinhole twins or the port mapping's key). */
static const void *first_slot_of(struct core *c, const struct rule *r)
{
	struct fw_elem e[2];
	struct elem_key k;

	if (rule_elems(r, e) == 0)
		return NULL;
	k = key_of(&e[0]);
	return hmap_get(c->elems, &k);
}

static void set_lease(struct core *c, struct rule *r, uint32_t asked, bool exact, int64_t now)
{
	r->lease = exact ? asked : policy_lease_for(&c->p.policy, r->origin, asked);
	r->expires = r->lease ? now + r->lease : 0;
}

/* Replaces *old (already in the table) by *upd: one journal line, its elements in the batch. out (may
 * be NULL): the rule as it is now. */
static void fill_counters(struct core *c, struct rule *r);

static enum verdict replace_rule(struct core *c, struct rec *old, const struct rule *upd, enum core_event ev,
				 struct rule *out)
{
	struct rule next;
	struct in6_addr addrs[2];
	struct batch_op *op;

	rule_copy(&next, upd);
	/* Front ends do not set the state: it follows from whether the rule has an address now. */
	next.state = rule_addresses(&next, addrs) ? RULE_INSTALLED : RULE_PENDING;
	if (!batch_reserve(c) || persist_put(c, &next) < 0)
		return V_NO_RESOURCES;
	op = batch_push(c, OP_REPLACED, old, ev);
	if (rule_set(c, &old, &next, &c->b.tt) < 0)
		c->b.broken = true;
	note_expiry(c, old->expires);
	rec_get(old, &op->note);
	if (out) {
		rec_get(old, out);
		fill_counters(c, out);
	}
	return V_OK;
}

/* Port mappings: find a free external port near the one asked for (AddAnyPortMapping, PCP). */
/* Does the rule holding the element of r's key with a wider remote filter (open) go to another
 * internal endpoint than r? */
static bool wider_held_by_another(struct core *c, const struct rule *r, const struct rule *open)
{
	const void *v = first_slot_of(c, open);
	const struct slot_holder *h;
	struct slot_holder one;
	size_t n = v ? slot_holders(v, &h, &one) : 0;

	for (size_t i = 0; i < n; i++) {
		const struct rec *x = rec_by_id(c, h[i].id);
		struct rule o;

		if (x == NULL)
			continue;
		rec_get(x, &o);
		if (!(addr_equal(&o.target.exact, &r->target.exact) && o.int_port == r->int_port))
			return true;
	}
	return false;
}

/* Would the remote-filtered port mapping r take traffic from another host's less filtered mapping on
 * its external port (the NAT looks up the most specific one first: a remote port before a remote host
 * before none)? The same internal endpoint's is no harm. Two lookups at most. */
static bool shadows_another(struct core *c, const struct rule *r)
{
	struct rule open;

	if (r->remote_len == 0)
		return false;
	open = *r;
	if (r->remote_port != 0) {
		open.remote_port = 0;
		if (wider_held_by_another(c, r, &open))
			return true;
	}
	open.remote_len = 0;
	open.remote_port = 0;
	memset(&open.remote, 0, sizeof(open.remote));
	return wider_held_by_another(c, r, &open);
}

static bool port_free(struct core *c, const struct rule *r)
{
	return first_slot_of(c, r) == NULL && !shadows_another(c, r);
}

/* r's external port by a searching strategy (enum core_port), set in r: V_OK, or V_CONFLICT / V_QUOTA. */
static enum verdict pick_port(struct core *c, const struct core_add_req *req, struct rule *r)
{
	uint32_t lo, hi, span, start, tries;
	bool low_ok = false;

	switch (req->port) {
	case CORE_PORT_EXACT:
	case CORE_PORT_NEW_EXACT:
		return port_free(c, r) ? V_OK : V_CONFLICT;
	case CORE_PORT_NEAREST:
		lo = c->p.ext_port_min, hi = c->p.ext_port_max;
		start = r->ext_port >= lo && r->ext_port <= hi ? r->ext_port : lo;
		tries = hi - lo + 1;
		low_ok = true;   /* ext_port_min bounds it */
		break;
	case CORE_PORT_NEW_NEAREST:
		if (r->ext_port >= 1024 && port_free(c, r))
			return V_OK;
		lo = 1024, hi = 65535;
		start = req->port_then ? req->port_then : r->ext_port;
		if (start < lo)
			start = lo;
		tries = CORE_PORT_SEARCH;
		break;
	case CORE_PORT_IN_BLOCK:
		if (req->port_lo == 0 || req->port_hi < req->port_lo)
			return V_INVALID;
		lo = req->port_lo, hi = req->port_hi;
		start = r->ext_port >= lo && r->ext_port <= hi ? r->ext_port : lo + r->int_port % (hi - lo + 1);
		tries = hi - lo + 1;
		low_ok = true;
		break;
	default:
		return V_INVALID;
	}
	span = hi - lo + 1;
	for (uint32_t i = 0; i < tries && i < span; i++) {
		r->ext_port = (uint16_t)(lo + (start - lo + i) % span);
		if ((low_ok || r->ext_port >= 1024) && port_free(c, r))
			return V_OK;
	}
	return req->port == CORE_PORT_IN_BLOCK ? V_QUOTA : V_CONFLICT;
}

static enum verdict insert_new(struct core *c, struct rule *r, struct rule *out)
{
	struct rec *x;

	r->id = alloc_id(c);
	if (r->id == 0)
		return V_QUOTA;
	if (!batch_reserve(c) || (x = rec_new(r)) == NULL)
		return V_NO_RESOURCES;
	if (table_insert(c, x) < 0) {
		free(x);
		return V_NO_RESOURCES;
	}
	if (attach_rule(c, &c->b.tt, x) < 0 || (r->state = (enum rule_state)x->state, persist_put(c, r) < 0)) {
		detach_rule(c, NULL, x);
		table_remove(c, x);
		free(x);
		return V_NO_RESOURCES;
	}
	rec_get(x, &batch_push(c, OP_INSERTED, x, CORE_EV_ADDED)->note);
	if (out)
		rec_get(x, out);
	return V_OK;
}

/* Ties a pinhole to its device, when the device table knows the address asked for: the MAC and the
 * address's kind (so a rule for a temporary address is shown as one, and allow_temporary can refuse it).
 * For app requests (UPnP, PCP, NAT-PMP) it also applies pinhole_target: "both" adds the device's stable
 * address in the /64 as a second selector (pending until known), "stable" uses it instead of the address
 * asked for once it is known (until then the app keeps what it asked for, rather than nothing). The
 * operator and the household UI get exactly what they typed. */
static void decorate_target(struct core *c, struct rule *r)
{
	struct rule_target *tg = &r->target;
	const struct device_addr *da = NULL;
	const struct device *d;
	enum pinhole_target_policy pt = c->p.policy.pinhole_target;
	bool app = rule_origin_is_app(r->origin);

	if (r->kind != RULE_PINHOLE || !tg->use_exact || tg->use_stable || c->p.devices == NULL)
		return;
	d = device_by_addr(c->p.devices, &tg->exact, &da);
	if (d == NULL)
		return;
	memcpy(tg->mac, d->mac, 6);
	tg->has_mac = true;
	if (da)
		tg->exact_kind = da->kind;
	if (!app || pt == PINHOLE_TARGET_REQUESTED || addr_is_ula(&tg->exact) || addr_is_link_local(&tg->exact))
		return;
	tg->subnet = tg->exact;
	addr_mask(&tg->subnet, 64);
	tg->subnet_len = 64;
	tg->use_stable = true;
	tg->stable_resolved = device_stable_address(c->p.devices, tg->mac, &tg->subnet, 64, &tg->stable);
	if (!tg->stable_resolved)
		memset(&tg->stable, 0, sizeof(tg->stable));
	if (pt == PINHOLE_TARGET_STABLE && tg->stable_resolved && !addr_equal(&tg->stable, &tg->exact))
		tg->use_exact = false;
}

/* Is r for a device whose apps the household blocked (by its MAC, or one of its addresses)? */
static bool target_blocked(struct core *c, const struct rule *r)
{
	struct in6_addr addrs[2];
	size_t n = rule_addresses(r, addrs);

	if (r->target.has_mac && device_apps_blocked(c->p.devices, r->target.mac))
		return true;
	for (size_t i = 0; i < n; i++)
		if (device_apps_blocked_at(c->p.devices, &addrs[i]))
			return true;
	return false;
}

/* Is the requester an address of a device whose apps the household blocked? (No table: none is.) */
static bool requester_blocked(struct core *c, const struct in6_addr *requester)
{
	return requester && device_apps_blocked_at(c->p.devices, requester);
}

/* policy_check_change with the facts the core knows: may this requester change or delete r? */
static enum verdict change_verdict(struct core *c, const struct rule *r, const struct in6_addr *requester,
				   bool privileged)
{
	return policy_check_change(&c->p.policy, r, requester, privileged,
				   requester ? requester_owns_target(c, r, requester) : false,
				   requester_blocked(c, requester));
}

/* The policy verdict on r as the request asks for it. A request that replaces an existing rule
 * (`replacing`, else NULL) passes it as a new rule would, counted without the rule it replaces: an
 * app cannot turn a mapping into one it could not have added (another port, a denied target). */
static enum verdict add_verdict(struct core *c, const struct core_add_req *req, const struct rule *r,
				const struct rule *replacing)
{
	struct policy_request pr = { 0 };
	struct in6_addr key = owner_key(r);

	pr.rule = r;
	pr.requester = req->rule.owner;
	pr.privileged = req->privileged;
	pr.third_party = req->third_party;
	pr.own_device_only = req->own_device_only;
	pr.same_device = requester_owns_target(c, r, &req->rule.owner);
	pr.owner_rule_count = owner_count(c, &key);
	pr.table_rule_count = (uint32_t)hmap_count(c->rules);
	pr.lan = &c->lan;
	if (replacing) {
		struct in6_addr was = owner_key(replacing);

		pr.table_rule_count--;
		if (pr.owner_rule_count && addr_equal(&was, &key))
			pr.owner_rule_count--;
	}
	return policy_check_add(&c->p.policy, &pr);
}

/* r replaces old (same id), if the policy lets the request ask for r and the kernel can hold it. */
static enum verdict replace_checked(struct core *c, const struct core_add_req *req, struct rec *x,
				    const struct rule *old, struct rule *r, struct rule *out)
{
	enum verdict v = add_verdict(c, req, r, old);

	if (v == V_OK && rule_clashes(c, r, old->id))
		v = V_CONFLICT;
	if (v != V_OK)
		return v;
	r->id = old->id;
	return replace_rule(c, x, r, CORE_EV_CHANGED, out);
}

/* Made by the same hand: both by apps, or both by the household or the operator. */
static bool same_hand(const struct rule *a, const struct rule *b)
{
	return rule_origin_is_app(a->origin) == rule_origin_is_app(b->origin);
}

static bool addr_known(struct core *c, const struct in6_addr *a)
{
	return device_by_addr(c->p.devices, a, NULL) != NULL;
}

static bool lan_may_hold(const struct core *c, const struct in6_addr *a)
{
	if (addr_is_unspecified(a) || addr_is_multicast(a) || addr_is_loopback(a))
		return false;
	if (!c->lan.known)
		return true;
	for (size_t i = 0; i < c->lan.n_subnets; i++)
		if (addr_in_prefix(a, &c->lan.subnet[i], c->lan.subnet_len[i]))
			return true;
	return false;
}

/* policy_check_apps with the facts the device table knows (no table: nobody is blocked). The requester
 * is judged by its device whatever address it spoke from. */
static enum verdict apps_verdict(struct core *c, const struct rule *r, const struct in6_addr *requester)
{
	bool blocked = r->has_owner_mac ? device_apps_blocked(c->p.devices, r->owner_mac) :
		       requester_blocked(c, requester);

	return policy_check_apps(r->origin, blocked, target_blocked(c, r));
}

/* The requester's device, when the LAN showed it: the rule counts against that device's quota. */
static void note_owner_device(struct core *c, struct rule *r)
{
	const struct device *d = device_by_addr(c->p.devices, &r->owner, NULL);

	r->has_owner_mac = d != NULL;
	if (d)
		memcpy(r->owner_mac, d->mac, 6);
	else
		memset(r->owner_mac, 0, 6);
}

static enum verdict add_locked(struct core *c, const struct core_add_req *req, struct rule *out)
{
	struct rule r = req->rule;
	int64_t now = core_now(c);
	const struct slot_holder *h;
	struct slot_holder one;
	const void *s;
	size_t n_held;
	enum verdict v;

	rule_scrub_desc(r.desc);
	if (r.remote_len)
		addr_mask(&r.remote, r.remote_len);
	else
		memset(&r.remote, 0, sizeof(r.remote));
	r.packets = r.bytes = 0;
	/* a new mapping whatever the requester holds: its port first (no slot holds it then; a CGN block
	 * may be asked without a suggestion) */
	if (r.kind == RULE_PORTMAP && req->port >= CORE_PORT_NEW_EXACT && (v = pick_port(c, req, &r)) != V_OK)
		return v;
	if (rule_validate(&r) != NULL)
		return V_INVALID;
	set_lease(c, &r, req->rule.lease, req->exact_lease, now);
	note_owner_device(c, &r);
	/* An app's request from an address no device answers for on the LAN (we asked): a spoofed source
	 * or a host that left. It acts for nobody (and a blocked device cannot hide behind a new address). */
	if (rule_origin_is_app(r.origin) && !req->privileged && c->p.devices && c->p.ask && req->asked &&
	    !r.has_owner_mac && lan_may_hold(c, &r.owner))
		return V_NOT_AUTHORIZED;
	/* before the identical-rule check, so a repeated request decorates the same way and refreshes */
	decorate_target(c, &r);
	/* before the refresh too: an app on a blocked device keeps nothing alive */
	if ((v = apps_verdict(c, &r, &req->rule.owner)) != V_OK)
		return v;

	s = first_slot_of(c, &r);
	n_held = s ? slot_holders(s, &h, &one) : 0;
	for (size_t i = 0; i < n_held; i++) {
		struct rec *x = rec_by_id(c, h[i].id);
		struct rule oldr, *old = &oldr;

		if (x == NULL)
			continue;
		rec_get(x, old);
		if (r.kind == RULE_PORTMAP) {
			/* The external port is taken. Its holder may change its own mapping (IGD); an app never
			 * one made by hand (policy_check_change). */
			if (change_verdict(c, old, &req->rule.owner, req->privileged) == V_OK &&
			    addr_equal(&old->target.exact, &r.target.exact))
				return replace_checked(c, req, x, old, &r, out);
			if (req->port != CORE_PORT_NEAREST || pick_port(c, req, &r) != V_OK)
				return V_CONFLICT;
			break;
		}
		/* An identical pinhole is refreshed only for its own holder, and by the same hand (an app
		 * never refreshes the household's rule); anyone else gets a rule of its own sharing the
		 * element, so neither can cut the other's lease short. */
		if (same_request(old, &r) && same_hand(old, &r) &&
		    (addr_equal(&old->owner, &r.owner) || same_device(c, &old->owner, &r.owner))) {
			r.origin = old->origin;
			return replace_checked(c, req, x, old, &r, out);
		}
	}

	if (r.kind == RULE_PORTMAP && shadows_another(c, &r) &&
	    (req->port != CORE_PORT_NEAREST || pick_port(c, req, &r) != V_OK))
		return V_CONFLICT;
	v = add_verdict(c, req, &r, NULL);
	if (v == V_OK && rule_clashes(c, &r, 0))
		v = V_CONFLICT;
	if (v != V_OK)
		return v;
	return insert_new(c, &r, out);
}

/* The addresses an app's request names (its source, its target) that the LAN has not shown yet and
 * could: whose they are may change the answer (secure mode, the household's block, the device's
 * stable address for pinhole_target). Asked once per request; then the core decides with what it has. */
static size_t unknown_addresses(struct core *c, const struct core_add_req *req, struct in6_addr out[2])
{
	const struct rule *r = &req->rule;
	size_t n = 0;

	if (!c->p.devices || !c->p.ask || req->privileged || req->asked || !rule_origin_is_app(r->origin))
		return 0;
	if (lan_may_hold(c, &r->owner) && !addr_known(c, &r->owner))
		out[n++] = r->owner;
	if (r->target.use_exact && !addr_equal(&r->target.exact, &r->owner) && lan_may_hold(c, &r->target.exact) &&
	    !addr_known(c, &r->target.exact))
		out[n++] = r->target.exact;
	return n;
}

enum verdict core_add(struct core *c, const struct core_add_req *req, struct rule *out)
{
	struct in6_addr ask[2];
	size_t n;
	enum verdict v;

	core_enter_as(c, true);
	n = unknown_addresses(c, req, ask);
	for (size_t i = 0; i < n; i++)
		device_note_asked(c->p.devices, &ask[i], core_now(c));   /* its answer is not the host's talk */
	v = n ? V_ASKING : add_locked(c, req, out);
	v = request_leave_verdict(c, v);
	for (size_t i = 0; i < n; i++)
		c->p.ask(c->p.ask_arg, &ask[i]);
	return v;
}

bool core_addresses_known(struct core *c, const struct in6_addr *a, size_t n)
{
	bool all = true;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; c->p.devices && all && i < n; i++)
		all = addr_known(c, &a[i]);
	pthread_mutex_unlock(&c->lock);
	return all;
}

/* Waits until the table knows the request's addresses, or ms passed. */
static void wait_known(struct core *c, const struct core_add_req *req, int64_t ms)
{
	struct timespec until;
	const struct rule *r = &req->rule;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->lock);
	while (!(addr_known(c, &r->owner) && (!r->target.use_exact || addr_known(c, &r->target.exact))) &&
	       pthread_cond_timedwait(&c->devices_changed, &c->lock, &until) == 0)
		;
	pthread_mutex_unlock(&c->lock);
}

enum verdict core_add_wait(struct core *c, const struct core_add_req *req, struct rule *out)
{
	struct core_add_req again;
	enum verdict v = core_add(c, req, out);

	if (v != V_ASKING)
		return v;
	wait_known(c, req, CORE_ASK_WAIT_MS);
	again = *req;
	again.asked = true;
	return core_add(c, &again, out);
}

enum verdict core_refresh(struct core *c, uint32_t id, uint32_t lease, const struct in6_addr *requester,
			  bool privileged, struct rule *out)
{
	struct rule oldr, *old = &oldr, upd;
	struct rec *x;
	enum verdict v;

	core_enter_as(c, true);
	x = rec_by_id(c, id);
	if (x == NULL) {
		v = V_NOT_FOUND;
		goto out;
	}
	rec_get(x, old);
	v = change_verdict(c, old, requester, privileged);
	if (v == V_OK)
		v = apps_verdict(c, old, requester);
	if (v != V_OK)
		goto out;
	rule_copy(&upd, old);
	set_lease(c, &upd, lease, privileged, core_now(c));
	/* what it opens is judged again: a deny line or a port limit may have come since it was made */
	v = policy_check_standing(&c->p.policy, &c->lan, &upd, privileged);
	if (v == V_OK)
		v = replace_rule(c, x, &upd, CORE_EV_CHANGED, out);
out:
	return request_leave_verdict(c, v);
}

enum verdict core_renonce(struct core *c, uint32_t id, const struct in6_addr *requester,
			  const uint8_t nonce[RULE_NONCE_LEN], struct rule *out)
{
	struct rule oldr, *old = &oldr, upd;
	struct rec *x;
	enum verdict v = V_NOT_AUTHORIZED;

	core_enter_as(c, true);
	x = rec_by_id(c, id);
	if (x == NULL) {
		v = V_NOT_FOUND;
		goto out;
	}
	rec_get(x, old);
	/* the mapping's own host only: whoever made it for another host (THIRD_PARTY) is not that host */
	if (!old->has_nonce || !old->target.use_exact || !same_device(c, requester, &old->target.exact))
		goto out;
	if ((v = apps_verdict(c, old, requester)) != V_OK)
		goto out;
	rule_copy(&upd, old);
	memcpy(upd.nonce, nonce, RULE_NONCE_LEN);
	v = replace_rule(c, x, &upd, CORE_EV_CHANGED, out);
out:
	return request_leave_verdict(c, v);
}

/* Takes r out of the table: one journal line, its elements in the batch. keep: it stays out even if
 * the batch fails (expiry: the kernel times the elements out by itself). */
static int remove_rule(struct core *c, struct rec *x, enum core_event ev, bool keep)
{
	struct batch_op *op;

	if (!batch_reserve(c) || (persist_del(c, x->id) < 0 && !keep))
		return -1;
	op = batch_push(c, OP_REMOVED, x, ev);
	op->keep = keep;
	detach_rule(c, &c->b.tt, x);
	table_remove(c, x);
	x->state = RULE_GONE;
	rec_get(x, &op->note);
	return 0;
}

enum verdict core_delete(struct core *c, uint32_t id, const struct in6_addr *requester, bool privileged)
{
	struct rule r;
	struct rec *x;
	enum verdict v;

	core_enter_as(c, true);
	x = rec_by_id(c, id);
	if (x == NULL) {
		v = V_NOT_FOUND;
		goto out;
	}
	rec_get(x, &r);
	v = change_verdict(c, &r, requester, privileged);
	if (v == V_OK && remove_rule(c, x, CORE_EV_DELETED, false) < 0)
		v = V_NO_RESOURCES;
out:
	return request_leave_verdict(c, v);
}

/* Appends r to a growing array of rules (*arr, *n of *cap). false: out of memory, nothing appended. */
static bool rules_push(struct rec ***arr, size_t *n, size_t *cap, struct rec *r)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct rec **p = realloc(*arr, ncap * sizeof(*p));

		if (p == NULL)
			return false;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = r;
	return true;
}

/* Was r made by an app for the device with this MAC, or from one of its addresses? */
static bool app_rule_of(struct core *c, const struct rule *r, const uint8_t mac[6])
{
	struct in6_addr addrs[2];
	size_t n = rule_addresses(r, addrs);
	const struct device *d = device_by_addr(c->p.devices, &r->owner, NULL);

	if (!rule_origin_is_app(r->origin))
		return false;
	if ((d && memcmp(d->mac, mac, 6) == 0) || (r->target.has_mac && memcmp(r->target.mac, mac, 6) == 0))
		return true;
	for (size_t i = 0; i < n; i++)
		if ((d = device_by_addr(c->p.devices, &addrs[i], NULL)) && memcmp(d->mac, mac, 6) == 0)
			return true;
	return false;
}

int core_remove_app_rules(struct core *c, const uint8_t mac[6], size_t *removed)
{
	struct rec **gone = NULL, *x;
	struct rule r;
	size_t n = 0, cap = 0, pos = 0;
	bool ok = true;

	core_enter(c);
	/* collected first: the table cannot change while it is iterated */
	while (ok && (x = hmap_next(c->rules, &pos)) != NULL) {
		rec_get(x, &r);
		if (app_rule_of(c, &r, mac))
			ok = rules_push(&gone, &n, &cap, x);
	}
	for (size_t i = 0; ok && i < n; i++)
		ok = remove_rule(c, gone[i], CORE_EV_DELETED, false) == 0;
	if (!ok)
		c->b.broken = true;   /* all or nothing: the batch undoes what was removed */
	free(gone);
	ok = core_leave(c) && ok;
	if (removed)
		*removed = ok ? n : 0;
	return ok ? 0 : -1;
}

/* Counters of a rule: the sum over its elements as last read from the kernel. */
static void fill_counters(struct core *c, struct rule *r)
{
	struct fw_elem e[2];
	size_t n = rule_elems(r, e);

	r->packets = r->bytes = 0;
	for (size_t i = 0; i < n; i++) {
		struct elem_key k = key_of(&e[i]);
		const struct elem_slot *s = hmap_get(c->elems, &k);

		if (s && !slot_is_inline(s)) {
			r->packets += s->packets;
			r->bytes += s->bytes;
		}
	}
}

enum verdict core_get(struct core *c, uint32_t id, struct rule *out)
{
	const struct rec *x;

	lock_settled(c);
	x = rec_by_id(c, id);
	if (x) {
		rec_get(x, out);
		fill_counters(c, out);
	}
	pthread_mutex_unlock(&c->lock);
	return x ? V_OK : V_NOT_FOUND;
}

enum verdict core_find_pcp(struct core *c, const struct core_pcp_key *k, struct rule *out)
{
	struct pcp_name n = pcp_name_of(&k->internal, k->proto, k->port, k->peer ? &k->peer_addr : NULL,
					k->peer ? k->peer_port : 0);
	const struct rec *x;

	lock_settled(c);
	x = hmap_get(c->pcp, &n);
	if (x) {
		rec_get(x, out);
		fill_counters(c, out);
	}
	pthread_mutex_unlock(&c->lock);
	return x ? V_OK : V_NOT_FOUND;
}

enum verdict core_find_portmap(struct core *c, struct in_addr ext_addr, uint16_t proto, uint16_t ext_port,
			       const struct in6_addr *remote, uint8_t remote_len, struct rule *out)
{
	struct fw_elem e = { .v4 = true, .proto = proto, .ext_port = ext_port, .ext_addr = ext_addr,
			     .remote_len = remote_len };
	struct elem_key k;
	const void *s;
	const struct rec *x;
	enum verdict v = V_NOT_FOUND;

	if (remote_len && remote)
		e.remote = *remote;
	k = key_of(&e);
	lock_settled(c);
	s = hmap_get(c->elems, &k);
	if (s && (x = rec_by_id(c, slot_first_id(s))) != NULL) {
		rec_get(x, out);
		fill_counters(c, out);
		v = V_OK;
	}
	pthread_mutex_unlock(&c->lock);
	return v;
}

static int by_id(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

size_t core_list(struct core *c, struct rule **out)
{
	size_t n, pos = 0, i = 0;
	const struct rec *x;

	lock_settled(c);
	n = hmap_count(c->rules);
	*out = n ? malloc(n * sizeof(**out)) : NULL;
	if (*out == NULL) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	while ((x = hmap_next(c->rules, &pos)) != NULL) {
		rec_get(x, &(*out)[i]);
		fill_counters(c, &(*out)[i++]);
	}
	pthread_mutex_unlock(&c->lock);
	qsort(*out, i, sizeof(**out), by_id);
	return i;
}

void core_walk(struct core *c, void (*fn)(void *arg, const struct rule *r), void *arg)
{
	const struct rec *x;
	struct rule r;
	size_t pos = 0;

	lock_settled(c);
	while ((x = hmap_next(c->rules, &pos)) != NULL) {
		rec_get(x, &r);
		fn(arg, &r);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---------- reading as a client ---------- */

static bool reader_sees(struct core *c, const struct rule *r, const struct core_reader *rd)
{
	const struct policy_config *pc = &c->p.policy;

	/* the device lookup only when the cheap answer is no */
	return policy_may_see(pc, r, &rd->requester, rd->privileged, rd->own_only, false) ||
	       policy_may_see(pc, r, &rd->requester, rd->privileged, rd->own_only,
			      requester_owns_target(c, r, &rd->requester));
}

enum verdict core_get_as(struct core *c, uint32_t id, const struct core_reader *rd, struct rule *out)
{
	enum verdict v = V_NOT_FOUND;
	const struct rec *x;
	struct rule r;

	lock_settled(c);
	x = rec_by_id(c, id);
	if (x)
		rec_get(x, &r);
	if (x && !reader_sees(c, &r, rd)) {
		v = V_NOT_AUTHORIZED;
	} else if (x) {
		rule_copy(out, &r);
		fill_counters(c, out);
		v = V_OK;
	}
	pthread_mutex_unlock(&c->lock);
	return v;
}

/* Does this reader see every rule (so the n-th it sees is the n-th there is)? */
static bool reader_sees_all(struct core *c, const struct core_reader *rd)
{
	return !rd->own_only && (rd->privileged || !c->p.policy.secure_mode);
}

enum verdict core_portmap_at(struct core *c, const struct core_reader *rd, size_t index, struct rule *out)
{
	enum verdict v = V_NOT_FOUND;
	const struct id_order *o = &c->pm_order;
	const struct rec *x = NULL;
	struct rule r;

	lock_settled(c);
	if (!order_ready(c)) {
		v = V_NO_RESOURCES;
	} else if (reader_sees_all(c, rd)) {
		x = index < o->n ? rec_by_id(c, o->ids[index]) : NULL;
	} else {
		for (size_t i = 0, seen = 0; x == NULL && i < o->n; i++) {
			const struct rec *y = rec_by_id(c, o->ids[i]);

			if (y == NULL)
				continue;
			rec_get(y, &r);
			if (reader_sees(c, &r, rd) && seen++ == index)
				x = y;
		}
	}
	if (x) {
		rec_get(x, out);
		fill_counters(c, out);
		v = V_OK;
	}
	pthread_mutex_unlock(&c->lock);
	return v;
}

size_t core_portmaps_after(struct core *c, const struct core_reader *rd, uint32_t after, struct rule *out,
			   size_t max)
{
	const struct id_order *o = &c->pm_order;
	size_t n = 0;

	lock_settled(c);
	if (after < RULE_ID_MAX && order_ready(c))
		for (size_t i = order_find(o, after + 1); n < max && i < o->n; i++) {
			const struct rec *x = rec_by_id(c, o->ids[i]);

			if (x == NULL)
				continue;
			rec_get(x, &out[n]);
			if (reader_sees(c, &out[n], rd))
				fill_counters(c, &out[n++]);
		}
	pthread_mutex_unlock(&c->lock);
	return n;
}

int64_t core_expire(struct core *c)
{
	int64_t now, next = EXPIRY_NONE, wait;
	struct rec **gone = NULL, *r;
	size_t n = 0, cap = 0, pos = 0;

	core_enter(c);
	now = core_now(c);
	if (c->next_expiry > now)
		goto done;
	/* Only when something is due: one pass collects what expired and the next deadline. */
	while ((r = hmap_next(c->rules, &pos)) != NULL) {
		if (r->expires == 0)
			continue;
		if (r->expires > now) {
			if (r->expires < next)
				next = r->expires;
			continue;
		}
		if (!rules_push(&gone, &n, &cap, r))
			break;
	}
	c->next_expiry = next;
	/* The kernel has (or soon will have) timed these elements out itself; a failure here is not fatal. */
	for (size_t i = 0; i < n; i++)
		remove_rule(c, gone[i], CORE_EV_EXPIRED, true);
	free(gone);
done:
	wait = c->next_expiry == EXPIRY_NONE ? -1 : (c->next_expiry - now) * 1000;
	core_leave(c);
	return wait;
}

int core_reconcile(struct core *c)
{
	int rc;

	lock_settled(c);
	rc = resync_locked(c);
	c->reconciles++;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

struct counter_ctx {
	struct core *c;
};

static void take_counter(void *arg, const struct fw_elem *e)
{
	struct counter_ctx *cc = arg;
	struct elem_key k = key_of(e);
	void *v = hmap_get(cc->c->elems, &k);
	struct elem_slot *s;

	/* an element that never counted anything keeps its slot inline (a CGN's are never read at all) */
	if (v == NULL || (slot_is_inline(v) && e->packets == 0 && e->bytes == 0))
		return;
	if ((s = slot_alloc(cc->c, &k, v)) == NULL)
		return;   /* out of memory: this counter is not kept */
	/* the first read after a start only learns what the kernel counted before it */
	if (cc->c->counters_read && e->packets > s->packets)
		s->rose_at = core_now(cc->c);
	s->packets = e->packets;
	s->bytes = e->bytes;
}

int core_read_counters(struct core *c)
{
	struct counter_ctx cc = { c };
	size_t n;
	int rc;

	lock_settled(c);
	/* Reading counters is a dump of every element, and the kernel's dump of a hashed set walks it
	 * again from the start for every buffer it fills: quadratic. At 2,000,000 elements (a CGN's
	 * million mappings) one read took minutes of kernel time, under our lock. Above the bound the
	 * counters are not read: nobody reads a carrier's per-mapping packet counts, and a household
	 * never has that many rules (max_rules is 65,535 by default). */
	if ((n = hmap_count(c->elems)) > FW_COUNTERS_MAX_ELEMS) {
		if (!c->counters_skipped)
			log_info("firewall: %zu elements: packet counters are no longer read (above %u, the "
				 "kernel's dump of them takes too long)", n, FW_COUNTERS_MAX_ELEMS);
		c->counters_skipped = true;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	c->counters_skipped = false;
	rc = c->p.fw->ops->read_counters(c->p.fw, take_counter, &cc);
	if (rc == 0)
		c->counters_read = true;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

uint32_t core_count(struct core *c, enum rule_kind kind)
{
	uint32_t n;

	if (kind != RULE_PINHOLE && kind != RULE_PORTMAP)
		return 0;
	lock_settled(c);
	n = c->n_kind[kind];
	pthread_mutex_unlock(&c->lock);
	return n;
}

void core_status(struct core *c, struct core_status *st)
{
	const struct rec *r;
	size_t pos = 0;

	memset(st, 0, sizeof(*st));
	lock_settled(c);
	while ((r = hmap_next(c->rules, &pos)) != NULL) {
		if (r->kind == RULE_PINHOLE)
			st->pinholes++;
		else
			st->portmaps++;
		if (r->state == RULE_PENDING)
			st->pending++;
	}
	st->fw_transactions = c->p.fw->ops->transactions(c->p.fw);
	st->reconciles = c->reconciles;
	st->backend = c->p.fw->ops->name;
	pthread_mutex_unlock(&c->lock);
}

void core_policy_get(struct core *c, struct policy_config *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->p.policy;
	pthread_mutex_unlock(&c->lock);
}

void core_set_lan(struct core *c, const struct policy_lan *lan)
{
	pthread_mutex_lock(&c->lock);
	c->lan = *lan;
	pthread_mutex_unlock(&c->lock);
}

void core_set_policy(struct core *c, const struct policy_config *pc)
{
	pthread_mutex_lock(&c->lock);
	c->p.policy = *pc;
	pthread_mutex_unlock(&c->lock);
}

void core_policy_update(struct core *c, void (*fn)(void *arg, struct policy_config *pc), void *arg)
{
	pthread_mutex_lock(&c->lock);
	fn(arg, &c->p.policy);
	pthread_mutex_unlock(&c->lock);
}

/* ---------- devices and prefixes ---------- */

struct step_undo {
	struct rec *x;        /* in the table */
	struct rule saved;    /* as it was before the plan */
};

/* Why r may not open address a, which a plan step gives it, or NULL: the deny lines (for app rules, as
 * an add checks every address), and nothing the kernel would refuse beside another rule's element. */
static const char *selector_refused(struct core *c, const struct rule *r, const struct in6_addr *a)
{
	struct rule one;
	struct fw_elem e[2];

	rule_copy(&one, r);
	if (!policy_address_allowed(&c->p.policy, r, a))
		return "denied by a permission line";
	one.target.use_exact = true;
	one.target.exact = *a;
	one.target.use_stable = false;
	return rule_elems(&one, e) == 1 && elem_clashes(c, &e[0], r->id) ? "clashes with another rule" : NULL;
}

static void plan_count(struct reanchor_plan *pl, enum rule_state st, int delta)
{
	size_t *n = st == RULE_INSTALLED ? &pl->installed : st == RULE_PENDING ? &pl->pending : &pl->removed;

	*n += (size_t)delta;
}

/* A step moves (re-anchoring) or resolves (the device showed its stable address) r's target onto
 * addresses no add has judged: a selector landing on one the policy denies (a deny line protecting the
 * device's stable address, say) or the kernel would refuse is dropped, and said in the step's why; a
 * rule left without a selector is removed. r->target is the step's target; both change together. */
static void vet_step(struct core *c, struct rule *r, struct reanchor_step *st, struct reanchor_plan *pl)
{
	struct rule_target *tg = &r->target;
	const char *no;
	char msg[REANCHOR_WHY_MAX];
	enum rule_state now;

	if (tg->use_stable && tg->stable_resolved && (no = selector_refused(c, r, &tg->stable)) != NULL) {
		tg->use_stable = tg->stable_resolved = false;
		memset(&tg->stable, 0, sizeof(tg->stable));
		snprintf(msg, sizeof(msg), "stable address dropped: %s", no);
		reanchor_step_why(st, msg);
	}
	if (tg->use_exact && (no = selector_refused(c, r, &tg->exact)) != NULL) {
		tg->use_exact = false;
		snprintf(msg, sizeof(msg), "address dropped: %s", no);
		reanchor_step_why(st, msg);
	}
	now = tg->use_exact || (tg->use_stable && tg->stable_resolved) ? RULE_INSTALLED
	      : tg->use_stable ? RULE_PENDING : RULE_GONE;
	st->target = *tg;
	if (now == st->state)
		return;
	plan_count(pl, st->state, -1);
	plan_count(pl, now, +1);
	st->state = now;
}

/* Applies plan steps to the table: the rules' targets change in memory and in the element index; with
 * to_kernel, the difference goes to the firewall in one transaction (on refusal everything is put back
 * and -1 returned). Removed rules leave the table. Durability is the caller's (a snapshot). Steps
 * that vet_step refuses become what it leaves of them (pl changes accordingly). */
static int apply_plan(struct core *c, struct reanchor_plan *pl, bool to_kernel, const char *what)
{
	struct step_undo *u = calloc(pl->n ? pl->n : 1, sizeof(*u));
	struct touched tt = { 0 };
	struct txn t = { 0 };
	struct rule r;
	int rc = -1;

	if (u == NULL)
		goto out;
	for (size_t i = 0; i < pl->n; i++) {
		struct rec *x = rec_by_id(c, pl->steps[i].rule_id);

		if (x == NULL)
			continue;
		u[i].x = x;
		rec_get(x, &u[i].saved);
		detach_rule(c, &tt, x);
		pcp_unindex(c, x);   /* a PCP pinhole's name is its internal address, which moves */
	}
	for (size_t i = 0; i < pl->n; i++) {
		if (u[i].x == NULL)
			continue;
		rule_copy(&r, &u[i].saved);
		r.target = pl->steps[i].target;
		if (pl->steps[i].state != RULE_GONE)
			vet_step(c, &r, &pl->steps[i], pl);
		if (pl->steps[i].state == RULE_GONE)
			r.state = RULE_GONE;
		if (rec_rewrite(c, &u[i].x, &r) < 0) {
			tt.oom = true;
			continue;
		}
		if (r.state == RULE_GONE)
			continue;
		if (attach_rule(c, &tt, u[i].x) < 0 || pcp_index(c, u[i].x) < 0)
			tt.oom = true;
	}
	if (tt.oom)
		goto undo;
	if (to_kernel) {
		touched_txn(c, &tt, &t, core_now(c));
		if (txn_commit(c, &t) < 0)
			goto undo;
	}
	for (size_t i = 0; i < pl->n; i++) {
		struct rec *x = u[i].x;
		char a[ADDR_STRLEN], b[ADDR_STRLEN];
		struct in6_addr before[2], after[2];
		size_t nb, na;
		bool gone;

		if (x == NULL)
			continue;
		rec_get(x, &r);
		gone = r.state == RULE_GONE;
		nb = rule_addresses(&u[i].saved, before);
		na = gone ? 0 : rule_addresses(&r, after);
		/* one line per rule, but a renumbering of thousands must not flood syslog: the first few, then debug */
		(i < 32 ? log_info : log_debug)("%s pinhole id=%u [%s] -> %s%s%s (%s)", what, r.id, nb ? addr_str(&before[0], a) : "pending",
			 gone ? "removed" : na ? "[" : "pending",
			 !gone && na ? addr_str(&after[0], b) : "",
			 !gone && na ? "]" : "", pl->steps[i].why);
		if (gone) {
			notify(c, &r, CORE_EV_EXPIRED);
			table_remove(c, x);
			free(x);
		} else {
			notify(c, &r, CORE_EV_CHANGED);
		}
	}
	rc = 0;
	goto out;
undo:
	/* back to the saved rules, in the index too; the kernel was not touched */
	for (size_t i = pl->n; i-- > 0;) {
		if (u[i].x == NULL)
			continue;
		if (u[i].x->state != RULE_GONE)
			detach_rule(c, NULL, u[i].x);
		pcp_unindex(c, u[i].x);
		if (rec_rewrite(c, &u[i].x, &u[i].saved) < 0)
			log_warnx("core: out of memory restoring rule %u", u[i].x->id);
		attach_rule(c, NULL, u[i].x);
		if (pcp_index(c, u[i].x) < 0)
			log_warnx("core: out of memory naming PCP mapping %u", u[i].x->id);
		u[i].x->state = (uint8_t)u[i].saved.state;
	}
	if (tt.oom)
		errno = ENOMEM;
out:
	txn_free(&t);
	touched_free(&tt);
	free(u);
	return rc;
}

/* The rules as an array of copies (the plan functions are pure and take arrays). Only pinholes are
 * candidates; want filters further (NULL: all pinholes). */
static size_t copy_pinholes(struct core *c, struct rule **out, bool (*want)(const struct rule *r))
{
	size_t n = 0, pos = 0;
	const struct rec *x;

	*out = malloc((c->n_kind[RULE_PINHOLE] + 1) * sizeof(**out));
	if (*out == NULL)
		return 0;
	while ((x = hmap_next(c->rules, &pos)) != NULL) {
		if (x->kind != RULE_PINHOLE)
			continue;
		rec_get(x, &(*out)[n]);
		if (want == NULL || want(&(*out)[n]))
			n++;
	}
	return n;
}

static void fill_result(struct core_reanchor_result *res, const struct reanchor_plan *pl, bool committed)
{
	if (res == NULL)
		return;
	memset(res, 0, sizeof(*res));
	res->installed = pl->installed;
	res->pending = pl->pending;
	res->removed = pl->removed;
	res->committed = committed;
}

static int reanchor_locked(struct core *c, const struct in6_addr *op, uint8_t ol, const struct in6_addr *np,
			   uint8_t nl, bool to_kernel, struct core_reanchor_result *res)
{
	struct device_table *empty = NULL;
	const struct device_table *t = c->p.devices;
	struct reanchor_plan pl;
	struct rule *rules = NULL;
	size_t n;
	int rc;

	if (res)
		memset(res, 0, sizeof(*res));
	if (t == NULL && (t = empty = device_table_new(0, 0)) == NULL)
		return -1;   /* no table: every opaque target is of unknown kind, EUI-64 ones wait for their device */
	n = copy_pinholes(c, &rules, NULL);
	if (rules == NULL) {
		device_table_free(empty);
		return -1;
	}
	rc = reanchor_plan(rules, n, op, ol, np, nl, t, &pl);
	free(rules);
	device_table_free(empty);
	if (rc < 0)
		return -1;
	if (pl.n == 0) {
		fill_result(res, &pl, false);
		reanchor_plan_free(&pl);
		return 0;
	}
	rc = apply_plan(c, &pl, to_kernel, "re-anchor");
	if (rc == 0) {
		char a[ADDR_STRLEN], b[ADDR_STRLEN];

		log_info("prefix %s/%u -> %s/%u: %zu rules re-anchored (%zu installed, %zu pending, %zu removed)",
			 addr_str(op, a), ol, addr_str(np, b), nl, pl.n, pl.installed, pl.pending, pl.removed);
		fill_result(res, &pl, to_kernel);
		/* One atomic file rather than n journal lines (n fsyncs). If we die before it, the store still
		 * holds the old prefix's targets and the start-up comparison re-anchors them again: the plan is
		 * a function of the rules, so the result is the same. */
		if (c->p.store)
			snapshot_locked(c);
	}
	reanchor_plan_free(&pl);
	return rc;
}

int core_reanchor(struct core *c, const struct in6_addr *old_prefix, uint8_t old_len,
		  const struct in6_addr *new_prefix, uint8_t new_len, struct core_reanchor_result *res)
{
	int rc;

	struct core_reanchor_result local;

	if (res == NULL)
		res = &local;
	lock_settled(c);
	rc = reanchor_locked(c, old_prefix, old_len, new_prefix, new_len, true, res);
	pthread_mutex_unlock(&c->lock);
	if (rc == 0 && c->p.on_reanchor)
		c->p.on_reanchor(c->p.change_arg, old_prefix, old_len, new_prefix, new_len, res);
	return rc;
}

static bool is_unresolved(const struct rule *r)
{
	return r->target.use_stable && !r->target.stable_resolved && r->target.has_mac;
}

int core_resolve_pending(struct core *c, struct core_reanchor_result *res)
{
	struct reanchor_plan pl;
	struct rule *rules = NULL;
	size_t n, pos = 0;
	const struct rec *x;
	struct rule r;
	bool any = false;
	int rc = 0;

	if (res)
		memset(res, 0, sizeof(*res));
	/* a batch: the resolved rules' journal lines share one sync (and the snapshot check) at its end */
	core_enter(c);
	/* device events are frequent: look before copying anything (is_unresolved, from the flags) */
	while (!any && (x = hmap_next(c->rules, &pos)) != NULL)
		any = x->kind == RULE_PINHOLE &&
		      (x->has & (REC_USE_STABLE | REC_STABLE_RESOLVED | REC_HAS_MAC)) == (REC_USE_STABLE | REC_HAS_MAC);
	if (!any || c->p.devices == NULL)
		goto out;
	n = copy_pinholes(c, &rules, is_unresolved);
	if (rules == NULL || reanchor_resolve(rules, n, c->p.devices, &pl) < 0) {
		rc = -1;
		goto out;
	}
	if (pl.n) {
		rc = apply_plan(c, &pl, true, "resolve");
		if (rc == 0) {
			fill_result(res, &pl, true);
			for (size_t i = 0; i < pl.n; i++) {
				const struct rec *nx = rec_by_id(c, pl.steps[i].rule_id);

				if (nx) {
					rec_get(nx, &r);
					persist_put(c, &r);
				} else
					persist_del(c, pl.steps[i].rule_id);   /* vet_step removed it */
			}
		}
	}
	reanchor_plan_free(&pl);
out:
	free(rules);
	core_leave(c);
	return rc;
}

int core_with_devices(struct core *c, int (*fn)(void *arg, struct device_table *t), void *arg)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (c->p.devices)
		rc = fn(arg, c->p.devices);
	if (rc != 0)
		pthread_cond_broadcast(&c->devices_changed);   /* core_add_wait may be waiting for an address */
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void core_set_start_reanchor(struct core *c, const struct in6_addr *old_prefix, uint8_t old_len,
			     const struct in6_addr *new_prefix, uint8_t new_len)
{
	pthread_mutex_lock(&c->lock);
	c->start_reanchor = true;
	c->sr_old = *old_prefix;
	c->sr_old_len = old_len;
	c->sr_new = *new_prefix;
	c->sr_new_len = new_len;
	pthread_mutex_unlock(&c->lock);
}

int core_meta_get(struct core *c, const char *key, char *buf, size_t len)
{
	int rc = -1;

	lock_settled(c);
	if (c->p.store)
		rc = store_meta_get(c->p.store, key, buf, len);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int core_meta_set(struct core *c, const char *key, const char *value)
{
	int rc = -1;

	lock_settled(c);
	if (c->p.store)
		rc = store_meta_set(c->p.store, key, value);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int64_t core_last_packet(struct core *c, uint32_t id)
{
	struct fw_elem e[2];
	const struct rec *x;
	struct rule r;
	int64_t last = 0;

	lock_settled(c);
	if ((x = rec_by_id(c, id))) {
		size_t n;

		rec_get(x, &r);
		n = rule_elems(&r, e);

		for (size_t i = 0; i < n; i++) {
			struct elem_key k = key_of(&e[i]);
			const struct elem_slot *s = hmap_get(c->elems, &k);

			if (s && !slot_is_inline(s) && s->rose_at > last)
				last = s->rose_at;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return last;
}

struct give_find {
	const uint8_t *mac;
	enum rule_kind kind;
	struct in6_addr subnet;   /* pinhole: the /64 the rule opens in */
	bool found;
	struct in6_addr addr;
};

/* Under the core's lock: the address of the device that receives the port. A port mapping goes to
 * its IPv4 address; a pinhole to its stable address in the rule's /64, else its EUI-64 or stable
 * global one anywhere (never a temporary address: it would be gone within a day). */
static int give_find_locked(void *arg, struct device_table *t)
{
	struct give_find *g = arg;
	const struct device *d = device_find(t, g->mac);

	if (!d)
		return 0;
	if (g->kind == RULE_PINHOLE && device_stable_address(t, g->mac, &g->subnet, 64, &g->addr)) {
		g->found = true;
		return 1;
	}
	for (size_t i = 0; i < d->naddrs && !g->found; i++) {
		const struct device_addr *da = &d->addrs[i];
		bool fits = g->kind == RULE_PORTMAP ? da->kind == ADDR_KIND_IPV4 :
			    (da->kind == ADDR_KIND_EUI64 || da->kind == ADDR_KIND_STABLE);

		if (fits && da->neigh != NEIGH_FAILED && da->neigh != NEIGH_ABSENT) {
			g->addr = da->addr;
			g->found = true;
		}
	}
	return 1;
}

enum verdict core_give(struct core *c, uint32_t id, const uint8_t mac[6], struct rule *out)
{
	struct core_add_req req;
	struct give_find g = { .mac = mac };
	struct rule old;
	enum verdict v;
	int64_t now = core_now(c);
	int rc;

	if ((v = core_get(c, id, &old)) != V_OK)
		return v;
	if (old.kind != RULE_PORTMAP && old.kind != RULE_PINHOLE)
		return V_INVALID;
	g.kind = old.kind;
	if (old.target.use_stable)
		g.subnet = old.target.subnet;
	else if (old.target.use_exact) {
		g.subnet = old.target.exact;
		addr_mask(&g.subnet, 64);
	}
	rc = core_with_devices(c, give_find_locked, &g);
	if (rc == 0 && !c->p.devices)
		return V_DISABLED;
	if (rc <= 0 || !g.found)
		return V_BAD_TARGET;
	if (old.target.has_mac && memcmp(old.target.mac, mac, 6) == 0) {
		if (out)
			*out = old;
		return V_OK;   /* it holds the port already */
	}
	memset(&req, 0, sizeof(req));
	req.rule = old;
	req.rule.id = 0;
	memset(&req.rule.target, 0, sizeof(req.rule.target));
	req.rule.target.has_mac = true;
	memcpy(req.rule.target.mac, mac, 6);
	req.rule.target.use_exact = true;
	req.rule.target.exact = g.addr;
	req.rule.target.exact_kind = old.kind == RULE_PORTMAP ? ADDR_KIND_IPV4 : ADDR_KIND_UNKNOWN;
	/* the household decided: its rule now, for the time the old one had left */
	req.rule.origin = ORIGIN_WEB;
	req.rule.owner = g.addr;
	req.rule.has_owner_mac = true;
	memcpy(req.rule.owner_mac, mac, 6);
	req.rule.has_nonce = false;
	req.rule.lease = old.expires == 0 ? 0 : (uint32_t)(old.expires > now + 1 ? old.expires - now : 1);
	req.rule.packets = req.rule.bytes = 0;
	req.privileged = true;
	req.exact_lease = true;
	req.asked = true;
	/* the port is free for the other device only once the old holder lost it; if the new rule is
	 * refused, the old one comes back as it was */
	if ((v = core_delete(c, id, NULL, true)) != V_OK)
		return v;
	if ((v = core_add(c, &req, out)) != V_OK) {
		struct core_add_req back = { .rule = old, .privileged = true, .exact_lease = true, .asked = true };

		back.rule.lease = req.rule.lease;
		if (core_add(c, &back, NULL) != V_OK)
			log_warnx("give: the port of rule %u was neither given nor given back", id);
	}
	return v;
}
