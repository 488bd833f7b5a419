/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: rule_parse on hostile lines (the store reads files an attacker with disk access,
 * or a crash, may have mangled). Whatever parses must format and parse back to the same rule. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/core/rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_target(const struct rule_target *x, const struct rule_target *y)
{
	return x->has_mac == y->has_mac && memcmp(x->mac, y->mac, sizeof(x->mac)) == 0 &&
	       x->use_exact == y->use_exact && memcmp(&x->exact, &y->exact, sizeof(x->exact)) == 0 &&
	       x->exact_kind == y->exact_kind && x->use_stable == y->use_stable &&
	       memcmp(&x->subnet, &y->subnet, sizeof(x->subnet)) == 0 && x->subnet_len == y->subnet_len &&
	       x->stable_resolved == y->stable_resolved &&
	       memcmp(&x->stable, &y->stable, sizeof(x->stable)) == 0;
}

/* Field by field: padding and the bytes after desc's NUL are not part of a rule. */
static bool same_rule(const struct rule *a, const struct rule *b)
{
	return a->id == b->id && a->kind == b->kind && a->state == b->state && a->proto == b->proto &&
	       same_target(&a->target, &b->target) && a->int_port == b->int_port &&
	       a->ext_port == b->ext_port && a->ext_addr.s_addr == b->ext_addr.s_addr &&
	       memcmp(&a->remote, &b->remote, sizeof(a->remote)) == 0 && a->remote_len == b->remote_len &&
	       a->remote_port == b->remote_port && a->expires == b->expires && a->lease == b->lease &&
	       a->origin == b->origin && memcmp(&a->owner, &b->owner, sizeof(a->owner)) == 0 &&
	       a->has_nonce == b->has_nonce && memcmp(a->nonce, b->nonce, sizeof(a->nonce)) == 0 &&
	       strcmp(a->desc, b->desc) == 0 && a->packets == b->packets && a->bytes == b->bytes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[RULE_LINE_MAX + 1], again[RULE_LINE_MAX + 1], err[256];
	struct rule r, back;
	int n;

	/* rule_parse takes (pointer, length): no NUL terminator needed, so none is added */
	if (!rule_parse((const char *)data, size, &r, err, sizeof(err))) {
		if (strnlen(err, sizeof(err)) == 0 || strnlen(err, sizeof(err)) == sizeof(err))
			abort();  /* every refusal says why, in a terminated string */
		return 0;
	}
	n = rule_format(&r, line, sizeof(line));
	if (n < 0 || (size_t)n != strlen(line))
		abort();
	if (!rule_parse(line, (size_t)n, &back, err, sizeof(err)))
		abort();
	if (!same_rule(&r, &back))
		abort();
	/* and the text is canonical: formatting again gives the same bytes */
	if (rule_format(&back, again, sizeof(again)) != n || memcmp(line, again, (size_t)n) != 0)
		abort();
	return 0;
}
