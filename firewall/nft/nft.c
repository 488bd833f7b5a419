/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The nftables backend (libnftnl + libmnl). Every operation is ONE batch transaction; every
 * message in it asks for an ACK and every ACK is read, so "done" means the kernel said so.
 *
 * What we build (fw_render() prints the same thing as text; see tests/golden/):
 *
 *   STANDALONE: our own table (default `inet igdd`) with its own base chains.
 *     forward    (filter hook forward priority filter; policy accept -- the host's policy stays)
 *         iifname != @wan_if return                      only WAN traffic is our business
 *         ct state established,related accept           fast path, first
 *         ct state invalid drop
 *         ICMPv6 errors + echo-request, ESP, AH, IKE (udp 500/4500) accept   (RFC 6092, RFC 4890)
 *         pinhole lookups: @ph_port @ph_proto @ph_addr @ph_remote  accept
 *         meta nfproto ipv4 ct status dnat accept        our port mappings
 *         meta nfproto ipv6 drop                         RFC 6092 default deny; IPv4 is the host's
 *     prerouting (nat hook prerouting priority dstnat)
 *         iifname != @wan_if return
 *         dnat via @pm4_addr_remote_port, @pm4_remote_port, @pm4_addr_remote, @pm4_remote,
 *              @pm4_addr, @pm4  (most specific first: fw_dnat_order; each an O(1) hash lookup)
 *     postrouting (nat hook postrouting priority srcnat)
 *         oifname != @wan_if return
 *         snat via @pm4_snat_flow                        a PEER's flow (5-tuple) leaves from its mapping
 *         snat via @pm4_snat                             endpoint-independent mapping: a mapping's
 *                                                        internal addr:port leaves as ext_addr:ext_port
 *         [meta l4proto { tcp, udp } snat ip to ip saddr map @nat_block]
 *                                                        CGN with port blocks: a subscriber's TCP/UDP
 *                                                        leaves from its own block (RFC 7422; the
 *                                                        layout is fw_nat_blocks, the one pcpd's PCP
 *                                                        blocks use). One element per subscriber the
 *                                                        pool serves, at most FW_NAT_BLOCK_ELEMS_MAX,
 *                                                        all installed with the table (init, resync).
 *         [ip saddr SUBSCRIBERS snat to POOL persistent] NAT44 for everything else (pcpd on a CGN,
 *                                                        when the config gives a pool): ICMP, other
 *                                                        protocols, subscribers beyond the block map
 *     output     (filter hook output priority filter; policy accept) -- only with the output wall:
 *         socket cgroupv2 level L "PATH" oifname != @lan_if oifname != "lo" meta l4proto tcp
 *             ct state new drop
 *                                                        the daemon's own sockets (its cgroup v2, found
 *                                                        or made by cgroup.c) open TCP connections to
 *                                                        the LAN only: a second wall against CallStranger
 *                                                        (CVE-2020-12695; libupnp already refuses off-LAN
 *                                                        GENA callbacks). UDP stays open (PCP upstream).
 *                                                        No cgroup or no LAN interface: no chain.
 *     pm4_snat (pm4_snat_flow for a flow's mapping, fw_elem.flow) holds one companion per portmap
 *     with an external address, made from the same fw_elem and added/replaced/deleted in the same
 *     message stream, so a mapping and its SNAT never part.
 *     The nat chains see only the first packet of a flow; conntrack does the rest.
 *
 *   INTEGRATED: the same sets and the same lookup rules, without hooks and without the RFC 6092
 *     policy rules (the host firewall owns established/invalid/ICMPv6/drop), as regular chains
 *     <prefix>forward and <prefix>prerouting inside the existing table cfg->family cfg->table.
 *     We never create or delete that table. The operator adds one jump per chain, e.g. with
 *     OpenWrt fw4 (/etc/nftables.d/ or a fw4 include):
 *         chain forward_wan { ... jump igdd_forward ... }
 *         chain dstnat_wan  { ... jump igdd_prerouting ... }
 *         chain srcnat_wan  { ... jump igdd_postrouting ... }
 *     and, for the output wall, a regular chain <prefix>output (always there, empty without the
 *     wall, so the jump never dangles), jumped to from fw4's `output` chain (type filter hook
 *     output), e.g. /usr/share/nftables.d/chain-pre/output/igdd.nft:
 *         jump igdd_output
 *     Without that jump the wall does nothing in integrated mode. (fw4 has had an `output` base
 *     chain since its first release; chain-pre/ includes land at the top of it.)
 *     A rule that accepts in our chain then accepts in fw4's chain (same table); an accept in a
 *     separate table would not override fw4's drop, which is why this mode exists.
 *
 * Counters: every set/map carries a set-level `counter`, so each element has its own counter.
 * Because `ct state established,related accept` comes before the lookups, an element's counter
 * counts the packets the pinhole ADMITTED, i.e. the first packet of each inbound connection (the
 * one that created the conntrack entry), not every packet of the flow. A portmap's counter counts
 * DNATed connections likewise (the nat chain sees only a flow's first packet).
 *
 * Verified on kernel 6.18 (see tests/unit/check_nft.c):
 *  - NEWSETELEM of an existing element without NLM_F_EXCL updates its timeout in place (also back
 *    to "none") and keeps its counter. So a pinhole add is a plain NEWSETELEM. Map elements are
 *    deleted and re-added in the same transaction because their data (the target) may change;
 *    their counter is carried over from fw_elem.packets/bytes (element-level counter with
 *    initial values). New pinholes also start from fw_elem.packets/bytes.
 *  - Deleting an element the kernel no longer holds (expired) uses NFT_MSG_DESTROYSETELEM
 *    (kernel >= 6.3), which does not fail on ENOENT. If the kernel rejects DESTROYSETELEM, we
 *    fall back to DELSETELEM and leave out the keys a dump says are gone.
 *  - Concatenated ranges (`flags interval,timeout` + counter) work, so @ph_remote carries remote
 *    prefixes and "any port" ranges.
 */
#include "firewall/nft/fw.h"        /* netinet/in.h must come before the linux/ headers */
#include "firewall/nft/fw_elem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_conntrack_common.h>

/* Not in Debian 12's kernel headers; values from the kernel's uapi (6.3+). */
#ifndef NFT_MSG_DESTROYSETELEM
#define NFT_MSG_DESTROYSETELEM 30
#endif

#define FW_TYPE_ICMP6_TYPE 29   /* nft datatype, for `nft list` to print type names */
#define PRIO_DSTNAT (-100)      /* "priority dstnat" */
#define PRIO_SRCNAT 100         /* "priority srcnat" */
#ifndef NF_NAT_RANGE_PERSISTENT
#define NF_NAT_RANGE_PERSISTENT (1 << 3)   /* linux/netfilter/nf_nat.h */
#endif

#define SOCK_BUF_BYTES   (64 * 1024 * 1024)  /* 10,000-element batches and their ACKs */
#define MON_BUF_BYTES    (32 * 1024 * 1024)  /* a 10k-element transaction of someone else */
#define ELEMS_PER_MSG    128                 /* keeps each message far below the 64 KiB nest limit */
#define MSG_RESERVE      (96 * 1024)         /* room for one message of ELEMS_PER_MSG elements */
#define RECV_BUF_BYTES   (256 * 1024)
#define ACK_TIMEOUT_MS   10000               /* the kernel answers in milliseconds; bound the wait */
/* A batch with at least this many elements is sent with the monitor deaf (see batch_send). */
#define QUIET_BATCH_ELEMS 1024
/* A resync of at least fw_nft_chunked_resync_min elements goes in transactions of this many
 * (resync_chunked; measured: 100,000 pinholes take ~0.85 s with a listener on the host). */
#define RESYNC_CHUNK_ELEMS 100000
#define RESYNC_ATTEMPTS 3
#define SECOND_GEN_SUFFIX "_b"

struct nft_names {
	char table[FW_NAME_MAX];
	char forward[FW_NAME_MAX];
	char prerouting[FW_NAME_MAX];
	char postrouting[FW_NAME_MAX];
	char output[FW_NAME_MAX];
	char wan_if[FW_NAME_MAX];
	char lan_if[FW_NAME_MAX];
	char nat_block[FW_NAME_MAX];
	char set[FW_SET_COUNT][FW_NAME_MAX];            /* the generation our rules use now */
	char gen_set[2][FW_SET_COUNT][FW_NAME_MAX];     /* both generations (see resync_chunked) */
};

struct nft {
	struct mnl_socket *nl;    /* commands, ACKs, dumps */
	struct mnl_socket *mon;   /* NFNLGRP_NFTABLES events */
	uint32_t portid;
	uint32_t seq;
	uint32_t set_id;          /* ids for sets created in a batch */
	uint64_t transactions;
	bool no_destroy;          /* kernel lacks NFT_MSG_DESTROYSETELEM */
	int set_gen;              /* 0 or 1: which of n.gen_set is n.set */
	bool no_counters;         /* n.set carry no counters (made by resync_chunked) */
	struct nft_names n;
	char *rbuf;               /* RECV_BUF_BYTES, for the command socket (under the core's lock) */
	/* read_counters' own socket, buffer and sequence: a counter dump runs beside commits, on the
	 * thread that asked for it. names_mu guards n.set against a resync switching generations. */
	struct mnl_socket *dnl;
	char *dbuf;
	uint32_t dseq;
	pthread_mutex_t names_mu;
	char *mbuf;               /* RECV_BUF_BYTES, for the monitor (read on the loop thread, without that
				   * lock: a commit on another thread may be reading ACKs into rbuf meanwhile) */
	/* After a quiet batch: the generation the ruleset must have if nobody else committed while the
	 * monitor was deaf, and the seq of the GETGEN sent on the monitor socket to check it. The
	 * commit path (core's lock) writes them, the loop thread reads them: gen_lock. */
	pthread_mutex_t gen_lock;
	bool gen_pending;
	bool deafness_suspected;  /* a rejoin or its check could not be sent */
	uint32_t gen_seq, gen_expect;
};

static struct nft *nft_of(struct fw *fw)
{
	return fw->priv;
}

static const char *errstr(int err)
{
	return strerror(err < 0 ? -err : err);
}

/* ------------------------------------------------------------------------------------------ */
/* Batch: a growable buffer of netlink messages between BATCH_BEGIN and BATCH_END.              */

struct batch {
	char *buf;
	size_t len, cap;
	uint32_t first_seq;       /* seq of the first message that asks for an ACK */
	uint32_t next_seq;
	size_t nmsgs;
	size_t nelems;            /* set elements in all messages */
	uint16_t *types;          /* message type per seq, for error messages */
	size_t types_cap;
	bool oom;
};

static bool batch_reserve(struct batch *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256 * 1024;
	char *p;

	if (b->oom)
		return false;
	while (cap - b->len < need)
		cap *= 2;
	if (cap == b->cap)
		return true;
	if (!(p = realloc(b->buf, cap))) {
		b->oom = true;
		return false;
	}
	memset(p + b->cap, 0, cap - b->cap);
	b->buf = p;
	b->cap = cap;
	return true;
}

static bool batch_note_type(struct batch *b, uint16_t type)
{
	if (b->nmsgs == b->types_cap) {
		size_t cap = b->types_cap ? b->types_cap * 2 : 256;
		uint16_t *t = realloc(b->types, cap * sizeof(*t));

		if (!t) {
			b->oom = true;
			return false;
		}
		b->types = t;
		b->types_cap = cap;
	}
	b->types[b->nmsgs] = type;
	return true;
}

/* gen >= 0: the kernel commits the batch only if the ruleset's generation is still gen (else the
 * whole batch fails with ERESTART): nobody committed since we looked. */
static void batch_start_at(struct batch *b, struct nft *p, int64_t gen)
{
	struct nlmsghdr *nlh;

	memset(b, 0, sizeof(*b));
	if (!batch_reserve(b, MSG_RESERVE))
		return;
	nlh = nftnl_batch_begin(b->buf, p->seq++);
	if (gen >= 0)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl((uint32_t)gen));
	b->len = NLMSG_ALIGN(nlh->nlmsg_len);
	b->first_seq = b->next_seq = p->seq;
}

