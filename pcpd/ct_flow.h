/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection tracker's view of one outbound IPv4 flow (ctnetlink GET, libmnl): the external
 * endpoint a NAT already gave it. The PCP server asks it for a new IPv4 PEER (RFC 6887 12.3: a PEER
 * for a flow that is running reuses the flow's mapping, so the answer must name the port the flow
 * really has, which the block map's SNAT on a CGN or masquerade on a CPE chose). One request and its
 * answer per new PEER; the socket waits at most CT_FLOW_TIMEOUT_MS for the kernel.
 */
#ifndef IGDD_CT_FLOW_H
#define IGDD_CT_FLOW_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_FLOW_TIMEOUT_MS 50

struct ct_flow;

/* NULL (errno set) when no netlink socket could be had. */
struct ct_flow *ct_flow_open(void);
void ct_flow_close(struct ct_flow *c);
/* Does conntrack hold the flow internal:int_port -> remote:remote_port/proto (its original
 * direction)? If so, true and the external endpoint its answers come to (the reply direction's
 * destination). Addresses in network order, ports in host order. */
bool ct_flow_ext(struct ct_flow *c, struct in_addr internal, uint16_t int_port, struct in_addr remote,
		 uint16_t remote_port, uint8_t proto, struct in_addr *ext, uint16_t *ext_port);
/* Pure: the external endpoint in one ctnetlink conntrack message (nlmsghdr and all) of len bytes:
 * its reply tuple's destination. False when the bytes hold none. */
bool ct_flow_parse(const void *msg, size_t len, struct in_addr *ext, uint16_t *ext_port);

#endif
