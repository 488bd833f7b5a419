/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCP (RFC 6887, version 2) wire codec, with the DESCRIPTION option of RFC 7220.
 * Pure: no I/O, no clock, no allocation. Every message is parsed into a fixed-size
 * struct and built from one; all integers on the wire are big-endian.
 *
 * Server side:  pcp_wire_parse_request() then pcp_wire_build_reply().
 * Client side:  pcp_wire_build_request() then pcp_wire_parse_response().
 * Unsolicited ANNOUNCE / MAP responses: pcp_wire_build_response().
 *
 * Addresses are struct in6_addr; IPv4 is carried IPv4-mapped (::ffff:a.b.c.d).
 */
#ifndef IGDD_PCP_WIRE_H
#define IGDD_PCP_WIRE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCP_VERSION         2
#define PCP_SERVER_PORT     5351
#define PCP_CLIENT_PORT     5350
#define PCP_MAX_MSG         1100  /* largest request or response, octets */
#define PCP_HDR_LEN         24    /* common request / response header */
#define PCP_MAP_LEN         36    /* MAP opcode data */
#define PCP_PEER_LEN        56    /* PEER opcode data */
#define PCP_OPT_HDR_LEN     4
#define PCP_NONCE_LEN       12
#define PCP_THIRD_PARTY_LEN 16
#define PCP_FILTER_LEN      20
/* As many FILTER options as fit in one MAP message: (1100 - 24 - 36) / (4 + 20). */
#define PCP_MAX_FILTERS     43
/* The longest DESCRIPTION text that fits in a MAP message: 1100 - 24 - 36 - 4. */
#define PCP_DESC_MAX        1036

enum pcp_opcode {
	PCP_OP_ANNOUNCE = 0,
	PCP_OP_MAP      = 1,
	PCP_OP_PEER     = 2,
};

enum pcp_result {
	PCP_SUCCESS                 = 0,
	PCP_UNSUPP_VERSION          = 1,
	PCP_NOT_AUTHORIZED          = 2,
	PCP_MALFORMED_REQUEST       = 3,
	PCP_UNSUPP_OPCODE           = 4,
	PCP_UNSUPP_OPTION           = 5,
	PCP_MALFORMED_OPTION        = 6,
	PCP_NETWORK_FAILURE         = 7,
	PCP_NO_RESOURCES            = 8,
	PCP_UNSUPP_PROTOCOL         = 9,
	PCP_USER_EX_QUOTA           = 10,
	PCP_CANNOT_PROVIDE_EXTERNAL = 11,
	PCP_ADDRESS_MISMATCH        = 12,
	PCP_EXCESSIVE_REMOTE_PEERS  = 13,
};

enum pcp_option_code {
	PCP_OPT_THIRD_PARTY    = 1,
	PCP_OPT_PREFER_FAILURE = 2,
	PCP_OPT_FILTER         = 3,
	PCP_OPT_DESCRIPTION    = 128,  /* RFC 7220, optional-to-process */
};

/* What the server does with a received datagram. */
enum pcp_parse {
	PCP_PARSE_OK,     /* a valid request: act on it, answer with pcp_wire_build_reply() */
	PCP_PARSE_ERROR,  /* answer with the result code given back, via pcp_wire_build_reply() */
	PCP_PARSE_DROP,   /* send nothing (a response, or too short to answer) */
};

/* Bits for pcp_reply.echo: which options a success response carries back. */
#define PCP_ECHO_THIRD_PARTY    0x1u
#define PCP_ECHO_PREFER_FAILURE 0x2u
#define PCP_ECHO_FILTER         0x4u
#define PCP_ECHO_DESCRIPTION    0x8u
#define PCP_ECHO_ALL            0xfu

struct pcp_filter {
	uint8_t prefix_len;          /* over the 128-bit address; 0 = remove all filters */
	uint16_t port;               /* remote peer port, 0 = all */
	struct in6_addr addr;        /* remote peer address */
};

