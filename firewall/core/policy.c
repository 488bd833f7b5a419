/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/policy.h"

const char *verdict_str(enum verdict v)
{
	switch (v) {
	case V_OK: return "ok";
	case V_INVALID: return "invalid request";
	case V_NOT_AUTHORIZED: return "not authorized for this target";
	case V_BAD_TARGET: return "target address not allowed";
	case V_LOW_PORT: return "ports below 1024 are not allowed";
	case V_CONFLICT: return "conflicts with an existing rule";
	case V_QUOTA: return "rule quota reached";
	case V_NOT_FOUND: return "no such rule";
	case V_UNSUPPORTED_PROTO: return "protocol not supported";
	case V_NO_RESOURCES: return "cannot store or install the rule now";
	case V_DISABLED: return "feature disabled";
	case V_ASKING: return "waiting for an address to answer on the LAN";
	}
	return "unknown verdict";
}

void policy_defaults(struct policy_config *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->secure_mode = true;
	pc->allow_low_ports = false;
	pc->allow_temporary = true;
	pc->pinhole_target = PINHOLE_TARGET_BOTH;
	pc->min_lifetime = 120;
	pc->max_lifetime = 86400;
	pc->max_rules = 65535;
	pc->max_rules_per_client = 256;
}

uint32_t policy_clamp_lease(const struct policy_config *pc, uint32_t asked)
{
	if (asked == 0 || asked > pc->max_lifetime)
		return pc->max_lifetime;
	if (asked < pc->min_lifetime)
		return pc->min_lifetime;
	return asked;
}

uint32_t policy_lease_for(const struct policy_config *pc, enum rule_origin origin, uint32_t asked)
{
	/* UPnP's answer carries no lease: a floor would keep open what the client believes closed (a
	 * pinhole asked for 3 s open for min_lifetime), so UPnP gets what it asked, up to the maximum */
	if (origin == ORIGIN_UPNP && asked != 0 && asked < pc->min_lifetime)
		return asked;
	return policy_clamp_lease(pc, asked);
}

static bool on_lan(const struct policy_lan *lan, const struct in6_addr *a)
{
	if (!lan || !lan->known)
		return true;
	for (size_t i = 0; i < lan->n_subnets; i++)
		if (addr_in_prefix(a, &lan->subnet[i], lan->subnet_len[i]))
			return true;
	return false;
}

static bool is_router_own(const struct policy_lan *lan, const struct in6_addr *a)
{
	for (size_t i = 0; lan && lan->known && i < lan->n_own; i++)
		if (addr_equal(&lan->own[i], a))
			return true;
	return false;
}

/* An IPv4 address that names no single host of a subnet: its network or broadcast address. */
static bool v4_not_a_host(const struct policy_lan *lan, const struct in6_addr *a)
{
	for (size_t i = 0; lan && lan->known && addr_is_v4(a) && i < lan->n_subnets; i++) {
		uint8_t len = lan->subnet_len[i];
		uint32_t host, v = ntohl(addr_to_v4(a).s_addr);

		if (!addr_is_v4(&lan->subnet[i]) || len < 96 || len > 126 || !addr_in_prefix(a, &lan->subnet[i], len))
			continue;
		host = v & (0xffffffffu >> (len - 96));
		if (host == 0 || host == 0xffffffffu >> (len - 96))
			return true;
	}
	return false;
}

/* The target must be a unicast address of a host on the LAN: never link-local, multicast, loopback,
 * unspecified, broadcast or reserved (RFC 6092 forbids forwarding scoped addresses; a rule for them is
 * meaningless or dangerous), never off the LAN (a port mapping to a WAN address makes the router an open
 * relay), never the router itself. */
static bool target_address_ok(const struct policy_lan *lan, const struct rule *r, const struct in6_addr *a)
{
	if (addr_is_unspecified(a) || addr_is_link_local(a) || addr_is_multicast(a) || addr_is_loopback(a))
		return false;
	/* A ULA is not reachable from the internet (filtered at the boundary): a pinhole would never work. */
	if (r->kind == RULE_PINHOLE && addr_is_ula(a))
		return false;
	if (addr_is_v4(a)) {
		uint8_t first = a->s6_addr[12];

		/* 0/8 "this network", 240/4 reserved and the limited broadcast */
		if (first == 0 || first >= 240)
			return false;
	}
	return on_lan(lan, a) && !is_router_own(lan, a) && !v4_not_a_host(lan, a);
}

