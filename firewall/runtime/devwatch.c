/* SPDX-License-Identifier: GPL-2.0-or-later */
/* devwatch (see devwatch.h). Everything here runs on the loop thread; the device table is only touched
 * under the core's lock (core_with_devices), because front ends on other threads ask the core about it. */
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core_devices.h"
#include "firewall/runtime/devwatch.h"
#include "firewall/runtime/ndsnoop.h"
#include "firewall/lib/log.h"
#include "firewall/core/prefix.h"

#define MAX_CHANGES 8   /* prefix decisions queued by one read; more in one burst is not a renumbering */

struct devwatch {
	struct devwatch_params p;
	struct device_table *devices;
	struct rtnl *rtnl;
	struct prefix_tracker prefixes;
	struct lanif_set lan;     /* fed by rtnl under the core's lock; read on the loop thread */
	struct netif *host;       /* fed by rtnl too; read from any thread (its own leaf lock) */
	bool lan_told;            /* passed on at least once, */
	uint64_t lan_told_gen;    /* last as of this generation */
	struct core *core;
	struct loop *loop;
	/* what hosts say on the link (DAD, advertisements), read at most DEVWATCH_SNOOP_PER_S a second */
	int snoop_fd;
	bool snoop_paused;
	uint64_t snoop_second;
	unsigned snoop_count;
	/* asking (any thread): a netlink socket of its own, and where each LAN subnet lives */
	pthread_mutex_t ask_mu;
	struct mnl_socket *ask_nl;
	struct in6_addr ask_subnet[POLICY_MAX_SUBNETS];
	uint8_t ask_len[POLICY_MAX_SUBNETS];
	int ask_ifindex[POLICY_MAX_SUBNETS];
	size_t ask_n;
	struct { struct in6_addr a; uint64_t ms; } ask_recent[32];
	size_t ask_next;
	uint64_t ask_second;
	unsigned ask_count;
	/* addresses whose neighbour entry we made STALE (at since_ms, wall clock), looked at again
	 * RELISTEN_LOOK_MS later (due_ms, the loop's clock) */
	struct relisten_check { struct device_relisten r; int64_t since_ms; uint64_t due_ms; } checks[16];
	size_t n_checks;
	bool check_armed;
	/* the earliest moment (wall ms) the table said a look again may start (device_take_look_due), and
	 * whether a timer waits for it: a /64 left undecided need not wait for the next tick */
	int64_t look_due;
	bool look_armed;
	/* the LAN's global /64s as last seen by probe_locked (a change makes every EUI-64 worth asking) */
	struct in6_addr probe_subnet[POLICY_MAX_SUBNETS];
	size_t probe_n;
	/* decisions made while the core's lock is held (inside rtnl_read), acted on after it */
	enum prefix_result res[MAX_CHANGES];
	struct prefix_change chg[MAX_CHANGES];
	size_t nchg;
};

static void on_prefix(void *arg, int ifindex, const struct in6_addr *addr, const struct in6_addr *prefix,
		      uint8_t len, bool added, const struct addr_facts *facts)
{
	struct devwatch *dw = arg;
	struct prefix_change chg;
	enum prefix_result r = prefix_event(&dw->prefixes, ifindex, addr, prefix, len, added, facts, &chg);

	if (r == PREFIX_NONE)
		return;
	if (dw->nchg >= MAX_CHANGES) {
		log_warnx("prefix: too many prefix changes at once, ignoring one");
		return;
	}
	dw->res[dw->nchg] = r;
	dw->chg[dw->nchg++] = chg;
}

static const char *ifname_of(const struct devwatch *dw, int ifindex)
{
	const struct lanif *i = lanif_by_index(&dw->lan, ifindex);

	return i ? i->name : NULL;
}

