/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON API handlers (see api.h). Pure: no I/O; the only side effects are core.h calls.
 * Input is hostile (the web UI is reachable from every LAN host): every field is checked for its
 * JSON type (wrong type -> 400 bad_request) and its range (bad value -> 422 invalid) before the
 * core sees it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firewall/lib/addr.h"
#include "firewall/core/policy.h"
#include "firewall/runtime/api.h"
#include "firewall/runtime/api_devices.h"

/* ---------- rule -> JSON ---------- */

static json_t *api_rule_to_json_base(const struct rule *r, int64_t now);

static json_t *addr_json(const struct in6_addr *a)
{
	char buf[ADDR_STRLEN];

	return json_string(addr_str(a, buf));
}

/* "ADDR/LEN" with the IPv4 length given 0..32 (stored as 96+LEN). */
static json_t *prefix_json(const struct in6_addr *a, uint8_t len)
{
	char buf[ADDR_STRLEN], out[ADDR_STRLEN + 8];
	unsigned shown = addr_is_v4(a) && len >= 96 ? len - 96u : len;

	snprintf(out, sizeof(out), "%s/%u", addr_str(a, buf), shown);
	return json_string(out);
}

static json_t *remote_json(const struct rule *r)
{
	if (r->remote_len == 0)
		return json_null();
	if (r->remote_len == 128)
		return addr_json(&r->remote);
	return prefix_json(&r->remote, r->remote_len);
}

static json_t *mac_json(const struct rule_target *t)
{
	char buf[18];

	if (!t->has_mac)
		return json_null();
	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", t->mac[0], t->mac[1], t->mac[2], t->mac[3],
		 t->mac[4], t->mac[5]);
	return json_string(buf);
}

static json_t *target_json(const struct rule_target *t)
{
	return json_pack("{s:o,s:o,s:s,s:o,s:o}",
			 "mac", mac_json(t),
			 "exact", t->use_exact ? addr_json(&t->exact) : json_null(),
			 "exact_kind", addr_kind_name(t->exact_kind),
			 "stable", t->use_stable && t->stable_resolved ? addr_json(&t->stable) : json_null(),
			 "subnet", t->use_stable ? prefix_json(&t->subnet, t->subnet_len) : json_null());
}

/* The address a user thinks of as "the" target: the one asked for, else the stable one. */
static json_t *primary_address_json(const struct rule_target *t)
{
	if (t->use_exact)
		return addr_json(&t->exact);
	if (t->use_stable && t->stable_resolved)
		return addr_json(&t->stable);
	return json_null();
}

/* The upstream view's answer, or NULL; status: the status object, else rule_id's. */
static json_t *upstream_json(const struct api_upstream *u, bool status, uint32_t rule_id)
{
	if (u == NULL)
		return NULL;
	if (status)
		return u->status ? u->status(u->arg) : NULL;
	return u->rule ? u->rule(u->arg, rule_id) : NULL;
}

json_t *api_rule_to_json(const struct rule *r, int64_t now, const struct api_upstream *u)
{
	json_t *j = api_rule_to_json_base(r, now), *up;

	if (j && r->kind == RULE_PORTMAP && (up = upstream_json(u, false, r->id)) != NULL)
		json_object_set_new(j, "upstream", up);
	return j;
}

static json_t *api_rule_to_json_base(const struct rule *r, int64_t now)
{
	char pbuf[8];
	bool portmap = r->kind == RULE_PORTMAP;
	json_t *ext_addr = json_null();

	if (portmap && r->ext_addr.s_addr != 0) {
		struct in6_addr a;

		addr_from_v4(&a, r->ext_addr);
		json_decref(ext_addr);
		ext_addr = addr_json(&a);
	}
	return json_pack("{s:I,s:s,s:s,s:s,s:o,s:i,s:o,s:o,s:o,s:i,s:I,s:I,s:o,s:s,s:o,s:s,s:I,s:I,s:o}",
			 "id", (json_int_t)r->id,
			 "kind", rule_kind_name(r->kind),
			 "state", rule_state_name(r->state),
			 "proto", proto_name(r->proto, pbuf),
			 "address", primary_address_json(&r->target),
			 "port", (int)r->int_port,
			 "ext_port", portmap ? json_integer(r->ext_port) : json_null(),
			 "ext_addr", ext_addr,
			 "remote", remote_json(r),
			 "remote_port", (int)r->remote_port,
			 "lease", (json_int_t)r->lease,
			 "expires", (json_int_t)r->expires,
			 "expires_in", r->expires ? json_integer(r->expires > now ? r->expires - now : 0) : json_null(),
			 "origin", rule_origin_name(r->origin),
			 "owner", addr_json(&r->owner),
			 "description", r->desc,
			 "packets", (json_int_t)(r->packets > INT64_MAX ? INT64_MAX : r->packets),
			 "bytes", (json_int_t)(r->bytes > INT64_MAX ? INT64_MAX : r->bytes),
			 "target", target_json(&r->target));
}

