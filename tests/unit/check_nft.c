/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nft suite: the real-kernel backend. Needs root. Every test runs in its own forked child
 * (CK_FORK) that first calls unshare(CLONE_NEWNET): a fresh, empty network namespace with its own
 * nftables, gone when the child exits, so nothing needs cleaning up and nothing touches the host.
 * Without root (or without unshare) the tests are skipped with a message, not failed. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "firewall/runtime/cgroup.h"
#include "firewall/nft/fw.h"
#include "tests/unit/testutil.h"

static bool can_unshare(void)
{
	return geteuid() == 0;
}

static void enter_netns(void)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
}

static struct fw_config standalone_cfg(void)
{
	struct fw_config c = { .family = "inet", .table = "igdd", .mode = FW_STANDALONE, .n_wan = 1,
			       .chain_prefix = "igdd_" };

	strcpy(c.wan_ifname[0], "wan0");
	return c;
}

/* A CGN's addresses: subscribers in 100.64.0.0/10, the pool 203.0.113.8/30. */
static struct fw_config nat_pool_cfg(void)
{
	struct fw_config c = standalone_cfg();

	inet_pton(AF_INET, "100.64.0.0", &c.nat_src);
	c.nat_src_len = 10;
	inet_pton(AF_INET, "203.0.113.8", &c.nat_pool[0]);
	c.nat_pool_len[0] = 30;
	c.n_nat_pool = 1;
	return c;
}

static struct fw *new_fw(const struct fw_config *c)
{
	struct fw *fw = fw_nft_new(c);

	ck_assert_msg(fw != NULL, "fw_nft_new: %s", strerror(errno));
	ck_assert_msg(fw->ops->init(fw) == 0, "init: %s", fw->err);
	return fw;
}

/* Output of a shell command (bounded to 64 MB). */
static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			ck_assert_uint_lt(cap, 64u << 20);
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n = fread(buf + len, 1, cap - len - 1, p);
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	pclose(p);
	return buf;
}

static size_t count_of(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static size_t sample(struct fw_elem *v)
{
	size_t n = 0;

	v[n++] = elem_pinhole("2001:db8:1::5", IPPROTO_TCP, 8080, 3600000);
	v[n] = elem_pinhole("2001:db8:1::6", IPPROTO_ESP, 0, 120000);
	v[n].packets = 7;
	v[n++].bytes = 700;
	v[n++] = elem_pinhole("2001:db8:1::7", 65535, 0, 0);
	v[n] = elem_pinhole("2001:db8:1::8", IPPROTO_TCP, 22, 60000);
	inet_pton(AF_INET6, "2001:db8:9::", &v[n].remote);
	v[n++].remote_len = 48;
	v[n] = elem_pinhole("fd00:1::8", IPPROTO_UDP, 0, 0);
	inet_pton(AF_INET6, "2001:db8:a::1", &v[n].remote);
	v[n].remote_len = 128;
	v[n++].remote_port = 4000;
	v[n++] = elem_portmap(IPPROTO_TCP, 8080, "192.0.2.10", 80);
	v[n] = elem_portmap(IPPROTO_UDP, 5000, "192.0.2.11", 5001);
	inet_pton(AF_INET, "198.51.100.1", &v[n++].ext_addr);
	v[n] = elem_portmap(IPPROTO_TCP, 2222, "192.0.2.12", 22);
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &v[n].remote);
	v[n++].remote_len = 128;
	/* the same remote host, one port of it (a PEER, a FILTER with a port) */
	v[n] = elem_portmap(IPPROTO_UDP, 40000, "192.0.2.13", 40000);
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &v[n].remote);
	v[n].remote_len = 128;
	v[n++].remote_port = 443;
	/* on a pool address: a remote host, and a PEER's flow (its SNAT keyed by the 5-tuple) */
	v[n] = elem_portmap(IPPROTO_TCP, 2222, "100.64.0.2", 22);
	inet_pton(AF_INET, "198.51.100.1", &v[n].ext_addr);
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &v[n].remote);
	v[n++].remote_len = 128;
	v[n] = elem_portmap(IPPROTO_UDP, 1030, "100.64.0.2", 4000);
	inet_pton(AF_INET, "198.51.100.1", &v[n].ext_addr);
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &v[n].remote);
	v[n].remote_len = 128;
	v[n].remote_port = 3478;
	v[n++].flow = true;
	return n;
}

/* 2001:db8:<i/60000>::<i>, tcp, port 1 + i % 60000 */
static struct fw_elem *many(size_t n, uint64_t timeout_ms)
{
	struct fw_elem *v = calloc(n, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = elem_pinhole("2001:db8:1::", IPPROTO_TCP, (uint16_t)(1 + i % 60000), timeout_ms);
		v[i].addr.s6_addr[14] = (uint8_t)(i >> 8);
		v[i].addr.s6_addr[15] = (uint8_t)i;
	}
	return v;
}

struct collected {
	struct fw_elem v[64];
	size_t n;
	size_t total;
};

static void collect_cb(void *arg, const struct fw_elem *e)
{
	struct collected *c = arg;

	if (c->n < 64)
		c->v[c->n++] = *e;
	c->total++;
}

