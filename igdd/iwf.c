/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The IGD-PCP interworking function (RFC 6970): PCP client sockets, the upstream mapping table and the
 * thread that keeps it alive. Decisions about timers, epochs and errors are pcpd/pcp_client.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/lib/log.h"
#include "igdd/iwf.h"
#include "pcpd/pcp_server.h"
#include "pcpd/pcp_wire.h"

#define IWF_MAX_MAPS       65536
#define IWF_LIFETIME_MAX   86400u  /* asked upstream at most (servers clamp anyway) */
#define IWF_LIFETIME_MIN   120u
/* the short MAP that learns the CGN address: a port nothing listens on (servers refuse ports < 1024) */
#define IWF_PROBE_PORT     65535

struct iwf_ent {
	uint32_t rule_id;
	uint16_t proto;
	uint16_t int_port;            /* the CPE's external port (local DNAT) */
	uint16_t ext_port;            /* the CGN's */
	struct in_addr ext_addr;
	uint32_t lifetime;
	uint64_t next_ms;             /* monotonic: next refresh / retry / re-create */
	unsigned attempt;
	enum pcp_client_state state;
	bool lost;                    /* the server lost it: counted as re-created once it is made again */
	bool peer;                    /* a PCP PEER relayed for a LAN client (its remote peer below) */
	struct in6_addr peer_addr;
	uint16_t peer_port;
};

/* The remote end of a relayed PEER (a MAP has none). */
struct iwf_peer {
	struct in6_addr addr;
	uint16_t port;
};

/* A queued front-end job (iwf_submit) and who hears its end. */
struct iwf_job {
	struct iwf_job *next;
	struct iwf_req q;
	uint64_t deadline_ms;
	iwf_done_fn *done;            /* one of the two (NULL both: forgotten) */
	pcp_upstream_done_fn *pcp_done;
	void *arg;
	uint64_t cookie;
};

/* A committed change of the table, as the thread needs it. */
struct iwf_event {
	uint32_t rule_id;
	enum core_event ev;
	bool adopt;                   /* a port mapping of a front end that does not map upstream itself */
};

struct iwf {
	struct iwf_params p;
	pthread_t thr, job_thr;
	bool thr_started, job_started;
	atomic_bool stop;
	int wake_fd;
	int listen_fd;
	pthread_mutex_t op;           /* one upstream exchange at a time (never the core lock) */
	/* qmu (a leaf: iwf_rule_event takes it under the core lock) guards the jobs and the events */
	pthread_mutex_t qmu;
	pthread_cond_t qcond;         /* a job was queued, or stop */
	pthread_cond_t idle;          /* a callback returned (iwf_forget waits for it) */
	struct iwf_job *jobs, *jobs_tail;
	size_t n_jobs;
	struct iwf_job *running;      /* the job being run, if any */
	bool running_forgotten;
	void *calling;                /* the arg a callback is being made to, without qmu */
	struct iwf_event *evs;
	size_t n_evs, cap_evs;
	bool evs_lost;                /* events were dropped (memory, IWF_EVENTS_MAX): check the table once */
	pthread_mutex_t mu;           /* everything below */
	enum iwf_state state;
	bool have_server;
	struct in6_addr server;
	struct pcp_client_epoch epoch;
	bool have_ext;
	struct in_addr ext;
	uint8_t nonce[PCP_NONCE_LEN];
	struct iwf_ent *ents;
	size_t n, cap;
	bool adopt_all;               /* after (re)start: map every port mapping the core holds */
	uint64_t adopt_at_ms;         /* not before then (a pass that met a silent server waits) */
	unsigned adopt_fails;
	uint64_t next_check_ms;
	uint64_t last_check_ms;       /* when the last epoch check started */
	unsigned check_fails;
	bool have_recreate;
	uint64_t recreate_ms;         /* the last re-creation of every mapping */
	uint64_t recreated;
	uint64_t resets;              /* losses of state seen (one per upstream restart) */
	unsigned rng;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Asks the kernel to stamp each datagram with its arrival (SO_TIMESTAMPNS): the epoch is judged by
 * when an answer came, not by when a busy thread read it. */
static void stamp_arrivals(int fd)
{
	int one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
		log_debug("iwf: no receive timestamps; a datagram's arrival is when it is read");
}

/* The monotonic time a datagram arrived, from its receive timestamp (wall clock) in mh; now if none. */
static uint64_t arrival_ms(struct msghdr *mh)
{
	uint64_t now = mono_ms();

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		struct timespec ts, real;
		int64_t age;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		clock_gettime(CLOCK_REALTIME, &real);
		age = ((int64_t)real.tv_sec - (int64_t)ts.tv_sec) * 1000 + (real.tv_nsec - ts.tv_nsec) / 1000000;
		/* a wall clock stepped meanwhile makes the age meaningless: then it is now */
		if (age > 0 && age < 600000 && (uint64_t)age < now)
			return now - (uint64_t)age;
	}
	return now;
}

static unsigned rnd(struct iwf *w, unsigned mod)
{
	w->rng = w->rng * 1103515245u + 12345u;
	return mod ? (w->rng >> 8) % mod : 0;
}

const char *iwf_state_name(enum iwf_state s)
{
	switch (s) {
	case IWF_OFF: return "off";
	case IWF_PROBING: return "probing";
	case IWF_UP: return "up";
	case IWF_UNREACHABLE: return "unreachable";
	}
	return "unknown";
}

int iwf_upnp_code(int rc, bool v1)
{
	if (rc == IWF_NO_ANSWER || rc < 0)
		return 501;
	return pcp_client_upnp_error((uint8_t)rc, v1);
}

/* ---------- the table (w->mu held) ---------- */

static struct iwf_ent *ent_find(struct iwf *w, uint32_t id)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->ents[i].rule_id == id)
			return &w->ents[i];
	return NULL;
}

static struct iwf_ent *ent_add(struct iwf *w, uint32_t id)
{
	struct iwf_ent *e;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct iwf_ent *n;

		if (cap > IWF_MAX_MAPS || (n = realloc(w->ents, cap * sizeof(*n))) == NULL)
			return NULL;
		w->ents = n;
		w->cap = cap;
	}
	e = &w->ents[w->n++];
	memset(e, 0, sizeof(*e));
	e->rule_id = id;
	return e;
}

static void ent_del(struct iwf *w, uint32_t id)
{
	struct iwf_ent *e = ent_find(w, id);

	if (e)
		*e = w->ents[--w->n];
}

/* ---------- one exchange with the server ---------- */

static int open_to_server(struct iwf *w, const struct in6_addr *server, struct in6_addr *client)
{
	uint16_t port = w->p.server_port ? w->p.server_port : PCP_SERVER_PORT;
	struct sockaddr_storage ss, me;
	socklen_t len, mlen = sizeof(me);
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (addr_is_v4(server)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr = addr_to_v4(server);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = *server;
		len = sizeof(*sin6);
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 || getsockname(fd, (struct sockaddr *)&me, &mlen) < 0) {
		close(fd);
		return -1;
	}
	if (me.ss_family == AF_INET)
		addr_from_v4(client, ((struct sockaddr_in *)&me)->sin_addr);
	else
		*client = ((struct sockaddr_in6 *)&me)->sin6_addr;
	return fd;
}

