/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Kernel elements: which set/map an element lands in, its key bytes, and its text form.
 * Pure computation: both backends and the renderer use it, so they agree on what "the same
 * element" is. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "firewall/nft/fw.h"
#include "firewall/nft/fw_elem.h"

#define PROTO_ANY 65535

/* Each concatenated field occupies a multiple of 4 bytes in the key (nft register layout). */
#define T3(a, b, c) (((a) << 12) | ((b) << 6) | (c))

const struct fw_set_def fw_set_defs[FW_SET_COUNT] = {
	[FW_SET_PH_PORT] = {
		.name = "ph_port", .nft_type = "ipv6_addr . inet_proto . inet_service",
		.lookup = "ip6 daddr . meta l4proto . th dport",
		.nfields = 3, .field_type = { FW_TYPE_IP6ADDR, FW_TYPE_PROTO, FW_TYPE_SERVICE },
		.field_len = { 16, 1, 2 }, .key_len = 24,
	},
	[FW_SET_PH_PROTO] = {
		.name = "ph_proto", .nft_type = "ipv6_addr . inet_proto",
		.lookup = "ip6 daddr . meta l4proto",
		.nfields = 2, .field_type = { FW_TYPE_IP6ADDR, FW_TYPE_PROTO },
		.field_len = { 16, 1 }, .key_len = 20,
	},
	[FW_SET_PH_ADDR] = {
		.name = "ph_addr", .nft_type = "ipv6_addr", .lookup = "ip6 daddr",
		.nfields = 1, .field_type = { FW_TYPE_IP6ADDR }, .field_len = { 16 }, .key_len = 16,
	},
	[FW_SET_PH_REMOTE] = {
		.name = "ph_remote",
		.nft_type = "ipv6_addr . ipv6_addr . inet_proto . inet_service . inet_service",
		.lookup = "ip6 saddr . ip6 daddr . meta l4proto . th sport . th dport",
		.nfields = 5,
		.field_type = { FW_TYPE_IP6ADDR, FW_TYPE_IP6ADDR, FW_TYPE_PROTO, FW_TYPE_SERVICE, FW_TYPE_SERVICE },
		.field_len = { 16, 16, 1, 2, 2 }, .key_len = 44, .interval = true,
	},
	[FW_SET_PM4] = {
		.name = "pm4", .nft_type = "inet_proto . inet_service : ipv4_addr . inet_service",
		.lookup = "meta l4proto . th dport",
		.nfields = 2, .field_type = { FW_TYPE_PROTO, FW_TYPE_SERVICE },
		.field_len = { 1, 2 }, .key_len = 8, .map = true,
	},
	[FW_SET_PM4_ADDR] = {
		.name = "pm4_addr",
		.nft_type = "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
		.lookup = "ip daddr . meta l4proto . th dport",
		.nfields = 3, .field_type = { FW_TYPE_IPADDR, FW_TYPE_PROTO, FW_TYPE_SERVICE },
		.field_len = { 4, 1, 2 }, .key_len = 12, .map = true,
	},
	[FW_SET_PM4_REMOTE] = {
		.name = "pm4_remote",
		.nft_type = "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
		.lookup = "ip saddr . meta l4proto . th dport",
		.nfields = 3, .field_type = { FW_TYPE_IPADDR, FW_TYPE_PROTO, FW_TYPE_SERVICE },
		.field_len = { 4, 1, 2 }, .key_len = 12, .map = true,
	},
	[FW_SET_PM4_REMOTE_PORT] = {
		.name = "pm4_remote_port",
		.nft_type = "ipv4_addr . inet_proto . inet_service . inet_service : ipv4_addr . inet_service",
		.lookup = "ip saddr . meta l4proto . th sport . th dport",
		.nfields = 4, .field_type = { FW_TYPE_IPADDR, FW_TYPE_PROTO, FW_TYPE_SERVICE, FW_TYPE_SERVICE },
		.field_len = { 4, 1, 2, 2 }, .key_len = 16, .map = true,
	},
	[FW_SET_PM4_ADDR_REMOTE] = {
		.name = "pm4_addr_remote",
		.nft_type = "ipv4_addr . ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
		.lookup = "ip daddr . ip saddr . meta l4proto . th dport",
		.nfields = 4, .field_type = { FW_TYPE_IPADDR, FW_TYPE_IPADDR, FW_TYPE_PROTO, FW_TYPE_SERVICE },
		.field_len = { 4, 4, 1, 2 }, .key_len = 16, .map = true,
	},
	[FW_SET_PM4_ADDR_REMOTE_PORT] = {
		.name = "pm4_addr_remote_port",
		.nft_type = "ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service : "
			    "ipv4_addr . inet_service",
		.lookup = "ip daddr . ip saddr . meta l4proto . th sport . th dport",
		.nfields = 5,
		.field_type = { FW_TYPE_IPADDR, FW_TYPE_IPADDR, FW_TYPE_PROTO, FW_TYPE_SERVICE, FW_TYPE_SERVICE },
		.field_len = { 4, 4, 1, 2, 2 }, .key_len = 20, .map = true,
	},
	[FW_SET_PM4_SNAT] = {
		.name = "pm4_snat",
		.nft_type = "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
		.lookup = "ip saddr . meta l4proto . th sport",
		.nfields = 3, .field_type = { FW_TYPE_IPADDR, FW_TYPE_PROTO, FW_TYPE_SERVICE },
		.field_len = { 4, 1, 2 }, .key_len = 12, .map = true,
	},
	[FW_SET_PM4_SNAT_FLOW] = {
		.name = "pm4_snat_flow",
		.nft_type = "ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service : "
			    "ipv4_addr . inet_service",
		.lookup = "ip saddr . ip daddr . meta l4proto . th sport . th dport",
		.nfields = 5,
		.field_type = { FW_TYPE_IPADDR, FW_TYPE_IPADDR, FW_TYPE_PROTO, FW_TYPE_SERVICE, FW_TYPE_SERVICE },
		.field_len = { 4, 4, 1, 2, 2 }, .key_len = 20, .map = true,
	},
};

