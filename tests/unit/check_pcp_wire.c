/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Check suites "pcp_wire" and "natpmp_wire". Every vector is written out by hand from the
 * layouts of RFC 6887 sections 7, 11, 12, 13, RFC 7220 and RFC 6886 section 3, as hex
 * with one field per group, so a reader can check each octet against the RFC figure.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcpd/natpmp_wire.h"
#include "pcpd/pcp_wire.h"

/* ---- helpers ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex with spaces and '|' as separators; aborts the test on a typo in the vector. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		int hi, lo;

		if (*s == ' ' || *s == '|' || *s == '\n') {
			s++;
			continue;
		}
		hi = hexval(s[0]);
		lo = s[1] ? hexval(s[1]) : -1;
		ck_assert_msg(hi >= 0 && lo >= 0, "bad hex in vector near \"%.8s\"", s);
		ck_assert_uint_lt(n, cap);
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return n;
}

static void addr6(struct in6_addr *a, const char *hex)
{
	ck_assert_uint_eq(unhex(hex, a->s6_addr, 16), 16);
}

static void ck_bytes(const uint8_t *got, size_t got_len, const char *want_hex)
{
	uint8_t want[PCP_MAX_MSG + 64];
	size_t n = unhex(want_hex, want, sizeof(want));

	ck_assert_uint_eq(got_len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "octet %zu: got %02x want %02x", i, got[i], want[i]);
}

/* ---- addresses (documentation ranges only) ---- */
#define A_2001_DB8_5   "20010db8 00000000 00000000 00000005"
#define A_2001_DB8_9_1 "20010db8 00090000 00000000 00000001"
#define A_ZERO         "00000000 00000000 00000000 00000000"
#define A_V4_ZERO      "00000000 00000000 0000ffff 00000000"
#define A_192_0_2_10   "00000000 00000000 0000ffff c000020a"
#define A_192_0_2_11   "00000000 00000000 0000ffff c000020b"
#define A_198_51_100_0 "00000000 00000000 0000ffff c6336400"
#define A_203_0_113_7  "00000000 00000000 0000ffff cb007107"
#define NONCE          "01020304 05060708 090a0b0c"

/* MAP request, IPv6, TCP 8080, lifetime 3600, no options (60 octets). */
#define MAP6_REQ \
	"02 01 0000 00000e10" A_2001_DB8_5 \
	NONCE "06 000000 1f90 1f90" A_ZERO

/* MAP request, IPv4, UDP 5000, every option we know (120 octets). */
#define MAP4_OPTS_REQ \
	"02 01 0000 00001c20" A_192_0_2_10 \
	NONCE "11 000000 1388 0000" A_V4_ZERO \
	"01 00 0010" A_192_0_2_11 \
	"02 00 0000" \
	"03 00 0014 | 00 78 0000" A_198_51_100_0 \
	"80 00 0005 | 68656c6c 6f000000"

/* PEER request, IPv6, TCP 40000 -> [2001:db8:9::1]:443 (80 octets). */
#define PEER_REQ \
	"02 02 0000 00000078" A_2001_DB8_5 \
	NONCE "06 000000 9c40 0000" A_ZERO \
	"01bb 0000" A_2001_DB8_9_1

#define ANNOUNCE_REQ "02 00 0000 00000000" A_2001_DB8_5

static enum pcp_parse parse_hex(const char *hex, struct pcp_request *req, uint8_t *rc)
{
	uint8_t buf[2048];
	size_t n = unhex(hex, buf, sizeof(buf));

	return pcp_wire_parse_request(buf, n, req, rc);
}

static struct pcp_request g_req;  /* too big for a comfortable stack frame */
static struct pcp_response g_resp;

/* ---- PCP requests ---- */

START_TEST(test_map6_request_parse)
{
	uint8_t rc = 99;
	struct in6_addr a;

	ck_assert_int_eq(parse_hex(MAP6_REQ, &g_req, &rc), PCP_PARSE_OK);
	ck_assert_uint_eq(rc, PCP_SUCCESS);
	ck_assert_uint_eq(g_req.version, 2);
	ck_assert_uint_eq(g_req.opcode, PCP_OP_MAP);
	ck_assert_uint_eq(g_req.lifetime, 3600);
	addr6(&a, A_2001_DB8_5);
	ck_assert_mem_eq(&g_req.client_addr, &a, 16);
	ck_assert_mem_eq(g_req.op.nonce, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 12);
	ck_assert_uint_eq(g_req.op.protocol, 6);
	ck_assert_uint_eq(g_req.op.internal_port, 8080);
	ck_assert_uint_eq(g_req.op.ext_port, 8080);
	ck_assert(!g_req.opt.has_third_party && !g_req.opt.prefer_failure);
	ck_assert_uint_eq(g_req.opt.n_filters, 0);
	ck_assert(!g_req.opt.has_description);
	ck_assert_uint_eq(g_req.payload_len, 36);
}
END_TEST

START_TEST(test_map4_options_parse)
{
	uint8_t rc;
	struct in6_addr a;

	ck_assert_int_eq(parse_hex(MAP4_OPTS_REQ, &g_req, &rc), PCP_PARSE_OK);
	ck_assert_uint_eq(g_req.op.protocol, 17);
	ck_assert_uint_eq(g_req.op.internal_port, 5000);
	ck_assert_uint_eq(g_req.op.ext_port, 0);
	ck_assert(pcp_addr_is_v4mapped(&g_req.client_addr));
	ck_assert(g_req.opt.has_third_party);
	addr6(&a, A_192_0_2_11);
	ck_assert_mem_eq(&g_req.opt.third_party, &a, 16);
	ck_assert(g_req.opt.prefer_failure);
	ck_assert_uint_eq(g_req.opt.n_filters, 1);
	ck_assert_uint_eq(g_req.opt.filters[0].prefix_len, 120);
	ck_assert_uint_eq(g_req.opt.filters[0].port, 0);
	addr6(&a, A_198_51_100_0);
	ck_assert_mem_eq(&g_req.opt.filters[0].addr, &a, 16);
	ck_assert(g_req.opt.has_description);
	ck_assert_uint_eq(g_req.opt.description_len, 5);
	ck_assert_str_eq(g_req.opt.description, "hello");
}
END_TEST