/* A response's epoch, judged at its arrival (monotonic ms). Takes w->mu. */
static void note_answer(struct iwf *w, uint32_t epoch, uint64_t arrival)
{
	enum pcp_client_epoch_verdict v;

	pthread_mutex_lock(&w->mu);
	v = pcp_client_epoch_arrived(&w->epoch, epoch, arrival);
	if (w->state == IWF_UNREACHABLE || w->state == IWF_PROBING) {
		log_info("iwf: upstream PCP server answers (epoch %u)", epoch);
		w->adopt_at_ms = 0;   /* what waited for it goes now */
	}
	w->state = IWF_UP;
	w->check_fails = 0;
	if (v == PCP_CLIENT_EPOCH_STALE)
		log_debug("iwf: an answer (epoch %u) that arrived before the last one judged: says nothing newer",
			  epoch);
	if (v == PCP_CLIENT_EPOCH_LOST) {
		uint64_t now = mono_ms();
		uint64_t at = pcp_client_recreate_at(now, rnd(w, PCP_CLIENT_RECREATE_MAX_MS), w->have_recreate,
						     w->recreate_ms);

		/* a loss seen while the re-creation of the last one is still to come is the same loss */
		if (!(w->have_recreate && w->recreate_ms >= now))
			w->resets++;
		w->have_recreate = true;
		w->recreate_ms = at;
		log_info("iwf: upstream PCP server lost its state (epoch %u): re-creating %zu mappings in %llu ms",
			 epoch, w->n, (unsigned long long)(at - now));
		for (size_t i = 0; i < w->n; i++) {
			w->ents[i].state = pcp_client_next(w->ents[i].state, PCP_CLIENT_EV_EPOCH);
			w->ents[i].lost = true;
			w->ents[i].next_ms = at;
			w->ents[i].attempt = 0;
		}
		w->adopt_all = true;
	}
	pthread_mutex_unlock(&w->mu);
}

static void note_silence(struct iwf *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->state == IWF_UP)
		log_warnx("iwf: upstream PCP server does not answer");
	if (w->state == IWF_UP)
		w->state = IWF_UNREACHABLE;
	pthread_mutex_unlock(&w->mu);
}

/* Takes w->op by the deadline (monotonic ms): a UPnP request must not spend its budget queued behind the
 * background check's exchange with a server that went silent. */
static bool op_lock_by(struct iwf *w, uint64_t deadline)
{
	struct timespec until;
	uint64_t now = mono_ms(), left = deadline > now ? deadline - now : 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(left / 1000);
	until.tv_nsec += (long)(left % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&w->op, &until) == 0;
}

/* Sends req (client address filled in here) and waits for its answer, retransmitting per RFC 6887
 * 8.1.1, at most wait_ms in all, the wait for another exchange to end included. 0 with resp, or -1 (no
 * answer, unreachable, no server). Holds w->op. */
static int exchange(struct iwf *w, struct pcp_request *req, struct pcp_response *resp, uint32_t wait_ms)
{
	struct in6_addr server;
	uint8_t out[PCP_MAX_MSG], in[PCP_MAX_MSG];
	uint64_t t0, deadline, arrived = 0;
	uint32_t rt = 0;
	size_t len;
	int fd, rc = -1;

	pthread_mutex_lock(&w->mu);
	server = w->server;
	if (!w->have_server) {
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	pthread_mutex_unlock(&w->mu);
	t0 = mono_ms();
	deadline = t0 + wait_ms;
	if (!op_lock_by(w, deadline))
		return -1;  /* the exchange ahead of us decides whether the server is silent */
	if ((fd = open_to_server(w, &server, &req->client_addr)) < 0 ||
	    (len = pcp_wire_build_request(req, out, sizeof(out))) == 0)
		goto out;
	stamp_arrivals(fd);
	for (int tx = 0; tx < 16 && !atomic_load(&w->stop); tx++) {
		uint64_t now = mono_ms(), next;

		if (now >= deadline)
			break;
		if (send(fd, out, len, 0) < 0 && errno != EAGAIN)
			break;  /* ECONNREFUSED: an ICMP port unreachable came back for an earlier try */
		pthread_mutex_lock(&w->mu);
		rt = pcp_client_rt_ms(rt, (int)rnd(w, 201) - 100);
		pthread_mutex_unlock(&w->mu);
		/* a budget shorter than RFC 6887's first timeout still gets a second try (one lost datagram
		 * must not fail a UPnP request) */
		if (wait_ms < PCP_CLIENT_IRT_MS && rt > wait_ms / 2)
			rt = wait_ms / 2;
		next = now + rt < deadline ? now + rt : deadline;
		for (int polls = 0; polls < 64 && (now = mono_ms()) < next; polls++) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			union {
				struct cmsghdr align;
				char buf[CMSG_SPACE(sizeof(struct timespec))];
			} ctl;
			struct iovec iov = { .iov_base = in, .iov_len = sizeof(in) };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
					     .msg_controllen = sizeof(ctl.buf) };
			ssize_t n;

			if (poll(&pfd, 1, (int)(next - now)) <= 0)
				continue;
			n = recvmsg(fd, &mh, 0);
			if (n < 0 && errno == ECONNREFUSED)
				goto out;  /* nothing listens there: no point in waiting */
			if (n <= 0)
				continue;
			if (pcp_wire_parse_response(in, (size_t)n, resp) == PCP_PARSE_OK && pcp_client_match(req, resp)) {
				arrived = arrival_ms(&mh);
				rc = 0;
				goto out;
			}
		}
	}
out:
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&w->op);
	if (rc == 0)
		note_answer(w, resp->epoch, arrived);
	else
		note_silence(w);
	return rc;
}

/* ---------- mapping ---------- */

static uint32_t lifetime_for(const struct rule *r)
{
	int64_t left;

	if (r->expires == 0)
		return IWF_LIFETIME_MAX;
	left = r->expires - (int64_t)time(NULL);
	if (left < IWF_LIFETIME_MIN)
		return IWF_LIFETIME_MIN;
	return left > IWF_LIFETIME_MAX ? IWF_LIFETIME_MAX : (uint32_t)left;
}

static void fill_ext(const struct iwf_ent *e, struct iwf_ext *out)
{
	if (out == NULL)
		return;
	out->addr = e->ext_addr;
	out->port = e->ext_port;
	out->lifetime = e->lifetime;
	out->state = e->state;
}

