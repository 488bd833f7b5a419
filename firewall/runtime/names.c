/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names from DHCP lease files and mDNS messages (see names.h). No I/O. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "firewall/runtime/names.h"
#include "firewall/lib/utf8.h"

size_t names_clean(const void *in, size_t len, char out[DEVICE_NAME_MAX + 1])
{
	const unsigned char *s = in;
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		char one[5] = { 0 };

		if (n)
			memcpy(one, s + i, n);
		if (n && s[i] != '\\' && s[i] != '\0' && device_name_valid(one)) {
			if (o + n > DEVICE_NAME_MAX)
				break;
			memcpy(out + o, one, n);
			o += n;
			i += n;
		} else {   /* one byte at a time, so broken UTF-8 shows what it was */
			if (o + 4 > DEVICE_NAME_MAX)
				break;
			snprintf(out + o, 5, "\\x%02x", s[i]);
			o += 4;
			i++;
		}
	}
	out[o] = '\0';
	return o;
}

/* ---- lease files ---- */

#define MAX_FIELDS 24

struct fields {
	size_t n;
	const char *p[MAX_FIELDS];
	size_t len[MAX_FIELDS];
};

/* Splits on blanks; false when there are more than MAX_FIELDS fields. */
static bool split(const char *line, size_t len, struct fields *f)
{
	f->n = 0;
	for (size_t i = 0; i < len;) {
		size_t j;

		while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
			i++;
		if (i == len)
			break;
		for (j = i; j < len && line[j] != ' ' && line[j] != '\t' && line[j] != '\r'; j++)
			;
		if (f->n == MAX_FIELDS)
			return false;
		f->p[f->n] = line + i;
		f->len[f->n++] = j - i;
		i = j;
	}
	return true;
}

static bool field_is(const struct fields *f, size_t i, const char *s)
{
	return i < f->n && f->len[i] == strlen(s) && memcmp(f->p[i], s, f->len[i]) == 0;
}

/* A copy of field i, NUL-terminated, if it fits buf. */
static bool field_copy(const struct fields *f, size_t i, char *buf, size_t size)
{
	if (i >= f->n || f->len[i] >= size)
		return false;
	memcpy(buf, f->p[i], f->len[i]);
	buf[f->len[i]] = '\0';
	return true;
}

/* An address (IPv6, or IPv4 as ::ffff:a.b.c.d), ignoring a "/len" suffix. */
static bool field_addr(const struct fields *f, size_t i, struct in6_addr *a)
{
	char buf[64], *slash;
	struct in_addr v4;

	if (!field_copy(f, i, buf, sizeof(buf)))
		return false;
	if ((slash = strchr(buf, '/')))
		*slash = '\0';
	if (inet_pton(AF_INET6, buf, a) == 1)
		return true;
	if (inet_pton(AF_INET, buf, &v4) != 1)
		return false;
	memset(a, 0, sizeof(*a));
	a->s6_addr[10] = a->s6_addr[11] = 0xff;
	memcpy(&a->s6_addr[12], &v4, 4);
	return true;
}

static bool field_i64(const struct fields *f, size_t i, int64_t *v)
{
	char buf[24], *end;
	long long x;

	if (!field_copy(f, i, buf, sizeof(buf)) || !buf[0])
		return false;
	x = strtoll(buf, &end, 10);
	if (*end)
		return false;
	*v = x;
	return true;
}

/* Six groups of one or two hex digits (odhcpd writes it with ether_ntoa: "52:54:0:12:34:1"). */
static bool field_mac(const struct fields *f, size_t i, uint8_t mac[6])
{
	const char *p = f->p[i], *end = p + f->len[i];

	for (int g = 0; g < 6; g++) {
		unsigned v = 0, digits = 0;

		while (p < end && *p != ':' && digits < 3) {
			char c = (char)(*p | 0x20);

			if (*p >= '0' && *p <= '9')
				v = v * 16 + (unsigned)(*p - '0');
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + (unsigned)(c - 'a' + 10);
			else
				return false;
			p++;
			digits++;
		}
		if (digits == 0 || digits > 2 || (g < 5 ? (p == end || *p != ':') : p != end))
			return false;
		mac[g] = (uint8_t)v;
		p++;
	}
	return mac_usable(mac);
}

