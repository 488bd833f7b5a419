/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core_: the rule table, element index, leases, durability and rollback, on the in-memory backend. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include "tests/unit/testutil.h"


/* on_change events heard (new_core_told) */
static size_t told;

static void count_change(void *arg, const struct rule *r, enum core_event ev)
{
	(void)arg;
	(void)r;
	(void)ev;
	told++;
}

/* A started core on fw (and st, NULL = volatile) with policy pc (NULL = the defaults). */
static struct core *core_with_cb(struct fw *fw, struct store *st, const struct policy_config *pc,
				 void (*on_change)(void *arg, const struct rule *r, enum core_event ev))
{
	struct core_params p;
	struct core *c;
	char err[256];

	memset(&p, 0, sizeof(p));
	if (pc)
		p.policy = *pc;
	else
		policy_defaults(&p.policy);
	p.fw = fw;
	p.store = st;
	p.clock = fake_clock;
	p.on_change = on_change;
	c = core_new(&p);
	ck_assert_ptr_nonnull(c);
	ck_assert_msg(core_start(c, err, sizeof(err)) == 0, "core_start: %s", err);
	return c;
}

static struct core *new_core_cb(struct fw *fw, struct store *st,
				void (*on_change)(void *arg, const struct rule *r, enum core_event ev))
{
	return core_with_cb(fw, st, NULL, on_change);
}

static struct core *core_with(struct fw *fw, struct store *st, const struct policy_config *pc)
{
	return core_with_cb(fw, st, pc, NULL);
}

static struct core *new_core(struct fw *fw, struct store *st)
{
	return new_core_cb(fw, st, NULL);
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

/* When a rule last admitted traffic: the counter read that first showed more packets, not later reads
 * that show the same. */
START_TEST(last_packet_is_when_counters_rose)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8080, 3600);
	struct fw_elem k;
	struct rule r;
	int64_t t0 = fake_now;

	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	memset(&k, 0, sizeof(k));
	k.proto = IPPROTO_TCP;
	k.addr = A("2001:db8:1:1::5");
	k.port = 8080;
	/* what the kernel counted before the first read after a start (a restart) is not "now" */
	ck_assert(fw_mem_admit(fw, &k, 5));
	ck_assert_int_eq(core_read_counters(c), 0);
	ck_assert_int_eq(core_last_packet(c, r.id), 0);
	ck_assert(fw_mem_admit(fw, &k, 1));
	fake_now = t0 + 30;
	ck_assert_int_eq(core_read_counters(c), 0);
	ck_assert_int_eq(core_last_packet(c, r.id), t0 + 30);
	fake_now = t0 + 60;   /* nothing new */
	ck_assert_int_eq(core_read_counters(c), 0);
	ck_assert_int_eq(core_last_packet(c, r.id), t0 + 30);
	ck_assert(fw_mem_admit(fw, &k, 2));
	fake_now = t0 + 90;
	ck_assert_int_eq(core_read_counters(c), 0);
	ck_assert_int_eq(core_last_packet(c, r.id), t0 + 90);
	ck_assert_int_eq(core_get(c, r.id, &r), V_OK);
	ck_assert_uint_eq(r.packets, 8);
	ck_assert_int_eq(core_last_packet(c, 99), 0);
	fake_now = t0;
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

/* The table keeps a rule's description only as long as it is: a refresh that lengthens it moves the
 * rule (the table, the element index and the batch's undo records follow), a failed batch puts the
 * short one back, and every read gets the whole description. (ASan checks nothing reads past one.) */
START_TEST(description_grows_and_shrinks)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 51413, 600);
	struct rule a, b, got;
	char longdesc[RULE_DESC_MAX + 1];

	q.rule.desc[0] = '\0';
	ck_assert_int_eq(core_add(c, &q, &a), V_OK);
	ck_assert_str_eq(a.desc, "");
	memset(longdesc, 'x', RULE_DESC_MAX);
	longdesc[RULE_DESC_MAX] = '\0';
	memcpy(q.rule.desc, longdesc, sizeof(longdesc));
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);            /* the same request: a refresh */
	ck_assert_uint_eq(b.id, a.id);
	ck_assert_str_eq(b.desc, longdesc);
	ck_assert_int_eq(core_get(c, a.id, &got), V_OK);
	ck_assert_str_eq(got.desc, longdesc);
	/* grown again inside a batch that fails: back to the long one, still deletable */
	snprintf(q.rule.desc, sizeof(q.rule.desc), "short");
	core_batch_begin(c);
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	ck_assert_str_eq(b.desc, "short");
	memcpy(q.rule.desc, longdesc, sizeof(longdesc));
	q.rule.desc[100] = '\0';
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	fw_mem_fail_next(fw, 5);
	ck_assert_int_eq(core_batch_end(c), -1);
	ck_assert_int_eq(core_get(c, a.id, &got), V_OK);
	ck_assert_str_eq(got.desc, longdesc);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_UDP, 51413, NULL));
	/* a new rule without one, then two changes in a failing batch, the second moving it: both undone */
	ck_assert_int_eq(core_delete(c, a.id, NULL, true), V_OK);
	q.rule.desc[0] = '\0';
	ck_assert_int_eq(core_add(c, &q, &a), V_OK);
	core_batch_begin(c);
	snprintf(q.rule.desc, sizeof(q.rule.desc), "ab");
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	memcpy(q.rule.desc, longdesc, sizeof(longdesc));
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	ck_assert_str_eq(b.desc, longdesc);
	fw_mem_fail_next(fw, 5);
	ck_assert_int_eq(core_batch_end(c), -1);
	ck_assert_int_eq(core_get(c, a.id, &got), V_OK);
	ck_assert_str_eq(got.desc, "");
	/* and from empty to long inside one committed batch, then deleted */
	q.rule.desc[0] = '\0';
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	core_batch_begin(c);
	snprintf(q.rule.desc, sizeof(q.rule.desc), "a longer one");
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	ck_assert_int_eq(core_refresh(c, a.id, 1200, &q.rule.owner, false, &got), V_OK);
	ck_assert_str_eq(got.desc, "a longer one");
	ck_assert_int_eq(core_batch_end(c), 0);
	ck_assert_int_eq(core_delete(c, a.id, NULL, true), V_OK);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
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
	other.port = CORE_PORT_NEAREST;                              /* AddAnyPortMapping */
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