/* The MAP (peer NULL) or PEER request of rule r upstream (lifetime 0: its delete). */
static void build_request(struct iwf *w, struct pcp_request *req, const uint8_t nonce[PCP_NONCE_LEN],
			  uint16_t proto, uint16_t int_port, uint16_t sugg_port, uint32_t lifetime, bool prefer_failure,
			  const char *desc, const struct iwf_peer *peer)
{
	(void)w;
	pcp_client_map_request(req, &in6addr_any, nonce, (uint8_t)proto, int_port, sugg_port, NULL, lifetime,
			       prefer_failure && peer == NULL, desc);
	if (peer) {
		/* RFC 7648: the proxy relays a PEER as a PEER (a MAP would open the upstream port to every
		 * remote host; a PEER names the one flow, which leaves through the upstream's own mapping) */
		req->opcode = PCP_OP_PEER;
		req->op.peer_addr = peer->addr;
		req->op.peer_port = peer->port;
	}
}

static int do_map(struct iwf *w, const struct rule *r, uint16_t sugg_port, bool prefer_failure, uint32_t wait_ms,
		  bool sync, const struct iwf_peer *peer, struct iwf_ext *out)
{
	struct pcp_request req;
	struct pcp_response resp;
	uint8_t nonce[PCP_NONCE_LEN];
	struct iwf_ent *e;
	bool existed, changed = false;
	uint64_t now;
	int rc;

	if (r->kind != RULE_PORTMAP || (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP))
		return PCP_UNSUPP_PROTOCOL;
	if (wait_ms == 0)
		wait_ms = w->p.sync_wait_ms ? w->p.sync_wait_ms : IWF_SYNC_WAIT_MS;
	pthread_mutex_lock(&w->mu);
	memcpy(nonce, w->nonce, sizeof(nonce));
	existed = ent_find(w, r->id) != NULL;
	/* Known silent: one short try (a server that is back answers in milliseconds and is up again),
	 * so clients hear at once and the LAN's PCP requests do not queue behind a dead upstream; the
	 * background check keeps probing with backoff. */
	if (w->state == IWF_UNREACHABLE && wait_ms > IWF_UNREACHABLE_WAIT_MS)
		wait_ms = IWF_UNREACHABLE_WAIT_MS;
	pthread_mutex_unlock(&w->mu);
	/* the app's name for the mapping tells the ISP what runs at home: only when the operator said so */
	build_request(w, &req, nonce, r->proto, r->ext_port, sugg_port, lifetime_for(r), prefer_failure,
		      w->p.send_descriptions ? r->desc : NULL, peer);
	if (peer == NULL && r->remote_len == 128) {
		/* RemoteHost (or a LAN client's FILTER): the CGN admits only that host too (RFC 6970 5.2),
		 * so the upstream port is not open to the internet while the CPE filters behind it. */
		req.opt.n_filters = 1;
		req.opt.filters[0] = (struct pcp_filter){ .prefix_len = 128, .addr = r->remote };
	}
	rc = exchange(w, &req, &resp, wait_ms);
	now = mono_ms();
	pthread_mutex_lock(&w->mu);
	e = ent_find(w, r->id);
	if (e == NULL && (rc == 0 && resp.result == PCP_SUCCESS) && (!sync || !existed))
		e = ent_add(w, r->id);
	if (rc < 0 || resp.result != PCP_SUCCESS) {
		int res = rc < 0 ? IWF_NO_ANSWER : resp.result;

		/* A front end's exchange that failed says nothing of a mapping the CGN holds already (a
		 * PREFER_FAILURE request for another port, say), nor of one another front end's exchange for
		 * the same rule made meanwhile (libtorrent's PCP MAP beside its UPnP request): only the
		 * background's own tries move an entry, and a failed exchange never made one. */
		if (e && !sync) {
			e->state = pcp_client_next(e->state, rc < 0 ? PCP_CLIENT_EV_TIMEOUT : PCP_CLIENT_EV_REFUSED);
			e->attempt++;
			e->next_ms = now + (uint64_t)pcp_client_backoff_s(e->attempt, 60) * 1000u;
			if (rc == 0 && resp.lifetime > 0 && (uint64_t)resp.lifetime * 1000u > e->next_ms - now)
				e->next_ms = now + (uint64_t)(resp.lifetime > 1800 ? 1800 : resp.lifetime) * 1000u;
		}
		pthread_mutex_unlock(&w->mu);
		if (rc == 0)
			log_info("iwf: upstream MAP %s %u refused: %s", r->proto == IPPROTO_TCP ? "tcp" : "udp",
				 r->ext_port, pcp_result_name(resp.result));
		return res;
	}
	if (e == NULL) {
		/* deleted meanwhile (or out of memory): do not leave the upstream mapping behind */
		pthread_mutex_unlock(&w->mu);
		build_request(w, &req, nonce, r->proto, r->ext_port, 0, 0, false, NULL, peer);
		exchange(w, &req, &resp, 1000);
		return IWF_NO_ANSWER;
	}
	changed = (e->ext_port && e->ext_port != resp.op.ext_port) ||
		  (w->have_ext && pcp_addr_is_v4mapped(&resp.op.ext_addr) &&
		   addr_to_v4(&resp.op.ext_addr).s_addr != w->ext.s_addr);
	e->proto = r->proto;
	e->int_port = r->ext_port;
	e->peer = peer != NULL;
	if (peer) {
		e->peer_addr = peer->addr;
		e->peer_port = peer->port;
	}
	e->ext_port = resp.op.ext_port;
	e->ext_addr = pcp_addr_is_v4mapped(&resp.op.ext_addr) ? addr_to_v4(&resp.op.ext_addr) : (struct in_addr){ 0 };
	e->lifetime = resp.lifetime;
	e->state = pcp_client_next(e->state, PCP_CLIENT_EV_OK);
	if (e->lost)
		w->recreated++;
	e->lost = false;
	e->attempt = 0;
	e->next_ms = now + (uint64_t)pcp_client_renew_s(resp.lifetime, 0, rnd(w, 1001)) * 1000u;
	if (e->ext_addr.s_addr) {
		w->have_ext = true;
		w->ext = e->ext_addr;
	}
	fill_ext(e, out);
	pthread_mutex_unlock(&w->mu);
	if (changed && w->p.changed)
		w->p.changed(w->p.changed_arg);
	return PCP_SUCCESS;
}

/* The nonce is shared by every upstream mapping (and may be replaced on an epoch reset). */
static void copy_nonce(struct iwf *w, uint8_t nonce[PCP_NONCE_LEN])
{
	pthread_mutex_lock(&w->mu);
	memcpy(nonce, w->nonce, PCP_NONCE_LEN);
	pthread_mutex_unlock(&w->mu);
}