static const struct fw_elem *find(const struct collected *c, const struct fw_elem *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (fw_elem_same_key(&c->v[i], key))
			return &c->v[i];
	return NULL;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

#define NEED_ROOT() do { if (!can_unshare()) { fprintf(stderr, "skipped: needs root\n"); return; } enter_netns(); } while (0)

START_TEST(init_creates_table)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	char *t = run("nft list table inet igdd 2>&1");

	ck_assert_ptr_nonnull(strstr(t, "chain forward"));
	ck_assert_ptr_nonnull(strstr(t, "type filter hook forward priority filter; policy accept;"));
	ck_assert_ptr_nonnull(strstr(t, "type nat hook prerouting priority dstnat; policy accept;"));
	ck_assert_ptr_nonnull(strstr(t, "ct state established,related accept"));
	ck_assert_ptr_nonnull(strstr(t, "ip6 daddr . meta l4proto . th dport @ph_port accept"));
	ck_assert_ptr_nonnull(strstr(t, "ip6 saddr . ip6 daddr . meta l4proto . th sport . th dport @ph_remote accept"));
	ck_assert_ptr_nonnull(strstr(t, "dnat ip to meta l4proto . th dport map @pm4"));
	ck_assert_ptr_nonnull(strstr(t, "meta nfproto ipv6 drop"));
	ck_assert_uint_eq(fw->ops->transactions(fw), 1);
	free(t);
	/* init again: takes the table over, still one table */
	ck_assert_int_eq(fw->ops->init(fw), 0);
	t = run("nft list tables");
	ck_assert_uint_eq(count_of(t, "table inet igdd"), 1);
	free(t);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(bad_config_refused)
{
	struct fw_config c = standalone_cfg();

	c.n_wan = 0;   /* standalone would drop IPv6 on every interface */
	ck_assert_ptr_null(fw_nft_new(&c));
	ck_assert_int_eq(errno, EINVAL);
	c = standalone_cfg();
	strcpy(c.family, "ip");
	ck_assert_ptr_null(fw_nft_new(&c));
	ck_assert_ptr_null(fw_nft_new(NULL));
}
END_TEST

START_TEST(sample_round_trip)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	struct fw_elem v[16];
	size_t n = sample(v);
	struct collected got = { .n = 0 };
	const struct fw_elem *g;

	ck_assert_msg(fw->ops->commit(fw, NULL, 0, v, n) == 0, "commit: %s", fw->err);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg((g = find(&got, &v[i])) != NULL, "element %zu not read back", i);
		ck_assert_uint_eq(g->timeout_ms, v[i].timeout_ms);
		ck_assert_uint_eq(g->packets, v[i].packets);
		if (v[i].v4)
			ck_assert_uint_eq(g->port, v[i].port);
	}
	/* bad element: nothing changes */
	v[n] = elem_pinhole("2001:db8::1", 300, 1, 0);
	ck_assert_int_eq(fw->ops->commit(fw, v, 1, v, n + 1), -EINVAL);
	got.n = got.total = 0;
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(add_10000_in_one_transaction)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	size_t n = 10000;
	struct fw_elem *v = many(n, 3600000);
	uint64_t tx = fw->ops->transactions(fw);
	char *before = run("nft list chain inet igdd forward"), *after, *set;
	struct collected got = { .n = 0 };
	double t0 = now_ms(), t1;

	ck_assert_msg(fw->ops->commit(fw, NULL, 0, v, n) == 0, "commit: %s", fw->err);
	t1 = now_ms();
	fprintf(stderr, "nft: commit of %zu pinholes in one transaction: %.1f ms\n", n, t1 - t0);
	ck_assert_uint_eq(fw->ops->transactions(fw), tx + 1);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n);
	set = run("nft list set inet igdd ph_port");
	ck_assert_ptr_nonnull(strstr(set, "2001:db8:1::1 . tcp . 2 "));
	ck_assert_ptr_nonnull(strstr(set, "2001:db8:1::270f . tcp . 10000 "));
	after = run("nft list chain inet igdd forward");
	ck_assert_uint_eq(count_of(after, "\n"), count_of(before, "\n"));   /* elements, not rules */
	/* resync of the same 10,000 */
	t0 = now_ms();
	ck_assert_msg(fw->ops->resync(fw, v, n) == 0, "resync: %s", fw->err);
	fprintf(stderr, "nft: resync of %zu pinholes in one transaction: %.1f ms\n", n, now_ms() - t0);
	ck_assert_uint_eq(fw->ops->transactions(fw), tx + 2);
	/* and delete them all */
	t0 = now_ms();
	ck_assert_msg(fw->ops->commit(fw, v, n, NULL, 0) == 0, "delete: %s", fw->err);
	fprintf(stderr, "nft: delete of %zu pinholes in one transaction: %.1f ms\n", n, now_ms() - t0);
	got.n = got.total = 0;
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, 0);
	free(before);
	free(after);
	free(set);
	free(v);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(readd_updates_timeout)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	struct fw_elem v[16];
	size_t n = sample(v);
	struct collected got = { .n = 0 };
	const struct fw_elem *g;

	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, n), 0);
	for (size_t i = 0; i < n; i++)
		v[i].timeout_ms = 10000 + i * 1000;
	v[5].port = 8081;   /* a portmap re-added with a new target */
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, v, n) == 0, "re-add: %s", fw->err);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert((g = find(&got, &v[i])) != NULL);
		ck_assert_msg(g->timeout_ms == v[i].timeout_ms, "element %zu: timeout %llu", i,
			      (unsigned long long)g->timeout_ms);
	}
	ck_assert_uint_eq(find(&got, &v[5])->port, 8081);
	ck_assert_uint_eq(find(&got, &v[1])->packets, 7);   /* counter kept across the re-add */
	/* back to "no timeout" */
	v[0].timeout_ms = 0;
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, 1), 0);
	got.n = got.total = 0;
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(find(&got, &v[0])->timeout_ms, 0);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(delete_of_expired_element)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	struct fw_elem e[2] = { elem_pinhole("2001:db8::1", IPPROTO_TCP, 80, 300), elem_pinhole("2001:db8::2", IPPROTO_UDP, 53, 0) };
	struct fw_elem pm = elem_portmap(IPPROTO_TCP, 80, "192.0.2.1", 80);
	struct collected got = { .n = 0 };

	pm.timeout_ms = 300;
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, e, 1), 0);
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, &pm, 1), 0);
	usleep(800 * 1000);   /* both expire in the kernel */
	ck_assert_msg(fw->ops->commit(fw, e, 1, e + 1, 1) == 0, "delete of expired: %s", fw->err);
	ck_assert_msg(fw->ops->commit(fw, &pm, 1, NULL, 0) == 0, "delete of expired map elem: %s", fw->err);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, 1);
	ck_assert_ptr_nonnull(find(&got, &e[1]));
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(monitor_and_resync_after_foreign_changes)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	struct fw_elem v[16];
	size_t n = sample(v);
	struct collected got = { .n = 0 };
	char *t;

	ck_assert_int_ge(fw->ops->monitor_fd(fw), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);   /* our own init */
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, n), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);   /* our own commit */
	/* someone else's table is not our business */
	ck_assert_int_eq(system("nft add table inet other && nft add chain inet other c"), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);

	ck_assert_int_eq(system("nft flush table inet igdd"), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 1);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);
	ck_assert_msg(fw->ops->resync(fw, v, n) == 0, "resync after flush: %s", fw->err);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n);
	ck_assert_uint_eq(find(&got, &v[1])->packets, 7);
	t = run("nft list chain inet igdd forward");
	ck_assert_ptr_nonnull(strstr(t, "@ph_port accept"));
	free(t);

	ck_assert_int_eq(system("nft delete table inet igdd"), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 1);
	ck_assert_msg(fw->ops->resync(fw, v, n) == 0, "resync after delete: %s", fw->err);
	got.n = got.total = 0;
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n);

	ck_assert_int_eq(system("nft add element inet igdd ph_port '{ 2001:db8::99 . tcp . 1 }'"), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 1);
	ck_assert_int_eq(fw->ops->remove(fw), 0);
	t = run("nft list tables");
	ck_assert_ptr_null(strstr(t, "igdd"));
	free(t);
	fw->ops->destroy(fw);
}
END_TEST

/* n pinholes, one per address of 2001:db8:<net>::/48, all to the same port: the large sets. */
static struct fw_elem *many_pinholes(size_t n, unsigned net, uint16_t proto, uint16_t port, uint64_t timeout_ms)
{
	struct fw_elem *v = calloc(n, sizeof(*v));
	char a[64];

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		snprintf(a, sizeof(a), "2001:db8:%x::%zx:%zx", net, (i + 1) >> 16, (i + 1) & 0xffff);
		v[i] = elem_pinhole(a, proto, port, timeout_ms);
	}
	return v;
}

