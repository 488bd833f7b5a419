/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the household decided about each device (device.h's registry: a name, apps allowed or blocked):
 * core entry points beside the device table. Deciding is here (is the MAC and the name valid, is there
 * a free slot, durable first, then the table, then the app-made rules go); the front ends (the JSON API,
 * hence the web UI and igdctl) only translate their request into one call.
 *
 * Durable in the core's store: one meta value per registry slot, "device_name_N" = a device_name_record
 * ("" = a freed slot), so a change is one small atomic write and never rewrites the others.
 * Locks: the core's devices_mu (one change at a time), then the core's lock (core.h, lock order). */
#ifndef IGDD_CORE_DEVICES_H
#define IGDD_CORE_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/core.h"

/* Loads every saved entry into the core's device table (before core_start; devwatch_prepare_core
 * does it for the daemons). Returns how many. */
size_t core_load_device_names(struct core *c);

enum core_apps { CORE_APPS_KEEP = 0, CORE_APPS_ALLOW, CORE_APPS_BLOCK };
struct core_device_entry {
	char name[DEVICE_NAME_MAX + 1];   /* the entry as it stands after the call */
	bool apps_blocked;
	bool present;                     /* the device is in the table now */
	size_t removed;                   /* app-made rules removed by blocking */
};
/* Names mac (name NULL: keeps its name, "" un-names it) and/or allows or blocks apps on it, whether the
 * device is in the table now or not (it gets the entry when it appears): durable first, then in the
 * table. Blocking then removes the device's app-made rules (core_remove_app_rules); allowing changes
 * nothing else. Safe from any thread. out may be NULL. V_OK, V_INVALID (bad MAC or name), V_QUOTA
 * (DEVICE_NAMES_MAX entries already), V_NO_RESOURCES (the store refused: nothing changed; or the rules
 * could not be removed: the block stands, asking again removes them), V_DISABLED (no device table). */
enum verdict core_set_device(struct core *c, const uint8_t mac[6], const char *name, enum core_apps apps,
			     struct core_device_entry *out);

#endif
