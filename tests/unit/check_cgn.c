/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cgn_: deterministic CGN port blocks (pcpd/cgn.c), and the PCP server in CGN mode on a core with
 * the in-memory firewall: pool address + block port, quota, the SNAT companion element. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/conf.h"
#include "firewall/core/core.h"
#include "firewall/nft/fw_elem.h"
#include "pcpd/cgn.h"
#include "pcpd/pcp_server.h"
#include "pcpd/pcp_wire.h"
#include "tests/unit/testutil.h"

static struct in_addr V4(const char *s)
{
	struct in_addr a;

	ck_assert_int_eq(inet_pton(AF_INET, s, &a), 1);
	return a;
}

/* pool 203.0.113.8/30, subscribers 100.64.0.0/10, ports 1024-1039 in blocks of 4:
 * 4 blocks per address, 16 subscribers with a block. */
static struct cgn_config small_cfg(void)
{
	struct cgn_config c;

	memset(&c, 0, sizeof(c));
	c.pool[0] = V4("203.0.113.8");
	c.pool_len[0] = 30;
	c.n_pool = 1;
	c.subs = V4("100.64.0.0");
	c.subs_len = 10;
	c.port_min = 1024;
	c.port_max = 1039;
	c.ports_per_sub = 4;
	return c;
}

START_TEST(blocks_are_deterministic_and_disjoint)
{
	struct cgn_config c = small_cfg();
	char err[128], buf[64];
	struct cgn *g = cgn_new(&c, err, sizeof(err)), *again = cgn_new(&c, err, sizeof(err));
	struct cgn_block b, b2, seen[16];

	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(cgn_pool_size(g), 4);
	ck_assert_uint_eq(cgn_capacity(g), 16);
	ck_assert_int_eq(cgn_block_of(g, V4("100.64.0.0"), &b), CGN_OK);
	ck_assert_str_eq(cgn_block_str(&b, buf, sizeof(buf)), "203.0.113.8:1024-1027");
	ck_assert_int_eq(cgn_block_of(g, V4("100.64.0.5"), &b), CGN_OK);
	ck_assert_str_eq(cgn_block_str(&b, buf, sizeof(buf)), "203.0.113.9:1028-1031");
	ck_assert_int_eq(cgn_block_of(g, V4("100.64.0.15"), &b), CGN_OK);
	ck_assert_str_eq(cgn_block_str(&b, buf, sizeof(buf)), "203.0.113.11:1036-1039");
	ck_assert_int_eq(cgn_block_of(g, V4("100.64.0.16"), &b), CGN_NO_BLOCK);
	ck_assert_int_eq(cgn_block_of(g, V4("192.0.2.1"), &b), CGN_NOT_SUBSCRIBER);
	/* every subscriber's (address, ports) differs from every other's; a second instance agrees */
	for (unsigned i = 0; i < 16; i++) {
		struct in_addr a = { htonl(ntohl(V4("100.64.0.0").s_addr) + i) };

		ck_assert_int_eq(cgn_block_of(g, a, &seen[i]), CGN_OK);
		ck_assert_int_eq(cgn_block_of(again, a, &b2), CGN_OK);
		ck_assert(memcmp(&seen[i], &b2, sizeof(b2)) == 0);
		for (unsigned j = 0; j < i; j++)
			ck_assert(seen[j].addr.s_addr != seen[i].addr.s_addr || seen[j].lo != seen[i].lo);
	}
	cgn_free(g);
	cgn_free(again);
}
END_TEST

/* A subscriber's PCP block (cgn.c) is its block-map element (the backend's fw_nat_blocks): the
 * same address and ports, for every subscriber the pool serves, and none beyond. */
START_TEST(pcp_blocks_are_the_nat_block_map)
{
	struct cgn_config c = small_cfg();
	struct fw_config fc;
	struct fw_nat_blocks nb;
	char err[128];
	struct cgn *g = cgn_new(&c, err, sizeof(err));
	uint64_t n;

	ck_assert_ptr_nonnull(g);
	memset(&fc, 0, sizeof(fc));
	cgn_config_to_fw(&c, &fc);
	n = fw_nat_block_elems(&fc, &nb);
	ck_assert_uint_eq(n, cgn_capacity(g));
	for (uint64_t i = 0; i <= n; i++) {
		struct in_addr sub, ext;
		struct cgn_block b;
		uint16_t lo, hi;

		fw_nat_block_at(&nb, i, &sub, &ext, &lo, &hi);
		if (i == n) {
			ck_assert_int_eq(cgn_block_of(g, sub, &b), CGN_NO_BLOCK);
			break;
		}
		ck_assert_int_eq(cgn_block_of(g, sub, &b), CGN_OK);
		ck_assert_uint_eq(b.addr.s_addr, ext.s_addr);
		ck_assert_uint_eq(b.lo, lo);
		ck_assert_uint_eq(b.hi, hi);
		ck_assert_uint_eq(b.index, i);
	}
	cgn_free(g);
}
END_TEST

