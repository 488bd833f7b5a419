/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: igdd/vis.c, what igdctl makes of the daemon's text before a terminal sees it. Any bytes:
 * the output never overflows, is always terminated, never holds a byte a terminal acts on (C0, DEL,
 * C1 or bidi controls in UTF-8 form), and with room enough all of the input fits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "igdd/vis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inert(const unsigned char *p)
{
	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			abort();
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			abort();
		if (p[0] == 0xe2 && p[1] == 0x80 && ((p[2] >= 0xaa && p[2] <= 0xae) || p[2] == 0x8e || p[2] == 0x8f ||
						      p[2] == 0xa8 || p[2] == 0xa9))
			abort();
		if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *out;
	size_t cap, small;

	if (size < 1 || size > 4096)
		return 0;
	in = malloc(size);
	if (!in)
		return 0;
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	cap = strlen(in) * VIS_MAX_EXPANSION + 1;
	out = malloc(cap);
	if (!out) {
		free(in);
		return 0;
	}
	if (!vis_str(in, out, cap) || strlen(out) >= cap)
		abort();
	inert((const unsigned char *)out);
	/* a buffer too small (size from the first byte): cut cleanly, still inert */
	small = data[0] % 16;
	if (small <= cap) {
		vis_str(in, out, small);
		if (small && strlen(out) >= small)
			abort();
		if (small)
			inert((const unsigned char *)out);
	}
	free(out);
	free(in);
	return 0;
}
