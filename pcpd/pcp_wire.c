/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCP wire codec (RFC 6887, RFC 7220). The packets come from anyone on the LAN, so every
 * length is checked before a byte is read, and the parser can only fill a struct.
 *
 * Layouts (offsets in octets):
 *   request header   0 version | 1 R=0,opcode | 2-3 reserved | 4-7 lifetime | 8-23 client IP
 *   response header  0 version | 1 R=1,opcode | 2 reserved | 3 result | 4-7 lifetime
 *                    | 8-11 epoch | 12-23 reserved
 *   MAP data         0-11 nonce | 12 protocol | 13-15 reserved | 16-17 internal port
 *                    | 18-19 external port | 20-35 external address
 *   PEER data        MAP data, then 36-37 remote port | 38-39 reserved | 40-55 remote address
 *   option           0 code | 1 reserved | 2-3 length (data only) | data, 0-padded to 4
 */
#include <string.h>

#include "firewall/lib/utf8.h"
#include "pcpd/pcp_wire.h"
#include "pcpd/wire_bytes.h"

#define PCP_R_BIT   0x80u
#define PCP_OP_MASK 0x7fu
/* Option codes 0-127 must be understood by the receiver; 128-255 may be skipped. */
#define PCP_OPT_OPTIONAL_MIN 128

static void get_addr(struct in6_addr *a, const uint8_t *p)
{
	memcpy(a->s6_addr, p, 16);
}

static void put_addr(uint8_t *p, const struct in6_addr *a)
{
	memcpy(p, a->s6_addr, 16);
}

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

bool pcp_addr_is_v4mapped(const struct in6_addr *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	/* RFC 6887 5: all 96 prefix bits must match, not just the 0xffff. */
	return memcmp(a->s6_addr, prefix, sizeof(prefix)) == 0;
}

void pcp_addr_from_v4(struct in6_addr *out, const uint8_t v4[4])
{
	memset(out, 0, sizeof(*out));
	out->s6_addr[10] = 0xff;
	out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], v4, 4);
}

bool pcp_result_is_long(uint8_t result)
{
	switch (result) {
	case PCP_NETWORK_FAILURE:
	case PCP_NO_RESOURCES:
	case PCP_USER_EX_QUOTA:
	case PCP_CANNOT_PROVIDE_EXTERNAL:
		return false;
	default:
		return true;
	}
}

const char *pcp_result_name(uint8_t result)
{
	switch (result) {
	case PCP_SUCCESS: return "SUCCESS";
	case PCP_UNSUPP_VERSION: return "UNSUPP_VERSION";
	case PCP_NOT_AUTHORIZED: return "NOT_AUTHORIZED";
	case PCP_MALFORMED_REQUEST: return "MALFORMED_REQUEST";
	case PCP_UNSUPP_OPCODE: return "UNSUPP_OPCODE";
	case PCP_UNSUPP_OPTION: return "UNSUPP_OPTION";
	case PCP_MALFORMED_OPTION: return "MALFORMED_OPTION";
	case PCP_NETWORK_FAILURE: return "NETWORK_FAILURE";
	case PCP_NO_RESOURCES: return "NO_RESOURCES";
	case PCP_UNSUPP_PROTOCOL: return "UNSUPP_PROTOCOL";
	case PCP_USER_EX_QUOTA: return "USER_EX_QUOTA";
	case PCP_CANNOT_PROVIDE_EXTERNAL: return "CANNOT_PROVIDE_EXTERNAL";
	case PCP_ADDRESS_MISMATCH: return "ADDRESS_MISMATCH";
	case PCP_EXCESSIVE_REMOTE_PEERS: return "EXCESSIVE_REMOTE_PEERS";
	}
	return "UNKNOWN";
}

/* Length of the opcode data, or -1 for an opcode this codec does not know. */
static int opdata_len(uint8_t opcode)
{
	switch (opcode) {
	case PCP_OP_ANNOUNCE: return 0;
	case PCP_OP_MAP: return PCP_MAP_LEN;
	case PCP_OP_PEER: return PCP_PEER_LEN;
	}
	return -1;
}

/* Reserved octets are ignored on receipt (RFC 6887 7.1, 11.1, 12.1): never read here. */
static void get_opdata(struct pcp_opdata *op, uint8_t opcode, const uint8_t *p)
{
	memcpy(op->nonce, p, PCP_NONCE_LEN);
	op->protocol = p[12];
	op->internal_port = get16(p + 16);
	op->ext_port = get16(p + 18);
	get_addr(&op->ext_addr, p + 20);
	if (opcode == PCP_OP_PEER) {
		op->peer_port = get16(p + 36);
		get_addr(&op->peer_addr, p + 40);
	}
}

