/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pcpd's user-space memory per mapping, without a lab: the same core, store and PCP server pcpd
 * runs (CGN mode: a pool, subscribers of 100.64.0.0/10, deterministic blocks), fed PCP MAP datagrams
 * from many subscribers in groups of 64 (one journal sync and one firewall transaction each, as
 * pcp_io does), over a firewall backend that accepts every transaction and keeps nothing (the kernel's
 * share is measured in the lab: tests/bench/pcp_run.sh). Prints heap bytes in use and VmRSS before
 * and after, per mapping, the install rate, and the time a restart takes to load them back (store and
 * indexes; the kernel's resync is not in it). Figures, not pass/fail.
 *   mem_bench N [PER_SUBSCRIBER [STATE_DIR]]   (defaults: 100000, 64, a fresh directory in /tmp)
 * With a description option on every 8th request (what a DESCRIPTION-sending client costs). */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "firewall/core/core.h"
#include "firewall/core/store.h"
#include "pcpd/cgn.h"
#include "pcpd/pcp_server.h"
#include "pcpd/pcp_wire.h"

static uint64_t null_transactions;

static int null_init(struct fw *fw) { (void)fw; return 0; }
static int null_commit(struct fw *fw, const struct fw_elem *del, size_t ndel, const struct fw_elem *add, size_t nadd)
{
	(void)fw; (void)del; (void)ndel; (void)add; (void)nadd;
	null_transactions++;
	return 0;
}
static int null_resync(struct fw *fw, const struct fw_elem *all, size_t n) { (void)fw; (void)all; (void)n; return 0; }
static int null_counters(struct fw *fw, void (*cb)(void *arg, const struct fw_elem *e), void *arg)
{
	(void)fw; (void)cb; (void)arg;
	return 0;
}
static int null_monitor_fd(struct fw *fw) { (void)fw; return -1; }
static int null_monitor_read(struct fw *fw) { (void)fw; return 0; }
static uint64_t null_tx(struct fw *fw) { (void)fw; return null_transactions; }
static int null_remove(struct fw *fw) { (void)fw; return 0; }
static void null_destroy(struct fw *fw) { free(fw); }

static const struct fw_ops null_ops = {
	.name = "null", .init = null_init, .commit = null_commit, .resync = null_resync,
	.read_counters = null_counters, .monitor_fd = null_monitor_fd, .monitor_read = null_monitor_read,
	.transactions = null_tx, .remove = null_remove, .destroy = null_destroy,
};

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	size_t per = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
	char tmpl[] = "/tmp/igdd-membench-XXXXXX", err[256], cmd[300];
	const char *dir = argc > 3 ? argv[3] : mkdtemp(tmpl);
	struct cgn_config cc;
	struct core_params cp;
	struct pcp_server_params sp;
	struct fw *fw = calloc(1, sizeof(*fw));
	struct store *st;
	struct cgn *g;
	struct core *c;
	struct pcp_server *srv;
	size_t heap0, heap1, ok = 0, fail = 0;
	long rss0, rss1;
	double t0, t1;

	if (dir == NULL || fw == NULL || per == 0 || per > 1000) {
		fprintf(stderr, "mem_bench: bad arguments or no temporary directory\n");
		return 1;
	}
	fw->ops = &null_ops;
	memset(&cc, 0, sizeof(cc));
	cc.pool[0].s_addr = htonl(0xcb007100);  /* 203.0.113.0/24 */
	cc.pool_len[0] = 24;
	cc.n_pool = 1;
	cc.subs.s_addr = htonl(0x64400000);     /* 100.64.0.0/10 */
	cc.subs_len = 10;
	cc.port_min = 1024;
	cc.port_max = 65535;
	cc.ports_per_sub = 1024;
	if ((g = cgn_new(&cc, err, sizeof(err))) == NULL || (st = store_open(dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mem_bench: %s\n", err);
		return 1;
	}
	memset(&cp, 0, sizeof(cp));
	policy_defaults(&cp.policy);
	cp.policy.max_rules = 16u << 20;
	cp.policy.max_rules_per_client = 1u << 16;
	cp.fw = fw;
	cp.store = st;
	if ((c = core_new(&cp)) == NULL || core_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "mem_bench: core: %s\n", err);
		return 1;
	}
	memset(&sp, 0, sizeof(sp));
	sp.core = c;
	sp.rate_off = true;
	sp.cgn = g;
	if ((srv = pcp_server_new(&sp, 0)) == NULL)
		return 1;
	heap0 = heap_bytes();
	rss0 = rss_kib();
	t0 = secs();
	for (size_t i = 0; i < n;) {
		core_batch_begin(c);
		for (size_t k = 0; k < 64 && i < n; k++, i++) {
			struct pcp_request q;
			uint8_t in[PCP_MAX_MSG], out[PCP_MAX_MSG];
			struct in6_addr src = { .s6_addr = { [10] = 0xff, [11] = 0xff } };
			uint32_t sub = 0x64400001u + (uint32_t)(i / per);   /* 100.64.0.1 onwards */
			size_t len;

			src.s6_addr[12] = sub >> 24;
			src.s6_addr[13] = sub >> 16;
			src.s6_addr[14] = sub >> 8;
			src.s6_addr[15] = sub;
			memset(&q, 0, sizeof(q));
			q.version = 2;
			q.opcode = PCP_OP_MAP;
			q.lifetime = 7200;
			q.client_addr = src;
			q.op.protocol = i % 2 ? 17 : 6;
			q.op.internal_port = (uint16_t)(10000 + i % per);
			memcpy(q.op.nonce, &i, sizeof(i));
			if (i % 8 == 0) {
				q.opt.has_description = true;
				q.opt.description_len = (uint16_t)snprintf(q.opt.description, sizeof(q.opt.description),
									 "game server %zu", i);
			}
			len = pcp_wire_build_request(&q, in, sizeof(in));
			len = pcp_server_handle(srv, in, len, &src, 1000, out, sizeof(out));
			if (len >= 4 && out[3] == 0)
				ok++;
			else
				fail++;
		}
		if (core_batch_end(c) < 0)
			fail++;
	}
	t1 = secs();
	heap1 = heap_bytes();
	rss1 = rss_kib();
	printf("mem_bench: %zu mappings (%zu failed) from %zu subscribers in %.2f s = %.0f/s (null firewall, "
	       "journal synced per 64)\n", ok, fail, (n + per - 1) / per, t1 - t0, ok / (t1 - t0));
	printf("mem_bench: heap in use %.1f -> %.1f MiB = %.0f bytes per mapping; VmRSS %.1f -> %.1f MiB = "
	       "%.0f bytes per mapping\n", heap0 / 1048576.0, heap1 / 1048576.0,
	       ok ? (double)(heap1 - heap0) / ok : 0.0, rss0 / 1024.0, rss1 / 1024.0,
	       ok ? (rss1 - rss0) * 1024.0 / ok : 0.0);
	printf("result mappings=%zu fail=%zu rate=%.0f heap_per_mapping=%.0f rss_per_mapping=%.0f\n", ok, fail,
	       ok / (t1 - t0), ok ? (double)(heap1 - heap0) / ok : 0.0, ok ? (rss1 - rss0) * 1024.0 / ok : 0.0);
	/* A restart with them: the store is read back (snapshot + journal), the indexes rebuilt, and the
	 * one resync transaction handed to the backend (here: kept by nobody; the kernel's part of a real
	 * restart is nft_bench's resync figure). */
	pcp_server_free(srv);
	core_free(c);
	store_close(st);
	t0 = secs();
	if ((st = store_open(dir, err, sizeof(err))) == NULL || (cp.store = st, c = core_new(&cp)) == NULL ||
	    core_start(c, err, sizeof(err)) < 0 || (sp.core = c, srv = pcp_server_new(&sp, 0)) == NULL) {
		fprintf(stderr, "mem_bench: restart: %s\n", err);
		return 1;
	}
	t1 = secs();
	{
		struct core_status cs;

		core_status(c, &cs);
		printf("mem_bench: restart with %u mappings (store load, indexes) in %.2f s\n", cs.portmaps,
		       t1 - t0);
		printf("result restart_s=%.2f restored=%u\n", t1 - t0, cs.portmaps);
	}
	pcp_server_free(srv);
	core_free(c);
	store_close(st);
	cgn_free(g);
	fw->ops->destroy(fw);
	if (argc <= 3) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "mem_bench: could not remove %s\n", dir);
	}
	return 0;
}
