/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core's table keeps each rule as a compact record (struct rec, core_priv.h); these encode and
 * decode it. */
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/core/core_priv.h"
#include "firewall/core/rule.h"
#include "firewall/lib/addr.h"

/* ---------- the table's record of a rule ---------- */

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

size_t core_rec_size(const struct rule *r)
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

/* Writes r into x, which has room for core_rec_size(r) bytes. */
void core_rec_set(struct rec *x, const struct rule *r)
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
void core_rec_get(const struct rec *x, struct rule *r)
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

struct rec *core_rec_new(const struct rule *r)
{
	struct rec *x = malloc(core_rec_size(r));

	if (x)
		core_rec_set(x, r);
	return x;
}

bool core_rec_fits(struct rec *x, const struct rule *next)
{
	return malloc_usable_size(x) >= core_rec_size(next);
}
