/* SPDX-License-Identifier: GPL-2.0-or-later */
/* JSON API handlers for devices and prefixes (issue 5), pure like api.c: a request in, a status and a
 * JSON body out, the only side effects core.h calls.
 *   GET  /api/v1/devices        -> {"devices":[{"mac","name","apps","ifindex","first_seen","last_seen",
 *                                   "addresses":[{"address","kind","evidence","state","first_seen","last_seen"}]}]}
 *   PUT  /api/v1/devices/MAC   body {"name":"Game console"} ("" un-names) and/or {"apps":false|true}: the
 *                               household names a device, or forbids (allows) apps on it to open ports,
 *                               seen or not (a phone that is away), durably; blocking removes the device's
 *                               app-made rules -> {"mac","name","apps","present","removed"}; 400 wrong type,
 *                               422 bad MAC or name, 429 DEVICE_NAMES_MAX entries already, 503 not saved
 *   POST /api/v1/prefix-changed  body {"old":"2001:db8:1::/56","new":"2001:db8:2::/56"} (operator only)
 *                                -> {"old","new","reanchored","installed","pending","removed","transaction"} */
#ifndef IGDD_API_DEVICES_H
#define IGDD_API_DEVICES_H

#include "firewall/runtime/api.h"

int api_devices_get(struct core *core, const struct api_request *req, struct api_response *resp);
int api_device_put(struct core *core, const struct api_request *req, const char *mac, size_t maclen,
		   struct api_response *resp);
int api_prefix_changed(struct core *core, const struct api_request *req, struct api_response *resp);

#endif
