/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core's batches and lock: group commit across threads (see core_priv.h). */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firewall/core/core.h"
#include "firewall/core/core_priv.h"
#include "firewall/core/reanchor.h"
#include "firewall/lib/addr.h"
#include "firewall/lib/hmap.h"
#include "firewall/lib/log.h"

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

/* Room for one more change, and for its thread to wait as a member of the group, asked before anything
 * is changed so that recording it (and waiting for it) cannot fail. */
bool core_batch_reserve(struct core *c)
{
	struct batch *b = &c->b;
	size_t ncap = b->cap_ops ? b->cap_ops * 2 : 16;
	struct batch_op *p;

	if (b->n_members == b->cap_members) {
		size_t mcap = b->cap_members ? b->cap_members * 2 : 16;
		struct group_member **m = realloc(b->members, mcap * sizeof(*m));

		if (m == NULL)
			return false;
		b->members = m;
		b->cap_members = mcap;
	}
	if (b->n_ops < b->cap_ops)
		return true;
	p = realloc(b->ops, ncap * sizeof(*p));
	if (p == NULL)
		return false;
	b->ops = p;
	b->cap_ops = ncap;
	return true;
}

/* Records a change about to be made to r (after core_batch_reserve); the caller fills note once made. */
struct batch_op *core_batch_push(struct core *c, enum op_kind kind, struct rec *x, enum core_event ev)
{
	struct batch_op *op = &c->b.ops[c->b.n_ops++];

	op->kind = kind;
	op->ev = ev;
	op->keep = false;
	op->x = x;
	core_rec_get(x, &op->saved);
	return op;
}

/* Puts nx, recording the same rule id as *xp, in *xp's place: in the table, and in the batch's records
 * (the element index finds rules by id). The caller keeps the PCP index right. */
static void rec_move(struct core *c, struct rec **xp, struct rec *nx)
{
	struct rec *x = *xp;

	(void)hmap_put(c->rules, &nx->id, nx);   /* the id is there: a replacement, which cannot fail */
	for (size_t i = 0; i < c->b.n_ops; i++)
		if (c->b.ops[i].x == x)
			c->b.ops[i].x = nx;
	for (size_t i = 0; i < c->f.n_ops; i++)   /* the group in flight may still have to undo it */
		if (c->f.ops[i].x == x)
			c->f.ops[i].x = nx;
	*xp = nx;
}

/* Rewrites *xp, which is in the table but neither in the element index nor in the PCP index, as r
 * (moving it when r needs more room). -1 when out of memory (nothing changed). */
int core_rec_rewrite(struct core *c, struct rec **xp, const struct rule *r)
{
	struct rec *x = *xp, *nx;

	if (core_rec_fits(x, r)) {
		core_rec_set(x, r);
		return 0;
	}
	if ((nx = core_rec_new(r)) == NULL)
		return -1;
	rec_move(c, xp, nx);
	free(x);
	return 0;
}

/* Makes the table's rule *xp become next, in the element index too (tt: noting the kernel elements).
 * A record without room for next moves: *xp, the table and the batch's records then point at the new
 * place. -1 when out of memory (nothing changed if that was the move). */
int core_rule_set(struct core *c, struct rec **xp, const struct rule *next, struct touched *tt)
{
	struct rec *x = *xp, *nx = NULL;
	struct rule cur;
	struct pcp_name was = { .zero = 0 }, now = { .zero = 0 };
	bool moved, held, named = core_pcp_named(next), same;

	core_rec_get(x, &cur);
	moved = core_rule_moves(&cur, next);
	held = core_pcp_holds(c, x, &cur, &was);
	if (!core_rec_fits(x, next) && (nx = malloc(core_rec_size(next))) == NULL)
		return -1;
	if (named)
		now = core_pcp_name_of_rule(next);
	same = held && named && memcmp(&was, &now, sizeof(was)) == 0;
	if (held && !same)
		hmap_del(c->pcp, &was);   /* while x still has the name the slot is found by */
	core_companion_unindex(c, x, &cur);   /* likewise */
	if (moved)
		core_detach_rule(c, tt, x);
	else
		core_touch_rule(c, tt, &cur);   /* the same elements, with a new timeout */
	core_owner_adjust(c, &cur, -1);
	if (nx) {
		core_rec_set(nx, next);
		rec_move(c, xp, nx);
		if (same)
			(void)hmap_put(c->pcp, &now, nx);  /* likewise a replacement; x is still readable for the compare */
		free(x);
		x = nx;
	} else {
		core_rec_set(x, next);   /* in place: a name it kept is still its key */
	}
	core_owner_adjust(c, next, +1);
	if (named && !same && hmap_put(c->pcp, &now, x) < 0)
		log_warnx("core: out of memory naming PCP mapping %u", x->id);
	if (core_companion_index(c, x, next) < 0)
		log_warnx("core: out of memory indexing the SNAT of port mapping %u", x->id);
	return moved ? core_attach_rule(c, tt, x) : 0;
}