static void put_opdata(uint8_t *p, uint8_t opcode, const struct pcp_opdata *op,
		       uint16_t ext_port, const struct in6_addr *ext_addr)
{
	memset(p, 0, (size_t)opdata_len(opcode));
	memcpy(p, op->nonce, PCP_NONCE_LEN);
	p[12] = op->protocol;
	put16(p + 16, op->internal_port);
	put16(p + 18, ext_port);
	put_addr(p + 20, ext_addr);
	if (opcode == PCP_OP_PEER) {
		put16(p + 36, op->peer_port);
		put_addr(p + 40, &op->peer_addr);
	}
}

/* FILTER prefix length counts bits of the 128-bit field, so an IPv4 peer needs 96..128
 * (0 = no address filter; RFC 6887 13.3). */
static bool filter_prefix_valid(uint8_t plen, const struct in6_addr *addr)
{
	if (plen == 0)
		return true;
	if (plen > 128)
		return false;
	return !pcp_addr_is_v4mapped(addr) || plen >= 96;
}

static uint8_t opt_third_party(struct pcp_options *o, uint8_t opcode, const uint8_t *d, uint16_t len)
{
	if ((opcode != PCP_OP_MAP && opcode != PCP_OP_PEER) || o->has_third_party ||
	    len != PCP_THIRD_PARTY_LEN)
		return PCP_MALFORMED_OPTION;
	o->has_third_party = true;
	get_addr(&o->third_party, d);
	return PCP_SUCCESS;
}

static uint8_t opt_prefer_failure(struct pcp_options *o, uint8_t opcode, uint16_t len)
{
	if (opcode != PCP_OP_MAP || o->prefer_failure || len != 0)
		return PCP_MALFORMED_OPTION;
	o->prefer_failure = true;
	return PCP_SUCCESS;
}

static uint8_t opt_filter(struct pcp_options *o, uint8_t opcode, const uint8_t *d, uint16_t len)
{
	struct pcp_filter f;

	if (opcode != PCP_OP_MAP || len != PCP_FILTER_LEN)
		return PCP_MALFORMED_OPTION;
	/* d[0] is reserved: ignored. */
	f.prefix_len = d[1];
	f.port = get16(d + 2);
	get_addr(&f.addr, d + 4);
	if (!filter_prefix_valid(f.prefix_len, &f.addr))
		return PCP_MALFORMED_OPTION;
	/* Cannot happen within 1100 octets, but the array bound is ours to keep. */
	if (o->n_filters >= PCP_MAX_FILTERS)
		return PCP_EXCESSIVE_REMOTE_PEERS;
	o->filters[o->n_filters++] = f;
	return PCP_SUCCESS;
}

static uint8_t opt_description(struct pcp_options *o, uint8_t opcode, const uint8_t *d, uint16_t len)
{
	/* Optional-to-process and only defined for MAP and PEER (RFC 7220): elsewhere it is
	 * skipped like any optional option we do not process. */
	if (opcode != PCP_OP_MAP && opcode != PCP_OP_PEER)
		return PCP_SUCCESS;
	if (o->has_description || len > PCP_DESC_MAX || !utf8_valid(d, len))
		return PCP_MALFORMED_OPTION;
	o->has_description = true;
	o->description_len = len;
	memcpy(o->description, d, len);
	o->description[len] = '\0';
	return PCP_SUCCESS;
}

static uint8_t parse_option(struct pcp_options *o, uint8_t opcode, uint8_t code,
			    const uint8_t *d, uint16_t len, bool is_request)
{
	switch (code) {
	case PCP_OPT_THIRD_PARTY: return opt_third_party(o, opcode, d, len);
	case PCP_OPT_PREFER_FAILURE: return opt_prefer_failure(o, opcode, len);
	case PCP_OPT_FILTER: return opt_filter(o, opcode, d, len);
	case PCP_OPT_DESCRIPTION: return opt_description(o, opcode, d, len);
	}
	/* A client has no way to object to a server's option, so it just skips it. */
	if (code < PCP_OPT_OPTIONAL_MIN && is_request)
		return PCP_UNSUPP_OPTION;
	return PCP_SUCCESS;
}

