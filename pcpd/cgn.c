/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CGN port allocation (see cgn.h): arithmetic on the config, nothing else. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/conf.h"
#include "pcpd/cgn.h"

#define CGN_MAX_POOL_ADDRS 65536u  /* a /16 of public addresses is more than any one CGN box serves */

struct cgn {
	struct cgn_config cfg;
	uint32_t *addrs;          /* pool addresses, host order, ascending */
	size_t n_addrs;
	uint32_t subs_base;       /* host order */
	uint64_t subs_count;
	uint32_t blocks_per_addr;
};

bool cgn_configured(const struct conf *c)
{
	return c->fw.n_nat_pool > 0;
}

void cgn_config_from_conf(const struct conf *c, struct cgn_config *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < c->fw.n_nat_pool && i < FW_MAX_NAT_POOL; i++) {
		out->pool[i] = c->fw.nat_pool[i];
		out->pool_len[i] = c->fw.nat_pool_len[i];
		out->n_pool++;
	}
	out->subs = c->fw.nat_src;
	out->subs_len = c->fw.nat_src_len;
	out->port_min = c->cgn_port_min;
	out->port_max = c->cgn_port_max;
	out->ports_per_sub = c->cgn_ports_per_subscriber;
}

static uint32_t mask_of(uint8_t len)
{
	return len == 0 ? 0 : len >= 32 ? ~0u : ~0u << (32 - len);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct cgn *cgn_new(const struct cgn_config *cfg, char *err, size_t errlen)
{
	struct cgn *g;
	uint64_t total = 0;
	uint32_t span;
	size_t m = 0;

	if (cfg->n_pool == 0 || cfg->n_pool > FW_MAX_NAT_POOL) {
		snprintf(err, errlen, "no cgn_pool");
		return NULL;
	}
	if (cfg->port_min == 0 || cfg->port_min > cfg->port_max) {
		snprintf(err, errlen, "bad cgn_port_range %u-%u", cfg->port_min, cfg->port_max);
		return NULL;
	}
	span = (uint32_t)cfg->port_max - cfg->port_min + 1u;
	if (cfg->ports_per_sub == 0 || cfg->ports_per_sub > span) {
		snprintf(err, errlen, "cgn_ports_per_subscriber %u does not fit in %u ports", cfg->ports_per_sub, span);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_pool; i++)
		total += 1ull << (32 - (cfg->pool_len[i] > 32 ? 32 : cfg->pool_len[i]));
	if (total > CGN_MAX_POOL_ADDRS) {
		snprintf(err, errlen, "cgn_pool holds %llu addresses, at most %u", (unsigned long long)total,
			 CGN_MAX_POOL_ADDRS);
		return NULL;
	}
	if (!(g = calloc(1, sizeof(*g))) || !(g->addrs = calloc((size_t)total, sizeof(*g->addrs)))) {
		free(g);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->cfg = *cfg;
	for (size_t i = 0; i < cfg->n_pool; i++) {
		uint32_t mask = mask_of(cfg->pool_len[i]), base = ntohl(cfg->pool[i].s_addr) & mask;
		uint64_t n = (uint64_t)(~mask) + 1;

		for (uint64_t j = 0; j < n; j++)
			g->addrs[m++] = base + (uint32_t)j;
	}
	qsort(g->addrs, m, sizeof(*g->addrs), u32_cmp);
	/* the same address given twice counts once */
	g->n_addrs = 0;
	for (size_t i = 0; i < m; i++)
		if (g->n_addrs == 0 || g->addrs[g->n_addrs - 1] != g->addrs[i])
			g->addrs[g->n_addrs++] = g->addrs[i];
	g->subs_base = ntohl(cfg->subs.s_addr) & mask_of(cfg->subs_len);
	g->subs_count = (uint64_t)(~mask_of(cfg->subs_len)) + 1;
	g->blocks_per_addr = span / cfg->ports_per_sub;
	return g;
}

void cgn_free(struct cgn *g)
{
	if (g) {
		free(g->addrs);
		free(g);
	}
}

enum cgn_result cgn_block_of(const struct cgn *g, struct in_addr subscriber, struct cgn_block *out)
{
	uint32_t a = ntohl(subscriber.s_addr);
	uint64_t i;
	uint32_t lo;

	memset(out, 0, sizeof(*out));
	if ((a & mask_of(g->cfg.subs_len)) != g->subs_base)
		return CGN_NOT_SUBSCRIBER;
	i = a - g->subs_base;
	if (i >= cgn_capacity(g))
		return CGN_NO_BLOCK;
	out->index = (uint32_t)i;
	out->addr.s_addr = htonl(g->addrs[i / g->blocks_per_addr]);
	lo = g->cfg.port_min + (uint32_t)(i % g->blocks_per_addr) * g->cfg.ports_per_sub;
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)(lo + g->cfg.ports_per_sub - 1);
	return CGN_OK;
}

uint32_t cgn_block_size(const struct cgn_block *b)
{
	return (uint32_t)b->hi - b->lo + 1u;
}

uint16_t cgn_port_try(const struct cgn_block *b, uint16_t suggested, uint16_t int_port, uint32_t i)
{
	uint32_t size = cgn_block_size(b);
	uint32_t start = suggested >= b->lo && suggested <= b->hi ? (uint32_t)(suggested - b->lo) : int_port % size;

	return (uint16_t)(b->lo + (start + i) % size);
}

uint64_t cgn_capacity(const struct cgn *g)
{
	uint64_t cap = (uint64_t)g->n_addrs * g->blocks_per_addr;

	return cap < g->subs_count ? cap : g->subs_count;
}

size_t cgn_pool_size(const struct cgn *g)
{
	return g->n_addrs;
}

const char *cgn_block_str(const struct cgn_block *b, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	snprintf(buf, len, "%s:%u-%u", inet_ntop(AF_INET, &b->addr, a, sizeof(a)), b->lo, b->hi);
	return buf;
}