const enum fw_set fw_dnat_order[6] = {
	FW_SET_PM4_ADDR_REMOTE_PORT, FW_SET_PM4_REMOTE_PORT, FW_SET_PM4_ADDR_REMOTE, FW_SET_PM4_REMOTE,
	FW_SET_PM4_ADDR, FW_SET_PM4,
};

uint32_t fw_set_key_type(const struct fw_set_def *d)
{
	uint32_t type = 0;

	for (size_t i = 0; i < d->nfields; i++)
		type = (type << FW_TYPE_BITS) | d->field_type[i];
	return type;
}

bool fw_proto_has_ports(uint16_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: case IPPROTO_UDP: case IPPROTO_DCCP: case IPPROTO_SCTP: case IPPROTO_UDPLITE:
		return true;
	default:
		return false;
	}
}

bool fw_output_wall(const struct fw_config *cfg)
{
	return cfg->out_cgroup_id != 0 && cfg->out_cgroup_level != 0 && cfg->n_lan > 0;
}

bool fw_obj_name(const struct fw_config *cfg, const char *base, char *out, size_t len)
{
	const char *prefix = cfg->mode == FW_INTEGRATED ? cfg->chain_prefix : "";
	int n = snprintf(out, len, "%.*s%s", (int)strnlen(prefix, sizeof(cfg->chain_prefix)), prefix, base);

	return n > 0 && (size_t)n < len;
}

static bool is_v4_mapped(const struct in6_addr *a)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a->s6_addr, pfx, sizeof(pfx)) == 0;
}

static void put_port(uint8_t *at, uint16_t port)
{
	uint16_t be = htons(port);

	memcpy(at, &be, sizeof(be));
}

static uint16_t get_port(const uint8_t *at)
{
	uint16_t be;

	memcpy(&be, at, sizeof(be));
	return ntohs(be);
}

/* First and last address of remote/len. */
static void prefix_range(const struct in6_addr *a, uint8_t len, uint8_t lo[16], uint8_t hi[16])
{
	for (int i = 0; i < 16; i++) {
		int bits = (int)len - i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));

		lo[i] = a->s6_addr[i] & mask;
		hi[i] = lo[i] | (uint8_t)~mask;
	}
}

