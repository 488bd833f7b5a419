/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hmap_: the core's open-addressing index. Besides lookups, its memory: a daemon churns its maps for
 * months, so the slots allocated must follow the live count, not the number of changes ever made or
 * the largest count ever held. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/hmap.h"
#include "tests/unit/testutil.h"

/* A value that is not NULL and names its key. */
static void *val(uint32_t k)
{
	return (void *)(uintptr_t)(k + 1);
}

/* A derived map keeps no keys: each is read from its value. Values here are records holding a 40-byte
 * key (like the core's element slots); lookups by key, replacement (which never fails), deletion with
 * the shrink it triggers, and iteration work as in a keyed map. */
struct rec {
	uint8_t key[40];
	uint32_t n;
};

static void rec_key(const void *value, void *key)
{
	memcpy(key, ((const struct rec *)value)->key, 40);
}

static void rec_fill(struct rec *r, uint32_t n)
{
	memset(r->key, 0xa5, sizeof(r->key));
	memcpy(r->key + 17, &n, sizeof(n));
	r->n = n;
}

START_TEST(derived_keys)
{
	struct hmap *m = hmap_new_derived(40, rec_key);
	struct rec *recs = calloc(5000, sizeof(*recs)), probe, other;
	size_t pos = 0, seen = 0;

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_null(hmap_new_derived(65, rec_key));
	for (uint32_t i = 0; i < 5000; i++) {
		rec_fill(&recs[i], i);
		ck_assert_int_eq(hmap_put(m, recs[i].key, &recs[i]), 0);
	}
	ck_assert_uint_eq(hmap_count(m), 5000);
	for (uint32_t i = 0; i < 5000; i++) {
		rec_fill(&probe, i);
		ck_assert_ptr_eq(hmap_get(m, probe.key), &recs[i]);
	}
	rec_fill(&probe, 7777);
	ck_assert_ptr_null(hmap_get(m, probe.key));
	/* replacing the value of a key that is in: a record moved elsewhere, same key */
	rec_fill(&other, 42);
	ck_assert_int_eq(hmap_put(m, other.key, &other), 0);
	ck_assert_ptr_eq(hmap_get(m, recs[42].key), &other);
	ck_assert_uint_eq(hmap_count(m), 5000);
	ck_assert_int_eq(hmap_put(m, other.key, &recs[42]), 0);
	for (uint32_t i = 0; i < 5000; i++)
		if (i % 10)
			ck_assert_ptr_eq(hmap_del(m, recs[i].key), &recs[i]);
	ck_assert_uint_eq(hmap_count(m), 500);
	ck_assert_uint_le(hmap_capacity(m), 2048);            /* shrank (rehashed from the values) */
	for (uint32_t i = 0; i < 5000; i++)
		ck_assert_ptr_eq(hmap_get(m, recs[i].key), i % 10 ? NULL : &recs[i]);
	while (hmap_next(m, &pos) != NULL)
		seen++;
	ck_assert_uint_eq(seen, 500);
	hmap_free(m);
	free(recs);
}
END_TEST

/* Keys derived with an argument, from values that are not pointers (the core's element index packs a
 * rule id into its value and rebuilds the key from the rule table): the key of value v is table[v >> 1]. */
static void table_key(void *arg, const void *value, void *key)
{
	const uint32_t *table = arg;

	memcpy(key, &table[(uintptr_t)value >> 1], sizeof(uint32_t));
}

START_TEST(derived_keys_with_arg)
{
	uint32_t *table = calloc(3000, sizeof(*table));
	struct hmap *m = hmap_new_derived_arg(sizeof(uint32_t), table_key, table);
	size_t pos = 0, seen = 0;

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_null(hmap_new_derived_arg(65, table_key, table));
	for (uintptr_t i = 0; i < 3000; i++) {
		table[i] = (uint32_t)(i * 2654435761u);
		ck_assert_int_eq(hmap_put(m, &table[i], (void *)(i << 1 | 1)), 0);   /* grows: keys rebuilt */
	}
	for (uintptr_t i = 0; i < 3000; i++)
		ck_assert_ptr_eq(hmap_get(m, &table[i]), (void *)(i << 1 | 1));
	for (uintptr_t i = 0; i < 3000; i += 2)
		ck_assert_ptr_eq(hmap_del(m, &table[i]), (void *)(i << 1 | 1));
	for (uintptr_t i = 0; i < 3000; i++)
		ck_assert_ptr_eq(hmap_get(m, &table[i]), i % 2 ? (void *)(i << 1 | 1) : NULL);
	while (hmap_next(m, &pos) != NULL)
		seen++;
	ck_assert_uint_eq(seen, 1500);
	hmap_free(m);
	free(table);
}
END_TEST

