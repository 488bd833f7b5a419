/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "firewall/lib/hmap.h"

/* A slot's state byte: empty, a tombstone, or full with 7 bits of the key's hash (a probe compares
 * keys only where those match, which matters when a key has to be derived from its value). */
enum slot_state { SLOT_EMPTY = 0, SLOT_TOMBSTONE = 1 };
#define SLOT_FULL_BIT 0x80u
#define KEY_MAX 64       /* derived keys are built on the stack */

#define MIN_CAP 64

struct hmap {
	size_t key_len;
	size_t cap;      /* power of two */
	size_t count;
	size_t used;     /* full + tombstones: drives the rehash */
	uint8_t *state;
	uint8_t *keys;   /* cap * key_len; NULL when keys are derived from values */
	void **values;
	void (*key_of)(const void *value, void *key);   /* hmap_new_derived */
	void (*key_of_arg)(void *arg, const void *value, void *key);   /* hmap_new_derived_arg */
	void *arg;
	bool derived;
};

static void derive_key(const struct hmap *m, const void *value, void *key)
{
	if (m->key_of_arg)
		m->key_of_arg(m->arg, value, key);
	else
		m->key_of(value, key);
}

static bool slot_full(uint8_t st)
{
	return st & SLOT_FULL_BIT;
}

/* ---------- the hash: SipHash-1-3, keyed once per process ----------
 * With an unkeyed hash, whoever picks the keys (a LAN host picks its IPv6 addresses, PCP clients their
 * ports and nonces) can compute which keys share a probe sequence and make every insert walk one long
 * cluster under the core lock. SipHash (Aumasson and Bernstein) with a random 128-bit key makes that
 * unknowable outside the process; 1 compression and 3 finalisation rounds, as Rust's HashMap uses. */
static uint8_t proc_key[16];
static pthread_once_t proc_key_once = PTHREAD_ONCE_INIT;

static void proc_key_init(void)
{
	struct timespec ts;
	uint64_t mix[2];
	size_t got = 0;
	ssize_t n;

	/* bounded: each pass fills at least one byte or gives up */
	while (got < sizeof(proc_key) &&
	       ((n = getrandom(proc_key + got, sizeof(proc_key) - got, GRND_NONBLOCK)) > 0 || (n < 0 && errno == EINTR)))
		got += n > 0 ? (size_t)n : 0;
	if (got == sizeof(proc_key))
		return;
	/* No entropy yet (very early boot) or no getrandom: still different per process and per start. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	mix[0] = (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 16;
	mix[1] = (uint64_t)(uintptr_t)&ts ^ (uint64_t)(uintptr_t)proc_key_init;
	memcpy(proc_key, mix, sizeof(proc_key));
}

static uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

struct sip {
	uint64_t v0, v1, v2, v3;
};

static void sip_rounds(struct sip *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		s->v0 += s->v1;
		s->v1 = rotl(s->v1, 13);
		s->v1 ^= s->v0;
		s->v0 = rotl(s->v0, 32);
		s->v2 += s->v3;
		s->v3 = rotl(s->v3, 16);
		s->v3 ^= s->v2;
		s->v0 += s->v3;
		s->v3 = rotl(s->v3, 21);
		s->v3 ^= s->v0;
		s->v2 += s->v1;
		s->v1 = rotl(s->v1, 17);
		s->v1 ^= s->v2;
		s->v2 = rotl(s->v2, 32);
	}
}

static void sip_word(struct sip *s, uint64_t m, unsigned c_rounds)
{
	s->v3 ^= m;
	sip_rounds(s, c_rounds);
	s->v0 ^= m;
}

uint64_t hmap_siphash(const uint8_t key[16], const void *data, size_t len, unsigned c_rounds, unsigned d_rounds)
{
	const uint8_t *p = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8), last = (uint64_t)len << 56;
	struct sip s = { k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
			 k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull };
	size_t i = 0;

	for (; len - i >= 8; i += 8)
		sip_word(&s, load_le64(p + i), c_rounds);
	for (size_t j = 0; i + j < len; j++)
		last |= (uint64_t)p[i + j] << (8 * j);
	sip_word(&s, last, c_rounds);
	s.v2 ^= 0xff;
	sip_rounds(&s, d_rounds);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

static uint64_t hash_bytes(const void *key, size_t len)
{
	return hmap_siphash(proc_key, key, len, 1, 3);
}

static bool alloc_slots(struct hmap *m, size_t cap)
{
	m->state = calloc(cap, 1);
	m->keys = m->derived ? NULL : calloc(cap, m->key_len);
	m->values = calloc(cap, sizeof(void *));
	if (m->state == NULL || (m->keys == NULL && !m->derived) || m->values == NULL) {
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

static struct hmap *map_new(size_t key_len, void (*key_of)(const void *value, void *key),
			    void (*key_of_arg)(void *arg, const void *value, void *key), void *arg)
{
	struct hmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	pthread_once(&proc_key_once, proc_key_init);
	m->key_len = key_len;
	m->key_of = key_of;
	m->key_of_arg = key_of_arg;
	m->arg = arg;
	m->derived = key_of != NULL || key_of_arg != NULL;
	if (!alloc_slots(m, MIN_CAP)) {
		free(m);
		return NULL;
	}
	return m;
}

struct hmap *hmap_new(size_t key_len)
{
	return map_new(key_len, NULL, NULL, NULL);
}

struct hmap *hmap_new_derived(size_t key_len, void (*key_of)(const void *value, void *key))
{
	if (key_len == 0 || key_len > KEY_MAX || key_of == NULL)
		return NULL;
	return map_new(key_len, key_of, NULL, NULL);
}

struct hmap *hmap_new_derived_arg(size_t key_len, void (*key_of)(void *arg, const void *value, void *key), void *arg)
{
	if (key_len == 0 || key_len > KEY_MAX || key_of == NULL)
		return NULL;
	return map_new(key_len, NULL, key_of, arg);
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

static uint8_t tag_of(uint64_t h)
{
	return (uint8_t)(SLOT_FULL_BIT | (h >> 57));
}

/* Is the key of full slot i equal to key? */
static bool slot_has(const struct hmap *m, size_t i, const void *key)
{
	uint8_t k[KEY_MAX];

	if (m->keys)
		return memcmp(m->keys + i * m->key_len, key, m->key_len) == 0;
	derive_key(m, m->values[i], k);
	return memcmp(k, key, m->key_len) == 0;
}

/* Index of the slot holding key (hash h), or of the first free slot where it would go (*found false). */
static size_t probe(const struct hmap *m, const void *key, uint64_t h, bool *found)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)h & mask;
	size_t first_free = SIZE_MAX;
	uint8_t tag = tag_of(h);

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
		if (m->state[i] == tag && slot_has(m, i, key)) {
			*found = true;
			return i;
		}
	}
	*found = false;
	return first_free;
}