static void batch_start(struct batch *b, struct nft *p)
{
	batch_start_at(b, p, -1);
}

/* Starts one message; the caller fills its payload and calls batch_close_msg. */
static struct nlmsghdr *batch_msg(struct batch *b, uint16_t type, uint16_t flags)
{
	if (!batch_reserve(b, MSG_RESERVE) || !batch_note_type(b, type))
		return NULL;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET, flags | NLM_F_ACK, b->next_seq);
}

static void batch_close_msg(struct batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->next_seq++;
	b->nmsgs++;
}

static void batch_finish(struct batch *b, struct nft *p)
{
	struct nlmsghdr *nlh;

	if (!batch_reserve(b, MSG_RESERVE))
		return;
	nlh = nftnl_batch_end(b->buf + b->len, b->next_seq);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	p->seq = b->next_seq + 1;
}

static void batch_free(struct batch *b)
{
	free(b->buf);
	free(b->types);
	memset(b, 0, sizeof(*b));
}

static const char *msg_name(uint16_t type)
{
	switch (type) {
	case NFT_MSG_NEWTABLE: return "NEWTABLE";
	case NFT_MSG_DELTABLE: return "DELTABLE";
	case NFT_MSG_NEWCHAIN: return "NEWCHAIN";
	case NFT_MSG_DELCHAIN: return "DELCHAIN";
	case NFT_MSG_NEWRULE: return "NEWRULE";
	case NFT_MSG_DELRULE: return "DELRULE";
	case NFT_MSG_NEWSET: return "NEWSET";
	case NFT_MSG_DELSET: return "DELSET";
	case NFT_MSG_NEWSETELEM: return "NEWSETELEM";
	case NFT_MSG_DELSETELEM: return "DELSETELEM";
	case NFT_MSG_DESTROYSETELEM: return "DESTROYSETELEM";
	default: return "message";
	}
}

static int elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int)((now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000);
}

/* Counts one ACK/error; remembers the first error and which message caused it. */
static void take_ack(struct fw *fw, const struct batch *b, const struct nlmsghdr *nlh, size_t *acked, int *first_err)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	uint32_t idx;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return;
	/* An error on the batch begin/end message (seq first_seq - 1 or first_seq + nmsgs) means the
	 * kernel refused the whole batch (e.g. EPERM): no per-message ACK will follow, so stop waiting. */
	if (e->error && (nlh->nlmsg_seq == b->first_seq - 1 || nlh->nlmsg_seq == b->first_seq + b->nmsgs)) {
		*acked = b->nmsgs;
		if (!*first_err) {
			*first_err = e->error;
			snprintf(fw->err, sizeof(fw->err), "batch: %s", errstr(e->error));
		}
		return;
	}
	idx = nlh->nlmsg_seq - b->first_seq;
	if (idx >= b->nmsgs)
		return;   /* not one of ours (a stale answer) */
	(*acked)++;
	if (e->error && !*first_err) {
		*first_err = e->error;
		snprintf(fw->err, sizeof(fw->err), "%s: %s", msg_name(b->types[idx]), errstr(e->error));
	}
}

/* Reads every ACK of the batch. Returns 0 or -errno of the first failing message. */
static int read_acks(struct fw *fw, struct nft *p, const struct batch *b)
{
	struct pollfd pfd = { .fd = mnl_socket_get_fd(p->nl), .events = POLLIN };
	struct timespec start;
	size_t acked = 0;
	int first_err = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (acked < b->nmsgs) {
		int left = ACK_TIMEOUT_MS - elapsed_ms(&start);
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			break;
		n = recv(pfd.fd, p->rbuf, RECV_BUF_BYTES, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			snprintf(fw->err, sizeof(fw->err), "reading ACKs: %s", strerror(errno));
			return -errno;
		}
		int len = (int)n;
		for (const struct nlmsghdr *nlh = (void *)p->rbuf; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
			if (nlh->nlmsg_type == NLMSG_ERROR)
				take_ack(fw, b, nlh, &acked, &first_err);
	}
	if (first_err)
		return first_err;
	if (acked < b->nmsgs) {
		snprintf(fw->err, sizeof(fw->err), "only %zu of %zu ACKs arrived", acked, b->nmsgs);
		return -ETIMEDOUT;
	}
	return 0;
}

/* A NEWGEN message's generation id. */
static bool nft_gen_of(const struct nlmsghdr *nlh, int64_t *gen)
{
	const struct nlattr *a;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES || NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWGEN ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg)))
		return false;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == NFTA_GEN_ID && mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			*gen = ntohl(mnl_attr_get_u32(a));
			return true;
		}
	}
	return false;
}

static void big_buffer(int fd, int force_opt, int opt, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

/* One request (built with NLM_F_ACK, and its sequence number) on our nftables socket, and its whole
 * answer: each message of it goes to cb (NULL: none expected) until the kernel's ACK or a dump's end;
 * a message of another sequence number is a stale answer (an ACK that came after read_acks gave up)
 * and is skipped. Each wait is bounded (ACK_TIMEOUT_MS). Returns 0, the kernel's or cb's -errno,
 * -ETIMEDOUT, or the socket's -errno. */
static int nl_request_on(struct mnl_socket *nl, char *rbuf, const struct nlmsghdr *req,
			 int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
	struct pollfd pfd = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
	uint32_t seq = req->nlmsg_seq;

	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n;
		int len;

		if (poll(&pfd, 1, ACK_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		n = recv(pfd.fd, rbuf, RECV_BUF_BYTES, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		len = (int)n;
		for (const struct nlmsghdr *nlh = (void *)rbuf; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_DONE) {
				/* a dump that failed part way says so here */
				int status = 0;

				if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(status)))
					memcpy(&status, mnl_nlmsg_get_payload(nlh), sizeof(status));
				return status < 0 ? status : 0;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
					return -EPROTO;
				return e->error;   /* 0: the ACK */
			}
			if (cb) {
				int err = cb(nlh, data);

				if (err < 0)
					return err;
			}
		}
	}
}

static int nl_request(struct nft *p, const struct nlmsghdr *req, int (*cb)(const struct nlmsghdr *nlh, void *data),
		      void *data)
{
	return nl_request_on(p->nl, p->rbuf, req, cb, data);
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	return nft_gen_of(nlh, data) ? 0 : -EPROTO;
}

/* The ruleset's generation id (it grows by one per committed transaction, anyone's), or -errno. */
static int64_t get_gen(struct nft *p)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int64_t gen = -EPROTO;
	int err;

	memset(buf, 0, sizeof(buf));   /* nftnl leaves the padding as it finds it, and it is sent too */
	err = nl_request(p, nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, p->seq++), gen_cb, &gen);

	return err < 0 ? err : gen;
}

void (*fw_nft_during_quiet_batch)(void);

static int monitor_membership(struct nft *p, int opt)
{
	int group = NFNLGRP_NFTABLES;

	return setsockopt(mnl_socket_get_fd(p->mon), SOL_NETLINK, opt, &group, sizeof(group));
}

/* Back to listening after a quiet batch, and the generation check the monitor will read. */
static void monitor_rejoin(struct nft *p, uint32_t expect)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	uint32_t seq;

	pthread_mutex_lock(&p->gen_lock);
	seq = ++p->gen_seq;
	p->gen_expect = expect;
	p->gen_pending = true;
	pthread_mutex_unlock(&p->gen_lock);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, 0, seq);
	/* Neither can fail short of a broken socket; if one does, the monitor says "changed" at its
	 * next read (deafness_suspected), which costs a reconcile, never a missed foreign change. */
	if (monitor_membership(p, NETLINK_ADD_MEMBERSHIP) < 0 || mnl_socket_sendto(p->mon, nlh, nlh->nlmsg_len) < 0) {
		pthread_mutex_lock(&p->gen_lock);
		p->deafness_suspected = true;
		pthread_mutex_unlock(&p->gen_lock);
		monitor_membership(p, NETLINK_ADD_MEMBERSHIP);
	}
}

/* Sends the batch and waits for all ACKs. One call = one transaction.
 * The kernel reports every element a transaction adds or removes to every listener, and we listen
 * (the monitor, to notice others touching our table): for a large batch, building those reports
 * took most of the kernel's time (a resync of 1,000,000 elements: 19 s instead of 5), and they
 * overflowed the monitor's buffer, which reads as "events were lost" and asked for another full
 * resync, and so on. So a large batch goes out with the monitor deaf: we note the generation
 * before, rejoin after, and ask the kernel (on the monitor socket, so the loop reads the answer
 * like an event) whether the generation is ours + 1; anything else means someone else committed
 * meanwhile, and the monitor reports a change (a full reconcile: conservative, and rare). */
static int batch_send(struct fw *fw, struct nft *p, struct batch *b)
{
	int64_t gen_before = -1;
	int err;

	batch_finish(b, p);
	if (b->oom) {
		snprintf(fw->err, sizeof(fw->err), "out of memory building the batch");
		return -ENOMEM;
	}
	if (b->nelems >= QUIET_BATCH_ELEMS && p->mon && (gen_before = get_gen(p)) >= 0 &&
	    monitor_membership(p, NETLINK_DROP_MEMBERSHIP) < 0)
		gen_before = -1;
	if (gen_before >= 0 && fw_nft_during_quiet_batch)
		fw_nft_during_quiet_batch();
	/* A netlink message must fit the socket's send buffer whole, and a batch is one message: a
	 * restart of a CGN with a million mappings (2,000,000 elements) is a 190 MB transaction, which
	 * must stay one transaction (no window without them). The kernel copies it into one buffer. */
	if (b->len > SOCK_BUF_BYTES)
		big_buffer(mnl_socket_get_fd(p->nl), SO_SNDBUFFORCE, SO_SNDBUF,
			   b->len < INT_MAX / 2 - (1 << 20) ? (int)b->len + (1 << 20) : INT_MAX / 2);
	if (mnl_socket_sendto(p->nl, b->buf, b->len) < 0) {
		err = -errno;
		snprintf(fw->err, sizeof(fw->err), "sending a %zu-byte batch: %s", b->len, errstr(err));
	} else {
		err = read_acks(fw, p, b);
	}
	if (!err)
		p->transactions++;
	if (gen_before >= 0)
		monitor_rejoin(p, (uint32_t)gen_before + (err ? 0 : 1));
	return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Expressions                                                                                  */

static void add_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (e)
		nftnl_rule_add_expr(r, e);
}

static struct nftnl_expr *expr_meta(uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	}
	return e;
}

static struct nftnl_expr *expr_cmp(uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	return e;
}

static struct nftnl_expr *expr_payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	}
	return e;
}

/* Looks up reg 1.. in a named set (or an anonymous one created in this batch, by id). */
static struct nftnl_expr *expr_lookup(const char *set, uint32_t set_id, uint32_t flags, int dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
		if (flags)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, flags);
		if (dreg >= 0)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
	}
	return e;
}

static struct nftnl_expr *expr_verdict(int verdict)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	}
	return e;
}

