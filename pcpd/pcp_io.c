/* SPDX-License-Identifier: GPL-2.0-or-later */
/* PCP / NAT-PMP sockets: receive, hand to pcp_server, answer from the right address; multicast the
 * unsolicited ANNOUNCE. Everything runs on the loop thread; sockets are non-blocking.
 *
 * Group commit: each wake-up reads what is waiting (up to PCP_IO_BATCH datagrams, both sockets) and
 * hands it all to pcp_server_handle_group (one core batch), so a burst from many clients costs one
 * journal sync and one nftables transaction; the answers leave only after the batch is durable and
 * committed. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/conf.h"
#include "firewall/lib/log.h"
#include "pcpd/ct_flow.h"
#include "pcpd/natpmp_wire.h"
#include "pcpd/pcp_io.h"
#include "pcpd/pcp_wire.h"

#define PCP_IO_BATCH 64          /* datagrams read per wake-up (one core batch) before yielding to the loop */
#define PCP_IO_WAN_POLL_MS 60000 /* WAN address check when nobody asks */
#define PCP_IO_WAN_CACHE_MS 1000 /* how long a looked-up WAN address is trusted */

struct rx_slot;
struct held;
struct upwait;
struct upnote;

struct pcp_service {
	struct pcp_service_params p;
	struct rx_slot *slots;    /* PCP_IO_BATCH receive slots, and their recvmmsg headers */
	struct mmsghdr *mm;
	struct pcp_server *srv;
	struct cgn *own_cgn;      /* made by pcp_service_start_conf, freed by stop */
	struct ct_flow *ct;       /* CGN mode: conntrack lookups for PEER (NULL: none) */
	int fd4, fd6;
	unsigned lan_index[FW_MAX_IFNAMES];
	uint64_t lan_resolved_ms;
	/* WAN address cache (wan_ifname mode) and change detection (both modes) */
	struct in_addr wan;
	bool wan_known;
	uint64_t wan_checked_ms;
	/* ANNOUNCE burst */
	unsigned announce_left;
	uint64_t announce_next_ms;
	/* requests waiting for the LAN to show an address (pcp_server_deferred) */
	struct held *held;
	size_t n_held;
	/* requests whose upstream half (the PCP proxy) is running (loop thread only) */
	struct upwait *upw;
	size_t n_upw, cap_upw;
	uint64_t next_cookie;
	/* the upstream's answers, handed over from the IWF's thread (up_mu, a leaf) and the wake-up */
	pthread_mutex_t up_mu;
	struct upnote *notes;
	size_t n_notes, cap_notes;
	int up_fd;
};

/* ---------- interfaces and the WAN address ---------- */

static void lan_resolve(struct pcp_service *s, uint64_t now)
{
	for (size_t i = 0; i < s->p.n_lan; i++)
		s->lan_index[i] = if_nametoindex(s->p.lan_ifname[i]);
	s->lan_resolved_ms = now;
}

/* Only the inside may ask (RFC 6887 8.1): the interface index tells, whatever the address. An
 * interface created after start is picked up by resolving the names again, at most once a second. */
static bool from_lan(struct pcp_service *s, unsigned ifindex)
{
	uint64_t now;

	for (size_t i = 0; i < s->p.n_lan; i++)
		if (ifindex != 0 && s->lan_index[i] == ifindex)
			return true;
	now = loop_now_ms();
	if (now - s->lan_resolved_ms < 1000)
		return false;
	lan_resolve(s, now);
	for (size_t i = 0; i < s->p.n_lan; i++)
		if (ifindex != 0 && s->lan_index[i] == ifindex)
			return true;
	return false;
}

/* The first IPv4 address of the WAN interface, from the host's interface facts (netif.h). */
static bool ifname_v4(const struct pcp_service *s, struct in_addr *out)
{
	struct netif_facts f;

	netif_facts(s->p.ifaces, s->p.wan_ifname, &f);
	if (f.has_v4)
		*out = f.v4;
	return f.has_v4;
}