/* The LAN changed (or this is the first look): the policy's bounds and the front ends follow. */
static void tell_lan(struct devwatch *dw)
{
	struct policy_lan pl;

	if (dw->lan_told && dw->lan_told_gen == dw->lan.gen)
		return;
	dw->lan_told = true;
	dw->lan_told_gen = dw->lan.gen;
	pthread_mutex_lock(&dw->ask_mu);
	dw->ask_n = 0;
	for (size_t i = 0; i < dw->lan.n; i++)
		for (size_t k = 0; k < dw->lan.ifs[i].n && dw->ask_n < POLICY_MAX_SUBNETS; k++) {
			const struct lanif_addr *x = &dw->lan.ifs[i].a[k];

			if (addr_is_link_local(&x->addr) || dw->lan.ifs[i].ifindex <= 0)
				continue;
			dw->ask_subnet[dw->ask_n] = x->addr;
			addr_mask(&dw->ask_subnet[dw->ask_n], x->plen);
			dw->ask_len[dw->ask_n] = x->plen;
			dw->ask_ifindex[dw->ask_n++] = dw->lan.ifs[i].ifindex;
		}
	pthread_mutex_unlock(&dw->ask_mu);
	if (dw->p.lan_bounds_policy && dw->core) {
		memset(&pl, 0, sizeof(pl));
		pl.known = true;
		pl.n_subnets = lanif_subnets(&dw->lan, pl.subnet, pl.subnet_len, POLICY_MAX_SUBNETS);
		pl.n_own = lanif_own(&dw->lan, pl.own, POLICY_MAX_OWN);
		core_set_lan(dw->core, &pl);
	}
	if (dw->p.on_lan)
		dw->p.on_lan(dw->p.lan_arg, &dw->lan);
}

/* store meta key for an interface: "lan_prefix_" + its name, other characters as '_' (meta keys are
 * [a-z0-9_-]) */
