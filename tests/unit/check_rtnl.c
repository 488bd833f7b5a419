/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rtnl_: the rtnetlink listener against a real kernel, in a fresh network namespace (needs root or
 * CAP_SYS_ADMIN; without it the tests say so and pass, as they cannot run). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* unshare() */
#endif
#include <check.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/device.h"
#include "firewall/runtime/rtnl.h"

static const uint8_t MAC1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };
static const uint8_t MAC2[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };

struct seen {
	int calls, added, removed;
	struct in6_addr prefix;
	uint8_t len;
	struct addr_facts facts;
};

static void on_prefix(void *arg, int ifindex, const struct in6_addr *a, const struct in6_addr *prefix, uint8_t len,
		      bool added, const struct addr_facts *f)
{
	struct seen *s = arg;

	(void)ifindex;
	(void)a;
	s->calls++;
	s->added += added;
	s->removed += !added;
	s->prefix = *prefix;
	s->len = len;
	s->facts = *f;
}

static void sh(const char *cmd)
{
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* A fresh namespace with a veth pair; false if we may not make one. */
static bool lab(void)
{
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "check_rtnl: no CLONE_NEWNET (%m): not run\n");
		return false;
	}
	sh("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up");
	return true;
}

static struct in6_addr A(const char *s)
{
	struct in6_addr a;

	ck_assert(addr_parse(s, &a));
	return a;
}

static void drain(struct rtnl *r)
{
	struct pollfd pfd = { .fd = rtnl_fd(r), .events = POLLIN };

	/* events arrive asynchronously after `ip` returns; give them 200 ms */
	while (poll(&pfd, 1, 200) > 0)
		ck_assert_int_ge(rtnl_read(r), 0);
}

START_TEST(dump_learns)
{
	struct device_table *t;
	struct rtnl_params p = { 0 };
	struct seen s = { 0 };
	struct rtnl *r;
	struct in6_addr e = A("2001:db8:1:1:5054:ff:fe12:3401"), v4 = A("192.0.2.10"), want = A("2001:db8:1:1::");
	const struct device_addr *da;
	struct lanif_set lan;
	struct in6_addr got;

	if (!lab())
		return;
	sh("ip -6 addr add 2001:db8:1:1::1/64 dev v0 nodad");
	sh("ip addr add 192.0.2.1/24 dev v0");
	sh("ip -6 neigh add 2001:db8:1:1:5054:ff:fe12:3401 lladdr 52:54:00:12:34:01 dev v0 nud reachable");
	sh("ip neigh add 192.0.2.10 lladdr 52:54:00:12:34:01 dev v0 nud stale");
	t = device_table_new(0, 0);
	lanif_init(&lan, (const char (*)[LANIF_NAME_MAX]) "v0", 1);
	p.lan = &lan;
	p.devices = t;
	p.on_prefix = on_prefix;
	p.arg = &s;
	r = rtnl_open(&p);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_ge(rtnl_fd(r), 0);
	ck_assert_int_eq(rtnl_dump(r), 0);
	ck_assert(device_same(t, &e, &v4));
	ck_assert_ptr_nonnull(device_by_addr(t, &e, &da));
	ck_assert_int_eq(da->kind, ADDR_KIND_EUI64);
	ck_assert_mem_eq(device_find(t, MAC1)->mac, MAC1, 6);
	ck_assert_int_ge(s.added, 1);
	ck_assert(addr_equal(&s.prefix, &want));
	ck_assert_uint_eq(s.len, 64);
	ck_assert(s.facts.flag_permanent);
	/* the LAN facts: v0 is there and up, with its IPv4 and IPv6 addresses */
	ck_assert_int_eq(lan.ifs[0].ifindex, (int)if_nametoindex("v0"));
	ck_assert(lan.ifs[0].up);
	ck_assert(lanif_v4(&lan.ifs[0], &got, NULL));
	ck_assert(addr_equal(&got, &(struct in6_addr){ .s6_addr = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 1 } }));
	ck_assert(lanif_global(&lan.ifs[0], &got, NULL));
	ck_assert(addr_equal(&got, &(struct in6_addr){ .s6_addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 1, [15] = 1 } }));
	ck_assert_int_eq(lanif_index_for(&lan, &e), (int)if_nametoindex("v0"));
	rtnl_close(r);
	device_table_free(t);
}
END_TEST

