/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ctnetlink GET of one conntrack entry by its original tuple (see ct_flow.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "pcpd/ct_flow.h"

struct ct_flow {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

struct ct_flow *ct_flow_open(void)
{
	struct ct_flow *c = calloc(1, sizeof(*c));
	struct timeval tv = { .tv_sec = 0, .tv_usec = CT_FLOW_TIMEOUT_MS * 1000 };

	if (c == NULL)
		return NULL;
	c->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (c->nl == NULL || mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int saved = errno;

		ct_flow_close(c);
		errno = saved;
		return NULL;
	}
	c->portid = mnl_socket_get_portid(c->nl);
	c->seq = (uint32_t)time(NULL);
	return c;
}

void ct_flow_close(struct ct_flow *c)
{
	if (c == NULL)
		return;
	if (c->nl)
		mnl_socket_close(c->nl);
	free(c);
}

/* ---------- parsing (pure) ---------- */

struct nested {
	const struct nlattr *tb[CTA_MAX + 1];
	uint16_t max;
};

static int keep_attr(const struct nlattr *a, void *data)
{
	struct nested *n = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= n->max)
		n->tb[type] = a;
	return MNL_CB_OK;
}

/* The attributes of a nested one, by type up to max (0 when a is not a well-formed nest). */
static bool parse_nested(const struct nlattr *a, uint16_t max, struct nested *out)
{
	memset(out, 0, sizeof(*out));
	out->max = max;
	return a != NULL && mnl_attr_validate(a, MNL_TYPE_NESTED) >= 0 &&
	       mnl_attr_parse_nested(a, keep_attr, out) >= 0;
}

bool ct_flow_parse(const void *msg, size_t len, struct in_addr *ext, uint16_t *ext_port)
{
	const struct nlmsghdr *nlh = msg;
	struct nested top, tuple, ip, proto;
	uint16_t be;

	/* libmnl walks attributes up to the message's length rounded up to 4: the bytes must be there */
	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || MNL_ALIGN(nlh->nlmsg_len) > len ||
	    !mnl_nlmsg_ok(nlh, (int)len) ||
	    nlh->nlmsg_type != ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW) ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
		return false;
	memset(&top, 0, sizeof(top));
	top.max = CTA_MAX;
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), keep_attr, &top) < 0)
		return false;
	if (!parse_nested(top.tb[CTA_TUPLE_REPLY], CTA_TUPLE_MAX, &tuple) ||
	    !parse_nested(tuple.tb[CTA_TUPLE_IP], CTA_IP_MAX, &ip) ||
	    !parse_nested(tuple.tb[CTA_TUPLE_PROTO], CTA_PROTO_MAX, &proto))
		return false;
	if (ip.tb[CTA_IP_V4_DST] == NULL || mnl_attr_validate(ip.tb[CTA_IP_V4_DST], MNL_TYPE_U32) < 0 ||
	    proto.tb[CTA_PROTO_DST_PORT] == NULL ||
	    mnl_attr_validate(proto.tb[CTA_PROTO_DST_PORT], MNL_TYPE_U16) < 0)
		return false;
	ext->s_addr = mnl_attr_get_u32(ip.tb[CTA_IP_V4_DST]);
	be = mnl_attr_get_u16(proto.tb[CTA_PROTO_DST_PORT]);
	*ext_port = ntohs(be);
	return true;
}

/* ---------- the request ---------- */

struct answer {
	bool found;
	struct in_addr ext;
	uint16_t port;
};

static int answer_cb(const struct nlmsghdr *nlh, void *data)
{
	struct answer *a = data;

	if (ct_flow_parse(nlh, nlh->nlmsg_len, &a->ext, &a->port))
		a->found = true;
	return MNL_CB_OK;
}

bool ct_flow_ext(struct ct_flow *c, struct in_addr internal, uint16_t int_port, struct in_addr remote,
		 uint16_t remote_port, uint8_t proto, struct in_addr *ext, uint16_t *ext_port)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct nlattr *tuple, *nest;
	struct answer a = { .found = false };
	uint32_t seq;
	ssize_t n;
	int ret;

	if (c == NULL)
		return false;
	seq = ++c->seq;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, internal.s_addr);
	mnl_attr_put_u32(nlh, CTA_IP_V4_DST, remote.s_addr);
	mnl_attr_nest_end(nlh, nest);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(int_port));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(remote_port));
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, tuple);
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return false;
	/* the entry (if any), then the ACK or the error (ENOENT: no such flow); bounded by SO_RCVTIMEO */
	do {
		n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf));
		if (n <= 0)
			return false;
		ret = mnl_cb_run(buf, (size_t)n, seq, c->portid, answer_cb, &a);
	} while (ret > MNL_CB_STOP);
	if (!a.found)
		return false;
	*ext = a.ext;
	*ext_port = a.port;
	return true;
}