START_TEST(put_get_del_iterate)
{
	struct hmap *m = hmap_new(sizeof(uint32_t));
	size_t pos = 0, seen = 0;

	ck_assert_ptr_nonnull(m);
	for (uint32_t k = 0; k < 1000; k++)
		ck_assert_int_eq(hmap_put(m, &k, val(k)), 0);
	ck_assert_uint_eq(hmap_count(m), 1000);
	for (uint32_t k = 0; k < 1000; k += 2)
		ck_assert_ptr_eq(hmap_del(m, &k), val(k));
	ck_assert_uint_eq(hmap_count(m), 500);
	for (uint32_t k = 0; k < 1000; k++)
		ck_assert_ptr_eq(hmap_get(m, &k), k % 2 ? val(k) : NULL);
	uint32_t absent = 5000;
	ck_assert_ptr_null(hmap_del(m, &absent));
	while (hmap_next(m, &pos) != NULL)
		seen++;
	ck_assert_uint_eq(seen, 500);
	hmap_free(m);
}
END_TEST

/* Create/delete cycles beside a resident set (the PCP churn of a router): the table keeps its size. */
START_TEST(churn_keeps_capacity)
{
	struct hmap *m = hmap_new(sizeof(uint32_t));
	size_t cap;

	for (uint32_t k = 0; k < 1000; k++)
		ck_assert_int_eq(hmap_put(m, &k, val(k)), 0);
	cap = hmap_capacity(m);
	/* bounded: 400,000 cycles, each on a key never used before (ids and ports move on) */
	for (uint32_t k = 1000; k < 401000; k++) {
		ck_assert_int_eq(hmap_put(m, &k, val(k)), 0);
		ck_assert_ptr_eq(hmap_del(m, &k), val(k));
		ck_assert_uint_le(hmap_capacity(m), cap);
	}
	ck_assert_uint_eq(hmap_count(m), 1000);
	for (uint32_t k = 0; k < 1000; k++)
		ck_assert_ptr_eq(hmap_get(m, &k), val(k));
	hmap_free(m);
}
END_TEST

/* After a burst the slots go again: capacity follows the count back down, entries survive it. */
START_TEST(shrinks_after_a_burst)
{
	struct hmap *m = hmap_new(sizeof(uint32_t));
	size_t burst_cap;

	for (uint32_t k = 0; k < 100000; k++)
		ck_assert_int_eq(hmap_put(m, &k, val(k)), 0);
	burst_cap = hmap_capacity(m);
	ck_assert_uint_ge(burst_cap, 100000);
	for (uint32_t k = 0; k < 99000; k++)
		ck_assert_ptr_eq(hmap_del(m, &k), val(k));
	ck_assert_uint_eq(hmap_count(m), 1000);
	ck_assert_uint_le(hmap_capacity(m), 8 * 1000);
	for (uint32_t k = 0; k < 100000; k++)
		ck_assert_ptr_eq(hmap_get(m, &k), k >= 99000 ? val(k) : NULL);
	for (uint32_t k = 99000; k < 100000; k++)
		ck_assert_ptr_eq(hmap_del(m, &k), val(k));
	ck_assert_uint_eq(hmap_count(m), 0);
	ck_assert_uint_le(hmap_capacity(m), 64);
	/* and it grows again as before */
	for (uint32_t k = 0; k < 100000; k++)
		ck_assert_int_eq(hmap_put(m, &k, val(k)), 0);
	ck_assert_uint_eq(hmap_capacity(m), burst_cap);
	hmap_free(m);
}
END_TEST