/* Inverse of prefix_range; -1 if lo..hi is not a prefix. */
static int range_prefix_len(const uint8_t lo[16], const uint8_t hi[16])
{
	int len = 0;
	bool in_host = false;

	for (int i = 0; i < 16; i++) {
		for (int bit = 7; bit >= 0; bit--) {
			int l = (lo[i] >> bit) & 1, h = (hi[i] >> bit) & 1;

			if (!in_host && l == h) {
				len++;
				continue;
			}
			in_host = true;
			if (l != 0 || h != 1)
				return -1;
		}
	}
	return len;
}

static const char *build_pinhole_remote(const struct fw_elem *e, struct fw_key *k)
{
	bool any_proto = e->proto == PROTO_ANY;
	bool ports = !any_proto && fw_proto_has_ports(e->proto);
	uint16_t dport_lo = ports && e->port ? e->port : 0, dport_hi = ports && e->port ? e->port : 0xffff;
	uint16_t sport_lo = ports && e->remote_port ? e->remote_port : 0;
	uint16_t sport_hi = ports && e->remote_port ? e->remote_port : 0xffff;

	if (e->remote_len > 128)
		return "remote prefix length above 128";
	k->set = FW_SET_PH_REMOTE;
	prefix_range(&e->remote, e->remote_len, k->key, k->key_end);
	memcpy(k->key + 16, &e->addr, 16);
	memcpy(k->key_end + 16, &e->addr, 16);
	k->key[32] = any_proto ? 0 : (uint8_t)e->proto;
	k->key_end[32] = any_proto ? 0xff : (uint8_t)e->proto;
	put_port(k->key + 36, sport_lo);
	put_port(k->key_end + 36, sport_hi);
	put_port(k->key + 40, dport_lo);
	put_port(k->key_end + 40, dport_hi);
	return NULL;
}

static const char *build_pinhole(const struct fw_elem *e, struct fw_key *k)
{
	if (e->proto > 255 && e->proto != PROTO_ANY)
		return "protocol number above 255";
	if (is_v4_mapped(&e->addr))
		return "pinhole to an IPv4 address";
	if (e->remote_len > 0 || e->remote_port != 0)
		return build_pinhole_remote(e, k);
	memcpy(k->key, &e->addr, 16);
	if (e->proto == PROTO_ANY) {
		k->set = FW_SET_PH_ADDR;
		return NULL;
	}
	k->key[16] = (uint8_t)e->proto;
	if (e->port == 0 || !fw_proto_has_ports(e->proto)) {
		k->set = FW_SET_PH_PROTO;
		return NULL;
	}
	k->set = FW_SET_PH_PORT;
	put_port(k->key + 20, e->port);
	return NULL;
}

/* The NAT44 DNAT map of each combination: [with external address][remote: none, host, host and port] */
static const enum fw_set portmap_sets[2][3] = {
	{ FW_SET_PM4, FW_SET_PM4_REMOTE, FW_SET_PM4_REMOTE_PORT },
	{ FW_SET_PM4_ADDR, FW_SET_PM4_ADDR_REMOTE, FW_SET_PM4_ADDR_REMOTE_PORT },
};

static const char *build_portmap(const struct fw_elem *e, struct fw_key *k)
{
	bool has_addr = e->ext_addr.s_addr != 0;
	int remote = e->remote_len == 0 ? 0 : e->remote_port == 0 ? 1 : 2;
	uint8_t *at = k->key;

	if (e->proto > 255 || !fw_proto_has_ports(e->proto))
		return "portmap protocol without ports";
	if (e->ext_port == 0 || e->port == 0)
		return "portmap without external or internal port";
	if (!is_v4_mapped(&e->addr))
		return "portmap to a non-IPv4 address";
	if (e->remote_len > 0 && (e->remote_len != 128 || !is_v4_mapped(&e->remote)))
		return "portmap remote filter must be one IPv4 host";
	if (e->remote_len == 0 && e->remote_port != 0)
		return "portmap remote port without a remote host";
	if (e->flow && (!has_addr || remote != 2))
		return "flow mapping without external address or remote port";
	k->set = portmap_sets[has_addr][remote];
	if (has_addr) {
		memcpy(at, &e->ext_addr, 4);
		at += 4;
	}
	if (remote) {
		memcpy(at, &e->remote.s6_addr[12], 4);
		at += 4;
	}
	at[0] = (uint8_t)e->proto;
	at += 4;
	if (remote == 2) {
		put_port(at, e->remote_port);
		at += 4;
	}
	put_port(at, e->ext_port);
	return NULL;
}

