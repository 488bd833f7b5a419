/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core: the one owner of the rule table. Every front end (UPnP, PCP, web, igdctl) ends in one
 * of these entry points. Each takes the core's single lock, decides through policy, makes the change
 * durable in the store, then commits it to the firewall backend in one transaction, and only then
 * returns. A front end with many requests at once (PCP) groups them in a batch instead: one journal
 * sync and one transaction for all. Nothing here does network I/O to a client.
 *
 * Locks of the daemons, in the order a thread may take them (never the other way round):
 *   1. igdd/upnp_device.c ctl_mu (the supervisor's state; released before it takes sdk_lock),
 *      then sdk_lock (libupnp's handles: written to stop or start libupnp, read to send GENA events;
 *      SOAP threads hold neither, so stopping libupnp can wait for them);
 *   2. this core's devices_mu (core_devices.c: the household's device entries, one change at a
 *      time: it calls the core's entry points holding it);
 *   3. this core's lock (recursive; the device table is read and fed only under it). Under it the core
 *      calls on_change, after a change committed, which may take only leaf locks (upnp ev_lock, iwf
 *      qmu: igdd's interworking function hears the change as a queued event); on_reanchor and ask are
 *      called after it is released. Nothing waits on the network under it (the PCP proxy's upstream
 *      half runs after the batch, on the interworking function's job thread). A group's journal sync
 *      and transaction run with it released (core_priv.h "Pipelined"): the core's members_mu, taken
 *      under it or alone, is a leaf (a member waits for its group on it without the core's lock);
 *   4. igdd/iwf.c op (one upstream exchange at a time), then its mu: the interworking threads (and a
 *      UPnP thread in iwf_request) call the core holding neither;
 *   5. firewall/runtime/api.c upstream_mu, then iwf's mu (the API's view of the upstream);
 *   leaves, which call nothing that locks: upnp ev_lock, iwf qmu, pcp_io up_mu, daemon prefix_mu, devwatch
 *   ask_mu, web/http.c mu, firewall/runtime/netif.c mu (the host's interface facts: fed by rtnl.c under
 *   the core's lock, asked by any thread).
 */
#ifndef IGDD_CORE_H
#define IGDD_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/device.h"
#include "firewall/nft/fw.h"
#include "firewall/core/policy.h"
#include "firewall/core/rule.h"
#include "firewall/core/store.h"

struct core;
struct core_reanchor_result;

enum core_event {
	CORE_EV_ADDED = 1,
	CORE_EV_CHANGED,   /* refreshed, re-anchored, counters aside */
	CORE_EV_DELETED,
	CORE_EV_EXPIRED,
};

struct core_params {
	struct policy_config policy;
	struct fw *fw;                 /* required; owned by the caller */
	struct store *store;           /* NULL = volatile (unit tests only); owned by the caller */
	/* wall clock in unix seconds; NULL = time(NULL). Tests drive time through it. */
	int64_t (*clock)(void *arg);
	void *clock_arg;
	/* Are a and b addresses of the same LAN device? NULL = only if equal. Called under the core lock. */
	bool (*same_device)(void *arg, const struct in6_addr *a, const struct in6_addr *b);
	void *device_arg;
	/* Told after every change, under the core lock: must not call back into the core. */
	void (*on_change)(void *arg, const struct rule *r, enum core_event ev);
	/* Told after every successful core_reanchor (whoever asked: rtnetlink, igdctl, the web UI), after
	 * the core lock is released, on the caller's thread: front ends tell their clients (PCP ANNOUNCE,
	 * UPnP SystemUpdateID). May be NULL. */
	void (*on_reanchor)(void *arg, const struct in6_addr *old_prefix, uint8_t old_len,
			    const struct in6_addr *new_prefix, uint8_t new_len, const struct core_reanchor_result *res);
	void *change_arg;
	size_t snapshot_every;         /* journal lines between snapshots (at least the rule count); 0 = 1000 */
	uint32_t ext_port_min, ext_port_max; /* range for picking a free external port; 0/0 = 1024..65535 */
	/* The LAN device table (device.h), or NULL. With it, pinhole targets are tied to devices (MAC,
	 * address kind, pinhole_target policy) and can follow a prefix change. The core only reads it, and
	 * only under its lock; whoever feeds it must do so through core_with_devices(). Owned by the caller. */
	struct device_table *devices;
	/* Asks the LAN about an address the device table does not know (a neighbour solicitation, so the
	 * host holding it answers and the table learns its MAC). Must not block; called without the core
	 * lock. NULL = never ask (the core then decides with what it knows). */
	void (*ask)(void *arg, const struct in6_addr *a);
	void *ask_arg;
};

struct core *core_new(const struct core_params *p);
void core_free(struct core *c);

/* Loads the store, drops expired rules, and makes the kernel match the table (one transaction). */
int core_start(struct core *c, char *err, size_t errlen);

/* How the core picks a port mapping's external port; rule.ext_port is the suggestion. "Free" means: no
 * mapping holds that key, and a remote-filtered mapping does not sit on a port another host's unfiltered
 * mapping holds (the NAT looks up filtered mappings first: it would take that host's traffic from the
 * remote). Every strategy keeps that rule; they differ in what happens when the suggestion is not free. */
enum core_port {
	CORE_PORT_EXACT = 0,     /* that port or V_CONFLICT; the holder's own mapping there is changed
				  * (UPnP AddPortMapping) */
	CORE_PORT_NEAREST,       /* as EXACT, else the next free one of ext_port_min..max (AddAnyPortMapping) */
	CORE_PORT_NEW_EXACT,     /* that port if free, else V_CONFLICT; never another mapping's, even the
				  * requester's own (PCP with PREFER_FAILURE) */
	CORE_PORT_NEW_NEAREST,   /* that port if free, else the next free one from port_then (or from the
				  * suggestion), at or above 1024, within CORE_PORT_SEARCH tries (PCP) */
	CORE_PORT_IN_BLOCK,      /* a free port of port_lo..port_hi, from the suggestion if it is in the block,
				  * else from the internal port's place in it; none left = V_QUOTA (a CGN
				  * subscriber's block) */
};

#define CORE_PORT_SEARCH 4096   /* bounded: a table this full answers V_CONFLICT */

struct core_add_req {
	struct rule rule;        /* kind, proto, target, ports, remote, lease (asked), origin, owner, nonce, desc */
	bool privileged;         /* operator / household UI: secure mode and port limits do not apply */
	bool third_party;        /* PCP THIRD_PARTY accepted by the front end */
	bool own_device_only;    /* PCP THIRD_PARTY from a requester not on the allow list: only for an
				  * address of the requester's own device, whatever secure_mode says */
	enum core_port port;     /* how a port mapping's external port is chosen (rule.ext_port suggests) */
	uint16_t port_lo, port_hi;   /* CORE_PORT_IN_BLOCK: the block, on rule.ext_addr */
	uint16_t port_then;      /* CORE_PORT_NEW_NEAREST: where the search goes on if the suggestion is
				  * taken (0 = right after it); PCP PEER: the internal port */
	bool exact_lease;        /* the lease asked is kept as is (operator); otherwise clamped by policy */
	bool asked;              /* the LAN was asked already (V_ASKING): decide with what is known now */
};

/* How long a front end waits for an asked address: a host answers a neighbour solicitation within
 * milliseconds; the kernel gives up after three tries a second apart. */
#define CORE_ASK_WAIT_MS 1000

/* Adds a rule, or refreshes the identical rule the same owner already holds (same id returned).
 * On V_OK *out holds the rule as installed (id, lease, external port chosen).
 * V_ASKING (only for an app's request, with a device table and an ask callback, and req->asked unset):
 * the requester or the target is an address the device table does not know, and the answer may depend
 * on whose it is (secure mode, the household's block, the device's stable address): the core asked the
 * LAN and changed nothing. Ask again with req->asked set once the address is known
 * (core_addresses_known) or CORE_ASK_WAIT_MS passed. */
enum verdict core_add(struct core *c, const struct core_add_req *req, struct rule *out);
/* core_add for front ends whose thread may wait (UPnP's, the control socket's, the web UI's): on
 * V_ASKING it waits for the addresses (at most CORE_ASK_WAIT_MS, without the core lock) and decides. */
enum verdict core_add_wait(struct core *c, const struct core_add_req *req, struct rule *out);
/* Does the device table know every one of the n addresses (true without a table)? */
bool core_addresses_known(struct core *c, const struct in6_addr *a, size_t n);
/* The household gives the port a rule holds to another device, by MAC (a PS4/PS5 asks for 9308 and
 * never another): the same kind, protocol, ports, remote filter and time left, now for that device's
 * IPv4 address (a port mapping) or its stable address (a pinhole), as the household's own rule
 * (ORIGIN_WEB). The old rule is removed first; if the new one is refused the old one is put back.
 * V_OK (*out the new rule; the same rule when the device holds it already), V_NOT_FOUND (no such
 * rule), V_BAD_TARGET (the device is not in the table or has no such address), V_DISABLED (no device
 * table), or the new rule's refusal. */
enum verdict core_give(struct core *c, uint32_t id, const uint8_t mac[6], struct rule *out);
/* When a counter read last found more packets on the rule (wall clock; 0 = none seen since start):
 * the last connection the rule admitted. */
int64_t core_last_packet(struct core *c, uint32_t id);
/* New lease for an existing rule (0 asked = policy maximum unless exact). */
enum verdict core_refresh(struct core *c, uint32_t id, uint32_t lease, const struct in6_addr *requester,
			  bool privileged, struct rule *out);
/* PCP: a request for an existing mapping came with another nonce from the mapping's own host (its
 * internal address, or an address of the same device): an app that restarted, or one that makes a
 * nonce per request. The rule takes the new nonce, nothing else changes (one journal line). Anyone else,
 * including a THIRD_PARTY requester acting for that host: V_NOT_AUTHORIZED. */
enum verdict core_renonce(struct core *c, uint32_t id, const struct in6_addr *requester,
			  const uint8_t nonce[RULE_NONCE_LEN], struct rule *out);
enum verdict core_delete(struct core *c, uint32_t id, const struct in6_addr *requester, bool privileged);

/* Group commit. Between core_batch_begin and core_batch_end the calling thread holds the core's lock
 * (other threads wait for it), and core_add / core_refresh / core_delete change the table at once but
 * only queue their journal line and kernel elements: their V_OK is provisional, and later calls of
 * the batch see the change. core_batch_end makes the whole batch durable (one journal sync), then
 * commits it to the firewall (one transaction): 0. If either fails, every change of the batch is
 * undone (table, index, journal) and it returns -1: each provisional V_OK is then to be answered as
 * V_NO_RESOURCES. on_change hears only committed changes, at core_batch_end. A change outside a batch
 * is a batch of one, so its verdict is final. Batches nest (the outermost end commits). Inside a
 * batch call only the request functions and the read-only ones.
 * Requests from several threads group by themselves: a core_add/core_refresh/core_delete made while
 * another thread waits for the lock shares that thread's commit (and waits for it before it returns),
 * so concurrent UPnP and control-socket clients share journal syncs and transactions. */
void core_batch_begin(struct core *c);
int core_batch_end(struct core *c);
/* Threads waiting for the core's lock right now (tests use it to line requests up for a group). */
unsigned core_waiting(struct core *c);
/* Changes recorded in the open batch so far (0 outside one, by the thread holding it): compared before
 * and after a request, it tells whether the request's answer depends on the batch committing. */
size_t core_batch_changes(struct core *c);
/* Changes in the group being built and in the group in flight (being synced and committed while the
 * lock is free) right now: tests line groups up with it. */
void core_groups(struct core *c, size_t *building, size_t *flying);

enum verdict core_get(struct core *c, uint32_t id, struct rule *out);
/* The port mapping holding (ext_addr, proto, ext_port, remote); remote_len 0 = the wildcard one. */
enum verdict core_find_portmap(struct core *c, struct in_addr ext_addr, uint16_t proto, uint16_t ext_port,
			       const struct in6_addr *remote, uint8_t remote_len, struct rule *out);
/* A PCP/NAT-PMP mapping's name (RFC 6887 11.3, 12.3): a MAP or a NAT-PMP mapping by (internal address,
 * protocol, internal port), so the two protocols share one mapping as RFC 6887 wants (their nonces keep
 * them apart: pcp_server); a PEER by those and its remote peer (address and port), a mapping of its own
 * beside a MAP of the same internal port. Rules named so are those of origin ORIGIN_PCP, ORIGIN_NATPMP
 * (peer false) and ORIGIN_PCP_PEER (peer true, remote/remote_port) with an exact target. */
struct core_pcp_key {
	struct in6_addr internal;   /* v4-mapped for IPv4 */
	uint16_t proto;             /* rule protocol: RULE_PROTO_ANY for PCP protocol 0 */
	uint16_t port;              /* internal port */
	bool peer;                  /* a PEER: peer_addr and peer_port are part of the name */
	struct in6_addr peer_addr;
	uint16_t peer_port;
};
/* The mapping so named, through an index the core keeps with the table (every add, change, delete,
 * expiry, re-anchoring and store load): V_OK, or V_NOT_FOUND. Should two rules share a name (only
 * possible through a re-anchoring that moves one onto the other's address), the newer change holds it. */
enum verdict core_find_pcp(struct core *c, const struct core_pcp_key *k, struct rule *out);
/* Copies all rules, sorted by id, into a malloc'd array; returns the count (*out NULL when 0). */
size_t core_list(struct core *c, struct rule **out);
/* Calls fn for every rule, in no order, under the core's lock, without copying the table (a million
 * rules are ~440 MB as core_list's copies): r is one struct rule, rewritten for each rule, valid only
 * during the call. fn must not call the core. Counters are not filled in. */
void core_walk(struct core *c, void (*fn)(void *arg, const struct rule *r), void *arg);

/* ---------- reading as a client ----------
 * What a client may see of the rule table is decided here, once, for every front end: the household
 * and the operator (privileged) see every rule; an app sees its own rules (it asked for them, or they
 * target an address of its device: policy_check_owner), and without secure_mode every rule. own_only
 * narrows a reader to its own rules whatever the policy (IGD:2 Manage=0). These read through the
 * core's indexes and copy only what they return. */
struct core_reader {
	struct in6_addr requester;   /* v4-mapped for IPv4 */
	bool privileged;
	bool own_only;
};
/* One rule, if the reader may see it: V_OK, V_NOT_FOUND, or V_NOT_AUTHORIZED (it exists, not for it). */
enum verdict core_get_as(struct core *c, uint32_t id, const struct core_reader *rd, struct rule *out);
/* The index-th (from 0) port mapping the reader sees, in id order (GetGenericPortMappingEntry):
 * V_OK, V_NOT_FOUND past the last, V_NO_RESOURCES when out of memory. O(1) for a reader who sees
 * everything once the index is current; O(mappings) otherwise, copying none. */
enum verdict core_portmap_at(struct core *c, const struct core_reader *rd, size_t index, struct rule *out);
/* Up to max port mappings the reader sees with ids above `after`, in id order, into out; returns how
 * many (0: none left). The next call takes after = out[n - 1].id. */
size_t core_portmaps_after(struct core *c, const struct core_reader *rd, uint32_t after, struct rule *out,
			   size_t max);

/* Drops expired rules. Returns ms until the next expiry (-1: none). The loop calls it from a timer. */
int64_t core_expire(struct core *c);
/* The firewall monitor saw a foreign change: rebuild the kernel side from the table (one transaction). */
int core_reconcile(struct core *c);
/* Reads the kernel's per-element counters into the rules. */
int core_read_counters(struct core *c);
/* Makes the store snapshot now (also done automatically every snapshot_every journal lines). */
int core_snapshot(struct core *c);

struct core_status {
	uint32_t pinholes, portmaps, pending;
	uint64_t fw_transactions;
	uint64_t reconciles;
	const char *backend;
};
/* Counts every rule (pending ones too): one pass over the table. */
void core_status(struct core *c, struct core_status *st);
/* Rules of one kind, in O(1) (for eventing on every change). */
uint32_t core_count(struct core *c, enum rule_kind kind);
/* A copy of the policy in force, taken under the core's lock (another thread may swap it meanwhile). */
void core_policy_get(struct core *c, struct policy_config *out);
/* What the LAN interfaces hold now (policy.h): targets and requesters are bounded by it from now on. */
void core_set_lan(struct core *c, const struct policy_lan *lan);
/* Swaps in a new policy (SIGHUP): applies to requests from now on; existing rules stay. */
void core_set_policy(struct core *c, const struct policy_config *pc);
/* Changes part of the policy in force under the core's lock (a read-modify-write that a SIGHUP's
 * core_set_policy cannot interleave with): fn edits it in place and must not call the core. */
void core_policy_update(struct core *c, void (*fn)(void *arg, struct policy_config *pc), void *arg);

/* ---------- devices and prefixes (issue 5) ---------- */

struct core_reanchor_result {
	size_t installed, pending, removed;  /* rules in each state after the change (those it touched) */
	bool committed;                      /* one firewall transaction was made (nothing to do: false) */
};

/* The delegated prefix (or one LAN subnet) changed from old to new: every pinhole with a selector in the
 * old prefix is re-anchored per reanchor_plan() (EUI-64 moved at once, stable opaque pending until the
 * device shows its new stable address, temporary dropped) in ONE firewall transaction; the new state
 * is made durable (snapshot) after the kernel took it. Events: CORE_EV_CHANGED per moved rule,
 * CORE_EV_EXPIRED per removed one. Lengths 1..64. 0 (res filled), or -1: bad prefixes, out of memory,
 * or the firewall refused (then nothing changed). */
int core_reanchor(struct core *c, const struct in6_addr *old_prefix, uint8_t old_len,
		  const struct in6_addr *new_prefix, uint8_t new_len, struct core_reanchor_result *res);
/* After the device table changed: pending stable selectors the table can now resolve are installed
 * (one transaction for all). Cheap when nothing is pending. 0, or -1 (firewall refused; retried next time). */
int core_resolve_pending(struct core *c, struct core_reanchor_result *res);
/* Runs fn with the device table under the core's lock (the only safe way to feed or read it while
 * other threads call the core). fn must not call back into the core. Returns fn's value (0 if no table). */
int core_with_devices(struct core *c, int (*fn)(void *arg, struct device_table *t), void *arg);
/* Whether the core was given a device table (core_params.devices): fixed from core_new on, so asked
 * without the lock. */
bool core_has_devices(const struct core *c);
/* The household blocked apps on the device with this MAC (device.h): every rule an app (UPnP, PCP,
 * NAT-PMP) made for one of its addresses or from one goes, as one batch (one journal sync, one firewall
 * transaction; none when nothing matched). Events: CORE_EV_DELETED. *removed (may be NULL): how many.
 * 0, or -1 (out of memory, the store or the firewall refused: then nothing changed). */
int core_remove_app_rules(struct core *c, const uint8_t mac[6], size_t *removed);
/* Before core_start: the prefix changed while we were not running; core_start re-anchors the restored
 * rules in memory before its one resync transaction. */
void core_set_start_reanchor(struct core *c, const struct in6_addr *old_prefix, uint8_t old_len,
			     const struct in6_addr *new_prefix, uint8_t new_len);
/* Small named values kept in the store beside the rules (e.g. the last known LAN prefix), under the
 * core's lock. 0, or -1 (absent / no store / I/O error). */
int core_meta_get(struct core *c, const char *key, char *buf, size_t len);
int core_meta_set(struct core *c, const char *key, const char *value);

#endif
