/* SPDX-License-Identifier: GPL-2.0-or-later */
/* names suite: lease-file lines as dnsmasq and odhcpd write them, mDNS messages as hosts send them
 * (built byte by byte here), and hostile variants of each. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "firewall/core/device.h"
#include "firewall/runtime/names.h"
#include "tests/unit/testutil.h"

/* ---------- names_clean ---------- */

START_TEST(clean_keeps_text_and_escapes_the_rest)
{
	char out[DEVICE_NAME_MAX + 1];
	static const uint8_t bidi[] = { 'a', 0xe2, 0x80, 0xae, 'b' };   /* U+202E RIGHT-TO-LEFT OVERRIDE */
	static const uint8_t broken[] = { 'x', 0xc3 };                  /* cut in a character */
	char longname[200];

	ck_assert_uint_eq(names_clean("Caf\xc3\xa9 TV", 8, out), 8);
	ck_assert_str_eq(out, "Caf\xc3\xa9 TV");
	names_clean("a\nb\x1b[31m", 8, out);
	ck_assert_str_eq(out, "a\\x0ab\\x1b[31m");
	names_clean(bidi, sizeof(bidi), out);
	ck_assert_str_eq(out, "a\\xe2\\x80\\xaeb");
	names_clean(broken, sizeof(broken), out);
	ck_assert_str_eq(out, "x\\xc3");
	names_clean("a\\x41", 5, out);   /* a backslash of the input cannot pose as an escape */
	ck_assert_str_eq(out, "a\\x5cx41");
	names_clean("a\0b", 3, out);
	ck_assert_str_eq(out, "a\\x00b");
	memset(longname, 'n', sizeof(longname));
	ck_assert_uint_eq(names_clean(longname, sizeof(longname), out), DEVICE_NAME_MAX);
	memset(longname, 0x01, sizeof(longname));
	ck_assert_uint_le(names_clean(longname, sizeof(longname), out), DEVICE_NAME_MAX);
	ck_assert(device_name_valid(out));
}
END_TEST

/* ---------- lease files ---------- */

static int line(enum names_lease_format f, const char *s, struct names_lease *l)
{
	return names_lease_line(f, s, strlen(s), 1700000000, l);
}

START_TEST(dnsmasq_lines)
{
	struct names_lease l;
	char a[ADDR_STRLEN], m[18];

	ck_assert_int_eq(line(NAMES_DNSMASQ, "1700003600 52:54:00:12:34:01 192.0.2.11 laptop 01:52:54:00:12:34:01", &l), 1);
	ck_assert(l.has_mac);
	ck_assert_str_eq(mac_str(l.mac, m), "52:54:00:12:34:01");
	ck_assert_str_eq(addr_str(&l.addr[0], a), "192.0.2.11");
	ck_assert_str_eq(l.name, "laptop");
	/* infinite lease, domain stripped */
	ck_assert_int_eq(line(NAMES_DNSMASQ, "0 52:54:00:12:34:02 192.0.2.12 tv.lan *", &l), 1);
	ck_assert_str_eq(l.name, "tv");
	/* no hostname; expired; the server's DUID line */
	ck_assert_int_eq(line(NAMES_DNSMASQ, "1700003600 52:54:00:12:34:03 192.0.2.13 * *", &l), 0);
	ck_assert_int_eq(line(NAMES_DNSMASQ, "1600000000 52:54:00:12:34:03 192.0.2.13 old *", &l), 0);
	ck_assert_int_eq(line(NAMES_DNSMASQ, "duid 00:01:00:01:2a:2b:2c:2d:52:54:00:00:00:01", &l), 0);
	/* DHCPv6: by address, no MAC */
	ck_assert_int_eq(line(NAMES_DNSMASQ, "1700003600 1234 2001:db8:1:1::50 phone 00:01:00:01:aa", &l), 1);
	ck_assert(!l.has_mac);
	ck_assert_str_eq(addr_str(&l.addr[0], a), "2001:db8:1:1::50");
	ck_assert_int_eq(line(NAMES_DNSMASQ, "1700003600 T99 2001:db8:1:1::51 phone2 00:01", &l), 1);
	/* another hardware type: by address */
	ck_assert_int_eq(line(NAMES_DNSMASQ, "1700003600 6-01:02:03:04:05:06 192.0.2.14 ib *", &l), 1);
	ck_assert(!l.has_mac);
	/* a hostname with bytes dnsmasq should not have let through comes out escaped */
	ck_assert_int_eq(line(NAMES_DNSMASQ, "0 52:54:00:12:34:04 192.0.2.15 a\x1b[2Jb *", &l), 1);
	ck_assert_str_eq(l.name, "a\\x1b[2Jb");
	/* not leases */
	ck_assert_int_eq(line(NAMES_DNSMASQ, "x 52:54:00:12:34:01 192.0.2.11 laptop *", &l), -1);
	ck_assert_int_eq(line(NAMES_DNSMASQ, "1 52:54:00:12:34:01 192.0.2.999 laptop *", &l), -1);
	ck_assert_int_eq(line(NAMES_DNSMASQ, "1 2 3", &l), -1);
	ck_assert_int_eq(line(NAMES_DNSMASQ, "", &l), 0);
}
END_TEST

