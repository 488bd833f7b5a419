/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw suite: element keys and text, the in-memory backend, and fw_render against golden files.
 * Golden files: tests/golden/<name>.nft (run from the repository root, or set IGDD_SRCDIR).
 * IGDD_UPDATE_GOLDEN=1 rewrites them instead of comparing. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/nft/fw.h"
#include "firewall/nft/fw_elem.h"
#include "tests/unit/testutil.h"

static struct fw_config standalone_cfg(void)
{
	struct fw_config c = { .family = "inet", .table = "igdd", .mode = FW_STANDALONE, .n_wan = 2,
			       .chain_prefix = "igdd_" };

	strcpy(c.wan_ifname[0], "wan0");
	strcpy(c.wan_ifname[1], "wwan0");
	/* the output wall, as under systemd: the unit's own cgroup */
	c.n_lan = 2;
	strcpy(c.lan_ifname[0], "br-lan");
	strcpy(c.lan_ifname[1], "br-guest");
	c.out_cgroup_id = 4242;
	c.out_cgroup_level = 2;
	strcpy(c.out_cgroup_path, "system.slice/igdd.service");
	return c;
}

static struct fw_config integrated_cfg(void)
{
	struct fw_config c = { .family = "inet", .table = "fw4", .mode = FW_INTEGRATED, .n_wan = 1,
			       .chain_prefix = "igdd_" };

	strcpy(c.wan_ifname[0], "wan0");
	/* the output wall, as from a shell: the cgroup igdd made for itself */
	c.n_lan = 1;
	strcpy(c.lan_ifname[0], "br-lan");
	c.out_cgroup_id = 77;
	c.out_cgroup_level = 1;
	strcpy(c.out_cgroup_path, "igdd-fw4");
	return c;
}

/* One element of every kind (and one the backends must refuse at the end). */
static size_t sample(struct fw_elem *v)
{
	size_t n = 0;

	v[n++] = elem_pinhole("2001:db8:1::5", IPPROTO_TCP, 8080, 3600000);
	v[n++] = elem_pinhole("2001:db8:1::5", IPPROTO_UDP, 51413, 0);
	v[n] = elem_pinhole("2001:db8:1::6", IPPROTO_ESP, 0, 120000);
	v[n].packets = 7;
	v[n++].bytes = 700;
	v[n++] = elem_pinhole("2001:db8:1::7", 65535, 0, 1500);
	v[n] = elem_pinhole("2001:db8:1::8", IPPROTO_TCP, 22, 60000);
	inet_pton(AF_INET6, "2001:db8:9::", &v[n].remote);
	v[n++].remote_len = 48;
	v[n] = elem_pinhole("fd00:1::8", IPPROTO_UDP, 0, 0);
	inet_pton(AF_INET6, "2001:db8:a::1", &v[n].remote);
	v[n].remote_len = 128;
	v[n++].remote_port = 4000;
	v[n] = elem_portmap(IPPROTO_TCP, 8080, "192.0.2.10", 80);
	v[n++].timeout_ms = 7200000;
	v[n] = elem_portmap(IPPROTO_UDP, 5000, "192.0.2.11", 5001);
	inet_pton(AF_INET, "198.51.100.1", &v[n++].ext_addr);
	v[n] = elem_portmap(IPPROTO_TCP, 2222, "192.0.2.12", 22);
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &v[n].remote);
	v[n++].remote_len = 128;
	/* the same remote host, one port of it (a PEER, a FILTER with a port) */
	v[n] = elem_portmap(IPPROTO_UDP, 40000, "192.0.2.13", 40000);
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &v[n].remote);
	v[n].remote_len = 128;
	v[n++].remote_port = 443;
	/* on a pool address: a remote host, and a PEER's flow (its SNAT keyed by the 5-tuple) */
	v[n] = elem_portmap(IPPROTO_TCP, 2222, "100.64.0.2", 22);
	inet_pton(AF_INET, "198.51.100.1", &v[n].ext_addr);
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &v[n].remote);
	v[n++].remote_len = 128;
	v[n] = elem_portmap(IPPROTO_UDP, 1030, "100.64.0.2", 4000);
	inet_pton(AF_INET, "198.51.100.1", &v[n].ext_addr);
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &v[n].remote);
	v[n].remote_len = 128;
	v[n].remote_port = 3478;
	v[n++].flow = true;
	return n;
}

/* ---- keys and text ---- */

START_TEST(same_key_ignores_timeout_and_counters)
{
	struct fw_elem a = elem_pinhole("2001:db8::1", IPPROTO_TCP, 80, 1000), b = a;

	b.timeout_ms = 99;
	b.packets = 5;
	ck_assert(fw_elem_same_key(&a, &b));
	b.port = 81;
	ck_assert(!fw_elem_same_key(&a, &b));
}
END_TEST

