/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the core's files share (private to them: front ends include core.h).
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
 * core_refresh, core_delete) that ends its batch while another thread is waiting for the lock, or while
 * the previous group is still being committed, leaves the batch open as a group instead and waits
 * (without the lock) until the group is committed; the next thread joins the group, and the last one
 * in, finding nobody waiting and no commit under way, commits all of it. A thread answers only after
 * its group is durable and in the kernel, as before.
 *
 * Pipelined: a group's journal lines are written and its transaction built under the lock (the group
 * "takes flight"), then the lock is released while the journal syncs and the kernel commits, so the next
 * group is built meanwhile; one group flies at a time, in order. When the flight ends, the thread that
 * flew it asks one member of the next group to fly that one (no one else may be coming to do it). A
 * refused flight is undone with the group built on top of it (newest change first): the members of
 * both answer NO_RESOURCES. Everything else that takes the lock (readers, expiry, re-anchoring, the
 * store) first waits for the flight and commits an open group, so nothing but a group's own members
 * ever sees a change that is not yet committed. */
#ifndef IGDD_CORE_PRIV_H
#define IGDD_CORE_PRIV_H

#include <pthread.h>
#include <time.h>

#include "firewall/core/core.h"
#include "firewall/core/store.h"
#include "firewall/lib/log.h"
#include "firewall/nft/fw.h"

struct hmap;

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
 * elements (core_rule_elems) it is: the element itself, and so its key, is rebuilt from the first of them
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

/* A thread whose change waits in a group (on its own stack). Under core.members_mu: the thread that
 * ends the group's flight sets done and ok; lead asks the member to fly its group itself. */
struct group_member {
	pthread_cond_t wake;
	uint64_t group;           /* batch.seq of the group it joined */
	bool done, ok, lead;
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
	uint64_t seq;             /* groups that took flight so far: the number of the one being built */
};

/* The group being synced and committed while the lock is free (see "Pipelined" above). Its arrays
 * trade places with the batch's when a group takes flight, so neither is reallocated per group. */
