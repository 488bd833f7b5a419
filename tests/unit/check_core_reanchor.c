/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core_reanchor, core_resolve_pending, pinhole_target, restart re-anchoring and devices whose apps are
 * blocked (core_remove_app_rules), on the in-memory backend: everything where the core asks the device table. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include "tests/unit/testutil.h"

static const uint8_t MAC1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };
static const uint8_t MAC2[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };
#define L1_EUI  "2001:db8:1:1:5054:ff:fe12:3401"
#define L1_EUI2 "2001:db8:2:1:5054:ff:fe12:3401"
#define L1_TMP  "2001:db8:1:1:1234:5678:9abc:def0"
#define L2_ST1  "2001:db8:1:1:a1b2:c3d4:e5f6:789"
#define L2_ST2  "2001:db8:2:1:9999:8888:7777:6666"

/* lan1: EUI-64 + a temporary (sibling rule); lan2: a stable opaque (hint, as a DHCPv6 lease would say) */
static struct device_table *lab_devices(void)
{
	struct device_table *t = device_table_new(0, 0);
	struct in6_addr a;

	ck_assert_ptr_nonnull(t);
	a = A(L1_EUI);
	ck_assert_int_ge(device_addr_seen(t, MAC1, 3, &a, NULL, fake_now), 0);
	a = A(L1_TMP);
	ck_assert_int_ge(device_addr_seen(t, MAC1, 3, &a, NULL, fake_now), 0);
	a = A(L2_ST1);
	ck_assert_int_ge(device_addr_seen(t, MAC2, 3, &a, NULL, fake_now), 0);
	ck_assert_int_eq(device_addr_hint(t, &a, ADDR_KIND_STABLE, "test"), 1);
	return t;
}

static struct core *new_core(struct fw *fw, struct store *st, struct device_table *t, enum pinhole_target_policy pt,
			     bool start)
{
	struct core_params p;
	struct core *c;
	char err[256];

	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.policy.pinhole_target = pt;
	p.fw = fw;
	p.store = st;
	p.clock = fake_clock;
	p.devices = t;
	p.same_device = device_same_cb;
	p.device_arg = t;
	c = core_new(&p);
	ck_assert_ptr_nonnull(c);
	if (start)
		ck_assert_msg(core_start(c, err, sizeof(err)) == 0, "core_start: %s", err);
	return c;
}

static uint32_t add(struct core *c, const char *addr, uint16_t port, enum rule_origin o, struct rule *out)
{
	struct core_add_req q = tcp_pinhole_req(addr, addr, port, o);
	struct rule r;

	ck_assert_int_eq(core_add(c, &q, out ? out : &r), V_OK);
	return out ? out->id : r.id;
}

static enum verdict try_add(struct core *c, const char *target, const char *owner, uint16_t port, enum rule_origin o)
{
	struct core_add_req q = tcp_pinhole_req(target, owner, port, o);
	struct rule r;

	return core_add(c, &q, &r);
}

static bool kernel_has(struct fw *fw, const char *addr, uint16_t port)
{
	struct fw_elem k;

	memset(&k, 0, sizeof(k));
	k.proto = 6;
	k.addr = A(addr);
	k.port = port;
	return fw_mem_has(fw, &k, NULL);
}

static uint64_t tx(struct fw *fw)
{
	return fw->ops->transactions(fw);
}

