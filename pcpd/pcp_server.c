/* SPDX-License-Identifier: GPL-2.0-or-later */
/* PCP / NAT-PMP server logic: decide, ask the core, render the answer. No sockets, no clock of its
 * own (the caller passes now), so every path is unit-tested with the in-memory firewall. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/lib/hmap.h"
#include "firewall/lib/log.h"
#include "pcpd/natpmp_wire.h"
#include "pcpd/pcp_server.h"
#include "pcpd/pcp_wire.h"

/* Every PEER rule's description starts so (then the flow, then the client's DESCRIPTION), so that
 * igdctl list and the web UI say what it is. (What tells a PEER from a MAP with a one-host FILTER
 * is its origin, ORIGIN_PCP_PEER.) */
#define PEER_DESC "PCP PEER to "

struct bucket {
	struct in6_addr addr;   /* the key again: the sweep finds buckets by value */
	uint64_t last_ms;
	uint64_t mtokens; /* thousandths of a request, so refills need no floating point */
};

struct pcp_server {
	struct pcp_server_params p;
	uint64_t epoch_ms;            /* when the current epoch began */
	struct hmap *buckets;         /* struct in6_addr -> struct bucket * */
	struct pcp_server_stats st;
	bool has_upstream;            /* the proxy hook (pcp_server_set_upstream) */
	struct pcp_upstream up;
	/* the datagram being handled: its answer waits for its upstream half (the PCP proxy) */
	bool up_pending;
	struct pcp_upstream_job up_job;
	/* the datagram being handled: may its answer wait for an address (asked: no, decide now), and
	 * did it (the core is asking the LAN about these addresses) */
	bool asked;
	bool deferred;
	struct in6_addr deferred_addr[2];
};

/* What a MAP asks for, whichever protocol carried it (PCP MAP or NAT-PMP map). */
struct map_req {
	struct in6_addr internal;
	struct in6_addr owner;        /* the requester: who may refresh and delete it */
	bool v4;
	uint16_t proto;               /* rule protocol */
	uint16_t int_port;
	uint16_t sugg_port;
	struct in6_addr sugg_addr;
	uint32_t lifetime;
	bool has_nonce;
	uint8_t nonce[RULE_NONCE_LEN];
	bool prefer_failure;
	bool third_party;             /* THIRD_PARTY from an allowed requester */
	bool own_device_only;         /* THIRD_PARTY from anyone else: for its own device only */
	bool peer;                    /* a PCP PEER: filter is its remote peer, part of its name */
	uint16_t peer_port;           /* a PEER's remote port (the IPv4 filter cannot hold it) */
	const struct pcp_filter *filter;  /* NULL = any remote peer */
	const char *desc;
	enum rule_origin origin;
};

struct map_res {
	uint32_t lifetime;
	uint16_t ext_port;
	struct in6_addr ext_addr;
};

/* ---------- small helpers ---------- */

static uint32_t epoch_of(const struct pcp_server *s, uint64_t now_ms)
{
	return now_ms > s->epoch_ms ? (uint32_t)((now_ms - s->epoch_ms) / 1000) : 0;
}

/* "No preference" is all zeros in either family (RFC 6887 11.1: :: or ::ffff:0.0.0.0). */
static bool addr_is_none(const struct in6_addr *a)
{
	return addr_is_unspecified(a) || (addr_is_v4(a) && addr_to_v4(a).s_addr == 0);
}

static bool wan_addr(const struct pcp_server *s, struct in_addr *out)
{
	if (s->p.ext_addr == NULL || !s->p.ext_addr(s->p.ext_arg, out))
		return false;
	return out->s_addr != 0;
}

/* The external IPv4 address a mapping of this internal host gets: its pool address on a CGN, the
 * WAN address otherwise. */
static bool ext_addr_for(const struct pcp_server *s, const struct in6_addr *internal, struct in_addr *out)
{
	struct cgn_block b;

	if (s->p.cgn == NULL)
		return wan_addr(s, out);
	if (!addr_is_v4(internal) || cgn_block_of(s->p.cgn, addr_to_v4(internal), &b) != CGN_OK)
		return false;
	*out = b.addr;
	return true;
}

static bool third_party_allowed(const struct pcp_server *s, const struct in6_addr *src)
{
	for (size_t i = 0; i < s->p.n_third_party && i < PCP_SERVER_MAX_THIRD_PARTY; i++)
		if (addr_in_prefix(src, &s->p.third_party[i], s->p.third_party_len[i]))
			return true;
	return false;
}

static uint32_t error_lifetime(uint8_t result)
{
	return pcp_result_is_long(result) ? PCP_SERVER_LONG_ERROR_S : PCP_SERVER_SHORT_ERROR_S;
}

uint8_t pcp_server_result_of(enum verdict v, bool prefer_failure)
{
	switch (v) {
	case V_OK:
	case V_NOT_FOUND:
		return PCP_SUCCESS;
	case V_INVALID:
		return PCP_MALFORMED_REQUEST;
	case V_NOT_AUTHORIZED:
	case V_BAD_TARGET:
	case V_LOW_PORT:
	case V_DISABLED:
		return PCP_NOT_AUTHORIZED;
	case V_ASKING:   /* pcp_io holds such a request; should one slip through, the client tries again */
		return PCP_NETWORK_FAILURE;
	case V_CONFLICT:
		return prefer_failure ? PCP_CANNOT_PROVIDE_EXTERNAL : PCP_NO_RESOURCES;
	case V_QUOTA:
		return PCP_USER_EX_QUOTA;
	case V_UNSUPPORTED_PROTO:
		return PCP_UNSUPP_PROTOCOL;
	case V_NO_RESOURCES:
		return PCP_NO_RESOURCES;
	}
	return PCP_NO_RESOURCES;
}

/* ---------- mappings by name ---------- */

/* A MAP is named by (internal address, protocol, internal port): RFC 6887 11.3. A PEER is one outbound
 * flow, so its name adds the remote peer (RFC 6887 12.3): each peer is a mapping of its own, distinct
 * from a MAP of the same internal port. The core keeps the index (core_find_pcp). */
static struct core_pcp_key key_of_req(const struct map_req *mr)
{
	struct core_pcp_key k;

	memset(&k, 0, sizeof(k));
	k.internal = mr->internal;
	k.proto = mr->proto;
	k.port = mr->int_port;
	if (mr->peer) {
		k.peer = true;
		k.peer_addr = mr->filter->addr;
		k.peer_port = mr->filter->port;
	}
	return k;
}

static bool find_mapping(struct pcp_server *s, const struct core_pcp_key *k, struct rule *out)
{
	return core_find_pcp(s->p.core, k, out) == V_OK;
}