/* The port strategies (enum core_port): what PCP and a CGN block ask of the core. */
START_TEST(port_strategies)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req first = portmap_req(7000, "192.0.2.11", 7000, 3600);
	struct core_add_req q;
	struct rule a, b;

	ck_assert_int_eq(core_add(c, &first, &a), V_OK);
	/* NEW_EXACT (PREFER_FAILURE): the requester's own mapping is not taken over */
	q = portmap_req(7000, "192.0.2.11", 7001, 3600);
	q.port = CORE_PORT_NEW_EXACT;
	ck_assert_int_eq(core_add(c, &q, &b), V_CONFLICT);
	/* NEW_NEAREST: a port of its own next to it, the first mapping untouched */
	q.port = CORE_PORT_NEW_NEAREST;
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	ck_assert_uint_eq(b.ext_port, 7001);
	ck_assert_uint_ne(b.id, a.id);
	ck_assert_int_eq(core_get(c, a.id, &a), V_OK);
	ck_assert_uint_eq(a.int_port, 7000);
	/* ... or from port_then when the suggestion is taken (PCP PEER: the internal port) */
	q = portmap_req(7000, "192.0.2.11", 7100, 3600);
	q.port = CORE_PORT_NEW_NEAREST;
	q.port_then = 7100;
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	ck_assert_uint_eq(b.ext_port, 7100);
	/* a low suggestion is searched from 1024 up */
	q = portmap_req(80, "192.0.2.11", 7200, 3600);
	q.port = CORE_PORT_NEW_NEAREST;
	ck_assert_int_eq(core_add(c, &q, &b), V_OK);
	ck_assert_uint_ge(b.ext_port, 1024);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(port_in_block)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q;
	struct rule r;
	uint16_t got[5];

	/* a block of four on 198.51.100.1: the suggestion first, then onwards, wrapping; full = quota */
	for (int i = 0; i < 5; i++) {
		q = portmap_req(2002, "192.0.2.11", (uint16_t)(5000 + i), 3600);
		q.rule.ext_addr.s_addr = htonl(0xc6336401);
		q.port = CORE_PORT_IN_BLOCK;
		q.port_lo = 2000;
		q.port_hi = 2003;
		got[i] = core_add(c, &q, &r) == V_OK ? r.ext_port : 0;
		if (i == 4)
			ck_assert_int_eq(core_add(c, &q, &r), V_QUOTA);
	}
	ck_assert_uint_eq(got[0], 2002);
	ck_assert_uint_eq(got[1], 2003);
	ck_assert_uint_eq(got[2], 2000);
	ck_assert_uint_eq(got[3], 2001);
	ck_assert_uint_eq(got[4], 0);
	/* without a suggestion in the block: from the internal port's place in it (5001 % 4 = 1) */
	q = portmap_req(0, "192.0.2.12", 5001, 3600);
	q.rule.ext_addr.s_addr = htonl(0xc6336402);
	q.port = CORE_PORT_IN_BLOCK;
	q.port_lo = 2000;
	q.port_hi = 2003;
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_uint_eq(r.ext_port, 2001);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

/* A remote-filtered mapping may not sit on a port another host's open mapping holds: the NAT would
 * hand it that host's traffic from the remote. Whatever the front end (UPnP's AddPortMapping too). */
START_TEST(filtered_mapping_does_not_shadow_another_host)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req open = portmap_req(8080, "192.0.2.11", 8080, 3600);
	struct core_add_req thief = portmap_req(8080, "192.0.2.12", 8080, 3600);
	struct rule a, b;

	ck_assert_int_eq(core_add(c, &open, &a), V_OK);
	thief.rule.owner = A("192.0.2.12");
	thief.rule.remote = A("203.0.113.9");
	thief.rule.remote_len = 128;
	ck_assert_int_eq(core_add(c, &thief, &b), V_CONFLICT);
	thief.port = CORE_PORT_NEW_NEAREST;
	ck_assert_int_eq(core_add(c, &thief, &b), V_OK);
	ck_assert_uint_ne(b.ext_port, 8080);
	/* the same internal endpoint may narrow its own port to one remote */
	open.rule.remote = A("203.0.113.9");
	open.rule.remote_len = 128;
	open.port = CORE_PORT_NEW_EXACT;
	ck_assert_int_eq(core_add(c, &open, &b), V_OK);
	ck_assert_uint_eq(b.ext_port, 8080);
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
	rm_tree(dir);
}
END_TEST

/* A PCP mapping's own host renews it with a new nonce (core_renonce): the nonce is replaced and kept
 * across a restart; nobody else may, a rule without a nonce is not a PCP one. */
START_TEST(renonce_own_host_only)
{
	char dir[] = "/tmp/igdd-core-XXXXXX", err[256];
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 41641, 3600);
	struct in6_addr host = A("2001:db8:1:1::5"), other = A("2001:db8:1:1::9");
	uint8_t n1[RULE_NONCE_LEN], n2[RULE_NONCE_LEN];
	struct store *st;
	struct fw *fw;
	struct core *c;
	struct rule r, got, plain;

	memset(n1, 1, sizeof(n1));
	memset(n2, 2, sizeof(n2));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	st = store_open(dir, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	fw = mem_fw();
	c = new_core(fw, st);
	q.rule.origin = ORIGIN_PCP;
	q.rule.has_nonce = true;
	memcpy(q.rule.nonce, n1, sizeof(n1));
	q.rule.owner = A("2001:db8:1:1::7");   /* made for it by another host (THIRD_PARTY) */
	q.third_party = true;
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_int_eq(core_renonce(c, r.id, &other, n2, &got), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_renonce(c, r.id, &q.rule.owner, n2, &got), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_renonce(c, 99, &host, n2, &got), V_NOT_FOUND);
	ck_assert_int_eq(core_renonce(c, r.id, &host, n2, &got), V_OK);
	ck_assert_mem_eq(got.nonce, n2, RULE_NONCE_LEN);
	ck_assert_int_eq(got.expires, r.expires);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_UDP, 41641, NULL));
	q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 5000, 3600);
	ck_assert_int_eq(core_add(c, &q, &plain), V_OK);
	ck_assert_int_eq(core_renonce(c, plain.id, &host, n2, NULL), V_NOT_AUTHORIZED);
	core_free(c);
	fw->ops->destroy(fw);
	store_close(st);

	st = store_open(dir, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	fw = mem_fw();
	c = new_core(fw, st);
	ck_assert_int_eq(core_get(c, r.id, &got), V_OK);
	ck_assert(got.has_nonce);
	ck_assert_mem_eq(got.nonce, n2, RULE_NONCE_LEN);
	core_free(c);
	fw->ops->destroy(fw);
	store_close(st);
	rm_tree(dir);
}
END_TEST

/* ---------- group commit ---------- */

static struct store *tmp_store(char *dir)
{
	char err[256];
	struct store *st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	st = store_open(dir, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	return st;
}

static void drop_store(struct store *st, const char *dir)
{
	store_close(st);
	rm_tree(dir);
}

START_TEST(batch_commits_once)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct core *c = new_core_cb(fw, st, count_change);
	uint64_t txns = fw->ops->transactions(fw), syncs = store_syncs(st);
	struct rule r;

	told = 0;
	core_batch_begin(c);
	for (uint16_t p = 7000; p < 7010; p++) {
		struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, p, 600);

		ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	}
	ck_assert_uint_eq(core_batch_changes(c), 10);
	ck_assert_uint_eq(fw->ops->transactions(fw), txns);  /* nothing sent yet ... */
	ck_assert_uint_eq(store_syncs(st), syncs);           /* ... nor synced ... */
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	ck_assert_uint_eq(told, 0);                          /* ... nor told */
	ck_assert_int_eq(core_get(c, r.id, &r), V_OK);      /* but the batch itself sees its changes */
	ck_assert_int_eq(core_batch_end(c), 0);
	ck_assert_uint_eq(fw->ops->transactions(fw), txns + 1);
	ck_assert_uint_eq(store_syncs(st), syncs + 1);
	ck_assert_uint_eq(fw_mem_count(fw), 10);
	ck_assert_uint_eq(told, 10);
	ck_assert_uint_eq(core_batch_changes(c), 0);
	/* outside a batch, one change is a batch of one */
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 7100, 600);
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_uint_eq(fw->ops->transactions(fw), txns + 2);
	ck_assert_uint_eq(store_syncs(st), syncs + 2);
	/* a batch that changes nothing costs nothing */
	core_batch_begin(c);
	ck_assert_int_eq(core_delete(c, 999, NULL, true), V_NOT_FOUND);
	ck_assert_int_eq(core_batch_end(c), 0);
	ck_assert_uint_eq(fw->ops->transactions(fw), txns + 2);
	ck_assert_uint_eq(store_syncs(st), syncs + 2);
	core_free(c);
	fw->ops->destroy(fw);
	drop_store(st, dir);
}
END_TEST

static int collect_rule(void *arg, const struct rule *r)
{
	struct rule **next = arg;

	rule_copy((*next)++, r);
	return 0;
}

