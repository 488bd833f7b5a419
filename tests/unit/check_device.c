/* SPDX-License-Identifier: GPL-2.0-or-later */
/* device_ and addr_classify: the address classifier and the device table. */
#include <check.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/device.h"

static struct in6_addr A(const char *s)
{
	struct in6_addr a;

	ck_assert_msg(addr_parse(s, &a), "bad test address %s", s);
	return a;
}

static const uint8_t MAC1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };   /* universal (U/L bit clear) */
static const uint8_t MAC2[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };
static const uint8_t MACL[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };   /* locally administered */

START_TEST(eui64_iid)
{
	static const uint8_t want1[8] = { 0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x01 };
	static const uint8_t wantl[8] = { 0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x01 };
	uint8_t iid[8], mac[6];
	struct in6_addr a;

	addr_eui64_iid(MAC1, iid);
	ck_assert_mem_eq(iid, want1, 8);
	addr_eui64_iid(MACL, iid);
	ck_assert_mem_eq(iid, wantl, 8);   /* U/L set in the MAC -> cleared in the IID */
	a = A("2001:db8:1:1:5054:ff:fe12:3401");
	ck_assert(addr_iid_is_eui64(&a, mac));
	ck_assert_mem_eq(mac, MAC1, 6);
	a = A("2001:db8:1:1::ff:fe00:1");
	ck_assert(addr_iid_is_eui64(&a, mac));
	ck_assert_mem_eq(mac, MACL, 6);
	a = A("2001:db8:1:1:a1b2:c3d4:e5f6:789");
	ck_assert(!addr_iid_is_eui64(&a, mac));
}
END_TEST

struct ccase {
	const char *addr;
	const uint8_t *mac;
	struct addr_facts facts;
	enum addr_kind want;
	const char *evidence;   /* substring expected */
};

static const struct ccase ccases[] = {
	{ "2001:db8:1:1:5054:ff:fe12:3401", MAC1, { 0 }, ADDR_KIND_EUI64, "IID matches MAC" },
	{ "2001:db8:1:1::ff:fe00:1", MACL, { 0 }, ADDR_KIND_EUI64, "IID matches MAC" },
	/* the IID without the flip: not this MAC's EUI-64 */
	{ "2001:db8:1:1:200:ff:fe00:1", MACL, { 0 }, ADDR_KIND_UNKNOWN, "another MAC" },
	{ "2001:db8:1:1:5254:ff:fe12:3401", MAC1, { 0 }, ADDR_KIND_UNKNOWN, "another MAC" },
	{ "2001:db8:1:1:5054:ff:fe12:3401", MAC2, { 0 }, ADDR_KIND_UNKNOWN, "another MAC" },
	{ "2001:db8:1:1:5054:ff:fe12:3401", NULL, { 0 }, ADDR_KIND_UNKNOWN, "MAC unknown" },
	{ "fe80::5054:ff:fe12:3401", MAC1, { 0 }, ADDR_KIND_LINK_LOCAL, "fe80::/10" },
	{ "fd00:1:2:3::5", MAC1, { 0 }, ADDR_KIND_ULA, "fc00::/7" },
	{ "fd00:1:2:3:5054:ff:fe12:3401", MAC1, { 0 }, ADDR_KIND_ULA, "fc00::/7" },
	{ "192.0.2.10", MAC1, { 0 }, ADDR_KIND_IPV4, "IPv4" },
	{ "ff02::1", MAC1, { 0 }, ADDR_KIND_UNKNOWN, "not a host address" },
	{ "::", MAC1, { 0 }, ADDR_KIND_UNKNOWN, "not a host address" },
	{ "::1", MAC1, { 0 }, ADDR_KIND_UNKNOWN, "not a host address" },
	/* RFC 7217 / 8981: opaque IIDs; the address alone does not tell */
	{ "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC1, { 0 }, ADDR_KIND_UNKNOWN, "not yet seen to persist" },
	{ "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC1, { .flag_temporary = true }, ADDR_KIND_TEMPORARY, "RFC 8981" },
	{ "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC1, { .flag_stable_privacy = true }, ADDR_KIND_STABLE, "RFC 7217" },
	{ "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC1, { .flag_permanent = true }, ADDR_KIND_STABLE, "by hand" },
	{ "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC1, { true, 86400, 172800, false, false, false },
	  ADDR_KIND_TEMPORARY, "finite and short" },
	{ "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC1, { true, 86401, 172800, false, false, false },
	  ADDR_KIND_UNKNOWN, "not yet" },
	{ "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC1, { true, ADDR_LIFETIME_INFINITE, ADDR_LIFETIME_INFINITE, false,
	  false, false }, ADDR_KIND_UNKNOWN, "not yet" },
	/* an EUI-64 stays EUI-64 whatever the lifetimes */
	{ "2001:db8:1:1:5054:ff:fe12:3401", MAC1, { true, 600, 1200, false, false, false }, ADDR_KIND_EUI64, "MAC" },
};

START_TEST(classify_table)
{
	const struct ccase *c = &ccases[_i];
	struct in6_addr a = A(c->addr);
	char ev[DEVICE_EVIDENCE_MAX];
	enum addr_kind k = addr_classify(&a, c->mac, &c->facts, ev, sizeof(ev));

	ck_assert_msg(k == c->want, "%s: got %s want %s (%s)", c->addr, addr_kind_name(k), addr_kind_name(c->want), ev);
	ck_assert_msg(strstr(ev, c->evidence), "%s: evidence '%s' lacks '%s'", c->addr, ev, c->evidence);
}
END_TEST

START_TEST(classify_bad_input)
{
	char ev[4];
	struct in6_addr a = A("2001:db8:1:1:5054:ff:fe12:3401");

	ck_assert_int_eq(addr_classify(NULL, MAC1, NULL, ev, sizeof(ev)), ADDR_KIND_UNKNOWN);
	/* a tiny evidence buffer truncates, never overflows; NULL evidence is fine */
	ck_assert_int_eq(addr_classify(&a, MAC1, NULL, ev, sizeof(ev)), ADDR_KIND_EUI64);
	ck_assert_uint_eq(strlen(ev), 3);
	ck_assert_int_eq(addr_classify(&a, MAC1, NULL, NULL, 0), ADDR_KIND_EUI64);
}
END_TEST

START_TEST(mac_text)
{
	uint8_t m[6];
	char buf[18];

	ck_assert(mac_parse("52:54:00:12:34:01", m));
	ck_assert_mem_eq(m, MAC1, 6);
	ck_assert_str_eq(mac_str(MACL, buf), "02:00:00:00:00:01");
	ck_assert(mac_parse("AA:bb:CC:dd:EE:ff", m));
	ck_assert(!mac_parse("52:54:00:12:34", m));
	ck_assert(!mac_parse("52:54:00:12:34:011", m));
	ck_assert(!mac_parse("52-54-00-12-34-01", m));
	ck_assert(!mac_parse("52:54:00:12:34:0g", m));
	ck_assert(!mac_parse("", m));
	ck_assert(!mac_parse(NULL, m));
}
END_TEST

static enum addr_kind kind_of(struct device_table *t, const char *s)
{
	const struct device_addr *da;
	struct in6_addr a = A(s);

	ck_assert_msg(device_by_addr(t, &a, &da) && da, "%s unknown", s);
	return da->kind;
}

START_TEST(table_same_device)
{
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr e = A("2001:db8:1:1:5054:ff:fe12:3401"), ll = A("fe80::5054:ff:fe12:3401");
	struct in6_addr v4 = A("192.0.2.10"), o = A("2001:db8:1:1::77"), x = A("2001:db8:1:1::99");

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &e, NULL, 100), 1);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &e, NULL, 101), 0);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &ll, NULL, 100), 1);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &v4, NULL, 100), 1);
	ck_assert_int_eq(device_addr_seen(t, MAC2, 2, &o, NULL, 100), 1);
	ck_assert_uint_eq(device_count(t), 2);
	ck_assert(device_same(t, &e, &ll));
	ck_assert(device_same(t, &e, &v4));
	ck_assert(device_same_cb(t, &v4, &ll));
	ck_assert(!device_same(t, &e, &o));
	ck_assert(!device_same(t, &e, &x));        /* unknown address */
	ck_assert(device_same(t, &x, &x));         /* equal addresses are */
	ck_assert(!device_same(t, NULL, &x));
	ck_assert_int_eq(kind_of(t, "2001:db8:1:1:5054:ff:fe12:3401"), ADDR_KIND_EUI64);
	ck_assert_int_eq(kind_of(t, "fe80::5054:ff:fe12:3401"), ADDR_KIND_LINK_LOCAL);
	ck_assert_int_eq(kind_of(t, "192.0.2.10"), ADDR_KIND_IPV4);
	ck_assert(device_holds(t, MAC1, &e));
	ck_assert(!device_holds(t, MAC2, &e));
	/* the address moves to another MAC: the old claim goes */
	ck_assert_int_eq(device_addr_seen(t, MAC2, 2, &v4, NULL, 200), 1);
	ck_assert(!device_same(t, &e, &v4));
	ck_assert(device_same(t, &o, &v4));
	ck_assert_uint_eq(device_find(t, MAC1)->naddrs, 2);
	/* gone */
	ck_assert_int_eq(device_addr_gone(t, &ll, 300), 1);
	ck_assert_int_eq(device_addr_gone(t, &ll, 300), 0);
	ck_assert(!device_same(t, &e, &ll));
	device_table_free(t);
}
END_TEST

