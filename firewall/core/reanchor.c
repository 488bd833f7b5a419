/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Re-anchoring plans (see reanchor.h). Pure: reads rules and the device table, writes only the plan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/reanchor.h"

static uint64_t hi64(const struct in6_addr *a)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | a->s6_addr[i];
	return v;
}

static void set_hi64(struct in6_addr *a, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		a->s6_addr[i] = (uint8_t)v;
}

/* the low bits of the upper half that are not prefix: 64 - len of them */
static uint64_t host_mask(uint8_t len)
{
	return len == 0 ? UINT64_MAX : (len >= 64 ? 0 : (UINT64_C(1) << (64 - len)) - 1);
}

bool reanchor_map(const struct in6_addr *a, const struct in6_addr *old_prefix, uint8_t old_len,
		  const struct in6_addr *new_prefix, uint8_t new_len, struct in6_addr *out)
{
	uint64_t sid;

	if (!a || !old_prefix || !new_prefix || !out || old_len < 1 || old_len > 64 || new_len < 1 || new_len > 64)
		return false;
	if (!addr_in_prefix(a, old_prefix, old_len))
		return false;
	sid = hi64(a) & host_mask(old_len);
	if (sid & ~host_mask(new_len))
		return false;   /* e.g. subnet 0x20 of a /56 has no place in a /60 */
	*out = *a;
	set_hi64(out, (hi64(new_prefix) & ~host_mask(new_len)) | sid);
	return true;
}

bool reanchor_to_rel(const struct in6_addr *a, const struct in6_addr *prefix, uint8_t len, struct in6_addr *rel)
{
	if (!a || !prefix || !rel || len > 128 || !addr_in_prefix(a, prefix, len))
		return false;
	*rel = *a;
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = len > i * 8 ? len - i * 8 : 0;

		rel->s6_addr[i] &= bits >= 8 ? 0 : (uint8_t)(0xffu >> bits);
	}
	return true;
}

bool reanchor_from_rel(const struct in6_addr *rel, const struct in6_addr *prefix, uint8_t len, struct in6_addr *out)
{
	struct in6_addr p;
	static const struct in6_addr zero;

	if (!rel || !prefix || !out || len > 128 || !addr_in_prefix(rel, &zero, len))
		return false;
	p = *prefix;
	addr_mask(&p, len);
	for (unsigned i = 0; i < 16; i++)
		out->s6_addr[i] = p.s6_addr[i] | rel->s6_addr[i];
	return true;
}

/* ---------------------------------------------------------------- plans */

struct ctx {
	const struct in6_addr *op, *np;
	uint8_t ol, nl;
	const struct device_table *t;
};

void reanchor_step_why(struct reanchor_step *s, const char *msg)
{
	size_t len = strlen(s->why);

	/* several selectors may each add a reason: "; "-joined, truncated */
	snprintf(s->why + len, sizeof(s->why) - len, "%s%s", len ? "; " : "", msg);
}

/* The kind to act on: the table's current judgement beats the kind stored in the rule, and an IID equal
 * to the rule's MAC is EUI-64 whatever was stored. */
static enum addr_kind exact_kind(const struct ctx *c, const struct rule_target *tg)
{
	const struct device_addr *da;
	char ev[8];

	if (tg->has_mac && addr_classify(&tg->exact, tg->mac, NULL, ev, sizeof(ev)) == ADDR_KIND_EUI64)
		return ADDR_KIND_EUI64;
	if (device_by_addr(c->t, &tg->exact, &da) && da && da->kind != ADDR_KIND_UNKNOWN)
		return da->kind;
	return tg->exact_kind;
}

