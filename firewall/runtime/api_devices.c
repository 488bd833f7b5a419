/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Devices and prefix changes in the JSON API (see api_devices.h). Input is hostile: types and values
 * are checked before the core sees them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core_devices.h"
#include "firewall/core/device.h"
#include "firewall/core/prefix.h"
#include "firewall/runtime/api_devices.h"

static const char *neigh_name(enum neigh_state s)
{
	switch (s) {
	case NEIGH_REACHABLE: return "reachable";
	case NEIGH_STALE:     return "stale";
	case NEIGH_FAILED:    return "failed";
	case NEIGH_ABSENT:    return "absent";
	case NEIGH_UNKNOWN:   break;
	}
	return "unknown";
}

static json_t *device_json(const struct device *d)
{
	char mac[18], a[ADDR_STRLEN];
	json_t *addrs = json_array(), *names;
	enum name_source src;
	const char *shown;

	for (size_t i = 0; addrs && i < d->naddrs; i++) {
		const struct device_addr *da = &d->addrs[i];

		if (json_array_append_new(addrs, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}",
				"address", addr_str(&da->addr, a), "kind", addr_kind_name(da->kind),
				"evidence", da->evidence, "state", neigh_name(da->neigh),
				"first_seen", (json_int_t)da->first_seen, "last_seen", (json_int_t)da->last_seen)) < 0) {
			json_decref(addrs);
			return NULL;
		}
	}
	if (!addrs)
		return NULL;
	shown = device_shown_name(d, &src);
	/* every name known, the household's first, each with where it came from */
	names = json_array();
	for (size_t i = 0; names && i < 3; i++) {
		static const enum name_source order[] = { NAME_SOURCE_HOUSEHOLD, NAME_SOURCE_DHCP, NAME_SOURCE_MDNS };
		const char *n = i == 0 ? d->name : i == 1 ? d->dhcp_name : d->mdns_name;

		if (n[0] && json_array_append_new(names, json_pack("{s:s,s:s}", "name", n, "source",
								   name_source_str(order[i]))) < 0) {
			json_decref(names);
			names = NULL;
		}
	}
	if (!names) {
		json_decref(addrs);
		return NULL;
	}
	/* "name" stays the household's own (what PUT sets); "shown_name" is what to call the device */
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:b,s:i,s:I,s:I,s:o}", "mac", mac_str(d->mac, mac), "name", d->name,
			 "shown_name", shown, "name_source", name_source_str(src), "names", names,
			 "apps", !d->apps_blocked, "ifindex", d->ifindex, "first_seen", (json_int_t)d->first_seen,
			 "last_seen", (json_int_t)d->last_seen, "addresses", addrs);
}

struct devices_out {
	json_t *arr;
	struct device_table_stats st;
};

/* Runs under the core's lock: builds JSON only (no I/O). */
static int collect(void *arg, struct device_table *t)
{
	struct devices_out *o = arg;
	const struct device *d;
	size_t pos = 0;

	device_table_stats(t, &o->st);
	while ((d = device_next(t, &pos)) != NULL)
		if (json_array_append_new(o->arr, device_json(d)) < 0)
			return -1;
	return 0;
}

int api_devices_get(struct core *core, const struct api_request *req, struct api_response *resp)
{
	struct devices_out o = { .arr = json_array() };

	(void)req;
	if (!o.arr || core_with_devices(core, collect, &o) < 0) {
		json_decref(o.arr);
		return api_respond_error(resp, 503, "no_resources", "out of memory");
	}
	/* the table's own counters: what a flood of made-up neighbours cost (evicted, refused, ignored) */
	return api_respond(resp, 200, json_pack("{s:o,s:{s:I,s:I,s:I,s:I,s:I}}", "devices", o.arr, "table",
						"devices", (json_int_t)o.st.devices, "addresses",
						(json_int_t)o.st.addresses, "evicted", (json_int_t)o.st.evicted,
						"refused", (json_int_t)o.st.refused, "claims_ignored",
						(json_int_t)o.st.claims_ignored));
}

/* The {mac} of a path: exactly "xx:xx:xx:xx:xx:xx", a MAC a device can have. */
static bool mac_segment(const char *seg, size_t len, uint8_t mac[6])
{
	char text[18];

	if (len != 17)
		return false;
	memcpy(text, seg, 17);
	text[17] = '\0';
	return mac_parse(text, mac) && mac_usable(mac);
}

static const char *put_error(enum verdict v)
{
	switch (v) {
	case V_QUOTA:    return "too many named or blocked devices: remove a name or allow one first";
	case V_DISABLED: return "this daemon does not track LAN devices";
	default:         return "the change could not be saved; ask again";
	}
}

/* The body of PUT /api/v1/devices/{mac}: "name" (string) and/or "apps" (boolean). NULL, or what is
 * wrong with it (*status 400: the shape, 422: the name's value). */
