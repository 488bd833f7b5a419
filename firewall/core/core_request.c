/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core's requests: add, refresh, delete, renonce, and the verdicts they pass (policy, ownership,
 * clashes, ports). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firewall/core/core.h"
#include "firewall/core/core_priv.h"
#include "firewall/core/device.h"
#include "firewall/core/policy.h"
#include "firewall/core/rule.h"
#include "firewall/lib/addr.h"
#include "firewall/lib/hmap.h"
#include "firewall/nft/fw.h"

/* ---------- requests ---------- */

static bool same_device(struct core *c, const struct in6_addr *a, const struct in6_addr *b)
{
	if (addr_equal(a, b))
		return true;
	return c->p.same_device ? c->p.same_device(c->p.device_arg, a, b) : false;
}

bool core_requester_owns_target(struct core *c, const struct rule *r, const struct in6_addr *requester)
{
	struct in6_addr addrs[2];
	size_t n = rule_addresses(r, addrs);

	for (size_t i = 0; i < n; i++)
		if (same_device(c, requester, &addrs[i]))
			return true;
	return false;
}

/* Same request = same thing opened for the same target (lease, description and owner aside). */
static bool same_request(const struct rule *a, const struct rule *b)
{
	const struct rule_target *x = &a->target, *y = &b->target;

	return a->kind == b->kind && a->proto == b->proto && a->int_port == b->int_port &&
	       a->ext_port == b->ext_port && a->ext_addr.s_addr == b->ext_addr.s_addr &&
	       a->remote_len == b->remote_len && a->remote_port == b->remote_port &&
	       addr_equal(&a->remote, &b->remote) && x->use_exact == y->use_exact &&
	       (!x->use_exact || addr_equal(&x->exact, &y->exact)) && x->use_stable == y->use_stable &&
	       (!x->use_stable || (x->subnet_len == y->subnet_len && addr_equal(&x->subnet, &y->subnet) &&
				   memcmp(x->mac, y->mac, 6) == 0));
}

/* Does changing a into b change its kernel elements (not just their timeout)? Whatever core_rule_elems
 * makes them of, compared as it makes them: a list of the rule's fields drifted from it once (a CGN
 * PEER taken over by the operator's mapping changes its origin, and so its SNAT companion, and was
 * "the same"). core_rule_elems starts every element from zero bytes and fills no timeout or counter, so
 * the bytes compare. Allocation-free: this runs on every refresh. */
bool core_rule_moves(const struct rule *a, const struct rule *b)
{
	struct fw_elem ea[2], eb[2];
	size_t n = core_rule_elems(a, ea);

	return core_rule_elems(b, eb) != n || (n && memcmp(ea, eb, n * sizeof(ea[0])) != 0);
}

/* The rules sharing the element of r's first address (pinhole twins or the port mapping's key). */
static const void *first_slot_of(struct core *c, const struct rule *r)
{
	struct fw_elem e[2];
	struct elem_key k;

	if (core_rule_elems(r, e) == 0)
		return NULL;
	k = core_key_of(&e[0]);
	return hmap_get(c->elems, &k);
}

static void set_lease(struct core *c, struct rule *r, uint32_t asked, bool exact, int64_t now)
{
	r->lease = exact ? asked : policy_lease_for(&c->p.policy, r->origin, asked);
	r->expires = r->lease ? now + r->lease : 0;
}

static enum verdict replace_rule(struct core *c, struct rec *old, const struct rule *upd, enum core_event ev,
				 struct rule *out)
{
	struct rule next;
	struct in6_addr addrs[2];
	struct batch_op *op;

	rule_copy(&next, upd);
	/* Front ends do not set the state: it follows from whether the rule has an address now. */
	next.state = rule_addresses(&next, addrs) ? RULE_INSTALLED : RULE_PENDING;
	if (!core_batch_reserve(c) || core_persist_put(c, &next) < 0)
		return V_NO_RESOURCES;
	op = core_batch_push(c, OP_REPLACED, old, ev);
	if (core_rule_set(c, &old, &next, &c->b.tt) < 0)
		c->b.broken = true;
	core_note_expiry(c, old->expires);
	core_rec_get(old, &op->note);
	if (out) {
		core_rec_get(old, out);
		core_fill_counters(c, out);
	}
	return V_OK;
}

