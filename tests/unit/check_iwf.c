/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pure parts of the interworking function (pcpd/pcp_client.c): retransmission and renewal
 * schedules, the epoch check, response matching, the RFC 6970 error table, the mapping states, and
 * a MAP request round trip through the wire codec. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "igdd/iwf.h"
#include "pcpd/pcp_client.h"
#include "pcpd/pcp_wire.h"

START_TEST(test_rt_schedule)
{
	uint32_t rt;

	/* RFC 6887 8.1.1: IRT 3 s +-10 %, doubling, capped at MRT 1024 s (+-10 %) */
	ck_assert_uint_eq(pcp_client_rt_ms(0, 0), 3000);
	ck_assert_uint_eq(pcp_client_rt_ms(0, -100), 2700);
	ck_assert_uint_eq(pcp_client_rt_ms(0, 100), 3300);
	ck_assert_uint_eq(pcp_client_rt_ms(0, 500), 3300);  /* RAND clamped */
	ck_assert_uint_eq(pcp_client_rt_ms(3000, 0), 6000);
	ck_assert_uint_eq(pcp_client_rt_ms(6000, 0), 12000);
	rt = 0;
	for (int i = 0; i < 30; i++)
		rt = pcp_client_rt_ms(rt, 0);
	ck_assert_uint_eq(rt, PCP_CLIENT_MRT_MS);
	ck_assert_uint_eq(pcp_client_rt_ms(PCP_CLIENT_MRT_MS, 100), 1126400);
	/* the synchronous UPnP wait fails the first request after the upstream went silent within 2 s (a
	 * UPnP client stops reading at 5 s), and still holds two tries: the second halfway, after a longer
	 * wait than any answer of a live server takes */
	ck_assert_uint_le(IWF_SYNC_WAIT_MS, 2000);
	ck_assert_uint_ge(IWF_SYNC_WAIT_MS / 2, 500);
}
END_TEST

/* One restart of the upstream server is one loss, however late its datagrams are read: each is judged
 * at its arrival, and one that arrived before the answer last judged says nothing newer. */
START_TEST(test_epoch_by_arrival)
{
	struct pcp_client_epoch e = { 0 };

	/* the old server answers at 50 s (epoch 1000) and at 60 s (epoch 1010) */
	ck_assert_int_eq(pcp_client_epoch_arrived(&e, 1000, 50000), PCP_CLIENT_EPOCH_FINE);
	ck_assert_int_eq(pcp_client_epoch_arrived(&e, 1010, 60000), PCP_CLIENT_EPOCH_FINE);
	/* it restarts; the new one's first answer arrives at 64 s with epoch 1: the one loss */
	ck_assert_int_eq(pcp_client_epoch_arrived(&e, 1, 64000), PCP_CLIENT_EPOCH_LOST);
	/* the old server's last answer, arrived at 61 s but read only now (a busy thread): judged at its
	 * arrival it is older than what we know, not a "jump ahead" of the new server */
	ck_assert_int_eq(pcp_client_epoch_arrived(&e, 1011, 61000), PCP_CLIENT_EPOCH_STALE);
	/* the new server's answer at 65 s, then one of its announcements (epoch 0) that arrived at 63.5 s
	 * and sat queued until 70 s: judged against the time it was read it would look like the epoch went
	 * backwards (0 after 2) */
	ck_assert_int_eq(pcp_client_epoch_arrived(&e, 2, 66000), PCP_CLIENT_EPOCH_FINE);
	ck_assert_int_eq(pcp_client_epoch_arrived(&e, 0, 63500), PCP_CLIENT_EPOCH_STALE);
	{
		struct pcp_client_epoch naive = e;

		ck_assert(!pcp_client_epoch_check(&naive, 0, 70));
	}
	/* and the new server keeps its pace from there */
	ck_assert_int_eq(pcp_client_epoch_arrived(&e, 12, 76000), PCP_CLIENT_EPOCH_FINE);
	ck_assert_uint_eq(e.prev_server, 12);
	ck_assert_uint_eq(e.prev_client_s, 76);
	/* an answer that arrived in the same millisecond as the last one is judged, not stale */
	ck_assert_int_eq(pcp_client_epoch_arrived(&e, 12, 76000), PCP_CLIENT_EPOCH_FINE);
}
END_TEST

