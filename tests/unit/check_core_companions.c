/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core_companions: a port mapping with an external address has a second kernel element beside its
 * DNAT one, its SNAT companion (pm4_snat, or pm4_snat_flow for a CGN PEER's flow), keyed by fields its
 * DNAT key does not have (the internal endpoint; the flow). A change of a rule that keeps its DNAT key
 * but changes its companion's must take the old companion away: the kernel keeps it otherwise, and
 * the internal endpoint's flows leave from a mapping nobody holds. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include "firewall/core/core_priv.h"
#include "firewall/nft/fw_elem.h"
#include "tests/unit/testutil.h"

#define KERNEL_COMPANIONS_MAX 64

/* The companions as nft.c treats them (commit_batch): a delete takes an element's companion with it;
 * an add first deletes the map key it replaces and the companion of the element added (its key, as
 * the new element has it), then adds both. The elements themselves are the in-memory backend's. */
struct kernel {
	struct fw fw;             /* what the core commits to */
	struct fw *mem;
	struct fw_key key[KERNEL_COMPANIONS_MAX];
	uint8_t data[KERNEL_COMPANIONS_MAX][FW_DATA_LEN];
	size_t n;
};

static struct kernel *kernel_of(struct fw *fw)
{
	return fw->priv;
}

static void companion_del(struct kernel *k, const struct fw_elem *e)
{
	struct fw_key ck;

	if (!fw_key_companion(e, &ck))
		return;
	for (size_t i = 0; i < k->n; i++)
		if (fw_key_cmp(&k->key[i], &ck) == 0) {
			k->key[i] = k->key[--k->n];
			memcpy(k->data[i], k->data[k->n], FW_DATA_LEN);
			return;
		}
}

static void companion_add(struct kernel *k, const struct fw_elem *e)
{
	struct fw_key ck;

	if (!fw_key_companion(e, &ck))
		return;
	ck_assert_uint_lt(k->n, KERNEL_COMPANIONS_MAX);
	k->key[k->n] = ck;
	fw_elem_snat_data(e, k->data[k->n++]);
}

static int kernel_init(struct fw *fw)
{
	struct kernel *k = kernel_of(fw);

	k->n = 0;
	return k->mem->ops->init(k->mem);
}

static int kernel_commit(struct fw *fw, const struct fw_elem *del, size_t ndel, const struct fw_elem *add,
			 size_t nadd)
{
	struct kernel *k = kernel_of(fw);
	int err = k->mem->ops->commit(k->mem, del, ndel, add, nadd);

	if (err)
		return err;
	for (size_t i = 0; i < ndel; i++)
		companion_del(k, &del[i]);
	for (size_t i = 0; i < nadd; i++)
		companion_del(k, &add[i]);
	for (size_t i = 0; i < nadd; i++)
		companion_add(k, &add[i]);
	return 0;
}

static int kernel_resync(struct fw *fw, const struct fw_elem *all, size_t n)
{
	struct kernel *k = kernel_of(fw);
	int err = k->mem->ops->resync(k->mem, all, n);

	if (err)
		return err;
	k->n = 0;   /* the sets are made again, holding exactly what is given */
	for (size_t i = 0; i < n; i++)
		companion_add(k, &all[i]);
	return 0;
}

static int kernel_read_counters(struct fw *fw, void (*cb)(void *arg, const struct fw_elem *e), void *arg)
{
	struct kernel *k = kernel_of(fw);

	return k->mem->ops->read_counters(k->mem, cb, arg);
}

static int kernel_monitor_fd(struct fw *fw)
{
	return kernel_of(fw)->mem->ops->monitor_fd(kernel_of(fw)->mem);
}

static int kernel_monitor_read(struct fw *fw)
{
	return kernel_of(fw)->mem->ops->monitor_read(kernel_of(fw)->mem);
}

static uint64_t kernel_transactions(struct fw *fw)
{
	return kernel_of(fw)->mem->ops->transactions(kernel_of(fw)->mem);
}

static int kernel_remove(struct fw *fw)
{
	struct kernel *k = kernel_of(fw);

	k->n = 0;
	return k->mem->ops->remove(k->mem);
}

static void kernel_destroy(struct fw *fw)
{
	struct kernel *k = kernel_of(fw);

	k->mem->ops->destroy(k->mem);
	free(k);
}

static const struct fw_ops kernel_ops = {
	.name = "mem+companions",
	.init = kernel_init,
	.commit = kernel_commit,
	.resync = kernel_resync,
	.read_counters = kernel_read_counters,
	.monitor_fd = kernel_monitor_fd,
	.monitor_read = kernel_monitor_read,
	.transactions = kernel_transactions,
	.remove = kernel_remove,
	.destroy = kernel_destroy,
};

static struct kernel *kernel_new(void)
{
	struct kernel *k = calloc(1, sizeof(*k));

	ck_assert_ptr_nonnull(k);
	k->mem = mem_fw();
	ck_assert_ptr_nonnull(k->mem);
	k->fw.ops = &kernel_ops;
	k->fw.cfg = k->mem->cfg;
	k->fw.priv = k;
	return k;
}

static struct core *core_on(struct kernel *k, struct store *st)
{
	struct core_params p;
	struct core *c;
	char err[256];

	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.fw = &k->fw;
	p.store = st;
	p.clock = fake_clock;
	c = core_new(&p);
	ck_assert_ptr_nonnull(c);
	ck_assert_msg(core_start(c, err, sizeof(err)) == 0, "core_start: %s", err);
	return c;
}

static struct in_addr v4(const char *s)
{
	struct in_addr a;

	ck_assert_int_eq(inet_pton(AF_INET, s, &a), 1);
	return a;
}

/* How many companions the kernel holds in set s. */
static size_t companions_in(const struct kernel *k, enum fw_set s)
{
	size_t n = 0;

	for (size_t i = 0; i < k->n; i++)
		n += k->key[i].set == s;
	return n;
}

/* Does the kernel hold the companion of internal endpoint to:port (udp) in pm4_snat, leaving from
 * ext:ext_port? */
static bool endpoint_snat(const struct kernel *k, const char *to, uint16_t port, const char *ext, uint16_t ext_port)
{
	struct fw_elem e = elem_portmap(IPPROTO_UDP, ext_port, to, port);
	uint8_t want[FW_DATA_LEN];
	struct fw_key ck;

	e.ext_addr = v4(ext);
	ck_assert(fw_key_companion(&e, &ck));
	fw_elem_snat_data(&e, want);
	for (size_t i = 0; i < k->n; i++)
		if (fw_key_cmp(&k->key[i], &ck) == 0)
			return memcmp(k->data[i], want, FW_DATA_LEN) == 0;
	return false;
}

/* pcpd's request for a subscriber's PEER (pcp_server.c map_create on a CGN): udp from 100.64.0.2:4000
 * to 198.51.100.1:7777, on 203.0.113.8 in the subscriber's block 20008-20011. */
static struct core_add_req cgn_peer(void)
{
	struct core_add_req q;

	memset(&q, 0, sizeof(q));
	q.rule.kind = RULE_PORTMAP;
	q.rule.proto = IPPROTO_UDP;
	q.rule.int_port = 4000;
	q.rule.target.use_exact = true;
	q.rule.target.exact = A("::ffff:100.64.0.2");
	q.rule.target.exact_kind = ADDR_KIND_IPV4;
	q.rule.owner = q.rule.target.exact;
	q.rule.origin = ORIGIN_PCP_PEER;
	q.rule.has_nonce = true;
	memset(q.rule.nonce, 7, RULE_NONCE_LEN);
	q.rule.ext_addr = v4("203.0.113.8");
	q.rule.ext_port = 20008;
	q.rule.remote = A("::ffff:198.51.100.1");
	q.rule.remote_len = 128;
	q.rule.remote_port = 7777;
	q.rule.lease = 600;
	q.port = CORE_PORT_IN_BLOCK;
	q.port_lo = 20008;
	q.port_hi = 20011;
	return q;
}

/* The operator's request (the control socket: POST /api/v1/rules) for exactly the mapping q holds,
 * without expiry. */
static struct core_add_req by_operator(const struct core_add_req *q)
{
	struct core_add_req op;

	memset(&op, 0, sizeof(op));
	op.rule = q->rule;
	op.rule.origin = ORIGIN_CTL;
	op.rule.owner = A("::1");
	op.rule.has_nonce = false;
	memset(op.rule.nonce, 0, RULE_NONCE_LEN);
	op.rule.lease = 0;
	op.privileged = true;
	op.exact_lease = true;
	op.port = CORE_PORT_EXACT;
	return op;
}

/* The operator's endpoint mapping (no remote): 100.64.0.2:5000/udp on 203.0.113.8:ext_port. */
static struct core_add_req operator_endpoint(uint16_t ext_port)
{
	struct core_add_req base = cgn_peer(), op = by_operator(&base);

	op.rule.remote_len = 0;
	op.rule.remote_port = 0;
	memset(&op.rule.remote, 0, sizeof(op.rule.remote));
	op.rule.int_port = 5000;
	op.rule.ext_port = ext_port;
	return op;
}

/* The subscriber's own MAP of 100.64.0.2:5000/udp (pcpd's request: in its block, no remote). */
static struct core_add_req cgn_map(void)
{
	struct core_add_req q = cgn_peer();

	q.rule.origin = ORIGIN_PCP;
	q.rule.remote_len = 0;
	q.rule.remote_port = 0;
	memset(&q.rule.remote, 0, sizeof(q.rule.remote));
	q.rule.int_port = 5000;
	return q;
}

/* The operator makes a subscriber's PEER permanent: the same external address and port, remote and
 * internal endpoint, so the core changes that rule (same id). It is no flow's mapping any more but an
 * endpoint's: the flow's SNAT goes, the endpoint's comes, in the same transaction. */
START_TEST(peer_made_permanent_by_operator_leaves_no_flow_snat)
{
	struct kernel *k = kernel_new();
	struct core *c = core_on(k, NULL);
	struct core_add_req peer = cgn_peer(), op = by_operator(&peer);
	struct rule p, o;
	struct fw_elem dnat;

	ck_assert_int_eq(core_add(c, &peer, &p), V_OK);
	ck_assert_uint_eq(p.ext_port, 20008);
	ck_assert_uint_eq(companions_in(k, FW_SET_PM4_SNAT_FLOW), 1);
	ck_assert_uint_eq(companions_in(k, FW_SET_PM4_SNAT), 0);

	ck_assert_int_eq(core_add(c, &op, &o), V_OK);
	ck_assert_uint_eq(o.id, p.id);
	ck_assert_int_eq(o.origin, ORIGIN_CTL);
	ck_assert_msg(companions_in(k, FW_SET_PM4_SNAT_FLOW) == 0, "the PEER's flow SNAT was left in the kernel");
	ck_assert_uint_eq(companions_in(k, FW_SET_PM4_SNAT), 1);
	ck_assert(endpoint_snat(k, "100.64.0.2", 4000, "203.0.113.8", 20008));
	/* one DNAT element, the operator's: no timeout any more */
	ck_assert_uint_eq(fw_mem_count(k->mem), 1);
	dnat = elem_portmap(IPPROTO_UDP, 20008, "100.64.0.2", 4000);
	dnat.ext_addr = v4("203.0.113.8");
	dnat.remote = peer.rule.remote;
	dnat.remote_len = 128;
	dnat.remote_port = 7777;
	ck_assert(fw_mem_has(k->mem, &dnat, &dnat));
	ck_assert_uint_eq(dnat.timeout_ms, 0);

	/* and its delete leaves nothing behind */
	ck_assert_int_eq(core_delete(c, o.id, NULL, true), V_OK);
	ck_assert_uint_eq(fw_mem_count(k->mem), 0);
	ck_assert_uint_eq(k->n, 0);
	core_free(c);
	k->fw.ops->destroy(&k->fw);
}
END_TEST

/* The operator moves its mapping to another internal port of the same host (the same external
 * address and port: the core changes the rule). The SNAT companion is keyed by the internal
 * endpoint: the old endpoint's must go, or its flows keep leaving from a port that now maps elsewhere,
 * for good (the operator's mapping has no timeout). */
START_TEST(operator_mapping_moved_to_another_internal_port)
{
	struct kernel *k = kernel_new();
	struct core *c = core_on(k, NULL);
	struct core_add_req op = operator_endpoint(20008);
	struct rule a, b;

	ck_assert_int_eq(core_add(c, &op, &a), V_OK);
	ck_assert(endpoint_snat(k, "100.64.0.2", 5000, "203.0.113.8", 20008));
	op.rule.int_port = 5001;
	ck_assert_int_eq(core_add(c, &op, &b), V_OK);
	ck_assert_uint_eq(b.id, a.id);
	ck_assert_uint_eq(b.int_port, 5001);
	ck_assert_msg(!endpoint_snat(k, "100.64.0.2", 5000, "203.0.113.8", 20008),
		      "the old internal endpoint's SNAT was left in the kernel");
	ck_assert(endpoint_snat(k, "100.64.0.2", 5001, "203.0.113.8", 20008));
	ck_assert_uint_eq(k->n, 1);
	ck_assert_uint_eq(fw_mem_count(k->mem), 1);
	core_free(c);
	k->fw.ops->destroy(&k->fw);
}
END_TEST

/* One internal endpoint leaves from one external endpoint: its SNAT companion is one kernel element, so a
 * second mapping of it (another external port) would take the first's companion, and deleting either
 * would leave the other's flows leaving from the pool. The operator is told of the conflict; a
 * subscriber's PCP MAP of an endpoint the operator mapped is not authorized (RFC 6887: PCP does not
 * change a static mapping). */
START_TEST(one_snat_per_internal_endpoint)
{
	struct kernel *k = kernel_new();
	struct core *c = core_on(k, NULL);
	struct core_add_req first = operator_endpoint(20008), second = operator_endpoint(20009), map = cgn_map();
	struct rule a, b;

	ck_assert_int_eq(core_add(c, &first, &a), V_OK);
	ck_assert_int_eq(core_add(c, &second, &b), V_CONFLICT);
	ck_assert(endpoint_snat(k, "100.64.0.2", 5000, "203.0.113.8", 20008));
	/* the subscriber's own MAP of it */
	ck_assert_int_eq(core_add(c, &map, &b), V_NOT_AUTHORIZED);
	ck_assert_uint_eq(k->n, 1);
	ck_assert_uint_eq(fw_mem_count(k->mem), 1);
	/* a PEER's flow of that endpoint has a companion of its own (pm4_snat_flow): no conflict */
	{
		struct core_add_req peer = cgn_peer();

		peer.rule.int_port = 5000;
		ck_assert_int_eq(core_add(c, &peer, &b), V_OK);
		ck_assert_uint_eq(companions_in(k, FW_SET_PM4_SNAT_FLOW), 1);
	}
	/* the first goes: the endpoint is free for another mapping, whose companion the kernel holds */
	ck_assert_int_eq(core_delete(c, a.id, NULL, true), V_OK);
	ck_assert_int_eq(core_add(c, &second, &b), V_OK);
	ck_assert(endpoint_snat(k, "100.64.0.2", 5000, "203.0.113.8", 20009));
	/* the operator moves its mapping onto an endpoint another mapping leaves from: refused too */
	first.rule.int_port = 5001;
	ck_assert_int_eq(core_add(c, &first, &a), V_OK);
	first.rule.int_port = 5000;
	ck_assert_int_eq(core_add(c, &first, &b), V_CONFLICT);
	ck_assert(endpoint_snat(k, "100.64.0.2", 5001, "203.0.113.8", 20008));
	ck_assert(endpoint_snat(k, "100.64.0.2", 5000, "203.0.113.8", 20009));
	core_free(c);
	k->fw.ops->destroy(&k->fw);
}
END_TEST

/* A PCP MAP holds its endpoint's companion too: the operator cannot map that endpoint a second time. */
START_TEST(operator_cannot_take_a_maps_snat)
{
	struct kernel *k = kernel_new();
	struct core *c = core_on(k, NULL);
	struct core_add_req map = cgn_map(), op = operator_endpoint(20010);
	struct rule a, b;

	ck_assert_int_eq(core_add(c, &map, &a), V_OK);
	ck_assert_int_eq(core_add(c, &op, &b), V_CONFLICT);
	ck_assert(endpoint_snat(k, "100.64.0.2", 5000, "203.0.113.8", a.ext_port));
	core_free(c);
	k->fw.ops->destroy(&k->fw);
}
END_TEST

/* What does not change the elements changes nothing but their timeouts: a PEER's refresh and its
 * new nonce keep its flow SNAT (one, not two, and no endpoint SNAT). */
START_TEST(peer_refresh_keeps_its_flow_snat)
{
	struct kernel *k = kernel_new();
	struct core *c = core_on(k, NULL);
	struct core_add_req peer = cgn_peer();
	uint8_t nonce[RULE_NONCE_LEN];
	struct rule p, r;

	ck_assert_int_eq(core_add(c, &peer, &p), V_OK);
	fake_now += 100;
	ck_assert_int_eq(core_refresh(c, p.id, 600, &peer.rule.owner, false, &r), V_OK);
	memset(nonce, 9, sizeof(nonce));
	ck_assert_int_eq(core_renonce(c, p.id, &peer.rule.owner, nonce, &r), V_OK);
	ck_assert_uint_eq(companions_in(k, FW_SET_PM4_SNAT_FLOW), 1);
	ck_assert_uint_eq(k->n, 1);
	ck_assert_uint_eq(fw_mem_count(k->mem), 1);
	core_free(c);
	k->fw.ops->destroy(&k->fw);
}
END_TEST

/* A change the firewall refuses is undone whole: the PEER stays what it was, in the kernel too, and a
 * later change goes through with nothing left over. */
START_TEST(refused_change_leaves_the_peer_as_it_was)
{
	struct kernel *k = kernel_new();
	struct core *c = core_on(k, NULL);
	struct core_add_req peer = cgn_peer(), op = by_operator(&peer);
	struct rule p, got;

	ck_assert_int_eq(core_add(c, &peer, &p), V_OK);
	fw_mem_fail_next(k->mem, ENOBUFS);
	ck_assert_int_ne(core_add(c, &op, NULL), V_OK);
	ck_assert_int_eq(core_get(c, p.id, &got), V_OK);
	ck_assert_int_eq(got.origin, ORIGIN_PCP_PEER);
	ck_assert_uint_eq(companions_in(k, FW_SET_PM4_SNAT_FLOW), 1);
	ck_assert_uint_eq(companions_in(k, FW_SET_PM4_SNAT), 0);
	ck_assert_int_eq(core_add(c, &op, &got), V_OK);
	ck_assert_uint_eq(companions_in(k, FW_SET_PM4_SNAT_FLOW), 0);
	ck_assert(endpoint_snat(k, "100.64.0.2", 4000, "203.0.113.8", 20008));
	core_free(c);
	k->fw.ops->destroy(&k->fw);
}
END_TEST

/* core_rule_moves (core_priv.h) says a change moves a rule's elements exactly when core_rule_elems makes other
 * elements of it: what the kernel holds, not which fields changed. */
START_TEST(rule_moves_when_its_elements_change)
{
	struct core_add_req q = cgn_peer();
	struct rule a = q.rule, b;
	struct rule ph;

	/* the same elements: lease, expiry, description, nonce, owner, a MAC learned for the target */
	b = a;
	b.lease = 60;
	b.expires = 1234;
	snprintf(b.desc, sizeof(b.desc), "%s", "renamed");
	memset(b.nonce, 3, RULE_NONCE_LEN);
	b.owner = A("::ffff:100.64.0.9");
	b.target.has_mac = true;
	memset(b.target.mac, 0x52, 6);
	ck_assert(!core_rule_moves(&a, &b));
	ck_assert(!core_rule_moves(&a, &a));
	/* another origin: a PEER's flow SNAT becomes the endpoint's */
	b = a;
	b.origin = ORIGIN_CTL;
	ck_assert(core_rule_moves(&a, &b));
	b.origin = ORIGIN_PCP;   /* a MAP with a one-host FILTER: the endpoint's too */
	ck_assert(core_rule_moves(&a, &b));
	/* the internal endpoint, the remote, the external side */
	b = a;
	b.int_port = 4001;
	ck_assert(core_rule_moves(&a, &b));
	b = a;
	b.target.exact = A("::ffff:100.64.0.3");
	ck_assert(core_rule_moves(&a, &b));
	b = a;
	b.remote_port = 7778;
	ck_assert(core_rule_moves(&a, &b));
	b = a;
	b.ext_addr = v4("203.0.113.9");
	ck_assert(core_rule_moves(&a, &b));

	/* a pinhole: its device's stable address resolved is a second element; a kind learned is none */
	memset(&ph, 0, sizeof(ph));
	ph.kind = RULE_PINHOLE;
	ph.proto = IPPROTO_TCP;
	ph.int_port = 443;
	ph.origin = ORIGIN_UPNP;
	ph.target.use_exact = true;
	ph.target.exact = A("2001:db8:1:1::1234");
	ph.target.use_stable = true;
	ph.target.subnet = A("2001:db8:1:1::");
	ph.target.subnet_len = 64;
	b = ph;
	b.target.exact_kind = ADDR_KIND_TEMPORARY;
	ck_assert(!core_rule_moves(&ph, &b));
	b.target.stable = A("2001:db8:1:1::5");
	b.target.stable_resolved = true;
	ck_assert(core_rule_moves(&ph, &b));
}
END_TEST

static Suite *companions_suite(void)
{
	Suite *s = suite_create("core_companions");
	TCase *tc = tcase_create("core_companions");

	tcase_add_test(tc, peer_made_permanent_by_operator_leaves_no_flow_snat);
	tcase_add_test(tc, operator_mapping_moved_to_another_internal_port);
	tcase_add_test(tc, peer_refresh_keeps_its_flow_snat);
	tcase_add_test(tc, refused_change_leaves_the_peer_as_it_was);
	tcase_add_test(tc, rule_moves_when_its_elements_change);
	tcase_add_test(tc, one_snat_per_internal_endpoint);
	tcase_add_test(tc, operator_cannot_take_a_maps_snat);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(companions_suite());
}
