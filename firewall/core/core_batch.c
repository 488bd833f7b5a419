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

/* Room for one more change, asked before anything is changed so that recording it cannot fail. */
bool batch_reserve(struct core *c)
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
struct batch_op *batch_push(struct core *c, enum op_kind kind, struct rec *x, enum core_event ev)
{
	struct batch_op *op = &c->b.ops[c->b.n_ops++];

	op->kind = kind;
	op->ev = ev;
	op->keep = false;
	op->x = x;
	rec_get(x, &op->saved);
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
	*xp = nx;
}

/* Rewrites *xp, which is in the table but neither in the element index nor in the PCP index, as r
 * (moving it when r needs more room). -1 when out of memory (nothing changed). */
int rec_rewrite(struct core *c, struct rec **xp, const struct rule *r)
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
int rule_set(struct core *c, struct rec **xp, const struct rule *next, struct touched *tt)
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
void lock_settled(struct core *c)
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
void core_enter_as(struct core *c, bool join_ok)
{
	if (join_ok)
		lock_counted(c);
	else
		lock_settled(c);
	batch_open(c);
}

void core_enter(struct core *c)
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

bool core_leave(struct core *c)
{
	return core_leave_as(c, false);
}

/* The verdict of a request once its group ended: one the group could not commit is NO_RESOURCES. */
enum verdict request_leave_verdict(struct core *c, enum verdict v)
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
