/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Re-anchoring 10,000 pinholes on the real nftables backend (its own table, so it can run beside a live
 * igdd; run it in a scratch network namespace): 10,000 EUI-64 devices each with one pinhole in
 * 2001:db8:1:1::/64, then the prefix moves to 2001:db8:2:1::/64. Prints "label: X ms" lines and checks
 * that the kernel set afterwards holds exactly the 10,000 moved elements and nothing outside the new
 * prefix. The change is one transaction, so the packet path never sees a mixed or wider state.
 * Optional argument: a state directory, to include the store snapshot in the timing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"

#define N 10000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct tally {
	size_t total, in_new, outside;
	struct in6_addr np;
};

static void count(void *arg, const struct fw_elem *e)
{
	struct tally *t = arg;

	if (e->v4)
		return;
	t->total++;
	if (addr_in_prefix(&e->addr, &t->np, 64))
		t->in_new++;
	else
		t->outside++;
}

int main(int argc, char **argv)
{
	struct fw_config cfg;
	struct core_params p;
	struct device_table *t = device_table_new(0, 0);
	struct store *st = NULL;
	struct core *c;
	struct fw *fw;
	struct in6_addr op, np;
	struct core_reanchor_result res;
	struct tally ta;
	char err[256];
	double t0;
	uint64_t tx0;
	int rc = 0;

	addr_parse("2001:db8:1:1::", &op);
	addr_parse("2001:db8:2:1::", &np);
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.family, "inet");
	strcpy(cfg.table, "igdd_rbench");
	cfg.mode = FW_STANDALONE;
	strcpy(cfg.wan_ifname[0], "benchwan0");
	cfg.n_wan = 1;
	fw = fw_nft_new(&cfg);
	if (!fw || !t || fw->ops->init(fw) < 0) {
		fprintf(stderr, "reanchor_bench: nft backend: %s (root, in a namespace)\n", fw ? fw->err : "no memory");
		return 1;
	}
	if (argc > 1 && !(st = store_open(argv[1], err, sizeof(err)))) {
		fprintf(stderr, "reanchor_bench: store: %s\n", err);
		return 1;
	}
	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.policy.pinhole_target = PINHOLE_TARGET_REQUESTED;
	p.fw = fw;
	p.store = st;
	p.devices = t;
	p.snapshot_every = 1u << 30;
	c = core_new(&p);
	if (!c || core_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "reanchor_bench: core: %s\n", err);
		return 1;
	}
	t0 = now_ms();
	for (unsigned i = 0; i < N; i++) {
		uint8_t mac[6] = { 0x52, 0x54, 0x01, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i }, iid[8];
		struct core_add_req q;
		struct rule out;

		memset(&q, 0, sizeof(q));
		q.rule.target.exact = op;
		addr_eui64_iid(mac, iid);
		memcpy(q.rule.target.exact.s6_addr + 8, iid, 8);
		if (device_addr_seen(t, mac, 3, &q.rule.target.exact, NULL, (int64_t)time(NULL)) < 0)
			return 1;
		q.rule.kind = RULE_PINHOLE;
		q.rule.proto = 6;
		q.rule.int_port = (uint16_t)(20000 + i % 40000);
		q.rule.target.use_exact = true;
		q.rule.owner = q.rule.target.exact;
		q.rule.origin = ORIGIN_CTL;
		q.privileged = true;
		q.rule.lease = 3600;
		if (core_add(c, &q, &out) != V_OK) {
			fprintf(stderr, "reanchor_bench: add %u failed\n", i);
			return 1;
		}
	}
	printf("add %d pinholes (one transaction each, %s): %.1f ms\n", N, st ? "journalled" : "no store",
	       now_ms() - t0);
	tx0 = fw->ops->transactions(fw);
	t0 = now_ms();
	if (core_reanchor(c, &op, 64, &np, 64, &res) < 0) {
		fprintf(stderr, "reanchor_bench: core_reanchor failed: %s\n", fw->err);
		return 1;
	}
	printf("re-anchor %d pinholes (plan + one transaction%s): %.1f ms\n", N, st ? " + snapshot" : "",
	       now_ms() - t0);
	printf("transactions: %llu, installed %zu, pending %zu, removed %zu\n",
	       (unsigned long long)(fw->ops->transactions(fw) - tx0), res.installed, res.pending, res.removed);
	memset(&ta, 0, sizeof(ta));
	ta.np = np;
	if (fw->ops->read_counters(fw, count, &ta) < 0) {
		fprintf(stderr, "reanchor_bench: reading the set failed\n");
		return 1;
	}
	printf("kernel: %zu elements, %zu in the new prefix, %zu outside\n", ta.total, ta.in_new, ta.outside);
	if (ta.total != N || ta.in_new != N || ta.outside != 0 || fw->ops->transactions(fw) - tx0 != 1 ||
	    res.installed != N) {
		fprintf(stderr, "reanchor_bench: FAIL\n");
		rc = 1;
	}
	core_free(c);
	fw->ops->remove(fw);
	fw->ops->destroy(fw);
	if (st)
		store_close(st);
	device_table_free(t);
	return rc;
}
