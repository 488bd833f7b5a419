/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The configuration file (see conf.h). Every key is declared once, in conf_keys[] below: its type,
 * its default (as text, parsed by the same code as the file, so a default can never be invalid
 * in a way a user value could not), its help text and where it is stored. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/conf.h"

enum conf_type {
	CT_IFNAME,      /* one interface name */
	CT_IFLIST,      /* repeatable interface name (fw.lan_ifname) */
	CT_LISTEN_IP,   /* repeatable interface name or ADDR[/LEN] */
	CT_PATH,        /* absolute path, size bytes max */
	CT_PATH_OPT,    /* absolute path or empty (none) */
	CT_BOOL,        /* yes|no */
	CT_U32,         /* decimal in [min, max] */
	CT_CHOICE,      /* one word out of choices[], stored as an int */
	CT_NFT_TABLE,   /* FAMILY NAME */
	CT_NAME,        /* [A-Za-z0-9_-], nft chain prefix, user name */
	CT_HOSTPORT,    /* web_listen: [ADDR]:PORT or empty */
	CT_ADDR_OPT,    /* an address literal or empty */
	CT_PORTRANGE,   /* MIN-MAX ports */
	CT_PREFIX_LIST, /* repeatable ADDR[/LEN] (pcp_allow_thirdparty) */
	CT_CGN_POOL,    /* repeatable IPv4 ADDR[/LEN] (cgn_pool -> fw.nat_pool) */
	CT_CGN_SUBS,    /* one IPv4 ADDR/LEN (cgn_subscribers -> fw.nat_src) */
	CT_CGN_PORTS,   /* MIN-MAX (cgn_port_range) */
	CT_CRYPT,       /* a crypt(3) hash "$id$..." or empty (web_password_hash) */
	CT_HOSTNAME,    /* repeatable DNS name (web_hostname) */
};

struct conf_choice {
	const char *name;
	int value;
};

struct conf_key {
	const char *name;
	enum conf_type type;
	const char *def;          /* NULL: no default (required or repeatable) */
	const char *help;
	size_t off;
	size_t size;              /* bytes of a string field */
	uint32_t min, max;        /* CT_U32 */
	const struct conf_choice *choices;
};

static const struct conf_choice nft_modes[] = {
	{ "standalone", FW_STANDALONE }, { "integrated", FW_INTEGRATED }, { NULL, 0 },
};
static const struct conf_choice pinhole_targets[] = {
	{ "requested", PINHOLE_TARGET_REQUESTED }, { "stable", PINHOLE_TARGET_STABLE },
	{ "both", PINHOLE_TARGET_BOTH }, { NULL, 0 },
};
static const struct conf_choice log_levels[] = {
	{ "info", CONF_LOG_INFO }, { "debug", CONF_LOG_DEBUG }, { NULL, 0 },
};

#define OFF(field) offsetof(struct conf, field)
#define SZ(field) sizeof(((struct conf *)0)->field)

