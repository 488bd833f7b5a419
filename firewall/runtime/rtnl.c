/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rtnetlink listener (see rtnl.h). Turns messages into device table calls and prefix callbacks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <net/if.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/rtnl.h"

struct rtnl {
	struct rtnl_params p;
	struct mnl_socket *nl;   /* subscribed, non-blocking */
	int handled;
	bool dumping;            /* feeding a dump: entries as found, not news of traffic */
};

static int64_t now_of(const struct rtnl *r)
{
	return r->p.clock ? r->p.clock(r->p.clock_arg) : (int64_t)time(NULL);
}

static bool watched(const struct rtnl *r, int ifindex)
{
	return !r->p.lan || lanif_by_index(r->p.lan, ifindex) != NULL;
}

/* An attribute's payload as an address, its length checked against the family. */
static bool attr_addr(const struct nlattr *a, int family, struct in6_addr *out)
{
	uint16_t len;

	if (!a)
		return false;
	len = mnl_attr_get_payload_len(a);
	if (family == AF_INET6 && len == 16) {
		memcpy(out, mnl_attr_get_payload(a), 16);
		return true;
	}
	if (family == AF_INET && len == 4) {
		struct in_addr v4;

		memcpy(&v4, mnl_attr_get_payload(a), 4);
		addr_from_v4(out, v4);
		return true;
	}
	return false;
}

#define MAX_ATTR 64

struct attrs {
	const struct nlattr *tb[MAX_ATTR];
};

static int collect(const struct nlattr *a, void *data)
{
	struct attrs *at = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type < MAX_ATTR)
		at->tb[type] = a;
	return MNL_CB_OK;
}

static enum neigh_state neigh_of(uint16_t nud)
{
	if (nud & (NUD_FAILED | NUD_INCOMPLETE))
		return NEIGH_FAILED;
	if (nud & NUD_STALE)
		return NEIGH_STALE;
	return NEIGH_REACHABLE;
}

static void on_neigh(struct rtnl *r, const struct nlmsghdr *nlh)
{
	const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);
	struct attrs at = { 0 };
	struct in6_addr dst;
	const struct nlattr *ll;
	int64_t now = now_of(r);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nd) || !watched(r, nd->ndm_ifindex))
		return;
	if ((nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6) || (nd->ndm_flags & NTF_PROXY))
		return;
	if (mnl_attr_parse(nlh, sizeof(*nd), collect, &at) != MNL_CB_OK)
		return;
	if (!attr_addr(at.tb[NDA_DST], nd->ndm_family, &dst))
		return;
	if (nlh->nlmsg_type == RTM_DELNEIGH) {
		device_neigh_state(r->p.devices, &dst, NEIGH_ABSENT, now);
		return;
	}
	ll = at.tb[NDA_LLADDR];
	if (ll && mnl_attr_get_payload_len(ll) == 6 && !(nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE))) {
		/* An entry confirmed just now (REACHABLE, or on its way there: DELAY, PROBE) means the
		 * router is sending to the address: answers to what the host sent from it. An entry going
		 * STALE only aged, and a dump says nothing of when it was last used. */
		bool traffic = !r->dumping && (nd->ndm_state & (NUD_REACHABLE | NUD_DELAY | NUD_PROBE));

		device_addr_heard(r->p.devices, mnl_attr_get_payload(ll), nd->ndm_ifindex, &dst,
				  traffic ? DEVICE_HEARD_TRAFFIC : DEVICE_HEARD_TABLE, now);
	}
	device_neigh_state(r->p.devices, &dst, neigh_of(nd->ndm_state), now);
}

