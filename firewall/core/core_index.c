/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The core's rule table and its indexes: owners (quotas), PCP mapping names, port mappings in id
 * order. */
#include <stdlib.h>
#include <string.h>

#include "firewall/core/core.h"
#include "firewall/core/core_priv.h"
#include "firewall/core/device.h"
#include "firewall/core/rule.h"
#include "firewall/lib/hmap.h"
#include "firewall/lib/log.h"
#include "firewall/nft/fw.h"

/* ---------- owners (quota) and the devices rules name ---------- */

/* Who a rule counts against: its requester's device when the LAN showed it (so one device cannot
 * get a quota per address it uses), else the requester's address. A device is keyed as an address no
 * requester can have: ff00:: (multicast) followed by "MAC" and the MAC. */
struct in6_addr core_owner_key(const struct rule *r)
{
	struct in6_addr k = { .s6_addr = { 0xff, 0x00, 'M', 'A', 'C' } };

	if (!r->has_owner_mac)
		return r->owner;
	memcpy(&k.s6_addr[10], r->owner_mac, 6);
	return k;
}

uint32_t core_owner_count(const struct core *c, const struct in6_addr *key)
{
	return (uint32_t)(uintptr_t)hmap_get(c->owners, key);
}

/* A rule joins (+1) or leaves (-1) the table: its owner's count, and the devices it names are pinned
 * in the device table (never evicted while a rule names them). */
void core_owner_adjust(struct core *c, const struct rule *r, int delta)
{
	struct in6_addr key = core_owner_key(r);
	uint32_t n = core_owner_count(c, &key);

	n = delta > 0 ? n + 1 : (n ? n - 1 : 0);
	if (n == 0)
		hmap_del(c->owners, &key);
	else if (hmap_put(c->owners, &key, (void *)(uintptr_t)n) < 0)
		log_warnx("core: out of memory counting rules per client");
	if (r->target.has_mac)
		device_pin(c->p.devices, r->target.mac, delta);
	if (r->has_owner_mac && (!r->target.has_mac || memcmp(r->owner_mac, r->target.mac, 6) != 0))
		device_pin(c->p.devices, r->owner_mac, delta);
}

/* ---------- PCP mapping names ---------- */

struct pcp_name core_pcp_name_of(const struct in6_addr *internal, uint16_t proto, uint16_t port,
			    const struct in6_addr *peer, uint16_t peer_port)
{
	struct pcp_name n;

	memset(&n, 0, sizeof(n));
	memcpy(n.internal, internal->s6_addr, 16);
	n.proto = proto;
	n.port = port;
	if (peer) {
		n.is_peer = 1;
		memcpy(n.peer, peer->s6_addr, 16);
		n.peer_port = peer_port;
	}
	return n;
}

bool core_pcp_named(const struct rule *r)
{
	return (r->origin == ORIGIN_PCP || r->origin == ORIGIN_NATPMP || r->origin == ORIGIN_PCP_PEER) &&
	       r->target.use_exact;
}

struct pcp_name core_pcp_name_of_rule(const struct rule *r)
{
	bool peer = r->origin == ORIGIN_PCP_PEER;

	return core_pcp_name_of(&r->target.exact, r->proto, r->int_port, peer ? &r->remote : NULL,
			   peer ? r->remote_port : 0);
}

/* Does x (recording r) hold its name in the index (*n: the name)? Not when it has none, or another
 * rule holds it. */
bool core_pcp_holds(const struct core *c, const struct rec *x, const struct rule *r, struct pcp_name *n)
{
	if (!core_pcp_named(r))
		return false;
	*n = core_pcp_name_of_rule(r);
	return hmap_get(c->pcp, n) == x;
}

/* Before x's name (or companion) changes or x leaves the table (the index finds a slot by the key its
 * rule has now). */
void core_pcp_unindex(struct core *c, const struct rec *x)
{
	struct pcp_name n;
	struct rule r;

	core_rec_get(x, &r);
	if (core_pcp_holds(c, x, &r, &n))
		hmap_del(c->pcp, &n);
	core_companion_unindex(c, x, &r);
}

/* x, in the table, takes its name (from another rule holding it, if one does), and is found by its
 * SNAT companion (core_companion_index). -1: out of memory. */
int core_pcp_index(struct core *c, struct rec *x)
{
	struct pcp_name n;
	struct rule r;

	core_rec_get(x, &r);
	if (core_companion_index(c, x, &r) < 0)
		return -1;
	if (!core_pcp_named(&r))
		return 0;
	n = core_pcp_name_of_rule(&r);
	if (hmap_put(c->pcp, &n, x) < 0) {
		core_companion_unindex(c, x, &r);
		return -1;
	}
	return 0;
}

/* ---------- SNAT companions ---------- */

/* r's SNAT companion (fw.h: a port mapping with an external address has one), named by its key as the
 * PCP index names mappings: (internal address, protocol, internal port) in pm4_snat, plus the remote
 * peer for a flow's in pm4_snat_flow. False when r has none. */