START_TEST(same_key_normalises_wildcards)
{
	struct fw_elem a = elem_pinhole("2001:db8::1", 65535, 80, 0), b = elem_pinhole("2001:db8::1", 65535, 0, 0);
	struct fw_elem esp1 = elem_pinhole("2001:db8::1", IPPROTO_ESP, 5, 0), esp2 = elem_pinhole("2001:db8::1", IPPROTO_ESP, 0, 0);

	ck_assert(fw_elem_same_key(&a, &b));       /* "any protocol" has no port */
	ck_assert(fw_elem_same_key(&esp1, &esp2)); /* ESP has no ports */
	ck_assert(!fw_elem_same_key(&a, &esp1));
}
END_TEST

START_TEST(same_key_portmap_target_is_data)
{
	struct fw_elem a = elem_portmap(IPPROTO_TCP, 8080, "192.0.2.10", 80), b = elem_portmap(IPPROTO_TCP, 8080, "192.0.2.99", 81);
	struct fw_elem c = elem_portmap(IPPROTO_UDP, 8080, "192.0.2.10", 80);

	ck_assert(fw_elem_same_key(&a, &b));
	ck_assert(!fw_elem_same_key(&a, &c));
}
END_TEST

START_TEST(bad_elements_are_refused)
{
	struct fw_elem bad[6];
	struct fw_key k;

	bad[0] = elem_pinhole("2001:db8::1", 300, 80, 0);                  /* protocol > 255 */
	bad[1] = elem_pinhole("::ffff:192.0.2.1", IPPROTO_TCP, 80, 0);     /* IPv4 pinhole */
	bad[2] = elem_portmap(IPPROTO_ICMP, 1, "192.0.2.1", 1);            /* no ports */
	bad[3] = elem_portmap(IPPROTO_TCP, 0, "192.0.2.1", 80);            /* no external port */
	bad[4] = elem_portmap(IPPROTO_TCP, 80, "192.0.2.1", 80);
	inet_pton(AF_INET6, "::ffff:203.0.113.0", &bad[4].remote);
	bad[4].remote_len = 120;                                      /* remote prefix on a portmap */
	bad[5] = elem_pinhole("2001:db8::1", IPPROTO_TCP, 80, 0);
	bad[5].remote_len = 200;
	for (size_t i = 0; i < 6; i++) {
		ck_assert_ptr_nonnull(fw_key_build(&bad[i], &k));
		ck_assert(!fw_elem_same_key(&bad[i], &bad[i]));
	}
}
END_TEST

START_TEST(key_round_trip)
{
	struct fw_elem v[16], back;
	size_t n = sample(v);
	uint8_t data[FW_DATA_LEN];
	struct fw_key k;

	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_null(fw_key_build(&v[i], &k));
		fw_elem_map_data(&v[i], data);
		ck_assert(fw_key_parse(&k, data, sizeof(data), &back));
		ck_assert_msg(fw_elem_same_key(&v[i], &back), "element %zu", i);
		if (v[i].v4) {
			ck_assert_int_eq(back.port, v[i].port);
			ck_assert(memcmp(&back.addr, &v[i].addr, 16) == 0);
		}
	}
	/* garbage key bytes: a range that is not a prefix */
	memset(&k, 0, sizeof(k));
	k.set = FW_SET_PH_REMOTE;
	k.len = 44;
	k.key_end[0] = 0x5a;
	ck_assert(!fw_key_parse(&k, NULL, 0, &back));
	k.len = 3;
	ck_assert(!fw_key_parse(&k, NULL, 0, &back));
}
END_TEST

/* Which NAT44 map a portmap lands in, and its key bytes: the remote port and the pool address are
 * in the key, and a flow's SNAT companion is keyed by the 5-tuple. */
