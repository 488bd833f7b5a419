/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PCP (RFC 6887, + RFC 7220 DESCRIPTION) and NAT-PMP (RFC 6886) server logic. No sockets:
 * a datagram, the address it came from and the time go in; the bytes to answer with come out, and
 * every change to the rule table goes through core.h. pcp_io.c moves the bytes.
 *
 *   MAP with an IPv6 internal address  -> an IPv6 pinhole (the firewall does not translate: the
 *                                         assigned external address:port is the internal one)
 *   MAP with an IPv4 internal address  -> an IPv4 port mapping on the WAN address
 *   PEER with an IPv6 internal address -> the same pinhole admitting only the remote peer's address
 *                                         and port (one outbound flow, kept open after conntrack
 *                                         forgot it)
 *   PEER with an IPv4 internal address -> an IPv4 port mapping admitting only the remote peer's
 *                                         address and port; on a CGN (pcpd with cgn_pool) on the
 *                                         subscriber's pool address and block, with the flow's own
 *                                         SNAT to the port answered, in the same transaction;
 *                                         behind an upstream PCP server relayed to it as a PEER
 *   ANNOUNCE                           -> SUCCESS with the current epoch
 *   NAT-PMP (version 0)                -> external address, map UDP/TCP, on the same rule table
 *
 * A PCP mapping is named by (internal address, protocol, internal port), a PEER by that and its peer:
 * the server finds a mapping by its name in the core (core_find_pcp), which keeps that index with the
 * table; the server keeps no state of its own about mappings (only its epoch and rate limits).
 */
#ifndef IGDD_PCP_SERVER_H
#define IGDD_PCP_SERVER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/core.h"
#include "pcpd/cgn.h"

#define PCP_SERVER_MAX_THIRD_PARTY 16
/* Error lifetimes (RFC 6887 7.4): how long the client should wait before asking again. */
#define PCP_SERVER_LONG_ERROR_S  1800
#define PCP_SERVER_SHORT_ERROR_S 30
/* Default per-client token bucket: a burst of 64 requests, then 32 a second. */
#define PCP_SERVER_RATE_BURST    64
#define PCP_SERVER_RATE_PER_S    32
#define PCP_SERVER_RATE_CLIENTS  4096  /* buckets kept at most; idle full ones are swept first */

struct pcp_server;

struct pcp_server_params {
	struct core *core;                /* required */
	/* The WAN IPv4 address mappings are reached at; false when there is none yet (answers
	 * NETWORK_FAILURE for IPv4). NULL = never an address (IPv6-only: only pinholes). */
	bool (*ext_addr)(void *arg, struct in_addr *out);
	void *ext_arg;
	/* Requesters allowed to use THIRD_PARTY (v4-mapped for IPv4), as prefixes. None = nobody. */
	struct in6_addr third_party[PCP_SERVER_MAX_THIRD_PARTY];
	uint8_t third_party_len[PCP_SERVER_MAX_THIRD_PARTY];
	size_t n_third_party;
	/* Token bucket per client address; rate_per_s 0 = the default; rate_off = no limit (benchmarks). */
	uint32_t rate_burst, rate_per_s;
	bool rate_off;
	bool natpmp_off;                  /* answer version 0 with UNSUPP_VERSION instead of serving it */
	/* CGN mode (pcpd): IPv4 mappings get the subscriber's pool address and a port of its block
	 * (cgn.h) instead of the WAN address; a full block is USER_EX_QUOTA, a subscriber without a
	 * block NO_RESOURCES, a requester outside the subscriber prefix NOT_AUTHORIZED. NULL = CPE. */
	const struct cgn *cgn;
	/* The external endpoint the connection tracker already gave a running outbound IPv4 flow
	 * (ct_flow.h), so a PEER for it names the port the flow really has. NULL or false: none. */
	bool (*flow_ext)(void *arg, struct in_addr internal, uint16_t int_port, struct in_addr remote,
			 uint16_t remote_port, uint8_t proto, struct in_addr *ext, uint16_t *ext_port);
	void *flow_arg;
};