static void meta_key(const struct devwatch *dw, int ifindex, char key[40])
{
	const char *n = ifname_of(dw, ifindex);
	size_t off = (size_t)snprintf(key, 40, "lan_prefix_");

	for (; n && *n && off < 39; n++)
		key[off++] = (*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '-' ? *n : '_';
	key[off] = '\0';
}

static void remember(struct devwatch *dw, struct core *c, int ifindex, const struct in6_addr *p, uint8_t len)
{
	char key[40], val[PREFIX_STRLEN];

	meta_key(dw, ifindex, key);
	if (core_meta_set(c, key, prefix_format(p, len, val)) < 0)
		log_warn("store: cannot remember the LAN prefix %s", val);
}

/* The prefix the store remembers for the interface differs from new: *old filled, true. */
static bool remembered_differs(struct devwatch *dw, struct core *c, const struct prefix_change *chg,
			       struct in6_addr *old, uint8_t *old_len)
{
	char key[40], val[128];

	meta_key(dw, chg->ifindex, key);
	if (core_meta_get(c, key, val, sizeof(val)) < 0)
		return false;
	if (!prefix_parse(val, old, old_len)) {
		log_warnx("store: %s holds \"%s\", not a prefix; ignored", key, val);
		return false;
	}
	return !(*old_len == chg->new_len && addr_equal(old, &chg->new_prefix));
}

static void reanchor(struct devwatch *dw, const struct in6_addr *op, uint8_t ol, const struct in6_addr *np,
		     uint8_t nl, int ifindex)
{
	struct core_reanchor_result res;
	char a[PREFIX_STRLEN], b[PREFIX_STRLEN];

	log_info("prefix: LAN prefix on %s changed from %s to %s", ifname_of(dw, ifindex) ? ifname_of(dw, ifindex) : "?",
		 prefix_format(op, ol, a), prefix_format(np, nl, b));
	if (core_reanchor(dw->core, op, ol, np, nl, &res) < 0) {
		log_warnx("prefix: re-anchoring %s -> %s failed; rules stay as they were", a, b);
		return;
	}
	remember(dw, dw->core, ifindex, np, nl);   /* clients are told through the core's on_reanchor */
}

static void act_on_changes(struct devwatch *dw)
{
	for (size_t i = 0; i < dw->nchg; i++) {
		const struct prefix_change *chg = &dw->chg[i];
		struct in6_addr old;
		uint8_t old_len;

		if (dw->res[i] == PREFIX_CHANGED)
			reanchor(dw, &chg->old_prefix, chg->old_len, &chg->new_prefix, chg->new_len, chg->ifindex);
		else if (remembered_differs(dw, dw->core, chg, &old, &old_len))
			/* the first prefix seen since start (e.g. DHCPv6-PD came after us) is not the one we had */
			reanchor(dw, &old, old_len, &chg->new_prefix, chg->new_len, chg->ifindex);
		else
			remember(dw, dw->core, chg->ifindex, &chg->new_prefix, chg->new_len);
	}
	dw->nchg = 0;
}

/* The wall clock in milliseconds: orders what hosts do within a second (device_table_clock_ms). */
static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under the core's lock, after feeding the table: when judging found a look again due. */
static void take_look_due(struct devwatch *dw, struct device_table *t)
{
	int64_t due = device_take_look_due(t);

	if (due && (dw->look_due == 0 || due < dw->look_due))
		dw->look_due = due;
}

static int read_locked(void *arg, struct device_table *t)
{
	struct devwatch *dw = arg;
	int n;

	device_table_clock_ms(t, wall_ms());
	n = rtnl_read(dw->rtnl);
	if (n < 0 && errno == ENOBUFS) {
		log_warnx("rtnetlink: events lost, dumping again");
		n = rtnl_dump(dw->rtnl);
	}
	take_look_due(dw, t);
	return n;
}

static void resolve(struct devwatch *dw)
{
	struct core_reanchor_result res;

	if (core_resolve_pending(dw->core, &res) < 0)
		log_warnx("devices: installing pending rules failed; will retry");
}

static void probe_eui64(struct devwatch *dw);
static void arm_look(struct devwatch *dw);

static void on_rtnl(void *arg, int fd, uint32_t events)
{
	struct devwatch *dw = arg;
	int n;

	(void)fd;
	(void)events;
	/* The core judges requests by this device table when daemon.c handed it over (igdd). pcpd's core
	 * has none: core_with_devices would call nobody, and the interface facts (WAN address, the LAN's
	 * addresses) must still follow the kernel, read without the core's lock (nothing of it is shared). */
	n = core_has_devices(dw->core) ? core_with_devices(dw->core, read_locked, dw) : read_locked(dw, dw->devices);
	if (n < 0)
		log_warn("rtnetlink");
	tell_lan(dw);
	act_on_changes(dw);
	if (n != 0) {
		resolve(dw);
		probe_eui64(dw);
	}
	arm_look(dw);
}

/* ---------- what hosts say on the link ---------- */

struct snoop_batch {
	struct devwatch *dw;
	struct device_table *t;
	int64_t now;
	int fed;
};

static void on_claim(void *arg, int ifindex, const struct nd_claim *c)
{
	struct snoop_batch *b = arg;
	static const enum device_heard how[] = {
		[ND_CLAIM_DAD] = DEVICE_HEARD_DAD,
		[ND_CLAIM_ADVERT] = DEVICE_HEARD_ADVERT,
		[ND_CLAIM_SPEAK] = DEVICE_HEARD_SPEAK,
	};

	if (c->kind == ND_CLAIM_NONE || !lanif_by_index(&b->dw->lan, ifindex))
		return;   /* the WAN, or an interface that is not ours */
	if (lanif_is_own(&b->dw->lan, &c->addr))
		return;   /* the router's own DAD or advertisement, looped back by the bridge: not a device */
	if (device_addr_heard(b->t, c->mac, ifindex, &c->addr, how[c->kind], b->now) >= 0)
		b->fed++;
}

static int snoop_locked(void *arg, struct device_table *t)
{
	struct snoop_batch *b = arg;
	unsigned room = DEVWATCH_SNOOP_PER_S - b->dw->snoop_count;
	int64_t ms = wall_ms();
	int n;

	b->t = t;
	b->now = ms / 1000;
	device_table_clock_ms(t, ms);
	n = ndsnoop_read(b->dw->snoop_fd, room < 64 ? room : 64, on_claim, b);
	if (n > 0)
		b->dw->snoop_count += (unsigned)n;
	take_look_due(b->dw, t);
	return n < 0 ? -1 : b->fed;
}

static void snoop_resume(void *arg);

static void on_snoop(void *arg, int fd, uint32_t events)
{
	struct devwatch *dw = arg;
	struct snoop_batch b = { .dw = dw, .now = (int64_t)time(NULL) };
	uint64_t second = loop_now_ms() / 1000;
	int n;

	(void)fd;
	(void)events;
	if (second != dw->snoop_second) {
		dw->snoop_second = second;
		dw->snoop_count = 0;
	}
	n = core_with_devices(dw->core, snoop_locked, &b);
	if (n < 0)
		log_warn("devices: reading neighbour discovery");
	if (n > 0)
		resolve(dw);
	arm_look(dw);
	if (dw->snoop_count >= DEVWATCH_SNOOP_PER_S && !dw->snoop_paused) {
		/* a flood: stop reading until the next second (the kernel drops what does not fit) */
		loop_del_fd(dw->loop, dw->snoop_fd);
		dw->snoop_paused = true;
		loop_timer(dw->loop, 1000 - loop_now_ms() % 1000, snoop_resume, dw);
	}
}

static void snoop_resume(void *arg)
{
	struct devwatch *dw = arg;

	dw->snoop_paused = false;
	dw->snoop_count = 0;
	dw->snoop_second = loop_now_ms() / 1000;
	if (loop_add_fd(dw->loop, dw->snoop_fd, EPOLLIN, on_snoop, dw) < 0)
		log_warn("devices: neighbour discovery");
}

/* ---------- asking ---------- */

/* Under ask_mu: may a be asked now (not asked within a second; the budget of the second not spent)? */
static bool ask_admit(struct devwatch *dw, const struct in6_addr *a, uint64_t now_ms)
{
	size_t n = sizeof(dw->ask_recent) / sizeof(dw->ask_recent[0]);

	for (size_t i = 0; i < n; i++)
		if (dw->ask_recent[i].ms && now_ms - dw->ask_recent[i].ms < 1000 && addr_equal(&dw->ask_recent[i].a, a))
			return false;
	if (now_ms / 1000 != dw->ask_second) {
		dw->ask_second = now_ms / 1000;
		dw->ask_count = 0;
	}
	if (dw->ask_count >= DEVWATCH_ASK_PER_S)
		return false;
	dw->ask_count++;
	dw->ask_recent[dw->ask_next].a = *a;
	dw->ask_recent[dw->ask_next].ms = now_ms ? now_ms : 1;
	dw->ask_next = (dw->ask_next + 1) % n;
	return true;
}

/* One request about the router's neighbour entry for a on ifindex (an RTM_*NEIGH message on the asking
 * socket): what the kernel sends back (rtnetlink answers within the send, an error even unasked for) is
 * read right away, handed to cb if given, so nothing piles up. Called with ask_mu held. Returns -1 if
 * it could not be sent. */
static int neigh_request(struct devwatch *dw, uint16_t type, uint16_t flags, int ifindex, uint16_t state,
			 uint8_t ndm_flags, const struct in6_addr *a, const uint8_t *mac, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *nd;
	bool v4 = addr_is_v4(a);
	ssize_t n;
	int rc = 0;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = v4 ? AF_INET : AF_INET6;
	nd->ndm_ifindex = ifindex;
	nd->ndm_state = state;
	nd->ndm_flags = ndm_flags;
	mnl_attr_put(nlh, NDA_DST, v4 ? 4 : 16, v4 ? (const void *)&a->s6_addr[12] : (const void *)a->s6_addr);
	if (mac)
		mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	if (mnl_socket_sendto(dw->ask_nl, nlh, nlh->nlmsg_len) < 0)
		rc = -1;
	while ((n = mnl_socket_recvfrom(dw->ask_nl, buf, sizeof(buf))) > 0)
		if (cb)
			(void)mnl_cb_run(buf, (size_t)n, 0, 0, cb, data);
	return rc;
}

void devwatch_ask(void *arg, const struct in6_addr *a)
{
	struct devwatch *dw = arg;
	int ifindex = 0;

	if (!dw || !a || !dw->ask_nl)
		return;
	pthread_mutex_lock(&dw->ask_mu);
	for (size_t i = 0; i < dw->ask_n && !ifindex; i++)
		if (addr_in_prefix(a, &dw->ask_subnet[i], dw->ask_len[i]))
			ifindex = dw->ask_ifindex[i];
	if (!ifindex || !ask_admit(dw, a, loop_now_ms())) {
		pthread_mutex_unlock(&dw->ask_mu);
		return;
	}
	/* NTF_USE: the kernel resolves the address as if it had a packet for it (NS, or ARP) */
	if (neigh_request(dw, RTM_NEWNEIGH, NLM_F_CREATE, ifindex, NUD_NONE, NTF_USE, a, NULL, NULL, NULL) < 0)
		log_debug("devices: asking the LAN: %s", strerror(errno));
	pthread_mutex_unlock(&dw->ask_mu);
}

/* ---------- EUI-64 addresses the LAN may hold silently ---------- */

#define DEVWATCH_PROBE_MAX 16   /* asked per event or second: a fraction of DEVWATCH_ASK_PER_S */

struct probe {
	struct devwatch *dw;
	struct in6_addr ask[DEVWATCH_PROBE_MAX];
	size_t n;
};

static int probe_locked(void *arg, struct device_table *t)
{
	struct probe *p = arg;
	struct devwatch *dw = p->dw;
	struct in6_addr all[POLICY_MAX_SUBNETS], now_subnets[POLICY_MAX_SUBNETS];
	uint8_t len[POLICY_MAX_SUBNETS];
	size_t n = lanif_subnets(&dw->lan, all, len, POLICY_MAX_SUBNETS), k = 0;

	for (size_t i = 0; i < n; i++)
		if (len[i] == 64 && !addr_is_v4(&all[i]) && !addr_is_ula(&all[i]) && !addr_is_link_local(&all[i]))
			now_subnets[k++] = all[i];
	if (k != dw->probe_n || memcmp(now_subnets, dw->probe_subnet, k * sizeof(now_subnets[0])) != 0) {
		memcpy(dw->probe_subnet, now_subnets, k * sizeof(now_subnets[0]));
		dw->probe_n = k;
		device_subnets_changed(t);
	}
	p->n = device_eui64_to_ask(t, now_subnets, k, p->ask, DEVWATCH_PROBE_MAX, (int64_t)time(NULL));
	return 0;
}

/* Asks the LAN about the EUI-64 address of devices not asked yet in the current prefixes: a host that
 * holds it answers (and the device learns its stable address before any rule needs it). */
static void probe_ask(struct devwatch *dw, const struct probe *p)
{
	for (size_t i = 0; i < p->n; i++)
		devwatch_ask(dw, &p->ask[i]);
}

static void probe_eui64(struct devwatch *dw)
{
	struct probe p = { .dw = dw };

	if (!dw->ask_nl || core_with_devices(dw->core, probe_locked, &p) < 0)
		return;
	probe_ask(dw, &p);
}

/* ---------- talk after a prefix change ---------- */

/* Long enough for a host's next packets (most send more than once a second while in use); the
 * kernel's own PROBE five seconds later catches slower talkers. */
#define RELISTEN_LOOK_MS 700

/* The router's neighbour entry for r, set STALE (NUD_STALE, same MAC, never created): the next packet
 * the router sends to it moves it to DELAY, which we can see. */
static void neigh_set_stale(struct devwatch *dw, const struct device_relisten *r)
{
	pthread_mutex_lock(&dw->ask_mu);
	if (neigh_request(dw, RTM_NEWNEIGH, NLM_F_REPLACE, r->ifindex, NUD_STALE, 0, &r->addr, r->mac, NULL,
			  NULL) < 0)
		log_debug("devices: marking a neighbour stale: %s", strerror(errno));
	pthread_mutex_unlock(&dw->ask_mu);
}

static int neigh_state_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type == RTM_NEWNEIGH && nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(*nd)))
		*(int *)data = nd->ndm_state;
	return MNL_CB_OK;
}

