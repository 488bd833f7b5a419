/* SPDX-License-Identifier: GPL-2.0-or-later */
/* policy_, rule_ and addr_: pure decisions and helpers. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/policy.h"
#include "firewall/core/rule.h"
#include "tests/unit/testutil.h"

static struct rule pinhole(const char *addr, uint16_t proto, uint16_t port)
{
	struct rule r;

	memset(&r, 0, sizeof(r));
	r.kind = RULE_PINHOLE;
	r.proto = proto;
	r.int_port = port;
	r.target.use_exact = true;
	r.target.exact = A(addr);
	return r;
}

static struct rule portmap(uint16_t ext, const char *addr, uint16_t port)
{
	struct rule r = pinhole(addr, IPPROTO_TCP, port);

	r.kind = RULE_PORTMAP;
	r.ext_port = ext;
	return r;
}

static enum verdict check(const struct policy_config *pc, const struct rule *r, const char *requester)
{
	struct policy_request req = { .rule = r, .requester = A(requester) };

	return policy_check_add(pc, &req);
}

START_TEST(addr_parsing)
{
	struct in6_addr a, p;
	uint8_t len;
	char buf[ADDR_STRLEN];

	ck_assert(addr_parse("192.0.2.5", &a));
	ck_assert(addr_is_v4(&a));
	ck_assert_str_eq(addr_str(&a, buf), "192.0.2.5");
	ck_assert(addr_parse("2001:db8::1", &a));
	ck_assert(!addr_is_v4(&a));
	ck_assert_str_eq(addr_str(&a, buf), "2001:db8::1");
	ck_assert(!addr_parse("", &a));
	ck_assert(!addr_parse("2001:db8::1%eth0", &a));
	ck_assert(!addr_parse("example.org", &a));
	ck_assert(!addr_parse("(null)", &a));
	ck_assert(addr_parse_prefix("2001:db8:1::77/48", &p, &len));
	ck_assert_uint_eq(len, 48);
	ck_assert_str_eq(addr_str(&p, buf), "2001:db8:1::");
	ck_assert(addr_parse_prefix("198.51.100.7/24", &p, &len));
	ck_assert_uint_eq(len, 120);
	ck_assert_str_eq(addr_str(&p, buf), "198.51.100.0");
	ck_assert(addr_in_prefix(&a, &a, 128));
	ck_assert(!addr_parse_prefix("2001:db8::/129", &p, &len));
	ck_assert(!addr_parse_prefix("192.0.2.0/33", &p, &len));
	ck_assert(!addr_parse_prefix("192.0.2.0/", &p, &len));
	ck_assert(!addr_parse_prefix("192.0.2.0/8x", &p, &len));
	ck_assert(!addr_parse_prefix("/8", &p, &len));
	a = A("fe80::1");
	ck_assert(addr_is_link_local(&a));
	a = A("fd00::1");
	ck_assert(addr_is_ula(&a));
	a = A("ff02::c");
	ck_assert(addr_is_multicast(&a));
	a = A("::1");
	ck_assert(addr_is_loopback(&a));
	a = A("::");
	ck_assert(addr_is_unspecified(&a));
}
END_TEST

START_TEST(protocols)
{
	uint16_t p;
	char buf[8];

	ck_assert(proto_parse("tcp", &p) && p == 6);
	ck_assert(proto_parse("UDP", &p) && p == 17);
	ck_assert(proto_parse("any", &p) && p == RULE_PROTO_ANY);
	ck_assert(proto_parse("50", &p) && p == 50);
	ck_assert(proto_parse("65535", &p) && p == RULE_PROTO_ANY);
	ck_assert(!proto_parse("256", &p));
	ck_assert(!proto_parse("-1", &p));
	ck_assert(!proto_parse("6x", &p));
	ck_assert(!proto_parse("", &p));
	ck_assert(!proto_parse(NULL, &p));
	ck_assert_str_eq(proto_name(6, buf), "tcp");
	ck_assert_str_eq(proto_name(50, buf), "50");
	ck_assert(proto_has_ports(132));
	ck_assert(!proto_has_ports(50));
}
END_TEST

START_TEST(rule_validation)
{
	struct rule r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 8080);

	ck_assert_ptr_null(rule_validate(&r));
	r.target.exact = A("192.0.2.5");
	ck_assert_ptr_nonnull(rule_validate(&r));        /* pinhole to IPv4 */
	r = pinhole("2001:db8:1:1::5", 50, 10);
	ck_assert_ptr_nonnull(rule_validate(&r));        /* ESP has no ports */
	r.int_port = 0;
	ck_assert_ptr_null(rule_validate(&r));
	r = portmap(8080, "192.0.2.10", 80);
	ck_assert_ptr_null(rule_validate(&r));
	r.ext_port = 0;
	ck_assert_ptr_nonnull(rule_validate(&r));
	r = portmap(8080, "2001:db8::1", 80);
	ck_assert_ptr_nonnull(rule_validate(&r));        /* port mapping to IPv6 */
	r = portmap(8080, "192.0.2.10", 80);
	r.proto = 50;
	ck_assert_ptr_nonnull(rule_validate(&r));
	r = portmap(8080, "192.0.2.10", 80);
	r.remote = A("198.51.100.0");
	r.remote_len = 120;                              /* the NAT map holds one remote host, not a /24 */
	ck_assert_ptr_nonnull(rule_validate(&r));
	r.remote_len = 128;
	ck_assert_ptr_null(rule_validate(&r));
	r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 1);
	r.target.use_exact = false;
	ck_assert_ptr_nonnull(rule_validate(&r));        /* no target */
	r = pinhole("2001:db8:1:1::5", 300, 0);
	ck_assert_ptr_nonnull(rule_validate(&r));
}
END_TEST

