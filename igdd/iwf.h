/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iwf_: the UPnP IGD - PCP interworking function (RFC 6970) for a CPE behind a carrier-grade NAT.
 *
 * The upstream PCP server is the configured one (upstream_pcp_server), or else the WAN default gateway
 * (RFC 7488 default), probed once with an ANNOUNCE and left off if it does not answer. Every IPv4 port
 * mapping of ours is chained through it: the CPE's local DNAT maps its WAN port L to the LAN host, and a
 * PCP MAP (internal port L, from the CPE's WAN address) maps the CGN's external address:port to it.
 *
 * One path for every front end (RFC 6970: local mapping, then upstream, then answer): a front end makes
 * or refreshes the local rule through the core, then hands the rule to iwf_request (UPnP: waits on its
 * own libupnp thread) or iwf_submit (PCP / NAT-PMP: queued, answered later through a callback, so the
 * loop thread never waits on the upstream). Both run the same job: the upstream MAP, the exact-port
 * check, and when the upstream refuses or stays silent the rollback of a local rule the request made
 * (never a half mapping). Exchanges run one at a time (iwf.op) and never hold the core lock.
 *
 * Rules made elsewhere (web, igdctl, NAT-PMP) and the end of every rule reach the IWF as core events
 * (iwf_rule_event, from the core's post-commit on_change, under the core lock: it only queues and
 * wakes), not by polling the table. A dedicated thread takes the events (adopts new port mappings,
 * deletes the upstream mapping of a rule that expired or was deleted), refreshes upstream mappings at
 * 1/2..5/8 of their lifetime for as long as the local rule lives, checks the server's epoch (every
 * response, a periodic ANNOUNCE with backoff while it does not answer) and re-creates every mapping
 * after the server lost its state (at most once in PCP_CLIENT_RECREATE_MIN_GAP_MS). A second thread
 * runs the queued jobs, so they never wait behind a background exchange longer than their budget.
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

#include "firewall/core/core.h"
#include "pcpd/pcp_client.h"

/* UPnP callers: a CGN that is up answers in milliseconds, and a UPnP client stops reading long before the
 * 30 s UPnP limit (miniupnpc after 5 s), so the first request after the upstream went silent must hear
 * its 501 within 2 s: two tries, the second halfway (exchange). */
#define IWF_SYNC_WAIT_MS   1200u
#define IWF_PROXY_WAIT_MS  4000u  /* PCP proxy (queued; the LAN client retransmits meanwhile) */
#define IWF_QUEUE_MAX      1024u  /* queued jobs at most: more are answered "no answer" at once */
#define IWF_EVENTS_MAX     65536u /* core events waiting for the thread: more, and it reads the table once */
#define IWF_UNREACHABLE_WAIT_MS 500u  /* one try while the server is known to be silent */
#define IWF_CHECK_MS       5000u  /* ANNOUNCE epoch/liveness check while the server answers */
#define IWF_CHECK_MAX_S    30u    /* backoff cap while it does not */
#define IWF_HINT_MIN_MS    1000u  /* an unsolicited ANNOUNCE brings the next check forward at most this often */
#define IWF_NO_ANSWER      256    /* iwf_request: the server did not answer (not a PCP result) */

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

/* Makes the IWF (its sockets and nonce; no thread yet): the handle every front end is given. 0, or -1
 * (logged). */
int iwf_new(struct iwf **out, const struct iwf_params *p);
/* Starts its threads (after the privilege drop: a thread keeps the capabilities it was made with). */
int iwf_run(struct iwf *w);
/* iwf_new + iwf_run. */
int iwf_start(struct iwf **out, const struct iwf_params *p);
/* Stops the threads; upstream mappings are left to run out (the rules persist). Queued jobs are
 * answered "no answer" (their new local rules go again). NULL is fine. */
void iwf_stop(struct iwf *w);
/* Do IPv4 port mappings go upstream? (a server is configured or was found) */
bool iwf_active(struct iwf *w);

struct iwf_ext {
	struct in_addr addr;          /* the CGN's external address */
	uint16_t port;                /* the CGN's external port */
	uint32_t lifetime;            /* granted upstream lifetime, seconds */
	enum pcp_client_state state;
};

/* The upstream half of a port mapping whose local rule is committed (the one path, see above). */
struct iwf_req {
	uint32_t rule_id;             /* the local rule (internal port upstream = its ext_port) */
	struct in6_addr owner;        /* who asked (the rollback is done as the core's privileged caller) */
	bool made;                    /* this request made the local rule: refused or unanswered, it goes */
	uint16_t sugg_port;           /* the external port wanted on the CGN (0 = any) */
	bool prefer_failure;          /* that port or nothing (PCP PREFER_FAILURE, UPnP AddPortMapping) */
	bool exact;                   /* another port than sugg_port is CANNOT_PROVIDE_EXTERNAL even from a
				       * server that ignored PREFER_FAILURE (UPnP AddPortMapping: 718) */
	uint32_t wait_ms;             /* 0 = sync_wait_ms */
	bool peer;                    /* a LAN client's PCP PEER: relayed upstream as a PEER for this remote */
	struct in6_addr peer_addr;    /* peer (v4-mapped) */
	uint16_t peer_port;
};

/* Runs q on the calling thread: PCP_SUCCESS with out filled, a PCP result code, or IWF_NO_ANSWER.
 * A mapping that failed leaves nothing behind: a new local rule (made) is deleted again, unless an
 * upstream mapping of the rule already stood (another front end's, made meanwhile), and an upstream
 * mapping on another port than an exact request asked is deleted again if this request made it. */
int iwf_request(struct iwf *w, const struct iwf_req *q, struct iwf_ext *out);
/* The same, queued: done(arg, cookie, rc, ext) is called once, from the IWF's job thread (or from
 * this call when the queue is full or the IWF is stopping), without any lock held. */
typedef void iwf_done_fn(void *arg, uint64_t cookie, int rc, const struct iwf_ext *ext);
void iwf_submit(struct iwf *w, const struct iwf_req *q, iwf_done_fn *done, void *arg, uint64_t cookie);
/* Queued and running jobs of arg are still run (their rollbacks too) but arg hears nothing more; on
 * return no callback to arg runs or will run. For a front end that stops. */
void iwf_forget(struct iwf *w, void *arg);

/* A committed change of the rule table (the core's on_change, under the core lock, any thread): only
 * queued; the IWF thread adopts new port mappings of the front ends that do not map upstream
 * themselves (web, igdctl) and deletes the upstream mapping of a rule
 * that is gone. */
void iwf_rule_event(struct iwf *w, const struct rule *r, enum core_event ev);

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

/* The UPnP error code for an iwf_request result (RFC 6970 table; no answer = 501). */
int iwf_upnp_code(int rc, bool v1);

/* The PCP server's view of the IWF (pcpd/ cannot include igdd/): filled here, so a PCP proxy request
 * goes the same path as a UPnP one. */
struct pcp_upstream;
void iwf_pcp_upstream(struct iwf *w, struct pcp_upstream *out);

#endif