static int by_rule_id(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* What the store holds now, read back from the disk by a second store on the same directory. */
static size_t stored_rules(struct store **st, const char *dir, struct rule *out)
{
	char err[256];
	struct rule *next = out;

	store_close(*st);
	*st = store_open(dir, err, sizeof(err));
	ck_assert_msg(*st != NULL, "%s", err);
	ck_assert_msg(store_load(*st, collect_rule, &next, err, sizeof(err)) == 0, "%s", err);
	qsort(out, (size_t)(next - out), sizeof(*out), by_rule_id);
	return (size_t)(next - out);
}

START_TEST(batch_failure_undoes_everything)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct core *c = new_core_cb(fw, st, count_change);
	struct core_add_req qa = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8001, 600);
	struct core_add_req qb = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8002, 600);
	struct core_add_req qc = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8003, 600);
	struct rule a, b, got, *before, *after, disk_before[8], disk_after[8];
	struct fw_elem e;
	size_t n, nd;

	ck_assert_int_eq(core_add(c, &qa, &a), V_OK);
	ck_assert_int_eq(core_add(c, &qb, &b), V_OK);
	n = core_list(c, &before);
	nd = stored_rules(&st, dir, disk_before);
	ck_assert_uint_eq(nd, 2);
	/* core_free below must not use the store we reopened: a fresh core on the fresh store */
	core_free(c);
	fw->ops->destroy(fw);
	fw = mem_fw();
	c = new_core_cb(fw, st, count_change);
	told = 0;
	fake_now += 10;
	core_batch_begin(c);
	ck_assert_int_eq(core_add(c, &qc, &got), V_OK);                            /* insert */
	ck_assert_int_eq(core_refresh(c, a.id, 1200, &qa.rule.owner, true, &got), V_OK); /* replace */
	ck_assert_int_eq(core_delete(c, b.id, NULL, true), V_OK);                   /* remove */
	ck_assert_int_eq(core_get(c, b.id, &got), V_NOT_FOUND);
	fw_mem_fail_next(fw, 5);
	ck_assert_int_eq(core_batch_end(c), -1);
	ck_assert_uint_eq(told, 0);
	/* the table and the index as before */
	ck_assert_uint_eq(core_list(c, &after), n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(after[i].id, before[i].id);
		ck_assert_int_eq(after[i].expires, before[i].expires);
		ck_assert_uint_eq(after[i].lease, before[i].lease);
		ck_assert_int_eq(after[i].state, RULE_INSTALLED);
	}
	free(after);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_TCP, 8001, &e));
	ck_assert_uint_eq(e.timeout_ms, 600 * 1000);        /* as the restart installed it: no refresh */
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_TCP, 8002, NULL));
	ck_assert(!kernel_has(fw, "2001:db8:1:1::5", IPPROTO_TCP, 8003, NULL));
	/* the same rules can be changed again: the index was put back right */
	ck_assert_int_eq(core_delete(c, b.id, NULL, true), V_OK);
	ck_assert_int_eq(core_add(c, &qb, &b), V_OK);
	ck_assert_uint_eq(fw_mem_count(fw), 2);
	ck_assert_uint_eq(core_list(c, &after), 2);
	free(after);
	ck_assert_int_eq(core_delete(c, b.id, NULL, true), V_OK);
	/* and the journal, read back from disk, holds exactly what the committed changes made */
	core_free(c);
	fw->ops->destroy(fw);
	nd = stored_rules(&st, dir, disk_after);
	ck_assert_uint_eq(nd, 1);
	ck_assert_uint_eq(disk_after[0].id, a.id);
	ck_assert_int_eq(disk_after[0].expires, disk_before[0].expires);
	free(before);
	drop_store(st, dir);
}
END_TEST

START_TEST(batch_add_delete_same_key)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 9000, 600);
	struct core_add_req twin = q;
	uint64_t txns;
	struct rule r, t;
	struct fw_elem e;

	/* added then deleted in one batch: the kernel never hears of it */
	txns = fw->ops->transactions(fw);
	core_batch_begin(c);
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_int_eq(core_delete(c, r.id, NULL, true), V_OK);
	ck_assert_int_eq(core_batch_end(c), 0);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	ck_assert_uint_eq(fw->ops->transactions(fw), txns);
	/* deleted then added again: one add with the new timeout (a delete and an add of one key in one
	 * nftables batch would leave it deleted or added depending on their order) */
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	fake_now += 100;
	core_batch_begin(c);
	ck_assert_int_eq(core_delete(c, r.id, NULL, true), V_OK);
	q.rule.lease = 1200;
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_int_eq(core_batch_end(c), 0);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_UDP, 9000, &e));
	ck_assert_uint_eq(e.timeout_ms, 1200 * 1000);
	/* a shared element: one holder leaves, the other joins, in one batch; the element stays */
	twin.privileged = true;
	twin.rule.owner = A("::");
	core_batch_begin(c);
	ck_assert_int_eq(core_add(c, &twin, &t), V_OK);
	ck_assert_int_eq(core_delete(c, r.id, NULL, true), V_OK);
	ck_assert_int_eq(core_batch_end(c), 0);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_UDP, 9000, &e));
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(batch_refresh)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core_cb(fw, NULL, count_change);
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 9100, 600);
	struct rule r, got;
	struct fw_elem e;

	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	told = 0;
	fake_now += 50;
	core_batch_begin(c);
	ck_assert_int_eq(core_refresh(c, r.id, 1200, &q.rule.owner, false, &got), V_OK);
	ck_assert_int_eq(got.expires, fake_now + 1200);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_UDP, 9100, &e));
	ck_assert_uint_eq(e.timeout_ms, 600 * 1000);         /* the kernel still has the old lease */
	/* the same request again inside the batch is a refresh of the same rule */
	ck_assert_int_eq(core_add(c, &q, &got), V_OK);
	ck_assert_uint_eq(got.id, r.id);
	ck_assert_uint_eq(told, 0);
	ck_assert_int_eq(core_batch_end(c), 0);
	ck_assert_uint_eq(told, 2);
	ck_assert(kernel_has(fw, "2001:db8:1:1::5", IPPROTO_UDP, 9100, &e));
	ck_assert_uint_eq(e.timeout_ms, 600 * 1000);         /* the core_add asked for 600 again */
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

/* ---------- a hostile app or file gets nothing (issue 12) ---------- */

static struct core_add_req by_hand(enum rule_origin o, uint16_t ext, const char *addr, uint16_t port,
				   const char *owner)
{
	struct core_add_req q = portmap_req(ext, addr, port, 0);

	q.rule.origin = o;
	q.rule.owner = A(owner);
	q.privileged = true;
	q.exact_lease = o == ORIGIN_CTL;
	return q;
}

static struct core_add_req app_portmap(uint16_t ext, const char *addr, uint16_t port, const char *from)
{
	struct core_add_req q = portmap_req(ext, addr, port, 3600);

	q.rule.owner = A(from);
	return q;
}

static void expect_portmap(struct core *c, uint16_t ext, uint16_t int_port, enum rule_origin o, int64_t expires)
{
	struct in_addr any = { 0 };
	struct rule r;

	ck_assert_int_eq(core_find_portmap(c, any, IPPROTO_TCP, ext, NULL, 0, &r), V_OK);
	ck_assert_uint_eq(r.int_port, int_port);
	ck_assert_int_eq(r.origin, o);
	ck_assert_int_eq(r.expires, expires);
}

/* The operator forwards 2222 to a LAN host's 2222, the household 8080 from the laptop to the NAS's
 * 8080. AddPortMapping(2222, host, 22) from the host itself, or (8080, NAS, 22) from the laptop, used
 * to replace the rule with no policy check: the host's SSH on the internet, past secure_mode and
 * allow_low_ports, still marked as made by hand with the app's lease. Apps may not change rules made
 * by hand at all, nor refresh or delete them. */