/* The operator's table (pcpd --print-blocks): one row per subscriber with a block, each saying what
 * cgn_block_of assigns (so the archive names who held an address and port), in CSV and in JSON. */
START_TEST(export_rows_are_the_blocks)
{
	struct cgn_config cc = small_cfg();
	struct cgn *g = cgn_new(&cc, NULL, 0);
	enum cgn_export_format f;
	char row[256], want[256], a[INET_ADDRSTRLEN];
	struct cgn_block b;
	FILE *mem;
	char *text = NULL;
	size_t len = 0, lines = 0;

	ck_assert_ptr_nonnull(g);
	ck_assert(cgn_export_format_parse("csv", &f) && f == CGN_EXPORT_CSV);
	ck_assert(cgn_export_format_parse("json", &f) && f == CGN_EXPORT_JSON);
	ck_assert(!cgn_export_format_parse("xml", &f));
	ck_assert_str_eq(cgn_export_head(CGN_EXPORT_CSV), "subscriber,external_address,port_first,port_last,block,nat");
	for (uint64_t i = 0; i < cgn_capacity(g); i++) {
		struct in_addr sub = { htonl(ntohl(V4("100.64.0.0").s_addr) + (uint32_t)i) };

		ck_assert_int_eq(cgn_block_of(g, sub, &b), CGN_OK);
		snprintf(want, sizeof(want), "100.64.0.%u,%s,%u,%u,%u,block", (unsigned)i,
			 inet_ntop(AF_INET, &b.addr, a, sizeof(a)), b.lo, b.hi, b.index);
		ck_assert_uint_gt(cgn_export_row(g, CGN_EXPORT_CSV, i, row, sizeof(row)), 0);
		ck_assert_str_eq(row, want);
	}
	ck_assert_str_eq((cgn_export_row(g, CGN_EXPORT_CSV, 5, row, sizeof(row)), row), "100.64.0.5,203.0.113.9,1028,1031,5,block");
	ck_assert_uint_eq(cgn_export_row(g, CGN_EXPORT_CSV, cgn_capacity(g), row, sizeof(row)), 0);
	ck_assert_uint_eq(cgn_export_row(g, CGN_EXPORT_CSV, 0, row, 8), 0);     /* too small: nothing */
	cgn_export_row(g, CGN_EXPORT_JSON, 0, row, sizeof(row));
	ck_assert_str_eq(row, "  {\"subscriber\": \"100.64.0.0\", \"external_address\": \"203.0.113.8\", "
			      "\"port_first\": 1024, \"port_last\": 1027, \"block\": 0, \"nat\": \"block\"},");
	cgn_export_row(g, CGN_EXPORT_JSON, cgn_capacity(g) - 1, row, sizeof(row));
	ck_assert(row[strlen(row) - 1] == '}');                                  /* the last: no comma */
	/* the whole table: head, 16 rows, tail */
	mem = open_memstream(&text, &len);
	ck_assert_int_eq(cgn_export(g, CGN_EXPORT_JSON, mem), 0);
	fclose(mem);
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	ck_assert_uint_eq(lines, 16 + 2);
	ck_assert(strncmp(text, "{\"subscribers\": [\n", 17) == 0);
	ck_assert_str_eq(text + len - 3, "]}\n");
	free(text);
	cgn_free(g);
}
END_TEST

START_TEST(bad_configs)
{
	struct cgn_config c = small_cfg();
	char err[128];

	c.ports_per_sub = 0;
	ck_assert_ptr_null(cgn_new(&c, err, sizeof(err)));
	c.ports_per_sub = 17;
	ck_assert_ptr_null(cgn_new(&c, err, sizeof(err)));
	c = small_cfg();
	c.n_pool = 0;
	ck_assert_ptr_null(cgn_new(&c, err, sizeof(err)));
	c = small_cfg();
	c.pool_len[0] = 8;   /* 16M addresses */
	ck_assert_ptr_null(cgn_new(&c, err, sizeof(err)));
	c = small_cfg();
	c.port_min = 2000;
	c.port_max = 1000;
	ck_assert_ptr_null(cgn_new(&c, err, sizeof(err)));
	c = small_cfg();   /* the pool must be one range, as the NAT44 rules need */
	c.pool[1] = V4("203.0.113.16");
	c.pool_len[1] = 30;
	c.n_pool = 2;
	ck_assert_ptr_null(cgn_new(&c, err, sizeof(err)));
	ck_assert_msg(strstr(err, "contiguous") != NULL, "%s", err);
}
END_TEST