/* The PCP proxy (RFC 7648 in spirit): when a CPE sits behind an upstream PCP server (igdd's
 * interworking function, igdd/iwf.c, which fills this: iwf_pcp_upstream), every IPv4 port mapping a LAN
 * host makes or refreshes here is also mapped upstream, and the host is told the upstream's external
 * address and port. The local half is decided and committed here as for any request (inside the
 * group's core batch); the upstream half is a job the IWF runs on its own thread, and the answer
 * leaves once it is done (pcp_server_msg.upstream, pcp_server_upstream_answer): nothing here waits on
 * the upstream. A deleted or expired mapping reaches the IWF as a core event. */
struct pcp_upstream_job {
	uint32_t rule_id;                 /* the committed local rule */
	struct in6_addr owner;
	bool made;                        /* the request made it: refused or unanswered upstream, it goes */
	uint16_t sugg_port;               /* the external port wanted upstream (0 = any) */
	bool prefer_failure;
	uint32_t lifetime;                /* granted locally: the answer's */
	bool peer;                        /* a PEER: relayed upstream as a PEER to this remote peer */
	struct in6_addr peer_addr;
	uint16_t peer_port;
};
struct pcp_upstream_answer {
	uint8_t result;                   /* a PCP result (no answer: NETWORK_FAILURE) */
	struct in_addr ext_addr;          /* on success: the upstream's external address and port */
	uint16_t ext_port;
};
/* Called once per submitted job, on any thread, without locks held. */
typedef void pcp_upstream_done_fn(void *done_arg, uint64_t cookie, const struct pcp_upstream_answer *a);
struct pcp_upstream {
	bool (*active)(void *arg);
	void (*submit)(void *arg, const struct pcp_upstream_job *job, pcp_upstream_done_fn *done, void *done_arg,
		       uint64_t cookie);
	/* done_arg hears nothing more (its jobs still run); on return no callback to it runs */
	void (*forget)(void *arg, void *done_arg);
	/* the upstream external port of a rule, if it has one */
	bool (*ext_of)(void *arg, uint32_t rule_id, struct in_addr *ext_addr, uint16_t *ext_port);
	/* the upstream's external address, once known (NAT-PMP's public address answer); NULL = none */
	bool (*ext_addr)(void *arg, struct in_addr *out);
	void *arg;
};
/* Copies the hook (NULL = none). */
void pcp_server_set_upstream(struct pcp_server *s, const struct pcp_upstream *u);
/* Is the proxy on now (a hook set, no CGN, the upstream server active)? */
bool pcp_server_upstream_on(const struct pcp_server *s);
/* Hands a job (pcp_server_msg.job) to the upstream; without one, done hears NETWORK_FAILURE at once. */
void pcp_server_upstream_submit(struct pcp_server *s, const struct pcp_upstream_job *job, pcp_upstream_done_fn *done,
				void *done_arg, uint64_t cookie);
/* See pcp_upstream.forget; no hook: nothing to do. */
void pcp_server_upstream_forget(struct pcp_server *s, void *done_arg);
/* The datagram pcp_server_handle (or _handle_asked) just took got no answer yet: its local half is made
 * and committed (outside a group: a batch of one), its upstream half is job. */
bool pcp_server_upstream_pending(const struct pcp_server *s, struct pcp_upstream_job *job);
/* The answer to a request whose upstream half is done: the same datagram (in, len, src) and its job
 * again, with the upstream's answer. Writes the answer to out and returns its length. */
size_t pcp_server_upstream_answer(struct pcp_server *s, const uint8_t *in, size_t len, const struct in6_addr *src,
				  const struct pcp_upstream_job *job, const struct pcp_upstream_answer *a,
				  uint64_t now_ms, uint8_t *out, size_t cap);

struct pcp_server_stats {
	uint64_t requests, replies, dropped, rate_limited;
	uint64_t maps_added, maps_refreshed, maps_deleted;
	uint64_t nonces_replaced;         /* a mapping's own host came with a new nonce (core_renonce) */
	uint64_t errors[16];              /* by PCP result code (NAT-PMP results counted as PCP ones) */
};