static void send_delete(struct iwf *w, uint16_t proto, uint16_t int_port, const struct iwf_peer *peer,
			uint32_t wait_ms)
{
	struct pcp_request req;
	struct pcp_response resp;
	uint8_t nonce[PCP_NONCE_LEN];

	copy_nonce(w, nonce);
	build_request(w, &req, nonce, proto, int_port, 0, 0, false, NULL, peer);
	if (exchange(w, &req, &resp, wait_ms) < 0)
		log_info("iwf: upstream delete of %s %u not answered; it runs out by itself",
			 proto == IPPROTO_TCP ? "tcp" : "udp", int_port);
}

bool iwf_active(struct iwf *w)
{
	bool on;

	if (w == NULL)
		return false;
	pthread_mutex_lock(&w->mu);
	on = w->have_server && (w->state == IWF_UP || w->state == IWF_UNREACHABLE);
	pthread_mutex_unlock(&w->mu);
	return on;
}

/* The one path's upstream half (iwf.h, struct iwf_req), on the calling thread, within wait_ms. */
static int job_run(struct iwf *w, const struct iwf_req *q, uint32_t wait_ms, struct iwf_ext *out)
{
	struct iwf_peer peer;
	struct rule r;
	bool existed;
	int rc;

	memset(out, 0, sizeof(*out));
	if (core_get(w->p.core, q->rule_id, &r) != V_OK)
		return IWF_NO_ANSWER;   /* gone meanwhile: nothing to chain, nothing to take back */
	pthread_mutex_lock(&w->mu);
	/* an upstream mapping of the rule stands already (the same app's PCP MAP beside its UPnP request,
	 * libtorrent): then the rule was not this request's alone, and it stays whatever happens here */
	existed = !q->made || ent_find(w, r.id) != NULL;
	pthread_mutex_unlock(&w->mu);
	peer.addr = q->peer_addr;
	peer.port = q->peer_port;
	rc = iwf_active(w) ? do_map(w, &r, q->sugg_port, q->prefer_failure, wait_ms, true, q->peer ? &peer : NULL, out)
			   : IWF_NO_ANSWER;
	if (rc == PCP_SUCCESS && q->exact && out->port != q->sugg_port) {
		/* another port than asked: a server that ignored PREFER_FAILURE, or the mapping the rule had
		 * already (the same app's PCP MAP that finished while this one waited): that one stays */
		if (!existed)
			iwf_unmap(w, r.id);
		rc = PCP_CANNOT_PROVIDE_EXTERNAL;
	}
	if (rc != PCP_SUCCESS) {
		/* refused or unanswered: the local rule this request made goes again (no half mapping) */
		if (!existed && core_delete(w->p.core, r.id, &q->owner, true) != V_OK)
			log_warnx("iwf: rollback of local rule %u failed", r.id);
		return rc;
	}
	/* deleted while the upstream answered: its DELETED event may have come before the entry existed */
	if (core_get(w->p.core, r.id, &r) != V_OK) {
		iwf_unmap(w, r.id);
		return IWF_NO_ANSWER;
	}
	return PCP_SUCCESS;
}

static uint32_t req_wait(const struct iwf *w, const struct iwf_req *q)
{
	if (q->wait_ms)
		return q->wait_ms;
	return w->p.sync_wait_ms ? w->p.sync_wait_ms : IWF_SYNC_WAIT_MS;
}

int iwf_request(struct iwf *w, const struct iwf_req *q, struct iwf_ext *out)
{
	struct iwf_ext ignored;

	if (out == NULL)
		out = &ignored;
	memset(out, 0, sizeof(*out));
	if (w == NULL)
		return IWF_NO_ANSWER;
	return job_run(w, q, req_wait(w, q), out);
}

/* Tells a job's caller (no lock held). */
static void job_tell(struct iwf_job *j, int rc, const struct iwf_ext *ext)
{
	if (j->done) {
		j->done(j->arg, j->cookie, rc, ext);
	} else if (j->pcp_done) {
		struct pcp_upstream_answer a = { .result = PCP_NETWORK_FAILURE };

		if (rc >= 0 && rc < IWF_NO_ANSWER)
			a.result = (uint8_t)rc;
		if (rc == PCP_SUCCESS) {
			a.ext_addr = ext->addr;
			a.ext_port = ext->port;
		}
		j->pcp_done(j->arg, j->cookie, &a);
	}
}

/* A job that never got to the server (full queue, stopping, its budget spent waiting): its new local
 * rule goes as after a silent server. */
static void job_give_up(struct iwf *w, struct iwf_job *j)
{
	struct iwf_ext none;
	bool had;

	memset(&none, 0, sizeof(none));
	pthread_mutex_lock(&w->mu);
	had = ent_find(w, j->q.rule_id) != NULL;
	pthread_mutex_unlock(&w->mu);
	if (j->q.made && !had && core_delete(w->p.core, j->q.rule_id, &j->q.owner, true) == V_OK)
		log_info("iwf: rule %u taken back: its upstream request was not sent in time", j->q.rule_id);
	job_tell(j, IWF_NO_ANSWER, &none);
}

static void job_queue(struct iwf *w, struct iwf_job *j)
{
	bool full;

	j->deadline_ms = mono_ms() + req_wait(w, &j->q);
	pthread_mutex_lock(&w->qmu);
	full = atomic_load(&w->stop) || !w->job_started || w->n_jobs >= IWF_QUEUE_MAX;
	if (!full) {
		j->next = NULL;
		if (w->jobs_tail)
			w->jobs_tail->next = j;
		else
			w->jobs = j;
		w->jobs_tail = j;
		w->n_jobs++;
		pthread_cond_signal(&w->qcond);
	}
	pthread_mutex_unlock(&w->qmu);
	if (full) {
		job_give_up(w, j);
		free(j);
	}
}

void iwf_submit(struct iwf *w, const struct iwf_req *q, iwf_done_fn *done, void *arg, uint64_t cookie)
{
	struct iwf_job *j = calloc(1, sizeof(*j));
	struct iwf_ext none;

	if (j == NULL || w == NULL) {
		memset(&none, 0, sizeof(none));
		free(j);
		if (done)
			done(arg, cookie, IWF_NO_ANSWER, &none);
		return;
	}
	j->q = *q;
	j->done = done;
	j->arg = arg;
	j->cookie = cookie;
	job_queue(w, j);
}

void iwf_forget(struct iwf *w, void *arg)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->qmu);
	for (struct iwf_job *j = w->jobs; j; j = j->next)
		if (j->arg == arg)
			j->done = NULL, j->pcp_done = NULL;
	if (w->running && w->running->arg == arg)
		w->running_forgotten = true;
	while (w->calling == arg)
		pthread_cond_wait(&w->idle, &w->qmu);
	pthread_mutex_unlock(&w->qmu);
}

