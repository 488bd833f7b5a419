/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Prefix tracking (see prefix.h). */
#include <stdio.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/prefix.h"

void prefix_tracker_init(struct prefix_tracker *t)
{
	memset(t, 0, sizeof(*t));
}

static struct prefix_if *find_if(struct prefix_tracker *t, int ifindex, bool create)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->ifs[i].ifindex == ifindex)
			return &t->ifs[i];
	if (!create || t->n >= PREFIX_MAX_IFS)
		return NULL;
	memset(&t->ifs[t->n], 0, sizeof(t->ifs[t->n]));
	t->ifs[t->n].ifindex = ifindex;
	return &t->ifs[t->n++];
}

static bool candidate_kind(const struct in6_addr *p, uint8_t len)
{
	return len >= 1 && len <= 64 && !addr_is_v4(p) && !addr_is_ula(p) && !addr_is_link_local(p) &&
	       !addr_is_multicast(p) && !addr_is_loopback(p) && !addr_is_unspecified(p);
}

/* The single preferred candidate prefix, if exactly one (several addresses may share it). */
static bool sole_candidate(const struct prefix_if *pi, struct in6_addr *p, uint8_t *len)
{
	const struct prefix_addr *found = NULL;

	for (size_t i = 0; i < pi->n; i++) {
		const struct prefix_addr *a = &pi->a[i];

		if (!a->preferred || !candidate_kind(&a->prefix, a->len))
			continue;
		if (found && (found->len != a->len || !addr_equal(&found->prefix, &a->prefix)))
			return false;   /* two prefixes at once: a renumbering under way, or multihoming */
		found = a;
	}
	if (!found)
		return false;
	*p = found->prefix;
	*len = found->len;
	return true;
}

enum prefix_result prefix_event(struct prefix_tracker *t, int ifindex, const struct in6_addr *addr,
				const struct in6_addr *prefix, uint8_t len, bool added, const struct addr_facts *facts,
				struct prefix_change *chg)
{
	struct prefix_if *pi;
	struct prefix_addr *pa = NULL;
	struct in6_addr p;
	uint8_t plen;

	if (!t || !addr || !prefix || !chg || len > 128)
		return PREFIX_NONE;
	memset(chg, 0, sizeof(*chg));
	chg->ifindex = ifindex;
	pi = find_if(t, ifindex, added);
	if (!pi)
		return PREFIX_NONE;
	for (size_t i = 0; i < pi->n; i++)
		if (addr_equal(&pi->a[i].addr, addr))
			pa = &pi->a[i];
	if (!added) {
		if (pa)
			*pa = pi->a[--pi->n];
	} else {
		if (!pa) {
			if (pi->n >= PREFIX_MAX_ADDRS)
				return PREFIX_NONE;
			pa = &pi->a[pi->n++];
		}
		pa->addr = *addr;
		pa->prefix = *prefix;
		addr_mask(&pa->prefix, len);
		pa->len = len;
		/* deprecated (preferred lifetime 0) is how a router says "this prefix is going away" */
		pa->preferred = !(facts && facts->lifetimes_known && facts->preferred == 0);
	}
	if (!sole_candidate(pi, &p, &plen))
		return PREFIX_NONE;
	if (!pi->has_anchor) {
		pi->has_anchor = true;
		pi->anchor = p;
		pi->anchor_len = plen;
		chg->new_prefix = p;
		chg->new_len = plen;
		return PREFIX_FIRST;
	}
	if (pi->anchor_len == plen && addr_equal(&pi->anchor, &p))
		return PREFIX_NONE;
	chg->old_prefix = pi->anchor;
	chg->old_len = pi->anchor_len;
	chg->new_prefix = p;
	chg->new_len = plen;
	pi->anchor = p;
	pi->anchor_len = plen;
	return PREFIX_CHANGED;
}

bool prefix_anchor(const struct prefix_tracker *t, int ifindex, struct in6_addr *prefix, uint8_t *len)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (t->ifs[i].ifindex == ifindex && t->ifs[i].has_anchor) {
			*prefix = t->ifs[i].anchor;
			*len = t->ifs[i].anchor_len;
			return true;
		}
	return false;
}

const char *prefix_format(const struct in6_addr *p, uint8_t len, char buf[PREFIX_STRLEN])
{
	char a[ADDR_STRLEN];

	snprintf(buf, PREFIX_STRLEN, "%s/%u", addr_str(p, a), len);
	return buf;
}

bool prefix_parse(const char *s, struct in6_addr *p, uint8_t *len)
{
	char head[ADDR_STRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	struct in6_addr whole, m;

	if (!slash || (size_t)(slash - s) >= sizeof(head) || !addr_parse_prefix(s, p, len) || addr_is_v4(p) ||
	    *len < 1 || *len > 64)
		return false;
	/* host bits are a typo in a hook script more often than not: refuse rather than guess */
	memcpy(head, s, (size_t)(slash - s));
	head[slash - s] = '\0';
	if (!addr_parse(head, &whole))
		return false;
	m = whole;
	addr_mask(&m, *len);
	return addr_equal(&m, &whole);
}
