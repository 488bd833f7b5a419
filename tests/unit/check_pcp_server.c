/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pcp_server_: PCP MAP/PEER/ANNOUNCE and NAT-PMP decisions on a core with the in-memory firewall. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include "pcpd/natpmp_wire.h"
#include "pcpd/pcp_server.h"
#include "pcpd/pcp_wire.h"
#include "tests/unit/testutil.h"

static uint64_t now_ms = 5000000;
static bool have_wan = true;

static bool wan_getter(void *arg, struct in_addr *out)
{
	(void)arg;
	out->s_addr = htonl(0xcb007101); /* 203.0.113.1 */
	return have_wan;
}

struct fixture {
	struct fw *fw;
	struct core *core;
	struct pcp_server *srv;
};

static struct fixture fx;
/* when set, the core's device table says these two addresses are one device */
static const char *device_pair[2];

static bool pair_same_device(void *arg, const struct in6_addr *a, const struct in6_addr *b)
{
	struct in6_addr x = A(device_pair[0]), y = A(device_pair[1]);

	(void)arg;
	return (addr_equal(a, &x) && addr_equal(b, &y)) || (addr_equal(a, &y) && addr_equal(b, &x));
}

static void setup_with(const struct pcp_server_params *extra)
{
	struct core_params p;
	struct pcp_server_params sp;
	char err[256];

	fx.fw = mem_fw();
	ck_assert_ptr_nonnull(fx.fw);
	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.fw = fx.fw;
	p.store = NULL;
	p.clock = fake_clock;
	if (device_pair[0])
		p.same_device = pair_same_device;
	fx.core = core_new(&p);
	ck_assert_ptr_nonnull(fx.core);
	ck_assert_msg(core_start(fx.core, err, sizeof(err)) == 0, "core_start: %s", err);
	if (extra)
		sp = *extra;
	else
		memset(&sp, 0, sizeof(sp));
	sp.core = fx.core;
	sp.ext_addr = wan_getter;
	if (!extra)
		sp.rate_off = true;
	have_wan = true;
	fx.srv = pcp_server_new(&sp, now_ms);
	ck_assert_ptr_nonnull(fx.srv);
}

static void setup(void)
{
	setup_with(NULL);
}

static void teardown(void)
{
	pcp_server_free(fx.srv);
	core_free(fx.core);
	fx.fw->ops->destroy(fx.fw);
	memset(&fx, 0, sizeof(fx));
}

/* ---------- building requests, reading answers ---------- */

static struct pcp_request map_req(const char *client, uint8_t proto, uint16_t iport, uint16_t sugg,
				  uint32_t lifetime, uint8_t nonce_byte)
{
	struct pcp_request q;

	memset(&q, 0, sizeof(q));
	q.opcode = PCP_OP_MAP;
	q.lifetime = lifetime;
	q.client_addr = A(client);
	memset(q.op.nonce, nonce_byte, PCP_NONCE_LEN);
	q.op.protocol = proto;
	q.op.internal_port = iport;
	q.op.ext_port = sugg;
	if (addr_is_v4(&q.client_addr))
		q.op.ext_addr = A("::ffff:0.0.0.0");
	return q;
}

/* Sends q from src; returns the parsed response (result 255 when the server said nothing). */
static struct pcp_response send_from(const struct pcp_request *q, const char *src)
{
	uint8_t in[PCP_MAX_MSG], out[PCP_MAX_MSG];
	struct pcp_response r;
	struct in6_addr s = A(src);
	size_t n = pcp_wire_build_request(q, in, sizeof(in)), m;

	ck_assert_uint_gt(n, 0);
	m = pcp_server_handle(fx.srv, in, n, &s, now_ms, out, sizeof(out));
	memset(&r, 0, sizeof(r));
	if (m == 0) {
		r.result = 255;
		return r;
	}
	ck_assert_int_eq(pcp_wire_parse_response(out, m, &r), PCP_PARSE_OK);
	return r;
}

static struct pcp_response send_pcp(const struct pcp_request *q)
{
	char buf[ADDR_STRLEN];

	return send_from(q, addr_str(&q->client_addr, buf));
}

static size_t rules(struct rule **all)
{
	return core_list(fx.core, all);
}

static bool has_pinhole(const char *addr, uint16_t proto, uint16_t port)
{
	struct fw_elem k;

	memset(&k, 0, sizeof(k));
	k.proto = proto;
	k.addr = A(addr);
	k.port = port;
	return fw_mem_has(fx.fw, &k, NULL);
}

/* Port mapping elements are keyed by protocol and external port (the internal side is the map's
 * data, but the key builder wants it filled in). */
static bool addr_is(const struct in6_addr *a, const char *text)
{
	struct in6_addr b = A(text);

	return addr_equal(a, &b);
}

static bool has_pool_portmap(const char *ext_addr, uint16_t proto, uint16_t ext_port, const char *peer,
			     uint16_t peer_port, struct fw_elem *out)
{
	struct fw_elem k;

	memset(&k, 0, sizeof(k));
	k.v4 = true;
	k.addr = A("::ffff:192.0.2.1");
	k.port = 1;
	k.proto = proto;
	k.ext_port = ext_port;
	if (ext_addr)
		ck_assert_int_eq(inet_pton(AF_INET, ext_addr, &k.ext_addr), 1);
	if (peer) {
		k.remote = A(peer);
		k.remote_len = 128;
		k.remote_port = peer_port;
	}
	return fw_mem_has(fx.fw, &k, out);
}

static bool has_peer_portmap(uint16_t proto, uint16_t ext_port, const char *peer, uint16_t peer_port,
			     struct fw_elem *out)
{
	return has_pool_portmap(NULL, proto, ext_port, peer, peer_port, out);
}

static bool has_portmap(uint16_t proto, uint16_t ext_port, struct fw_elem *out)
{
	return has_peer_portmap(proto, ext_port, NULL, 0, out);
}

/* ---------- MAP ---------- */

START_TEST(map_v6_pinhole)
{
	struct pcp_request q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 3600, 1);
	struct pcp_response r = send_pcp(&q);
	struct rule *all;

	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.lifetime, 3600);
	ck_assert_uint_eq(r.op.ext_port, 8080);              /* no translation: the internal endpoint */
	ck_assert(addr_equal(&r.op.ext_addr, &q.client_addr));
	ck_assert_mem_eq(r.op.nonce, q.op.nonce, PCP_NONCE_LEN);
	ck_assert(has_pinhole("2001:db8:1::5", IPPROTO_TCP, 8080));
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_int_eq(all[0].origin, ORIGIN_PCP);
	ck_assert(all[0].has_nonce);
	free(all);
}
END_TEST

START_TEST(map_v6_all_protocols)
{
	struct pcp_request q = map_req("2001:db8:1::5", 0, 0, 0, 600, 1);
	struct rule *all;

	/* every protocol means every port, low ones included: the default policy refuses that */
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
	/* a protocol without ports (ESP) is fine, with internal port 0 */
	q = map_req("2001:db8:1::5", 50, 0, 0, 600, 1);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].proto, 50);
	free(all);
	/* ... and a port with it is malformed */
	q.op.internal_port = 500;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_MALFORMED_REQUEST);
}
END_TEST

START_TEST(map_v4_portmap)
{
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_UDP, 9000, 0, 3600, 2);
	struct pcp_response r = send_pcp(&q);
	struct in6_addr wan = A("203.0.113.1");
	struct fw_elem e;

	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.op.ext_port, 9000);              /* no suggestion: the internal port */
	ck_assert(addr_equal(&r.op.ext_addr, &wan));
	ck_assert(has_portmap(IPPROTO_UDP, 9000, &e));
	ck_assert(addr_equal(&e.addr, &q.client_addr));
	ck_assert_uint_eq(e.port, 9000);

	/* a suggestion is honoured when free */
	q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 22, 2222, 3600, 2);
	/* internal port 22 is a low port: refused by the default policy */
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
	q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 8022, 2222, 3600, 2);
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.op.ext_port, 2222);
	ck_assert(has_portmap(IPPROTO_TCP, 2222, NULL));
}
END_TEST

START_TEST(map_v4_needs_wan_address)
{
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_UDP, 9000, 0, 3600, 2);
	struct pcp_response r;

	have_wan = false;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_NETWORK_FAILURE);
	ck_assert_uint_eq(r.lifetime, PCP_SERVER_SHORT_ERROR_S);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
}
END_TEST

START_TEST(map_v4_other_protocol)
{
	struct pcp_request q = map_req("::ffff:192.0.2.10", 47 /* GRE */, 0, 0, 3600, 2);

	ck_assert_uint_eq(send_pcp(&q).result, PCP_UNSUPP_PROTOCOL);
}
END_TEST

START_TEST(refresh_same_nonce_keeps)
{
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 5000, 6000, 600, 7);
	struct pcp_response r1, r2;
	struct rule *all;
	struct fw_elem e;

	r1 = send_pcp(&q);
	ck_assert_uint_eq(r1.result, PCP_SUCCESS);
	fake_now += 300;
	q.lifetime = 1200;
	q.op.ext_port = 0;                                   /* a refresh need not repeat the suggestion */
	r2 = send_pcp(&q);
	ck_assert_uint_eq(r2.result, PCP_SUCCESS);
	ck_assert_uint_eq(r2.op.ext_port, r1.op.ext_port);
	ck_assert_uint_eq(r2.lifetime, 1200);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_int_eq(all[0].expires, fake_now + 1200);
	free(all);
	ck_assert(has_portmap(IPPROTO_TCP, 6000, &e));
	ck_assert_uint_eq(e.timeout_ms, 1200 * 1000);
}
END_TEST

/* The mapping's own host with a new nonce (Tailscale makes one per request; Bitcoin Core and libtorrent
 * after a restart): renewed and deleted, the mapping takes the nonce; the same external port stays. */
START_TEST(new_nonce_from_own_host)
{
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 5000, 6000, 600, 7);
	struct pcp_response r1, r2;
	struct rule *all;
	uint32_t id;
	struct pcp_server_stats st;

	r1 = send_pcp(&q);
	ck_assert_uint_eq(r1.result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 1);
	id = all[0].id;
	free(all);
	memset(q.op.nonce, 8, PCP_NONCE_LEN);
	q.op.ext_port = 0;
	r2 = send_pcp(&q);
	ck_assert_uint_eq(r2.result, PCP_SUCCESS);
	ck_assert_uint_eq(r2.op.ext_port, r1.op.ext_port);
	ck_assert_mem_eq(r2.op.nonce, q.op.nonce, PCP_NONCE_LEN);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].id, id);
	ck_assert_uint_eq(all[0].nonce[0], 8);
	ck_assert_uint_eq(all[0].nonce[11], 8);
	free(all);
	pcp_server_stats(fx.srv, &st);
	ck_assert_uint_eq(st.nonces_replaced, 1);
	ck_assert_uint_eq(st.maps_refreshed, 1);
	/* and a release with yet another nonce deletes it */
	memset(q.op.nonce, 9, PCP_NONCE_LEN);
	q.lifetime = 0;
	r2 = send_pcp(&q);
	ck_assert_uint_eq(r2.result, PCP_SUCCESS);
	ck_assert_uint_eq(r2.lifetime, 0);
	ck_assert_uint_eq(rules(&all), 0);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
}
END_TEST