START_TEST(table_bad_input)
{
	static const uint8_t zero[6], bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t mcast[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr a = A("2001:db8:1:1::5"), m = A("ff02::1"), u = A("::"), lo = A("::1");
	char name[DEVICE_NAME_MAX + 2];

	ck_assert_int_eq(device_addr_seen(t, zero, 2, &a, NULL, 1), -1);
	ck_assert_int_eq(device_addr_seen(t, bcast, 2, &a, NULL, 1), -1);
	ck_assert_int_eq(device_addr_seen(t, mcast, 2, &a, NULL, 1), -1);
	ck_assert_int_eq(device_addr_seen(t, NULL, 2, &a, NULL, 1), -1);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &m, NULL, 1), -1);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &u, NULL, 1), -1);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &lo, NULL, 1), -1);
	ck_assert_int_eq(device_addr_seen(NULL, MAC1, 2, &a, NULL, 1), -1);
	ck_assert_uint_eq(device_count(t), 0);
	ck_assert_int_eq(device_neigh_state(t, &a, NEIGH_FAILED, 1), 0);
	ck_assert_int_eq(device_addr_hint(t, &a, ADDR_KIND_STABLE, "x"), 0);
	/* names */
	ck_assert_int_eq(device_set_name(t, zero, "laptop"), -1);
	ck_assert_int_eq(device_set_name(t, mcast, "laptop"), -1);
	ck_assert_int_eq(device_set_name(NULL, MAC1, "laptop"), -1);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &a, NULL, 1), 1);
	ck_assert_int_eq(device_set_name(t, MAC1, "laptop"), 0);
	ck_assert_str_eq(device_find(t, MAC1)->name, "laptop");
	ck_assert_int_eq(device_set_name(t, MAC1, "bad\nname"), -1);
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	ck_assert_int_eq(device_set_name(t, MAC1, name), -1);        /* one byte too long */
	name[DEVICE_NAME_MAX] = 0;
	ck_assert_int_eq(device_set_name(t, MAC1, name), 0);
	ck_assert_str_eq(device_find(t, MAC1)->name, name);
	ck_assert_int_eq(device_set_name(t, MAC1, NULL), -1);
	/* hints: only stable or temporary */
	ck_assert_int_eq(device_addr_hint(t, &a, ADDR_KIND_EUI64, "x"), 0);
	ck_assert_int_eq(device_addr_hint(t, &a, (enum addr_kind)42, "x"), 0);
	ck_assert_int_eq(device_addr_hint(t, &a, ADDR_KIND_STABLE, "DHCPv6 lease"), 1);
	ck_assert_int_eq(kind_of(t, "2001:db8:1:1::5"), ADDR_KIND_STABLE);
	device_table_free(t);
	device_table_free(NULL);
}
END_TEST

START_TEST(table_full)
{
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr a = A("2001:db8:1:1::1");

	for (int i = 0; i < DEVICE_MAX_ADDRS; i++) {
		a.s6_addr[15] = (uint8_t)(i + 1);
		ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &a, NULL, 1), 1);
	}
	a.s6_addr[15] = 0xee;
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &a, NULL, 1), -1);
	ck_assert_ptr_null(device_by_addr(t, &a, NULL));
	/* a full device does not stop another one */
	ck_assert_int_eq(device_addr_seen(t, MAC2, 2, &a, NULL, 1), 1);
	device_table_free(t);
}
END_TEST

/* RFC 7217 stable opaque: persists; RFC 8981 temporary: a sibling of the stable one. */
START_TEST(table_behaviour)
{
	struct device_table *t = device_table_new(1000, 500);
	struct in6_addr s = A("2001:db8:1:1:1111:2222:3333:4444"), tmp = A("2001:db8:1:1:aaaa:bbbb:cccc:dddd");
	struct in6_addr tok1 = A("2001:db8:1:1::42"), tok2 = A("2001:db8:1:2::42");
	struct in6_addr out;
	const struct device_addr *da;

	ck_assert_int_eq(device_addr_seen(t, MAC2, 2, &s, NULL, 0), 1);
	ck_assert_int_eq(kind_of(t, "2001:db8:1:1:1111:2222:3333:4444"), ADDR_KIND_UNKNOWN);
	ck_assert(!device_stable_address(t, MAC2, &s, 64, &out));   /* unknown is never taken for stable */
	ck_assert_uint_eq(device_table_age(t, 999), 0);
	ck_assert_uint_eq(device_table_age(t, 1000), 1);
	ck_assert_int_eq(kind_of(t, "2001:db8:1:1:1111:2222:3333:4444"), ADDR_KIND_STABLE);
	device_by_addr(t, &s, &da);
	ck_assert_ptr_nonnull(strstr(da->evidence, "persisted"));
	/* a newcomer in the same /64: the temporary one */
	ck_assert_int_eq(device_addr_seen(t, MAC2, 2, &tmp, NULL, 1001), 1);
	ck_assert_int_eq(kind_of(t, "2001:db8:1:1:aaaa:bbbb:cccc:dddd"), ADDR_KIND_TEMPORARY);
	device_by_addr(t, &tmp, &da);
	ck_assert_ptr_nonnull(strstr(da->evidence, "sibling"));
	ck_assert(device_stable_address(t, MAC2, &s, 64, &out));
	ck_assert(addr_equal(&out, &s));
	/* the same opaque IID in two prefixes: a fixed token, stable at once */
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &tok1, NULL, 0), 1);
	ck_assert_int_eq(kind_of(t, "2001:db8:1:1::42"), ADDR_KIND_UNKNOWN);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &tok2, NULL, 1), 1);
	ck_assert_int_eq(kind_of(t, "2001:db8:1:1::42"), ADDR_KIND_STABLE);
	ck_assert_int_eq(kind_of(t, "2001:db8:1:2::42"), ADDR_KIND_STABLE);
	device_by_addr(t, &tok2, &da);
	ck_assert_ptr_nonnull(strstr(da->evidence, "two prefixes"));
	/* a failed neighbour is not offered as stable; forgotten after forget_after */
	ck_assert_int_eq(device_neigh_state(t, &s, NEIGH_FAILED, 2000), 1);
	ck_assert(!device_stable_address(t, MAC2, &s, 64, &out));
	ck_assert(!device_holds(t, MAC2, &s));
	ck_assert_int_eq(device_neigh_state(t, &tmp, NEIGH_ABSENT, 2000), 1);
	ck_assert_uint_eq(device_table_age(t, 2499), 0);
	ck_assert_uint_ge(device_table_age(t, 2500), 2);
	ck_assert_ptr_null(device_by_addr(t, &s, NULL));
	ck_assert_ptr_null(device_find(t, MAC2));    /* no address left, no name: dropped */
	ck_assert_ptr_nonnull(device_find(t, MAC1));
	device_table_free(t);
}
END_TEST

START_TEST(table_stable_address)
{
	struct device_table *t = device_table_new(100, 0);
	struct in6_addr e = A("2001:db8:1:1:5054:ff:fe12:3401"), s = A("2001:db8:1:1::1234:5678");
	struct in6_addr s2 = A("2001:db8:1:2::abcd"), sub = A("2001:db8:1:1::"), sub2 = A("2001:db8:1:2::");
	struct in6_addr ula = A("fd00:1:2:3:5054:ff:fe12:3401"), out;

	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &s, NULL, 0), 1);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &s2, NULL, 0), 1);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &ula, NULL, 0), 1);
	device_table_age(t, 200);
	ck_assert(device_stable_address(t, MAC1, &sub, 64, &out));
	ck_assert(addr_equal(&out, &s));
	/* EUI-64 beats stable opaque */
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &e, NULL, 201), 1);
	ck_assert(device_stable_address(t, MAC1, &sub, 64, &out));
	ck_assert(addr_equal(&out, &e));
	ck_assert(device_stable_address(t, MAC1, &sub2, 64, &out));
	ck_assert(addr_equal(&out, &s2));
	ck_assert(!device_stable_address(t, MAC2, &sub, 64, &out));
	ck_assert(!device_stable_address(t, MAC1, &sub, 129, &out));
	sub = A("2001:db8:9::");
	ck_assert(!device_stable_address(t, MAC1, &sub, 48, &out));
	device_table_free(t);
}
END_TEST

