/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iwf_: the UPnP IGD - PCP interworking function (RFC 6970) for a CPE behind a carrier-grade NAT.
 *
 * The upstream PCP server is the configured one (upstream_pcp_server), or else the WAN default gateway
 * (RFC 7488 default), probed once with an ANNOUNCE and left off if it does not answer. Every IPv4 port
 * mapping of ours is chained through it: the CPE's local DNAT maps its WAN port L to the LAN host, and a
 * PCP MAP (internal port L, from the CPE's WAN address) maps the CGN's external address:port to it.
 *
 * Threads: front ends call iwf_map / iwf_unmap from their own threads; these block for a bounded time
 * (one exchange, RFC 6887 retransmission, iwf_params.sync_wait_ms in all) and never hold the core lock
 * while they do. A dedicated thread refreshes upstream mappings at 1/2..5/8 of their lifetime for as long
 * as the local rule lives, checks the server's epoch (every response, a periodic ANNOUNCE with backoff
 * while it does not answer), re-creates every mapping after the server lost its state (at most once in
 * PCP_CLIENT_RECREATE_MIN_GAP_MS), adopts port mappings made by other front ends (web, igdctl, NAT-PMP)
 * and deletes the upstream mapping of a rule that expired or was deleted elsewhere.
 *
 * An unsolicited ANNOUNCE on port 5350 is only a hint: one from the server's address that arrived on
 * the WAN interface brings the next epoch check forward (at most once in IWF_HINT_MIN_MS), and only the
 * server's answer to that check counts. Anyone can put the server's address on a datagram; only the
 * server answers our own request on the port we sent it from.
 *
 * One mapping nonce per CPE (RFC 6887 11.1 allows one per server), kept in the store (core meta
 * "iwf_nonce"), so that after an igdd restart the restored rules refresh their upstream mappings.
 */
#ifndef IGDD_IWF_H
#define IGDD_IWF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core.h"
#include "pcpd/pcp_client.h"

/* UPnP callers: a CGN that is up answers in milliseconds, and a UPnP client stops reading long before the
 * 30 s UPnP limit (miniupnpc after 5 s), so the first request after the upstream went silent must hear
 * its 501 within 2 s: two tries, the second halfway (exchange). */
#define IWF_SYNC_WAIT_MS   1200u
#define IWF_PROXY_WAIT_MS  4000u  /* PCP proxy (on the loop thread): the LAN client retransmits itself */
#define IWF_UNREACHABLE_WAIT_MS 500u  /* one try while the server is known to be silent */
#define IWF_CHECK_MS       5000u  /* ANNOUNCE epoch/liveness check while the server answers */
#define IWF_CHECK_MAX_S    30u    /* backoff cap while it does not */
#define IWF_HINT_MIN_MS    1000u  /* an unsolicited ANNOUNCE brings the next check forward at most this often */
#define IWF_NO_ANSWER      256    /* iwf_map: the server did not answer (not a PCP result) */

struct iwf;

struct iwf_params {
	struct core *core;            /* required; outlives the IWF */
	bool has_server;              /* upstream_pcp_server given */
	struct in6_addr server;       /* v4-mapped for IPv4 */
	const char *ext_ifname;       /* the default gateway is looked up on it (NULL: any) */
	uint16_t server_port;         /* 0 = 5351 */
	uint16_t listen_port;         /* unsolicited ANNOUNCE; 0 = 5350 */
	uint32_t sync_wait_ms;        /* 0 = IWF_SYNC_WAIT_MS */
	bool send_descriptions;       /* a mapping's description goes upstream too (DESCRIPTION, RFC 7220) */
	/* the CGN's address became known or changed, or a mapping's external port changed (after a
	 * re-create): UPnP eventing, and the PCP / NAT-PMP ANNOUNCE to the LAN (igdd/main.c).
	 * Called from the IWF thread without any lock held. May be NULL. */
	void (*changed)(void *arg);
	void *changed_arg;
};

