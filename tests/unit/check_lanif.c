/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lanif_: the LAN interface facts, fed as rtnetlink would, asked as UPnP and the policy do. */
#include <check.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/lanif.h"

static struct in6_addr A(const char *s)
{
	struct in6_addr a;

	ck_assert(addr_parse(s, &a));
	return a;
}

static const char NAMES[2][LANIF_NAME_MAX] = { "lan0", "guest0" };
#define UP (IFF_UP | IFF_RUNNING)

static void add(struct lanif_set *s, int ifindex, const char *a, uint8_t plen, bool tentative, bool deprecated)
{
	struct in6_addr x = A(a);

	ck_assert(lanif_addr(s, ifindex, &x, plen, tentative, deprecated, true));
}

START_TEST(links_by_name)
{
	struct lanif_set s;
	struct in6_addr x = A("2001:db8:1:1::1");
	uint64_t gen;

	lanif_init(&s, NAMES, 2);
	ck_assert_uint_eq(s.n, 2);
	ck_assert(!lanif_link(&s, 7, "wan0", UP));            /* not ours */
	ck_assert_ptr_null(lanif_by_index(&s, 7));
	ck_assert(!lanif_addr(&s, 7, &x, 64, false, false, true));
	ck_assert(lanif_link(&s, 3, "lan0", IFF_UP));          /* up, no carrier yet */
	ck_assert(!lanif_usable(lanif_by_index(&s, 3)));
	ck_assert(lanif_link(&s, 3, "lan0", UP));
	ck_assert(lanif_usable(lanif_by_index(&s, 3)));
	ck_assert(!lanif_link(&s, 3, "lan0", UP));             /* no news */
	add(&s, 3, "2001:db8:1:1::1", 64, false, false);
	/* made again with another index: the old addresses went with it */
	gen = s.gen;
	ck_assert(lanif_link(&s, 9, "lan0", UP));
	ck_assert_uint_gt(s.gen, gen);
	ck_assert_ptr_null(lanif_by_index(&s, 3));
	ck_assert_uint_eq(lanif_by_index(&s, 9)->n, 0);
	/* renamed away: no longer ours */
	ck_assert(lanif_link(&s, 9, "other", UP));
	ck_assert_ptr_null(lanif_by_index(&s, 9));
	ck_assert(lanif_link(&s, 4, "guest0", UP));
	ck_assert(lanif_link_gone(&s, 4));
	ck_assert_ptr_null(lanif_by_index(&s, 4));
	ck_assert(!lanif_link_gone(&s, 4));
}
END_TEST

START_TEST(best_addresses)
{
	struct lanif_set s;
	const struct lanif *i;
	struct in6_addr got;
	uint8_t plen;

	lanif_init(&s, NAMES, 1);
	lanif_link(&s, 3, "lan0", UP);
	i = lanif_by_index(&s, 3);
	ck_assert(!lanif_link_local(i, &got));
	add(&s, 3, "fe80::1", 64, true, false);                 /* in DAD */
	ck_assert(!lanif_link_local(i, &got));
	add(&s, 3, "fe80::1", 64, false, false);                /* DAD done: the same address, updated */
	ck_assert_uint_eq(i->n, 1);
	ck_assert(lanif_link_local(i, &got));
	ck_assert(addr_equal(&got, &(struct in6_addr){ .s6_addr = { 0xfe, 0x80, [15] = 1 } }));
	add(&s, 3, "192.0.2.1", 120, false, false);
	add(&s, 3, "192.0.2.9", 120, false, false);
	ck_assert(lanif_v4(i, &got, &plen));
	ck_assert(addr_equal(&got, &(struct in6_addr){ .s6_addr = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 1 } }));
	ck_assert_uint_eq(plen, 120);
	/* renumbering: the old prefix deprecated, the new one arriving (in DAD first) */
	add(&s, 3, "2001:db8:1:1::1", 64, false, false);
	ck_assert(lanif_global(i, &got, NULL));
	ck_assert(addr_equal(&got, &(struct in6_addr){ .s6_addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 1, [15] = 1 } }));
	add(&s, 3, "2001:db8:2:1::1", 64, true, false);
	ck_assert(lanif_global(i, &got, NULL));
	ck_assert_uint_eq(got.s6_addr[5], 1);                     /* the new one is tentative: the old stays */
	add(&s, 3, "2001:db8:2:1::1", 64, false, false);
	ck_assert(lanif_global(i, &got, NULL));
	ck_assert_uint_eq(got.s6_addr[5], 2);                     /* the newest */
	add(&s, 3, "2001:db8:1:1::1", 64, false, true);
	add(&s, 3, "2001:db8:3:1::1", 64, false, true);          /* newer but deprecated */
	ck_assert(lanif_global(i, &got, NULL));
	ck_assert_uint_eq(got.s6_addr[5], 2);
	ck_assert(lanif_addr(&s, 3, &got, 64, false, false, false));
	ck_assert(lanif_global(i, &got, NULL));
	ck_assert_uint_eq(got.s6_addr[5], 3);                     /* only deprecated ones left: the newest */
}
END_TEST

START_TEST(subnets_and_own)
{
	struct lanif_set s;
	struct in6_addr sub[8], own[8], h = A("2001:db8:1:1::77"), v = A("192.0.2.77"), far = A("2001:db8:9::1");
	uint8_t len[8];
	size_t n;

	lanif_init(&s, NAMES, 2);
	lanif_link(&s, 3, "lan0", UP);
	lanif_link(&s, 4, "guest0", UP);
	add(&s, 3, "2001:db8:1:1::1", 64, false, false);
	add(&s, 3, "2001:db8:1:1::2", 64, false, false);          /* same subnet: listed once */
	add(&s, 3, "192.0.2.1", 120, false, false);
	add(&s, 4, "2001:db8:1:2::1", 64, true, false);
	n = lanif_subnets(&s, sub, len, 8);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(lanif_subnets(&s, sub, len, 2), 2);      /* bounded */
	ck_assert_uint_eq(lanif_own(&s, own, 8), 4);
	ck_assert(lanif_is_own(&s, &own[3]));                        /* tentative ones too */
	ck_assert(!lanif_is_own(&s, &h));
	ck_assert_int_eq(lanif_index_for(&s, &h), 3);
	ck_assert_int_eq(lanif_index_for(&s, &v), 3);
	ck_assert_int_eq(lanif_index_for(&s, &far), 0);
	h = A("2001:db8:1:2::9");
	ck_assert_int_eq(lanif_index_for(&s, &h), 4);
	/* full: an address more is refused, nothing overflows */
	for (int k = 0; k < LANIF_MAX_ADDRS + 4; k++) {
		struct in6_addr x = A("2001:db8:5::");

		x.s6_addr[15] = (uint8_t)(k + 1);
		lanif_addr(&s, 4, &x, 64, false, false, true);
	}
	ck_assert_uint_eq(lanif_by_index(&s, 4)->n, LANIF_MAX_ADDRS);
}
END_TEST

static Suite *lanif_suite(void)
{
	Suite *s = suite_create("lanif");
	TCase *tc = tcase_create("facts");

	tcase_add_test(tc, links_by_name);
	tcase_add_test(tc, best_addresses);
	tcase_add_test(tc, subnets_and_own);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lanif_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
