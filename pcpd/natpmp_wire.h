/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NAT-PMP (RFC 6886, version 0) wire codec. Pure: no I/O, no clock, no allocation.
 * A PCP server on port 5351 hands version-0 datagrams here and version 2 to pcp_wire.
 *
 *   external address request  0 version=0 | 1 op=0                               (2 octets)
 *   map request               0 version | 1 op=1 UDP / 2 TCP | 2-3 reserved
 *                             | 4-5 internal port | 6-7 suggested external port | 8-11 lifetime (12)
 *   every response            0 version=0 | 1 op+128 | 2-3 result | 4-7 seconds since epoch
 *   external address response ... | 8-11 external IPv4 address                   (12 octets)
 *   map response              ... | 8-9 internal port | 10-11 mapped external port | 12-15 lifetime (16)
 *   UNSUPP_VERSION / UNSUPP_OPCODE responses stop after the epoch               (8 octets)
 */
#ifndef IGDD_NATPMP_WIRE_H
#define IGDD_NATPMP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NATPMP_VERSION          0
#define NATPMP_SERVER_PORT      5351
#define NATPMP_CLIENT_PORT      5350  /* address-change announcements go here */
#define NATPMP_OP_RESPONSE      128   /* added to the request's opcode in the answer */
#define NATPMP_EXTERNAL_REQ_LEN 2
#define NATPMP_MAP_REQ_LEN      12
#define NATPMP_SHORT_RESP_LEN   8
#define NATPMP_EXTERNAL_RESP_LEN 12
#define NATPMP_MAP_RESP_LEN     16
#define NATPMP_MAX_MSG          16

enum natpmp_op {
	NATPMP_OP_EXTERNAL = 0,
	NATPMP_OP_MAP_UDP  = 1,
	NATPMP_OP_MAP_TCP  = 2,
};

enum natpmp_result {
	NATPMP_SUCCESS         = 0,
	NATPMP_UNSUPP_VERSION  = 1,
	NATPMP_NOT_AUTHORIZED  = 2,  /* "Not Authorized/Refused" */
	NATPMP_NETWORK_FAILURE = 3,
	NATPMP_NO_RESOURCES    = 4,
	NATPMP_UNSUPP_OPCODE   = 5,
};

enum natpmp_parse {
	NATPMP_PARSE_OK,     /* act on it */
	NATPMP_PARSE_ERROR,  /* answer with the result given back */
	NATPMP_PARSE_DROP,   /* send nothing */
};

struct natpmp_request {
	uint8_t version;
	uint8_t op;                  /* request opcode, 0..127 */
	uint16_t internal_port;      /* map requests */
	uint16_t ext_port;           /* suggested; 0 = no preference */
	uint32_t lifetime;           /* 0 = delete (internal port 0 too: delete all) */
};

struct natpmp_response {
	uint8_t op;                  /* the request's opcode, without the +128 */
	uint16_t result;
	uint32_t epoch;              /* seconds since the mapping table began */
	uint8_t ext_addr[4];         /* external address responses */
	uint16_t internal_port;      /* map responses */
	uint16_t ext_port;
	uint32_t lifetime;
	bool has_body;               /* parse side: the op-specific fields were present */
};

/* Server side. On NATPMP_PARSE_ERROR, *result holds UNSUPP_VERSION or UNSUPP_OPCODE. */
enum natpmp_parse natpmp_wire_parse_request(const uint8_t *buf, size_t len,
					    struct natpmp_request *req, uint16_t *result);

/* Server side: 8, 12 or 16 octets; resp->op says which request is answered. 0 on error. */
size_t natpmp_wire_build_response(const struct natpmp_response *resp, uint8_t *buf, size_t cap);

/* Client side. 0 on error (unknown op, no room). */
size_t natpmp_wire_build_request(const struct natpmp_request *req, uint8_t *buf, size_t cap);

/* Client side: NATPMP_PARSE_OK or NATPMP_PARSE_DROP. */
enum natpmp_parse natpmp_wire_parse_response(const uint8_t *buf, size_t len,
					     struct natpmp_response *resp);

#endif