static void on_link(struct rtnl *r, const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct attrs at = { 0 };
	char name[IF_NAMESIZE];
	uint16_t len;

	if ((!r->p.lan && !r->p.host) || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return;
	if (nlh->nlmsg_type == RTM_DELLINK) {
		netif_link_gone(r->p.host, ifi->ifi_index);
		if (r->p.lan)
			lanif_link_gone(r->p.lan, ifi->ifi_index);
		return;
	}
	if (mnl_attr_parse(nlh, sizeof(*ifi), collect, &at) != MNL_CB_OK || !at.tb[IFLA_IFNAME])
		return;
	len = mnl_attr_get_payload_len(at.tb[IFLA_IFNAME]);
	if (len == 0 || len > sizeof(name))
		return;
	memcpy(name, mnl_attr_get_payload(at.tb[IFLA_IFNAME]), len);
	name[len - 1] = '\0';   /* the kernel's name ends with NUL; a hostile one is cut there */
	netif_link(r->p.host, ifi->ifi_index, name, ifi->ifi_flags);
	if (r->p.lan)
		lanif_link(r->p.lan, ifi->ifi_index, name, ifi->ifi_flags);
}

static void on_addr(struct rtnl *r, const struct nlmsghdr *nlh)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct attrs at = { 0 };
	struct addr_facts f = { 0 };
	struct in6_addr a, prefix;
	uint32_t flags;
	uint8_t plen;
	bool added = nlh->nlmsg_type == RTM_NEWADDR, v6, tentative, deprecated;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa) || (ifa->ifa_family != AF_INET6 && ifa->ifa_family != AF_INET) ||
	    (!r->p.host && !watched(r, (int)ifa->ifa_index)))
		return;
	v6 = ifa->ifa_family == AF_INET6;
	if (ifa->ifa_prefixlen > (v6 ? 128 : 32) || mnl_attr_parse(nlh, sizeof(*ifa), collect, &at) != MNL_CB_OK)
		return;
	/* IPv4: IFA_LOCAL is our address (IFA_ADDRESS is the peer's on point-to-point links) */
	if (!attr_addr(v6 ? at.tb[IFA_ADDRESS] : (at.tb[IFA_LOCAL] ? at.tb[IFA_LOCAL] : at.tb[IFA_ADDRESS]),
		       ifa->ifa_family, &a) || addr_is_multicast(&a))
		return;
	flags = ifa->ifa_flags;
	if (at.tb[IFA_FLAGS] && mnl_attr_get_payload_len(at.tb[IFA_FLAGS]) == 4)
		flags = mnl_attr_get_u32(at.tb[IFA_FLAGS]);   /* the full 32 bits; ifa_flags has only 8 */
	f.flag_temporary = flags & IFA_F_TEMPORARY;
	f.flag_stable_privacy = flags & IFA_F_STABLE_PRIVACY;
	f.flag_permanent = flags & IFA_F_PERMANENT;
	if (at.tb[IFA_CACHEINFO] && mnl_attr_get_payload_len(at.tb[IFA_CACHEINFO]) >= sizeof(struct ifa_cacheinfo)) {
		const struct ifa_cacheinfo *ci = mnl_attr_get_payload(at.tb[IFA_CACHEINFO]);

		f.lifetimes_known = true;
		f.preferred = ci->ifa_prefered;
		f.valid = ci->ifa_valid;
	}
	tentative = flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED);
	deprecated = (flags & IFA_F_DEPRECATED) || (f.lifetimes_known && f.preferred == 0);
	plen = (uint8_t)(v6 ? ifa->ifa_prefixlen : 96 + ifa->ifa_prefixlen);
	netif_addr(r->p.host, (int)ifa->ifa_index, &a, plen, tentative, deprecated, added);
	if (!watched(r, (int)ifa->ifa_index))
		return;   /* not a LAN interface: the host's facts only */
	if (r->p.lan)
		lanif_addr(r->p.lan, (int)ifa->ifa_index, &a, plen, tentative, deprecated, added);
	if (!v6 || addr_is_link_local(&a) || !r->p.on_prefix)
		return;
	prefix = a;
	addr_mask(&prefix, ifa->ifa_prefixlen);
	r->p.on_prefix(r->p.arg, (int)ifa->ifa_index, &a, &prefix, ifa->ifa_prefixlen, added, &f);
}

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	struct rtnl *r = data;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		on_link(r, nlh);
		break;
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		on_neigh(r, nlh);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		on_addr(r, nlh);
		break;
	default:
		return MNL_CB_OK;
	}
	r->handled++;
	return MNL_CB_OK;
}

struct rtnl *rtnl_open(const struct rtnl_params *p)
{
	struct rtnl *r;

	if (!p || !p->devices) {
		errno = EINVAL;
		return NULL;
	}
	if (!(r = calloc(1, sizeof(*r))))
		return NULL;
	r->p = *p;
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!r->nl || mnl_socket_bind(r->nl, RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
					    MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		rtnl_close(r);
		errno = e;
		return NULL;
	}
	return r;
}

void rtnl_close(struct rtnl *r)
{
	if (!r)
		return;
	if (r->nl)
		mnl_socket_close(r->nl);
	free(r);
}

int rtnl_fd(const struct rtnl *r)
{
	return r ? mnl_socket_get_fd(r->nl) : -1;
}

/* One dump on its own blocking socket, so its replies never mix with the subscribed events. */
static int dump_one(struct rtnl *r, uint16_t type, uint8_t family)
{
	char buf[32768];   /* libmnl 1.0.4 has no MNL_SOCKET_DUMP_SIZE; the kernel sends at most 32 KiB per read */
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	struct nlmsghdr *nlh;
	struct rtgenmsg *g;
	uint32_t seq = (uint32_t)time(NULL), portid;
	int ret = -1, e = 0;
	ssize_t n;

	if (!nl)
		return -1;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	/* ndmsg / ifaddrmsg / ifinfomsg all start with the family; a full-size header keeps strict kernels happy */
	g = mnl_nlmsg_put_extra_header(nlh, type == RTM_GETNEIGH ? sizeof(struct ndmsg) :
					     type == RTM_GETLINK ? sizeof(struct ifinfomsg) : sizeof(struct ifaddrmsg));
	g->rtgen_family = family;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	r->dumping = true;
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, on_msg, r);
		if (ret <= MNL_CB_STOP)
			break;
	}
	r->dumping = false;
	if (n < 0)
		ret = -1;
	ret = ret < 0 ? -1 : 0;