/* A hostname field: its first label (a lease may carry a domain), cleaned. false when empty. */
static bool field_hostname(const struct fields *f, size_t i, char name[DEVICE_NAME_MAX + 1])
{
	const char *dot = memchr(f->p[i], '.', f->len[i]);
	size_t len = dot ? (size_t)(dot - f->p[i]) : f->len[i];

	return len > 0 && names_clean(f->p[i], len, name) > 0;
}

/* dnsmasq, one lease per line:
 *   DHCPv4: EXPIRY MAC IPV4 HOSTNAME CLIENTID   (MAC as "hwtype-xx:.." for other than Ethernet)
 *   "duid SERVERDUID", then DHCPv6: EXPIRY [T]IAID IPV6 HOSTNAME CLIENTID
 * EXPIRY 0 = never; HOSTNAME "*" = none. */
static int dnsmasq_line(const struct fields *f, int64_t now, struct names_lease *out)
{
	int64_t expiry;

	if (f->n == 0 || field_is(f, 0, "duid"))
		return 0;
	if (f->n < 4 || f->n > 5 || !field_i64(f, 0, &expiry) || expiry < 0 || !field_addr(f, 2, &out->addr[0]))
		return -1;
	out->naddrs = 1;
	out->has_mac = field_mac(f, 1, out->mac);
	if (field_is(f, 3, "*") || (now > 0 && expiry != 0 && expiry < now))
		return 0;
	return field_hostname(f, 3, out->name) ? 1 : 0;
}

/* odhcpd's leasefile (OpenWrt), one client per line:
 *   # IFACE DUID IAID HOSTNAME VALID HEXADDR PREFIXLEN ADDR/LEN...     (DHCPv6)
 *   # IFACE MAC ipv4 HOSTNAME VALID HEXADDR 32 ADDR/32                  (DHCPv4)
 * VALID: unix time it ends, -1 never, 0 over. HOSTNAME "-" = none; one odhcpd judged invalid is
 * written as "broken\x20..." and is not taken. Lines without "#" are hosts-file lines for the DNS
 * server: ADDR FQDN [NAME...]. */
static int odhcpd_line(const struct fields *f, int64_t now, struct names_lease *out)
{
	int64_t valid;

	if (f->n == 0)
		return 0;
	if (!field_is(f, 0, "#")) {
		if (f->p[0][0] == '#')
			return 0;   /* a comment of another kind */
		if (f->n < 2 || !field_addr(f, 0, &out->addr[0]))
			return -1;
		out->naddrs = 1;
		return field_hostname(f, 1, out->name) ? 1 : 0;
	}
	if (f->n < 8 || !field_i64(f, 5, &valid))
		return -1;
	out->has_mac = field_is(f, 3, "ipv4") && field_mac(f, 2, out->mac);
	for (size_t i = 8; i < f->n && out->naddrs < NAMES_LEASE_ADDRS; i++)
		if (field_addr(f, i, &out->addr[out->naddrs]))
			out->naddrs++;
	if (field_is(f, 4, "-") || (f->len[4] >= 6 && memcmp(f->p[4], "broken", 6) == 0))
		return 0;
	if (valid == 0 || (now > 0 && valid > 0 && valid < now))
		return 0;
	if (!out->has_mac && out->naddrs == 0)
		return 0;
	return field_hostname(f, 4, out->name) ? 1 : 0;
}

int names_lease_line(enum names_lease_format fmt, const char *line, size_t len, int64_t now,
		     struct names_lease *out)
{
	struct fields f;

	memset(out, 0, sizeof(*out));
	if (len > NAMES_LINE_MAX || memchr(line, '\0', len) || !split(line, len, &f))
		return -1;
	return fmt == NAMES_ODHCPD ? odhcpd_line(&f, now, out) : dnsmasq_line(&f, now, out);
}