/* The front ends' queued jobs, one at a time, each within what is left of its budget. */
static void *job_thread(void *arg)
{
	struct iwf *w = arg;

	pthread_mutex_lock(&w->qmu);
	while (!atomic_load(&w->stop)) {
		struct iwf_job *j = w->jobs;
		struct iwf_ext ext;
		uint64_t now;
		int rc;

		if (j == NULL) {
			pthread_cond_wait(&w->qcond, &w->qmu);
			continue;
		}
		w->jobs = j->next;
		if (w->jobs == NULL)
			w->jobs_tail = NULL;
		w->n_jobs--;
		w->running = j;
		w->running_forgotten = false;
		pthread_mutex_unlock(&w->qmu);
		now = mono_ms();
		if (now + 50 >= j->deadline_ms) {
			/* its client has retransmitted by now, or will: a short try would only fail */
			j->q.wait_ms = 0;
			pthread_mutex_lock(&w->qmu);
			if (w->running_forgotten)
				j->done = NULL, j->pcp_done = NULL;
			w->calling = j->arg;
			pthread_mutex_unlock(&w->qmu);
			job_give_up(w, j);
		} else {
			rc = job_run(w, &j->q, (uint32_t)(j->deadline_ms - now), &ext);
			pthread_mutex_lock(&w->qmu);
			if (w->running_forgotten)
				j->done = NULL, j->pcp_done = NULL;
			w->calling = j->arg;
			pthread_mutex_unlock(&w->qmu);
			job_tell(j, rc, &ext);
		}
		pthread_mutex_lock(&w->qmu);
		w->calling = NULL;
		w->running = NULL;
		pthread_cond_broadcast(&w->idle);
		free(j);
	}
	pthread_mutex_unlock(&w->qmu);
	return NULL;
}

/* ---------- the PCP server's view ---------- */

static bool pcp_up_active(void *arg)
{
	return iwf_active(arg);
}

static void pcp_up_submit(void *arg, const struct pcp_upstream_job *job, pcp_upstream_done_fn *done, void *done_arg,
			  uint64_t cookie)
{
	struct iwf *w = arg;
	struct iwf_job *j = calloc(1, sizeof(*j));
	struct pcp_upstream_answer a = { .result = PCP_NETWORK_FAILURE };

	if (j == NULL) {
		done(done_arg, cookie, &a);
		return;
	}
	j->q = (struct iwf_req){ .rule_id = job->rule_id, .owner = job->owner, .made = job->made,
				 .sugg_port = job->sugg_port, .prefer_failure = job->prefer_failure,
				 .wait_ms = IWF_PROXY_WAIT_MS, .peer = job->peer, .peer_addr = job->peer_addr,
				 .peer_port = job->peer_port };
	j->pcp_done = done;
	j->arg = done_arg;
	j->cookie = cookie;
	job_queue(w, j);
}

static void pcp_up_forget(void *arg, void *done_arg)
{
	iwf_forget(arg, done_arg);
}

static bool pcp_up_ext_of(void *arg, uint32_t rule_id, struct in_addr *ext_addr, uint16_t *ext_port)
{
	struct iwf_ext e;

	if (!iwf_get(arg, rule_id, &e) || e.port == 0)
		return false;
	*ext_addr = e.addr;
	*ext_port = e.port;
	return true;
}

static bool pcp_up_ext_addr(void *arg, struct in_addr *out)
{
	return iwf_ext_addr(arg, out);
}

void iwf_pcp_upstream(struct iwf *w, struct pcp_upstream *out)
{
	*out = (struct pcp_upstream){ .active = pcp_up_active, .submit = pcp_up_submit, .forget = pcp_up_forget,
				      .ext_of = pcp_up_ext_of, .ext_addr = pcp_up_ext_addr, .arg = w };
}

void iwf_unmap(struct iwf *w, uint32_t rule_id)
{
	struct iwf_ent e;
	bool had = false;

	if (w == NULL)
		return;
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&w->mu);
	if (ent_find(w, rule_id)) {
		e = *ent_find(w, rule_id);
		ent_del(w, rule_id);
		had = true;
	}
	pthread_mutex_unlock(&w->mu);
	if (had)
		send_delete(w, e.proto, e.int_port, e.peer ? &(struct iwf_peer){ .addr = e.peer_addr, .port = e.peer_port } : NULL,
			    PCP_CLIENT_IRT_MS);
}

bool iwf_get(struct iwf *w, uint32_t rule_id, struct iwf_ext *out)
{
	struct iwf_ent *e;

	if (w == NULL)
		return false;
	pthread_mutex_lock(&w->mu);
	e = ent_find(w, rule_id);
	if (e)
		fill_ext(e, out);
	pthread_mutex_unlock(&w->mu);
	return e != NULL;
}

bool iwf_find_ext(struct iwf *w, uint16_t proto, uint16_t ext_port, uint32_t *rule_id)
{
	bool found = false;

	if (w == NULL)
		return false;
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < w->n && !found; i++)
		if (!w->ents[i].peer && w->ents[i].proto == proto && w->ents[i].ext_port == ext_port) {
			*rule_id = w->ents[i].rule_id;
			found = true;
		}
	pthread_mutex_unlock(&w->mu);
	return found;
}

bool iwf_ext_addr(struct iwf *w, struct in_addr *out)
{
	bool have;

	if (w == NULL)
		return false;
	pthread_mutex_lock(&w->mu);
	have = w->have_ext;
	if (have)
		*out = w->ext;
	pthread_mutex_unlock(&w->mu);
	return have;
}

void iwf_status(struct iwf *w, struct iwf_status *st)
{
	char buf[ADDR_STRLEN];

	memset(st, 0, sizeof(*st));
	st->state = IWF_OFF;
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	st->state = w->state;
	if (w->have_server)
		snprintf(st->server, sizeof(st->server), "%s", addr_str(&w->server, buf));
	st->has_epoch = w->epoch.valid;
	if (w->epoch.valid)
		st->epoch = w->epoch.prev_server + (uint32_t)(mono_ms() / 1000u - w->epoch.prev_client_s);
	if (w->have_ext)
		inet_ntop(AF_INET, &w->ext, st->ext_addr, sizeof(st->ext_addr));
	st->mappings = w->n;
	for (size_t i = 0; i < w->n; i++)
		st->mapped += w->ents[i].state == PCP_CLIENT_MAPPED;
	st->recreated = w->recreated;
	st->resets = w->resets;
	pthread_mutex_unlock(&w->mu);
}

size_t iwf_list(struct iwf *w, struct iwf_mapping *out, size_t max)
{
	size_t n;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->mu);
	n = w->n;
	for (size_t i = 0; i < n && i < max; i++) {
		out[i].rule_id = w->ents[i].rule_id;
		out[i].proto = w->ents[i].proto;
		out[i].int_port = w->ents[i].int_port;
		fill_ext(&w->ents[i], &out[i].ext);
	}
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* ---------- the thread ---------- */

