/* SPDX-License-Identifier: GPL-2.0-or-later */
/* names: the names a router already knows for the devices on its LAN, read from what others wrote or
 * sent: the lease files of the DHCP servers (dnsmasq, odhcpd) and mDNS/DNS-SD announcements on the
 * link. Pure parsing, no I/O (devwatch.c reads the files and the socket): every input is hostile (a
 * host picks its own DHCP hostname and mDNS records), so lengths are checked before bytes are read, and
 * every name comes out as displayable text: valid UTF-8 without control or format characters, anything
 * else escaped as \xNN, at most DEVICE_NAME_MAX bytes (device_name_valid accepts it). */
#ifndef IGDD_NAMES_H
#define IGDD_NAMES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/device.h"

#define NAMES_LEASE_ADDRS  4      /* addresses kept per lease line (odhcpd lists every one of an IA) */
#define NAMES_LEASES_MAX   4096   /* lease lines taken from one file; the rest are ignored */
#define NAMES_LEASE_FILE_MAX (1024 * 1024)   /* bytes of a lease file read */
#define NAMES_LINE_MAX     1024   /* a longer line is not a lease */

/* Bytes -> displayable text in out (always NUL-terminated). Characters device_name_valid would refuse
 * (controls, bidirectional overrides, broken UTF-8) and the backslash become \xNN; the text is cut on a
 * character boundary at DEVICE_NAME_MAX bytes. Returns strlen(out). */
size_t names_clean(const void *in, size_t len, char out[DEVICE_NAME_MAX + 1]);

/* One line of a lease file. A lease names a device by MAC (DHCPv4) or by address (DHCPv6: DUIDs are
 * not MACs, and the address is what the device table knows). */
struct names_lease {
	bool has_mac;
	uint8_t mac[6];
	size_t naddrs;
	struct in6_addr addr[NAMES_LEASE_ADDRS];   /* IPv4 as ::ffff:a.b.c.d */
	char name[DEVICE_NAME_MAX + 1];
};

enum names_lease_format {
	NAMES_DNSMASQ = 0,   /* dnsmasq's dhcp-leasefile */
	NAMES_ODHCPD,        /* odhcpd's leasefile (OpenWrt): "# ..." lease lines and hosts lines */
};

/* One line (without its newline) -> 1 a named lease in *out, 0 nothing to take (no hostname, the
 * server's DUID line, a comment, an expired lease when now > 0), -1 not a line of that format. */
int names_lease_line(enum names_lease_format fmt, const char *line, size_t len, int64_t now,
		     struct names_lease *out);
/* A whole file: cb for each named lease (at most NAMES_LEASES_MAX). Returns how many, or -1 when the
 * text is longer than NAMES_LEASE_FILE_MAX. Malformed lines are skipped and counted in *bad. */
typedef void (*names_lease_cb)(void *arg, const struct names_lease *l);
long names_leases_parse(enum names_lease_format fmt, const char *text, size_t len, int64_t now,
			names_lease_cb cb, void *arg, size_t *bad);

/* ---- mDNS (RFC 6762) / DNS-SD (RFC 6763) ---- */
#define NAMES_MDNS_PORT      5353
#define NAMES_MDNS_MAX_RRS   64     /* records read from one message; the rest are ignored */
#define NAMES_MDNS_MAX_HOPS  16     /* compression pointers followed within one name */

enum names_mdns_kind {
	NAMES_MDNS_HOST_ADDR = 0,   /* host.local A/AAAA addr, or the reverse PTR addr -> host.local */
	NAMES_MDNS_SERVICE,         /* instance._svc._proto.local SRV -> host.local (port) */
};
struct names_mdns_record {
	enum names_mdns_kind kind;
	char host[DEVICE_NAME_MAX + 1];       /* the host's label, without ".local" (cleaned) */
	struct in6_addr addr;                 /* HOST_ADDR: IPv4 as ::ffff:a.b.c.d */
	char instance[DEVICE_NAME_MAX + 1];   /* SERVICE: the instance's label, e.g. "Living Room" (cleaned) */
	uint16_t port;                        /* SERVICE */
	uint32_t ttl;                         /* 0: a goodbye (the record is withdrawn) */
};
/* A message received on port 5353. Only responses are read (QR set, opcode 0, rcode 0): a query's
 * known-answer records are about other hosts. cb for each A, AAAA, reverse PTR and SRV record naming a
 * host in .local (at most NAMES_MDNS_MAX_RRS records are looked at). Returns how many records went to
 * cb, or -1 for a malformed message (short, bad name, pointer loop, records past the end). */
typedef void (*names_mdns_cb)(void *arg, const struct names_mdns_record *r);
int names_mdns_parse(const uint8_t *msg, size_t len, names_mdns_cb cb, void *arg);

#endif