long names_leases_parse(enum names_lease_format fmt, const char *text, size_t len, int64_t now,
			names_lease_cb cb, void *arg, size_t *bad)
{
	struct names_lease l;
	long taken = 0;
	size_t lines = 0;

	if (bad)
		*bad = 0;
	if (len > NAMES_LEASE_FILE_MAX)
		return -1;
	for (size_t i = 0; i < len && lines < NAMES_LEASES_MAX; lines++) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		int rc = names_lease_line(fmt, text + i, end - i, now, &l);

		if (rc > 0) {
			cb(arg, &l);
			taken++;
		} else if (rc < 0 && bad) {
			(*bad)++;
		}
		i = end + 1;
	}
	return taken;
}

/* ---- mDNS ---- */

#define DNS_HDR     12
#define DNS_MAXNAME 255
#define DNS_MAXLABELS 128
#define T_A    1
#define T_PTR  12
#define T_AAAA 28
#define T_SRV  33

struct dname {
	size_t n;                       /* labels */
	uint16_t off[DNS_MAXLABELS];    /* where each label's text starts in the message */
	uint8_t len[DNS_MAXLABELS];
};

/* Reads the name at *pos; *pos moves past it (past the first pointer, if any). A pointer must go
 * backwards (strictly before the label that holds it), so a loop cannot be built, and at most
 * NAMES_MDNS_MAX_HOPS are followed. */
static bool read_name(const uint8_t *m, size_t len, size_t *pos, struct dname *dn)
{
	size_t p = *pos, wire = 1, hops = 0;
	bool jumped = false;

	dn->n = 0;
	for (;;) {
		uint8_t l;

		if (p >= len)
			return false;
		l = m[p];
		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (p + 1 >= len || ++hops > NAMES_MDNS_MAX_HOPS)
				return false;
			to = ((size_t)(l & 0x3f) << 8) | m[p + 1];
			if (to >= p)
				return false;
			if (!jumped)
				*pos = p + 2;
			jumped = true;
			p = to;
			continue;
		}
		if (l & 0xc0)
			return false;   /* 0x40 and 0x80: extended label types, unused */
		if (l == 0) {
			if (!jumped)
				*pos = p + 1;
			return true;
		}
		wire += 1u + l;
		if (wire > DNS_MAXNAME || dn->n == DNS_MAXLABELS || p + 1 + l > len)
			return false;
		dn->off[dn->n] = (uint16_t)(p + 1);
		dn->len[dn->n++] = l;
		p += 1u + l;
	}
}

static bool label_is(const uint8_t *m, const struct dname *dn, size_t i, const char *s)
{
	return i < dn->n && dn->len[i] == strlen(s) && strncasecmp((const char *)m + dn->off[i], s, dn->len[i]) == 0;
}

/* "host.local": its host label, cleaned. */
static bool host_of(const uint8_t *m, const struct dname *dn, char host[DEVICE_NAME_MAX + 1])
{
	return dn->n == 2 && label_is(m, dn, 1, "local") && names_clean(m + dn->off[0], dn->len[0], host) > 0;
}