/* reg1 = ct key & mask; match if non-zero (ct state/status bit tests). */
static void add_ct_bits(struct nftnl_rule *r, uint32_t key, uint32_t mask)
{
	struct nftnl_expr *ct = nftnl_expr_alloc("ct"), *bw = nftnl_expr_alloc("bitwise");
	uint32_t zero = 0;

	if (ct) {
		nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	if (bw) {
		nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
		nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
		nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	}
	add_expr(r, ct);
	add_expr(r, bw);
	add_expr(r, expr_cmp(NFT_CMP_NEQ, &zero, sizeof(zero)));
}

static void add_nfproto(struct nftnl_rule *r, uint8_t nfproto)
{
	add_expr(r, expr_meta(NFT_META_NFPROTO, NFT_REG_1));
	add_expr(r, expr_cmp(NFT_CMP_EQ, &nfproto, sizeof(nfproto)));
}

static void add_l4proto(struct nftnl_rule *r, uint8_t proto)
{
	add_expr(r, expr_meta(NFT_META_L4PROTO, NFT_REG_1));
	add_expr(r, expr_cmp(NFT_CMP_EQ, &proto, sizeof(proto)));
}

/* Loads one key field of a set into its register: fields are padded to 4-byte registers. */
static struct nftnl_expr *expr_field(uint8_t type_field, uint32_t base, uint32_t offset, uint32_t len, uint32_t reg)
{
	if (type_field == FW_TYPE_PROTO)
		return expr_meta(NFT_META_L4PROTO, reg);
	return expr_payload(base, offset, len, reg);
}

/* ------------------------------------------------------------------------------------------ */
/* Tables, chains, sets                                                                         */

static void msg_table(struct batch *b, const char *name, uint16_t type)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t) {
		b->oom = true;
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if ((nlh = batch_msg(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0))) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		batch_close_msg(b, nlh);
	}
	nftnl_table_free(t);
}

/* hook < 0: a regular chain (integrated mode). */
static void msg_chain(struct batch *b, const struct nft *p, const char *name, uint16_t type,
		      int hook, int prio, const char *chain_type)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c) {
		b->oom = true;
		return;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, p->n.table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	if (hook >= 0 && type == NFT_MSG_NEWCHAIN) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, chain_type);
	}
	if ((nlh = batch_msg(b, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0))) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		batch_close_msg(b, nlh);
	}
	nftnl_chain_free(c);
}

/* DELRULE without a handle empties the chain. */
static void msg_flush_chain(struct batch *b, const struct nft *p, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!r) {
		b->oom = true;
		return;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, p->n.table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	if ((nlh = batch_msg(b, NFT_MSG_DELRULE, 0))) {
		nftnl_rule_nlmsg_build_payload(nlh, r);
		batch_close_msg(b, nlh);
	}
	nftnl_rule_free(r);
}

static void msg_rule(struct batch *b, struct nftnl_rule *r)
{
	struct nlmsghdr *nlh;

	if ((nlh = batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND))) {
		nftnl_rule_nlmsg_build_payload(nlh, r);
		batch_close_msg(b, nlh);
	}
	nftnl_rule_free(r);
}

static struct nftnl_rule *rule_new(struct batch *b, const struct nft *p, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r) {
		b->oom = true;
		return NULL;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, p->n.table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	return r;
}

static void msg_set(struct batch *b, struct nftnl_set *s, uint16_t type)
{
	struct nlmsghdr *nlh;

	if ((nlh = batch_msg(b, type, type == NFT_MSG_NEWSET ? NLM_F_CREATE : 0))) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		batch_close_msg(b, nlh);
	}
}

static struct nftnl_set *set_new(struct batch *b, const struct nft *p, const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s) {
		b->oom = true;
		return NULL;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, p->n.table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	return s;
}

static void msg_del_set(struct batch *b, const struct nft *p, const char *name)
{
	struct nftnl_set *s = set_new(b, p, name);

	if (s) {
		msg_set(b, s, NFT_MSG_DELSET);
		nftnl_set_free(s);
	}
}

/* One of our element sets/maps, with a set-level counter so each element gets its own (unless
 * p->no_counters). */
static void msg_new_fw_set(struct batch *b, struct nft *p, enum fw_set which)
{
	const struct fw_set_def *d = &fw_set_defs[which];
	struct nftnl_set *s = set_new(b, p, p->n.set[which]);
	uint32_t flags = NFT_SET_TIMEOUT;

	if (!s)
		return;
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, fw_set_key_type(d));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, d->key_len);
	nftnl_set_set_u32(s, NFTNL_SET_ID, ++p->set_id);
	if (d->map) {
		flags |= NFT_SET_MAP;
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, (FW_TYPE_IPADDR << FW_TYPE_BITS) | FW_TYPE_SERVICE);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, FW_DATA_LEN);
	}
	if (d->interval) {
		flags |= NFT_SET_INTERVAL | NFT_SET_CONCAT;
		nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, d->field_len, d->nfields);
	}
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	if (!p->no_counters)
		nftnl_set_add_expr(s, nftnl_expr_alloc("counter"));
	msg_set(b, s, NFT_MSG_NEWSET);
	nftnl_set_free(s);
}

/* nft reads a set's key byte order from the set's userdata, and takes big endian without it: an
 * interface name (a string, kept in host order) would then be printed backwards from its NUL padding,
 * as "", and `nft -f` refuses that listing back ("Empty string is not allowed"). nft itself writes
 * the byte order of every set it makes; so do we for name sets. false (set freed) on ENOMEM. */
#define NFT_BYTEORDER_HOST_ENDIAN 1   /* nftables' enum byteorder */
static bool set_key_host_order(struct batch *b, struct nftnl_set *s)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(16);

	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_HOST_ENDIAN)) {
		nftnl_udata_buf_free(ud);
		nftnl_set_free(s);
		b->oom = true;
		return false;
	}
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	return true;
}

/* A constant set (named wan_if, or anonymous for a rule): keys of key_len bytes each. */
static uint32_t msg_const_set(struct batch *b, struct nft *p, const char *name, bool anonymous,
			      uint32_t key_type, uint32_t key_len, const void *keys, size_t n)
{
	struct nftnl_set *s = set_new(b, p, name);
	struct nlmsghdr *nlh;
	uint32_t id = ++p->set_id;

	if (!s)
		return id;
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	if (anonymous)
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
	if (key_type == FW_TYPE_IFNAME && !set_key_host_order(b, s))
		return id;
	msg_set(b, s, NFT_MSG_NEWSET);
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();

		if (!e) {
			b->oom = true;
			break;
		}
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, (const char *)keys + i * key_len, key_len);
		nftnl_set_elem_add(s, e);
	}
	if (n && (nlh = batch_msg(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE))) {
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		batch_close_msg(b, nlh);
	}
	nftnl_set_free(s);
	return id;
}

/* ------------------------------------------------------------------------------------------ */
/* Rules                                                                                        */

/* iifname (or oifname, for postrouting) != @wan_if return */
static void rule_wan_filter(struct batch *b, const struct nft *p, const struct fw *fw, const char *chain,
			    uint32_t wan_set_id, uint32_t meta_key)
{
	struct nftnl_rule *r;

	if (fw->cfg.n_wan == 0 || !(r = rule_new(b, p, chain)))
		return;
	add_expr(r, expr_meta(meta_key, NFT_REG_1));
	add_expr(r, expr_lookup(p->n.wan_if, wan_set_id, NFT_LOOKUP_F_INV, -1));
	add_expr(r, expr_verdict(NFT_RETURN));
	msg_rule(b, r);
}

static void rule_ct(struct batch *b, const struct nft *p, uint8_t nfproto, uint32_t key, uint32_t mask, int verdict)
{
	struct nftnl_rule *r = rule_new(b, p, p->n.forward);

	if (!r)
		return;
	if (nfproto)
		add_nfproto(r, nfproto);
	add_ct_bits(r, key, mask);
	add_expr(r, expr_verdict(verdict));
	msg_rule(b, r);
}

/* meta nfproto ipv6 [meta l4proto P] <load> @anon accept */
static void rule_v6_in_anon(struct batch *b, struct nft *p, uint8_t l4proto, struct nftnl_expr *load,
			    uint32_t key_type, uint32_t key_len, const void *keys, size_t n)
{
	uint32_t id = msg_const_set(b, p, "__set%d", true, key_type, key_len, keys, n);
	struct nftnl_rule *r = rule_new(b, p, p->n.forward);

	if (!r) {
		nftnl_expr_free(load);
		return;
	}
	add_nfproto(r, NFPROTO_IPV6);
	if (l4proto)
		add_l4proto(r, l4proto);
	add_expr(r, load);
	add_expr(r, expr_lookup("__set%d", id, 0, -1));
	add_expr(r, expr_verdict(NF_ACCEPT));
	msg_rule(b, r);
}

/* The RFC 6092 / RFC 4890 exceptions ahead of the pinholes (standalone only). */
static void rules_rfc6092(struct batch *b, struct nft *p)
{
	static const uint8_t icmp_types[] = { 1, 2, 3, 4, 128 };  /* unreach, too-big, time-exceeded, param-problem, echo-request */
	static const uint8_t ipsec[] = { IPPROTO_ESP, IPPROTO_AH };
	uint8_t ike[2][2] = { { 500 >> 8, 500 & 0xff }, { 4500 >> 8, 4500 & 0xff } };

	rule_ct(b, p, 0, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED), NF_ACCEPT);
	rule_ct(b, p, 0, NFT_CT_STATE, NF_CT_STATE_INVALID_BIT, NF_DROP);
	rule_v6_in_anon(b, p, IPPROTO_ICMPV6, expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1),
			FW_TYPE_ICMP6_TYPE, 1, icmp_types, sizeof(icmp_types));
	rule_v6_in_anon(b, p, 0, expr_meta(NFT_META_L4PROTO, NFT_REG_1), FW_TYPE_PROTO, 1, ipsec, sizeof(ipsec));
	rule_v6_in_anon(b, p, IPPROTO_UDP, expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1),
			FW_TYPE_SERVICE, 2, ike, 2);
}

/* Where each key field sits in the packet, per set (fields in key order). */
struct field_src {
	uint32_t base, offset;
};

static const struct field_src field_srcs[FW_SET_COUNT][FW_FIELDS_MAX] = {
	[FW_SET_PH_PORT]    = { { NFT_PAYLOAD_NETWORK_HEADER, 24 }, { 0, 0 }, { NFT_PAYLOAD_TRANSPORT_HEADER, 2 } },
	[FW_SET_PH_PROTO]   = { { NFT_PAYLOAD_NETWORK_HEADER, 24 }, { 0, 0 } },
	[FW_SET_PH_ADDR]    = { { NFT_PAYLOAD_NETWORK_HEADER, 24 } },
	[FW_SET_PH_REMOTE]  = { { NFT_PAYLOAD_NETWORK_HEADER, 8 }, { NFT_PAYLOAD_NETWORK_HEADER, 24 }, { 0, 0 },
				{ NFT_PAYLOAD_TRANSPORT_HEADER, 0 }, { NFT_PAYLOAD_TRANSPORT_HEADER, 2 } },
	[FW_SET_PM4]        = { { 0, 0 }, { NFT_PAYLOAD_TRANSPORT_HEADER, 2 } },
	[FW_SET_PM4_ADDR]   = { { NFT_PAYLOAD_NETWORK_HEADER, 16 }, { 0, 0 }, { NFT_PAYLOAD_TRANSPORT_HEADER, 2 } },
	[FW_SET_PM4_REMOTE] = { { NFT_PAYLOAD_NETWORK_HEADER, 12 }, { 0, 0 }, { NFT_PAYLOAD_TRANSPORT_HEADER, 2 } },
	[FW_SET_PM4_REMOTE_PORT] = { { NFT_PAYLOAD_NETWORK_HEADER, 12 }, { 0, 0 }, { NFT_PAYLOAD_TRANSPORT_HEADER, 0 },
				     { NFT_PAYLOAD_TRANSPORT_HEADER, 2 } },
	[FW_SET_PM4_ADDR_REMOTE] = { { NFT_PAYLOAD_NETWORK_HEADER, 16 }, { NFT_PAYLOAD_NETWORK_HEADER, 12 }, { 0, 0 },
				     { NFT_PAYLOAD_TRANSPORT_HEADER, 2 } },
	[FW_SET_PM4_ADDR_REMOTE_PORT] = { { NFT_PAYLOAD_NETWORK_HEADER, 16 }, { NFT_PAYLOAD_NETWORK_HEADER, 12 }, { 0, 0 },
					  { NFT_PAYLOAD_TRANSPORT_HEADER, 0 }, { NFT_PAYLOAD_TRANSPORT_HEADER, 2 } },
	[FW_SET_PM4_SNAT]   = { { NFT_PAYLOAD_NETWORK_HEADER, 12 }, { 0, 0 }, { NFT_PAYLOAD_TRANSPORT_HEADER, 0 } },
	[FW_SET_PM4_SNAT_FLOW] = { { NFT_PAYLOAD_NETWORK_HEADER, 12 }, { NFT_PAYLOAD_NETWORK_HEADER, 16 }, { 0, 0 },
				   { NFT_PAYLOAD_TRANSPORT_HEADER, 0 }, { NFT_PAYLOAD_TRANSPORT_HEADER, 2 } },
};

