/* SPDX-License-Identifier: GPL-2.0-or-later */
/* reanchor_: re-anchoring plans as a pure function of (rules, old prefix, new prefix, device table). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/device.h"
#include "firewall/core/reanchor.h"

static struct in6_addr A(const char *s)
{
	struct in6_addr a;

	ck_assert_msg(addr_parse(s, &a), "bad test address %s", s);
	return a;
}

static const uint8_t MAC_E[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };  /* EUI-64 host */
static const uint8_t MAC_S[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };  /* RFC 7217 + 8981 host */
static const uint8_t MAC_X[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x09 };  /* not in the table */

#define E_OLD "2001:db8:1:1:5054:ff:fe12:3401"
#define E_NEW "2001:db8:2:1:5054:ff:fe12:3401"
#define S_OLD "2001:db8:1:1:1111:2222:3333:4444"
#define T_OLD "2001:db8:1:1:aaaa:bbbb:cccc:dddd"
#define S_NEW "2001:db8:2:1:5555:6666:7777:8888"
#define T_NEW "2001:db8:2:1:9999:aaaa:bbbb:cccc"

static struct device_table *lan(void)
{
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr a;

	ck_assert_ptr_nonnull(t);
	a = A(E_OLD);
	ck_assert_int_eq(device_addr_seen(t, MAC_E, 2, &a, NULL, 10), 1);
	a = A(S_OLD);
	ck_assert_int_eq(device_addr_seen(t, MAC_S, 2, &a, NULL, 10), 1);
	ck_assert_int_eq(device_addr_hint(t, &a, ADDR_KIND_STABLE, "test"), 1);
	a = A(T_OLD);
	ck_assert_int_eq(device_addr_seen(t, MAC_S, 2, &a, NULL, 11), 1);
	ck_assert_int_eq(device_addr_hint(t, &a, ADDR_KIND_TEMPORARY, "test"), 1);
	return t;
}

/* A pinhole; mac NULL = no device; stable_sub NULL = exact only; exact NULL = stable only. */
static struct rule pin(uint32_t id, const char *exact, enum addr_kind k, const uint8_t *mac, const char *stable_sub,
		       const char *stable)
{
	struct rule r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.kind = RULE_PINHOLE;
	r.state = RULE_INSTALLED;
	r.proto = IPPROTO_UDP;
	r.int_port = 5000;
	if (mac) {
		memcpy(r.target.mac, mac, 6);
		r.target.has_mac = true;
	}
	if (exact) {
		r.target.use_exact = true;
		r.target.exact = A(exact);
		r.target.exact_kind = k;
	}
	if (stable_sub) {
		r.target.use_stable = true;
		r.target.subnet = A(stable_sub);
		r.target.subnet_len = 64;
		if (stable) {
			r.target.stable_resolved = true;
			r.target.stable = A(stable);
		} else {
			r.state = exact ? RULE_INSTALLED : RULE_PENDING;
		}
	}
	return r;
}

struct pcase {
	const char *name;
	struct rule r;
	bool in_plan;
	enum rule_state state;
	const char *exact;     /* expected exact address after, NULL = no exact selector */
	const char *subnet;    /* expected stable subnet after, NULL = no stable selector */
	const char *stable;    /* expected resolved stable address, NULL = unresolved */
};

static struct pcase *cases(size_t *n)
{
	static struct pcase c[16];
	size_t i = 0;

