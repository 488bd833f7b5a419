/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The in-memory backend: the semantics of nft.c without a kernel, for unit tests.
 * The table is an array sorted by kernel key (fw_key_build), so "same element" means exactly
 * what it means in the kernel. Every operation builds the new table aside and swaps it in at the
 * end, which gives the all-or-nothing behaviour of an nftables transaction. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "firewall/nft/fw.h"
#include "firewall/nft/fw_elem.h"

struct mem_entry {
	struct fw_key key;
	struct fw_elem elem;
	size_t seq;   /* input order: among equal keys the later add wins */
};

struct mem_fw {
	struct mem_entry *entries;
	size_t n;
	uint64_t transactions;
	int fail_next;       /* errno for the next commit/resync, 0 = none */
	bool refuse;         /* fw_mem_refuse: commits adding refused_key fail */
	struct fw_key refused_key;
	bool foreign;        /* a simulated foreign change is pending for monitor_read */
	int event_fd;
	/* fw_mem_hold: commits wait at their start while held (the core commits outside its lock) */
	pthread_mutex_t entries_mu;   /* replacing entries vs. read_counters (which may run on another thread) */
	pthread_mutex_t hold_mu;
	pthread_cond_t hold_cv;
	bool hold, hold_reads;
	unsigned held;       /* commits waiting now */
};

static struct mem_fw *mem_of(struct fw *fw)
{
	return fw->priv;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct mem_entry *a = pa, *b = pb;
	int c = fw_key_cmp(&a->key, &b->key);

	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static struct mem_entry *find(struct mem_fw *m, const struct fw_key *k)
{
	struct mem_entry probe = { .key = *k };
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = fw_key_cmp(&m->entries[mid].key, &probe.key);

		if (c == 0)
			return &m->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Validates every element first so a bad one changes nothing. */
static int validate(struct fw *fw, const struct fw_elem *v, size_t n)
{
	struct fw_key k;
	const char *err;
	char s[160];

	for (size_t i = 0; i < n; i++) {
		if ((err = fw_key_build(&v[i], &k)) != NULL) {
			snprintf(fw->err, sizeof(fw->err), "%s: %s", fw_elem_str(&v[i], s, sizeof(s)), err);
			return -EINVAL;
		}
	}
	return 0;
}

static int take_failure(struct fw *fw)
{
	struct mem_fw *m = mem_of(fw);
	int err = m->fail_next;

	if (!err)
		return 0;
	m->fail_next = 0;
	snprintf(fw->err, sizeof(fw->err), "simulated failure: %s", strerror(err));
	return -err;
}

/* The kernel fails a whole transaction over one element it cannot hold beside another (fw.h). The
 * elements of the remote-filtered interval set are few in tests: pairwise is fine. */
static int refuse_clashes(struct fw *fw, const struct mem_entry *v, size_t n)
{
	char a[160], b[160];

	for (size_t i = 0; i < n; i++) {
		if (v[i].key.set != FW_SET_PH_REMOTE)
			continue;
		for (size_t j = i + 1; j < n; j++)
			if (fw_elems_clash(&v[i].elem, &v[j].elem)) {
				snprintf(fw->err, sizeof(fw->err), "NEWSETELEM: File exists (%s overlaps %s)",
					 fw_elem_str(&v[j].elem, a, sizeof(a)), fw_elem_str(&v[i].elem, b, sizeof(b)));
				return -EEXIST;
			}
	}
	return 0;
}

static int refuse_marked(struct fw *fw, const struct fw_elem *add, size_t nadd)
{
	struct mem_fw *m = mem_of(fw);
	struct fw_key k;
	char s[160];

	for (size_t i = 0; m->refuse && i < nadd; i++)
		if (fw_key_build(&add[i], &k) == NULL && fw_key_cmp(&k, &m->refused_key) == 0) {
			snprintf(fw->err, sizeof(fw->err), "NEWSETELEM: File exists (%s, refused by the test)",
				 fw_elem_str(&add[i], s, sizeof(s)));
			return -EEXIST;
		}
	return 0;
}

/* Sorts the scratch table and keeps the last entry of each key. */
static size_t sort_dedupe(struct mem_entry *v, size_t n)
{
	size_t out = 0;

	qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && fw_key_cmp(&v[out - 1].key, &v[i].key) == 0)
			v[out - 1] = v[i];
		else
			v[out++] = v[i];
	}
	return out;
}

static int key_cmp_void(const void *a, const void *b)
{
	return fw_key_cmp(a, b);
}

/* Sorted keys of the elements to delete, for bsearch. */
static struct fw_key *sorted_keys(const struct fw_elem *v, size_t n)
{
	struct fw_key *keys = calloc(n + 1, sizeof(*keys));

	if (!keys)
		return NULL;
	for (size_t i = 0; i < n; i++)
		fw_key_build(&v[i], &keys[i]);
	qsort(keys, n, sizeof(*keys), key_cmp_void);
	return keys;
}

