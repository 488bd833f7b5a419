/* SPDX-License-Identifier: GPL-2.0-or-later */
/* device_ and addr_classify: the address classifier and the device table. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/addr.h"
#include "firewall/device.h"

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

static Suite *device_suite(void)
{
	Suite *s = suite_create("device");
	TCase *tc = tcase_create("core");

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
	tcase_add_test(tc, apps_record);
	tcase_add_test(tc, apps_registry);
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