/* Port mappings: find a free external port near the one asked for (AddAnyPortMapping, PCP). */
/* Does the rule holding the element of r's key with a wider remote filter (open) go to another
 * internal endpoint than r? */
static bool wider_held_by_another(struct core *c, const struct rule *r, const struct rule *open)
{
	const void *v = first_slot_of(c, open);
	const struct slot_holder *h;
	struct slot_holder one;
	size_t n = v ? core_slot_holders(v, &h, &one) : 0;

	for (size_t i = 0; i < n; i++) {
		const struct rec *x = core_rec_by_id(c, h[i].id);
		struct rule o;

		if (x == NULL)
			continue;
		core_rec_get(x, &o);
		if (!(addr_equal(&o.target.exact, &r->target.exact) && o.int_port == r->int_port))
			return true;
	}
	return false;
}

/* Would the remote-filtered port mapping r take traffic from another host's less filtered mapping on
 * its external port (the NAT looks up the most specific one first: a remote port before a remote host
 * before none)? The same internal endpoint's is no harm. Two lookups at most. */
static bool shadows_another(struct core *c, const struct rule *r)
{
	struct rule open;

	if (r->remote_len == 0)
		return false;
	open = *r;
	if (r->remote_port != 0) {
		open.remote_port = 0;
		if (wider_held_by_another(c, r, &open))
			return true;
	}
	open.remote_len = 0;
	open.remote_port = 0;
	memset(&open.remote, 0, sizeof(open.remote));
	return wider_held_by_another(c, r, &open);
}

static bool port_free(struct core *c, const struct rule *r)
{
	return first_slot_of(c, r) == NULL && !shadows_another(c, r);
}

/* r's external port by a searching strategy (enum core_port), set in r: V_OK, or V_CONFLICT / V_QUOTA. */
static enum verdict pick_port(struct core *c, const struct core_add_req *req, struct rule *r)
{
	uint32_t lo, hi, span, start, tries;
	bool low_ok = false;

	switch (req->port) {
	case CORE_PORT_EXACT:
	case CORE_PORT_NEW_EXACT:
		return port_free(c, r) ? V_OK : V_CONFLICT;
	case CORE_PORT_NEAREST:
		lo = c->p.ext_port_min, hi = c->p.ext_port_max;
		start = r->ext_port >= lo && r->ext_port <= hi ? r->ext_port : lo;
		tries = hi - lo + 1;
		low_ok = true;   /* ext_port_min bounds it */
		break;
	case CORE_PORT_NEW_NEAREST:
		if (r->ext_port >= 1024 && port_free(c, r))
			return V_OK;
		lo = 1024, hi = 65535;
		start = req->port_then ? req->port_then : r->ext_port;
		if (start < lo)
			start = lo;
		tries = CORE_PORT_SEARCH;
		break;
	case CORE_PORT_IN_BLOCK:
		if (req->port_lo == 0 || req->port_hi < req->port_lo)
			return V_INVALID;
		lo = req->port_lo, hi = req->port_hi;
		start = r->ext_port >= lo && r->ext_port <= hi ? r->ext_port : lo + r->int_port % (hi - lo + 1);
		tries = hi - lo + 1;
		low_ok = true;
		break;
	default:
		return V_INVALID;
	}
	span = hi - lo + 1;
	for (uint32_t i = 0; i < tries && i < span; i++) {
		r->ext_port = (uint16_t)(lo + (start - lo + i) % span);
		if ((low_ok || r->ext_port >= 1024) && port_free(c, r))
			return V_OK;
	}
	return req->port == CORE_PORT_IN_BLOCK ? V_QUOTA : V_CONFLICT;
}