/* ---------- errors and verdicts ---------- */

/* Every error answer is a JSON document, whatever its message holds. jansson's parse errors quote the
 * input near the fault, cut at any byte (half of a UTF-8 sequence, or bytes that never were UTF-8):
 * such a message cannot be a JSON string, so it goes out with its non-ASCII bytes as '?'. */
json_t *api_error_json(const char *code, const char *message)
{
	json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
	char ascii[256];
	size_t i;

	if (j || !message)
		return j;
	for (i = 0; message[i] && i < sizeof(ascii) - 1; i++)
		ascii[i] = (unsigned char)message[i] < 0x80 ? message[i] : '?';
	ascii[i] = '\0';
	return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", ascii);
}

int api_verdict_status(enum verdict v)
{
	switch (v) {
	case V_OK:                return 200;
	case V_INVALID:           return 422;
	case V_NOT_AUTHORIZED:    return 403;
	case V_BAD_TARGET:        return 403;
	case V_LOW_PORT:          return 403;
	case V_CONFLICT:          return 409;
	case V_QUOTA:             return 429;
	case V_NOT_FOUND:         return 404;
	case V_UNSUPPORTED_PROTO: return 422;
	case V_NO_RESOURCES:      return 503;
	case V_DISABLED:          return 503;
	case V_ASKING:            return 503;
	}
	return 500;
}

const char *api_verdict_code(enum verdict v)
{
	switch (v) {
	case V_OK:                return "ok";
	case V_INVALID:           return "invalid";
	case V_NOT_AUTHORIZED:    return "not_authorized";
	case V_BAD_TARGET:        return "bad_target";
	case V_LOW_PORT:          return "low_port";
	case V_CONFLICT:          return "conflict";
	case V_QUOTA:             return "quota";
	case V_NOT_FOUND:         return "not_found";
	case V_UNSUPPORTED_PROTO: return "unsupported_proto";
	case V_NO_RESOURCES:      return "no_resources";
	case V_DISABLED:          return "disabled";
	case V_ASKING:            return "no_resources";
	}
	return "internal";
}

/* ---------- responses ---------- */

int api_respond(struct api_response *resp, int status, json_t *body)
{
	resp->status = status;
	resp->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!resp->body) {
		resp->status = 500;
		return -1;
	}
	return 0;
}

int api_respond_error(struct api_response *resp, int status, const char *code, const char *message)
{
	return api_respond(resp, status, api_error_json(code, message));
}

static int respond_verdict(struct api_response *resp, enum verdict v)
{
	return api_respond_error(resp, api_verdict_status(v), api_verdict_code(v), verdict_str(v));
}

static int respond_rule(struct api_response *resp, int status, const struct rule *r, int64_t now,
			const struct api_upstream *u)
{
	json_t *j = api_rule_to_json(r, now, u);

	return api_respond(resp, status, j ? json_pack("{s:o}", "rule", j) : NULL);
}

/* ---------- request bodies ---------- */

/* A field error: 400 for a wrong JSON type, 422 for a bad value. */
struct field_err {
	int status;
	char msg[160];
};

static bool fail(struct field_err *fe, int status, const char *fmt, const char *name)
{
	fe->status = status;
	snprintf(fe->msg, sizeof(fe->msg), fmt, name);
	return false;
}

/* Integer field in [min, max]; absent -> *present false (required fields checked by the caller). */
static bool get_int(json_t *obj, const char *name, bool required, json_int_t min, json_int_t max,
		    json_int_t *out, bool *present, struct field_err *fe)
{
	json_t *v = json_object_get(obj, name);

	*present = v != NULL;
	if (!v)
		return required ? fail(fe, 400, "missing field \"%s\"", name) : true;
	if (!json_is_integer(v))
		return fail(fe, 400, "\"%s\" must be an integer", name);
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return fail(fe, 422, "\"%s\" is out of range", name);
	return true;
}