static void op_undo(struct core *c, struct batch_op *op)
{
	struct rec *x = op->x;

	switch (op->kind) {
	case OP_INSERTED:
		core_detach_rule(c, NULL, x);
		core_table_remove(c, x);
		free(x);
		break;
	case OP_REPLACED:
		if (core_rule_set(c, &x, &op->saved, NULL) < 0)
			log_warnx("core: out of memory restoring rule %u", x->id);
		break;
	case OP_REMOVED:
		if (core_table_insert(c, x) < 0 || core_attach_rule(c, NULL, x) < 0)
			log_warnx("core: out of memory restoring rule %u", x->id);
		break;
	}
}

/* Undoes ops[0..n) newest first, but those kept (expiry), and tells on_change what stands: the kept
 * ones, or all of them when ok. Frees what left the table. */
static void ops_end(struct core *c, struct batch_op *ops, size_t n, bool ok)
{
	if (!ok)
		for (size_t i = n; i-- > 0;)
			if (!ops[i].keep)
				op_undo(c, &ops[i]);
	for (size_t i = 0; i < n; i++)
		if (ok || ops[i].keep) {
			core_notify(c, &ops[i].note, ops[i].ev);
			if (ops[i].kind == OP_REMOVED)
				free(ops[i].x);
		}
}

/* ---------- the lock ---------- */

/* The core's lock, counting how often its holder holds it: only a thread that holds it once may wait
 * on a condition with it (a recursive mutex held twice would stay locked through the wait). */
void core_lock(struct core *c)
{
	pthread_mutex_lock(&c->lock);
	c->holds++;
}

void core_unlock(struct core *c)
{
	c->holds--;
	pthread_mutex_unlock(&c->lock);
}

static void lock_wait(struct core *c, pthread_cond_t *cv)
{
	unsigned held = c->holds;

	c->holds = 0;   /* others take the lock while this thread waits */
	pthread_cond_wait(cv, &c->lock);
	c->holds = held;
}

int core_cond_timedwait(struct core *c, pthread_cond_t *cv, const struct timespec *until)
{
	unsigned held = c->holds;
	int rc;

	c->holds = 0;
	rc = pthread_cond_timedwait(cv, &c->lock, until);
	c->holds = held;
	return rc;
}

static bool others_waiting(struct core *c)
{
	return __atomic_load_n(&c->entering, __ATOMIC_ACQUIRE) > 0;
}

/* A thread counted in c->entering is about to take the lock: a closing request leaves its group open
 * for it to join (or commit) instead of committing it alone. */
static void count_in(struct core *c)
{
	__atomic_add_fetch(&c->entering, 1, __ATOMIC_ACQ_REL);
}

static void count_out(struct core *c)
{
	__atomic_sub_fetch(&c->entering, 1, __ATOMIC_ACQ_REL);
}

/* Takes the lock as one of the threads counted in c->entering. */
static void lock_counted(struct core *c)
{
	count_in(c);
	core_lock(c);
	count_out(c);
}

/* ---------- group commit ---------- */

static void wake_members(struct core *c, struct group_member **m, size_t n, bool ok)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&c->members_mu);
	for (size_t i = 0; i < n; i++) {
		m[i]->ok = ok;
		m[i]->done = true;
		pthread_cond_signal(&m[i]->wake);   /* under members_mu: the member may return at once */
	}
	pthread_mutex_unlock(&c->members_mu);
}

/* The group being built takes flight (lock held, no flight): its transaction is built and its journal
 * lines written, and the batch starts empty for the next group. false: the group cannot commit. */
static bool take_flight(struct core *c, struct txn *t)
{
	struct batch *b = &c->b;
	struct flight *f = &c->f;
	struct batch_op *ops = f->ops;
	struct group_member **members = f->members;
	size_t cap_ops = f->cap_ops, cap_members = f->cap_members;
	bool ok = !b->broken;

	core_touched_txn(c, &b->tt, t, core_now(c));
	core_touched_free(&b->tt);
	if (ok && c->p.store && store_write(c->p.store) < 0) {
		log_warn("store: cannot write the journal");
		ok = false;
	}
	f->busy = true;
	f->mark = b->mark;
	f->ops = b->ops;
	f->n_ops = b->n_ops;
	f->cap_ops = b->cap_ops;
	f->members = b->members;
	f->n_members = b->n_members;
	f->cap_members = b->cap_members;
	b->ops = ops;
	b->cap_ops = cap_ops;
	b->members = members;
	b->cap_members = cap_members;
	b->n_ops = b->n_members = 0;
	b->open = b->broken = false;
	b->seq++;
	return ok;
}