static const struct conf_key conf_keys[] = {
	{ "ext_ifname", CT_IFNAME, NULL, "WAN interface (required)",
	  OFF(ext_ifname), SZ(ext_ifname), 0, 0, NULL },
	{ "lan_ifname", CT_IFLIST, NULL, "LAN interface, repeatable up to 8 (at least one required)",
	  0, 0, 0, 0, NULL },
	{ "listening_ip", CT_LISTEN_IP, NULL,
	  "LAN interface name or ADDR[/LEN], repeatable; accepted for miniupnpd compatibility",
	  0, 0, 0, 0, NULL },
	{ "state_dir", CT_PATH, "/var/lib/igdd", "directory of igdd's own for the rule store and the UUID (one that "
	  "others may write, or that holds other files, is refused)",
	  OFF(state_dir), SZ(state_dir), 0, 0, NULL },
	{ "nft_table", CT_NFT_TABLE, "inet igdd", "nftables FAMILY NAME of our table (integrated: the host table)",
	  OFF(nft_table), SZ(nft_table), 0, 0, NULL },
	{ "nft_mode", CT_CHOICE, "standalone", "standalone (own table with the RFC 6092 policy) | integrated",
	  OFF(fw.mode), 0, 0, 0, nft_modes },
	{ "nft_chain_prefix", CT_NAME, "igdd_", "integrated mode: prefix of our chain and set names",
	  OFF(fw.chain_prefix), SZ(fw.chain_prefix), 0, 0, NULL },
	{ "control_socket", CT_PATH, "/run/igdd/igdd.sock", "unix socket igdctl talks to (0600, in a private directory: "
	  "writable by no one else)",
	  OFF(control_socket), SZ(control_socket), 0, 0, NULL },
	{ "enable_upnp", CT_BOOL, "yes", "answer UPnP IGD:2 requests",
	  OFF(enable_upnp), 0, 0, 0, NULL },
	{ "enable_pcp", CT_BOOL, "yes", "answer PCP and NAT-PMP requests",
	  OFF(enable_pcp), 0, 0, 0, NULL },
	{ "force_igd_v1", CT_BOOL, "no", "serve the IGD:1 description to every client (IGD:2 by default; "
	  "Windows/Xbox user agents get IGD:1 anyway)", OFF(force_igd_v1), 0, 0, 0, NULL },
	{ "upnp_notify_interval", CT_U32, "900", "seconds between SSDP announcements (max-age is twice this)",
	  OFF(upnp_notify_interval), 0, 30, 86400, NULL },
	{ "upnp_http_port", CT_U32, "0", "port of the UPnP description/SOAP/GENA server; 0 = 49152 or the next free",
	  OFF(upnp_http_port), 0, 0, 65535, NULL },
	{ "enable_natpmp", CT_BOOL, "yes", "answer NAT-PMP (RFC 6886) requests on the PCP port",
	  OFF(enable_natpmp), 0, 0, 0, NULL },
	{ "pcp_allow_thirdparty", CT_PREFIX_LIST, NULL,
	  "ADDR[/LEN] allowed to use PCP THIRD_PARTY for any host, repeatable (none by default; others may name only addresses of their own device)", 0, 0, 0, 0, NULL },
	{ "pcp_rate_limit", CT_U32, "32", "PCP/NAT-PMP requests per second per client (0 = no limit)",
	  OFF(pcp_rate_limit), 0, 0, 1000000u, NULL },
	{ "pcp_rate_burst", CT_U32, "64", "requests a client may send at once above the rate",
	  OFF(pcp_rate_burst), 0, 1, 1000000u, NULL },
	{ "web_listen", CT_HOSTPORT, ":8080", "web UI [ADDR]:PORT; \":PORT\" = on every LAN interface; ADDR = an "
	  "address of a LAN interface (or the loopback), answered only as it arrives there; empty = off",
	  OFF(web_listen), SZ(web_listen), 0, 0, NULL },
	{ "web_password_hash", CT_CRYPT, "", "web UI password as a crypt(3) hash (`igdctl passwd` prints the line); empty = no login",
	  OFF(web_password_hash), SZ(web_password_hash), 0, 0, NULL },
	{ "web_hostname", CT_HOSTNAME, NULL, "web UI: a DNS name it may be asked for by (the Host header), "
	  "repeatable up to 8; its own addresses and `localhost` always work, other names get 421 (DNS rebinding)",
	  0, 0, 0, 0, NULL },
	{ "upstream_pcp_server", CT_ADDR_OPT, "", "upstream PCP server; empty = the default gateway (RFC 7488)",
	  OFF(upstream_pcp_server), SZ(upstream_pcp_server), 0, 0, NULL },
	{ "upstream_descriptions", CT_BOOL, "no", "send each mapping's description (the app's name for it) to "
	  "the upstream PCP server (the ISP's CGN) too", OFF(upstream_descriptions), 0, 0, 0, NULL },
	{ "secure_mode", CT_BOOL, "yes", "a client may only open ports for its own device",
	  OFF(policy.secure_mode), 0, 0, 0, NULL },
	{ "allow_low_ports", CT_BOOL, "no", "let clients open ports below 1024",
	  OFF(policy.allow_low_ports), 0, 0, 0, NULL },
	{ "allow_temporary", CT_BOOL, "yes", "pinholes may target temporary (RFC 8981) addresses",
	  OFF(policy.allow_temporary), 0, 0, 0, NULL },
	{ "pinhole_target", CT_CHOICE, "both", "requested | stable | both: which address of a device a pinhole opens",
	  OFF(policy.pinhole_target), 0, 0, 0, pinhole_targets },
	{ "min_lifetime", CT_U32, "120", "shortest lease granted, seconds (not to UPnP: kept as asked)",
	  OFF(policy.min_lifetime), 0, 1, 2147483647u, NULL },
	{ "max_lifetime", CT_U32, "86400", "longest lease granted, seconds (a lease of 0 asks for this)",
	  OFF(policy.max_lifetime), 0, 1, 2147483647u, NULL },
	{ "max_rules", CT_U32, "65535", "rules in the whole table",
	  OFF(policy.max_rules), 0, 1, 1048576u, NULL },
	{ "max_rules_per_client", CT_U32, "256", "rules one client may hold",
	  OFF(policy.max_rules_per_client), 0, 1, 1048576u, NULL },
	{ "ext_port_range", CT_PORTRANGE, "1024-65535", "external ports picked for port mappings, MIN-MAX",
	  0, 0, 0, 0, NULL },
	{ "cgn_pool", CT_CGN_POOL, NULL,
	  "pcpd on a CGN: external IPv4 ADDR[/LEN] of the NAT44 pool, repeatable; together one contiguous range "
	  "(none = no CGN: mappings use the WAN address)", 0, 0, 0, 0, NULL },
	{ "cgn_subscribers", CT_CGN_SUBS, "100.64.0.0/10", "CGN: IPv4 PREFIX of the subscribers NATed to the pool",
	  OFF(cgn_subscribers), SZ(cgn_subscribers), 0, 0, NULL },
	{ "cgn_ports_per_subscriber", CT_U32, "1024",
	  "CGN: external ports each subscriber owns on its pool address (its PCP mapping quota per protocol)",
	  OFF(cgn_ports_per_subscriber), 0, 1, 65535u, NULL },
	{ "cgn_port_range", CT_CGN_PORTS, "1024-65535", "CGN: external ports cut into subscriber blocks, MIN-MAX",
	  0, 0, 0, 0, NULL },
	{ "mapping_log", CT_PATH_OPT, NULL, "pcpd: file each mapping's create/delete/expire record is appended to (one line "
	  "each, see \"Records for the operator\"); none = the same lines to syslog",
	  OFF(mapping_log), SZ(mapping_log), 0, 0, NULL },
	{ "user", CT_NAME, "igdd", "user to run as after start-up, a system user of its own (root = keep uid 0, "
	  "drop capabilities)",
	  OFF(user), SZ(user), 0, 0, NULL },
	{ "log_level", CT_CHOICE, "info", "info | debug",
	  OFF(log_level), 0, 0, 0, log_levels },
	{ "stable_after", CT_U32, "90000", "seconds an opaque LAN address must persist to count as stable "
	  "(RFC 7217), not temporary (RFC 8981, preferred for at most 1 day)",
	  OFF(stable_after), 0, 1, 2147483647u, NULL },
	{ "forget_after", CT_U32, "172800", "seconds a LAN address that left the neighbour table is remembered",
	  OFF(forget_after), 0, 1, 2147483647u, NULL },
	{ "dhcp_leases", CT_PATH_OPT, "/var/lib/misc/dnsmasq.leases", "dnsmasq's lease file (dhcp-leasefile; "
	  "OpenWrt: /tmp/dhcp.leases): devices are named by the hostname their DHCP client sent; empty = none",
	  OFF(dhcp_leases), SZ(dhcp_leases), 0, 0, NULL },
	{ "odhcpd_leases", CT_PATH_OPT, "", "odhcpd's lease file (OpenWrt: option leasefile, e.g. "
	  "/tmp/hosts/odhcpd): the same from odhcpd's DHCPv4/DHCPv6 leases; empty = none",
	  OFF(odhcpd_leases), SZ(odhcpd_leases), 0, 0, NULL },
	{ "mdns_names", CT_BOOL, "yes", "name devices by the host name they announce over mDNS on the LAN "
	  "(listens on port 5353, never sends)",
	  OFF(mdns_names), 0, 0, 0, NULL },
};
#define N_KEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static void *field(struct conf *c, const struct conf_key *k)
{
	return (char *)c + k->off;
}

