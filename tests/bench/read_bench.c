/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading the port mapping table as UPnP clients do, on the in-memory backend (no kernel, no root):
 * 10,000 port mappings from 40 LAN hosts, then
 *   - GetGenericPortMappingEntry for every index 0..N-1, the way soap_wanipc.c read before issue 12
 *     (a copy of the whole table, sorted, per call: measured for the first 200 indexes and scaled)
 *     and now (core_portmap_at through the id-ordered index), for a reader who sees every mapping;
 *   - the same for one client under secure_mode that sees only its own 250 mappings;
 *   - a GetListOfPortMappings of everything (core_portmaps_after in chunks of 32).
 * Prints "label: X ms" lines, and checks that both ways return the same mappings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"

#define N 10000
#define HOSTS 40
#define BEFORE_SAMPLE 200

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct in6_addr host(int i)
{
	struct in6_addr a;
	char s[32];

	snprintf(s, sizeof(s), "192.0.2.%d", 10 + i);
	if (!addr_parse(s, &a))
		abort();
	return a;
}

/* GetGenericPortMappingEntry before issue 12: every call copied the table and took the index-th. */
static uint32_t nth_by_copy(struct core *c, size_t index)
{
	struct rule *all = NULL;
	size_t n = core_list(c, &all), seen = 0;
	uint32_t id = 0;

	for (size_t i = 0; i < n; i++)
		if (all[i].kind == RULE_PORTMAP && seen++ == index) {
			id = all[i].id;
			break;
		}
	free(all);
	return id;
}

int main(void)
{
	struct fw_config cfg = { .family = "inet", .table = "igdd", .mode = FW_STANDALONE };
	struct fw *fw = fw_mem_new(&cfg);
	struct core_params p;
	struct core *c;
	struct core_reader all = { .privileged = true }, one = { .requester = host(7) };
	struct rule r, chunk[32];
	char err[256];
	double t0, before, after, own, list;
	size_t n, listed = 0, own_count = 0;
	uint32_t after_id = 0;

	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.policy.max_rules_per_client = N;
	p.fw = fw;
	c = fw ? core_new(&p) : NULL;
	if (c == NULL || core_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "read_bench: cannot start a core\n");
		return 1;
	}
	for (int i = 0; i < N; i++) {
		struct core_add_req q;

		memset(&q, 0, sizeof(q));
		q.rule.kind = RULE_PORTMAP;
		q.rule.proto = IPPROTO_TCP;
		q.rule.ext_port = (uint16_t)(20000 + i);
		q.rule.int_port = 8000;
		q.rule.target.use_exact = true;
		q.rule.target.exact = q.rule.owner = host(i % HOSTS);
		q.rule.origin = ORIGIN_UPNP;
		q.rule.lease = 3600;
		snprintf(q.rule.desc, sizeof(q.rule.desc), "mapping %d of a read benchmark", i);
		if (core_add(c, &q, &r) != V_OK) {
			fprintf(stderr, "read_bench: add %d refused\n", i);
			return 1;
		}
	}

	t0 = now_ms();
	for (size_t i = 0; i < BEFORE_SAMPLE; i++)
		if (nth_by_copy(c, i * (N / BEFORE_SAMPLE)) == 0)
			return 1;
	before = (now_ms() - t0) * N / BEFORE_SAMPLE;

	t0 = now_ms();
	for (size_t i = 0; i < N; i++)
		if (core_portmap_at(c, &all, i, &r) != V_OK)
			return 1;
	after = now_ms() - t0;
	for (size_t i = 0; i < N; i += N / BEFORE_SAMPLE)
		if (core_portmap_at(c, &all, i, &r) != V_OK || r.id != nth_by_copy(c, i)) {
			fprintf(stderr, "read_bench: index %zu differs\n", i);
			return 1;
		}

	t0 = now_ms();
	while (core_portmap_at(c, &one, own_count, &r) == V_OK)
		own_count++;
	own = now_ms() - t0;

	t0 = now_ms();
	while ((n = core_portmaps_after(c, &all, after_id, chunk, 32)) > 0) {
		listed += n;
		after_id = chunk[n - 1].id;
	}
	list = now_ms() - t0;

	if (own_count != N / HOSTS || listed != N) {
		fprintf(stderr, "read_bench: saw %zu own and %zu listed mappings\n", own_count, listed);
		return 1;
	}
	printf("GetGenericPortMappingEntry 0..%d, copying the table per call (before; %d calls timed, scaled): "
	       "%.0f ms\n", N - 1, BEFORE_SAMPLE, before);
	printf("GetGenericPortMappingEntry 0..%d through the id index (now): %.1f ms\n", N - 1, after);
	printf("one client under secure_mode, its %zu of %d mappings by index (now): %.1f ms\n", own_count, N, own);
	printf("GetListOfPortMappings of all %d, 32 per lock (now): %.1f ms\n", N, list);
	core_free(c);
	fw->ops->destroy(fw);
	return 0;
}