/* The flight's I/O: the journal made durable, then the transaction. Needs no lock (one flight at a time;
 * the store's descriptor and the firewall are touched by nothing else while it flies). */
static bool fly(struct core *c, struct txn *t)
{
	if (c->p.store && store_datasync(c->p.store) < 0) {
		log_warn("store: cannot make the journal durable");
		return false;
	}
	return core_txn_commit(c, t) == 0;
}

/* Undoes the group being built (lock held): its members hear it failed. */
static void group_undo(struct core *c)
{
	struct batch *b = &c->b;

	ops_end(c, b->ops, b->n_ops, false);
	core_touched_free(&b->tt);
	wake_members(c, b->members, b->n_members, false);
	b->n_ops = b->n_members = 0;
	b->open = b->broken = false;
	b->seq++;
}

/* Ends the flight (lock held): its members hear ok. A refused flight is undone, and with it the group
 * built on top of it meanwhile, newest change first, out of the journal too. */
static void land(struct core *c, bool ok)
{
	struct flight *f = &c->f;

	f->busy = false;
	if (!ok)
		group_undo(c);
	ops_end(c, f->ops, f->n_ops, ok);
	if (!ok && c->p.store && store_rewind(c->p.store, &f->mark) < 0)
		log_warn("store: cannot cut a refused batch out of the journal");
	wake_members(c, f->members, f->n_members, ok);
	f->n_ops = f->n_members = 0;
	pthread_cond_broadcast(&c->flight_done);
}

/* Commits the group being built: fills the flight, flies it, lands it. released: the lock is let go
 * during the flight (the caller holds it once); otherwise everyone waits, as a reader must. Returns
 * false if the group was undone. Only with no flight: the group being built is the caller's own
 * (waiting for a flight to land would let others fly or undo it meanwhile). */
static bool group_commit(struct core *c, bool released)
{
	struct txn t = { 0 };
	bool ok;

	if (c->f.busy) {
		/* every caller is a settled thread or a closer that found no flight; one that is neither
		 * would overwrite the flight: refuse its group loudly instead */
		log_warnx("core: a group was committed while another was in flight (a bug): refused");
		if (c->p.store)   /* its lines are only queued: the mark is where the journal stands */
			(void)store_rewind(c->p.store, &c->b.mark);
		group_undo(c);
		return false;
	}
	ok = take_flight(c, &t);
	if (ok && released) {
		core_unlock(c);
		ok = fly(c, &t);
		lock_counted(c);   /* counted: a thread closing meanwhile leaves its group to the next one in */
	} else if (ok) {
		ok = fly(c, &t);
	}
	core_txn_free(&t);
	land(c, ok);
	return ok;
}

/* After a flight landed (lock held once): the group built meanwhile needs someone to fly it. A thread
 * waiting for the lock will (its request joins the group and the last one in commits it); otherwise
 * the group's first member is asked to. A snapshot that is due commits that group first (a snapshot
 * holds only committed rules). */
static void after_landing(struct core *c)
{
	struct batch *b = &c->b;

	if (c->f.busy || b->depth > 0)
		return;
	if (b->open && core_snapshot_due(c))
		group_commit(c, false);
	if (!b->open) {
		core_maybe_snapshot(c);
		return;
	}
	if (others_waiting(c))
		return;
	if (b->n_members == 0) {   /* nobody waits for it (cannot happen: changes come with members) */
		group_commit(c, false);
		return;
	}
	pthread_mutex_lock(&c->members_mu);
	b->members[0]->lead = true;
	pthread_cond_signal(&b->members[0]->wake);
	pthread_mutex_unlock(&c->members_mu);
}

/* The lock, for anything but a request joining a group: the flight landed and an open group committed
 * first. (A thread already holding the lock cannot wait: it reads as it is, as it did its own batch.) */