/* Pinholes are updated in place by the kernel (it keeps its counter); portmaps are replaced
 * (delete + add), taking the counter the caller carried over. Mirror that. */
static void carry_counter(struct mem_fw *m, struct mem_entry *e, const struct fw_key *del_keys, size_t ndel)
{
	struct mem_entry *old = find(m, &e->key);

	if (bsearch(&e->key, del_keys, ndel, sizeof(*del_keys), key_cmp_void))
		return;   /* deleted first in the same transaction: a fresh element */

	if (old && !e->elem.v4) {
		e->elem.packets = old->elem.packets;
		e->elem.bytes = old->elem.bytes;
	}
}

static void swap_in(struct mem_fw *m, struct mem_entry *v, size_t n)
{
	pthread_mutex_lock(&m->entries_mu);
	free(m->entries);
	m->entries = v;
	m->n = n;
	pthread_mutex_unlock(&m->entries_mu);
	m->transactions++;
}

/* fw_mem_hold / fw_mem_hold_reads: a commit or a counter read waits here while *hold. */
static void wait_unheld(struct mem_fw *m, const bool *hold)
{
	pthread_mutex_lock(&m->hold_mu);
	m->held++;
	pthread_cond_broadcast(&m->hold_cv);
	while (*hold)
		pthread_cond_wait(&m->hold_cv, &m->hold_mu);
	m->held--;
	pthread_mutex_unlock(&m->hold_mu);
}

static int mem_commit(struct fw *fw, const struct fw_elem *del, size_t ndel, const struct fw_elem *add, size_t nadd)
{
	struct mem_fw *m = mem_of(fw);
	struct fw_key *del_keys;
	struct mem_entry *v;
	size_t n = 0;
	int err;

	wait_unheld(m, &m->hold);
	if ((err = validate(fw, del, ndel)) || (err = validate(fw, add, nadd)) || (err = take_failure(fw)) ||
	    (err = refuse_marked(fw, add, nadd)))
		return err;
	v = calloc(m->n + nadd + 1, sizeof(*v));
	del_keys = sorted_keys(del, ndel);
	if (!v || !del_keys) {
		free(v);
		free(del_keys);
		return -ENOMEM;
	}
	/* Deleting a key the table no longer holds is fine: the kernel may have expired it. */
	for (size_t i = 0; i < m->n; i++) {
		if (!bsearch(&m->entries[i].key, del_keys, ndel, sizeof(*del_keys), key_cmp_void)) {
			v[n] = m->entries[i];
			v[n++].seq = 0;
		}
	}
	for (size_t i = 0; i < nadd; i++, n++) {
		fw_key_build(&add[i], &v[n].key);
		v[n].elem = add[i];
		v[n].seq = 1 + i;
		carry_counter(m, &v[n], del_keys, ndel);
	}
	free(del_keys);
	if ((err = refuse_clashes(fw, v, n))) {
		free(v);
		return err;
	}
	swap_in(m, v, sort_dedupe(v, n));
	return 0;
}

static int mem_resync(struct fw *fw, const struct fw_elem *all, size_t n)
{
	struct mem_fw *m = mem_of(fw);
	struct mem_entry *v;
	int err;

	if ((err = validate(fw, all, n)) || (err = take_failure(fw)))
		return err;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		fw_key_build(&all[i], &v[i].key);
		v[i].elem = all[i];
		v[i].seq = i;
		/* like nft.c: counters the kernel still holds survive a resync */
		struct mem_entry *old = find(m, &v[i].key);
		if (old) {
			v[i].elem.packets = old->elem.packets;
			v[i].elem.bytes = old->elem.bytes;
		}
	}
	if ((err = refuse_clashes(fw, v, n))) {
		free(v);
		return err;
	}
	swap_in(m, v, sort_dedupe(v, n));
	return 0;
}

static int mem_init(struct fw *fw)
{
	return mem_resync(fw, NULL, 0);
}

static int mem_read_counters(struct fw *fw, void (*cb)(void *arg, const struct fw_elem *e), void *arg)
{
	struct mem_fw *m = mem_of(fw);

	wait_unheld(m, &m->hold_reads);
	pthread_mutex_lock(&m->entries_mu);
	for (size_t i = 0; i < m->n; i++)
		cb(arg, &m->entries[i].elem);
	pthread_mutex_unlock(&m->entries_mu);
	return 0;
}

static int mem_monitor_fd(struct fw *fw)
{
	return mem_of(fw)->event_fd;
}