START_TEST(rule_addresses_dedup)
{
	struct rule r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 8080);
	struct in6_addr out[2];

	ck_assert_uint_eq(rule_addresses(&r, out), 1);
	r.target.use_stable = true;
	ck_assert_uint_eq(rule_addresses(&r, out), 1);   /* stable not resolved yet */
	r.target.stable_resolved = true;
	r.target.stable = r.target.exact;
	ck_assert_uint_eq(rule_addresses(&r, out), 1);   /* same address once */
	r.target.stable = A("2001:db8:1:1:5054:ff:fe12:3401");
	ck_assert_uint_eq(rule_addresses(&r, out), 2);
	r.target.use_exact = false;
	ck_assert_uint_eq(rule_addresses(&r, out), 1);
	ck_assert(addr_equal(&out[0], &r.target.stable));
}
END_TEST

START_TEST(secure_mode_and_targets)
{
	struct policy_config pc;
	struct rule r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 8080);
	struct policy_request req = { .rule = &r, .requester = A("2001:db8:1:1::9") };

	policy_defaults(&pc);
	ck_assert_int_eq(check(&pc, &r, "2001:db8:1:1::5"), V_OK);
	ck_assert_int_eq(check(&pc, &r, "2001:db8:1:1::9"), V_NOT_AUTHORIZED);
	req.same_device = true;                          /* the same MAC in the neighbour table */
	ck_assert_int_eq(policy_check_add(&pc, &req), V_OK);
	req.same_device = false;
	req.privileged = true;
	ck_assert_int_eq(policy_check_add(&pc, &req), V_OK);
	pc.secure_mode = false;
	ck_assert_int_eq(check(&pc, &r, "2001:db8:1:1::9"), V_OK);
	pc.secure_mode = true;

	r = pinhole("fe80::5", IPPROTO_TCP, 8080);
	ck_assert_int_eq(check(&pc, &r, "fe80::5"), V_BAD_TARGET);
	r = pinhole("ff02::1", IPPROTO_TCP, 8080);
	ck_assert_int_eq(check(&pc, &r, "ff02::1"), V_BAD_TARGET);
	r = pinhole("::1", IPPROTO_TCP, 8080);
	ck_assert_int_eq(check(&pc, &r, "::1"), V_BAD_TARGET);
	r = pinhole("fd00::5", IPPROTO_TCP, 8080);
	ck_assert_int_eq(check(&pc, &r, "fd00::5"), V_BAD_TARGET);
	r = portmap(8080, "127.0.0.1", 80);
	ck_assert_int_eq(check(&pc, &r, "127.0.0.1"), V_BAD_TARGET);

	/* reserved IPv4 ranges are no host's, whatever the LAN */
	r = portmap(8080, "0.1.2.3", 8080);
	ck_assert_int_eq(check(&pc, &r, "0.1.2.3"), V_BAD_TARGET);
	r = portmap(8080, "255.255.255.255", 8080);
	ck_assert_int_eq(check(&pc, &r, "255.255.255.255"), V_BAD_TARGET);
	r = portmap(8080, "240.0.0.1", 8080);
	ck_assert_int_eq(check(&pc, &r, "240.0.0.1"), V_BAD_TARGET);
}
END_TEST

