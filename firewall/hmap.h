/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small open-addressing hash map from fixed-length byte keys to pointers: O(1) lookups for the
 * core's indexes (rules by id, kernel elements by key). Keys are copied; values are not owned. */
#ifndef IGDD_HMAP_H
#define IGDD_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap;

struct hmap *hmap_new(size_t key_len);
void hmap_free(struct hmap *m);
void *hmap_get(const struct hmap *m, const void *key);
/* Inserts or replaces. Returns 0, or -1 when out of memory (the map is unchanged). */
int hmap_put(struct hmap *m, const void *key, void *value);
/* Removes and returns the value (NULL if absent). The map may shrink: no removal while iterating. */
void *hmap_del(struct hmap *m, const void *key);
size_t hmap_count(const struct hmap *m);
/* Slots allocated (tests: churn and deletions must keep it proportional to the count). */
size_t hmap_capacity(const struct hmap *m);
/* Iteration: *pos starts at 0; returns the next value or NULL at the end. No changes while iterating. */
void *hmap_next(const struct hmap *m, size_t *pos);

#endif
