/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ndsnoop_parse: what a neighbour solicitation or advertisement says about the sender's addresses.
 * Two kinds of packets: a few the Linux kernel sent on a veth pair (captured with a SOCK_DGRAM
 * ETH_P_IPV6 packet socket, as ndsnoop reads them), and packets built here with their checksum
 * computed, each refusal changing one thing of an accepted packet. */
#include <stdio.h>

#include "firewall/runtime/ndsnoop.h"
#include "testutil.h"

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0xaa, 0x00, 0x01 };
static const uint8_t OTHER[6] = { 0x52, 0x54, 0x00, 0xbb, 0x00, 0x02 };

/* ---- captured from Linux 6.x: host 52:54:00:aa:00:01 configuring fe80::5054:ff:feaa:1 and
 * 2001:db8:1:1:a1b2:c3d4:e5f6:789 (DAD with the RFC 7527 nonce option, then unsolicited
 * advertisements, O flag), soliciting 2001:db8:1:1::b; and 52:54:00:bb:00:02 answering (S and O). */
static const struct {
	const char *name, *hex, *addr;
	const uint8_t *mac;
	enum nd_claim_kind kind;
} captured[] = {
	{ "DAD link-local",
	  "6000000000203aff00000000000000000000000000000000ff0200000000000000000001ffaa0001"
	  "87004aaf00000000fe80000000000000505400fffeaa00010e017bc76e3fe8bd",
	  "fe80::5054:ff:feaa:1", MAC, ND_CLAIM_DAD },
	{ "DAD global",
	  "6000000000203aff00000000000000000000000000000000ff0200000000000000000001fff60789"
	  "870030bc0000000020010db800010001a1b2c3d4e5f607890e0197abd50145f4",
	  "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC, ND_CLAIM_DAD },
	{ "unsolicited NA link-local",
	  "6000000000203afffe80000000000000505400fffeaa0001ff020000000000000000000000000001"
	  "880066a020000000fe80000000000000505400fffeaa00010201525400aa0001",
	  "fe80::5054:ff:feaa:1", MAC, ND_CLAIM_ADVERT },
	{ "unsolicited NA global",
	  "6000000000203aff20010db800010001a1b2c3d4e5f60789ff020000000000000000000000000001"
	  "8800021c2000000020010db800010001a1b2c3d4e5f607890201525400aa0001",
	  "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC, ND_CLAIM_ADVERT },
	{ "NS from a global source",
	  "6000000000203aff20010db800010001a1b2c3d4e5f60789ff0200000000000000000001ff00000b"
	  "8700780c0000000020010db800010001000000000000000b0101525400aa0001",
	  "2001:db8:1:1:a1b2:c3d4:e5f6:789", MAC, ND_CLAIM_SPEAK },
	{ "solicited NA (S, O)",
	  "6000000000203aff20010db800010001000000000000000b20010db800010001000000000000000a"
	  "880039416000000020010db800010001000000000000000b0201525400bb0002",
	  "2001:db8:1:1::b", OTHER, ND_CLAIM_ADVERT },
};

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	for (; s[0] && s[1]; s += 2) {
		unsigned v;

		ck_assert_uint_lt(n, max);
		ck_assert_int_eq(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

START_TEST(kernel_packets)
{
	uint8_t p[128];
	size_t n = unhex(captured[_i].hex, p, sizeof(p));
	struct in6_addr want = A(captured[_i].addr);
	struct nd_claim c;

	ck_assert_msg(ndsnoop_parse(p, n, captured[_i].mac, &c), "%s refused", captured[_i].name);
	ck_assert_int_eq(c.kind, captured[_i].kind);
	ck_assert(addr_equal(&c.addr, &want));
	ck_assert_mem_eq(c.mac, captured[_i].mac, 6);
	/* the frame's MAC is the speaker: the same packet from another MAC names another MAC in its option
	 * (DAD has none: a probe from any MAC is that MAC's) */
	ck_assert(ndsnoop_parse(p, n, captured[_i].mac == MAC ? OTHER : MAC, &c) ==
		  (captured[_i].kind == ND_CLAIM_DAD));
	/* one bit of the reserved field, which nothing else reads, breaks the checksum */
	p[46] ^= 0x10;
	ck_assert(!ndsnoop_parse(p, n, captured[_i].mac, &c));
	ck_assert_int_eq(c.kind, ND_CLAIM_NONE);
}
END_TEST

/* ---- built packets ---- */

#define NS 135
#define NA 136
#define FLAG_R 0x80u
#define FLAG_S 0x40u
#define FLAG_O 0x20u

struct pkt {
	uint8_t b[256];
	size_t len;
};

/* The ICMPv6 checksum (RFC 8200 8.1) of the message the payload length names, written in place. */
static void fix_sum(struct pkt *p)
{
	size_t plen = (size_t)(p->b[4] << 8 | p->b[5]);
	uint8_t *m = p->b + 40;
	uint32_t s = 58 + (uint32_t)plen;

	m[2] = m[3] = 0;
	for (size_t i = 8; i < 40; i += 2)
		s += (uint32_t)(p->b[i] << 8 | p->b[i + 1]);
	for (size_t i = 0; i < plen; i += 2)
		s += (uint32_t)(m[i] << 8 | (i + 1 < plen ? m[i + 1] : 0));
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	s = ~s & 0xffff;
	m[2] = (uint8_t)(s >> 8);
	m[3] = (uint8_t)s;
}

/* An ND message from src to dst (NULL: the target's solicited-node group) about target, hop limit 255,
 * flags in the first byte after the checksum, options appended, checksum right. */
static struct pkt nd(uint8_t type, const char *src, const char *dst, const char *target, uint8_t flags,
		     const uint8_t *opts, size_t optlen)
{
	struct in6_addr s = A(src), t = A(target), d;
	struct pkt p;
	size_t plen = 24 + optlen;

	if (dst) {
		d = A(dst);
	} else {
		d = A("ff02::1:ff00:0");
		memcpy(d.s6_addr + 13, t.s6_addr + 13, 3);
	}
	memset(&p, 0, sizeof(p));
	ck_assert_uint_le(40 + plen, sizeof(p.b));
	p.b[0] = 0x60;
	p.b[4] = (uint8_t)(plen >> 8);
	p.b[5] = (uint8_t)plen;
	p.b[6] = 58;
	p.b[7] = 255;
	memcpy(p.b + 8, &s, 16);
	memcpy(p.b + 24, &d, 16);
	p.b[40] = type;
	p.b[44] = flags;
	memcpy(p.b + 48, &t, 16);
	if (optlen)
		memcpy(p.b + 64, opts, optlen);
	p.len = 40 + plen;
	fix_sum(&p);
	return p;
}

/* A link-layer address option (1 source, 2 target) naming mac. */
static void lla(uint8_t *o, uint8_t type, const uint8_t mac[6])
{
	o[0] = type;
	o[1] = 1;
	memcpy(o + 2, mac, 6);
}

static struct pkt dad(const char *target)
{
	return nd(NS, "::", NULL, target, 0, NULL, 0);
}

static struct pkt speak(const char *src, const uint8_t mac[6])
{
	uint8_t o[8];

	lla(o, 1, mac);
	return nd(NS, src, NULL, "fe80::1", 0, o, sizeof(o));
}

static struct pkt advert(const char *target, uint8_t flags, const uint8_t mac[6])
{
	uint8_t o[8];

	lla(o, 2, mac);
	return nd(NA, target, "ff02::1", target, flags, o, sizeof(o));
}

static void accepts(const struct pkt *p, enum nd_claim_kind kind, const char *addr)
{
	struct in6_addr want = A(addr);
	struct nd_claim c;

	ck_assert_msg(ndsnoop_parse(p->b, p->len, MAC, &c), "refused a claim on %s", addr);
	ck_assert_int_eq(c.kind, kind);
	ck_assert_msg(addr_equal(&c.addr, &want), "claim on the wrong address, want %s", addr);
	ck_assert_mem_eq(c.mac, MAC, 6);
}

static void refuses(const struct pkt *p, const char *why)
{
	struct nd_claim c;

	memset(&c, 0xa5, sizeof(c));
	ck_assert_msg(!ndsnoop_parse(p->b, p->len, MAC, &c), "accepted: %s", why);
	ck_assert_int_eq(c.kind, ND_CLAIM_NONE);   /* nothing half-filled */
}

START_TEST(dad_probe)
{
	struct pkt p = dad("2001:db8:1:1::77");

	accepts(&p, ND_CLAIM_DAD, "2001:db8:1:1::77");
	/* Ethernet pads short frames: bytes past the payload length are not the message's */
	p.b[p.len] = 0xee;
	p.len += 6;
	accepts(&p, ND_CLAIM_DAD, "2001:db8:1:1::77");
	p = dad("fe80::1234");
	accepts(&p, ND_CLAIM_DAD, "fe80::1234");
}
END_TEST

START_TEST(dad_refused)
{
	uint8_t o[8];
	struct pkt p;

	p = nd(NS, "::", "ff02::1:ff00:78", "2001:db8:1:1::77", 0, NULL, 0);
	refuses(&p, "DAD to another solicited-node group");
	p = nd(NS, "::", "ff02::1", "2001:db8:1:1::77", 0, NULL, 0);
	refuses(&p, "DAD to all-nodes");
	lla(o, 1, MAC);
	p = nd(NS, "::", NULL, "2001:db8:1:1::77", 0, o, sizeof(o));
	refuses(&p, "DAD with a source link-layer option (RFC 4861 7.1.1)");
	p = dad("::");
	refuses(&p, "DAD for the unspecified address");
	p = dad("::1");
	refuses(&p, "DAD for loopback");
	p = dad("::ffff:192.0.2.7");
	refuses(&p, "DAD for an IPv4-mapped address");
	p = dad("ff02::1:ff00:77");
	refuses(&p, "DAD for a multicast target");
}
END_TEST

START_TEST(ns_speak)
{
	struct pkt p = speak("2001:db8:1:1::abcd", MAC);

	accepts(&p, ND_CLAIM_SPEAK, "2001:db8:1:1::abcd");
	/* neighbour unreachability detection: unicast, no option */
	p = nd(NS, "2001:db8:1:1::abcd", "2001:db8:1:1::1", "2001:db8:1:1::1", 0, NULL, 0);
	accepts(&p, ND_CLAIM_SPEAK, "2001:db8:1:1::abcd");
	p = speak("fe80::abcd", MAC);
	accepts(&p, ND_CLAIM_SPEAK, "fe80::abcd");
	/* the source is the claim; a multicast target is not */
	p = nd(NS, "2001:db8:1:1::abcd", NULL, "ff02::1", 0, NULL, 0);
	refuses(&p, "NS for a multicast target");
	p = speak("ff02::1", MAC);
	refuses(&p, "NS from a multicast source");
	p = speak("::1", MAC);
	refuses(&p, "NS from loopback");
	p = speak("2001:db8:1:1::abcd", OTHER);
	refuses(&p, "NS whose source link-layer option names another MAC");
}
END_TEST

/* The parser reads no flag: solicited or not, override or not, a host's advertisement of its address. */
START_TEST(na_advert)
{
	static const uint8_t flags[] = { 0, FLAG_S, FLAG_O, FLAG_S | FLAG_O, FLAG_R | FLAG_S | FLAG_O };
	struct pkt p;

	for (size_t i = 0; i < sizeof(flags); i++) {
		p = advert("2001:db8:1:1::abcd", flags[i], MAC);
		accepts(&p, ND_CLAIM_ADVERT, "2001:db8:1:1::abcd");
	}
	/* without a target link-layer option (allowed for a solicited one, RFC 4861 4.4) */
	p = nd(NA, "2001:db8:1:1::abcd", "2001:db8:1:1::1", "2001:db8:1:1::abcd", FLAG_S, NULL, 0);
	accepts(&p, ND_CLAIM_ADVERT, "2001:db8:1:1::abcd");
	p = advert("2001:db8:1:1::abcd", FLAG_O, OTHER);
	refuses(&p, "NA whose target link-layer option names another MAC");
	p = advert("ff02::1", FLAG_O, MAC);
	refuses(&p, "NA for a multicast target");
	p = advert("::", FLAG_O, MAC);
	refuses(&p, "NA for the unspecified address");
}
END_TEST

START_TEST(ip_header)
{
	struct pkt p = advert("2001:db8:1:1::abcd", FLAG_O, MAC);
	struct nd_claim c;

	/* the hop limit is not in the checksum: only this check stops an off-link sender */
	p.b[7] = 254;
	refuses(&p, "hop limit 254");
	p.b[7] = 255;
	p.b[0] = 0x40;
	refuses(&p, "IP version 4");
	p.b[0] = 0x60;
	/* the checksum covers the pseudo-header: a rewritten source breaks it */
	p.b[23] ^= 1;
	refuses(&p, "source changed after the checksum");
	p.b[23] ^= 1;
	p.b[42] ^= 0xff;
	refuses(&p, "bad checksum");
	p.b[42] ^= 0xff;
	accepts(&p, ND_CLAIM_ADVERT, "2001:db8:1:1::abcd");
	ck_assert(!ndsnoop_parse(NULL, p.len, MAC, &c));
	ck_assert(!ndsnoop_parse(p.b, p.len, NULL, &c));
}
END_TEST

START_TEST(truncated)
{
	struct pkt p = advert("2001:db8:1:1::abcd", FLAG_O, MAC), q;

	/* shorter than the payload length says, by one byte and down to the bare IPv6 header */
	for (size_t n = 0; n < p.len; n++) {
		struct nd_claim c;

		ck_assert_msg(!ndsnoop_parse(p.b, n, MAC, &c), "accepted %zu of %zu bytes", n, p.len);
	}
	/* a payload length too short for the ND header, checksum right over what it names */
	q = p;
	q.b[5] = 20;
	fix_sum(&q);
	refuses(&q, "payload of 20 bytes");
	/* a payload length that cuts the option in half: options running past the end */
	q = p;
	q.b[5] = 24 + 4;
	fix_sum(&q);
	refuses(&q, "option cut by the payload length");
}
END_TEST

START_TEST(bad_options)
{
	uint8_t o[16] = { 0 };
	struct pkt p;

	lla(o, 2, MAC);
	o[1] = 0;
	p = nd(NA, "2001:db8:1:1::abcd", "ff02::1", "2001:db8:1:1::abcd", FLAG_O, o, 8);
	refuses(&p, "zero-length option");
	o[0] = 14;   /* a nonce (RFC 7527), zero length: malformed whatever its type */
	p = nd(NA, "2001:db8:1:1::abcd", "ff02::1", "2001:db8:1:1::abcd", FLAG_O, o, 8);
	refuses(&p, "zero-length unknown option");
	lla(o, 2, MAC);
	o[1] = 2;    /* says 16 bytes, 8 there */
	p = nd(NA, "2001:db8:1:1::abcd", "ff02::1", "2001:db8:1:1::abcd", FLAG_O, o, 8);
	refuses(&p, "option longer than the packet");
	lla(o, 2, MAC);
	p = nd(NA, "2001:db8:1:1::abcd", "ff02::1", "2001:db8:1:1::abcd", FLAG_O, o, 9);
	refuses(&p, "one byte of a next option");
	/* an unknown option is skipped (RFC 4861 4.6) */
	lla(o, 2, MAC);
	memset(o + 8, 0, 8);
	o[8] = 14;
	o[9] = 1;
	p = nd(NA, "2001:db8:1:1::abcd", "ff02::1", "2001:db8:1:1::abcd", FLAG_O, o, 16);
	accepts(&p, ND_CLAIM_ADVERT, "2001:db8:1:1::abcd");
	/* the other kind of link-layer option does not count in an advertisement */
	lla(o, 1, OTHER);
	p = nd(NA, "2001:db8:1:1::abcd", "ff02::1", "2001:db8:1:1::abcd", FLAG_O, o, 8);
	accepts(&p, ND_CLAIM_ADVERT, "2001:db8:1:1::abcd");
}
END_TEST

/* Two link-layer options: any of them naming another MAC makes the packet tell nothing, in either order. */
START_TEST(two_link_layer_options)
{
	uint8_t o[16];
	struct pkt p;

	lla(o, 1, MAC);
	lla(o + 8, 1, OTHER);
	p = nd(NS, "2001:db8:1:1::abcd", NULL, "fe80::1", 0, o, 16);
	refuses(&p, "NS with the frame's MAC, then another");
	lla(o, 1, OTHER);
	lla(o + 8, 1, MAC);
	p = nd(NS, "2001:db8:1:1::abcd", NULL, "fe80::1", 0, o, 16);
	refuses(&p, "NS with another MAC, then the frame's");
	lla(o, 2, OTHER);
	lla(o + 8, 2, MAC);
	p = nd(NA, "2001:db8:1:1::abcd", "ff02::1", "2001:db8:1:1::abcd", FLAG_O, o, 16);
	refuses(&p, "NA with another MAC, then the frame's");
	lla(o, 2, MAC);
	lla(o + 8, 2, MAC);
	p = nd(NA, "2001:db8:1:1::abcd", "ff02::1", "2001:db8:1:1::abcd", FLAG_O, o, 16);
	accepts(&p, ND_CLAIM_ADVERT, "2001:db8:1:1::abcd");
	/* a 16-byte link-layer option is not an Ethernet address: it cannot vouch for the frame's */
	memset(o, 0, sizeof(o));
	o[0] = 1;
	o[1] = 2;
	memcpy(o + 2, OTHER, 6);
	p = nd(NS, "2001:db8:1:1::abcd", NULL, "fe80::1", 0, o, 16);
	refuses(&p, "NS with a 16-byte source link-layer option");
	p = nd(NS, "::", NULL, "2001:db8:1:1::abcd", 0, o, 16);
	refuses(&p, "DAD with a 16-byte source link-layer option");
}
END_TEST

START_TEST(not_nd)
{
	static const uint8_t types[] = { 1, 128, 129, 133, 134, 137, 143 };
	struct pkt p;

	for (size_t i = 0; i < sizeof(types); i++) {
		p = advert("2001:db8:1:1::abcd", FLAG_O, MAC);
		p.b[40] = types[i];
		fix_sum(&p);
		refuses(&p, "ICMPv6 that is not NS or NA");
	}
	p = advert("2001:db8:1:1::abcd", FLAG_O, MAC);
	p.b[41] = 1;
	fix_sum(&p);
	refuses(&p, "code 1");
	/* the same bytes as another protocol */
	p = advert("2001:db8:1:1::abcd", FLAG_O, MAC);
	p.b[6] = 17;
	refuses(&p, "UDP");
}
END_TEST

/* A hop-by-hop header (MLD style) before a well-formed NS: refused, not looked into. */
START_TEST(extension_header)
{
	struct pkt p = speak("2001:db8:1:1::abcd", MAC), q;

	memset(&q, 0, sizeof(q));
	memcpy(q.b, p.b, 40);
	q.b[6] = 0;              /* hop-by-hop */
	q.b[40] = 58;            /* then ICMPv6 */
	q.b[41] = 0;             /* 8 bytes: PadN */
	q.b[42] = 1;
	q.b[43] = 4;
	memcpy(q.b + 48, p.b + 40, p.len - 40);
	q.b[5] = (uint8_t)(p.len - 40 + 8);
	q.len = p.len + 8;
	refuses(&q, "NS after a hop-by-hop header");
}
END_TEST

static Suite *ndsnoop_suite(void)
{
	Suite *s = suite_create("ndsnoop");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, kernel_packets, 0, sizeof(captured) / sizeof(captured[0]));
	tcase_add_test(tc, dad_probe);
	tcase_add_test(tc, dad_refused);
	tcase_add_test(tc, ns_speak);
	tcase_add_test(tc, na_advert);
	tcase_add_test(tc, ip_header);
	tcase_add_test(tc, truncated);
	tcase_add_test(tc, bad_options);
	tcase_add_test(tc, two_link_layer_options);
	tcase_add_test(tc, not_nd);
	tcase_add_test(tc, extension_header);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(ndsnoop_suite());
}