/* The registry: names by MAC for devices present or not, given on appearance, kept in stable slots. */
START_TEST(names_registry)
{
	struct device_table *t = device_table_new(1000, 500);
	struct in6_addr a = A("2001:db8:1:1::5"), b = A("2001:db8:1:1::6");
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 0 };

	ck_assert_int_eq(device_name_slot(t, MAC1), 0);
	ck_assert_uint_eq(device_name_count(t), 0);
	/* named while away: no device yet, the name waits */
	ck_assert_int_eq(device_set_name(t, MAC1, "Game console"), 0);
	ck_assert_ptr_null(device_find(t, MAC1));
	ck_assert_str_eq(device_name_of(t, MAC1), "Game console");
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &a, NULL, 10), 1);
	ck_assert_str_eq(device_find(t, MAC1)->name, "Game console");
	/* a named device that leaves stays listed (the household named it) */
	ck_assert_int_eq(device_neigh_state(t, &a, NEIGH_ABSENT, 20), 1);
	device_table_age(t, 20 + 500);
	ck_assert_ptr_nonnull(device_find(t, MAC1));
	ck_assert_uint_eq(device_find(t, MAC1)->naddrs, 0);
	/* slots: MAC1 keeps 0, MAC2 gets 1; freeing 0 makes it the next free one */
	ck_assert_int_eq(device_name_slot(t, MAC1), 0);
	ck_assert_int_eq(device_name_slot(t, MAC2), 1);
	ck_assert_int_eq(device_name_put(t, 1, MAC2, "Phone", false), 0);
	ck_assert_int_eq(device_name_put(t, 1, MAC1, "x", false), -1);        /* MAC1 holds slot 0 */
	ck_assert_int_eq(device_name_put(t, 2, MAC2, "x", false), -1);        /* MAC2 holds slot 1 */
	ck_assert_int_eq(device_name_put(t, -1, MAC2, "x", false), -1);
	ck_assert_int_eq(device_name_put(t, DEVICE_NAMES_MAX, MAC2, "x", false), -1);
	ck_assert_int_eq(device_set_name(t, MAC1, ""), 0);
	ck_assert_str_eq(device_find(t, MAC1)->name, "");
	ck_assert_int_eq(device_name_slot(t, MACL), 0);
	ck_assert_int_eq(device_name_slot(t, MAC2), 1);
	device_table_age(t, 20 + 501);
	ck_assert_ptr_null(device_find(t, MAC1));                      /* away and no name: forgotten */
	/* renaming a present device changes it at once */
	ck_assert_int_eq(device_addr_seen(t, MAC2, 2, &b, NULL, 30), 1);
	ck_assert_str_eq(device_find(t, MAC2)->name, "Phone");
	ck_assert_int_eq(device_set_name(t, MAC2, "Work phone"), 0);
	ck_assert_str_eq(device_find(t, MAC2)->name, "Work phone");
	ck_assert_int_eq(device_name_slot(t, MAC2), 1);
	/* full: no new name, but renaming and un-naming still work */
	for (int i = 1; device_name_count(t) < DEVICE_NAMES_MAX; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		ck_assert_int_eq(device_set_name(t, mac, "filler"), 0);
	}
	ck_assert_int_eq(device_name_slot(t, MAC1), -1);
	ck_assert_int_eq(device_set_name(t, MAC1, "one too many"), -1);
	ck_assert_int_eq(device_set_name(t, MAC1, ""), 0);             /* nothing to un-name */
	ck_assert_int_eq(device_set_name(t, MAC2, "TV"), 0);
	ck_assert_int_eq(device_set_name(t, MAC2, ""), 0);
	ck_assert_int_eq(device_set_name(t, MAC1, "fits again"), 0);
	ck_assert_int_eq(device_name_slot(t, MAC1), 1);
	device_table_free(t);
}
END_TEST

static const struct {
	const char *name;
	bool ok;
} names[] = {
	{ "", true },
	{ "Game console", true },
	{ "Caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x8e\xae", true },   /* é, em dash, a 4-byte emoji */
	{ "123456789012345678901234567890123456789012345678901234567890123", true },   /* 63 bytes */
	{ "1234567890123456789012345678901234567890123456789012345678901234", false },  /* 64 */
	{ "12345678901234567890123456789012345678901234567890123456789012\xc3\xa9", false }, /* 64 with é */
	{ "tab\there", false },
	{ "new\nline", false },
	{ "del\x7f", false },
	{ "c1 \xc2\x85", false },                 /* U+0085 NEL */
	{ "bidi \xe2\x80\xae", false },          /* U+202E RIGHT-TO-LEFT OVERRIDE */
	{ "isolate \xe2\x81\xa6", false },       /* U+2066 */
	{ "line \xe2\x80\xa8", false },          /* U+2028 */
	/* Unicode format characters (Cf), each range's ends: invisible or reordering text */
	{ "soft\xc2\xadhyphen", false },         /* U+00AD */
	{ "arabic \xd8\x80", false },             /* U+0600 */
	{ "arabic \xd8\x85", false },             /* U+0605 */
	{ "alm \xd8\x9c", false },                /* U+061C ARABIC LETTER MARK */
	{ "zwsp\xe2\x80\x8b", false },            /* U+200B ZERO WIDTH SPACE */
	{ "lrm \xe2\x80\x8e", false },            /* U+200E LEFT-TO-RIGHT MARK */
	{ "rlm \xe2\x80\x8f", false },            /* U+200F RIGHT-TO-LEFT MARK */
	{ "lre \xe2\x80\xaa", false },            /* U+202A */
	{ "word joiner \xe2\x81\xa0", false },    /* U+2060 */
	{ "invisible plus \xe2\x81\xa4", false }, /* U+2064 */
	{ "pdi \xe2\x81\xa9", false },            /* U+2069 POP DIRECTIONAL ISOLATE */
	{ "nominal digits \xe2\x81\xaf", false }, /* U+206F */
	{ "\xef\xbb\xbf" "bom", false },           /* U+FEFF */
	{ "annotation \xef\xbf\xbb", false },     /* U+FFFB */
	{ "egyptian \xf0\x93\x90\xbf", false },  /* U+1343F */
	{ "tag \xf3\xa0\x80\x81", false },       /* U+E0001 LANGUAGE TAG */
	{ "tag \xf3\xa0\x81\xbf", false },       /* U+E007F CANCEL TAG */
	/* their neighbours are text */
	{ "\xc2\xac\xc2\xae", true },              /* U+00AC, U+00AE */
	{ "hyphen \xe2\x80\x90", true },          /* U+2010 */
	{ "ellipsis \xe2\x80\xa6", true },        /* U+2026 */
	{ "narrow nbsp \xe2\x80\xaf", true },     /* U+202F */
	{ "superscript \xe2\x81\xb0", true },     /* U+2070 */
	{ "replacement \xef\xbf\xbd", true },     /* U+FFFD */
	{ "latin1 \xe9", false },                  /* not UTF-8 */
	{ "overlong \xc0\xaf", false },
	{ "overlong \xe0\x80\xaf", false },
	{ "surrogate \xed\xa0\x80", false },
	{ "too big \xf4\x90\x80\x80", false },  /* above U+10FFFF */
	{ "cut \xe2\x82", false },
	{ "lone \x80", false },
};

START_TEST(names_valid)
{
	ck_assert_msg(device_name_valid(names[_i].name) == names[_i].ok, "\"%s\" should be %s", names[_i].name,
		      names[_i].ok ? "valid" : "refused");
	ck_assert(!device_name_valid(NULL));
}
END_TEST

