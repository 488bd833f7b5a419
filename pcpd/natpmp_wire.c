/* SPDX-License-Identifier: GPL-2.0-or-later */
/* NAT-PMP wire codec (RFC 6886). Layouts are in natpmp_wire.h. */
#include <string.h>

#include "pcpd/natpmp_wire.h"
#include "pcpd/wire_bytes.h"


static bool is_map_op(uint8_t op)
{
	return op == NATPMP_OP_MAP_UDP || op == NATPMP_OP_MAP_TCP;
}

enum natpmp_parse natpmp_wire_parse_request(const uint8_t *buf, size_t len,
					    struct natpmp_request *req, uint16_t *result)
{
	memset(req, 0, sizeof(*req));
	*result = NATPMP_SUCCESS;
	/* Responses (op >= 128) are ignored by servers, so two gateways never loop. */
	if (len < 2 || buf[1] >= NATPMP_OP_RESPONSE)
		return NATPMP_PARSE_DROP;
	req->version = buf[0];
	req->op = buf[1];
	if (req->version != NATPMP_VERSION) {
		*result = NATPMP_UNSUPP_VERSION;
		return NATPMP_PARSE_ERROR;
	}
	if (req->op == NATPMP_OP_EXTERNAL)
		return NATPMP_PARSE_OK;
	if (!is_map_op(req->op)) {
		*result = NATPMP_UNSUPP_OPCODE;
		return NATPMP_PARSE_ERROR;
	}
	/* A truncated map request cannot be answered meaningfully. Trailing octets beyond
	 * the 12 are ignored, as RFC 6886 defines no longer form. */
	if (len < NATPMP_MAP_REQ_LEN)
		return NATPMP_PARSE_DROP;
	/* Octets 2-3 are reserved: ignored. */
	req->internal_port = get16(buf + 4);
	req->ext_port = get16(buf + 6);
	req->lifetime = get32(buf + 8);
	return NATPMP_PARSE_OK;
}

static size_t response_len(uint8_t op, uint16_t result)
{
	if (result == NATPMP_UNSUPP_VERSION || result == NATPMP_UNSUPP_OPCODE)
		return NATPMP_SHORT_RESP_LEN;
	if (op == NATPMP_OP_EXTERNAL)
		return NATPMP_EXTERNAL_RESP_LEN;
	if (is_map_op(op))
		return NATPMP_MAP_RESP_LEN;
	return 0;
}

size_t natpmp_wire_build_response(const struct natpmp_response *resp, uint8_t *buf, size_t cap)
{
	size_t n;

	if (resp->op >= NATPMP_OP_RESPONSE)
		return 0;
	n = response_len(resp->op, resp->result);
	if (n == 0 || cap < n)
		return 0;
	memset(buf, 0, n);
	buf[0] = NATPMP_VERSION;
	buf[1] = (uint8_t)(NATPMP_OP_RESPONSE + resp->op);
	put16(buf + 2, resp->result);
	put32(buf + 4, resp->epoch);
	if (n == NATPMP_EXTERNAL_RESP_LEN && resp->result == NATPMP_SUCCESS)
		memcpy(buf + 8, resp->ext_addr, 4);  /* on error it "MUST be set to zero" */
	if (n == NATPMP_MAP_RESP_LEN) {
		put16(buf + 8, resp->internal_port);
		put16(buf + 10, resp->ext_port);
		put32(buf + 12, resp->lifetime);
	}
	return n;
}

size_t natpmp_wire_build_request(const struct natpmp_request *req, uint8_t *buf, size_t cap)
{
	if (req->op == NATPMP_OP_EXTERNAL) {
		if (cap < NATPMP_EXTERNAL_REQ_LEN)
			return 0;
		buf[0] = NATPMP_VERSION;
		buf[1] = NATPMP_OP_EXTERNAL;
		return NATPMP_EXTERNAL_REQ_LEN;
	}
	if (!is_map_op(req->op) || cap < NATPMP_MAP_REQ_LEN)
		return 0;
	memset(buf, 0, NATPMP_MAP_REQ_LEN);
	buf[1] = req->op;
	put16(buf + 4, req->internal_port);
	put16(buf + 6, req->ext_port);
	put32(buf + 8, req->lifetime);
	return NATPMP_MAP_REQ_LEN;
}

enum natpmp_parse natpmp_wire_parse_response(const uint8_t *buf, size_t len,
					     struct natpmp_response *resp)
{
	size_t full;

	memset(resp, 0, sizeof(*resp));
	if (len < NATPMP_SHORT_RESP_LEN || buf[0] != NATPMP_VERSION || buf[1] < NATPMP_OP_RESPONSE)
		return NATPMP_PARSE_DROP;
	resp->op = (uint8_t)(buf[1] - NATPMP_OP_RESPONSE);
	resp->result = get16(buf + 2);
	resp->epoch = get32(buf + 4);
	full = response_len(resp->op, NATPMP_SUCCESS);
	if (full == 0) {
		/* Only an UNSUPP_OPCODE answer can name an opcode we never send. */
		return resp->result == NATPMP_UNSUPP_OPCODE ? NATPMP_PARSE_OK : NATPMP_PARSE_DROP;
	}
	if (len < full)
		return resp->result == NATPMP_SUCCESS ? NATPMP_PARSE_DROP : NATPMP_PARSE_OK;
	resp->has_body = true;
	if (resp->op == NATPMP_OP_EXTERNAL) {
		if (resp->result == NATPMP_SUCCESS)  /* else "MUST be ignored" */
			memcpy(resp->ext_addr, buf + 8, 4);
	} else {
		resp->internal_port = get16(buf + 8);
		resp->ext_port = get16(buf + 10);
		resp->lifetime = get32(buf + 12);
	}
	return NATPMP_PARSE_OK;
}