/* The LAN as rtnetlink reports it: 2001:db8:1:1::1/64, 192.0.2.1/24, fe80::1/64 on the LAN interface. */
static void lan_facts(struct policy_lan *lan)
{
	memset(lan, 0, sizeof(*lan));
	lan->known = true;
	ck_assert(addr_parse_prefix("2001:db8:1:1::/64", &lan->subnet[0], &lan->subnet_len[0]));
	ck_assert(addr_parse_prefix("192.0.2.0/24", &lan->subnet[1], &lan->subnet_len[1]));
	ck_assert(addr_parse_prefix("fe80::/64", &lan->subnet[2], &lan->subnet_len[2]));
	lan->n_subnets = 3;
	lan->own[0] = A("2001:db8:1:1::1");
	lan->own[1] = A("192.0.2.1");
	lan->own[2] = A("fe80::1");
	lan->n_own = 3;
}

static enum verdict check_lan(const struct policy_config *pc, const struct policy_lan *lan, const struct rule *r,
			      const char *requester, bool privileged)
{
	struct policy_request req = { .rule = r, .requester = A(requester), .lan = lan, .privileged = privileged,
				      .third_party = true };

	return policy_check_add(pc, &req);
}

/* Issue 12: a spoofed source made the router forward WAN:8443 to 203.0.113.5 (an open relay). */
START_TEST(lan_bounds_targets_and_requesters)
{
	struct policy_config pc;
	struct policy_lan lan;
	struct rule r;

	policy_defaults(&pc);
	lan_facts(&lan);
	r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 8080);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "2001:db8:1:1::5", false), V_OK);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "fe80::5", false), V_OK);   /* asked over link-local */
	r = pinhole("2001:db8:2:1::5", IPPROTO_TCP, 8080);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "2001:db8:2:1::5", false), V_BAD_TARGET);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "2001:db8:2:1::5", true), V_BAD_TARGET);  /* nobody may */
	/* the open relay: a LAN host spoofing a WAN source, for itself or for a LAN host */
	r = portmap(8443, "203.0.113.5", 8443);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "203.0.113.5", false), V_BAD_TARGET);
	r = portmap(8443, "192.0.2.11", 8443);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "203.0.113.5", false), V_NOT_AUTHORIZED);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "192.0.2.12", false), V_OK);
	/* the router's own addresses, the subnet's network and broadcast addresses */
	r = portmap(2222, "192.0.2.1", 22);
	pc.allow_low_ports = true;
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "192.0.2.1", true), V_BAD_TARGET);
	r = pinhole("2001:db8:1:1::1", IPPROTO_TCP, 8080);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "2001:db8:1:1::1", true), V_BAD_TARGET);
	r = portmap(8080, "192.0.2.255", 8080);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "192.0.2.11", false), V_BAD_TARGET);
	r = portmap(8080, "192.0.2.0", 8080);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "192.0.2.11", false), V_BAD_TARGET);
	/* not known yet: nothing restricted (pcpd's routed subscribers, unit tests) */
	lan.known = false;
	r = portmap(8443, "203.0.113.5", 8443);
	ck_assert_int_eq(check_lan(&pc, &lan, &r, "203.0.113.5", false), V_OK);
}
END_TEST