struct dump_loop {
	struct fw *fw;
	bool stop;   /* atomic: set by the committing thread when it is done */
	unsigned dumps, failed;
	size_t last_total;
};

static void *dump_until_stopped(void *arg)
{
	struct dump_loop *d = arg;

	for (unsigned i = 0; i < 100000 && !__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE); i++) {
		struct collected got = { .n = 0 };

		if (d->fw->ops->read_counters(d->fw, collect_cb, &got) != 0)
			d->failed++;
		d->last_total = got.total;
		d->dumps++;
	}
	return NULL;
}

/* read_counters has a socket of its own: it dumps on one thread while transactions commit on another,
 * as the core does (a counter read no longer holds up requests). Neither fails nor sees the other's
 * answers. */
START_TEST(counter_dump_beside_commits)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	struct fw_elem *base = many_pinholes(5000, 7, IPPROTO_TCP, 80, 3600000);
	struct fw_elem *more = many_pinholes(400, 8, IPPROTO_UDP, 81, 3600000);
	struct dump_loop d = { .fw = fw };
	struct collected got = { .n = 0 };
	pthread_t th;

	ck_assert_msg(fw->ops->commit(fw, NULL, 0, base, 5000) == 0, "commit: %s", fw->err);
	ck_assert_int_eq(pthread_create(&th, NULL, dump_until_stopped, &d), 0);
	for (size_t i = 0; i < 400; i++)
		ck_assert_msg(fw->ops->commit(fw, NULL, 0, &more[i], 1) == 0, "commit %zu: %s", i, fw->err);
	__atomic_store_n(&d.stop, true, __ATOMIC_RELEASE);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	fprintf(stderr, "nft: %u counter dumps beside 400 commits, %u failed\n", d.dumps, d.failed);
	ck_assert_uint_gt(d.dumps, 0);
	ck_assert_uint_eq(d.failed, 0);
	ck_assert_uint_ge(d.last_total, 5000);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, 5400);
	free(base);
	free(more);
	fw->ops->destroy(fw);
}
END_TEST

static void foreign_commit(void)
{
	ck_assert_int_eq(system("nft add table inet other_quiet"), 0);
}

/* A large batch goes out with the monitor deaf (the kernel would otherwise report each of its
 * elements to us): our own is not a change, someone else's commit in that window is. */
START_TEST(monitor_deaf_only_for_our_large_batches)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	size_t n = 5000;
	struct fw_elem *v = many_pinholes(n, 5, IPPROTO_TCP, 443, 0);
	struct collected got = { .n = 0 };

	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, v, n) == 0, "commit: %s", fw->err);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);   /* our own, quiet */
	ck_assert_msg(fw->ops->resync(fw, v, n) == 0, "resync: %s", fw->err);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n);

	/* someone commits (even elsewhere) while we are deaf: we cannot know what, so it counts */
	fw_nft_during_quiet_batch = foreign_commit;
	ck_assert_msg(fw->ops->resync(fw, v, n) == 0, "resync: %s", fw->err);
	fw_nft_during_quiet_batch = NULL;
	ck_assert_int_eq(fw->ops->monitor_read(fw), 1);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);

	/* listening again afterwards: a small foreign change is seen as an event */
	ck_assert_int_eq(system("nft add element inet igdd ph_port '{ 2001:db8::99 . tcp . 1 }'"), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 1);
	/* and small batches of ours never made it deaf */
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, 1), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);
	ck_assert_int_eq(system("nft delete table inet other_quiet"), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);   /* not our table */
	fw->ops->remove(fw);
	fw->ops->destroy(fw);
	free(v);
}
END_TEST

/* Above FW_COUNTERS_MAX_ELEMS a resync does not dump the kernel's elements (quadratic) to carry
 * their counters: it asks only whether our sets exist, and still replaces them whole. */
START_TEST(large_resync_without_counter_dump)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	size_t n = FW_COUNTERS_MAX_ELEMS + 1000;
	struct fw_elem *v = many_pinholes(n, 6, IPPROTO_UDP, 5000, 0);
	struct collected got = { .n = 0 };

	ck_assert_msg(fw->ops->resync(fw, v, n) == 0, "resync into a fresh table: %s", fw->err);
	ck_assert_msg(fw->ops->resync(fw, v, n - 1) == 0, "resync over the sets: %s", fw->err);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n - 1);
	fw->ops->remove(fw);
	fw->ops->destroy(fw);
	free(v);
}
END_TEST

/* A big resync fills a fresh generation of our sets in several transactions while the rules still
 * use the old one (nft.c resync_chunked). Between two of them the old sets must hold every element
 * (no window), and a foreign commit in between must make the resync start over, not be lost. */
static int chunk_calls;
static const char *chunk_old_set;
static size_t chunk_old_n;
static bool chunk_foreign;

static size_t elems_in(const char *set)
{
	char cmd[160];
	char *t;
	size_t n = 0;

	snprintf(cmd, sizeof(cmd), "nft list set inet igdd %s 2>/dev/null | grep -o '2001:db8:8::' ", set);
	t = run(cmd);
	for (const char *q = t; (q = strstr(q, "2001:db8:8::")); q++)
		n++;
	free(t);
	return n;
}

static void between_chunks(void)
{
	chunk_calls++;
	ck_assert_uint_eq(elems_in(chunk_old_set), chunk_old_n);
	if (chunk_foreign && chunk_calls == 2)
		ck_assert_int_eq(system("nft add element inet igdd ph_port '{ 2001:db8::99 . tcp . 1 }'"), 0);
}