const char *fw_key_build(const struct fw_elem *e, struct fw_key *k)
{
	const char *err;

	memset(k, 0, sizeof(*k));
	err = e->v4 ? build_portmap(e, k) : build_pinhole(e, k);
	if (!err)
		k->len = fw_set_defs[k->set].key_len;
	return err;
}

bool fw_key_companion(const struct fw_elem *e, struct fw_key *k)
{
	struct fw_key primary;

	if (!e->v4 || e->ext_addr.s_addr == 0 || fw_key_build(e, &primary) != NULL)
		return false;
	memset(k, 0, sizeof(*k));
	if (e->flow) {
		/* the flow only: internal address . remote address . proto . internal port . remote port */
		k->set = FW_SET_PM4_SNAT_FLOW;
		k->len = fw_set_defs[FW_SET_PM4_SNAT_FLOW].key_len;
		memcpy(k->key, &e->addr.s6_addr[12], 4);
		memcpy(k->key + 4, &e->remote.s6_addr[12], 4);
		k->key[8] = (uint8_t)e->proto;
		put_port(k->key + 12, e->port);
		put_port(k->key + 16, e->remote_port);
		return true;
	}
	k->set = FW_SET_PM4_SNAT;
	k->len = fw_set_defs[FW_SET_PM4_SNAT].key_len;
	memcpy(k->key, &e->addr.s6_addr[12], 4);
	k->key[4] = (uint8_t)e->proto;
	put_port(k->key + 8, e->port);
	return true;
}

bool fw_set_is_snat(enum fw_set s)
{
	return s == FW_SET_PM4_SNAT || s == FW_SET_PM4_SNAT_FLOW;
}

/* Do two keys of one interval set overlap in every field (lo <= other's hi, both ways)? Field bytes are
 * big-endian, so memcmp orders them. */
static bool ranges_overlap(const struct fw_set_def *d, const struct fw_key *a, const struct fw_key *b)
{
	size_t off = 0;

	for (size_t f = 0; f < d->nfields; f++) {
		size_t len = d->field_len[f];

		if (memcmp(a->key + off, b->key_end + off, len) > 0 || memcmp(b->key + off, a->key_end + off, len) > 0)
			return false;
		off += (len + 3) & ~(size_t)3;
	}
	return true;
}

bool fw_elems_clash(const struct fw_elem *a, const struct fw_elem *b)
{
	struct fw_key ka, kb;

	if (fw_key_build(a, &ka) != NULL || fw_key_build(b, &kb) != NULL || ka.set != kb.set)
		return false;
	return fw_set_defs[ka.set].interval && fw_key_cmp(&ka, &kb) != 0 && ranges_overlap(&fw_set_defs[ka.set], &ka, &kb);
}

bool fw_elem_clash_scope(const struct fw_elem *e, uint8_t scope[FW_CLASH_SCOPE_LEN])
{
	struct fw_key k;

	memset(scope, 0, FW_CLASH_SCOPE_LEN);
	if (fw_key_build(e, &k) != NULL)
		return false;
	scope[0] = (uint8_t)k.set;
	switch (k.set) {
	case FW_SET_PH_REMOTE:
		memcpy(scope + 1, k.key + 16, 16);   /* the destination address: the one field that is exact */
		return true;
	default:
		return false;   /* the kernel key is the element itself */
	}
}