START_TEST(test_peer_request_parse)
{
	uint8_t rc;
	struct in6_addr a;

	ck_assert_int_eq(parse_hex(PEER_REQ, &g_req, &rc), PCP_PARSE_OK);
	ck_assert_uint_eq(g_req.opcode, PCP_OP_PEER);
	ck_assert_uint_eq(g_req.lifetime, 120);
	ck_assert_uint_eq(g_req.op.internal_port, 40000);
	ck_assert_uint_eq(g_req.op.peer_port, 443);
	addr6(&a, A_2001_DB8_9_1);
	ck_assert_mem_eq(&g_req.op.peer_addr, &a, 16);
}
END_TEST

START_TEST(test_announce_request_parse)
{
	uint8_t rc;

	ck_assert_int_eq(parse_hex(ANNOUNCE_REQ, &g_req, &rc), PCP_PARSE_OK);
	ck_assert_uint_eq(g_req.opcode, PCP_OP_ANNOUNCE);
	ck_assert_uint_eq(g_req.payload_len, 0);
}
END_TEST

/* The client-side builder must produce exactly the vectors above from the parsed struct. */
START_TEST(test_build_request_roundtrip)
{
	static const char *const vec[] = { MAP6_REQ, MAP4_OPTS_REQ, PEER_REQ, ANNOUNCE_REQ };
	uint8_t out[PCP_MAX_MSG];
	uint8_t rc;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		ck_assert_int_eq(parse_hex(vec[i], &g_req, &rc), PCP_PARSE_OK);
		ck_bytes(out, pcp_wire_build_request(&g_req, out, sizeof(out)), vec[i]);
	}
}
END_TEST

START_TEST(test_build_request_refuses_invalid)
{
	uint8_t out[PCP_MAX_MSG];
	uint8_t rc;

	ck_assert_int_eq(parse_hex(PEER_REQ, &g_req, &rc), PCP_PARSE_OK);
	g_req.opt.prefer_failure = true;  /* MAP only */
	ck_assert_uint_eq(pcp_wire_build_request(&g_req, out, sizeof(out)), 0);
	g_req.opt.prefer_failure = false;
	ck_assert_uint_eq(pcp_wire_build_request(&g_req, out, 79), 0);  /* no room */
	g_req.opcode = 5;
	ck_assert_uint_eq(pcp_wire_build_request(&g_req, out, sizeof(out)), 0);
}
END_TEST

/* ---- replies built by the server ---- */

START_TEST(test_reply_map_success)
{
	uint8_t out[PCP_MAX_MSG];
	uint8_t rc;
	struct pcp_reply r = { .result = PCP_SUCCESS, .lifetime = 7200, .epoch = 1234,
			       .ext_port = 5000, .echo = PCP_ECHO_ALL };

	addr6(&r.ext_addr, A_203_0_113_7);
	ck_assert_int_eq(parse_hex(MAP4_OPTS_REQ, &g_req, &rc), PCP_PARSE_OK);
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 81 00 00 00001c20 000004d2 000000000000000000000000"
		 NONCE "11 000000 1388 1388" A_203_0_113_7
		 "01 00 0010" A_192_0_2_11
		 "02 00 0000"
		 "03 00 0014 | 00 78 0000" A_198_51_100_0
		 "80 00 0005 | 68656c6c 6f000000");

	/* A server that keeps no description and honours no filter echoes neither. */
	r.echo = PCP_ECHO_THIRD_PARTY | PCP_ECHO_PREFER_FAILURE;
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 81 00 00 00001c20 000004d2 000000000000000000000000"
		 NONCE "11 000000 1388 1388" A_203_0_113_7
		 "01 00 0010" A_192_0_2_11
		 "02 00 0000");
}
END_TEST

/* Tailscale's MAP as it sends it (UDP 41641, lifetime 7200, no suggestion: 16 zero octets, no options):
 * the server's success, which echoes every option it processed, is exactly 60 octets; libtorrent drops
 * anything else. */
START_TEST(test_reply_without_options_is_60)
{
	uint8_t out[PCP_MAX_MSG];
	uint8_t rc;
	struct pcp_reply r = { .result = PCP_SUCCESS, .lifetime = 7200, .epoch = 9, .ext_port = 41641,
			       .echo = PCP_ECHO_ALL };

	addr6(&r.ext_addr, A_203_0_113_7);
	ck_assert_int_eq(parse_hex("02 01 0000 00001c20" A_192_0_2_11 NONCE "11 000000 a2a9 0000" A_ZERO, &g_req, &rc),
			 PCP_PARSE_OK);
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 81 00 00 00001c20 00000009 000000000000000000000000"
		 NONCE "11 000000 a2a9 a2a9" A_203_0_113_7);
	/* and an error answer to it: the request's 36 octets copied back, nothing more */
	r.result = PCP_NOT_AUTHORIZED;
	r.lifetime = 1800;
	ck_assert_uint_eq(pcp_wire_build_reply(&g_req, &r, out, sizeof(out)), 60);
}
END_TEST