START_TEST(events_learn)
{
	struct device_table *t = device_table_new(0, 0);
	struct rtnl_params p = { 0 };
	struct seen s = { 0 };
	struct rtnl *r;
	struct in6_addr o = A("2001:db8:2:1::77"), ll = A("fe80::1234"), want = A("2001:db8:2:1::");
	const struct device_addr *da;
	struct lanif_set lan;

	if (!lab()) {
		device_table_free(t);
		return;
	}
	lanif_init(&lan, (const char (*)[LANIF_NAME_MAX]) "v0", 1);
	p.lan = &lan;
	p.devices = t;
	p.on_prefix = on_prefix;
	p.arg = &s;
	r = rtnl_open(&p);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(rtnl_dump(r), 0);      /* the links: v0 is the LAN */
	ck_assert_int_eq(rtnl_read(r), 0);      /* nothing yet, non-blocking */
	sh("ip -6 addr add 2001:db8:2:1::1/64 dev v0 nodad preferred_lft 3600 valid_lft 7200");
	sh("ip -6 neigh add 2001:db8:2:1::77 lladdr 52:54:00:12:34:02 dev v0 nud stale");
	sh("ip -6 neigh add fe80::1234 lladdr 52:54:00:12:34:02 dev v0 nud reachable");
	/* on the other interface: not ours */
	sh("ip -6 neigh add 2001:db8:3:1::5 lladdr 52:54:00:12:34:01 dev v1 nud stale");
	drain(r);
	ck_assert(device_same(t, &o, &ll));
	ck_assert_ptr_null(device_find(t, MAC1));
	ck_assert_ptr_nonnull(device_find(t, MAC2));
	ck_assert_int_eq(s.added, 1);
	ck_assert(addr_equal(&s.prefix, &want));
	ck_assert(s.facts.lifetimes_known);
	ck_assert_uint_le(s.facts.valid, 7200);
	ck_assert_uint_gt(s.facts.valid, 7000);
	sh("ip -6 neigh del 2001:db8:2:1::77 dev v0");
	sh("ip -6 addr del 2001:db8:2:1::1/64 dev v0");
	drain(r);
	ck_assert_ptr_nonnull(device_by_addr(t, &o, &da));
	ck_assert_int_eq(da->neigh, NEIGH_ABSENT);
	ck_assert_int_eq(s.removed, 1);
	rtnl_close(r);
	device_table_free(t);
}
END_TEST

/* A LAN bridge made after we started, with its link-local address in DAD at first (the router booted
 * before its LAN): the facts follow it, by name. */
START_TEST(interface_comes_later)
{
	struct device_table *t = device_table_new(0, 0);
	struct rtnl_params p = { 0 };
	struct lanif_set lan;
	struct rtnl *r;
	struct in6_addr ll;
	uint64_t gen;

	if (!lab()) {
		device_table_free(t);
		return;
	}
	lanif_init(&lan, (const char (*)[LANIF_NAME_MAX]) "br9", 1);
	p.lan = &lan;
	p.devices = t;
	r = rtnl_open(&p);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(rtnl_dump(r), 0);
	ck_assert_int_eq(lan.ifs[0].ifindex, 0);
	ck_assert(!lanif_usable(&lan.ifs[0]));
	gen = lan.gen;
	sh("ip link add br9 type bridge && ip link set v1 master br9 && ip link set br9 up");
	drain(r);
	ck_assert_int_eq(lan.ifs[0].ifindex, (int)if_nametoindex("br9"));
	ck_assert_uint_gt(lan.gen, gen);
	ck_assert(lan.ifs[0].up);
	sh("ip addr add 192.0.2.1/24 dev br9");
	sh("ip -6 addr add fe80::1/64 dev br9");   /* with DAD: tentative for a second */
	drain(r);
	if (!lanif_link_local(&lan.ifs[0], &ll)) {
		/* DAD still running: it finishes within about a second and the event says so */
		struct pollfd pfd = { .fd = rtnl_fd(r), .events = POLLIN };

		for (int i = 0; i < 30 && !lanif_link_local(&lan.ifs[0], &ll); i++)
			if (poll(&pfd, 1, 100) > 0)
				ck_assert_int_ge(rtnl_read(r), 0);
	}
	ck_assert(lanif_link_local(&lan.ifs[0], &ll));
	ck_assert(lanif_v4(&lan.ifs[0], NULL, NULL));
	sh("ip link del br9");
	drain(r);
	ck_assert_int_eq(lan.ifs[0].ifindex, 0);
	ck_assert_uint_eq(lan.ifs[0].n, 0);
	rtnl_close(r);
	device_table_free(t);
}
END_TEST

/* Every interface's facts (netif.h), the WAN's among them, from the dump and then from events; and the
 * one-shot neighbour-table question (rtnl_same_device_neigh). */