START_TEST(names_record)
{
	char rec[DEVICE_NAME_RECORD_MAX], name[DEVICE_NAME_MAX + 1];
	uint8_t mac[6];
	bool blocked;

	device_name_record(MAC1, "Game console", false, rec);
	ck_assert_str_eq(rec, "52:54:00:12:34:01 Game console");   /* what every record looked like before */
	ck_assert(device_name_record_parse(rec, mac, name, &blocked));
	ck_assert_mem_eq(mac, MAC1, 6);
	ck_assert_str_eq(name, "Game console");
	ck_assert(!blocked);
	ck_assert(!device_name_record_parse("", mac, name, &blocked));
	ck_assert(!device_name_record_parse(NULL, mac, name, &blocked));
	ck_assert(!device_name_record_parse("52:54:00:12:34:01", mac, name, &blocked));
	ck_assert(!device_name_record_parse("52:54:00:12:34:01 ", mac, name, &blocked));     /* nothing to keep */
	ck_assert(!device_name_record_parse("52:54:00:12:34:01-Game", mac, name, &blocked));
	ck_assert(!device_name_record_parse("01:00:5e:00:00:01 Group", mac, name, &blocked)); /* multicast */
	ck_assert(!device_name_record_parse("52:54:00:12:34:zz Game", mac, name, &blocked));
	ck_assert(!device_name_record_parse("52:54:00:12:34:01 bad\x01name", mac, name, &blocked));
}
END_TEST

/* Blocked apps share the name's record: the flag after a tab, a blocked device needs no name. */
START_TEST(apps_record)
{
	char rec[DEVICE_NAME_RECORD_MAX], name[DEVICE_NAME_MAX + 1], longest[DEVICE_NAME_MAX + 1];
	uint8_t mac[6];
	bool blocked;

	device_name_record(MAC1, "Game console", true, rec);
	ck_assert_str_eq(rec, "52:54:00:12:34:01 Game console\tapps=blocked");
	ck_assert(device_name_record_parse(rec, mac, name, &blocked));
	ck_assert_str_eq(name, "Game console");
	ck_assert(blocked);
	device_name_record(MAC2, "", true, rec);
	ck_assert(device_name_record_parse(rec, mac, name, &blocked));
	ck_assert_mem_eq(mac, MAC2, 6);
	ck_assert_str_eq(name, "");
	ck_assert(blocked);
	/* the longest name and the flag fit */
	memset(longest, 'x', DEVICE_NAME_MAX);
	longest[DEVICE_NAME_MAX] = '\0';
	device_name_record(MAC1, longest, true, rec);
	ck_assert(device_name_record_parse(rec, mac, name, &blocked) && blocked);
	ck_assert_str_eq(name, longest);
	/* a tag we do not know is not guessed at */
	ck_assert(!device_name_record_parse("52:54:00:12:34:01 TV\tapps=maybe", mac, name, &blocked));
	ck_assert(!device_name_record_parse("52:54:00:12:34:01 TV\tapps=blocked\tx", mac, name, &blocked));
}
END_TEST

/* The registry keeps blocked devices, named or not, present or away, and gives the flag on appearance. */
START_TEST(apps_registry)
{
	struct device_table *t = device_table_new(1000, 500);
	struct in6_addr a = A("2001:db8:1:1::5");

	ck_assert(!device_apps_blocked(t, MAC1));
	ck_assert(!device_apps_blocked_at(t, &a));
	/* blocked while away: the flag waits, and the device gets it when it shows up */
	ck_assert_int_eq(device_set_apps_blocked(t, MAC1, true), 0);
	ck_assert_uint_eq(device_name_count(t), 1);
	ck_assert_int_eq(device_addr_seen(t, MAC1, 2, &a, NULL, 10), 1);
	ck_assert(device_find(t, MAC1)->apps_blocked);
	ck_assert(device_apps_blocked_at(t, &a));
	/* naming keeps the flag, and un-blocking keeps the name */
	ck_assert_int_eq(device_set_name(t, MAC1, "Tablet"), 0);
	ck_assert(device_apps_blocked(t, MAC1));
	ck_assert_int_eq(device_set_name(t, MAC1, ""), 0);
	ck_assert(device_apps_blocked(t, MAC1));
	ck_assert_uint_eq(device_name_count(t), 1);               /* blocked without a name: still an entry */
	/* a blocked device that leaves stays listed */
	ck_assert_int_eq(device_neigh_state(t, &a, NEIGH_ABSENT, 20), 1);
	device_table_age(t, 20 + 500);
	ck_assert_ptr_nonnull(device_find(t, MAC1));
	ck_assert_int_eq(device_set_name(t, MAC1, "Tablet"), 0);
	ck_assert_int_eq(device_set_apps_blocked(t, MAC1, false), 0);
	ck_assert_str_eq(device_name_of(t, MAC1), "Tablet");
	ck_assert(!device_find(t, MAC1)->apps_blocked);
	/* allowed and unnamed: the entry is freed */
	ck_assert_int_eq(device_set_name(t, MAC1, ""), 0);
	ck_assert_uint_eq(device_name_count(t), 0);
	ck_assert_int_eq(device_set_apps_blocked(t, MAC2, false), 0);   /* nothing to allow */
	ck_assert_uint_eq(device_name_count(t), 0);
	ck_assert_int_eq(device_set_apps_blocked(t, MACL, true), 0);
	ck_assert_int_eq(device_set_apps_blocked(NULL, MAC1, true), -1);
	device_table_free(t);
}
END_TEST

/* ---- behaviour over time (device.h rules 2-6), the kernel's word against a host's, the limits ---- */

static int hear(struct device_table *t, const uint8_t mac[6], const char *s, enum device_heard how, int64_t now)
{
	struct in6_addr a = A(s);

	return device_addr_heard(t, mac, 2, &a, how, now);
}

static const struct device_addr *addr_of(struct device_table *t, const char *s)
{
	const struct device_addr *da;
	struct in6_addr a = A(s);

	ck_assert_msg(device_by_addr(t, &a, &da) && da, "%s unknown", s);
	return da;
}

static void kind_is(struct device_table *t, const char *s, enum addr_kind want, const char *evidence)
{
	const struct device_addr *da = addr_of(t, s);

	ck_assert_msg(da->kind == want, "%s: %s, want %s (%s)", s, addr_kind_name(da->kind), addr_kind_name(want),
		      da->evidence);
	if (evidence)
		ck_assert_msg(strstr(da->evidence, evidence), "%s: evidence '%s' lacks '%s'", s, da->evidence, evidence);
}

/* Rule 2: one opaque IID in two prefixes of one device (Windows) is stable, and stays so when the
 * other prefix goes. Another device's IID, or the device's link-local one, proves nothing. */
START_TEST(rule2_iid_in_two_prefixes)
{
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr old = A("2001:db8:aaaa:1::42");

	ck_assert_int_eq(hear(t, MAC1, "2001:db8:1:1::42", DEVICE_HEARD_TABLE, 10), 1);
	kind_is(t, "2001:db8:1:1::42", ADDR_KIND_UNKNOWN, NULL);
	ck_assert_int_eq(hear(t, MAC1, "2001:db8:aaaa:1::42", DEVICE_HEARD_TABLE, 11), 1);
	kind_is(t, "2001:db8:1:1::42", ADDR_KIND_STABLE, "two prefixes");
	kind_is(t, "2001:db8:aaaa:1::42", ADDR_KIND_STABLE, "two prefixes");
	/* sticky: the old prefix is withdrawn, the verdict stays */
	ck_assert_int_eq(device_addr_gone(t, &old, 20), 1);
	device_table_age(t, 30);
	kind_is(t, "2001:db8:1:1::42", ADDR_KIND_STABLE, "two prefixes");
	/* the same IID on another device */
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:3:1::42", DEVICE_HEARD_TABLE, 40), 1);
	kind_is(t, "2001:db8:3:1::42", ADDR_KIND_UNKNOWN, NULL);
	/* a link-local address with the global's IID is not another prefix */
	ck_assert_int_eq(hear(t, MAC2, "fe80::99", DEVICE_HEARD_TABLE, 40), 1);
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:3:1::99", DEVICE_HEARD_TABLE, 40), 1);
	kind_is(t, "2001:db8:3:1::99", ADDR_KIND_UNKNOWN, NULL);
	device_table_free(t);
}
END_TEST