out:
	e = errno;
	mnl_socket_close(nl);
	errno = e;
	return ret;
}

int rtnl_dump(struct rtnl *r)
{
	if (!r) {
		errno = EINVAL;
		return -1;
	}
	/* links, then addresses, then neighbours: each is known before what lives on it. Again after lost
	 * events, the host's facts lose what the dump no longer shows (a deletion among the lost events). */
	netif_dump_begin(r->p.host);
	if (dump_one(r, RTM_GETLINK, AF_UNSPEC) < 0 || dump_one(r, RTM_GETADDR, AF_UNSPEC) < 0) {
		netif_dump_end(r->p.host, false);
		return -1;
	}
	netif_dump_end(r->p.host, true);
	if (dump_one(r, RTM_GETNEIGH, AF_UNSPEC) < 0)
		return -1;
	return 0;
}

int rtnl_read(struct rtnl *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	ssize_t n;

	if (!r) {
		errno = EINVAL;
		return -1;
	}
	r->handled = 0;
	while ((n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf))) > 0)
		if (mnl_cb_run(buf, (size_t)n, 0, 0, on_msg, r) < 0)
			return -1;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	return r->handled;
}

/* ---------- the neighbour table, asked once ---------- */

struct neigh_q {
	const struct in6_addr *a;
	bool v4, found;
	uint8_t mac[6];
};

static int neigh_match(const struct nlmsghdr *nlh, void *data)
{
	struct neigh_q *q = data;
	const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);
	struct attrs at = { 0 };
	const struct nlattr *dst, *ll;

	if (nlh->nlmsg_type != RTM_NEWNEIGH || q->found || mnl_nlmsg_get_payload_len(nlh) < sizeof(*nd) ||
	    (nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE | NUD_NOARP)))
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*nd), collect, &at) != MNL_CB_OK)
		return MNL_CB_OK;
	dst = at.tb[NDA_DST];
	ll = at.tb[NDA_LLADDR];
	if (!dst || !ll || mnl_attr_get_payload_len(dst) != (q->v4 ? 4u : 16u) || mnl_attr_get_payload_len(ll) != 6)
		return MNL_CB_OK;
	if (memcmp(mnl_attr_get_payload(dst), q->v4 ? &q->a->s6_addr[12] : q->a->s6_addr, q->v4 ? 4 : 16) == 0) {
		memcpy(q->mac, mnl_attr_get_payload(ll), 6);
		q->found = true;
	}
	return MNL_CB_OK;
}

/* The MAC the neighbour table holds for a (any interface, any usable state). */
static bool neigh_mac(const struct in6_addr *a, uint8_t mac[6])
{
	char buf[16384];
	struct neigh_q q = { .a = a, .v4 = addr_is_v4(a) };
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	struct nlmsghdr *nlh;
	struct ndmsg *nd;
	uint32_t seq = (uint32_t)time(NULL), portid;
	ssize_t n;

	if (!nl)
		return false;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		mnl_socket_close(nl);
		return false;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = q.v4 ? AF_INET : AF_INET6;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		mnl_socket_close(nl);
		return false;
	}
	/* bounded: a dump ends with NLMSG_DONE (MNL_CB_STOP); a broken socket ends the loop with an error */
	for (int rounds = 0; rounds < 1024 && (n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0; rounds++)
		if (mnl_cb_run(buf, (size_t)n, seq, portid, neigh_match, &q) <= MNL_CB_STOP)
			break;
	mnl_socket_close(nl);
	if (q.found)
		memcpy(mac, q.mac, 6);
	return q.found;
}

/* An EUI-64 interface identifier names its MAC: no table entry needed for that side. */
static bool eui64_mac(const struct in6_addr *a, uint8_t mac[6])
{
	const uint8_t *s = a->s6_addr;

	if (addr_is_v4(a) || s[11] != 0xff || s[12] != 0xfe)
		return false;
	mac[0] = s[8] ^ 0x02;
	mac[1] = s[9];
	mac[2] = s[10];
	mac[3] = s[13];
	mac[4] = s[14];
	mac[5] = s[15];
	return true;
}

bool rtnl_same_device_neigh(void *arg, const struct in6_addr *a, const struct in6_addr *b)
{
	uint8_t ma[6], mb[6];

	(void)arg;
	if (addr_equal(a, b))
		return true;
	if (!neigh_mac(a, ma) && !eui64_mac(a, ma))
		return false;
	if (!neigh_mac(b, mb) && !eui64_mac(b, mb))
		return false;
	return memcmp(ma, mb, 6) == 0;
}