	c[i++] = (struct pcase){ "eui64 exact", pin(1, E_OLD, ADDR_KIND_EUI64, MAC_E, NULL, NULL),
				 true, RULE_INSTALLED, E_NEW, NULL, NULL };
	/* the kind stored may be stale: the IID matching the MAC decides */
	c[i++] = (struct pcase){ "eui64 exact, kind unknown", pin(2, E_OLD, ADDR_KIND_UNKNOWN, MAC_E, NULL, NULL),
				 true, RULE_INSTALLED, E_NEW, NULL, NULL };
	c[i++] = (struct pcase){ "eui64 exact, no mac in rule", pin(3, E_OLD, ADDR_KIND_EUI64, NULL, NULL, NULL),
				 true, RULE_INSTALLED, E_NEW, NULL, NULL };
	c[i++] = (struct pcase){ "eui64 stable selector", pin(4, NULL, 0, MAC_E, "2001:db8:1:1::", E_OLD),
				 true, RULE_INSTALLED, NULL, "2001:db8:2:1::", E_NEW };
	c[i++] = (struct pcase){ "eui64 both", pin(5, E_OLD, ADDR_KIND_EUI64, MAC_E, "2001:db8:1:1::", E_OLD),
				 true, RULE_INSTALLED, E_NEW, "2001:db8:2:1::", E_NEW };
	c[i++] = (struct pcase){ "stable opaque exact", pin(6, S_OLD, ADDR_KIND_STABLE, MAC_S, NULL, NULL),
				 true, RULE_PENDING, NULL, "2001:db8:2:1::", NULL };
	c[i++] = (struct pcase){ "stable opaque selector", pin(7, NULL, 0, MAC_S, "2001:db8:1:1::", S_OLD),
				 true, RULE_PENDING, NULL, "2001:db8:2:1::", NULL };
	c[i++] = (struct pcase){ "temporary exact", pin(8, T_OLD, ADDR_KIND_TEMPORARY, MAC_S, NULL, NULL),
				 true, RULE_GONE, T_OLD, NULL, NULL };
	/* both: the temporary goes, the stable selector waits */
	c[i++] = (struct pcase){ "temporary + stable", pin(9, T_OLD, ADDR_KIND_TEMPORARY, MAC_S, "2001:db8:1:1::", S_OLD),
				 true, RULE_PENDING, NULL, "2001:db8:2:1::", NULL };
	/* the table knows better than the stored kind */
	c[i++] = (struct pcase){ "stored unknown, table temporary", pin(10, T_OLD, ADDR_KIND_UNKNOWN, MAC_S, NULL, NULL),
				 true, RULE_GONE, T_OLD, NULL, NULL };
	c[i++] = (struct pcase){ "opaque, nobody holds it", pin(11, "2001:db8:1:1::77", ADDR_KIND_UNKNOWN, NULL, NULL, NULL),
				 true, RULE_GONE, "2001:db8:1:1::77", NULL, NULL };
	/* an EUI-64 of a MAC the table does not know: no device holds the new address, so it waits */
	c[i++] = (struct pcase){ "eui64, device unknown", pin(12, "2001:db8:1:1:5054:ff:fe12:3409", ADDR_KIND_EUI64, MAC_X,
				 NULL, NULL), true, RULE_PENDING, NULL, "2001:db8:2:1::", NULL };
	c[i++] = (struct pcase){ "outside the old prefix", pin(13, "2001:db8:9:1::5", ADDR_KIND_STABLE, MAC_S, NULL, NULL),
				 false, 0, NULL, NULL, NULL };
	c[i++] = (struct pcase){ "ULA", pin(14, "fd00:1:2:3:5054:ff:fe12:3401", ADDR_KIND_ULA, MAC_E, NULL, NULL),
				 false, 0, NULL, NULL, NULL };
	c[i] = (struct pcase){ "portmap", pin(15, "192.0.2.10", ADDR_KIND_IPV4, MAC_E, NULL, NULL), false, 0, NULL, NULL, NULL };
	c[i++].r.kind = RULE_PORTMAP;
	*n = i;
	return c;
}

static const struct reanchor_step *step_for(const struct reanchor_plan *p, uint32_t id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].rule_id == id)
			return &p->steps[i];
	return NULL;
}

/* Every address an installed step asks for is held by the rule's device, or is that device's EUI-64. */
static void assert_no_orphans(const struct reanchor_plan *p, const struct device_table *t)
{
	for (size_t i = 0; i < p->n; i++) {
		struct rule r;
		struct in6_addr out[2];
		size_t k;

		memset(&r, 0, sizeof(r));
		r.target = p->steps[i].target;
		if (p->steps[i].state != RULE_INSTALLED)
			continue;
		k = rule_addresses(&r, out);
		ck_assert_uint_ge(k, 1);
		for (size_t j = 0; j < k; j++) {
			char ev[8];
			bool eui = r.target.has_mac && device_find(t, r.target.mac) &&
				   addr_classify(&out[j], r.target.mac, NULL, ev, sizeof(ev)) == ADDR_KIND_EUI64;

			ck_assert_msg(eui || device_holds(t, r.target.mac, &out[j]), "rule %u: orphan address",
				      p->steps[i].rule_id);
		}
	}
}

