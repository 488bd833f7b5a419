/* SPDX-License-Identifier: GPL-2.0-or-later */
/* devwatch: the glue that keeps the core's view of the LAN current. It owns the device table and the
 * rtnetlink listener, runs them on the daemon's loop, feeds the table under the core's lock, asks the
 * core to install pending rules when devices show new addresses, and turns prefix decisions
 * (prefix.c) into core_reanchor() calls. It decides nothing itself.
 *
 * Order of use: devwatch_new (opens rtnetlink, dumps addresses and neighbours: the table and the current
 * prefixes are known before any rule is restored) -> core_new with devwatch_devices() ->
 * devwatch_prepare_core (compares the prefixes the store remembers with today's: a change while we were
 * down is re-anchored by core_start) -> core_start -> devwatch_start (loop). */
#ifndef IGDD_DEVWATCH_H
#define IGDD_DEVWATCH_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/core.h"
#include "firewall/runtime/loop.h"
#include "firewall/runtime/rtnl.h"

#define DEVWATCH_AGE_MS 1000   /* re-judging addresses (persistence makes them stable) and forgetting */

struct devwatch_params {
	char lan_ifname[LANIF_MAX_IFS][LANIF_NAME_MAX];
	size_t n_lan;
	int64_t stable_after, forget_after;   /* seconds; 0 = device.h defaults */
	/* The LAN interfaces are links hosts sit on (igdd): targets and requesters are bounded by their
	 * subnets (core_set_lan). pcpd's subscribers are routed, so it leaves this off. */
	bool lan_bounds_policy;
	/* Told on the loop thread whenever the LAN interfaces' links or addresses changed (and once at
	 * devwatch_start): front ends that bind to the LAN follow it. May be NULL. */
	void (*on_lan)(void *arg, const struct lanif_set *lan);
	void *lan_arg;
};

struct devwatch;

/* NULL + errno when rtnetlink cannot be opened or the device table not allocated. A LAN interface that
 * does not exist yet is waited for (a bridge made after us). */
struct devwatch *devwatch_new(const struct devwatch_params *p);
void devwatch_free(struct devwatch *dw);
struct device_table *devwatch_devices(struct devwatch *dw);
/* The LAN interfaces as last reported (loop thread only). */
const struct lanif_set *devwatch_lan(const struct devwatch *dw);
/* Every interface of the host, its links and addresses (netif.h), current from the dump in devwatch_new
 * on: any thread may ask it, for as long as the devwatch lives. NULL when dw is. */
const struct netif *devwatch_netif(const struct devwatch *dw);
/* Before core_start: loads the household's device entries (core_load_device_names), and a LAN prefix
 * that differs from the one the store remembers is handed to core_set_start_reanchor (one per start;
 * several LAN interfaces renumbered at once: the first). */
void devwatch_prepare_core(struct devwatch *dw, struct core *c);
/* Registers with the loop, writes the current prefixes to the store. 0 or -1. */
int devwatch_start(struct devwatch *dw, struct core *c, struct loop *l);

/* Asks the LAN about address a (core_params.ask): the kernel sends a neighbour solicitation (ARP for
 * IPv4) on the LAN interface whose subnet holds it, and the answer reaches the device table through
 * rtnetlink. Any thread; never blocks; at most once a second per address and DEVWATCH_ASK_PER_S in all
 * (an app naming random addresses cannot make the router flood the LAN). */
#define DEVWATCH_ASK_PER_S 100
void devwatch_ask(void *arg, const struct in6_addr *a);
/* Frames of neighbour discovery read per second at most (a flood of made-up hosts costs bounded CPU;
 * past it the kernel drops what the socket cannot hold). */
#define DEVWATCH_SNOOP_PER_S 2000

#endif