/* Ports 0 (every port) of a protocol with ports includes the low ones. */
static bool touches_low_port(const struct rule *r)
{
	if (!proto_has_ports(r->proto) && r->proto != RULE_PROTO_ANY)
		return false;
	if (r->int_port < 1024)
		return true;
	return r->kind == RULE_PORTMAP && r->ext_port < 1024;
}

static bool perm_matches(const struct perm_rule *p, const struct rule *r, const struct in6_addr *client)
{
	uint16_t eport = r->kind == RULE_PORTMAP ? r->ext_port : r->int_port;
	regex_t re;
	bool match;

	if (eport < p->eport_min || eport > p->eport_max)
		return false;
	if (r->int_port < p->iport_min || r->int_port > p->iport_max)
		return false;
	if (!addr_in_prefix(client, &p->addr, p->addr_len))
		return false;
	if (p->desc_regex[0] == '\0')
		return true;
	if (regcomp(&re, p->desc_regex, REG_EXTENDED | REG_NOSUB) != 0)
		return false;  /* checked at parse time; a failure here means no match */
	match = regexec(&re, r->desc, 0, NULL, 0) == 0;
	regfree(&re);
	return match;
}

/* miniupnpd semantics: the first matching line decides; no line matching allows. */
static bool perms_allow(const struct policy_config *pc, const struct rule *r, const struct in6_addr *client)
{
	for (size_t i = 0; i < pc->n_perms; i++)
		if (perm_matches(&pc->perms[i], r, client))
			return pc->perms[i].allow;
	return true;
}

/* Every address the rule opens now: allowed as a target, and allowed by the permission lines (app
 * requests only: the household and the operator are not bound by them). */
static enum verdict addresses_ok(const struct policy_config *pc, const struct policy_lan *lan, const struct rule *r,
				 bool with_perms)
{
	struct in6_addr addrs[2];
	size_t n = rule_addresses(r, addrs);

	for (size_t i = 0; i < n; i++)
		if (!target_address_ok(lan, r, &addrs[i]))
			return V_BAD_TARGET;
	for (size_t i = 0; with_perms && i < n; i++)
		if (!perms_allow(pc, r, &addrs[i]))
			return V_NOT_AUTHORIZED;
	return V_OK;
}

bool policy_address_allowed(const struct policy_config *pc, const struct rule *r, const struct in6_addr *a)
{
	return !rule_origin_is_app(r->origin) || perms_allow(pc, r, a);
}

/* What an app's rule opens: no temporary address unless allowed, no low port unless allowed, and the
 * deny lines for every address. */
static enum verdict opens_ok(const struct policy_config *pc, const struct policy_lan *lan, const struct rule *r)
{
	if (r->target.use_exact && r->target.exact_kind == ADDR_KIND_TEMPORARY && !pc->allow_temporary)
		return V_BAD_TARGET;
	if (!pc->allow_low_ports && touches_low_port(r))
		return V_LOW_PORT;
	return addresses_ok(pc, lan, r, true);
}

enum verdict policy_check_add(const struct policy_config *pc, const struct policy_request *req)
{
	const struct rule *r = req->rule;
	enum verdict v;

	if (rule_validate(r) != NULL)
		return V_INVALID;
	if ((v = addresses_ok(pc, req->lan, r, false)) != V_OK)
		return v;
	if (req->table_rule_count >= pc->max_rules)
		return V_QUOTA;
	if (req->privileged)
		return V_OK;
	/* a request from off the LAN (a spoofed source on a LAN port) acts for nobody */
	if (!on_lan(req->lan, &req->requester))
		return V_NOT_AUTHORIZED;
	if ((pc->secure_mode || req->own_device_only) && !req->third_party && !req->same_device &&
	    !(r->target.use_exact && addr_equal(&r->target.exact, &req->requester)))
		return V_NOT_AUTHORIZED;
	if ((v = opens_ok(pc, req->lan, r)) != V_OK)
		return v;
	if (req->owner_rule_count >= pc->max_rules_per_client)
		return V_QUOTA;
	return V_OK;
}

enum verdict policy_check_standing(const struct policy_config *pc, const struct policy_lan *lan, const struct rule *r,
				   bool privileged)
{
	if (rule_validate(r) != NULL)
		return V_INVALID;
	return privileged ? addresses_ok(pc, lan, r, false) : opens_ok(pc, lan, r);
}

enum verdict policy_check_apps(enum rule_origin origin, bool requester_blocked, bool target_blocked)
{
	return rule_origin_is_app(origin) && (requester_blocked || target_blocked) ? V_NOT_AUTHORIZED : V_OK;
}

