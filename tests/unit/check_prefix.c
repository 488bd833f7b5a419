/* SPDX-License-Identifier: GPL-2.0-or-later */
/* prefix_: deciding from our own LAN addresses when the prefix changed. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/prefix.h"
#include "tests/unit/testutil.h"

static enum prefix_result ev(struct prefix_tracker *t, const char *addr, uint8_t len, bool added, bool deprecated,
			     struct prefix_change *chg)
{
	struct in6_addr a = A(addr), p = a;
	struct addr_facts f = { .lifetimes_known = true, .preferred = deprecated ? 0 : 3600, .valid = 7200 };

	addr_mask(&p, len);
	return prefix_event(t, 3, &a, &p, len, added, &f, chg);
}

START_TEST(ra_renumbering)
{
	struct prefix_tracker t;
	struct prefix_change c;
	char buf[PREFIX_STRLEN];

	prefix_tracker_init(&t);
	ck_assert_int_eq(ev(&t, "fd00:1::1", 64, true, false, &c), PREFIX_NONE);        /* ULA ignored */
	ck_assert_int_eq(ev(&t, "2001:db8:1:1::1", 64, true, false, &c), PREFIX_FIRST);
	ck_assert_str_eq(prefix_format(&c.new_prefix, c.new_len, buf), "2001:db8:1:1::/64");
	ck_assert_int_eq(ev(&t, "2001:db8:1:1::2", 64, true, false, &c), PREFIX_NONE);  /* same prefix */
	/* new prefix added: two candidates, wait */
	ck_assert_int_eq(ev(&t, "2001:db8:2:1::1", 64, true, false, &c), PREFIX_NONE);
	/* old deprecated (both of its addresses): decided */
	ck_assert_int_eq(ev(&t, "2001:db8:1:1::1", 64, true, true, &c), PREFIX_NONE);
	ck_assert_int_eq(ev(&t, "2001:db8:1:1::2", 64, true, true, &c), PREFIX_CHANGED);
	ck_assert_str_eq(prefix_format(&c.old_prefix, c.old_len, buf), "2001:db8:1:1::/64");
	ck_assert_str_eq(prefix_format(&c.new_prefix, c.new_len, buf), "2001:db8:2:1::/64");
	/* old removed later: nothing more */
	ck_assert_int_eq(ev(&t, "2001:db8:1:1::1", 64, false, true, &c), PREFIX_NONE);
	ck_assert_int_eq(ev(&t, "2001:db8:1:1::2", 64, false, true, &c), PREFIX_NONE);
}
END_TEST

START_TEST(remove_then_add)
{
	struct prefix_tracker t;
	struct prefix_change c;
	struct in6_addr p;
	uint8_t len;

	prefix_tracker_init(&t);
	ck_assert_int_eq(ev(&t, "2001:db8:1:1::1", 64, true, false, &c), PREFIX_FIRST);
	/* the old prefix vanishes first (DHCPv6-PD lost): no decision with nothing left */
	ck_assert_int_eq(ev(&t, "2001:db8:1:1::1", 64, false, false, &c), PREFIX_NONE);
	ck_assert(prefix_anchor(&t, 3, &p, &len));
	ck_assert_int_eq(ev(&t, "2001:db8:7:1::1", 64, true, false, &c), PREFIX_CHANGED);
	ck_assert(prefix_anchor(&t, 3, &p, &len));
	ck_assert(addr_equal(&p, &c.new_prefix));
	/* /128 and link-local-ish things are not LAN prefixes */
	ck_assert_int_eq(ev(&t, "2001:db8:9::5", 128, true, false, &c), PREFIX_NONE);
	ck_assert(!prefix_anchor(&t, 4, &p, &len));
}
END_TEST

START_TEST(parse_strict)
{
	struct in6_addr p;
	uint8_t len;

	ck_assert(prefix_parse("2001:db8:1::/56", &p, &len) && len == 56);
	ck_assert(!prefix_parse("2001:db8:1::1/56", &p, &len));   /* host bits */
	ck_assert(!prefix_parse("2001:db8:1::", &p, &len));       /* no length */
	ck_assert(!prefix_parse("2001:db8::/65", &p, &len));
	ck_assert(!prefix_parse("2001:db8::/0", &p, &len));
	ck_assert(!prefix_parse("192.0.2.0/24", &p, &len));
	ck_assert(!prefix_parse("junk", &p, &len));
}
END_TEST

static Suite *prefix_suite(void)
{
	Suite *s = suite_create("prefix");
	TCase *tc = tcase_create("prefix");

	tcase_add_test(tc, ra_renumbering);
	tcase_add_test(tc, remove_then_add);
	tcase_add_test(tc, parse_strict);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(prefix_suite());
}
