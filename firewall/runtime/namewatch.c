/* SPDX-License-Identifier: GPL-2.0-or-later */
/* namewatch (see namewatch.h). Loop thread only; the device table under the core's lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/lanif.h"
#include "firewall/lib/log.h"
#include "firewall/runtime/names.h"
#include "firewall/runtime/namewatch.h"

struct lease_file {
	const char *path;
	enum names_lease_format fmt;
	struct stat st;              /* as last read: a change of any of these reads it again */
	bool seen;
	struct names_lease *leases;  /* the named ones, at most NAMES_LEASES_MAX */
	int64_t *asked;              /* per lease: when its address was last asked about (0 = never) */
	size_t n;
};

struct pending {
	struct names_mdns_record r;
	struct in6_addr from;
	int64_t until;
};

struct namewatch {
	struct namewatch_params p;
	struct core *core;
	struct devwatch *dw;
	struct loop *loop;
	struct lease_file files[2];
	/* per LAN interface, an IPv4 and an IPv6 socket on port 5353 tied to it (SO_BINDTODEVICE: nothing
	 * from the WAN reaches them), made again when the interface is (a new index) */
	struct mdns_if {
		char name[LANIF_NAME_MAX];
		int ifindex;               /* the one the sockets are tied to and joined on; 0 = none yet */
		int fd[2];                 /* [0] IPv4, [1] IPv6; -1 = none */
	} ifs[LANIF_MAX_IFS];
	size_t n_ifs;
	bool paused;
	uint64_t second;
	unsigned count;
	struct pending pend[NAMEWATCH_PENDING];
	size_t npend;
	uint64_t taken, refused;     /* mDNS records: named a device / not the sender's own */
};

/* ---------- lease files ---------- */

static void collect_lease(void *arg, const struct names_lease *l)
{
	struct lease_file *f = arg;

	f->leases[f->n++] = *l;
}

/* Reads the file if it changed since last time. true if it was read. */
static bool read_leases(struct lease_file *f)
{
	struct stat st;
	char *text;
	ssize_t got;
	size_t len = 0, bad = 0;
	int fd;

	if (!f->path[0])
		return false;
	if (stat(f->path, &st) < 0) {
		if (f->seen)
			log_info("names: %s is gone; its names are kept until the devices leave", f->path);
		f->seen = false;
		return false;
	}
	if (f->seen && st.st_ino == f->st.st_ino && st.st_size == f->st.st_size &&
	    st.st_mtim.tv_sec == f->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == f->st.st_mtim.tv_nsec)
		return false;
	if ((fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		if (!f->seen)
			log_warn("names: %s", f->path);
		f->seen = true;
		f->st = st;
		return false;
	}
	f->seen = true;
	f->st = st;
	if (!(text = malloc(NAMES_LEASE_FILE_MAX))) {
		close(fd);
		return false;
	}
	while (len < NAMES_LEASE_FILE_MAX && (got = read(fd, text + len, NAMES_LEASE_FILE_MAX - len)) > 0)
		len += (size_t)got;
	close(fd);
	if ((!f->leases && !(f->leases = calloc(NAMES_LEASES_MAX, sizeof(*f->leases)))) ||
	    (!f->asked && !(f->asked = calloc(NAMES_LEASES_MAX, sizeof(*f->asked))))) {
		free(text);
		return false;
	}
	f->n = 0;
	memset(f->asked, 0, NAMES_LEASES_MAX * sizeof(*f->asked));
	names_leases_parse(f->fmt, text, len, (int64_t)time(NULL), collect_lease, f, &bad);
	free(text);
	if (bad)
		log_debug("names: %s: %zu lines are not leases", f->path, bad);
	log_debug("names: %s: %zu named leases", f->path, f->n);
	return true;
}

struct apply {
	struct namewatch *nw;
	int changed;
	/* leased addresses the table does not hold: the DHCP server handed them out, so the device
	 * (in the table by its MAC, or not yet) is asked about them (the kernel's answer feeds the table) */
	struct in6_addr ask[NAMEWATCH_ASK_PER_TICK];
	size_t nask;
};

static void learn(struct device_table *t, const uint8_t mac[6], enum name_source src, const char *name, int *changed)
{
	const struct device *d = device_find(t, mac);
	bool first = d && !(src == NAME_SOURCE_DHCP ? d->dhcp_name : d->mdns_name)[0];
	char m[18];

	if (device_learn_name(t, mac, src, name) > 0) {
		(*changed)++;
		/* a host may change its name as often as it sends: only its first one is worth the log */
		if (first)
			log_info("names: %s is \"%s\" (%s)", mac_str(mac, m), name, name_source_str(src));
		else
			log_debug("names: %s is now \"%s\" (%s)", mac_str(mac, m), name, name_source_str(src));
	}
}

/* Every named lease whose device is in the table: by MAC, else by one of its addresses. */
static int apply_leases_locked(void *arg, struct device_table *t)
{
	struct apply *a = arg;
	int64_t now = (int64_t)time(NULL);

	for (size_t k = 0; k < 2; k++) {
		struct lease_file *f = &a->nw->files[k];

		for (size_t i = 0; i < f->n; i++) {
			const struct names_lease *l = &f->leases[i];
			const struct device *d = l->has_mac ? device_find(t, l->mac) : NULL;

			for (size_t j = 0; !d && j < l->naddrs; j++)
				d = device_by_addr(t, &l->addr[j], NULL);
			if (d)
				learn(t, d->mac, NAME_SOURCE_DHCP, l->name, &a->changed);
			if (l->naddrs && !device_by_addr(t, &l->addr[0], NULL) && a->nask < NAMEWATCH_ASK_PER_TICK &&
			    (!f->asked[i] || now - f->asked[i] >= NAMEWATCH_ASK_AGAIN_S)) {
				f->asked[i] = now;
				a->ask[a->nask++] = l->addr[0];
			}
		}
	}
	return a->changed;
}

/* ---------- mDNS ---------- */

static void on_mdns(void *arg, int fd, uint32_t events);

/* A socket on port 5353 tied to ifname and in the mDNS group there. -1 (errno) on failure. */
static int open_mdns(int family, const char *ifname, int ifindex)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, rc;
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(NAMES_MDNS_PORT) };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(NAMES_MDNS_PORT) };
	struct ip_mreqn m4 = { .imr_ifindex = ifindex };
	struct ipv6_mreq m6 = { .ipv6mr_interface = (unsigned)ifindex };

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, "224.0.0.251", &m4.imr_multiaddr);
	inet_pton(AF_INET6, "ff02::fb", &m6.ipv6mr_multiaddr);
	/* the router's own mDNS responder (avahi) may hold the port too: both hear every message */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0)
		goto fail;
	if (family == AF_INET)
		rc = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
		     bind(fd, (struct sockaddr *)&s4, sizeof(s4)) < 0 ||
		     setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m4, sizeof(m4)) < 0;
	else
		rc = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
		     setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0 ||
		     bind(fd, (struct sockaddr *)&s6, sizeof(s6)) < 0 ||
		     setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &m6, sizeof(m6)) < 0;
	if (!rc)
		return fd;