static uint32_t alloc_id(struct core *c)
{
	bool small = hmap_count(c->rules) < ID_SMALL_MAX;
	uint32_t lo = small ? 1 : ID_SMALL_MAX + 1, hi = small ? ID_SMALL_MAX : RULE_ID_MAX;

	/* Bounded: there are at most count rules, so at most count + 1 probes find a free id. */
	for (size_t n = 0; n <= hmap_count(c->rules) + 1; n++) {
		uint32_t id = c->next_id;

		c->next_id = (id >= hi || id < lo) ? lo : id + 1;
		if (id < lo || id > hi)
			continue;
		if (core_rec_by_id(c, id) == NULL)
			return id;
	}
	return 0;
}

static enum verdict insert_new(struct core *c, struct rule *r, struct rule *out)
{
	struct rec *x;

	r->id = alloc_id(c);
	if (r->id == 0)
		return V_QUOTA;
	if (!core_batch_reserve(c) || (x = core_rec_new(r)) == NULL)
		return V_NO_RESOURCES;
	if (core_table_insert(c, x) < 0) {
		free(x);
		return V_NO_RESOURCES;
	}
	if (core_attach_rule(c, &c->b.tt, x) < 0 || (r->state = (enum rule_state)x->state, core_persist_put(c, r) < 0)) {
		core_detach_rule(c, NULL, x);
		core_table_remove(c, x);
		free(x);
		return V_NO_RESOURCES;
	}
	core_rec_get(x, &core_batch_push(c, OP_INSERTED, x, CORE_EV_ADDED)->note);
	if (out)
		core_rec_get(x, out);
	return V_OK;
}

/* Ties a pinhole to its device, when the device table knows the address asked for: the MAC and the
 * address's kind (so a rule for a temporary address is shown as one, and allow_temporary can refuse it).
 * For app requests (UPnP, PCP, NAT-PMP) it also applies pinhole_target: "both" adds the device's stable
 * address in the /64 as a second selector (pending until known), "stable" uses it instead of the address
 * asked for once it is known (until then the app keeps what it asked for, rather than nothing). The
 * operator and the household UI get exactly what they typed. */
static void decorate_target(struct core *c, struct rule *r)
{
	struct rule_target *tg = &r->target;
	const struct device_addr *da = NULL;
	const struct device *d;
	enum pinhole_target_policy pt = c->p.policy.pinhole_target;
	bool app = rule_origin_is_app(r->origin);

	if (r->kind != RULE_PINHOLE || !tg->use_exact || tg->use_stable || c->p.devices == NULL)
		return;
	d = device_by_addr(c->p.devices, &tg->exact, &da);
	if (d == NULL)
		return;
	memcpy(tg->mac, d->mac, 6);
	tg->has_mac = true;
	if (da)
		tg->exact_kind = da->kind;
	if (!app || pt == PINHOLE_TARGET_REQUESTED || addr_is_ula(&tg->exact) || addr_is_link_local(&tg->exact))
		return;
	tg->subnet = tg->exact;
	addr_mask(&tg->subnet, 64);
	tg->subnet_len = 64;
	tg->use_stable = true;
	tg->stable_resolved = device_stable_address(c->p.devices, tg->mac, &tg->subnet, 64, &tg->stable);
	if (!tg->stable_resolved)
		memset(&tg->stable, 0, sizeof(tg->stable));
	if (pt == PINHOLE_TARGET_STABLE && tg->stable_resolved && !addr_equal(&tg->stable, &tg->exact))
		tg->use_exact = false;
}

/* Is r for a device whose apps the household blocked (by its MAC, or one of its addresses)? */
static bool target_blocked(struct core *c, const struct rule *r)
{
	struct in6_addr addrs[2];
	size_t n = rule_addresses(r, addrs);

	if (r->target.has_mac && device_apps_blocked(c->p.devices, r->target.mac))
		return true;
	for (size_t i = 0; i < n; i++)
		if (device_apps_blocked_at(c->p.devices, &addrs[i]))
			return true;
	return false;
}

