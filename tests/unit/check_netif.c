/* SPDX-License-Identifier: GPL-2.0-or-later */
/* netif_: the host's interface facts, fed as rtnetlink would, asked as UPnP, PCP and the web UI do. */
#include <check.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/netif.h"

#define UP (IFF_UP | IFF_RUNNING)

static struct in6_addr A(const char *s)
{
	struct in6_addr a;

	ck_assert(addr_parse(s, &a));
	return a;
}

static void add(struct netif *n, int ifindex, const char *a, uint8_t plen, bool tentative, bool deprecated)
{
	struct in6_addr x = A(a);

	ck_assert(netif_addr(n, ifindex, &x, plen, tentative, deprecated, true));
}

static void del(struct netif *n, int ifindex, const char *a)
{
	struct in6_addr x = A(a);

	ck_assert(netif_addr(n, ifindex, &x, 0, false, false, false));
}

static bool v4_is(const struct netif_facts *f, const char *want)
{
	struct in6_addr m, w = A(want);

	addr_from_v4(&m, f->v4);
	return f->has_v4 && addr_equal(&m, &w);
}

START_TEST(wan_facts)
{
	struct netif *n = netif_new();
	struct netif_facts f;
	uint64_t gen;

	ck_assert_ptr_nonnull(n);
	netif_facts(n, "wan0", &f);
	ck_assert(!f.exists && !f.has_v4);
	ck_assert(netif_link(n, 2, "wan0", IFF_UP));            /* up, no carrier yet */
	netif_facts(n, "wan0", &f);
	ck_assert(f.exists && f.up && !f.running && !f.has_v4);
	ck_assert(netif_link(n, 2, "wan0", UP));
	ck_assert(!netif_link(n, 2, "wan0", UP));               /* no news */
	gen = netif_gen(n);
	add(n, 2, "203.0.113.2", 96 + 24, false, false);
	add(n, 2, "198.51.100.7", 96 + 24, false, false);       /* a second one: the first stays the answer */
	add(n, 2, "2001:db8:ff::2", 64, false, false);
	add(n, 2, "fe80::1", 64, false, false);
	ck_assert_uint_gt(netif_gen(n), gen);
	netif_facts(n, "wan0", &f);
	ck_assert(f.running && v4_is(&f, "203.0.113.2"));
	ck_assert_uint_eq(f.n_v4, 2);
	ck_assert(f.has_v6 && addr_equal(&f.v6, (const struct in6_addr[]){ A("2001:db8:ff::2") }));
	ck_assert_uint_eq(f.v6_plen, 64);
	/* a newer IPv6 address wins, unless it is tentative or the older one is the only preferred one */
	add(n, 2, "2001:db8:fe::2", 64, true, false);
	netif_facts(n, "wan0", &f);
	ck_assert(addr_equal(&f.v6, (const struct in6_addr[]){ A("2001:db8:ff::2") }));
	add(n, 2, "2001:db8:fe::2", 64, false, false);
	netif_facts(n, "wan0", &f);
	ck_assert(addr_equal(&f.v6, (const struct in6_addr[]){ A("2001:db8:fe::2") }));
	add(n, 2, "2001:db8:fe::2", 64, false, true);
	netif_facts(n, "wan0", &f);
	ck_assert(addr_equal(&f.v6, (const struct in6_addr[]){ A("2001:db8:ff::2") }));
	/* the first IPv4 address goes: the next one is the answer */
	del(n, 2, "203.0.113.2");
	netif_facts(n, "wan0", &f);
	ck_assert(v4_is(&f, "198.51.100.7"));
	ck_assert(netif_link(n, 2, "wan0", IFF_UP));            /* carrier lost */
	netif_facts(n, "wan0", &f);
	ck_assert(f.up && !f.running);
	/* made again under the same name: the old addresses went with the old index */
	ck_assert(netif_link(n, 9, "wan0", UP));
	netif_facts(n, "wan0", &f);
	ck_assert(f.exists && f.ifindex == 9 && !f.has_v4 && !f.has_v6);
	ck_assert(netif_link_gone(n, 9));
	netif_facts(n, "wan0", &f);
	ck_assert(!f.exists);
	netif_facts(n, NULL, &f);
	ck_assert(!f.exists);
	netif_facts(n, "", &f);
	ck_assert(!f.exists);
	netif_free(n);
}
END_TEST

static bool lan_or_lo(void *arg, const char *name, bool loopback)
{
	return loopback || strcmp(name, arg) == 0;
}