START_TEST(app_cannot_rewrite_a_rule_by_hand)
{
	struct fw *fw = mem_fw();
	struct policy_config pc;
	struct core *c;
	struct core_add_req op = by_hand(ORIGIN_CTL, 2222, "192.0.2.11", 2222, "::");
	struct core_add_req home = by_hand(ORIGIN_WEB, 8080, "192.0.2.20", 8080, "192.0.2.11");
	struct core_add_req q;
	struct in6_addr host = A("192.0.2.11"), other = A("192.0.2.12");
	struct rule r, a, b;

	policy_defaults(&pc);
	c = core_with(fw, NULL, &pc);
	ck_assert_int_eq(core_add(c, &op, &a), V_OK);
	ck_assert_int_eq(core_add(c, &home, &b), V_OK);
	q = app_portmap(2222, "192.0.2.11", 22, "192.0.2.11");           /* from the host itself */
	ck_assert_int_eq(core_add(c, &q, &r), V_CONFLICT);
	q = app_portmap(2222, "192.0.2.11", 2223, "192.0.2.11");         /* not even to a high port */
	ck_assert_int_eq(core_add(c, &q, &r), V_CONFLICT);
	q = app_portmap(2222, "192.0.2.11", 22, "192.0.2.12");           /* from another LAN host */
	ck_assert_int_eq(core_add(c, &q, &r), V_CONFLICT);
	q = app_portmap(8080, "192.0.2.20", 22, "192.0.2.11");           /* the laptop the household used */
	ck_assert_int_eq(core_add(c, &q, &r), V_CONFLICT);
	expect_portmap(c, 2222, 2222, ORIGIN_CTL, 0);
	expect_portmap(c, 8080, 8080, ORIGIN_WEB, fake_now + 86400);
	/* nor shorten or delete them, even the host they point to */
	ck_assert_int_eq(core_refresh(c, a.id, 120, &host, false, &r), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_delete(c, a.id, &host, false), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_delete(c, b.id, &host, false), V_NOT_AUTHORIZED);
	expect_portmap(c, 2222, 2222, ORIGIN_CTL, 0);
	/* without secure_mode anyone may act for anyone, still not over a rule made by hand */
	pc.secure_mode = false;
	core_set_policy(c, &pc);
	q = app_portmap(8080, "192.0.2.20", 22, "192.0.2.12");
	pc.allow_low_ports = true;
	core_set_policy(c, &pc);
	ck_assert_int_eq(core_add(c, &q, &r), V_CONFLICT);
	ck_assert_int_eq(core_delete(c, b.id, &other, false), V_NOT_AUTHORIZED);
	expect_portmap(c, 8080, 8080, ORIGIN_WEB, fake_now + 86400);
	/* the household and the operator still may */
	ck_assert_int_eq(core_refresh(c, a.id, 600, &host, true, &r), V_OK);
	ck_assert_int_eq(core_delete(c, b.id, NULL, true), V_OK);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

/* An app changing its own mapping gets only what it could have added: no low port, nothing a deny
 * line forbids, and the request's origin. */
START_TEST(app_change_passes_the_add_policy)
{
	struct fw *fw = mem_fw();
	struct policy_config pc;
	struct core *c;
	struct core_add_req q = app_portmap(9000, "192.0.2.11", 9000, "192.0.2.11");
	struct rule r, got;
	char err[128];

	policy_defaults(&pc);
	ck_assert(policy_parse_perm("deny 9000 192.0.2.11/32 9100", &pc.perms[0], err, sizeof(err)));
	pc.n_perms = 1;
	c = core_with(fw, NULL, &pc);
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	q.rule.int_port = 22;
	ck_assert_int_eq(core_add(c, &q, &got), V_LOW_PORT);
	q.rule.int_port = 9100;
	ck_assert_int_eq(core_add(c, &q, &got), V_NOT_AUTHORIZED);
	q.rule.int_port = 9001;                                         /* allowed: replaced, same id */
	q.rule.origin = ORIGIN_NATPMP;
	ck_assert_int_eq(core_add(c, &q, &got), V_OK);
	ck_assert_uint_eq(got.id, r.id);
	expect_portmap(c, 9000, 9001, ORIGIN_NATPMP, fake_now + 3600);
	/* a refresh is judged again too: the operator forbade the port meanwhile */
	ck_assert(policy_parse_perm("deny 9000 192.0.2.11/32 9001", &pc.perms[1], err, sizeof(err)));
	pc.n_perms = 2;
	core_set_policy(c, &pc);
	ck_assert_int_eq(core_refresh(c, r.id, 600, &q.rule.owner, false, &got), V_NOT_AUTHORIZED);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

/* An app's identical pinhole request is the household's rule's twin, not a refresh of it: the app
 * gets a rule of its own, the household's keeps its lease. */
START_TEST(app_does_not_refresh_a_household_pinhole)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req home = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8080, 0);
	struct core_add_req app = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 8080, 130);
	struct rule h, a, got;

	home.rule.origin = ORIGIN_CTL;
	home.privileged = home.exact_lease = true;
	ck_assert_int_eq(core_add(c, &home, &h), V_OK);
	ck_assert_int_eq(core_add(c, &app, &a), V_OK);
	ck_assert_uint_ne(a.id, h.id);
	ck_assert_int_eq(core_get(c, h.id, &got), V_OK);
	ck_assert_int_eq(got.expires, 0);
	ck_assert_int_eq(got.origin, ORIGIN_CTL);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

/* A remote-filtered pinhole whose range overlaps another's for the same destination is refused with
 * V_CONFLICT before anything is sent, whatever the order; disjoint ranges and a shared element
 * (the same key) are fine. */
START_TEST(overlapping_remote_ranges_conflict)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req wide = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 4000, 600);
	struct core_add_req one = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 4000, 600);
	struct rule r;
	uint64_t tx;

	wide.rule.remote = A("2001:db8:99::");
	wide.rule.remote_len = 64;
	one.rule.remote = A("2001:db8:99::7");
	one.rule.remote_len = 128;
	one.rule.remote_port = 5000;
	ck_assert_int_eq(core_add(c, &wide, &r), V_OK);
	tx = fw->ops->transactions(fw);
	ck_assert_int_eq(core_add(c, &one, &r), V_CONFLICT);
	ck_assert_uint_eq(fw->ops->transactions(fw), tx);            /* refused before the kernel */
	one.rule.int_port = 4001;                                     /* another port: no overlap */
	ck_assert_int_eq(core_add(c, &one, &r), V_OK);
	one.rule.owner = A("2001:db8:1:1::6");                        /* the same element, shared */
	one.rule.target.exact = A("2001:db8:1:1::6");
	ck_assert_int_eq(core_add(c, &one, &r), V_OK);
	wide.rule.int_port = 4001;                                    /* and the other order */
	ck_assert_int_eq(core_add(c, &wide, &r), V_CONFLICT);
	ck_assert_uint_eq(fw_mem_count(fw), 3);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

/* Store lines are input like any other. A rule the firewall cannot hold, an expiry without a lease
 * (which overflowed core_expire's arithmetic) or far beyond its lease, a clash: each is skipped or
 * clamped, and the rest starts. */