START_TEST(chunked_resync_no_window)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	size_t n = 3500;
	struct fw_elem *v = many_pinholes(n, 8, IPPROTO_TCP, 7000, 3600 * 1000);
	struct collected got = { .n = 0 };
	char *t;

	fw_nft_chunked_resync_min = 1;
	fw_nft_resync_chunk_elems = 1000;
	fw_nft_between_resync_chunks = between_chunks;
	/* into the empty sets init made: the second generation is filled, the first one goes */
	chunk_old_set = "ph_port";
	chunk_old_n = 0;
	ck_assert_msg(fw->ops->resync(fw, v, n) == 0, "resync: %s", fw->err);
	ck_assert_int_eq(chunk_calls, 4);
	ck_assert_uint_eq(elems_in("ph_port_b"), n);
	t = run("nft list table inet igdd");
	ck_assert_ptr_nonnull(strstr(t, "@ph_port_b accept"));
	ck_assert_ptr_null(strstr(t, "set ph_port {"));
	free(t);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);   /* our own transactions only */

	/* over them, one fewer: the old generation serves all n until the switch */
	chunk_calls = 0;
	chunk_old_set = "ph_port_b";
	chunk_old_n = n;
	ck_assert_msg(fw->ops->resync(fw, v, n - 1) == 0, "resync: %s", fw->err);
	ck_assert_int_eq(chunk_calls, 4);
	ck_assert_uint_eq(elems_in("ph_port"), n - 1);
	ck_assert_uint_eq(elems_in("ph_port_b"), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);

	/* someone adds to our live set between two transactions: ours fails (generation), the resync
	 * starts over (its half-filled generation deleted first) and ends exact; the monitor saw it */
	chunk_calls = 0;
	chunk_old_set = "ph_port";
	chunk_old_n = n - 1;
	chunk_foreign = true;
	ck_assert_msg(fw->ops->resync(fw, v, n - 1) == 0, "resync: %s", fw->err);
	chunk_foreign = false;
	ck_assert_int_gt(chunk_calls, 4);
	t = run("nft list table inet igdd");
	ck_assert_ptr_null(strstr(t, "2001:db8::99"));
	ck_assert_ptr_nonnull(strstr(t, "@ph_port_b accept"));
	free(t);
	ck_assert_uint_eq(elems_in("ph_port_b"), n - 1);
	got.n = got.total = 0;
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n - 1);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 1);
	/* its sets carry no counters (nobody reads them at this size); a later commit still lands */
	t = run("nft list set inet igdd ph_port_b");
	ck_assert_ptr_null(strstr(t, "counter"));
	free(t);
	{
		struct fw_elem extra = elem_pinhole("2001:db8:9::1", IPPROTO_TCP, 7000, 0);

		ck_assert_msg(fw->ops->commit(fw, NULL, 0, &extra, 1) == 0, "commit: %s", fw->err);
		got.n = got.total = 0;
		ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
		ck_assert_uint_eq(got.total, n);
	}

	/* a small resync is the one-transaction rebuild: back to the first generation's names, counters */
	fw_nft_chunked_resync_min = FW_COUNTERS_MAX_ELEMS + 1;
	ck_assert_msg(fw->ops->resync(fw, v, 10) == 0, "resync: %s", fw->err);
	t = run("nft list table inet igdd");
	ck_assert_ptr_nonnull(strstr(t, "@ph_port accept"));
	ck_assert_ptr_null(strstr(t, "ph_port_b"));
	ck_assert_ptr_nonnull(strstr(t, "counter"));
	free(t);
	fw_nft_resync_chunk_elems = 100000;
	fw_nft_between_resync_chunks = NULL;
	fw->ops->remove(fw);
	fw->ops->destroy(fw);
	free(v);
}
END_TEST

/* The same in integrated mode: our sets in the host's table, its chains and jumps untouched. */
START_TEST(chunked_resync_integrated)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw;
	size_t n = 2500;
	struct fw_elem *v = many_pinholes(n, 8, IPPROTO_UDP, 7001, 0);
	struct collected got = { .n = 0 };
	char *t;

	ck_assert_int_eq(system("nft add table inet fw4 && "
				"nft add chain inet fw4 forward '{ type filter hook forward priority filter; policy drop; }' && "
				"nft add chain inet fw4 forward_wan && "
				"nft add rule inet fw4 forward iifname wan0 jump forward_wan"), 0);
	strcpy(c.table, "fw4");
	c.mode = FW_INTEGRATED;
	fw = new_fw(&c);
	ck_assert_int_eq(system("nft add rule inet fw4 forward_wan jump igdd_forward"), 0);
	fw_nft_chunked_resync_min = 1;
	fw_nft_resync_chunk_elems = 1000;
	for (int round = 0; round < 3; round++) {
		ck_assert_msg(fw->ops->resync(fw, v, n - (size_t)round) == 0, "resync %d: %s", round, fw->err);
		got.n = got.total = 0;
		ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
		ck_assert_uint_eq(got.total, n - (size_t)round);
	}
	t = run("nft list table inet fw4");
	ck_assert_ptr_nonnull(strstr(t, "@igdd_ph_port_b accept"));   /* the rounds went A -> B -> A -> B */
	ck_assert_ptr_null(strstr(t, "set igdd_ph_port {"));
	ck_assert_ptr_nonnull(strstr(t, "jump igdd_forward"));
	ck_assert_ptr_nonnull(strstr(t, "policy drop"));
	free(t);
	fw_nft_chunked_resync_min = FW_COUNTERS_MAX_ELEMS + 1;
	fw_nft_resync_chunk_elems = 100000;
	ck_assert_msg(fw->ops->remove(fw) == 0, "remove: %s", fw->err);
	t = run("nft list table inet fw4");
	ck_assert_ptr_null(strstr(t, "igdd_ph_port"));
	ck_assert_ptr_nonnull(strstr(t, "chain forward_wan"));
	free(t);
	fw->ops->destroy(fw);
	free(v);
}
END_TEST

/* The one-transaction rebuild (a chunked resync's fallback) larger than the send buffer (64 MiB; a CGN restart with a million
 * mappings is ~190 MB): it stays one transaction, the buffer grows for it (EMSGSIZE before). */
START_TEST(resync_larger_than_the_send_buffer)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw = new_fw(&c);
	size_t n = 800000;
	struct fw_elem *v = many_pinholes(n, 7, IPPROTO_TCP, 6000, 0);

	fw_nft_chunked_resync_min = SIZE_MAX;   /* the one-transaction rebuild (resync_whole) */
	ck_assert_msg(fw->ops->resync(fw, v, n) == 0, "resync of %zu: %s", n, fw->err);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);
	/* every element message was acknowledged without error (resync checks each ACK); the whole
	 * again over the existing sets, without the last one */
	ck_assert_msg(fw->ops->resync(fw, v, n - 1) == 0, "resync of %zu over them: %s", n - 1, fw->err);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);
	fw_nft_chunked_resync_min = FW_COUNTERS_MAX_ELEMS + 1;
	fw->ops->remove(fw);
	fw->ops->destroy(fw);
	free(v);
}
END_TEST