/* Turns the target into (or keeps it as) a stable selector for the mapped /64 of `old`. */
static void to_stable_selector(const struct ctx *c, struct rule_target *tg, const struct in6_addr *old)
{
	struct in6_addr sub = *old;

	addr_mask(&sub, 64);
	if (tg->use_stable)
		return;   /* "both": the stable selector already covers this device, and is mapped on its own */
	if (!reanchor_map(&sub, c->op, c->ol, c->np, c->nl, &tg->subnet))
		return;
	tg->use_stable = true;
	tg->subnet_len = 64;
	/* the device may already show its stable address in the new subnet */
	tg->stable_resolved = tg->has_mac && device_stable_address(c->t, tg->mac, &tg->subnet, 64, &tg->stable);
	if (!tg->stable_resolved)
		memset(&tg->stable, 0, sizeof(tg->stable));
}

static void plan_exact(const struct ctx *c, struct rule_target *tg, struct reanchor_step *s)
{
	struct in6_addr old = tg->exact, moved;
	enum addr_kind k = exact_kind(c, tg);
	uint8_t mac[6];

	/* the old address goes whatever follows: nothing of it stays in the target (igdctl and the UI
	 * would show its kind on the address the rule moved to) */
	tg->use_exact = false;
	memset(&tg->exact, 0, sizeof(tg->exact));
	tg->exact_kind = ADDR_KIND_UNKNOWN;
	if (!reanchor_map(&old, c->op, c->ol, c->np, c->nl, &moved)) {
		reanchor_step_why(s, "subnet has no place in the new prefix");
		return;
	}
	if (k == ADDR_KIND_EUI64 && addr_iid_is_eui64(&old, mac) && (!tg->has_mac || !memcmp(mac, tg->mac, 6))) {
		memcpy(tg->mac, mac, 6);
		tg->has_mac = true;
		if (device_find(c->t, mac)) {
			tg->use_exact = true;
			tg->exact = moved;
			tg->exact_kind = ADDR_KIND_EUI64;
			reanchor_step_why(s, "EUI-64: same IID under the new prefix");
			return;
		}
		to_stable_selector(c, tg, &old);
		reanchor_step_why(s, "EUI-64 of a device not in the table: pending");
		return;
	}
	if (k == ADDR_KIND_STABLE && tg->has_mac) {
		to_stable_selector(c, tg, &old);
		reanchor_step_why(s, tg->stable_resolved
				  ? "stable opaque: the device's stable address in the new subnet"
				  : "stable opaque: waiting for the device's stable address in the new subnet");
		return;
	}
	reanchor_step_why(s, k == ADDR_KIND_TEMPORARY ? "temporary address of the old prefix: dropped"
						      : "address of unknown kind in the old prefix: dropped");
}

static void plan_stable(const struct ctx *c, struct rule_target *tg, struct reanchor_step *s)
{
	struct in6_addr sub;
	bool eui = tg->stable_resolved && tg->has_mac &&
		   addr_classify(&tg->stable, tg->mac, NULL, NULL, 0) == ADDR_KIND_EUI64;
	struct in6_addr old_stable = tg->stable;

	if (!tg->has_mac || tg->subnet_len > 64 || tg->subnet_len < c->ol ||
	    !reanchor_map(&tg->subnet, c->op, c->ol, c->np, c->nl, &sub)) {
		tg->use_stable = false;
		tg->stable_resolved = false;
		reanchor_step_why(s, "stable selector cannot follow (no MAC, or subnet does not fit)");
		return;
	}
	tg->subnet = sub;
	tg->stable_resolved = false;
	memset(&tg->stable, 0, sizeof(tg->stable));
	if (eui && device_find(c->t, tg->mac) && reanchor_map(&old_stable, c->op, c->ol, c->np, c->nl, &tg->stable)) {
		tg->stable_resolved = true;
		reanchor_step_why(s, "stable EUI-64: same IID under the new prefix");
		return;
	}
	if (device_stable_address(c->t, tg->mac, &tg->subnet, tg->subnet_len, &tg->stable)) {
		tg->stable_resolved = true;
		reanchor_step_why(s, "device already shows a stable address in the new subnet");
		return;
	}
	memset(&tg->stable, 0, sizeof(tg->stable));
	reanchor_step_why(s, "pending: device has no stable address in the new subnet yet");
}

