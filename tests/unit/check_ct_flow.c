/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ct_flow suite: reading the external endpoint out of a ctnetlink conntrack message (ct_flow_parse),
 * with messages built as the kernel lays them out (libmnl), and what it refuses. The request itself
 * runs against the kernel in tests/integration/t_cgn_peer.sh. */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "pcpd/ct_flow.h"
#include "tests/unit/testutil.h"

static void put_tuple(struct nlmsghdr *nlh, uint16_t which, const char *src, uint16_t sport, const char *dst,
		      uint16_t dport, bool with_dst_port)
{
	struct nlattr *t = mnl_attr_nest_start(nlh, which), *n;
	struct in_addr a;

	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	inet_pton(AF_INET, src, &a);
	mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, a.s_addr);
	inet_pton(AF_INET, dst, &a);
	mnl_attr_put_u32(nlh, CTA_IP_V4_DST, a.s_addr);
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_UDP);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
	if (with_dst_port)
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, t);
}

/* A conntrack entry as ctnetlink sends it: 100.64.0.3:4100 -> 198.51.100.1:7777, SNATed to
 * 203.0.113.8:20013 (the reply tuple comes back to that). */
static struct nlmsghdr *entry(char *buf, bool with_reply, bool with_dst_port)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	put_tuple(nlh, CTA_TUPLE_ORIG, "100.64.0.3", 4100, "198.51.100.1", 7777, true);
	if (with_reply)
		put_tuple(nlh, CTA_TUPLE_REPLY, "198.51.100.1", 7777, "203.0.113.8", 20013, with_dst_port);
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(30));
	return nlh;
}

START_TEST(reply_destination_is_the_external_endpoint)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], text[INET_ADDRSTRLEN];
	struct nlmsghdr *nlh = entry(buf, true, true);
	struct in_addr ext;
	uint16_t port = 0;

	ck_assert(ct_flow_parse(nlh, nlh->nlmsg_len, &ext, &port));
	ck_assert_str_eq(inet_ntop(AF_INET, &ext, text, sizeof(text)), "203.0.113.8");
	ck_assert_uint_eq(port, 20013);
}
END_TEST

START_TEST(refused)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct in_addr ext;
	uint16_t port;

	nlh = entry(buf, false, true);                          /* no reply tuple */
	ck_assert(!ct_flow_parse(nlh, nlh->nlmsg_len, &ext, &port));
	nlh = entry(buf, true, false);                          /* a reply tuple without its port */
	ck_assert(!ct_flow_parse(nlh, nlh->nlmsg_len, &ext, &port));
	nlh = entry(buf, true, true);
	ck_assert(!ct_flow_parse(nlh, nlh->nlmsg_len - 4, &ext, &port));   /* cut short */
	ck_assert(!ct_flow_parse(nlh, 8, &ext, &port));
	nlh->nlmsg_type = NLMSG_ERROR;                          /* not a conntrack entry */
	ck_assert(!ct_flow_parse(nlh, nlh->nlmsg_len, &ext, &port));
	ck_assert(!ct_flow_parse(buf, 0, &ext, &port));
	/* a socket that never opened answers nothing */
	ck_assert(!ct_flow_ext(NULL, ext, 1, ext, 1, IPPROTO_UDP, &ext, &port));
}
END_TEST

static Suite *ct_flow_suite(void)
{
	Suite *s = suite_create("ct_flow");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, reply_destination_is_the_external_endpoint);
	tcase_add_test(tc, refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(ct_flow_suite());
}
