/* SPDX-License-Identifier: GPL-2.0-or-later */
/* maplog_: the operator's mapping records (pcpd/maplog.c): the documented line, field by field, for a
 * CGN port mapping, a PEER, an IPv6 pinhole; which events make a record; a buffer too small. */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "pcpd/maplog.h"
#include "tests/unit/testutil.h"

static struct rule cgn_map(void)
{
	struct rule r;
	struct in_addr ext;

	memset(&r, 0, sizeof(r));
	r.id = 42;
	r.kind = RULE_PORTMAP;
	r.proto = IPPROTO_UDP;
	r.target.use_exact = true;
	r.target.exact = A("::ffff:100.64.0.10");
	r.owner = r.target.exact;
	r.int_port = 4000;
	inet_pton(AF_INET, "203.0.113.1", &ext);
	r.ext_addr = ext;
	r.ext_port = 1050;
	r.lease = 600;
	r.origin = ORIGIN_PCP;
	return r;
}

START_TEST(portmap_line)
{
	struct rule r = cgn_map();
	char buf[MAPLOG_LINE_MAX];
	size_t n = maplog_format(buf, sizeof(buf), 1796374800, CORE_EV_ADDED, &r);   /* 2026-12-04T09:00:00Z */

	ck_assert_str_eq(buf, "2026-12-04T09:00:00Z create udp subscriber=100.64.0.10 internal=100.64.0.10:4000 "
			      "external=203.0.113.1:1050 lifetime=600 via=pcp id=42\n");
	ck_assert_uint_eq(n, strlen(buf));
	maplog_format(buf, sizeof(buf), 1796375400, CORE_EV_EXPIRED, &r);
	ck_assert(strncmp(buf, "2026-12-04T09:10:00Z expire udp ", 32) == 0);
	maplog_format(buf, sizeof(buf), 1796375400, CORE_EV_DELETED, &r);
	ck_assert(strncmp(buf, "2026-12-04T09:10:00Z delete udp ", 32) == 0);
	/* a refresh keeps the endpoints: no record */
	ck_assert(!maplog_records(CORE_EV_CHANGED));
	ck_assert_uint_eq(maplog_format(buf, sizeof(buf), 1796375400, CORE_EV_CHANGED, &r), 0);
	/* too small: nothing half written */
	ck_assert_uint_eq(maplog_format(buf, 40, 1796374800, CORE_EV_ADDED, &r), 0);
}
END_TEST

START_TEST(peer_and_third_party_line)
{
	struct rule r = cgn_map();
	char buf[MAPLOG_LINE_MAX];

	r.origin = ORIGIN_PCP_PEER;
	r.remote = A("::ffff:198.51.100.9");
	r.remote_len = 128;
	r.remote_port = 443;
	r.owner = A("::ffff:100.64.0.1");   /* THIRD_PARTY: the requester is the subscriber on record */
	maplog_format(buf, sizeof(buf), 1796374800, CORE_EV_ADDED, &r);
	ck_assert_str_eq(buf, "2026-12-04T09:00:00Z create udp subscriber=100.64.0.1 internal=100.64.0.10:4000 "
			      "external=203.0.113.1:1050 peer=198.51.100.9:443 lifetime=600 via=pcp-peer id=42\n");
}
END_TEST

START_TEST(pinhole_line)
{
	struct rule r;
	char buf[MAPLOG_LINE_MAX];

	memset(&r, 0, sizeof(r));
	r.id = 7;
	r.kind = RULE_PINHOLE;
	r.proto = IPPROTO_TCP;
	r.target.use_exact = true;
	r.target.exact = A("2001:db8:1::5");
	r.owner = r.target.exact;
	r.int_port = 8080;
	r.lease = 3600;
	r.origin = ORIGIN_PCP;
	maplog_format(buf, sizeof(buf), 1796374800, CORE_EV_ADDED, &r);
	ck_assert_str_eq(buf, "2026-12-04T09:00:00Z create tcp subscriber=2001:db8:1::5 internal=[2001:db8:1::5]:8080 "
			      "external=[2001:db8:1::5]:8080 lifetime=3600 via=pcp id=7\n");
}
END_TEST

static Suite *maplog_suite(void)
{
	Suite *s = suite_create("maplog");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, portmap_line);
	tcase_add_test(tc, peer_and_third_party_line);
	tcase_add_test(tc, pinhole_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(maplog_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
