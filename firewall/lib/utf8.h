/* SPDX-License-Identifier: GPL-2.0-or-later */
/* utf8_: strict UTF-8 (RFC 3629: shortest form only, no surrogates, nothing above U+10FFFF), for the
 * text LAN hosts send (PCP descriptions, device names, mDNS labels) and for showing it. Pure. */
#ifndef IGDD_UTF8_H
#define IGDD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The sequence at s (at most n bytes): its length (1..4) and code point, or 0 when the bytes there
 * are not one well-formed sequence (overlong, surrogate, too large, cut short, n == 0). */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Are all n bytes at s well-formed UTF-8 without a NUL (text handed on as a C string)? */
bool utf8_valid(const void *s, size_t n);

#endif