/* Anyone else with another nonce stays NOT_AUTHORIZED: another host naming it by THIRD_PARTY, on the
 * allow list or not, and the allowed third party that made it for that host. */
START_TEST(new_nonce_from_others_refused)
{
	struct pcp_server_params sp;
	struct pcp_request q;
	struct pcp_response r;

	teardown();
	memset(&sp, 0, sizeof(sp));
	sp.rate_off = true;
	sp.third_party[0] = A("2001:db8:1::1");
	sp.third_party_len[0] = 128;
	sp.n_third_party = 1;
	setup_with(&sp);
	/* the host itself made it */
	q = map_req("2001:db8:1::6", IPPROTO_UDP, 4000, 0, 600, 7);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	/* the allowed third party, with its own nonce */
	q = map_req("2001:db8:1::1", IPPROTO_UDP, 4000, 0, 600, 8);
	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::6");
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_NOT_AUTHORIZED);
	ck_assert_uint_eq(r.lifetime, PCP_SERVER_LONG_ERROR_S);
	ck_assert_mem_eq(r.op.nonce, q.op.nonce, PCP_NONCE_LEN);  /* errors copy the request back */
	q.lifetime = 0;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
	/* another LAN host, not on the list */
	q = map_req("2001:db8:1::5", IPPROTO_UDP, 4000, 0, 0, 9);
	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::6");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
	ck_assert(has_pinhole("2001:db8:1::6", IPPROTO_UDP, 4000));
	/* a mapping the allowed third party made for a host: it keeps the nonce it made it with, and
	 * may not take it over with another one */
	q = map_req("2001:db8:1::1", IPPROTO_TCP, 4001, 0, 600, 1);
	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::6");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	memset(q.op.nonce, 2, PCP_NONCE_LEN);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
	memset(q.op.nonce, 1, PCP_NONCE_LEN);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	/* while the host itself may (its own mapping, whoever asked for it) */
	q = map_req("2001:db8:1::6", IPPROTO_TCP, 4001, 0, 600, 3);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 2);
}
END_TEST

/* The same device, another address (temporary vs stable, device table): its own mapping too. */
START_TEST(new_nonce_from_own_device)
{
	struct pcp_request q;

	teardown();
	device_pair[0] = "2001:db8:1::5";
	device_pair[1] = "2001:db8:1::6";
	setup();
	q = map_req("2001:db8:1::6", IPPROTO_TCP, 8080, 0, 600, 1);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 600, 2);
	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::6");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	q.lifetime = 0;
	memset(q.op.nonce, 3, PCP_NONCE_LEN);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
	/* a third address, not of that device, is refused */
	q = map_req("2001:db8:1::6", IPPROTO_TCP, 8081, 0, 600, 1);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	q = map_req("2001:db8:1::7", IPPROTO_TCP, 8081, 0, 0, 2);
	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::6");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
	device_pair[0] = device_pair[1] = NULL;
}
END_TEST

/* Bitcoin Core: one nonce for all its mappings. Mappings are named by internal address, protocol and
 * port, never by the nonce: each is its own, and deleting one leaves the others. */
START_TEST(one_nonce_many_mappings)
{
	struct pcp_request q;
	struct rule *all;
	uint16_t ports[3] = { 8333, 8334, 18333 };

	for (int i = 0; i < 3; i++) {
		q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, ports[i], ports[i], 1200, 0x42);
		ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
		q = map_req("2001:db8:1::5", IPPROTO_TCP, ports[i], 0, 1200, 0x42);
		ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	}
	ck_assert_uint_eq(rules(&all), 6);
	free(all);
	/* a refresh of each keeps six */
	for (int i = 0; i < 3; i++) {
		q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, ports[i], ports[i], 1200, 0x42);
		ck_assert_uint_eq(send_pcp(&q).op.ext_port, ports[i]);
	}
	ck_assert_uint_eq(rules(&all), 6);
	free(all);
	q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 8334, 0, 0, 0x42);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 5);
	free(all);
	ck_assert(has_portmap(IPPROTO_TCP, 8333, NULL));
	ck_assert(!has_portmap(IPPROTO_TCP, 8334, NULL));
	ck_assert(has_portmap(IPPROTO_TCP, 18333, NULL));
}
END_TEST

START_TEST(lifetime_zero_deletes)
{
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 5000, 0, 600, 7);
	struct pcp_response r;

	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert(has_portmap(IPPROTO_TCP, 5000, NULL));
	q.lifetime = 0;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.lifetime, 0);
	ck_assert_uint_eq(r.op.ext_port, 5000);              /* the deleted mapping's port */
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
	/* deleting what is not there succeeds */
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
}
END_TEST

START_TEST(lifetime_clamped)
{
	struct pcp_request q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 10, 1);

	ck_assert_uint_eq(send_pcp(&q).lifetime, 120);
	q.lifetime = 1000000;
	ck_assert_uint_eq(send_pcp(&q).lifetime, 86400);
}
END_TEST

START_TEST(prefer_failure_taken_port)
{
	struct pcp_request a = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 8000, 8000, 600, 1);
	struct pcp_request b = map_req("::ffff:192.0.2.11", IPPROTO_TCP, 8000, 8000, 600, 2);
	struct pcp_response r;

	ck_assert_uint_eq(send_pcp(&a).result, PCP_SUCCESS);
	b.opt.prefer_failure = true;
	r = send_pcp(&b);
	ck_assert_uint_eq(r.result, PCP_CANNOT_PROVIDE_EXTERNAL);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
	/* without PREFER_FAILURE another port is given */
	b.opt.prefer_failure = false;
	r = send_pcp(&b);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_ne(r.op.ext_port, 8000);
	ck_assert_uint_ge(r.op.ext_port, 1024);
	/* and the same client asking for a second internal port on its own external port gets a second
	 * mapping, not its first one overwritten */
	a = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 8001, 8000, 600, 1);
	r = send_pcp(&a);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_ne(r.op.ext_port, 8000);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 3);
}
END_TEST

START_TEST(prefer_failure_pinhole_port)
{
	struct pcp_request q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 9090, 600, 1);

	q.opt.prefer_failure = true;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_CANNOT_PROVIDE_EXTERNAL);
	q.op.ext_port = 8080;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
}
END_TEST

START_TEST(filter_sets_remote)
{
	struct pcp_request q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 600, 1);
	struct pcp_response r;
	struct rule *all;
	struct in6_addr peer = A("2001:db8:99::1");

	q.opt.n_filters = 1;
	q.opt.filters[0].prefix_len = 128;
	q.opt.filters[0].port = 443;
	q.opt.filters[0].addr = peer;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.opt.n_filters, 1);               /* honoured options are echoed */
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].remote_len, 128);
	ck_assert_uint_eq(all[0].remote_port, 443);
	ck_assert(addr_equal(&all[0].remote, &peer));
	free(all);
	/* a refresh dropping the filter (prefix length 0) replaces the rule by an unfiltered one */
	q.opt.filters[0].prefix_len = 0;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].remote_len, 0);
	free(all);
	/* two peers: the firewall keeps one per rule */
	q.opt.n_filters = 2;
	q.opt.filters[0].prefix_len = 128;
	q.opt.filters[1] = q.opt.filters[0];
	ck_assert_uint_eq(send_pcp(&q).result, PCP_EXCESSIVE_REMOTE_PEERS);
	/* an IPv4 peer for an IPv6 mapping makes no sense */
	q.opt.n_filters = 1;
	q.opt.filters[0].addr = A("::ffff:198.51.100.7");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_MALFORMED_OPTION);
}
END_TEST

START_TEST(filter_v4)
{
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 8080, 0, 600, 1);
	struct rule *all;

	/* the NAT44 maps filter on one remote host, with or without its port: anything wider is
	 * refused rather than silently opened wider than asked */
	q.opt.n_filters = 1;
	q.opt.filters[0].prefix_len = 120;
	q.opt.filters[0].addr = A("::ffff:198.51.100.7");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_UNSUPP_OPTION);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
	/* one port of that host: only it (@pm4_remote_port) */
	q.opt.filters[0].prefix_len = 128;
	q.opt.filters[0].port = 443;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert(has_peer_portmap(IPPROTO_TCP, 8080, "::ffff:198.51.100.7", 443, NULL));
	ck_assert(!has_peer_portmap(IPPROTO_TCP, 8080, "::ffff:198.51.100.7", 0, NULL));
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].remote_port, 443);
	free(all);
	/* the same MAP with the host's every port: the rule is replaced, on the same external port */
	q.opt.filters[0].port = 0;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].remote_len, 128);
	ck_assert_uint_eq(all[0].remote_port, 0);
	free(all);
	ck_assert(has_peer_portmap(IPPROTO_TCP, 8080, "::ffff:198.51.100.7", 0, NULL));
	ck_assert(!has_peer_portmap(IPPROTO_TCP, 8080, "::ffff:198.51.100.7", 443, NULL));
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
}
END_TEST

START_TEST(third_party_unauthorised)
{
	struct pcp_request q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 600, 1);

	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::6");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
}
END_TEST

/* An app speaking from its temporary address names its device's stable one (issue 11): no allow
 * list needed for the requester's own device, and the answer carries the option it honoured. */
START_TEST(third_party_own_device)
{
	struct pcp_request q;
	struct pcp_response r;

	teardown();
	device_pair[0] = "2001:db8:1::5";
	device_pair[1] = "2001:db8:1::6";
	setup();
	q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 600, 1);
	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::6");
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert(r.opt.has_third_party);
	ck_assert(has_pinhole("2001:db8:1::6", IPPROTO_TCP, 8080));
	/* another device's address stays refused */
	q = map_req("2001:db8:1::5", IPPROTO_TCP, 8081, 0, 600, 2);
	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::7");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
	device_pair[0] = device_pair[1] = NULL;
}
END_TEST

START_TEST(third_party_authorised)
{
	struct pcp_server_params sp;
	struct pcp_request q;
	struct pcp_response r;

	teardown();
	memset(&sp, 0, sizeof(sp));
	sp.rate_off = true;
	sp.third_party[0] = A("2001:db8:1::1");
	sp.third_party_len[0] = 128;
	sp.n_third_party = 1;
	setup_with(&sp);
	q = map_req("2001:db8:1::1", IPPROTO_TCP, 8080, 0, 600, 1);
	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::6");
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert(r.opt.has_third_party);
	ck_assert(addr_equal(&r.op.ext_addr, &q.opt.third_party));
	ck_assert(has_pinhole("2001:db8:1::6", IPPROTO_TCP, 8080));
	/* the third party itself is not the owner: the nonce holder (the IWF) refreshes */
	q.lifetime = 0;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
}
END_TEST