static bool rule_is_ours(const struct rule *r)
{
	return (r->origin == ORIGIN_PCP || r->origin == ORIGIN_PCP_PEER || r->origin == ORIGIN_NATPMP) &&
	       r->target.use_exact;
}

/* ---------- per-client rate limit (token bucket) ---------- */

/* Drops the buckets that have refilled: such a client is indistinguishable from a new one. */
static void buckets_sweep(struct pcp_server *s, uint64_t now_ms, uint64_t burst, uint64_t rate)
{
	size_t n = hmap_count(s->buckets), pos = 0, ngone = 0;
	struct bucket **gone = malloc((n + 1) * sizeof(*gone)), *b;

	if (gone == NULL)
		return;
	while ((b = hmap_next(s->buckets, &pos)) != NULL)
		if (now_ms < b->last_ms || b->mtokens + (now_ms - b->last_ms) * rate >= burst)
			gone[ngone++] = b;
	/* Nobody idle (a flood from many addresses): start over rather than refuse every newcomer;
	 * a flooder gains at most one burst by it. */
	if (ngone == 0) {
		pos = 0;
		while ((b = hmap_next(s->buckets, &pos)) != NULL && ngone < n)
			gone[ngone++] = b;
	}
	for (size_t i = 0; i < ngone; i++) {
		hmap_del(s->buckets, &gone[i]->addr);
		free(gone[i]);
	}
	free(gone);
}

static bool rate_ok(struct pcp_server *s, const struct in6_addr *src, uint64_t now_ms)
{
	uint64_t burst = (uint64_t)(s->p.rate_burst ? s->p.rate_burst : PCP_SERVER_RATE_BURST) * 1000;
	uint64_t rate = s->p.rate_per_s ? s->p.rate_per_s : PCP_SERVER_RATE_PER_S;
	struct bucket *b;

	if (s->p.rate_off)
		return true;
	b = hmap_get(s->buckets, src);
	if (b == NULL) {
		if (hmap_count(s->buckets) >= PCP_SERVER_RATE_CLIENTS)
			buckets_sweep(s, now_ms, burst, rate);
		b = malloc(sizeof(*b));
		if (b == NULL || hmap_put(s->buckets, src, b) < 0) {
			free(b);
			return false;
		}
		b->addr = *src;
		b->last_ms = now_ms;
		b->mtokens = burst;
	}
	/* rate requests a second = rate thousandths a millisecond */
	if (now_ms > b->last_ms) {
		uint64_t add = (now_ms - b->last_ms) * rate;

		b->mtokens = add >= burst || b->mtokens + add >= burst ? burst : b->mtokens + add;
		b->last_ms = now_ms;
	}
	if (b->mtokens < 1000)
		return false;
	b->mtokens -= 1000;
	return true;
}

/* ---------- MAP: the part PCP and NAT-PMP share ---------- */

bool pcp_server_upstream_on(const struct pcp_server *s)
{
	return s->has_upstream && s->p.cgn == NULL && s->up.active && s->up.active(s->up.arg);
}

/* The address the internet sees for an IPv4 mapping of this internal host (NULL: the CPE's own): behind
 * an upstream PCP server that is its external address (what UPnP's GetExternalIPAddress and PCP MAP
 * answer too), not our WAN address, which is then the CGN's inside one (100.64/10: apps take a gateway
 * with such an external address for a double NAT and give up); unknown until the upstream told us. */
static bool public_addr_for(const struct pcp_server *s, const struct in6_addr *internal, struct in_addr *out)
{
	if (pcp_server_upstream_on(s) && s->up.ext_addr)
		return s->up.ext_addr(s->up.arg, out) && out->s_addr != 0;
	if (internal == NULL)
		return wan_addr(s, out);
	return ext_addr_for(s, internal, out);
}

void pcp_server_set_upstream(struct pcp_server *s, const struct pcp_upstream *u)
{
	if (s == NULL)
		return;
	s->has_upstream = u != NULL;
	if (u)
		s->up = *u;
}

/* A local IPv4 port mapping just made or refreshed: its upstream half is a job, and the answer waits
 * for it (pcp_server_upstream_answer). made: this request made the rule (it goes if the upstream says no). */
static void upstream_defer(struct pcp_server *s, const struct map_req *mr, const struct rule *r,
			   const struct map_res *res, bool made)
{
	/* a PEER goes up as a PEER (RFC 7648): its flow leaves through the upstream NAT's own mapping,
	 * and a MAP relayed for it would open the upstream port to every remote host */
	if (r->kind != RULE_PORTMAP || !pcp_server_upstream_on(s) || s->up.submit == NULL)
		return;
	memset(&s->up_job, 0, sizeof(s->up_job));
	s->up_job.rule_id = r->id;
	s->up_job.owner = mr->owner;
	s->up_job.made = made;
	s->up_job.sugg_port = mr->sugg_port;
	s->up_job.prefer_failure = mr->prefer_failure;
	s->up_job.lifetime = res->lifetime;
	if (mr->peer && mr->filter) {
		s->up_job.peer = true;
		s->up_job.peer_addr = mr->filter->addr;
		s->up_job.peer_port = mr->peer_port;
		s->up_job.prefer_failure = false;
	}
	s->up_pending = true;
}

bool pcp_server_upstream_pending(const struct pcp_server *s, struct pcp_upstream_job *job)
{
	if (!s->up_pending)
		return false;
	*job = s->up_job;
	return true;
}

void pcp_server_upstream_submit(struct pcp_server *s, const struct pcp_upstream_job *job, pcp_upstream_done_fn *done,
				void *done_arg, uint64_t cookie)
{
	struct pcp_upstream_answer a = { .result = PCP_NETWORK_FAILURE };

	if (s->has_upstream && s->up.submit)
		s->up.submit(s->up.arg, job, done, done_arg, cookie);
	else
		done(done_arg, cookie, &a);
}

void pcp_server_upstream_forget(struct pcp_server *s, void *done_arg)
{
	if (s && s->has_upstream && s->up.forget)
		s->up.forget(s->up.arg, done_arg);
}

static void res_from_rule(const struct pcp_server *s, const struct rule *r, struct map_res *res)
{
	struct in_addr wan = r->ext_addr;

	res->lifetime = r->lease;
	if (r->kind == RULE_PINHOLE) {
		/* A firewall that does not translate: outside, the mapping is the internal address:port. */
		res->ext_port = r->int_port;
		res->ext_addr = r->target.exact;
		return;
	}
	res->ext_port = r->ext_port;
	if (wan.s_addr == 0 && !wan_addr(s, &wan))
		wan.s_addr = 0;
	if (s->has_upstream && s->up.ext_of && s->p.cgn == NULL)
		(void)s->up.ext_of(s->up.arg, r->id, &wan, &res->ext_port);
	addr_from_v4(&res->ext_addr, wan);
}