/* Loads the concatenated key of a set into consecutive registers starting at reg 1. */
static void add_key_loads(struct nftnl_rule *r, enum fw_set which)
{
	const struct fw_set_def *d = &fw_set_defs[which];
	uint32_t off = 0;

	for (size_t i = 0; i < d->nfields; i++) {
		add_expr(r, expr_field(d->field_type[i], field_srcs[which][i].base, field_srcs[which][i].offset,
				       d->field_len[i], NFT_REG32_00 + off / 4));
		off += (d->field_len[i] + 3u) & ~3u;
	}
}

static void rule_pinhole_lookup(struct batch *b, const struct nft *p, enum fw_set which, uint32_t set_id)
{
	struct nftnl_rule *r = rule_new(b, p, p->n.forward);

	if (!r)
		return;
	add_nfproto(r, NFPROTO_IPV6);
	add_key_loads(r, which);
	add_expr(r, expr_lookup(p->n.set[which], set_id, 0, -1));
	add_expr(r, expr_verdict(NF_ACCEPT));
	msg_rule(b, r);
}

/* An IPv4 NAT expression taking its range from registers; a register of 0 (the verdict register,
 * never a NAT operand) leaves that bound out, as do flags of 0. */
static struct nftnl_expr *expr_nat4(uint32_t type, uint32_t addr_min, uint32_t addr_max, uint32_t proto_min,
				    uint32_t proto_max, uint32_t flags)
{
	struct nftnl_expr *nat = nftnl_expr_alloc("nat");

	if (nat == NULL)
		return NULL;
	nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_TYPE, type);
	nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
	if (addr_min)
		nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_REG_ADDR_MIN, addr_min);
	if (proto_min)
		nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_REG_PROTO_MIN, proto_min);
	if (addr_max)
		nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_REG_ADDR_MAX, addr_max);
	if (proto_max)
		nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_REG_PROTO_MAX, proto_max);
	if (flags)
		nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_FLAGS, flags);
	return nat;
}

/* meta nfproto ipv4 {d,s}nat ip to <key> map @which */
static void rule_nat_map(struct batch *b, const struct nft *p, const char *chain, uint32_t nat_type,
			 enum fw_set which, uint32_t set_id)
{
	struct nftnl_rule *r = rule_new(b, p, chain);

	if (!r)
		return;
	add_nfproto(r, NFPROTO_IPV4);
	add_key_loads(r, which);
	add_expr(r, expr_lookup(p->n.set[which], set_id, 0, NFT_REG_1));
	add_expr(r, expr_nat4(nat_type, NFT_REG32_00, 0, NFT_REG32_01, 0, 0));
	msg_rule(b, r);
}

static struct nftnl_expr *expr_imm_data(uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	}
	return e;
}

/* The NAT44 of unmapped subscriber traffic (pcpd on a CGN):
 *   meta nfproto ipv4 ip saddr SRC/LEN snat ip to LO-HI persistent
 * `persistent` makes the kernel pick the pool address from the source address alone, so one
 * subscriber's flows share an address (paired pooling, RFC 4787 REQ-2). */
static void rule_nat44(struct batch *b, const struct nft *p, const struct fw *fw)
{
	struct in_addr lo, hi;
	struct nftnl_rule *r;
	struct nftnl_expr *bw;
	uint32_t mask, net, zero = 0;
	uint8_t len = fw->cfg.nat_src_len > 32 ? 32 : fw->cfg.nat_src_len;

	if (!fw_nat_pool_range(&fw->cfg, &lo, &hi) || !(r = rule_new(b, p, p->n.postrouting)))
		return;
	mask = htonl(len ? ~0u << (32 - len) : 0);
	net = fw->cfg.nat_src.s_addr & mask;
	add_nfproto(r, NFPROTO_IPV4);
	add_expr(r, expr_payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG_1));
	if ((bw = nftnl_expr_alloc("bitwise"))) {
		nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
		nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
		nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	}
	add_expr(r, bw);
	add_expr(r, expr_cmp(NFT_CMP_EQ, &net, sizeof(net)));
	add_expr(r, expr_imm_data(NFT_REG_1, &lo.s_addr, sizeof(lo.s_addr)));
	add_expr(r, expr_imm_data(NFT_REG_2, &hi.s_addr, sizeof(hi.s_addr)));
	add_expr(r, expr_nat4(NFT_NAT_SNAT, NFT_REG_1, NFT_REG_2, 0, 0, NF_NAT_RANGE_PERSISTENT));
	msg_rule(b, r);
}

/* The CGN block map: `map nat_block { type ipv4_addr : interval ipv4_addr . inet_service }`,
 * subscriber -> its block's address . first port - address . last port, and the rule
 *   meta nfproto ipv4 meta l4proto { tcp, udp } snat ip to ip saddr map @nat_block
 * (bytecode as `nft --debug=netlink` gives it on nft 1.0.6). The kernel sees a plain hash map with
 * 16-byte data, as nft makes it (the key is one address, so no interval flag); what nft needs to
 * print it back -- the key's byte order, "the data is a range" -- lives in the set's userdata.
 * Its size is given (the element count is known): the kernel then picks a fixed-size hash instead
 * of growing an rhashtable element by element, 6x faster to fill with 65,536 elements.
 * All elements go in one transaction: at FW_NAT_BLOCK_ELEMS_MAX they take ~11 MB of batch, well
 * inside the socket's SOCK_BUF_BYTES, so no chunking is needed. */
#define NFT_BYTEORDER_BIG_ENDIAN 2   /* nftables' enum byteorder */
#define BLOCK_DATA_LEN 16            /* addr . port, then the range's end addr . port (4 bytes each) */

static uint32_t msg_block_map(struct batch *b, struct nft *p, uint64_t nelems)
{
	struct nftnl_set *s = set_new(b, p, p->n.nat_block);
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
	uint32_t id = ++p->set_id;

	if (s && ud) {
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, FW_TYPE_IPADDR);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sizeof(struct in_addr));
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, (FW_TYPE_IPADDR << FW_TYPE_BITS) | FW_TYPE_SERVICE);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, BLOCK_DATA_LEN);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_ID, id);
		if (nelems)
			nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, (uint32_t)nelems);
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_BIG_ENDIAN);
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 1);
		nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
		msg_set(b, s, NFT_MSG_NEWSET);
	} else {
		b->oom = true;
	}
	nftnl_udata_buf_free(ud);
	nftnl_set_free(s);
	return id;
}

/* One element: subscriber -> ext . lo - ext . hi (ports big-endian, each field padded to 4). */
static struct nftnl_set_elem *block_elem(const struct fw_nat_blocks *nb, uint64_t i)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	uint8_t data[BLOCK_DATA_LEN] = { 0 };
	struct in_addr sub, ext;
	uint16_t lo, hi;

	if (!e)
		return NULL;
	fw_nat_block_at(nb, i, &sub, &ext, &lo, &hi);
	lo = htons(lo);
	hi = htons(hi);
	memcpy(data, &ext, 4);
	memcpy(data + 4, &lo, 2);
	memcpy(data + 8, &ext, 4);
	memcpy(data + 12, &hi, 2);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &sub, sizeof(sub));
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, sizeof(data));
	return e;
}

/* Blocks 0..n-1, ELEMS_PER_MSG to a message. */
static void msg_block_elems(struct batch *b, struct nft *p, const struct fw_nat_blocks *nb, uint64_t n)
{
	for (uint64_t i = 0; i < n && !b->oom; i += ELEMS_PER_MSG) {
		struct nftnl_set *s = set_new(b, p, p->n.nat_block);
		struct nlmsghdr *nlh;

		if (!s)
			return;
		for (uint64_t j = i; j < n && j < i + ELEMS_PER_MSG; j++) {
			struct nftnl_set_elem *e = block_elem(nb, j);

			if (!e) {
				b->oom = true;
				break;
			}
			nftnl_set_elem_add(s, e);
			b->nelems++;
		}
		if ((nlh = batch_msg(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE))) {
			nftnl_set_elems_nlmsg_build_payload(nlh, s);
			batch_close_msg(b, nlh);
		}
		nftnl_set_free(s);
	}
}

static void rule_nat_block(struct batch *b, struct nft *p, uint32_t map_id)
{
	static const uint8_t l4[] = { IPPROTO_TCP, IPPROTO_UDP };
	uint32_t l4_id = msg_const_set(b, p, "__set%d", true, FW_TYPE_PROTO, 1, l4, sizeof(l4));
	struct nftnl_rule *r = rule_new(b, p, p->n.postrouting);

	if (!r)
		return;
	add_nfproto(r, NFPROTO_IPV4);
	add_expr(r, expr_meta(NFT_META_L4PROTO, NFT_REG_1));
	add_expr(r, expr_lookup("__set%d", l4_id, 0, -1));
	add_expr(r, expr_payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG_1));
	add_expr(r, expr_lookup(p->n.nat_block, map_id, 0, NFT_REG_1));
	add_expr(r, expr_nat4(NFT_NAT_SNAT, NFT_REG_1, NFT_REG32_02, NFT_REG32_01, NFT_REG32_03, 0));
	msg_rule(b, r);
}

/* The output wall: the daemon's own sockets (its cgroup v2) open TCP connections to the LAN only.
 *   socket cgroupv2 level L "PATH" oifname != @lan_if oifname != "lo" meta l4proto tcp ct state new drop
 * (bytecode as `nft --debug=netlink` gives it on nft 1.0.6: the socket expression loads the id of
 * the socket's cgroup ancestor at level L, 8 bytes, compared with ours). UDP stays open: pcpd and
 * igdd's IWF talk PCP to an upstream server over UDP. */