/* Is the requester an address of a device whose apps the household blocked? (No table: none is.) */
static bool requester_blocked(struct core *c, const struct in6_addr *requester)
{
	return requester && device_apps_blocked_at(c->p.devices, requester);
}

/* policy_check_change with the facts the core knows: may this requester change or delete r? */
static enum verdict change_verdict(struct core *c, const struct rule *r, const struct in6_addr *requester,
				   bool privileged)
{
	return policy_check_change(&c->p.policy, r, requester, privileged,
				   requester ? core_requester_owns_target(c, r, requester) : false,
				   requester_blocked(c, requester));
}

/* The policy verdict on r as the request asks for it. A request that replaces an existing rule
 * (`replacing`, else NULL) passes it as a new rule would, counted without the rule it replaces: an
 * app cannot turn a mapping into one it could not have added (another port, a denied target). */
static enum verdict add_verdict(struct core *c, const struct core_add_req *req, const struct rule *r,
				const struct rule *replacing)
{
	struct policy_request pr = { 0 };
	struct in6_addr key = core_owner_key(r);

	pr.rule = r;
	pr.requester = req->rule.owner;
	pr.privileged = req->privileged;
	pr.third_party = req->third_party;
	pr.own_device_only = req->own_device_only;
	pr.same_device = core_requester_owns_target(c, r, &req->rule.owner);
	pr.owner_rule_count = core_owner_count(c, &key);
	pr.table_rule_count = (uint32_t)hmap_count(c->rules);
	pr.lan = &c->lan;
	if (replacing) {
		struct in6_addr was = core_owner_key(replacing);

		pr.table_rule_count--;
		if (pr.owner_rule_count && addr_equal(&was, &key))
			pr.owner_rule_count--;
	}
	return policy_check_add(&c->p.policy, &pr);
}

/* r replaces old (same id), if the policy lets the request ask for r and the kernel can hold it. */
static enum verdict replace_checked(struct core *c, const struct core_add_req *req, struct rec *x,
				    const struct rule *old, struct rule *r, struct rule *out)
{
	enum verdict v = add_verdict(c, req, r, old);

	if (v == V_OK && core_rule_clashes(c, r, old->id))
		v = V_CONFLICT;
	if (v != V_OK)
		return v;
	r->id = old->id;
	return replace_rule(c, x, r, CORE_EV_CHANGED, out);
}

/* Made by the same hand: both by apps, or both by the household or the operator. */
static bool same_hand(const struct rule *a, const struct rule *b)
{
	return rule_origin_is_app(a->origin) == rule_origin_is_app(b->origin);
}

static bool addr_known(struct core *c, const struct in6_addr *a)
{
	return device_by_addr(c->p.devices, a, NULL) != NULL;
}

static bool lan_may_hold(const struct core *c, const struct in6_addr *a)
{
	if (addr_is_unspecified(a) || addr_is_multicast(a) || addr_is_loopback(a))
		return false;
	if (!c->lan.known)
		return true;
	for (size_t i = 0; i < c->lan.n_subnets; i++)
		if (addr_in_prefix(a, &c->lan.subnet[i], c->lan.subnet_len[i]))
			return true;
	return false;
}

/* policy_check_apps with the facts the device table knows (no table: nobody is blocked). The requester
 * is judged by its device whatever address it spoke from. */
static enum verdict apps_verdict(struct core *c, const struct rule *r, const struct in6_addr *requester)
{
	bool blocked = r->has_owner_mac ? device_apps_blocked(c->p.devices, r->owner_mac) :
		       requester_blocked(c, requester);

	return policy_check_apps(r->origin, blocked, target_blocked(c, r));
}

/* The requester's device, when the LAN showed it: the rule counts against that device's quota. */
static void note_owner_device(struct core *c, struct rule *r)
{
	const struct device *d = device_by_addr(c->p.devices, &r->owner, NULL);

	r->has_owner_mac = d != NULL;
	if (d)
		memcpy(r->owner_mac, d->mac, 6);
	else
		memset(r->owner_mac, 0, 6);
}