/* now_ms is monotonic milliseconds (loop_now_ms()); the epoch starts there. The PCP / NAT-PMP rules
 * the core already holds (restored from the store) are found by name at once. */
struct pcp_server *pcp_server_new(const struct pcp_server_params *p, uint64_t now_ms);
void pcp_server_free(struct pcp_server *s);

/*
 * One datagram received on port 5351 from src (v4-mapped for IPv4) at now_ms. Writes the answer
 * to out (cap >= PCP_MAX_MSG) and returns its length; 0 = send nothing (a response, a runt, a
 * client over its rate). Never fails on bad input: bad input is a PCP result code.
 */
size_t pcp_server_handle(struct pcp_server *s, const uint8_t *in, size_t len, const struct in6_addr *src,
			 uint64_t now_ms, uint8_t *out, size_t cap);

/* The datagram pcp_server_handle just took got no answer yet: it asks for a mapping whose requester
 * or internal address the LAN has not shown (the core is asking, V_ASKING). Fills the two addresses it
 * waits for; the caller hands the same datagram to pcp_server_handle_asked once
 * core_addresses_known() says so or CORE_ASK_WAIT_MS passed (the client would retransmit after 3 s). */
bool pcp_server_deferred(const struct pcp_server *s, struct in6_addr addrs[2]);
size_t pcp_server_handle_asked(struct pcp_server *s, const uint8_t *in, size_t len, const struct in6_addr *src,
			       uint64_t now_ms, uint8_t *out, size_t cap);

/* One datagram of a group (pcp_server_handle_group), and its answer. */
struct pcp_server_msg {
	const uint8_t *in;
	size_t len;
	struct in6_addr src;              /* v4-mapped for IPv4 */
	uint8_t *out;                     /* room for the answer, cap >= PCP_MAX_MSG */
	size_t cap;
	size_t out_len;                   /* set: the answer's length, 0 = send nothing */
	bool deferred;                    /* set: no answer yet, see pcp_server_deferred */
	bool upstream;                    /* set: no answer yet, its upstream half (job) is to be submitted
					   * once the batch committed (pcp_server_upstream_submit) */
	struct pcp_upstream_job job;
	struct in6_addr wait_for[2];      /* set when deferred: the addresses it waits for */
	bool hung_on_batch;               /* internal: a success that holds only if the batch commits */
};

/*
 * Many datagrams at once (what one wake-up read, from many clients), as pcp_server_handle each, in one
 * core batch: one journal sync and one firewall transaction for all, answers valid once it commits.
 * If the batch cannot commit, the requests whose success hung on it are run again one by one, so a
 * request the firewall refuses costs only its sender (NO_RESOURCES), not everyone it shared the batch
 * with; a retry is not counted against the client's rate again. A request with an upstream half
 * (the PCP proxy) comes back with upstream set: its local half is in the batch, its answer waits.
 */
void pcp_server_handle_group(struct pcp_server *s, struct pcp_server_msg *m, size_t n, uint64_t now_ms);

/* The server lost its state or its external address changed: the epoch starts again at 0. */
void pcp_server_reset_epoch(struct pcp_server *s, uint64_t now_ms);
uint32_t pcp_server_epoch(const struct pcp_server *s, uint64_t now_ms);

/* The unsolicited ANNOUNCE response (RFC 6887 14.1.3) for the multicast groups, port 5350. */
size_t pcp_server_announce(const struct pcp_server *s, uint64_t now_ms, uint8_t *out, size_t cap);
/* The NAT-PMP external address announcement (RFC 6886 3.2.1), for 224.0.0.1:5350. 0 if no address. */
size_t pcp_server_natpmp_announce(const struct pcp_server *s, uint64_t now_ms, uint8_t *out, size_t cap);

void pcp_server_stats(const struct pcp_server *s, struct pcp_server_stats *out);

/* The PCP result a core verdict is rendered as (prefer_failure: the exact port was asked for). */
uint8_t pcp_server_result_of(enum verdict v, bool prefer_failure);

#endif