/* Refresh and delete must present the nonce the mapping was made with (RFC 6887 11.3); NAT-PMP has
 * none, so a NAT-PMP client manages only nonce-less (NAT-PMP) mappings and vice versa. */
static bool nonce_ok(const struct map_req *mr, const struct rule *r)
{
	if (mr->has_nonce != r->has_nonce)
		return false;
	return !mr->has_nonce || memcmp(mr->nonce, r->nonce, RULE_NONCE_LEN) == 0;
}

static bool filter_matches(const struct map_req *mr, const struct rule *r)
{
	const struct pcp_filter *f = mr->filter;
	struct in6_addr a;

	if (f == NULL)
		return r->remote_len == 0;
	if (f->prefix_len != r->remote_len || f->port != r->remote_port)
		return false;
	a = f->addr;
	addr_mask(&a, f->prefix_len);
	return addr_equal(&a, &r->remote);
}

static bool allow_low_ports(struct pcp_server *s)
{
	struct policy_config pc;

	core_policy_get(s->p.core, &pc);
	return pc.allow_low_ports;
}

/* CGN mode: the subscriber's block (pool address and port range) holds its mappings; a suggestion
 * outside it cannot be had (RFC 6887 11.3: the server may assign another, unless PREFER_FAILURE). */
static uint8_t cgn_port_req(struct pcp_server *s, const struct map_req *mr, struct core_add_req *q)
{
	struct cgn_block b;

	switch (cgn_block_of(s->p.cgn, addr_to_v4(&mr->internal), &b)) {
	case CGN_OK:
		break;
	case CGN_NOT_SUBSCRIBER:
		return PCP_NOT_AUTHORIZED;
	case CGN_NO_BLOCK:
		return PCP_NO_RESOURCES;
	}
	if (mr->prefer_failure &&
	    ((!addr_is_none(&mr->sugg_addr) &&
	      (!addr_is_v4(&mr->sugg_addr) || addr_to_v4(&mr->sugg_addr).s_addr != b.addr.s_addr)) ||
	     (mr->sugg_port && (mr->sugg_port < b.lo || mr->sugg_port > b.hi))))
		return PCP_CANNOT_PROVIDE_EXTERNAL;
	q->rule.ext_addr = b.addr;
	q->rule.ext_port = mr->sugg_port;
	q->port = mr->prefer_failure && mr->sugg_port ? CORE_PORT_NEW_EXACT : CORE_PORT_IN_BLOCK;
	q->port_lo = b.lo;
	q->port_hi = b.hi;
	return PCP_SUCCESS;
}

static uint8_t map_create(struct pcp_server *s, const struct map_req *mr, struct map_res *res)
{
	struct core_add_req q;
	struct rule got;
	struct in_addr wan;
	uint8_t rc;
	enum verdict v;

	memset(&q, 0, sizeof(q));
	q.rule.proto = mr->proto;
	q.rule.int_port = mr->int_port;
	q.rule.target.use_exact = true;
	q.rule.target.exact = mr->internal;
	q.rule.lease = mr->lifetime;
	q.rule.origin = mr->origin;
	q.rule.owner = mr->owner;
	q.rule.has_nonce = mr->has_nonce;
	memcpy(q.rule.nonce, mr->nonce, RULE_NONCE_LEN);
	if (mr->desc)
		snprintf(q.rule.desc, sizeof(q.rule.desc), "%s", mr->desc);
	if (mr->filter) {
		q.rule.remote = mr->filter->addr;
		q.rule.remote_len = mr->filter->prefix_len;
		q.rule.remote_port = mr->filter->port;
	}
	q.third_party = mr->third_party;
	q.own_device_only = mr->own_device_only;
	q.asked = s->asked;
	if (mr->v4 && s->p.cgn) {
		q.rule.kind = RULE_PORTMAP;
		q.rule.target.exact_kind = ADDR_KIND_IPV4;
		if (mr->proto != IPPROTO_TCP && mr->proto != IPPROTO_UDP)
			return PCP_UNSUPP_PROTOCOL;
		if (mr->int_port == 0)
			return PCP_UNSUPP_PROTOCOL;
		rc = cgn_port_req(s, mr, &q);
		if (rc != PCP_SUCCESS)
			return rc;
	} else if (mr->v4) {
		q.rule.kind = RULE_PORTMAP;
		q.rule.target.exact_kind = ADDR_KIND_IPV4;
		if (!wan_addr(s, &wan))
			return PCP_NETWORK_FAILURE;
		if (!addr_is_none(&mr->sugg_addr) &&
		    (!addr_is_v4(&mr->sugg_addr) || addr_to_v4(&mr->sugg_addr).s_addr != wan.s_addr) &&
		    mr->prefer_failure)
			return PCP_CANNOT_PROVIDE_EXTERNAL;
		if (mr->proto != IPPROTO_TCP && mr->proto != IPPROTO_UDP)
			return PCP_UNSUPP_PROTOCOL;
		/* An all-ports NAT mapping would hand one host every inbound port: not offered. */
		if (mr->int_port == 0)
			return PCP_UNSUPP_PROTOCOL;
		q.rule.ext_port = mr->sugg_port ? mr->sugg_port : mr->int_port;
		if (q.rule.ext_port < 1024 && !mr->prefer_failure && !allow_low_ports(s))
			q.rule.ext_port = mr->int_port;
		/* a second mapping of the same host gets a port of its own (the core would let it take over
		 * its first one, as IGD does); PEER: masquerade keeps a flow's source port when it can, so
		 * after the suggestion the internal port is where the outbound flow and the mapping agree */
		q.port = mr->prefer_failure ? CORE_PORT_NEW_EXACT : CORE_PORT_NEW_NEAREST;
		q.port_then = mr->peer ? mr->int_port : 0;
	} else {
		q.rule.kind = RULE_PINHOLE;
		/* No translation: only the internal address:port can be had outside. */
		if (mr->prefer_failure &&
		    ((mr->sugg_port && mr->sugg_port != mr->int_port) ||
		     (!addr_is_none(&mr->sugg_addr) && !addr_equal(&mr->sugg_addr, &mr->internal))))
			return PCP_CANNOT_PROVIDE_EXTERNAL;
	}
	v = core_add(s->p.core, &q, &got);
	if (v == V_ASKING) {
		/* no answer yet: pcp_io hands the datagram in again once the LAN showed the addresses */
		s->deferred = true;
		s->deferred_addr[0] = mr->owner;
		s->deferred_addr[1] = mr->internal;
	}
	if (v != V_OK)
		return pcp_server_result_of(v, mr->prefer_failure);
	res_from_rule(s, &got, res);
	upstream_defer(s, mr, &got, res, true);
	s->st.maps_added++;
	return PCP_SUCCESS;
}