/* The state of the router's neighbour entry for r (NUD_*), 0 if none. */
static int neigh_state(struct devwatch *dw, const struct device_relisten *r)
{
	int state = 0;

	pthread_mutex_lock(&dw->ask_mu);
	(void)neigh_request(dw, RTM_GETNEIGH, 0, r->ifindex, 0, 0, &r->addr, NULL, neigh_state_cb, &state);
	pthread_mutex_unlock(&dw->ask_mu);
	return state;
}

/* What a look again found: addresses the host sent from meanwhile, and ones it did not. */
struct look_result {
	struct device_relisten talked[16];
	struct relisten_check quiet[16];
	size_t n_talked, n_quiet;
};

static int look_locked(void *arg, struct device_table *t)
{
	struct look_result *l = arg;
	int64_t ms = wall_ms();
	int fed = 0;

	device_table_clock_ms(t, ms);
	for (size_t i = 0; i < l->n_talked; i++)
		fed += device_addr_heard(t, l->talked[i].mac, l->talked[i].ifindex, &l->talked[i].addr,
					 DEVICE_HEARD_TRAFFIC, ms / 1000) >= 0;
	for (size_t i = 0; i < l->n_quiet; i++)
		fed += device_addr_quiet(t, l->quiet[i].r.mac, &l->quiet[i].r.addr, l->quiet[i].since_ms, ms / 1000);
	(void)device_take_look_due(t);   /* what it left open waits for the tick: one look per window */
	return fed;
}

