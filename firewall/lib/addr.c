/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool addr_is_v4(const struct in6_addr *a)
{
	return memcmp(a->s6_addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

void addr_from_v4(struct in6_addr *out, struct in_addr v4)
{
	memcpy(out->s6_addr, v4mapped_prefix, sizeof(v4mapped_prefix));
	memcpy(out->s6_addr + 12, &v4.s_addr, 4);
}

struct in_addr addr_to_v4(const struct in6_addr *a)
{
	struct in_addr v4;

	memcpy(&v4.s_addr, a->s6_addr + 12, 4);
	return v4;
}

bool addr_parse(const char *s, struct in6_addr *out)
{
	struct in_addr v4;

	if (s == NULL || *s == '\0')
		return false;
	if (inet_pton(AF_INET, s, &v4) == 1) {
		addr_from_v4(out, v4);
		return true;
	}
	return inet_pton(AF_INET6, s, out) == 1;
}

const char *addr_str(const struct in6_addr *a, char buf[ADDR_STRLEN])
{
	if (addr_is_v4(a)) {
		struct in_addr v4 = addr_to_v4(a);

		inet_ntop(AF_INET, &v4, buf, ADDR_STRLEN);
	} else {
		inet_ntop(AF_INET6, a, buf, ADDR_STRLEN);
	}
	return buf;
}

bool addr_parse_prefix(const char *s, struct in6_addr *out, uint8_t *len)
{
	char buf[ADDR_STRLEN + 8];
	const char *slash;
	size_t n;
	unsigned long plen;
	char *end;

	if (s == NULL)
		return false;
	slash = strchr(s, '/');
	n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= ADDR_STRLEN)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!addr_parse(buf, out))
		return false;
	if (slash == NULL) {
		*len = 128;
		return true;
	}
	if (slash[1] < '0' || slash[1] > '9')
		return false;
	plen = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || plen > (addr_is_v4(out) ? 32ul : 128ul))
		return false;
	*len = (uint8_t)(addr_is_v4(out) ? 96 + plen : plen);
	addr_mask(out, *len);
	return true;
}

void addr_mask(struct in6_addr *a, uint8_t len)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = len > i * 8 ? len - i * 8 : 0;

		if (bits >= 8)
			continue;
		a->s6_addr[i] &= (uint8_t)(0xff00u >> bits);
	}
}

bool addr_in_prefix(const struct in6_addr *a, const struct in6_addr *prefix, uint8_t len)
{
	struct in6_addr x = *a, p = *prefix;

	if (len > 128)
		return false;
	addr_mask(&x, len);
	addr_mask(&p, len);
	return memcmp(&x, &p, sizeof(x)) == 0;
}

bool addr_is_unspecified(const struct in6_addr *a)
{
	static const struct in6_addr zero;

	if (addr_is_v4(a))
		return addr_to_v4(a).s_addr == 0;
	return memcmp(a, &zero, sizeof(zero)) == 0;
}

bool addr_is_link_local(const struct in6_addr *a)
{
	if (addr_is_v4(a))
		return a->s6_addr[12] == 169 && a->s6_addr[13] == 254;
	return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

bool addr_is_multicast(const struct in6_addr *a)
{
	if (addr_is_v4(a))
		return (a->s6_addr[12] & 0xf0) == 0xe0;
	return a->s6_addr[0] == 0xff;
}

bool addr_is_loopback(const struct in6_addr *a)
{
	if (addr_is_v4(a))
		return a->s6_addr[12] == 127;
	return IN6_IS_ADDR_LOOPBACK(a);
}

bool addr_is_ula(const struct in6_addr *a)
{
	return !addr_is_v4(a) && (a->s6_addr[0] & 0xfe) == 0xfc;
}

bool addr_equal(const struct in6_addr *a, const struct in6_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
