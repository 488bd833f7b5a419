/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw_elem.c's interface, private to the firewall backends (nft.c, nft_render.c, mem_fw.c): which set
 * or map an element lands in, and its kernel key bytes. One encoder serves the kernel backend, the
 * text renderer and the in-memory backend, so "same key" means the same thing everywhere. */
#ifndef IGDD_FW_ELEM_H
#define IGDD_FW_ELEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/nft/fw.h"

enum fw_set {
	FW_SET_PH_PORT,     /* ip6 daddr . meta l4proto . th dport */
	FW_SET_PH_PROTO,    /* ip6 daddr . meta l4proto (port 0 or no ports) */
	FW_SET_PH_ADDR,     /* ip6 daddr (protocol "any") */
	FW_SET_PH_REMOTE,   /* ip6 saddr . ip6 daddr . meta l4proto . th sport . th dport, ranges */
	FW_SET_PM4,         /* map meta l4proto . th dport : ipv4_addr . inet_service */
	FW_SET_PM4_ADDR,    /* map ip daddr . meta l4proto . th dport : ... */
	FW_SET_PM4_REMOTE,  /* map ip saddr . meta l4proto . th dport : ... (one remote host, any port) */
	FW_SET_PM4_REMOTE_PORT,       /* map ip saddr . meta l4proto . th sport . th dport : ... */
	FW_SET_PM4_ADDR_REMOTE,       /* map ip daddr . ip saddr . meta l4proto . th dport : ... */
	FW_SET_PM4_ADDR_REMOTE_PORT,  /* map ip daddr . ip saddr . meta l4proto . th sport . th dport : ... */
	FW_SET_PM4_SNAT,    /* map ip saddr . meta l4proto . th sport : ipv4_addr . inet_service (EIM companion) */
	FW_SET_PM4_SNAT_FLOW,  /* map ip saddr . ip daddr . meta l4proto . th sport . th dport : ... (PEER's) */
	FW_SET_COUNT
};

/* nft datatype numbers (nftables src/datatype.h) used in set key/data types */
#define FW_TYPE_IPADDR   7
#define FW_TYPE_IP6ADDR  8
#define FW_TYPE_PROTO    12
#define FW_TYPE_SERVICE  13
#define FW_TYPE_IFNAME   41
#define FW_TYPE_BITS     6   /* concatenated types are packed 6 bits per field */

#define FW_KEY_MAX   44      /* ph_remote: 16 + 16 + 4 + 4 + 4 (each field padded to 4 bytes) */
#define FW_DATA_LEN  8       /* portmap data: ipv4_addr . inet_service, padded */
#define FW_FIELDS_MAX 5

struct fw_set_def {
	const char *name;        /* without the integrated-mode prefix */
	const char *nft_type;    /* text form, for the renderer */
	const char *lookup;      /* the rule's key expression, for the renderer */
	uint8_t nfields;
	uint8_t field_type[FW_FIELDS_MAX];
	uint8_t field_len[FW_FIELDS_MAX];  /* real length; each takes a multiple of 4 bytes in the key */
	uint8_t key_len;
	bool map;
	bool interval;
};

extern const struct fw_set_def fw_set_defs[FW_SET_COUNT];
/* The DNAT maps in the order the prerouting chain looks them up: most specific first. */
extern const enum fw_set fw_dnat_order[6];

struct fw_key {
	enum fw_set set;
	uint8_t len;
	uint8_t key[FW_KEY_MAX];
	uint8_t key_end[FW_KEY_MAX];  /* interval sets only: the last key of the range */
};

/* Packs the concatenated type numbers of a set's key, as nft expects in NFTA_SET_KEY_TYPE. */
uint32_t fw_set_key_type(const struct fw_set_def *d);
/* Builds the kernel key of an element. Returns NULL, or a static message saying why it cannot be
 * installed (bad protocol number, portmap without ports, ...). */
const char *fw_key_build(const struct fw_elem *e, struct fw_key *k);
/* The SNAT companion of a portmap with an external address (see fw.h): its key in pm4_snat, or in
 * pm4_snat_flow for a flow's mapping (fw_elem.flow). False
 * when the element has none (not a portmap, ext_addr 0, or an element fw_key_build refuses). */
bool fw_key_companion(const struct fw_elem *e, struct fw_key *k);
/* Is the set one of the SNAT companion maps (data: external address . port)? */
bool fw_set_is_snat(enum fw_set s);
/* Total order on keys (set first, then bytes): sorting, lookup, "same element". */
int fw_key_cmp(const struct fw_key *a, const struct fw_key *b);
/* The inverse of fw_key_build (plus map data when the set is a map): rebuilds the element's key
 * fields from kernel bytes. Returns false if the bytes do not describe an element we would make. */
bool fw_key_parse(const struct fw_key *k, const uint8_t *data, size_t data_len, struct fw_elem *out);
/* Map data of a portmap: internal ipv4 address . port, padded to FW_DATA_LEN; for the SNAT
 * companions the other way round: external address . external port. */
void fw_elem_map_data(const struct fw_elem *e, uint8_t out[FW_DATA_LEN]);
void fw_elem_snat_data(const struct fw_elem *e, uint8_t out[FW_DATA_LEN]);
/* Does the protocol carry 16-bit ports first in its header (tcp, udp, dccp, sctp, udplite)? */
bool fw_proto_has_ports(uint16_t proto);
/* Name of one of our chains/sets: cfg->chain_prefix + base in integrated mode, base otherwise.
 * Returns false if it does not fit. */
bool fw_obj_name(const struct fw_config *cfg, const char *base, char *out, size_t len);

#endif