static const void *cfield(const struct conf *c, const struct conf_key *k)
{
	return (const char *)c + k->off;
}

static bool set_string(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	if (strlen(v) >= k->size) {
		snprintf(err, errlen, "value too long (at most %zu bytes)", k->size - 1);
		return false;
	}
	strcpy(field(c, k), v);
	return true;
}

/* Linux interface names: 1..15 bytes, no '/', no whitespace, not "." or "..". */
static bool ifname_ok(const char *v, char *err, size_t errlen)
{
	size_t n = strlen(v);

	if (n == 0 || n >= CONF_IFNAMSIZ) {
		snprintf(err, errlen, "interface name must be 1 to %d bytes", CONF_IFNAMSIZ - 1);
		return false;
	}
	if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
		snprintf(err, errlen, "bad interface name '%s'", v);
		return false;
	}
	for (const char *p = v; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p) || !isprint((unsigned char)*p)) {
			snprintf(err, errlen, "bad interface name '%s'", v);
			return false;
		}
	return true;
}

static bool name_ok(const char *v, bool allow_empty)
{
	if (!allow_empty && *v == '\0')
		return false;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return false;
	return true;
}

static bool parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long n = 0;

	if (*v == '\0')
		return false;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		n = n * 10 + (unsigned)(*p - '0');
		if (n > max)
			return false;
	}
	if (n < min)
		return false;
	*out = (uint32_t)n;
	return true;
}

static bool parse_ifname(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	return ifname_ok(v, err, errlen) && set_string(c, k, v, err, errlen);
}

