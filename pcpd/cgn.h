/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Port allocation for pcpd on a carrier-grade NAT (RFC 6888): which external address and which
 * external ports a subscriber may be given. Pure computation, no I/O, no state beyond the config:
 * the answer depends only on the rules, so it is the same after a restart and the mappings the
 * store brings back fall into the same blocks.
 *
 * Deterministic blocks (the scheme of RFC 7422; the arithmetic is fw_nat_blocks in firewall/nft/fw.h,
 * which the NAT44 block map uses too): cgn_port_range is cut into blocks of
 * cgn_ports_per_subscriber ports; the pool addresses, in ascending order, each carry that many
 * blocks; subscriber i (its offset in cgn_subscribers) gets block i, filled address by address:
 *     address = pool[i / blocks_per_address], ports = min + (i % blocks_per_address) * size ...+size-1
 * so neighbours share an address with disjoint ports, and a log line "203.0.113.8:1024-2047" names
 * the subscriber without a per-connection log: its PCP mappings and (through the block map) its
 * dynamic TCP/UDP flows use that block. Subscribers beyond pool x blocks get no block (their MAPs
 * answer NO_RESOURCES; their unmapped traffic still leaves through the pool rule).
 * A block is the subscriber's mapping quota per protocol: TCP and UDP ports are separate spaces.
 */
#ifndef IGDD_CGN_H
#define IGDD_CGN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "firewall/nft/fw.h"

struct conf;

struct cgn_config {
	struct in_addr pool[FW_MAX_NAT_POOL];   /* ADDR/LEN each, as configured */
	uint8_t pool_len[FW_MAX_NAT_POOL];
	size_t n_pool;
	struct in_addr subs;                    /* subscriber prefix */
	uint8_t subs_len;
	uint16_t port_min, port_max;
	uint32_t ports_per_sub;
};

enum cgn_result {
	CGN_OK = 0,
	CGN_NOT_SUBSCRIBER,   /* the address is outside cgn_subscribers */
	CGN_NO_BLOCK,         /* a subscriber, but the pool has no block left for it */
};

struct cgn_block {
	struct in_addr addr;  /* the subscriber's external address */
	uint16_t lo, hi;      /* its ports, inclusive */
	uint32_t index;       /* the subscriber's block number */
};

struct cgn;

/* Is CGN mode configured (at least one cgn_pool line)? */
bool cgn_configured(const struct conf *c);
void cgn_config_from_conf(const struct conf *c, struct cgn_config *out);
/* The same layout as the backend's fields (fw_config.nat_*), for firewall/nft/fw_blocks.c. */
void cgn_config_to_fw(const struct cgn_config *cfg, struct fw_config *fc);
/* NULL with a reason in err on a config it cannot serve (empty pool, a pool that is not one
 * contiguous range, more than 65536 pool addresses, a block size of 0 or above the port range). */
struct cgn *cgn_new(const struct cgn_config *cfg, char *err, size_t errlen);
void cgn_free(struct cgn *g);

enum cgn_result cgn_block_of(const struct cgn *g, struct in_addr subscriber, struct cgn_block *out);
/* How many subscribers get a block; the pool's address count. */
uint64_t cgn_capacity(const struct cgn *g);
size_t cgn_pool_size(const struct cgn *g);
/* "203.0.113.8:1024-2047" (for the start-up log and igdctl) */
const char *cgn_block_str(const struct cgn_block *b, char *buf, size_t len);

/* ---------- the block table for the operator (RFC 7422: what to archive instead of per-flow logs) ----------
 * `pcpd --print-blocks csv|json -f FILE` prints one row per subscriber with a block, in block order:
 *   subscriber,external_address,port_first,port_last,block,nat
 *   100.64.0.1,203.0.113.1,1024,2047,0,block
 * nat: "block" = its dynamic TCP/UDP flows leave from this block too (the block map); "pool" = only its
 * PCP mappings use the block, other flows the pool rule (subscribers beyond FW_NAT_BLOCK_ELEMS_MAX).
 * JSON: {"subscribers": [{"subscriber": "...", "external_address": "...", "port_first": N, ...}, ...]}. */
enum cgn_export_format { CGN_EXPORT_CSV = 1, CGN_EXPORT_JSON };
bool cgn_export_format_parse(const char *s, enum cgn_export_format *out);
/* Row i (< cgn_capacity) into buf, without a newline (JSON rows but the last end with ",").
 * Returns the length written, or 0 if i is beyond the capacity or buf is too small. */
size_t cgn_export_row(const struct cgn *g, enum cgn_export_format f, uint64_t i, char *buf, size_t len);
/* The header (CSV) or the opening (JSON), and the JSON closing ("" for CSV). */
const char *cgn_export_head(enum cgn_export_format f);
const char *cgn_export_tail(enum cgn_export_format f);
/* Every row to out. 0, or -1 when writing failed. */
int cgn_export(const struct cgn *g, enum cgn_export_format f, FILE *out);

#endif
