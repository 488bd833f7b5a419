/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The firewall backend interface. The core computes kernel *elements* from rules and hands them
 * over in batches; a backend turns one batch into one transaction. Two backends: nft.c (libnftnl +
 * libmnl, the real kernel) and mem_fw.c (in memory, for unit tests). Nothing else touches the kernel. */
#ifndef IGDD_FW_H
#define IGDD_FW_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_NAME_MAX 64
#define FW_MAX_IFNAMES 8
#define FW_MAX_NAT_POOL 16

enum fw_mode {
	FW_STANDALONE = 1, /* our table carries the RFC 6092 inbound policy and hooks itself */
	FW_INTEGRATED,     /* our chains and sets live in an existing table (e.g. inet fw4); the operator jumps to them */
};

struct fw_config {
	char family[8];                 /* nft family of the table: "inet" */
	char table[FW_NAME_MAX];        /* default "igdd"; in integrated mode the host table, e.g. "fw4" */
	enum fw_mode mode;
	char wan_ifname[FW_MAX_IFNAMES][16]; /* interfaces whose inbound traffic the policy governs */
	size_t n_wan;
	char lan_ifname[FW_MAX_IFNAMES][16];
	size_t n_lan;
	char chain_prefix[24];          /* integrated mode: our chain/set names start with this (default "igdd_") */
	/* NAT44 for the traffic of subscribers that holds no mapping (pcpd on a CGN; n_nat_pool 0 = none):
	 * packets from nat_src/nat_src_len leaving a WAN interface are SNATed to the pool, which must be one
	 * contiguous range of addresses (`persistent`: a subscriber keeps one pool address). */
	struct in_addr nat_src;
	uint8_t nat_src_len;
	struct in_addr nat_pool[FW_MAX_NAT_POOL];  /* the pool as given, ADDR/LEN each */
	uint8_t nat_pool_len[FW_MAX_NAT_POOL];
	size_t n_nat_pool;
	/* Deterministic per-subscriber port blocks (RFC 7422) for that NAT44; nat_block_size 0 = none
	 * (the pool rule alone). nat_port_min..nat_port_max is cut into blocks of nat_block_size ports
	 * (see fw_nat_blocks below): TCP and UDP flows of a subscriber with a block leave from its
	 * block's address and ports, the pool rule stays for the rest (ICMP, subscribers beyond). */
	uint16_t nat_port_min, nat_port_max;
	uint32_t nat_block_size;
	/* The output wall (CallStranger, CVE-2020-12695, defence in depth): new TCP connections from
	 * sockets of this cgroup v2 (the daemon's own, see cgroup.h) may leave only through a LAN
	 * interface or lo. out_cgroup_id 0 = no wall. The path (relative to the cgroup2 root, no
	 * leading '/') is for fw_render: nft text names a cgroup by path, the kernel by id. */
	uint64_t out_cgroup_id;
	uint32_t out_cgroup_level;
	char out_cgroup_path[256];
};

/* Does the backend install the output wall (a cgroup and at least one LAN interface)? (fw_elem.c) */
bool fw_output_wall(const struct fw_config *cfg);

/* First and last address of the NAT44 pool (network byte order), false if the pool is empty or its
 * parts do not form one contiguous range (nft's `snat to` takes one range). (fw_elem.c) */
bool fw_nat_pool_range(const struct fw_config *cfg, struct in_addr *lo, struct in_addr *hi);

/* The deterministic block layout (RFC 7422), one piece of arithmetic for pcpd's PCP port
 * allocation (pcpd/cgn.c) and the NAT44 block map (nft.c), so a subscriber's dynamic ports and its
 * PCP mappings fall in the same block on the same address. The ports are cut into blocks of
 * `size`; the pool addresses, ascending, carry per_addr blocks each; subscriber i (its offset in
 * the subscriber prefix) gets block i, filled address by address:
 *     address = pool_lo + i / per_addr, ports = port_min + (i % per_addr) * size ...+size-1
 * (fw_blocks.c; pure) */
struct fw_nat_blocks {
	uint32_t pool_lo;       /* host order; the pool is one contiguous range */
	uint64_t n_addrs;
	uint32_t subs_base;     /* host order */
	uint64_t subs_count;
	uint16_t port_min;
	uint32_t size;          /* ports per block */
	uint32_t per_addr;      /* blocks per pool address */
};

/* The block map holds at most this many subscribers; subscribers beyond are NATed by the pool
 * rule. The bound keeps the one transaction that installs the map (with the table, again at every
 * resync after a foreign change, holding the kernel's nftables lock meanwhile) short: on the
 * development VM 65,536 elements take 0.15 s, 262,144 0.9 s, and 1,048,576 12 s (the kernel's
 * cost per element grows beyond ~256k). */
#define FW_NAT_BLOCK_ELEMS_MAX (1u << 18)