/* Opcode data of MAP and PEER (ANNOUNCE has none). */
struct pcp_opdata {
	uint8_t nonce[PCP_NONCE_LEN];
	uint8_t protocol;            /* IANA number, 0 = all */
	uint16_t internal_port;
	uint16_t ext_port;           /* suggested (request) / assigned (response) */
	struct in6_addr ext_addr;    /* suggested (request) / assigned (response) */
	uint16_t peer_port;          /* PEER only */
	struct in6_addr peer_addr;   /* PEER only */
};

/* The options this codec knows. Unknown optional options (128-255) are skipped. */
struct pcp_options {
	bool has_third_party;
	struct in6_addr third_party;
	bool prefer_failure;
	unsigned n_filters;
	struct pcp_filter filters[PCP_MAX_FILTERS];
	bool has_description;
	uint16_t description_len;              /* octets, without the NUL we add */
	char description[PCP_DESC_MAX + 1];    /* valid UTF-8 without NUL, NUL-terminated here */
};

struct pcp_request {
	uint8_t version;
	uint8_t opcode;              /* without the R bit */
	uint32_t lifetime;           /* requested lifetime, seconds */
	struct in6_addr client_addr;
	struct pcp_opdata op;        /* MAP and PEER */
	struct pcp_options opt;
	/* Octets after the header as received (at most 1076, cut to a multiple of 4):
	 * error responses copy them back so the client can match them (RFC 6887 8.3). */
	uint16_t payload_len;
	uint8_t payload[PCP_MAX_MSG - PCP_HDR_LEN];
};

struct pcp_response {
	uint8_t version;             /* 2, or the server's version in an UNSUPP_VERSION reply */
	uint8_t opcode;              /* without the R bit */
	uint8_t result;
	uint32_t lifetime;           /* granted lifetime, or how long an error lasts */
	uint32_t epoch;              /* seconds since the server's state began */
	bool has_op;                 /* MAP / PEER opcode data present (always on success) */
	struct pcp_opdata op;
	struct pcp_options opt;
};

/* The server's decision, turned into bytes by pcp_wire_build_reply(). */
struct pcp_reply {
	uint8_t result;
	uint32_t lifetime;
	uint32_t epoch;
	uint16_t ext_port;           /* assigned (success only; errors echo the suggestion) */
	struct in6_addr ext_addr;    /* assigned (success only) */
	unsigned echo;               /* PCP_ECHO_* : processed options to send back on success */
};

/*
 * Parses a datagram received by a server. On PCP_PARSE_ERROR *result says which error
 * to answer with; req is filled as far as parsing got (always enough to build the reply).
 */
enum pcp_parse pcp_wire_parse_request(const uint8_t *buf, size_t len,
				      struct pcp_request *req, uint8_t *result);

/*
 * Builds the server's answer to a request parsed above. Success: opcode data from req with
 * the assigned port/address, and the options selected by r->echo. Error: the request's
 * payload copied back unchanged; UNSUPP_VERSION: the 24-octet header only, version 2.
 * Returns the length written, 0 if cap is too small.
 */
size_t pcp_wire_build_reply(const struct pcp_request *req, const struct pcp_reply *r,
			    uint8_t *buf, size_t cap);

/* Client side: the request as bytes (version from req is ignored, 2 is sent). 0 on error. */
size_t pcp_wire_build_request(const struct pcp_request *req, uint8_t *buf, size_t cap);

/* Any response from a struct (unsolicited ANNOUNCE, unsolicited MAP); resp->version 0 means 2.
 * Refuses (returns 0) a success without opcode data and options invalid for the opcode. */
size_t pcp_wire_build_response(const struct pcp_response *resp, uint8_t *buf, size_t cap);

/* Client side: PCP_PARSE_OK or PCP_PARSE_DROP (anything a client must ignore). */
enum pcp_parse pcp_wire_parse_response(const uint8_t *buf, size_t len, struct pcp_response *resp);

/* RFC 6887 7.4: long-lifetime errors (retry after minutes) vs short ones (seconds). */
bool pcp_result_is_long(uint8_t result);
const char *pcp_result_name(uint8_t result);

bool pcp_addr_is_v4mapped(const struct in6_addr *a);
void pcp_addr_from_v4(struct in6_addr *out, const uint8_t v4[4]);

#endif
