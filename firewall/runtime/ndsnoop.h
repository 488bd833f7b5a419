/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What LAN hosts say about their own addresses on the link, heard with a packet socket: hosts announce
 * every address they configure (Duplicate Address Detection: a neighbour solicitation from :: for the
 * tentative address, RFC 4862 5.4), advertise them (neighbour advertisements naming their own MAC) and
 * send from them (solicitations with a source address). The router's neighbour table hears none of the
 * first, and a stable address that never sends a packet of its own is only ever seen this way (or by
 * asking: devwatch solicits an address a request names).
 *
 * ndsnoop_parse is pure and fuzzed (tests/fuzz/fuzz_ndsnoop.c): hostile bytes from any LAN host, checked
 * length by length, checksum included. The socket part opens one packet socket for every interface (it
 * needs CAP_NET_RAW, so it is opened before the privilege drop: a LAN bridge made later is heard too)
 * with a kernel filter that passes only ICMPv6 neighbour solicitations and advertisements. */
#ifndef IGDD_NDSNOOP_H
#define IGDD_NDSNOOP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum nd_claim_kind {
	ND_CLAIM_NONE = 0,
	ND_CLAIM_DAD,      /* the host is configuring addr (its DAD probe) */
	ND_CLAIM_ADVERT,   /* the host advertises addr as its own */
	ND_CLAIM_SPEAK,    /* the host sent a solicitation from addr */
};

struct nd_claim {
	enum nd_claim_kind kind;
	struct in6_addr addr;
	uint8_t mac[6];    /* the frame's source MAC: who speaks (never an option's word alone) */
};

/* pkt: an IPv6 packet as a SOCK_DGRAM packet socket hands it (from the IPv6 header on), len bytes;
 * src_mac: the Ethernet source of the frame. Returns true with *out filled when the packet is a
 * well-formed neighbour solicitation or advertisement (hop limit 255, code 0, valid checksum, options
 * well formed) that tells something about one of the sender's addresses; a link-layer option naming
 * another MAC than the frame's source makes it tell nothing. */
bool ndsnoop_parse(const uint8_t *pkt, size_t len, const uint8_t src_mac[6], struct nd_claim *out);

/* The socket: non-blocking, close-on-exec, filtered in the kernel; -1 with errno. */
int ndsnoop_open(void);
/* Reads up to max waiting frames; for each claim heard on an interface, cb(arg, ifindex, claim).
 * Returns frames read (>= 0), or -1 with errno (other than EAGAIN). */
int ndsnoop_read(int fd, size_t max, void (*cb)(void *arg, int ifindex, const struct nd_claim *c), void *arg);

#endif
