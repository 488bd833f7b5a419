/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The configuration file: miniupnpd-like `key=value` lines, `#` comments, blank lines, and
 * `allow|deny EXTPORTS ADDR[/LEN] INTPORTS ["regex"]` permission lines.
 * One key table (conf.c) drives parsing, defaults, `-n` printing and the README key list.
 * Unknown key or bad value -> "FILE:LINE: message" and failure; a file either loads whole or not at all. */
#ifndef IGDD_CONF_H
#define IGDD_CONF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "firewall/nft/fw.h"
#include "firewall/core/policy.h"

#define CONF_IFNAMSIZ      16   /* IFNAMSIZ: names are shorter than this */
#define CONF_MAX_LISTEN    8
#define CONF_PATH_MAX      256
#define CONF_SOCKPATH_MAX  108  /* sizeof(sun_path) */
#define CONF_FILE_MAX      (1024 * 1024)
#define CONF_PERM_TEXT_MAX 256
#define CONF_WEB_HOSTNAMES 8
#define CONF_HOSTNAME_MAX  253  /* a DNS name, without a trailing dot */

enum conf_log_level {
	CONF_LOG_INFO = 0,
	CONF_LOG_DEBUG = 1,
};

struct conf {
	char ext_ifname[CONF_IFNAMSIZ];          /* required */
	/* lan_ifname lines live in fw.lan_ifname / fw.n_lan (required: at least one) */
	char listening_ip[CONF_MAX_LISTEN][64];  /* interface name or ADDR[/LEN], miniupnpd compatibility */
	size_t n_listening_ip;
	char state_dir[CONF_PATH_MAX];
	char nft_table[FW_NAME_MAX + 16];        /* as written: "FAMILY NAME"; parsed into fw.family/fw.table */
	char control_socket[CONF_SOCKPATH_MAX];
	bool enable_upnp;
	bool enable_pcp;
	char web_listen[80];                     /* as written; empty = no web server */
	bool web_has_addr;                       /* false: ":PORT" = the LAN addresses */
	struct in6_addr web_addr;
	uint16_t web_port;
	char web_password_hash[256];             /* crypt(3) hash; empty = no web login possible */
	char web_hostname[CONF_WEB_HOSTNAMES][CONF_HOSTNAME_MAX + 1]; /* names the UI may be asked for by */
	size_t n_web_hostname;
	bool force_igd_v1;                       /* serve only the IGD:1 description */
	uint32_t upnp_notify_interval;           /* seconds between SSDP announcements */
	uint32_t upnp_http_port;                 /* 0 = libupnp picks (49152 and up) */
	bool enable_natpmp;                      /* NAT-PMP (RFC 6886) on the PCP port */
	uint32_t pcp_rate_limit;                 /* PCP requests per second per client; 0 = no limit */
	uint32_t pcp_rate_burst;
	char pcp_thirdparty_text[CONF_MAX_LISTEN][64]; /* pcp_allow_thirdparty lines as written */
	struct in6_addr pcp_thirdparty[CONF_MAX_LISTEN];
	uint8_t pcp_thirdparty_len[CONF_MAX_LISTEN];
	size_t n_pcp_thirdparty;
	char upstream_pcp_server[64];            /* as written; empty = RFC 7488 default gateway probe */
	bool has_upstream_pcp;
	struct in6_addr upstream_pcp_addr;
	bool upstream_descriptions;              /* mapping descriptions go to the upstream server too */
	uint16_t ext_port_min, ext_port_max;
	/* CGN (pcpd): the pool lives in fw.nat_pool (the NAT44 rule needs it), the subscriber prefix in
	 * fw.nat_src; these are the rest, read by pcpd/cgn.c */
	char cgn_pool_text[FW_MAX_NAT_POOL][24];  /* cgn_pool lines as written, for -n */
	char cgn_subscribers[24];
	uint32_t cgn_ports_per_subscriber;
	uint16_t cgn_port_min, cgn_port_max;
	char mapping_log[CONF_PATH_MAX];         /* pcpd: mapping records file; empty = syslog */
	char user[32];                           /* drop privileges to; "root" = keep uid 0, drop capabilities */
	int log_level;                           /* enum conf_log_level */
	uint32_t stable_after;                   /* device table: opaque address persisting this long is stable */
	uint32_t forget_after;                   /* device table: absent addresses are forgotten after this */
	char dhcp_leases[CONF_PATH_MAX];         /* dnsmasq's lease file, for device names; "" = none */
	char odhcpd_leases[CONF_PATH_MAX];       /* odhcpd's lease file (OpenWrt), for device names; "" = none */
	bool mdns_names;                         /* device names from mDNS announcements on the LAN */
	char perm_text[POLICY_MAX_PERMS][CONF_PERM_TEXT_MAX]; /* permission lines as written, for -n */
	struct policy_config policy;             /* secure_mode, lifetimes, quotas, pinhole_target, perms */
	struct fw_config fw;                     /* family, table, mode, wan/lan ifnames, chain prefix */
};

/* Fills every key with its default (policy_defaults() first). Required keys stay empty. */
void conf_defaults(struct conf *c);
/* Pure: parses a whole file held in memory (no I/O). 0, or -1 with "FNAME:LINE: message" in err.
 * On failure *out is left in an unspecified but safe state: callers keep their old config. */
int conf_parse_buf(const char *buf, size_t len, const char *fname, struct conf *out, char *err, size_t errlen);
/* Reads FNAME (at most CONF_FILE_MAX bytes) and parses it. 0, or -1 with a message in err. */
int conf_load_file(const char *fname, struct conf *out, char *err, size_t errlen);
/* Prints the effective configuration: every key with its value, then the permission lines. */
void conf_print(const struct conf *c, FILE *f);
/* Prints the key reference (name, default, help) as a Markdown table, for the README. */
void conf_print_reference(FILE *f);

#endif