START_TEST(portmap_remote_keys)
{
	struct fw_elem e = elem_portmap(IPPROTO_UDP, 1030, "100.64.0.2", 4000), back;
	uint8_t data[FW_DATA_LEN];
	struct fw_key k, c;
	static const uint8_t want_addr_remote_port[20] = {
		198, 51, 100, 1,   203, 0, 113, 9,   17, 0, 0, 0,   3478 >> 8, 3478 & 0xff, 0, 0,
		1030 >> 8, 1030 & 0xff, 0, 0,
	};
	static const uint8_t want_flow[20] = {
		100, 64, 0, 2,   203, 0, 113, 9,   17, 0, 0, 0,   4000 >> 8, 4000 & 0xff, 0, 0,
		3478 >> 8, 3478 & 0xff, 0, 0,
	};

	ck_assert_ptr_null(fw_key_build(&e, &k));
	ck_assert_int_eq(k.set, FW_SET_PM4);
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &e.remote);
	e.remote_len = 128;
	ck_assert_ptr_null(fw_key_build(&e, &k));
	ck_assert_int_eq(k.set, FW_SET_PM4_REMOTE);
	e.remote_port = 3478;
	ck_assert_ptr_null(fw_key_build(&e, &k));
	ck_assert_int_eq(k.set, FW_SET_PM4_REMOTE_PORT);
	ck_assert_uint_eq(k.len, 16);
	ck_assert(!fw_key_companion(&e, &c));                 /* no external address: masquerade's */
	e.flow = true;
	ck_assert_ptr_nonnull(fw_key_build(&e, &k));          /* a flow needs its external address */
	inet_pton(AF_INET, "198.51.100.1", &e.ext_addr);
	ck_assert_ptr_null(fw_key_build(&e, &k));
	ck_assert_int_eq(k.set, FW_SET_PM4_ADDR_REMOTE_PORT);
	ck_assert_uint_eq(k.len, 20);
	ck_assert(memcmp(k.key, want_addr_remote_port, 20) == 0);
	fw_elem_map_data(&e, data);
	ck_assert(fw_key_parse(&k, data, sizeof(data), &back));
	ck_assert_uint_eq(back.remote_port, 3478);
	ck_assert_uint_eq(back.ext_port, 1030);
	ck_assert_uint_eq(back.ext_addr.s_addr, e.ext_addr.s_addr);
	ck_assert(fw_elem_same_key(&e, &back));
	ck_assert(fw_key_companion(&e, &c));
	ck_assert_int_eq(c.set, FW_SET_PM4_SNAT_FLOW);
	ck_assert(memcmp(c.key, want_flow, 20) == 0);
	fw_elem_snat_data(&e, data);
	ck_assert(fw_key_parse(&c, data, sizeof(data), &back));
	ck_assert(back.flow && back.port == 4000 && back.remote_port == 3478 && back.ext_port == 1030);
	e.flow = false;                                       /* a MAP with that FILTER: the endpoint's SNAT */
	ck_assert(fw_key_companion(&e, &c));
	ck_assert_int_eq(c.set, FW_SET_PM4_SNAT);
	e.remote_port = 0;
	ck_assert_ptr_null(fw_key_build(&e, &k));
	ck_assert_int_eq(k.set, FW_SET_PM4_ADDR_REMOTE);
	fw_elem_map_data(&e, data);
	ck_assert(fw_key_parse(&k, data, sizeof(data), &back) && fw_elem_same_key(&e, &back));
	e.remote_len = 0;
	e.remote_port = 9;                                    /* a remote port without its host */
	ck_assert_ptr_nonnull(fw_key_build(&e, &k));
}
END_TEST

START_TEST(elem_str_forms)
{
	struct fw_elem v[16];
	char buf[160], tiny[8];

	sample(v);
	ck_assert_str_eq(fw_elem_str(&v[0], buf, sizeof(buf)), "pinhole [2001:db8:1::5]:8080/tcp");
	ck_assert_str_eq(fw_elem_str(&v[6], buf, sizeof(buf)), "portmap 8080/tcp -> 192.0.2.10:80");
	ck_assert_str_eq(fw_elem_str(&v[7], buf, sizeof(buf)), "portmap 198.51.100.1:5000/udp -> 192.0.2.11:5001");
	ck_assert_str_eq(fw_elem_str(&v[4], buf, sizeof(buf)), "pinhole [2001:db8:1::8]:22/tcp from [2001:db8:9::]/48:0");
	ck_assert_str_eq(fw_elem_str(&v[11], buf, sizeof(buf)),
			 "portmap 198.51.100.1:1030/udp -> 100.64.0.2:4000 from 203.0.113.9:3478 (flow)");
	fw_elem_str(&v[0], tiny, sizeof(tiny));   /* truncates, never overflows */
	ck_assert_uint_eq(strlen(tiny), sizeof(tiny) - 1);
	ck_assert_str_eq(fw_elem_str(&v[0], NULL, 0), "");
}
END_TEST

/* ---- the in-memory backend ---- */

static struct fw *mem_new(void)
{
	struct fw_config c = standalone_cfg();
	struct fw *fw = fw_mem_new(&c);

	ck_assert_ptr_nonnull(fw);
	ck_assert_int_eq(fw->ops->init(fw), 0);
	return fw;
}