static enum verdict add_locked(struct core *c, const struct core_add_req *req, struct rule *out)
{
	struct rule r = req->rule;
	int64_t now = core_now(c);
	const struct slot_holder *h;
	struct slot_holder one;
	const void *s;
	size_t n_held;
	enum verdict v;

	rule_scrub_desc(r.desc);
	if (r.remote_len)
		addr_mask(&r.remote, r.remote_len);
	else
		memset(&r.remote, 0, sizeof(r.remote));
	r.packets = r.bytes = 0;
	/* a new mapping whatever the requester holds: its port first (no slot holds it then; a CGN block
	 * may be asked without a suggestion) */
	if (r.kind == RULE_PORTMAP && req->port >= CORE_PORT_NEW_EXACT && (v = pick_port(c, req, &r)) != V_OK)
		return v;
	if (rule_validate(&r) != NULL)
		return V_INVALID;
	set_lease(c, &r, req->rule.lease, req->exact_lease, now);
	note_owner_device(c, &r);
	/* An app's request from an address no device answers for on the LAN (we asked): a spoofed source
	 * or a host that left. It acts for nobody (and a blocked device cannot hide behind a new address). */
	if (rule_origin_is_app(r.origin) && !req->privileged && c->p.devices && c->p.ask && req->asked &&
	    !r.has_owner_mac && lan_may_hold(c, &r.owner))
		return V_NOT_AUTHORIZED;
	/* before the identical-rule check, so a repeated request decorates the same way and refreshes */
	decorate_target(c, &r);
	/* before the refresh too: an app on a blocked device keeps nothing alive */
	if ((v = apps_verdict(c, &r, &req->rule.owner)) != V_OK)
		return v;

	s = first_slot_of(c, &r);
	n_held = s ? core_slot_holders(s, &h, &one) : 0;
	for (size_t i = 0; i < n_held; i++) {
		struct rec *x = core_rec_by_id(c, h[i].id);
		struct rule oldr, *old = &oldr;

		if (x == NULL)
			continue;
		core_rec_get(x, old);
		if (r.kind == RULE_PORTMAP) {
			/* The external port is taken. Its holder may change its own mapping (IGD); an app never
			 * one made by hand (policy_check_change). */
			if (change_verdict(c, old, &req->rule.owner, req->privileged) == V_OK &&
			    addr_equal(&old->target.exact, &r.target.exact))
				return replace_checked(c, req, x, old, &r, out);
			if (req->port != CORE_PORT_NEAREST || pick_port(c, req, &r) != V_OK)
				return V_CONFLICT;
			break;
		}
		/* An identical pinhole is refreshed only for its own holder, and by the same hand (an app
		 * never refreshes the household's rule); anyone else gets a rule of its own sharing the
		 * element, so neither can cut the other's lease short. */
		if (same_request(old, &r) && same_hand(old, &r) &&
		    (addr_equal(&old->owner, &r.owner) || same_device(c, &old->owner, &r.owner))) {
			r.origin = old->origin;
			return replace_checked(c, req, x, old, &r, out);
		}
	}

	if (r.kind == RULE_PORTMAP && shadows_another(c, &r) &&
	    (req->port != CORE_PORT_NEAREST || pick_port(c, req, &r) != V_OK))
		return V_CONFLICT;
	v = add_verdict(c, req, &r, NULL);
	/* A clash on the SNAT companion: the internal endpoint leaves from another mapping's external
	 * endpoint already, one made by hand (an app's own PCP/NAT-PMP mapping of it is found by name before
	 * it gets here). PCP may not change a static mapping (RFC 6887 11.3); the operator is told of the
	 * conflict. */
	if (v == V_OK && core_rule_clashes(c, &r, 0))
		v = !req->privileged && core_companion_holder(c, &r, 0) != NULL ? V_NOT_AUTHORIZED : V_CONFLICT;
	if (v != V_OK)
		return v;
	return insert_new(c, &r, out);
}

/* The addresses an app's request names (its source, its target) that the LAN has not shown yet and
 * could: whose they are may change the answer (secure mode, the household's block, the device's
 * stable address for pinhole_target). Asked once per request; then the core decides with what it has. */