START_TEST(test_renew)
{
	/* first renewal in [1/2, 5/8] of the lifetime */
	ck_assert_uint_eq(pcp_client_renew_s(600, 0, 0), 300);
	ck_assert_uint_eq(pcp_client_renew_s(600, 0, 1000), 375);
	ck_assert_uint_eq(pcp_client_renew_s(600, 0, 500), 337);
	/* then [3/4, 3/4+1/16], [7/8, 7/8+1/32] */
	ck_assert_uint_eq(pcp_client_renew_s(800, 1, 0), 600);
	ck_assert_uint_eq(pcp_client_renew_s(800, 1, 1000), 650);
	ck_assert_uint_eq(pcp_client_renew_s(800, 2, 0), 700);
	/* never more often than every 4 s */
	ck_assert_uint_eq(pcp_client_renew_s(2, 0, 0), 4);
	ck_assert_uint_eq(pcp_client_renew_s(0, 5, 1000), 4);
}
END_TEST

START_TEST(test_epoch)
{
	struct pcp_client_epoch e = { 0 };

	ck_assert(pcp_client_epoch_check(&e, 1000, 50));      /* first: fine */
	ck_assert(pcp_client_epoch_check(&e, 1010, 60));      /* same pace */
	ck_assert(pcp_client_epoch_check(&e, 1009, 60));      /* one second back is tolerated */
	ck_assert(!pcp_client_epoch_check(&e, 5, 65));        /* went back: state lost */
	ck_assert(pcp_client_epoch_check(&e, 105, 165));      /* and fine again from there */
	ck_assert(!pcp_client_epoch_check(&e, 110, 265));     /* server 5 s vs client 100 s: rebooted */
	ck_assert(!pcp_client_epoch_check(&e, 1110, 275));    /* server ran far ahead */
	ck_assert(pcp_client_epoch_check(&e, 1110 + 1600, 275 + 1700)); /* drift within 1/16 */
}
END_TEST

START_TEST(test_error_table)
{
	/* RFC 6970: IGD:2 column, then IGD:1 */
	ck_assert_int_eq(pcp_client_upnp_error(PCP_SUCCESS, false), 0);
	ck_assert_int_eq(pcp_client_upnp_error(PCP_NOT_AUTHORIZED, false), 606);
	ck_assert_int_eq(pcp_client_upnp_error(PCP_NOT_AUTHORIZED, true), 718);
	ck_assert_int_eq(pcp_client_upnp_error(PCP_CANNOT_PROVIDE_EXTERNAL, false), 718);
	ck_assert_int_eq(pcp_client_upnp_error(PCP_CANNOT_PROVIDE_EXTERNAL, true), 718);
	ck_assert_int_eq(pcp_client_upnp_error(PCP_NO_RESOURCES, false), 728);
	ck_assert_int_eq(pcp_client_upnp_error(PCP_USER_EX_QUOTA, false), 728);
	ck_assert_int_eq(pcp_client_upnp_error(PCP_USER_EX_QUOTA, true), 501);
	for (uint8_t r = PCP_UNSUPP_VERSION; r <= PCP_EXCESSIVE_REMOTE_PEERS; r++) {
		int c = pcp_client_upnp_error(r, false);

		if (r == PCP_NOT_AUTHORIZED || r == PCP_NO_RESOURCES || r == PCP_USER_EX_QUOTA ||
		    r == PCP_CANNOT_PROVIDE_EXTERNAL)
			continue;
		ck_assert_int_eq(c, 501);
	}
	ck_assert_int_eq(iwf_upnp_code(IWF_NO_ANSWER, false), 501);
	ck_assert_int_eq(iwf_upnp_code(PCP_CANNOT_PROVIDE_EXTERNAL, false), 718);
}
END_TEST