static void announce_schedule(struct pcp_service *s, unsigned count);

/* The server's view of the WAN address. A change restarts the epoch and announces it (RFC 6887 8.5). */
static bool service_wan(void *arg, struct in_addr *out)
{
	struct pcp_service *s = arg;
	uint64_t now = loop_now_ms();
	struct in_addr a = { 0 };
	bool have;

	if (s->wan_checked_ms && now - s->wan_checked_ms < PCP_IO_WAN_CACHE_MS) {
		*out = s->wan;
		return s->wan_known;
	}
	if (s->p.ext_addr)
		have = s->p.ext_addr(s->p.ext_arg, &a);
	else
		have = ifname_v4(s, &a);
	have = have && a.s_addr != 0;
	if (s->wan_checked_ms && (have != s->wan_known || (have && a.s_addr != s->wan.s_addr))) {
		char buf[ADDR_STRLEN];
		struct in6_addr m;

		addr_from_v4(&m, a);
		log_info("pcp: external address now %s: epoch restarts", have ? addr_str(&m, buf) : "none");
		s->wan = a;
		s->wan_known = have;
		if (s->srv)
			pcp_server_reset_epoch(s->srv, now);
		announce_schedule(s, PCP_IO_ANNOUNCE_COUNT);
	}
	s->wan = a;
	s->wan_known = have;
	s->wan_checked_ms = now;
	*out = a;
	return have;
}

/* ---------- sending ---------- */