/* Rule 3: in one /64, the address that stays silent while another speaks is the stable one. */
START_TEST(rule3_silent_sibling)
{
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr sub = A("2001:db8:1:1::"), out;
	const char *s = "2001:db8:1:1:1111:2222:3333:4444", *tmp = "2001:db8:1:1:aaaa:bbbb:cccc:dddd";

	ck_assert_int_eq(hear(t, MAC1, s, DEVICE_HEARD_TABLE, 100), 1);
	ck_assert_int_eq(hear(t, MAC1, tmp, DEVICE_HEARD_TABLE, 100), 1);
	kind_is(t, s, ADDR_KIND_UNKNOWN, NULL);   /* both silent: nothing told apart yet */
	kind_is(t, tmp, ADDR_KIND_UNKNOWN, NULL);
	ck_assert_int_eq(hear(t, MAC1, tmp, DEVICE_HEARD_TRAFFIC, 110), 0);
	ck_assert_int_eq(addr_of(t, tmp)->spoke, 110);
	kind_is(t, s, ADDR_KIND_STABLE, "silent");
	kind_is(t, tmp, ADDR_KIND_TEMPORARY, "sibling");
	ck_assert(device_stable_address(t, MAC1, &sub, 64, &out));
	ck_assert(addr_equal(&out, &addr_of(t, s)->addr));
	/* sticky: the stable one speaking later (a host may) changes nothing */
	ck_assert_int_eq(hear(t, MAC1, s, DEVICE_HEARD_SPEAK, 120), 0);
	device_table_age(t, 130);
	kind_is(t, s, ADDR_KIND_STABLE, "silent");
	kind_is(t, tmp, ADDR_KIND_TEMPORARY, NULL);
	/* two silent ones beside a talker: which is stable is not known */
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::a", DEVICE_HEARD_TABLE, 100), 1);
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::b", DEVICE_HEARD_TABLE, 100), 1);
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::c", DEVICE_HEARD_SPEAK, 101), 1);
	kind_is(t, "2001:db8:1:1::a", ADDR_KIND_UNKNOWN, NULL);
	kind_is(t, "2001:db8:1:1::b", ADDR_KIND_UNKNOWN, NULL);
	kind_is(t, "2001:db8:1:1::c", ADDR_KIND_UNKNOWN, NULL);
	/* a silent address in another /64 is no sibling of the talker */
	ck_assert_int_eq(hear(t, MACL, "2001:db8:1:1::d", DEVICE_HEARD_SPEAK, 100), 1);
	ck_assert_int_eq(hear(t, MACL, "2001:db8:1:2::e", DEVICE_HEARD_TABLE, 100), 1);
	kind_is(t, "2001:db8:1:2::e", ADDR_KIND_UNKNOWN, NULL);
	device_table_free(t);
}
END_TEST

/* Rule 3 and RFC 8981 regeneration: the next temporary address is configured about 5 s before the one
 * in use is deprecated, and is silent at first while the old one still speaks. It is the newer one,
 * not the stable one, even when the stable address is not known yet. */
START_TEST(rule3_regenerated_temporary)
{
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr sub = A("2001:db8:1:1::"), out;
	const char *s = "2001:db8:1:1:1111:2222:3333:4444", *t1 = "2001:db8:1:1:aaaa:bbbb:cccc:1", *t2 =
		"2001:db8:1:1:aaaa:bbbb:cccc:2";

	ck_assert_int_eq(hear(t, MAC1, t1, DEVICE_HEARD_TRAFFIC, 100), 1);   /* the router learnt it by traffic */
	ck_assert_int_eq(hear(t, MAC1, t2, DEVICE_HEARD_DAD, 80000), 1);
	ck_assert_int_eq(hear(t, MAC1, t1, DEVICE_HEARD_TRAFFIC, 80003), 0);
	device_table_age(t, 80004);
	kind_is(t, t2, ADDR_KIND_UNKNOWN, NULL);
	ck_assert_int_eq(hear(t, MAC1, t2, DEVICE_HEARD_SPEAK, 80005), 0);
	/* the stable address shows up (asked about): silent beside two talkers, once one talks again after
	 * we know it (it may have been configured just before: the router looks again at both talkers) */
	ck_assert_int_eq(hear(t, MAC1, s, DEVICE_HEARD_TABLE, 80100), 1);
	kind_is(t, s, ADDR_KIND_UNKNOWN, NULL);
	{
		struct device_relisten r[2];

		ck_assert_uint_eq(device_to_relisten(t, 80100 * 1000 + 300, r, 1), 0);   /* together or not */
		ck_assert_uint_eq(device_to_relisten(t, 80100 * 1000 + 300, r, 2), 2);
		ck_assert(addr_equal(&r[0].addr, &addr_of(t, t1)->addr));
		ck_assert(addr_equal(&r[1].addr, &addr_of(t, t2)->addr));
	}
	ck_assert_int_eq(hear(t, MAC1, t2, DEVICE_HEARD_TRAFFIC, 80101), 0);
	kind_is(t, s, ADDR_KIND_STABLE, "silent");
	kind_is(t, t1, ADDR_KIND_TEMPORARY, NULL);
	kind_is(t, t2, ADDR_KIND_TEMPORARY, NULL);
	ck_assert(device_stable_address(t, MAC1, &sub, 64, &out));
	ck_assert(addr_equal(&out, &addr_of(t, s)->addr));
	/* a host joining configures both together (either DAD first): the silent one is still stable */
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::a", DEVICE_HEARD_DAD, 100), 1);
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::b", DEVICE_HEARD_DAD, 101), 1);
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::b", DEVICE_HEARD_SPEAK, 103), 0);
	kind_is(t, "2001:db8:1:1::a", ADDR_KIND_STABLE, "silent");
	/* and so when it comes back to the link later and configures both again */
	ck_assert_int_eq(hear(t, MACL, "2001:db8:1:1::c", DEVICE_HEARD_TRAFFIC, 100), 1);
	ck_assert_int_eq(hear(t, MACL, "2001:db8:1:1::c", DEVICE_HEARD_DAD, 5000), 0);
	ck_assert_int_eq(hear(t, MACL, "2001:db8:1:1::d", DEVICE_HEARD_DAD, 5001), 1);
	kind_is(t, "2001:db8:1:1::d", ADDR_KIND_STABLE, "silent");
	device_table_free(t);
}
END_TEST

/* hear() at a moment given to the millisecond */
static int hear_ms(struct device_table *t, const uint8_t mac[6], const char *s, enum device_heard how, int64_t ms)
{
	device_table_clock_ms(t, ms);
	return hear(t, mac, s, how, ms / 1000);
}

/* Rule 3 when a prefix changes: both new addresses start DAD together; the stable one is usable first and
 * the host sends from it (the old addresses are deprecated) until the temporary one is usable. That talk
 * must not make the silent (still tentative) temporary address "stable". */
START_TEST(rule3_renumbering_race)
{
	struct device_table *t = device_table_new(0, 0);
	const char *s = "2001:db8:2:1:1111:2222:3333:4444", *tmp = "2001:db8:2:1:aaaa:bbbb:cccc:1";
	int64_t t0 = 100000500;   /* ms; the DAD probes land in one second, the talk in the next */

	ck_assert_int_eq(hear_ms(t, MAC1, s, DEVICE_HEARD_DAD, t0), 1);
	ck_assert_int_eq(hear_ms(t, MAC1, tmp, DEVICE_HEARD_DAD, t0 + 500), 1);
	/* usable at t0 + 1000: the host talks from it; tmp is usable only at t0 + 1500 */
	ck_assert_int_eq(hear_ms(t, MAC1, s, DEVICE_HEARD_TRAFFIC, t0 + 1100), 0);
	kind_is(t, tmp, ADDR_KIND_UNKNOWN, NULL);
	kind_is(t, s, ADDR_KIND_UNKNOWN, NULL);
	/* the temporary address is usable and the host moves to it: now the silent one is the stable one */
	ck_assert_int_eq(hear_ms(t, MAC1, tmp, DEVICE_HEARD_TRAFFIC, t0 + 1600), 0);
	kind_is(t, s, ADDR_KIND_STABLE, "silent");
	kind_is(t, tmp, ADDR_KIND_TEMPORARY, NULL);
	device_table_free(t);
}
END_TEST

/* The same race, seen late: the host's last packet from the stable address left just before the
 * temporary one was usable, but the router's entry for it was confirmed (or igdd read that, its loop busy
 * with the renumbering itself) a few milliseconds after. Both have then spoken since the temporary one
 * was usable: what the host does once both are, the router's look again, tells them apart. */
