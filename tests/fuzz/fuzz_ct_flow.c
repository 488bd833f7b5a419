/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for pcpd/ct_flow.c's parser: every input is read as a ctnetlink conntrack message.
 * Whatever it accepts must name an endpoint that lies inside the input: the port and address bytes
 * are found again in it, so a reader that strays outside the message is caught as well as one that
 * overruns (ASan).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "pcpd/ct_flow.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an aligned copy, as a netlink receive buffer is */
	uint32_t *buf = malloc(size + 4);
	struct in_addr ext;
	uint16_t port, be;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (ct_flow_parse(buf, size, &ext, &port)) {
		be = htons(port);
		CHECK(memmem(data, size, &ext.s_addr, 4) != NULL);
		CHECK(memmem(data, size, &be, 2) != NULL);
	}
	free(buf);
	return 0;
}