START_TEST(host_facts)
{
	struct device_table *t;
	struct rtnl_params p = { 0 };
	struct netif *host = netif_new();
	struct lanif_set lan;
	struct netif_facts f;
	struct rtnl *r;
	struct in6_addr x, y, lan_v4 = A("192.0.2.10"), lan_e = A("2001:db8:1:1:5054:ff:fe12:3401");
	char name[NETIF_NAME_MAX];

	if (!lab())
		return;
	sh("ip link set lo up");
	sh("ip addr add 192.0.2.1/24 dev v0");
	sh("ip addr add 203.0.113.2/24 dev v1 && ip -6 addr add 2001:db8:ff::2/64 dev v1 nodad");
	sh("ip neigh add 192.0.2.10 lladdr 52:54:00:12:34:01 dev v0 nud stale");
	sh("ip neigh add 192.0.2.11 lladdr 52:54:00:12:34:02 dev v0 nud stale");
	t = device_table_new(0, 0);
	lanif_init(&lan, (const char (*)[LANIF_NAME_MAX]) "v0", 1);
	p.lan = &lan;
	p.host = host;
	p.devices = t;
	r = rtnl_open(&p);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(rtnl_dump(r), 0);
	/* the WAN side (v1): not a LAN interface, so in the host's facts only */
	netif_facts(host, "v1", &f);
	ck_assert(f.exists && f.up && f.ifindex == (int)if_nametoindex("v1"));
	ck_assert(f.has_v4 && f.v4.s_addr == htonl(0xcb007102));         /* 203.0.113.2 */
	ck_assert(f.has_v6 && addr_equal(&f.v6, (const struct in6_addr[]){ A("2001:db8:ff::2") }));
	ck_assert_ptr_null(lanif_by_index(&lan, (int)if_nametoindex("v1")));
	x = A("203.0.113.2");
	ck_assert(netif_is_own(host, &x));
	ck_assert(!lanif_is_own(&lan, &x));
	x = A("127.0.0.1");
	ck_assert(netif_holder(host, &x, NULL, NULL, name));
	ck_assert_str_eq(name, "lo");
	ck_assert(netif_on_link(host, "v0", &lan_v4));
	ck_assert(!netif_on_link(host, "v1", &lan_v4));
	/* events: another IPv4 address, then the first one goes; the link goes down */
	sh("ip addr add 198.51.100.2/24 dev v1");
	drain(r);
	netif_facts(host, "v1", &f);
	ck_assert_uint_eq(f.n_v4, 2);
	ck_assert(f.v4.s_addr == htonl(0xcb007102));
	sh("ip addr del 203.0.113.2/24 dev v1");
	drain(r);
	netif_facts(host, "v1", &f);
	ck_assert(f.has_v4 && f.v4.s_addr == htonl(0xc6336402));         /* 198.51.100.2 */
	x = A("203.0.113.2");
	ck_assert(!netif_is_own(host, &x));
	sh("ip link set v1 down");
	drain(r);
	netif_facts(host, "v1", &f);
	ck_assert(!f.up);
	sh("ip link del v0");   /* takes v1 with it */
	drain(r);
	netif_facts(host, "v1", &f);
	ck_assert(!f.exists);
	rtnl_close(r);
	device_table_free(t);
	netif_free(host);
	/* the neighbour table, asked once: same MAC, another MAC, an EUI-64 IID standing for its MAC */
	sh("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up");
	sh("ip addr add 192.0.2.1/24 dev v0");
	sh("ip neigh add 192.0.2.10 lladdr 52:54:00:12:34:01 dev v0 nud stale");
	sh("ip neigh add 192.0.2.11 lladdr 52:54:00:12:34:02 dev v0 nud stale");
	x = A("192.0.2.11");
	ck_assert(rtnl_same_device_neigh(NULL, &lan_v4, &lan_e));
	ck_assert(!rtnl_same_device_neigh(NULL, &lan_v4, &x));
	y = A("192.0.2.99");   /* nobody */
	ck_assert(!rtnl_same_device_neigh(NULL, &lan_v4, &y));
	ck_assert(rtnl_same_device_neigh(NULL, &y, &y));
}
END_TEST

START_TEST(bad_params)
{
	struct rtnl_params p = { 0 };

	ck_assert_ptr_null(rtnl_open(NULL));
	ck_assert_ptr_null(rtnl_open(&p));          /* no device table */
	ck_assert_int_eq(rtnl_fd(NULL), -1);
	ck_assert_int_eq(rtnl_read(NULL), -1);
	ck_assert_int_eq(rtnl_dump(NULL), -1);
	rtnl_close(NULL);
}
END_TEST

static Suite *rtnl_suite(void)
{
	Suite *s = suite_create("rtnl");
	TCase *tc = tcase_create("netns");

	tcase_add_test(tc, dump_learns);
	tcase_add_test(tc, events_learn);
	tcase_add_test(tc, interface_comes_later);
	tcase_add_test(tc, host_facts);
	tcase_add_test(tc, bad_params);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rtnl_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);   /* each test unshares its own namespace */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
