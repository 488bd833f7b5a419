/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw_render: our whole ruleset as nft text, for golden tests and debugging. It describes the same
 * table, chains, sets and rules that nft.c builds with libnftnl (see the comment at the top of
 * nft.c for why the rules are ordered as they are); `nft -c -f` accepts the output.
 * Deterministic: elements are sorted by kernel key and printed in one fixed format. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/nft/fw.h"
#include "firewall/nft/fw_elem.h"

struct render_elem {
	struct fw_key key;
	struct fw_elem elem;   /* normalised: rebuilt from the key, so equal keys print equally */
	size_t seq;
};

static int render_cmp(const void *pa, const void *pb)
{
	const struct render_elem *a = pa, *b = pb;
	int c = fw_key_cmp(&a->key, &b->key);

	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static const char *proto_text(uint16_t proto, char buf[8])
{
	if (proto == IPPROTO_TCP)
		return "tcp";
	if (proto == IPPROTO_UDP)
		return "udp";
	snprintf(buf, 8, "%u", proto);
	return buf;
}

static void put_v6(FILE *f, const struct in6_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	fputs(inet_ntop(AF_INET6, a, buf, sizeof(buf)), f);
}

static void put_v4_mapped(FILE *f, const struct in6_addr *a)
{
	char buf[INET_ADDRSTRLEN];

	fputs(inet_ntop(AF_INET, &a->s6_addr[12], buf, sizeof(buf)), f);
}

/* A port field of the interval set: one port, or every port. */
static void put_port_range(FILE *f, uint16_t port)
{
	if (port)
		fprintf(f, "%u", port);
	else
		fputs("0-65535", f);
}

static void put_remote_key(FILE *f, const struct fw_elem *e)
{
	char p[8];

	put_v6(f, &e->remote);
	if (e->remote_len < 128)
		fprintf(f, "/%u", e->remote_len);
	fputs(" . ", f);
	put_v6(f, &e->addr);
	if (e->proto == 65535)
		fputs(" . 0-255 . ", f);
	else
		fprintf(f, " . %s . ", proto_text(e->proto, p));
	put_port_range(f, e->remote_port);
	fputs(" . ", f);
	put_port_range(f, e->port);
}

static void put_key(FILE *f, enum fw_set set, const struct fw_elem *e)
{
	char p[8], a[INET_ADDRSTRLEN];

	switch (set) {
	case FW_SET_PH_PORT:
		put_v6(f, &e->addr);
		fprintf(f, " . %s . %u", proto_text(e->proto, p), e->port);
		break;
	case FW_SET_PH_PROTO:
		put_v6(f, &e->addr);
		fprintf(f, " . %s", proto_text(e->proto, p));
		break;
	case FW_SET_PH_ADDR:
		put_v6(f, &e->addr);
		break;
	case FW_SET_PH_REMOTE:
		put_remote_key(f, e);
		break;
	case FW_SET_PM4:
		fprintf(f, "%s . %u", proto_text(e->proto, p), e->ext_port);
		break;
	case FW_SET_PM4_ADDR:
		fprintf(f, "%s . %s . %u", inet_ntop(AF_INET, &e->ext_addr, a, sizeof(a)),
			proto_text(e->proto, p), e->ext_port);
		break;
	case FW_SET_PM4_REMOTE:
		put_v4_mapped(f, &e->remote);
		fprintf(f, " . %s . %u", proto_text(e->proto, p), e->ext_port);
		break;
	case FW_SET_PM4_REMOTE_PORT:
		put_v4_mapped(f, &e->remote);
		fprintf(f, " . %s . %u . %u", proto_text(e->proto, p), e->remote_port, e->ext_port);
		break;
	case FW_SET_PM4_ADDR_REMOTE:
		fprintf(f, "%s . ", inet_ntop(AF_INET, &e->ext_addr, a, sizeof(a)));
		put_v4_mapped(f, &e->remote);
		fprintf(f, " . %s . %u", proto_text(e->proto, p), e->ext_port);
		break;
	case FW_SET_PM4_ADDR_REMOTE_PORT:
		fprintf(f, "%s . ", inet_ntop(AF_INET, &e->ext_addr, a, sizeof(a)));
		put_v4_mapped(f, &e->remote);
		fprintf(f, " . %s . %u . %u", proto_text(e->proto, p), e->remote_port, e->ext_port);
		break;
	case FW_SET_PM4_SNAT:
		put_v4_mapped(f, &e->addr);
		fprintf(f, " . %s . %u", proto_text(e->proto, p), e->port);
		break;
	case FW_SET_PM4_SNAT_FLOW:
		put_v4_mapped(f, &e->addr);
		fputs(" . ", f);
		put_v4_mapped(f, &e->remote);
		fprintf(f, " . %s . %u . %u", proto_text(e->proto, p), e->port, e->remote_port);
		break;
	default:
		break;
	}
}

static void put_timeout(FILE *f, uint64_t ms)
{
	if (ms == 0)
		return;
	if (ms % 1000 == 0)
		fprintf(f, " timeout %llus", (unsigned long long)(ms / 1000));
	else
		fprintf(f, " timeout %llums", (unsigned long long)ms);
}

/* One element: key, its counter, its timeout, and for maps ": addr . port". */
static void put_elem(FILE *f, const struct render_elem *r, const struct fw_elem *orig)
{
	put_key(f, r->key.set, &r->elem);
	fprintf(f, " counter packets %llu bytes %llu", (unsigned long long)orig->packets,
		(unsigned long long)orig->bytes);
	put_timeout(f, orig->timeout_ms);
	if (fw_set_is_snat(r->key.set)) {
		char a[INET_ADDRSTRLEN];

		fprintf(f, " : %s . %u", inet_ntop(AF_INET, &r->elem.ext_addr, a, sizeof(a)), r->elem.ext_port);
	} else if (fw_set_defs[r->key.set].map) {
		fputs(" : ", f);
		put_v4_mapped(f, &r->elem.addr);
		fprintf(f, " . %u", r->elem.port);
	}
}

static void put_set(FILE *f, const struct fw_config *cfg, enum fw_set set,
		    const struct render_elem *v, size_t n, const struct fw_elem *orig)
{
	const struct fw_set_def *d = &fw_set_defs[set];
	char name[FW_NAME_MAX];
	bool first = true;

	fw_obj_name(cfg, d->name, name, sizeof(name));
	fprintf(f, "\t%s %s {\n\t\ttype %s\n\t\tflags %stimeout\n\t\tcounter\n",
		d->map ? "map" : "set", name, d->nft_type, d->interval ? "interval," : "");
	for (size_t i = 0; i < n; i++) {
		if (v[i].key.set != set)
			continue;
		fputs(first ? "\t\telements = { " : ",\n\t\t\t     ", f);
		put_elem(f, &v[i], &orig[v[i].seq]);
		first = false;
	}
	if (!first)
		fputs(" }\n", f);
	fputs("\t}\n\n", f);
}

/* The CGN block map (see nft.c), elements two to a line as `nft list` prints a map keyed by
 * addresses. Its elements come from the config, not from fw_elem. */
static void put_block_map(FILE *f, const struct fw_config *cfg)
{
	struct fw_nat_blocks nb;
	uint64_t n = fw_nat_block_elems(cfg, &nb);
	char name[FW_NAME_MAX], sub[INET_ADDRSTRLEN], ext[INET_ADDRSTRLEN];

	if (n == 0)
		return;
	fw_obj_name(cfg, "nat_block", name, sizeof(name));
	fprintf(f, "\tmap %s {\n\t\ttype ipv4_addr : interval ipv4_addr . inet_service\n\t\tsize %llu\n", name,
		(unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		struct in_addr s, e;
		uint16_t lo, hi;

		fw_nat_block_at(&nb, i, &s, &e, &lo, &hi);
		fputs(i == 0 ? "\t\telements = { " : i % 2 ? ", " : ",\n\t\t\t     ", f);
		fprintf(f, "%s : %s . %u-%u", inet_ntop(AF_INET, &s, sub, sizeof(sub)),
			inet_ntop(AF_INET, &e, ext, sizeof(ext)), lo, hi);
	}
	fputs(" }\n\t}\n\n", f);
}

static void put_if_set(FILE *f, const struct fw_config *cfg, const char *base,
		       const char (*ifname)[16], size_t n)
{
	char name[FW_NAME_MAX];

	if (n == 0)
		return;
	fw_obj_name(cfg, base, name, sizeof(name));
	fprintf(f, "\tset %s {\n\t\ttype ifname\n\t\telements = { ", name);
	for (size_t i = 0; i < n && i < FW_MAX_IFNAMES; i++)
		fprintf(f, "%s\"%.*s\"", i ? ",\n\t\t\t     " : "", 15, ifname[i]);   /* as nft lists names */
	fputs(" }\n\t}\n\n", f);
}

static void put_wan_filter(FILE *f, const struct fw_config *cfg)
{
	char name[FW_NAME_MAX];

	if (cfg->n_wan == 0)
		return;
	fw_obj_name(cfg, "wan_if", name, sizeof(name));
	fprintf(f, "\t\tiifname != @%s return\n", name);
}

static void put_forward(FILE *f, const struct fw_config *cfg)
{
	bool standalone = cfg->mode == FW_STANDALONE;
	char name[FW_NAME_MAX];

	fw_obj_name(cfg, "forward", name, sizeof(name));
	fprintf(f, "\tchain %s {\n", name);
	if (standalone)
		fputs("\t\ttype filter hook forward priority filter; policy accept;\n", f);
	put_wan_filter(f, cfg);
	if (standalone)
		fputs("\t\tct state established,related accept\n"
		      "\t\tct state invalid drop\n"
		      "\t\tmeta nfproto ipv6 icmpv6 type { destination-unreachable, packet-too-big, "
		      "time-exceeded, parameter-problem, echo-request } accept\n"
		      "\t\tmeta nfproto ipv6 meta l4proto { esp, ah } accept\n"
		      "\t\tmeta nfproto ipv6 udp dport { 500, 4500 } accept\n", f);
	for (int s = FW_SET_PH_PORT; s <= FW_SET_PH_REMOTE; s++) {
		fw_obj_name(cfg, fw_set_defs[s].name, name, sizeof(name));
		fprintf(f, "\t\tmeta nfproto ipv6 %s @%s accept\n", fw_set_defs[s].lookup, name);
	}
	fputs("\t\tmeta nfproto ipv4 ct status dnat accept\n", f);
	if (standalone)
		fputs("\t\tmeta nfproto ipv6 drop\n", f);
	fputs("\t}\n\n", f);
}

static void put_prerouting(FILE *f, const struct fw_config *cfg)
{
	/* most specific first: a remote endpoint beats a remote host beats none; an address beats the
	 * catch-all */
	const enum fw_set *order = fw_dnat_order;
	char name[FW_NAME_MAX];

	fw_obj_name(cfg, "prerouting", name, sizeof(name));
	fprintf(f, "\tchain %s {\n", name);
	if (cfg->mode == FW_STANDALONE)
		fputs("\t\ttype nat hook prerouting priority dstnat; policy accept;\n", f);
	put_wan_filter(f, cfg);
	for (size_t i = 0; i < sizeof(fw_dnat_order) / sizeof(fw_dnat_order[0]); i++) {
		fw_obj_name(cfg, fw_set_defs[order[i]].name, name, sizeof(name));
		fprintf(f, "\t\tmeta nfproto ipv4 dnat ip to %s map @%s\n", fw_set_defs[order[i]].lookup, name);
	}
	fputs("\t}\n\n", f);
}

static void put_postrouting(FILE *f, const struct fw_config *cfg)
{
	char name[FW_NAME_MAX], lo[INET_ADDRSTRLEN], hi[INET_ADDRSTRLEN], src[INET_ADDRSTRLEN];
	struct in_addr plo, phi, net;
	struct fw_nat_blocks nb;
	uint8_t len = cfg->nat_src_len > 32 ? 32 : cfg->nat_src_len;

	fw_obj_name(cfg, "postrouting", name, sizeof(name));
	fprintf(f, "\tchain %s {\n", name);
	if (cfg->mode == FW_STANDALONE)
		fputs("\t\ttype nat hook postrouting priority srcnat; policy accept;\n", f);
	if (cfg->n_wan) {
		fw_obj_name(cfg, "wan_if", name, sizeof(name));
		fprintf(f, "\t\toifname != @%s return\n", name);
	}
	fw_obj_name(cfg, fw_set_defs[FW_SET_PM4_SNAT_FLOW].name, name, sizeof(name));
	fprintf(f, "\t\tmeta nfproto ipv4 snat ip to %s map @%s\n", fw_set_defs[FW_SET_PM4_SNAT_FLOW].lookup, name);
	fw_obj_name(cfg, fw_set_defs[FW_SET_PM4_SNAT].name, name, sizeof(name));
	fprintf(f, "\t\tmeta nfproto ipv4 snat ip to %s map @%s\n", fw_set_defs[FW_SET_PM4_SNAT].lookup, name);
	if (fw_nat_block_elems(cfg, &nb)) {
		/* nft prints it without its `meta nfproto ipv4`: ip saddr implies it */
		fw_obj_name(cfg, "nat_block", name, sizeof(name));
		fprintf(f, "\t\tmeta l4proto { tcp, udp } snat ip to ip saddr map @%s\n", name);
	}
	if (fw_nat_pool_range(cfg, &plo, &phi)) {
		net.s_addr = cfg->nat_src.s_addr & htonl(len ? ~0u << (32 - len) : 0);
		inet_ntop(AF_INET, &net, src, sizeof(src));
		inet_ntop(AF_INET, &plo, lo, sizeof(lo));
		inet_ntop(AF_INET, &phi, hi, sizeof(hi));
		if (plo.s_addr == phi.s_addr)
			fprintf(f, "\t\tmeta nfproto ipv4 ip saddr %s/%u snat ip to %s persistent\n", src, len, lo);
		else
			fprintf(f, "\t\tmeta nfproto ipv4 ip saddr %s/%u snat ip to %s-%s persistent\n", src, len, lo, hi);
	}
	fputs("\t}\n", f);
}

/* The output wall (see nft.c): standalone, a base chain only when there is a wall; integrated,
 * always the regular chain the operator jumps to, with the rule when there is a wall. nft names
 * the cgroup by its path below the cgroup2 root (and resolves it to the id when it loads the text). */
static void put_output(FILE *f, const struct fw_config *cfg)
{
	bool wall = fw_output_wall(cfg);
	char name[FW_NAME_MAX];
	const char *path = cfg->out_cgroup_path;

	if (!wall && cfg->mode == FW_STANDALONE)
		return;
	fw_obj_name(cfg, "output", name, sizeof(name));
	fprintf(f, "\n\tchain %s {\n", name);
	if (cfg->mode == FW_STANDALONE)
		fputs("\t\ttype filter hook output priority filter; policy accept;\n", f);
	if (wall) {
		while (*path == '/')
			path++;
		fprintf(f, "\t\tsocket cgroupv2 level %u \"%.*s\" ", cfg->out_cgroup_level,
			(int)strnlen(path, sizeof(cfg->out_cgroup_path)), path);
		fw_obj_name(cfg, "lan_if", name, sizeof(name));
		fprintf(f, "oifname != @%s oifname != \"lo\" meta l4proto tcp ct state new drop\n", name);
	}
	fputs("\t}\n", f);
}

/* Valid elements, keyed and sorted; for equal keys the last one given wins (as in commit). */
static struct render_elem *prepare(FILE *f, const struct fw_elem *elems, size_t n, size_t *out_n)
{
	struct render_elem *v = calloc(2 * n + 1, sizeof(*v));
	size_t m = 0, k = 0;
	const char *err;
	char s[160];

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if ((err = fw_key_build(&elems[i], &v[m].key)) != NULL) {
			fprintf(f, "# skipped %s: %s\n", fw_elem_str(&elems[i], s, sizeof(s)), err);
			continue;
		}
		fw_key_parse(&v[m].key, NULL, 0, &v[m].elem);
		if (elems[i].v4)
			v[m].elem = elems[i];   /* portmaps: the data is not in the key */
		v[m].seq = i;
		m++;
		if (fw_key_companion(&elems[i], &v[m].key)) {
			v[m].elem = elems[i];
			v[m].seq = i;
			m++;
		}
	}
	qsort(v, m, sizeof(*v), render_cmp);
	for (size_t i = 0; i < m; i++) {
		if (k > 0 && fw_key_cmp(&v[k - 1].key, &v[i].key) == 0)
			v[k - 1] = v[i];
		else
			v[k++] = v[i];
	}
	*out_n = k;
	return v;
}

char *fw_render(const struct fw_config *cfg, const struct fw_elem *elems, size_t n)
{
	struct render_elem *v;
	char *text = NULL;
	size_t len = 0, nv = 0;
	FILE *f;

	if (!cfg || (n && !elems))
		return NULL;
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	v = prepare(f, elems, n, &nv);
	if (v) {
		fprintf(f, "table %.*s %.*s {\n", (int)sizeof(cfg->family), cfg->family,
			(int)sizeof(cfg->table), cfg->table);
		put_if_set(f, cfg, "wan_if", cfg->wan_ifname, cfg->n_wan);
		if (fw_output_wall(cfg))
			put_if_set(f, cfg, "lan_if", cfg->lan_ifname, cfg->n_lan);
		for (int s = 0; s < FW_SET_COUNT; s++)
			put_set(f, cfg, (enum fw_set)s, v, nv, elems);
		put_block_map(f, cfg);
		put_forward(f, cfg);
		put_prerouting(f, cfg);
		put_postrouting(f, cfg);
		put_output(f, cfg);
		fputs("}\n", f);
	}
	free(v);
	if (fclose(f) != 0 || !v) {
		free(text);
		return NULL;
	}
	return text;
}
