/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core_: the rule table, element index, leases, durability and rollback, on the in-memory backend. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firewall/addr.h"
#include "firewall/core.h"
#include "tests/unit/testutil.h"


static struct core *new_core(struct fw *fw, struct store *st)
{
	struct core_params p;
	struct core *c;
	char err[256];

	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.fw = fw;
	p.store = st;
	p.clock = fake_clock;
	c = core_new(&p);
	ck_assert_ptr_nonnull(c);
	ck_assert_msg(core_start(c, err, sizeof(err)) == 0, "core_start: %s", err);
	return c;
}

static struct core_add_req pinhole_req(const char *addr, uint16_t proto, uint16_t port, uint32_t lease)
{
	struct core_add_req q;

	memset(&q, 0, sizeof(q));
	q.rule.kind = RULE_PINHOLE;
	q.rule.proto = proto;
	q.rule.int_port = port;
	q.rule.target.use_exact = true;
	q.rule.target.exact = A(addr);
	q.rule.owner = A(addr);
	q.rule.lease = lease;
	q.rule.origin = ORIGIN_UPNP;
	snprintf(q.rule.desc, sizeof(q.rule.desc), "test %u", port);
	return q;
}

static struct core_add_req portmap_req(uint16_t ext, const char *addr, uint16_t port, uint32_t lease)
{
	struct core_add_req q = pinhole_req(addr, IPPROTO_TCP, port, lease);

	q.rule.kind = RULE_PORTMAP;
	q.rule.ext_port = ext;
	return q;
}

static bool kernel_has(struct fw *fw, const char *addr, uint16_t proto, uint16_t port, struct fw_elem *out)
{
	struct fw_elem k;

	memset(&k, 0, sizeof(k));
	k.proto = proto;
	k.addr = A(addr);
	k.port = port;
	return fw_mem_has(fw, &k, out);
}

