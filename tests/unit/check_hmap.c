/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hmap_: the core's open-addressing index. Besides lookups, its memory: a daemon churns its maps for
 * months, so the slots allocated must follow the live count, not the number of changes ever made or
 * the largest count ever held. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "firewall/hmap.h"
#include "tests/unit/testutil.h"

/* A value that is not NULL and names its key. */
static void *val(uint32_t k)
{
	return (void *)(uintptr_t)(k + 1);
}

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

static Suite *hmap_suite(void)
{
	Suite *s = suite_create("hmap");
	TCase *tc = tcase_create("hmap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, put_get_del_iterate);
	tcase_add_test(tc, churn_keeps_capacity);
	tcase_add_test(tc, shrinks_after_a_burst);
	tcase_add_test(tc, no_thrash_at_the_boundary);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(hmap_suite());
}