static uint8_t map_delete(struct pcp_server *s, const struct map_req *mr, const struct rule *r, struct map_res *res)
{
	enum verdict v = core_delete(s->p.core, r->id, &mr->owner, false);

	if (v != V_OK && v != V_NOT_FOUND)
		return pcp_server_result_of(v, false);
	res_from_rule(s, r, res);
	res->lifetime = 0;
	s->st.maps_deleted++;
	return PCP_SUCCESS;
}

static uint8_t map_refresh(struct pcp_server *s, const struct map_req *mr, const struct rule *r, struct map_res *res)
{
	struct rule got;
	enum verdict v;

	if (!filter_matches(mr, r)) {
		/* The remote filter is part of the kernel key: replace the rule, keeping its port. */
		struct map_req again = *mr;
		uint8_t rc = map_delete(s, mr, r, res);

		if (rc != PCP_SUCCESS)
			return rc;
		if (r->kind == RULE_PORTMAP)
			again.sugg_port = r->ext_port;
		return map_create(s, &again, res);
	}
	v = core_refresh(s->p.core, r->id, mr->lifetime, &mr->owner, false, &got);
	if (v != V_OK)
		return pcp_server_result_of(v, false);
	res_from_rule(s, &got, res);
	if (pcp_server_upstream_on(s)) {
		struct map_req again = *mr;

		/* keep the upstream port the client was given */
		if (!again.sugg_port)
			again.sugg_port = res->ext_port;
		upstream_defer(s, &again, &got, res, false);
	}
	s->st.maps_refreshed++;
	return PCP_SUCCESS;
}

/* NAT-PMP "internal port 0, lifetime 0": every NAT-PMP mapping of that client for the protocol. */
static uint8_t map_delete_all(struct pcp_server *s, const struct map_req *mr)
{
	struct core_reader rd = { .requester = mr->owner, .own_only = true };
	struct rule chunk[32];
	uint8_t rc = PCP_SUCCESS;
	uint32_t after = 0;
	size_t n;

	/* the client's own port mappings, read through the core's index a chunk at a time */
	while ((n = core_portmaps_after(s->p.core, &rd, after, chunk, 32)) > 0) {
		after = chunk[n - 1].id;
		for (size_t i = 0; i < n; i++) {
			struct map_res ignored;

			if (!rule_is_ours(&chunk[i]) || !addr_equal(&chunk[i].target.exact, &mr->internal) ||
			    chunk[i].proto != mr->proto || !nonce_ok(mr, &chunk[i]))
				continue;
			if (map_delete(s, mr, &chunk[i], &ignored) != PCP_SUCCESS)
				rc = PCP_NOT_AUTHORIZED;
		}
	}
	return rc;
}

/* A PCP request for an existing PCP mapping with another nonce: from the mapping's own host (its
 * internal address or the same device) it is the app itself after a restart, or an app that makes a
 * nonce per request (Tailscale), and refusing would leave its mapping unrenewable and undeletable until
 * it runs out; so the mapping takes the new nonce. From anyone else it stays NOT_AUTHORIZED (RFC 6887
 * 11.3), a THIRD_PARTY requester included. NAT-PMP carries no nonce: the two stay apart. */
static bool nonce_adopted(struct pcp_server *s, const struct map_req *mr, struct rule *r)
{
	char a[ADDR_STRLEN];

	if (!mr->has_nonce || !r->has_nonce)
		return false;
	if (core_renonce(s->p.core, r->id, &mr->owner, mr->nonce, r) != V_OK)
		return false;
	s->st.nonces_replaced++;
	log_info("pcp: %s came with a new nonce for its own %s mapping %u: the mapping takes it",
		 addr_str(&mr->owner, a), r->origin == ORIGIN_PCP_PEER ? "PEER" : "MAP", r->id);
	return true;
}

static uint8_t map_run(struct pcp_server *s, const struct map_req *mr, struct map_res *res)
{
	struct core_pcp_key k = key_of_req(mr);
	struct rule old;
	bool have = find_mapping(s, &k, &old);

	memset(res, 0, sizeof(*res));
	if (have && !nonce_ok(mr, &old) && !nonce_adopted(s, mr, &old))
		return PCP_NOT_AUTHORIZED;
	if (mr->lifetime == 0) {
		if (have)
			return map_delete(s, mr, &old, res);
		/* Deleting what does not exist succeeds (RFC 6887 15). */
		res->ext_port = mr->sugg_port;
		res->ext_addr = mr->sugg_addr;
		return PCP_SUCCESS;
	}
	if (have)
		return map_refresh(s, mr, &old, res);
	return map_create(s, mr, res);
}

/* ---------- PCP ---------- */

/* Error replies of MAP and PEER carry at least the opcode data, zero-filled where the request had
 * none, so a dissector (and a client) can always read the nonce/port fields it expects. */
static size_t pad_opdata(uint8_t opcode, size_t n, uint8_t *out, size_t cap)
{
	size_t want = PCP_HDR_LEN + (opcode == PCP_OP_MAP ? PCP_MAP_LEN : opcode == PCP_OP_PEER ? PCP_PEER_LEN : 0);

	if (n == 0 || n >= want || cap < want)
		return n;
	memset(out + n, 0, want - n);
	return want;
}

static size_t pcp_error(struct pcp_server *s, const struct pcp_request *req, uint8_t rc, uint64_t now_ms,
			uint8_t *out, size_t cap)
{
	struct pcp_reply r = { .result = rc, .lifetime = error_lifetime(rc), .epoch = epoch_of(s, now_ms) };

	s->st.errors[rc & 15]++;
	return pad_opdata(req->opcode, pcp_wire_build_reply(req, &r, out, cap), out, cap);
}

/* RFC 6887 9: the header says our version; the request's body is copied after it as for every
 * other error (as miniupnpd does), because a bare 24-octet MAP response reads as truncated. */
static size_t pcp_unsupp_version(struct pcp_server *s, const struct pcp_request *req, const uint8_t *in,
				 size_t len, uint64_t now_ms, uint8_t *out, size_t cap)
{
	struct pcp_reply r = { .result = PCP_UNSUPP_VERSION, .lifetime = error_lifetime(PCP_UNSUPP_VERSION),
			       .epoch = epoch_of(s, now_ms) };
	size_t body;

	s->st.errors[PCP_UNSUPP_VERSION]++;
	if (pcp_wire_build_reply(req, &r, out, cap) != PCP_HDR_LEN)
		return 0;
	body = len > PCP_MAX_MSG ? PCP_MAX_MSG : len;
	body = body > PCP_HDR_LEN ? (body - PCP_HDR_LEN) & ~(size_t)3 : 0;
	if (cap < PCP_HDR_LEN + body)
		body = 0;
	memcpy(out + PCP_HDR_LEN, in + PCP_HDR_LEN, body);
	return pad_opdata(req->opcode, PCP_HDR_LEN + body, out, cap);
}