/* Walks the options in p[0..n). Each takes 4 + its length padded to 4 octets. */
static uint8_t parse_options(struct pcp_options *o, uint8_t opcode, const uint8_t *p, size_t n,
			     bool is_request)
{
	size_t off = 0;

	while (off < n) {
		uint8_t code, rc;
		uint16_t len;

		if (n - off < PCP_OPT_HDR_LEN)
			return PCP_MALFORMED_OPTION;
		code = p[off];
		len = get16(p + off + 2);
		if (pad4(len) > n - off - PCP_OPT_HDR_LEN)
			return PCP_MALFORMED_OPTION;
		rc = parse_option(o, opcode, code, p + off + PCP_OPT_HDR_LEN, len, is_request);
		if (rc != PCP_SUCCESS)
			return rc;
		off += PCP_OPT_HDR_LEN + pad4(len);
	}
	return PCP_SUCCESS;
}

/* Keeps what error responses must copy back: at most 1100 octets in all, whole words. */
static void keep_payload(struct pcp_request *req, const uint8_t *buf, size_t len)
{
	size_t n = len > PCP_MAX_MSG ? PCP_MAX_MSG : len;

	n = (n - PCP_HDR_LEN) & ~(size_t)3;
	memcpy(req->payload, buf + PCP_HDR_LEN, n);
	req->payload_len = (uint16_t)n;
}

/* The checks of RFC 6887 8.3, in its order. */
enum pcp_parse pcp_wire_parse_request(const uint8_t *buf, size_t len,
				      struct pcp_request *req, uint8_t *result)
{
	int oplen;
	uint8_t rc;

	memset(req, 0, sizeof(*req));
	*result = PCP_SUCCESS;
	if (len < 2 || (buf[1] & PCP_R_BIT))
		return PCP_PARSE_DROP;
	req->version = buf[0];
	req->opcode = buf[1] & PCP_OP_MASK;
	if (req->version != PCP_VERSION) {
		*result = PCP_UNSUPP_VERSION;
		return PCP_PARSE_ERROR;
	}
	/* Too short to hold the header there is nothing to answer with. */
	if (len < PCP_HDR_LEN)
		return PCP_PARSE_DROP;
	keep_payload(req, buf, len);
	req->lifetime = get32(buf + 4);
	get_addr(&req->client_addr, buf + 8);
	if (len > PCP_MAX_MSG || len % 4 != 0) {
		*result = PCP_MALFORMED_REQUEST;
		return PCP_PARSE_ERROR;
	}
	oplen = opdata_len(req->opcode);
	if (oplen < 0) {
		*result = PCP_UNSUPP_OPCODE;
		return PCP_PARSE_ERROR;
	}
	if (len - PCP_HDR_LEN < (size_t)oplen) {
		*result = PCP_MALFORMED_REQUEST;
		return PCP_PARSE_ERROR;
	}
	if (oplen > 0)
		get_opdata(&req->op, req->opcode, buf + PCP_HDR_LEN);
	/* "All protocols" has no ports, so a port with protocol 0 makes no sense (11.1). */
	if (req->opcode == PCP_OP_MAP && req->op.protocol == 0 && req->op.internal_port != 0) {
		*result = PCP_MALFORMED_REQUEST;
		return PCP_PARSE_ERROR;
	}
	rc = parse_options(&req->opt, req->opcode, buf + PCP_HDR_LEN + oplen,
			   len - PCP_HDR_LEN - (size_t)oplen, true);
	if (rc != PCP_SUCCESS) {
		*result = rc;
		return PCP_PARSE_ERROR;
	}
	return PCP_PARSE_OK;
}

static size_t put_option_hdr(uint8_t *p, uint8_t code, uint16_t len)
{
	p[0] = code;
	p[1] = 0;
	put16(p + 2, len);
	return PCP_OPT_HDR_LEN;
}

/* Appends the options picked by echo at p[0..cap). Returns the length, or SIZE_MAX when
 * they do not fit or an option is not valid for the opcode (we never send what we would
 * reject ourselves). */
