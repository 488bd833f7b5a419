/* SPDX-License-Identifier: GPL-2.0-or-later */
/* namewatch: gives devices the names the router already knows (names.h parses, this reads). It reads
 * the DHCP servers' lease files when they change (and asks the LAN about a leased address the device
 * table does not hold yet, so the device's IPv4 address is known before it talks) and listens, passively, to mDNS on the LAN
 * interfaces (224.0.0.251 and ff02::fb, port 5353: it never sends). Names go into the device table
 * under the core's lock; the household's own names stay first (device_shown_name).
 *
 * A hostile LAN: at most NAMEWATCH_MDNS_PER_S messages are read a second (past it the socket is left
 * unread until the next second and the kernel drops the rest), a message is at most NAMEWATCH_MDNS_MAX
 * bytes, a name at most DEVICE_NAME_MAX bytes of escaped text, and a host may only name itself: a
 * record is taken only when its address belongs to the same device as the message's source address. */
#ifndef IGDD_NAMEWATCH_H
#define IGDD_NAMEWATCH_H

#include <stdbool.h>

#include "firewall/core/core.h"
#include "firewall/runtime/devwatch.h"
#include "firewall/runtime/lanif.h"
#include "firewall/runtime/loop.h"

#define NAMEWATCH_PATH_MAX     256
#define NAMEWATCH_TICK_MS      2000   /* lease files are looked at (stat) this often */
#define NAMEWATCH_MDNS_PER_S   200
#define NAMEWATCH_MDNS_MAX     9000   /* RFC 6762 17: a message, even over jumbo frames */
#define NAMEWATCH_PENDING      32     /* records waiting for their sender to be known */
#define NAMEWATCH_PENDING_S    10
/* A leased address the device table does not hold is asked about (ARP / neighbour solicitation):
 * at most this many a tick, each again after this long (a device that is away costs little). */
#define NAMEWATCH_ASK_PER_TICK 16
#define NAMEWATCH_ASK_AGAIN_S  60

struct namewatch_params {
	char dnsmasq_leases[NAMEWATCH_PATH_MAX];   /* "" = none */
	char odhcpd_leases[NAMEWATCH_PATH_MAX];    /* "" = none */
	bool mdns;
	char lan_ifname[LANIF_MAX_IFS][LANIF_NAME_MAX];   /* mDNS is heard on these only */
	size_t n_lan;
};

struct namewatch;

/* NULL + errno (ENOMEM). */
struct namewatch *namewatch_new(const struct namewatch_params *p);
void namewatch_free(struct namewatch *nw);
/* Registers with the loop (after devwatch_start: the LAN interfaces come from dw); the mDNS sockets
 * follow the LAN interfaces from then on (failing to open one is a warning). 0 or -1. */
int namewatch_start(struct namewatch *nw, struct core *c, struct devwatch *dw, struct loop *l);

#endif