START_TEST(mem_commit_add_delete)
{
	struct fw *fw = mem_new();
	struct fw_elem v[16], out;
	size_t n = sample(v);
	uint64_t tx = fw->ops->transactions(fw);

	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, n), 0);
	ck_assert_uint_eq(fw_mem_count(fw), n);
	ck_assert_uint_eq(fw->ops->transactions(fw), tx + 1);
	ck_assert(fw_mem_has(fw, &v[2], &out));
	ck_assert_uint_eq(out.packets, 7);
	ck_assert_int_eq(fw->ops->commit(fw, v, 2, NULL, 0), 0);
	ck_assert_uint_eq(fw_mem_count(fw), n - 2);
	ck_assert(!fw_mem_has(fw, &v[0], NULL));
	/* deleting what is gone (expired) is not an error */
	ck_assert_int_eq(fw->ops->commit(fw, v, 2, NULL, 0), 0);
	ck_assert_uint_eq(fw_mem_count(fw), n - 2);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(mem_readd_updates_timeout_keeps_counter)
{
	struct fw *fw = mem_new();
	struct fw_elem e = elem_pinhole("2001:db8::1", IPPROTO_TCP, 80, 3600000), out;

	e.packets = 4;
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, &e, 1), 0);
	e.timeout_ms = 10000;
	e.packets = 0;
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, &e, 1), 0);
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	ck_assert(fw_mem_has(fw, &e, &out));
	ck_assert_uint_eq(out.timeout_ms, 10000);
	ck_assert_uint_eq(out.packets, 4);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(mem_portmap_replace_changes_target)
{
	struct fw *fw = mem_new();
	struct fw_elem a = elem_portmap(IPPROTO_TCP, 8080, "192.0.2.10", 80), b = elem_portmap(IPPROTO_TCP, 8080, "192.0.2.20", 8000), out;

	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, &a, 1), 0);
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, &b, 1), 0);
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	ck_assert(fw_mem_has(fw, &a, &out));
	ck_assert_uint_eq(out.port, 8000);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(mem_all_or_nothing)
{
	struct fw *fw = mem_new();
	struct fw_elem v[16], bad = elem_pinhole("2001:db8::1", 999, 1, 0);
	size_t n = sample(v);

	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, 2), 0);
	v[n] = bad;
	ck_assert_int_eq(fw->ops->commit(fw, v, 1, v, n + 1), -EINVAL);
	ck_assert_uint_eq(fw_mem_count(fw), 2);
	ck_assert(strstr(fw->err, "protocol") != NULL);
	fw_mem_fail_next(fw, EIO);
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, n), -EIO);
	ck_assert_uint_eq(fw_mem_count(fw), 2);
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, n), 0);   /* only the next one failed */
	ck_assert_uint_eq(fw_mem_count(fw), n);
	fw_mem_fail_next(fw, -ENOMEM);
	ck_assert_int_eq(fw->ops->resync(fw, NULL, 0), -ENOMEM);
	ck_assert_uint_eq(fw_mem_count(fw), n);
	fw->ops->destroy(fw);
}
END_TEST

/* What the kernel refuses side by side (verified on 6.18: a @ph_remote element whose first or last
 * key falls inside another is EEXIST and the transaction fails), and the mem backend does the same. */