/* The requester asked for the rule, or the rule targets it or (same_device) an address of its device. */
static bool is_own(const struct rule *r, const struct in6_addr *requester, bool same_device)
{
	return addr_equal(&r->owner, requester) || same_device ||
	       (r->target.use_exact && addr_equal(&r->target.exact, requester));
}

enum verdict policy_check_owner(const struct policy_config *pc, const struct rule *existing,
				const struct in6_addr *requester, bool privileged, bool same_device)
{
	if (privileged || !pc->secure_mode || is_own(existing, requester, same_device))
		return V_OK;
	return V_NOT_AUTHORIZED;
}

bool policy_may_see(const struct policy_config *pc, const struct rule *r, const struct in6_addr *requester,
		    bool privileged, bool own_only, bool same_device)
{
	if (!own_only && (privileged || !pc->secure_mode))
		return true;
	return is_own(r, requester, same_device);
}

enum verdict policy_check_change(const struct policy_config *pc, const struct rule *existing,
				 const struct in6_addr *requester, bool privileged, bool same_device,
				 bool requester_blocked)
{
	if (privileged)
		return V_OK;
	/* a rule made by hand is the household's or the operator's, whatever device it targets */
	if (!rule_origin_is_app(existing->origin) || requester_blocked)
		return V_NOT_AUTHORIZED;
	return policy_check_owner(pc, existing, requester, false, same_device);
}

/* "N" or "N-M", 0..65535, N <= M */
static bool parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	char *end;
	unsigned long a, b;

	if (!isdigit((unsigned char)s[0]))
		return false;
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return false;
		b = strtoul(end + 1, &end, 10);
	}
	if (*end != '\0' || a > 65535 || b > 65535 || a > b)
		return false;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return true;
}

/* Splits the next whitespace-separated word; a word starting with '"' runs to the closing quote. */
static const char *next_word(const char *p, char *out, size_t outlen, bool *quoted)
{
	size_t n = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	*quoted = *p == '"';
	if (*quoted) {
		const char *close = strchr(p + 1, '"');

		if (close == NULL)
			return NULL;
		n = (size_t)(close - p - 1);
		if (n >= outlen)
			return NULL;
		memcpy(out, p + 1, n);
		out[n] = '\0';
		return close + 1;
	}
	while (p[n] != '\0' && p[n] != ' ' && p[n] != '\t')
		n++;
	if (n >= outlen)
		return NULL;
	memcpy(out, p, n);
	out[n] = '\0';
	return p + n;
}

bool policy_parse_perm(const char *line, struct perm_rule *out, char *err, size_t errlen)
{
	char word[5][160];
	const char *p = line;
	bool quoted[5];
	size_t n = 0;
	regex_t re;

	memset(out, 0, sizeof(*out));
	while (n < 5) {
		p = next_word(p, word[n], sizeof(word[n]), &quoted[n]);
		if (p == NULL) {
			snprintf(err, errlen, "word %zu too long or unterminated quote", n + 1);
			return false;
		}
		if (word[n][0] == '\0' && !quoted[n])
			break;
		n++;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' || n < 4) {
		snprintf(err, errlen, "expected: allow|deny EXTPORTS ADDR[/LEN] INTPORTS [\"regex\"]");
		return false;
	}
	if (strcmp(word[0], "allow") == 0) {
		out->allow = true;
	} else if (strcmp(word[0], "deny") != 0) {
		snprintf(err, errlen, "permission lines start with allow or deny, not '%s'", word[0]);
		return false;
	}
	if (!parse_port_range(word[1], &out->eport_min, &out->eport_max)) {
		snprintf(err, errlen, "bad external port range '%s'", word[1]);
		return false;
	}
	if (!addr_parse_prefix(word[2], &out->addr, &out->addr_len)) {
		snprintf(err, errlen, "bad address or prefix '%s'", word[2]);
		return false;
	}
	if (!parse_port_range(word[3], &out->iport_min, &out->iport_max)) {
		snprintf(err, errlen, "bad internal port range '%s'", word[3]);
		return false;
	}
	if (n == 5) {
		if (!quoted[4] || strlen(word[4]) >= sizeof(out->desc_regex)) {
			snprintf(err, errlen, "the description pattern must be quoted and under %zu bytes",
				 sizeof(out->desc_regex));
			return false;
		}
		if (regcomp(&re, word[4], REG_EXTENDED | REG_NOSUB) != 0) {
			snprintf(err, errlen, "bad regular expression \"%s\"", word[4]);
			return false;
		}
		regfree(&re);
		strcpy(out->desc_regex, word[4]);
	}
	return true;
}