static size_t pcp_success(struct pcp_server *s, struct pcp_request *req, const struct map_res *res, uint64_t now_ms,
			  uint8_t *out, size_t cap)
{
	struct pcp_reply r = { .result = PCP_SUCCESS, .lifetime = res ? res->lifetime : 0,
			       .epoch = epoch_of(s, now_ms), .echo = PCP_ECHO_ALL };

	if (res) {
		r.ext_port = res->ext_port;
		r.ext_addr = res->ext_addr;
	}
	return pcp_wire_build_reply(req, &r, out, cap);
}

/* DESCRIPTION longer than the room left in a rule's description is cut at a character boundary;
 * the reply echoes what was kept. */
static void desc_fit(struct pcp_options *o, size_t room)
{
	size_t n = o->description_len;

	if (n <= room)
		return;
	n = room;
	while (n > 0 && ((uint8_t)o->description[n] & 0xc0) == 0x80)
		n--;
	o->description[n] = '\0';
	o->description_len = (uint16_t)n;
}

/* THIRD_PARTY and FILTER turned into the internal address and the one remote filter we keep. */
static uint8_t pcp_map_target(struct pcp_server *s, struct pcp_request *req, const struct in6_addr *src,
			      struct map_req *mr)
{
	memset(mr, 0, sizeof(*mr));
	mr->owner = *src;
	mr->internal = *src;
	if (req->opt.has_third_party) {
		/* A requester on the allow list acts for anyone; any other host only for an address of its
		 * own device (an app speaking from its temporary address for the stable one, issue 11):
		 * the core decides that with the device table. */
		mr->internal = req->opt.third_party;
		mr->third_party = third_party_allowed(s, src);
		mr->own_device_only = !mr->third_party;
	}
	mr->v4 = addr_is_v4(&mr->internal);
	if (req->opt.n_filters > 1)
		return PCP_EXCESSIVE_REMOTE_PEERS;  /* the firewall keeps one remote prefix per rule */
	if (req->opt.n_filters == 1 && req->opt.filters[0].prefix_len != 0) {
		const struct pcp_filter *f = &req->opt.filters[0];

		if (addr_is_v4(&f->addr) != mr->v4 || (mr->v4 && f->prefix_len < 96))
			return PCP_MALFORMED_OPTION;
		/* The NAT44 maps key on one remote host (and its port, or any): a wider filter would open
		 * more than asked, so it is refused, not approximated. */
		if (mr->v4 && f->prefix_len != 128)
			return PCP_UNSUPP_OPTION;
		mr->filter = f;
	}
	return PCP_SUCCESS;
}

/* What MAP and PEER requests share: the target, the opcode data, the nonce and DESCRIPTION. */
static uint8_t pcp_map_req(struct pcp_server *s, struct pcp_request *req, const struct in6_addr *src,
			   struct map_req *mr)
{
	uint8_t rc = pcp_map_target(s, req, src, mr);

	if (rc != PCP_SUCCESS)
		return rc;
	mr->proto = req->op.protocol == 0 ? RULE_PROTO_ANY : req->op.protocol;
	mr->int_port = req->op.internal_port;
	mr->sugg_port = req->op.ext_port;
	mr->sugg_addr = req->op.ext_addr;
	mr->lifetime = req->lifetime;
	mr->has_nonce = true;
	memcpy(mr->nonce, req->op.nonce, RULE_NONCE_LEN);
	mr->prefer_failure = req->opt.prefer_failure;
	mr->origin = ORIGIN_PCP;
	if (req->opt.has_description) {
		desc_fit(&req->opt, RULE_DESC_MAX);
		mr->desc = req->opt.description;
	}
	/* A protocol without ports has no internal port to name (RFC 6887 11.1). */
	if (mr->proto != RULE_PROTO_ANY && !proto_has_ports(mr->proto) && mr->int_port != 0)
		return PCP_MALFORMED_REQUEST;
	return PCP_SUCCESS;
}

static size_t pcp_run(struct pcp_server *s, struct pcp_request *req, const struct map_req *mr, uint64_t now_ms,
		      uint8_t *out, size_t cap)
{
	struct map_res res;
	uint8_t rc = map_run(s, mr, &res);

	if (rc != PCP_SUCCESS)
		return pcp_error(s, req, rc, now_ms, out, cap);
	return pcp_success(s, req, &res, now_ms, out, cap);
}

static size_t pcp_map(struct pcp_server *s, struct pcp_request *req, const struct in6_addr *src, uint64_t now_ms,
		      uint8_t *out, size_t cap)
{
	struct map_req mr;
	uint8_t rc = pcp_map_req(s, req, src, &mr);

	if (rc != PCP_SUCCESS)
		return pcp_error(s, req, rc, now_ms, out, cap);
	return pcp_run(s, req, &mr, now_ms, out, cap);
}

/* pcpd on a CGN: the external port of a PEER's flow (RFC 6887 12.3: a running flow's mapping is
 * reused, else one is made "as if the first outbound packet arrived"), all within the subscriber's
 * block (cgn_port_req). The flow running already (the connection tracker holds it, on a port of the
 * block): that port, the one its peer sees. Else its internal endpoint's MAP, when it has one, the
 * mapping the flow will leave from (endpoint-independent): that port. Else the client's suggestion
 * (CORE_PORT_IN_BLOCK takes it when it is in the block and free, else searches on from it), else the
 * internal port's place in the block, which is the same for every PEER of that endpoint, so its flows
 * to several peers share a port too. */
static void peer_cgn_suggestion(struct pcp_server *s, struct map_req *mr, const struct in6_addr *peer,
				uint16_t peer_port)
{
	struct core_pcp_key k = { .internal = mr->internal, .proto = mr->proto, .port = mr->int_port };
	struct cgn_block b;
	struct in_addr ext;
	uint16_t port;
	struct rule map;

	if (s->p.flow_ext && cgn_block_of(s->p.cgn, addr_to_v4(&mr->internal), &b) == CGN_OK &&
	    s->p.flow_ext(s->p.flow_arg, addr_to_v4(&mr->internal), mr->int_port, addr_to_v4(peer), peer_port,
			  (uint8_t)mr->proto, &ext, &port) &&
	    ext.s_addr == b.addr.s_addr && port >= b.lo && port <= b.hi) {
		mr->sugg_port = port;
		return;
	}
	if (find_mapping(s, &k, &map) && map.kind == RULE_PORTMAP && map.remote_len == 0)
		mr->sugg_port = map.ext_port;
}

