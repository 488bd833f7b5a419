/* SPDX-License-Identifier: GPL-2.0-or-later */
/* devwatch: the glue that keeps the core's view of the LAN current. It owns the device table and the
 * rtnetlink listener, runs them on the daemon's loop, feeds the table under the core's lock, asks the
 * core to install pending rules when devices show new addresses, and turns prefix decisions
 * (prefix.c) into core_reanchor() calls. It decides nothing itself.
 *
 * Order of use: devwatch_new (opens rtnetlink, dumps addresses and neighbours: the table and the current
 * prefixes are known before any rule is restored) -> core_new with devwatch_devices() ->
 * devwatch_prepare_core (compares the prefixes the store remembers with today's: a change while we were
 * down is re-anchored by core_start) -> core_start -> devwatch_start (loop). */
#ifndef IGDD_DEVWATCH_H
#define IGDD_DEVWATCH_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "loop.h"
#include "rtnl.h"

#define DEVWATCH_AGE_MS 1000   /* re-judging addresses (persistence makes them stable) and forgetting */

struct devwatch_params {
	char lan_ifname[RTNL_MAX_IFS][16];
	size_t n_lan;
	int64_t stable_after, forget_after;   /* seconds; 0 = device.h defaults */
};

struct devwatch;

/* NULL + errno when rtnetlink cannot be opened or the device table not allocated. */
struct devwatch *devwatch_new(const struct devwatch_params *p);
void devwatch_free(struct devwatch *dw);
struct device_table *devwatch_devices(struct devwatch *dw);
/* Before core_start: a LAN prefix that differs from the one the store remembers is handed to
 * core_set_start_reanchor (one per start; several LAN interfaces renumbered at once: the first). */
void devwatch_prepare_core(struct devwatch *dw, struct core *c);
/* Registers with the loop, writes the current prefixes to the store. 0 or -1. */
int devwatch_start(struct devwatch *dw, struct core *c, struct loop *l);

/* User-given device names, durable in the core's store: one meta value per name registry slot,
 * "device_name_N" = "MAC NAME" ("" = a freed slot), so a rename is one small atomic write and never
 * rewrites the other names. devwatch_prepare_core loads them. */
/* Loads every saved name into the core's device table. Returns how many. */
size_t devwatch_load_names(struct core *c);
/* Names mac ("" un-names it), whether the device is in the table now or not (it gets the name when it
 * appears): durable first, then in the table. Safe from any thread. *present (may be NULL): the device
 * is in the table now. V_OK, V_INVALID (bad MAC or name), V_QUOTA (DEVICE_NAMES_MAX names already),
 * V_NO_RESOURCES (the store refused: nothing changed), V_DISABLED (the core has no device table). */
enum verdict devwatch_name_device(struct core *c, const uint8_t mac[6], const char *name, bool *present);

#endif