START_TEST(plan_per_kind)
{
	struct device_table *t = lan();
	size_t n;
	struct pcase *c = cases(&n);
	struct rule rules[16];
	struct reanchor_plan p;
	struct in6_addr op = A("2001:db8:1::"), np = A("2001:db8:2::");

	for (size_t i = 0; i < n; i++)
		rules[i] = c[i].r;
	ck_assert_int_eq(reanchor_plan(rules, n, &op, 48, &np, 48, t, &p), 0);
	for (size_t i = 0; i < n; i++) {
		const struct reanchor_step *s = step_for(&p, c[i].r.id);
		const struct rule_target *tg;

		if (!c[i].in_plan) {
			ck_assert_msg(!s, "%s: should be untouched", c[i].name);
			continue;
		}
		ck_assert_msg(s, "%s: not in the plan", c[i].name);
		ck_assert_uint_eq(s->index, i);
		ck_assert_msg(s->state == c[i].state, "%s: state %s want %s (%s)", c[i].name, rule_state_name(s->state),
			      rule_state_name(c[i].state), s->why);
		ck_assert_msg(s->why[0], "%s: no reason given", c[i].name);
		tg = &s->target;
		ck_assert_msg(tg->use_exact == !!c[i].exact, "%s: exact selector", c[i].name);
		if (c[i].exact) {
			struct in6_addr want = A(c[i].exact);

			ck_assert_msg(addr_equal(&tg->exact, &want), "%s: exact address", c[i].name);
		} else if (s->state != RULE_GONE) {
			/* the dropped old address leaves nothing behind (its kind would label the new one) */
			ck_assert_msg(addr_is_unspecified(&tg->exact) && tg->exact_kind == ADDR_KIND_UNKNOWN,
				      "%s: the old exact address stays in the target", c[i].name);
		}
		ck_assert_msg(tg->use_stable == !!c[i].subnet, "%s: stable selector", c[i].name);
		if (c[i].subnet) {
			struct in6_addr want = A(c[i].subnet);

			ck_assert_msg(addr_equal(&tg->subnet, &want) && tg->subnet_len == 64, "%s: subnet", c[i].name);
			ck_assert_msg(tg->stable_resolved == !!c[i].stable, "%s: resolved", c[i].name);
			if (c[i].stable) {
				want = A(c[i].stable);
				ck_assert_msg(addr_equal(&tg->stable, &want), "%s: stable address", c[i].name);
			}
		}
	}
	ck_assert_uint_eq(p.installed + p.pending + p.removed, p.n);
	ck_assert_uint_eq(p.installed, 5);
	ck_assert_uint_eq(p.pending, 4);
	ck_assert_uint_eq(p.removed, 3);
	assert_no_orphans(&p, t);
	reanchor_plan_free(&p);
	ck_assert_ptr_null(p.steps);
	device_table_free(t);
}
END_TEST

/* The stable-opaque host shows its new addresses: pending rules resolve, to the stable one only. */
START_TEST(pending_then_resolved)
{
	struct device_table *t = lan();
	size_t n;
	struct pcase *c = cases(&n);
	struct rule rules[16];
	struct reanchor_plan p, q;
	struct in6_addr op = A("2001:db8:1::"), np = A("2001:db8:2::"), sn = A(S_NEW), tn = A(T_NEW);

	for (size_t i = 0; i < n; i++)
		rules[i] = c[i].r;
	ck_assert_int_eq(reanchor_plan(rules, n, &op, 48, &np, 48, t, &p), 0);
	for (size_t i = 0; i < p.n; i++) {     /* the core applies the plan */
		rules[p.steps[i].index].target = p.steps[i].target;
		rules[p.steps[i].index].state = p.steps[i].state;
	}
	/* nothing resolves yet; the new temporary address alone does not either */
	ck_assert_int_eq(reanchor_resolve(rules, n, t, &q), 0);
	ck_assert_uint_eq(q.n, 0);
	reanchor_plan_free(&q);
	ck_assert_int_eq(device_addr_seen(t, MAC_S, 2, &tn, NULL, 100), 1);
	ck_assert_int_eq(device_addr_hint(t, &tn, ADDR_KIND_TEMPORARY, "test"), 1);
	ck_assert_int_eq(reanchor_resolve(rules, n, t, &q), 0);
	ck_assert_uint_eq(q.n, 0);
	reanchor_plan_free(&q);
	ck_assert_int_eq(device_addr_seen(t, MAC_S, 2, &sn, NULL, 100), 1);
	ck_assert_int_eq(device_addr_hint(t, &sn, ADDR_KIND_STABLE, "test"), 1);
	ck_assert_int_eq(reanchor_resolve(rules, n, t, &q), 0);
	ck_assert_uint_eq(q.n, 3);   /* rules 6, 7, 9; not 12 (unknown device) */
	for (size_t i = 0; i < q.n; i++) {
		ck_assert_int_eq(q.steps[i].state, RULE_INSTALLED);
		ck_assert(q.steps[i].target.stable_resolved);
		ck_assert(addr_equal(&q.steps[i].target.stable, &sn));
		ck_assert(q.steps[i].rule_id == 6 || q.steps[i].rule_id == 7 || q.steps[i].rule_id == 9);
	}
	assert_no_orphans(&q, t);
	reanchor_plan_free(&q);
	/* a prefix change with the new stable address already known resolves at once */
	for (size_t i = 0; i < n; i++)
		rules[i] = c[i].r;
	ck_assert_int_eq(reanchor_plan(rules, n, &op, 48, &np, 48, t, &q), 0);
	ck_assert(step_for(&q, 6)->state == RULE_INSTALLED);
	ck_assert(step_for(&q, 7)->state == RULE_INSTALLED);
	assert_no_orphans(&q, t);
	reanchor_plan_free(&q);
	reanchor_plan_free(&p);
	device_table_free(t);
}
END_TEST