START_TEST(integrated_mode)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw *fw;
	struct fw_elem v[16];
	size_t n = sample(v);
	struct collected got = { .n = 0 };
	char *t;

	ck_assert_int_eq(system("nft add table inet fw4 && "
				"nft add chain inet fw4 forward '{ type filter hook forward priority filter; policy drop; }' && "
				"nft add chain inet fw4 forward_wan && "
				"nft add rule inet fw4 forward iifname wan0 jump forward_wan"), 0);
	strcpy(c.table, "fw4");
	c.mode = FW_INTEGRATED;
	fw = new_fw(&c);
	ck_assert_int_eq(system("nft add rule inet fw4 forward_wan jump igdd_forward"), 0);
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, v, n) == 0, "commit: %s", fw->err);
	t = run("nft list table inet fw4");
	ck_assert_ptr_nonnull(strstr(t, "chain igdd_forward {"));
	ck_assert_ptr_nonnull(strstr(t, "@igdd_ph_port accept"));
	ck_assert_ptr_nonnull(strstr(t, "jump igdd_forward"));
	ck_assert_ptr_nonnull(strstr(t, "policy drop"));          /* the host's policy is untouched */
	ck_assert_ptr_null(strstr(t, "hook prerouting"));         /* no hooks of ours */
	free(t);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, n);
	/* a host firewall reload empties our chain: resync repairs it, the jump stays valid */
	ck_assert_int_eq(system("nft flush chain inet fw4 igdd_forward"), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 1);
	ck_assert_msg(fw->ops->resync(fw, v, n) == 0, "resync: %s", fw->err);
	t = run("nft list chain inet fw4 igdd_forward");
	ck_assert_ptr_nonnull(strstr(t, "@igdd_ph_addr accept"));
	free(t);
	/* remove: our sets go, the host table and its chains stay */
	ck_assert_msg(fw->ops->remove(fw) == 0, "remove: %s", fw->err);
	t = run("nft list table inet fw4");
	ck_assert_ptr_nonnull(strstr(t, "chain forward_wan"));
	ck_assert_ptr_null(strstr(t, "igdd_ph_port"));
	free(t);
	fw->ops->destroy(fw);
}
END_TEST

/* Endpoint-independent mapping: a portmap with an external address brings its SNAT companion,
 * in the same transaction, and takes it away again; the NAT44 pool rule loads. */
START_TEST(snat_companion)
{
	NEED_ROOT();
	struct fw_config c = nat_pool_cfg();
	struct fw_elem e = elem_portmap(IPPROTO_UDP, 1024, "100.64.0.2", 4000);
	struct collected got = { .n = 0 };
	struct fw *fw;
	char *text;

	fw = new_fw(&c);
	inet_pton(AF_INET, "203.0.113.8", &e.ext_addr);
	e.timeout_ms = 60000;
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, &e, 1) == 0, "commit: %s", fw->err);
	text = run("nft list table inet igdd");
	ck_assert_msg(strstr(text, "100.64.0.2 . udp . 4000") && strstr(text, ": 203.0.113.8 . 1024"), "%s", text);
	ck_assert_msg(strstr(text, "snat ip to 203.0.113.8") && strstr(text, "persistent"), "%s", text);
	free(text);
	ck_assert_int_eq(fw->ops->read_counters(fw, collect_cb, &got), 0);
	ck_assert_uint_eq(got.total, 1);   /* the companion is not a second rule */
	/* re-add (refresh) and resync keep exactly one companion */
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, &e, 1) == 0, "re-add: %s", fw->err);
	ck_assert_msg(fw->ops->resync(fw, &e, 1) == 0, "resync: %s", fw->err);
	text = run("nft list map inet igdd pm4_snat");
	ck_assert_uint_eq(count_of(text, "100.64.0.2 . udp . 4000"), 1);
	free(text);
	ck_assert_msg(fw->ops->commit(fw, &e, 1, NULL, 0) == 0, "delete: %s", fw->err);
	text = run("nft list map inet igdd pm4_snat");
	ck_assert_msg(!strstr(text, "100.64.0.2"), "%s", text);
	free(text);
	fw->ops->destroy(fw);
}
END_TEST

/* A commit that deletes an element and adds another of the same key whose SNAT companion is keyed
 * otherwise (what the core sends when a CGN PEER's rule becomes the operator's mapping, or a mapping
 * moves to another internal port): the old companion goes, the new one comes, the DNAT key is there
 * once, and the transaction deletes that key once (the second delete would fail it on a kernel
 * without DESTROYSETELEM). */
START_TEST(companion_moves_with_its_element)
{
	NEED_ROOT();
	struct fw_config c = nat_pool_cfg();
	struct fw_elem peer = elem_portmap(IPPROTO_UDP, 20008, "100.64.0.2", 4000), map, moved;
	struct fw *fw;
	char *text;

	fw = new_fw(&c);
	inet_pton(AF_INET, "203.0.113.8", &peer.ext_addr);
	inet_pton(AF_INET6, "::ffff:198.51.100.1", &peer.remote);
	peer.remote_len = 128;
	peer.remote_port = 7777;
	peer.flow = true;
	peer.timeout_ms = 600000;
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, &peer, 1) == 0, "commit: %s", fw->err);
	text = run("nft list map inet igdd pm4_snat_flow");
	ck_assert_uint_eq(count_of(text, "100.64.0.2 . 198.51.100.1 . udp . 4000 . 7777"), 1);
	free(text);

	map = peer;
	map.flow = false;
	map.timeout_ms = 0;
	ck_assert_msg(fw->ops->commit(fw, &peer, 1, &map, 1) == 0, "PEER -> mapping: %s", fw->err);
	text = run("nft list map inet igdd pm4_snat_flow");
	ck_assert_msg(!strstr(text, "100.64.0.2"), "the flow's SNAT stayed:\n%s", text);
	free(text);
	text = run("nft list map inet igdd pm4_snat");
	ck_assert_uint_eq(count_of(text, "100.64.0.2 . udp . 4000"), 1);
	free(text);
	text = run("nft list map inet igdd pm4_addr_remote_port");
	ck_assert_uint_eq(count_of(text, "203.0.113.8 . 198.51.100.1 . udp . 7777 . 20008"), 1);
	free(text);

	moved = map;
	moved.port = 4001;
	ck_assert_msg(fw->ops->commit(fw, &map, 1, &moved, 1) == 0, "another internal port: %s", fw->err);
	text = run("nft list map inet igdd pm4_snat");
	ck_assert_msg(!strstr(text, "100.64.0.2 . udp . 4000") && count_of(text, "100.64.0.2 . udp . 4001") == 1,
		      "%s", text);
	free(text);
	text = run("nft list map inet igdd pm4_addr_remote_port");
	ck_assert_msg(count_of(text, ": 100.64.0.2 . 4001") == 1 && !strstr(text, ": 100.64.0.2 . 4000"), "%s", text);
	free(text);
	fw->ops->destroy(fw);
}
END_TEST

/* A CGN config with port blocks: pool 203.0.113.8/30, subscribers 100.64.0.0/10, ports
 * 1024-4095 in blocks of 1024: 3 blocks per address, 12 subscribers with a block. */
static struct fw_config cgn_cfg(void)
{
	struct fw_config c = nat_pool_cfg();

	c.nat_port_min = 1024;
	c.nat_port_max = 4095;
	c.nat_block_size = 1024;
	return c;
}

/* The text between the first line containing `from` and the next line equal to `to` (inclusive). */
static char *section(const char *text, const char *from, const char *to)
{
	const char *a = strstr(text, from), *z;

	ck_assert_msg(a != NULL, "no %s in:\n%s", from, text);
	while (a > text && a[-1] != '\n')
		a--;
	z = strstr(a, to);
	ck_assert_msg(z != NULL, "no end %s after %s in:\n%s", to, from, text);
	return strndup(a, (size_t)(z - a) + strlen(to));
}