static size_t put_options(uint8_t *p, size_t cap, uint8_t opcode, const struct pcp_options *o,
			  unsigned echo)
{
	bool map_or_peer = opcode == PCP_OP_MAP || opcode == PCP_OP_PEER;
	size_t off = 0, need;

	if ((echo & PCP_ECHO_THIRD_PARTY) && o->has_third_party) {
		need = PCP_OPT_HDR_LEN + PCP_THIRD_PARTY_LEN;
		if (!map_or_peer || cap - off < need)
			return SIZE_MAX;
		off += put_option_hdr(p + off, PCP_OPT_THIRD_PARTY, PCP_THIRD_PARTY_LEN);
		put_addr(p + off, &o->third_party);
		off += PCP_THIRD_PARTY_LEN;
	}
	if ((echo & PCP_ECHO_PREFER_FAILURE) && o->prefer_failure) {
		if (opcode != PCP_OP_MAP || cap - off < PCP_OPT_HDR_LEN)
			return SIZE_MAX;
		off += put_option_hdr(p + off, PCP_OPT_PREFER_FAILURE, 0);
	}
	if (echo & PCP_ECHO_FILTER) {
		if (o->n_filters > PCP_MAX_FILTERS || (o->n_filters > 0 && opcode != PCP_OP_MAP))
			return SIZE_MAX;
		for (unsigned i = 0; i < o->n_filters; i++) {
			const struct pcp_filter *f = &o->filters[i];

			need = PCP_OPT_HDR_LEN + PCP_FILTER_LEN;
			if (cap - off < need || !filter_prefix_valid(f->prefix_len, &f->addr))
				return SIZE_MAX;
			off += put_option_hdr(p + off, PCP_OPT_FILTER, PCP_FILTER_LEN);
			p[off] = 0;
			p[off + 1] = f->prefix_len;
			put16(p + off + 2, f->port);
			put_addr(p + off + 4, &f->addr);
			off += PCP_FILTER_LEN;
		}
	}
	if ((echo & PCP_ECHO_DESCRIPTION) && o->has_description) {
		size_t dlen = o->description_len;

		need = PCP_OPT_HDR_LEN + pad4(dlen);
		if (!map_or_peer || dlen > PCP_DESC_MAX || cap - off < need ||
		    !utf8_valid((const uint8_t *)o->description, dlen))
			return SIZE_MAX;
		off += put_option_hdr(p + off, PCP_OPT_DESCRIPTION, (uint16_t)dlen);
		memset(p + off, 0, pad4(dlen));
		memcpy(p + off, o->description, dlen);
		off += pad4(dlen);
	}
	return off;
}

static void put_response_hdr(uint8_t *p, uint8_t version, uint8_t opcode, uint8_t result,
			     uint32_t lifetime, uint32_t epoch)
{
	memset(p, 0, PCP_HDR_LEN);
	p[0] = version;
	p[1] = PCP_R_BIT | (opcode & PCP_OP_MASK);
	p[3] = result;
	put32(p + 4, lifetime);
	put32(p + 8, epoch);
}

/* Header, opcode data and options of a response; shared by replies and unsolicited ones. */
static size_t put_response(uint8_t *buf, size_t cap, uint8_t version, uint8_t opcode,
			   uint8_t result, uint32_t lifetime, uint32_t epoch,
			   const struct pcp_opdata *op, uint16_t ext_port,
			   const struct in6_addr *ext_addr, const struct pcp_options *opt,
			   unsigned echo)
{
	int oplen = opdata_len(opcode);
	size_t n;

	if (oplen < 0)
		return 0;
	if (cap > PCP_MAX_MSG)
		cap = PCP_MAX_MSG;
	if (cap < PCP_HDR_LEN + (size_t)oplen)
		return 0;
	put_response_hdr(buf, version, opcode, result, lifetime, epoch);
	if (op == NULL)
		return PCP_HDR_LEN;
	if (oplen > 0)
		put_opdata(buf + PCP_HDR_LEN, opcode, op, ext_port, ext_addr);
	n = put_options(buf + PCP_HDR_LEN + oplen, cap - PCP_HDR_LEN - (size_t)oplen, opcode,
			opt, echo);
	if (n == SIZE_MAX)
		return 0;
	return PCP_HDR_LEN + (size_t)oplen + n;
}