START_TEST(test_reply_peer_and_announce)
{
	uint8_t out[PCP_MAX_MSG];
	uint8_t rc;
	struct pcp_reply r = { .result = PCP_SUCCESS, .lifetime = 120, .epoch = 7,
			       .ext_port = 40001, .echo = PCP_ECHO_ALL };

	addr6(&r.ext_addr, A_2001_DB8_5);
	ck_assert_int_eq(parse_hex(PEER_REQ, &g_req, &rc), PCP_PARSE_OK);
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 82 00 00 00000078 00000007 000000000000000000000000"
		 NONCE "06 000000 9c40 9c41" A_2001_DB8_5
		 "01bb 0000" A_2001_DB8_9_1);

	r.lifetime = 0;
	ck_assert_int_eq(parse_hex(ANNOUNCE_REQ, &g_req, &rc), PCP_PARSE_OK);
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 80 00 00 00000000 00000007 000000000000000000000000");
}
END_TEST

/* Reserved fields are sent as 0 and ignored on receipt (RFC 6887 7.1, 11.1, 13.3). */
START_TEST(test_reserved_ignored_and_zeroed)
{
	uint8_t out[PCP_MAX_MSG];
	uint8_t rc;
	struct pcp_reply r = { .result = PCP_SUCCESS, .lifetime = 3600, .ext_port = 8080 };

	ck_assert_int_eq(parse_hex("02 01 abcd 00000e10" A_2001_DB8_5
				   NONCE "06 ffffff 1f90 1f90" A_ZERO
				   "03 ee 0014 | 77 80 0000" A_2001_DB8_9_1,
				   &g_req, &rc), PCP_PARSE_OK);
	ck_assert_uint_eq(g_req.opt.n_filters, 1);
	ck_assert_uint_eq(g_req.opt.filters[0].prefix_len, 128);
	r.echo = PCP_ECHO_ALL;
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 81 00 00 00000e10 00000000 000000000000000000000000"
		 NONCE "06 000000 1f90 1f90" A_ZERO
		 "03 00 0014 | 00 80 0000" A_2001_DB8_9_1);
}
END_TEST

/* Errors copy the request after the header as received (RFC 6887 8.3). */
START_TEST(test_reply_error_copies_payload)
{
	uint8_t out[PCP_MAX_MSG];
	uint8_t rc;
	struct pcp_reply r = { .result = 0, .lifetime = 1800, .epoch = 99 };

	ck_assert_int_eq(parse_hex("02 01 0000 00000e10" A_2001_DB8_5
				   NONCE "06 000000 1f90 1f90" A_ZERO
				   "01 00 000c 00000000 00000000 00000000",
				   &g_req, &rc), PCP_PARSE_ERROR);
	ck_assert_uint_eq(rc, PCP_MALFORMED_OPTION);
	r.result = rc;
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 81 00 06 00000708 00000063 000000000000000000000000"
		 NONCE "06 000000 1f90 1f90" A_ZERO
		 "01 00 000c 00000000 00000000 00000000");

	/* The server's own errors (after a clean parse) do the same. */
	ck_assert_int_eq(parse_hex(MAP6_REQ, &g_req, &rc), PCP_PARSE_OK);
	r.result = PCP_NOT_AUTHORIZED;
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 81 00 02 00000708 00000063 000000000000000000000000"
		 NONCE "06 000000 1f90 1f90" A_ZERO);

	/* Unknown opcode: header fields plus the rest copied as is. */
	ck_assert_int_eq(parse_hex("02 05 0000 00000000" A_2001_DB8_5 "deadbeef",
				   &g_req, &rc), PCP_PARSE_ERROR);
	ck_assert_uint_eq(rc, PCP_UNSUPP_OPCODE);
	r.result = rc;
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 85 00 04 00000708 00000063 000000000000000000000000 deadbeef");
}
END_TEST

START_TEST(test_unsupp_version_reply)
{
	uint8_t out[PCP_MAX_MSG];
	uint8_t rc;
	struct pcp_reply r = { .lifetime = 1800, .epoch = 5 };

	/* A pre-RFC version 1 MAP: answered with a bare header carrying our version, 2. */
	ck_assert_int_eq(parse_hex("01 01 0000 00000e10" A_2001_DB8_5 NONCE,
				   &g_req, &rc), PCP_PARSE_ERROR);
	ck_assert_uint_eq(rc, PCP_UNSUPP_VERSION);
	r.result = rc;
	ck_bytes(out, pcp_wire_build_reply(&g_req, &r, out, sizeof(out)),
		 "02 81 00 01 00000708 00000005 000000000000000000000000");
	/* Even two octets of an unknown version get that answer. */
	ck_assert_int_eq(parse_hex("03 00", &g_req, &rc), PCP_PARSE_ERROR);
	ck_assert_uint_eq(rc, PCP_UNSUPP_VERSION);
	/* Version 0 is NAT-PMP: the PCP codec alone says UNSUPP_VERSION; pcp_io sends it
	 * to natpmp_wire first. */
	ck_assert_int_eq(parse_hex("00 00", &g_req, &rc), PCP_PARSE_ERROR);
	ck_assert_uint_eq(rc, PCP_UNSUPP_VERSION);
}
END_TEST

START_TEST(test_too_long_request)
{
	uint8_t in[1104], out[PCP_MAX_MSG + 8];
	uint8_t rc;
	struct pcp_reply r = { .lifetime = 1800 };
	size_t n;

	memset(in, 0xaa, sizeof(in));
	in[0] = 2;
	in[1] = PCP_OP_MAP;
	ck_assert_int_eq(pcp_wire_parse_request(in, sizeof(in), &g_req, &rc), PCP_PARSE_ERROR);
	ck_assert_uint_eq(rc, PCP_MALFORMED_REQUEST);
	r.result = rc;
	n = pcp_wire_build_reply(&g_req, &r, out, sizeof(out));
	ck_assert_uint_eq(n, PCP_MAX_MSG);  /* the copy is cut at 1100 octets */
	ck_assert_uint_eq(out[1], 0x81);
	ck_assert_uint_eq(out[3], PCP_MALFORMED_REQUEST);
	ck_assert_uint_eq(out[PCP_MAX_MSG - 1], 0xaa);
	/* And a reply never goes out into a buffer too small for it. */
	ck_assert_uint_eq(pcp_wire_build_reply(&g_req, &r, out, 1099), 0);
}
END_TEST