static size_t unknown_addresses(struct core *c, const struct core_add_req *req, struct in6_addr out[2])
{
	const struct rule *r = &req->rule;
	size_t n = 0;

	if (!c->p.devices || !c->p.ask || req->privileged || req->asked || !rule_origin_is_app(r->origin))
		return 0;
	if (lan_may_hold(c, &r->owner) && !addr_known(c, &r->owner))
		out[n++] = r->owner;
	if (r->target.use_exact && !addr_equal(&r->target.exact, &r->owner) && lan_may_hold(c, &r->target.exact) &&
	    !addr_known(c, &r->target.exact))
		out[n++] = r->target.exact;
	return n;
}

enum verdict core_add(struct core *c, const struct core_add_req *req, struct rule *out)
{
	struct in6_addr ask[2];
	size_t n;
	enum verdict v;

	core_enter_as(c, true);
	n = unknown_addresses(c, req, ask);
	for (size_t i = 0; i < n; i++)
		device_note_asked(c->p.devices, &ask[i], core_now(c));   /* its answer is not the host's talk */
	v = n ? V_ASKING : add_locked(c, req, out);
	v = core_request_leave_verdict(c, v);
	for (size_t i = 0; i < n; i++)
		c->p.ask(c->p.ask_arg, &ask[i]);
	return v;
}

bool core_addresses_known(struct core *c, const struct in6_addr *a, size_t n)
{
	bool all = true;

	core_lock(c);
	for (size_t i = 0; c->p.devices && all && i < n; i++)
		all = addr_known(c, &a[i]);
	core_unlock(c);
	return all;
}

/* Waits until the table knows the request's addresses, or ms passed. */
static void wait_known(struct core *c, const struct core_add_req *req, int64_t ms)
{
	struct timespec until;
	const struct rule *r = &req->rule;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	core_lock(c);
	while (!(addr_known(c, &r->owner) && (!r->target.use_exact || addr_known(c, &r->target.exact))) &&
	       core_cond_timedwait(c, &c->devices_changed, &until) == 0)
		;
	core_unlock(c);
}

enum verdict core_add_wait(struct core *c, const struct core_add_req *req, struct rule *out)
{
	struct core_add_req again;
	enum verdict v = core_add(c, req, out);

	if (v != V_ASKING)
		return v;
	wait_known(c, req, CORE_ASK_WAIT_MS);
	again = *req;
	again.asked = true;
	return core_add(c, &again, out);
}

enum verdict core_refresh(struct core *c, uint32_t id, uint32_t lease, const struct in6_addr *requester,
			  bool privileged, struct rule *out)
{
	struct rule oldr, *old = &oldr, upd;
	struct rec *x;
	enum verdict v;

	core_enter_as(c, true);
	x = core_rec_by_id(c, id);
	if (x == NULL) {
		v = V_NOT_FOUND;
		goto out;
	}
	core_rec_get(x, old);
	v = change_verdict(c, old, requester, privileged);
	if (v == V_OK)
		v = apps_verdict(c, old, requester);
	if (v != V_OK)
		goto out;
	rule_copy(&upd, old);
	set_lease(c, &upd, lease, privileged, core_now(c));
	/* what it opens is judged again: a deny line or a port limit may have come since it was made */
	v = policy_check_standing(&c->p.policy, &c->lan, &upd, privileged);
	if (v == V_OK)
		v = replace_rule(c, x, &upd, CORE_EV_CHANGED, out);
out:
	return core_request_leave_verdict(c, v);
}

