/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A rule: one IPv6 inbound pinhole or one IPv4 port mapping, protocol-neutral.
 * Every front end (UPnP, PCP, web, igdctl) turns its request into a rule; the core owns the table. */
#ifndef IGDD_RULE_H
#define IGDD_RULE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RULE_DESC_MAX   255     /* bytes of description kept (longer input is refused by front ends) */
#define RULE_PROTO_ANY  65535   /* IGD:2 "all protocols" */
#define RULE_NONCE_LEN  12      /* PCP mapping nonce */
#define RULE_ID_MAX     0x7fffffffu

enum rule_kind {
	RULE_PINHOLE = 1,  /* IPv6 inbound: wan -> target address */
	RULE_PORTMAP = 2,  /* IPv4 DNAT: ext_addr:ext_port -> target address:int_port */
};

enum rule_origin {
	ORIGIN_UPNP = 1,
	ORIGIN_PCP,
	ORIGIN_NATPMP,
	ORIGIN_WEB,
	ORIGIN_CTL,     /* igdctl, the operator */
	ORIGIN_STATIC,  /* config file */
	ORIGIN_PCP_PEER, /* PCP PEER: a mapping for one outbound flow, admitting only its remote peer */
};

/* Named states; rule_set_state() is the one transition function. */
enum rule_state {
	RULE_PENDING = 1,  /* known, but no address to install it for (e.g. waiting for a device's new stable address) */
	RULE_INSTALLED,    /* in the kernel */
	RULE_GONE,         /* deleted or expired: about to leave the table */
};

/* Address kinds (issue: devices and re-anchoring); ADDR_KIND_UNKNOWN until the device table classifies. */
enum addr_kind {
	ADDR_KIND_UNKNOWN = 0,
	ADDR_KIND_IPV4,
	ADDR_KIND_LINK_LOCAL,
	ADDR_KIND_ULA,
	ADDR_KIND_EUI64,
	ADDR_KIND_STABLE,     /* opaque IID seen to persist (RFC 7217) */
	ADDR_KIND_TEMPORARY,  /* RFC 8981 */
};

/* Where a rule points: a device (MAC, when known) and a selector.
 * All addresses are struct in6_addr; IPv4 ones are v4-mapped (::ffff:a.b.c.d). */
struct rule_target {
	uint8_t mac[6];
	bool has_mac;
	/* selector 1: the exact address asked for */
	bool use_exact;
	struct in6_addr exact;
	enum addr_kind exact_kind;
	/* selector 2: the device's stable address in a LAN subnet (kept prefix-relative in the store) */
	bool use_stable;
	struct in6_addr subnet;
	uint8_t subnet_len;
	bool stable_resolved;      /* false: pending until the device shows a stable address in subnet */
	struct in6_addr stable;    /* valid when stable_resolved */
};

struct rule {
	uint32_t id;               /* stable; also the UPnP UniqueID (pinholes from UPnP get ids <= 65535) */
	enum rule_kind kind;
	enum rule_state state;
	uint16_t proto;            /* IANA protocol number, or RULE_PROTO_ANY */
	struct rule_target target;
	uint16_t int_port;         /* 0 = every port (or a protocol without ports) */
	uint16_t ext_port;         /* RULE_PORTMAP: the external port */
	struct in_addr ext_addr;   /* RULE_PORTMAP: 0 = the WAN address */
	struct in6_addr remote;    /* remote host filter (v4-mapped for IPv4) */
	uint8_t remote_len;        /* 0 = any remote host; 128 = exact (v4: 96 + prefix) */
	uint16_t remote_port;      /* 0 = any remote port */
	int64_t expires;           /* wall clock, unix seconds; 0 = never */
	uint32_t lease;            /* lease asked at the last add/refresh, seconds (0 = none) */
	enum rule_origin origin;
	struct in6_addr owner;     /* requester's address (v4-mapped for IPv4) */
	uint64_t packets;          /* from the kernel's per-element counters (see README: what the counter counts) */
	uint64_t bytes;
	/* byte-sized fields last, so no padding comes before desc */
	uint8_t owner_mac[6];      /* the requester's device when the LAN showed it (quotas count devices) */
	bool has_owner_mac;
	bool has_nonce;
	uint8_t nonce[RULE_NONCE_LEN];
	/* Last, so a copy can be kept in rule_used_size() bytes (most have no description; the store's
	 * loader does): such a copy is copied out with rule_copy, never by assignment. */
	char desc[RULE_DESC_MAX + 1];
};

/* Bytes of r up to and including its description's terminating NUL. */
size_t rule_used_size(const struct rule *r);
/* Copies rule_used_size(src) bytes of src into dst: dst is a whole struct rule, or a table rule with
 * room for that much. */
void rule_copy(struct rule *dst, const struct rule *src);

const char *rule_kind_name(enum rule_kind k);
const char *rule_origin_name(enum rule_origin o);
const char *rule_state_name(enum rule_state s);
const char *addr_kind_name(enum addr_kind k);
bool rule_origin_parse(const char *s, enum rule_origin *out);
/* Did an app ask for it (UPnP, PCP, NAT-PMP), rather than the household or the operator by hand? */
bool rule_origin_is_app(enum rule_origin o);
bool rule_kind_parse(const char *s, enum rule_kind *out);

/* Protocol names <-> numbers: "tcp", "udp", "any", or a decimal IANA number. */
const char *proto_name(uint16_t proto, char buf[8]);
bool proto_parse(const char *s, uint16_t *out);
/* Does the protocol carry 16-bit ports at the start of its header (tcp, udp, udplite, sctp, dccp)? */
bool proto_has_ports(uint16_t proto);

/* Checks a rule's own consistency (not policy): kind/address family, ports, protocol, description.
 * Returns NULL when fine, or a static message saying what is wrong. */
const char *rule_validate(const struct rule *r);

/* Descriptions come from clients (UPnP, PCP DESCRIPTION, the web) and end up in logs, in terminals
 * (igdctl list), in XML (SOAP) and JSON: control characters (C0, DEL, C1) become spaces, in place.
 * The core does it for every rule it takes, whoever sent it. */
void rule_scrub_desc(char desc[RULE_DESC_MAX + 1]);

/* The addresses a rule should be installed for right now (exact and/or resolved stable; deduplicated).
 * Returns how many (0..2) were written to out. */
size_t rule_addresses(const struct rule *r, struct in6_addr out[2]);

/* Text form used by the store: one line, no newline, fields key=value separated by spaces, values
 * %-escaped. rule_format returns the length written (excluding NUL) or -1 if buf is too small.
 * rule_parse is strict: unknown key, bad value or missing field -> false and a message in err. */
#define RULE_LINE_MAX 1536
int rule_format(const struct rule *r, char *buf, size_t len);
bool rule_parse(const char *line, size_t len, struct rule *out, char *err, size_t errlen);

#endif