static bool get_str(json_t *obj, const char *name, bool required, const char **out, struct field_err *fe)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (!v)
		return required ? fail(fe, 400, "missing field \"%s\"", name) : true;
	if (!json_is_string(v))
		return fail(fe, 400, "\"%s\" must be a string", name);
	/* jansson keeps embedded NULs (\u0000) in strings: refuse them, our C strings would lie */
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(fe, 422, "\"%s\" contains a NUL character", name);
	*out = json_string_value(v);
	return true;
}

static bool only_known_fields(json_t *obj, const char *const *known, struct field_err *fe)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		bool ok = false;

		(void)v;
		for (const char *const *k = known; *k; k++)
			if (strcmp(*k, key) == 0)
				ok = true;
		if (!ok) {
			fe->status = 400;
			snprintf(fe->msg, sizeof(fe->msg), "unknown field \"%.64s\"", key);
			return false;
		}
	}
	return true;
}

/* "tcp", "udp", "any", "17", or the number 17. */
static bool get_proto(json_t *obj, uint16_t *out, struct field_err *fe)
{
	json_t *v = json_object_get(obj, "proto");

	if (!v)
		return fail(fe, 400, "missing field \"%s\"", "proto");
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		if ((n < 0 || n > 255) && n != RULE_PROTO_ANY)
			return fail(fe, 422, "\"%s\" is not a protocol", "proto");
		*out = (uint16_t)n;
		return true;
	}
	if (!json_is_string(v))
		return fail(fe, 400, "\"%s\" must be a string", "proto");
	if (strlen(json_string_value(v)) != json_string_length(v) || !proto_parse(json_string_value(v), out))
		return fail(fe, 422, "\"%s\" is not a protocol (tcp, udp, any or a number)", "proto");
	return true;
}

static bool parse_kind(json_t *obj, enum rule_kind *kind, struct field_err *fe)
{
	const char *s;

	if (!get_str(obj, "kind", true, &s, fe))
		return false;
	if (!rule_kind_parse(s, kind))
		return fail(fe, 422, "\"%s\" must be pinhole or portmap", "kind");
	return true;
}

static bool parse_target(json_t *obj, struct rule *r, struct field_err *fe)
{
	const char *s;
	bool want_v4 = r->kind == RULE_PORTMAP;

	if (!get_str(obj, "address", true, &s, fe))
		return false;
	if (!addr_parse(s, &r->target.exact))
		return fail(fe, 422, "\"%s\" is not an IP address", "address");
	if (addr_is_v4(&r->target.exact) != want_v4)
		return fail(fe, 422, want_v4 ? "\"%s\" must be an IPv4 address for a portmap"
					     : "\"%s\" must be an IPv6 address for a pinhole", "address");
	r->target.use_exact = true;
	return true;
}

static bool parse_remote(json_t *obj, struct rule *r, struct field_err *fe)
{
	const char *s;
	json_int_t n;
	bool present;

	if (!get_str(obj, "remote", false, &s, fe))
		return false;
	if (s && *s) {
		if (!addr_parse_prefix(s, &r->remote, &r->remote_len))
			return fail(fe, 422, "\"%s\" is not an address or prefix", "remote");
		if (addr_is_v4(&r->remote) != (r->kind == RULE_PORTMAP))
			return fail(fe, 422, "\"%s\" has the wrong address family", "remote");
	}
	if (!get_int(obj, "remote_port", false, 0, 65535, &n, &present, fe))
		return false;
	r->remote_port = present ? (uint16_t)n : 0;
	return true;
}

static bool parse_ports(json_t *obj, struct rule *r, struct field_err *fe)
{
	json_int_t n;
	bool present;

	if (!get_int(obj, "port", true, 0, 65535, &n, &present, fe))
		return false;
	r->int_port = (uint16_t)n;
	if (r->kind == RULE_PORTMAP) {
		if (!get_int(obj, "ext_port", true, 1, 65535, &n, &present, fe))
			return false;
		r->ext_port = (uint16_t)n;
	} else if (json_object_get(obj, "ext_port")) {
		return fail(fe, 422, "\"%s\" is for portmaps only", "ext_port");
	}
	return true;
}