START_TEST(from_conf)
{
	const char *text = "ext_ifname=wan0\nlan_ifname=sub0\ncgn_pool=203.0.113.8/31\ncgn_pool=203.0.113.10/31\n"
			   "cgn_subscribers=100.64.0.0/24\ncgn_ports_per_subscriber=1000\ncgn_port_range=2000-11999\n";
	const char *gap = "ext_ifname=wan0\nlan_ifname=sub0\ncgn_pool=203.0.113.8/31\ncgn_pool=203.0.113.12/31\n";
	struct conf c;
	struct cgn_config cc;
	struct cgn_block b;
	struct cgn *g;
	char err[256];

	conf_defaults(&c);
	ck_assert_msg(conf_parse_buf(text, strlen(text), "t.conf", &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert(cgn_configured(&c));
	cgn_config_from_conf(&c, &cc);
	ck_assert_ptr_nonnull(g = cgn_new(&cc, err, sizeof(err)));
	ck_assert_uint_eq(cgn_capacity(g), 40);   /* 4 addresses x 10 blocks, /24 has 256 */
	/* the backend gets the same layout, for its block map */
	ck_assert_uint_eq(c.fw.nat_port_min, 2000);
	ck_assert_uint_eq(c.fw.nat_port_max, 11999);
	ck_assert_uint_eq(c.fw.nat_block_size, 1000);
	ck_assert_int_eq(cgn_block_of(g, V4("100.64.0.12"), &b), CGN_OK);
	ck_assert_uint_eq(ntohl(b.addr.s_addr) & 0xff, 9);
	ck_assert_uint_eq(b.lo, 4000);
	cgn_free(g);
	conf_defaults(&c);
	ck_assert_int_eq(conf_parse_buf(gap, strlen(gap), "t.conf", &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "contiguous") != NULL, "%s", err);
	conf_defaults(&c);
	ck_assert(!cgn_configured(&c));
}
END_TEST

/* ---------- the server in CGN mode ---------- */

struct fixture {
	struct fw *fw;
	struct core *core;
	struct cgn *cgn;
	struct pcp_server *srv;
};

static struct fixture fx;

static void setup(void)
{
	struct core_params p;
	struct pcp_server_params sp;
	struct cgn_config cc = small_cfg();
	char err[256];

	fx.fw = mem_fw();
	ck_assert_ptr_nonnull(fx.fw);
	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.fw = fx.fw;
	p.clock = fake_clock;
	fx.core = core_new(&p);
	ck_assert_ptr_nonnull(fx.core);
	ck_assert_msg(core_start(fx.core, err, sizeof(err)) == 0, "core_start: %s", err);
	fx.cgn = cgn_new(&cc, err, sizeof(err));
	ck_assert_ptr_nonnull(fx.cgn);
	memset(&sp, 0, sizeof(sp));
	sp.core = fx.core;
	sp.rate_off = true;
	sp.cgn = fx.cgn;   /* no ext_addr getter: a CGN needs no WAN address */
	fx.srv = pcp_server_new(&sp, 1000);
	ck_assert_ptr_nonnull(fx.srv);
}

static void teardown(void)
{
	pcp_server_free(fx.srv);
	cgn_free(fx.cgn);
	core_free(fx.core);
	fx.fw->ops->destroy(fx.fw);
	memset(&fx, 0, sizeof(fx));
}

static struct pcp_response map_from(const char *client, uint8_t proto, uint16_t iport, uint16_t sugg, uint8_t nonce,
				    bool prefer_failure)
{
	uint8_t in[PCP_MAX_MSG], out[PCP_MAX_MSG];
	struct pcp_request q;
	struct pcp_response r;
	struct in6_addr src;
	char mapped[64];
	size_t n, m;

	snprintf(mapped, sizeof(mapped), "::ffff:%s", client);
	ck_assert(addr_parse(mapped, &src));
	memset(&q, 0, sizeof(q));
	q.opcode = PCP_OP_MAP;
	q.lifetime = 600;
	q.client_addr = src;
	memset(q.op.nonce, nonce, PCP_NONCE_LEN);
	q.op.protocol = proto;
	q.op.internal_port = iport;
	q.op.ext_port = sugg;
	ck_assert(addr_parse("::ffff:0.0.0.0", &q.op.ext_addr));
	q.opt.prefer_failure = prefer_failure;
	n = pcp_wire_build_request(&q, in, sizeof(in));
	ck_assert_uint_gt(n, 0);
	m = pcp_server_handle(fx.srv, in, n, &src, 1000, out, sizeof(out));
	ck_assert_uint_gt(m, 0);
	ck_assert_int_eq(pcp_wire_parse_response(out, m, &r), PCP_PARSE_OK);
	return r;
}

static const char *ext_str(const struct pcp_response *r, char *buf)
{
	return addr_str(&r->op.ext_addr, buf);
}

START_TEST(map_gets_pool_address_and_block_port)
{
	struct pcp_response r = map_from("100.64.0.2", IPPROTO_UDP, 4000, 0, 1, false);
	char buf[ADDR_STRLEN];
	struct fw_elem e = { .v4 = true, .proto = IPPROTO_UDP, .ext_port = 0 };
	struct fw_key k;

	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_str_eq(ext_str(&r, buf), "203.0.113.8");                 /* subscriber 2: block 2 of .8 */
	ck_assert_uint_ge(r.op.ext_port, 1032);
	ck_assert_uint_le(r.op.ext_port, 1035);
	/* the kernel element carries the pool address, so the backend adds the SNAT companion */
	e.ext_port = r.op.ext_port;
	e.ext_addr = V4("203.0.113.8");
	e.port = 4000;
	ck_assert(addr_parse("::ffff:100.64.0.2", &e.addr));
	ck_assert(fw_mem_has(fx.fw, &e, NULL));
	ck_assert(fw_key_companion(&e, &k));
	/* a refresh keeps the same endpoint */
	{
		struct pcp_response again = map_from("100.64.0.2", IPPROTO_UDP, 4000, 0, 1, false);

		ck_assert_uint_eq(again.result, PCP_SUCCESS);
		ck_assert_uint_eq(again.op.ext_port, r.op.ext_port);
	}
	/* the neighbour: same address, another block */
	r = map_from("100.64.0.3", IPPROTO_UDP, 4000, 0, 2, false);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_str_eq(ext_str(&r, buf), "203.0.113.8");
	ck_assert_uint_ge(r.op.ext_port, 1036);
	ck_assert_uint_le(r.op.ext_port, 1039);
}
END_TEST

START_TEST(quota_and_refusals)
{
	struct pcp_response r;

	for (uint16_t i = 0; i < 4; i++) {
		r = map_from("100.64.0.2", IPPROTO_TCP, (uint16_t)(5000 + i), 0, 1, false);
		ck_assert_uint_eq(r.result, PCP_SUCCESS);
	}
	r = map_from("100.64.0.2", IPPROTO_TCP, 5004, 0, 1, false);
	ck_assert_uint_eq(r.result, PCP_USER_EX_QUOTA);
	/* UDP is its own port space */
	ck_assert_uint_eq(map_from("100.64.0.2", IPPROTO_UDP, 5004, 0, 1, false).result, PCP_SUCCESS);
	/* PREFER_FAILURE outside the block */
	ck_assert_uint_eq(map_from("100.64.0.4", IPPROTO_TCP, 8080, 8080, 3, true).result, PCP_CANNOT_PROVIDE_EXTERNAL);
	/* PREFER_FAILURE with a free port of the block: granted exactly */
	r = map_from("100.64.0.4", IPPROTO_TCP, 8080, 1026, 3, true);   /* subscriber 4: .9, block 0 = 1024-1027 */
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.op.ext_port, 1026);
	/* beyond the pool and outside the subscribers */
	ck_assert_uint_eq(map_from("100.64.0.16", IPPROTO_TCP, 80, 0, 4, false).result, PCP_NO_RESOURCES);
	ck_assert_uint_eq(map_from("192.0.2.7", IPPROTO_TCP, 80, 0, 5, false).result, PCP_NOT_AUTHORIZED);
}
END_TEST

static Suite *cgn_suite(void)
{
	Suite *s = suite_create("cgn");
	TCase *alloc = tcase_create("alloc"), *server = tcase_create("server");

	tcase_add_test(alloc, blocks_are_deterministic_and_disjoint);
	tcase_add_test(alloc, pcp_blocks_are_the_nat_block_map);
	tcase_add_test(alloc, bad_configs);
	tcase_add_test(alloc, export_rows_are_the_blocks);
	tcase_add_test(alloc, from_conf);
	tcase_add_checked_fixture(server, setup, teardown);
	tcase_add_test(server, map_gets_pool_address_and_block_port);
	tcase_add_test(server, quota_and_refusals);
	suite_add_tcase(s, alloc);
	suite_add_tcase(s, server);
	return s;
}

int main(void)
{
	return run_suite(cgn_suite());
}