/* RFC 7488 default: the default gateway (on the WAN interface), from the kernel's routing table. */
static bool default_gateway(const char *ifname, struct in6_addr *out)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], ifn[32];
	unsigned dst, gw, flags;
	bool found = false;

	if (f == NULL)
		return false;
	for (int i = 0; i < 4096 && !found && fgets(line, sizeof(line), f); i++) {
		if (sscanf(line, "%31s %x %x %x", ifn, &dst, &gw, &flags) != 4)
			continue;
		if (dst != 0 || gw == 0 || !(flags & 0x2) || (ifname && ifname[0] && strcmp(ifn, ifname) != 0))
			continue;
		addr_from_v4(out, (struct in_addr){ .s_addr = gw });
		found = true;
	}
	fclose(f);
	return found;
}

/* A short MAP (then its delete) to learn the CGN's external address before any mapping exists. */
static void learn_ext(struct iwf *w)
{
	struct pcp_request req;
	struct pcp_response resp;
	uint8_t nonce[PCP_NONCE_LEN];
	bool changed;

	copy_nonce(w, nonce);
	pcp_client_map_request(&req, &in6addr_any, nonce, IPPROTO_UDP, IWF_PROBE_PORT, 0, NULL, IWF_LIFETIME_MIN, false, NULL);
	if (exchange(w, &req, &resp, PCP_CLIENT_IRT_MS) < 0 || resp.result != PCP_SUCCESS ||
	    !pcp_addr_is_v4mapped(&resp.op.ext_addr))
		return;
	pthread_mutex_lock(&w->mu);
	changed = !w->have_ext || w->ext.s_addr != addr_to_v4(&resp.op.ext_addr).s_addr;
	w->have_ext = true;
	w->ext = addr_to_v4(&resp.op.ext_addr);
	pthread_mutex_unlock(&w->mu);
	send_delete(w, IPPROTO_UDP, IWF_PROBE_PORT, NULL, PCP_CLIENT_IRT_MS);
	/* the LAN's clients hear the address they are reached at (UPnP eventing, PCP and NAT-PMP ANNOUNCE) */
	if (changed && w->p.changed)
		w->p.changed(w->p.changed_arg);
}

static void check_server(struct iwf *w, uint64_t now)
{
	struct pcp_request req;
	struct pcp_response resp;
	bool ok;

	pthread_mutex_lock(&w->mu);
	w->last_check_ms = now;
	pthread_mutex_unlock(&w->mu);
	pcp_client_announce_request(&req, &in6addr_any);
	ok = exchange(w, &req, &resp, PCP_CLIENT_IRT_MS) == 0;
	pthread_mutex_lock(&w->mu);
	if (ok) {
		w->next_check_ms = now + IWF_CHECK_MS;
	} else {
		w->check_fails++;
		w->next_check_ms = now + (uint64_t)pcp_client_backoff_s(w->check_fails, IWF_CHECK_MAX_S) * 1000u;
	}
	ok = ok && !w->have_ext;
	pthread_mutex_unlock(&w->mu);
	if (ok)
		learn_ext(w);
}

static bool adoptable(const struct rule *r, bool all)
{
	if (r->kind != RULE_PORTMAP || r->state != RULE_INSTALLED ||
	    (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP))
		return false;
	/* A PEER's flow leaves through the upstream NAT's own dynamic mapping: a MAP made upstream for
	 * it would open that port to every remote host. */
	if (r->origin == ORIGIN_PCP_PEER)
		return false;
	/* UPnP and PCP go the one path themselves (iwf_request, iwf_submit); others (web, igdctl,
	 * igdctl) are adopted here; NAT-PMP goes the PCP proxy's path with PCP */
	return all || (r->origin != ORIGIN_UPNP && r->origin != ORIGIN_PCP && r->origin != ORIGIN_NATPMP);
}

void iwf_rule_event(struct iwf *w, const struct rule *r, enum core_event ev)
{
	if (w == NULL || r->kind != RULE_PORTMAP)
		return;
	pthread_mutex_lock(&w->qmu);
	if (w->n_evs == w->cap_evs && !w->evs_lost) {
		size_t cap = w->cap_evs ? w->cap_evs * 2 : 64;
		struct iwf_event *n = cap <= IWF_EVENTS_MAX ? realloc(w->evs, cap * sizeof(*n)) : NULL;

		if (n) {
			w->evs = n;
			w->cap_evs = cap;
		}
	}
	if (w->n_evs < w->cap_evs && !w->evs_lost)
		w->evs[w->n_evs++] = (struct iwf_event){ .rule_id = r->id, .ev = ev,
							 .adopt = adoptable(r, false) };
	else
		w->evs_lost = true;
	pthread_mutex_unlock(&w->qmu);
	if (ev == CORE_EV_DELETED || ev == CORE_EV_EXPIRED || adoptable(r, false)) {
		uint64_t one = 1;

		if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_debug("iwf: wake");
	}
}

/* Deletes the upstream mapping of a rule the core no longer holds. */
static void forget_gone(struct iwf *w, uint32_t rule_id)
{
	struct iwf_ent e;
	bool had = false;

	pthread_mutex_lock(&w->mu);
	if (ent_find(w, rule_id)) {
		e = *ent_find(w, rule_id);
		ent_del(w, rule_id);
		had = true;
	}
	pthread_mutex_unlock(&w->mu);
	if (had)
		send_delete(w, e.proto, e.int_port, e.peer ? &(struct iwf_peer){ .addr = e.peer_addr, .port = e.peer_port } : NULL,
			    PCP_CLIENT_IRT_MS);
}

/* A pass that met a silent server (or a refusal) tries again later, then every mapping. */
static void adopt_later(struct iwf *w, uint64_t now)
{
	pthread_mutex_lock(&w->mu);
	w->adopt_all = true;
	w->adopt_fails++;
	w->adopt_at_ms = now + (uint64_t)pcp_client_backoff_s(w->adopt_fails, IWF_CHECK_MAX_S) * 1000u;
	pthread_mutex_unlock(&w->mu);
}

/* Maps r upstream if it has no upstream mapping yet; false when that failed. */
static bool adopt(struct iwf *w, const struct rule *r)
{
	bool have;

	pthread_mutex_lock(&w->mu);
	have = ent_find(w, r->id) != NULL;
	pthread_mutex_unlock(&w->mu);
	return have || do_map(w, r, r->ext_port, false, PCP_CLIENT_IRT_MS, false, NULL, NULL) == PCP_SUCCESS;
}

/* The core's committed changes since the last look: new port mappings of the front ends that do not
 * map upstream themselves are mapped, the upstream mappings of rules that are gone deleted. */