START_TEST(add_get_delete)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8080, 3600);
	struct rule r, got;
	struct fw_elem e;

	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_uint_eq(r.id, 1);
	ck_assert_int_eq(r.state, RULE_INSTALLED);
	ck_assert_int_eq(r.expires, fake_now + 3600);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_TCP, 8080, &e));
	ck_assert_uint_eq(e.timeout_ms, 3600 * 1000);
	ck_assert_int_eq(core_get(c, r.id, &got), V_OK);
	ck_assert_str_eq(got.desc, "test 8080");
	ck_assert_int_eq(core_get(c, 99, &got), V_NOT_FOUND);

	/* someone else may not delete it; its owner may */
	struct in6_addr other = A("2001:db8:1:1::9");
	ck_assert_int_eq(core_delete(c, r.id, &other, false), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_delete(c, r.id, &q.rule.owner, false), V_OK);
	ck_assert(!kernel_has(fw, "2001:db8:1:1::5", IPPROTO_TCP, 8080, NULL));
	ck_assert_int_eq(core_delete(c, r.id, &q.rule.owner, false), V_NOT_FOUND);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(identical_request_refreshes)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 51413, 600);
	struct rule a, b, *all;
	struct fw_elem e;

	ck_assert_int_eq(core_add(c, &q, &a), V_OK);
	fake_now += 100;
	q.rule.lease = 1200;
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	ck_assert_uint_eq(a.id, b.id);                       /* no duplicate (miniupnp#188) */
	ck_assert_int_eq(b.expires, fake_now + 1200);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_UDP, 51413, &e));
	ck_assert_uint_eq(e.timeout_ms, 1200 * 1000);        /* the kernel timeout follows the refresh */
	ck_assert_uint_eq(core_list(c, &all), 1);
	free(all);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(shared_element_refcount)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q1 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8080, 600);
	struct core_add_req q2 = q1;
	struct rule a, b;
	struct fw_elem e;

	q2.privileged = true;                               /* the operator opens the same hole */
	q2.rule.owner = A("::");
	q2.rule.lease = 0;
	q2.exact_lease = true;                              /* ... without expiry */
	ck_assert_int_eq(core_add(c, &q1, &a), V_OK);
	ck_assert_int_eq(core_add(c, &q2, &b), V_OK);
	ck_assert_uint_ne(a.id, b.id);
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_TCP, 8080, &e));
	ck_assert_uint_eq(e.timeout_ms, 0);                 /* the longest holder wins */
	ck_assert_int_eq(core_delete(c, b.id, NULL, true), V_OK);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_TCP, 8080, &e));
	ck_assert_uint_eq(e.timeout_ms, 600 * 1000);
	ck_assert_int_eq(core_delete(c, a.id, NULL, true), V_OK);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(portmap_conflicts)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q = portmap_req(8080, "192.0.2.11", 8080, 3600);
	struct core_add_req other = portmap_req(8080, "192.0.2.12", 8081, 3600);
	struct rule a, b, found;
	struct in_addr any = { 0 };

	ck_assert_int_eq(core_add(c, &q, &a), V_OK);
	ck_assert_int_eq(core_add(c, &other, &b), V_CONFLICT);      /* IGD 718 */
	other.any_ext_port = true;                                  /* AddAnyPortMapping */
	ck_assert_int_eq(core_add(c, &other, &b), V_OK);
	ck_assert_uint_ne(b.ext_port, 8080);
	ck_assert_uint_ge(b.ext_port, 1024);
	/* the same client overwrites its own mapping: same id, new internal port */
	q.rule.int_port = 9090;
	ck_assert_int_eq(core_add(c, &q, &found), V_OK);
	ck_assert_uint_eq(found.id, a.id);
	ck_assert_uint_eq(found.int_port, 9090);
	ck_assert_int_eq(core_find_portmap(c, any, IPPROTO_TCP, 8080, NULL, 0, &found), V_OK);
	ck_assert_uint_eq(found.int_port, 9090);
	ck_assert_int_eq(core_find_portmap(c, any, IPPROTO_UDP, 8080, NULL, 0, &found), V_NOT_FOUND);
	ck_assert_uint_eq(fw_mem_count(fw), 2);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(policy_is_applied)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8080, 3600);
	struct rule r;

	q.rule.owner = A("2001:db8:1:1::9");                /* another host, secure mode on */
	ck_assert_int_eq(core_add(c, &q, &r), V_NOT_AUTHORIZED);
	q = pinhole_req("fe80::1", IPPROTO_TCP, 8080, 3600);
	ck_assert_int_eq(core_add(c, &q, &r), V_BAD_TARGET);
	q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 22, 3600);
	ck_assert_int_eq(core_add(c, &q, &r), V_LOW_PORT);
	q = pinhole_req("192.0.2.5", IPPROTO_TCP, 8080, 3600);  /* pinhole to IPv4 */
	ck_assert_int_eq(core_add(c, &q, &r), V_INVALID);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(lease_clamp_and_expiry)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8080, 0);
	struct rule r, got;

	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_uint_eq(r.lease, 86400);                  /* 0 = the maximum, not forever */
	q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8081, 130);
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_int_eq(core_expire(c), 130 * 1000);
	fake_now += 129;
	ck_assert_int_eq(core_expire(c), 1000);
	ck_assert_int_eq(core_get(c, r.id, &got), V_OK);
	fake_now += 1;
	core_expire(c);
	ck_assert_int_eq(core_get(c, r.id, &got), V_NOT_FOUND);
	ck_assert(!kernel_has(fw, "2001:db8:1:1::5", IPPROTO_TCP, 8081, NULL));
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_TCP, 8080, NULL));
	/* refresh extends */
	ck_assert_int_eq(core_refresh(c, 1, 7200, &q.rule.owner, false, &got), V_OK);
	ck_assert_int_eq(got.expires, fake_now + 7200);
	ck_assert_int_eq(core_refresh(c, 42, 7200, &q.rule.owner, false, &got), V_NOT_FOUND);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(firewall_failure_changes_nothing)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8080, 3600);
	struct rule r, *all;

	fw_mem_fail_next(fw, 12);
	ck_assert_int_eq(core_add(c, &q, &r), V_NO_RESOURCES);
	ck_assert_uint_eq(core_list(c, &all), 0);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	fw_mem_fail_next(fw, 12);
	ck_assert_int_eq(core_delete(c, r.id, NULL, true), V_NO_RESOURCES);
	ck_assert_uint_eq(core_list(c, &all), 1);           /* still there, still installed */
	free(all);
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(reconcile_restores_kernel)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct rule r;
	struct core_status st;

	for (uint16_t p = 2000; p < 2010; p++) {
		struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, p, 3600);

		ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	}
	fw_mem_foreign_change(fw);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 1);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	ck_assert_int_eq(core_reconcile(c), 0);
	ck_assert_uint_eq(fw_mem_count(fw), 10);
	core_status(c, &st);
	ck_assert_uint_eq(st.pinholes, 10);
	ck_assert_uint_eq(st.reconciles, 1);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(quota_per_client)
{
	struct fw *fw = mem_fw();
	struct core_params p;
	struct core *c;
	struct rule r;
	char err[128];

	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.policy.max_rules_per_client = 3;
	p.fw = fw;
	p.clock = fake_clock;
	c = core_new(&p);
	ck_assert_int_eq(core_start(c, err, sizeof(err)), 0);
	for (uint16_t i = 0; i < 3; i++) {
		struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, (uint16_t)(3000 + i), 600);

		ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	}
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 4000, 600);
	ck_assert_int_eq(core_add(c, &q, &r), V_QUOTA);
	q = pinhole_req("2001:db8:1:1::6", IPPROTO_TCP, 4000, 600);
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

