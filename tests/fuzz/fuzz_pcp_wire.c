/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for pcpd/pcp_wire.c and pcpd/natpmp_wire.c. Every input is parsed as a
 * PCP request, a PCP response, a NAT-PMP request and a NAT-PMP response. Whatever parses
 * is built back into bytes and parsed again; any disagreement aborts, so the fuzzer finds
 * codec asymmetries as well as memory errors.
 */
#include <stdlib.h>
#include <string.h>

#include "pcpd/natpmp_wire.h"
#include "pcpd/pcp_wire.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static bool same_addr(const struct in6_addr *a, const struct in6_addr *b)
{
	return memcmp(a->s6_addr, b->s6_addr, 16) == 0;
}

static bool same_options(const struct pcp_options *a, const struct pcp_options *b)
{
	if (a->has_third_party != b->has_third_party || a->prefer_failure != b->prefer_failure ||
	    a->n_filters != b->n_filters || a->has_description != b->has_description)
		return false;
	if (a->has_third_party && !same_addr(&a->third_party, &b->third_party))
		return false;
	for (unsigned i = 0; i < a->n_filters; i++) {
		const struct pcp_filter *x = &a->filters[i], *y = &b->filters[i];

		if (x->prefix_len != y->prefix_len || x->port != y->port || !same_addr(&x->addr, &y->addr))
			return false;
	}
	return !a->has_description || (a->description_len == b->description_len &&
		memcmp(a->description, b->description, a->description_len) == 0);
}

/* ext_port/ext_addr are compared by the caller: a reply replaces them. */
static bool same_opdata(uint8_t opcode, const struct pcp_opdata *a, const struct pcp_opdata *b)
{
	if (opcode == PCP_OP_ANNOUNCE)
		return true;
	if (memcmp(a->nonce, b->nonce, PCP_NONCE_LEN) != 0 || a->protocol != b->protocol ||
	    a->internal_port != b->internal_port)
		return false;
	return opcode != PCP_OP_PEER ||
	       (a->peer_port == b->peer_port && same_addr(&a->peer_addr, &b->peer_addr));
}

static struct pcp_request g_req, g_req2;
static struct pcp_response g_resp, g_resp2;

static void check_success_reply(const struct pcp_request *req)
{
	uint8_t out[PCP_MAX_MSG];
	struct pcp_reply r = { .result = PCP_SUCCESS, .lifetime = req->lifetime, .epoch = 77,
			       .ext_port = (uint16_t)(req->op.ext_port ^ 1), .ext_addr = req->client_addr,
			       .echo = PCP_ECHO_ALL };
	size_t n = pcp_wire_build_reply(req, &r, out, sizeof(out));

	/* A success never outgrows its request: same opcode data, no more options. */
	CHECK(n >= PCP_HDR_LEN && n <= PCP_MAX_MSG && n % 4 == 0);
	CHECK(pcp_wire_parse_response(out, n, &g_resp) == PCP_PARSE_OK);
	CHECK(g_resp.version == PCP_VERSION && g_resp.opcode == req->opcode);
	CHECK(g_resp.result == PCP_SUCCESS && g_resp.lifetime == r.lifetime && g_resp.epoch == 77);
	CHECK(same_opdata(req->opcode, &req->op, &g_resp.op));
	if (req->opcode != PCP_OP_ANNOUNCE) {
		CHECK(g_resp.has_op);
		CHECK(g_resp.op.ext_port == r.ext_port && same_addr(&g_resp.op.ext_addr, &r.ext_addr));
	}
	CHECK(same_options(&req->opt, &g_resp.opt));
}

static void check_error_reply(const struct pcp_request *req, uint8_t result)
{
	uint8_t out[PCP_MAX_MSG];
	struct pcp_reply r = { .result = result, .lifetime = 1800, .epoch = 9 };
	size_t n = pcp_wire_build_reply(req, &r, out, sizeof(out));

	CHECK(n >= PCP_HDR_LEN && n <= PCP_MAX_MSG && n % 4 == 0);
	CHECK(out[0] == PCP_VERSION && out[1] == (0x80 | req->opcode) && out[3] == result);
	if (result == PCP_UNSUPP_VERSION)
		CHECK(n == PCP_HDR_LEN);
	/* A client can read every error for an opcode it may have sent. */
	if (req->opcode <= PCP_OP_PEER) {
		CHECK(pcp_wire_parse_response(out, n, &g_resp) == PCP_PARSE_OK);
		CHECK(g_resp.result == result && g_resp.opcode == req->opcode);
	}
}