START_TEST(description_stored)
{
	struct pcp_request q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 600, 1);
	struct pcp_response r;
	struct rule *all;

	q.opt.has_description = true;
	strcpy(q.opt.description, "m\xc3\xa9" "dia server");
	q.opt.description_len = (uint16_t)strlen(q.opt.description);
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert(r.opt.has_description);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_str_eq(all[0].desc, "m\xc3\xa9" "dia server");
	free(all);
}
END_TEST

START_TEST(description_too_long_cut)
{
	struct pcp_request q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 600, 1);
	struct pcp_response r;
	struct rule *all;
	size_t n = 0;

	/* 200 two-octet characters: 400 octets, cut to whole characters within 255 */
	for (int i = 0; i < 200; i++) {
		q.opt.description[n++] = (char)0xc3;
		q.opt.description[n++] = (char)0xa9;
	}
	q.opt.description[n] = '\0';
	q.opt.has_description = true;
	q.opt.description_len = (uint16_t)n;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.opt.description_len, 254);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(strlen(all[0].desc), 254);
	free(all);
}
END_TEST

START_TEST(address_mismatch)
{
	struct pcp_request q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 600, 1);

	ck_assert_uint_eq(send_from(&q, "2001:db8:1::7").result, PCP_ADDRESS_MISMATCH);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
}
END_TEST

START_TEST(bad_target_refused)
{
	struct pcp_request q = map_req("fe80::5", IPPROTO_TCP, 8080, 0, 600, 1);

	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
}
END_TEST

/* ---------- PEER ---------- */

static struct pcp_request peer_req(const char *client, uint8_t proto, uint16_t iport, const char *peer,
				   uint16_t peer_port, uint32_t lifetime, uint8_t nonce_byte)
{
	struct pcp_request q = map_req(client, proto, iport, 0, lifetime, nonce_byte);

	q.opcode = PCP_OP_PEER;
	q.op.peer_addr = A(peer);
	q.op.peer_port = peer_port;
	return q;
}

static bool has_peer_pinhole(const char *addr, uint16_t proto, uint16_t port, const char *peer, uint16_t peer_port)
{
	struct fw_elem k;

	memset(&k, 0, sizeof(k));
	k.proto = proto;
	k.addr = A(addr);
	k.port = port;
	k.remote = A(peer);
	k.remote_len = 128;
	k.remote_port = peer_port;
	return fw_mem_has(fx.fw, &k, NULL);
}


START_TEST(peer_v6_remote_filtered_pinhole)
{
	struct pcp_request q = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000, 600, 1);
	struct pcp_response r = send_pcp(&q);
	struct in6_addr peer = A("2001:db8:99::1");
	struct rule *all;

	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.lifetime, 600);
	ck_assert_uint_eq(r.op.ext_port, 4000);              /* no translation: the internal endpoint */
	ck_assert(addr_equal(&r.op.ext_addr, &q.client_addr));
	ck_assert_uint_eq(r.op.peer_port, 5000);             /* the remote peer is echoed */
	ck_assert(addr_equal(&r.op.peer_addr, &peer));
	ck_assert(has_peer_pinhole("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000));
	ck_assert(!has_pinhole("2001:db8:1::5", IPPROTO_UDP, 4000));  /* never open to everyone */
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_int_eq(all[0].kind, RULE_PINHOLE);
	ck_assert_int_eq(all[0].origin, ORIGIN_PCP_PEER);
	ck_assert_uint_eq(all[0].remote_len, 128);
	ck_assert_uint_eq(all[0].remote_port, 5000);
	ck_assert_str_eq(all[0].desc, "PCP PEER to [2001:db8:99::1]:5000");
	free(all);
}
END_TEST

START_TEST(peer_refresh_nonce_delete)
{
	struct pcp_request q = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000, 600, 1);
	struct pcp_response r;
	struct rule *all;
	uint32_t id;

	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 1);
	id = all[0].id;
	free(all);
	/* the same nonce extends it (clamped as MAP) */
	q.lifetime = 900;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.lifetime, 900);
	q.lifetime = 10;
	ck_assert_uint_eq(send_pcp(&q).lifetime, 120);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].id, id);
	free(all);
	/* its own host with another nonce (the app restarted) renews the same PEER, which takes the nonce */
	memset(q.op.nonce, 2, PCP_NONCE_LEN);
	q.lifetime = 600;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].id, id);
	ck_assert_uint_eq(all[0].nonce[0], 2);
	free(all);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
	/* lifetime 0 deletes it, and answers lifetime 0 */
	q.lifetime = 0;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.lifetime, 0);
	ck_assert_uint_eq(r.op.ext_port, 4000);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
	ck_assert_uint_eq(rules(&all), 0);
	/* deleting what is gone succeeds */
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
}
END_TEST

START_TEST(peer_per_remote_and_beside_map)
{
	struct pcp_request p1 = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000, 600, 1);
	struct pcp_request p2 = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5001, 600, 2);
	struct pcp_request p3 = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::2", 5000, 600, 3);
	struct pcp_request m = map_req("2001:db8:1::5", IPPROTO_UDP, 4000, 0, 600, 4);
	struct rule *all;

	/* each remote peer is a mapping of its own, and so is the MAP of the same internal port, each
	 * with its own nonce */
	ck_assert_uint_eq(send_pcp(&p1).result, PCP_SUCCESS);
	ck_assert_uint_eq(send_pcp(&p2).result, PCP_SUCCESS);
	ck_assert_uint_eq(send_pcp(&p3).result, PCP_SUCCESS);
	ck_assert_uint_eq(send_pcp(&m).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 4);
	free(all);
	ck_assert(has_pinhole("2001:db8:1::5", IPPROTO_UDP, 4000));
	ck_assert(has_peer_pinhole("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5001));
	/* deleting the MAP leaves the PEERs */
	m.lifetime = 0;
	ck_assert_uint_eq(send_pcp(&m).result, PCP_SUCCESS);
	ck_assert(!has_pinhole("2001:db8:1::5", IPPROTO_UDP, 4000));
	ck_assert_uint_eq(fw_mem_count(fx.fw), 3);
	/* and deleting one PEER leaves the others */
	p2.lifetime = 0;
	ck_assert_uint_eq(send_pcp(&p2).result, PCP_SUCCESS);
	ck_assert(has_peer_pinhole("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000));
	ck_assert(has_peer_pinhole("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::2", 5000));
	ck_assert_uint_eq(fw_mem_count(fx.fw), 2);
}
END_TEST

START_TEST(peer_v4_external_port)
{
	struct pcp_request q = peer_req("::ffff:192.0.2.10", IPPROTO_UDP, 40000, "::ffff:198.51.100.7", 443, 600, 1);
	struct pcp_request m;
	struct pcp_response r = send_pcp(&q);
	struct in6_addr wan = A("::ffff:203.0.113.1"), peer = A("::ffff:198.51.100.7");
	struct fw_elem e;
	struct rule *all;

	/* no suggestion: the internal port, the one masquerade leaves the flow on */
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.op.ext_port, 40000);
	ck_assert(addr_equal(&r.op.ext_addr, &wan));
	ck_assert_uint_eq(r.op.peer_port, 443);
	ck_assert(addr_equal(&r.op.peer_addr, &peer));
	ck_assert(has_peer_portmap(IPPROTO_UDP, 40000, "::ffff:198.51.100.7", 443, &e));
	ck_assert(!has_peer_portmap(IPPROTO_UDP, 40000, "::ffff:198.51.100.7", 0, NULL));   /* not every port */
	ck_assert(addr_equal(&e.addr, &q.client_addr));
	ck_assert_uint_eq(e.port, 40000);
	ck_assert(!has_portmap(IPPROTO_UDP, 40000, NULL));     /* never open to everyone */
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].remote_port, 443);            /* the peer's port is in the NAT map's key */
	ck_assert_str_eq(all[0].desc, "PCP PEER to 198.51.100.7:443");
	free(all);
	/* another host, same internal port and peer: that external port is taken, another is given */
	q = peer_req("::ffff:192.0.2.11", IPPROTO_UDP, 40000, "::ffff:198.51.100.7", 443, 600, 1);
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_ne(r.op.ext_port, 40000);
	/* a free suggestion is taken */
	q = peer_req("::ffff:192.0.2.10", IPPROTO_UDP, 40100, "::ffff:198.51.100.7", 443, 600, 1);
	q.op.ext_port = 45000;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 45000);
	/* a taken suggestion falls back to the internal port */
	q = peer_req("::ffff:192.0.2.11", IPPROTO_UDP, 40200, "::ffff:198.51.100.7", 443, 600, 1);
	q.op.ext_port = 45000;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 40200);
	/* a port another host's MAP holds is not taken from it for this peer ... */
	m = map_req("::ffff:192.0.2.12", IPPROTO_UDP, 41000, 41000, 600, 1);
	ck_assert_uint_eq(send_pcp(&m).op.ext_port, 41000);
	q = peer_req("::ffff:192.0.2.10", IPPROTO_UDP, 41000, "::ffff:198.51.100.7", 443, 600, 1);
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_ne(r.op.ext_port, 41000);
	/* ... but a MAP of the same host and internal port shares it: the flow and both agree */
	m = map_req("::ffff:192.0.2.10", IPPROTO_UDP, 42000, 42000, 600, 1);
	ck_assert_uint_eq(send_pcp(&m).op.ext_port, 42000);
	q = peer_req("::ffff:192.0.2.10", IPPROTO_UDP, 42000, "::ffff:198.51.100.7", 443, 600, 1);
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 42000);
	ck_assert(has_portmap(IPPROTO_UDP, 42000, NULL));
	ck_assert(has_peer_portmap(IPPROTO_UDP, 42000, "::ffff:198.51.100.7", 443, NULL));
	/* another port of the same peer is another flow: a mapping of its own, on the same external
	 * port (one internal endpoint), admitting that port only */
	q.op.peer_port = 444;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 42000);
	ck_assert(has_peer_portmap(IPPROTO_UDP, 42000, "::ffff:198.51.100.7", 444, NULL));
	ck_assert_uint_eq(rules(&all), 9);
	free(all);
	/* another host's PEER to that peer's every-port... its one port is not taken from under the
	 * host-wide mapping of someone else: a filtered mapping never shadows another endpoint's wider one */
	m = map_req("::ffff:192.0.2.13", IPPROTO_UDP, 46000, 46000, 600, 1);
	m.opt.n_filters = 1;
	m.opt.filters[0].prefix_len = 128;
	m.opt.filters[0].addr = A("::ffff:198.51.100.7");
	ck_assert_uint_eq(send_pcp(&m).op.ext_port, 46000);
	q = peer_req("::ffff:192.0.2.10", IPPROTO_UDP, 46000, "::ffff:198.51.100.7", 443, 600, 1);
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_ne(r.op.ext_port, 46000);
	/* a protocol a NAT44 mapping cannot carry */
	q = peer_req("::ffff:192.0.2.10", 132, 42000, "::ffff:198.51.100.7", 443, 600, 1);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_UNSUPP_PROTOCOL);
	/* no WAN address yet */
	have_wan = false;
	q = peer_req("::ffff:192.0.2.10", IPPROTO_UDP, 43000, "::ffff:198.51.100.7", 443, 600, 1);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NETWORK_FAILURE);
}
END_TEST