static bool parse_iflist(struct conf *c, const char *v, char *err, size_t errlen)
{
	if (!ifname_ok(v, err, errlen))
		return false;
	for (size_t i = 0; i < c->fw.n_lan; i++)
		if (strcmp(c->fw.lan_ifname[i], v) == 0) {
			snprintf(err, errlen, "interface '%s' listed twice", v);
			return false;
		}
	if (c->fw.n_lan >= FW_MAX_IFNAMES) {
		snprintf(err, errlen, "at most %d LAN interfaces", FW_MAX_IFNAMES);
		return false;
	}
	strcpy(c->fw.lan_ifname[c->fw.n_lan++], v);
	return true;
}

static bool parse_listen_ip(struct conf *c, const char *v, char *err, size_t errlen)
{
	struct in6_addr a;
	uint8_t len;
	char ignored[8];

	if (c->n_listening_ip >= CONF_MAX_LISTEN) {
		snprintf(err, errlen, "at most %d listening_ip lines", CONF_MAX_LISTEN);
		return false;
	}
	if (strlen(v) >= sizeof(c->listening_ip[0])) {
		snprintf(err, errlen, "value too long");
		return false;
	}
	/* an address literal, a prefix, or else it must look like an interface name */
	if (!addr_parse_prefix(v, &a, &len) && !ifname_ok(v, ignored, sizeof(ignored))) {
		snprintf(err, errlen, "'%s' is neither an address[/len] nor an interface name", v);
		return false;
	}
	strcpy(c->listening_ip[c->n_listening_ip++], v);
	return true;
}

static bool parse_prefix_list(struct conf *c, const char *v, char *err, size_t errlen)
{
	size_t i = c->n_pcp_thirdparty;

	if (i >= CONF_MAX_LISTEN) {
		snprintf(err, errlen, "at most %d pcp_allow_thirdparty lines", CONF_MAX_LISTEN);
		return false;
	}
	if (strlen(v) >= sizeof(c->pcp_thirdparty_text[0]) ||
	    !addr_parse_prefix(v, &c->pcp_thirdparty[i], &c->pcp_thirdparty_len[i])) {
		snprintf(err, errlen, "expected ADDR[/LEN], not '%s'", v);
		return false;
	}
	strcpy(c->pcp_thirdparty_text[i], v);
	c->n_pcp_thirdparty++;
	return true;
}