enum iwf_state {
	IWF_OFF = 1,        /* no upstream server: local mappings only */
	IWF_PROBING,        /* looking at the default gateway (requests are not sent upstream yet) */
	IWF_UP,             /* the server answers */
	IWF_UNREACHABLE,    /* it stopped answering: adds fail, retries with backoff */
};
const char *iwf_state_name(enum iwf_state s);

/* Starts the IWF thread. 0, or -1 (logged). */
int iwf_start(struct iwf **out, const struct iwf_params *p);
/* Stops the thread; upstream mappings are left to run out (the rules persist). NULL is fine. */
void iwf_stop(struct iwf *w);
/* Do IPv4 port mappings go upstream? (a server is configured or was found) */
bool iwf_active(struct iwf *w);

struct iwf_ext {
	struct in_addr addr;          /* the CGN's external address */
	uint16_t port;                /* the CGN's external port */
	uint32_t lifetime;            /* granted upstream lifetime, seconds */
	enum pcp_client_state state;
};

/* Maps rule r (an installed IPv4 port mapping; internal port = r->ext_port) upstream, or refreshes the
 * mapping it already has. sugg_port = the external port wanted on the CGN (0 = any); prefer_failure =
 * that port or nothing. PCP_SUCCESS with out filled, a PCP result code, or IWF_NO_ANSWER. A new mapping
 * that failed leaves nothing behind. Blocks at most wait_ms (0 = sync_wait_ms). */
int iwf_map(struct iwf *w, const struct rule *r, uint16_t sugg_port, bool prefer_failure, uint32_t wait_ms,
	    struct iwf_ext *out);
/* Deletes the upstream mapping of a rule (lifetime 0); forgets it even when the server does not answer
 * (it runs out there by itself). */
void iwf_unmap(struct iwf *w, uint32_t rule_id);
bool iwf_get(struct iwf *w, uint32_t rule_id, struct iwf_ext *out);
/* The rule whose upstream mapping has this external port. */
bool iwf_find_ext(struct iwf *w, uint16_t proto, uint16_t ext_port, uint32_t *rule_id);
/* The CGN's external address, once known. */
bool iwf_ext_addr(struct iwf *w, struct in_addr *out);

struct iwf_status {
	enum iwf_state state;
	char server[48];              /* "" when none */
	bool has_epoch;
	uint32_t epoch;               /* the server's epoch at its last answer, plus the time since */
	char ext_addr[16];            /* "" when unknown */
	size_t mappings, mapped;
	uint64_t recreated;           /* mappings made again after the server lost its state (not tries) */
	uint64_t resets;              /* times the server was seen to lose its state (one per restart) */
};
void iwf_status(struct iwf *w, struct iwf_status *st);

/* One upstream mapping, for status output. */
struct iwf_mapping {
	uint32_t rule_id;
	uint16_t proto, int_port;     /* int_port = the CPE's external port */
	struct iwf_ext ext;
};
/* Copies up to max mappings; returns how many there are in all. */
size_t iwf_list(struct iwf *w, struct iwf_mapping *out, size_t max);

/* Is a datagram to the unsolicited-ANNOUNCE port worth a look? Only from the server's address (src),
 * and only as it arrived on the WAN interface (in_ifname; "" unknown): a LAN host can send anything
 * with any source address to that port. No ext_ifname: nothing is. */
bool iwf_unsolicited_ok(const struct in6_addr *src, const char *in_ifname, const struct in6_addr *server,
			const char *ext_ifname);

/* The UPnP error code for an iwf_map result (RFC 6970 table; no answer = 501). */
int iwf_upnp_code(int rc, bool v1);

/* Front-end glue: the WANIPConnection handlers (soap_wanipc.c) consult this IWF; NULL = none. */
void soap_wanipc_set_iwf(struct iwf *w);
struct iwf *soap_wanipc_iwf(void);

#endif
