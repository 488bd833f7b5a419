/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Text made visible for a terminal (see vis.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/utf8.h"
#include "igdd/vis.h"

/* Code points that change how a terminal shows the text rather than being text. */
static bool hidden_format(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x200e || c == 0x200f || c == 0x2028 || c == 0x2029 ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

bool vis_str(const char *in, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strlen(in), o = 0;

	if (outlen == 0)
		return n == 0;
	for (size_t i = 0; i < n;) {
		char esc[12];
		const char *piece = esc;
		size_t plen, used;
		uint32_t c;

		used = utf8_decode(s + i, n - i, &c);
		if (used == 0 || c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", s[i]);
			used = 1;
		} else if (c == '\\') {
			snprintf(esc, sizeof(esc), "\\\\");
		} else if (hidden_format(c)) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)c);
		} else {
			piece = (const char *)s + i;
		}
		plen = piece == esc ? strlen(esc) : used;
		if (o + plen >= outlen) {
			out[o] = '\0';
			return false;
		}
		memcpy(out + o, piece, plen);
		o += plen;
		i += used;
	}
	out[o] = '\0';
	return true;
}

int vis_json(json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		size_t cap = strlen(s) * VIS_MAX_EXPANSION + 1;
		char *out;
		int rc;

		out = malloc(cap);
		if (!out)
			return -1;
		vis_str(s, out, cap);
		rc = strcmp(out, s) == 0 ? 0 : json_string_set(j, out);
		free(out);
		return rc;
	}
	if (json_is_object(j)) {
		json_object_foreach(j, key, v)
			if (vis_json(v) < 0)
				return -1;
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if (vis_json(v) < 0)
				return -1;
	}
	return 0;
}