static void on_relisten_look(void *arg)
{
	struct devwatch *dw = arg;
	struct look_result l;
	uint64_t now = loop_now_ms(), next = UINT64_MAX;

	l.n_talked = l.n_quiet = 0;
	dw->check_armed = false;
	for (size_t i = 0; i < dw->n_checks;) {
		struct relisten_check *c = &dw->checks[i];
		int state;

		if (c->due_ms > now) {
			if (c->due_ms < next)
				next = c->due_ms;
			i++;
			continue;
		}
		/* DELAY or PROBE since we set it STALE: the router sent to it, answering the host's talk;
		 * still STALE: the host did not send from it (anything else tells nothing) */
		state = neigh_state(dw, &c->r);
		if (state & (NUD_DELAY | NUD_PROBE))
			l.talked[l.n_talked++] = c->r;
		else if (state == NUD_STALE)
			l.quiet[l.n_quiet++] = *c;
		*c = dw->checks[--dw->n_checks];
	}
	if (l.n_talked || l.n_quiet) {
		char a[ADDR_STRLEN];

		/* rare (after a renumbering, once per device): worth a line when a rule waits for it */
		for (size_t i = 0; i < l.n_talked; i++)
			log_info("devices: looked again: the host sends from %s", addr_str(&l.talked[i].addr, a));
		for (size_t i = 0; i < l.n_quiet; i++)
			log_info("devices: looked again: the host is silent on %s", addr_str(&l.quiet[i].r.addr, a));
		if (core_with_devices(dw->core, look_locked, &l) > 0)
			resolve(dw);
	}
	if (next != UINT64_MAX) {
		dw->check_armed = true;
		loop_timer(dw->loop, next - now, on_relisten_look, dw);
	}
}