START_TEST(bad_stored_rules_skipped_or_clamped)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct core *c;
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 5000, 600);
	struct rule r, bad, *all;
	size_t n;

	c = new_core(fw, st);
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	core_free(c);
	fw->ops->destroy(fw);
	/* what a damaged or edited file could hold (rule_format writes what rule_parse reads back) */
	bad = r;
	bad.id = 2;
	bad.lease = 0;
	bad.expires = INT64_MAX - 5;                  /* no lease, but an expiry: core_expire overflowed */
	ck_assert_int_eq(store_put(st, &bad), 0);
	bad.id = 3;
	bad.int_port = 5003;
	bad.lease = 600;
	bad.expires = INT64_MAX - 5;                  /* far beyond its lease: clamped to now + lease */
	ck_assert_int_eq(store_put(st, &bad), 0);
	bad.id = 4;
	bad.expires = fake_now + 600;
	bad.target.exact = A("::ffff:192.0.2.5");     /* a pinhole to an IPv4 address */
	ck_assert_int_eq(store_put(st, &bad), 0);
	bad = r;
	bad.id = 5;
	bad.remote = A("2001:db8:99::");              /* overlaps rule 6 */
	bad.remote_len = 64;
	ck_assert_int_eq(store_put(st, &bad), 0);
	bad.id = 6;
	bad.remote = A("2001:db8:99::1");
	bad.remote_len = 128;
	ck_assert_int_eq(store_put(st, &bad), 0);
	/* two mappings of one internal endpoint, each with an external address: one SNAT element */
	memset(&bad, 0, sizeof(bad));
	bad.id = 7;
	bad.kind = RULE_PORTMAP;
	bad.state = RULE_INSTALLED;
	bad.origin = ORIGIN_CTL;
	bad.proto = IPPROTO_UDP;
	bad.int_port = 5000;
	bad.ext_port = 20008;
	bad.ext_addr.s_addr = htonl(0xcb007108);      /* 203.0.113.8 */
	bad.target.use_exact = true;
	bad.target.exact = A("::ffff:100.64.0.2");
	bad.target.exact_kind = ADDR_KIND_IPV4;
	bad.owner = A("::1");
	ck_assert_int_eq(store_put(st, &bad), 0);
	bad.id = 8;
	bad.ext_port = 20009;
	ck_assert_int_eq(store_put(st, &bad), 0);
	fw = mem_fw();
	c = new_core(fw, st);                         /* starts: each bad rule alone is left out */
	n = core_list(c, &all);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(all[0].id, 1);
	ck_assert_uint_eq(all[1].id, 3);
	ck_assert_int_eq(all[1].expires, fake_now + 600);
	ck_assert_uint_eq(all[2].id, 5);
	ck_assert_uint_eq(all[3].id, 7);
	free(all);
	ck_assert_int_eq(core_expire(c), 600 * 1000);
	ck_assert_uint_eq(fw_mem_count(fw), 4);
	core_free(c);
	fw->ops->destroy(fw);
	drop_store(st, dir);
}
END_TEST

/* GetGenericPortMappingEntry and friends read through the id-ordered index: the n-th mapping a client
 * sees, in id order, after deletions (tombstones), a batch undone (they come back), a restart (loaded
 * in the store's order), for a reader who sees all and one who sees its own. */
START_TEST(reads_through_the_id_index)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct policy_config pc;
	struct core *c;
	struct core_reader all = { .privileged = true }, mine = { .requester = A("192.0.2.12") };
	static const char *const hosts[3] = { "192.0.2.11", "192.0.2.12", "192.0.2.13" };
	struct rule r, chunk[7];
	uint32_t ids[300], prev;
	size_t n, seen;

	policy_defaults(&pc);
	c = core_with(fw, st, &pc);
	for (int i = 0; i < 300; i++) {
		struct core_add_req q = app_portmap((uint16_t)(20000 + i), hosts[i % 3], 8000, hosts[i % 3]);

		ck_assert_int_eq(core_add(c, &q, &r), V_OK);
		ids[i] = r.id;
		if (i)
			ck_assert_uint_gt(ids[i], ids[i - 1]);
	}
	for (int i = 0; i < 300; i += 30) {
		ck_assert_int_eq(core_portmap_at(c, &all, (size_t)i, &r), V_OK);
		ck_assert_uint_eq(r.id, ids[i]);
	}
	ck_assert_int_eq(core_portmap_at(c, &all, 300, &r), V_NOT_FOUND);
	/* .12 sees its own 100, in id order; the others are not there for it */
	ck_assert_int_eq(core_portmap_at(c, &mine, 5, &r), V_OK);
	ck_assert_uint_eq(r.id, ids[3 * 5 + 1]);
	ck_assert_int_eq(core_portmap_at(c, &mine, 100, &r), V_NOT_FOUND);
	ck_assert_int_eq(core_get_as(c, ids[0], &mine, &r), V_NOT_AUTHORIZED);
	ck_assert_int_eq(core_get_as(c, ids[1], &mine, &r), V_OK);
	/* without secure_mode everyone sees all, unless it asks for its own only (Manage=0) */
	pc.secure_mode = false;
	core_set_policy(c, &pc);
	ck_assert_int_eq(core_portmap_at(c, &mine, 5, &r), V_OK);
	ck_assert_uint_eq(r.id, ids[5]);
	mine.own_only = true;
	ck_assert_int_eq(core_portmap_at(c, &mine, 5, &r), V_OK);
	ck_assert_uint_eq(r.id, ids[16]);
	mine.own_only = false;
	pc.secure_mode = true;
	core_set_policy(c, &pc);
	/* deleted ones leave the index; a batch undone puts them back */
	for (int i = 0; i < 300; i += 2)
		ck_assert_int_eq(core_delete(c, ids[i], NULL, true), V_OK);
	ck_assert_int_eq(core_portmap_at(c, &all, 10, &r), V_OK);
	ck_assert_uint_eq(r.id, ids[21]);
	core_batch_begin(c);
	for (int i = 1; i < 300; i += 2)
		ck_assert_int_eq(core_delete(c, ids[i], NULL, true), V_OK);
	fw_mem_fail_next(fw, EIO);
	ck_assert_int_eq(core_batch_end(c), -1);
	ck_assert_int_eq(core_portmap_at(c, &all, 149, &r), V_OK);
	ck_assert_uint_eq(r.id, ids[299]);
	ck_assert_int_eq(core_portmap_at(c, &all, 150, &r), V_NOT_FOUND);
	/* after a restart (rules come back in the store's order) the order is the ids' again */
	core_free(c);
	fw->ops->destroy(fw);
	fw = mem_fw();
	c = core_with(fw, st, &pc);
	for (size_t i = 0; i < 150; i++) {
		ck_assert_int_eq(core_portmap_at(c, &all, i, &r), V_OK);
		ck_assert_uint_eq(r.id, ids[2 * i + 1]);
	}
	/* in chunks, each visible mapping once, in id order */
	for (seen = 0, prev = 0; (n = core_portmaps_after(c, &mine, prev, chunk, 7)) > 0; prev = chunk[n - 1].id)
		for (size_t i = 0; i < n; i++, seen++) {
			ck_assert_uint_gt(chunk[i].id, prev);
			ck_assert(addr_equal(&chunk[i].owner, &mine.requester));
		}
	ck_assert_uint_eq(seen, 50);
	core_free(c);
	fw->ops->destroy(fw);
	drop_store(st, dir);
}
END_TEST

/* ---------- group commit across threads ---------- */

struct grouped_add {
	struct core *c;
	uint16_t port;
	enum verdict v;
};

static void *add_in_thread(void *arg)
{
	struct grouped_add *g = arg;
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, g->port, 600);
	struct rule r;

	g->v = core_add(g->c, &q, &r);
	return NULL;
}