START_TEST(clashing_elements)
{
	struct fw *fw = mem_new();
	struct fw_elem wide = elem_pinhole("2001:db8:1:1::5", IPPROTO_UDP, 4000, 0), peer = wide, other = wide;
	struct fw_elem pm_a = elem_portmap(IPPROTO_TCP, 7000, "100.64.0.10", 7000), pm_b;
	uint8_t s1[FW_CLASH_SCOPE_LEN], s2[FW_CLASH_SCOPE_LEN];

	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8:99::", &wide.remote), 1);
	wide.remote_len = 64;
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8:99::7", &peer.remote), 1);
	peer.remote_len = 128;
	peer.remote_port = 5000;
	ck_assert(fw_elems_clash(&wide, &peer) && fw_elems_clash(&peer, &wide));
	ck_assert(!fw_elems_clash(&wide, &wide));                 /* the same element: shared, not a clash */
	ck_assert(fw_elem_clash_scope(&wide, s1) && fw_elem_clash_scope(&peer, s2));
	ck_assert(memcmp(s1, s2, sizeof(s1)) == 0);               /* both for one destination */
	other = peer;
	other.port = 4001;                                        /* another port: disjoint */
	ck_assert(!fw_elems_clash(&wide, &other));
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8:1:1::6", &other.addr), 1);
	other.port = 4000;                                        /* another destination */
	ck_assert(!fw_elems_clash(&wide, &other));
	ck_assert(fw_elem_clash_scope(&other, s2) && memcmp(s1, s2, sizeof(s1)) != 0);
	ck_assert(!fw_elem_clash_scope(&pm_a, s1));               /* no remote filter: no clash */
	/* the remote-filtered NAT44 maps are keyed with the pool address: two subscribers on two pool
	 * addresses, same external port and remote, are two elements and no clash */
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:203.0.113.9", &pm_a.remote), 1);
	pm_a.remote_len = 128;
	pm_a.ext_addr.s_addr = htonl(0xc6336401);
	pm_b = pm_a;
	pm_b.ext_addr.s_addr = htonl(0xc6336402);
	ck_assert(!fw_elems_clash(&pm_a, &pm_b) && !fw_elem_same_key(&pm_a, &pm_b));
	ck_assert(!fw_elem_clash_scope(&pm_a, s1));
	pm_a.remote_port = pm_b.remote_port = 443;
	ck_assert(!fw_elems_clash(&pm_a, &pm_b) && !fw_elem_same_key(&pm_a, &pm_b));

	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, &wide, 1), 0);
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, &peer, 1), -EEXIST);
	ck_assert(strstr(fw->err, "File exists") != NULL);
	ck_assert_int_eq(fw->ops->commit(fw, &wide, 1, &peer, 1), 0);   /* the old one deleted first: fine */
	ck_assert_uint_eq(fw_mem_count(fw), 1);
	ck_assert_int_eq(fw->ops->resync(fw, (struct fw_elem[]){ wide, peer }, 2), -EEXIST);
	/* a test can make the backend refuse one element, as the kernel refused the issue's */
	fw_mem_refuse(fw, &other);
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, &other, 1), -EEXIST);
	fw_mem_refuse(fw, NULL);
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, &other, 1), 0);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(mem_resync_and_monitor)
{
	struct fw *fw = mem_new();
	struct fw_elem v[16];
	size_t n = sample(v);

	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, n), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);
	fw_mem_foreign_change(fw);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	ck_assert_int_ge(fw->ops->monitor_fd(fw), 0);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 1);
	ck_assert_int_eq(fw->ops->monitor_read(fw), 0);
	ck_assert_int_eq(fw->ops->resync(fw, v, n), 0);
	ck_assert_uint_eq(fw_mem_count(fw), n);
	ck_assert_int_eq(fw->ops->resync(fw, v, 3), 0);
	ck_assert_uint_eq(fw_mem_count(fw), 3);
	ck_assert_int_eq(fw->ops->remove(fw), 0);
	ck_assert_uint_eq(fw_mem_count(fw), 0);
	fw->ops->destroy(fw);
}
END_TEST

static void count_cb(void *arg, const struct fw_elem *e)
{
	(void)e;
	(*(size_t *)arg)++;
}

START_TEST(mem_read_counters_and_bad_args)
{
	struct fw *fw = mem_new();
	struct fw_elem v[16];
	size_t n = sample(v), seen = 0;

	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, n), 0);
	ck_assert_int_eq(fw->ops->read_counters(fw, count_cb, &seen), 0);
	ck_assert_uint_eq(seen, n);
	ck_assert_ptr_null(fw_mem_new(NULL));
	ck_assert_uint_eq(fw_mem_count(NULL), 0);
	ck_assert(!fw_mem_has(NULL, &v[0], NULL));
	fw_mem_fail_next(NULL, 1);
	fw_mem_foreign_change(NULL);
	fw->ops->destroy(fw);
}
END_TEST

START_TEST(mem_many_elements)
{
	struct fw *fw = mem_new();
	size_t n = 10000;
	struct fw_elem *v = calloc(n, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = elem_pinhole("2001:db8:1::", IPPROTO_TCP, (uint16_t)(1 + i % 60000), 60000);
		v[i].addr.s6_addr[15] = (uint8_t)(i / 60000 + 1);
	}
	ck_assert_int_eq(fw->ops->commit(fw, NULL, 0, v, n), 0);
	ck_assert_uint_eq(fw_mem_count(fw), n);
	ck_assert_int_eq(fw->ops->commit(fw, v, n / 2, NULL, 0), 0);
	ck_assert_uint_eq(fw_mem_count(fw), n - n / 2);
	free(v);
	fw->ops->destroy(fw);
}
END_TEST