/* A full 1100-octet MAP with the longest DESCRIPTION that fits is valid. */
START_TEST(test_max_size_request)
{
	uint8_t in[PCP_MAX_MSG], out[PCP_MAX_MSG];
	uint8_t rc;
	size_t hdr = unhex("02 01 0000 00000e10" A_2001_DB8_5 NONCE "06 000000 1f90 1f90" A_ZERO
			   "80 00 040c", in, sizeof(in));

	ck_assert_uint_eq(hdr, 64);
	memset(in + hdr, 'x', sizeof(in) - hdr);
	ck_assert_int_eq(pcp_wire_parse_request(in, sizeof(in), &g_req, &rc), PCP_PARSE_OK);
	ck_assert_uint_eq(g_req.opt.description_len, PCP_DESC_MAX);
	ck_assert_uint_eq(strlen(g_req.opt.description), PCP_DESC_MAX);
	ck_assert_uint_eq(pcp_wire_build_request(&g_req, out, sizeof(out)), PCP_MAX_MSG);
	ck_assert_mem_eq(out, in, PCP_MAX_MSG);
}
END_TEST

/* ---- the table of bad requests (RFC 6887 7.3, 8.3, 11-13, RFC 7220) ---- */

struct bad_case {
	const char *name;
	const char *hex;
	enum pcp_parse outcome;
	uint8_t result;
};

#define MAP_BODY NONCE "06 000000 1f90 1f90" A_ZERO
#define MAP_HDR  "02 01 0000 00000e10" A_2001_DB8_5