/* Holds the lock in a batch until n threads wait for it with a core_add each, then lets them go. */
static void add_lined_up(struct core *c, struct grouped_add *g, pthread_t *th, size_t n, uint16_t port0)
{
	core_batch_begin(c);
	for (size_t i = 0; i < n; i++) {
		g[i] = (struct grouped_add){ .c = c, .port = (uint16_t)(port0 + i), .v = V_NOT_FOUND };
		ck_assert_int_eq(pthread_create(&th[i], NULL, add_in_thread, &g[i]), 0);
	}
	for (int waited = 0; core_waiting(c) < n && waited < 5000; waited++)
		usleep(1000);
	ck_assert_uint_eq(core_waiting(c), n);
	ck_assert_int_eq(core_batch_end(c), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
}

START_TEST(threads_share_a_commit)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct core *c = new_core_cb(fw, st, count_change);
	uint64_t txns = fw->ops->transactions(fw), syncs = store_syncs(st);
	struct grouped_add g[8];
	pthread_t th[8];
	struct core_add_req q = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7300, 600);
	struct rule r;

	told = 0;
	add_lined_up(c, g, th, 8, 7200);
	for (size_t i = 0; i < 8; i++)
		ck_assert_int_eq(g[i].v, V_OK);
	/* each of the 8 answered only after the one sync and the one transaction they shared */
	ck_assert_uint_eq(fw->ops->transactions(fw), txns + 1);
	ck_assert_uint_eq(store_syncs(st), syncs + 1);
	ck_assert_uint_eq(fw_mem_count(fw), 8);
	ck_assert_uint_eq(told, 8);
	/* with nobody waiting, a request is a batch of one again */
	ck_assert_int_eq(core_add(c, &q, &r), V_OK);
	ck_assert_uint_eq(fw->ops->transactions(fw), txns + 2);
	core_free(c);
	fw->ops->destroy(fw);
	drop_store(st, dir);
}
END_TEST

START_TEST(threads_refused_together)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, st);
	struct grouped_add g[6];
	pthread_t th[6];
	struct rule *all = NULL;

	fw_mem_fail_next(fw, EIO);
	add_lined_up(c, g, th, 6, 7400);
	/* the group's one transaction failed: every member answers NO_RESOURCES, nothing stays */
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(g[i].v, V_NO_RESOURCES);
	ck_assert_uint_eq(core_list(c, &all), 0);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	free(all);
	core_free(c);
	/* nor in the journal: a restart finds none of them */
	c = new_core(fw, st);
	ck_assert_uint_eq(core_list(c, &all), 0);
	free(all);
	core_free(c);
	fw->ops->destroy(fw);
	drop_store(st, dir);
}
END_TEST

/* ---------- pipelined groups: one in flight while the next is built ---------- */

struct req_thread {
	pthread_t th;
	struct core *c;
	struct core_add_req q;
	struct rule r;
	enum verdict v;
	bool answered;   /* atomic */
};

static void *req_in_thread(void *arg)
{
	struct req_thread *t = arg;

	t->v = core_add(t->c, &t->q, &t->r);
	__atomic_store_n(&t->answered, true, __ATOMIC_RELEASE);
	return NULL;
}

static void req_start(struct req_thread *t, struct core *c, const struct core_add_req *q)
{
	memset(t, 0, sizeof(*t));
	t->c = c;
	t->q = *q;
	t->v = V_NOT_FOUND;
	ck_assert_int_eq(pthread_create(&t->th, NULL, req_in_thread, t), 0);
}

/* Waits (at most 5 s) until the group being built holds n changes. */
static void wait_building(struct core *c, size_t n)
{
	size_t building = 0, flying = 0;

	for (int waited = 0; waited < 5000; waited++) {
		core_groups(c, &building, &flying);
		if (building >= n)
			break;
		usleep(1000);
	}
	ck_assert_uint_eq(building, n);
}

START_TEST(next_group_builds_while_one_flies)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct core *c = new_core_cb(fw, st, count_change);
	uint64_t txns = fw->ops->transactions(fw);
	struct core_add_req q1 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7500, 600);
	struct core_add_req q2 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7501, 600);
	struct core_add_req q3 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7502, 600);
	struct req_thread a, b, d;
	size_t building, flying;

	told = 0;
	fw_mem_hold(fw, true);
	req_start(&a, c, &q1);
	ck_assert(fw_mem_wait_held(fw, 1, 5000));   /* a's group is in flight, its commit held */
	/* the lock is free meanwhile: two more requests make their changes as the next group */
	req_start(&b, c, &q2);
	req_start(&d, c, &q3);
	wait_building(c, 2);
	core_groups(c, &building, &flying);
	ck_assert_uint_eq(flying, 1);
	/* nobody has answered: each waits for its own group to be durable and in the kernel */
	ck_assert(!__atomic_load_n(&a.answered, __ATOMIC_ACQUIRE));
	ck_assert(!__atomic_load_n(&b.answered, __ATOMIC_ACQUIRE));
	ck_assert_uint_eq(told, 0);
	fw_mem_hold(fw, false);
	ck_assert_int_eq(pthread_join(a.th, NULL), 0);
	ck_assert_int_eq(pthread_join(b.th, NULL), 0);
	ck_assert_int_eq(pthread_join(d.th, NULL), 0);
	ck_assert_int_eq(a.v, V_OK);
	ck_assert_int_eq(b.v, V_OK);
	ck_assert_int_eq(d.v, V_OK);
	/* two groups, in order: a's, then the two built while it flew */
	ck_assert_uint_eq(fw->ops->transactions(fw), txns + 2);
	ck_assert_uint_eq(fw_mem_count(fw), 3);
	ck_assert_uint_eq(told, 3);
	core_free(c);
	/* all three are durable */
	c = new_core(fw, st);
	ck_assert_int_eq(core_get(c, a.r.id, &a.r), V_OK);
	ck_assert_int_eq(core_get(c, b.r.id, &b.r), V_OK);
	ck_assert_int_eq(core_get(c, d.r.id, &d.r), V_OK);
	core_free(c);
	fw->ops->destroy(fw);
	drop_store(st, dir);
}
END_TEST

START_TEST(refused_flight_takes_the_group_built_on_it)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct core *c = new_core_cb(fw, st, count_change);
	struct core_add_req q1 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7600, 600);
	struct core_add_req q2 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7601, 600);
	struct core_add_req again = q1;
	struct req_thread a, b, d;
	struct rule *all = NULL;

	/* the same pinhole asked again, with a description long enough that its record must move: the
	 * group in flight still has to find it to undo it */
	memset(again.rule.desc, 'x', sizeof(again.rule.desc) - 1);
	told = 0;
	fw_mem_hold(fw, true);
	fw_mem_fail_next(fw, EIO);
	req_start(&a, c, &q1);
	ck_assert(fw_mem_wait_held(fw, 1, 5000));
	req_start(&b, c, &q2);
	wait_building(c, 1);
	req_start(&d, c, &again);
	wait_building(c, 2);
	fw_mem_hold(fw, false);
	ck_assert_int_eq(pthread_join(a.th, NULL), 0);
	ck_assert_int_eq(pthread_join(b.th, NULL), 0);
	ck_assert_int_eq(pthread_join(d.th, NULL), 0);
	/* the refused group and the one built on it: every member answers NO_RESOURCES, nothing stays */
	ck_assert_int_eq(a.v, V_NO_RESOURCES);
	ck_assert_int_eq(b.v, V_NO_RESOURCES);
	ck_assert_int_eq(d.v, V_NO_RESOURCES);
	ck_assert_uint_eq(core_list(c, &all), 0);
	free(all);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	ck_assert_uint_eq(told, 0);
	/* the core goes on: the next request is a group of its own */
	ck_assert_int_eq(core_add(c, &q2, &b.r), V_OK);
	core_free(c);
	/* nor in the journal: a restart finds only the last one */
	c = new_core(fw, st);
	ck_assert_uint_eq(core_list(c, &all), 1);
	ck_assert_uint_eq(all[0].int_port, 7601);
	free(all);
	core_free(c);
	fw->ops->destroy(fw);
	drop_store(st, dir);
}
END_TEST

struct list_thread {
	struct core *c;
	size_t n;
	bool answered;   /* atomic */
};

