/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core: life cycle (start, resync, stop), durability (journal, snapshots), expiry, counters
 * and the policy. What the core is and how its pieces fit: core_priv.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firewall/core/core.h"
#include "firewall/core/core_priv.h"
#include "firewall/core/store.h"
#include "firewall/lib/hmap.h"
#include "firewall/lib/log.h"
#include "firewall/nft/fw.h"

int64_t core_now(struct core *c)
{
	return c->p.clock ? c->p.clock(c->p.clock_arg) : (int64_t)time(NULL);
}
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

	core_slot_elem(arg, value, &e);
	k = core_key_of(&e);
	memcpy(key, &k, sizeof(k));
}

static void pcp_key(const void *value, void *key)
{
	struct rule r;
	struct pcp_name n;

	core_rec_get(value, &r);
	n = core_pcp_name_of_rule(&r);
	memcpy(key, &n, sizeof(n));
}

static void companion_key(const void *value, void *key)
{
	struct rule r;
	struct pcp_name n;

	core_rec_get(value, &r);
	if (!core_companion_name(&r, &n))
		memset(&n, 0, sizeof(n));   /* never in the index: core_companion_index checks first */
	memcpy(key, &n, sizeof(n));
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
	c->companions = hmap_new_derived(sizeof(struct pcp_name), companion_key);
	c->next_id = 1;
	c->next_expiry = EXPIRY_NONE;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_cond_init(&c->devices_changed, NULL);
	pthread_mutex_init(&c->devices_mu, NULL);
	pthread_cond_init(&c->flight_done, NULL);
	pthread_mutex_init(&c->members_mu, NULL);
	pthread_mutex_init(&c->counters_mu, NULL);
	if (c->rules == NULL || c->elems == NULL || c->owners == NULL || c->clash == NULL || c->pcp == NULL ||
	    c->companions == NULL) {
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
			core_slot_free(v);
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
	hmap_free(c->companions);
	free(c->pm_order.ids);
	free(c->b.ops);
	free(c->b.members);
	free(c->f.ops);
	free(c->f.members);
	core_touched_free(&c->b.tt);
	pthread_cond_destroy(&c->devices_changed);
	pthread_mutex_destroy(&c->devices_mu);
	pthread_cond_destroy(&c->flight_done);
	pthread_mutex_destroy(&c->members_mu);
	pthread_mutex_destroy(&c->counters_mu);
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
	if (core_rec_by_id(c, r->id) != NULL)
		return "id used twice";
	if (r->state == RULE_GONE)
		return "a removed rule";
	/* expiries are lease seconds ahead of a clock: without a lease there is none to have */
	if (r->expires != 0 && r->lease == 0)
		return "an expiry without a lease";
	if (core_rule_clashes(c, r, 0))
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
	x = core_rec_new(&lc->tmp);
	if (x == NULL)
		return -1;
	if (core_table_insert(lc->c, x) < 0) {
		free(x);
		return -1;
	}
	if (core_attach_rule(lc->c, NULL, x) < 0) {
		core_detach_rule(lc->c, NULL, x);
		core_table_remove(lc->c, x);
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
		if (!core_slot_elem(c, v, &arr[*n])) {
			free(arr);
			return NULL;
		}
		arr[(*n)++].timeout_ms = core_slot_timeout_ms(c, v, now);
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

	core_lock_settled(c);
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
	moved = c->start_reanchor && core_reanchor_locked(c, &c->sr_old, c->sr_old_len, &c->sr_new, c->sr_new_len,
						     false, NULL) == 0;
	c->start_reanchor = false;
	/* Only when the disk holds rules the table no longer does: otherwise it says what the table says,
	 * and the journal replayed counts toward the next snapshot (core_maybe_snapshot). A snapshot of a
	 * million rules was seconds of a restart, before the resync. */
	if (c->p.store && (lc.expired || lc.skipped || moved))
		core_snapshot_locked(c);  /* forgets the expired and skipped rules on disk too, and the old prefix */
	if (resync_locked(c) < 0) {
		snprintf(err, errlen, "firewall: %s", c->p.fw->err);
		rc = -1;
	}
out:
	core_unlock(c);
	return rc;
}

/* ---------- durability ---------- */

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
	core_rec_get(x, out);
	if (it->counters)
		core_fill_counters(it->c, out);
	return true;
}

int core_snapshot_locked(struct core *c)
{
	/* the counters as last read, where they are read at all (core_read_counters) */
	struct snap_iter it = { c, 0, hmap_count(c->elems) <= FW_COUNTERS_MAX_ELEMS };
	int rc = store_snapshot_each(c->p.store, snap_next, &it);

	if (rc < 0)
		log_warn("store: snapshot failed");
	return rc;
}

/* A snapshot rewrites every rule: one is due only after at least as many journal lines as rules, so
 * its cost stays O(1) per change however large the table grows. */
bool core_snapshot_due(struct core *c)
{
	size_t due = c->p.snapshot_every > hmap_count(c->rules) ? c->p.snapshot_every : hmap_count(c->rules);

	return c->p.store != NULL && store_journal_lines(c->p.store) >= due;
}

void core_maybe_snapshot(struct core *c)
{
	if (core_snapshot_due(c))
		core_snapshot_locked(c);
}

int core_snapshot(struct core *c)
{
	int rc = 0;

	core_lock_settled(c);
	if (c->p.store)
		rc = core_snapshot_locked(c);
	core_unlock(c);
	return rc;
}

/* Journal lines are queued here and written when the batch takes flight (core_batch.c). */
int core_persist_put(struct core *c, const struct rule *r)
{
	if (c->p.store == NULL)
		return 0;
	if (store_queue_put(c->p.store, r) < 0) {
		log_warn("store: cannot journal rule %u", r->id);
		return -1;
	}
	return 0;
}

int core_persist_del(struct core *c, uint32_t id)
{
	if (c->p.store == NULL)
		return 0;
	if (store_queue_del(c->p.store, id) < 0) {
		log_warn("store: cannot journal deletion of rule %u", id);
		return -1;
	}
	return 0;
}

void core_notify(struct core *c, const struct rule *r, enum core_event ev)
{
	if (c->p.on_change)
		c->p.on_change(c->p.change_arg, r, ev);
}

/* Milliseconds until the next lease is due, -1 when none is; the caller holds the lock. */
static int64_t expiry_wait(const struct core *c, int64_t now)
{
	return c->next_expiry == EXPIRY_NONE ? -1 : (c->next_expiry - now) * 1000;
}

int64_t core_expire(struct core *c)
{
	int64_t now, next = EXPIRY_NONE, wait;
	struct rec **gone = NULL, *r;
	size_t n = 0, cap = 0, pos = 0;

	/* Nothing due (the common case: the loop looks after every burst of changes) is answered without
	 * settling: a batch here would wait for the group in flight and commit the one being built under
	 * the lock, out of the pipeline, once per group. */
	core_lock(c);
	now = core_now(c);
	if (c->next_expiry > now) {
		wait = expiry_wait(c, now);
		core_unlock(c);
		return wait;
	}
	core_unlock(c);
	core_enter(c);
	now = core_now(c);
	if (c->next_expiry > now)
		goto done;   /* a change meanwhile moved it */
	/* Only when something is due: one pass collects what expired and the next deadline. */
	while ((r = hmap_next(c->rules, &pos)) != NULL) {
		if (r->expires == 0)
			continue;
		if (r->expires > now) {
			if (r->expires < next)
				next = r->expires;
			continue;
		}
		if (!core_rules_push(&gone, &n, &cap, r))
			break;
	}
	c->next_expiry = next;
	/* The kernel has (or soon will have) timed these elements out itself; a failure here is not fatal. */
	for (size_t i = 0; i < n; i++)
		core_remove_rule(c, gone[i], CORE_EV_EXPIRED, true);
	free(gone);
done:
	wait = expiry_wait(c, now);
	core_leave(c);
	return wait;
}
int core_reconcile(struct core *c)
{
	int rc;

	core_lock_settled(c);
	rc = resync_locked(c);
	c->reconciles++;
	core_unlock(c);
	return rc;
}
/* The kernel's counters as a dump reported them, kept until the lock is ours again. */
struct counter_read {
	struct fw_elem *e;
	size_t n, cap;
	bool oom;
};

static void keep_counter(void *arg, const struct fw_elem *e)
{
	struct counter_read *cr = arg;

	if (cr->n == cr->cap) {
		size_t ncap = cr->cap ? cr->cap * 2 : 1024;
		struct fw_elem *p = realloc(cr->e, ncap * sizeof(*p));

		if (p == NULL) {
			cr->oom = true;   /* the counters read so far are still applied */
			return;
		}
		cr->e = p;
		cr->cap = ncap;
	}
	cr->e[cr->n++] = *e;
}

static void take_counter(struct core *c, const struct fw_elem *e)
{
	struct elem_key k = core_key_of(e);
	void *v = hmap_get(c->elems, &k);
	struct elem_slot *s;

	/* an element that never counted anything keeps its slot inline (a CGN's are never read at all);
	 * one gone meanwhile (a group committed during the dump) is not there any more */
	if (v == NULL || (core_slot_is_inline(v) && e->packets == 0 && e->bytes == 0))
		return;
	if ((s = core_slot_alloc(c, &k, v)) == NULL)
		return;   /* out of memory: this counter is not kept */
	/* the first read after a start only learns what the kernel counted before it */
	if (c->counters_read && e->packets > s->packets)
		s->rose_at = core_now(c);
	s->packets = e->packets;
	s->bytes = e->bytes;
}

int core_read_counters(struct core *c)
{
	struct counter_read cr = { 0 };
	size_t n;
	int rc;

	core_lock(c);   /* the element count only: no need to wait for a flight */
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
		core_unlock(c);
		return 0;
	}
	c->counters_skipped = false;
	core_unlock(c);
	/* The dump costs the kernel more than linear time (above) and runs on the backend's own socket
	 * without the core's lock, beside the groups being committed: requests do not wait for it.
	 * One read at a time (the loop's timer, the API and SOAP threads may ask together). */
	pthread_mutex_lock(&c->counters_mu);
	rc = c->p.fw->ops->read_counters(c->p.fw, keep_counter, &cr);
	core_lock(c);
	for (size_t i = 0; i < cr.n; i++)
		take_counter(c, &cr.e[i]);
	if (rc == 0)
		c->counters_read = true;
	core_unlock(c);
	pthread_mutex_unlock(&c->counters_mu);
	if (cr.oom)
		log_warnx("firewall: out of memory reading counters: %zu kept, the rest wait for the next read", cr.n);
	free(cr.e);
	return rc;
}
void core_set_lan(struct core *c, const struct policy_lan *lan)
{
	core_lock(c);
	c->lan = *lan;
	core_unlock(c);
}
void core_set_policy(struct core *c, const struct policy_config *pc)
{
	core_lock(c);
	c->p.policy = *pc;
	core_unlock(c);
}
void core_policy_update(struct core *c, void (*fn)(void *arg, struct policy_config *pc), void *arg)
{
	core_lock(c);
	fn(arg, &c->p.policy);
	core_unlock(c);
}
int core_meta_get(struct core *c, const char *key, char *buf, size_t len)
{
	int rc = -1;

	core_lock_settled(c);
	if (c->p.store)
		rc = store_meta_get(c->p.store, key, buf, len);
	core_unlock(c);
	return rc;
}
int core_meta_set(struct core *c, const char *key, const char *value)
{
	int rc = -1;

	core_lock_settled(c);
	if (c->p.store)
		rc = store_meta_set(c->p.store, key, value);
	core_unlock(c);
	return rc;
}
