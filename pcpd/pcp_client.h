/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pcp_client_: the pure parts of a PCP client (RFC 6887 client side), used by the IGD-PCP
 * interworking function (igdd/iwf.c, RFC 6970). No sockets, no clock, no randomness of its own:
 * the caller passes the time and the random numbers, so every rule here is unit-tested.
 *
 *   retransmission   RFC 6887 8.1.1: IRT 3 s, MRT 1024 s, RT = 2*RTprev*(1+RAND), RAND in [-0.1,+0.1]
 *   renewal          RFC 6887 11.2.1: first renewal at a random point in [1/2, 5/8] of the lifetime,
 *                    never more often than every 4 s
 *   epoch check      RFC 6887 8.5: server lost its state -> re-create every mapping
 *   matching         a response belongs to a request: opcode, nonce, protocol, internal port
 *   error mapping    RFC 6970: PCP result -> UPnP IGD error code (IGD:1 and IGD:2 columns)
 *   state names      one upstream mapping: mapped -> renewing -> (lost | failed) -> mapped
 */
#ifndef IGDD_PCP_CLIENT_H
#define IGDD_PCP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "pcpd/pcp_wire.h"

#define PCP_CLIENT_IRT_MS   3000u     /* initial retransmission time */
#define PCP_CLIENT_MRT_MS   1024000u  /* maximum retransmission time */
#define PCP_CLIENT_MIN_RENEW_S 4u     /* never refresh more often than this */
/* An UNSOLICITED ANNOUNCE (or a failed epoch check) -> wait a random 0..5 s, then re-create. */
#define PCP_CLIENT_RECREATE_MAX_MS 5000u
/* ... but re-create every mapping at most once in this time: a forged response that gets through
 * (or a flapping server) cannot make the client hammer the server with its whole table. */
#define PCP_CLIENT_RECREATE_MIN_GAP_MS 30000u

/* The next retransmission timeout. prev_ms 0 = the first transmission. rand_pm is RAND in
 * thousandths, clamped to [-100, +100]. */
uint32_t pcp_client_rt_ms(uint32_t prev_ms, int rand_pm);

/* Seconds after a successful MAP with this granted lifetime when the mapping is renewed.
 * rand_pm in [0, 1000] picks the point in [1/2, 5/8] of the lifetime; at least 4 s. attempt 0 is the
 * first renewal; each unanswered one moves to [3/4, 3/4+1/16], [7/8, 7/8+1/32] ... of the lifetime. */
uint32_t pcp_client_renew_s(uint32_t lifetime, unsigned attempt, unsigned rand_pm);

/* Epoch tracking for one server (RFC 6887 8.5). */
struct pcp_client_epoch {
	bool valid;                /* a previous response was seen */
	uint64_t prev_client_s;    /* our clock (monotonic seconds) at that response */
	uint32_t prev_server;      /* its Epoch Time */
	uint64_t prev_arrival_ms;  /* when that response arrived (pcp_client_epoch_arrived) */
};
/* Checks a response's epoch at our time now_s and records it. false = the server lost its state
 * (every mapping must be re-created). The first response is always fine. */
bool pcp_client_epoch_check(struct pcp_client_epoch *e, uint32_t server_epoch, uint64_t now_s);

enum pcp_client_epoch_verdict {
	PCP_CLIENT_EPOCH_FINE,
	PCP_CLIENT_EPOCH_LOST,    /* the server lost its state */
	PCP_CLIENT_EPOCH_STALE,   /* arrived before the response last judged: says nothing newer */
};
/* pcp_client_epoch_check at the time the response arrived (monotonic ms, from the kernel's receive
 * timestamp), not when a busy thread got to read it: a response or announcement that sat in a socket
 * queue, or that another thread judges later, is put where it belongs in time. One that arrived before
 * the response the epoch was last judged by is STALE and not recorded, so the old server's last answer
 * read after the restarted one's first cannot look like a second restart. */
enum pcp_client_epoch_verdict pcp_client_epoch_arrived(struct pcp_client_epoch *e, uint32_t server_epoch,
							uint64_t arrival_ms);

/* When to re-create every mapping after a loss of state seen at now_ms: jitter_ms (0..5 s) later, but
 * not before PCP_CLIENT_RECREATE_MIN_GAP_MS after the previous re-creation (at last_ms, if any); a
 * re-creation still to come (last_ms >= now_ms) takes this loss along. */
uint64_t pcp_client_recreate_at(uint64_t now_ms, uint32_t jitter_ms, bool have_last, uint64_t last_ms);

/* Does resp answer req? (opcode; for MAP/PEER nonce, protocol and internal port.) */
bool pcp_client_match(const struct pcp_request *req, const struct pcp_response *resp);

/* A MAP request. client = our address as the server sees it (v4-mapped); lifetime 0 = delete. */
void pcp_client_map_request(struct pcp_request *req, const struct in6_addr *client,
			    const uint8_t nonce[PCP_NONCE_LEN], uint8_t protocol, uint16_t int_port,
			    uint16_t sugg_port, const struct in6_addr *sugg_addr, uint32_t lifetime,
			    bool prefer_failure, const char *desc);
void pcp_client_announce_request(struct pcp_request *req, const struct in6_addr *client);

/* RFC 6970 error mapping: the UPnP error code for a PCP result (0 for SUCCESS). v1 = the control
 * point spoke IGD:1 (which lacks 606 and 728). any_port = AddAnyPortMapping. */
int pcp_client_upnp_error(uint8_t result, bool v1);

/* Named states of one upstream mapping (the UI shows the name). */
enum pcp_client_state {
	PCP_CLIENT_MAPPED = 1,     /* the server holds it */
	PCP_CLIENT_RENEWING,       /* a renewal went unanswered; retrying before it runs out */
	PCP_CLIENT_LOST,           /* the server lost its state (epoch, ANNOUNCE): to be re-created */
	PCP_CLIENT_FAILED,         /* the server refused or cannot be reached: retried with backoff */
};
const char *pcp_client_state_name(enum pcp_client_state s);

/* What happened to a mapping -> its next state (the one transition function). */
enum pcp_client_event {
	PCP_CLIENT_EV_OK = 1,      /* a SUCCESS response */
	PCP_CLIENT_EV_TIMEOUT,     /* no answer (or unreachable) */
	PCP_CLIENT_EV_REFUSED,     /* an error result */
	PCP_CLIENT_EV_EPOCH,       /* the server lost its state */
};
enum pcp_client_state pcp_client_next(enum pcp_client_state s, enum pcp_client_event ev);

/* Backoff for retries of a failed mapping or an unreachable server: 4 s doubling, at most cap_s. */
uint32_t pcp_client_backoff_s(unsigned fails, uint32_t cap_s);

#endif