/* ---- render vs golden ---- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void check_golden(const char *name, const char *text)
{
	const char *dir = getenv("IGDD_SRCDIR");
	char path[512];
	char *want;

	snprintf(path, sizeof(path), "%s%stests/golden/%s", dir ? dir : "", dir ? "/" : "", name);
	if (getenv("IGDD_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");

		ck_assert_ptr_nonnull(f);
		fputs(text, f);
		fclose(f);
		return;
	}
	want = read_file(path);
	ck_assert_msg(want != NULL, "cannot read %s (run from the repository root or set IGDD_SRCDIR)", path);
	ck_assert_msg(strcmp(want, text) == 0, "%s differs from the rendered ruleset:\n%s", path, text);
	free(want);
}

START_TEST(render_standalone_golden)
{
	struct fw_config c = standalone_cfg();
	struct fw_elem v[16];
	size_t n = sample(v);
	char *text = fw_render(&c, v, n);

	ck_assert_ptr_nonnull(text);
	check_golden("standalone.nft", text);
	free(text);
}
END_TEST

START_TEST(render_integrated_golden)
{
	struct fw_config c = integrated_cfg();
	struct fw_elem v[16];
	size_t n = sample(v);
	char *text = fw_render(&c, v, n);

	ck_assert_ptr_nonnull(text);
	check_golden("integrated.nft", text);
	free(text);
}
END_TEST

START_TEST(render_empty_golden)
{
	struct fw_config c = standalone_cfg();
	char *text = fw_render(&c, NULL, 0);

	ck_assert_ptr_nonnull(text);
	check_golden("empty.nft", text);
	free(text);
}
END_TEST

/* pcpd on a CGN: a pool for the NAT44 with port blocks (ports 1024-4095 in blocks of 1024: 3 per
 * address, 12 subscribers with a block, one block-map element each), a mapping with an external
 * address (DNAT + its SNAT companion), one without (DNAT only), and a PEER's flow (DNAT from its
 * peer's address and port + the flow's SNAT). */
START_TEST(render_cgn_golden)
{
	struct fw_config c = standalone_cfg();
	struct fw_elem v[3] = { { .v4 = true, .proto = IPPROTO_UDP, .port = 4000, .ext_port = 3072,
				  .timeout_ms = 3600000 },
				{ .v4 = true, .proto = IPPROTO_TCP, .port = 22, .ext_port = 2222 },
				{ .v4 = true, .proto = IPPROTO_UDP, .port = 4000, .ext_port = 3072,
				  .remote_len = 128, .remote_port = 3478, .flow = true, .timeout_ms = 120000 } };
	struct fw_key k;
	char *text;

	inet_pton(AF_INET6, "::ffff:100.64.0.2", &v[0].addr);
	inet_pton(AF_INET, "203.0.113.8", &v[0].ext_addr);
	inet_pton(AF_INET6, "::ffff:100.64.0.3", &v[1].addr);
	v[2].addr = v[0].addr;
	v[2].ext_addr = v[0].ext_addr;
	inet_pton(AF_INET6, "::ffff:198.51.100.7", &v[2].remote);
	inet_pton(AF_INET, "100.64.0.0", &c.nat_src);
	c.nat_src_len = 10;
	inet_pton(AF_INET, "203.0.113.8", &c.nat_pool[0]);
	c.nat_pool_len[0] = 30;
	c.n_nat_pool = 1;
	c.nat_port_min = 1024;
	c.nat_port_max = 4095;
	c.nat_block_size = 1024;
	ck_assert(fw_key_companion(&v[0], &k));
	ck_assert(!fw_key_companion(&v[1], &k));
	text = fw_render(&c, v, 3);
	ck_assert_ptr_nonnull(text);
	check_golden("cgn.nft", text);
	free(text);
}
END_TEST

/* The block layout (RFC 7422) shared by pcpd's PCP blocks and the NAT44 block map. */
static struct fw_config blocks_cfg(const char *pool, uint8_t pool_len, uint16_t min, uint16_t max, uint32_t size)
{
	struct fw_config c = standalone_cfg();

	inet_pton(AF_INET, "100.64.0.0", &c.nat_src);
	c.nat_src_len = 10;
	inet_pton(AF_INET, pool, &c.nat_pool[0]);
	c.nat_pool_len[0] = pool_len;
	c.n_nat_pool = 1;
	c.nat_port_min = min;
	c.nat_port_max = max;
	c.nat_block_size = size;
	return c;
}

static void block_is(const struct fw_nat_blocks *nb, uint64_t i, const char *sub, const char *ext, uint16_t lo,
		     uint16_t hi)
{
	struct in_addr s, e;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	uint16_t l, h;
	uint64_t back;

	fw_nat_block_at(nb, i, &s, &e, &l, &h);
	ck_assert_str_eq(inet_ntop(AF_INET, &s, a, sizeof(a)), sub);
	ck_assert_str_eq(inet_ntop(AF_INET, &e, b, sizeof(b)), ext);
	ck_assert_uint_eq(l, lo);
	ck_assert_uint_eq(h, hi);
	ck_assert(fw_nat_block_index(nb, s, &back));
	ck_assert_uint_eq(back, i);
}