size_t pcp_wire_build_reply(const struct pcp_request *req, const struct pcp_reply *r,
			    uint8_t *buf, size_t cap)
{
	size_t n;

	if (r->result == PCP_SUCCESS)
		return put_response(buf, cap, PCP_VERSION, req->opcode, PCP_SUCCESS, r->lifetime,
				    r->epoch, &req->op, r->ext_port, &r->ext_addr, &req->opt,
				    r->echo);
	/* UNSUPP_VERSION: the header only, carrying the version we do speak (8.3). */
	n = r->result == PCP_UNSUPP_VERSION ? 0 : req->payload_len;
	if (n > sizeof(req->payload) || n % 4 != 0 || cap < PCP_HDR_LEN + n)
		return 0;
	put_response_hdr(buf, PCP_VERSION, req->opcode, r->result, r->lifetime, r->epoch);
	/* Errors copy the request's opcode data and options as received, so the client can
	 * match the answer; for MAP/PEER that also puts the suggested external port and
	 * address where the assigned ones would be, as 11.1 / 12.1 ask for errors. */
	memcpy(buf + PCP_HDR_LEN, req->payload, n);
	return PCP_HDR_LEN + n;
}

size_t pcp_wire_build_request(const struct pcp_request *req, uint8_t *buf, size_t cap)
{
	int oplen = opdata_len(req->opcode);
	size_t n;

	if (oplen < 0)
		return 0;
	if (cap > PCP_MAX_MSG)
		cap = PCP_MAX_MSG;
	if (cap < PCP_HDR_LEN + (size_t)oplen)
		return 0;
	memset(buf, 0, PCP_HDR_LEN);
	buf[0] = PCP_VERSION;
	buf[1] = req->opcode;
	put32(buf + 4, req->lifetime);
	put_addr(buf + 8, &req->client_addr);
	if (oplen > 0)
		put_opdata(buf + PCP_HDR_LEN, req->opcode, &req->op, req->op.ext_port,
			   &req->op.ext_addr);
	n = put_options(buf + PCP_HDR_LEN + oplen, cap - PCP_HDR_LEN - (size_t)oplen,
			req->opcode, &req->opt, PCP_ECHO_ALL);
	if (n == SIZE_MAX)
		return 0;
	return PCP_HDR_LEN + (size_t)oplen + n;
}

size_t pcp_wire_build_response(const struct pcp_response *resp, uint8_t *buf, size_t cap)
{
	uint8_t version = resp->version ? resp->version : PCP_VERSION;

	/* A success always carries its opcode data; only errors may go without. */
	if (opdata_len(resp->opcode) > 0 && !resp->has_op && resp->result == PCP_SUCCESS)
		return 0;
	return put_response(buf, cap, version, resp->opcode, resp->result, resp->lifetime,
			    resp->epoch, resp->has_op || resp->opcode == PCP_OP_ANNOUNCE ?
			    &resp->op : NULL, resp->op.ext_port, &resp->op.ext_addr,
			    &resp->opt, PCP_ECHO_ALL);
}

enum pcp_parse pcp_wire_parse_response(const uint8_t *buf, size_t len, struct pcp_response *resp)
{
	int oplen;
	uint8_t rc;

	memset(resp, 0, sizeof(*resp));
	if (len < PCP_HDR_LEN || len > PCP_MAX_MSG || len % 4 != 0 || !(buf[1] & PCP_R_BIT))
		return PCP_PARSE_DROP;
	resp->version = buf[0];
	resp->opcode = buf[1] & PCP_OP_MASK;
	resp->result = buf[3];
	resp->lifetime = get32(buf + 4);
	resp->epoch = get32(buf + 8);
	/* A server of another version may still tell us it does not speak ours. */
	if (resp->version != PCP_VERSION)
		return resp->result == PCP_UNSUPP_VERSION ? PCP_PARSE_OK : PCP_PARSE_DROP;
	oplen = opdata_len(resp->opcode);
	if (oplen < 0)
		return PCP_PARSE_DROP;  /* we never send other opcodes */
	if (len - PCP_HDR_LEN < (size_t)oplen) {
		/* Errors such as UNSUPP_VERSION may come as a bare header. */
		return resp->result == PCP_SUCCESS ? PCP_PARSE_DROP : PCP_PARSE_OK;
	}
	if (oplen > 0) {
		get_opdata(&resp->op, resp->opcode, buf + PCP_HDR_LEN);
		resp->has_op = true;
	}
	rc = parse_options(&resp->opt, resp->opcode, buf + PCP_HDR_LEN + oplen,
			   len - PCP_HDR_LEN - (size_t)oplen, false);
	if (rc != PCP_SUCCESS) {
		/* An error response copies our request back; its options matter little. */
		if (resp->result == PCP_SUCCESS)
			return PCP_PARSE_DROP;
		memset(&resp->opt, 0, sizeof(resp->opt));
	}
	return PCP_PARSE_OK;
}