enum verdict core_renonce(struct core *c, uint32_t id, const struct in6_addr *requester,
			  const uint8_t nonce[RULE_NONCE_LEN], struct rule *out)
{
	struct rule oldr, *old = &oldr, upd;
	struct rec *x;
	enum verdict v = V_NOT_AUTHORIZED;

	core_enter_as(c, true);
	x = core_rec_by_id(c, id);
	if (x == NULL) {
		v = V_NOT_FOUND;
		goto out;
	}
	core_rec_get(x, old);
	/* the mapping's own host only: whoever made it for another host (THIRD_PARTY) is not that host */
	if (!old->has_nonce || !old->target.use_exact || !same_device(c, requester, &old->target.exact))
		goto out;
	if ((v = apps_verdict(c, old, requester)) != V_OK)
		goto out;
	rule_copy(&upd, old);
	memcpy(upd.nonce, nonce, RULE_NONCE_LEN);
	v = replace_rule(c, x, &upd, CORE_EV_CHANGED, out);
out:
	return core_request_leave_verdict(c, v);
}

/* Takes r out of the table: one journal line, its elements in the batch. keep: it stays out even if
 * the batch fails (expiry: the kernel times the elements out by itself). */
int core_remove_rule(struct core *c, struct rec *x, enum core_event ev, bool keep)
{
	struct batch_op *op;

	if (!core_batch_reserve(c) || (core_persist_del(c, x->id) < 0 && !keep))
		return -1;
	op = core_batch_push(c, OP_REMOVED, x, ev);
	op->keep = keep;
	core_detach_rule(c, &c->b.tt, x);
	core_table_remove(c, x);
	x->state = RULE_GONE;
	core_rec_get(x, &op->note);
	return 0;
}

enum verdict core_delete(struct core *c, uint32_t id, const struct in6_addr *requester, bool privileged)
{
	struct rule r;
	struct rec *x;
	enum verdict v;

	core_enter_as(c, true);
	x = core_rec_by_id(c, id);
	if (x == NULL) {
		v = V_NOT_FOUND;
		goto out;
	}
	core_rec_get(x, &r);
	v = change_verdict(c, &r, requester, privileged);
	if (v == V_OK && core_remove_rule(c, x, CORE_EV_DELETED, false) < 0)
		v = V_NO_RESOURCES;
out:
	return core_request_leave_verdict(c, v);
}

/* Appends r to a growing array of rules (*arr, *n of *cap). false: out of memory, nothing appended. */
bool core_rules_push(struct rec ***arr, size_t *n, size_t *cap, struct rec *r)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct rec **p = realloc(*arr, ncap * sizeof(*p));

		if (p == NULL)
			return false;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = r;
	return true;
}

/* Was r made by an app for the device with this MAC, or from one of its addresses? */
static bool app_rule_of(struct core *c, const struct rule *r, const uint8_t mac[6])
{
	struct in6_addr addrs[2];
	size_t n = rule_addresses(r, addrs);
	const struct device *d = device_by_addr(c->p.devices, &r->owner, NULL);

	if (!rule_origin_is_app(r->origin))
		return false;
	if ((d && memcmp(d->mac, mac, 6) == 0) || (r->target.has_mac && memcmp(r->target.mac, mac, 6) == 0))
		return true;
	for (size_t i = 0; i < n; i++)
		if ((d = device_by_addr(c->p.devices, &addrs[i], NULL)) && memcmp(d->mac, mac, 6) == 0)
			return true;
	return false;
}

int core_remove_app_rules(struct core *c, const uint8_t mac[6], size_t *removed)
{
	struct rec **gone = NULL, *x;
	struct rule r;
	size_t n = 0, cap = 0, pos = 0;
	bool ok = true;

	core_enter(c);
	/* collected first: the table cannot change while it is iterated */
	while (ok && (x = hmap_next(c->rules, &pos)) != NULL) {
		core_rec_get(x, &r);
		if (app_rule_of(c, &r, mac))
			ok = core_rules_push(&gone, &n, &cap, x);
	}
	for (size_t i = 0; ok && i < n; i++)
		ok = core_remove_rule(c, gone[i], CORE_EV_DELETED, false) == 0;
	if (!ok)
		c->b.broken = true;   /* all or nothing: the batch undoes what was removed */
	free(gone);
	ok = core_leave(c) && ok;
	if (removed)
		*removed = ok ? n : 0;
	return ok ? 0 : -1;
}