START_TEST(rule3_renumbering_race_seen_late)
{
	struct device_table *t = device_table_new(0, 0);
	const char *s = "2001:db8:2:1:1111:2222:3333:4444", *tmp = "2001:db8:2:1:aaaa:bbbb:cccc:1";
	struct device_relisten r[4];
	int64_t t0 = 100000500;

	ck_assert_int_eq(hear_ms(t, MAC1, s, DEVICE_HEARD_DAD, t0), 1);
	ck_assert_int_eq(hear_ms(t, MAC1, tmp, DEVICE_HEARD_DAD, t0 + 300), 1);
	ck_assert_int_eq(hear_ms(t, MAC1, s, DEVICE_HEARD_TRAFFIC, t0 + 1310), 0);
	kind_is(t, tmp, ADDR_KIND_UNKNOWN, NULL);   /* silent, but usable only just before: not "stable" yet */
	ck_assert_int_eq(hear_ms(t, MAC1, tmp, DEVICE_HEARD_TRAFFIC, t0 + 1400), 0);
	kind_is(t, s, ADDR_KIND_UNKNOWN, NULL);   /* both spoke once both were usable, as far as we know */
	kind_is(t, tmp, ADDR_KIND_UNKNOWN, NULL);
	/* the router may look again once tmp is usable and the slack has passed (not at the next tick) */
	ck_assert_int_eq(device_take_look_due(t), t0 + 1300 + DEVICE_TALK_SLACK_MS);
	ck_assert_int_eq(device_take_look_due(t), 0);
	ck_assert_uint_eq(device_to_relisten(t, t0 + 1300 + DEVICE_TALK_SLACK_MS - 1, r, 4), 0);
	/* it looks again at both */
	ck_assert_uint_eq(device_to_relisten(t, t0 + 2000, r, 4), 2);
	ck_assert_uint_eq(device_to_relisten(t, t0 + 2500, r, 4), 0);   /* once */
	device_table_age(t, (t0 + 2500) / 1000);
	ck_assert_int_eq(device_take_look_due(t), 0);   /* handed out: nothing more due */
	/* 700 ms later the host has sent from tmp only */
	ck_assert_int_eq(hear_ms(t, MAC1, tmp, DEVICE_HEARD_TRAFFIC, t0 + 2700), 0);
	kind_is(t, s, ADDR_KIND_UNKNOWN, NULL);   /* its quiet not told yet */
	ck_assert_int_eq(device_addr_quiet(t, MAC1, &addr_of(t, s)->addr, t0 + 2000, (t0 + 2700) / 1000), 1);
	kind_is(t, s, ADDR_KIND_STABLE, "silent");
	kind_is(t, tmp, ADDR_KIND_TEMPORARY, NULL);
	device_table_free(t);
}
END_TEST

/* The other order: the temporary address finishes DAD first and the host talks from it before the stable
 * one is usable; the kernel says nothing more while its entry stays REACHABLE. The talker is handed out
 * once (the router looks again), and its next talk decides. */
START_TEST(rule3_relisten_when_talk_came_early)
{
	struct device_table *t = device_table_new(0, 0);
	const char *s = "2001:db8:2:1:1111:2222:3333:4444", *tmp = "2001:db8:2:1:aaaa:bbbb:cccc:1";
	struct device_relisten r[4];
	int64_t t0 = 100000100;

	ck_assert_int_eq(hear_ms(t, MAC1, tmp, DEVICE_HEARD_DAD, t0), 1);
	ck_assert_int_eq(hear_ms(t, MAC1, s, DEVICE_HEARD_DAD, t0 + 300), 1);
	ck_assert_int_eq(hear_ms(t, MAC1, tmp, DEVICE_HEARD_TRAFFIC, t0 + 1100), 0);   /* s still tentative */
	kind_is(t, s, ADDR_KIND_UNKNOWN, NULL);
	ck_assert_uint_eq(device_to_relisten(t, t0 + 1200, r, 4), 0);   /* s not usable yet */
	ck_assert_uint_eq(device_to_relisten(t, t0 + 1400, r, 4), 0);   /* usable too recently to tell */
	ck_assert_uint_eq(device_to_relisten(t, t0 + 1600, r, 4), 1);
	ck_assert(addr_equal(&r[0].addr, &addr_of(t, tmp)->addr));
	ck_assert_mem_eq(r[0].mac, MAC1, 6);
	ck_assert_int_eq(r[0].ifindex, 2);
	ck_assert_uint_eq(device_to_relisten(t, t0 + 2400, r, 4), 0);   /* once */
	ck_assert_int_eq(hear_ms(t, MAC1, tmp, DEVICE_HEARD_TRAFFIC, t0 + 2100), 0);
	kind_is(t, s, ADDR_KIND_STABLE, "silent");
	kind_is(t, tmp, ADDR_KIND_TEMPORARY, NULL);
	ck_assert_uint_eq(device_to_relisten(t, t0 + 9000, r, 4), 0);   /* decided: nothing to look at */
	device_table_free(t);
}
END_TEST

/* A clock for another second than the feeding's is not taken (now * 1000 stands in). */
START_TEST(clock_ms_only_within_its_second)
{
	struct device_table *t = device_table_new(0, 0);

	device_table_clock_ms(t, 5000700);
	ck_assert_int_eq(hear(t, MAC1, "2001:db8:1:1::1", DEVICE_HEARD_DAD, 5000), 1);
	ck_assert_int_eq(addr_of(t, "2001:db8:1:1::1")->configured_ms, 5000700);
	ck_assert_int_eq(hear(t, MAC1, "2001:db8:1:1::2", DEVICE_HEARD_DAD, 5001), 1);
	ck_assert_int_eq(addr_of(t, "2001:db8:1:1::2")->configured_ms, 5001000);
	device_table_free(t);
}
END_TEST

/* The EUI-64 address of every known device in every /64 is asked about once per set of subnets. */
START_TEST(eui64_candidates_once_per_prefix)
{
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr sub[2] = { A("2001:db8:1:1::"), A("::ffff:192.0.2.0") }, out[4];
	struct in6_addr e1 = A("2001:db8:1:1:5054:ff:fe12:3401"), e2 = A("2001:db8:1:1:5054:ff:fe12:3402");

	ck_assert_int_eq(hear(t, MAC1, "fe80::1", DEVICE_HEARD_TABLE, 100), 1);
	ck_assert_int_eq(hear(t, MAC2, "fe80::2", DEVICE_HEARD_TABLE, 100), 1);
	ck_assert_uint_eq(device_eui64_to_ask(t, sub, 2, out, 1, 100), 1);   /* IPv4 subnets have none */
	ck_assert_uint_eq(device_eui64_to_ask(t, sub, 2, out + 1, 3, 100), 1);   /* the other device */
	ck_assert((addr_equal(&out[0], &e1) && addr_equal(&out[1], &e2)) ||
		  (addr_equal(&out[0], &e2) && addr_equal(&out[1], &e1)));
	ck_assert_uint_eq(device_eui64_to_ask(t, sub, 2, out, 4, 100), 0);   /* both asked in these subnets */
	/* one answers; after a change of subnets only the other is asked again */
	ck_assert_int_eq(device_addr_heard(t, MAC1, 2, &e1, DEVICE_HEARD_TRAFFIC, 101), 1);
	kind_is(t, "2001:db8:1:1:5054:ff:fe12:3401", ADDR_KIND_EUI64, NULL);
	ck_assert_int_eq(addr_of(t, "2001:db8:1:1:5054:ff:fe12:3401")->spoke, 0);   /* we asked: not its talk */
	device_subnets_changed(t);
	ck_assert_uint_eq(device_eui64_to_ask(t, sub, 2, out, 4, 102), 1);
	ck_assert(addr_equal(&out[0], &e2));
	device_table_free(t);
}
END_TEST

/* Rule 4: the only address a host configured in its /64 (seen in DAD), still alone DEVICE_SETTLE_S later. */
START_TEST(rule4_alone_after_dad)
{
	struct device_table *t = device_table_new(0, 0);
	const char *s = "2001:db8:1:1:1111:2222:3333:4444";

	ck_assert_int_eq(hear(t, MAC1, s, DEVICE_HEARD_DAD, 100), 1);
	ck_assert_int_eq(addr_of(t, s)->configured, 100);
	ck_assert_uint_eq(device_table_age(t, 100 + DEVICE_SETTLE_S - 1), 0);
	kind_is(t, s, ADDR_KIND_UNKNOWN, NULL);
	ck_assert_uint_eq(device_table_age(t, 100 + DEVICE_SETTLE_S), 1);
	kind_is(t, s, ADDR_KIND_STABLE, "only address");
	/* a temporary address made later is the sibling; the verdict holds */
	ck_assert_int_eq(hear(t, MAC1, "2001:db8:1:1:aaaa:bbbb:cccc:dddd", DEVICE_HEARD_DAD, 200), 1);
	device_table_age(t, 210);
	kind_is(t, s, ADDR_KIND_STABLE, "only address");
	kind_is(t, "2001:db8:1:1:aaaa:bbbb:cccc:dddd", ADDR_KIND_TEMPORARY, "sibling");
	/* two configured together (public and temporary, RFC 8981 3.4): neither is known */
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::a", DEVICE_HEARD_DAD, 100), 1);
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::b", DEVICE_HEARD_DAD, 102), 1);
	device_table_age(t, 200);
	kind_is(t, "2001:db8:1:1::a", ADDR_KIND_UNKNOWN, NULL);
	kind_is(t, "2001:db8:1:1::b", ADDR_KIND_UNKNOWN, NULL);
	/* alone, but its DAD never seen (only the neighbour table): not known either */
	ck_assert_int_eq(hear(t, MACL, "2001:db8:1:1::c", DEVICE_HEARD_TABLE, 100), 1);
	device_table_age(t, 200);
	kind_is(t, "2001:db8:1:1::c", ADDR_KIND_UNKNOWN, NULL);
	device_table_free(t);
}
END_TEST