static void take_events(struct iwf *w)
{
	struct iwf_event *evs;
	size_t n;
	bool lost, failed = false;

	pthread_mutex_lock(&w->qmu);
	evs = w->evs;
	n = w->n_evs;
	lost = w->evs_lost;
	w->evs = NULL;
	w->n_evs = w->cap_evs = 0;
	w->evs_lost = false;
	pthread_mutex_unlock(&w->qmu);
	for (size_t i = 0; i < n && !atomic_load(&w->stop); i++) {
		struct rule r;

		if (evs[i].ev == CORE_EV_DELETED || evs[i].ev == CORE_EV_EXPIRED)
			forget_gone(w, evs[i].rule_id);
		else if (evs[i].adopt && !failed && core_get(w->p.core, evs[i].rule_id, &r) == V_OK &&
			 adoptable(&r, false))
			failed = !adopt(w, &r);
	}
	free(evs);
	if (lost) {
		/* some changes went unheard: every entry is checked against the table at its next turn,
		 * and the table's port mappings are adopted once */
		pthread_mutex_lock(&w->mu);
		for (size_t i = 0; i < w->n; i++)
			w->ents[i].next_ms = 0;
		pthread_mutex_unlock(&w->mu);
		failed = true;
	}
	if (failed)
		adopt_later(w, mono_ms());
}

/* Refreshes the upstream mappings that are due (the local rule read back one by one: a rule gone
 * meanwhile has its upstream mapping deleted). */
static void refresh_due(struct iwf *w, uint64_t now)
{
	struct iwf_ent *due = NULL;
	size_t n_due = 0;

	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < w->n; i++)
		if (now >= w->ents[i].next_ms) {
			if (due == NULL && (due = calloc(w->n, sizeof(*due))) == NULL)
				break;
			due[n_due++] = w->ents[i];
		}
	pthread_mutex_unlock(&w->mu);
	for (size_t i = 0; i < n_due && !atomic_load(&w->stop); i++) {
		struct iwf_peer peer = { .addr = due[i].peer_addr, .port = due[i].peer_port };
		struct rule r;

		if (core_get(w->p.core, due[i].rule_id, &r) != V_OK || r.kind != RULE_PORTMAP) {
			forget_gone(w, due[i].rule_id);
			continue;
		}
		/* keep the port the clients were told; a server that cannot give it picks another */
		do_map(w, &r, due[i].ext_port, false, PCP_CLIENT_IRT_MS, false, due[i].peer ? &peer : NULL, NULL);
	}
	free(due);
}

/* After a (re)start or a loss of the server's state, or when a pass met silence: every port mapping
 * the core holds is mapped upstream (a full read of the table, only then). */
static void adopt_all_now(struct iwf *w, uint64_t now)
{
	struct rule *rules = NULL;
	size_t n;
	bool all, failed = false;

	pthread_mutex_lock(&w->mu);
	all = w->adopt_all && now >= w->adopt_at_ms;
	if (all)
		w->adopt_all = false;
	pthread_mutex_unlock(&w->mu);
	if (!all)
		return;
	n = core_list(w->p.core, &rules);
	for (size_t i = 0; i < n && !failed && !atomic_load(&w->stop); i++)
		if (adoptable(&rules[i], true))
			failed = !adopt(w, &rules[i]);
	free(rules);
	if (failed) {
		adopt_later(w, now);
	} else {
		pthread_mutex_lock(&w->mu);
		w->adopt_fails = 0;
		pthread_mutex_unlock(&w->mu);
	}
}

bool iwf_unsolicited_ok(const struct in6_addr *src, const char *in_ifname, const struct in6_addr *server,
			const char *ext_ifname)
{
	return ext_ifname && ext_ifname[0] && in_ifname && strcmp(in_ifname, ext_ifname) == 0 &&
	       addr_equal(src, server);
}

/* One datagram from the port-5350 socket: its source and the interface it came in on. */
static ssize_t recv_unsolicited(int fd, uint8_t *buf, size_t len, struct in6_addr *src, char ifname[IF_NAMESIZE],
				uint64_t *arrived)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(struct timespec))];
	} ctl;
	struct sockaddr_in sin;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_name = &sin, .msg_namelen = sizeof(sin), .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

	ifname[0] = '\0';
	if (n <= 0)
		return n;
	addr_from_v4(src, sin.sin_addr);
	*arrived = arrival_ms(&mh);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		struct in_pktinfo pi;

		if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO)
			continue;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		if (!if_indextoname((unsigned)pi.ipi_ifindex, ifname))
			ifname[0] = '\0';
	}
	return n;
}

/* Unsolicited ANNOUNCEs (or MAP responses) on port 5350: a hint to check the server's epoch now. */
static void read_unsolicited(struct iwf *w)
{
	uint8_t buf[PCP_MAX_MSG];
	struct pcp_response resp;
	struct in6_addr src, server;
	char ifname[IF_NAMESIZE], sbuf[ADDR_STRLEN];
	bool have, stale;

	for (int i = 0; i < 16; i++) {
		uint64_t now, at, arrived;
		ssize_t n = recv_unsolicited(w->listen_fd, buf, sizeof(buf), &src, ifname, &arrived);

		if (n <= 0)
			return;
		pthread_mutex_lock(&w->mu);
		have = w->have_server && w->state != IWF_PROBING && w->state != IWF_OFF;
		server = w->server;
		/* queued while this thread was busy, and older than the server's last answer to us: that
		 * answer already told what the announcement could (a restart announces itself ~10 times) */
		stale = w->epoch.valid && arrived < w->epoch.prev_arrival_ms;
		pthread_mutex_unlock(&w->mu);
		if (!have || pcp_wire_parse_response(buf, (size_t)n, &resp) != PCP_PARSE_OK)
			continue;
		if (!iwf_unsolicited_ok(&src, ifname, &server, w->p.ext_ifname)) {
			log_debug("iwf: unsolicited PCP response from %s on %s ignored", addr_str(&src, sbuf),
				  ifname[0] ? ifname : "?");
			continue;
		}
		if (stale) {
			log_debug("iwf: unsolicited %s (epoch %u) arrived before the server's last answer: no new check",
				  resp.opcode == PCP_OP_ANNOUNCE ? "ANNOUNCE" : "response", resp.epoch);
			continue;
		}
		/* its epoch is not taken: the server's answer to our own ANNOUNCE decides */
		now = mono_ms();
		pthread_mutex_lock(&w->mu);
		at = w->last_check_ms + IWF_HINT_MIN_MS > now ? w->last_check_ms + IWF_HINT_MIN_MS : now;
		if (at < w->next_check_ms)
			w->next_check_ms = at;
		pthread_mutex_unlock(&w->mu);
		log_info("iwf: unsolicited %s from the upstream server (epoch %u): checking its epoch",
			 resp.opcode == PCP_OP_ANNOUNCE ? "ANNOUNCE" : "response", resp.epoch);
	}
}

/* Interworking stays off until restart: no port 5350 for ANNOUNCEs nobody will send (on the iwf thread,
 * the only one that uses the socket). */
static void turn_off(struct iwf *w)
{
	pthread_mutex_lock(&w->mu);
	w->state = IWF_OFF;
	pthread_mutex_unlock(&w->mu);
	if (w->listen_fd >= 0) {
		close(w->listen_fd);
		w->listen_fd = -1;
	}
}