struct relisten_batch {
	struct device_relisten r[8];
	size_t n, max;
};

static int relisten_locked(void *arg, struct device_table *t)
{
	struct relisten_batch *b = arg;

	b->n = device_to_relisten(t, wall_ms(), b->r, b->max);
	return 0;
}

/* Room for the look-agains that can start now (at most one batch). */
static void relisten_prepare(struct devwatch *dw, struct relisten_batch *b)
{
	b->n = 0;
	b->max = dw->ask_nl ? sizeof(dw->checks) / sizeof(dw->checks[0]) - dw->n_checks : 0;
	if (b->max > sizeof(b->r) / sizeof(b->r[0]))
		b->max = sizeof(b->r) / sizeof(b->r[0]);
}

/* After a prefix change: makes the router look again at the addresses whose talk came too close to
 * when they became usable to tell the /64's stable one (device_to_relisten, collected into b under the
 * core's lock). */
static void relisten_start(struct devwatch *dw, const struct relisten_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct relisten_check *c = &dw->checks[dw->n_checks++];

		c->r = b->r[i];
		neigh_set_stale(dw, &b->r[i]);
		c->since_ms = wall_ms();   /* the kernel took it: a packet for it from now on moves it on */
		c->due_ms = loop_now_ms() + RELISTEN_LOOK_MS;
	}
	if (b->n && !dw->check_armed) {
		dw->check_armed = true;
		loop_timer(dw->loop, RELISTEN_LOOK_MS, on_relisten_look, dw);
	}
}