START_TEST(odhcpd_lines)
{
	struct names_lease l;
	char a[ADDR_STRLEN], m[18];

	ck_assert_int_eq(line(NAMES_ODHCPD, "# br-lan 000100012a2b2c2d525400000001 1234 phone 1700003600 50 128 "
			      "2001:db8:1:1::50/128 2001:db8:1:1::52/128 ", &l), 1);
	ck_assert(!l.has_mac);
	ck_assert_uint_eq(l.naddrs, 2);
	ck_assert_str_eq(addr_str(&l.addr[1], a), "2001:db8:1:1::52");
	ck_assert_str_eq(l.name, "phone");
	ck_assert_int_eq(line(NAMES_ODHCPD, "# br-lan 52:54:00:12:34:01 ipv4 laptop -1 c000020b 32 192.0.2.11/32 ", &l), 1);
	ck_assert(l.has_mac);
	ck_assert_str_eq(addr_str(&l.addr[0], a), "192.0.2.11");
	/* as odhcpd writes the MAC (ether_ntoa: no leading zeros) */
	ck_assert_int_eq(line(NAMES_ODHCPD, "# br-lan 52:54:0:12:34:a ipv4 tablet 1700003600 c000020c 32 192.0.2.12/32", &l), 1);
	ck_assert(l.has_mac);
	ck_assert_str_eq(mac_str(l.mac, m), "52:54:00:12:34:0a");
	ck_assert_int_eq(line(NAMES_ODHCPD, "# br-lan 52:54:0:12:34 ipv4 short 1700003600 c000020c 32 192.0.2.12/32", &l), 1);
	ck_assert(!l.has_mac);   /* not a MAC: by address */
	ck_assert_int_eq(line(NAMES_ODHCPD, "# br-lan 52:54:000:12:34:0a ipv4 x 1700003600 c000020c 32 192.0.2.12/32", &l), 1);
	ck_assert(!l.has_mac);
	/* no name, a name odhcpd found broken, a lease that is over */
	ck_assert_int_eq(line(NAMES_ODHCPD, "# br-lan 0001 1 - 1700003600 1 128 2001:db8:1:1::53/128", &l), 0);
	ck_assert_int_eq(line(NAMES_ODHCPD, "# br-lan 0001 1 broken\\x20a\\x20b 1700003600 1 128 2001:db8:1:1::53/128", &l), 0);
	ck_assert_int_eq(line(NAMES_ODHCPD, "# br-lan 0001 1 gone 0 1 128 2001:db8:1:1::53/128", &l), 0);
	/* the hosts lines for the DNS server */
	ck_assert_int_eq(line(NAMES_ODHCPD, "2001:db8:1:1::50\tphone.lan\tphone", &l), 1);
	ck_assert_str_eq(l.name, "phone");
	ck_assert_int_eq(line(NAMES_ODHCPD, "# br-lan short", &l), -1);
	ck_assert_int_eq(line(NAMES_ODHCPD, "notanaddress name", &l), -1);
}
END_TEST

static size_t nleases;
static void count_lease(void *arg, const struct names_lease *l)
{
	(void)arg;
	(void)l;
	nleases++;
}

