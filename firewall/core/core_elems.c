/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core's kernel elements: keys, the transaction a batch sends, what a batch touched, the
 * element index (which rules hold each element) and the elements the kernel could refuse side by side. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/core/core.h"
#include "firewall/core/core_priv.h"
#include "firewall/core/rule.h"
#include "firewall/lib/addr.h"
#include "firewall/lib/hmap.h"
#include "firewall/lib/log.h"
#include "firewall/nft/fw.h"

bool core_slot_is_inline(const void *v)
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
size_t core_slot_holders(const void *v, const struct slot_holder **h, struct slot_holder *one)
{
	const struct elem_slot *s = v;

	if (core_slot_is_inline(v)) {
		one->id = (uint32_t)((uintptr_t)v >> 2);
		one->which = (uint32_t)((uintptr_t)v >> 1) & 1;
		*h = one;
		return 1;
	}
	*h = s->h;
	return s->n;
}
void core_slot_free(void *v)
{
	struct elem_slot *s = v;

	if (v == NULL || core_slot_is_inline(v))
		return;
	free(s->h);
	free(s);
}
/* ---------- element keys ---------- */

struct elem_key core_key_of(const struct fw_elem *e)
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
size_t core_rule_elems(const struct rule *r, struct fw_elem out[2])
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

void core_txn_free(struct txn *t)
{
	free(t->del);
	free(t->add);
	memset(t, 0, sizeof(*t));
}

int core_txn_commit(struct core *c, struct txn *t)
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

void core_touched_free(struct touched *tt)
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

/* Before e's element changes: remember it as the kernel has it, the first time only. tt NULL: no one asks. */
static void touch_key(struct core *c, struct touched *tt, const struct fw_elem *e)
{
	struct elem_key k = core_key_of(e);
	void *v;

	if (tt == NULL || (tt->seen && hmap_get(tt->seen, &k)))
		return;
	if (!touched_grow(tt) || hmap_put(tt->seen, &k, (void *)1) < 0) {
		tt->oom = true;
		return;
	}
	v = hmap_get(c->elems, &k);
	if (v == NULL || !core_slot_elem(c, v, &tt->before[tt->n]))
		tt->before[tt->n] = *e;
	tt->existed[tt->n++] = v != NULL;
}

void core_touch_rule(struct core *c, struct touched *tt, const struct rule *r)
{
	struct fw_elem e[2];
	size_t n = core_rule_elems(r, e);

	for (size_t i = 0; i < n; i++)
		touch_key(c, tt, &e[i]);
}

/* Would the kernel keep something of `before` once `now`, an element of the same key, is added in its
 * place? The add replaces the element and puts in now's SNAT companion (fw.h: a port mapping with an
 * external address has one), but a companion is keyed by what the element's key is not (the internal
 * endpoint; for a flow's mapping the flow): before's stays, an orphan, when the internal address or
 * port changed, or the flow-ness (a CGN PEER's rule taken over by the operator's mapping). */
static bool add_leaves_companion(const struct fw_elem *before, const struct fw_elem *now)
{
	return before->v4 && before->ext_addr.s_addr != 0 &&
	       (before->flow != now->flow || before->port != now->port || !addr_equal(&before->addr, &now->addr));
}

/* The transaction for everything touched, per key: an add (new timeout, new data) if a rule still
 * needs the element, after a delete of the element as the kernel had it if the add would leave
 * something of it (add_leaves_companion); a delete if no rule needs it and the kernel held it;
 * nothing otherwise. */
void core_touched_txn(struct core *c, const struct touched *tt, struct txn *t, int64_t now)
{
	for (size_t i = 0; i < tt->n; i++) {
		struct elem_key k = core_key_of(&tt->before[i]);
		const void *v = hmap_get(c->elems, &k);
		struct fw_elem e;

		if (v == NULL) {
			if (tt->existed[i])
				txn_push(t, false, &tt->before[i]);
			continue;
		}
		if (!core_slot_elem(c, v, &e)) {
			t->oom = true;   /* cannot happen; refuse the transaction rather than send a wrong element */
			continue;
		}
		if (tt->existed[i] && add_leaves_companion(&tt->before[i], &e))
			txn_push(t, false, &tt->before[i]);
		e.timeout_ms = core_slot_timeout_ms(c, v, now);
		txn_push(t, true, &e);
	}
	if (tt->oom)
		t->oom = true;
}

/* ---------- the element index ---------- */