/* Rule 6: an opaque sibling of the /64's stable address is temporary, only while that address is there;
 * persistence (rule 5) outranks it. */
START_TEST(rule6_sibling_of_stable)
{
	struct device_table *t = device_table_new(1000, 0);
	struct in6_addr e = A("2001:db8:1:1:5054:ff:fe12:3401");
	const char *o = "2001:db8:1:1:aaaa:bbbb:cccc:dddd";

	ck_assert_int_eq(hear(t, MAC1, "2001:db8:1:1:5054:ff:fe12:3401", DEVICE_HEARD_TABLE, 0), 1);
	ck_assert_int_eq(hear(t, MAC1, o, DEVICE_HEARD_TABLE, 10), 1);
	ck_assert_int_eq(hear(t, MAC1, "2001:db8:1:2::77", DEVICE_HEARD_TABLE, 10), 1);
	kind_is(t, o, ADDR_KIND_TEMPORARY, "sibling");
	kind_is(t, "2001:db8:1:2::77", ADDR_KIND_UNKNOWN, NULL);   /* another /64 */
	/* a failed EUI-64 address is no stable sibling */
	ck_assert_int_eq(device_neigh_state(t, &e, NEIGH_FAILED, 20), 1);
	kind_is(t, o, ADDR_KIND_UNKNOWN, NULL);
	ck_assert_int_eq(device_neigh_state(t, &e, NEIGH_REACHABLE, 30), 1);
	kind_is(t, o, ADDR_KIND_TEMPORARY, "sibling");
	/* not sticky: without the stable address the guess goes */
	ck_assert_int_eq(device_addr_gone(t, &e, 40), 1);
	kind_is(t, o, ADDR_KIND_UNKNOWN, NULL);
	ck_assert_int_eq(hear(t, MAC1, "2001:db8:1:1:5054:ff:fe12:3401", DEVICE_HEARD_TABLE, 50), 1);
	kind_is(t, o, ADDR_KIND_TEMPORARY, NULL);
	device_table_age(t, 10 + 1000);
	kind_is(t, o, ADDR_KIND_STABLE, "persisted");
	device_table_free(t);
}
END_TEST

/* The kernel's neighbour entry for an address we just asked about is our doing: not the host speaking. */
START_TEST(ask_window)
{
	struct device_table *t = device_table_new(0, 0);
	const char *s = "2001:db8:1:1:1111:2222:3333:4444", *tmp = "2001:db8:1:1:aaaa:bbbb:cccc:dddd";
	struct in6_addr ta = A(tmp), other = A("2001:db8:1:1::99");

	ck_assert_int_eq(hear(t, MAC1, s, DEVICE_HEARD_TABLE, 100), 1);
	ck_assert_int_eq(hear(t, MAC1, tmp, DEVICE_HEARD_TABLE, 100), 1);
	device_note_asked(t, &ta, 100);
	device_note_asked(t, &other, 104);
	ck_assert_int_eq(hear(t, MAC1, tmp, DEVICE_HEARD_TRAFFIC, 100 + DEVICE_ASK_WINDOW_S), 0);
	ck_assert_int_eq(addr_of(t, tmp)->spoke, 0);
	kind_is(t, s, ADDR_KIND_UNKNOWN, NULL);
	kind_is(t, tmp, ADDR_KIND_UNKNOWN, NULL);
	/* past the window it is traffic the host caused */
	ck_assert_int_eq(hear(t, MAC1, tmp, DEVICE_HEARD_TRAFFIC, 100 + DEVICE_ASK_WINDOW_S + 1), 0);
	ck_assert_int_eq(addr_of(t, tmp)->spoke, 100 + DEVICE_ASK_WINDOW_S + 1);
	kind_is(t, s, ADDR_KIND_STABLE, "silent");
	kind_is(t, tmp, ADDR_KIND_TEMPORARY, NULL);
	/* unasked traffic speaks, a table entry never does, the host's own solicitation even inside the window */
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::a", DEVICE_HEARD_TRAFFIC, 100), 1);
	ck_assert_int_eq(addr_of(t, "2001:db8:1:1::a")->spoke, 100);
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::b", DEVICE_HEARD_TABLE, 100), 1);
	ck_assert_int_eq(addr_of(t, "2001:db8:1:1::b")->spoke, 0);
	device_note_asked(t, &other, 200);
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::99", DEVICE_HEARD_SPEAK, 201), 1);
	ck_assert_int_eq(addr_of(t, "2001:db8:1:1::99")->spoke, 201);
	device_table_free(t);
}
END_TEST

/* A host's word (DAD, ADVERT, SPEAK) about an address another present device holds is not taken; the
 * kernel's (TABLE, TRAFFIC) moves it. */
START_TEST(claims_on_held_address)
{
	static const enum device_heard snooped[] = { DEVICE_HEARD_DAD, DEVICE_HEARD_ADVERT, DEVICE_HEARD_SPEAK };
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr x = A("2001:db8:1:1::5");
	struct device_table_stats st;

	ck_assert_int_eq(hear(t, MAC1, "2001:db8:1:1::5", DEVICE_HEARD_TABLE, 10), 1);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::5", snooped[i], 11), 0);
	device_table_stats(t, &st);
	ck_assert_uint_eq(st.claims_ignored, 3);
	ck_assert(device_holds(t, MAC1, &x));
	ck_assert_ptr_null(device_find(t, MAC2));   /* an ignored claim makes no device either */
	/* the kernel now resolves it to MAC2 */
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::5", DEVICE_HEARD_TABLE, 12), 1);
	ck_assert(device_holds(t, MAC2, &x));
	ck_assert(!device_holds(t, MAC1, &x));
	ck_assert_int_eq(hear(t, MAC1, "2001:db8:1:1::5", DEVICE_HEARD_TRAFFIC, 13), 1);
	ck_assert(device_holds(t, MAC1, &x));
	/* an address whose holder stopped answering is free to claim */
	ck_assert_int_eq(device_neigh_state(t, &x, NEIGH_FAILED, 14), 1);
	ck_assert_int_eq(hear(t, MAC2, "2001:db8:1:1::5", DEVICE_HEARD_DAD, 15), 1);
	ck_assert(device_holds(t, MAC2, &x));
	device_table_stats(t, &st);
	ck_assert_uint_eq(st.claims_ignored, 3);
	device_table_free(t);
}
END_TEST