static void send_from(int fd, int family, const void *dst, socklen_t dstlen, const void *src_addr,
		      unsigned ifindex, const uint8_t *buf, size_t len)
{
	union {
		char b4[CMSG_SPACE(sizeof(struct in_pktinfo))];
		char b6[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_name = (void *)dst, .msg_namelen = dstlen, .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(&cbuf, 0, sizeof(cbuf));
	mh.msg_control = &cbuf;
	if (family == AF_INET) {
		struct in_pktinfo pi;

		memset(&pi, 0, sizeof(pi));
		pi.ipi_ifindex = (int)ifindex;
		if (src_addr)
			pi.ipi_spec_dst = *(const struct in_addr *)src_addr;
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi;

		memset(&pi, 0, sizeof(pi));
		pi.ipi6_ifindex = ifindex;
		if (src_addr)
			pi.ipi6_addr = *(const struct in6_addr *)src_addr;
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
	/* UDP: a full socket buffer loses this answer; the client retransmits (RFC 6887 8.1.1). */
	if (sendmsg(fd, &mh, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENETUNREACH)
		log_debug("pcp: sendmsg: %s", strerror(errno));
}

/* ---------- receiving ---------- */

struct rx {
	struct in6_addr src;      /* v4-mapped for IPv4 */
	struct in6_addr dst;      /* the address the request was sent to */
	unsigned ifindex;
	bool have_pktinfo;
};

static void rx_pktinfo(struct msghdr *mh, int family, struct rx *rx)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (family == AF_INET && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			rx->ifindex = (unsigned)pi.ipi_ifindex;
			addr_from_v4(&rx->dst, pi.ipi_addr);
			rx->have_pktinfo = true;
		} else if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			rx->ifindex = pi.ipi6_ifindex;
			rx->dst = pi.ipi6_addr;
			rx->have_pktinfo = true;
		}
	}
}

/* One datagram of a batch, and its answer. */
struct rx_slot {
	uint8_t in[PCP_MAX_MSG + 4];
	uint8_t out[PCP_MAX_MSG];
	size_t len, out_len;
	struct sockaddr_storage from;
	socklen_t fromlen;
	/* aligned as a cmsghdr, not a union with one: its flexible array may not sit inside a struct */
	_Alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
	struct iovec iov;
	int fd, family;
	bool trunc;
	struct rx rx;
};

/* A request whose answer waits for an address the core is asking the LAN about. */
struct held {
	struct rx_slot *slot;     /* a copy: the batch's slots are reused */
	struct in6_addr addrs[2];
	uint64_t deadline_ms;
};

#define PCP_IO_HELD_MAX   32    /* more waiting at once are decided at once, with what is known */
#define PCP_IO_HELD_POLL_MS 50

static void rx_answer(const struct rx_slot *x);
static void on_held(void *arg);
static void upwait_add(struct pcp_service *s, const struct rx_slot *x, const struct pcp_upstream_job *job);

/* Decides a held request with what the LAN has shown now, answers it, and lets it go. */
static void held_finish(struct pcp_service *s, size_t i, uint64_t now)
{
	struct rx_slot *x = s->held[i].slot;

	struct pcp_upstream_job job;

	x->out_len = pcp_server_handle_asked(s->srv, x->in, x->trunc ? sizeof(x->in) : x->len, &x->rx.src, now,
					     x->out, sizeof(x->out));
	if (x->out_len)
		rx_answer(x);
	else if (pcp_server_upstream_pending(s->srv, &job))
		upwait_add(s, x, &job);
	free(x);
	s->held[i] = s->held[--s->n_held];
}

/* The datagram in x got no answer yet (pcp_server_deferred): keep a copy until its addresses are
 * known or CORE_ASK_WAIT_MS passed. Full: decided now instead. */
static void held_add(struct pcp_service *s, const struct rx_slot *x, const struct in6_addr addrs[2], uint64_t now)
{
	struct rx_slot *copy;

	if (!s->held && !(s->held = calloc(PCP_IO_HELD_MAX, sizeof(*s->held))))
		return;   /* the client retransmits */
	if (s->n_held == PCP_IO_HELD_MAX)
		held_finish(s, 0, now);
	if (!(copy = malloc(sizeof(*copy))))
		return;
	*copy = *x;
	s->held[s->n_held].slot = copy;
	s->held[s->n_held].addrs[0] = addrs[0];
	s->held[s->n_held].addrs[1] = addrs[1];
	s->held[s->n_held++].deadline_ms = now + CORE_ASK_WAIT_MS;
	loop_timer(s->p.loop, PCP_IO_HELD_POLL_MS, on_held, s);
}

static void on_held(void *arg)
{
	struct pcp_service *s = arg;
	uint64_t now = loop_now_ms();

	for (size_t i = 0; i < s->n_held;) {
		if (now >= s->held[i].deadline_ms || core_addresses_known(s->p.core, s->held[i].addrs, 2))
			held_finish(s, i, now);   /* moves the last one to i */
		else
			i++;
	}
	if (s->n_held)
		loop_timer(s->p.loop, PCP_IO_HELD_POLL_MS, on_held, s);
}

/* Reads up to max waiting datagrams of fd into slots with one recvmmsg; returns how many. */
static size_t rx_drain(struct pcp_service *s, int fd, int family, struct rx_slot *slots, size_t max)
{
	int got;

	for (size_t i = 0; i < max; i++) {
		struct msghdr *mh = &s->mm[i].msg_hdr;

		slots[i].iov.iov_base = slots[i].in;
		slots[i].iov.iov_len = sizeof(slots[i].in);
		memset(&s->mm[i], 0, sizeof(s->mm[i]));
		mh->msg_name = &slots[i].from;
		mh->msg_namelen = sizeof(slots[i].from);
		mh->msg_iov = &slots[i].iov;
		mh->msg_iovlen = 1;
		mh->msg_control = slots[i].cbuf;
		mh->msg_controllen = sizeof(slots[i].cbuf);
	}
	got = recvmmsg(fd, s->mm, (unsigned)max, MSG_DONTWAIT, NULL);
	if (got <= 0)
		return 0;   /* drained (EAGAIN), or EINTR: the level-triggered loop calls again */
	for (int i = 0; i < got; i++) {
		struct rx_slot *x = &slots[i];

		x->fd = fd;
		x->family = family;
		x->len = s->mm[i].msg_len;
		x->trunc = (s->mm[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
		x->fromlen = s->mm[i].msg_hdr.msg_namelen;
		memset(&x->rx, 0, sizeof(x->rx));
		rx_pktinfo(&s->mm[i].msg_hdr, family, &x->rx);
	}
	return (size_t)got;
}

/* One datagram, before the batch: from the inside, with its source address read; false to ignore it. */
static bool rx_accept(struct pcp_service *s, struct rx_slot *x)
{
	x->out_len = 0;
	if (!x->rx.have_pktinfo || !from_lan(s, x->rx.ifindex))
		return false;  /* not from the inside: ignored, as miniupnpd does */
	if (x->family == AF_INET)
		addr_from_v4(&x->rx.src, ((struct sockaddr_in *)&x->from)->sin_addr);
	else
		x->rx.src = ((struct sockaddr_in6 *)&x->from)->sin6_addr;
	return true;
}

static void rx_answer(const struct rx_slot *x)
{
	if (x->family == AF_INET) {
		struct in_addr d = addr_to_v4(&x->rx.dst);

		send_from(x->fd, AF_INET, &x->from, x->fromlen, &d, 0, x->out, x->out_len);
	} else {
		send_from(x->fd, AF_INET6, &x->from, x->fromlen, &x->rx.dst, x->rx.ifindex, x->out, x->out_len);
	}
}

/* ---------- the PCP proxy's requests: answered when their upstream half is done ---------- */

/* A request whose answer waits for the upstream (a copy of its datagram), and the upstream's answer. */
struct upwait {
	struct rx_slot *slot;
	struct pcp_upstream_job job;
	uint64_t cookie;
};
struct upnote {
	uint64_t cookie;
	struct pcp_upstream_answer a;
};

/* Any thread (the IWF's job thread): queue the answer, wake the loop. */
static void upstream_done(void *arg, uint64_t cookie, const struct pcp_upstream_answer *a)
{
	struct pcp_service *s = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&s->up_mu);
	if (s->n_notes == s->cap_notes) {
		size_t cap = s->cap_notes ? s->cap_notes * 2 : 16;
		struct upnote *n = realloc(s->notes, cap * sizeof(*n));

		if (n) {
			s->notes = n;
			s->cap_notes = cap;
		}
	}
	if (s->n_notes < s->cap_notes)   /* else lost: the client retransmits */
		s->notes[s->n_notes++] = (struct upnote){ .cookie = cookie, .a = *a };
	pthread_mutex_unlock(&s->up_mu);
	if (write(s->up_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("pcp: upstream wake-up");
}

/* Keeps a copy of the datagram in x and hands its job to the upstream. */
static void upwait_add(struct pcp_service *s, const struct rx_slot *x, const struct pcp_upstream_job *job)
{
	struct rx_slot *copy = malloc(sizeof(*copy));
	uint64_t cookie = ++s->next_cookie;

	if (copy && s->n_upw == s->cap_upw) {
		size_t cap = s->cap_upw ? s->cap_upw * 2 : 16;
		struct upwait *n = realloc(s->upw, cap * sizeof(*n));

		if (n) {
			s->upw = n;
			s->cap_upw = cap;
		}
	}
	if (copy && s->n_upw < s->cap_upw) {
		*copy = *x;
		s->upw[s->n_upw++] = (struct upwait){ .slot = copy, .job = *job, .cookie = cookie };
	} else {
		free(copy);   /* no room: the job still runs (a failure takes the local half back); unanswered */
	}
	pcp_server_upstream_submit(s->srv, job, upstream_done, s, cookie);
}

/* Is this datagram a retransmission of one whose upstream half is running? Its answer is coming. */
static bool upwait_has(const struct pcp_service *s, const struct rx_slot *x)
{
	for (size_t i = 0; i < s->n_upw; i++) {
		const struct rx_slot *w = s->upw[i].slot;

		if (w->len == x->len && w->trunc == x->trunc && addr_equal(&w->rx.src, &x->rx.src) &&
		    memcmp(w->in, x->in, x->len < sizeof(x->in) ? x->len : sizeof(x->in)) == 0)
			return true;
	}
	return false;
}

/* Loop thread: the upstream answered (or gave up): answer the LAN clients. */
static void on_upstream(void *arg, int fd, uint32_t events)
{
	struct pcp_service *s = arg;
	struct upnote *notes;
	size_t n;
	uint64_t v, now = loop_now_ms();

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("pcp: upstream wake-up");
	pthread_mutex_lock(&s->up_mu);
	notes = s->notes;
	n = s->n_notes;
	s->notes = NULL;
	s->n_notes = s->cap_notes = 0;
	pthread_mutex_unlock(&s->up_mu);
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < s->n_upw; i++) {
			struct rx_slot *x = s->upw[i].slot;

			if (s->upw[i].cookie != notes[k].cookie)
				continue;
			x->out_len = pcp_server_upstream_answer(s->srv, x->in, x->trunc ? sizeof(x->in) : x->len,
								&x->rx.src, &s->upw[i].job, &notes[k].a, now, x->out,
								sizeof(x->out));
			if (x->out_len)
				rx_answer(x);
			free(x);
			s->upw[i] = s->upw[--s->n_upw];
			break;
		}
	}
	free(notes);
}

static void on_readable(void *arg, int fd, uint32_t events)
{
	struct pcp_service *s = arg;
	int other = fd == s->fd4 ? s->fd6 : s->fd4;
	struct pcp_server_msg msg[PCP_IO_BATCH];
	struct rx_slot *from[PCP_IO_BATCH];
	uint64_t now = loop_now_ms();
	size_t n, nm = 0;

	(void)events;
	/* what the other socket holds joins the batch too: one sync and one transaction for both */
	n = rx_drain(s, fd, fd == s->fd4 ? AF_INET : AF_INET6, s->slots, PCP_IO_BATCH);
	if (other >= 0 && n < PCP_IO_BATCH)
		n += rx_drain(s, other, other == s->fd4 ? AF_INET : AF_INET6, s->slots + n, PCP_IO_BATCH - n);
	for (size_t i = 0; i < n; i++) {
		struct rx_slot *x = &s->slots[i];

		if (!rx_accept(s, x) || (s->n_upw && upwait_has(s, x)))
			continue;
		/* A datagram longer than any PCP message (MSG_TRUNC) still gets MALFORMED_REQUEST: pass the
		 * real length, the parser looks at no more than it was given. */
		msg[nm] = (struct pcp_server_msg){ .in = x->in, .len = x->trunc ? sizeof(x->in) : x->len,
						   .src = x->rx.src, .out = x->out, .cap = sizeof(x->out) };
		from[nm++] = x;
	}
	if (nm == 0)
		return;
	pcp_server_handle_group(s->srv, msg, nm, now);
	for (size_t i = 0; i < nm; i++) {
		from[i]->out_len = msg[i].out_len;
		if (msg[i].out_len)
			rx_answer(from[i]);
		else if (msg[i].deferred)
			held_add(s, from[i], msg[i].wait_for, now);
		else if (msg[i].upstream)
			upwait_add(s, from[i], &msg[i].job);   /* committed: now the upstream half */
	}
}

/* ---------- ANNOUNCE ---------- */

/* A client accepts an unsolicited ANNOUNCE only from the address it sends its requests to (RFC 6887
 * 14.1.3; NAT-PMP: its gateway), so the IPv4 copy leaves from every address of the interface, not
 * only the one the kernel would pick: after a failover the server address is a secondary one. */
static void announce_send(struct pcp_service *s)
{
	struct in_addr src[PCP_IO_ANNOUNCE_MAX_SRC];
	uint8_t buf[PCP_MAX_MSG], nb[16];
	uint64_t now = loop_now_ms();
	size_t n = pcp_server_announce(s->srv, now, buf, sizeof(buf));
	size_t nn = pcp_server_natpmp_announce(s->srv, now, nb, sizeof(nb));
	uint16_t port = s->p.announce_port ? s->p.announce_port : PCP_CLIENT_PORT;
	struct sockaddr_in d4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_ALLHOSTS_GROUP) };
	struct sockaddr_in6 d6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	inet_pton(AF_INET6, "ff02::1", &d6.sin6_addr);
	for (size_t i = 0; i < s->p.n_lan; i++) {
		unsigned idx = s->lan_index[i];

		if (idx == 0)
			continue;
		size_t n_src = s->fd4 >= 0 ? netif_v4_addrs(s->p.ifaces, s->p.lan_ifname[i], src,
										  PCP_IO_ANNOUNCE_MAX_SRC) : 0;

		for (size_t a = 0; a < n_src; a++) {
			if (n)
				send_from(s->fd4, AF_INET, &d4, sizeof(d4), &src[a], idx, buf, n);
			if (nn && !s->p.natpmp_off)
				send_from(s->fd4, AF_INET, &d4, sizeof(d4), &src[a], idx, nb, nn);
		}
		if (s->fd6 >= 0 && n) {
			d6.sin6_scope_id = idx;
			send_from(s->fd6, AF_INET6, &d6, sizeof(d6), NULL, idx, buf, n);
		}
	}
}