START_TEST(test_states)
{
	ck_assert_int_eq(pcp_client_next(PCP_CLIENT_MAPPED, PCP_CLIENT_EV_TIMEOUT), PCP_CLIENT_RENEWING);
	ck_assert_int_eq(pcp_client_next(PCP_CLIENT_RENEWING, PCP_CLIENT_EV_TIMEOUT), PCP_CLIENT_RENEWING);
	ck_assert_int_eq(pcp_client_next(PCP_CLIENT_LOST, PCP_CLIENT_EV_TIMEOUT), PCP_CLIENT_FAILED);
	ck_assert_int_eq(pcp_client_next(PCP_CLIENT_RENEWING, PCP_CLIENT_EV_OK), PCP_CLIENT_MAPPED);
	ck_assert_int_eq(pcp_client_next(PCP_CLIENT_MAPPED, PCP_CLIENT_EV_EPOCH), PCP_CLIENT_LOST);
	ck_assert_int_eq(pcp_client_next(PCP_CLIENT_MAPPED, PCP_CLIENT_EV_REFUSED), PCP_CLIENT_FAILED);
	ck_assert_int_eq(pcp_client_next(PCP_CLIENT_FAILED, PCP_CLIENT_EV_OK), PCP_CLIENT_MAPPED);
	ck_assert_str_eq(pcp_client_state_name(PCP_CLIENT_LOST), "lost");
	ck_assert_uint_eq(pcp_client_backoff_s(0, 30), 4);
	ck_assert_uint_eq(pcp_client_backoff_s(1, 30), 8);
	ck_assert_uint_eq(pcp_client_backoff_s(3, 30), 30);
	ck_assert_uint_eq(pcp_client_backoff_s(100, 60), 60);
	ck_assert_str_eq(iwf_state_name(IWF_UNREACHABLE), "unreachable");
}
END_TEST

/* A MAP request as the IWF sends it, answered by a server-side reply: it must match, and a reply to
 * another nonce or port must not. */