/* Layout of cfg's pool, subscriber prefix, port range and block size. False with a reason in err
 * when there is none (no pool, a pool that is not one range, a block size of 0 or above the range). */
bool fw_nat_blocks_init(struct fw_nat_blocks *nb, const struct fw_config *cfg, char *err, size_t errlen);
/* Subscribers with a block: min(subscribers, pool addresses x blocks per address). */
uint64_t fw_nat_blocks_capacity(const struct fw_nat_blocks *nb);
/* Subscriber index of addr (network order); false outside the subscriber prefix. */
bool fw_nat_block_index(const struct fw_nat_blocks *nb, struct in_addr addr, uint64_t *i);
/* Block i (< capacity): subscriber address, external address (network order), first/last port. */
void fw_nat_block_at(const struct fw_nat_blocks *nb, uint64_t i, struct in_addr *sub, struct in_addr *ext,
		     uint16_t *lo, uint16_t *hi);
/* How many elements the backend puts in the block map for cfg (blocks 0..n-1 of *nb, which it
 * fills): the capacity, at most FW_NAT_BLOCK_ELEMS_MAX; 0 when cfg has no block layout. */
uint64_t fw_nat_block_elems(const struct fw_config *cfg, struct fw_nat_blocks *nb);

/* One kernel element. Which set/map it lands in follows from its fields:
 *  pinhole (v6): remote_len == 0 -> keyed daddr . l4proto . dport, or daddr . l4proto (dport 0 / no ports),
 *                or daddr (proto RULE_PROTO_ANY); remote_len > 0 -> the filtered set (saddr prefix, sport).
 *  portmap (v4): DNAT map keyed [daddr .] [saddr .] l4proto . [sport .] ext_port -> addr . port, plus the
 *                forward accept: daddr with an external address (pcpd's pool), saddr with a remote host
 *                (remote_len 128), sport with a remote port too. Six hash maps, looked up most specific
 *                first (remote port, then remote host, then none; each with the external address
 *                before without): a constant number of O(1) lookups per new inbound flow.
 *                With ext_addr != 0 the backend also installs, in the same transaction, the SNAT
 *                companion (map pm4_snat: addr . l4proto . port -> ext_addr . ext_port), so the
 *                internal host's outbound flows from that port leave from the mapped endpoint
 *                (endpoint-independent mapping, RFC 4787 REQ-1 / RFC 6887 11.1); for a flow's mapping
 *                (flow: a CGN PEER) the companion is in pm4_snat_flow instead, keyed by the 5-tuple
 *                (addr . remote . l4proto . port . remote_port), so only that flow leaves from it. The
 *                two are added, replaced and deleted together. It is the element's second kernel
 *                element, not a second fw_elem: read_counters reports the DNAT one only. */
struct fw_elem {
	bool v4;                   /* true: IPv4 port mapping; false: IPv6 pinhole */
	bool flow;                 /* portmap with ext_addr and a remote host and port: one outbound flow's
				    * mapping (PCP PEER), so its SNAT companion is keyed by the flow's 5-tuple
				    * (pm4_snat_flow) and leaves the internal endpoint's other flows alone.
				    * (Here, in v4's padding: the struct stays 72 bytes.) */
	uint16_t proto;            /* IANA number or 65535 (any; pinholes only) */
	struct in6_addr addr;      /* pinhole: destination; portmap: internal host (v4-mapped) */
	uint16_t port;             /* pinhole: destination port (0 = any); portmap: internal port */
	uint16_t ext_port;         /* portmap only */
	struct in_addr ext_addr;   /* portmap only; 0 = any address arriving on the WAN interface */
	struct in6_addr remote;    /* remote host filter; v4-mapped for portmaps */
	uint8_t remote_len;        /* 0 = any */
	uint16_t remote_port;      /* 0 = any */
	uint64_t timeout_ms;       /* kernel timeout; 0 = none (never expires in the kernel) */
	/* counters: read back by fw_ops.read_counters; given on add to carry a counter across a re-add */
	uint64_t packets;
	uint64_t bytes;
};

/* Two elements are the same kernel element when their keys are equal (timeout and counters aside). */
bool fw_elem_same_key(const struct fw_elem *a, const struct fw_elem *b);
/* Would the kernel refuse to hold a and b side by side? In the interval set @ph_remote it refuses an
 * element whose first or last key falls inside another (NEWSETELEM: EEXIST, the whole transaction
 * undone); we call any two different elements whose ranges overlap in every field a clash, which
 * covers that. Every other element's kernel key is the element itself (the NAT44 maps with a remote
 * host are keyed with the external address too: two pool addresses never share an element). */
bool fw_elems_clash(const struct fw_elem *a, const struct fw_elem *b);
/* What any two elements that can clash share (the destination of a @ph_remote element), as bytes to
 * index by; false when e can clash with nothing. */