/* A PEER request followed by raw option bytes (the codec will not build options invalid for PEER). */
static struct pcp_response send_peer_with_option(const struct pcp_request *q, const uint8_t *opt, size_t optlen)
{
	uint8_t in[PCP_MAX_MSG], out[PCP_MAX_MSG];
	struct pcp_response r;
	size_t n = pcp_wire_build_request(q, in, sizeof(in)), m;

	ck_assert_uint_gt(n, 0);
	memcpy(in + n, opt, optlen);
	m = pcp_server_handle(fx.srv, in, n + optlen, &q->client_addr, now_ms, out, sizeof(out));
	ck_assert_uint_gt(m, 0);
	ck_assert_int_eq(pcp_wire_parse_response(out, m, &r), PCP_PARSE_OK);
	return r;
}

START_TEST(peer_malformed)
{
	static const uint8_t prefer_failure[4] = { PCP_OPT_PREFER_FAILURE, 0, 0, 0 };
	static const uint8_t filter[24] = { PCP_OPT_FILTER, 0, 0, 20, 0, 128 };
	struct pcp_request q = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000, 600, 1);

	q.op.protocol = 0;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_MALFORMED_REQUEST);
	q.op.protocol = IPPROTO_UDP;
	q.op.internal_port = 0;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_MALFORMED_REQUEST);
	q.op.internal_port = 4000;
	q.op.peer_port = 0;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_MALFORMED_REQUEST);
	q.op.peer_port = 5000;
	q.op.peer_addr = A("::");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_MALFORMED_REQUEST);
	q.op.peer_addr = A("::ffff:198.51.100.7");              /* a peer of the other family */
	ck_assert_uint_eq(send_pcp(&q).result, PCP_MALFORMED_REQUEST);
	q = peer_req("::ffff:192.0.2.10", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000, 600, 1);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_MALFORMED_REQUEST);
	q = peer_req("2001:db8:1::5", 50, 4000, "2001:db8:99::1", 5000, 600, 1);  /* ESP has no ports */
	ck_assert_uint_eq(send_pcp(&q).result, PCP_MALFORMED_REQUEST);
	/* PREFER_FAILURE and FILTER are MAP options (RFC 6887 13.2, 13.3) */
	q = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000, 600, 1);
	ck_assert_uint_eq(send_peer_with_option(&q, prefer_failure, sizeof(prefer_failure)).result,
			  PCP_MALFORMED_OPTION);
	ck_assert_uint_eq(send_peer_with_option(&q, filter, sizeof(filter)).result, PCP_MALFORMED_OPTION);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
}
END_TEST

START_TEST(peer_description_and_third_party)
{
	struct pcp_request q = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000, 600, 1);
	struct pcp_response r;
	struct rule *all;

	q.opt.has_description = true;
	strcpy(q.opt.description, "voice call");
	q.opt.description_len = (uint16_t)strlen(q.opt.description);
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert(r.opt.has_description);
	ck_assert_str_eq(r.opt.description, "voice call");
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_str_eq(all[0].desc, "PCP PEER to [2001:db8:99::1]:5000: voice call");
	free(all);
	/* a long one is cut to what fits after the flow, and the reply says what was kept */
	q = peer_req("2001:db8:1::5", IPPROTO_UDP, 4001, "2001:db8:99::1", 5000, 600, 1);
	q.opt.has_description = true;
	memset(q.opt.description, 'x', 400);
	q.opt.description[400] = '\0';
	q.opt.description_len = 400;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 2);
	ck_assert_uint_eq(strlen(all[1].desc), RULE_DESC_MAX);
	ck_assert_uint_eq(strlen(all[1].desc), strlen("PCP PEER to [2001:db8:99::1]:5000: ") + r.opt.description_len);
	free(all);
	/* THIRD_PARTY as for MAP: only from an allowed requester */
	q = peer_req("2001:db8:1::5", IPPROTO_UDP, 4002, "2001:db8:99::1", 5000, 600, 1);
	q.opt.has_third_party = true;
	q.opt.third_party = A("2001:db8:1::6");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_NOT_AUTHORIZED);
}
END_TEST

START_TEST(peer_index_survives_restart)
{
	struct pcp_request p = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::1", 5000, 600, 1);
	struct pcp_request m = map_req("2001:db8:1::5", IPPROTO_UDP, 4000, 0, 600, 2);
	struct pcp_server_params sp;
	struct rule *all;

	ck_assert_uint_eq(send_pcp(&p).result, PCP_SUCCESS);
	ck_assert_uint_eq(send_pcp(&m).result, PCP_SUCCESS);
	/* a new server on the same core tells the PEER from the MAP (the core names them) */
	pcp_server_free(fx.srv);
	memset(&sp, 0, sizeof(sp));
	sp.core = fx.core;
	sp.ext_addr = wan_getter;
	sp.rate_off = true;
	fx.srv = pcp_server_new(&sp, now_ms);
	/* a restarted app (new nonce) renews the PEER it had, not a new one */
	memset(p.op.nonce, 9, PCP_NONCE_LEN);
	ck_assert_uint_eq(send_pcp(&p).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 2);
	free(all);
	ck_assert_uint_eq(send_pcp(&p).result, PCP_SUCCESS);
	m.lifetime = 0;
	ck_assert_uint_eq(send_pcp(&m).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_uint_eq(all[0].remote_len, 128);
	free(all);
}
END_TEST

/* pcpd on a CGN (pool 198.51.100.0/30, blocks of 1024 from 1024: 63 per address). A PEER installs
 * what it answers: the DNAT from the peer's address and port on the subscriber's pool address
 * (@pm4_addr_remote_port) and the flow's SNAT (fw_elem.flow), on a port of its block. */
START_TEST(peer_cgn_installs_its_mapping)
{
	struct cgn_config cc;
	struct pcp_server_params sp;
	struct pcp_request q, m;
	struct pcp_response r;
	struct fw_elem e;
	struct rule *all;
	struct cgn *g;
	char err[128];
	uint16_t first;

	memset(&cc, 0, sizeof(cc));
	cc.pool[0].s_addr = htonl(0xc6336400);  /* 198.51.100.0/30 */
	cc.pool_len[0] = 30;
	cc.n_pool = 1;
	cc.subs.s_addr = htonl(0x64400000);     /* 100.64.0.0/10 */
	cc.subs_len = 10;
	cc.port_min = 1024;
	cc.port_max = 65535;
	cc.ports_per_sub = 1024;
	g = cgn_new(&cc, err, sizeof(err));
	ck_assert_msg(g != NULL, "cgn_new: %s", err);
	teardown();
	memset(&sp, 0, sizeof(sp));
	sp.rate_off = true;
	sp.cgn = g;
	setup_with(&sp);
	/* subscriber 10: 198.51.100.0, ports 11264-12287; no suggestion: the internal port's place */
	q = peer_req("::ffff:100.64.0.10", IPPROTO_UDP, 4000, "::ffff:203.0.113.9", 443, 600, 1);
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.lifetime, 600);
	ck_assert(addr_is(&r.op.ext_addr, "::ffff:198.51.100.0"));
	first = r.op.ext_port;
	ck_assert_uint_eq(first, 11264 + 4000 % 1024);
	ck_assert(has_pool_portmap("198.51.100.0", IPPROTO_UDP, first, "::ffff:203.0.113.9", 443, &e));
	ck_assert(e.flow);                                   /* with the flow's own SNAT */
	ck_assert(addr_is(&e.addr, "::ffff:100.64.0.10"));
	ck_assert_uint_eq(e.port, 4000);
	ck_assert(!has_pool_portmap("198.51.100.0", IPPROTO_UDP, first, "::ffff:203.0.113.9", 0, NULL));
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
	/* a refresh keeps it */
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, first);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
	/* the same endpoint to another peer: the same external port (endpoint-independent) */
	q = peer_req("::ffff:100.64.0.10", IPPROTO_UDP, 4000, "::ffff:203.0.113.10", 3478, 600, 2);
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, first);
	/* a suggestion in the block is honoured; one outside it is not (another port of the block) */
	q = peer_req("::ffff:100.64.0.10", IPPROTO_UDP, 4001, "::ffff:203.0.113.9", 443, 600, 3);
	q.op.ext_port = 11300;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 11300);
	q = peer_req("::ffff:100.64.0.10", IPPROTO_TCP, 4002, "::ffff:203.0.113.9", 443, 600, 4);
	q.op.ext_port = 5000;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert(r.op.ext_port >= 11264 && r.op.ext_port <= 12287);
	/* an endpoint with a MAP: its PEER is on the MAP's port, whatever it suggests */
	m = map_req("::ffff:100.64.0.10", IPPROTO_UDP, 5000, 11500, 600, 5);
	ck_assert_uint_eq(send_pcp(&m).op.ext_port, 11500);
	q = peer_req("::ffff:100.64.0.10", IPPROTO_UDP, 5000, "::ffff:203.0.113.9", 443, 600, 5);
	q.op.ext_port = 11600;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 11500);
	ck_assert(has_pool_portmap("198.51.100.0", IPPROTO_UDP, 11500, NULL, 0, NULL));
	ck_assert(has_pool_portmap("198.51.100.0", IPPROTO_UDP, 11500, "::ffff:203.0.113.9", 443, NULL));
	/* subscriber 73 has block 10 of the next address: the same ports. The same internal port and
	 * peer give the same external port there, and both are installed side by side */
	q = peer_req("::ffff:100.64.0.73", IPPROTO_UDP, 4000, "::ffff:203.0.113.9", 443, 600, 6);
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert(addr_is(&r.op.ext_addr, "::ffff:198.51.100.1"));
	ck_assert_uint_eq(r.op.ext_port, first);
	ck_assert(has_pool_portmap("198.51.100.1", IPPROTO_UDP, first, "::ffff:203.0.113.9", 443, &e));
	ck_assert(addr_is(&e.addr, "::ffff:100.64.0.73"));
	ck_assert(has_pool_portmap("198.51.100.0", IPPROTO_UDP, first, "::ffff:203.0.113.9", 443, &e));
	ck_assert(addr_is(&e.addr, "::ffff:100.64.0.10"));
	ck_assert_uint_eq(rules(&all), 7);
	free(all);
	/* lifetime 0 deletes it */
	q = peer_req("::ffff:100.64.0.73", IPPROTO_UDP, 4000, "::ffff:203.0.113.9", 443, 0, 6);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert(!has_pool_portmap("198.51.100.1", IPPROTO_UDP, first, "::ffff:203.0.113.9", 443, NULL));
	teardown();
	setup();
	cgn_free(g);
}
END_TEST

/* What the connection tracker says a running flow has (the flow_ext hook), for the test below. */
static struct {
	struct in_addr internal, remote, ext;
	uint16_t int_port, remote_port, ext_port;
	unsigned calls;
} ct_now;