START_TEST(restart_restores_rules)
{
	char dir[] = "/tmp/igdd-core-XXXXXX", err[256];
	struct store *st;
	struct fw *fw;
	struct core *c;
	struct rule r, *all;
	uint32_t deleted_id;
	size_t n;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	st = store_open(dir, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	fw = mem_fw();
	c = new_core(fw, st);
	for (uint16_t p = 5000; p < 5005; p++) {
		struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, p, p == 5004 ? 150 : 3600);

		ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	}
	deleted_id = 2;
	ck_assert_int_eq(core_delete(c, deleted_id, NULL, true), V_OK);
	/* a crash: no snapshot, no goodbye */
	core_free(c);
	fw->ops->destroy(fw);
	store_close(st);

	fake_now += 200;                                    /* the 150 s rule expired while we were down */
	st = store_open(dir, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	fw = mem_fw();
	c = new_core(fw, st);
	n = core_list(c, &all);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_ne(all[i].id, deleted_id);
		ck_assert_int_eq(all[i].state, RULE_INSTALLED);
	}
	ck_assert_uint_eq(fw_mem_count(fw), 3);
	/* ids keep going up: a new rule does not reuse an id a client may still hold */
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 6000, 600);
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_uint_gt(r.id, 4);
	free(all);
	core_free(c);
	fw->ops->destroy(fw);
	store_close(st);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
END_TEST

static Suite *core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, add_get_delete);
	tcase_add_test(tc, identical_request_refreshes);
	tcase_add_test(tc, shared_element_refcount);
	tcase_add_test(tc, portmap_conflicts);
	tcase_add_test(tc, policy_is_applied);
	tcase_add_test(tc, lease_clamp_and_expiry);
	tcase_add_test(tc, firewall_failure_changes_nothing);
	tcase_add_test(tc, reconcile_restores_kernel);
	tcase_add_test(tc, quota_per_client);
	tcase_add_test(tc, restart_restores_rules);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(core_suite());
}