/* Looks again now at what device_to_relisten hands out (the tick does too, with its other work). */
static void on_look_due(void *arg)
{
	struct devwatch *dw = arg;
	struct relisten_batch b;

	dw->look_armed = false;
	relisten_prepare(dw, &b);
	if (b.max && core_with_devices(dw->core, relisten_locked, &b) == 0)
		relisten_start(dw, &b);
}

/* A look again the table said is due (take_look_due) starts then, not at the next tick. */
static void arm_look(struct devwatch *dw)
{
	int64_t wait;

	if (dw->look_due == 0 || dw->look_armed || !dw->ask_nl)
		return;
	wait = dw->look_due - wall_ms();
	dw->look_due = 0;
	if (wait >= DEVWATCH_AGE_MS)
		return;   /* the tick comes first */
	dw->look_armed = true;
	loop_timer(dw->loop, wait > 0 ? (uint64_t)wait : 0, on_look_due, dw);
}

/* What the once-a-second tick does with the table, in one visit under the core's lock. */
struct tick {
	int promoted;                 /* addresses persistence made stable */
	struct probe probe;
	struct relisten_batch relisten;
};

static int tick_locked(void *arg, struct device_table *t)
{
	struct tick *k = arg;

	k->promoted = (int)device_table_age(t, (int64_t)time(NULL));
	if (k->probe.dw->ask_nl)
		probe_locked(&k->probe, t);
	if (k->relisten.max)
		relisten_locked(&k->relisten, t);
	return 0;
}

static void age_tick(void *arg)
{
	struct devwatch *dw = arg;
	struct tick k = { .probe = { .dw = dw } };

	relisten_prepare(dw, &k.relisten);
	if (core_with_devices(dw->core, tick_locked, &k) == 0) {
		/* persistence promotes opaque addresses to stable: pending rules may resolve */
		if (k.promoted > 0)
			resolve(dw);
		probe_ask(dw, &k.probe);
		relisten_start(dw, &k.relisten);
	}
	loop_timer(dw->loop, DEVWATCH_AGE_MS, age_tick, dw);
}

struct devwatch *devwatch_new(const struct devwatch_params *p)
{
	struct devwatch *dw = calloc(1, sizeof(*dw));
	struct rtnl_params rp;
	int e;