static bool fake_flow_ext(void *arg, struct in_addr internal, uint16_t int_port, struct in_addr remote,
			  uint16_t remote_port, uint8_t proto, struct in_addr *ext, uint16_t *ext_port)
{
	(void)arg;
	ct_now.calls++;
	if (proto != IPPROTO_UDP || internal.s_addr != ct_now.internal.s_addr || int_port != ct_now.int_port ||
	    remote.s_addr != ct_now.remote.s_addr || remote_port != ct_now.remote_port)
		return false;
	*ext = ct_now.ext;
	*ext_port = ct_now.ext_port;
	return true;
}

/* A PEER for a flow that runs already (RFC 6887 12.3) reuses its mapping: the port the block map gave
 * it, over a MAP's port or a suggestion; a port outside the subscriber's block or on another address
 * (the pool rule's) is no mapping of the block, and the usual choice stands. */
START_TEST(peer_cgn_running_flow)
{
	struct cgn_config cc;
	struct pcp_server_params sp;
	struct pcp_request q, m;
	struct pcp_response r;
	struct cgn *g;
	char err[128];

	memset(&cc, 0, sizeof(cc));
	cc.pool[0].s_addr = htonl(0xc6336400);  /* 198.51.100.0/30 */
	cc.pool_len[0] = 30;
	cc.n_pool = 1;
	cc.subs.s_addr = htonl(0x64400000);     /* 100.64.0.0/10 */
	cc.subs_len = 10;
	cc.port_min = 1024;
	cc.port_max = 65535;
	cc.ports_per_sub = 1024;
	g = cgn_new(&cc, err, sizeof(err));
	ck_assert_msg(g != NULL, "cgn_new: %s", err);
	teardown();
	memset(&sp, 0, sizeof(sp));
	sp.rate_off = true;
	sp.cgn = g;
	sp.flow_ext = fake_flow_ext;
	setup_with(&sp);
	memset(&ct_now, 0, sizeof(ct_now));
	inet_pton(AF_INET, "100.64.0.10", &ct_now.internal);
	inet_pton(AF_INET, "203.0.113.9", &ct_now.remote);
	inet_pton(AF_INET, "198.51.100.0", &ct_now.ext);
	ct_now.int_port = 4000;
	ct_now.remote_port = 443;
	ct_now.ext_port = 11999;                 /* in subscriber 10's block 11264-12287 */
	q = peer_req("::ffff:100.64.0.10", IPPROTO_UDP, 4000, "::ffff:203.0.113.9", 443, 600, 1);
	q.op.ext_port = 11300;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.op.ext_port, 11999);
	ck_assert_uint_eq(ct_now.calls, 1);
	ck_assert(has_pool_portmap("198.51.100.0", IPPROTO_UDP, 11999, "::ffff:203.0.113.9", 443, NULL));
	/* the refresh asks nothing: the mapping is there */
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 11999);
	ck_assert_uint_eq(ct_now.calls, 1);
	/* over the endpoint's MAP too: the flow left before the MAP was made */
	m = map_req("::ffff:100.64.0.10", IPPROTO_UDP, 4000, 11500, 600, 2);
	ck_assert_uint_eq(send_pcp(&m).op.ext_port, 11500);
	q = peer_req("::ffff:100.64.0.10", IPPROTO_UDP, 4000, "::ffff:203.0.113.9", 443, 0, 1);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	q.lifetime = 600;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 11999);
	/* a port beyond the block (the pool rule's): the MAP's port */
	ct_now.ext_port = 30000;
	q.lifetime = 0;
	send_pcp(&q);
	q.lifetime = 600;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 11500);
	/* no such flow: the suggestion */
	q = peer_req("::ffff:100.64.0.10", IPPROTO_UDP, 4001, "::ffff:203.0.113.9", 443, 600, 3);
	q.op.ext_port = 11300;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 11300);
	teardown();
	setup();
	cgn_free(g);
}
END_TEST

/* A CPE: a PEER for a flow masquerade moved off its port (another host holds it toward the same peer)
 * names the port the connection tracker shows on the WAN address; one on another address is not ours. */
START_TEST(peer_v4_running_flow)
{
	struct pcp_server_params sp;
	struct pcp_request q;

	teardown();
	memset(&sp, 0, sizeof(sp));
	sp.rate_off = true;
	sp.flow_ext = fake_flow_ext;
	setup_with(&sp);
	memset(&ct_now, 0, sizeof(ct_now));
	inet_pton(AF_INET, "192.0.2.10", &ct_now.internal);
	inet_pton(AF_INET, "198.51.100.7", &ct_now.remote);
	inet_pton(AF_INET, "203.0.113.1", &ct_now.ext);     /* the WAN address (wan_getter) */
	ct_now.int_port = 40000;
	ct_now.remote_port = 443;
	ct_now.ext_port = 40321;
	q = peer_req("::ffff:192.0.2.10", IPPROTO_UDP, 40000, "::ffff:198.51.100.7", 443, 600, 1);
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 40321);
	ck_assert(has_peer_portmap(IPPROTO_UDP, 40321, "::ffff:198.51.100.7", 443, NULL));
	q.lifetime = 0;
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	inet_pton(AF_INET, "203.0.113.99", &ct_now.ext);    /* not our WAN address: the internal port */
	q.lifetime = 600;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, 40000);
}
END_TEST

/* ---------- epoch, ANNOUNCE, versions ---------- */

START_TEST(epoch_and_announce)
{
	struct pcp_request q;
	struct pcp_response r;
	uint8_t buf[PCP_MAX_MSG];
	size_t n;

	memset(&q, 0, sizeof(q));
	q.opcode = PCP_OP_ANNOUNCE;
	q.client_addr = A("2001:db8:1::5");
	now_ms += 42500;
	r = send_pcp(&q);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.lifetime, 0);
	ck_assert_uint_eq(r.epoch, 42);
	ck_assert_uint_eq(pcp_server_epoch(fx.srv, now_ms), 42);
	pcp_server_reset_epoch(fx.srv, now_ms);
	ck_assert_uint_eq(send_pcp(&q).epoch, 0);
	now_ms += 3000;
	n = pcp_server_announce(fx.srv, now_ms, buf, sizeof(buf));
	ck_assert_uint_eq(n, PCP_HDR_LEN);
	ck_assert_int_eq(pcp_wire_parse_response(buf, n, &r), PCP_PARSE_OK);
	ck_assert_uint_eq(r.opcode, PCP_OP_ANNOUNCE);
	ck_assert_uint_eq(r.epoch, 3);
	n = pcp_server_natpmp_announce(fx.srv, now_ms, buf, sizeof(buf));
	ck_assert_uint_eq(n, NATPMP_EXTERNAL_RESP_LEN);
	ck_assert_uint_eq(buf[1], 128);
}
END_TEST

START_TEST(unsupp_version_echoes_body)
{
	uint8_t in[60], out[PCP_MAX_MSG];
	struct in6_addr src = A("2001:db8:1::5");
	size_t n;

	memset(in, 0x11, sizeof(in));
	in[0] = 1;               /* pre-RFC version 1 */
	in[1] = PCP_OP_MAP;
	n = pcp_server_handle(fx.srv, in, sizeof(in), &src, now_ms, out, sizeof(out));
	ck_assert_uint_eq(n, 60);
	ck_assert_uint_eq(out[0], PCP_VERSION);
	ck_assert_uint_eq(out[1], 0x80 | PCP_OP_MAP);
	ck_assert_uint_eq(out[3], PCP_UNSUPP_VERSION);
	ck_assert_mem_eq(out + PCP_HDR_LEN, in + PCP_HDR_LEN, 36);
	/* a runt of an unknown version still gets whole MAP opcode data (zeros) */
	in[0] = 3;
	n = pcp_server_handle(fx.srv, in, 4, &src, now_ms, out, sizeof(out));
	ck_assert_uint_eq(n, PCP_HDR_LEN + PCP_MAP_LEN);
	ck_assert_uint_eq(out[3], PCP_UNSUPP_VERSION);
}
END_TEST

START_TEST(malformed_gets_result_codes)
{
	uint8_t in[64], out[PCP_MAX_MSG];
	struct in6_addr src = A("2001:db8:1::5");
	size_t n;

	memset(in, 0, sizeof(in));
	in[0] = 2;
	in[1] = PCP_OP_MAP;
	memcpy(in + 8, &src, 16);
	/* MAP without opcode data: MALFORMED_REQUEST, answered with zeroed opcode data */
	n = pcp_server_handle(fx.srv, in, 24, &src, now_ms, out, sizeof(out));
	ck_assert_uint_eq(n, PCP_HDR_LEN + PCP_MAP_LEN);
	ck_assert_uint_eq(out[3], PCP_MALFORMED_REQUEST);
	/* unknown opcode */
	in[1] = 5;
	n = pcp_server_handle(fx.srv, in, 24, &src, now_ms, out, sizeof(out));
	ck_assert_uint_eq(n, PCP_HDR_LEN);
	ck_assert_uint_eq(out[3], PCP_UNSUPP_OPCODE);
	/* a response is never answered (two servers must not loop) */
	in[1] = 0x81;
	ck_assert_uint_eq(pcp_server_handle(fx.srv, in, 60, &src, now_ms, out, sizeof(out)), 0);
	/* unknown mandatory option */
	in[1] = PCP_OP_MAP;
	in[24 + 12] = IPPROTO_TCP;
	in[24 + 16] = 0x1f;
	in[60] = 99;
	n = pcp_server_handle(fx.srv, in, 64, &src, now_ms, out, sizeof(out));
	ck_assert_uint_eq(out[3], PCP_UNSUPP_OPTION);
	ck_assert_uint_eq(n, 64);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
}
END_TEST

/* ---------- NAT-PMP ---------- */

static size_t natpmp(const uint8_t *in, size_t len, const char *src, uint8_t *out)
{
	struct in6_addr s = A(src);

	return pcp_server_handle(fx.srv, in, len, &s, now_ms, out, PCP_MAX_MSG);
}

START_TEST(natpmp_external_and_map)
{
	uint8_t out[PCP_MAX_MSG], ext_req[2] = { 0, 0 }, in[NATPMP_MAP_REQ_LEN];
	struct natpmp_request q = { .op = NATPMP_OP_MAP_UDP, .internal_port = 5060, .ext_port = 5060,
				    .lifetime = 3600 };
	struct natpmp_response r;
	struct rule *all;
	size_t n;

	n = natpmp(ext_req, 2, "192.0.2.10", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.result, NATPMP_SUCCESS);
	ck_assert_uint_eq(r.ext_addr[0], 203);
	ck_assert_uint_eq(r.ext_addr[3], 1);

	n = natpmp_wire_build_request(&q, in, sizeof(in));
	n = natpmp(in, n, "192.0.2.10", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.result, NATPMP_SUCCESS);
	ck_assert_uint_eq(r.ext_port, 5060);
	ck_assert_uint_eq(r.lifetime, 3600);
	ck_assert(has_portmap(IPPROTO_UDP, 5060, NULL));
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_int_eq(all[0].origin, ORIGIN_NATPMP);
	ck_assert(!all[0].has_nonce);
	free(all);
	/* refresh keeps it; another host asking for the same port gets another one */
	n = natpmp(in, natpmp_wire_build_request(&q, in, sizeof(in)), "192.0.2.10", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.ext_port, 5060);
	n = natpmp(in, natpmp_wire_build_request(&q, in, sizeof(in)), "192.0.2.11", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.result, NATPMP_SUCCESS);
	ck_assert_uint_ne(r.ext_port, 5060);
	/* delete all of 192.0.2.10's UDP mappings */
	q.internal_port = 0;
	q.ext_port = 0;
	q.lifetime = 0;
	n = natpmp(in, natpmp_wire_build_request(&q, in, sizeof(in)), "192.0.2.10", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.result, NATPMP_SUCCESS);
	ck_assert_uint_eq(r.lifetime, 0);
	ck_assert(!has_portmap(IPPROTO_UDP, 5060, NULL));
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
}
END_TEST

