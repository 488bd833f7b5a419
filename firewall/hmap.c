/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

enum slot_state { SLOT_EMPTY = 0, SLOT_FULL, SLOT_TOMBSTONE };

#define MIN_CAP 64

struct hmap {
	size_t key_len;
	size_t cap;      /* power of two */
	size_t count;
	size_t used;     /* full + tombstones: drives the rehash */
	uint8_t *state;
	uint8_t *keys;   /* cap * key_len */
	void **values;
};

/* FNV-1a, then a final mix so consecutive ids spread over the table. */
static uint64_t hash_bytes(const void *key, size_t len)
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

static bool alloc_slots(struct hmap *m, size_t cap)
{
	m->state = calloc(cap, 1);
	m->keys = calloc(cap, m->key_len);
	m->values = calloc(cap, sizeof(void *));
	if (m->state == NULL || m->keys == NULL || m->values == NULL) {
		free(m->state);
		free(m->keys);
		free(m->values);
		return false;
	}
	m->cap = cap;
	m->count = 0;
	m->used = 0;
	return true;
}

struct hmap *hmap_new(size_t key_len)
{
	struct hmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->key_len = key_len;
	if (!alloc_slots(m, MIN_CAP)) {
		free(m);
		return NULL;
	}
	return m;
}

void hmap_free(struct hmap *m)
{
	if (m == NULL)
		return;
	free(m->state);
	free(m->keys);
	free(m->values);
	free(m);
}

/* Index of the slot holding key, or of the first free slot where it would go (*found false). */
static size_t probe(const struct hmap *m, const void *key, bool *found)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)hash_bytes(key, m->key_len) & mask;
	size_t first_free = SIZE_MAX;

	for (size_t n = 0; n < m->cap; n++, i = (i + 1) & mask) {
		if (m->state[i] == SLOT_EMPTY) {
			*found = false;
			return first_free != SIZE_MAX ? first_free : i;
		}
		if (m->state[i] == SLOT_TOMBSTONE) {
			if (first_free == SIZE_MAX)
				first_free = i;
			continue;
		}
		if (memcmp(m->keys + i * m->key_len, key, m->key_len) == 0) {
			*found = true;
			return i;
		}
	}
	*found = false;
	return first_free;
}

static int rehash(struct hmap *m, size_t cap)
{
	struct hmap old = *m;

	if (!alloc_slots(m, cap)) {
		*m = old;
		return -1;
	}
	for (size_t i = 0; i < old.cap; i++) {
		bool found;
		size_t j;

		if (old.state[i] != SLOT_FULL)
			continue;
		j = probe(m, old.keys + i * old.key_len, &found);
		m->state[j] = SLOT_FULL;
		memcpy(m->keys + j * m->key_len, old.keys + i * old.key_len, m->key_len);
		m->values[j] = old.values[i];
		m->count++;
		m->used++;
	}
	free(old.state);
	free(old.keys);
	free(old.values);
	return 0;
}

void *hmap_get(const struct hmap *m, const void *key)
{
	bool found;
	size_t i = probe(m, key, &found);

	return found ? m->values[i] : NULL;
}

int hmap_put(struct hmap *m, const void *key, void *value)
{
	bool found;
	size_t i;

	if ((m->used + 1) * 10 >= m->cap * 7) {
		/* Mostly tombstones: rehash at the same size; otherwise grow. */
		size_t cap = (m->count + 1) * 10 >= m->cap * 5 ? m->cap * 2 : m->cap;

		if (rehash(m, cap) < 0)
			return -1;
	}
	i = probe(m, key, &found);
	if (!found) {
		if (m->state[i] == SLOT_EMPTY)
			m->used++;
		m->state[i] = SLOT_FULL;
		memcpy(m->keys + i * m->key_len, key, m->key_len);
		m->count++;
	}
	m->values[i] = value;
	return 0;
}

void *hmap_del(struct hmap *m, const void *key)
{
	bool found;
	size_t i = probe(m, key, &found);
	void *v;

	if (!found)
		return NULL;
	v = m->values[i];
	m->state[i] = SLOT_TOMBSTONE;
	m->values[i] = NULL;
	m->count--;
	/* An index that only grew would hold the slots of its largest day (a burst of 100,000 rules:
	 * ~12 MiB per map) for the daemon's life. Below 1/8 full it halves; put grows it only at 1/2
	 * full, so each resize is paid for by at least cap/8 changes. Out of memory: it stays as is. */
	if (m->cap > MIN_CAP && m->count * 8 < m->cap)
		(void)rehash(m, m->cap / 2);
	return v;
}

size_t hmap_capacity(const struct hmap *m)
{
	return m->cap;
}

size_t hmap_count(const struct hmap *m)
{
	return m->count;
}

void *hmap_next(const struct hmap *m, size_t *pos)
{
	while (*pos < m->cap) {
		size_t i = (*pos)++;

		if (m->state[i] == SLOT_FULL)
			return m->values[i];
	}
	return NULL;
}