/* The block map and its rule, as the kernel holds them, are what fw_render (and so
 * tests/golden/cgn.nft) says: `nft list` prints exactly the rendered text. */
START_TEST(block_map_listed_as_rendered)
{
	NEED_ROOT();
	struct fw_config c = cgn_cfg();
	struct fw_elem e = elem_portmap(IPPROTO_UDP, 1024, "100.64.0.2", 4000);
	struct fw *fw;
	char *listed, *rendered, *a, *b;

	inet_pton(AF_INET, "203.0.113.8", &e.ext_addr);
	fw = new_fw(&c);
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, &e, 1) == 0, "commit: %s", fw->err);
	listed = run("nft list table inet igdd");
	rendered = fw_render(&c, &e, 1);
	a = section(listed, "map nat_block {", "\t}\n");
	b = section(rendered, "map nat_block {", "\t}\n");
	ck_assert_msg(strcmp(a, b) == 0, "kernel:\n%s\nrendered:\n%s", a, b);
	free(a);
	free(b);
	/* the rule, between pm4_snat (mapped flows keep their port) and the pool rule (the fallback);
	 * nft prints those two without the `meta nfproto ipv4` the renderer writes */
	a = section(listed, "@nat_block", "\n");
	b = section(rendered, "@nat_block", "\n");
	ck_assert_msg(strcmp(a, b) == 0, "kernel:\n%s\nrendered:\n%s", a, b);
	ck_assert_msg(strstr(listed, "@pm4_snat\n") < strstr(listed, a) &&
		      strstr(listed, a) < strstr(listed, "persistent\n"), "%s", listed);
	free(a);
	free(b);
	free(listed);
	/* and nft accepts the rendered text */
	{
		char path[] = "/tmp/igdd-render-cgn-XXXXXX", cmd[128];
		int fd = mkstemp(path);

		ck_assert_int_ge(fd, 0);
		ck_assert(write(fd, rendered, strlen(rendered)) == (ssize_t)strlen(rendered));
		close(fd);
		snprintf(cmd, sizeof(cmd), "nft -c -f %s", path);
		ck_assert_int_eq(system(cmd), 0);
		unlink(path);
	}
	free(rendered);
	fw->ops->destroy(fw);
}
END_TEST

/* Scale: the block map is installed with the table in one transaction. 65,536 subscribers (pool
 * 203.0.113.0/24 x 256 blocks of 252 ports), then the bound: FW_NAT_BLOCK_ELEMS_MAX (262,144)
 * elements however many subscribers the pool could serve (blocks of 4 ports: 4,128,768).
 * Prints the install times. */
START_TEST(block_map_scale)
{
	NEED_ROOT();
	struct fw_config c = cgn_cfg();
	struct fw_nat_blocks nb;
	struct fw *fw;
	double t0;
	char *t;

	inet_pton(AF_INET, "203.0.113.0", &c.nat_pool[0]);
	c.nat_pool_len[0] = 24;
	c.nat_port_max = 65535;
	c.nat_block_size = 252;
	ck_assert_uint_eq(fw_nat_block_elems(&c, &nb), 65536);
	ck_assert_ptr_nonnull(fw = fw_nft_new(&c));
	t0 = now_ms();
	ck_assert_msg(fw->ops->init(fw) == 0, "init: %s", fw->err);
	fprintf(stderr, "nft: table + block map of 65536 subscribers in one transaction: %.1f ms\n", now_ms() - t0);
	ck_assert_uint_eq(fw->ops->transactions(fw), 1);
	t = run("nft list map inet igdd nat_block");
	ck_assert_uint_eq(count_of(t, " : 203.0.113."), 65536);
	ck_assert_ptr_nonnull(strstr(t, "100.64.255.255 : 203.0.113.255 . 65284-65535"));
	free(t);
	t0 = now_ms();
	ck_assert_msg(fw->ops->resync(fw, NULL, 0) == 0, "resync: %s", fw->err);
	fprintf(stderr, "nft: resync of the block map of 65536 subscribers: %.1f ms\n", now_ms() - t0);
	fw->ops->destroy(fw);

	c.nat_block_size = 4;
	ck_assert_uint_eq(fw_nat_blocks_capacity(&nb), 65536);
	ck_assert_uint_eq(fw_nat_block_elems(&c, &nb), FW_NAT_BLOCK_ELEMS_MAX);
	ck_assert_uint_eq(fw_nat_blocks_capacity(&nb), 4128768);
	ck_assert_ptr_nonnull(fw = fw_nft_new(&c));
	t0 = now_ms();
	ck_assert_msg(fw->ops->init(fw) == 0, "init: %s", fw->err);
	fprintf(stderr, "nft: table + block map of %u subscribers (the bound) in one transaction: %.1f ms\n",
		FW_NAT_BLOCK_ELEMS_MAX, now_ms() - t0);
	ck_assert_uint_eq(fw->ops->transactions(fw), 1);
	/* the last subscriber of the map (index 2^18 - 1) is in it, the next one is not */
	ck_assert_uint_eq(FW_NAT_BLOCK_ELEMS_MAX, 1u << 18);
	ck_assert_int_eq(system("nft get element inet igdd nat_block '{ 100.67.255.255 }' >/dev/null"), 0);
	ck_assert_int_ne(system("nft get element inet igdd nat_block '{ 100.68.0.0 }' >/dev/null 2>&1"), 0);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(render_accepted_by_nft)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw_elem v[16];
	size_t n = sample(v);
	char *text = fw_render(&c, v, n), path[] = "/tmp/igdd-render-XXXXXX";
	int fd = mkstemp(path);
	char cmd[128];

	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "nft -c -f %s", path);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "nft -f %s", path);
	ck_assert_int_eq(system(cmd), 0);
	free(text);
	/* integrated text loads into an existing table */
	c.mode = FW_INTEGRATED;
	strcpy(c.table, "fw4");
	text = fw_render(&c, v, n);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "nft add table inet fw4 && nft -f %s", path);
	ck_assert_int_eq(system(cmd), 0);
	unlink(path);
	free(text);
}
END_TEST

/* Packets sent by interface ifname of this namespace (/proc/net/dev is per namespace). */
static unsigned long long tx_packets(const char *ifname)
{
	char line[512], want[32];
	unsigned long long v[10] = { 0 };
	FILE *f = fopen("/proc/net/dev", "re");

	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "%s:", ifname);
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " ");

		if (strncmp(p, want, strlen(want)) == 0) {
			sscanf(p + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			       &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
			break;
		}
	}
	fclose(f);
	return v[9];   /* receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets */
}

/* Did a TCP SYN (or a UDP datagram) to addr:80 leave through ifname? Non-blocking: the SYN goes
 * out (or is dropped by the output hook) inside connect(). */
static bool leaves(int type, const char *addr, const char *ifname)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
	unsigned long long before = tx_packets(ifname);
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	if (type == SOCK_STREAM)
		connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	else
		sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin));
	usleep(20 * 1000);
	close(fd);
	return tx_packets(ifname) > before;
}