static bool stable_in_old(const struct ctx *c, const struct rule_target *tg)
{
	return tg->use_stable && tg->subnet_len >= c->ol && addr_in_prefix(&tg->subnet, c->op, c->ol);
}

static bool exact_in_old(const struct ctx *c, const struct rule_target *tg)
{
	return tg->use_exact && addr_in_prefix(&tg->exact, c->op, c->ol);
}

static enum rule_state final_state(struct rule_target *tg)
{
	if (tg->use_exact || (tg->use_stable && tg->stable_resolved))
		return RULE_INSTALLED;
	return tg->use_stable ? RULE_PENDING : RULE_GONE;
}

static void count(struct reanchor_plan *p, enum rule_state st)
{
	p->installed += st == RULE_INSTALLED;
	p->pending += st == RULE_PENDING;
	p->removed += st == RULE_GONE;
}

static bool prefix_ok(const struct in6_addr *p, uint8_t len)
{
	return p && len >= 1 && len <= 64 && !addr_is_v4(p) && !addr_is_multicast(p) && !addr_is_link_local(p);
}

int reanchor_plan(const struct rule *rules, size_t n, const struct in6_addr *old_prefix, uint8_t old_len,
		  const struct in6_addr *new_prefix, uint8_t new_len, const struct device_table *t,
		  struct reanchor_plan *out)
{
	struct ctx c = { old_prefix, new_prefix, old_len, new_len, t };

	if (!out)
		return -1;
	memset(out, 0, sizeof(*out));
	if ((n && !rules) || !t || !prefix_ok(old_prefix, old_len) || !prefix_ok(new_prefix, new_len))
		return -1;
	if (old_len == new_len && addr_in_prefix(old_prefix, new_prefix, new_len))
		return 0;   /* nothing moved */
	if (n && !(out->steps = calloc(n, sizeof(*out->steps))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		struct reanchor_step *s = &out->steps[out->n];
		bool ex, st;

		if (r->kind != RULE_PINHOLE || r->state == RULE_GONE)
			continue;
		ex = exact_in_old(&c, &r->target);
		st = stable_in_old(&c, &r->target);
		if (!ex && !st)
			continue;   /* outside the old prefix: untouched */
		memset(s, 0, sizeof(*s));
		s->index = i;
		s->rule_id = r->id;
		s->target = r->target;
		/* the stable selector first, so an exact stable-opaque target folds into it, not beside it */
		if (st)
			plan_stable(&c, &s->target, s);
		if (ex)
			plan_exact(&c, &s->target, s);
		s->state = final_state(&s->target);
		if (s->state == RULE_GONE)
			s->target = r->target;
		count(out, s->state);
		out->n++;
	}
	return 0;
}

int reanchor_resolve(const struct rule *rules, size_t n, const struct device_table *t, struct reanchor_plan *out)
{
	if (!out)
		return -1;
	memset(out, 0, sizeof(*out));
	if ((n && !rules) || !t)
		return -1;
	if (n && !(out->steps = calloc(n, sizeof(*out->steps))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct rule_target *tg = &rules[i].target;
		struct reanchor_step *s = &out->steps[out->n];

		if (rules[i].state == RULE_GONE || !tg->use_stable || tg->stable_resolved || !tg->has_mac)
			continue;
		memset(s, 0, sizeof(*s));
		s->target = *tg;
		if (!device_stable_address(t, tg->mac, &tg->subnet, tg->subnet_len, &s->target.stable))
			continue;
		s->target.stable_resolved = true;
		s->index = i;
		s->rule_id = rules[i].id;
		s->state = RULE_INSTALLED;
		reanchor_step_why(s, "device shows a stable address in the subnet");
		count(out, s->state);
		out->n++;
	}
	return 0;
}

void reanchor_plan_free(struct reanchor_plan *p)
{
	if (!p)
		return;
	free(p->steps);
	memset(p, 0, sizeof(*p));
}
