/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core's reads: rules by id, by PCP name, by external port, in id order, as a client may see them. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/core/core.h"
#include "firewall/core/core_priv.h"
#include "firewall/core/policy.h"
#include "firewall/core/rule.h"
#include "firewall/lib/hmap.h"
#include "firewall/nft/fw.h"

/* Counters of a rule: the sum over its elements as last read from the kernel. */
void core_fill_counters(struct core *c, struct rule *r)
{
	struct fw_elem e[2];
	size_t n = core_rule_elems(r, e);

	r->packets = r->bytes = 0;
	for (size_t i = 0; i < n; i++) {
		struct elem_key k = core_key_of(&e[i]);
		const struct elem_slot *s = hmap_get(c->elems, &k);

		if (s && !core_slot_is_inline(s)) {
			r->packets += s->packets;
			r->bytes += s->bytes;
		}
	}
}
enum verdict core_get(struct core *c, uint32_t id, struct rule *out)
{
	const struct rec *x;

	core_lock_settled(c);
	x = core_rec_by_id(c, id);
	if (x) {
		core_rec_get(x, out);
		core_fill_counters(c, out);
	}
	core_unlock(c);
	return x ? V_OK : V_NOT_FOUND;
}
enum verdict core_find_pcp(struct core *c, const struct core_pcp_key *k, struct rule *out)
{
	struct pcp_name n = core_pcp_name_of(&k->internal, k->proto, k->port, k->peer ? &k->peer_addr : NULL,
					k->peer ? k->peer_port : 0);
	const struct rec *x;

	core_lock_settled(c);
	x = hmap_get(c->pcp, &n);
	if (x) {
		core_rec_get(x, out);
		core_fill_counters(c, out);
	}
	core_unlock(c);
	return x ? V_OK : V_NOT_FOUND;
}

static uint32_t slot_first_id(const void *v)
{
	const struct slot_holder *h;
	struct slot_holder one;

	return core_slot_holders(v, &h, &one) ? h[0].id : 0;
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
	k = core_key_of(&e);
	core_lock_settled(c);
	s = hmap_get(c->elems, &k);
	if (s && (x = core_rec_by_id(c, slot_first_id(s))) != NULL) {
		core_rec_get(x, out);
		core_fill_counters(c, out);
		v = V_OK;
	}
	core_unlock(c);
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

	core_lock_settled(c);
	n = hmap_count(c->rules);
	*out = n ? malloc(n * sizeof(**out)) : NULL;
	if (*out == NULL) {
		core_unlock(c);
		return 0;
	}
	while ((x = hmap_next(c->rules, &pos)) != NULL) {
		core_rec_get(x, &(*out)[i]);
		core_fill_counters(c, &(*out)[i++]);
	}
	core_unlock(c);
	qsort(*out, i, sizeof(**out), by_id);
	return i;
}
void core_walk(struct core *c, void (*fn)(void *arg, const struct rule *r), void *arg)
{
	const struct rec *x;
	struct rule r;
	size_t pos = 0;

	core_lock_settled(c);
	while ((x = hmap_next(c->rules, &pos)) != NULL) {
		core_rec_get(x, &r);
		fn(arg, &r);
	}
	core_unlock(c);
}
/* ---------- reading as a client ---------- */

static bool reader_sees(struct core *c, const struct rule *r, const struct core_reader *rd)
{
	const struct policy_config *pc = &c->p.policy;

	/* the device lookup only when the cheap answer is no */
	return policy_may_see(pc, r, &rd->requester, rd->privileged, rd->own_only, false) ||
	       policy_may_see(pc, r, &rd->requester, rd->privileged, rd->own_only,
			      core_requester_owns_target(c, r, &rd->requester));
}

enum verdict core_get_as(struct core *c, uint32_t id, const struct core_reader *rd, struct rule *out)
{
	enum verdict v = V_NOT_FOUND;
	const struct rec *x;
	struct rule r;

	core_lock_settled(c);
	x = core_rec_by_id(c, id);
	if (x)
		core_rec_get(x, &r);
	if (x && !reader_sees(c, &r, rd)) {
		v = V_NOT_AUTHORIZED;
	} else if (x) {
		rule_copy(out, &r);
		core_fill_counters(c, out);
		v = V_OK;
	}
	core_unlock(c);
	return v;
}

/* Does this reader see every rule (so the n-th it sees is the n-th there is)? */
static bool reader_sees_all(struct core *c, const struct core_reader *rd)
{
	return !rd->own_only && (rd->privileged || !c->p.policy.secure_mode);
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

enum verdict core_portmap_at(struct core *c, const struct core_reader *rd, size_t index, struct rule *out)
{
	enum verdict v = V_NOT_FOUND;
	const struct id_order *o = &c->pm_order;
	const struct rec *x = NULL;
	struct rule r;

	core_lock_settled(c);
	if (!order_ready(c)) {
		v = V_NO_RESOURCES;
	} else if (reader_sees_all(c, rd)) {
		x = index < o->n ? core_rec_by_id(c, o->ids[index]) : NULL;
	} else {
		for (size_t i = 0, seen = 0; x == NULL && i < o->n; i++) {
			const struct rec *y = core_rec_by_id(c, o->ids[i]);

			if (y == NULL)
				continue;
			core_rec_get(y, &r);
			if (reader_sees(c, &r, rd) && seen++ == index)
				x = y;
		}
	}
	if (x) {
		core_rec_get(x, out);
		core_fill_counters(c, out);
		v = V_OK;
	}
	core_unlock(c);
	return v;
}

size_t core_portmaps_after(struct core *c, const struct core_reader *rd, uint32_t after, struct rule *out,
			   size_t max)
{
	const struct id_order *o = &c->pm_order;
	size_t n = 0;

	core_lock_settled(c);
	if (after < RULE_ID_MAX && order_ready(c))
		for (size_t i = core_order_find(o, after + 1); n < max && i < o->n; i++) {
			const struct rec *x = core_rec_by_id(c, o->ids[i]);

			if (x == NULL)
				continue;
			core_rec_get(x, &out[n]);
			if (reader_sees(c, &out[n], rd))
				core_fill_counters(c, &out[n++]);
		}
	core_unlock(c);
	return n;
}

uint32_t core_count(struct core *c, enum rule_kind kind)
{
	uint32_t n;

	if (kind != RULE_PINHOLE && kind != RULE_PORTMAP)
		return 0;
	core_lock_settled(c);
	n = c->n_kind[kind];
	core_unlock(c);
	return n;
}

void core_status(struct core *c, struct core_status *st)
{
	const struct rec *r;
	size_t pos = 0;

	memset(st, 0, sizeof(*st));
	core_lock_settled(c);
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
	core_unlock(c);
}

void core_policy_get(struct core *c, struct policy_config *out)
{
	core_lock(c);
	*out = c->p.policy;
	core_unlock(c);
}

int64_t core_last_packet(struct core *c, uint32_t id)
{
	struct fw_elem e[2];
	const struct rec *x;
	struct rule r;
	int64_t last = 0;

	core_lock_settled(c);
	if ((x = core_rec_by_id(c, id))) {
		size_t n;

		core_rec_get(x, &r);
		n = core_rule_elems(&r, e);

		for (size_t i = 0; i < n; i++) {
			struct elem_key k = core_key_of(&e[i]);
			const struct elem_slot *s = hmap_get(c->elems, &k);

			if (s && !core_slot_is_inline(s) && s->rose_at > last)
				last = s->rose_at;
		}
	}
	core_unlock(c);
	return last;
}
