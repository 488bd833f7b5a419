/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the config parser. Any bytes: no crash, no leak; whatever parses prints (-n) into
 * text that parses again to the same printed configuration. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/runtime/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print_conf(const struct conf *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		abort();
	conf_print(c, f);
	fclose(f);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf a, b;
	char err[512];
	char *t1, *t2;
	size_t l1, l2;

	if (conf_parse_buf((const char *)data, size, "fuzz.conf", &a, err, sizeof(err)) != 0) {
		if (strncmp(err, "fuzz.conf", 9) != 0)
			abort(); /* every error names the file */
		return 0;
	}
	t1 = print_conf(&a, &l1);
	if (conf_parse_buf(t1, l1, "printed", &b, err, sizeof(err)) != 0) {
		fprintf(stderr, "printed config does not parse: %s\n%s", err, t1);
		abort();
	}
	t2 = print_conf(&b, &l2);
	if (l1 != l2 || memcmp(t1, t2, l1) != 0)
		abort();
	free(t1);
	free(t2);
	return 0;
}