struct flight {
	bool busy;                /* a group is in flight: nothing else may write the journal or commit */
	struct batch_op *ops;
	size_t n_ops, cap_ops;
	struct group_member **members;
	size_t n_members, cap_members;
	struct store_mark mark;   /* the journal before the group */
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
	pthread_mutex_t devices_mu;       /* core_set_device's, taken before lock: one change of the
					   * household's device entries at a time (core_devices.c) */
	unsigned holds;                   /* times the thread holding lock holds it (core_lock) */
	pthread_cond_t flight_done;       /* with lock: the flight ended */
	pthread_mutex_t members_mu;       /* group members' waits (struct group_member) */
	pthread_mutex_t counters_mu;      /* one counter read at a time; taken before lock */
	unsigned entering;                /* threads waiting for the lock (atomic: counted before taking it) */
	struct batch b;
	struct flight f;
	struct core_params p;
	struct policy_lan lan;     /* the LAN as rtnetlink last reported it (core_set_lan) */
	struct hmap *rules;        /* uint32 id -> struct rule * */
	struct hmap *elems;        /* struct elem_key -> a slot (see struct slot_holder) */
	struct hmap *clash;        /* clash scope -> struct clash_group * (remote-filtered elements) */
	struct id_order pm_order;  /* port mapping ids, ascending */
	struct log_limit commit_log;  /* a refused transaction is logged at most so often */
	struct hmap *owners;       /* struct in6_addr -> (uintptr_t) number of rules owned */
	struct hmap *pcp;          /* struct pcp_name -> struct rule * (PCP and NAT-PMP mappings by name) */
	struct hmap *companions;   /* struct pcp_name -> struct rule *: port mappings with an SNAT companion
				    * not named so in pcp (the operator's), by the companion's key */
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

/* A struct rule is ~440 bytes, most of them zero in most rules (a CGN mapping: an IPv4 target and
 * owner, a nonce, no MAC, no remote filter, no stable selector, rarely a description). The table keeps
 * each rule as a record instead: the fields every rule has, then only the parts this one has, IPv4
 * addresses (v4-mapped) in 4 bytes, the owner not at all when it is the target, the description only as
 * long as it is. A part is kept whenever any of its bytes is not zero, so a record gives back exactly
 * the rule it was made from (its counters aside: those live with the kernel elements). Readers get
 * whole struct rule copies (core_rec_get); the packing is nobody's business but the table's. */
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
/* core_pcp_key packed for the index, which derives it from the rule it holds (hmap_new_derived): a
 * slot costs its value and a state byte, whatever the key's length. */
struct pcp_name {
	uint8_t internal[16];
	uint8_t peer[16];
	uint16_t proto, port, peer_port;
	uint8_t is_peer, zero;
};

/* ---------- shared between the core's files ---------- */

/* core.c */
int64_t core_now(struct core *c);
int core_snapshot_locked(struct core *c);
bool core_snapshot_due(struct core *c);
void core_maybe_snapshot(struct core *c);
int core_persist_put(struct core *c, const struct rule *r);
int core_persist_del(struct core *c, uint32_t id);
void core_notify(struct core *c, const struct rule *r, enum core_event ev);

/* core_elems.c */
bool core_slot_is_inline(const void *v);
size_t core_slot_holders(const void *v, const struct slot_holder **h, struct slot_holder *one);
void core_slot_free(void *v);
struct elem_key core_key_of(const struct fw_elem *e);
size_t core_rule_elems(const struct rule *r, struct fw_elem out[2]);
void core_txn_free(struct txn *t);
int core_txn_commit(struct core *c, struct txn *t);
void core_touched_free(struct touched *tt);
void core_touch_rule(struct core *c, struct touched *tt, const struct rule *r);
void core_touched_txn(struct core *c, const struct touched *tt, struct txn *t, int64_t now);
struct rec *core_rec_by_id(const struct core *c, uint32_t id);
bool core_slot_elem(const struct core *c, const void *v, struct fw_elem *out);
uint64_t core_slot_timeout_ms(struct core *c, const void *v, int64_t now);
struct elem_slot *core_slot_alloc(struct core *c, const struct elem_key *k, void *v);
bool core_elem_clashes(struct core *c, const struct fw_elem *e, uint32_t self);
bool core_rule_clashes(struct core *c, const struct rule *r, uint32_t self);
int core_attach_rule(struct core *c, struct touched *tt, struct rec *x);
void core_detach_rule(struct core *c, struct touched *tt, const struct rec *x);

/* core_record.c */
size_t core_rec_size(const struct rule *r);
void core_rec_set(struct rec *x, const struct rule *r);
void core_rec_get(const struct rec *x, struct rule *r);
struct rec *core_rec_new(const struct rule *r);
bool core_rec_fits(struct rec *x, const struct rule *next);

/* core_index.c */
struct in6_addr core_owner_key(const struct rule *r);
uint32_t core_owner_count(const struct core *c, const struct in6_addr *key);
void core_owner_adjust(struct core *c, const struct rule *r, int delta);
struct pcp_name core_pcp_name_of(const struct in6_addr *internal, uint16_t proto, uint16_t port,
			    const struct in6_addr *peer, uint16_t peer_port);
bool core_pcp_named(const struct rule *r);
struct pcp_name core_pcp_name_of_rule(const struct rule *r);
bool core_pcp_holds(const struct core *c, const struct rec *x, const struct rule *r, struct pcp_name *n);
void core_pcp_unindex(struct core *c, const struct rec *x);
int core_pcp_index(struct core *c, struct rec *x);
bool core_companion_name(const struct rule *r, struct pcp_name *n);
void core_companion_unindex(struct core *c, const struct rec *x, const struct rule *r);
int core_companion_index(struct core *c, struct rec *x, const struct rule *r);
const struct rec *core_companion_holder(const struct core *c, const struct rule *r, uint32_t self);
size_t core_order_find(const struct id_order *o, uint32_t id);
void core_note_expiry(struct core *c, int64_t expires);
int core_table_insert(struct core *c, struct rec *x);
void core_table_remove(struct core *c, struct rec *x);

/* core_batch.c */
bool core_batch_reserve(struct core *c);
struct batch_op *core_batch_push(struct core *c, enum op_kind kind, struct rec *x, enum core_event ev);
int core_rec_rewrite(struct core *c, struct rec **xp, const struct rule *r);
int core_rule_set(struct core *c, struct rec **xp, const struct rule *next, struct touched *tt);
void core_lock(struct core *c);
void core_unlock(struct core *c);
int core_cond_timedwait(struct core *c, pthread_cond_t *cv, const struct timespec *until);
void core_lock_settled(struct core *c);
void core_enter_as(struct core *c, bool join_ok);
void core_enter(struct core *c);
bool core_leave(struct core *c);
enum verdict core_request_leave_verdict(struct core *c, enum verdict v);

/* core_request.c */
bool core_requester_owns_target(struct core *c, const struct rule *r, const struct in6_addr *requester);
bool core_rule_moves(const struct rule *a, const struct rule *b);
int core_remove_rule(struct core *c, struct rec *x, enum core_event ev, bool keep);
bool core_rules_push(struct rec ***arr, size_t *n, size_t *cap, struct rec *r);

/* core_read.c */
void core_fill_counters(struct core *c, struct rule *r);

/* core_reanchor.c */
int core_reanchor_locked(struct core *c, const struct in6_addr *op, uint8_t ol, const struct in6_addr *np,
		    uint8_t nl, bool to_kernel, struct core_reanchor_result *res);

#endif