START_TEST(ports_quota_temporary)
{
	struct policy_config pc;
	struct rule r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 80);
	struct policy_request req = { .rule = &r, .requester = A("2001:db8:1:1::5") };

	policy_defaults(&pc);
	ck_assert_int_eq(policy_check_add(&pc, &req), V_LOW_PORT);
	r.int_port = 0;                                  /* every port includes the low ones */
	ck_assert_int_eq(policy_check_add(&pc, &req), V_LOW_PORT);
	r.proto = 50;                                    /* ESP: no ports at all */
	ck_assert_int_eq(policy_check_add(&pc, &req), V_OK);
	pc.allow_low_ports = true;
	r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 80);
	ck_assert_int_eq(policy_check_add(&pc, &req), V_OK);

	req.owner_rule_count = pc.max_rules_per_client;
	ck_assert_int_eq(policy_check_add(&pc, &req), V_QUOTA);
	req.owner_rule_count = 0;
	req.table_rule_count = pc.max_rules;
	req.privileged = true;                           /* the global cap binds the operator too */
	ck_assert_int_eq(policy_check_add(&pc, &req), V_QUOTA);
	req.table_rule_count = 0;
	req.privileged = false;

	r.target.exact_kind = ADDR_KIND_TEMPORARY;
	ck_assert_int_eq(policy_check_add(&pc, &req), V_OK);
	pc.allow_temporary = false;
	ck_assert_int_eq(policy_check_add(&pc, &req), V_BAD_TARGET);
}
END_TEST

START_TEST(leases)
{
	struct policy_config pc;

	policy_defaults(&pc);
	ck_assert_uint_eq(policy_clamp_lease(&pc, 0), 86400);   /* IGD:2 / PCP: 0 asks for the maximum */
	ck_assert_uint_eq(policy_clamp_lease(&pc, 5), 120);
	ck_assert_uint_eq(policy_clamp_lease(&pc, 3600), 3600);
	ck_assert_uint_eq(policy_clamp_lease(&pc, 10000000), 86400);
	/* the floor only where the answer says what was granted: UPnP keeps a short lease as asked */
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_UPNP, 3), 3);
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_UPNP, 0), 86400);
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_UPNP, 10000000), 86400);
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_PCP, 3), 120);
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_NATPMP, 3), 120);
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_WEB, 3), 120);
}
END_TEST

START_TEST(owner_checks)
{
	struct policy_config pc;
	struct rule r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 8080);
	struct in6_addr other = A("2001:db8:1:1::9");

	policy_defaults(&pc);
	r.owner = A("2001:db8:1:1::7");
	ck_assert_int_eq(policy_check_owner(&pc, &r, &r.owner, false, false), V_OK);
	ck_assert_int_eq(policy_check_owner(&pc, &r, &r.target.exact, false, false), V_OK);
	ck_assert_int_eq(policy_check_owner(&pc, &r, &other, false, false), V_NOT_AUTHORIZED);
	ck_assert_int_eq(policy_check_owner(&pc, &r, &other, false, true), V_OK);
	ck_assert_int_eq(policy_check_owner(&pc, &r, &other, true, false), V_OK);
}
END_TEST