START_TEST(natpmp_errors)
{
	uint8_t out[PCP_MAX_MSG], req[2] = { 0, 9 };
	struct natpmp_response r;
	size_t n;

	n = natpmp(req, 2, "192.0.2.10", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.result, NATPMP_UNSUPP_OPCODE);
	have_wan = false;
	req[1] = 0;
	n = natpmp(req, 2, "192.0.2.10", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.result, NATPMP_NETWORK_FAILURE);
}
END_TEST

/* ---------- what clients check of the answer's shape ---------- */

/* Raw bytes in, raw answer out: the length is what libtorrent checks (exactly 60 for a MAP without
 * options, exactly 16 / 12 for NAT-PMP), and nothing the client did not send comes back. */
static size_t raw_pcp(const struct pcp_request *q, const char *src, uint8_t *out)
{
	uint8_t in[PCP_MAX_MSG];
	struct in6_addr s = A(src);
	size_t n = pcp_wire_build_request(q, in, sizeof(in));

	return pcp_server_handle(fx.srv, in, n, &s, now_ms, out, PCP_MAX_MSG);
}

START_TEST(exact_answer_sizes)
{
	uint8_t out[PCP_MAX_MSG], ext_req[2] = { 0, 0 }, in[NATPMP_MAP_REQ_LEN];
	struct natpmp_request nq = { .op = NATPMP_OP_MAP_TCP, .internal_port = 6881, .ext_port = 6881,
				     .lifetime = 7200 };
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 6881, 6881, 7200, 5);
	struct pcp_request a;

	/* PCP MAP: create, refresh, new nonce, delete, an error: 24 + 36 octets each */
	ck_assert_uint_eq(raw_pcp(&q, "::ffff:192.0.2.10", out), 60);
	ck_assert_uint_eq(out[3], PCP_SUCCESS);
	ck_assert_uint_eq(raw_pcp(&q, "::ffff:192.0.2.10", out), 60);
	memset(q.op.nonce, 6, PCP_NONCE_LEN);
	ck_assert_uint_eq(raw_pcp(&q, "::ffff:192.0.2.10", out), 60);
	ck_assert_uint_eq(out[3], PCP_SUCCESS);
	q.op.protocol = 200;
	ck_assert_uint_eq(raw_pcp(&q, "::ffff:192.0.2.10", out), 60);
	ck_assert_uint_eq(out[3], PCP_MALFORMED_REQUEST);  /* a protocol without ports, with a port */
	q.op.protocol = IPPROTO_TCP;
	q.lifetime = 0;
	ck_assert_uint_eq(raw_pcp(&q, "::ffff:192.0.2.10", out), 60);
	ck_assert_uint_eq(out[3], PCP_SUCCESS);
	/* IPv6 MAP and PEER, ANNOUNCE */
	q = map_req("2001:db8:1::5", IPPROTO_UDP, 41641, 0, 7200, 5);
	ck_assert_uint_eq(raw_pcp(&q, "2001:db8:1::5", out), 60);
	q = peer_req("2001:db8:1::5", IPPROTO_UDP, 41642, "2001:db8:99::1", 41641, 600, 5);
	ck_assert_uint_eq(raw_pcp(&q, "2001:db8:1::5", out), 80);
	memset(&a, 0, sizeof(a));
	a.opcode = PCP_OP_ANNOUNCE;
	a.client_addr = A("::ffff:192.0.2.10");
	ck_assert_uint_eq(raw_pcp(&a, "::ffff:192.0.2.10", out), PCP_HDR_LEN);
	/* NAT-PMP: public address 12, map 16, delete 16, unknown opcode 8 */
	ck_assert_uint_eq(natpmp(ext_req, 2, "192.0.2.10", out), 12);
	ck_assert_uint_eq(natpmp(in, natpmp_wire_build_request(&nq, in, sizeof(in)), "192.0.2.10", out), 16);
	ck_assert_uint_eq(out[1], 128 + NATPMP_OP_MAP_TCP);
	nq.lifetime = 0;
	ck_assert_uint_eq(natpmp(in, natpmp_wire_build_request(&nq, in, sizeof(in)), "192.0.2.10", out), 16);
	ext_req[1] = 3;
	ck_assert_uint_eq(natpmp(ext_req, 2, "192.0.2.10", out), 8);
}
END_TEST

/* libpcp tries version 2, then 1, then NAT-PMP: every version but 0 and 2 gets UNSUPP_VERSION saying
 * 2, shaped as a MAP answer (so it is not read as truncated); 0 is NAT-PMP. */
START_TEST(version_steps)
{
	uint8_t out[PCP_MAX_MSG], in[60];
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_UDP, 5000, 0, 600, 5);
	struct in6_addr src = A("::ffff:192.0.2.10");
	const uint8_t versions[] = { 1, 3, 4, 127, 255 };
	size_t n = pcp_wire_build_request(&q, in, sizeof(in));

	for (size_t i = 0; i < sizeof(versions); i++) {
		in[0] = versions[i];
		ck_assert_uint_eq(pcp_server_handle(fx.srv, in, n, &src, now_ms, out, sizeof(out)), 60);
		ck_assert_uint_eq(out[0], PCP_VERSION);
		ck_assert_uint_eq(out[1], 0x80 | PCP_OP_MAP);
		ck_assert_uint_eq(out[3], PCP_UNSUPP_VERSION);
	}
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
	in[0] = PCP_VERSION;
	ck_assert_uint_eq(pcp_server_handle(fx.srv, in, n, &src, now_ms, out, sizeof(out)), 60);
	ck_assert_uint_eq(out[3], PCP_SUCCESS);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 1);
}
END_TEST

/* NAT-PMP turned off: a NAT-PMP client hears the 8-octet NAT-PMP UNSUPP_VERSION (version 0, its
 * opcode + 128, result 1, the epoch), what Bitcoin Core and libnatpmp read as "not here". */
START_TEST(natpmp_off_short_unsupp_version)
{
	struct pcp_server_params sp;
	uint8_t out[PCP_MAX_MSG], ext_req[2] = { 0, 0 }, in[NATPMP_MAP_REQ_LEN];
	struct natpmp_request nq = { .op = NATPMP_OP_MAP_UDP, .internal_port = 8333, .ext_port = 8333,
				     .lifetime = 7200 };
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 8333, 8333, 7200, 5);
	size_t n;

	teardown();
	memset(&sp, 0, sizeof(sp));
	sp.rate_off = true;
	sp.natpmp_off = true;
	setup_with(&sp);
	now_ms += 7000;
	n = natpmp(ext_req, 2, "192.0.2.10", out);
	ck_assert_uint_eq(n, NATPMP_SHORT_RESP_LEN);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(out[1], 128);
	ck_assert_uint_eq(out[2], 0);
	ck_assert_uint_eq(out[3], NATPMP_UNSUPP_VERSION);
	ck_assert_uint_eq(out[7], 7);  /* epoch 7 s */
	n = natpmp(in, natpmp_wire_build_request(&nq, in, sizeof(in)), "192.0.2.10", out);
	ck_assert_uint_eq(n, NATPMP_SHORT_RESP_LEN);
	ck_assert_uint_eq(out[1], 128 + NATPMP_OP_MAP_UDP);
	ck_assert_uint_eq(out[3], NATPMP_UNSUPP_VERSION);
	ck_assert_uint_eq(fw_mem_count(fx.fw), 0);
	/* a NAT-PMP response is not answered */
	ext_req[1] = 128;
	ck_assert_uint_eq(natpmp(ext_req, 2, "192.0.2.10", out), 0);
	/* PCP is still served */
	ck_assert_uint_eq(raw_pcp(&q, "::ffff:192.0.2.10", out), 60);
	ck_assert_uint_eq(out[3], PCP_SUCCESS);
}
END_TEST

static bool up_on;
static bool up_has_addr;

static bool up_active(void *arg)
{
	(void)arg;
	return up_on;
}

/* The upstream's jobs as submitted (answered later by the test, as the IWF would from its thread). */
static struct pcp_upstream_job up_jobs[8];
static uint64_t up_cookies[8];
static size_t n_up_jobs;

static void up_submit(void *arg, const struct pcp_upstream_job *job, pcp_upstream_done_fn *done, void *done_arg,
		      uint64_t cookie)
{
	(void)arg, (void)done, (void)done_arg;
	ck_assert_uint_lt(n_up_jobs, 8);
	up_cookies[n_up_jobs] = cookie;
	up_jobs[n_up_jobs++] = *job;
}

static bool up_ext_addr(void *arg, struct in_addr *out)
{
	(void)arg;
	out->s_addr = htonl(0xcb007108);
	return up_has_addr;
}

/* Behind a CGN the NAT-PMP public address is the upstream's (as UPnP's and PCP's answers), not our WAN
 * address inside the CGN; unknown yet: NETWORK_FAILURE, as without a WAN address. */
START_TEST(natpmp_public_address_upstream)
{
	struct pcp_upstream u = { .active = up_active, .submit = up_submit, .ext_addr = up_ext_addr };
	uint8_t out[PCP_MAX_MSG], ext_req[2] = { 0, 0 };
	struct natpmp_response r;
	size_t n;

	pcp_server_set_upstream(fx.srv, &u);
	up_on = true;
	up_has_addr = true;
	n = natpmp(ext_req, 2, "192.0.2.10", out);
	ck_assert_uint_eq(n, 12);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.result, NATPMP_SUCCESS);
	ck_assert_uint_eq(r.ext_addr[0], 203);
	ck_assert_uint_eq(r.ext_addr[3], 8);
	n = pcp_server_natpmp_announce(fx.srv, now_ms, out, sizeof(out));
	ck_assert_uint_eq(n, 12);
	ck_assert_uint_eq(out[11], 8);
	up_has_addr = false;
	n = natpmp(ext_req, 2, "192.0.2.10", out);
	ck_assert_uint_eq(n, 12);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.result, NATPMP_NETWORK_FAILURE);
	ck_assert_uint_eq(pcp_server_natpmp_announce(fx.srv, now_ms, out, sizeof(out)), 0);
	/* interworking off again: our own WAN address */
	up_on = false;
	n = natpmp(ext_req, 2, "192.0.2.10", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.ext_addr[3], 1);
}
END_TEST