	if (!dw)
		return NULL;
	dw->p = *p;
	dw->snoop_fd = -1;
	pthread_mutex_init(&dw->ask_mu, NULL);
	prefix_tracker_init(&dw->prefixes);
	dw->devices = device_table_new(p->stable_after, p->forget_after);
	if (!dw->devices)
		goto fail;
	memset(&rp, 0, sizeof(rp));
	lanif_init(&dw->lan, p->lan_ifname, p->n_lan);
	dw->host = netif_new();
	if (!dw->host)
		goto fail;
	rp.lan = &dw->lan;
	rp.host = dw->host;
	rp.devices = dw->devices;
	rp.on_prefix = on_prefix;
	rp.arg = dw;
	dw->rtnl = rtnl_open(&rp);
	if (!dw->rtnl)
		goto fail;
	/* still root: the packet socket needs CAP_NET_RAW, which the daemon does not keep */
	dw->snoop_fd = ndsnoop_open();
	if (dw->snoop_fd < 0)
		log_warn("devices: cannot listen to neighbour discovery; addresses are learned from the "
			 "neighbour table and by asking only");
	dw->ask_nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (dw->ask_nl && mnl_socket_bind(dw->ask_nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		mnl_socket_close(dw->ask_nl);
		dw->ask_nl = NULL;
	}
	if (!dw->ask_nl)
		log_warn("devices: cannot ask the LAN about addresses");
	/* nobody else runs yet: the table can be fed without the core's lock */
	if (rtnl_dump(dw->rtnl) < 0)
		goto fail;
	for (size_t i = 0; i < dw->lan.n; i++)
		if (!lanif_usable(&dw->lan.ifs[i]))
			log_info("devices: LAN interface %s is %s; waiting for it", dw->lan.ifs[i].name,
				 dw->lan.ifs[i].ifindex ? "down or without carrier" : "not there yet");
	return dw;
fail:
	e = errno;
	devwatch_free(dw);
	errno = e;
	return NULL;
}

void devwatch_free(struct devwatch *dw)
{
	if (!dw)
		return;
	if (dw->loop && dw->rtnl) {
		loop_del_fd(dw->loop, rtnl_fd(dw->rtnl));
		loop_timer_cancel(dw->loop, age_tick, dw);
		loop_timer_cancel(dw->loop, on_relisten_look, dw);
		loop_timer_cancel(dw->loop, on_look_due, dw);
	}
	if (dw->loop && dw->snoop_fd >= 0) {
		if (!dw->snoop_paused)
			loop_del_fd(dw->loop, dw->snoop_fd);
		loop_timer_cancel(dw->loop, snoop_resume, dw);
	}
	if (dw->snoop_fd >= 0)
		close(dw->snoop_fd);
	if (dw->ask_nl)
		mnl_socket_close(dw->ask_nl);
	pthread_mutex_destroy(&dw->ask_mu);
	rtnl_close(dw->rtnl);
	netif_free(dw->host);
	device_table_free(dw->devices);
	free(dw);
}

struct device_table *devwatch_devices(struct devwatch *dw)
{
	return dw ? dw->devices : NULL;
}

const struct lanif_set *devwatch_lan(const struct devwatch *dw)
{
	return dw ? &dw->lan : NULL;
}

const struct netif *devwatch_netif(const struct devwatch *dw)
{
	return dw ? dw->host : NULL;
}

void devwatch_prepare_core(struct devwatch *dw, struct core *c)
{
	bool done = false;
	size_t names = core_load_device_names(c);

	if (names)
		log_info("devices: %zu device names loaded", names);

	/* the dump's decisions: FIRST for each interface with a prefix today */
	for (size_t i = 0; i < dw->nchg; i++) {
		struct in6_addr old;
		uint8_t old_len;
		char a[PREFIX_STRLEN], b[PREFIX_STRLEN];

		if (done || !remembered_differs(dw, c, &dw->chg[i], &old, &old_len))
			continue;
		log_info("prefix: LAN prefix on %s changed from %s to %s while we were not running",
			 ifname_of(dw, dw->chg[i].ifindex) ? ifname_of(dw, dw->chg[i].ifindex) : "?",
			 prefix_format(&old, old_len, a), prefix_format(&dw->chg[i].new_prefix, dw->chg[i].new_len, b));
		core_set_start_reanchor(c, &old, old_len, &dw->chg[i].new_prefix, dw->chg[i].new_len);
		done = true;
	}
}

int devwatch_start(struct devwatch *dw, struct core *c, struct loop *l)
{
	dw->core = c;
	for (size_t i = 0; i < dw->nchg; i++)
		remember(dw, c, dw->chg[i].ifindex, &dw->chg[i].new_prefix, dw->chg[i].new_len);
	dw->nchg = 0;
	if (loop_add_fd(l, rtnl_fd(dw->rtnl), EPOLLIN, on_rtnl, dw) < 0)
		return -1;
	dw->loop = l;
	if (dw->snoop_fd >= 0 && loop_add_fd(l, dw->snoop_fd, EPOLLIN, on_snoop, dw) < 0)
		return -1;
	tell_lan(dw);
	loop_timer(l, DEVWATCH_AGE_MS, age_tick, dw);
	/* rules restored pending may resolve against the table the dump filled */
	resolve(dw);
	return 0;
}