fail:
	rc = errno;
	close(fd);
	errno = rc;
	return -1;
}

static void close_if(struct namewatch *nw, struct mdns_if *mi)
{
	for (int k = 0; k < 2; k++) {
		if (mi->fd[k] < 0)
			continue;
		if (nw->loop && !nw->paused)
			loop_del_fd(nw->loop, mi->fd[k]);
		close(mi->fd[k]);
		mi->fd[k] = -1;
	}
	mi->ifindex = 0;
}

/* Each LAN interface as it is now: sockets for a new one (or one made again with a new index). */
static void follow_lan(struct namewatch *nw)
{
	const struct lanif_set *lan = nw->dw ? devwatch_lan(nw->dw) : NULL;

	for (size_t i = 0; i < nw->n_ifs; i++) {
		struct mdns_if *mi = &nw->ifs[i];
		int ifx = 0;

		for (size_t j = 0; lan && j < lan->n; j++)
			if (strcmp(lan->ifs[j].name, mi->name) == 0)
				ifx = lan->ifs[j].ifindex;
		if (ifx == mi->ifindex)
			continue;
		close_if(nw, mi);
		if (!ifx)
			continue;
		for (int k = 0; k < 2; k++) {
			mi->fd[k] = open_mdns(k ? AF_INET6 : AF_INET, mi->name, ifx);
			if (mi->fd[k] < 0)
				log_warn("names: cannot listen to mDNS (%s) on %s", k ? "IPv6" : "IPv4", mi->name);
			else if (nw->loop && !nw->paused && loop_add_fd(nw->loop, mi->fd[k], EPOLLIN, on_mdns, nw) < 0)
				log_warn("names: mDNS on %s", mi->name);
		}
		mi->ifindex = ifx;
	}
}

struct mdns_batch {
	struct namewatch *nw;
	struct in6_addr from;
	struct names_mdns_record r[NAMES_MDNS_MAX_RRS];
	size_t n;
};