static void *list_in_thread(void *arg)
{
	struct list_thread *t = arg;
	struct rule *all = NULL;

	t->n = core_list(t->c, &all);
	free(all);
	__atomic_store_n(&t->answered, true, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(reader_waits_for_the_flight)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q1 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7700, 600);
	struct req_thread a;
	struct list_thread l = { .c = c };
	pthread_t th;

	fw_mem_hold(fw, true);
	req_start(&a, c, &q1);
	ck_assert(fw_mem_wait_held(fw, 1, 5000));
	ck_assert_int_eq(pthread_create(&th, NULL, list_in_thread, &l), 0);
	/* a reader sees only committed rules: it waits for the landing, however long the flight takes */
	usleep(100 * 1000);
	ck_assert(!__atomic_load_n(&l.answered, __ATOMIC_ACQUIRE));
	fw_mem_hold(fw, false);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(pthread_join(a.th, NULL), 0);
	ck_assert_int_eq(a.v, V_OK);
	ck_assert_uint_eq(l.n, 1);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

static void *read_counters_in_thread(void *arg)
{
	struct core *c = arg;

	return (void *)(intptr_t)core_read_counters(c);
}

START_TEST(counter_read_blocks_no_request)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q1 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7800, 600);
	struct core_add_req q2 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7801, 600);
	struct rule r;
	pthread_t th;
	void *rc;

	ck_assert_int_eq(core_add(c, &q1, &r), V_OK);
	fw_mem_hold_reads(fw, true);
	ck_assert_int_eq(pthread_create(&th, NULL, read_counters_in_thread, c), 0);
	ck_assert(fw_mem_wait_held(fw, 1, 5000));   /* the dump of every element is under way */
	/* it holds neither the core's lock nor the commit path: a request is answered meanwhile */
	ck_assert_int_eq(core_add(c, &q2, &r), V_OK);
	ck_assert_uint_eq(fw_mem_count(fw), 2);
	fw_mem_hold_reads(fw, false);
	ck_assert_int_eq(pthread_join(th, &rc), 0);
	ck_assert_int_eq((int)(intptr_t)rc, 0);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(expiry_check_does_not_wait_for_the_flight)
{
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, NULL);
	struct core_add_req q1 = pinhole_req("2001:db8:1:1::5", IPPROTO_TCP, 7900, 600);
	struct req_thread a;

	fw_mem_hold(fw, true);
	req_start(&a, c, &q1);
	ck_assert(fw_mem_wait_held(fw, 1, 5000));
	/* nothing is due: the loop's look after every burst answers at once, without waiting for the
	 * group in flight (this thread is the one that lets it land: waiting would never end) */
	ck_assert_int_gt(core_expire(c), 0);
	fw_mem_hold(fw, false);
	ck_assert_int_eq(pthread_join(a.th, NULL), 0);
	ck_assert_int_eq(a.v, V_OK);
	core_free(c);
	fw->ops->destroy(fw);
}
END_TEST

/* ---------- PCP mapping names ---------- */

static struct core_pcp_key pcp_key(const char *addr, uint16_t proto, uint16_t port)
{
	struct core_pcp_key k;

	memset(&k, 0, sizeof(k));
	k.internal = A(addr);
	k.proto = proto;
	k.port = port;
	return k;
}

static uint32_t pcp_found(struct core *c, const struct core_pcp_key *k)
{
	struct rule r;

	return core_find_pcp(c, k, &r) == V_OK ? r.id : 0;
}

/* core_find_pcp follows the table: adds, refreshes (a description that moves the rule too), changes
 * of the internal port, deletes, expiry, a refused batch, and a restart from the store; a MAP, a
 * NAT-PMP mapping and a PEER are told apart, and rules of other front ends have no PCP name. */
START_TEST(pcp_names_follow_the_table)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, st);
	struct core_add_req map = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 4000, 600);
	struct core_add_req peer = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 4000, 300);
	struct core_add_req upnp = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 4001, 600);
	struct core_add_req pmp = portmap_req(5000, "::ffff:192.0.2.10", 5000, 3600);
	struct core_pcp_key km = pcp_key("2001:db8:1:1::5", IPPROTO_UDP, 4000), kp = km;
	struct core_pcp_key ku = pcp_key("2001:db8:1:1::5", IPPROTO_UDP, 4001);
	struct core_pcp_key kn = pcp_key("::ffff:192.0.2.10", IPPROTO_TCP, 5000);
	struct rule m, p, u, n, got;
	char longdesc[RULE_DESC_MAX + 1];

	map.rule.origin = ORIGIN_PCP;
	map.rule.has_nonce = true;
	memset(map.rule.nonce, 1, RULE_NONCE_LEN);
	peer.rule.origin = ORIGIN_PCP_PEER;
	peer.rule.has_nonce = true;
	memset(peer.rule.nonce, 2, RULE_NONCE_LEN);
	peer.rule.remote = A("2001:db8:99::1");
	peer.rule.remote_len = 128;
	peer.rule.remote_port = 5000;
	pmp.rule.origin = ORIGIN_NATPMP;
	pmp.rule.target.exact_kind = ADDR_KIND_IPV4;
	kp.peer = true;
	kp.peer_addr = peer.rule.remote;
	kp.peer_port = 5000;

	ck_assert_uint_eq(pcp_found(c, &km), 0);
	ck_assert_int_eq(core_add(c, &map, &m), V_OK);
	ck_assert_int_eq(core_add(c, &peer, &p), V_OK);
	ck_assert_int_eq(core_add(c, &upnp, &u), V_OK);
	ck_assert_int_eq(core_add(c, &pmp, &n), V_OK);
	ck_assert_uint_eq(pcp_found(c, &km), m.id);
	ck_assert_uint_eq(pcp_found(c, &kp), p.id);
	ck_assert_uint_eq(pcp_found(c, &kn), n.id);
	ck_assert_uint_eq(pcp_found(c, &ku), 0);          /* UPnP's: no PCP name */
	ck_assert_int_eq(core_find_pcp(c, &kn, &got), V_OK);
	ck_assert_int_eq(got.origin, ORIGIN_NATPMP);
	/* a PEER to another peer, or another port of the same peer, is another mapping */
	kp.peer_port = 5001;
	ck_assert_uint_eq(pcp_found(c, &kp), 0);
	kp.peer_port = 5000;
	kp.peer_addr = A("2001:db8:99::2");
	ck_assert_uint_eq(pcp_found(c, &kp), 0);
	kp.peer_addr = peer.rule.remote;
	km.proto = IPPROTO_TCP;
	ck_assert_uint_eq(pcp_found(c, &km), 0);
	km.proto = IPPROTO_UDP;

	/* a refresh keeps the name; so does a description that outgrows the rule's room (it moves) */
	fake_now += 100;
	ck_assert_int_eq(core_refresh(c, m.id, 600, &map.rule.owner, false, &got), V_OK);
	ck_assert_int_eq(core_find_pcp(c, &km, &got), V_OK);
	ck_assert_int_eq(got.expires, fake_now + 600);
	memset(longdesc, 'x', RULE_DESC_MAX);
	longdesc[RULE_DESC_MAX] = '\0';
	memcpy(map.rule.desc, longdesc, sizeof(longdesc));
	ck_assert_int_eq(core_add(c, &map, &got), V_OK);
	ck_assert_uint_eq(got.id, m.id);
	ck_assert_int_eq(core_find_pcp(c, &km, &got), V_OK);
	ck_assert_str_eq(got.desc, longdesc);
	/* a mapping whose internal port changes changes its name */
	pmp.rule.int_port = 5001;
	ck_assert_int_eq(core_add(c, &pmp, &got), V_OK);
	ck_assert_uint_eq(got.id, n.id);
	ck_assert_uint_eq(pcp_found(c, &kn), 0);
	kn.port = 5001;
	ck_assert_uint_eq(pcp_found(c, &kn), n.id);

	/* a refused batch puts back the names as it puts back the rules */
	core_batch_begin(c);
	ck_assert_int_eq(core_delete(c, m.id, NULL, true), V_OK);
	ck_assert_uint_eq(pcp_found(c, &km), 0);
	upnp.rule.origin = ORIGIN_PCP;
	upnp.rule.int_port = 4002;
	ck_assert_int_eq(core_add(c, &upnp, &got), V_OK);
	ck_assert_uint_eq(pcp_found(c, &(struct core_pcp_key){ .internal = A("2001:db8:1:1::5"),
				.proto = IPPROTO_UDP, .port = 4002 }), got.id);
	fw_mem_fail_next(fw, 5);
	ck_assert_int_eq(core_batch_end(c), -1);
	ck_assert_uint_eq(pcp_found(c, &km), m.id);
	ck_assert_uint_eq(pcp_found(c, &(struct core_pcp_key){ .internal = A("2001:db8:1:1::5"),
				.proto = IPPROTO_UDP, .port = 4002 }), 0);

	/* the PEER (300 s) expires; the MAP is deleted */
	fake_now += 301;
	core_expire(c);
	ck_assert_uint_eq(pcp_found(c, &kp), 0);
	ck_assert_uint_eq(pcp_found(c, &km), m.id);
	ck_assert_int_eq(core_delete(c, m.id, NULL, true), V_OK);
	ck_assert_uint_eq(pcp_found(c, &km), 0);

	/* a restart loads the NAT-PMP mapping back, under its name */
	core_free(c);
	fw->ops->destroy(fw);
	fw = mem_fw();
	c = new_core(fw, st);
	ck_assert_uint_eq(pcp_found(c, &kn), n.id);
	ck_assert_uint_eq(pcp_found(c, &km), 0);
	ck_assert_uint_eq(pcp_found(c, &ku), 0);
	core_free(c);
	fw->ops->destroy(fw);
	drop_store(st, dir);
}
END_TEST