struct rec *core_rec_by_id(const struct core *c, uint32_t id)
{
	return hmap_get(c->rules, &id);
}

/* The element an index value stands for, rebuilt from its first rule (counters from the slot). False
 * when that rule is not in the table (never, while the index and the table agree). */
bool core_slot_elem(const struct core *c, const void *v, struct fw_elem *out)
{
	const struct slot_holder *h;
	struct slot_holder one;
	struct fw_elem e[2];
	const struct rec *x;
	struct rule r;

	memset(out, 0, sizeof(*out));
	if (core_slot_holders(v, &h, &one) == 0 || (x = core_rec_by_id(c, h[0].id)) == NULL)
		return false;
	core_rec_get(x, &r);
	if (core_rule_elems(&r, e) <= h[0].which)
		return false;
	*out = e[h[0].which];
	if (!core_slot_is_inline(v)) {
		out->packets = ((const struct elem_slot *)v)->packets;
		out->bytes = ((const struct elem_slot *)v)->bytes;
	}
	return true;
}

/* Kernel timeout of a slot: the latest expiry of the rules holding it; 0 if any never expires. */
uint64_t core_slot_timeout_ms(struct core *c, const void *v, int64_t now)
{
	const struct slot_holder *h;
	struct slot_holder one;
	size_t n = core_slot_holders(v, &h, &one);
	int64_t latest = 0;

	for (size_t i = 0; i < n; i++) {
		const struct rec *x = core_rec_by_id(c, h[i].id);

		if (x == NULL || x->expires == 0)
			return 0;
		if (x->expires > latest)
			latest = x->expires;
	}
	/* Never hand the kernel a timeout of 0 (= no timeout) for a rule that is about to expire. */
	return latest > now ? (uint64_t)(latest - now) * 1000 : 1000;
}

/* The allocated form of the index value at k (made from an inline one: the index then holds it). */
struct elem_slot *core_slot_alloc(struct core *c, const struct elem_key *k, void *v)
{
	const struct slot_holder *h;
	struct slot_holder one;
	struct elem_slot *s;
	size_t n;

	if (!core_slot_is_inline(v))
		return v;
	n = core_slot_holders(v, &h, &one);
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
	struct elem_slot *s = core_slot_alloc(c, k, v);

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

	return core_slot_holders(v, &h, &one) == 1 && h[0].id == id;
}

/* Takes id off a slot that other rules hold too (if it is among them). */
static void slot_remove_rule(void *v, uint32_t id)
{
	struct elem_slot *s = v;

	if (core_slot_is_inline(v))
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
bool core_elem_clashes(struct core *c, const struct fw_elem *e, uint32_t self)
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
		k = core_key_of(&g->elems[i]);
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
bool core_rule_clashes(struct core *c, const struct rule *r, uint32_t self)
{
	struct fw_elem e[2];
	size_t n = core_rule_elems(r, e);

	if (core_companion_holder(c, r, self) != NULL)
		return true;

	for (size_t i = 0; i < n; i++)
		if (core_elem_clashes(c, &e[i], self))
			return true;
	return false;
}

/* Puts a rule's elements into the index (tt: noting them for the kernel), and sets its state. The rule
 * is in the table already: the index rebuilds its elements from it. */
int core_attach_rule(struct core *c, struct touched *tt, struct rec *x)
{
	struct fw_elem e[2];
	struct rule rr, *r = &rr;
	size_t n;

	core_rec_get(x, r);
	n = core_rule_elems(r, e);
	x->state = n ? RULE_INSTALLED : RULE_PENDING;
	for (size_t i = 0; i < n; i++) {
		struct elem_key k = core_key_of(&e[i]);
		void *v = hmap_get(c->elems, &k);

		touch_key(c, tt, &e[i]);
		if (v == NULL) {
			v = slot_new(r->id, (uint32_t)i);
			if (v == NULL || hmap_put(c->elems, &k, v) < 0) {
				core_slot_free(v);
				return -1;
			}
			if (clash_index_add(c, &e[i]) < 0) {
				hmap_del(c->elems, &k);
				core_slot_free(v);
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
void core_detach_rule(struct core *c, struct touched *tt, const struct rec *x)
{
	struct fw_elem e[2];
	struct rule rr, *r = &rr;
	size_t n;

	core_rec_get(x, r);
	n = core_rule_elems(r, e);

	for (size_t i = 0; i < n; i++) {
		struct elem_key k = core_key_of(&e[i]);
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
		core_slot_free(v);
	}
}