START_TEST(lease_file_bounds)
{
	size_t bad, len = 0, cap = 8 * NAMES_LEASES_MAX * 64;
	char *text = malloc(cap);

	ck_assert_ptr_nonnull(text);
	/* twice as many lines as are taken */
	for (int i = 0; i < 2 * NAMES_LEASES_MAX; i++)
		len += (size_t)snprintf(text + len, cap - len, "0 52:54:00:00:%02x:%02x 192.0.2.1 h%d *\n",
					(i >> 8) & 0xff, i & 0xff, i);
	nleases = 0;
	ck_assert_int_eq(names_leases_parse(NAMES_DNSMASQ, text, len, 0, count_lease, NULL, &bad), NAMES_LEASES_MAX);
	ck_assert_uint_eq(nleases, NAMES_LEASES_MAX);
	ck_assert_int_eq(names_leases_parse(NAMES_DNSMASQ, text, NAMES_LEASE_FILE_MAX + 1, 0, count_lease, NULL, &bad), -1);
	/* a line too long is not a lease; the next one still is */
	memset(text, 'a', 2000);
	len = 2000 + (size_t)sprintf(text + 2000, "\n0 52:54:00:00:00:01 192.0.2.1 ok *\n");
	nleases = 0;
	ck_assert_int_eq(names_leases_parse(NAMES_DNSMASQ, text, len, 0, count_lease, NULL, &bad), 1);
	ck_assert_uint_eq(bad, 1);
	free(text);
}
END_TEST

/* ---------- mDNS ---------- */

struct msg {
	uint8_t b[4096];
	size_t len;
};

static void put(struct msg *m, const void *p, size_t n)
{
	ck_assert_uint_le(m->len + n, sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void put16(struct msg *m, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(m, b, 2);
}

/* "a.b.c" as labels */
static void put_name(struct msg *m, const char *dotted)
{
	const char *p = dotted;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		uint8_t l = (uint8_t)n;

		put(m, &l, 1);
		put(m, p, n);
		p += n + (dot ? 1 : 0);
	}
	put(m, "", 1);
}

static void header(struct msg *m, uint16_t flags, uint16_t qd, uint16_t an)
{
	m->len = 0;
	put16(m, 0);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
}

static void rr(struct msg *m, const char *owner, uint16_t type, uint32_t ttl, const void *rd, size_t rdlen)
{
	put_name(m, owner);
	put16(m, type);
	put16(m, 0x8001);   /* IN, cache-flush */
	put16(m, (uint16_t)(ttl >> 16));
	put16(m, (uint16_t)ttl);
	put16(m, (uint16_t)rdlen);
	put(m, rd, rdlen);
}

static struct names_mdns_record got[16];
static size_t ngot;
static void on_record(void *arg, const struct names_mdns_record *r)
{
	(void)arg;
	if (ngot < 16)
		got[ngot++] = *r;
}

static int parse(const struct msg *m)
{
	ngot = 0;
	return names_mdns_parse(m->b, m->len, on_record, NULL);
}

START_TEST(mdns_announcement)
{
	struct msg m, target;
	struct in6_addr v6 = A("2001:db8:1:1::11");
	uint8_t v4[4] = { 192, 0, 2, 11 }, srv[64];
	char a[ADDR_STRLEN];

	/* what avahi announces: A, AAAA, the reverse PTR, and a service's SRV */
	header(&m, 0x8400, 0, 4);
	rr(&m, "Johns-iPhone.local", 1, 120, v4, 4);
	rr(&m, "Johns-iPhone.local", 28, 120, &v6, 16);
	target.len = 0;
	put_name(&target, "Johns-iPhone.local");
	rr(&m, "11.2.0.192.in-addr.arpa", 12, 120, target.b, target.len);
	memcpy(srv, "\0\0\0\0\x1b\x58", 6);   /* priority 0, weight 0, port 7000 */
	memcpy(srv + 6, target.b, target.len);
	rr(&m, "Living Room._airplay._tcp.local", 33, 120, srv, 6 + target.len);
	ck_assert_int_eq(parse(&m), 4);
	ck_assert_int_eq(got[0].kind, NAMES_MDNS_HOST_ADDR);
	ck_assert_str_eq(got[0].host, "Johns-iPhone");
	ck_assert_str_eq(addr_str(&got[0].addr, a), "192.0.2.11");
	ck_assert_str_eq(addr_str(&got[1].addr, a), "2001:db8:1:1::11");
	ck_assert_str_eq(addr_str(&got[2].addr, a), "192.0.2.11");
	ck_assert_str_eq(got[2].host, "Johns-iPhone");
	ck_assert_int_eq(got[3].kind, NAMES_MDNS_SERVICE);
	ck_assert_str_eq(got[3].instance, "Living Room");
	ck_assert_uint_eq(got[3].port, 7000);
	ck_assert_uint_eq(got[0].ttl, 120);
}
END_TEST

START_TEST(mdns_ip6_reverse_and_compression)
{
	struct msg m;
	uint8_t v4[4] = { 192, 0, 2, 12 }, ptr[2] = { 0xc0, 12 };
	char owner[128], a[ADDR_STRLEN];
	const char *nibbles = "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";

	header(&m, 0x8400, 0, 3);
	rr(&m, "printer.local", 1, 120, v4, 4);
	/* the owner of the next is a pointer to the first name (offset 12) */
	put(&m, ptr, 2);
	put16(&m, 28);
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 120);
	put16(&m, 16);
	{
		struct in6_addr x = A("2001:db8:1:1::12");

		put(&m, &x, 16);
	}
	snprintf(owner, sizeof(owner), "%s", nibbles);
	rr(&m, owner, 12, 120, ptr, 2);
	ck_assert_int_eq(parse(&m), 3);
	ck_assert_str_eq(got[1].host, "printer");
	ck_assert_str_eq(addr_str(&got[1].addr, a), "2001:db8:1:1::12");
	ck_assert_str_eq(addr_str(&got[2].addr, a), "2001:db8:1:1::11");
	ck_assert_str_eq(got[2].host, "printer");
}
END_TEST