/* A CPE (no pool): a flow already running left through masquerade, which keeps its source port when
 * it can and picks another when that one is taken toward the same peer (two hosts, one app port, one
 * server): the port the connection tracker shows on the WAN address is the flow's, and the one to
 * map. Else the suggestion, else the internal port (map_create). */
static void peer_wan_suggestion(struct pcp_server *s, struct map_req *mr, const struct in6_addr *peer,
				uint16_t peer_port)
{
	struct in_addr wan, ext;
	uint16_t port;

	if (s->p.flow_ext && wan_addr(s, &wan) &&
	    s->p.flow_ext(s->p.flow_arg, addr_to_v4(&mr->internal), mr->int_port, addr_to_v4(peer), peer_port,
			  (uint8_t)mr->proto, &ext, &port) &&
	    ext.s_addr == wan.s_addr)
		mr->sugg_port = port;
}

/*
 * PEER (RFC 6887 12): keep one outbound flow reachable from its remote peer for the lifetime granted,
 * even once conntrack has forgotten the idle flow. It is a MAP restricted to that peer, through the
 * same core (so ports never clash, and it is journalled, listed and expires by kernel timeout):
 *   IPv6: a pinhole for the internal address, protocol and port admitting only the peer address/128
 *         and port; outside, the flow is the internal address:port.
 *   IPv4: a NAT44 mapping admitting only the peer address and port (@pm4_remote_port). External
 *         port: the running flow's (peer_wan_suggestion), else the suggestion if free, else the
 *         internal port (the one masquerade normally leaves the flow on), else another free one.
 *   IPv4 on a CGN (pcpd with cgn_pool): the same mapping on the subscriber's pool address
 *         (@pm4_addr_remote_port) plus, in the same transaction, the flow's own SNAT (@pm4_snat_flow:
 *         the 5-tuple leaves from the external port the answer names; fw_elem.flow). Port:
 *         peer_cgn_suggestion.
 */
/* A PEER rule's description: PEER_DESC, the flow, then what of the client's DESCRIPTION fits (req's
 * option is cut to it, so the answer echoes what was kept). */
static void peer_desc(struct pcp_request *req, bool v4, bool with_desc, char *desc, size_t cap)
{
	char a[ADDR_STRLEN];
	int n = snprintf(desc, cap, v4 ? PEER_DESC "%s:%u" : PEER_DESC "[%s]:%u", addr_str(&req->op.peer_addr, a),
			 (unsigned)req->op.peer_port);

	if (with_desc && n > 0 && (size_t)n + 3 < cap) {
		size_t at = (size_t)n;

		desc_fit(&req->opt, cap - 1 - at - 2);
		memcpy(desc + at, ": ", 2);
		memcpy(desc + at + 2, req->opt.description, req->opt.description_len);
		desc[at + 2 + req->opt.description_len] = '\0';
	}
}

static size_t pcp_peer(struct pcp_server *s, struct pcp_request *req, const struct in6_addr *src, uint64_t now_ms,
		       uint8_t *out, size_t cap)
{
	struct map_req mr;
	struct pcp_filter remote;
	char desc[RULE_DESC_MAX + 1];
	uint8_t rc = pcp_map_req(s, req, src, &mr);

	if (rc != PCP_SUCCESS)
		return pcp_error(s, req, rc, now_ms, out, cap);
	/* A flow has a protocol with ports, two ports and a peer of its own family (12.1). */
	if (req->op.protocol == 0 || mr.int_port == 0 || req->op.peer_port == 0 || addr_is_none(&req->op.peer_addr) ||
	    addr_is_v4(&req->op.peer_addr) != mr.v4)
		return pcp_error(s, req, PCP_MALFORMED_REQUEST, now_ms, out, cap);
	memset(&remote, 0, sizeof(remote));
	remote.prefix_len = 128;
	remote.addr = req->op.peer_addr;
	remote.port = req->op.peer_port;
	mr.filter = &remote;
	mr.peer = true;
	mr.peer_port = req->op.peer_port;
	mr.origin = ORIGIN_PCP_PEER;
	if (mr.v4) {
		struct core_pcp_key k = key_of_req(&mr);
		struct rule have;

		/* a new one only: a refresh keeps the port it has */
		if (!find_mapping(s, &k, &have)) {
			if (s->p.cgn)
				peer_cgn_suggestion(s, &mr, &req->op.peer_addr, req->op.peer_port);
			else
				peer_wan_suggestion(s, &mr, &req->op.peer_addr, req->op.peer_port);
		}
	}
	peer_desc(req, mr.v4, mr.desc != NULL, desc, sizeof(desc));
	mr.desc = desc;
	return pcp_run(s, req, &mr, now_ms, out, cap);
}

static size_t handle_pcp(struct pcp_server *s, const uint8_t *in, size_t len, const struct in6_addr *src,
			 uint64_t now_ms, uint8_t *out, size_t cap)
{
	struct pcp_request req;
	uint8_t rc;

	switch (pcp_wire_parse_request(in, len, &req, &rc)) {
	case PCP_PARSE_DROP:
		s->st.dropped++;
		return 0;
	case PCP_PARSE_ERROR:
		if (rc == PCP_UNSUPP_VERSION)
			return pcp_unsupp_version(s, &req, in, len, now_ms, out, cap);
		return pcp_error(s, &req, rc, now_ms, out, cap);
	case PCP_PARSE_OK:
		break;
	}
	/* A NAT between client and us would make the mapping useless (RFC 6887 8.3). */
	if (!addr_equal(&req.client_addr, src))
		return pcp_error(s, &req, PCP_ADDRESS_MISMATCH, now_ms, out, cap);
	switch (req.opcode) {
	case PCP_OP_ANNOUNCE:
		return pcp_success(s, &req, NULL, now_ms, out, cap);
	case PCP_OP_MAP:
		return pcp_map(s, &req, src, now_ms, out, cap);
	case PCP_OP_PEER:
		return pcp_peer(s, &req, src, now_ms, out, cap);
	}
	return pcp_error(s, &req, PCP_UNSUPP_OPCODE, now_ms, out, cap);
}

/* ---------- NAT-PMP ---------- */

static uint16_t natpmp_result_of(uint8_t pcp)
{
	switch (pcp) {
	case PCP_SUCCESS:
		return NATPMP_SUCCESS;
	case PCP_NETWORK_FAILURE:
		return NATPMP_NETWORK_FAILURE;
	case PCP_NO_RESOURCES:
	case PCP_USER_EX_QUOTA:
		return NATPMP_NO_RESOURCES;
	}
	return NATPMP_NOT_AUTHORIZED;
}