START_TEST(permission_lines)
{
	struct policy_config pc;
	struct rule r = portmap(8080, "192.0.2.10", 8080);
	char err[128];

	policy_defaults(&pc);
	ck_assert(policy_parse_perm("allow 1024-65535 192.0.2.0/25 1024-65535", &pc.perms[0], err, sizeof(err)));
	ck_assert(policy_parse_perm("deny 0-65535 0.0.0.0/0 0-65535", &pc.perms[1], err, sizeof(err)));
	pc.n_perms = 2;
	ck_assert_int_eq(check(&pc, &r, "192.0.2.10"), V_OK);
	r = portmap(8080, "192.0.2.200", 8080);
	ck_assert_int_eq(check(&pc, &r, "192.0.2.200"), V_NOT_AUTHORIZED);

	ck_assert(policy_parse_perm("allow 2000 2001:db8:1:1::/64 2000 \"^game\"", &pc.perms[0], err, sizeof(err)));
	pc.n_perms = 1;
	ck_assert_str_eq(pc.perms[0].desc_regex, "^game");
	ck_assert_uint_eq(pc.perms[0].addr_len, 64);

	ck_assert(!policy_parse_perm("permit 1 192.0.2.0/24 1", &pc.perms[0], err, sizeof(err)));
	ck_assert(!policy_parse_perm("allow 70000 192.0.2.0/24 1", &pc.perms[0], err, sizeof(err)));
	ck_assert(!policy_parse_perm("allow 20-10 192.0.2.0/24 1", &pc.perms[0], err, sizeof(err)));
	ck_assert(!policy_parse_perm("allow 1 192.0.2.0/40 1", &pc.perms[0], err, sizeof(err)));
	ck_assert(!policy_parse_perm("allow 1 192.0.2.0/24", &pc.perms[0], err, sizeof(err)));
	ck_assert(!policy_parse_perm("allow 1 192.0.2.0/24 1 \"(\"", &pc.perms[0], err, sizeof(err)));
	ck_assert(!policy_parse_perm("allow 1 192.0.2.0/24 1 \"x", &pc.perms[0], err, sizeof(err)));
	ck_assert(!policy_parse_perm("allow 1 192.0.2.0/24 1 \"x\" extra", &pc.perms[0], err, sizeof(err)));
	ck_assert(!policy_parse_perm("", &pc.perms[0], err, sizeof(err)));
}
END_TEST

/* Who may change or delete a rule, and who may see it (issue 12). */
START_TEST(change_and_see)
{
	static const enum rule_origin by_hand[] = { ORIGIN_WEB, ORIGIN_CTL, ORIGIN_STATIC };
	struct policy_config pc;
	struct rule r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 8080);
	struct in6_addr target = r.target.exact, other = A("2001:db8:1:1::9");

	policy_defaults(&pc);
	r.owner = target;
	r.origin = ORIGIN_UPNP;
	ck_assert_int_eq(policy_check_change(&pc, &r, &target, false, false, false), V_OK);
	ck_assert_int_eq(policy_check_change(&pc, &r, &other, false, false, false), V_NOT_AUTHORIZED);
	ck_assert_int_eq(policy_check_change(&pc, &r, &other, false, true, false), V_OK);     /* its device */
	ck_assert_int_eq(policy_check_change(&pc, &r, &target, false, false, true), V_NOT_AUTHORIZED); /* blocked */
	for (size_t i = 0; i < 3; i++) {
		r.origin = by_hand[i];
		ck_assert_int_eq(policy_check_change(&pc, &r, &target, false, true, false), V_NOT_AUTHORIZED);
		ck_assert_int_eq(policy_check_change(&pc, &r, &target, true, false, false), V_OK);
	}
	pc.secure_mode = false;
	ck_assert_int_eq(policy_check_change(&pc, &r, &other, false, false, false), V_NOT_AUTHORIZED);
	r.origin = ORIGIN_PCP;
	ck_assert_int_eq(policy_check_change(&pc, &r, &other, false, false, false), V_OK);

	/* seeing: its own (it asked, it is the target, its device) under secure_mode; all without */
	pc.secure_mode = true;
	r.owner = A("2001:db8:1:1::7");
	ck_assert(policy_may_see(&pc, &r, &r.owner, false, false, false));
	ck_assert(policy_may_see(&pc, &r, &target, false, false, false));
	ck_assert(policy_may_see(&pc, &r, &other, false, false, true));
	ck_assert(!policy_may_see(&pc, &r, &other, false, false, false));
	ck_assert(policy_may_see(&pc, &r, &other, true, false, false));
	ck_assert(!policy_may_see(&pc, &r, &other, true, true, false));       /* own only narrows anyone */
	pc.secure_mode = false;
	ck_assert(policy_may_see(&pc, &r, &other, false, false, false));
	ck_assert(!policy_may_see(&pc, &r, &other, false, true, false));
}
END_TEST

