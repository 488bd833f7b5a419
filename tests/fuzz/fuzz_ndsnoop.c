/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: ndsnoop_parse on what any LAN host can put on the link. The input is the frame's
 * source MAC (6 bytes) and the IPv6 packet after it. Each input is parsed as it is, and again with its
 * ICMPv6 checksum made right (mutations almost never keep it right, and everything after the checksum
 * check would go unexplored). Whatever is accepted must be a claim of the frame's MAC on a host
 * address, by a packet that passed the checks the parser promises; bytes past the payload length
 * (Ethernet padding) must not change it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/ndsnoop.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t payload_len(const uint8_t *pkt)
{
	return (size_t)(pkt[4] << 8 | pkt[5]);
}

/* Writes the ICMPv6 checksum (RFC 8200 8.1) of the message the payload length names, if it is there. */
static void fix_sum(uint8_t *pkt, size_t len)
{
	size_t plen;
	uint32_t s;

	if (len < 44 || (plen = payload_len(pkt)) < 4 || 40 + plen > len)
		return;
	pkt[42] = pkt[43] = 0;
	s = 58 + (uint32_t)plen;
	for (size_t i = 8; i < 40; i += 2)
		s += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
	for (size_t i = 0; i < plen; i += 2)
		s += (uint32_t)(pkt[40 + i] << 8 | (i + 1 < plen ? pkt[40 + i + 1] : 0));
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	pkt[42] = (uint8_t)(~s >> 8);
	pkt[43] = (uint8_t)~s;
}

static void parse(const uint8_t *pkt, size_t len, const uint8_t mac[6])
{
	struct nd_claim c, again;
	size_t plen;

	if (!ndsnoop_parse(pkt, len, mac, &c)) {
		CHECK(c.kind == ND_CLAIM_NONE);
		return;
	}
	CHECK(c.kind == ND_CLAIM_DAD || c.kind == ND_CLAIM_ADVERT || c.kind == ND_CLAIM_SPEAK);
	CHECK(memcmp(c.mac, mac, 6) == 0);
	CHECK(!addr_is_unspecified(&c.addr) && !addr_is_multicast(&c.addr) && !addr_is_loopback(&c.addr));
	/* IPv6, no extension header, hop limit 255, ICMPv6 NS or NA with code 0 */
	CHECK(len >= 64 && pkt[0] >> 4 == 6 && pkt[6] == 58 && pkt[7] == 255);
	CHECK((pkt[40] == 135 || pkt[40] == 136) && pkt[41] == 0);
	/* a solicitation claims its source (SPEAK), or its target when from :: (DAD) */
	CHECK((c.kind == ND_CLAIM_ADVERT) == (pkt[40] == 136));
	CHECK(c.kind != ND_CLAIM_SPEAK || memcmp(&c.addr, pkt + 8, 16) == 0);
	CHECK(c.kind == ND_CLAIM_SPEAK || memcmp(&c.addr, pkt + 48, 16) == 0);
	plen = payload_len(pkt);
	CHECK(40 + plen <= len);
	CHECK(ndsnoop_parse(pkt, 40 + plen, mac, &again));
	CHECK(again.kind == c.kind && memcmp(&again.addr, &c.addr, sizeof(c.addr)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < 6)
		return 0;
	parse(data + 6, size - 6, data);
	/* an exact-size copy, so that ASan still sees a read past the end */
	if (!(copy = malloc(size - 6 ? size - 6 : 1)))
		return 0;
	memcpy(copy, data + 6, size - 6);
	fix_sum(copy, size - 6);
	parse(copy, size - 6, data);
	free(copy);
	return 0;
}