static void collect_record(void *arg, const struct names_mdns_record *r)
{
	struct mdns_batch *b = arg;

	/* a goodbye withdraws a record, not the name; a service names its host, which A/AAAA did */
	if (r->ttl == 0 || r->kind != NAMES_MDNS_HOST_ADDR || b->n == NAMES_MDNS_MAX_RRS)
		return;
	b->r[b->n++] = *r;
}

/* 1 taken (or already so), 0 the sender is not known yet, -1 refused (another device's address). */
static int take_record(struct device_table *t, const struct in6_addr *from, const struct names_mdns_record *r,
		       int *changed)
{
	const struct device *sender = device_by_addr(t, from, NULL), *owner = device_by_addr(t, &r->addr, NULL);

	if (!sender)
		return 0;
	if (!owner) {
		/* an address the table does not hold yet, announced by a known host: its own (a host
		 * announces only addresses it has configured) only if it is the sender's address */
		if (!addr_equal(from, &r->addr))
			return 0;
		owner = sender;
	}
	if (memcmp(sender->mac, owner->mac, 6) != 0)
		return -1;
	learn(t, owner->mac, NAME_SOURCE_MDNS, r->host, changed);
	return 1;
}

static void pend(struct namewatch *nw, const struct in6_addr *from, const struct names_mdns_record *r)
{
	struct pending *p;

	for (size_t i = 0; i < nw->npend; i++)
		if (addr_equal(&nw->pend[i].from, from) && addr_equal(&nw->pend[i].r.addr, &r->addr)) {
			nw->pend[i].r = *r;   /* the latest word about it */
			return;
		}
	if (nw->npend == NAMEWATCH_PENDING)
		return;   /* full: a flood of strangers; a real host announces again */
	/* the router has not heard of the sender: ask the LAN (rate-limited there), so its next word or
	 * the retry on the next tick finds it */
	devwatch_ask(nw->dw, from);
	p = &nw->pend[nw->npend++];
	p->r = *r;
	p->from = *from;
	p->until = (int64_t)time(NULL) + NAMEWATCH_PENDING_S;
}

static int mdns_locked(void *arg, struct device_table *t)
{
	struct mdns_batch *b = arg;
	struct apply a = { .nw = b->nw };

	for (size_t i = 0; i < b->n; i++) {
		int rc = take_record(t, &b->from, &b->r[i], &a.changed);

		if (rc == 0)
			pend(b->nw, &b->from, &b->r[i]);
		else if (rc < 0)
			b->nw->refused++;
		else
			b->nw->taken++;
	}
	return a.changed;
}

static int pending_locked(void *arg, struct device_table *t)
{
	struct namewatch *nw = arg;
	int64_t now = (int64_t)time(NULL);
	int changed = 0;
	size_t k = 0;

	for (size_t i = 0; i < nw->npend; i++) {
		int rc = take_record(t, &nw->pend[i].from, &nw->pend[i].r, &changed);

		if (rc == 0 && nw->pend[i].until > now)
			nw->pend[k++] = nw->pend[i];
		else if (rc < 0)
			nw->refused++;
	}
	nw->npend = k;
	return changed;
}

/* One datagram: the source address, and whether it came in on a LAN interface. */
static ssize_t recv_mdns(struct namewatch *nw, int fd, uint8_t *buf, size_t size, struct in6_addr *from)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))]; } c;
	struct sockaddr_storage ss;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr mh = { .msg_name = &ss, .msg_namelen = sizeof(ss), .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = c.b, .msg_controllen = sizeof(c.b) };
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
	int ifindex = 0;

	if (n < 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO)
			ifindex = ((struct in_pktinfo *)(void *)CMSG_DATA(cm))->ipi_ifindex;
		else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO)
			ifindex = (int)((struct in6_pktinfo *)(void *)CMSG_DATA(cm))->ipi6_ifindex;
	}
	if (!lanif_by_index(devwatch_lan(nw->dw), ifindex) || (mh.msg_flags & MSG_TRUNC))
		return 0;   /* the WAN, or a message longer than any real one */
	memset(from, 0, sizeof(*from));
	if (ss.ss_family == AF_INET) {
		from->s6_addr[10] = from->s6_addr[11] = 0xff;
		memcpy(&from->s6_addr[12], &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		*from = ((struct sockaddr_in6 *)&ss)->sin6_addr;
	} else {
		return 0;
	}
	return n;
}

static void mdns_resume(void *arg);

