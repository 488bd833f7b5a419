/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host's interfaces and addresses (see netif.h). */
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/netif.h"

struct netif *netif_new(void)
{
	struct netif *n = calloc(1, sizeof(*n));

	if (n && pthread_mutex_init(&n->mu, NULL) != 0) {
		free(n);
		return NULL;
	}
	return n;
}

void netif_free(struct netif *n)
{
	if (!n)
		return;
	pthread_mutex_destroy(&n->mu);
	free(n);
}

/* Readers take the lock through a const pointer: the lock is not part of the facts. */
static void lock(const struct netif *n)
{
	pthread_mutex_lock((pthread_mutex_t *)&n->mu);
}

static void unlock(const struct netif *n)
{
	pthread_mutex_unlock((pthread_mutex_t *)&n->mu);
}

static struct netif_link *link_by_index(struct netif *n, int ifindex)
{
	for (size_t i = 0; ifindex > 0 && i < n->n_links; i++)
		if (n->links[i].ifindex == ifindex)
			return &n->links[i];
	return NULL;
}

static const struct netif_link *link_by_name(const struct netif *n, const char *name)
{
	for (size_t i = 0; name && name[0] && i < n->n_links; i++)
		if (strcmp(n->links[i].name, name) == 0)
			return &n->links[i];
	return NULL;
}

/* Drops every address of ifindex. Returns how many went. */
static size_t drop_addrs(struct netif *n, int ifindex)
{
	size_t k = 0, gone;

	for (size_t i = 0; i < n->n_addrs; i++)
		if (n->addrs[i].ifindex != ifindex)
			n->addrs[k++] = n->addrs[i];
	gone = n->n_addrs - k;
	n->n_addrs = k;
	return gone;
}

static void drop_link(struct netif *n, struct netif_link *l)
{
	drop_addrs(n, l->ifindex);
	*l = n->links[--n->n_links];
}

bool netif_link(struct netif *n, int ifindex, const char *name, unsigned flags)
{
	struct netif_link *l;
	bool up = flags & IFF_UP, running = flags & IFF_RUNNING, loopback = flags & IFF_LOOPBACK, changed = false;

	if (!n || !name || ifindex <= 0)
		return false;
	lock(n);
	/* a name now held by another index: that interface was made again (its old one is gone) */
	for (size_t i = 0; i < n->n_links; i++)
		if (n->links[i].ifindex != ifindex && strcmp(n->links[i].name, name) == 0) {
			drop_link(n, &n->links[i]);
			changed = true;
			break;
		}
	l = link_by_index(n, ifindex);
	if (!l) {
		if (n->n_links >= NETIF_MAX_LINKS) {
			n->dropped++;
			goto out;
		}
		l = &n->links[n->n_links++];
		memset(l, 0, sizeof(*l));
		l->ifindex = ifindex;
		changed = true;
	}
	l->unseen = false;
	if (strcmp(l->name, name) != 0 || l->up != up || l->running != running || l->loopback != loopback) {
		snprintf(l->name, sizeof(l->name), "%s", name);
		l->up = up;
		l->running = running;
		l->loopback = loopback;
		changed = true;
	}
out:
	if (changed)
		n->gen++;
	unlock(n);
	return changed;
}

bool netif_link_gone(struct netif *n, int ifindex)
{
	struct netif_link *l;
	bool changed = false;

	if (!n)
		return false;
	lock(n);
	l = link_by_index(n, ifindex);
	if (l) {
		drop_link(n, l);
		n->gen++;
		changed = true;
	}
	unlock(n);
	return changed;
}

bool netif_addr(struct netif *n, int ifindex, const struct in6_addr *a, uint8_t plen, bool tentative,
		bool deprecated, bool added)
{
	struct netif_addr *x = NULL;
	bool changed = false;

	if (!n || !a || plen > 128 || ifindex <= 0)
		return false;
	lock(n);
	for (size_t i = 0; i < n->n_addrs && !x; i++)
		if (n->addrs[i].ifindex == ifindex && addr_equal(&n->addrs[i].addr, a))
			x = &n->addrs[i];
	if (!added) {
		if (x) {
			*x = n->addrs[--n->n_addrs];
			changed = true;
		}
		goto out;
	}
	if (x)
		x->unseen = false;
	if (x && x->plen == plen && x->tentative == tentative && x->deprecated == deprecated)
		goto out;
	if (!x) {
		if (n->n_addrs >= NETIF_MAX_ADDRS) {
			n->dropped++;
			goto out;
		}
		x = &n->addrs[n->n_addrs++];
		memset(x, 0, sizeof(*x));
		x->ifindex = ifindex;
		x->addr = *a;
		x->seq = ++n->seq;
	}
	x->plen = plen;
	x->tentative = tentative;
	x->deprecated = deprecated;
	changed = true;
out:
	if (changed)
		n->gen++;
	unlock(n);
	return changed;
}