static bool parse_ext_addr(json_t *obj, struct rule *r, struct field_err *fe)
{
	const char *s;
	struct in6_addr a;

	if (!get_str(obj, "ext_addr", false, &s, fe))
		return false;
	if (!s || !*s)
		return true;
	if (r->kind != RULE_PORTMAP)
		return fail(fe, 422, "\"%s\" is for portmaps only", "ext_addr");
	if (!addr_parse(s, &a) || !addr_is_v4(&a))
		return fail(fe, 422, "\"%s\" must be an IPv4 address", "ext_addr");
	r->ext_addr = addr_to_v4(&a);
	return true;
}

static bool parse_desc_lease(json_t *obj, struct rule *r, struct field_err *fe)
{
	const char *s;
	json_int_t n;
	bool present;

	if (!get_str(obj, "description", false, &s, fe))
		return false;
	if (s) {
		if (strlen(s) > RULE_DESC_MAX)
			return fail(fe, 422, "\"%s\" is too long", "description");
		strcpy(r->desc, s);
	}
	if (!get_int(obj, "lease", false, 0, UINT32_MAX, &n, &present, fe))
		return false;
	r->lease = present ? (uint32_t)n : 0;
	return true;
}

static const char *const rule_fields[] = {
	"kind", "address", "proto", "port", "ext_port", "ext_addr", "lease", "remote", "remote_port",
	"description", NULL,
};

/* A POST /rules body -> a rule to add. */
static bool parse_new_rule(json_t *obj, struct rule *r, struct field_err *fe)
{
	memset(r, 0, sizeof(*r));
	if (!json_is_object(obj))
		return fail(fe, 400, "the body must be a JSON %s", "object");
	return only_known_fields(obj, rule_fields, fe) && parse_kind(obj, &r->kind, fe) &&
	       get_proto(obj, &r->proto, fe) && parse_target(obj, r, fe) && parse_ports(obj, r, fe) &&
	       parse_ext_addr(obj, r, fe) && parse_remote(obj, r, fe) && parse_desc_lease(obj, r, fe);
}