/* The same client asking again for the same internal endpoint gets the same external port back, even
 * when it suggests another (libnatpmp suggests the internal port every time). */
START_TEST(same_endpoint_same_port)
{
	uint8_t out[PCP_MAX_MSG], in[NATPMP_MAP_REQ_LEN];
	struct natpmp_request nq = { .op = NATPMP_OP_MAP_UDP, .internal_port = 5060, .ext_port = 5060,
				     .lifetime = 3600 };
	struct pcp_request q;
	struct natpmp_response r;
	uint16_t got;
	size_t n;

	/* 192.0.2.10 holds 5060: 192.0.2.11 is given another, and keeps it when it asks again */
	natpmp(in, natpmp_wire_build_request(&nq, in, sizeof(in)), "192.0.2.10", out);
	n = natpmp(in, natpmp_wire_build_request(&nq, in, sizeof(in)), "192.0.2.11", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	got = r.ext_port;
	ck_assert_uint_ne(got, 5060);
	for (int i = 0; i < 3; i++) {
		n = natpmp(in, natpmp_wire_build_request(&nq, in, sizeof(in)), "192.0.2.11", out);
		ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
		ck_assert_uint_eq(r.ext_port, got);
	}
	/* PCP alike, whether the client suggests nothing, the internal port or another one */
	q = map_req("::ffff:192.0.2.11", IPPROTO_TCP, 5060, 5060, 3600, 1);
	got = send_pcp(&q).op.ext_port;
	q = map_req("::ffff:192.0.2.12", IPPROTO_TCP, 5060, 5060, 3600, 1);
	ck_assert_uint_ne(send_pcp(&q).op.ext_port, got);
	q = map_req("::ffff:192.0.2.11", IPPROTO_TCP, 5060, 0, 3600, 2);
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, got);
	q.op.ext_port = 40000;
	ck_assert_uint_eq(send_pcp(&q).op.ext_port, got);
}
END_TEST

START_TEST(pcp_and_natpmp_share_table)
{
	uint8_t out[PCP_MAX_MSG], in[NATPMP_MAP_REQ_LEN];
	struct natpmp_request q = { .op = NATPMP_OP_MAP_TCP, .internal_port = 7000, .ext_port = 7000,
				    .lifetime = 3600 };
	struct pcp_request p = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 7000, 7000, 600, 1);
	struct natpmp_response r;
	size_t n;

	n = natpmp(in, natpmp_wire_build_request(&q, in, sizeof(in)), "192.0.2.10", out);
	ck_assert_int_eq(natpmp_wire_parse_response(out, n, &r), NATPMP_PARSE_OK);
	ck_assert_uint_eq(r.result, NATPMP_SUCCESS);
	/* the PCP client cannot prove it made that mapping */
	ck_assert_uint_eq(send_pcp(&p).result, PCP_NOT_AUTHORIZED);
}
END_TEST

/* ---------- rate limit and bookkeeping ---------- */

START_TEST(rate_limit)
{
	struct pcp_server_params sp;
	struct pcp_request q;

	teardown();
	memset(&sp, 0, sizeof(sp));
	sp.rate_burst = 3;
	sp.rate_per_s = 2;
	setup_with(&sp);
	memset(&q, 0, sizeof(q));
	q.opcode = PCP_OP_ANNOUNCE;
	q.client_addr = A("2001:db8:1::5");
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(send_pcp(&q).result, 255);          /* dropped */
	/* another client has its own bucket */
	q.client_addr = A("2001:db8:1::6");
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	q.client_addr = A("2001:db8:1::5");
	now_ms += 500;                                        /* one token back */
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(send_pcp(&q).result, 255);
	{
		struct pcp_server_stats st;

		pcp_server_stats(fx.srv, &st);
		ck_assert_uint_eq(st.rate_limited, 2);
	}
}
END_TEST

START_TEST(rate_limit_many_clients_bounded)
{
	struct pcp_server_params sp;
	struct pcp_request q;
	char a[64];

	teardown();
	memset(&sp, 0, sizeof(sp));
	setup_with(&sp);
	memset(&q, 0, sizeof(q));
	q.opcode = PCP_OP_ANNOUNCE;
	for (unsigned i = 0; i < PCP_SERVER_RATE_CLIENTS + 100; i++) {
		snprintf(a, sizeof(a), "2001:db8:1::%x:%x", i >> 16, i & 0xffff);
		q.client_addr = A(a);
		ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	}
}
END_TEST

START_TEST(index_survives_restart)
{
	struct pcp_request q = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 5000, 0, 600, 7);
	struct pcp_server_params sp;
	struct rule *all;

	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	/* a new server on the same core (restart with a restored store) knows the mapping's nonce */
	pcp_server_free(fx.srv);
	memset(&sp, 0, sizeof(sp));
	sp.core = fx.core;
	sp.ext_addr = wan_getter;
	sp.rate_off = true;
	fx.srv = pcp_server_new(&sp, now_ms);
	memset(q.op.nonce, 9, PCP_NONCE_LEN);
	q.opt.has_third_party = true;  /* another host naming it (THIRD_PARTY): the index knows the nonce */
	q.opt.third_party = q.client_addr;
	q.client_addr = A("::ffff:192.0.2.11");
	ck_assert_uint_eq(send_from(&q, "::ffff:192.0.2.11").result, PCP_NOT_AUTHORIZED);
	q.opt.has_third_party = false;
	q.client_addr = q.opt.third_party;
	/* the core expires it, and its name with it: a new nonce may map again */
	fake_now += 601;
	core_expire(fx.core);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 1);
	free(all);
}
END_TEST

START_TEST(verdict_rendering)
{
	ck_assert_uint_eq(pcp_server_result_of(V_CONFLICT, true), PCP_CANNOT_PROVIDE_EXTERNAL);
	ck_assert_uint_eq(pcp_server_result_of(V_CONFLICT, false), PCP_NO_RESOURCES);
	ck_assert_uint_eq(pcp_server_result_of(V_QUOTA, false), PCP_USER_EX_QUOTA);
	ck_assert_uint_eq(pcp_server_result_of(V_LOW_PORT, false), PCP_NOT_AUTHORIZED);
	ck_assert_uint_eq(pcp_server_result_of(V_UNSUPPORTED_PROTO, false), PCP_UNSUPP_PROTOCOL);
}
END_TEST

/* ---------- one client cannot fail everyone's requests (issue 12) ---------- */

/* A MAP with a /64 FILTER and a PEER inside that /64 for the same internal port: two @ph_remote ranges
 * the kernel cannot hold side by side. Both used to be accepted here and then the kernel refused the
 * whole batch (NEWSETELEM: File exists), so every other client in it got NO_RESOURCES. Now the core
 * refuses the one that clashes, whichever comes first, and nothing else. */
START_TEST(filter_and_peer_inside_it_refused)
{
	struct pcp_request m = map_req("2001:db8:1::5", IPPROTO_UDP, 4000, 0, 600, 1);
	struct pcp_request p = peer_req("2001:db8:1::5", IPPROTO_UDP, 4000, "2001:db8:99::7", 5000, 600, 2);
	struct rule *all;

	m.opt.n_filters = 1;
	m.opt.filters[0].prefix_len = 64;
	m.opt.filters[0].addr = A("2001:db8:99::");
	ck_assert_uint_eq(send_pcp(&m).result, PCP_SUCCESS);
	ck_assert_uint_eq(send_pcp(&p).result, PCP_NO_RESOURCES);
	ck_assert_uint_eq(rules(&all), 1);
	free(all);
	/* a PEER outside the filter's range is fine */
	p.op.peer_addr = A("2001:db8:98::7");
	ck_assert_uint_eq(send_pcp(&p).result, PCP_SUCCESS);
	/* the other order: with the PEER in, a MAP whose FILTER covers it is refused (the kernel would
	 * take it, but then refuse the PEER's next refresh) */
	m.lifetime = 0;
	ck_assert_uint_eq(send_pcp(&m).result, PCP_SUCCESS);
	m.lifetime = 600;
	m.opt.filters[0].addr = A("2001:db8:98::");
	ck_assert_uint_eq(send_pcp(&m).result, PCP_NO_RESOURCES);
	ck_assert_uint_eq(rules(&all), 1);
	ck_assert_int_eq(all[0].origin, ORIGIN_PCP_PEER);
	free(all);
}
END_TEST

/* Builds PCP request q into buf and a group message for it from src. */
static void group_msg(struct pcp_server_msg *m, const struct pcp_request *q, const char *src, uint8_t *in,
		      uint8_t *out)
{
	memset(m, 0, sizeof(*m));
	m->len = pcp_wire_build_request(q, in, PCP_MAX_MSG);
	ck_assert_uint_gt(m->len, 0);
	m->in = in;
	m->src = A(src);
	m->out = out;
	m->cap = PCP_MAX_MSG;
}

static uint8_t group_result(const struct pcp_server_msg *m)
{
	struct pcp_response r;

	ck_assert_uint_gt(m->out_len, 0);
	ck_assert_int_eq(pcp_wire_parse_response(m->out, m->out_len, &r), PCP_PARSE_OK);
	return r.result;
}

/* 40 clients' MAPs in the same wake-up as one request the firewall refuses: the batch cannot commit,
 * so each request that hung on it runs again alone; only the refused one fails. */
START_TEST(group_failure_costs_only_the_offender)
{
	enum { N = 41 };
	static uint8_t in[N][PCP_MAX_MSG], out[N][PCP_MAX_MSG];
	struct pcp_server_msg m[N];
	struct fw_elem refused;
	struct rule *all;
	char client[ADDR_STRLEN];

	for (int i = 0; i < N; i++) {
		struct pcp_request q;

		snprintf(client, sizeof(client), "2001:db8:1::%x", 0x100 + i);
		q = map_req(client, IPPROTO_TCP, (uint16_t)(7000 + i), 0, 600, (uint8_t)i);
		group_msg(&m[i], &q, client, in[i], out[i]);
	}
	memset(&refused, 0, sizeof(refused));
	refused.proto = IPPROTO_TCP;
	refused.addr = A("2001:db8:1::114");    /* client 20 */
	refused.port = 7020;
	fw_mem_refuse(fx.fw, &refused);
	pcp_server_handle_group(fx.srv, m, N, now_ms);
	for (int i = 0; i < N; i++)
		ck_assert_msg(group_result(&m[i]) == (i == 20 ? PCP_NO_RESOURCES : PCP_SUCCESS), "request %d: %u", i,
			      group_result(&m[i]));
	ck_assert_uint_eq(rules(&all), N - 1);
	free(all);
	ck_assert_uint_eq(fw_mem_count(fx.fw), N - 1);
	/* the core's names of mappings hold only what stands: client 20 asking again makes a new mapping */
	fw_mem_refuse(fx.fw, NULL);
	pcp_server_handle_group(fx.srv, &m[20], 1, now_ms);
	ck_assert_uint_eq(group_result(&m[20]), PCP_SUCCESS);
	ck_assert(has_pinhole("2001:db8:1::114", IPPROTO_TCP, 7020));
}
END_TEST

