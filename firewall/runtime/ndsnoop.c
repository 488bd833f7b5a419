/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Neighbour discovery snooping (see ndsnoop.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/ndsnoop.h"

#define IP6_HDR      40
#define ICMP6_NS     135
#define ICMP6_NA     136
#define ND_HDR       24      /* type, code, checksum, reserved/flags, target */
#define OPT_SLLA     1
#define OPT_TLLA     2

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The ICMPv6 checksum over the pseudo-header (RFC 8200 8.1) and the message: 0 when it holds. */
static uint16_t icmp6_sum(const uint8_t *ip6, const uint8_t *msg, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 8; i < 40; i += 2)   /* source and destination */
		sum += rd16(ip6 + i);
	sum += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
	sum += 58;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += rd16(msg + i);
	if (len & 1)
		sum += (uint32_t)msg[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Are the options well formed (no zero length, none running past the end: RFC 4861 says drop the
 * packet), and does every link-layer address option of this type name mac? *lla: there is one.
 * Ethernet's is 8 bytes (RFC 2464); one of another size, or a second naming another MAC, speaks for
 * someone else, whichever comes first. */
static bool options(const uint8_t *o, size_t len, uint8_t type, const uint8_t mac[6], bool *lla)
{
	*lla = false;
	while (len > 0) {
		size_t olen;

		if (len < 2 || o[1] == 0)
			return false;
		olen = (size_t)o[1] * 8;
		if (olen > len)
			return false;
		if (o[0] == type) {
			if (olen != 8 || memcmp(o + 2, mac, 6) != 0)
				return false;
			*lla = true;
		}
		o += olen;
		len -= olen;
	}
	return true;
}

static bool host_address(const struct in6_addr *a)
{
	return !addr_is_unspecified(a) && !addr_is_multicast(a) && !addr_is_loopback(a) && !addr_is_v4(a);
}

bool ndsnoop_parse(const uint8_t *pkt, size_t len, const uint8_t src_mac[6], struct nd_claim *out)
{
	const uint8_t *icmp;
	struct in6_addr src, dst, target;
	size_t plen;
	uint8_t type;
	bool lla;

	memset(out, 0, sizeof(*out));
	if (!pkt || !src_mac || len < IP6_HDR + ND_HDR || (pkt[0] >> 4) != 6)
		return false;
	plen = rd16(pkt + 4);
	/* no extension headers: neighbour discovery never carries any we would accept; hop limit 255 is
	 * RFC 4861's proof that the sender is on the link */
	if (pkt[6] != 58 || pkt[7] != 255 || plen < ND_HDR || IP6_HDR + plen > len)
		return false;
	icmp = pkt + IP6_HDR;
	type = icmp[0];
	if ((type != ICMP6_NS && type != ICMP6_NA) || icmp[1] != 0 || icmp6_sum(pkt, icmp, plen) != 0)
		return false;
	memcpy(&src, pkt + 8, 16);
	memcpy(&dst, pkt + 24, 16);
	memcpy(&target, icmp + 8, 16);
	/* an option speaking for another MAC: a proxy, or a liar; either way not the sender's word */
	if (addr_is_multicast(&target) ||
	    !options(icmp + ND_HDR, plen - ND_HDR, type == ICMP6_NS ? OPT_SLLA : OPT_TLLA, src_mac, &lla))
		return false;
	memcpy(out->mac, src_mac, 6);
	if (type == ICMP6_NS && addr_is_unspecified(&src)) {
		/* DAD (RFC 4862 5.4.2): to the target's solicited-node group, never with a link-layer option */
		static const uint8_t sn[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff };

		if (lla || memcmp(dst.s6_addr, sn, 13) != 0 || memcmp(dst.s6_addr + 13, target.s6_addr + 13, 3) != 0 ||
		    !host_address(&target))
			return false;
		out->kind = ND_CLAIM_DAD;
		out->addr = target;
		return true;
	}
	if (type == ICMP6_NS) {
		if (!host_address(&src))
			return false;
		out->kind = ND_CLAIM_SPEAK;
		out->addr = src;
		return true;
	}
	/* an advertisement of the target as the sender's own (only a router may proxy: R flag aside,
	 * the option check above already refused another MAC) */
	if (!host_address(&target))
		return false;
	out->kind = ND_CLAIM_ADVERT;
	out->addr = target;
	return true;
}

int ndsnoop_open(void)
{
	/* the packet from the IPv6 header on (SOCK_DGRAM): next header 58, hop limit 255, type 135/136 */
	static struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 6),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 7),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 255, 0, 4),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 40),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP6_NS, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP6_NA, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 1500),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IPV6)), one = 1, e;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		goto fail;
	/* our own solicitations (the kernel's, when devwatch asks) are not a host's word */
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int ndsnoop_read(int fd, size_t max, void (*cb)(void *arg, int ifindex, const struct nd_claim *c), void *arg)
{
	uint8_t buf[1500];
	int n = 0;

	for (size_t i = 0; i < max; i++) {
		struct sockaddr_ll from;
		socklen_t fromlen = sizeof(from);
		struct nd_claim c;
		ssize_t got = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);

		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			return -1;
		}
		n++;
		if (fromlen < offsetof(struct sockaddr_ll, sll_addr) + 6 || from.sll_pkttype == PACKET_OUTGOING ||
		    from.sll_halen != 6)
			continue;
		if (ndsnoop_parse(buf, (size_t)got, from.sll_addr, &c))
			cb(arg, from.sll_ifindex, &c);
	}
	return n;
}