static int mem_monitor_read(struct fw *fw)
{
	struct mem_fw *m = mem_of(fw);
	uint64_t count;
	bool was = m->foreign;

	if (m->event_fd >= 0 && read(m->event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return -1;
	m->foreign = false;
	return was ? 1 : 0;
}

static uint64_t mem_transactions(struct fw *fw)
{
	return mem_of(fw)->transactions;
}

static int mem_remove(struct fw *fw)
{
	swap_in(mem_of(fw), NULL, 0);
	return 0;
}

static void mem_destroy(struct fw *fw)
{
	struct mem_fw *m;

	if (!fw)
		return;
	m = mem_of(fw);
	if (m) {
		if (m->event_fd >= 0)
			close(m->event_fd);
		free(m->entries);
		pthread_cond_destroy(&m->hold_cv);
		pthread_mutex_destroy(&m->hold_mu);
		pthread_mutex_destroy(&m->entries_mu);
		free(m);
	}
	free(fw);
}

static const struct fw_ops mem_ops = {
	.name = "mem",
	.init = mem_init,
	.commit = mem_commit,
	.resync = mem_resync,
	.read_counters = mem_read_counters,
	.monitor_fd = mem_monitor_fd,
	.monitor_read = mem_monitor_read,
	.transactions = mem_transactions,
	.remove = mem_remove,
	.destroy = mem_destroy,
};

struct fw *fw_mem_new(const struct fw_config *cfg)
{
	struct fw *fw = calloc(1, sizeof(*fw));
	struct mem_fw *m = calloc(1, sizeof(*m));

	if (!fw || !m || !cfg) {
		free(fw);
		free(m);
		errno = cfg ? ENOMEM : EINVAL;
		return NULL;
	}
	fw->ops = &mem_ops;
	fw->cfg = *cfg;
	fw->priv = m;
	m->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&m->entries_mu, NULL);
	pthread_mutex_init(&m->hold_mu, NULL);
	pthread_cond_init(&m->hold_cv, NULL);
	return fw;
}

size_t fw_mem_count(struct fw *fw)
{
	return fw && fw->ops == &mem_ops ? mem_of(fw)->n : 0;
}

bool fw_mem_has(struct fw *fw, const struct fw_elem *key, struct fw_elem *out)
{
	struct mem_entry *e;
	struct fw_key k;

	if (!fw || fw->ops != &mem_ops || !key || fw_key_build(key, &k))
		return false;
	e = find(mem_of(fw), &k);
	if (e && out)
		*out = e->elem;
	return e != NULL;
}

bool fw_mem_admit(struct fw *fw, const struct fw_elem *key, uint64_t packets)
{
	struct mem_entry *e;
	struct fw_key k;

	if (!fw || fw->ops != &mem_ops || !key || fw_key_build(key, &k) || !(e = find(mem_of(fw), &k)))
		return false;
	e->elem.packets += packets;
	e->elem.bytes += packets * 100;
	return true;
}

void fw_mem_fail_next(struct fw *fw, int err)
{
	if (fw && fw->ops == &mem_ops)
		mem_of(fw)->fail_next = err < 0 ? -err : err;
}

void fw_mem_hold(struct fw *fw, bool hold)
{
	struct mem_fw *m;

	if (!fw || fw->ops != &mem_ops)
		return;
	m = mem_of(fw);
	pthread_mutex_lock(&m->hold_mu);
	m->hold = hold;
	pthread_cond_broadcast(&m->hold_cv);
	pthread_mutex_unlock(&m->hold_mu);
}

void fw_mem_hold_reads(struct fw *fw, bool hold)
{
	struct mem_fw *m;

	if (!fw || fw->ops != &mem_ops)
		return;
	m = mem_of(fw);
	pthread_mutex_lock(&m->hold_mu);
	m->hold_reads = hold;
	pthread_cond_broadcast(&m->hold_cv);
	pthread_mutex_unlock(&m->hold_mu);
}

bool fw_mem_wait_held(struct fw *fw, unsigned n, int ms)
{
	struct mem_fw *m;
	struct timespec until;
	bool reached;

	if (!fw || fw->ops != &mem_ops)
		return false;
	m = mem_of(fw);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->hold_mu);
	while (m->held < n && pthread_cond_timedwait(&m->hold_cv, &m->hold_mu, &until) == 0)
		;
	reached = m->held >= n;
	pthread_mutex_unlock(&m->hold_mu);
	return reached;
}

void fw_mem_foreign_change(struct fw *fw)
{
	struct mem_fw *m;
	uint64_t one = 1;

	if (!fw || fw->ops != &mem_ops)
		return;
	m = mem_of(fw);
	pthread_mutex_lock(&m->entries_mu);
	free(m->entries);
	m->entries = NULL;
	m->n = 0;
	pthread_mutex_unlock(&m->entries_mu);
	m->foreign = true;
	if (m->event_fd >= 0 && write(m->event_fd, &one, sizeof(one)) < 0)
		m->foreign = true;   /* still reported by monitor_read */
}

void fw_mem_refuse(struct fw *fw, const struct fw_elem *e)
{
	struct mem_fw *m;

	if (!fw || fw->ops != &mem_ops)
		return;
	m = mem_of(fw);
	m->refuse = e != NULL && fw_key_build(e, &m->refused_key) == NULL;
}