static void rule_output_wall(struct batch *b, const struct nft *p, const struct fw *fw, uint32_t lan_set_id)
{
	static const char lo[16] = "lo";
	uint64_t id = fw->cfg.out_cgroup_id;
	uint8_t tcp = IPPROTO_TCP;
	struct nftnl_rule *r = rule_new(b, p, p->n.output);
	struct nftnl_expr *sock;

	if (!r)
		return;
	if ((sock = nftnl_expr_alloc("socket"))) {
		nftnl_expr_set_u32(sock, NFTNL_EXPR_SOCKET_KEY, NFT_SOCKET_CGROUPV2);
		nftnl_expr_set_u32(sock, NFTNL_EXPR_SOCKET_DREG, NFT_REG_1);
		nftnl_expr_set_u32(sock, NFTNL_EXPR_SOCKET_LEVEL, fw->cfg.out_cgroup_level);
	}
	add_expr(r, sock);
	add_expr(r, expr_cmp(NFT_CMP_EQ, &id, sizeof(id)));
	add_expr(r, expr_meta(NFT_META_OIFNAME, NFT_REG_1));
	add_expr(r, expr_lookup(p->n.lan_if, lan_set_id, NFT_LOOKUP_F_INV, -1));
	add_expr(r, expr_meta(NFT_META_OIFNAME, NFT_REG_1));
	add_expr(r, expr_cmp(NFT_CMP_NEQ, lo, sizeof(lo)));
	add_expr(r, expr_meta(NFT_META_L4PROTO, NFT_REG_1));
	add_expr(r, expr_cmp(NFT_CMP_EQ, &tcp, sizeof(tcp)));
	add_ct_bits(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW));
	add_expr(r, expr_verdict(NF_DROP));
	msg_rule(b, r);
}

/* Chains, sets and rules of our ruleset (no elements). with_fw_sets false: our element sets exist
 * already (filled by resync_chunked) and the rules find them by name. */
static void build_ruleset(struct batch *b, struct nft *p, const struct fw *fw, bool with_fw_sets)
{
	bool standalone = fw->cfg.mode == FW_STANDALONE;
	char ifnames[FW_MAX_IFNAMES][16];
	uint32_t ids[FW_SET_COUNT] = { 0 }, wan_id = 0, lan_id = 0, block_id = 0;
	bool wall = fw_output_wall(&fw->cfg);
	struct fw_nat_blocks nb;
	uint64_t nblocks = fw_nat_block_elems(&fw->cfg, &nb);
	struct nftnl_rule *r;

	memset(ifnames, 0, sizeof(ifnames));
	for (size_t i = 0; i < fw->cfg.n_wan && i < FW_MAX_IFNAMES; i++)
		memcpy(ifnames[i], fw->cfg.wan_ifname[i], strnlen(fw->cfg.wan_ifname[i], 15));
	if (fw->cfg.n_wan)
		wan_id = msg_const_set(b, p, p->n.wan_if, false, FW_TYPE_IFNAME, 16, ifnames, fw->cfg.n_wan);
	if (wall) {
		memset(ifnames, 0, sizeof(ifnames));
		for (size_t i = 0; i < fw->cfg.n_lan && i < FW_MAX_IFNAMES; i++)
			memcpy(ifnames[i], fw->cfg.lan_ifname[i], strnlen(fw->cfg.lan_ifname[i], 15));
		lan_id = msg_const_set(b, p, p->n.lan_if, false, FW_TYPE_IFNAME, 16, ifnames, fw->cfg.n_lan);
	}
	for (int s = 0; s < FW_SET_COUNT && with_fw_sets; s++) {
		msg_new_fw_set(b, p, (enum fw_set)s);
		ids[s] = p->set_id;
	}
	if (nblocks) {
		/* its elements come from the config alone: they go with the map, in this transaction */
		block_id = msg_block_map(b, p, nblocks);
		msg_block_elems(b, p, &nb, nblocks);
	}
	msg_chain(b, p, p->n.forward, NFT_MSG_NEWCHAIN, standalone ? NF_INET_FORWARD : -1, 0, "filter");
	msg_chain(b, p, p->n.prerouting, NFT_MSG_NEWCHAIN, standalone ? NF_INET_PRE_ROUTING : -1,
		  PRIO_DSTNAT, "nat");
	msg_chain(b, p, p->n.postrouting, NFT_MSG_NEWCHAIN, standalone ? NF_INET_POST_ROUTING : -1,
		  PRIO_SRCNAT, "nat");
	/* integrated: the chain exists even without the wall, so the operator's jump always resolves */
	if (wall || !standalone)
		msg_chain(b, p, p->n.output, NFT_MSG_NEWCHAIN, standalone ? NF_INET_LOCAL_OUT : -1, 0, "filter");
	rule_wan_filter(b, p, fw, p->n.forward, wan_id, NFT_META_IIFNAME);
	if (standalone)
		rules_rfc6092(b, p);
	for (int s = FW_SET_PH_PORT; s <= FW_SET_PH_REMOTE; s++)
		rule_pinhole_lookup(b, p, (enum fw_set)s, ids[s]);
	rule_ct(b, p, NFPROTO_IPV4, NFT_CT_STATUS, IPS_DST_NAT, NF_ACCEPT);
	if (standalone && (r = rule_new(b, p, p->n.forward))) {
		add_nfproto(r, NFPROTO_IPV6);
		add_expr(r, expr_verdict(NF_DROP));
		msg_rule(b, r);
	}
	rule_wan_filter(b, p, fw, p->n.prerouting, wan_id, NFT_META_IIFNAME);
	for (size_t i = 0; i < sizeof(fw_dnat_order) / sizeof(fw_dnat_order[0]); i++)
		rule_nat_map(b, p, p->n.prerouting, NFT_NAT_DNAT, fw_dnat_order[i], ids[fw_dnat_order[i]]);
	rule_wan_filter(b, p, fw, p->n.postrouting, wan_id, NFT_META_OIFNAME);
	/* a flow's own mapping (PEER) before its internal endpoint's (MAP) */
	rule_nat_map(b, p, p->n.postrouting, NFT_NAT_SNAT, FW_SET_PM4_SNAT_FLOW, ids[FW_SET_PM4_SNAT_FLOW]);
	rule_nat_map(b, p, p->n.postrouting, NFT_NAT_SNAT, FW_SET_PM4_SNAT, ids[FW_SET_PM4_SNAT]);
	/* after pm4_snat (a mapped flow keeps its mapped port), before the pool rule (the fallback) */
	if (nblocks)
		rule_nat_block(b, p, block_id);
	rule_nat44(b, p, fw);
	if (wall)
		rule_output_wall(b, p, fw, lan_id);
}

/* ------------------------------------------------------------------------------------------ */
/* Elements                                                                                     */

struct keyed {
	struct fw_key key;
	const struct fw_elem *elem;
};

static int keyed_cmp(const void *pa, const void *pb)
{
	return fw_key_cmp(&((const struct keyed *)pa)->key, &((const struct keyed *)pb)->key);
}

static struct nftnl_set_elem *elem_new(const struct keyed *k, uint16_t type, bool counter)
{
	const struct fw_set_def *d = &fw_set_defs[k->key.set];
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nftnl_expr *ctr;
	uint8_t data[FW_DATA_LEN];

	if (!e)
		return NULL;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, k->key.key, k->key.len);
	if (d->interval)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, k->key.key_end, k->key.len);
	if (type != NFT_MSG_NEWSETELEM)
		return e;
	if (k->elem->timeout_ms)
		nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, k->elem->timeout_ms);
	if (d->map) {
		if (fw_set_is_snat(k->key.set))
			fw_elem_snat_data(k->elem, data);
		else
			fw_elem_map_data(k->elem, data);
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, FW_DATA_LEN);
	}
	/* an element-level counter with the caller's values: counters survive a re-add */
	if (counter && (ctr = nftnl_expr_alloc("counter"))) {
		nftnl_expr_set_u64(ctr, NFTNL_EXPR_CTR_PACKETS, k->elem->packets);
		nftnl_expr_set_u64(ctr, NFTNL_EXPR_CTR_BYTES, k->elem->bytes);
		nftnl_set_elem_add_expr(e, ctr);
	}
	return e;
}

/* One message per ELEMS_PER_MSG elements of one set. v[] is sorted by set. */
static void msg_elems_chunk(struct batch *b, const struct nft *p, const struct keyed *v, size_t n, uint16_t type)
{
	struct nftnl_set *s = set_new(b, p, p->n.set[v[0].key.set]);
	struct nlmsghdr *nlh;

	if (!s)
		return;
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set_elem *e = elem_new(&v[i], type, !p->no_counters);

		if (!e) {
			b->oom = true;
			break;
		}
		nftnl_set_elem_add(s, e);
	}
	b->nelems += n;
	if ((nlh = batch_msg(b, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0))) {
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		batch_close_msg(b, nlh);
	}
	nftnl_set_free(s);
}

/* Emits v[] (sorted by set), filtered by `only_maps` when asked, as element messages. */
static void msg_elems(struct batch *b, const struct nft *p, const struct keyed *v, size_t n, uint16_t type, bool only_maps)
{
	size_t i = 0;

	while (i < n && !b->oom) {
		size_t j = i;

		while (j < n && j - i < ELEMS_PER_MSG && v[j].key.set == v[i].key.set)
			j++;
		if (!only_maps || fw_set_defs[v[i].key.set].map)
			msg_elems_chunk(b, p, v + i, j - i, type);
		i = j;
	}
}

/* Keys every element, plus the SNAT companion of each portmap with an external address, grouped
 * by set (msg_elems makes one message per run of a set; nothing needs the keys sorted within a
 * set, and sorting 2,000,000 of them was a second of a restart); *nk = how many. NULL + fw->err on
 * a bad element or no memory. */
static struct keyed *key_all(struct fw *fw, const struct fw_elem *v, size_t n, size_t *nk, int *err)
{
	struct keyed *k = calloc(2 * n + 1, sizeof(*k)), *by_set;
	size_t at[FW_SET_COUNT] = { 0 }, m = 0;
	const char *why;
	char s[160];

	*err = -ENOMEM;
	if (!k)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if ((why = fw_key_build(&v[i], &k[m].key)) != NULL) {
			snprintf(fw->err, sizeof(fw->err), "%s: %s", fw_elem_str(&v[i], s, sizeof(s)), why);
			free(k);
			*err = -EINVAL;
			return NULL;
		}
		k[m++].elem = &v[i];
		if (fw_key_companion(&v[i], &k[m].key))
			k[m++].elem = &v[i];
	}
	*nk = m;
	*err = 0;
	if (!(by_set = calloc(m + 1, sizeof(*by_set)))) {
		free(k);
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < m; i++)
		at[k[i].key.set]++;
	for (size_t set = 0, pos = 0; set < FW_SET_COUNT; set++) {
		size_t count = at[set];

		at[set] = pos;
		pos += count;
	}
	for (size_t i = 0; i < m; i++)
		by_set[at[k[i].key.set]++] = k[i];
	free(k);
	return by_set;
}

/* ------------------------------------------------------------------------------------------ */
/* Dumps: GETSETELEM of one set, decoded into fw_elem                                           */

struct dump_ctx {
	enum fw_set set;
	void (*cb)(void *arg, const struct fw_elem *e);
	/* instead of cb when set: also wants the kernel key (a companion parses to its portmap's
	 * fields, so only the key tells the two apart) */
	void (*kcb)(void *arg, const struct fw_key *k, const struct fw_elem *e);
	void *arg;
};

static int ctr_cb(struct nftnl_expr *x, void *data)
{
	struct fw_elem *e = data;
	const char *name = nftnl_expr_get_str(x, NFTNL_EXPR_NAME);

	if (name && strcmp(name, "counter") == 0) {
		e->packets = nftnl_expr_get_u64(x, NFTNL_EXPR_CTR_PACKETS);
		e->bytes = nftnl_expr_get_u64(x, NFTNL_EXPR_CTR_BYTES);
	}
	return 0;
}

