/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "firewall/lib/addr.h"
#include "firewall/core/rule.h"

#define IPPROTO_NUM_UDPLITE 136

struct name_map {
	int value;
	const char *name;
};

static const struct name_map kind_names[] = {
	{ RULE_PINHOLE, "pinhole" },
	{ RULE_PORTMAP, "portmap" },
};

static const struct name_map origin_names[] = {
	{ ORIGIN_UPNP, "upnp" }, { ORIGIN_PCP, "pcp" }, { ORIGIN_NATPMP, "natpmp" },
	{ ORIGIN_WEB, "web" }, { ORIGIN_CTL, "ctl" }, { ORIGIN_STATIC, "static" },
	{ ORIGIN_PCP_PEER, "pcp-peer" },
};

static const struct name_map state_names[] = {
	{ RULE_PENDING, "pending" }, { RULE_INSTALLED, "installed" }, { RULE_GONE, "gone" },
};

static const struct name_map addr_kind_names[] = {
	{ ADDR_KIND_UNKNOWN, "unknown" }, { ADDR_KIND_IPV4, "ipv4" },
	{ ADDR_KIND_LINK_LOCAL, "link-local" }, { ADDR_KIND_ULA, "ula" },
	{ ADDR_KIND_EUI64, "eui64" }, { ADDR_KIND_STABLE, "stable" },
	{ ADDR_KIND_TEMPORARY, "temporary" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *map_name(const struct name_map *m, size_t n, int v)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].value == v)
			return m[i].name;
	return "?";
}

static bool map_value(const struct name_map *m, size_t n, const char *s, int *out)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].name, s) == 0) {
			*out = m[i].value;
			return true;
		}
	return false;
}

size_t rule_used_size(const struct rule *r)
{
	return offsetof(struct rule, desc) + strnlen(r->desc, RULE_DESC_MAX) + 1;
}

void rule_copy(struct rule *dst, const struct rule *src)
{
	size_t n = strnlen(src->desc, RULE_DESC_MAX);

	memmove(dst, src, offsetof(struct rule, desc) + n);
	dst->desc[n] = '\0';
}

const char *rule_kind_name(enum rule_kind k) { return map_name(kind_names, N(kind_names), (int)k); }
const char *rule_origin_name(enum rule_origin o) { return map_name(origin_names, N(origin_names), (int)o); }
const char *rule_state_name(enum rule_state s) { return map_name(state_names, N(state_names), (int)s); }
const char *addr_kind_name(enum addr_kind k) { return map_name(addr_kind_names, N(addr_kind_names), (int)k); }

bool rule_origin_parse(const char *s, enum rule_origin *out)
{
	int v;

	if (!map_value(origin_names, N(origin_names), s, &v))
		return false;
	*out = (enum rule_origin)v;
	return true;
}

bool rule_origin_is_app(enum rule_origin o)
{
	return o == ORIGIN_UPNP || o == ORIGIN_PCP || o == ORIGIN_NATPMP || o == ORIGIN_PCP_PEER;
}

bool rule_kind_parse(const char *s, enum rule_kind *out)
{
	int v;

	if (!map_value(kind_names, N(kind_names), s, &v))
		return false;
	*out = (enum rule_kind)v;
	return true;
}

const char *proto_name(uint16_t proto, char buf[8])
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case RULE_PROTO_ANY: return "any";
	default:
		snprintf(buf, 8, "%u", proto);
		return buf;
	}
}

bool proto_parse(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s == '\0')
		return false;
	if (strcasecmp(s, "tcp") == 0) {
		*out = IPPROTO_TCP;
		return true;
	}
	if (strcasecmp(s, "udp") == 0) {
		*out = IPPROTO_UDP;
		return true;
	}
	if (strcasecmp(s, "any") == 0 || strcasecmp(s, "all") == 0) {
		*out = RULE_PROTO_ANY;
		return true;
	}
	if (s[0] < '0' || s[0] > '9')
		return false;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || (v > 255 && v != RULE_PROTO_ANY))
		return false;
	*out = (uint16_t)v;
	return true;
}

bool proto_has_ports(uint16_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_NUM_UDPLITE ||
	       proto == IPPROTO_SCTP || proto == IPPROTO_DCCP;
}

const char *rule_validate(const struct rule *r)
{
	const struct rule_target *t = &r->target;

	if (r->kind != RULE_PINHOLE && r->kind != RULE_PORTMAP)
		return "unknown rule kind";
	if (r->proto > 255 && r->proto != RULE_PROTO_ANY)
		return "protocol out of range";
	if (!t->use_exact && !t->use_stable)
		return "rule has no target";
	if (!proto_has_ports(r->proto) && (r->int_port != 0 || r->remote_port != 0))
		return "ports given for a protocol without ports";
	if (memchr(r->desc, '\0', sizeof(r->desc)) == NULL)
		return "description not terminated";
	if (r->remote_len > 128)
		return "remote prefix length out of range";
	if (r->kind == RULE_PORTMAP) {
		if (!t->use_exact || !addr_is_v4(&t->exact))
			return "a port mapping needs an IPv4 internal client";
		if (t->use_stable)
			return "a port mapping cannot follow a stable IPv6 address";
		if (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
			return "a port mapping is TCP or UDP";
		if (r->ext_port == 0 || r->int_port == 0)
			return "a port mapping needs an external and an internal port";
		if (r->remote_len != 0 && !addr_is_v4(&r->remote))
			return "remote host of a port mapping must be IPv4";
		/* the NAT maps key on one remote host (and port): a wider filter cannot be installed */
		if (r->remote_len != 0 && r->remote_len != 128)
			return "remote host of a port mapping must be one address";
		if (r->remote_len == 0 && r->remote_port != 0)
			return "a remote port of a port mapping needs its remote host";
	} else {
		if (t->use_exact && addr_is_v4(&t->exact))
			return "a pinhole needs an IPv6 address";
		if (r->ext_port != 0)
			return "a pinhole has no external port";
		if (r->remote_len != 0 && addr_is_v4(&r->remote))
			return "remote host of a pinhole must be IPv6";
	}
	return NULL;
}

size_t rule_addresses(const struct rule *r, struct in6_addr out[2])
{
	size_t n = 0;

	if (r->target.use_exact)
		out[n++] = r->target.exact;
	if (r->target.use_stable && r->target.stable_resolved &&
	    !(n == 1 && addr_equal(&out[0], &r->target.stable)))
		out[n++] = r->target.stable;
	return n;
}

void rule_scrub_desc(char desc[RULE_DESC_MAX + 1])
{
	unsigned char *p = (unsigned char *)desc;
	size_t n;

	desc[RULE_DESC_MAX] = '\0';
	n = strlen(desc);
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			p[i] = ' ';
		/* C1 controls U+0080..U+009F, UTF-8 C2 80..C2 9F: some terminals act on them too */
		else if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			p[i] = p[i + 1] = ' ';
	}
}