START_TEST(mdns_hostile)
{
	struct msg m;
	uint8_t v4[4] = { 192, 0, 2, 13 }, loop[2] = { 0xc0, 12 }, fwd[2] = { 0xc0, 40 };
	char label[70];

	/* a query's known answers are about others: not read */
	header(&m, 0x0000, 0, 1);
	rr(&m, "victim.local", 1, 120, v4, 4);
	ck_assert_int_eq(parse(&m), 0);
	/* a pointer to itself, and one forwards */
	header(&m, 0x8400, 0, 1);
	put(&m, loop, 2);
	ck_assert_int_eq(parse(&m), -1);
	header(&m, 0x8400, 0, 1);
	put(&m, fwd, 2);
	ck_assert_int_eq(parse(&m), -1);
	/* records past the end */
	header(&m, 0x8400, 0, 2);
	rr(&m, "a.local", 1, 120, v4, 4);
	ck_assert_int_eq(parse(&m), -1);
	/* rdlength beyond the message */
	header(&m, 0x8400, 0, 1);
	rr(&m, "a.local", 1, 120, v4, 4);
	m.b[m.len - 5] = 200;
	ck_assert_int_eq(parse(&m), -1);
	/* a wrong-sized A, a name outside .local, a deeper name: not hosts */
	header(&m, 0x8400, 0, 3);
	rr(&m, "a.local", 1, 120, v4, 3);
	rr(&m, "a.example", 1, 120, v4, 4);
	rr(&m, "a.b.local", 1, 120, v4, 4);
	ck_assert_int_eq(parse(&m), 0);
	/* a host label with terminal escapes and the longest label: escaped, bounded */
	header(&m, 0x8400, 0, 1);
	memset(label, 0x1b, 63);
	memcpy(label + 63, ".local", 7);
	rr(&m, label, 1, 120, v4, 4);
	ck_assert_int_eq(parse(&m), 1);
	ck_assert(device_name_valid(got[0].host));
	ck_assert_uint_le(strlen(got[0].host), DEVICE_NAME_MAX);
	ck_assert_ptr_nonnull(strstr(got[0].host, "\\x1b"));
	/* short header */
	ck_assert_int_eq(names_mdns_parse(m.b, 11, on_record, NULL), -1);
}
END_TEST

START_TEST(mdns_many_records_bounded)
{
	struct msg m;
	uint8_t v4[4] = { 192, 0, 2, 14 };

	header(&m, 0x8400, 0, 100);
	for (int i = 0; i < 100; i++)
		rr(&m, "h.local", 1, 120, v4, 4);
	ngot = 0;
	ck_assert_int_eq(names_mdns_parse(m.b, m.len, on_record, NULL), NAMES_MDNS_MAX_RRS);
}
END_TEST

static Suite *names_suite(void)
{
	Suite *s = suite_create("names");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, clean_keeps_text_and_escapes_the_rest);
	tcase_add_test(tc, dnsmasq_lines);
	tcase_add_test(tc, odhcpd_lines);
	tcase_add_test(tc, lease_file_bounds);
	tcase_add_test(tc, mdns_announcement);
	tcase_add_test(tc, mdns_ip6_reverse_and_compression);
	tcase_add_test(tc, mdns_hostile);
	tcase_add_test(tc, mdns_many_records_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(names_suite());
}
