/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Deterministic per-subscriber port blocks (RFC 7422), see fw.h: arithmetic on the config, shared
 * by pcpd/cgn.c (PCP mappings) and nft.c / nft_render.c (the NAT44 block map). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "firewall/nft/fw.h"

static uint32_t mask_of(uint8_t len)
{
	return len == 0 ? 0 : len >= 32 ? ~0u : ~0u << (32 - len);
}

bool fw_nat_blocks_init(struct fw_nat_blocks *nb, const struct fw_config *cfg, char *err, size_t errlen)
{
	struct in_addr lo, hi;
	uint32_t span;

	memset(nb, 0, sizeof(*nb));
	if (!fw_nat_pool_range(cfg, &lo, &hi)) {
		snprintf(err, errlen, "cgn_pool is empty or not one contiguous range without overlaps");
		return false;
	}
	if (cfg->nat_port_min == 0 || cfg->nat_port_min > cfg->nat_port_max) {
		snprintf(err, errlen, "bad cgn_port_range %u-%u", cfg->nat_port_min, cfg->nat_port_max);
		return false;
	}
	span = (uint32_t)cfg->nat_port_max - cfg->nat_port_min + 1u;
	if (cfg->nat_block_size == 0 || cfg->nat_block_size > span) {
		snprintf(err, errlen, "cgn_ports_per_subscriber %u does not fit in %u ports", cfg->nat_block_size, span);
		return false;
	}
	nb->pool_lo = ntohl(lo.s_addr);
	nb->n_addrs = (uint64_t)(ntohl(hi.s_addr) - nb->pool_lo) + 1;
	nb->subs_base = ntohl(cfg->nat_src.s_addr) & mask_of(cfg->nat_src_len);
	nb->subs_count = (uint64_t)(~mask_of(cfg->nat_src_len)) + 1;
	nb->port_min = cfg->nat_port_min;
	nb->size = cfg->nat_block_size;
	nb->per_addr = span / cfg->nat_block_size;
	return true;
}

uint64_t fw_nat_blocks_capacity(const struct fw_nat_blocks *nb)
{
	uint64_t cap = nb->n_addrs * nb->per_addr;

	return cap < nb->subs_count ? cap : nb->subs_count;
}

bool fw_nat_block_index(const struct fw_nat_blocks *nb, struct in_addr addr, uint64_t *i)
{
	uint32_t a = ntohl(addr.s_addr);

	if (a - nb->subs_base >= nb->subs_count)   /* unsigned: below the base wraps high */
		return false;
	*i = a - nb->subs_base;
	return true;
}

void fw_nat_block_at(const struct fw_nat_blocks *nb, uint64_t i, struct in_addr *sub, struct in_addr *ext,
		     uint16_t *lo, uint16_t *hi)
{
	uint32_t first = nb->port_min + (uint32_t)(i % nb->per_addr) * nb->size;

	sub->s_addr = htonl(nb->subs_base + (uint32_t)i);
	ext->s_addr = htonl(nb->pool_lo + (uint32_t)(i / nb->per_addr));
	*lo = (uint16_t)first;
	*hi = (uint16_t)(first + nb->size - 1);
}

uint64_t fw_nat_block_elems(const struct fw_config *cfg, struct fw_nat_blocks *nb)
{
	char err[128];
	uint64_t cap;

	if (cfg->nat_block_size == 0 || !fw_nat_blocks_init(nb, cfg, err, sizeof(err)))
		return 0;
	cap = fw_nat_blocks_capacity(nb);
	return cap < FW_NAT_BLOCK_ELEMS_MAX ? cap : FW_NAT_BLOCK_ELEMS_MAX;
}
