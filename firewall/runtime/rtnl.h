/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rtnetlink listener (libmnl): neighbour entries (IPv6 and IPv4, with MACs) on the LAN interfaces go into
 * the device table; link and address events of the LAN interfaces (ours) go into the LAN facts
 * (lanif.h), those of every interface into the host's interface facts (netif.h), and our global IPv6
 * addresses are also handed to a prefix callback. It reports; it does not decide (what counts as a prefix
 * change is prefix.c's / the core's job). Also the one-shot neighbour-table question for builds without a
 * device table (rtnl_same_device_neigh). */
#ifndef IGDD_RTNL_H
#define IGDD_RTNL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/device.h"
#include "firewall/runtime/lanif.h"
#include "firewall/runtime/netif.h"

#define RTNL_MAX_IFS 8

struct rtnl_params {
	/* The LAN interfaces, by name (they may appear later); links and addresses update it. NULL = every
	 * interface counts as LAN and nothing is recorded (tests). */
	struct lanif_set *lan;
	/* Every interface's links and addresses, whatever lan says (the WAN's, the loopback's...). May be NULL. */
	struct netif *host;
	struct device_table *devices;    /* required */
	/* One of our global or ULA IPv6 addresses on a LAN interface appeared/changed (added true) or left.
	 * prefix is the address masked to its prefix length; facts carry lifetimes and flags. May be NULL. */
	void (*on_prefix)(void *arg, int ifindex, const struct in6_addr *addr, const struct in6_addr *prefix,
			  uint8_t len, bool added, const struct addr_facts *facts);
	void *arg;
	int64_t (*clock)(void *arg);     /* wall clock, unix seconds; NULL = time(NULL) */
	void *clock_arg;
};

struct rtnl;

/* Opens and subscribes (links, neighbours, IPv4 and IPv6 addresses). NULL + errno on failure. */
struct rtnl *rtnl_open(const struct rtnl_params *p);
void rtnl_close(struct rtnl *r);
/* Non-blocking fd for the event loop. */
int rtnl_fd(const struct rtnl *r);
/* Initial dump of links, addresses, then neighbours, fed like events. 0, or -1 with errno. */
int rtnl_dump(struct rtnl *r);
/* Drains what is readable. Returns messages handled (>= 0), or -1 with errno (ENOBUFS: events were
 * lost, the caller should rtnl_dump again). */
int rtnl_read(struct rtnl *r);

/* Same device by the kernel's neighbour table (same MAC; an EUI-64 IID counts as its MAC), asked with a
 * dump on a netlink socket of its own: any thread, no listener needed. Shaped for core_params.same_device
 * (arg unused) where no device table exists. Local netlink only, no client I/O: fine under the core lock. */
bool rtnl_same_device_neigh(void *arg, const struct in6_addr *a, const struct in6_addr *b);

#endif