/* The PCP proxy (behind an upstream PCP server): an IPv4 MAP's (or PEER's) local half commits in the
 * group's batch and the request comes back unanswered with its upstream job; an IPv6 MAP of the same
 * wake-up, which needs no upstream, is answered at once. The answer, once the upstream is done, names the upstream's
 * address and port (success) or its error (the local half is then the IWF's to take back). */
START_TEST(proxy_answers_later_v6_at_once)
{
	static uint8_t in[3][PCP_MAX_MSG], out[3][PCP_MAX_MSG];
	struct pcp_upstream u = { .active = up_active, .submit = up_submit, .ext_addr = up_ext_addr };
	struct pcp_server_msg m[3];
	struct pcp_request q4 = map_req("::ffff:192.0.2.10", IPPROTO_TCP, 5000, 6000, 600, 1);
	struct pcp_request q6 = map_req("2001:db8:1::5", IPPROTO_UDP, 5001, 0, 600, 2);
	struct pcp_request qn = map_req("::ffff:192.0.2.11", IPPROTO_UDP, 5002, 0, 600, 3);
	struct pcp_upstream_answer ok = { .result = PCP_SUCCESS, .ext_addr.s_addr = htonl(0xcb007108),
					  .ext_port = 40000 }, no = { .result = PCP_CANNOT_PROVIDE_EXTERNAL };
	struct pcp_response r;
	struct rule got;
	size_t n;

	pcp_server_set_upstream(fx.srv, &u);
	up_on = true;
	n_up_jobs = 0;
	group_msg(&m[0], &q4, "::ffff:192.0.2.10", in[0], out[0]);
	group_msg(&m[1], &q6, "2001:db8:1::5", in[1], out[1]);
	group_msg(&m[2], &qn, "::ffff:192.0.2.11", in[2], out[2]);
	pcp_server_handle_group(fx.srv, m, 3, now_ms);
	ck_assert_uint_eq(m[0].out_len, 0);
	ck_assert(m[0].upstream);
	ck_assert_uint_eq(group_result(&m[1]), PCP_SUCCESS);
	ck_assert(!m[1].upstream);
	ck_assert(m[2].upstream);
	/* the job names the committed local rule, made by this request, with the client's wishes */
	ck_assert(m[0].job.made);
	ck_assert_uint_eq(m[0].job.sugg_port, 6000);
	ck_assert_uint_eq(m[0].job.lifetime, 600);
	ck_assert_int_eq(core_get(fx.core, m[0].job.rule_id, &got), V_OK);
	ck_assert_uint_eq(got.int_port, 5000);
	ck_assert(has_portmap(IPPROTO_TCP, got.ext_port, NULL));
	/* nothing was submitted by the server itself: the caller submits once the batch committed */
	ck_assert_uint_eq(n_up_jobs, 0);
	pcp_server_upstream_submit(fx.srv, &m[0].job, NULL, NULL, 7);
	ck_assert_uint_eq(n_up_jobs, 1);
	ck_assert_uint_eq(up_cookies[0], 7);
	/* the upstream answered: the client hears the CGN's address and port, the local lifetime */
	n = pcp_server_upstream_answer(fx.srv, m[0].in, m[0].len, &m[0].src, &m[0].job, &ok, now_ms, out[0],
				       PCP_MAX_MSG);
	ck_assert_int_eq(pcp_wire_parse_response(out[0], n, &r), PCP_PARSE_OK);
	ck_assert_uint_eq(r.result, PCP_SUCCESS);
	ck_assert_uint_eq(r.op.ext_port, 40000);
	{
		struct in6_addr cgn = A("::ffff:203.0.113.8");

		ck_assert(addr_equal(&r.op.ext_addr, &cgn));
	}
	ck_assert_uint_eq(r.lifetime, 600);
	ck_assert(memcmp(r.op.nonce, q4.op.nonce, PCP_NONCE_LEN) == 0);
	/* refused upstream: the client hears the upstream's result */
	n = pcp_server_upstream_answer(fx.srv, m[2].in, m[2].len, &m[2].src, &m[2].job, &no, now_ms, out[2],
				       PCP_MAX_MSG);
	ck_assert_int_eq(pcp_wire_parse_response(out[2], n, &r), PCP_PARSE_OK);
	ck_assert_uint_eq(r.result, PCP_CANNOT_PROVIDE_EXTERNAL);
	/* an IPv4 PEER goes up as a PEER for the same flow (RFC 7648), never as a MAP; its answer names
	 * the flow and the upstream's address */
	{
		struct pcp_request qp = peer_req("::ffff:192.0.2.12", IPPROTO_UDP, 4000, "::ffff:198.51.100.1", 5000,
						 600, 4);
		struct pcp_upstream_answer pok = { .result = PCP_SUCCESS, .ext_addr.s_addr = htonl(0xcb007108),
						   .ext_port = 4000 };
		struct in6_addr peer = A("::ffff:198.51.100.1"), cgn = A("::ffff:203.0.113.8");

		group_msg(&m[1], &qp, "::ffff:192.0.2.12", in[1], out[1]);
		pcp_server_handle_group(fx.srv, &m[1], 1, now_ms);
		ck_assert(m[1].upstream);
		ck_assert(m[1].job.peer);
		ck_assert(m[1].job.made);
		ck_assert(!m[1].job.prefer_failure);
		ck_assert(addr_equal(&m[1].job.peer_addr, &peer));
		ck_assert_uint_eq(m[1].job.peer_port, 5000);
		n = pcp_server_upstream_answer(fx.srv, m[1].in, m[1].len, &m[1].src, &m[1].job, &pok, now_ms, out[1],
					       PCP_MAX_MSG);
		ck_assert_uint_eq(n, PCP_HDR_LEN + PCP_PEER_LEN);
		ck_assert_int_eq(pcp_wire_parse_response(out[1], n, &r), PCP_PARSE_OK);
		ck_assert_uint_eq(r.opcode, PCP_OP_PEER);
		ck_assert_uint_eq(r.result, PCP_SUCCESS);
		ck_assert(addr_equal(&r.op.ext_addr, &cgn));
		ck_assert(addr_equal(&r.op.peer_addr, &peer));
		ck_assert_uint_eq(r.op.peer_port, 5000);
	}
	/* a refresh of the first mapping: not made by this request (the upstream failing leaves it) */
	group_msg(&m[0], &q4, "::ffff:192.0.2.10", in[0], out[0]);
	pcp_server_handle_group(fx.srv, m, 1, now_ms);
	ck_assert(m[0].upstream);
	ck_assert(!m[0].job.made);
	up_on = false;
}
END_TEST

/* PCP DESCRIPTION is UTF-8 with no rule against controls: an ESC sequence or a bell would reach
 * igdctl's terminal and SOAP answers (XML 1.0 forbids them). The core scrubs it like a UPnP one. */
START_TEST(description_controls_scrubbed)
{
	struct pcp_request q = map_req("2001:db8:1::5", IPPROTO_TCP, 8080, 0, 600, 1);
	struct rule *all;

	q.opt.has_description = true;
	strcpy(q.opt.description, "\x1b[2J\x1b]0;owned\x07line\r\nnext\x7f \xc2\x9b" "31m");
	q.opt.description_len = (uint16_t)strlen(q.opt.description);
	ck_assert_uint_eq(send_pcp(&q).result, PCP_SUCCESS);
	ck_assert_uint_eq(rules(&all), 1);
	for (const unsigned char *c = (const unsigned char *)all[0].desc; *c; c++)
		ck_assert_msg(*c >= 0x20 && *c != 0x7f && !(c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f),
			      "control byte 0x%02x left in \"%s\"", *c, all[0].desc);
	ck_assert_str_eq(all[0].desc, " [2J ]0;owned line  next    31m");
	free(all);
}
END_TEST

static Suite *pcp_server_suite(void)
{
	Suite *s = suite_create("pcp_server");
	TCase *tc = tcase_create("server");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, map_v6_pinhole);
	tcase_add_test(tc, map_v6_all_protocols);
	tcase_add_test(tc, map_v4_portmap);
	tcase_add_test(tc, map_v4_needs_wan_address);
	tcase_add_test(tc, map_v4_other_protocol);
	tcase_add_test(tc, refresh_same_nonce_keeps);
	tcase_add_test(tc, new_nonce_from_own_host);
	tcase_add_test(tc, new_nonce_from_others_refused);
	tcase_add_test(tc, new_nonce_from_own_device);
	tcase_add_test(tc, one_nonce_many_mappings);
	tcase_add_test(tc, exact_answer_sizes);
	tcase_add_test(tc, version_steps);
	tcase_add_test(tc, natpmp_off_short_unsupp_version);
	tcase_add_test(tc, natpmp_public_address_upstream);
	tcase_add_test(tc, proxy_answers_later_v6_at_once);
	tcase_add_test(tc, same_endpoint_same_port);
	tcase_add_test(tc, lifetime_zero_deletes);
	tcase_add_test(tc, lifetime_clamped);
	tcase_add_test(tc, prefer_failure_taken_port);
	tcase_add_test(tc, prefer_failure_pinhole_port);
	tcase_add_test(tc, filter_sets_remote);
	tcase_add_test(tc, filter_v4);
	tcase_add_test(tc, third_party_unauthorised);
	tcase_add_test(tc, third_party_authorised);
	tcase_add_test(tc, third_party_own_device);
	tcase_add_test(tc, description_stored);
	tcase_add_test(tc, description_too_long_cut);
	tcase_add_test(tc, address_mismatch);
	tcase_add_test(tc, bad_target_refused);
	tcase_add_test(tc, peer_v6_remote_filtered_pinhole);
	tcase_add_test(tc, peer_refresh_nonce_delete);
	tcase_add_test(tc, peer_per_remote_and_beside_map);
	tcase_add_test(tc, peer_v4_external_port);
	tcase_add_test(tc, peer_malformed);
	tcase_add_test(tc, peer_description_and_third_party);
	tcase_add_test(tc, peer_index_survives_restart);
	tcase_add_test(tc, peer_cgn_installs_its_mapping);
	tcase_add_test(tc, peer_cgn_running_flow);
	tcase_add_test(tc, peer_v4_running_flow);
	tcase_add_test(tc, epoch_and_announce);
	tcase_add_test(tc, unsupp_version_echoes_body);
	tcase_add_test(tc, malformed_gets_result_codes);
	tcase_add_test(tc, natpmp_external_and_map);
	tcase_add_test(tc, natpmp_errors);
	tcase_add_test(tc, pcp_and_natpmp_share_table);
	tcase_add_test(tc, rate_limit);
	tcase_add_test(tc, rate_limit_many_clients_bounded);
	tcase_add_test(tc, index_survives_restart);
	tcase_add_test(tc, verdict_rendering);
	tcase_add_test(tc, filter_and_peer_inside_it_refused);
	tcase_add_test(tc, group_failure_costs_only_the_offender);
	tcase_add_test(tc, description_controls_scrubbed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pcp_server_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