/* Hovering around a resize boundary must not rehash on every change (each would be O(capacity)). */
START_TEST(no_thrash_at_the_boundary)
{
	struct hmap *m = hmap_new(sizeof(uint32_t));
	size_t cap, resizes = 0;

	for (uint32_t k = 0; k < 4096; k++)
		ck_assert_int_eq(hmap_put(m, &k, val(k)), 0);
	/* delete down to just above and below the shrink point, back and forth (bounded: 1,000 rounds) */
	for (uint32_t k = 0; hmap_count(m) * 8 >= hmap_capacity(m); k++)
		hmap_del(m, &k);
	cap = hmap_capacity(m);
	for (uint32_t round = 0, k = 100000; round < 1000; round++, k++) {
		ck_assert_int_eq(hmap_put(m, &k, val(k)), 0);
		ck_assert_ptr_eq(hmap_del(m, &k), val(k));
		if (hmap_capacity(m) != cap) {
			resizes++;
			cap = hmap_capacity(m);
		}
	}
	ck_assert_uint_le(resizes, 1);
	hmap_free(m);
}
END_TEST

/* The published SipHash-2-4 vectors (key 00..0f, message 00..len-1): the maps' 1-3 is the same code
 * with other round counts. */
START_TEST(siphash_reference_vectors)
{
	static const struct { size_t len; uint64_t want; } v[] = {
		{ 0, 0x726fdb47dd0e0e31ull }, { 1, 0x74f839c593dc67fdull }, { 2, 0x0d6c8009d9a94f5aull },
		{ 3, 0x85676696d7fb7e2dull }, { 4, 0xcf2794e0277187b7ull }, { 8, 0x93f5f5799a932462ull },
		{ 15, 0xa129ca6149be45e5ull },
	};
	uint8_t key[16], msg[16];

	for (int i = 0; i < 16; i++)
		key[i] = msg[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ck_assert_uint_eq(hmap_siphash(key, msg, v[i].len, 2, 4), v[i].want);
}
END_TEST

/* The hash the maps used before 2026-12 (FNV-1a and a final mix, no key): anyone could compute it. */
static uint64_t unkeyed_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* A LAN host picks the interface identifiers of its IPv6 addresses. Against the unkeyed hash it can
 * pick 1,000 whose hashes agree in the low 12 bits: in a map of 2,048 slots they all land in one
 * run, and every insert and lookup walks it (the issue measured ~90x slower inserts under the core
 * lock). With the keyed hash the same addresses spread like any others. */
START_TEST(chosen_keys_do_not_collide)
{
	enum { N = 1000 };
	struct hmap *m = hmap_new(sizeof(struct in6_addr));
	struct in6_addr a = A("2001:db8:1:1::");
	uint64_t iid = 0x5054000000000000ull;
	size_t found = 0;

	/* bounded: each address needs ~4,096 tries on average; at most 2^26 in all */
	for (uint32_t tries = 0; found < N && tries < (1u << 26); tries++, iid++) {
		for (int i = 0; i < 8; i++)
			a.s6_addr[8 + i] = (uint8_t)(iid >> (56 - 8 * i));
		if ((unkeyed_hash(&a, sizeof(a)) & 0xfff) != 0xabc)
			continue;
		ck_assert_int_eq(hmap_put(m, &a, val((uint32_t)found)), 0);
		found++;
	}
	ck_assert_uint_eq(found, N);
	ck_assert_uint_eq(hmap_capacity(m), 2048);
	/* all 1,000 in one run under the old hash; at half load, a random hash's longest run is a few
	 * dozen slots (a run of 200 has a probability far below 1e-20) */
	ck_assert_uint_lt(hmap_longest_run(m), 200);
	hmap_free(m);
}
END_TEST

static Suite *hmap_suite(void)
{
	Suite *s = suite_create("hmap");
	TCase *tc = tcase_create("hmap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, put_get_del_iterate);
	tcase_add_test(tc, derived_keys);
	tcase_add_test(tc, derived_keys_with_arg);
	tcase_add_test(tc, churn_keeps_capacity);
	tcase_add_test(tc, shrinks_after_a_burst);
	tcase_add_test(tc, no_thrash_at_the_boundary);
	tcase_add_test(tc, siphash_reference_vectors);
	tcase_add_test(tc, chosen_keys_do_not_collide);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(hmap_suite());
}
