/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core's devices and prefixes: re-anchoring rules when the delegated prefix changes, resolving
 * pending stable addresses, giving a rule to a device. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/core/core.h"
#include "firewall/core/core_priv.h"
#include "firewall/core/device.h"
#include "firewall/core/policy.h"
#include "firewall/core/reanchor.h"
#include "firewall/core/rule.h"
#include "firewall/lib/addr.h"
#include "firewall/lib/hmap.h"
#include "firewall/lib/log.h"
#include "firewall/nft/fw.h"

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
	return core_rule_elems(&one, e) == 1 && core_elem_clashes(c, &e[0], r->id) ? "clashes with another rule" : NULL;
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
		struct rec *x = core_rec_by_id(c, pl->steps[i].rule_id);

		if (x == NULL)
			continue;
		u[i].x = x;
		core_rec_get(x, &u[i].saved);
		core_detach_rule(c, &tt, x);
		core_pcp_unindex(c, x);   /* a PCP pinhole's name is its internal address, which moves */
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
		if (core_rec_rewrite(c, &u[i].x, &r) < 0) {
			tt.oom = true;
			continue;
		}
		if (r.state == RULE_GONE)
			continue;
		if (core_attach_rule(c, &tt, u[i].x) < 0 || core_pcp_index(c, u[i].x) < 0)
			tt.oom = true;
	}
	if (tt.oom)
		goto undo;
	if (to_kernel) {
		core_touched_txn(c, &tt, &t, core_now(c));
		if (core_txn_commit(c, &t) < 0)
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
		core_rec_get(x, &r);
		gone = r.state == RULE_GONE;
		nb = rule_addresses(&u[i].saved, before);
		na = gone ? 0 : rule_addresses(&r, after);
		/* one line per rule, but a renumbering of thousands must not flood syslog: the first few, then debug */
		(i < 32 ? log_info : log_debug)("%s pinhole id=%u [%s] -> %s%s%s (%s)", what, r.id, nb ? addr_str(&before[0], a) : "pending",
			 gone ? "removed" : na ? "[" : "pending",
			 !gone && na ? addr_str(&after[0], b) : "",
			 !gone && na ? "]" : "", pl->steps[i].why);
		if (gone) {
			core_notify(c, &r, CORE_EV_EXPIRED);
			core_table_remove(c, x);
			free(x);
		} else {
			core_notify(c, &r, CORE_EV_CHANGED);
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
			core_detach_rule(c, NULL, u[i].x);
		core_pcp_unindex(c, u[i].x);
		if (core_rec_rewrite(c, &u[i].x, &u[i].saved) < 0)
			log_warnx("core: out of memory restoring rule %u", u[i].x->id);
		core_attach_rule(c, NULL, u[i].x);
		if (core_pcp_index(c, u[i].x) < 0)
			log_warnx("core: out of memory naming PCP mapping %u", u[i].x->id);
		u[i].x->state = (uint8_t)u[i].saved.state;
	}
	if (tt.oom)
		errno = ENOMEM;
out:
	core_txn_free(&t);
	core_touched_free(&tt);
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
		core_rec_get(x, &(*out)[n]);
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

int core_reanchor_locked(struct core *c, const struct in6_addr *op, uint8_t ol, const struct in6_addr *np,
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
			core_snapshot_locked(c);
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
	core_lock_settled(c);
	rc = core_reanchor_locked(c, old_prefix, old_len, new_prefix, new_len, true, res);
	core_unlock(c);
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
				const struct rec *nx = core_rec_by_id(c, pl.steps[i].rule_id);

				if (nx) {
					core_rec_get(nx, &r);
					core_persist_put(c, &r);
				} else
					core_persist_del(c, pl.steps[i].rule_id);   /* vet_step removed it */
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

	core_lock(c);
	if (c->p.devices)
		rc = fn(arg, c->p.devices);
	if (rc != 0)
		pthread_cond_broadcast(&c->devices_changed);   /* core_add_wait may be waiting for an address */
	core_unlock(c);
	return rc;
}

bool core_has_devices(const struct core *c)
{
	return c->p.devices != NULL;
}

void core_set_start_reanchor(struct core *c, const struct in6_addr *old_prefix, uint8_t old_len,
			     const struct in6_addr *new_prefix, uint8_t new_len)
{
	core_lock(c);
	c->start_reanchor = true;
	c->sr_old = *old_prefix;
	c->sr_old_len = old_len;
	c->sr_new = *new_prefix;
	c->sr_new_len = new_len;
	core_unlock(c);
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
