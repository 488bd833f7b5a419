/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small open-addressing hash map from fixed-length byte keys to pointers: O(1) lookups for the
 * core's indexes (rules by id, kernel elements by key). Keys are copied; values are not owned.
 * The hash is keyed per process (SipHash-1-3, random key): keys chosen by a client cannot be made to
 * collide. */
#ifndef IGDD_HMAP_H
#define IGDD_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap;

struct hmap *hmap_new(size_t key_len);
/* A map whose keys live in its values (key_len at most 64): key_of writes a value's key. Its slots hold
 * only the value, so a large index costs ~9 bytes a slot however long the key (a key is rebuilt from
 * its value only where 7 bits of its hash match). A value's key must not change while it is in. */
struct hmap *hmap_new_derived(size_t key_len, void (*key_of)(const void *value, void *key));
/* The same, for keys that need more than the value to be derived (arg: passed to key_of as is). A
 * value need not be a pointer: any non-NULL bits the key_of understands. */
struct hmap *hmap_new_derived_arg(size_t key_len, void (*key_of)(void *arg, const void *value, void *key), void *arg);
void hmap_free(struct hmap *m);
void *hmap_get(const struct hmap *m, const void *key);
/* Inserts or replaces. Returns 0, or -1 when out of memory (the map is unchanged); replacing the value
 * of a key that is in never fails. */
int hmap_put(struct hmap *m, const void *key, void *value);
/* Removes and returns the value (NULL if absent). The map may shrink: no removal while iterating. */
void *hmap_del(struct hmap *m, const void *key);
size_t hmap_count(const struct hmap *m);
/* Slots allocated (tests: churn and deletions must keep it proportional to the count). */
size_t hmap_capacity(const struct hmap *m);
/* Iteration: *pos starts at 0; returns the next value or NULL at the end. No changes while iterating. */
void *hmap_next(const struct hmap *m, size_t *pos);
/* The longest run of slots in use (full or deleted) that a probe may have to walk (tests, benches). */
size_t hmap_longest_run(const struct hmap *m);
/* SipHash-c-d of data under key (the maps use 1-3 under the process's key; tests check it against the
 * published SipHash-2-4 vectors). */
uint64_t hmap_siphash(const uint8_t key[16], const void *data, size_t len, unsigned c_rounds, unsigned d_rounds);

#endif