static uint8_t natpmp_map(struct pcp_server *s, const struct natpmp_request *req, const struct in6_addr *src,
			  struct natpmp_response *resp)
{
	struct map_req mr;
	struct map_res res;
	uint8_t rc;

	memset(&mr, 0, sizeof(mr));
	mr.owner = *src;
	mr.internal = *src;
	mr.v4 = true;
	mr.proto = req->op == NATPMP_OP_MAP_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	mr.int_port = req->internal_port;
	mr.sugg_port = req->ext_port;
	mr.lifetime = req->lifetime;
	mr.origin = ORIGIN_NATPMP;
	mr.desc = "nat-pmp";
	resp->internal_port = req->internal_port;
	if (!addr_is_v4(src))
		return PCP_NOT_AUTHORIZED;  /* NAT-PMP is IPv4 only */
	if (mr.lifetime == 0 && mr.int_port == 0)
		return map_delete_all(s, &mr);
	if (mr.int_port == 0)
		return PCP_MALFORMED_REQUEST;
	rc = map_run(s, &mr, &res);
	if (rc == PCP_SUCCESS && mr.lifetime != 0) {
		resp->ext_port = res.ext_port;
		resp->lifetime = res.lifetime;
	}
	return rc;
}

static size_t handle_natpmp(struct pcp_server *s, const uint8_t *in, size_t len, const struct in6_addr *src,
			    uint64_t now_ms, uint8_t *out, size_t cap)
{
	struct natpmp_request req;
	struct natpmp_response resp;
	struct in_addr wan;
	uint16_t rc;
	uint8_t prc;

	memset(&resp, 0, sizeof(resp));
	switch (natpmp_wire_parse_request(in, len, &req, &rc)) {
	case NATPMP_PARSE_DROP:
		s->st.dropped++;
		return 0;
	case NATPMP_PARSE_ERROR:
		resp.result = rc;
		break;
	case NATPMP_PARSE_OK:
		break;
	}
	resp.op = req.op;
	resp.epoch = epoch_of(s, now_ms);
	if (resp.result == NATPMP_SUCCESS && req.op == NATPMP_OP_EXTERNAL) {
		if (public_addr_for(s, src, &wan))
			memcpy(resp.ext_addr, &wan.s_addr, 4);
		else
			resp.result = NATPMP_NETWORK_FAILURE;
	} else if (resp.result == NATPMP_SUCCESS) {
		prc = natpmp_map(s, &req, src, &resp);
		resp.result = natpmp_result_of(prc);
		if (prc != PCP_SUCCESS)
			s->st.errors[prc & 15]++;
	}
	return natpmp_wire_build_response(&resp, out, cap);
}

/* NAT-PMP turned off: a version-0 request is answered as a NAT-PMP-only client reads it, the 8-octet
 * NAT-PMP UNSUPP_VERSION (RFC 6887 9), not a PCP header it would take for a malformed answer. */
static size_t natpmp_unsupp_version(struct pcp_server *s, const uint8_t *in, size_t len, uint64_t now_ms,
				    uint8_t *out, size_t cap)
{
	struct natpmp_response resp;

	if (len < 2 || in[1] >= NATPMP_OP_RESPONSE) {
		s->st.dropped++;
		return 0;
	}
	memset(&resp, 0, sizeof(resp));
	resp.op = in[1];
	resp.result = NATPMP_UNSUPP_VERSION;
	resp.epoch = epoch_of(s, now_ms);
	s->st.errors[PCP_UNSUPP_VERSION]++;
	return natpmp_wire_build_response(&resp, out, cap);
}

/* ---------- public ---------- */

struct pcp_server *pcp_server_new(const struct pcp_server_params *p, uint64_t now_ms)
{
	struct pcp_server *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->p = *p;
	s->epoch_ms = now_ms;
	s->buckets = hmap_new(sizeof(struct in6_addr));
	if (s->buckets == NULL || p->core == NULL) {
		pcp_server_free(s);
		return NULL;
	}
	return s;
}

void pcp_server_free(struct pcp_server *s)
{
	struct bucket *b;
	size_t pos = 0;

	if (s == NULL)
		return;
	if (s->buckets)
		while ((b = hmap_next(s->buckets, &pos)) != NULL)
			free(b);
	hmap_free(s->buckets);
	free(s);
}

static size_t handle(struct pcp_server *s, const uint8_t *in, size_t len, const struct in6_addr *src,
		     uint64_t now_ms, uint8_t *out, size_t cap, bool asked)
{
	size_t n;

	s->deferred = false;
	s->up_pending = false;
	s->asked = asked;
	if (cap < PCP_MAX_MSG || len < 1)
		return 0;
	if (in[0] == NATPMP_VERSION && !s->p.natpmp_off)
		n = handle_natpmp(s, in, len, src, now_ms, out, cap);
	else if (in[0] == NATPMP_VERSION)
		n = natpmp_unsupp_version(s, in, len, now_ms, out, cap);
	else
		n = handle_pcp(s, in, len, src, now_ms, out, cap);
	if (s->deferred || s->up_pending)
		return 0;
	if (n)
		s->st.replies++;
	return n;
}

size_t pcp_server_handle(struct pcp_server *s, const uint8_t *in, size_t len, const struct in6_addr *src,
			 uint64_t now_ms, uint8_t *out, size_t cap)
{
	s->st.requests++;
	s->deferred = false;
	s->up_pending = false;
	if (cap >= PCP_MAX_MSG && len >= 1 && !rate_ok(s, src, now_ms)) {
		s->st.rate_limited++;
		return 0;
	}
	return handle(s, in, len, src, now_ms, out, cap, false);
}

size_t pcp_server_handle_asked(struct pcp_server *s, const uint8_t *in, size_t len, const struct in6_addr *src,
			       uint64_t now_ms, uint8_t *out, size_t cap)
{
	/* counted and rate-limited when it first came */
	return handle(s, in, len, src, now_ms, out, cap, true);
}

bool pcp_server_deferred(const struct pcp_server *s, struct in6_addr addrs[2])
{
	if (!s->deferred)
		return false;
	addrs[0] = s->deferred_addr[0];
	addrs[1] = s->deferred_addr[1];
	return true;
}

/* Success in either protocol's answer: PCP's result is octet 3, NAT-PMP's octets 2-3. */
static bool reply_is_success(const uint8_t *out, size_t n)
{
	if (n < 4)
		return false;
	return out[0] == NATPMP_VERSION ? out[2] == 0 && out[3] == 0 : out[3] == 0;
}

/* The answer to a request whose success the firewall or the store did not take: NO_RESOURCES, built by
 * the codecs from the request as every error answer is (PCP: its opcode data and options copied back). */