START_TEST(own_and_on_link)
{
	struct netif *n = netif_new();
	struct in6_addr x;
	char name[NETIF_NAME_MAX];

	ck_assert(netif_link(n, 1, "lo", UP | IFF_LOOPBACK));
	ck_assert(netif_link(n, 2, "wan0", UP));
	ck_assert(netif_link(n, 3, "lan0", UP));
	add(n, 1, "127.0.0.1", 96 + 8, false, false);
	add(n, 1, "::1", 128, false, false);
	add(n, 2, "203.0.113.2", 96 + 24, false, false);
	add(n, 3, "192.0.2.1", 96 + 24, false, false);
	add(n, 3, "2001:db8:1:1::1", 64, true, false);          /* tentative: still ours */
	/* our own addresses, on any interface */
	x = A("203.0.113.2");
	ck_assert(netif_is_own(n, &x));
	x = A("2001:db8:1:1::1");
	ck_assert(netif_is_own(n, &x));
	x = A("192.0.2.77");
	ck_assert(!netif_is_own(n, &x));
	ck_assert(!netif_is_own(NULL, &x));
	/* on the LAN interface's subnets, and only that interface's */
	ck_assert(netif_on_link(n, "lan0", &x));
	ck_assert(!netif_on_link(n, "wan0", &x));
	x = A("2001:db8:1:1::99");
	ck_assert(netif_on_link(n, "lan0", &x));
	x = A("203.0.113.9");
	ck_assert(!netif_on_link(n, "lan0", &x));
	ck_assert(!netif_on_link(n, "nosuch", &x));
	/* who holds an address, filtered as the web UI asks (a LAN interface or a loopback) */
	x = A("192.0.2.1");
	ck_assert(netif_holder(n, &x, lan_or_lo, "lan0", name));
	ck_assert_str_eq(name, "lan0");
	x = A("127.0.0.1");
	ck_assert(netif_holder(n, &x, lan_or_lo, "lan0", name));
	ck_assert_str_eq(name, "lo");
	x = A("203.0.113.2");
	ck_assert(!netif_holder(n, &x, lan_or_lo, "lan0", name));
	ck_assert(netif_holder(n, &x, NULL, NULL, name));
	ck_assert_str_eq(name, "wan0");
	/* renamed: the facts follow the name */
	ck_assert(netif_link(n, 2, "wan1", UP));
	ck_assert(netif_holder(n, &x, NULL, NULL, name));
	ck_assert_str_eq(name, "wan1");
	netif_free(n);
}
END_TEST

START_TEST(bounded)
{
	struct netif *n = netif_new();
	struct in6_addr x = A("2001:db8::");

	for (int i = 1; i <= NETIF_MAX_LINKS + 4; i++) {
		char nm[NETIF_NAME_MAX];

		snprintf(nm, sizeof(nm), "if%d", i);
		ck_assert(netif_link(n, i, nm, UP) == (i <= NETIF_MAX_LINKS));
	}
	for (int i = 0; i < NETIF_MAX_ADDRS + 4; i++) {
		x.s6_addr[15] = (uint8_t)i;
		x.s6_addr[14] = (uint8_t)(i >> 8);
		ck_assert(netif_addr(n, 1, &x, 64, false, false, true) == (i < NETIF_MAX_ADDRS));
	}
	ck_assert_uint_eq(n->dropped, 8);
	ck_assert(!netif_addr(n, 1, &x, 129, false, false, true));   /* a prefix length no address has */
	ck_assert(!netif_addr(n, 0, &x, 64, false, false, true));
	ck_assert(!netif_link(n, 0, "x", UP));
	ck_assert(!netif_link(NULL, 1, "x", UP));
	netif_free(n);
	netif_free(NULL);
}
END_TEST

/* A dump after lost events: what it does not name went away meanwhile. */
START_TEST(dump_again)
{
	struct netif *n = netif_new();
	struct netif_facts f;
	struct in6_addr x = A("198.51.100.7");
	uint64_t gen;

	ck_assert(netif_link(n, 2, "wan0", UP));
	ck_assert(netif_link(n, 3, "ppp0", UP));
	add(n, 2, "203.0.113.2", 96 + 24, false, false);
	add(n, 2, "198.51.100.7", 96 + 24, false, false);
	add(n, 3, "192.0.2.1", 96 + 24, false, false);
	/* a dump that fails keeps everything */
	netif_dump_begin(n);
	ck_assert(!netif_link(n, 2, "wan0", UP));
	netif_dump_end(n, false);
	netif_facts(n, "ppp0", &f);
	ck_assert(f.exists && f.has_v4);
	/* the dump names wan0 with one of its addresses: ppp0 and 198.51.100.7 are gone */
	gen = netif_gen(n);
	netif_dump_begin(n);
	ck_assert(!netif_link(n, 2, "wan0", UP));
	ck_assert(!netif_addr(n, 2, (const struct in6_addr[]){ A("203.0.113.2") }, 96 + 24, false, false, true));
	netif_facts(n, "ppp0", &f);
	ck_assert(f.exists);                                    /* readers see the old facts until the end */
	netif_dump_end(n, true);
	ck_assert_uint_gt(netif_gen(n), gen);
	netif_facts(n, "ppp0", &f);
	ck_assert(!f.exists);
	ck_assert(!netif_is_own(n, &x));
	netif_facts(n, "wan0", &f);
	ck_assert(f.exists && v4_is(&f, "203.0.113.2") && f.n_v4 == 1);
	/* nothing lost: no change */
	gen = netif_gen(n);
	netif_dump_begin(n);
	netif_link(n, 2, "wan0", UP);
	add(n, 2, "203.0.113.2", 96 + 24, true, false);         /* a flag changed: that is news */
	netif_dump_end(n, true);
	ck_assert_uint_eq(netif_gen(n), gen + 1);
	netif_free(n);
}
END_TEST

static Suite *netif_suite(void)
{
	Suite *s = suite_create("netif");
	TCase *tc = tcase_create("facts");

	tcase_add_test(tc, wan_facts);
	tcase_add_test(tc, own_and_on_link);
	tcase_add_test(tc, bounded);
	tcase_add_test(tc, dump_again);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(netif_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