void netif_dump_begin(struct netif *n)
{
	if (!n)
		return;
	lock(n);
	for (size_t i = 0; i < n->n_links; i++)
		n->links[i].unseen = true;
	for (size_t i = 0; i < n->n_addrs; i++)
		n->addrs[i].unseen = true;
	unlock(n);
}

void netif_dump_end(struct netif *n, bool complete)
{
	bool changed = false;

	if (!n)
		return;
	lock(n);
	for (size_t i = 0; complete && i < n->n_links;) {
		if (n->links[i].unseen) {
			drop_link(n, &n->links[i]);   /* the last one moves here: look at i again */
			changed = true;
		} else {
			i++;
		}
	}
	for (size_t i = 0; complete && i < n->n_addrs;) {
		if (n->addrs[i].unseen) {
			n->addrs[i] = n->addrs[--n->n_addrs];
			changed = true;
		} else {
			i++;
		}
	}
	for (size_t i = 0; i < n->n_links; i++)
		n->links[i].unseen = false;
	for (size_t i = 0; i < n->n_addrs; i++)
		n->addrs[i].unseen = false;
	if (changed)
		n->gen++;
	unlock(n);
}

static bool is_global6(const struct in6_addr *a)
{
	return !addr_is_v4(a) && !addr_is_link_local(a) && !addr_is_multicast(a) && !addr_is_loopback(a) &&
	       !addr_is_unspecified(a);
}

size_t netif_v4_addrs(const struct netif *n, const char *name, struct in_addr *out, size_t max)
{
	const struct netif_link *l;
	size_t k = 0;

	if (!n)
		return 0;
	lock(n);
	if ((l = link_by_name(n, name)))
		for (size_t i = 0; i < n->n_addrs && k < max; i++)
			if (n->addrs[i].ifindex == l->ifindex && addr_is_v4(&n->addrs[i].addr))
				out[k++] = addr_to_v4(&n->addrs[i].addr);
	unlock(n);
	return k;
}

void netif_facts(const struct netif *n, const char *name, struct netif_facts *out)
{
	const struct netif_link *l;
	const struct netif_addr *v4 = NULL, *v6 = NULL;

	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	lock(n);
	l = link_by_name(n, name);
	if (l) {
		out->exists = true;
		out->ifindex = l->ifindex;
		out->up = l->up;
		out->running = l->running;
		for (size_t i = 0; i < n->n_addrs; i++) {
			const struct netif_addr *x = &n->addrs[i];

			if (x->ifindex != l->ifindex)
				continue;
			if (addr_is_v4(&x->addr)) {
				out->n_v4++;
				if (!v4 || x->seq < v4->seq)
					v4 = x;
			} else if (is_global6(&x->addr) && !x->tentative &&
				   (!v6 || (v6->deprecated && !x->deprecated) ||
				    (v6->deprecated == x->deprecated && x->seq > v6->seq))) {
				v6 = x;
			}
		}
	}
	if (v4) {
		out->has_v4 = true;
		out->v4 = addr_to_v4(&v4->addr);
	}
	if (v6) {
		out->has_v6 = true;
		out->v6 = v6->addr;
		out->v6_plen = v6->plen;
	}
	unlock(n);
}

bool netif_is_own(const struct netif *n, const struct in6_addr *a)
{
	bool found = false;

	if (!n || !a)
		return false;
	lock(n);
	for (size_t i = 0; i < n->n_addrs && !found; i++)
		found = addr_equal(&n->addrs[i].addr, a);
	unlock(n);
	return found;
}

bool netif_on_link(const struct netif *n, const char *name, const struct in6_addr *a)
{
	const struct netif_link *l;
	bool found = false;

	if (!n || !a)
		return false;
	lock(n);
	l = link_by_name(n, name);
	for (size_t i = 0; l && i < n->n_addrs && !found; i++)
		found = n->addrs[i].ifindex == l->ifindex && addr_in_prefix(a, &n->addrs[i].addr, n->addrs[i].plen);
	unlock(n);
	return found;
}

bool netif_holder(const struct netif *n, const struct in6_addr *a, bool (*want)(void *arg, const char *name, bool loopback),
		  void *arg, char name[NETIF_NAME_MAX])
{
	bool found = false;

	if (!n || !a)
		return false;
	lock(n);
	for (size_t i = 0; i < n->n_addrs && !found; i++) {
		const struct netif_link *l;

		if (!addr_equal(&n->addrs[i].addr, a))
			continue;
		l = link_by_index((struct netif *)n, n->addrs[i].ifindex);
		if (!l || (want && !want(arg, l->name, l->loopback)))
			continue;
		snprintf(name, NETIF_NAME_MAX, "%s", l->name);
		found = true;
	}
	unlock(n);
	return found;
}

uint64_t netif_gen(const struct netif *n)
{
	uint64_t g;

	if (!n)
		return 0;
	lock(n);
	g = n->gen;
	unlock(n);
	return g;
}
