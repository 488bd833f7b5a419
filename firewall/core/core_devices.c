/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The household's decisions about devices (see core_devices.h), built on the core's entry points
 * (core_with_devices, core_meta_get/set, core_remove_app_rules): nothing here reaches inside struct core
 * but for its devices_mu. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "firewall/core/core_devices.h"
#include "firewall/core/core_priv.h"
#include "firewall/core/device.h"
#include "firewall/lib/log.h"

#define NAME_KEY_FMT "device_name_%d"   /* + registry slot: the store meta key of one device name */
#define NAME_KEY_MAX 24

struct name_op {
	uint8_t mac[6];
	char name[DEVICE_NAME_MAX + 1];
	bool apps_blocked;
	int slot;
	bool present;
};

/* These run under the core's lock; they return 1 (core_with_devices answers 0 when there is no table). */
static int slot_locked(void *arg, struct device_table *t)
{
	struct name_op *op = arg;

	op->slot = device_name_slot(t, op->mac);
	snprintf(op->name, sizeof(op->name), "%s", device_name_of(t, op->mac));
	op->apps_blocked = device_apps_blocked(t, op->mac);
	op->present = device_find(t, op->mac) != NULL;
	return 1;
}

static int put_locked(void *arg, struct device_table *t)
{
	struct name_op *op = arg;

	return device_name_put(t, op->slot, op->mac, op->name, op->apps_blocked) == 0 ? 1 : -1;
}

size_t core_load_device_names(struct core *c)
{
	char key[NAME_KEY_MAX], rec[DEVICE_NAME_RECORD_MAX + 8];
	size_t n = 0;

	/* every slot: a hand-deleted file leaves a gap, and 1,024 absent files cost a millisecond */
	for (int slot = 0; slot < DEVICE_NAMES_MAX; slot++) {
		struct name_op op = { .slot = slot };

		snprintf(key, sizeof(key), NAME_KEY_FMT, slot);
		if (core_meta_get(c, key, rec, sizeof(rec)) < 0 || !rec[0])
			continue;
		if (!device_name_record_parse(rec, op.mac, op.name, &op.apps_blocked) ||
		    core_with_devices(c, put_locked, &op) <= 0) {
			log_warnx("store: %s holds \"%s\", not \"MAC NAME\" of a device not named before; ignored",
				  key, rec);
			continue;
		}
		n++;
	}
	return n;
}

static void log_change(const struct name_op *was, const struct name_op *now)
{
	char m[18];

	mac_str(now->mac, m);
	if (strcmp(was->name, now->name) != 0)
		log_info("devices: %s %s%s%s", m, *now->name ? "is now named \"" : "has no name now", now->name,
			 *now->name ? "\"" : "");
	if (was->apps_blocked != now->apps_blocked)
		log_info("devices: apps on %s may %sopen ports now", m, now->apps_blocked ? "not " : "");
}

enum verdict core_set_device(struct core *c, const uint8_t mac[6], const char *name, enum core_apps apps,
			     struct core_device_entry *out)
{
	struct name_op was = { 0 }, op;
	char key[NAME_KEY_MAX], rec[DEVICE_NAME_RECORD_MAX], m[18];
	enum verdict v = V_OK;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!mac_usable(mac) || (name && !device_name_valid(name)))
		return V_INVALID;
	memcpy(was.mac, mac, 6);
	/* one change at a time (web and control threads): choosing the slot, writing it and putting it in
	 * the table belong together, and the core's lock cannot be held across core_meta_set */
	pthread_mutex_lock(&c->devices_mu);
	if (core_with_devices(c, slot_locked, &was) <= 0) {
		v = V_DISABLED;
		goto out;
	}
	op = was;
	if (name)
		snprintf(op.name, sizeof(op.name), "%s", name);
	if (apps != CORE_APPS_KEEP)
		op.apps_blocked = apps == CORE_APPS_BLOCK;
	if (!*was.name && !was.apps_blocked && !*op.name && !op.apps_blocked)
		goto out;   /* emptying an entry the device does not have: nothing to do */
	if (op.slot < 0) {
		v = V_QUOTA;
	} else {
		snprintf(key, sizeof(key), NAME_KEY_FMT, op.slot);
		if (*op.name || op.apps_blocked)
			device_name_record(mac, op.name, op.apps_blocked, rec);
		else
			rec[0] = '\0';
		/* durable first: an answer of 200 survives a restart */
		if (core_meta_set(c, key, rec) < 0) {
			log_warn("store: cannot save what was decided for %s", mac_str(mac, m));
			v = V_NO_RESOURCES;
		} else if (core_with_devices(c, put_locked, &op) <= 0) {
			v = V_NO_RESOURCES;
		} else {
			log_change(&was, &op);
		}
	}
	/* after the table says blocked, so that no new app rule can slip in behind the removal; asked
	 * again on every block, so a retry finishes what a refused one left */
	if (v == V_OK && apps == CORE_APPS_BLOCK &&
	    core_remove_app_rules(c, mac, out ? &out->removed : NULL) < 0) {
		log_warnx("devices: apps on %s are blocked, but their rules could not be removed yet", mac_str(mac, m));
		v = V_NO_RESOURCES;
	}
	if (out) {
		snprintf(out->name, sizeof(out->name), "%s", v == V_OK ? op.name : was.name);
		out->apps_blocked = v == V_OK ? op.apps_blocked : was.apps_blocked;
	}
out:
	pthread_mutex_unlock(&c->devices_mu);
	if (out)
		out->present = was.present;
	return v;
}