static void probe(struct iwf *w)
{
	struct in6_addr gw;
	struct pcp_request req;
	struct pcp_response resp;
	char buf[ADDR_STRLEN];

	if (!default_gateway(w->p.ext_ifname, &gw)) {
		turn_off(w);   /* before saying so: the socket is gone once the line is written */
		log_info("iwf: no upstream_pcp_server and no IPv4 default gateway: interworking off");
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->server = gw;
	w->have_server = true;
	pthread_mutex_unlock(&w->mu);
	pcp_client_announce_request(&req, &in6addr_any);
	if (exchange(w, &req, &resp, 2 * PCP_CLIENT_IRT_MS) == 0) {
		log_info("iwf: the default gateway %s answers PCP: interworking on", addr_str(&gw, buf));
		pthread_mutex_lock(&w->mu);
		w->next_check_ms = mono_ms() + IWF_CHECK_MS;
		w->adopt_all = true;
		pthread_mutex_unlock(&w->mu);
		learn_ext(w);
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->have_server = false;
	pthread_mutex_unlock(&w->mu);
	turn_off(w);
	log_info("iwf: the default gateway %s does not answer PCP: interworking off", addr_str(&gw, buf));
}

static void *iwf_thread(void *arg)
{
	struct iwf *w = arg;

	while (!atomic_load(&w->stop)) {
		struct pollfd pfd[2] = { { .fd = w->wake_fd, .events = POLLIN }, { .fd = w->listen_fd, .events = POLLIN } };
		enum iwf_state st;
		uint64_t now, check_at;

		pthread_mutex_lock(&w->mu);
		st = w->state;
		check_at = w->next_check_ms;
		pthread_mutex_unlock(&w->mu);
		if (st == IWF_PROBING) {
			probe(w);
			continue;
		}
		if (poll(pfd, w->listen_fd >= 0 ? 2 : 1, 500) > 0) {
			uint64_t v;

			if ((pfd[0].revents & POLLIN) && read(w->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_debug("iwf: wake");
			if (pfd[1].revents & POLLIN) {
				read_unsolicited(w);
				pthread_mutex_lock(&w->mu);
				check_at = w->next_check_ms;
				pthread_mutex_unlock(&w->mu);
			}
		}
		if (atomic_load(&w->stop))
			break;
		if (st == IWF_OFF) {
			/* no upstream: the events only pile up */
			pthread_mutex_lock(&w->qmu);
			w->n_evs = 0;
			w->evs_lost = false;
			pthread_mutex_unlock(&w->qmu);
			continue;
		}
		take_events(w);
		now = mono_ms();
		if (now >= check_at)
			check_server(w, now);
		refresh_due(w, mono_ms());
		adopt_all_now(w, mono_ms());
	}
	return NULL;
}

static void load_nonce(struct iwf *w)
{
	char hex[2 * PCP_NONCE_LEN + 1];
	unsigned v;

	if (core_meta_get(w->p.core, "iwf_nonce", hex, sizeof(hex)) == 0 && strlen(hex) == 2 * PCP_NONCE_LEN) {
		bool good = true;

		for (size_t i = 0; i < PCP_NONCE_LEN && good; i++) {
			good = sscanf(hex + 2 * i, "%2x", &v) == 1;
			w->nonce[i] = (uint8_t)v;
		}
		if (good)
			return;
	}
	if (getrandom(w->nonce, sizeof(w->nonce), 0) != (ssize_t)sizeof(w->nonce))
		for (size_t i = 0; i < PCP_NONCE_LEN; i++)
			w->nonce[i] = (uint8_t)rnd(w, 256);
	for (size_t i = 0; i < PCP_NONCE_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", w->nonce[i]);
	if (core_meta_set(w->p.core, "iwf_nonce", hex) < 0)
		log_info("iwf: cannot keep the mapping nonce in the store; upstream mappings will be re-made after a restart");
}

static int open_listen(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* the interface each datagram came in on: only the WAN's count (iwf_unsolicited_ok) */
	stamp_arrivals(fd);
	if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		log_warn("iwf: port %u for unsolicited ANNOUNCEs (periodic checks only)", port);
		close(fd);
		return -1;
	}
	return fd;
}

int iwf_new(struct iwf **out, const struct iwf_params *p)
{
	struct iwf *w = calloc(1, sizeof(*w));
	char buf[ADDR_STRLEN];

	*out = NULL;
	if (w == NULL)
		return -1;
	w->p = *p;
	w->rng = (unsigned)mono_ms() ^ (unsigned)getpid();
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->op, NULL);
	pthread_mutex_init(&w->qmu, NULL);
	pthread_cond_init(&w->qcond, NULL);
	pthread_cond_init(&w->idle, NULL);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->listen_fd = open_listen(p->listen_port ? p->listen_port : PCP_CLIENT_PORT);
	load_nonce(w);
	if (p->has_server) {
		w->server = p->server;
		w->have_server = true;
		w->state = IWF_UNREACHABLE;  /* until it answers */
		w->adopt_all = true;
		log_info("iwf: upstream PCP server %s", addr_str(&p->server, buf));
	} else {
		w->state = IWF_PROBING;
	}
	if (w->wake_fd < 0) {
		log_warn("iwf: cannot start");
		iwf_stop(w);
		return -1;
	}
	*out = w;
	return 0;
}

int iwf_run(struct iwf *w)
{
	if (pthread_create(&w->thr, NULL, iwf_thread, w) != 0) {
		log_warn("iwf: cannot start");
		return -1;
	}
	w->thr_started = true;
	pthread_mutex_lock(&w->qmu);
	w->job_started = pthread_create(&w->job_thr, NULL, job_thread, w) == 0;
	pthread_mutex_unlock(&w->qmu);
	if (!w->job_started) {
		log_warn("iwf: cannot start");
		return -1;
	}
	return 0;
}

int iwf_start(struct iwf **out, const struct iwf_params *p)
{
	if (iwf_new(out, p) < 0)
		return -1;
	if (iwf_run(*out) < 0) {
		iwf_stop(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

void iwf_stop(struct iwf *w)
{
	uint64_t one = 1;

	if (w == NULL)
		return;
	atomic_store(&w->stop, true);
	if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof(one)) < 0)
		log_debug("iwf: wake");
	pthread_mutex_lock(&w->qmu);
	pthread_cond_broadcast(&w->qcond);
	pthread_mutex_unlock(&w->qmu);
	if (w->job_started)
		pthread_join(w->job_thr, NULL);
	if (w->thr_started)
		pthread_join(w->thr, NULL);
	/* what was still queued: its new local rules go, as after a silent server */
	while (w->jobs) {
		struct iwf_job *j = w->jobs;

		w->jobs = j->next;
		job_give_up(w, j);
		free(j);
	}
	free(w->evs);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->op);
	pthread_mutex_destroy(&w->qmu);
	pthread_cond_destroy(&w->qcond);
	pthread_cond_destroy(&w->idle);
	free(w->ents);
	free(w);
}
