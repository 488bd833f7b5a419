/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LAN interface facts (see lanif.h). */
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/lanif.h"

void lanif_init(struct lanif_set *s, const char (*names)[LANIF_NAME_MAX], size_t n)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n && s->n < LANIF_MAX_IFS; i++)
		snprintf(s->ifs[s->n++].name, LANIF_NAME_MAX, "%s", names[i]);
}

static struct lanif *find_index(struct lanif_set *s, int ifindex)
{
	for (size_t i = 0; ifindex > 0 && i < s->n; i++)
		if (s->ifs[i].ifindex == ifindex)
			return &s->ifs[i];
	return NULL;
}

const struct lanif *lanif_by_index(const struct lanif_set *s, int ifindex)
{
	return find_index((struct lanif_set *)s, ifindex);
}

static void forget(struct lanif *i)
{
	i->ifindex = 0;
	i->up = i->running = false;
	i->n = 0;
}

bool lanif_link(struct lanif_set *s, int ifindex, const char *name, unsigned flags)
{
	struct lanif *i = find_index(s, ifindex);
	bool up = flags & IFF_UP, running = flags & IFF_RUNNING, renamed = false;

	if (!name || ifindex <= 0)
		return false;
	if (i && strcmp(i->name, name) != 0) {
		forget(i);   /* renamed away: that name is not ours any more */
		i = NULL;
		s->gen++;
		renamed = true;
	}
	for (size_t k = 0; !i && k < s->n; k++)
		if (strcmp(s->ifs[k].name, name) == 0)
			i = &s->ifs[k];
	if (!i)
		return renamed;
	if (i->ifindex == ifindex && i->up == up && i->running == running)
		return false;
	if (i->ifindex != ifindex)
		forget(i);   /* made again: the old addresses went with the old interface */
	i->ifindex = ifindex;
	i->up = up;
	i->running = running;
	s->gen++;
	return true;
}

bool lanif_link_gone(struct lanif_set *s, int ifindex)
{
	struct lanif *i = find_index(s, ifindex);

	if (!i)
		return false;
	forget(i);
	s->gen++;
	return true;
}

bool lanif_addr(struct lanif_set *s, int ifindex, const struct in6_addr *a, uint8_t plen, bool tentative,
		bool deprecated, bool added)
{
	struct lanif *i = find_index(s, ifindex);
	struct lanif_addr *x = NULL;

	if (!i || !a || plen > 128)
		return false;
	for (size_t k = 0; k < i->n && !x; k++)
		if (addr_equal(&i->a[k].addr, a))
			x = &i->a[k];
	if (!added) {
		if (!x)
			return false;
		*x = i->a[--i->n];
		s->gen++;
		return true;
	}
	if (x && x->plen == plen && x->tentative == tentative && x->deprecated == deprecated)
		return false;
	if (!x) {
		if (i->n >= LANIF_MAX_ADDRS)
			return false;
		x = &i->a[i->n++];
		x->addr = *a;
		x->seq = ++s->seq;
	}
	x->plen = plen;
	x->tentative = tentative;
	x->deprecated = deprecated;
	s->gen++;
	return true;
}

bool lanif_usable(const struct lanif *i)
{
	return i && i->ifindex > 0 && i->up && i->running;
}

/* The best address of i for which want() holds: not tentative, not deprecated over deprecated, then
 * by arrival (oldest when oldest_first, else newest). */
static const struct lanif_addr *best(const struct lanif *i, bool (*want)(const struct in6_addr *a),
				     bool oldest_first)
{
	const struct lanif_addr *b = NULL;

	for (size_t k = 0; i && k < i->n; k++) {
		const struct lanif_addr *x = &i->a[k];

		if (x->tentative || !want(&x->addr))
			continue;
		if (!b || (b->deprecated && !x->deprecated) ||
		    (b->deprecated == x->deprecated && (oldest_first ? x->seq < b->seq : x->seq > b->seq)))
			b = x;
	}
	return b;
}

static bool is_v4(const struct in6_addr *a)
{
	return addr_is_v4(a);
}

static bool is_ll(const struct in6_addr *a)
{
	return !addr_is_v4(a) && addr_is_link_local(a);
}

static bool is_global(const struct in6_addr *a)
{
	return !addr_is_v4(a) && !addr_is_link_local(a) && !addr_is_multicast(a) && !addr_is_loopback(a) &&
	       !addr_is_unspecified(a);
}

bool lanif_v4(const struct lanif *i, struct in6_addr *out, uint8_t *plen)
{
	const struct lanif_addr *b = best(i, is_v4, true);

	if (b && out)
		*out = b->addr;
	if (b && plen)
		*plen = b->plen;
	return b != NULL;
}

bool lanif_link_local(const struct lanif *i, struct in6_addr *out)
{
	const struct lanif_addr *b = best(i, is_ll, true);

	if (b && out)
		*out = b->addr;
	return b != NULL;
}

bool lanif_global(const struct lanif *i, struct in6_addr *out, uint8_t *plen)
{
	const struct lanif_addr *b = best(i, is_global, false);

	if (b && out)
		*out = b->addr;
	if (b && plen)
		*plen = b->plen;
	return b != NULL;
}

size_t lanif_subnets(const struct lanif_set *s, struct in6_addr *out, uint8_t *len, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		for (size_t k = 0; k < s->ifs[i].n; k++) {
			struct in6_addr p = s->ifs[i].a[k].addr;
			uint8_t l = s->ifs[i].a[k].plen;
			bool dup = false;

			addr_mask(&p, l);
			for (size_t j = 0; j < n && !dup; j++)
				dup = len[j] == l && addr_equal(&out[j], &p);
			if (!dup && n < max) {
				out[n] = p;
				len[n++] = l;
			}
		}
	return n;
}

size_t lanif_own(const struct lanif_set *s, struct in6_addr *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		for (size_t k = 0; k < s->ifs[i].n && n < max; k++)
			out[n++] = s->ifs[i].a[k].addr;
	return n;
}

bool lanif_is_own(const struct lanif_set *s, const struct in6_addr *a)
{
	for (size_t i = 0; a && i < s->n; i++)
		for (size_t k = 0; k < s->ifs[i].n; k++)
			if (addr_equal(&s->ifs[i].a[k].addr, a))
				return true;
	return false;
}

int lanif_index_for(const struct lanif_set *s, const struct in6_addr *a)
{
	for (size_t i = 0; a && i < s->n; i++)
		for (size_t k = 0; k < s->ifs[i].n; k++)
			if (s->ifs[i].ifindex > 0 && addr_in_prefix(a, &s->ifs[i].a[k].addr, s->ifs[i].a[k].plen))
				return s->ifs[i].ifindex;
	return 0;
}