static void on_announce(void *arg)
{
	struct pcp_service *s = arg;
	uint64_t wait;

	if (s->announce_left == 0)
		return;
	lan_resolve(s, loop_now_ms());
	announce_send(s);
	s->announce_left--;
	if (s->announce_left == 0)
		return;
	/* 0, 250 ms, 500 ms, 1 s, ... doubling: the tenth copy leaves about 64 s after the first. */
	wait = (uint64_t)PCP_IO_ANNOUNCE_FIRST_MS << (PCP_IO_ANNOUNCE_COUNT - 1 - s->announce_left);
	loop_timer(s->p.loop, wait, on_announce, s);
}

static void announce_schedule(struct pcp_service *s, unsigned count)
{
	if (s->p.no_announce || s->p.loop == NULL)
		return;
	s->announce_left = count;
	loop_timer(s->p.loop, 0, on_announce, s);
}

static void on_wan_poll(void *arg)
{
	struct pcp_service *s = arg;
	struct in_addr ignored;

	service_wan(s, &ignored);  /* notices an address change even when nobody asks */
	loop_timer(s->p.loop, PCP_IO_WAN_POLL_MS, on_wan_poll, s);
}

/* ---------- sockets ---------- */

static int open_socket(int family, uint16_t port)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_storage ss;
	socklen_t len;

	if (fd < 0)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		len = sizeof(*a);
		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
			goto fail;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		len = sizeof(*a);
		/* IPv4 has its own socket, so the two never see each other's traffic. */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
			goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static bool service_flow_ext(void *arg, struct in_addr internal, uint16_t int_port, struct in_addr remote,
			     uint16_t remote_port, uint8_t proto, struct in_addr *ext, uint16_t *ext_port)
{
	struct pcp_service *s = arg;

	return ct_flow_ext(s->ct, internal, int_port, remote, remote_port, proto, ext, ext_port);
}