/* Deny lines meet every address a rule opens: the stable one beside the one asked for, or alone. */
START_TEST(deny_lines_every_address)
{
	struct policy_config pc;
	struct rule r = pinhole("2001:db8:1:1:1234:5678:9abc:def0", IPPROTO_TCP, 8080);
	struct in6_addr stable = A("2001:db8:1:1:5054:ff:fe12:3401");
	char err[128];

	policy_defaults(&pc);
	ck_assert(policy_parse_perm("deny 0-65535 2001:db8:1:1:5054:ff:fe12:3401/128 0-65535", &pc.perms[0], err,
				    sizeof(err)));
	pc.n_perms = 1;
	r.origin = ORIGIN_UPNP;
	r.target.use_stable = true;
	r.target.stable_resolved = true;
	r.target.stable = stable;
	ck_assert_int_eq(check(&pc, &r, "2001:db8:1:1:1234:5678:9abc:def0"), V_NOT_AUTHORIZED);
	r.target.use_exact = false;                                            /* pinhole_target=stable */
	ck_assert_int_eq(policy_check_standing(&pc, NULL, &r, false), V_NOT_AUTHORIZED);
	ck_assert_int_eq(policy_check_standing(&pc, NULL, &r, true), V_OK);         /* by hand: not bound */
	ck_assert(!policy_address_allowed(&pc, &r, &stable));
	r.origin = ORIGIN_CTL;
	ck_assert(policy_address_allowed(&pc, &r, &stable));
	/* what a refresh re-judges: low ports too */
	r = pinhole("2001:db8:1:1::5", IPPROTO_TCP, 22);
	r.origin = ORIGIN_PCP;
	ck_assert_int_eq(policy_check_standing(&pc, NULL, &r, false), V_LOW_PORT);
}
END_TEST

/* Descriptions lose their control characters (C0, DEL, C1), nothing else. */
START_TEST(description_scrub)
{
	char d[RULE_DESC_MAX + 1];

	strcpy(d, "a\tb\x1b[0m\x7f\xc2\x85\xc3\xa9\xe2\x80\xa8z");
	rule_scrub_desc(d);
	ck_assert_str_eq(d, "a b [0m   \xc3\xa9\xe2\x80\xa8z");
	memset(d, 'x', sizeof(d));                       /* not terminated: cut to RULE_DESC_MAX */
	rule_scrub_desc(d);
	ck_assert_uint_eq(strlen(d), RULE_DESC_MAX);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, addr_parsing);
	tcase_add_test(tc, protocols);
	tcase_add_test(tc, rule_validation);
	tcase_add_test(tc, rule_addresses_dedup);
	tcase_add_test(tc, secure_mode_and_targets);
	tcase_add_test(tc, lan_bounds_targets_and_requesters);
	tcase_add_test(tc, ports_quota_temporary);
	tcase_add_test(tc, leases);
	tcase_add_test(tc, owner_checks);
	tcase_add_test(tc, permission_lines);
	tcase_add_test(tc, change_and_see);
	tcase_add_test(tc, deny_lines_every_address);
	tcase_add_test(tc, description_scrub);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(policy_suite());
}