static void join_cgroup(const char *dir)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "we"));
	fprintf(f, "%ld\n", (long)getpid());
	ck_assert_int_eq(fclose(f), 0);
}

/* The output wall: its chain and rule as nft prints them (same text as fw_render), and its effect
 * on the kernel: a new TCP connection from a socket of the cgroup leaves through a LAN interface,
 * not through another one; UDP leaves; a socket outside the cgroup is not ours to stop.
 * A private mount namespace puts cgroup2 at /sys/fs/cgroup, where nft looks for cgroup names. */
START_TEST(output_wall)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	char mount_at[CGROUP_PATH_MAX], name[64], dir[CGROUP_PATH_MAX + 80], *info, *t, *text, *line, *nl;
	bool wan_tcp, lan_tcp, wan_udp, out_tcp;
	struct stat st;
	struct fw *fw;

	info = run("cat /proc/self/mountinfo");
	if (!cgroup_parse_mountinfo(info, mount_at, sizeof(mount_at))) {
		free(info);
		fprintf(stderr, "skipped: no cgroup2 mounted\n");
		return;
	}
	free(info);
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	if (strcmp(mount_at, "/sys/fs/cgroup") != 0)
		ck_assert_msg(mount(mount_at, "/sys/fs/cgroup", NULL, MS_BIND, NULL) == 0, "bind %s: %s", mount_at,
			      strerror(errno));
	/* veth pairs (their peers up, so they carry), static neighbours (the SYN leaves at once) */
	ck_assert_int_eq(system("for i in wan0 lan0; do ip link add $i type veth peer name $i-p && "
				"ip link set $i addrgenmode none && ip link set $i-p addrgenmode none && "
				"ip link set $i-p up && ip link set $i up || exit 1; done && "
				"ip addr add 203.0.113.1/24 dev wan0 && ip addr add 192.0.2.1/24 dev lan0 && "
				"for a in 2 3 4; do ip neigh add 203.0.113.$a lladdr 02:00:00:00:00:0$a dev wan0 || exit 1; done && "
				"ip neigh add 192.0.2.2 lladdr 02:00:00:00:01:02 dev lan0"), 0);
	snprintf(name, sizeof(name), "igdd-check-nft-%ld", (long)getpid());
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s", name);
	ck_assert_msg(mkdir(dir, 0755) == 0, "mkdir %s: %s", dir, strerror(errno));
	ck_assert_int_eq(stat(dir, &st), 0);
	c.n_lan = 1;
	strcpy(c.lan_ifname[0], "lan0");
	c.out_cgroup_id = st.st_ino;
	c.out_cgroup_level = 1;
	strcpy(c.out_cgroup_path, name);
	if (!(fw = fw_nft_new(&c)) || fw->ops->init(fw) != 0) {
		rmdir(dir);
		ck_abort_msg("init with the wall: %s", fw ? fw->err : strerror(errno));
	}

	/* the rule, as the renderer writes it */
	t = run("nft list chain inet igdd output");
	text = fw_render(&c, NULL, 0);
	ck_assert_ptr_nonnull(line = strstr(text, "socket cgroupv2"));
	if ((nl = strchr(line, '\n')))
		*nl = '\0';
	ck_assert_msg(strstr(t, line) != NULL, "kernel:\n%s\nrendered:\n%s", t, line);
	ck_assert_ptr_nonnull(strstr(t, "type filter hook output priority filter; policy accept;"));
	free(t);
	free(text);
	t = run("nft list set inet igdd lan_if");
	ck_assert_msg(strstr(t, "set lan_if") && strstr(t, "elements = { \"lan0\" }"), "%s", t);
	free(t);

	/* its effect: measured, then the cgroup is left and removed, then judged */
	out_tcp = leaves(SOCK_STREAM, "203.0.113.2", "wan0");
	join_cgroup(dir);
	wan_tcp = leaves(SOCK_STREAM, "203.0.113.3", "wan0");
	lan_tcp = leaves(SOCK_STREAM, "192.0.2.2", "lan0");
	wan_udp = leaves(SOCK_DGRAM, "203.0.113.4", "wan0");
	join_cgroup("/sys/fs/cgroup");
	ck_assert_msg(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
	ck_assert_msg(out_tcp, "TCP from outside the cgroup did not leave through wan0");
	ck_assert_msg(!wan_tcp, "TCP from the cgroup left through wan0");
	ck_assert_msg(lan_tcp, "TCP from the cgroup did not leave through lan0");
	ck_assert_msg(wan_udp, "UDP from the cgroup did not leave through wan0");

	/* resync keeps it; without a cgroup the standalone table has no output chain */
	ck_assert_msg(fw->ops->resync(fw, NULL, 0) == 0, "resync: %s", fw->err);
	t = run("nft list table inet igdd");
	ck_assert_uint_eq(count_of(t, "socket cgroupv2"), 1);
	free(t);
	fw->ops->destroy(fw);
	c.out_cgroup_id = 0;
	fw = new_fw(&c);
	t = run("nft list table inet igdd");
	ck_assert_ptr_null(strstr(t, "chain output"));
	ck_assert_ptr_null(strstr(t, "lan_if"));
	free(t);
	fw->ops->destroy(fw);
}
END_TEST

/* Save and restore, as an operator does (`nft list ruleset > f`, `nft -f f`): what the kernel lists
 * for our table loads back, and lists the same again. Each mode: standalone (with the output wall's
 * lan_if set), integrated into a host table, and a CGN with its block map. */
static void round_trip(const char *table)
{
	char list_cmd[128], path[] = "/tmp/igdd-roundtrip-XXXXXX", cmd[256];
	char *first, *second;
	int fd;

	snprintf(list_cmd, sizeof(list_cmd), "nft list table inet %s", table);
	first = run(list_cmd);
	ck_assert_ptr_nonnull(strstr(first, "table inet"));
	ck_assert_msg(strstr(first, "\"\"") == NULL, "an empty name in the listing:\n%s", first);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, first, strlen(first)) == (ssize_t)strlen(first));
	close(fd);
	snprintf(cmd, sizeof(cmd), "nft flush ruleset && nft -f %s", path);
	ck_assert_msg(system(cmd) == 0, "nft -f refused what nft listed:\n%s", first);
	unlink(path);
	second = run(list_cmd);
	ck_assert_msg(strcmp(first, second) == 0, "listed:\n%s\nloaded back and listed:\n%s", first, second);
	free(first);
	free(second);
}