/* A DNS name: dot-separated labels of letters, digits and inner '-' (RFC 1123), 1-63 bytes each. */
static bool hostname_ok(const char *v)
{
	size_t n = strlen(v), label = 0;

	if (n == 0 || n > CONF_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '.') {
			if (label == 0 || v[i - 1] == '-')
				return false;
			label = 0;
		} else if (isalnum((unsigned char)v[i]) || (v[i] == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && v[n - 1] != '-';
}

static bool parse_hostname(struct conf *c, const char *v, char *err, size_t errlen)
{
	if (c->n_web_hostname >= CONF_WEB_HOSTNAMES) {
		snprintf(err, errlen, "at most %d web_hostname lines", CONF_WEB_HOSTNAMES);
		return false;
	}
	if (!hostname_ok(v)) {
		snprintf(err, errlen, "expected a DNS name like router.lan, not '%s'", v);
		return false;
	}
	strcpy(c->web_hostname[c->n_web_hostname++], v);
	return true;
}

static bool parse_cgn_pool(struct conf *c, const char *v, char *err, size_t errlen)
{
	size_t i = c->fw.n_nat_pool;
	struct in6_addr a;
	uint8_t len;

	if (i >= FW_MAX_NAT_POOL) {
		snprintf(err, errlen, "at most %d cgn_pool lines", FW_MAX_NAT_POOL);
		return false;
	}
	if (strlen(v) >= sizeof(c->cgn_pool_text[0]) || !addr_parse_prefix(v, &a, &len) || !addr_is_v4(&a)) {
		snprintf(err, errlen, "expected an IPv4 ADDR[/LEN], not '%s'", v);
		return false;
	}
	memcpy(&c->fw.nat_pool[i], &a.s6_addr[12], 4);
	c->fw.nat_pool_len[i] = (uint8_t)(len - 96);
	strcpy(c->cgn_pool_text[i], v);
	c->fw.n_nat_pool++;
	return true;
}

static bool parse_cgn_subs(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	struct in6_addr a;
	uint8_t len;

	if (!addr_parse_prefix(v, &a, &len) || !addr_is_v4(&a)) {
		snprintf(err, errlen, "expected an IPv4 ADDR/LEN, not '%s'", v);
		return false;
	}
	memcpy(&c->fw.nat_src, &a.s6_addr[12], 4);
	c->fw.nat_src_len = (uint8_t)(len - 96);
	return set_string(c, k, v, err, errlen);
}

static bool parse_path(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	/* absolute, because the daemon changes to / when it detaches; empty = none, where that is allowed */
	if (v[0] != '/' && !(k->type == CT_PATH_OPT && v[0] == '\0')) {
		snprintf(err, errlen, "must be an absolute path");
		return false;
	}
	return set_string(c, k, v, err, errlen);
}

static bool parse_bool(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	bool *b = field(c, k);

	if (strcmp(v, "yes") == 0) {
		*b = true;
	} else if (strcmp(v, "no") == 0) {
		*b = false;
	} else {
		snprintf(err, errlen, "expected yes or no, not '%s'", v);
		return false;
	}
	return true;
}

static bool parse_number(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	uint32_t n;

	if (!parse_u32(v, k->min, k->max, &n)) {
		snprintf(err, errlen, "expected a number from %u to %u, not '%s'", k->min, k->max, v);
		return false;
	}
	memcpy(field(c, k), &n, sizeof(n));
	return true;
}

static bool parse_choice(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	char list[128] = "";

	for (const struct conf_choice *ch = k->choices; ch->name; ch++) {
		if (strcmp(ch->name, v) == 0) {
			int value = ch->value;

			/* the fields are enums or ints: all int-sized on our ABIs */
			memcpy(field(c, k), &value, sizeof(value));
			return true;
		}
		if (list[0])
			strncat(list, "|", sizeof(list) - strlen(list) - 1);
		strncat(list, ch->name, sizeof(list) - strlen(list) - 1);
	}
	snprintf(err, errlen, "expected %s, not '%s'", list, v);
	return false;
}

static bool parse_nft_table(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	const char *sp = strchr(v, ' ');
	size_t flen;

	if (!sp) {
		snprintf(err, errlen, "expected FAMILY NAME, e.g. \"inet igdd\"");
		return false;
	}
	flen = (size_t)(sp - v);
	/* pinholes (ip6) and port mappings (ip) share one table: only inet holds both */
	if (flen != 4 || strncmp(v, "inet", 4) != 0) {
		snprintf(err, errlen, "the table family must be inet");
		return false;
	}
	while (*sp == ' ')
		sp++;
	if (!name_ok(sp, false) || strlen(sp) >= sizeof(c->fw.table)) {
		snprintf(err, errlen, "bad table name '%s'", sp);
		return false;
	}
	if (!set_string(c, k, v, err, errlen))
		return false;
	strcpy(c->fw.family, "inet");
	strcpy(c->fw.table, sp);
	return true;
}

static bool parse_name(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	if (!name_ok(v, false)) {
		snprintf(err, errlen, "'%s' may hold only letters, digits, '_' and '-'", v);
		return false;
	}
	return set_string(c, k, v, err, errlen);
}

/* "[ADDR]:PORT", "ADDR4:PORT", ":PORT", or empty (off). */
static bool parse_hostport(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	const char *text = v, *colon = strrchr(v, ':');
	char host[64];
	size_t hlen;
	uint32_t port;

	if (*v == '\0') {
		c->web_has_addr = false;
		c->web_port = 0;
		return set_string(c, k, v, err, errlen);
	}
	if (!colon || !parse_u32(colon + 1, 1, 65535, &port)) {
		snprintf(err, errlen, "expected [ADDR]:PORT with PORT 1-65535, not '%s'", v);
		return false;
	}
	hlen = (size_t)(colon - v);
	if (hlen >= 2 && v[0] == '[' && v[hlen - 1] == ']') {
		v++;
		hlen -= 2;
	} else if (memchr(v, ':', hlen)) {
		snprintf(err, errlen, "write an IPv6 address in brackets: [ADDR]:PORT");
		return false;
	}
	if (hlen >= sizeof(host)) {
		snprintf(err, errlen, "address too long");
		return false;
	}
	memcpy(host, v, hlen);
	host[hlen] = '\0';
	c->web_has_addr = hlen > 0;
	memset(&c->web_addr, 0, sizeof(c->web_addr));
	if (hlen > 0 && !addr_parse(host, &c->web_addr)) {
		snprintf(err, errlen, "bad address '%s'", host);
		return false;
	}
	c->web_port = (uint16_t)port;
	return set_string(c, k, text, err, errlen);
}

static bool parse_addr_opt(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	c->has_upstream_pcp = *v != '\0';
	memset(&c->upstream_pcp_addr, 0, sizeof(c->upstream_pcp_addr));
	if (c->has_upstream_pcp && !addr_parse(v, &c->upstream_pcp_addr)) {
		snprintf(err, errlen, "bad address '%s'", v);
		return false;
	}
	return set_string(c, k, v, err, errlen);
}

static bool parse_portrange_to(const char *v, uint16_t *out_min, uint16_t *out_max, char *err, size_t errlen)
{
	const char *dash = strchr(v, '-');
	char lo[8];
	uint32_t min, max;

	if (!dash || (size_t)(dash - v) >= sizeof(lo)) {
		snprintf(err, errlen, "expected MIN-MAX, not '%s'", v);
		return false;
	}
	memcpy(lo, v, (size_t)(dash - v));
	lo[dash - v] = '\0';
	if (!parse_u32(lo, 1, 65535, &min) || !parse_u32(dash + 1, 1, 65535, &max) || min > max) {
		snprintf(err, errlen, "expected MIN-MAX with 1 <= MIN <= MAX <= 65535, not '%s'", v);
		return false;
	}
	*out_min = (uint16_t)min;
	*out_max = (uint16_t)max;
	return true;
}

static bool parse_portrange(struct conf *c, const char *v, char *err, size_t errlen)
{
	return parse_portrange_to(v, &c->ext_port_min, &c->ext_port_max, err, errlen);
}

/* Empty, or "$id$..." in the crypt(3) alphabet: a typo is caught here, not at the first login. */
static bool parse_crypt(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("./$,=", *p)) {
			snprintf(err, errlen, "not a crypt(3) hash (use the line igdctl passwd prints)");
			return false;
		}
	if (*v && (v[0] != '$' || strlen(v) < 4)) {
		snprintf(err, errlen, "not a crypt(3) hash (use the line igdctl passwd prints)");
		return false;
	}
	return set_string(c, k, v, err, errlen);
}

static bool parse_value(struct conf *c, const struct conf_key *k, const char *v, char *err, size_t errlen)
{
	switch (k->type) {
	case CT_IFNAME:     return parse_ifname(c, k, v, err, errlen);
	case CT_IFLIST:     return parse_iflist(c, v, err, errlen);
	case CT_LISTEN_IP:  return parse_listen_ip(c, v, err, errlen);
	case CT_PATH:
	case CT_PATH_OPT:   return parse_path(c, k, v, err, errlen);
	case CT_BOOL:       return parse_bool(c, k, v, err, errlen);
	case CT_U32:        return parse_number(c, k, v, err, errlen);
	case CT_CHOICE:     return parse_choice(c, k, v, err, errlen);
	case CT_NFT_TABLE:  return parse_nft_table(c, k, v, err, errlen);
	case CT_NAME:       return parse_name(c, k, v, err, errlen);
	case CT_HOSTPORT:   return parse_hostport(c, k, v, err, errlen);
	case CT_ADDR_OPT:   return parse_addr_opt(c, k, v, err, errlen);
	case CT_PORTRANGE:  return parse_portrange(c, v, err, errlen);
	case CT_PREFIX_LIST: return parse_prefix_list(c, v, err, errlen);
	case CT_CGN_POOL:   return parse_cgn_pool(c, v, err, errlen);
	case CT_CGN_SUBS:   return parse_cgn_subs(c, k, v, err, errlen);
	case CT_CGN_PORTS:  return parse_portrange_to(v, &c->cgn_port_min, &c->cgn_port_max, err, errlen);
	case CT_CRYPT:      return parse_crypt(c, k, v, err, errlen);
	case CT_HOSTNAME:   return parse_hostname(c, v, err, errlen);
	}
	snprintf(err, errlen, "internal: key type %d", (int)k->type);
	return false;
}

static bool key_repeatable(const struct conf_key *k)
{
	return k->type == CT_IFLIST || k->type == CT_LISTEN_IP || k->type == CT_PREFIX_LIST ||
	       k->type == CT_CGN_POOL || k->type == CT_HOSTNAME;
}

void conf_defaults(struct conf *c)
{
	char err[128];

	memset(c, 0, sizeof(*c));
	policy_defaults(&c->policy);
	for (size_t i = 0; i < N_KEYS; i++)
		if (conf_keys[i].def && !parse_value(c, &conf_keys[i], conf_keys[i].def, err, sizeof(err)))
			abort(); /* a default the key's own parser refuses: a bug in the table above */
}

static const struct conf_key *find_key(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool is_perm_line(const char *s)
{
	return (strncmp(s, "allow", 5) == 0 && (s[5] == ' ' || s[5] == '\t')) ||
	       (strncmp(s, "deny", 4) == 0 && (s[4] == ' ' || s[4] == '\t'));
}

static bool parse_perm_line(struct conf *c, const char *s, char *err, size_t errlen)
{
	if (c->policy.n_perms >= POLICY_MAX_PERMS) {
		snprintf(err, errlen, "at most %d permission lines", POLICY_MAX_PERMS);
		return false;
	}
	if (strlen(s) >= CONF_PERM_TEXT_MAX) {
		snprintf(err, errlen, "permission line too long");
		return false;
	}
	if (!policy_parse_perm(s, &c->policy.perms[c->policy.n_perms], err, errlen))
		return false;
	strcpy(c->perm_text[c->policy.n_perms++], s);
	return true;
}

/* One non-empty, non-comment line. seen[] catches a non-repeatable key given twice. */
static bool parse_line(struct conf *c, char *s, bool seen[], char *err, size_t errlen)
{
	char *eq, *name, *value, why[256];
	const struct conf_key *k;

	if (is_perm_line(s))
		return parse_perm_line(c, s, err, errlen);
	eq = strchr(s, '=');
	if (!eq) {
		snprintf(err, errlen, "expected key=value or an allow/deny line");
		return false;
	}
	*eq = '\0';
	name = trim(s);
	value = trim(eq + 1);
	k = find_key(name);
	if (!k) {
		snprintf(err, errlen, "unknown key '%.64s'", name);
		return false;
	}
	if (!key_repeatable(k)) {
		if (seen[k - conf_keys]) {
			snprintf(err, errlen, "%s given twice", k->name);
			return false;
		}
		seen[k - conf_keys] = true;
	}
	if (!parse_value(c, k, value, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", k->name, why);
		return false;
	}
	return true;
}

/* Checks that need the whole file: required keys and relations between keys. */
static bool conf_finish(struct conf *c, char *err, size_t errlen)
{
	if (c->ext_ifname[0] == '\0') {
		snprintf(err, errlen, "ext_ifname is required");
		return false;
	}
	if (c->fw.n_lan == 0) {
		snprintf(err, errlen, "at least one lan_ifname is required");
		return false;
	}
	for (size_t i = 0; i < c->fw.n_lan; i++)
		if (strcmp(c->fw.lan_ifname[i], c->ext_ifname) == 0) {
			snprintf(err, errlen, "%s is both ext_ifname and lan_ifname", c->ext_ifname);
			return false;
		}
	if (c->fw.n_nat_pool > 0) {
		struct in_addr lo, hi;
		uint32_t span = (uint32_t)c->cgn_port_max - c->cgn_port_min + 1u;

		if (!fw_nat_pool_range(&c->fw, &lo, &hi)) {
			snprintf(err, errlen, "cgn_pool lines must form one contiguous range without overlaps "
				 "(the NAT44 is one snat range)");
			return false;
		}
		if (c->cgn_ports_per_subscriber > span) {
			snprintf(err, errlen, "cgn_ports_per_subscriber (%u) is above the %u ports of cgn_port_range",
				 c->cgn_ports_per_subscriber, span);
			return false;
		}
	}
	if (c->policy.min_lifetime > c->policy.max_lifetime) {
		snprintf(err, errlen, "min_lifetime (%u) is above max_lifetime (%u)",
			 c->policy.min_lifetime, c->policy.max_lifetime);
		return false;
	}
	if (c->policy.max_rules_per_client > c->policy.max_rules) {
		snprintf(err, errlen, "max_rules_per_client (%u) is above max_rules (%u)",
			 c->policy.max_rules_per_client, c->policy.max_rules);
		return false;
	}
	strcpy(c->fw.wan_ifname[0], c->ext_ifname);
	c->fw.n_wan = 1;
	if (c->fw.n_nat_pool > 0) {
		/* the backend's block map follows the same layout as pcpd's PCP blocks (fw_nat_blocks) */
		c->fw.nat_port_min = c->cgn_port_min;
		c->fw.nat_port_max = c->cgn_port_max;
		c->fw.nat_block_size = c->cgn_ports_per_subscriber;
	}
	return true;
}

int conf_parse_buf(const char *buf, size_t len, const char *fname, struct conf *out, char *err, size_t errlen)
{
	bool seen[N_KEYS] = { false };
	char line[1024], msg[512];
	size_t pos = 0, lineno = 0;

	conf_defaults(out);
	if (!fname)
		fname = "(config)";
	if (!buf)
		len = 0;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		char *s;

		lineno++;
		if (n >= sizeof(line)) {
			snprintf(err, errlen, "%s:%zu: line too long (at most %zu bytes)", fname, lineno,
				 sizeof(line) - 1);
			return -1;
		}
		if (memchr(buf + pos, '\0', n)) {
			snprintf(err, errlen, "%s:%zu: NUL byte in line", fname, lineno);
			return -1;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos += n + 1;
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (!parse_line(out, s, seen, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s:%zu: %s", fname, lineno, msg);
			return -1;
		}
	}
	if (!conf_finish(out, msg, sizeof(msg))) {
		snprintf(err, errlen, "%s: %s", fname, msg);
		return -1;
	}
	return 0;
}

int conf_load_file(const char *fname, struct conf *out, char *err, size_t errlen)
{
	char *buf;
	size_t len = 0;
	ssize_t n;
	int fd, rc;

	fd = open(fname, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", fname, strerror(errno));
		return -1;
	}
	buf = malloc(CONF_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", fname);
		return -1;
	}
	while ((n = read(fd, buf + len, CONF_FILE_MAX + 1 - len)) > 0 && len + (size_t)n <= CONF_FILE_MAX)
		len += (size_t)n;
	if (n < 0 || n > 0) {
		snprintf(err, errlen, "%s: %s", fname, n < 0 ? strerror(errno) : "file too large");
		close(fd);
		free(buf);
		return -1;
	}
	close(fd);
	rc = conf_parse_buf(buf, len, fname, out, err, errlen);
	free(buf);
	return rc;
}

static const char *choice_name(const struct conf_key *k, int value)
{
	for (const struct conf_choice *ch = k->choices; ch->name; ch++)
		if (ch->value == value)
			return ch->name;
	return "?";
}

static void print_key(const struct conf *c, const struct conf_key *k, FILE *f)
{
	uint32_t u;
	int i;

	switch (k->type) {
	case CT_IFLIST:
		for (size_t j = 0; j < c->fw.n_lan; j++)
			fprintf(f, "%s=%s\n", k->name, c->fw.lan_ifname[j]);
		return;
	case CT_LISTEN_IP:
		for (size_t j = 0; j < c->n_listening_ip; j++)
			fprintf(f, "%s=%s\n", k->name, c->listening_ip[j]);
		return;
	case CT_PREFIX_LIST:
		for (size_t j = 0; j < c->n_pcp_thirdparty; j++)
			fprintf(f, "%s=%s\n", k->name, c->pcp_thirdparty_text[j]);
		return;
	case CT_HOSTNAME:
		for (size_t j = 0; j < c->n_web_hostname; j++)
			fprintf(f, "%s=%s\n", k->name, c->web_hostname[j]);
		return;
	case CT_CGN_POOL:
		for (size_t j = 0; j < c->fw.n_nat_pool; j++)
			fprintf(f, "%s=%s\n", k->name, c->cgn_pool_text[j]);
		return;
	case CT_CGN_PORTS:
		fprintf(f, "%s=%u-%u\n", k->name, c->cgn_port_min, c->cgn_port_max);
		return;
	case CT_BOOL:
		fprintf(f, "%s=%s\n", k->name, *(const bool *)cfield(c, k) ? "yes" : "no");
		return;
	case CT_U32:
		memcpy(&u, cfield(c, k), sizeof(u));
		fprintf(f, "%s=%u\n", k->name, u);
		return;
	case CT_CHOICE:
		memcpy(&i, cfield(c, k), sizeof(i));
		fprintf(f, "%s=%s\n", k->name, choice_name(k, i));
		return;
	case CT_PORTRANGE:
		fprintf(f, "%s=%u-%u\n", k->name, c->ext_port_min, c->ext_port_max);
		return;
	case CT_IFNAME:
	case CT_PATH:
	case CT_PATH_OPT:
	case CT_NFT_TABLE:
	case CT_NAME:
	case CT_HOSTPORT:
	case CT_ADDR_OPT:
	case CT_CRYPT:
	case CT_CGN_SUBS:
		fprintf(f, "%s=%s\n", k->name, (const char *)cfield(c, k));
		return;
	}
}

void conf_print(const struct conf *c, FILE *f)
{
	for (size_t i = 0; i < N_KEYS; i++)
		print_key(c, &conf_keys[i], f);
	for (size_t i = 0; i < c->policy.n_perms; i++)
		fprintf(f, "%s\n", c->perm_text[i]);
}

/* Markdown table cells: a '|' would end the cell. */
static void put_cell(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', f);
		fputc(*s, f);
	}
}

void conf_print_reference(FILE *f)
{
	fprintf(f, "| key | default | meaning |\n|---|---|---|\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		fprintf(f, "| `%s` | ", k->name);
		if (!k->def)
			fprintf(f, "(none)");
		else if (!*k->def)
			fprintf(f, "(empty)");
		else
			fprintf(f, "`%s`", k->def);
		fprintf(f, " | ");
		put_cell(f, k->help);
		fprintf(f, " |\n");
	}
	fprintf(f, "| `allow`/`deny` lines | (none) | ");
	put_cell(f, "allow|deny EXTPORTS ADDR[/LEN] INTPORTS [\"regex\"]; the first match wins");
	fprintf(f, " |\n");
}