int pcp_service_start(struct pcp_service **out, const struct pcp_service_params *p)
{
	struct pcp_service *s;
	struct pcp_server_params sp;
	uint16_t port = p->port ? p->port : PCP_SERVER_PORT;
	struct in_addr ignored;
	int saved;

	*out = NULL;
	if (p->loop == NULL || p->core == NULL || p->n_lan == 0 || p->n_lan > FW_MAX_IFNAMES) {
		errno = EINVAL;
		log_warnx("pcp: needs a loop, a core and 1..%d LAN interfaces", FW_MAX_IFNAMES);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	s->p = *p;
	s->fd4 = s->fd6 = -1;
	s->up_fd = -1;
	pthread_mutex_init(&s->up_mu, NULL);
	s->slots = calloc(PCP_IO_BATCH, sizeof(*s->slots));
	s->mm = calloc(PCP_IO_BATCH, sizeof(*s->mm));
	if (s->slots == NULL || s->mm == NULL)
		goto fail;
	memset(&sp, 0, sizeof(sp));
	sp.core = p->core;
	sp.ext_addr = service_wan;
	sp.ext_arg = s;
	memcpy(sp.third_party, p->third_party, sizeof(sp.third_party));
	memcpy(sp.third_party_len, p->third_party_len, sizeof(sp.third_party_len));
	sp.n_third_party = p->n_third_party;
	sp.rate_burst = p->rate_burst;
	sp.rate_per_s = p->rate_per_s;
	sp.rate_off = p->rate_off;
	sp.natpmp_off = p->natpmp_off;
	sp.cgn = p->cgn;
	/* without it an IPv4 PEER for a running flow names the port of the mapping it makes, not the
	 * flow's: worth a warning, not a refusal to start */
	if ((s->ct = ct_flow_open()) == NULL)
		log_warn("pcp: no conntrack netlink socket: PEER cannot see running flows");
	sp.flow_ext = service_flow_ext;
	sp.flow_arg = s;
	lan_resolve(s, loop_now_ms());
	service_wan(s, &ignored);  /* first look: the baseline a later change is measured against */
	s->srv = pcp_server_new(&sp, loop_now_ms());
	if (s->srv == NULL)
		goto fail;
	if (p->upstream) {
		pcp_server_set_upstream(s->srv, p->upstream);
		if ((s->up_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
		    loop_add_fd(p->loop, s->up_fd, EPOLLIN, on_upstream, s) < 0)
			goto fail;
	}
	/* A family the host does not have (IPv6 disabled) is skipped; any other failure (the port taken by
	 * another program) stops the start: half a PCP server that silently ignores one family is worse. */
	s->fd4 = open_socket(AF_INET, port);
	if (s->fd4 < 0) {
		saved = errno;
		log_warn("pcp: IPv4 socket on port %u", port);
		errno = saved;
		if (saved != EAFNOSUPPORT)
			goto fail;
	}
	s->fd6 = open_socket(AF_INET6, port);
	if (s->fd6 < 0) {
		saved = errno;
		log_warn("pcp: IPv6 socket on port %u", port);
		errno = saved;
		if (saved != EAFNOSUPPORT)
			goto fail;
	}
	if (s->fd4 < 0 && s->fd6 < 0)
		goto fail;
	if ((s->fd4 >= 0 && loop_add_fd(p->loop, s->fd4, EPOLLIN, on_readable, s) < 0) ||
	    (s->fd6 >= 0 && loop_add_fd(p->loop, s->fd6, EPOLLIN, on_readable, s) < 0))
		goto fail;
	loop_timer(p->loop, PCP_IO_WAN_POLL_MS, on_wan_poll, s);
	announce_schedule(s, PCP_IO_ANNOUNCE_COUNT);
	log_info("pcp: listening on port %u (%s%s) on %zu LAN interface(s)", port, s->fd4 >= 0 ? "IPv4" : "",
		 s->fd6 >= 0 ? (s->fd4 >= 0 ? "+IPv6" : "IPv6") : "", p->n_lan);
	*out = s;
	return 0;
fail:
	saved = errno;
	pcp_service_stop(s);
	errno = saved;
	return -1;
}

void pcp_service_stop(struct pcp_service *s)
{
	if (s == NULL)
		return;
	if (s->p.loop) {
		loop_timer_cancel(s->p.loop, on_announce, s);
		loop_timer_cancel(s->p.loop, on_wan_poll, s);
		loop_timer_cancel(s->p.loop, on_held, s);
	}
	for (size_t i = 0; i < s->n_held; i++)
		free(s->held[i].slot);
	free(s->held);
	/* the upstream jobs still run (their rollbacks too); their answers go nowhere */
	if (s->srv)
		pcp_server_upstream_forget(s->srv, s);
	for (size_t i = 0; i < s->n_upw; i++)
		free(s->upw[i].slot);
	free(s->upw);
	free(s->notes);
	if (s->up_fd >= 0) {
		loop_del_fd(s->p.loop, s->up_fd);
		close(s->up_fd);
	}
	pthread_mutex_destroy(&s->up_mu);
	if (s->fd4 >= 0) {
		loop_del_fd(s->p.loop, s->fd4);
		close(s->fd4);
	}
	if (s->fd6 >= 0) {
		loop_del_fd(s->p.loop, s->fd6);
		close(s->fd6);
	}
	pcp_server_free(s->srv);
	ct_flow_close(s->ct);
	cgn_free(s->own_cgn);
	free(s->slots);
	free(s->mm);
	free(s);
}

void pcp_service_state_lost(struct pcp_service *s)
{
	pcp_server_reset_epoch(s->srv, loop_now_ms());
	announce_schedule(s, PCP_IO_ANNOUNCE_COUNT);
}

struct pcp_server *pcp_service_server(struct pcp_service *s)
{
	return s->srv;
}

int pcp_service_start_conf(struct pcp_service **out, struct loop *loop, struct core *core, const struct conf *c,
			   const struct netif *ifaces, const struct pcp_upstream *upstream)
{
	struct pcp_service_params p;
	struct cgn *cg = NULL;

	memset(&p, 0, sizeof(p));
	p.loop = loop;
	p.core = core;
	p.ifaces = ifaces;
	p.upstream = upstream;
	memcpy(p.lan_ifname, c->fw.lan_ifname, sizeof(p.lan_ifname));
	p.n_lan = c->fw.n_lan;
	snprintf(p.wan_ifname, sizeof(p.wan_ifname), "%s", c->ext_ifname);
	for (size_t i = 0; i < c->n_pcp_thirdparty && i < PCP_SERVER_MAX_THIRD_PARTY; i++) {
		p.third_party[i] = c->pcp_thirdparty[i];
		p.third_party_len[i] = c->pcp_thirdparty_len[i];
		p.n_third_party++;
	}
	p.rate_off = c->pcp_rate_limit == 0;
	p.rate_per_s = c->pcp_rate_limit;
	p.rate_burst = c->pcp_rate_burst;
	p.natpmp_off = !c->enable_natpmp;
	if (cgn_configured(c)) {
		struct cgn_config cc;
		struct cgn_block first;
		char err[160], b[64];

		cgn_config_from_conf(c, &cc);
		if (!(cg = cgn_new(&cc, err, sizeof(err)))) {
			log_warnx("pcp: CGN mode: %s", err);
			return -1;
		}
		p.cgn = cg;
		if (cgn_block_of(cg, cc.subs, &first) == CGN_OK)
			log_info("pcp: CGN mode: %s -> %zu pool addresses, %u ports per subscriber, %llu subscribers "
				 "with a block (the first: %s)", c->cgn_subscribers, cgn_pool_size(cg), cc.ports_per_sub,
				 (unsigned long long)cgn_capacity(cg), cgn_block_str(&first, b, sizeof(b)));
	}
	if (pcp_service_start(out, &p) < 0) {
		cgn_free(cg);
		return -1;
	}
	(*out)->own_cgn = cg;
	return 0;
}