START_TEST(nat_blocks_layout)
{
	struct fw_config c = blocks_cfg("203.0.113.8", 30, 1024, 65535, 1024);   /* 63 blocks per address */
	struct fw_nat_blocks nb;
	struct in_addr a;
	char err[128];
	uint64_t i;

	ck_assert_msg(fw_nat_blocks_init(&nb, &c, err, sizeof(err)), "%s", err);
	ck_assert_uint_eq(nb.per_addr, 63);
	ck_assert_uint_eq(fw_nat_blocks_capacity(&nb), 252);
	ck_assert_uint_eq(fw_nat_block_elems(&c, &nb), 252);
	block_is(&nb, 0, "100.64.0.0", "203.0.113.8", 1024, 2047);          /* first subscriber */
	block_is(&nb, 62, "100.64.0.62", "203.0.113.8", 64512, 65535);      /* last block of an address */
	block_is(&nb, 63, "100.64.0.63", "203.0.113.9", 1024, 2047);        /* the next address */
	block_is(&nb, 251, "100.64.0.251", "203.0.113.11", 64512, 65535);   /* the pool's last block */
	/* the subscriber prefix's edges */
	inet_pton(AF_INET, "100.63.255.255", &a);
	ck_assert(!fw_nat_block_index(&nb, a, &i));
	inet_pton(AF_INET, "100.128.0.0", &a);
	ck_assert(!fw_nat_block_index(&nb, a, &i));
	inet_pton(AF_INET, "100.127.255.255", &a);
	ck_assert(fw_nat_block_index(&nb, a, &i));
	ck_assert_uint_eq(i, (1u << 22) - 1);   /* a subscriber, beyond the capacity */
	/* a range that does not divide: the remainder ports belong to no block */
	c = blocks_cfg("203.0.113.8", 32, 1024, 2047, 1000);
	ck_assert(fw_nat_blocks_init(&nb, &c, err, sizeof(err)));
	ck_assert_uint_eq(fw_nat_blocks_capacity(&nb), 1);
	block_is(&nb, 0, "100.64.0.0", "203.0.113.8", 1024, 2023);
	/* fewer subscribers than blocks: the subscribers bound it */
	c = blocks_cfg("203.0.113.8", 30, 1024, 65535, 1024);
	c.nat_src_len = 30;
	ck_assert_uint_eq(fw_nat_block_elems(&c, &nb), 4);
}
END_TEST

START_TEST(nat_blocks_bounds_and_refusals)
{
	struct fw_config c = blocks_cfg("203.0.113.0", 24, 1024, 65535, 4);   /* 256 x 16128 blocks */
	struct fw_nat_blocks nb;
	char err[128];

	ck_assert_uint_eq(fw_nat_block_elems(&c, &nb), FW_NAT_BLOCK_ELEMS_MAX);   /* capacity overflow */
	ck_assert_uint_eq(fw_nat_blocks_capacity(&nb), 256u * 16128u);
	block_is(&nb, FW_NAT_BLOCK_ELEMS_MAX - 1, "100.67.255.255", "203.0.113.16", 1024 + 4 * 4095, 1024 + 4 * 4095 + 3);
	c.nat_block_size = 0;   /* no blocks configured: no map */
	ck_assert_uint_eq(fw_nat_block_elems(&c, &nb), 0);
	ck_assert(!fw_nat_blocks_init(&nb, &c, err, sizeof(err)));
	c.nat_block_size = 64513;   /* above the range */
	ck_assert(!fw_nat_blocks_init(&nb, &c, err, sizeof(err)));
	ck_assert_msg(strstr(err, "does not fit") != NULL, "%s", err);
	c = blocks_cfg("203.0.113.8", 31, 0, 100, 10);
	ck_assert(!fw_nat_blocks_init(&nb, &c, err, sizeof(err)));
	c = blocks_cfg("203.0.113.8", 31, 2000, 1000, 10);
	ck_assert(!fw_nat_blocks_init(&nb, &c, err, sizeof(err)));
	c = blocks_cfg("203.0.113.8", 31, 1024, 2047, 16);
	inet_pton(AF_INET, "203.0.113.12", &c.nat_pool[1]);   /* a gap at .10-.11 */
	c.nat_pool_len[1] = 31;
	c.n_nat_pool = 2;
	ck_assert(!fw_nat_blocks_init(&nb, &c, err, sizeof(err)));
	ck_assert_uint_eq(fw_nat_block_elems(&c, &nb), 0);
	c.n_nat_pool = 0;
	ck_assert_uint_eq(fw_nat_block_elems(&c, &nb), 0);
}
END_TEST

/* No cgroup (or no LAN interface): standalone has no output chain and no lan_if; integrated keeps
 * an empty igdd_output, so the operator's jump still resolves. */