static int dump_elem_cb(struct nftnl_set_elem *se, void *data)
{
	struct dump_ctx *ctx = data;
	struct fw_key k = { .set = ctx->set };
	uint32_t klen = 0, elen = 0, dlen = 0;
	const void *key = nftnl_set_elem_get(se, NFTNL_SET_ELEM_KEY, &klen);
	const void *kend = nftnl_set_elem_get(se, NFTNL_SET_ELEM_KEY_END, &elen);
	const void *dat = nftnl_set_elem_get(se, NFTNL_SET_ELEM_DATA, &dlen);
	struct fw_elem e;

	if (!key || klen != fw_set_defs[ctx->set].key_len || klen > FW_KEY_MAX)
		return 0;   /* not an element we make: ignore it */
	k.len = (uint8_t)klen;
	memcpy(k.key, key, klen);
	if (kend && elen == klen)
		memcpy(k.key_end, kend, elen);
	else
		memcpy(k.key_end, key, klen);
	if (!fw_key_parse(&k, dat, dat ? dlen : 0, &e))
		return 0;
	if (nftnl_set_elem_is_set(se, NFTNL_SET_ELEM_TIMEOUT))
		e.timeout_ms = nftnl_set_elem_get_u64(se, NFTNL_SET_ELEM_TIMEOUT);
	nftnl_set_elem_expr_foreach(se, ctr_cb, &e);
	if (ctx->kcb)
		ctx->kcb(ctx->arg, &k, &e);
	else
		ctx->cb(ctx->arg, &e);
	return 0;
}

static int dump_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return -ENOMEM;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) == 0)
		nftnl_set_elem_foreach(s, dump_elem_cb, data);
	nftnl_set_free(s);
	return 0;
}

/* Dumps one of our sets. Returns 0, -ENOENT if the set (or table) does not exist, or -errno. */
/* Dumps one of our sets, on the command socket, or (reader) on read_counters' own. */
static int dump_set_on(struct fw *fw, struct nft *p, enum fw_set which, bool reader,
		       void (*cb)(void *arg, const struct fw_elem *e),
		       void (*kcb)(void *arg, const struct fw_key *k, const struct fw_elem *e), void *arg)
{
	struct dump_ctx ctx = { .set = which, .cb = cb, .kcb = kcb, .arg = arg };
	char buf[MNL_SOCKET_BUFFER_SIZE], name[FW_NAME_MAX];
	struct nftnl_set *s;
	struct nlmsghdr *nlh;
	int err;

	if (!(s = nftnl_set_alloc()))
		return -ENOMEM;
	pthread_mutex_lock(&p->names_mu);
	memcpy(name, p->n.set[which], sizeof(name));
	pthread_mutex_unlock(&p->names_mu);
	memset(buf, 0, sizeof(buf));   /* nftnl leaves the padding as it finds it, and it is sent too */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP | NLM_F_ACK,
				    reader ? p->dseq++ : p->seq++);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, p->n.table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	err = reader ? nl_request_on(p->dnl, p->dbuf, nlh, dump_msg_cb, &ctx) : nl_request(p, nlh, dump_msg_cb, &ctx);
	if (err < 0 && err != -ENOENT) {
		char *to = reader ? fw->read_err : fw->err;

		snprintf(to, sizeof(fw->err), "dumping %s: %s", name, strerror(-err));
	}
	return err;
}

static int dump_set(struct fw *fw, struct nft *p, enum fw_set which,
		    void (*cb)(void *arg, const struct fw_elem *e),
		    void (*kcb)(void *arg, const struct fw_key *k, const struct fw_elem *e), void *arg)
{
	return dump_set_on(fw, p, which, false, cb, kcb, arg);
}

/* ------------------------------------------------------------------------------------------ */
/* Operations                                                                                   */

struct counter_table {
	struct fw_elem *v;
	struct fw_key *k;         /* v[i]'s kernel key */
	size_t n, cap;
	bool exists[FW_SET_COUNT];
	bool other_gen_exists[FW_SET_COUNT];   /* the sets of the generation our rules do not use */
	bool oom;
};

static void collect_cb(void *arg, const struct fw_key *k, const struct fw_elem *e)
{
	struct counter_table *t = arg;

	if (t->oom)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct fw_elem *v = realloc(t->v, cap * sizeof(*v));
		struct fw_key *kk;

		if (v)
			t->v = v;
		kk = v ? realloc(t->k, cap * sizeof(*kk)) : NULL;
		if (!kk) {
			t->oom = true;
			return;
		}
		t->k = kk;
		t->cap = cap;
	}
	t->k[t->n] = *k;
	t->v[t->n++] = *e;
}

static void counter_table_free(struct counter_table *t)
{
	free(t->v);
	free(t->k);
	t->v = NULL;
	t->k = NULL;
}

/* 0 if the set exists in our table, -ENOENT if not, another -errno if the kernel could not say. */
static int set_exists(struct nft *p, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		return -ENOMEM;
	memset(buf, 0, sizeof(buf));   /* nftnl leaves the padding as it finds it, and it is sent too */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET, NLM_F_ACK, p->seq++);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, p->n.table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nl_request(p, nlh, NULL, NULL);
}

/* What the kernel holds now (with_elems: its elements and counters; a dump), and which of our sets
 * exist. */
static int collect(struct fw *fw, struct nft *p, struct counter_table *t, bool with_elems)
{
	memset(t, 0, sizeof(*t));
	for (int s = 0; s < FW_SET_COUNT; s++) {
		int err = with_elems ? dump_set(fw, p, (enum fw_set)s, NULL, collect_cb, t) : set_exists(p, p->n.set[s]);

		if (err && err != -ENOENT) {
			counter_table_free(t);
			return err;
		}
		t->exists[s] = err == 0;
		err = set_exists(p, p->n.gen_set[!p->set_gen][s]);
		if (err && err != -ENOENT) {
			counter_table_free(t);
			return err;
		}
		t->other_gen_exists[s] = err == 0;
	}
	return t->oom ? -ENOMEM : 0;
}

/* Copies the kernel's counters onto the elements we are about to recreate (match by key). */
static void carry_counters(struct keyed *k, size_t n, struct fw_elem *copy, const struct counter_table *t)
{
	struct keyed *have = calloc(t->n + 1, sizeof(*have));
	size_t nh = 0;

	if (!have)
		return;   /* counters restart: not worth failing the resync for */
	for (size_t i = 0; i < t->n; i++) {
		have[nh].key = t->k[i];
		have[nh++].elem = &t->v[i];
	}
	qsort(have, nh, sizeof(*have), keyed_cmp);
	for (size_t i = 0; i < n; i++) {
		struct keyed *h = bsearch(&k[i], have, nh, sizeof(*have), keyed_cmp);

		copy[i] = *k[i].elem;
		if (h) {
			copy[i].packets = h->elem->packets;
			copy[i].bytes = h->elem->bytes;
		}
		k[i].elem = &copy[i];
	}
	free(have);
}

/* Removes what exists of our objects from the batch's view, then recreates them. */
static void build_teardown(struct batch *b, struct nft *p, const struct fw *fw, const struct counter_table *t)
{
	if (fw->cfg.mode == FW_STANDALONE) {
		/* NEWTABLE first so DELTABLE cannot fail with ENOENT: works on every kernel */
		msg_table(b, p->n.table, NFT_MSG_NEWTABLE);
		msg_table(b, p->n.table, NFT_MSG_DELTABLE);
		msg_table(b, p->n.table, NFT_MSG_NEWTABLE);
		return;
	}
	/* integrated: the host's table and the operator's jumps stay; our chains are emptied and
	 * our sets deleted (their rules went with the flush), then everything is re-added */
	msg_chain(b, p, p->n.forward, NFT_MSG_NEWCHAIN, -1, 0, NULL);
	msg_chain(b, p, p->n.prerouting, NFT_MSG_NEWCHAIN, -1, 0, NULL);
	msg_chain(b, p, p->n.postrouting, NFT_MSG_NEWCHAIN, -1, 0, NULL);
	msg_chain(b, p, p->n.output, NFT_MSG_NEWCHAIN, -1, 0, NULL);
	msg_flush_chain(b, p, p->n.forward);
	msg_flush_chain(b, p, p->n.prerouting);
	msg_flush_chain(b, p, p->n.postrouting);
	msg_flush_chain(b, p, p->n.output);
	if (fw->cfg.n_wan) {
		/* create-if-missing first (its definition never changes), so the delete cannot fail */
		msg_const_set(b, p, p->n.wan_if, false, FW_TYPE_IFNAME, 16, NULL, 0);
		msg_del_set(b, p, p->n.wan_if);
	}
	/* lan_if, whether or not this start has the wall (an earlier one may have had it) */
	msg_const_set(b, p, p->n.lan_if, false, FW_TYPE_IFNAME, 16, NULL, 0);
	msg_del_set(b, p, p->n.lan_if);
	msg_block_map(b, p, 0);   /* the same for the block map */
	msg_del_set(b, p, p->n.nat_block);
	for (int s = 0; s < FW_SET_COUNT; s++) {
		if (t->exists[s])
			msg_del_set(b, p, p->n.set[s]);
		if (t->other_gen_exists[s])
			msg_del_set(b, p, p->n.gen_set[!p->set_gen][s]);
	}
}

static void use_set_gen(struct nft *p, int gen)
{
	p->set_gen = gen;
	pthread_mutex_lock(&p->names_mu);   /* a counter dump may be reading a name */
	memcpy(p->n.set, p->n.gen_set[gen], sizeof(p->n.set));
	pthread_mutex_unlock(&p->names_mu);
}

/* The whole ruleset in one transaction: everything of ours deleted, then recreated with every
 * element (the first generation's set names). */
static int resync_whole(struct fw *fw, struct nft *p, struct keyed *k, size_t nk)
{
	int was = p->set_gen, err;
	bool was_no_counters;
	struct counter_table t;
	struct fw_elem *copy;
	struct batch b;

	/* counters carried over only while dumping them is cheap (FW_COUNTERS_MAX_ELEMS) */
	if ((err = collect(fw, p, &t, nk <= FW_COUNTERS_MAX_ELEMS)))
		return err;
	if (t.n && (copy = calloc(nk + 1, sizeof(*copy))))
		carry_counters(k, nk, copy, &t);
	else
		copy = NULL;
	batch_start(&b, p);
	build_teardown(&b, p, fw, &t);   /* the names in use now, and the other generation's */
	was_no_counters = p->no_counters;
	p->no_counters = false;
	use_set_gen(p, 0);
	build_ruleset(&b, p, fw, true);
	msg_elems(&b, p, k, nk, NFT_MSG_NEWSETELEM, false);
	if ((err = batch_send(fw, p, &b))) {
		use_set_gen(p, was);
		p->no_counters = was_no_counters;
	}
	batch_free(&b);
	counter_table_free(&t);
	free(copy);
	return err;
}

size_t fw_nft_chunked_resync_min = FW_COUNTERS_MAX_ELEMS + 1;
size_t fw_nft_resync_chunk_elems = RESYNC_CHUNK_ELEMS;
void (*fw_nft_between_resync_chunks)(void);

/* Our rules and the sets they do not hold elements in, rebuilt over the existing table and chains
 * (what build_teardown's DELTABLE does in one message, without touching our element sets). */