void core_lock_settled(struct core *c)
{
	lock_counted(c);
	if (c->b.depth > 0)
		return;
	if (c->holds == 1 && c->f.busy) {
		/* counted while it waits: the landing leaves the group built meanwhile to this thread */
		count_in(c);
		while (c->f.busy)
			lock_wait(c, &c->flight_done);
		count_out(c);
	}
	if (c->b.open && !c->f.busy) {
		group_commit(c, false);
		after_landing(c);
	}
}

enum close_result { CLOSED_OK, CLOSED_UNDONE, LEFT_OPEN, DEFERRED };

/* The caller's thread waits for the group as *me (room was made by core_batch_reserve, before its change). */
static void enlist(struct core *c, struct group_member *me)
{
	struct batch *b = &c->b;

	pthread_cond_init(&me->wake, NULL);
	me->group = b->seq;
	me->done = me->ok = me->lead = false;
	b->members[b->n_members++] = me;
}

/* Closes one level. The outermost commits the batch, unless join_ok and another thread is waiting for
 * the lock or a group is in flight: then the batch stays open as a group, and the caller, if it changed
 * anything, waits for the group as *me. A request that commits lets the lock go while its group flies. */
static enum close_result batch_close(struct core *c, bool join_ok, struct group_member *me)
{
	struct batch *b = &c->b;
	bool changed, ok;

	if (--b->depth > 0)
		return CLOSED_OK;
	changed = b->n_ops > b->mine_from;
	/* (a request changes rules only through ops; other paths may have queued journal lines of their
	 * own, so they always end in a commit) */
	if (join_ok && b->n_ops == 0 && !b->broken) {
		b->open = false;
		return CLOSED_OK;
	}
	/* With a group in flight this one cannot commit yet: it waits however large it is (it holds one
	 * change per waiting thread; explicit batches never join). */
	if (join_ok && (c->f.busy || (others_waiting(c) && b->n_ops < GROUP_MAX_OPS))) {
		if (!changed)
			return LEFT_OPEN;   /* the answer does not depend on the group; its members see it committed */
		enlist(c, me);
		return DEFERRED;
	}
	ok = group_commit(c, join_ok && c->holds == 1);
	after_landing(c);
	return ok ? CLOSED_OK : CLOSED_UNDONE;
}

/* A member's wait for its group (without the core's lock). Asked to lead, it flies its group, unless
 * someone else already has. */
static bool member_wait(struct core *c, struct group_member *me)
{
	bool done = false, ok = false;

	for (;;) {
		pthread_mutex_lock(&c->members_mu);
		while (!me->done && !me->lead)
			pthread_cond_wait(&me->wake, &c->members_mu);
		done = me->done;
		ok = me->ok;
		me->lead = false;
		pthread_mutex_unlock(&c->members_mu);
		if (done)
			break;
		lock_counted(c);
		if (c->b.seq == me->group && !c->f.busy && c->b.depth == 0) {
			group_commit(c, c->holds == 1);
			after_landing(c);
		}
		core_unlock(c);
	}
	pthread_cond_destroy(&me->wake);
	return ok;
}

/* Every entry point that changes rules runs as (part of) a batch. A request (join_ok) may join the
 * group other threads left open; anything else commits that group first. */
void core_enter_as(struct core *c, bool join_ok)
{
	if (join_ok)
		lock_counted(c);
	else
		core_lock_settled(c);
	batch_open(c);
}

void core_enter(struct core *c)
{
	core_enter_as(c, false);
}

static bool core_leave_as(struct core *c, bool join_ok)
{
	struct group_member me;
	enum close_result r = batch_close(c, join_ok, &me);

	core_unlock(c);
	if (r == DEFERRED)
		return member_wait(c, &me);
	return r != CLOSED_UNDONE;
}

bool core_leave(struct core *c)
{
	return core_leave_as(c, false);
}

/* The verdict of a request once its group ended: one the group could not commit is NO_RESOURCES. */
enum verdict core_request_leave_verdict(struct core *c, enum verdict v)
{
	return core_leave_as(c, true) || v != V_OK ? v : V_NO_RESOURCES;
}

void core_batch_begin(struct core *c)
{
	/* An explicit batch is a group of its own, committed at its end: it starts once the flight landed
	 * and an open group is committed, and holds the lock throughout, so no one flies or undoes it. */
	core_enter(c);
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

	core_lock(c);   /* held already by the batch's owner (recursive) */
	n = c->b.depth ? c->b.n_ops : 0;
	core_unlock(c);
	return n;
}

void core_groups(struct core *c, size_t *building, size_t *flying)
{
	core_lock(c);
	*building = c->b.n_ops;
	*flying = c->f.busy ? c->f.n_ops : 0;
	core_unlock(c);
}