static const struct bad_case bad_cases[] = {
	{ "empty", "", PCP_PARSE_DROP, 0 },
	{ "one octet", "02", PCP_PARSE_DROP, 0 },
	{ "v2 shorter than a header", "02 01 0000 00000e10 20010db8", PCP_PARSE_DROP, 0 },
	{ "23 octets", "02 01 0000 00000e10 20010db8 00000000 00000000 000000",
	  PCP_PARSE_DROP, 0 },
	{ "R bit on a request (a MAP response)", "02 81 0000 00000e10" A_2001_DB8_5 MAP_BODY,
	  PCP_PARSE_DROP, 0 },
	{ "R bit with a bad version", "07 80", PCP_PARSE_DROP, 0 },
	{ "not a multiple of 4", MAP_HDR MAP_BODY "00", PCP_PARSE_ERROR, PCP_MALFORMED_REQUEST },
	{ "not a multiple of 4 (26)", "02 00 0000 00000000" A_ZERO "0000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_REQUEST },
	{ "bad version 1", "01 01 0000 00000e10" A_2001_DB8_5 MAP_BODY,
	  PCP_PARSE_ERROR, PCP_UNSUPP_VERSION },
	{ "bad version 3", "03 01 0000 00000e10" A_2001_DB8_5 MAP_BODY,
	  PCP_PARSE_ERROR, PCP_UNSUPP_VERSION },
	{ "unknown opcode 3 (AUTHENTICATION)", "02 03 0000 00000000" A_2001_DB8_5,
	  PCP_PARSE_ERROR, PCP_UNSUPP_OPCODE },
	{ "unknown opcode 127", "02 7f 0000 00000000" A_2001_DB8_5,
	  PCP_PARSE_ERROR, PCP_UNSUPP_OPCODE },
	{ "MAP without its opcode data", MAP_HDR, PCP_PARSE_ERROR, PCP_MALFORMED_REQUEST },
	{ "MAP data cut short", MAP_HDR NONCE "06 000000 1f90 1f90 00000000 00000000 00000000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_REQUEST },
	{ "PEER data cut short", "02 02 0000 00000078" A_2001_DB8_5 MAP_BODY,
	  PCP_PARSE_ERROR, PCP_MALFORMED_REQUEST },
	{ "MAP protocol 0 with a port", MAP_HDR NONCE "00 000000 1f90 0000" A_ZERO,
	  PCP_PARSE_ERROR, PCP_MALFORMED_REQUEST },
	{ "option header cut short", MAP_HDR MAP_BODY "80 00", PCP_PARSE_ERROR,
	  PCP_MALFORMED_REQUEST /* 62 octets: not a multiple of 4 */ },
	{ "option length runs past the end", MAP_HDR MAP_BODY "80 00 0008 41424344",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "option padding runs past the end", MAP_HDR MAP_BODY "80 00 0005 41424344",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "option length 65535", MAP_HDR MAP_BODY "80 00 ffff 41424344",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "THIRD_PARTY too short", MAP_HDR MAP_BODY "01 00 000c 00000000 00000000 00000000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "THIRD_PARTY too long", MAP_HDR MAP_BODY "01 00 0014" A_192_0_2_11 "00000000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "THIRD_PARTY twice", MAP_HDR MAP_BODY "01 00 0010" A_192_0_2_11 "01 00 0010" A_192_0_2_11,
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "THIRD_PARTY on ANNOUNCE", "02 00 0000 00000000" A_2001_DB8_5 "01 00 0010" A_192_0_2_11,
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "PREFER_FAILURE with data", MAP_HDR MAP_BODY "02 00 0004 00000000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "PREFER_FAILURE twice", MAP_HDR MAP_BODY "02 00 0000 02 00 0000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "PREFER_FAILURE on PEER", PEER_REQ "02 00 0000", PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "FILTER on ANNOUNCE", "02 00 0000 00000000" A_2001_DB8_5
	  "03 00 0014 | 00 80 0000" A_2001_DB8_9_1, PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "FILTER on PEER", PEER_REQ "03 00 0014 | 00 80 0000" A_2001_DB8_9_1,
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "FILTER too short", MAP_HDR MAP_BODY "03 00 0010 | 00 80 0000 20010db8 00090000 00000000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "FILTER prefix 129", MAP_HDR MAP_BODY "03 00 0014 | 00 81 0000" A_2001_DB8_9_1,
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "FILTER IPv4 prefix below 96", MAP_HDR MAP_BODY "03 00 0014 | 00 18 0000" A_198_51_100_0,
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "unknown mandatory option 4", MAP_HDR MAP_BODY "04 00 0000",
	  PCP_PARSE_ERROR, PCP_UNSUPP_OPTION },
	{ "unknown mandatory option 127", MAP_HDR MAP_BODY "7f 00 0004 00000000",
	  PCP_PARSE_ERROR, PCP_UNSUPP_OPTION },
	{ "reserved option code 0", MAP_HDR MAP_BODY "00 00 0000", PCP_PARSE_ERROR,
	  PCP_UNSUPP_OPTION },
	{ "DESCRIPTION not UTF-8", MAP_HDR MAP_BODY "80 00 0002 c3280000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "DESCRIPTION overlong '/'", MAP_HDR MAP_BODY "80 00 0002 c0af0000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "DESCRIPTION surrogate", MAP_HDR MAP_BODY "80 00 0003 eda08000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "DESCRIPTION above U+10FFFF", MAP_HDR MAP_BODY "80 00 0004 f4908080",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "DESCRIPTION cut inside a character", MAP_HDR MAP_BODY "80 00 0002 e2980000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "DESCRIPTION with NUL", MAP_HDR MAP_BODY "80 00 0003 41004200",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	{ "DESCRIPTION twice", MAP_HDR MAP_BODY "80 00 0001 41000000 80 00 0001 42000000",
	  PCP_PARSE_ERROR, PCP_MALFORMED_OPTION },
	/* Accepted ones, in the same table so the contrast is visible. */
	{ "unknown optional option ignored", MAP_HDR MAP_BODY "c8 00 0003 01020300",
	  PCP_PARSE_OK, 0 },
	{ "DESCRIPTION on ANNOUNCE ignored", "02 00 0000 00000000" A_2001_DB8_5
	  "80 00 0001 41000000", PCP_PARSE_OK, 0 },
	{ "DESCRIPTION empty", MAP_HDR MAP_BODY "80 00 0000", PCP_PARSE_OK, 0 },
	{ "FILTER prefix 0 (remove all)", MAP_HDR MAP_BODY "03 00 0014 | 00 00 0000" A_ZERO,
	  PCP_PARSE_OK, 0 },
	{ "MAP protocol 0 port 0", MAP_HDR NONCE "00 000000 0000 0000" A_ZERO, PCP_PARSE_OK, 0 },
	{ "ANNOUNCE with a lifetime (server's call)", "02 00 0000 00000e10" A_2001_DB8_5,
	  PCP_PARSE_OK, 0 },
};

START_TEST(test_bad_requests)
{
	const struct bad_case *c = &bad_cases[_i];
	uint8_t rc = 0xee;
	enum pcp_parse got = parse_hex(c->hex, &g_req, &rc);

	ck_assert_msg(got == c->outcome, "%s: outcome %d, want %d", c->name, got, c->outcome);
	if (c->outcome == PCP_PARSE_ERROR)
		ck_assert_msg(rc == c->result, "%s: result %s, want %s", c->name,
			      pcp_result_name(rc), pcp_result_name(c->result));
}
END_TEST

START_TEST(test_description_utf8)
{
	uint8_t rc;

	/* "café ✓ 😀": 2-, 3- and 4-octet characters; 14 octets, 2 of padding. */
	ck_assert_int_eq(parse_hex(MAP_HDR MAP_BODY "80 00 000d 636166c3 a920e29c 9320f09f 98800000",
				   &g_req, &rc), PCP_PARSE_ERROR);  /* length cuts the emoji */
	ck_assert_uint_eq(rc, PCP_MALFORMED_OPTION);
	ck_assert_int_eq(parse_hex(MAP_HDR MAP_BODY "80 00 000e 636166c3 a920e29c 9320f09f 98800000",
				   &g_req, &rc), PCP_PARSE_OK);
	ck_assert_uint_eq(g_req.opt.description_len, 14);
	ck_assert_str_eq(g_req.opt.description, "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
}
END_TEST

/* ---- responses, client side ---- */

START_TEST(test_parse_map_response)
{
	uint8_t in[PCP_MAX_MSG];
	size_t n = unhex("02 81 00 00 00001c20 000004d2 000000000000000000000000"
			 NONCE "11 000000 1388 1389" A_203_0_113_7
			 "01 00 0010" A_192_0_2_11
			 "03 00 0014 | 00 78 0000" A_198_51_100_0
			 "80 00 0005 | 68656c6c 6f000000"
			 "c8 00 0000", in, sizeof(in));
	struct in6_addr a;

	ck_assert_int_eq(pcp_wire_parse_response(in, n, &g_resp), PCP_PARSE_OK);
	ck_assert_uint_eq(g_resp.version, 2);
	ck_assert_uint_eq(g_resp.opcode, PCP_OP_MAP);
	ck_assert_uint_eq(g_resp.result, PCP_SUCCESS);
	ck_assert_uint_eq(g_resp.lifetime, 7200);
	ck_assert_uint_eq(g_resp.epoch, 1234);
	ck_assert(g_resp.has_op);
	ck_assert_uint_eq(g_resp.op.internal_port, 5000);
	ck_assert_uint_eq(g_resp.op.ext_port, 5001);
	addr6(&a, A_203_0_113_7);
	ck_assert_mem_eq(&g_resp.op.ext_addr, &a, 16);
	ck_assert(g_resp.opt.has_third_party);
	ck_assert_uint_eq(g_resp.opt.n_filters, 1);
	ck_assert_str_eq(g_resp.opt.description, "hello");
}
END_TEST

START_TEST(test_parse_response_edge_cases)
{
	uint8_t in[PCP_MAX_MSG];
	size_t n;

	/* Bare UNSUPP_VERSION from a server of another version: OK, with its version. */
	n = unhex("01 81 00 01 00000708 00000000 000000000000000000000000", in, sizeof(in));
	ck_assert_int_eq(pcp_wire_parse_response(in, n, &g_resp), PCP_PARSE_OK);
	ck_assert_uint_eq(g_resp.version, 1);
	ck_assert_uint_eq(g_resp.result, PCP_UNSUPP_VERSION);
	ck_assert(!g_resp.has_op);
	/* Any other result from another version: dropped. */
	in[3] = PCP_SUCCESS;
	ck_assert_int_eq(pcp_wire_parse_response(in, n, &g_resp), PCP_PARSE_DROP);
	/* A bare error header for MAP: OK without opcode data; a bare success: dropped. */
	n = unhex("02 81 00 08 0000001e 00000010 000000000000000000000000", in, sizeof(in));
	ck_assert_int_eq(pcp_wire_parse_response(in, n, &g_resp), PCP_PARSE_OK);
	ck_assert(!g_resp.has_op);
	ck_assert(!pcp_result_is_long(g_resp.result));
	in[3] = PCP_SUCCESS;
	ck_assert_int_eq(pcp_wire_parse_response(in, n, &g_resp), PCP_PARSE_DROP);
	/* R bit clear: a request, not for a client. */
	in[1] = 0x01;
	ck_assert_int_eq(pcp_wire_parse_response(in, n, &g_resp), PCP_PARSE_DROP);
	/* Bad sizes. */
	in[1] = 0x80;
	ck_assert_int_eq(pcp_wire_parse_response(in, 20, &g_resp), PCP_PARSE_DROP);
	ck_assert_int_eq(pcp_wire_parse_response(in, 26, &g_resp), PCP_PARSE_DROP);
	ck_assert_int_eq(pcp_wire_parse_response(in, 24, &g_resp), PCP_PARSE_OK);
	/* Unknown opcode: we never asked. */
	in[1] = 0x85;
	ck_assert_int_eq(pcp_wire_parse_response(in, 24, &g_resp), PCP_PARSE_DROP);
	/* A success MAP whose option is broken: dropped; the same as an error: kept. */
	n = unhex("02 81 00 00 00001c20 000004d2 000000000000000000000000"
		  MAP_BODY "01 00 0004 00000000", in, sizeof(in));
	ck_assert_int_eq(pcp_wire_parse_response(in, n, &g_resp), PCP_PARSE_DROP);
	in[3] = PCP_MALFORMED_OPTION;
	ck_assert_int_eq(pcp_wire_parse_response(in, n, &g_resp), PCP_PARSE_OK);
	ck_assert(!g_resp.opt.has_third_party);
	/* A server's unknown mandatory option is skipped by a client. */
	n = unhex("02 81 00 00 00001c20 000004d2 000000000000000000000000"
		  MAP_BODY "05 00 0000", in, sizeof(in));
	ck_assert_int_eq(pcp_wire_parse_response(in, n, &g_resp), PCP_PARSE_OK);
}
END_TEST

START_TEST(test_build_unsolicited_announce)
{
	uint8_t out[PCP_MAX_MSG];
	struct pcp_response resp;

	memset(&resp, 0, sizeof(resp));
	resp.opcode = PCP_OP_ANNOUNCE;
	resp.epoch = 0;
	ck_bytes(out, pcp_wire_build_response(&resp, out, sizeof(out)),
		 "02 80 00 00 00000000 00000000 000000000000000000000000");
	/* An unsolicited MAP must carry its opcode data. */
	resp.opcode = PCP_OP_MAP;
	ck_assert_uint_eq(pcp_wire_build_response(&resp, out, sizeof(out)), 0);
	resp.has_op = true;
	resp.lifetime = 600;
	resp.op.protocol = 6;
	resp.op.internal_port = 22;
	resp.op.ext_port = 2222;
	addr6(&resp.op.ext_addr, A_203_0_113_7);
	ck_bytes(out, pcp_wire_build_response(&resp, out, sizeof(out)),
		 "02 81 00 00 00000258 00000000 000000000000000000000000"
		 "00000000 00000000 00000000 06 000000 0016 08ae" A_203_0_113_7);
}
END_TEST

START_TEST(test_helpers)
{
	struct in6_addr a;
	static const uint8_t v4[4] = { 192, 0, 2, 10 };
	struct in6_addr want;

	pcp_addr_from_v4(&a, v4);
	addr6(&want, A_192_0_2_10);
	ck_assert_mem_eq(&a, &want, 16);
	ck_assert(pcp_addr_is_v4mapped(&a));
	/* All 96 bits count: ::1:ffff:c000:20a is not v4-mapped. */
	a.s6_addr[9] = 1;
	ck_assert(!pcp_addr_is_v4mapped(&a));
	ck_assert_str_eq(pcp_result_name(PCP_CANNOT_PROVIDE_EXTERNAL), "CANNOT_PROVIDE_EXTERNAL");
	ck_assert_str_eq(pcp_result_name(200), "UNKNOWN");
	ck_assert(pcp_result_is_long(PCP_MALFORMED_REQUEST));
	ck_assert(!pcp_result_is_long(PCP_USER_EX_QUOTA));
}
END_TEST

/* ---- NAT-PMP ---- */

static enum natpmp_parse np_parse_hex(const char *hex, struct natpmp_request *req, uint16_t *rc)
{
	uint8_t buf[64];
	size_t n = unhex(hex, buf, sizeof(buf));

	return natpmp_wire_parse_request(buf, n, req, rc);
}

START_TEST(test_natpmp_external_address)
{
	struct natpmp_request req;
	struct natpmp_response resp = { .op = NATPMP_OP_EXTERNAL, .epoch = 1234,
					.ext_addr = { 198, 51, 100, 7 } };
	uint8_t out[NATPMP_MAX_MSG];
	uint16_t rc;

	ck_assert_int_eq(np_parse_hex("00 00", &req, &rc), NATPMP_PARSE_OK);
	ck_assert_uint_eq(req.op, NATPMP_OP_EXTERNAL);
	ck_bytes(out, natpmp_wire_build_response(&resp, out, sizeof(out)),
		 "00 80 0000 000004d2 c6336407");
	/* On error the address "MUST be set to zero". */
	resp.result = NATPMP_NETWORK_FAILURE;
	ck_bytes(out, natpmp_wire_build_response(&resp, out, sizeof(out)),
		 "00 80 0003 000004d2 00000000");
	ck_bytes(out, natpmp_wire_build_request(&req, out, sizeof(out)), "00 00");
}
END_TEST

START_TEST(test_natpmp_map)
{
	struct natpmp_request req;
	struct natpmp_response resp = { .op = NATPMP_OP_MAP_TCP, .epoch = 1234,
					.internal_port = 8080, .ext_port = 8081,
					.lifetime = 7200 };
	uint8_t out[NATPMP_MAX_MSG];
	uint16_t rc;

	ck_assert_int_eq(np_parse_hex("00 02 0000 1f90 1f90 00001c20", &req, &rc), NATPMP_PARSE_OK);
	ck_assert_uint_eq(req.op, NATPMP_OP_MAP_TCP);
	ck_assert_uint_eq(req.internal_port, 8080);
	ck_assert_uint_eq(req.ext_port, 8080);
	ck_assert_uint_eq(req.lifetime, 7200);
	ck_bytes(out, natpmp_wire_build_request(&req, out, sizeof(out)),
		 "00 02 0000 1f90 1f90 00001c20");
	ck_bytes(out, natpmp_wire_build_response(&resp, out, sizeof(out)),
		 "00 82 0000 000004d2 1f90 1f91 00001c20");
	resp.op = NATPMP_OP_MAP_UDP;
	resp.result = NATPMP_NOT_AUTHORIZED;
	resp.ext_port = 0;
	resp.lifetime = 0;
	ck_bytes(out, natpmp_wire_build_response(&resp, out, sizeof(out)),
		 "00 81 0002 000004d2 1f90 0000 00000000");
	/* Reserved octets are ignored; trailing octets too. */
	ck_assert_int_eq(np_parse_hex("00 01 ffff 0035 0000 00000000 abcd", &req, &rc),
			 NATPMP_PARSE_OK);
	ck_assert_uint_eq(req.internal_port, 53);
	ck_assert_uint_eq(req.lifetime, 0);
	ck_assert_uint_eq(natpmp_wire_build_request(&req, out, 11), 0);
}
END_TEST

START_TEST(test_natpmp_bad_requests)
{
	struct natpmp_request req;
	struct natpmp_response resp = { .epoch = 5 };
	uint8_t out[NATPMP_MAX_MSG];
	uint16_t rc;

	ck_assert_int_eq(np_parse_hex("", &req, &rc), NATPMP_PARSE_DROP);
	ck_assert_int_eq(np_parse_hex("00", &req, &rc), NATPMP_PARSE_DROP);
	ck_assert_int_eq(np_parse_hex("00 80", &req, &rc), NATPMP_PARSE_DROP);  /* a response */
	ck_assert_int_eq(np_parse_hex("00 82 0000 1f90 1f90 00001c20", &req, &rc), NATPMP_PARSE_DROP);
	ck_assert_int_eq(np_parse_hex("00 01 0000 1f90 1f90 000000", &req, &rc), NATPMP_PARSE_DROP);
	ck_assert_int_eq(np_parse_hex("00 02", &req, &rc), NATPMP_PARSE_DROP);

	ck_assert_int_eq(np_parse_hex("01 00", &req, &rc), NATPMP_PARSE_ERROR);
	ck_assert_uint_eq(rc, NATPMP_UNSUPP_VERSION);
	resp.op = req.op;
	resp.result = rc;
	ck_bytes(out, natpmp_wire_build_response(&resp, out, sizeof(out)), "00 80 0001 00000005");

	ck_assert_int_eq(np_parse_hex("00 03 0000", &req, &rc), NATPMP_PARSE_ERROR);
	ck_assert_uint_eq(rc, NATPMP_UNSUPP_OPCODE);
	resp.op = req.op;
	resp.result = rc;
	ck_bytes(out, natpmp_wire_build_response(&resp, out, sizeof(out)), "00 83 0005 00000005");

	/* The builder refuses what it cannot shape. */
	resp.op = 3;
	resp.result = NATPMP_SUCCESS;
	ck_assert_uint_eq(natpmp_wire_build_response(&resp, out, sizeof(out)), 0);
	resp.op = NATPMP_OP_MAP_UDP;
	ck_assert_uint_eq(natpmp_wire_build_response(&resp, out, 15), 0);
	req.op = 7;
	ck_assert_uint_eq(natpmp_wire_build_request(&req, out, sizeof(out)), 0);
}
END_TEST

START_TEST(test_natpmp_parse_responses)
{
	struct natpmp_response resp;
	uint8_t in[32];
	size_t n;

	n = unhex("00 80 0000 000004d2 c6336407", in, sizeof(in));
	ck_assert_int_eq(natpmp_wire_parse_response(in, n, &resp), NATPMP_PARSE_OK);
	ck_assert_uint_eq(resp.op, NATPMP_OP_EXTERNAL);
	ck_assert_uint_eq(resp.epoch, 1234);
	ck_assert_mem_eq(resp.ext_addr, "\xc6\x33\x64\x07", 4);
	ck_assert(resp.has_body);
	/* Truncated success: dropped. */
	ck_assert_int_eq(natpmp_wire_parse_response(in, 11, &resp), NATPMP_PARSE_DROP);

	n = unhex("00 81 0000 000004d2 1f90 1f91 00001c20", in, sizeof(in));
	ck_assert_int_eq(natpmp_wire_parse_response(in, n, &resp), NATPMP_PARSE_OK);
	ck_assert_uint_eq(resp.op, NATPMP_OP_MAP_UDP);
	ck_assert_uint_eq(resp.internal_port, 8080);
	ck_assert_uint_eq(resp.ext_port, 8081);
	ck_assert_uint_eq(resp.lifetime, 7200);

	/* Short error answers (8 octets) are fine. */
	n = unhex("00 81 0001 00000005", in, sizeof(in));
	ck_assert_int_eq(natpmp_wire_parse_response(in, n, &resp), NATPMP_PARSE_OK);
	ck_assert_uint_eq(resp.result, NATPMP_UNSUPP_VERSION);
	ck_assert(!resp.has_body);
	n = unhex("00 83 0005 00000005", in, sizeof(in));
	ck_assert_int_eq(natpmp_wire_parse_response(in, n, &resp), NATPMP_PARSE_OK);
	ck_assert_uint_eq(resp.op, 3);
	in[3] = 0;  /* a "success" for an opcode we never send */
	ck_assert_int_eq(natpmp_wire_parse_response(in, n, &resp), NATPMP_PARSE_DROP);

	/* Not NAT-PMP responses. */
	n = unhex("00 01 0000 000004d2", in, sizeof(in));
	ck_assert_int_eq(natpmp_wire_parse_response(in, n, &resp), NATPMP_PARSE_DROP);
	n = unhex("02 81 0001 000004d2", in, sizeof(in));
	ck_assert_int_eq(natpmp_wire_parse_response(in, n, &resp), NATPMP_PARSE_DROP);
	ck_assert_int_eq(natpmp_wire_parse_response(in, 7, &resp), NATPMP_PARSE_DROP);
}
END_TEST

/* What NAT-PMP clients check: 8 octets for UNSUPP_VERSION / UNSUPP_OPCODE (Bitcoin Core falls back to
 * NAT-PMP on exactly that), 12 for the public address, 16 for a mapping, whatever the result. */
START_TEST(test_natpmp_answer_sizes)
{
	uint8_t out[PCP_MAX_MSG];
	struct natpmp_response r;
	static const struct { uint8_t op; uint16_t result; size_t len; } cases[] = {
		{ NATPMP_OP_EXTERNAL, NATPMP_SUCCESS, 12 },
		{ NATPMP_OP_EXTERNAL, NATPMP_NETWORK_FAILURE, 12 },
		{ NATPMP_OP_MAP_UDP, NATPMP_SUCCESS, 16 },
		{ NATPMP_OP_MAP_TCP, NATPMP_NOT_AUTHORIZED, 16 },
		{ NATPMP_OP_MAP_TCP, NATPMP_NO_RESOURCES, 16 },
		{ NATPMP_OP_EXTERNAL, NATPMP_UNSUPP_VERSION, 8 },
		{ NATPMP_OP_MAP_TCP, NATPMP_UNSUPP_VERSION, 8 },
		{ 7, NATPMP_UNSUPP_OPCODE, 8 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.op = cases[i].op;
		r.result = cases[i].result;
		r.epoch = 77;
		ck_assert_uint_eq(natpmp_wire_build_response(&r, out, sizeof(out)), cases[i].len);
		ck_assert_uint_eq(out[0], 0);
		ck_assert_uint_eq(out[1], 128 + cases[i].op);
		ck_assert_uint_eq(out[3], cases[i].result);
		ck_assert_uint_eq(out[7], 77);
	}
}
END_TEST

static Suite *pcp_wire_suite(void)
{
	Suite *s = suite_create("pcp_wire");
	TCase *tc = tcase_create("pcp");

	tcase_add_test(tc, test_map6_request_parse);
	tcase_add_test(tc, test_map4_options_parse);
	tcase_add_test(tc, test_peer_request_parse);
	tcase_add_test(tc, test_announce_request_parse);
	tcase_add_test(tc, test_build_request_roundtrip);
	tcase_add_test(tc, test_build_request_refuses_invalid);
	tcase_add_test(tc, test_reply_map_success);
	tcase_add_test(tc, test_reply_without_options_is_60);
	tcase_add_test(tc, test_reply_peer_and_announce);
	tcase_add_test(tc, test_reserved_ignored_and_zeroed);
	tcase_add_test(tc, test_reply_error_copies_payload);
	tcase_add_test(tc, test_unsupp_version_reply);
	tcase_add_test(tc, test_too_long_request);
	tcase_add_test(tc, test_max_size_request);
	tcase_add_loop_test(tc, test_bad_requests, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_description_utf8);
	tcase_add_test(tc, test_parse_map_response);
	tcase_add_test(tc, test_parse_response_edge_cases);
	tcase_add_test(tc, test_build_unsolicited_announce);
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *natpmp_wire_suite(void)
{
	Suite *s = suite_create("natpmp_wire");
	TCase *tc = tcase_create("natpmp");

	tcase_add_test(tc, test_natpmp_external_address);
	tcase_add_test(tc, test_natpmp_map);
	tcase_add_test(tc, test_natpmp_bad_requests);
	tcase_add_test(tc, test_natpmp_parse_responses);
	tcase_add_test(tc, test_natpmp_answer_sizes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pcp_wire_suite());
	int failed;

	srunner_add_suite(sr, natpmp_wire_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