json_t *api_parse_object(const char *body, size_t len, struct api_body_problem *p)
{
	json_error_t jerr;
	json_t *j;

	p->status = 400;
	p->code = "bad_json";
	if (!body || len == 0) {
		snprintf(p->message, sizeof(p->message), "a JSON body is required");
		return NULL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!j) {
		snprintf(p->message, sizeof(p->message), "bad JSON at %d:%d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		p->code = "bad_request";
		snprintf(p->message, sizeof(p->message), "the body must be a JSON object");
		return NULL;
	}
	return j;
}

json_t *api_load_object(const struct api_request *req, struct api_response *resp, int *rc)
{
	struct api_body_problem p;
	json_t *j = api_parse_object(req->body, req->body_len, &p);

	if (!j)
		*rc = api_respond_error(resp, p.status, p.code, p.message);
	return j;
}

static int64_t request_now(const struct api_request *req)
{
	return req->now ? req->now : (int64_t)time(NULL);
}

/* ---------- endpoints ---------- */

static const char *fw_mode_name(enum fw_mode m)
{
	return m == FW_INTEGRATED ? "integrated" : "standalone";
}

static int get_status(struct core *core, const struct api_request *req, struct api_response *resp)
{
	struct core_status st;
	char table[FW_NAME_MAX + 16] = "";

	json_t *body, *up;

	memset(&st, 0, sizeof(st));
	core_status(core, &st);
	if (req->fw)
		snprintf(table, sizeof(table), "%s %s", req->fw->family, req->fw->table);
	body = json_pack("{s:s,s:{s:I,s:I,s:I},s:{s:s,s:o,s:o,s:I,s:I}}",
		"version", IGDD_VERSION,
		"rules", "pinholes", (json_int_t)st.pinholes, "portmaps", (json_int_t)st.portmaps,
			 "pending", (json_int_t)st.pending,
		"firewall", "backend", st.backend ? st.backend : "",
			    "table", req->fw ? json_string(table) : json_null(),
			    "mode", req->fw ? json_string(fw_mode_name(req->fw->mode)) : json_null(),
			    "transactions", (json_int_t)st.fw_transactions,
			    "reconciles", (json_int_t)st.reconciles);
	if (body && (up = upstream_json(req->upstream, true, 0)) != NULL)
		json_object_set_new(body, "upstream", up);
	return api_respond(resp, 200, body);
}

static int get_rules(struct core *core, const struct api_request *req, struct api_response *resp)
{
	struct rule *rules = NULL;
	size_t n;

	/* Fresh packet counters from the kernel (one dump of our sets) before listing. */
	core_read_counters(core);
	n = core_list(core, &rules);
	json_t *arr = json_array();
	int64_t now = request_now(req);

	for (size_t i = 0; arr && i < n; i++) {
		json_t *r = api_rule_to_json(&rules[i], now, req->upstream);
		int64_t last = core_last_packet(core, rules[i].id);

		/* when the rule last admitted traffic (as the counters showed it), for the household's chart */
		if (r && json_object_set_new(r, "last_packet", last ? json_integer(last) : json_null()) < 0) {
			json_decref(r);
			r = NULL;
		}
		if (json_array_append_new(arr, r) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(rules);
	return api_respond(resp, 200, arr ? json_pack("{s:o}", "rules", arr) : NULL);
}

static int get_rule(struct core *core, const struct api_request *req, uint32_t id, struct api_response *resp)
{
	struct rule r;
	enum verdict v;

	core_read_counters(core);
	v = core_get(core, id, &r);

	if (v != V_OK)
		return respond_verdict(resp, v);
	return respond_rule(resp, 200, &r, request_now(req), req->upstream);
}

static int post_rule(struct core *core, const struct api_request *req, struct api_response *resp)
{
	struct core_add_req add;
	struct field_err fe;
	struct rule out;
	enum verdict v;
	int rc = 0;
	json_t *j = api_load_object(req, resp, &rc);

	if (!j)
		return rc;
	memset(&add, 0, sizeof(add));
	if (!parse_new_rule(j, &add.rule, &fe)) {
		json_decref(j);
		return api_respond_error(resp, fe.status, fe.status == 400 ? "bad_request" : "invalid", fe.msg);
	}
	json_decref(j);
	add.rule.origin = req->origin;
	add.rule.owner = req->peer;
	add.privileged = req->privileged;
	/* the operator's lease is taken as given (0 = no expiry); everyone else's is clamped */
	add.exact_lease = req->origin == ORIGIN_CTL && req->privileged;
	v = core_add_wait(core, &add, &out);
	if (v != V_OK)
		return respond_verdict(resp, v);
	return respond_rule(resp, 201, &out, request_now(req), req->upstream);
}

static int post_refresh(struct core *core, const struct api_request *req, uint32_t id,
			struct api_response *resp)
{
	static const char *const fields[] = { "lease", NULL };
	struct field_err fe;
	struct rule out;
	json_int_t lease = 0;
	bool present;
	enum verdict v;
	int rc = 0;
	json_t *j = api_load_object(req, resp, &rc);

	if (!j)
		return rc;
	if (!only_known_fields(j, fields, &fe) ||
	    !get_int(j, "lease", true, 0, UINT32_MAX, &lease, &present, &fe)) {
		json_decref(j);
		return api_respond_error(resp, fe.status, fe.status == 400 ? "bad_request" : "invalid", fe.msg);
	}
	json_decref(j);
	v = core_refresh(core, id, (uint32_t)lease, &req->peer, req->privileged, &out);
	if (v != V_OK)
		return respond_verdict(resp, v);
	return respond_rule(resp, 200, &out, request_now(req), req->upstream);
}

/* POST /api/v1/rules/ID/give {"mac":"52:54:00:12:34:02"}: the household gives the rule's port to
 * another device (core_give decides). */
static int post_give(struct core *core, const struct api_request *req, uint32_t id, struct api_response *resp)
{
	static const char *const fields[] = { "mac", NULL };
	struct field_err fe;
	struct rule out;
	uint8_t mac[6];
	enum verdict v;
	json_t *j, *m;
	int rc = 0;

	if (!req->privileged)
		return api_respond_error(resp, 403, "not_authorized", "only the household or the operator may give a port to another device");
	if (!(j = api_load_object(req, resp, &rc)))
		return rc;
	if (!only_known_fields(j, fields, &fe)) {
		json_decref(j);
		return api_respond_error(resp, fe.status, fe.status == 400 ? "bad_request" : "invalid", fe.msg);
	}
	m = json_object_get(j, "mac");
	if (!m || !json_is_string(m)) {
		json_decref(j);
		return api_respond_error(resp, 400, "bad_request", "\"mac\" must be a string like 52:54:00:12:34:02");
	}
	if (strlen(json_string_value(m)) != json_string_length(m) || !mac_parse(json_string_value(m), mac) ||
	    !mac_usable(mac)) {
		json_decref(j);
		return api_respond_error(resp, 422, "invalid", "\"mac\" is not a device MAC like 52:54:00:12:34:02");
	}
	json_decref(j);
	v = core_give(core, id, mac, &out);
	if (v != V_OK)
		return respond_verdict(resp, v);
	return respond_rule(resp, 200, &out, request_now(req), req->upstream);
}

static int delete_rule(struct core *core, const struct api_request *req, uint32_t id, struct api_response *resp)
{
	enum verdict v = core_delete(core, id, &req->peer, req->privileged);

	if (v != V_OK)
		return respond_verdict(resp, v);
	return api_respond(resp, 200, json_pack("{s:I}", "deleted", (json_int_t)id));
}

/* ---------- routing ---------- */

enum route {
	ROUTE_NONE,
	ROUTE_STATUS,
	ROUTE_RULES,
	ROUTE_RULE,
	ROUTE_REFRESH,
	ROUTE_GIVE,
	ROUTE_DEVICES,
	ROUTE_DEVICE,
	ROUTE_PREFIX_CHANGED,
};

/* Paths without an id. */
static const struct {
	const char *path;
	enum route route;
} fixed_routes[] = {
	{ "/api/v1/status", ROUTE_STATUS },
	{ "/api/v1/devices", ROUTE_DEVICES },
	{ "/api/v1/prefix-changed", ROUTE_PREFIX_CHANGED },
};

/* Decimal id 1..RULE_ID_MAX, no sign, no leading zero; consumes up to '/' or the end. */
static bool parse_id(const char *s, size_t n, uint32_t *id)
{
	uint64_t v = 0;

	if (n == 0 || n > 10 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > RULE_ID_MAX)
		return false;
	*id = (uint32_t)v;
	return true;
}

/* What a path names besides its route: a rule id, or the last segment of /devices/{mac}. */
struct route_arg {
	uint32_t id;
	const char *seg;
	size_t seglen;
};

static enum route route_path(const char *path, size_t len, struct route_arg *arg)
{
	static const char rules[] = "/api/v1/rules", device[] = "/api/v1/devices/";
	const size_t rl = sizeof(rules) - 1, dl = sizeof(device) - 1;
	const char *rest, *slash;
	size_t restlen;
	uint32_t *id = &arg->id;

	for (size_t i = 0; i < sizeof(fixed_routes) / sizeof(fixed_routes[0]); i++)
		if (len == strlen(fixed_routes[i].path) && memcmp(path, fixed_routes[i].path, len) == 0)
			return fixed_routes[i].route;
	/* any one segment: a bad MAC is the handler's 422, not a missing path */
	if (len > dl && memcmp(path, device, dl) == 0 && !memchr(path + dl, '/', len - dl)) {
		arg->seg = path + dl;
		arg->seglen = len - dl;
		return ROUTE_DEVICE;
	}
	if (len < rl || memcmp(path, rules, rl) != 0)
		return ROUTE_NONE;
	if (len == rl)
		return ROUTE_RULES;
	if (path[rl] != '/')
		return ROUTE_NONE;
	rest = path + rl + 1;
	restlen = len - rl - 1;
	slash = memchr(rest, '/', restlen);
	if (!slash)
		return parse_id(rest, restlen, id) ? ROUTE_RULE : ROUTE_NONE;
	if (!parse_id(rest, (size_t)(slash - rest), id))
		return ROUTE_NONE;
	if ((size_t)(rest + restlen - slash) == strlen("/refresh") && memcmp(slash, "/refresh", 8) == 0)
		return ROUTE_REFRESH;
	if ((size_t)(rest + restlen - slash) == strlen("/give") && memcmp(slash, "/give", 5) == 0)
		return ROUTE_GIVE;
	return ROUTE_NONE;
}

static int dispatch(struct core *core, const struct api_request *req, enum route rt, const struct route_arg *arg,
		    struct api_response *resp)
{
	const char *m = req->method;
	bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;
	uint32_t id = arg->id;

	switch (rt) {
	case ROUTE_STATUS:
		if (get)
			return get_status(core, req, resp);
		break;
	case ROUTE_RULES:
		if (get)
			return get_rules(core, req, resp);
		if (post)
			return post_rule(core, req, resp);
		break;
	case ROUTE_RULE:
		if (get)
			return get_rule(core, req, id, resp);
		if (del)
			return delete_rule(core, req, id, resp);
		break;
	case ROUTE_REFRESH:
		if (post)
			return post_refresh(core, req, id, resp);
		break;
	case ROUTE_GIVE:
		if (post)
			return post_give(core, req, id, resp);
		break;
	case ROUTE_DEVICES:
		if (get)
			return api_devices_get(core, req, resp);
		break;
	case ROUTE_DEVICE:
		if (strcmp(m, "PUT") == 0)
			return api_device_put(core, req, arg->seg, arg->seglen, resp);
		break;
	case ROUTE_PREFIX_CHANGED:
		if (post)
			return api_prefix_changed(core, req, resp);
		break;
	case ROUTE_NONE:
		return api_respond_error(resp, 404, "not_found", "no such path");
	}
	return api_respond_error(resp, 405, "bad_request", "method not allowed on this path");
}

int api_handle(struct core *core, const struct api_request *req, struct api_response *resp)
{
	struct route_arg arg = { 0 };
	const char *q;
	size_t plen;
	enum route rt;

	resp->status = 500;
	resp->body = NULL;
	if (!req->method || !req->path)
		return api_respond_error(resp, 400, "bad_request", "method and path are required");
	if (req->body_len > API_BODY_MAX)
		return api_respond_error(resp, 413, "bad_request", "body larger than 64 KiB");
	q = strchr(req->path, '?');
	plen = q ? (size_t)(q - req->path) : strlen(req->path);
	rt = route_path(req->path, plen, &arg);
	return dispatch(core, req, rt, &arg, resp);
}

void api_response_free(struct api_response *resp)
{
	free(resp->body);
	resp->body = NULL;
}

/* ---------- the control socket envelope ---------- */

static char *envelope(int status, json_t *body)
{
	json_t *env = json_pack("{s:i,s:o}", "status", status, "body", body ? body : json_null());
	char *s = env ? json_dumps(env, JSON_COMPACT) : NULL;

	json_decref(env);
	return s;
}

static char *envelope_error(int status, const char *code, const char *message)
{
	return envelope(status, api_error_json(code, message));
}

/* The answer's body is JSON text jansson wrote: it is nested in the envelope as text, not parsed
 * again (a list of 10,000 rules is megabytes). */
static char *envelope_response(struct api_response *resp)
{
	char *s = NULL;

	if (resp->body == NULL)
		s = envelope_error(500, "no_resources", "internal error building the answer");
	else if (asprintf(&s, "{\"status\":%d,\"body\":%s}", resp->status, resp->body) < 0)
		s = NULL;
	api_response_free(resp);
	return s;
}

char *api_ctl_answer(struct core *core, const struct fw_config *fw, const struct api_upstream *upstream,
		     const char *req, size_t len)
{
	struct api_request ar = { .privileged = true, .origin = ORIGIN_CTL, .fw = fw, .upstream = upstream };
	struct api_response resp = { 0 };
	const char *method = NULL, *path = NULL;
	json_t *env, *body = NULL;
	char *body_text = NULL, *out;
	json_error_t jerr;

	if (len > API_BODY_MAX + 1024)
		return envelope_error(413, "bad_request", "request larger than 64 KiB");
	env = json_loadb(req, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!env)
		return envelope_error(400, "bad_json", jerr.text);
	if (json_unpack_ex(env, &jerr, JSON_STRICT, "{s:s,s:s,s?o}", "method", &method, "path", &path,
			   "body", &body) < 0) {
		json_decref(env);
		return envelope_error(400, "bad_request", "expected {\"method\":\"...\",\"path\":\"...\",\"body\":{...}}");
	}
	if (body && !json_is_null(body)) {
		body_text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!body_text) {
			json_decref(env);
			return envelope_error(503, "no_resources", "out of memory");
		}
	}
	/* the operator on the local socket: its "address" is the loopback */
	ar.peer = in6addr_loopback;
	ar.method = method;
	ar.path = path;
	ar.body = body_text;
	ar.body_len = body_text ? strlen(body_text) : 0;
	api_handle(core, &ar, &resp);
	json_decref(env);
	free(body_text);
	out = envelope_response(&resp);
	return out;
}