/* The table keeps each rule as a compact record (IPv4 addresses in 4 bytes, optional parts only when
 * present): what comes back out, from the table and after a restart from its snapshot, is every field
 * that went in. */
static void expect_same_rule(const struct rule *want, const struct rule *got)
{
	struct rule w;

	rule_copy(&w, want);
	w.id = got->id;
	w.state = got->state;
	w.expires = got->expires;
	ck_assert_mem_eq(&w, got, offsetof(struct rule, desc));
	ck_assert_str_eq(w.desc, got->desc);
}

START_TEST(records_give_back_every_field)
{
	char dir[] = "/tmp/igdd-core-XXXXXX";
	struct store *st = tmp_store(dir);
	struct fw *fw = mem_fw();
	struct core *c = new_core(fw, st);
	struct core_add_req q[3];
	struct rule got[3], again;

	/* an IPv6 pinhole for another host, a remote prefix and port, a nonce, the longest description */
	q[0] = pinhole_req("2001:db8:1:1::5", IPPROTO_UDP, 4000, 600);
	q[0].rule.owner = A("2001:db8:1:1::77");
	q[0].rule.remote = A("2001:db8:99::");
	q[0].rule.remote_len = 64;
	q[0].rule.remote_port = 5000;
	q[0].rule.origin = ORIGIN_PCP;
	q[0].rule.has_nonce = true;
	memset(q[0].rule.nonce, 0xa5, RULE_NONCE_LEN);
	memset(q[0].rule.desc, 'x', RULE_DESC_MAX);
	q[0].rule.desc[RULE_DESC_MAX] = '\0';
	/* a CGN-like mapping: pool address, IPv4 target and owner, a remote host and port, no description */
	q[1] = portmap_req(6000, "::ffff:100.64.0.9", 7000, 7200);
	q[1].rule.proto = IPPROTO_UDP;
	q[1].rule.ext_addr.s_addr = htonl(0xcb007105);   /* 203.0.113.5 */
	q[1].rule.remote = A("::ffff:198.51.100.7");
	q[1].rule.remote_len = 128;
	q[1].rule.remote_port = 443;
	q[1].rule.origin = ORIGIN_PCP_PEER;
	q[1].rule.target.exact_kind = ADDR_KIND_IPV4;
	q[1].rule.desc[0] = '\0';
	/* an IPv4 mapping for another host, without expiry */
	q[2] = portmap_req(8080, "::ffff:192.0.2.10", 80, 0);
	q[2].rule.owner = A("::ffff:192.0.2.11");
	q[2].rule.origin = ORIGIN_CTL;
	for (size_t i = 0; i < 3; i++) {
		q[i].privileged = true;
		q[i].exact_lease = true;
		ck_assert_int_eq(core_add(c, &q[i], &got[i]), V_OK);
		expect_same_rule(&q[i].rule, &got[i]);
		ck_assert_int_eq(core_get(c, got[i].id, &again), V_OK);
		expect_same_rule(&q[i].rule, &again);
	}
	ck_assert_int_eq(core_snapshot(c), 0);
	core_free(c);
	fw->ops->destroy(fw);
	fw = mem_fw();
	c = new_core(fw, st);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(core_get(c, got[i].id, &again), V_OK);
		expect_same_rule(&q[i].rule, &again);
		ck_assert_int_eq(again.expires, got[i].expires);
	}
	ck_assert_uint_eq(fw_mem_count(fw), 3);
	core_free(c);
	fw->ops->destroy(fw);
	drop_store(st, dir);
}
END_TEST

static Suite *core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, add_get_delete);
	tcase_add_test(tc, last_packet_is_when_counters_rose);
	tcase_add_test(tc, identical_request_refreshes);
	tcase_add_test(tc, description_grows_and_shrinks);
	tcase_add_test(tc, shared_element_refcount);
	tcase_add_test(tc, portmap_conflicts);
	tcase_add_test(tc, port_strategies);
	tcase_add_test(tc, port_in_block);
	tcase_add_test(tc, filtered_mapping_does_not_shadow_another_host);
	tcase_add_test(tc, policy_is_applied);
	tcase_add_test(tc, lease_clamp_and_expiry);
	tcase_add_test(tc, firewall_failure_changes_nothing);
	tcase_add_test(tc, reconcile_restores_kernel);
	tcase_add_test(tc, quota_per_client);
	tcase_add_test(tc, restart_restores_rules);
	tcase_add_test(tc, renonce_own_host_only);
	tcase_add_test(tc, batch_commits_once);
	tcase_add_test(tc, batch_failure_undoes_everything);
	tcase_add_test(tc, batch_add_delete_same_key);
	tcase_add_test(tc, batch_refresh);
	tcase_add_test(tc, app_cannot_rewrite_a_rule_by_hand);
	tcase_add_test(tc, app_change_passes_the_add_policy);
	tcase_add_test(tc, app_does_not_refresh_a_household_pinhole);
	tcase_add_test(tc, overlapping_remote_ranges_conflict);
	tcase_add_test(tc, bad_stored_rules_skipped_or_clamped);
	tcase_add_test(tc, reads_through_the_id_index);
	tcase_add_test(tc, threads_share_a_commit);
	tcase_add_test(tc, threads_refused_together);
	tcase_add_test(tc, next_group_builds_while_one_flies);
	tcase_add_test(tc, refused_flight_takes_the_group_built_on_it);
	tcase_add_test(tc, reader_waits_for_the_flight);
	tcase_add_test(tc, counter_read_blocks_no_request);
	tcase_add_test(tc, expiry_check_does_not_wait_for_the_flight);
	tcase_add_test(tc, pcp_names_follow_the_table);
	tcase_add_test(tc, records_give_back_every_field);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(core_suite());
}