static size_t refuse(struct pcp_server *s, const struct pcp_server_msg *m, uint64_t now_ms)
{
	if (m->in[0] == NATPMP_VERSION && !s->p.natpmp_off) {
		struct natpmp_request req;
		struct natpmp_response resp;
		uint16_t ignored;

		memset(&req, 0, sizeof(req));
		(void)natpmp_wire_parse_request(m->in, m->len, &req, &ignored);
		memset(&resp, 0, sizeof(resp));
		resp.op = req.op;
		resp.result = NATPMP_NO_RESOURCES;
		resp.epoch = epoch_of(s, now_ms);
		resp.internal_port = req.internal_port;
		s->st.errors[PCP_NO_RESOURCES]++;
		return natpmp_wire_build_response(&resp, m->out, m->cap);
	} else {
		struct pcp_request req;
		uint8_t ignored;

		(void)pcp_wire_parse_request(m->in, m->len, &req, &ignored);
		return pcp_error(s, &req, PCP_NO_RESOURCES, now_ms, m->out, m->cap);
	}
}

/* One request of a group, inside the core batch: its answer, and whether that answer hangs on it. */
static void group_one(struct pcp_server *s, struct pcp_server_msg *m, uint64_t now_ms)
{
	size_t before = core_batch_changes(s->p.core);

	m->out_len = pcp_server_handle(s, m->in, m->len, &m->src, now_ms, m->out, m->cap);
	m->deferred = pcp_server_deferred(s, m->wait_for);
	m->upstream = pcp_server_upstream_pending(s, &m->job);
	m->hung_on_batch = (m->upstream || reply_is_success(m->out, m->out_len)) &&
			   core_batch_changes(s->p.core) != before;
}

void pcp_server_handle_group(struct pcp_server *s, struct pcp_server_msg *m, size_t n, uint64_t now_ms)
{
	size_t retried = 0, refused = 0;

	/* the upstream halves (PCP proxy) are jobs the caller submits after this: the batch never waits on
	 * the upstream, and a job only ever names a committed local rule */
	core_batch_begin(s->p.core);
	for (size_t i = 0; i < n; i++)
		group_one(s, &m[i], now_ms);
	if (core_batch_end(s->p.core) == 0)
		return;
	/* Undone (the core's tables with it). Each request whose success hung on the batch runs again
	 * alone (a batch of one); the one the firewall refuses fails alone. */
	for (size_t i = 0; i < n; i++) {
		if (!m[i].hung_on_batch)
			continue;
		retried++;
		core_batch_begin(s->p.core);
		m[i].out_len = handle(s, m[i].in, m[i].len, &m[i].src, now_ms, m[i].out, m[i].cap, false);
		m[i].deferred = pcp_server_deferred(s, m[i].wait_for);
		m[i].upstream = pcp_server_upstream_pending(s, &m[i].job);
		if (core_batch_end(s->p.core) < 0) {
			m[i].out_len = refuse(s, &m[i], now_ms);
			m[i].upstream = false;
			m[i].deferred = false;
			refused++;
		}
	}
	log_debug("pcp: a batch of %zu requests was refused; %zu retried alone, %zu of them refused", n, retried,
		  refused);
}

size_t pcp_server_upstream_answer(struct pcp_server *s, const uint8_t *in, size_t len, const struct in6_addr *src,
				  const struct pcp_upstream_job *job, const struct pcp_upstream_answer *a,
				  uint64_t now_ms, uint8_t *out, size_t cap)
{
	size_t n;

	(void)src;
	if (cap < PCP_MAX_MSG || len < 1)
		return 0;
	if (in[0] == NATPMP_VERSION) {
		struct natpmp_request req;
		struct natpmp_response resp;
		uint16_t ignored;

		memset(&req, 0, sizeof(req));
		if (natpmp_wire_parse_request(in, len, &req, &ignored) != NATPMP_PARSE_OK)
			return 0;
		memset(&resp, 0, sizeof(resp));
		resp.op = req.op;
		resp.epoch = epoch_of(s, now_ms);
		resp.internal_port = req.internal_port;
		resp.result = natpmp_result_of(a->result);
		if (a->result == PCP_SUCCESS) {
			resp.ext_port = a->ext_port;
			resp.lifetime = job->lifetime;
		} else {
			s->st.errors[a->result & 15]++;
		}
		n = natpmp_wire_build_response(&resp, out, cap);
	} else {
		struct pcp_request req;
		uint8_t ignored;

		if (pcp_wire_parse_request(in, len, &req, &ignored) != PCP_PARSE_OK)
			return 0;
		if (a->result == PCP_SUCCESS) {
			struct map_res res = { .lifetime = job->lifetime, .ext_port = a->ext_port };

			/* the answer echoes what the rule kept (as the first pass cut it) */
			if (req.opt.has_description && req.opcode == PCP_OP_PEER) {
				char desc[RULE_DESC_MAX + 1];

				peer_desc(&req, true, true, desc, sizeof(desc));
			} else if (req.opt.has_description) {
				desc_fit(&req.opt, RULE_DESC_MAX);
			}
			addr_from_v4(&res.ext_addr, a->ext_addr);
			n = pcp_success(s, &req, &res, now_ms, out, cap);
		} else {
			n = pcp_error(s, &req, a->result, now_ms, out, cap);
		}
	}
	if (n)
		s->st.replies++;
	return n;
}

void pcp_server_reset_epoch(struct pcp_server *s, uint64_t now_ms)
{
	s->epoch_ms = now_ms;
}

uint32_t pcp_server_epoch(const struct pcp_server *s, uint64_t now_ms)
{
	return epoch_of(s, now_ms);
}

size_t pcp_server_announce(const struct pcp_server *s, uint64_t now_ms, uint8_t *out, size_t cap)
{
	struct pcp_response r;

	memset(&r, 0, sizeof(r));
	r.version = PCP_VERSION;
	r.opcode = PCP_OP_ANNOUNCE;
	r.result = PCP_SUCCESS;
	r.epoch = epoch_of(s, now_ms);
	return pcp_wire_build_response(&r, out, cap);
}

size_t pcp_server_natpmp_announce(const struct pcp_server *s, uint64_t now_ms, uint8_t *out, size_t cap)
{
	struct natpmp_response r;
	struct in_addr wan;

	if (!public_addr_for(s, NULL, &wan))
		return 0;
	memset(&r, 0, sizeof(r));
	r.op = NATPMP_OP_EXTERNAL;
	r.epoch = epoch_of(s, now_ms);
	memcpy(r.ext_addr, &wan.s_addr, 4);
	return natpmp_wire_build_response(&r, out, cap);
}

void pcp_server_stats(const struct pcp_server *s, struct pcp_server_stats *out)
{
	*out = s->st;
}