static void build_rules_refresh(struct batch *b, struct nft *p, const struct fw *fw)
{
	bool standalone = fw->cfg.mode == FW_STANDALONE;

	if (standalone)
		msg_table(b, p->n.table, NFT_MSG_NEWTABLE);
	/* create-if-missing with the definitions build_ruleset gives them, so the flush cannot fail */
	msg_chain(b, p, p->n.forward, NFT_MSG_NEWCHAIN, standalone ? NF_INET_FORWARD : -1, 0, "filter");
	msg_chain(b, p, p->n.prerouting, NFT_MSG_NEWCHAIN, standalone ? NF_INET_PRE_ROUTING : -1, PRIO_DSTNAT, "nat");
	msg_chain(b, p, p->n.postrouting, NFT_MSG_NEWCHAIN, standalone ? NF_INET_POST_ROUTING : -1, PRIO_SRCNAT, "nat");
	msg_chain(b, p, p->n.output, NFT_MSG_NEWCHAIN, standalone ? NF_INET_LOCAL_OUT : -1, 0, "filter");
	msg_flush_chain(b, p, p->n.forward);
	msg_flush_chain(b, p, p->n.prerouting);
	msg_flush_chain(b, p, p->n.postrouting);
	msg_flush_chain(b, p, p->n.output);
	if (standalone && !fw_output_wall(&fw->cfg))
		msg_chain(b, p, p->n.output, NFT_MSG_DELCHAIN, -1, 0, NULL);   /* standalone has it only with the wall */
	if (fw->cfg.n_wan) {
		msg_const_set(b, p, p->n.wan_if, false, FW_TYPE_IFNAME, 16, NULL, 0);
		msg_del_set(b, p, p->n.wan_if);
	}
	msg_const_set(b, p, p->n.lan_if, false, FW_TYPE_IFNAME, 16, NULL, 0);
	msg_del_set(b, p, p->n.lan_if);
	msg_block_map(b, p, 0);
	msg_del_set(b, p, p->n.nat_block);
}

/* One transaction, committed only if the ruleset is still at generation *gen (then *gen + 1). */
static int send_at(struct fw *fw, struct nft *p, struct batch *b, int64_t *gen)
{
	int err = batch_send(fw, p, b);

	batch_free(b);
	if (!err)
		(*gen)++;
	return err;
}

/* A resync of many elements without one huge transaction. One transaction of 2,000,000 elements
 * grows faster than linearly in the kernel: it keeps every element's change report until the
 * commit (whenever anyone on the host listens to nftables events, in any namespace: the kernel's
 * "has listeners" test is per protocol, not per namespace), and its hash tables grow within it. So
 * the elements go into a fresh generation of our sets (the other set names: `ph_port` <-> `ph_port`
 * SECOND_GEN_SUFFIX), fw_nft_resync_chunk_elems to a transaction, while the rules still point at
 * the old sets, which keep serving; then one small transaction rebuilds the rules on the new sets
 * and deletes the old ones. Installed elements are in the kernel all along. Every transaction
 * carries the generation it expects, so a commit of anyone else in between fails ours (ERESTART,
 * nothing applied) and the caller starts over. */
static int resync_chunked(struct fw *fw, struct nft *p, const struct keyed *k, size_t nk)
{
	bool exists[2][FW_SET_COUNT], any[2] = { false, false };
	int64_t gen = get_gen(p);
	bool was_no_counters;
	int cur, next, err = 0;
	struct batch b;

	if (gen < 0) {
		snprintf(fw->err, sizeof(fw->err), "reading the ruleset generation: %s", errstr((int)gen));
		return (int)gen;
	}
	for (int g = 0; g < 2; g++)
		for (int s = 0; s < FW_SET_COUNT; s++) {
			if ((err = set_exists(p, p->n.gen_set[g][s])) && err != -ENOENT)
				return err;
			exists[g][s] = err == 0;
			any[g] |= exists[g][s];
		}
	/* after a restart, the generation that exists is the one in use (a resync cut short leaves both:
	 * then the guess may be wrong, and the delete of sets our rules use fails with EBUSY) */
	cur = p->set_gen;
	if (!any[cur] && any[!cur])
		cur = !cur;
	/* Nobody reads the counters of this many elements (FW_COUNTERS_MAX_ELEMS), and a per-CPU
	 * counter for each was a fifth of a restart's CPU (the kernel's per-CPU allocator) and kernel
	 * memory for every element: the new generation has none (until a resync of fewer elements). */
	was_no_counters = p->no_counters;
	p->no_counters = true;
	for (int tries = 0; tries < 2; tries++) {
		next = !cur;
		batch_start_at(&b, p, gen);
		if (fw->cfg.mode == FW_STANDALONE)
			msg_table(&b, p->n.table, NFT_MSG_NEWTABLE);
		for (int s = 0; s < FW_SET_COUNT; s++)
			if (exists[next][s])
				msg_del_set(&b, p, p->n.gen_set[next][s]);   /* left by a resync cut short */
		use_set_gen(p, next);
		for (int s = 0; s < FW_SET_COUNT; s++)
			msg_new_fw_set(&b, p, (enum fw_set)s);
		if ((err = send_at(fw, p, &b, &gen)) != -EBUSY)
			break;
		cur = next;
	}
	for (size_t i = 0; !err && i < nk; i += fw_nft_resync_chunk_elems) {
		if (fw_nft_between_resync_chunks)
			fw_nft_between_resync_chunks();
		batch_start_at(&b, p, gen);
		msg_elems(&b, p, k + i, nk - i < fw_nft_resync_chunk_elems ? nk - i : fw_nft_resync_chunk_elems,
			  NFT_MSG_NEWSETELEM, false);
		err = send_at(fw, p, &b, &gen);
	}
	if (!err) {
		batch_start_at(&b, p, gen);
		build_rules_refresh(&b, p, fw);
		build_ruleset(&b, p, fw, false);
		for (int s = 0; s < FW_SET_COUNT; s++)
			if (exists[cur][s])
				msg_del_set(&b, p, p->n.gen_set[cur][s]);
		err = send_at(fw, p, &b, &gen);
	}
	if (err) {
		use_set_gen(p, cur);   /* the half-filled generation is deleted by the next attempt */
		p->no_counters = was_no_counters;
	}
	return err;
}

static int nft_resync(struct fw *fw, const struct fw_elem *all, size_t n)
{
	struct nft *p = nft_of(fw);
	struct keyed *k;
	size_t nk = 0;
	int err;

	if (!(k = key_all(fw, all, n, &nk, &err)))
		return err;
	if (nk >= fw_nft_chunked_resync_min && fw_nft_resync_chunk_elems) {
		/* a foreign commit in between: start over, a few times; then (and on any other failure,
		 * e.g. a table that is not ours in shape) the one-transaction rebuild, which always fits */
		for (int attempt = 0; attempt < RESYNC_ATTEMPTS; attempt++)
			if ((err = resync_chunked(fw, p, k, nk)) != -ERESTART)
				break;
		if (!err) {
			free(k);
			return 0;
		}
	}
	err = resync_whole(fw, p, k, nk);
	free(k);
	return err;
}

static int nft_init(struct fw *fw)
{
	return nft_resync(fw, NULL, 0);
}