bool core_companion_name(const struct rule *r, struct pcp_name *n)
{
	struct fw_elem e[2];

	if (r->kind != RULE_PORTMAP || r->ext_addr.s_addr == 0 || core_rule_elems(r, e) != 1)
		return false;
	*n = core_pcp_name_of(&e[0].addr, e[0].proto, e[0].port, e[0].flow ? &e[0].remote : NULL,
			      e[0].flow ? e[0].remote_port : 0);
	return true;
}

/* A PCP mapping's companion is found through its PCP name, which is the companion's own; every other
 * rule's (the operator's mappings) through c->companions. */
static bool companion_by_pcp_name(const struct rule *r, const struct pcp_name *n)
{
	struct pcp_name pn;

	if (!core_pcp_named(r))
		return false;
	pn = core_pcp_name_of_rule(r);
	return memcmp(&pn, n, sizeof(pn)) == 0;
}

/* Before r (x's rule as it is now) changes or leaves the table. */
void core_companion_unindex(struct core *c, const struct rec *x, const struct rule *r)
{
	struct pcp_name n;

	if (core_companion_name(r, &n) && !companion_by_pcp_name(r, &n) && hmap_get(c->companions, &n) == x)
		hmap_del(c->companions, &n);
}

/* x, in the table with rule r, is found by its companion. -1: out of memory. */
int core_companion_index(struct core *c, struct rec *x, const struct rule *r)
{
	struct pcp_name n;

	if (!core_companion_name(r, &n) || companion_by_pcp_name(r, &n))
		return 0;
	return hmap_put(c->companions, &n, x);
}

/* The rule other than `self` whose SNAT companion has r's key (one kernel map element: the kernel
 * refuses a second with other data, and would undo every request of its transaction), or NULL. */
const struct rec *core_companion_holder(const struct core *c, const struct rule *r, uint32_t self)
{
	const struct rec *x;
	struct pcp_name n, hn;
	struct rule h;

	if (!core_companion_name(r, &n))
		return NULL;
	x = hmap_get(c->companions, &n);
	if (x != NULL && x->id != self)
		return x;
	x = hmap_get(c->pcp, &n);
	if (x == NULL || x->id == self)
		return NULL;
	core_rec_get(x, &h);
	return core_companion_name(&h, &hn) && memcmp(&hn, &n, sizeof(n)) == 0 ? x : NULL;
}

/* ---------- port mappings in id order ---------- */

size_t core_order_find(const struct id_order *o, uint32_t id)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((o->ids[mid] & ~ID_DEAD) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void order_add(struct id_order *o, uint32_t id)
{
	size_t at;

	if (o->stale)
		return;
	at = core_order_find(o, id);
	if (at < o->n && (o->ids[at] & ~ID_DEAD) == id) {
		if (o->ids[at] & ID_DEAD) {
			o->ids[at] = id;   /* back again (a batch undone): the tombstone lives */
			o->dead--;
		}
		return;
	}
	if (at != o->n || o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 64;
		uint32_t *p = at == o->n ? realloc(o->ids, ncap * sizeof(*p)) : NULL;

		if (p == NULL) {
			o->stale = true;   /* not an append, or out of memory: the next reader rebuilds */
			return;
		}
		o->ids = p;
		o->cap = ncap;
	}
	o->ids[o->n++] = id;
}

static void order_del(struct id_order *o, uint32_t id)
{
	size_t at;

	if (o->stale)
		return;
	at = core_order_find(o, id);
	if (at < o->n && o->ids[at] == id) {
		o->ids[at] |= ID_DEAD;
		o->dead++;
	} else {
		o->stale = true;
	}
}

/* ---------- table ---------- */

void core_note_expiry(struct core *c, int64_t expires)
{
	if (expires != 0 && expires < c->next_expiry)
		c->next_expiry = expires;
}

int core_table_insert(struct core *c, struct rec *x)
{
	struct rule r;

	if (hmap_put(c->rules, &x->id, x) < 0)
		return -1;
	if (core_pcp_index(c, x) < 0) {
		hmap_del(c->rules, &x->id);
		return -1;
	}
	core_rec_get(x, &r);
	core_owner_adjust(c, &r, +1);
	c->n_kind[x->kind]++;
	if (x->kind == RULE_PORTMAP)
		order_add(&c->pm_order, x->id);
	core_note_expiry(c, x->expires);
	return 0;
}

void core_table_remove(struct core *c, struct rec *x)
{
	struct rule r;

	core_rec_get(x, &r);
	core_pcp_unindex(c, x);
	hmap_del(c->rules, &x->id);
	core_owner_adjust(c, &r, -1);
	c->n_kind[x->kind]--;
	if (x->kind == RULE_PORTMAP)
		order_del(&c->pm_order, x->id);
}