/* Puts a key known to be absent into slot i. */
static void slot_fill(struct hmap *m, size_t i, const void *key, uint64_t h, void *value)
{
	if (m->state[i] == SLOT_EMPTY)
		m->used++;
	m->state[i] = tag_of(h);
	if (m->keys)
		memcpy(m->keys + i * m->key_len, key, m->key_len);
	m->values[i] = value;
	m->count++;
}

static int rehash(struct hmap *m, size_t cap)
{
	struct hmap old = *m;

	if (!alloc_slots(m, cap)) {
		*m = old;
		return -1;
	}
	for (size_t i = 0; i < old.cap; i++) {
		uint8_t k[KEY_MAX];
		const void *key;
		uint64_t h;
		bool found;

		if (!slot_full(old.state[i]))
			continue;
		if (old.keys) {
			key = old.keys + i * old.key_len;
		} else {
			derive_key(&old, old.values[i], k);
			key = k;
		}
		h = hash_bytes(key, m->key_len);
		slot_fill(m, probe(m, key, h, &found), key, h, old.values[i]);
	}
	free(old.state);
	free(old.keys);
	free(old.values);
	return 0;
}

void *hmap_get(const struct hmap *m, const void *key)
{
	bool found;
	size_t i = probe(m, key, hash_bytes(key, m->key_len), &found);

	return found ? m->values[i] : NULL;
}

int hmap_put(struct hmap *m, const void *key, void *value)
{
	uint64_t h = hash_bytes(key, m->key_len);
	bool found;
	size_t i = probe(m, key, h, &found);

	if (found) {
		/* a replacement needs no room: it never fails (callers rely on it) */
		m->values[i] = value;
		return 0;
	}
	/* Up to 4/5 full: a probe reads the 1-byte states (and compares a key only on a 7-bit tag match),
	 * so a long run costs little, while slots are what a large index is made of (a million rules:
	 * 3 indexes of 1-2 M slots). */
	if ((m->used + 1) * 5 >= m->cap * 4) {
		/* Mostly tombstones: rehash at the same size; otherwise grow. */
		size_t cap = (m->count + 1) * 2 >= m->cap ? m->cap * 2 : m->cap;

		if (rehash(m, cap) < 0)
			return -1;
		i = probe(m, key, h, &found);
	}
	slot_fill(m, i, key, h, value);
	return 0;
}

void *hmap_del(struct hmap *m, const void *key)
{
	bool found;
	size_t i = probe(m, key, hash_bytes(key, m->key_len), &found);
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

		if (slot_full(m->state[i]))
			return m->values[i];
	}
	return NULL;
}

size_t hmap_longest_run(const struct hmap *m)
{
	size_t longest = 0, run = 0;

	/* twice round, so a run that wraps past the last slot is counted whole */
	for (size_t n = 0; n < 2 * m->cap; n++) {
		run = m->state[n & (m->cap - 1)] == SLOT_EMPTY ? 0 : run + 1;
		if (run > longest)
			longest = run < m->cap ? run : m->cap;
	}
	return longest;
}