bool fw_nat_pool_range(const struct fw_config *cfg, struct in_addr *lo, struct in_addr *hi)
{
	uint32_t first = 0, last = 0;
	size_t covered = 0;

	if (cfg->n_nat_pool == 0 || cfg->n_nat_pool > FW_MAX_NAT_POOL)
		return false;
	for (size_t i = 0; i < cfg->n_nat_pool; i++) {
		uint8_t len = cfg->nat_pool_len[i] > 32 ? 32 : cfg->nat_pool_len[i];
		uint32_t mask = len ? ~0u << (32 - len) : 0;
		uint32_t a = ntohl(cfg->nat_pool[i].s_addr) & mask, b = a | ~mask;

		if (i == 0 || a < first)
			first = a;
		if (i == 0 || b > last)
			last = b;
		covered += (size_t)(b - a) + 1;
	}
	/* contiguous and without overlaps: no two parts share an address, and they add up to the span */
	for (size_t i = 0; i < cfg->n_nat_pool; i++)
		for (size_t j = i + 1; j < cfg->n_nat_pool; j++) {
			uint8_t li = cfg->nat_pool_len[i] > 32 ? 32 : cfg->nat_pool_len[i];
			uint8_t lj = cfg->nat_pool_len[j] > 32 ? 32 : cfg->nat_pool_len[j];
			uint8_t l = li < lj ? li : lj;
			uint32_t mask = l ? ~0u << (32 - l) : 0;

			if ((ntohl(cfg->nat_pool[i].s_addr) & mask) == (ntohl(cfg->nat_pool[j].s_addr) & mask))
				return false;
		}
	if (covered != (size_t)(last - first) + 1)
		return false;
	lo->s_addr = htonl(first);
	hi->s_addr = htonl(last);
	return true;
}

int fw_key_cmp(const struct fw_key *a, const struct fw_key *b)
{
	int c;

	if (a->set != b->set)
		return a->set < b->set ? -1 : 1;
	c = memcmp(a->key, b->key, a->len);
	if (c == 0 && fw_set_defs[a->set].interval)
		c = memcmp(a->key_end, b->key_end, a->len);
	return c;
}

void fw_elem_map_data(const struct fw_elem *e, uint8_t out[FW_DATA_LEN])
{
	memset(out, 0, FW_DATA_LEN);
	memcpy(out, &e->addr.s6_addr[12], 4);
	put_port(out + 4, e->port);
}

void fw_elem_snat_data(const struct fw_elem *e, uint8_t out[FW_DATA_LEN])
{
	memset(out, 0, FW_DATA_LEN);
	memcpy(out, &e->ext_addr, 4);
	put_port(out + 4, e->ext_port);
}

static void set_v4_mapped(struct in6_addr *a, const uint8_t v4[4])
{
	memset(a, 0, sizeof(*a));
	a->s6_addr[10] = 0xff;
	a->s6_addr[11] = 0xff;
	memcpy(&a->s6_addr[12], v4, 4);
}

static bool parse_remote(const struct fw_key *k, struct fw_elem *e)
{
	int len = range_prefix_len(k->key, k->key_end);
	uint16_t sport_lo = get_port(k->key + 36), sport_hi = get_port(k->key_end + 36);
	uint16_t dport_lo = get_port(k->key + 40), dport_hi = get_port(k->key_end + 40);

	if (len < 0 || memcmp(k->key + 16, k->key_end + 16, 16) != 0)
		return false;
	memcpy(&e->remote, k->key, 16);
	e->remote_len = (uint8_t)len;
	memcpy(&e->addr, k->key + 16, 16);
	if (k->key[32] == 0 && k->key_end[32] == 0xff)
		e->proto = PROTO_ANY;
	else if (k->key[32] == k->key_end[32])
		e->proto = k->key[32];
	else
		return false;
	e->remote_port = sport_lo == sport_hi ? sport_lo : 0;
	e->port = dport_lo == dport_hi ? dport_lo : 0;
	return true;
}

static bool parse_portmap(const struct fw_key *k, const uint8_t *data, size_t data_len, struct fw_elem *e)
{
	const uint8_t *at = k->key;
	bool has_addr = false;
	int remote = -1;

	if (!data || data_len < 6)
		return false;
	for (int a = 0; a < 2 && remote < 0; a++)
		for (int r = 0; r < 3; r++)
			if (portmap_sets[a][r] == k->set) {
				has_addr = a == 1;
				remote = r;
				break;
			}
	if (remote < 0)
		return false;
	e->v4 = true;
	if (has_addr) {
		memcpy(&e->ext_addr, at, 4);
		at += 4;
	}
	if (remote) {
		set_v4_mapped(&e->remote, at);
		e->remote_len = 128;
		at += 4;
	}
	e->proto = at[0];
	at += 4;
	if (remote == 2) {
		e->remote_port = get_port(at);
		at += 4;
	}
	e->ext_port = get_port(at);
	set_v4_mapped(&e->addr, data);
	e->port = get_port(data + 4);
	return true;
}