#define FW_CLASH_SCOPE_LEN 20
bool fw_elem_clash_scope(const struct fw_elem *e, uint8_t scope[FW_CLASH_SCOPE_LEN]);
/* Text for logs and golden files, e.g. "pinhole [2001:db8::5]:51413/udp" or "portmap 8080/tcp -> 192.0.2.10:80". */
const char *fw_elem_str(const struct fw_elem *e, char *buf, size_t len);

struct fw;

struct fw_ops {
	const char *name;
	/* Create (or take over) our table, chains and sets in one transaction. Existing elements are dropped. */
	int (*init)(struct fw *fw);
	/* One transaction: delete del[], then add add[]. An add of an existing key replaces it (new timeout).
	 * All or nothing: on error nothing changed. */
	int (*commit)(struct fw *fw, const struct fw_elem *del, size_t ndel, const struct fw_elem *add, size_t nadd);
	/* One transaction: make the kernel hold exactly these elements (recreate chains/sets if missing). */
	int (*resync)(struct fw *fw, const struct fw_elem *all, size_t n);
	/* Reads every element's counter; cb is called per element found in the kernel. May run on another
	 * thread beside any other op (a commit, a resync) but not beside another read_counters: it has a
	 * socket of its own, and writes its error to read_err, not err. An element changed meanwhile is
	 * reported as it was or as it is. */
	int (*read_counters)(struct fw *fw, void (*cb)(void *arg, const struct fw_elem *e), void *arg);
	/* A file descriptor that becomes readable when someone changes nftables (-1 if none). */
	int (*monitor_fd)(struct fw *fw);
	/* Drains the monitor. Returns 1 if a foreign change touched our table (or events were lost), 0 if not, -1 on error. */
	int (*monitor_read)(struct fw *fw);
	/* Number of transactions committed so far (tests count them). */
	uint64_t (*transactions)(struct fw *fw);
	/* Removes our table (standalone) or our chains/sets (integrated). */
	int (*remove)(struct fw *fw);
	void (*destroy)(struct fw *fw);
};

struct fw {
	const struct fw_ops *ops;
	struct fw_config cfg;
	char err[256];   /* last error, human readable */
	char read_err[256];   /* read_counters' last error (it may run beside the others) */
	void *priv;
};

/* Above this many elements packet counters are neither read (core_read_counters) nor carried over a
 * resync: both dump every element, and the kernel's dump of a hashed set is quadratic in its size. */
#define FW_COUNTERS_MAX_ELEMS 65536u

struct fw *fw_nft_new(const struct fw_config *cfg);  /* nft.c; NULL + errno on failure */
/* Tests only: called while a large batch is being sent with the monitor deaf (nft.c batch_send),
 * so a test can make a foreign change in that window. NULL in the daemons. */
extern void (*fw_nft_during_quiet_batch)(void);
/* A resync of at least this many kernel elements fills a fresh generation of our sets in
 * transactions of fw_nft_resync_chunk_elems while the old one serves (nft.c resync_chunked). The
 * daemons keep the defaults (FW_COUNTERS_MAX_ELEMS + 1; 100,000); tests lower them, and may make a
 * foreign change between two of those transactions. */
extern size_t fw_nft_chunked_resync_min;
extern size_t fw_nft_resync_chunk_elems;
extern void (*fw_nft_between_resync_chunks)(void);
struct fw *fw_mem_new(const struct fw_config *cfg);  /* mem_fw.c */
/* mem backend introspection for unit tests */
size_t fw_mem_count(struct fw *fw);
bool fw_mem_has(struct fw *fw, const struct fw_elem *key, struct fw_elem *out);
bool fw_mem_admit(struct fw *fw, const struct fw_elem *key, uint64_t packets);   /* as if the kernel counted them */
void fw_mem_fail_next(struct fw *fw, int err);       /* make the next commit/resync fail with -err */
void fw_mem_foreign_change(struct fw *fw);           /* simulate someone flushing our sets */
/* While held, every commit (fw_mem_hold) or counter read (fw_mem_hold_reads) waits at its start (the
 * core does both without its lock: tests hold a group in flight, or a dump). fw_mem_wait_held: true
 * once n of them wait, false after ms without. */
void fw_mem_hold(struct fw *fw, bool hold);
void fw_mem_hold_reads(struct fw *fw, bool hold);
bool fw_mem_wait_held(struct fw *fw, unsigned n, int ms);
/* Make every commit that adds this element fail with -EEXIST, as the kernel fails a whole transaction
 * for one element it refuses (NULL: stop). The backend also refuses, by itself, every transaction that
 * would leave two clashing elements (fw_elems_clash: what the kernel refuses, and a little more). */
void fw_mem_refuse(struct fw *fw, const struct fw_elem *e);

/* Renders our whole ruleset (table, chains, sets, elements) as nft text, for golden tests and `igdctl`
 * debugging. Deterministic: elements sorted. Returns a malloc'd string. (nft_render.c) */
char *fw_render(const struct fw_config *cfg, const struct fw_elem *elems, size_t n);

#endif
