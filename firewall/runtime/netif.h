/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host's interfaces as rtnetlink tells them: every link (name, index, up, carrier, loopback) and
 * every address of ours on it, with the kernel's flags. rtnl.c feeds it on the loop thread (from the
 * dump at start, then from events); the front ends ask it what they used to ask getifaddrs for, which
 * dumped every link and address of the host through a netlink socket of its own on each call (three
 * times per SOAP request): the WAN interface's addresses and link state (UPnP's ExternalIPAddress and
 * ConnectionStatus, PCP's external address), "is this address one of ours?", "is this peer on that
 * interface's subnets?", "which interface holds this address?" (the web UI's listening address).
 * lanif.h stays the LAN's own view (what UPnP's listeners wait for, the policy's bounds).
 *
 * Threads: one writer (the loop thread, through rtnl.c); readers on any thread (libupnp's pool, the web
 * server's). Each call takes the set's mutex for its own duration only, and the mutex is a leaf: nothing
 * is called while it is held (rtnl.c feeds it under the core's lock; readers need no other lock). No I/O. */
#ifndef IGDD_NETIF_H
#define IGDD_NETIF_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETIF_MAX_LINKS 64
#define NETIF_MAX_ADDRS 256   /* the whole host: loopback, LAN and WAN, their IPv6 prefixes, tunnels... */
#define NETIF_NAME_MAX  16    /* IFNAMSIZ */

struct netif_link {
	int ifindex;
	char name[NETIF_NAME_MAX];
	bool up, running, loopback;   /* IFF_UP, IFF_RUNNING (carrier), IFF_LOOPBACK */
	bool unseen;                  /* not in the dump under way (netif_dump_begin) */
};

struct netif_addr {
	int ifindex;
	struct in6_addr addr;     /* v4-mapped for IPv4 */
	uint8_t plen;             /* v4: 96 + prefix length */
	bool tentative;           /* DAD not done (or failed) */
	bool deprecated;          /* preferred lifetime 0 */
	uint64_t seq;             /* order of arrival: a higher one is newer */
	bool unseen;
};

struct netif {
	pthread_mutex_t mu;
	size_t n_links, n_addrs;
	struct netif_link links[NETIF_MAX_LINKS];
	struct netif_addr addrs[NETIF_MAX_ADDRS];
	uint64_t gen;             /* changes whenever anything above does */
	uint64_t seq;
	unsigned dropped;         /* links or addresses beyond the bounds, not recorded */
};

/* What one interface offers now (netif_facts). */
struct netif_facts {
	bool exists;
	int ifindex;
	bool up, running;
	bool has_v4;
	struct in_addr v4;        /* the oldest IPv4 address (the primary one, as getifaddrs listed it first) */
	size_t n_v4;
	bool has_v6;
	struct in6_addr v6;       /* the best global IPv6 address: not tentative, not deprecated, newest */
	uint8_t v6_plen;
};

struct netif *netif_new(void);
void netif_free(struct netif *n);

/* --- feeding (loop thread; each returns true if something changed) --- */
/* RTM_NEWLINK: a new index under a known name (made again) forgets the old one's addresses. */
bool netif_link(struct netif *n, int ifindex, const char *name, unsigned flags);
/* RTM_DELLINK: the link and its addresses. */
bool netif_link_gone(struct netif *n, int ifindex);
/* RTM_NEWADDR (added) / RTM_DELADDR. */
bool netif_addr(struct netif *n, int ifindex, const struct in6_addr *a, uint8_t plen, bool tentative,
		bool deprecated, bool added);

/* A dump again after events were lost (ENOBUFS): what the dump does not name is gone. Between begin and
 * end the facts stay as they were for readers; end(complete true) drops what the dump did not feed, end
 * (false: the dump failed) keeps everything. */
void netif_dump_begin(struct netif *n);
void netif_dump_end(struct netif *n, bool complete);

/* --- questions (any thread) --- */
/* The interface called name (exists false when there is none, or name is NULL or ""). */
void netif_facts(const struct netif *n, const char *name, struct netif_facts *out);
/* Every IPv4 address of the interface (at most max), in no particular order. */
size_t netif_v4_addrs(const struct netif *n, const char *name, struct in_addr *out, size_t max);
/* Is a one of the host's own addresses, on any interface (tentative ones too)? */
bool netif_is_own(const struct netif *n, const struct in6_addr *a);
/* Is a on one of the subnets of interface name (each of its addresses with its prefix length)? */
bool netif_on_link(const struct netif *n, const char *name, const struct in6_addr *a);
/* An interface holding address a for which want(arg, its name, is it a loopback) says yes (want NULL:
 * any): its name into name. false when none does. want runs under the lock: it must only look. */
bool netif_holder(const struct netif *n, const struct in6_addr *a, bool (*want)(void *arg, const char *name, bool loopback),
		  void *arg, char name[NETIF_NAME_MAX]);
/* The generation (changes with every change): a reader can tell whether anything moved. */
uint64_t netif_gen(const struct netif *n);

#endif
