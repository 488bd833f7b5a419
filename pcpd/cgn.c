/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CGN port allocation (see cgn.h): arithmetic on the config, nothing else. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/runtime/conf.h"
#include "pcpd/cgn.h"

#define CGN_MAX_POOL_ADDRS 65536u  /* a /16 of public addresses is more than any one CGN box serves */

struct cgn {
	struct cgn_config cfg;
	struct fw_nat_blocks nb;  /* the layout, shared with the NAT44 block map (firewall/nft/fw_blocks.c) */
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

void cgn_config_to_fw(const struct cgn_config *cfg, struct fw_config *fc)
{
	for (size_t i = 0; i < cfg->n_pool && i < FW_MAX_NAT_POOL; i++) {
		fc->nat_pool[i] = cfg->pool[i];
		fc->nat_pool_len[i] = cfg->pool_len[i];
	}
	fc->n_nat_pool = cfg->n_pool;
	fc->nat_src = cfg->subs;
	fc->nat_src_len = cfg->subs_len;
	fc->nat_port_min = cfg->port_min;
	fc->nat_port_max = cfg->port_max;
	fc->nat_block_size = cfg->ports_per_sub;
}

struct cgn *cgn_new(const struct cgn_config *cfg, char *err, size_t errlen)
{
	struct fw_config fc;
	struct fw_nat_blocks nb;
	struct cgn *g;

	if (cfg->n_pool == 0 || cfg->n_pool > FW_MAX_NAT_POOL) {
		snprintf(err, errlen, "no cgn_pool");
		return NULL;
	}
	memset(&fc, 0, sizeof(fc));
	cgn_config_to_fw(cfg, &fc);
	if (!fw_nat_blocks_init(&nb, &fc, err, errlen))
		return NULL;
	if (nb.n_addrs > CGN_MAX_POOL_ADDRS) {
		snprintf(err, errlen, "cgn_pool holds %llu addresses, at most %u", (unsigned long long)nb.n_addrs,
			 CGN_MAX_POOL_ADDRS);
		return NULL;
	}
	if (!(g = calloc(1, sizeof(*g)))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->cfg = *cfg;
	g->nb = nb;
	return g;
}

void cgn_free(struct cgn *g)
{
	free(g);
}

enum cgn_result cgn_block_of(const struct cgn *g, struct in_addr subscriber, struct cgn_block *out)
{
	struct in_addr sub;
	uint64_t i;

	memset(out, 0, sizeof(*out));
	if (!fw_nat_block_index(&g->nb, subscriber, &i))
		return CGN_NOT_SUBSCRIBER;
	if (i >= cgn_capacity(g))
		return CGN_NO_BLOCK;
	out->index = (uint32_t)i;
	fw_nat_block_at(&g->nb, i, &sub, &out->addr, &out->lo, &out->hi);
	return CGN_OK;
}

uint64_t cgn_capacity(const struct cgn *g)
{
	return fw_nat_blocks_capacity(&g->nb);
}

size_t cgn_pool_size(const struct cgn *g)
{
	return (size_t)g->nb.n_addrs;
}

const char *cgn_block_str(const struct cgn_block *b, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	snprintf(buf, len, "%s:%u-%u", inet_ntop(AF_INET, &b->addr, a, sizeof(a)), b->lo, b->hi);
	return buf;
}

/* ---------- the block table for the operator ---------- */

bool cgn_export_format_parse(const char *s, enum cgn_export_format *out)
{
	if (strcmp(s, "csv") == 0)
		*out = CGN_EXPORT_CSV;
	else if (strcmp(s, "json") == 0)
		*out = CGN_EXPORT_JSON;
	else
		return false;
	return true;
}

const char *cgn_export_head(enum cgn_export_format f)
{
	return f == CGN_EXPORT_JSON ? "{\"subscribers\": [" : "subscriber,external_address,port_first,port_last,block,nat";
}

const char *cgn_export_tail(enum cgn_export_format f)
{
	return f == CGN_EXPORT_JSON ? "]}" : "";
}

size_t cgn_export_row(const struct cgn *g, enum cgn_export_format f, uint64_t i, char *buf, size_t len)
{
	char s[INET_ADDRSTRLEN], e[INET_ADDRSTRLEN];
	struct in_addr sub, ext;
	uint16_t lo, hi;
	const char *nat = i < FW_NAT_BLOCK_ELEMS_MAX ? "block" : "pool";
	int n;

	if (i >= cgn_capacity(g))
		return 0;
	fw_nat_block_at(&g->nb, i, &sub, &ext, &lo, &hi);
	inet_ntop(AF_INET, &sub, s, sizeof(s));
	inet_ntop(AF_INET, &ext, e, sizeof(e));
	if (f == CGN_EXPORT_JSON)
		n = snprintf(buf, len, "  {\"subscriber\": \"%s\", \"external_address\": \"%s\", \"port_first\": %u, "
			     "\"port_last\": %u, \"block\": %llu, \"nat\": \"%s\"}%s", s, e, lo, hi,
			     (unsigned long long)i, nat, i + 1 < cgn_capacity(g) ? "," : "");
	else
		n = snprintf(buf, len, "%s,%s,%u,%u,%llu,%s", s, e, lo, hi, (unsigned long long)i, nat);
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

int cgn_export(const struct cgn *g, enum cgn_export_format f, FILE *out)
{
	uint64_t n = cgn_capacity(g);
	char row[256];

	fprintf(out, "%s\n", cgn_export_head(f));
	for (uint64_t i = 0; i < n; i++) {
		size_t len = cgn_export_row(g, f, i, row, sizeof(row));

		if (len == 0)
			return -1;
		fprintf(out, "%s\n", row);
	}
	if (*cgn_export_tail(f))
		fprintf(out, "%s\n", cgn_export_tail(f));
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
