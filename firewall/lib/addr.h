/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Address helpers. Everything is an in6_addr; IPv4 is carried v4-mapped (::ffff:a.b.c.d). */
#ifndef IGDD_ADDR_H
#define IGDD_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define ADDR_STRLEN 46  /* INET6_ADDRSTRLEN */

bool addr_is_v4(const struct in6_addr *a);
void addr_from_v4(struct in6_addr *out, struct in_addr v4);
struct in_addr addr_to_v4(const struct in6_addr *a);
/* Parses an IPv4 or IPv6 literal (IPv4 becomes v4-mapped). No names, no zone ids. */
bool addr_parse(const char *s, struct in6_addr *out);
/* "a.b.c.d" for v4-mapped, RFC 5952 text otherwise. Returns buf. */
const char *addr_str(const struct in6_addr *a, char buf[ADDR_STRLEN]);
/* ADDR[/LEN]; for IPv4 the length is given 0..32 in text and stored as 96+LEN. No /LEN = host. */
bool addr_parse_prefix(const char *s, struct in6_addr *out, uint8_t *len);
bool addr_in_prefix(const struct in6_addr *a, const struct in6_addr *prefix, uint8_t len);
void addr_mask(struct in6_addr *a, uint8_t len);
bool addr_is_unspecified(const struct in6_addr *a);
bool addr_is_link_local(const struct in6_addr *a);   /* fe80::/10, or 169.254/16 */
bool addr_is_multicast(const struct in6_addr *a);    /* ff00::/8, or 224/4 */
bool addr_is_loopback(const struct in6_addr *a);     /* ::1, or 127/8 */
bool addr_is_ula(const struct in6_addr *a);          /* fc00::/7 */
bool addr_equal(const struct in6_addr *a, const struct in6_addr *b);
/* The value of one hexadecimal digit, or -1 (text forms of MACs and escapes). */
int hex_digit(char c);

#endif