START_TEST(render_output_wall_off)
{
	struct fw_config c = standalone_cfg();
	char *text;

	ck_assert(fw_output_wall(&c));
	c.out_cgroup_id = 0;
	ck_assert(!fw_output_wall(&c));
	text = fw_render(&c, NULL, 0);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(strstr(text, "output"));
	ck_assert_ptr_null(strstr(text, "lan_if"));
	free(text);
	c = standalone_cfg();
	c.n_lan = 0;
	ck_assert(!fw_output_wall(&c));
	text = fw_render(&c, NULL, 0);
	ck_assert_ptr_null(strstr(text, "cgroupv2"));
	free(text);
	c = integrated_cfg();
	c.out_cgroup_id = 0;
	text = fw_render(&c, NULL, 0);
	ck_assert_ptr_nonnull(strstr(text, "\tchain igdd_output {\n\t}\n"));
	ck_assert_ptr_null(strstr(text, "cgroupv2"));
	ck_assert_ptr_null(strstr(text, "igdd_lan_if"));
	free(text);
}
END_TEST

START_TEST(nat_pool_range)
{
	struct fw_config c = standalone_cfg();
	struct in_addr lo, hi;

	ck_assert(!fw_nat_pool_range(&c, &lo, &hi));
	inet_pton(AF_INET, "203.0.113.12", &c.nat_pool[0]);
	c.nat_pool_len[0] = 31;
	inet_pton(AF_INET, "203.0.113.8", &c.nat_pool[1]);
	c.nat_pool_len[1] = 30;
	c.n_nat_pool = 2;
	ck_assert(fw_nat_pool_range(&c, &lo, &hi));
	ck_assert_uint_eq(ntohl(lo.s_addr) & 0xff, 8);
	ck_assert_uint_eq(ntohl(hi.s_addr) & 0xff, 13);
	c.nat_pool_len[0] = 32;   /* .12 and .8/30: contiguous */
	ck_assert(fw_nat_pool_range(&c, &lo, &hi));
	inet_pton(AF_INET, "203.0.113.14", &c.nat_pool[0]);   /* gap at .12-.13 */
	ck_assert(!fw_nat_pool_range(&c, &lo, &hi));
	inet_pton(AF_INET, "203.0.113.9", &c.nat_pool[0]);    /* overlap */
	ck_assert(!fw_nat_pool_range(&c, &lo, &hi));
}
END_TEST

START_TEST(render_is_order_independent_and_skips_bad)
{
	struct fw_config c = standalone_cfg();
	struct fw_elem v[16], r[16];
	size_t n = sample(v);
	char *a, *b;

	for (size_t i = 0; i < n; i++)
		r[i] = v[n - 1 - i];
	a = fw_render(&c, v, n);
	b = fw_render(&c, r, n);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(a, b);
	free(b);
	r[n] = elem_pinhole("2001:db8::1", 4242, 1, 0);
	b = fw_render(&c, r, n + 1);
	ck_assert_ptr_nonnull(strstr(b, "# skipped"));
	ck_assert_ptr_nonnull(strstr(b, strchr(a, '\n') ? "table inet igdd" : "x"));
	free(a);
	free(b);
	ck_assert_ptr_null(fw_render(NULL, v, n));
	ck_assert_ptr_null(fw_render(&c, NULL, 3));
}
END_TEST

static Suite *fw_suite(void)
{
	Suite *s = suite_create("fw");
	TCase *keys = tcase_create("keys"), *mem = tcase_create("mem"), *render = tcase_create("render");

	tcase_add_test(keys, same_key_ignores_timeout_and_counters);
	tcase_add_test(keys, same_key_normalises_wildcards);
	tcase_add_test(keys, same_key_portmap_target_is_data);
	tcase_add_test(keys, bad_elements_are_refused);
	tcase_add_test(keys, key_round_trip);
	tcase_add_test(keys, portmap_remote_keys);
	tcase_add_test(keys, elem_str_forms);
	tcase_add_test(mem, mem_commit_add_delete);
	tcase_add_test(mem, mem_readd_updates_timeout_keeps_counter);
	tcase_add_test(mem, mem_portmap_replace_changes_target);
	tcase_add_test(mem, mem_all_or_nothing);
	tcase_add_test(mem, clashing_elements);
	tcase_add_test(mem, mem_resync_and_monitor);
	tcase_add_test(mem, mem_read_counters_and_bad_args);
	tcase_add_test(mem, mem_many_elements);
	tcase_set_timeout(mem, 30);
	tcase_add_test(render, render_standalone_golden);
	tcase_add_test(render, render_integrated_golden);
	tcase_add_test(render, render_empty_golden);
	tcase_add_test(render, render_cgn_golden);
	tcase_add_test(render, render_output_wall_off);
	tcase_add_test(render, nat_pool_range);
	tcase_add_test(render, nat_blocks_layout);
	tcase_add_test(render, nat_blocks_bounds_and_refusals);
	tcase_add_test(render, render_is_order_independent_and_skips_bad);
	suite_add_tcase(s, keys);
	suite_add_tcase(s, mem);
	suite_add_tcase(s, render);
	return s;
}

int main(void)
{
	return run_suite(fw_suite());
}