static void on_mdns(void *arg, int fd, uint32_t events)
{
	struct namewatch *nw = arg;
	uint64_t second = loop_now_ms() / 1000;
	static uint8_t buf[NAMEWATCH_MDNS_MAX];   /* loop thread only */
	struct mdns_batch *b;

	(void)events;
	if (second != nw->second) {
		nw->second = second;
		nw->count = 0;
	}
	if (!(b = malloc(sizeof(*b))))
		return;
	for (int i = 0; i < 16 && nw->count < NAMEWATCH_MDNS_PER_S; i++) {
		ssize_t n = recv_mdns(nw, fd, buf, sizeof(buf), &b->from);

		if (n < 0)
			break;
		nw->count++;
		b->nw = nw;
		b->n = 0;
		if (n == 0 || names_mdns_parse(buf, (size_t)n, collect_record, b) <= 0 || b->n == 0)
			continue;
		if (core_with_devices(nw->core, mdns_locked, b) > 0)
			log_debug("names: mDNS named a device");
	}
	free(b);
	if (nw->count >= NAMEWATCH_MDNS_PER_S && !nw->paused) {
		/* a flood: stop reading until the next second (the kernel drops what does not fit) */
		for (size_t i = 0; i < nw->n_ifs; i++)
			for (int k = 0; k < 2; k++)
				if (nw->ifs[i].fd[k] >= 0)
					loop_del_fd(nw->loop, nw->ifs[i].fd[k]);
		nw->paused = true;
		log_debug("names: more than %d mDNS messages a second; the rest of this second is not read",
			  NAMEWATCH_MDNS_PER_S);
		loop_timer(nw->loop, 1000 - loop_now_ms() % 1000, mdns_resume, nw);
	}
}

static void mdns_resume(void *arg)
{
	struct namewatch *nw = arg;

	nw->paused = false;
	nw->count = 0;
	nw->second = loop_now_ms() / 1000;
	for (size_t i = 0; i < nw->n_ifs; i++)
		for (int k = 0; k < 2; k++)
			if (nw->ifs[i].fd[k] >= 0 && loop_add_fd(nw->loop, nw->ifs[i].fd[k], EPOLLIN, on_mdns, nw) < 0)
				log_warn("names: mDNS");
}

/* ---------- the tick ---------- */

static void tick(void *arg)
{
	struct namewatch *nw = arg;
	struct apply a = { .nw = nw };

	read_leases(&nw->files[0]);
	read_leases(&nw->files[1]);
	/* every tick, not only when a file changed: a device may appear after its lease was written */
	if (nw->files[0].n || nw->files[1].n)
		core_with_devices(nw->core, apply_leases_locked, &a);
	for (size_t i = 0; i < a.nask; i++)
		devwatch_ask(nw->dw, &a.ask[i]);
	if (nw->npend)
		core_with_devices(nw->core, pending_locked, nw);
	follow_lan(nw);
	loop_timer(nw->loop, NAMEWATCH_TICK_MS, tick, nw);
}

struct namewatch *namewatch_new(const struct namewatch_params *p)
{
	struct namewatch *nw = calloc(1, sizeof(*nw));

	if (!nw)
		return NULL;
	nw->p = *p;
	nw->files[0].path = nw->p.dnsmasq_leases;
	nw->files[0].fmt = NAMES_DNSMASQ;
	nw->files[1].path = nw->p.odhcpd_leases;
	nw->files[1].fmt = NAMES_ODHCPD;
	for (size_t i = 0; p->mdns && i < p->n_lan && i < LANIF_MAX_IFS; i++) {
		struct mdns_if *mi = &nw->ifs[nw->n_ifs++];

		snprintf(mi->name, sizeof(mi->name), "%s", p->lan_ifname[i]);
		mi->fd[0] = mi->fd[1] = -1;
	}
	return nw;
}

void namewatch_free(struct namewatch *nw)
{
	if (!nw)
		return;
	if (nw->loop) {
		loop_timer_cancel(nw->loop, tick, nw);
		loop_timer_cancel(nw->loop, mdns_resume, nw);
	}
	for (size_t i = 0; i < nw->n_ifs; i++)
		close_if(nw, &nw->ifs[i]);
	for (size_t k = 0; k < 2; k++) {
		free(nw->files[k].leases);
		free(nw->files[k].asked);
	}
	free(nw);
}

int namewatch_start(struct namewatch *nw, struct core *c, struct devwatch *dw, struct loop *l)
{
	nw->core = c;
	nw->dw = dw;
	nw->loop = l;
	tick(nw);   /* the sockets for the LAN interfaces there are now, registered with the loop */
	return 0;
}