START_TEST(reanchor_one_transaction)
{
	struct fw *fw = mem_fw();
	struct device_table *t = lab_devices();
	struct core *c = new_core(fw, NULL, t, PINHOLE_TARGET_REQUESTED, true);
	struct in6_addr op = A("2001:db8:1::"), np = A("2001:db8:2::"), a2 = A(L2_ST2);
	struct core_reanchor_result res;
	struct rule r;
	uint32_t eui, tmp, st;
	uint64_t t0;

	eui = add(c, L1_EUI, 8080, ORIGIN_CTL, NULL);
	tmp = add(c, L1_TMP, 8081, ORIGIN_CTL, &r);
	ck_assert_int_eq(r.target.exact_kind, ADDR_KIND_TEMPORARY);   /* marked for list and API */
	ck_assert(r.target.has_mac && memcmp(r.target.mac, MAC1, 6) == 0);
	st = add(c, L2_ST1, 8080, ORIGIN_CTL, NULL);
	t0 = tx(fw);
	ck_assert_int_eq(core_reanchor(c, &op, 56, &np, 56, &res), 0);
	ck_assert_uint_eq(tx(fw) - t0, 1);
	ck_assert(res.committed);
	ck_assert_uint_eq(res.installed, 1);
	ck_assert_uint_eq(res.pending, 1);
	ck_assert_uint_eq(res.removed, 1);
	ck_assert(kernel_has(fw, L1_EUI2, 8080));
	ck_assert(!kernel_has(fw, L1_EUI, 8080));
	ck_assert(!kernel_has(fw, L1_TMP, 8081));
	ck_assert(!kernel_has(fw, L2_ST1, 8080));
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	ck_assert_int_eq(core_get(c, tmp, &r), V_NOT_FOUND);
	ck_assert_int_eq(core_get(c, eui, &r), V_OK);
	ck_assert_int_eq(r.state, RULE_INSTALLED);
	ck_assert_int_eq(core_get(c, st, &r), V_OK);
	ck_assert_int_eq(r.state, RULE_PENDING);

	/* nothing to resolve yet: no transaction */
	t0 = tx(fw);
	ck_assert_int_eq(core_resolve_pending(c, &res), 0);
	ck_assert_uint_eq(tx(fw), t0);
	/* lan2 shows its new stable address */
	ck_assert_int_ge(device_addr_seen(t, MAC2, 3, &a2, NULL, fake_now), 0);
	ck_assert_int_eq(device_addr_hint(t, &a2, ADDR_KIND_STABLE, "test"), 1);
	ck_assert_int_eq(core_resolve_pending(c, &res), 0);
	ck_assert_uint_eq(tx(fw) - t0, 1);
	ck_assert(kernel_has(fw, L2_ST2, 8080));
	ck_assert_int_eq(core_get(c, st, &r), V_OK);
	ck_assert_int_eq(r.state, RULE_INSTALLED);

	/* the same change again: nothing in the old prefix, no transaction */
	t0 = tx(fw);
	ck_assert_int_eq(core_reanchor(c, &op, 56, &np, 56, &res), 0);
	ck_assert(!res.committed);
	ck_assert_uint_eq(tx(fw), t0);
	core_free(c);
	device_table_free(t);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(firewall_refusal_changes_nothing)
{
	struct fw *fw = mem_fw();
	struct device_table *t = lab_devices();
	struct core *c = new_core(fw, NULL, t, PINHOLE_TARGET_REQUESTED, true);
	struct in6_addr op = A("2001:db8:1:1::"), np = A("2001:db8:2:1::");
	struct rule r;
	uint32_t eui, tmp;

	eui = add(c, L1_EUI, 8080, ORIGIN_CTL, NULL);
	tmp = add(c, L1_TMP, 8081, ORIGIN_CTL, NULL);
	fw_mem_fail_next(fw, 5);
	ck_assert_int_eq(core_reanchor(c, &op, 64, &np, 64, NULL), -1);
	ck_assert(kernel_has(fw, L1_EUI, 8080));
	ck_assert(kernel_has(fw, L1_TMP, 8081));
	ck_assert_int_eq(core_get(c, tmp, &r), V_OK);
	ck_assert_int_eq(core_get(c, eui, &r), V_OK);
	ck_assert_int_eq(r.state, RULE_INSTALLED);
	/* and it works once the firewall does */
	ck_assert_int_eq(core_reanchor(c, &op, 64, &np, 64, NULL), 0);
	ck_assert(kernel_has(fw, L1_EUI2, 8080));
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	core_free(c);
	device_table_free(t);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(pinhole_target_both_for_apps)
{
	struct fw *fw = mem_fw();
	struct device_table *t = lab_devices();
	struct core *c = new_core(fw, NULL, t, PINHOLE_TARGET_BOTH, true);
	struct rule r;

	/* an app asks for its temporary address: the device's EUI-64 one is opened too */
	add(c, L1_TMP, 9000, ORIGIN_UPNP, &r);
	ck_assert(r.target.use_exact && r.target.use_stable && r.target.stable_resolved);
	{
		struct in6_addr e = A(L1_EUI);

		ck_assert(addr_equal(&r.target.stable, &e));
	}
	ck_assert_int_eq(r.target.exact_kind, ADDR_KIND_TEMPORARY);
	ck_assert(kernel_has(fw, L1_TMP, 9000) && kernel_has(fw, L1_EUI, 9000));
	/* the same request again refreshes (same id), no duplicate */
	{
		struct rule r2;

		add(c, L1_TMP, 9000, ORIGIN_UPNP, &r2);
		ck_assert_uint_eq(r2.id, r.id);
	}
	/* the operator gets what was typed */
	add(c, L1_TMP, 9001, ORIGIN_CTL, &r);
	ck_assert(!r.target.use_stable);
	core_free(c);
	fw->ops->destroy(fw);

	fw = mem_fw();
	c = new_core(fw, NULL, t, PINHOLE_TARGET_STABLE, true);
	add(c, L1_TMP, 9000, ORIGIN_PCP, &r);
	ck_assert(!r.target.use_exact && r.target.use_stable && r.target.stable_resolved);
	ck_assert(!kernel_has(fw, L1_TMP, 9000) && kernel_has(fw, L1_EUI, 9000));
	core_free(c);
	fw->ops->destroy(fw);

	fw = mem_fw();
	c = new_core(fw, NULL, t, PINHOLE_TARGET_REQUESTED, true);
	add(c, L1_TMP, 9000, ORIGIN_PCP, &r);
	ck_assert(r.target.use_exact && !r.target.use_stable);
	core_free(c);
	device_table_free(t);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(same_device_authorises)
{
	struct fw *fw = mem_fw();
	struct device_table *t = lab_devices();
	struct core *c = new_core(fw, NULL, t, PINHOLE_TARGET_REQUESTED, true);
	struct core_add_req q;
	struct rule r;

	memset(&q, 0, sizeof(q));
	q.rule.kind = RULE_PINHOLE;
	q.rule.proto = 6;
	q.rule.int_port = 7000;
	q.rule.target.use_exact = true;
	q.rule.target.exact = A(L1_EUI);
	q.rule.owner = A(L1_TMP);          /* lan1 asks from its temporary address for its EUI-64 one */
	q.rule.origin = ORIGIN_UPNP;
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	q.rule.owner = A(L2_ST1);          /* lan2 may not */
	q.rule.int_port = 7001;
	ck_assert_int_eq(core_add(c, &q, &r), V_NOT_AUTHORIZED);
	core_free(c);
	device_table_free(t);
	fw->ops->destroy(fw);
}
END_TEST

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

START_TEST(restart_after_change_while_down)
{
	char dir[] = "/tmp/check_core_reanchor.XXXXXX", err[256], val[64];
	struct fw *fw = mem_fw();
	struct device_table *t = lab_devices();
	struct in6_addr op = A("2001:db8:1:1::"), np = A("2001:db8:2:1::");
	struct store *st;
	struct core *c;
	struct rule *all = NULL;
	size_t n;
	uint64_t t0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	st = store_open(dir, err, sizeof(err));
	ck_assert_ptr_nonnull(st);
	c = new_core(fw, st, t, PINHOLE_TARGET_REQUESTED, true);
	add(c, L1_EUI, 8080, ORIGIN_CTL, NULL);
	add(c, L1_TMP, 8081, ORIGIN_CTL, NULL);
	add(c, L2_ST1, 8082, ORIGIN_CTL, NULL);
	ck_assert_int_eq(core_meta_set(c, "lan_prefix_lan0", "2001:db8:1:1::/64"), 0);
	core_free(c);
	store_close(st);

	/* down; the prefix moves; up again with a fresh kernel table */
	fw->ops->destroy(fw);
	fw = mem_fw();
	st = store_open(dir, err, sizeof(err));
	ck_assert_ptr_nonnull(st);
	c = new_core(fw, st, t, PINHOLE_TARGET_REQUESTED, false);
	ck_assert_int_eq(core_meta_get(c, "lan_prefix_lan0", val, sizeof(val)), 0);
	ck_assert_str_eq(val, "2001:db8:1:1::/64");
	core_set_start_reanchor(c, &op, 64, &np, 64);
	t0 = tx(fw);
	ck_assert_msg(core_start(c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_le(tx(fw) - t0, 1);    /* the resync alone */
	ck_assert(kernel_has(fw, L1_EUI2, 8080));
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	n = core_list(c, &all);
	ck_assert_uint_eq(n, 2);              /* the temporary one is gone, the stable one pending */
	free(all);
	core_free(c);
	store_close(st);

	/* and the store holds the moved targets */
	st = store_open(dir, err, sizeof(err));
	c = new_core(fw, st, t, PINHOLE_TARGET_REQUESTED, true);
	n = core_list(c, &all);
	ck_assert_uint_eq(n, 2);
	{
		struct in6_addr e = A(L1_EUI2);

		ck_assert(addr_equal(&all[0].target.exact, &e));
	}
	ck_assert_int_eq(all[1].state, RULE_PENDING);
	free(all);
	core_free(c);
	store_close(st);
	device_table_free(t);
	fw->ops->destroy(fw);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}
END_TEST

/* The pure decision: only app requests are refused, for a blocked requester or target. */
START_TEST(apps_policy)
{
	static const enum rule_origin apps[] = { ORIGIN_UPNP, ORIGIN_PCP, ORIGIN_PCP_PEER, ORIGIN_NATPMP };
	static const enum rule_origin manual[] = { ORIGIN_WEB, ORIGIN_CTL, ORIGIN_STATIC };

	for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++) {
		ck_assert_int_eq(policy_check_apps(apps[i], false, false), V_OK);
		ck_assert_int_eq(policy_check_apps(apps[i], true, false), V_NOT_AUTHORIZED);
		ck_assert_int_eq(policy_check_apps(apps[i], false, true), V_NOT_AUTHORIZED);
		ck_assert_int_eq(policy_check_apps(apps[i], true, true), V_NOT_AUTHORIZED);
	}
	for (size_t i = 0; i < sizeof(manual) / sizeof(manual[0]); i++)
		ck_assert_int_eq(policy_check_apps(manual[i], true, true), V_OK);
}
END_TEST

/* Blocking lan1: its app rules go in one transaction, apps on it are refused, by hand still works. */
START_TEST(apps_blocked_device)
{
	struct fw *fw = mem_fw();
	struct device_table *t = lab_devices();
	struct core *c = new_core(fw, NULL, t, PINHOLE_TARGET_REQUESTED, true);
	struct policy_config pc;
	size_t removed = 99;
	uint64_t before;

	add(c, L1_EUI, 7000, ORIGIN_UPNP, NULL);
	add(c, L1_TMP, 7001, ORIGIN_PCP, NULL);
	add(c, L1_EUI, 7002, ORIGIN_CTL, NULL);
	add(c, L2_ST1, 7003, ORIGIN_UPNP, NULL);
	ck_assert_int_eq(device_set_apps_blocked(t, MAC1, true), 0);
	before = tx(fw);
	ck_assert_int_eq(core_remove_app_rules(c, MAC1, &removed), 0);
	ck_assert_uint_eq(removed, 2);
	ck_assert_uint_eq(tx(fw), before + 1);
	ck_assert(!kernel_has(fw, L1_EUI, 7000) && !kernel_has(fw, L1_TMP, 7001));
	ck_assert(kernel_has(fw, L1_EUI, 7002) && kernel_has(fw, L2_ST1, 7003));
	/* again: nothing left to remove, no transaction */
	ck_assert_int_eq(core_remove_app_rules(c, MAC1, &removed), 0);
	ck_assert_uint_eq(removed, 0);
	ck_assert_uint_eq(tx(fw), before + 1);
	/* apps on lan1 are refused, from any of its addresses; lan2 and the household are not */
	ck_assert_int_eq(try_add(c, L1_EUI, L1_EUI, 7010, ORIGIN_UPNP), V_NOT_AUTHORIZED);
	ck_assert_int_eq(try_add(c, L1_TMP, L1_TMP, 7010, ORIGIN_PCP), V_NOT_AUTHORIZED);
	ck_assert_int_eq(try_add(c, L1_EUI, L1_TMP, 7010, ORIGIN_NATPMP), V_NOT_AUTHORIZED);
	ck_assert_int_eq(try_add(c, L1_EUI, L1_EUI, 7010, ORIGIN_PCP_PEER), V_NOT_AUTHORIZED);
	ck_assert_int_eq(try_add(c, L2_ST1, L2_ST1, 7011, ORIGIN_UPNP), V_OK);
	ck_assert_int_eq(try_add(c, L1_EUI, "2001:db8:1:1::1", 7012, ORIGIN_CTL), V_OK);
	ck_assert_int_eq(try_add(c, L1_EUI, "2001:db8:1:1::1", 7013, ORIGIN_WEB), V_OK);
	/* without secure mode a requester may act for another device: still not to or from lan1 */
	core_policy_get(c, &pc);
	pc.secure_mode = false;
	core_set_policy(c, &pc);
	ck_assert_int_eq(try_add(c, L1_EUI, L2_ST1, 7014, ORIGIN_UPNP), V_NOT_AUTHORIZED);   /* target */
	ck_assert_int_eq(try_add(c, L2_ST1, L1_EUI, 7015, ORIGIN_PCP), V_NOT_AUTHORIZED);    /* requester */
	ck_assert_int_eq(try_add(c, L2_ST1, "2001:db8:1:1::1", 7016, ORIGIN_UPNP), V_OK);
	/* allowed again: apps on lan1 work, nothing else changed */
	ck_assert_int_eq(device_set_apps_blocked(t, MAC1, false), 0);
	ck_assert_int_eq(try_add(c, L1_EUI, L1_EUI, 7010, ORIGIN_UPNP), V_OK);
	/* all or nothing: a firewall that refuses leaves every rule */
	ck_assert_int_eq(device_set_apps_blocked(t, MAC1, true), 0);
	fw_mem_fail_next(fw, EIO);
	ck_assert_int_eq(core_remove_app_rules(c, MAC1, &removed), -1);
	ck_assert_uint_eq(removed, 0);
	ck_assert(kernel_has(fw, L1_EUI, 7010));
	ck_assert_int_eq(core_remove_app_rules(c, MAC1, &removed), 0);
	ck_assert_uint_eq(removed, 1);
	ck_assert(!kernel_has(fw, L1_EUI, 7010) && kernel_has(fw, L1_EUI, 7002));
	core_free(c);
	device_table_free(t);
	fw->ops->destroy(fw);
}
END_TEST

/* ---------- a deny line protects an address whichever way a rule reaches it (issue 12) ---------- */

static struct core *core_denying(struct fw *fw, struct device_table *t, enum pinhole_target_policy pt,
				 const char *deny)
{
	struct core *c = new_core(fw, NULL, t, pt, true);
	struct policy_config pc;
	char err[128];

	core_policy_get(c, &pc);
	ck_assert_msg(policy_parse_perm(deny, &pc.perms[0], err, sizeof(err)), "%s", err);
	pc.n_perms = 1;
	core_set_policy(c, &pc);
	return c;
}

/* "deny 0-65535 <lan1's stable EUI-64 address> 0-65535": asking through lan1's temporary address used
 * to open the stable one anyway with pinhole_target=both (only the exact address met the deny line),
 * and with pinhole_target=stable no line was checked at all. */
START_TEST(deny_line_covers_the_stable_address)
{
	static const enum pinhole_target_policy pts[] = { PINHOLE_TARGET_BOTH, PINHOLE_TARGET_STABLE };
	struct device_table *t = lab_devices();

	for (size_t i = 0; i < 2; i++) {
		struct fw *fw = mem_fw();
		struct core *c = core_denying(fw, t, pts[i], "deny 0-65535 " L1_EUI "/128 0-65535");

		ck_assert_int_eq(try_add(c, L1_TMP, L1_TMP, 9000, ORIGIN_UPNP), V_NOT_AUTHORIZED);
		ck_assert_int_eq(try_add(c, L1_EUI, L1_EUI, 9000, ORIGIN_PCP), V_NOT_AUTHORIZED);
		ck_assert(!kernel_has(fw, L1_EUI, 9000) && !kernel_has(fw, L1_TMP, 9000));
		ck_assert_int_eq(try_add(c, L2_ST1, L2_ST1, 9000, ORIGIN_UPNP), V_OK);   /* lan2 is not denied */
		ck_assert_int_eq(try_add(c, L1_TMP, "2001:db8:1:1::1", 9001, ORIGIN_CTL), V_OK);  /* by hand */
		core_free(c);
		fw->ops->destroy(fw);
	}
	device_table_free(t);
}
END_TEST

/* A rule whose stable selector is pending (the device has shown no stable address in that subnet yet)
 * resolves later onto the address a deny line protects: that selector is dropped, the rule stays on
 * the address it was asked for, and the removal of the selector is journalled like any change. */
START_TEST(deny_line_checked_when_pending_resolves)
{
	struct device_table *t = device_table_new(0, 0);
	struct fw *fw = mem_fw();
	struct in6_addr tmp = A("2001:db8:1:2:1234:5678:9abc:def0"), eui = A("2001:db8:1:2:5054:ff:fe12:3401");
	struct core *c;
	struct core_reanchor_result res;
	struct rule r;

	ck_assert_int_ge(device_addr_seen(t, MAC1, 3, &tmp, NULL, fake_now), 0);
	ck_assert_int_eq(device_addr_hint(t, &tmp, ADDR_KIND_TEMPORARY, "test"), 1);
	c = core_denying(fw, t, PINHOLE_TARGET_BOTH, "deny 0-65535 2001:db8:1:2:5054:ff:fe12:3401/128 0-65535");
	add(c, "2001:db8:1:2:1234:5678:9abc:def0", 9000, ORIGIN_UPNP, &r);
	ck_assert(r.target.use_stable && !r.target.stable_resolved);   /* pending: no stable address yet */
	ck_assert_int_ge(device_addr_seen(t, MAC1, 3, &eui, NULL, fake_now), 0);
	ck_assert_int_eq(core_resolve_pending(c, &res), 0);
	ck_assert(!kernel_has(fw, "2001:db8:1:2:5054:ff:fe12:3401", 9000));
	ck_assert(kernel_has(fw, "2001:db8:1:2:1234:5678:9abc:def0", 9000));
	ck_assert_int_eq(core_get(c, r.id, &r), V_OK);
	ck_assert(r.target.use_exact && !r.target.use_stable);
	ck_assert_int_eq(r.state, RULE_INSTALLED);
	/* nothing is pending any more: the next device event finds nothing to do */
	ck_assert_int_eq(core_resolve_pending(c, &res), 0);
	ck_assert_uint_eq(res.installed + res.pending + res.removed, 0);
	core_free(c);
	device_table_free(t);
	fw->ops->destroy(fw);
}
END_TEST

/* ---------- apps may only touch what apps made (issue 12) ---------- */

/* The household's rule and the operator's for lan1: apps on lan1 (their target) can neither shorten
 * nor delete them. A device whose apps are blocked can delete nothing, even its own app rules, nor
 * (without secure_mode) another device's. */
START_TEST(apps_cannot_delete_rules_by_hand)
{
	struct fw *fw = mem_fw();
	struct device_table *t = lab_devices();
	struct core *c = new_core(fw, NULL, t, PINHOLE_TARGET_REQUESTED, true);
	struct in6_addr l1 = A(L1_EUI), l1t = A(L1_TMP), l2 = A(L2_ST1);
	struct core_add_req q;
	struct policy_config pc;
	struct rule r;
	uint32_t home, op, own, lan2s;

	q = tcp_pinhole_req(L1_EUI, L2_ST1, 7100, ORIGIN_WEB);    /* set up from lan2's browser */
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	home = r.id;
	op = add(c, L1_EUI, 7101, ORIGIN_CTL, NULL);
	own = add(c, L1_EUI, 7102, ORIGIN_UPNP, NULL);
	lan2s = add(c, L2_ST1, 7103, ORIGIN_PCP, NULL);
	ck_assert_int_eq(core_refresh(c, home, 120, &l1, false, &r), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_refresh(c, op, 120, &l1t, false, &r), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_delete(c, home, &l1, false), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_delete(c, op, &l1, false), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_delete(c, home, &l2, false), V_NOT_AUTHORIZED);   /* nor the one who asked */
	ck_assert(kernel_has(fw, L1_EUI, 7100) && kernel_has(fw, L1_EUI, 7101));
	ck_assert_int_eq(core_refresh(c, own, 600, &l1t, false, &r), V_OK);   /* its own: yes */
	/* blocked: nothing, not even its own */
	ck_assert_int_eq(device_set_apps_blocked(t, MAC1, true), 0);
	ck_assert_int_eq(core_delete(c, own, &l1, false), V_NOT_AUTHORIZED);
	core_policy_get(c, &pc);
	pc.secure_mode = false;
	core_set_policy(c, &pc);
	ck_assert_int_eq(core_delete(c, lan2s, &l1t, false), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_delete(c, lan2s, &l2, false), V_OK);              /* lan2 is not blocked */
	ck_assert_int_eq(core_delete(c, home, NULL, true), V_OK);               /* the household may */
	core_free(c);
	device_table_free(t);
	fw->ops->destroy(fw);
}
END_TEST

/* A PCP pinhole's name is its internal address: after a renumbering it is found at the new one (its
 * app asks from there), not at the old one; a temporary address's mapping goes, and its name with it. */
START_TEST(reanchor_moves_pcp_names)
{
	struct fw *fw = mem_fw();
	struct device_table *t = lab_devices();
	struct core *c = new_core(fw, NULL, t, PINHOLE_TARGET_REQUESTED, true);
	struct in6_addr op = A("2001:db8:1::"), np = A("2001:db8:2::");
	struct core_pcp_key k = { .internal = A(L1_EUI), .proto = 6, .port = 8080 };
	struct core_pcp_key tk = { .internal = A(L1_TMP), .proto = 6, .port = 8081 };
	struct rule r;
	uint32_t eui, tmp;

	eui = add(c, L1_EUI, 8080, ORIGIN_PCP, NULL);
	tmp = add(c, L1_TMP, 8081, ORIGIN_NATPMP, NULL);
	ck_assert_int_eq(core_find_pcp(c, &k, &r), V_OK);
	ck_assert_uint_eq(r.id, eui);
	ck_assert_int_eq(core_find_pcp(c, &tk, &r), V_OK);
	ck_assert_uint_eq(r.id, tmp);
	ck_assert_int_eq(core_reanchor(c, &op, 56, &np, 56, NULL), 0);
	ck_assert_int_eq(core_find_pcp(c, &k, &r), V_NOT_FOUND);
	ck_assert_int_eq(core_find_pcp(c, &tk, &r), V_NOT_FOUND);
	k.internal = A(L1_EUI2);
	ck_assert_int_eq(core_find_pcp(c, &k, &r), V_OK);
	ck_assert_uint_eq(r.id, eui);
	/* refused by the kernel: back where it was, under its old name */
	fw_mem_fail_next(fw, 1);
	ck_assert_int_eq(core_reanchor(c, &np, 56, &op, 56, NULL), -1);
	ck_assert_int_eq(core_find_pcp(c, &k, &r), V_OK);
	ck_assert_uint_eq(r.id, eui);
	ck_assert_int_eq(core_delete(c, eui, NULL, true), V_OK);
	ck_assert_int_eq(core_find_pcp(c, &k, &r), V_NOT_FOUND);
	core_free(c);
	device_table_free(t);
	fw->ops->destroy(fw);
}
END_TEST

static Suite *core_reanchor_suite(void)
{
	Suite *s = suite_create("core_reanchor");
	TCase *tc = tcase_create("core_reanchor");

	tcase_add_test(tc, reanchor_one_transaction);
	tcase_add_test(tc, firewall_refusal_changes_nothing);
	tcase_add_test(tc, pinhole_target_both_for_apps);
	tcase_add_test(tc, same_device_authorises);
	tcase_add_test(tc, restart_after_change_while_down);
	tcase_add_test(tc, apps_policy);
	tcase_add_test(tc, apps_blocked_device);
	tcase_add_test(tc, deny_line_covers_the_stable_address);
	tcase_add_test(tc, deny_line_checked_when_pending_resolves);
	tcase_add_test(tc, apps_cannot_delete_rules_by_hand);
	tcase_add_test(tc, reanchor_moves_pcp_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(core_reanchor_suite());
}
