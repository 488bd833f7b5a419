/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PCP / NAT-PMP service on the LAN: UDP sockets on port 5351 (one IPv4, one IPv6), registered
 * with the process's loop; requests go to pcp_server.c, the answer goes back from the address the
 * request was sent to (IP_PKTINFO / IPV6_PKTINFO). Requests arriving on other interfaces than the
 * LAN ones are dropped. On start, and whenever the external IPv4 address changes (the epoch then
 * restarts), the unsolicited ANNOUNCE is multicast on every LAN interface to 224.0.0.1:5350 (from each
 * IPv4 address of the interface, the VRRP one too) and [ff02::1]:5350 (with the NAT-PMP external
 * address announcement on IPv4), ten times at intervals
 * doubling from 250 ms (RFC 6886 3.2.1 timing, which RFC 6887 14.1.3 follows).
 *
 * Decisions stay in pcp_server.c; this file does I/O and does not decide.
 */
#ifndef IGDD_PCP_IO_H
#define IGDD_PCP_IO_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/core.h"
#include "firewall/nft/fw.h"
#include "firewall/runtime/loop.h"
#include "firewall/runtime/netif.h"
#include "pcpd/pcp_server.h"

#define PCP_IO_ANNOUNCE_COUNT 10
#define PCP_IO_ANNOUNCE_FIRST_MS 250
#define PCP_IO_ANNOUNCE_MAX_SRC 8   /* IPv4 addresses per LAN interface an ANNOUNCE is sent from */

struct pcp_service;

struct pcp_service_params {
	struct loop *loop;                          /* required */
	struct core *core;                          /* required */
	char lan_ifname[FW_MAX_IFNAMES][16];        /* interfaces requests are accepted on (at least one) */
	size_t n_lan;
	/* The external IPv4 address: either a getter (false = none yet) or, when it is NULL, the first
	 * IPv4 address of wan_ifname as the host's interface facts say (ifaces, devwatch_netif; looked at
	 * at most once a second). Both empty: IPv6 only. */
	bool (*ext_addr)(void *arg, struct in_addr *out);
	void *ext_arg;
	char wan_ifname[16];
	const struct netif *ifaces;                 /* must outlive the service; NULL = no WAN address */
	/* Requesters allowed to use THIRD_PARTY, as prefixes (v4-mapped for IPv4). */
	struct in6_addr third_party[PCP_SERVER_MAX_THIRD_PARTY];
	uint8_t third_party_len[PCP_SERVER_MAX_THIRD_PARTY];
	size_t n_third_party;
	uint32_t rate_burst, rate_per_s;            /* 0 = defaults (64, 32/s) */
	bool rate_off;                              /* no per-client limit (benchmarks) */
	bool natpmp_off;
	uint16_t port;                              /* 0 = 5351; tests may pick another */
	uint16_t announce_port;                     /* 0 = 5350 */
	bool no_announce;                           /* do not multicast ANNOUNCE on start */
	const struct cgn *cgn;                      /* CGN mode (pcpd); NULL = CPE. Must outlive the service. */
	/* The upstream PCP server a CPE's IPv4 mappings are chained through (igdd's IWF: iwf_pcp_upstream;
	 * copied; its arg must outlive the service). A request with an upstream half is answered from the
	 * loop once that half is done; its retransmissions meanwhile are dropped. NULL = none. */
	const struct pcp_upstream *upstream;
};

/* Opens the sockets, registers them with the loop and schedules the start-up ANNOUNCE.
 * 0, or -1 with errno set and a log line saying why (nothing left open). */
int pcp_service_start(struct pcp_service **out, const struct pcp_service_params *p);
/* Unregisters and closes everything; NULL is fine. */
void pcp_service_stop(struct pcp_service *s);
/* The mapping state was lost or the external address changed by other means than the service
 * notices itself: the epoch restarts and the ANNOUNCE burst is sent again. */
void pcp_service_state_lost(struct pcp_service *s);
struct pcp_server *pcp_service_server(struct pcp_service *s);

struct conf;
/* Starts the service as the config file says (LAN/WAN interfaces, NAT-PMP, rate limit, THIRD_PARTY
 * requesters, and CGN mode when cgn_pool lines are given): the one start-up igdd and pcpd share. ifaces:
 * the host's interface facts (devwatch_netif), where the WAN address is read; upstream: the RFC 6970
 * interworking function (igdd), NULL for none. */
int pcp_service_start_conf(struct pcp_service **out, struct loop *loop, struct core *core, const struct conf *c,
			   const struct netif *ifaces, const struct pcp_upstream *upstream);

#endif