START_TEST(list_loads_back_standalone)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw_elem v[16];
	size_t n = sample(v);
	char dir[128], *listed, *rendered, mount_at[CGROUP_PATH_MAX], *info;
	struct stat st;
	bool wall;
	struct fw *fw;

	c.n_wan = 2;
	strcpy(c.wan_ifname[1], "wwan0");
	c.n_lan = 2;
	strcpy(c.lan_ifname[0], "br-lan");
	strcpy(c.lan_ifname[1], "br-guest");
	info = run("cat /proc/self/mountinfo");
	wall = cgroup_parse_mountinfo(info, mount_at, sizeof(mount_at));
	free(info);
	if (wall) {   /* nft names a cgroup by its path under /sys/fs/cgroup: the cgroup2 mount goes there */
		ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
		ck_assert_int_eq(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
		if (strcmp(mount_at, "/sys/fs/cgroup") != 0)
			ck_assert_msg(mount(mount_at, "/sys/fs/cgroup", NULL, MS_BIND, NULL) == 0, "bind %s: %s",
				      mount_at, strerror(errno));
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/igdd-check-roundtrip-%ld", (long)getpid());
		wall = mkdir(dir, 0755) == 0 && stat(dir, &st) == 0;
	}
	if (wall) {   /* the output wall brings lan_if, the second set of names */
		c.out_cgroup_id = st.st_ino;
		c.out_cgroup_level = 1;
		snprintf(c.out_cgroup_path, sizeof(c.out_cgroup_path), "%s", dir + strlen("/sys/fs/cgroup/"));
	} else {
		fprintf(stderr, "list_loads_back_standalone: no cgroup2 mounted, without the wall\n");
	}
	fw = new_fw(&c);
	for (size_t i = 0; i < n; i++)
		v[i].timeout_ms = 0;   /* a timeout counts down between two listings */
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, v, n) == 0, "commit: %s", fw->err);
	round_trip("igdd");
	/* the name sets list as the golden rendering writes them */
	listed = run("nft list table inet igdd");
	rendered = fw_render(&c, v, n);
	for (size_t i = 0; i < 2; i++) {
		const char *set = i ? "set lan_if {" : "set wan_if {";
		char *a = section(listed, set, "\t}\n"), *b = section(rendered, set, "\t}\n");

		ck_assert_msg(strcmp(a, b) == 0, "kernel:\n%s\nrendered:\n%s", a, b);
		ck_assert_ptr_nonnull(strstr(a, i ? "\"br-lan\"" : "\"wan0\""));
		ck_assert_ptr_nonnull(strstr(a, i ? "\"br-guest\"" : "\"wwan0\""));
		free(a);
		free(b);
		if (!wall)
			break;
	}
	free(listed);
	free(rendered);
	fw->ops->destroy(fw);
	if (wall)
		ck_assert_msg(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
}
END_TEST

START_TEST(list_loads_back_integrated)
{
	NEED_ROOT();
	struct fw_config c = standalone_cfg();
	struct fw_elem v[16];
	size_t n = sample(v);
	struct fw *fw;

	ck_assert_int_eq(system("nft add table inet fw4 && "
				"nft add chain inet fw4 forward '{ type filter hook forward priority filter; policy drop; }' && "
				"nft add chain inet fw4 forward_wan && "
				"nft add rule inet fw4 forward iifname wan0 jump forward_wan"), 0);
	strcpy(c.table, "fw4");
	c.mode = FW_INTEGRATED;
	fw = new_fw(&c);
	ck_assert_int_eq(system("nft add rule inet fw4 forward_wan jump igdd_forward"), 0);
	for (size_t i = 0; i < n; i++)
		v[i].timeout_ms = 0;
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, v, n) == 0, "commit: %s", fw->err);
	round_trip("fw4");
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(list_loads_back_cgn)
{
	NEED_ROOT();
	struct fw_config c = cgn_cfg();
	struct fw_elem v[3] = { elem_portmap(IPPROTO_UDP, 3072, "100.64.0.2", 4000),
				elem_portmap(IPPROTO_TCP, 2222, "100.64.0.3", 22),
				elem_portmap(IPPROTO_UDP, 3072, "100.64.0.2", 4000) };
	struct fw *fw;
	char *text;

	inet_pton(AF_INET, "203.0.113.8", &v[0].ext_addr);
	/* a PEER's flow beside the endpoint's MAP: its DNAT from the peer's port, its 5-tuple SNAT */
	v[2].ext_addr = v[0].ext_addr;
	inet_pton(AF_INET6, "::ffff:198.51.100.7", &v[2].remote);
	v[2].remote_len = 128;
	v[2].remote_port = 3478;
	v[2].flow = true;
	fw = new_fw(&c);
	ck_assert_msg(fw->ops->commit(fw, NULL, 0, v, 3) == 0, "commit: %s", fw->err);
	text = run("nft list table inet igdd");
	ck_assert_msg(strstr(text, "203.0.113.8 . 198.51.100.7 . udp . 3478 . 3072") &&
		      strstr(text, "100.64.0.2 . 198.51.100.7 . udp . 4000 . 3478") &&
		      strstr(text, "100.64.0.2 . udp . 4000"), "%s", text);
	free(text);
	round_trip("igdd");
	/* the flow's mapping goes with its SNAT, the endpoint's stays */
	ck_assert_msg(fw->ops->commit(fw, &v[2], 1, NULL, 0) == 0, "delete: %s", fw->err);
	text = run("nft list table inet igdd");
	ck_assert_msg(!strstr(text, "198.51.100.7") && strstr(text, "100.64.0.2 . udp . 4000"), "%s", text);
	free(text);
	fw->ops->destroy(fw);
}
END_TEST

static Suite *nft_suite(void)
{
	Suite *s = suite_create("nft");
	TCase *tc = tcase_create("kernel");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, init_creates_table);
	tcase_add_test(tc, bad_config_refused);
	tcase_add_test(tc, sample_round_trip);
	tcase_add_test(tc, add_10000_in_one_transaction);
	tcase_add_test(tc, counter_dump_beside_commits);
	tcase_add_test(tc, readd_updates_timeout);
	tcase_add_test(tc, delete_of_expired_element);
	tcase_add_test(tc, monitor_and_resync_after_foreign_changes);
	tcase_add_test(tc, monitor_deaf_only_for_our_large_batches);
	tcase_add_test(tc, large_resync_without_counter_dump);
	tcase_add_test(tc, chunked_resync_no_window);
	tcase_add_test(tc, chunked_resync_integrated);
	tcase_add_test(tc, integrated_mode);
	tcase_add_test(tc, render_accepted_by_nft);
	tcase_add_test(tc, snat_companion);
	tcase_add_test(tc, companion_moves_with_its_element);
	tcase_add_test(tc, block_map_listed_as_rendered);
	tcase_add_test(tc, output_wall);
	tcase_add_test(tc, list_loads_back_standalone);
	tcase_add_test(tc, list_loads_back_integrated);
	tcase_add_test(tc, list_loads_back_cgn);
	suite_add_tcase(s, tc);
	/* a quarter of a million map elements, installed and listed, and two resyncs of 800,000 pinholes:
	 * each takes seconds idle, minutes under ASan on a busy host */
	tc = tcase_create("kernel-scale");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, block_map_scale);
	tcase_add_test(tc, resync_larger_than_the_send_buffer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(nft_suite());
}