/* Kernels without DESTROYSETELEM: keeps only the keys the kernel still holds (a dump). */
static int existing_only(struct fw *fw, struct nft *p, struct keyed *v, size_t *n)
{
	struct counter_table t;
	struct keyed *have;
	size_t nh = 0, out = 0;
	int err;

	if ((err = collect(fw, p, &t, true)))
		return err;
	if (!(have = calloc(t.n + 1, sizeof(*have)))) {
		counter_table_free(&t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t.n; i++)
		have[nh++].key = t.k[i];
	qsort(have, nh, sizeof(*have), keyed_cmp);
	for (size_t i = 0; i < *n; i++)
		if (bsearch(&v[i], have, nh, sizeof(*have), keyed_cmp))
			v[out++] = v[i];
	free(have);
	counter_table_free(&t);
	*n = out;
	return 0;
}

/* rep[] (in its order) without the keys del[] deletes, *n counting rep in and the result out; NULL when
 * out of memory. A caller deletes and adds one key in one commit when the element's SNAT companion
 * moves (the old element and its companion go, the new ones come), and DELSETELEM of a key already
 * deleted in the transaction fails all of it (ENOENT: kernels without DESTROYSETELEM). */
static struct keyed *not_deleted(const struct keyed *del, size_t ndel, const struct keyed *rep, size_t *n)
{
	struct keyed *gone = malloc((ndel + 1) * sizeof(*gone)), *out = malloc((*n + 1) * sizeof(*out));
	size_t m = 0;

	if (!gone || !out) {
		free(gone);
		free(out);
		return NULL;
	}
	memcpy(gone, del, ndel * sizeof(*gone));
	qsort(gone, ndel, sizeof(*gone), keyed_cmp);
	for (size_t i = 0; i < *n; i++)
		if (!bsearch(&rep[i], gone, ndel, sizeof(*gone), keyed_cmp))
			out[m++] = rep[i];
	free(gone);
	*n = m;
	return out;
}

/* One transaction: delete del[], delete the map keys of rep[] (replaced) that del[] does not, add add[]. */
static int commit_batch(struct fw *fw, struct nft *p, const struct keyed *del, size_t ndel,
			const struct keyed *rep, size_t nrep, const struct keyed *add, size_t nadd)
{
	uint16_t del_type = p->no_destroy ? NFT_MSG_DELSETELEM : NFT_MSG_DESTROYSETELEM;
	struct keyed *once = NULL;
	struct batch b;
	int err;

	if (ndel && nrep && !(rep = once = not_deleted(del, ndel, rep, &nrep))) {
		snprintf(fw->err, sizeof(fw->err), "commit: out of memory");
		return -ENOMEM;
	}
	batch_start(&b, p);
	msg_elems(&b, p, del, ndel, del_type, false);
	/* map elements are replaced, not updated: their data (the target) may have changed */
	msg_elems(&b, p, rep, nrep, del_type, true);
	msg_elems(&b, p, add, nadd, NFT_MSG_NEWSETELEM, false);
	free(once);
	if (b.nmsgs == 0 && !b.oom) {
		batch_free(&b);
		p->transactions++;   /* nothing to change is trivially committed */
		return 0;
	}
	err = batch_send(fw, p, &b);
	batch_free(&b);
	return err;
}

/* The same commit on a kernel without DESTROYSETELEM: deletes only what still exists. */
static int commit_without_destroy(struct fw *fw, struct nft *p, struct keyed *kd, size_t ndel,
				  const struct keyed *ka, size_t nadd)
{
	struct keyed *rep = calloc(nadd + 1, sizeof(*rep));
	size_t nrep = nadd;
	int err;

	if (!rep)
		return -ENOMEM;
	memcpy(rep, ka, nadd * sizeof(*rep));
	if (!(err = existing_only(fw, p, kd, &ndel)) && !(err = existing_only(fw, p, rep, &nrep)))
		err = commit_batch(fw, p, kd, ndel, rep, nrep, ka, nadd);
	free(rep);
	return err;
}

static int nft_commit(struct fw *fw, const struct fw_elem *del, size_t ndel, const struct fw_elem *add, size_t nadd)
{
	struct nft *p = nft_of(fw);
	struct keyed *kd = NULL, *ka = NULL;
	int err;

	/* from here on ndel and nadd count kernel elements (companions included) */
	if (!(kd = key_all(fw, del, ndel, &ndel, &err)) || !(ka = key_all(fw, add, nadd, &nadd, &err)))
		goto out;
	if (!p->no_destroy) {
		err = commit_batch(fw, p, kd, ndel, ka, nadd, ka, nadd);
		if (err != -EOPNOTSUPP && err != -EINVAL)
			goto out;
		if (!strstr(fw->err, "DESTROYSETELEM"))
			goto out;
		p->no_destroy = true;   /* kernel < 6.3 */
	}
	err = commit_without_destroy(fw, p, kd, ndel, ka, nadd);
out:
	free(kd);
	free(ka);
	return err;
}

static int nft_read_counters(struct fw *fw, void (*cb)(void *arg, const struct fw_elem *e), void *arg)
{
	struct nft *p = nft_of(fw);

	if (!cb)
		return -EINVAL;
	for (int s = 0; s < FW_SET_COUNT; s++) {
		int err;

		if (fw_set_is_snat((enum fw_set)s))
			continue;   /* a companion: its portmap is reported once, from the DNAT map */
		if ((err = dump_set_on(fw, p, (enum fw_set)s, true, cb, NULL, arg)))
			return err;
	}
	return 0;
}

static int nft_remove(struct fw *fw)
{
	struct nft *p = nft_of(fw);
	struct counter_table t;
	struct batch b;
	int err;

	if (fw->cfg.mode == FW_STANDALONE) {
		batch_start(&b, p);
		msg_table(&b, p->n.table, NFT_MSG_NEWTABLE);
		msg_table(&b, p->n.table, NFT_MSG_DELTABLE);
		err = batch_send(fw, p, &b);
		batch_free(&b);
		return err;
	}
	if ((err = collect(fw, p, &t, false)))
		return err;
	for (int with_chains = 1; with_chains >= 0; with_chains--) {
		batch_start(&b, p);
		build_teardown(&b, p, fw, &t);
		if (with_chains) {
			msg_chain(&b, p, p->n.forward, NFT_MSG_DELCHAIN, -1, 0, NULL);
			msg_chain(&b, p, p->n.prerouting, NFT_MSG_DELCHAIN, -1, 0, NULL);
			msg_chain(&b, p, p->n.postrouting, NFT_MSG_DELCHAIN, -1, 0, NULL);
			msg_chain(&b, p, p->n.output, NFT_MSG_DELCHAIN, -1, 0, NULL);
		}
		err = batch_send(fw, p, &b);
		batch_free(&b);
		/* EBUSY: the operator's jump still points at our chains; leave them empty */
		if (err != -EBUSY)
			break;
	}
	counter_table_free(&t);
	return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Monitor                                                                                      */

static int nft_monitor_fd(struct fw *fw)
{
	struct nft *p = nft_of(fw);

	return p->mon ? mnl_socket_get_fd(p->mon) : -1;
}

/* Does this nf_tables event name our table? Every object's table name is attribute 1. */
/* Integrated mode: any foreign change to the host table counts (a host firewall reload is one,
 * and it may have emptied our chains). */
static bool event_touches_us(const struct nft *p, const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *g;
	const struct nlattr *a;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return false;
	if (NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWGEN)
		return false;   /* ends every transaction; carries no table */
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
		return false;
	g = mnl_nlmsg_get_payload(nlh);
	if (g->nfgen_family != NFPROTO_INET)
		return false;
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		if (mnl_attr_get_type(a) != 1)   /* NFTA_{TABLE_NAME,CHAIN_TABLE,SET_TABLE,...} */
			continue;
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			return false;
		return strcmp(mnl_attr_get_str(a), p->n.table) == 0;
	}
	return false;
}

/* 1 when this answer shows a transaction of someone else while the monitor was deaf (or the
 * question failed), 0 when the generation is the one our quiet batch left, or for a stale answer. */
static int gen_check(struct nft *p, const struct nlmsghdr *nlh)
{
	int64_t gen = -1;
	int changed = 0;

	pthread_mutex_lock(&p->gen_lock);
	if (p->gen_pending && nlh->nlmsg_seq == p->gen_seq) {
		p->gen_pending = false;
		changed = !nft_gen_of(nlh, &gen) || (uint32_t)gen != p->gen_expect;
	}
	pthread_mutex_unlock(&p->gen_lock);
	return changed;
}

static int nft_monitor_read(struct fw *fw)
{
	struct nft *p = nft_of(fw);
	uint32_t mon_portid;
	int fd, changed = 0;

	if (!p->mon)
		return 0;
	fd = mnl_socket_get_fd(p->mon);
	mon_portid = mnl_socket_get_portid(p->mon);
	for (int rounds = 0; rounds < 100000; rounds++) {
		ssize_t n = recv(fd, p->mbuf, RECV_BUF_BYTES, MSG_DONTWAIT);
		int len;

		if (n < 0) {
			if (errno == ENOBUFS) {
				changed = 1;   /* events were lost: only a full resync is safe */
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;   /* errno tells why; fw->err belongs to the command path */
		}
		len = (int)n;
		for (const struct nlmsghdr *nlh = (void *)p->mbuf; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_pid == mon_portid)
				changed |= gen_check(p, nlh);   /* an answer to monitor_rejoin's question */
			else if (nlh->nlmsg_pid != p->portid && event_touches_us(p, nlh))
				changed = 1;
		}
	}
	pthread_mutex_lock(&p->gen_lock);
	if (p->deafness_suspected)
		changed = 1;
	p->deafness_suspected = false;
	pthread_mutex_unlock(&p->gen_lock);
	return changed;
}

static uint64_t nft_transactions(struct fw *fw)
{
	return nft_of(fw)->transactions;
}

static void nft_destroy(struct fw *fw)
{
	struct nft *p;

	if (!fw)
		return;
	if ((p = nft_of(fw))) {
		if (p->nl)
			mnl_socket_close(p->nl);
		if (p->dnl)
			mnl_socket_close(p->dnl);
		free(p->dbuf);
		pthread_mutex_destroy(&p->names_mu);
		if (p->mon)
			mnl_socket_close(p->mon);
		free(p->rbuf);
		free(p->mbuf);
		pthread_mutex_destroy(&p->gen_lock);
		free(p);
	}
	free(fw);
}

static const struct fw_ops nft_ops = {
	.name = "nft",
	.init = nft_init,
	.commit = nft_commit,
	.resync = nft_resync,
	.read_counters = nft_read_counters,
	.monitor_fd = nft_monitor_fd,
	.monitor_read = nft_monitor_read,
	.transactions = nft_transactions,
	.remove = nft_remove,
	.destroy = nft_destroy,
};

/* ------------------------------------------------------------------------------------------ */
/* Set-up                                                                                       */

/* Large buffers: a 10,000-element batch is a few MB. FORCE needs CAP_NET_ADMIN (which we
 * have for nftables anyway); without it the plain option is capped by rmem_max/wmem_max. */
static struct mnl_socket *open_socket(unsigned int groups, int rcvbuf, int sndbuf)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		int saved = errno;

		mnl_socket_close(nl);
		errno = saved;
		return NULL;
	}
	big_buffer(mnl_socket_get_fd(nl), SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
	if (sndbuf)
		big_buffer(mnl_socket_get_fd(nl), SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
	return nl;
}

static const char *names_init(struct nft_names *n, const struct fw_config *cfg)
{
	bool ok;

	if (strnlen(cfg->table, sizeof(cfg->table)) == 0 || strnlen(cfg->table, sizeof(cfg->table)) >= sizeof(n->table))
		return "bad table name";
	memcpy(n->table, cfg->table, strnlen(cfg->table, sizeof(cfg->table)) + 1);
	ok = fw_obj_name(cfg, "forward", n->forward, sizeof(n->forward)) &&
	     fw_obj_name(cfg, "prerouting", n->prerouting, sizeof(n->prerouting)) &&
	     fw_obj_name(cfg, "postrouting", n->postrouting, sizeof(n->postrouting)) &&
	     fw_obj_name(cfg, "output", n->output, sizeof(n->output)) &&
	     fw_obj_name(cfg, "wan_if", n->wan_if, sizeof(n->wan_if)) &&
	     fw_obj_name(cfg, "lan_if", n->lan_if, sizeof(n->lan_if)) &&
	     fw_obj_name(cfg, "nat_block", n->nat_block, sizeof(n->nat_block));
	for (int s = 0; s < FW_SET_COUNT && ok; s++) {
		char second[FW_NAME_MAX];

		snprintf(second, sizeof(second), "%s%s", fw_set_defs[s].name, SECOND_GEN_SUFFIX);
		ok = fw_obj_name(cfg, fw_set_defs[s].name, n->gen_set[0][s], sizeof(n->gen_set[0][s])) &&
		     fw_obj_name(cfg, second, n->gen_set[1][s], sizeof(n->gen_set[1][s]));
	}
	memcpy(n->set, n->gen_set[0], sizeof(n->set));
	return ok ? NULL : "chain prefix too long";
}

static const char *config_check(const struct fw_config *cfg)
{
	if (strnlen(cfg->family, sizeof(cfg->family)) && strcmp(cfg->family, "inet") != 0)
		return "only the inet family is supported (rules match both IPv4 and IPv6)";
	if (cfg->mode != FW_STANDALONE && cfg->mode != FW_INTEGRATED)
		return "unknown mode";
	if (cfg->n_wan > FW_MAX_IFNAMES)
		return "too many WAN interfaces";
	if (cfg->mode == FW_STANDALONE && cfg->n_wan == 0)
		return "standalone mode needs a WAN interface (it drops inbound IPv6 on it)";
	for (size_t i = 0; i < cfg->n_wan; i++)
		if (strnlen(cfg->wan_ifname[i], sizeof(cfg->wan_ifname[i])) == 0 ||
		    strnlen(cfg->wan_ifname[i], sizeof(cfg->wan_ifname[i])) >= sizeof(cfg->wan_ifname[i]))
			return "bad WAN interface name";
	if (cfg->n_lan > FW_MAX_IFNAMES)
		return "too many LAN interfaces";
	for (size_t i = 0; fw_output_wall(cfg) && i < cfg->n_lan; i++)
		if (strnlen(cfg->lan_ifname[i], sizeof(cfg->lan_ifname[i])) == 0 ||
		    strnlen(cfg->lan_ifname[i], sizeof(cfg->lan_ifname[i])) >= sizeof(cfg->lan_ifname[i]))
			return "bad LAN interface name";
	if (cfg->mode == FW_INTEGRATED && strnlen(cfg->chain_prefix, sizeof(cfg->chain_prefix)) == 0)
		return "integrated mode needs a chain prefix";
	return NULL;
}

struct fw *fw_nft_new(const struct fw_config *cfg)
{
	struct fw *fw = NULL;
	struct nft *p = NULL;
	int saved;

	if (!cfg || config_check(cfg)) {
		errno = EINVAL;
		return NULL;
	}
	fw = calloc(1, sizeof(*fw));
	p = calloc(1, sizeof(*p));
	/* calloc: requests built in rbuf (dumps) go out with libmnl's attribute padding unzeroed */
	if (!fw || !p || !(p->rbuf = calloc(1, RECV_BUF_BYTES)) || !(p->mbuf = malloc(RECV_BUF_BYTES)) ||
	    !(p->dbuf = malloc(RECV_BUF_BYTES)))
		goto fail_errno;
	pthread_mutex_init(&p->gen_lock, NULL);
	pthread_mutex_init(&p->names_mu, NULL);
	fw->ops = &nft_ops;
	fw->cfg = *cfg;
	fw->priv = p;
	if (!fw->cfg.family[0])
		strcpy(fw->cfg.family, "inet");
	if (names_init(&p->n, &fw->cfg)) {
		errno = EINVAL;
		goto fail_errno;
	}
	if (!(p->nl = open_socket(0, SOCK_BUF_BYTES, SOCK_BUF_BYTES)))
		goto fail_errno;
	p->portid = mnl_socket_get_portid(p->nl);
	p->seq = (uint32_t)time(NULL);
	if (!(p->dnl = open_socket(0, SOCK_BUF_BYTES, 0)))
		goto fail_errno;
	p->dseq = p->seq;
	if (!(p->mon = open_socket(1u << (NFNLGRP_NFTABLES - 1), MON_BUF_BYTES, 0)))
		goto fail_errno;
	fcntl(mnl_socket_get_fd(p->mon), F_SETFL, fcntl(mnl_socket_get_fd(p->mon), F_GETFL) | O_NONBLOCK);
	return fw;
fail_errno:
	saved = errno ? errno : ENOMEM;
	if (fw && fw->priv)
		nft_destroy(fw);
	else {
		if (p) {
			free(p->rbuf);
			free(p->mbuf);
			free(p->dbuf);
		}
		free(p);
		free(fw);
	}
	errno = saved;
	return NULL;
}