START_TEST(plan_bad_input)
{
	struct device_table *t = lan();
	struct rule r = pin(1, E_OLD, ADDR_KIND_EUI64, MAC_E, NULL, NULL);
	struct reanchor_plan p;
	struct in6_addr op = A("2001:db8:1::"), np = A("2001:db8:2::"), v4 = A("192.0.2.0"), ll = A("fe80::");

	ck_assert_int_eq(reanchor_plan(&r, 1, &op, 48, &np, 48, t, NULL), -1);
	ck_assert_int_eq(reanchor_plan(NULL, 1, &op, 48, &np, 48, t, &p), -1);
	ck_assert_int_eq(reanchor_plan(&r, 1, NULL, 48, &np, 48, t, &p), -1);
	ck_assert_int_eq(reanchor_plan(&r, 1, &op, 48, NULL, 48, t, &p), -1);
	ck_assert_int_eq(reanchor_plan(&r, 1, &op, 48, &np, 48, NULL, &p), -1);
	ck_assert_int_eq(reanchor_plan(&r, 1, &op, 0, &np, 48, t, &p), -1);
	ck_assert_int_eq(reanchor_plan(&r, 1, &op, 48, &np, 65, t, &p), -1);
	ck_assert_int_eq(reanchor_plan(&r, 1, &op, 48, &np, 128, t, &p), -1);
	ck_assert_int_eq(reanchor_plan(&r, 1, &v4, 120, &np, 48, t, &p), -1);
	ck_assert_int_eq(reanchor_plan(&r, 1, &op, 48, &ll, 64, t, &p), -1);
	ck_assert_uint_eq(p.n, 0);
	ck_assert_ptr_null(p.steps);
	ck_assert_int_eq(reanchor_resolve(NULL, 1, t, &p), -1);
	ck_assert_int_eq(reanchor_resolve(&r, 1, NULL, &p), -1);
	ck_assert_int_eq(reanchor_resolve(&r, 1, t, NULL), -1);
	/* the same prefix: nothing to do; no rules: nothing to do */
	ck_assert_int_eq(reanchor_plan(&r, 1, &op, 48, &op, 48, t, &p), 0);
	ck_assert_uint_eq(p.n, 0);
	ck_assert_int_eq(reanchor_plan(NULL, 0, &op, 48, &np, 48, t, &p), 0);
	ck_assert_uint_eq(p.n, 0);
	reanchor_plan_free(&p);
	reanchor_plan_free(NULL);
	/* a gone rule is left alone */
	r.state = RULE_GONE;
	ck_assert_int_eq(reanchor_plan(&r, 1, &op, 48, &np, 48, t, &p), 0);
	ck_assert_uint_eq(p.n, 0);
	reanchor_plan_free(&p);
	device_table_free(t);
}
END_TEST