bool fw_key_parse(const struct fw_key *k, const uint8_t *data, size_t data_len, struct fw_elem *out)
{
	memset(out, 0, sizeof(*out));
	if (k->set >= FW_SET_COUNT || k->len != fw_set_defs[k->set].key_len)
		return false;
	switch (k->set) {
	case FW_SET_PH_PORT:
		out->port = get_port(k->key + 20);
		/* fall through */
	case FW_SET_PH_PROTO:
		out->proto = k->key[16];
		memcpy(&out->addr, k->key, 16);
		return true;
	case FW_SET_PH_ADDR:
		out->proto = PROTO_ANY;
		memcpy(&out->addr, k->key, 16);
		return true;
	case FW_SET_PH_REMOTE:
		return parse_remote(k, out);
	case FW_SET_PM4_SNAT:
		/* the companion names the same mapping: internal endpoint in the key, external in the data */
		if (!data || data_len < 6)
			return false;
		out->v4 = true;
		set_v4_mapped(&out->addr, k->key);
		out->proto = k->key[4];
		out->port = get_port(k->key + 8);
		memcpy(&out->ext_addr, data, 4);
		out->ext_port = get_port(data + 4);
		return true;
	case FW_SET_PM4_SNAT_FLOW:
		if (!data || data_len < 6)
			return false;
		out->v4 = true;
		out->flow = true;
		set_v4_mapped(&out->addr, k->key);
		set_v4_mapped(&out->remote, k->key + 4);
		out->remote_len = 128;
		out->proto = k->key[8];
		out->port = get_port(k->key + 12);
		out->remote_port = get_port(k->key + 16);
		memcpy(&out->ext_addr, data, 4);
		out->ext_port = get_port(data + 4);
		return true;
	default:
		return parse_portmap(k, data, data_len, out);
	}
}

bool fw_elem_same_key(const struct fw_elem *a, const struct fw_elem *b)
{
	struct fw_key ka, kb;

	if (fw_key_build(a, &ka) || fw_key_build(b, &kb))
		return false;
	return fw_key_cmp(&ka, &kb) == 0;
}

static const char *proto_text(uint16_t proto, char buf[8])
{
	if (proto == IPPROTO_TCP)
		return "tcp";
	if (proto == IPPROTO_UDP)
		return "udp";
	if (proto == PROTO_ANY)
		return "any";
	snprintf(buf, 8, "%u", proto);
	return buf;
}

static const char *v4_text(const struct in6_addr *a, char buf[INET_ADDRSTRLEN])
{
	return inet_ntop(AF_INET, &a->s6_addr[12], buf, INET_ADDRSTRLEN);
}

static void pinhole_str(const struct fw_elem *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN], p[8];
	int n;

	inet_ntop(AF_INET6, &e->addr, a, sizeof(a));
	n = snprintf(buf, len, "pinhole [%s]:%u/%s", a, e->port, proto_text(e->proto, p));
	if ((e->remote_len || e->remote_port) && n > 0 && (size_t)n < len) {
		inet_ntop(AF_INET6, &e->remote, r, sizeof(r));
		snprintf(buf + n, len - (size_t)n, " from [%s]/%u:%u", r, e->remote_len, e->remote_port);
	}
}

static void portmap_str(const struct fw_elem *e, char *buf, size_t len)
{
	char ext[INET_ADDRSTRLEN] = "", in[INET_ADDRSTRLEN], r[INET_ADDRSTRLEN], p[8];
	int n;

	if (e->ext_addr.s_addr)
		inet_ntop(AF_INET, &e->ext_addr, ext, sizeof(ext));
	n = snprintf(buf, len, "portmap %s%s%u/%s -> %s:%u", ext, *ext ? ":" : "", e->ext_port,
		     proto_text(e->proto, p), v4_text(&e->addr, in), e->port);
	if (e->remote_len && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " from %s", v4_text(&e->remote, r));
	if (e->remote_len && e->remote_port && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ":%u%s", e->remote_port, e->flow ? " (flow)" : "");
}

const char *fw_elem_str(const struct fw_elem *e, char *buf, size_t len)
{
	if (!buf || len == 0)
		return "";
	if (e->v4)
		portmap_str(e, buf, len);
	else
		pinhole_str(e, buf, len);
	return buf;
}