/* "d.c.b.a.in-addr.arpa" or the 32 nibbles of ".ip6.arpa" -> the address. */
static bool reverse_addr(const uint8_t *m, const struct dname *dn, struct in6_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (dn->n == 6 && label_is(m, dn, 4, "in-addr") && label_is(m, dn, 5, "arpa")) {
		a->s6_addr[10] = a->s6_addr[11] = 0xff;
		for (size_t i = 0; i < 4; i++) {
			unsigned v = 0;

			if (dn->len[i] == 0 || dn->len[i] > 3)
				return false;
			for (size_t k = 0; k < dn->len[i]; k++) {
				uint8_t c = m[dn->off[i] + k];

				if (c < '0' || c > '9')
					return false;
				v = v * 10 + (c - '0');
			}
			if (v > 255)
				return false;
			a->s6_addr[15 - i] = (uint8_t)v;
		}
		return true;
	}
	if (dn->n == 34 && label_is(m, dn, 32, "ip6") && label_is(m, dn, 33, "arpa")) {
		for (size_t i = 0; i < 32; i++) {
			uint8_t c, v;

			if (dn->len[i] != 1)
				return false;
			c = m[dn->off[i]];
			if (c >= '0' && c <= '9')
				v = c - '0';
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				v = (uint8_t)((c | 0x20) - 'a' + 10);
			else
				return false;
			/* the first label is the last nibble */
			a->s6_addr[15 - i / 2] |= (uint8_t)(i % 2 ? v << 4 : v);
		}
		return true;
	}
	return false;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int names_mdns_parse(const uint8_t *msg, size_t len, names_mdns_cb cb, void *arg)
{
	size_t pos = DNS_HDR, nrr;
	struct dname owner, target;
	struct names_mdns_record r;
	int reported = 0;

	if (len < DNS_HDR || len > 65535)   /* label offsets are 16 bits: no DNS message is longer */
		return -1;
	/* QR set, opcode 0 (RFC 6762 18.3), rcode 0 */
	if (!(msg[2] & 0x80) || (msg[2] & 0x78) || (msg[3] & 0x0f))
		return 0;
	for (size_t q = get16(msg + 4); q > 0; q--) {   /* a response's questions carry nothing we use */
		if (!read_name(msg, len, &pos, &owner) || pos + 4 > len)
			return -1;
		pos += 4;
	}
	nrr = (size_t)get16(msg + 6) + get16(msg + 8) + get16(msg + 10);
	if (nrr > NAMES_MDNS_MAX_RRS)
		nrr = NAMES_MDNS_MAX_RRS;
	for (size_t i = 0; i < nrr; i++) {
		uint16_t type, rdlen;
		size_t rd, p;

		if (!read_name(msg, len, &pos, &owner) || pos + 10 > len)
			return -1;
		type = get16(msg + pos);
		memset(&r, 0, sizeof(r));
		r.ttl = (uint32_t)msg[pos + 4] << 24 | (uint32_t)msg[pos + 5] << 16 | (uint32_t)msg[pos + 6] << 8 |
			msg[pos + 7];
		rdlen = get16(msg + pos + 8);
		rd = pos + 10;
		if (rd + rdlen > len)
			return -1;
		pos = rd + rdlen;
		switch (type) {
		case T_A:
		case T_AAAA:
			if (rdlen != (type == T_A ? 4 : 16) || !host_of(msg, &owner, r.host))
				continue;
			if (type == T_A) {
				r.addr.s6_addr[10] = r.addr.s6_addr[11] = 0xff;
				memcpy(&r.addr.s6_addr[12], msg + rd, 4);
			} else {
				memcpy(&r.addr, msg + rd, 16);
			}
			r.kind = NAMES_MDNS_HOST_ADDR;
			break;
		case T_PTR:
			p = rd;
			if (!reverse_addr(msg, &owner, &r.addr))
				continue;   /* a DNS-SD browse pointer (_svc._tcp.local): names a service, not a host */
			if (!read_name(msg, rd + rdlen, &p, &target) || p != rd + rdlen || !host_of(msg, &target, r.host))
				continue;
			r.kind = NAMES_MDNS_HOST_ADDR;
			break;
		case T_SRV:
			p = rd + 6;
			if (rdlen < 7 || owner.n < 4 || !label_is(msg, &owner, owner.n - 1, "local"))
				continue;
			if (!read_name(msg, rd + rdlen, &p, &target) || p != rd + rdlen || !host_of(msg, &target, r.host) ||
			    names_clean(msg + owner.off[0], owner.len[0], r.instance) == 0)
				continue;
			r.port = get16(msg + rd + 4);
			r.kind = NAMES_MDNS_SERVICE;
			break;
		default:
			continue;
		}
		cb(arg, &r);
		reported++;
	}
	return reported;
}