/* /56 -> /60: subnet ids keep their value if they fit; /64 -> /64 at the LAN level. */
START_TEST(plan_prefix_lengths)
{
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr a1 = A("2001:db8:1:1:5054:ff:fe12:3401"), a2 = A("2001:db8:1:20:5054:ff:fe12:3401");
	struct rule r[2] = { pin(1, "2001:db8:1:1:5054:ff:fe12:3401", ADDR_KIND_EUI64, MAC_E, NULL, NULL),
			     pin(2, "2001:db8:1:20:5054:ff:fe12:3401", ADDR_KIND_EUI64, MAC_E, NULL, NULL) };
	struct in6_addr op = A("2001:db8:1::"), np = A("2001:db8:2:30::"), want = A("2001:db8:2:31:5054:ff:fe12:3401");
	struct reanchor_plan p;

	ck_assert_int_eq(device_addr_seen(t, MAC_E, 2, &a1, NULL, 1), 1);
	ck_assert_int_eq(device_addr_seen(t, MAC_E, 2, &a2, NULL, 1), 1);
	ck_assert_int_eq(reanchor_plan(r, 2, &op, 56, &np, 60, t, &p), 0);
	ck_assert_uint_eq(p.n, 2);
	ck_assert_int_eq(step_for(&p, 1)->state, RULE_INSTALLED);
	ck_assert(addr_equal(&step_for(&p, 1)->target.exact, &want));
	ck_assert_int_eq(step_for(&p, 2)->state, RULE_GONE);    /* subnet 0x20 has no place in a /60 */
	reanchor_plan_free(&p);
	/* LAN /64 to LAN /64 */
	op = A("2001:db8:1:1::");
	np = A("2001:db8:2:1::");
	want = A(E_NEW);
	ck_assert_int_eq(reanchor_plan(r, 2, &op, 64, &np, 64, t, &p), 0);
	ck_assert_uint_eq(p.n, 1);
	ck_assert(addr_equal(&p.steps[0].target.exact, &want));
	reanchor_plan_free(&p);
	device_table_free(t);
}
END_TEST

START_TEST(map_and_relative)
{
	struct in6_addr a = A("2001:db8:1:1::5"), op = A("2001:db8:1::"), np = A("2001:db8:2::"), out, rel;
	struct in6_addr want = A("2001:db8:2:1::5"), p60 = A("2001:db8:2:10::");
	char buf[ADDR_STRLEN];

	ck_assert(reanchor_map(&a, &op, 48, &np, 48, &out));
	ck_assert(addr_equal(&out, &want));
	ck_assert(reanchor_map(&a, &op, 48, &p60, 60, &out));
	ck_assert_str_eq(addr_str(&out, buf), "2001:db8:2:11::5");
	ck_assert(!reanchor_map(&a, &np, 48, &op, 48, &out));    /* not in the old prefix */
	ck_assert(!reanchor_map(&a, &op, 0, &np, 48, &out));
	ck_assert(!reanchor_map(&a, &op, 48, &np, 65, &out));
	ck_assert(!reanchor_map(NULL, &op, 48, &np, 48, &out));
	a = A("2001:db8:1:ff::5");
	ck_assert(!reanchor_map(&a, &op, 48, &p60, 60, &out));   /* subnet 0xff does not fit 4 bits */
	/* relative form round trip */
	a = A("2001:db8:1:1:5054:ff:fe12:3401");
	ck_assert(reanchor_to_rel(&a, &op, 48, &rel));
	ck_assert_str_eq(addr_str(&rel, buf), "::1:5054:ff:fe12:3401");
	ck_assert(reanchor_from_rel(&rel, &np, 48, &out));
	want = A(E_NEW);
	ck_assert(addr_equal(&out, &want));
	ck_assert(reanchor_to_rel(&a, &op, 52, &rel));
	ck_assert(reanchor_from_rel(&rel, &op, 52, &out));
	ck_assert(addr_equal(&out, &a));
	ck_assert(!reanchor_to_rel(&a, &np, 48, &rel));
	ck_assert(!reanchor_to_rel(&a, &op, 129, &rel));
	ck_assert(!reanchor_from_rel(&a, &np, 48, &out));        /* not relative: has prefix bits */
	ck_assert(!reanchor_from_rel(&rel, &np, 129, &out));
	ck_assert(reanchor_to_rel(&a, &a, 128, &rel));
	ck_assert(addr_is_unspecified(&rel));
}
END_TEST

static Suite *reanchor_suite(void)
{
	Suite *s = suite_create("reanchor");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, plan_per_kind);
	tcase_add_test(tc, pending_then_resolved);
	tcase_add_test(tc, plan_bad_input);
	tcase_add_test(tc, plan_prefix_lengths);
	tcase_add_test(tc, map_and_relative);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(reanchor_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