static void check_request_rebuild(const struct pcp_request *req)
{
	uint8_t out[PCP_MAX_MSG], rc;
	size_t n = pcp_wire_build_request(req, out, sizeof(out));

	CHECK(n >= PCP_HDR_LEN && n <= PCP_MAX_MSG && n % 4 == 0);
	CHECK(pcp_wire_parse_request(out, n, &g_req2, &rc) == PCP_PARSE_OK);
	CHECK(g_req2.opcode == req->opcode && g_req2.lifetime == req->lifetime);
	CHECK(same_addr(&g_req2.client_addr, &req->client_addr));
	CHECK(same_opdata(req->opcode, &req->op, &g_req2.op));
	CHECK(g_req2.op.ext_port == req->op.ext_port && same_addr(&g_req2.op.ext_addr, &req->op.ext_addr));
	CHECK(same_options(&req->opt, &g_req2.opt));
}

static void fuzz_pcp_request(const uint8_t *data, size_t size)
{
	uint8_t rc;

	switch (pcp_wire_parse_request(data, size, &g_req, &rc)) {
	case PCP_PARSE_OK:
		CHECK(rc == PCP_SUCCESS);
		check_success_reply(&g_req);
		check_error_reply(&g_req, PCP_NOT_AUTHORIZED);
		check_request_rebuild(&g_req);
		break;
	case PCP_PARSE_ERROR:
		CHECK(rc != PCP_SUCCESS);
		check_error_reply(&g_req, rc);
		break;
	case PCP_PARSE_DROP:
		break;
	}
}

static void fuzz_pcp_response(const uint8_t *data, size_t size)
{
	uint8_t out[PCP_MAX_MSG];
	size_t n;

	if (pcp_wire_parse_response(data, size, &g_resp2) != PCP_PARSE_OK)
		return;
	n = pcp_wire_build_response(&g_resp2, out, sizeof(out));
	if (g_resp2.version != PCP_VERSION)
		return;  /* a foreign UNSUPP_VERSION is read, never re-sent */
	CHECK(n >= PCP_HDR_LEN);
	CHECK(pcp_wire_parse_response(out, n, &g_resp) == PCP_PARSE_OK);
	CHECK(g_resp.opcode == g_resp2.opcode && g_resp.result == g_resp2.result);
	CHECK(g_resp.lifetime == g_resp2.lifetime && g_resp.epoch == g_resp2.epoch);
	CHECK(g_resp.has_op == g_resp2.has_op);
	if (g_resp.has_op) {
		CHECK(same_opdata(g_resp.opcode, &g_resp.op, &g_resp2.op));
		CHECK(g_resp.op.ext_port == g_resp2.op.ext_port);
		CHECK(same_addr(&g_resp.op.ext_addr, &g_resp2.op.ext_addr));
	}
	CHECK(same_options(&g_resp.opt, &g_resp2.opt));
}

static void fuzz_natpmp(const uint8_t *data, size_t size)
{
	struct natpmp_request req;
	struct natpmp_response resp, back;
	uint8_t out[NATPMP_MAX_MSG];
	uint16_t rc;
	size_t n;

	switch (natpmp_wire_parse_request(data, size, &req, &rc)) {
	case NATPMP_PARSE_OK:
		memset(&resp, 0, sizeof(resp));
		resp.op = req.op;
		resp.epoch = 3;
		resp.internal_port = req.internal_port;
		resp.ext_port = req.ext_port;
		resp.lifetime = req.lifetime;
		n = natpmp_wire_build_response(&resp, out, sizeof(out));
		CHECK(n > 0);
		CHECK(natpmp_wire_parse_response(out, n, &back) == NATPMP_PARSE_OK);
		CHECK(back.op == req.op && back.result == 0 && back.has_body);
		CHECK(back.internal_port == resp.internal_port && back.ext_port == resp.ext_port);
		CHECK(back.lifetime == resp.lifetime);
		n = natpmp_wire_build_request(&req, out, sizeof(out));
		CHECK(n > 0);
		break;
	case NATPMP_PARSE_ERROR:
		memset(&resp, 0, sizeof(resp));
		resp.op = req.op;
		resp.result = rc;
		n = natpmp_wire_build_response(&resp, out, sizeof(out));
		CHECK(n == NATPMP_SHORT_RESP_LEN);
		if (req.op <= NATPMP_OP_MAP_TCP || rc == NATPMP_UNSUPP_OPCODE)
			CHECK(natpmp_wire_parse_response(out, n, &back) == NATPMP_PARSE_OK);
		break;
	case NATPMP_PARSE_DROP:
		break;
	}

	if (natpmp_wire_parse_response(data, size, &resp) == NATPMP_PARSE_OK) {
		n = natpmp_wire_build_response(&resp, out, sizeof(out));
		if (n > 0 && natpmp_wire_parse_response(out, n, &back) == NATPMP_PARSE_OK) {
			CHECK(back.op == resp.op && back.result == resp.result && back.epoch == resp.epoch);
			if (resp.has_body && back.has_body)
				CHECK(back.internal_port == resp.internal_port &&
				      back.ext_port == resp.ext_port && back.lifetime == resp.lifetime &&
				      memcmp(back.ext_addr, resp.ext_addr, 4) == 0);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_pcp_request(data, size);
	fuzz_pcp_response(data, size);
	fuzz_natpmp(data, size);
	return 0;
}