static void mac_n(uint8_t mac[6], uint32_t n)
{
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = (uint8_t)(n >> 24);
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

/* A device on ifindex with one address of its own (numbered as its MAC). */
static int hear_n(struct device_table *t, uint32_t n, int ifindex, int64_t now)
{
	uint8_t mac[6];
	struct in6_addr a = A("2001:db8:1:1::");

	mac_n(mac, n);
	memcpy(a.s6_addr + 12, (uint8_t[]){ (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n }, 4);
	return device_addr_heard(t, mac, ifindex, &a, DEVICE_HEARD_TABLE, now);
}

static bool present(struct device_table *t, uint32_t n)
{
	uint8_t mac[6];

	mac_n(mac, n);
	return device_find(t, mac) != NULL;
}

/* Per interface, the device heard from least recently makes room. */
START_TEST(limit_lru)
{
	struct device_table *t = device_table_new(0, 0);
	struct device_table_stats st;

	device_table_set_limit(t, 3);
	for (uint32_t n = 1; n <= 3; n++)
		ck_assert_int_eq(hear_n(t, n, 2, n), 1);
	ck_assert_int_eq(hear_n(t, 1, 2, 4), 0);   /* 1 heard again: 2 is now the oldest */
	ck_assert_int_eq(hear_n(t, 4, 2, 5), 1);
	ck_assert_uint_eq(device_count(t), 3);
	ck_assert(present(t, 1) && !present(t, 2) && present(t, 3) && present(t, 4));
	device_table_stats(t, &st);
	ck_assert_uint_eq(st.evicted, 1);
	ck_assert_uint_eq(st.addresses, 3);   /* the evicted device's address went with it */
	/* another interface has its own limit */
	for (uint32_t n = 10; n < 13; n++)
		ck_assert_int_eq(hear_n(t, n, 3, 6), 1);
	ck_assert_uint_eq(device_count(t), 6);
	ck_assert_int_eq(hear_n(t, 5, 2, 7), 1);   /* evicts 3, the oldest on interface 2 */
	ck_assert(!present(t, 3) && present(t, 10) && present(t, 11) && present(t, 12));
	device_table_stats(t, &st);
	ck_assert_uint_eq(st.evicted, 2);
	ck_assert_uint_eq(st.refused, 0);
	device_table_free(t);
}
END_TEST

/* A device a rule names is never evicted; with every device pinned a newcomer is refused. */
START_TEST(limit_pins)
{
	struct device_table *t = device_table_new(0, 0);
	struct device_table_stats st;
	uint8_t m1[6], m2[6];

	mac_n(m1, 1);
	mac_n(m2, 2);
	device_table_set_limit(t, 2);
	device_pin(t, m1, +1);   /* named by a rule before it shows up */
	ck_assert_int_eq(hear_n(t, 1, 2, 1), 1);
	ck_assert_int_eq(hear_n(t, 2, 2, 2), 1);
	ck_assert_int_eq(hear_n(t, 3, 2, 3), 1);   /* 1 is the oldest, but pinned: 2 goes */
	ck_assert(present(t, 1) && !present(t, 2) && present(t, 3));
	mac_n(m2, 3);
	device_pin(t, m2, +1);
	device_pin(t, m2, +1);
	ck_assert_int_eq(hear_n(t, 4, 2, 4), -1);
	device_table_stats(t, &st);
	ck_assert_uint_eq(st.refused, 1);
	ck_assert_uint_eq(st.evicted, 1);
	ck_assert_uint_eq(device_count(t), 2);
	ck_assert(!present(t, 4));
	device_pin(t, m2, -1);                     /* one of two rules left: still pinned */
	ck_assert_int_eq(hear_n(t, 4, 2, 5), -1);
	device_pin(t, m2, -1);
	ck_assert_int_eq(hear_n(t, 4, 2, 6), 1);
	ck_assert(present(t, 1) && !present(t, 3) && present(t, 4));
	device_table_stats(t, &st);
	ck_assert_uint_eq(st.refused, 2);
	ck_assert_uint_eq(st.evicted, 2);
	device_table_free(t);
}
END_TEST

/* Bytes the process holds now: ASan's count when it replaced malloc, glibc's otherwise. */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t heap_in_use(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return __sanitizer_get_current_allocated_bytes();
	return mallinfo2().uordblks;
}

/* 100,000 made-up neighbours on one interface: the table stays at its limit, and so does its memory. */
START_TEST(limit_flood)
{
	struct device_table *t = device_table_new(0, 0);
	struct device_table_stats st;
	size_t before;
	uint32_t n;

	for (n = 1; n <= 4 * DEVICE_MAX_PER_IF_DEFAULT; n++)
		ck_assert_int_eq(hear_n(t, n, 2, n), 1);
	before = heap_in_use();
	for (; n <= 100000; n++)
		ck_assert_int_eq(hear_n(t, n, 2, n), 1);
	ck_assert_uint_eq(device_count(t), DEVICE_MAX_PER_IF_DEFAULT);
	device_table_stats(t, &st);
	ck_assert_uint_eq(st.addresses, DEVICE_MAX_PER_IF_DEFAULT);
	ck_assert_uint_eq(st.evicted, 100000 - DEVICE_MAX_PER_IF_DEFAULT);
	/* the newest are the ones kept */
	ck_assert(present(t, 100000) && present(t, 100000 - DEVICE_MAX_PER_IF_DEFAULT + 1));
	ck_assert(!present(t, 100000 - DEVICE_MAX_PER_IF_DEFAULT));
	/* one device is ~1 KiB: a leak per eviction would be ~90 MiB; an index doubling once, < 256 KiB */
	ck_assert_msg(heap_in_use() < before + 256 * 1024, "heap grew from %zu to %zu", before, heap_in_use());
	device_table_free(t);
}
END_TEST

/* Names learned from the LAN (names.h: DHCP, mDNS) are kept per device; the household's comes first. */
START_TEST(table_learned_names_household_first)
{
	struct device_table *t = device_table_new(0, 0);
	uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 }, other[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };
	struct in6_addr a = A("2001:db8:1:1::11");
	enum name_source src;
	const struct device *d;

	ck_assert_ptr_nonnull(t);
	/* not in the table: nothing to name */
	ck_assert_int_eq(device_learn_name(t, other, NAME_SOURCE_DHCP, "x"), -1);
	ck_assert_int_ge(device_addr_heard(t, mac, 2, &a, DEVICE_HEARD_TABLE, 1700000000), 0);
	d = device_find(t, mac);
	ck_assert_str_eq(device_shown_name(d, &src), "");
	ck_assert_int_eq(src, NAME_SOURCE_NONE);
	ck_assert_int_eq(device_learn_name(t, mac, NAME_SOURCE_MDNS, "Johns-iPhone"), 1);
	ck_assert_str_eq(device_shown_name(d, &src), "Johns-iPhone");
	ck_assert_int_eq(src, NAME_SOURCE_MDNS);
	ck_assert_int_eq(device_learn_name(t, mac, NAME_SOURCE_DHCP, "iPhone"), 1);
	ck_assert_int_eq(device_learn_name(t, mac, NAME_SOURCE_DHCP, "iPhone"), 0);
	ck_assert_str_eq(device_shown_name(d, &src), "iPhone");
	ck_assert_int_eq(src, NAME_SOURCE_DHCP);
	ck_assert_int_eq(device_set_name(t, mac, "John's phone"), 0);
	ck_assert_str_eq(device_shown_name(d, &src), "John's phone");
	ck_assert_int_eq(src, NAME_SOURCE_HOUSEHOLD);
	ck_assert_str_eq(d->dhcp_name, "iPhone");
	ck_assert_str_eq(d->mdns_name, "Johns-iPhone");
	/* not text the table accepts, not a source it learns from */
	ck_assert_int_eq(device_learn_name(t, mac, NAME_SOURCE_MDNS, "a\x1b"), -1);
	ck_assert_int_eq(device_learn_name(t, mac, NAME_SOURCE_HOUSEHOLD, "x"), -1);
	ck_assert_str_eq(name_source_str(NAME_SOURCE_MDNS), "mdns");
	device_table_free(t);
}
END_TEST

static Suite *device_suite(void)
{
	Suite *s = suite_create("device");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);   /* limit_flood: 100,000 devices under ASan on a busy machine */
	tcase_add_test(tc, eui64_iid);
	tcase_add_loop_test(tc, classify_table, 0, sizeof(ccases) / sizeof(ccases[0]));
	tcase_add_test(tc, classify_bad_input);
	tcase_add_test(tc, mac_text);
	tcase_add_test(tc, table_same_device);
	tcase_add_test(tc, table_bad_input);
	tcase_add_test(tc, table_full);
	tcase_add_test(tc, table_behaviour);
	tcase_add_test(tc, table_stable_address);
	tcase_add_test(tc, names_registry);
	tcase_add_loop_test(tc, names_valid, 0, sizeof(names) / sizeof(names[0]));
	tcase_add_test(tc, names_record);
	tcase_add_test(tc, table_learned_names_household_first);
	tcase_add_test(tc, apps_record);
	tcase_add_test(tc, apps_registry);
	tcase_add_test(tc, rule2_iid_in_two_prefixes);
	tcase_add_test(tc, rule3_silent_sibling);
	tcase_add_test(tc, rule3_regenerated_temporary);
	tcase_add_test(tc, rule3_renumbering_race);
	tcase_add_test(tc, rule3_relisten_when_talk_came_early);
	tcase_add_test(tc, rule3_renumbering_race_seen_late);
	tcase_add_test(tc, clock_ms_only_within_its_second);
	tcase_add_test(tc, eui64_candidates_once_per_prefix);
	tcase_add_test(tc, rule4_alone_after_dad);
	tcase_add_test(tc, rule6_sibling_of_stable);
	tcase_add_test(tc, ask_window);
	tcase_add_test(tc, claims_on_held_address);
	tcase_add_test(tc, limit_lru);
	tcase_add_test(tc, limit_pins);
	tcase_add_test(tc, limit_flood);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(device_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