static const char *put_body(json_t *j, const char **name, enum core_apps *apps, int *status)
{
	const char *key;
	json_t *v;

	*status = 400;
	json_object_foreach(j, key, v)
		if (strcmp(key, "name") != 0 && strcmp(key, "apps") != 0)
			return "unknown field (expected \"name\" or \"apps\")";
	if (json_object_size(j) == 0)
		return "expected \"name\" or \"apps\"";
	if ((v = json_object_get(j, "apps")) && !json_is_boolean(v))
		return "\"apps\" must be true or false";
	*apps = !v ? CORE_APPS_KEEP : json_is_true(v) ? CORE_APPS_ALLOW : CORE_APPS_BLOCK;
	if (!(v = json_object_get(j, "name")))
		return NULL;
	if (!json_is_string(v))
		return "\"name\" must be a string";
	*name = json_string_value(v);
	*status = 422;
	if (strlen(*name) != json_string_length(v) || !device_name_valid(*name))
		return "\"name\" must be at most 63 bytes of text without control or format characters (\"\" removes the name)";
	return NULL;
}

int api_device_put(struct core *core, const struct api_request *req, const char *mac, size_t maclen,
		   struct api_response *resp)
{
	char text[18];
	uint8_t m[6];
	const char *name = NULL, *err;
	enum core_apps apps = CORE_APPS_KEEP;
	struct core_device_entry dev;
	enum verdict verdict;
	json_t *j;
	int rc = 0, status;

	if (!req->privileged)
		return api_respond_error(resp, 403, "not_authorized",
					 "only the household or the operator may name devices or block their apps");
	if (!mac_segment(mac, maclen, m))
		return api_respond_error(resp, 422, "invalid", "not a device MAC like 52:54:00:12:34:01");
	if (!(j = api_load_object(req, resp, &rc)))
		return rc;
	if ((err = put_body(j, &name, &apps, &status))) {
		rc = api_respond_error(resp, status, status == 400 ? "bad_request" : "invalid", err);
	} else {
		verdict = core_set_device(core, m, name, apps, &dev);
		if (verdict != V_OK)
			rc = api_respond_error(resp, api_verdict_status(verdict), api_verdict_code(verdict),
					       put_error(verdict));
		else   /* mac_str: the canonical lower-case form, whatever case was asked */
			rc = api_respond(resp, 200, json_pack("{s:s,s:s,s:b,s:b,s:I}", "mac", mac_str(m, text),
							      "name", dev.name, "apps", !dev.apps_blocked,
							      "present", dev.present, "removed", (json_int_t)dev.removed));
	}
	json_decref(j);
	return rc;
}

static bool get_prefix(json_t *obj, const char *name, struct in6_addr *p, uint8_t *len, int *status, char *msg,
		       size_t msglen)
{
	json_t *v = json_object_get(obj, name);

	if (!v || !json_is_string(v)) {
		*status = 400;
		snprintf(msg, msglen, "\"%s\" must be a string like 2001:db8:1::/56", name);
		return false;
	}
	if (strlen(json_string_value(v)) != json_string_length(v) || !prefix_parse(json_string_value(v), p, len)) {
		*status = 422;
		snprintf(msg, msglen, "\"%s\" is not an IPv6 prefix of length 1..64 without host bits", name);
		return false;
	}
	return true;
}

int api_prefix_changed(struct core *core, const struct api_request *req, struct api_response *resp)
{
	struct in6_addr op, np;
	uint8_t ol, nl;
	struct core_reanchor_result res;
	json_t *j;
	const char *key;
	json_t *v;
	char msg[160], a[PREFIX_STRLEN], b[PREFIX_STRLEN];
	int status = 0, rc;

	if (!req->privileged)
		return api_respond_error(resp, 403, "not_authorized", "only the operator may announce a prefix change");
	if (!(j = api_load_object(req, resp, &rc)))
		return rc;
	json_object_foreach(j, key, v) {
		(void)v;
		if (strcmp(key, "old") != 0 && strcmp(key, "new") != 0) {
			json_decref(j);
			return api_respond_error(resp, 400, "bad_request", "unknown field (expected \"old\" and \"new\")");
		}
	}
	if (!get_prefix(j, "old", &op, &ol, &status, msg, sizeof(msg)) ||
	    !get_prefix(j, "new", &np, &nl, &status, msg, sizeof(msg))) {
		json_decref(j);
		return api_respond_error(resp, status, status == 400 ? "bad_request" : "invalid", msg);
	}
	json_decref(j);
	if (core_reanchor(core, &op, ol, &np, nl, &res) < 0)
		return api_respond_error(resp, 503, "no_resources", "re-anchoring failed; nothing changed");
	return api_respond(resp, 200, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:b}", "old", prefix_format(&op, ol, a),
					    "new", prefix_format(&np, nl, b),
					    "reanchored", (json_int_t)(res.installed + res.pending + res.removed),
					    "installed", (json_int_t)res.installed, "pending", (json_int_t)res.pending,
					    "removed", (json_int_t)res.removed, "transaction", res.committed));
}