START_TEST(test_map_roundtrip)
{
	static const uint8_t nonce[PCP_NONCE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct pcp_request req, parsed;
	struct pcp_response resp;
	struct pcp_reply rep = { .result = PCP_SUCCESS, .lifetime = 600, .epoch = 42, .ext_port = 20033 };
	struct in6_addr client = { .s6_addr = { [10] = 0xff, [11] = 0xff, [12] = 100, [13] = 64, [15] = 2 } };
	uint8_t buf[PCP_MAX_MSG], out[PCP_MAX_MSG], result;
	size_t n, m;

	pcp_client_map_request(&req, &client, nonce, 6, 20033, 20033, NULL, 600, true, "game");
	ck_assert(req.opt.prefer_failure);
	ck_assert(req.opt.has_description);
	n = pcp_wire_build_request(&req, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(pcp_wire_parse_request(buf, n, &parsed, &result), PCP_PARSE_OK);
	ck_assert(parsed.opt.prefer_failure);
	ck_assert_uint_eq(parsed.op.internal_port, 20033);
	ck_assert(pcp_addr_is_v4mapped(&parsed.op.ext_addr));  /* "no preference", IPv4 flavour */
	rep.ext_addr = client;
	rep.ext_addr.s6_addr[12] = 203, rep.ext_addr.s6_addr[13] = 0, rep.ext_addr.s6_addr[14] = 113;
	rep.ext_addr.s6_addr[15] = 8;
	m = pcp_wire_build_reply(&parsed, &rep, out, sizeof(out));
	ck_assert_uint_gt(m, 0);
	ck_assert_int_eq(pcp_wire_parse_response(out, m, &resp), PCP_PARSE_OK);
	ck_assert(pcp_client_match(&req, &resp));
	ck_assert_uint_eq(resp.op.ext_port, 20033);
	ck_assert_uint_eq(resp.epoch, 42);
	resp.op.nonce[0] ^= 1;
	ck_assert(!pcp_client_match(&req, &resp));
	resp.op.nonce[0] ^= 1;
	resp.op.internal_port++;
	ck_assert(!pcp_client_match(&req, &resp));
	/* a delete carries neither PREFER_FAILURE nor a description */
	pcp_client_map_request(&req, &client, nonce, 6, 20033, 0, NULL, 0, true, "game");
	ck_assert(!req.opt.prefer_failure);
	ck_assert(!req.opt.has_description);
	/* ANNOUNCE */
	pcp_client_announce_request(&req, &client);
	n = pcp_wire_build_request(&req, buf, sizeof(buf));
	ck_assert_uint_eq(n, PCP_HDR_LEN);
}
END_TEST

/* issue 12: a datagram to port 5350 with the server's address as its source re-created every
 * upstream mapping, whoever sent it. Only the WAN interface counts, and only the server's address. */
START_TEST(test_unsolicited_source)
{
	struct in6_addr server = { .s6_addr = { [10] = 0xff, [11] = 0xff, 100, 64, 0, 1 } };
	struct in6_addr other = { .s6_addr = { [10] = 0xff, [11] = 0xff, 100, 64, 0, 9 } };

	ck_assert(iwf_unsolicited_ok(&server, "wan0", &server, "wan0"));
	ck_assert(!iwf_unsolicited_ok(&server, "lan0", &server, "wan0"));   /* spoofed from the LAN */
	ck_assert(!iwf_unsolicited_ok(&server, "", &server, "wan0"));       /* arrival unknown */
	ck_assert(!iwf_unsolicited_ok(&other, "wan0", &server, "wan0"));    /* another WAN host */
	ck_assert(!iwf_unsolicited_ok(&server, "wan0", &server, NULL));     /* no WAN interface known */
	ck_assert(!iwf_unsolicited_ok(&server, "wan0", &server, ""));
}
END_TEST

/* Re-creating every mapping: 0..5 s after the loss is seen, at most once in 30 s. */
START_TEST(test_recreate_gap)
{
	ck_assert_uint_eq(pcp_client_recreate_at(100000, 1234, false, 0), 101234);
	ck_assert_uint_eq(pcp_client_recreate_at(100000, 99999, false, 0), 100000 + PCP_CLIENT_RECREATE_MAX_MS);
	/* a second loss soon after waits for the gap */
	ck_assert_uint_eq(pcp_client_recreate_at(110000, 0, true, 101234), 101234 + PCP_CLIENT_RECREATE_MIN_GAP_MS);
	ck_assert_uint_eq(pcp_client_recreate_at(200000, 10, true, 101234), 200010);
	/* one still to come takes a new loss along */
	ck_assert_uint_eq(pcp_client_recreate_at(110000, 0, true, 131234), 131234);
	/* a flood of losses re-creates at most once per gap */
	{
		uint64_t last = 0, waves = 0;
		bool have = false;

		for (uint64_t t = 0; t < 300000; t += 100) {
			uint64_t at = pcp_client_recreate_at(t, 0, have, last);

			if (!have || at != last)
				waves++;
			have = true;
			last = at;
		}
		ck_assert_uint_le(waves, 300000 / PCP_CLIENT_RECREATE_MIN_GAP_MS + 1);
	}
}
END_TEST

static Suite *iwf_suite(void)
{
	Suite *s = suite_create("iwf");
	TCase *tc = tcase_create("client");

	tcase_add_test(tc, test_rt_schedule);
	tcase_add_test(tc, test_renew);
	tcase_add_test(tc, test_epoch);
	tcase_add_test(tc, test_epoch_by_arrival);
	tcase_add_test(tc, test_error_table);
	tcase_add_test(tc, test_states);
	tcase_add_test(tc, test_map_roundtrip);
	tcase_add_test(tc, test_unsolicited_source);
	tcase_add_test(tc, test_recreate_gap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(iwf_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
