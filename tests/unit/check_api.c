/* SPDX-License-Identifier: GPL-2.0-or-later */
/* api: every endpoint against a core on the in-memory backend (no store), the status mapping,
 * and hostile input: bad JSON, wrong types, missing fields, unknown paths and methods. Naming devices
 * runs against a core with a device table and a real store in a temporary directory (names persist). */
#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include "firewall/core/device.h"
#include "firewall/core/core_devices.h"
#include "firewall/nft/fw.h"
#include "firewall/core/store.h"
#include "tests/unit/testutil.h"
#include "firewall/runtime/api.h"

#define NOW 1700000000

static struct fw *fw;
static struct core *core;
static struct fw_config fwc;

static int64_t fixed_clock(void *arg)
{
	(void)arg;
	return NOW;
}

/* A fresh mem backend and a core on it, with the store and device table given (either may be NULL). */
static void new_core_on(struct store *st, struct device_table *dt)
{
	struct core_params p;

	fw = fw_mem_new(&fwc);
	ck_assert_ptr_nonnull(fw);
	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.fw = fw;
	p.clock = fixed_clock;
	p.store = st;
	p.devices = dt;
	core = core_new(&p);
	ck_assert_ptr_nonnull(core);
}

static void setup(void)
{
	char err[256];

	memset(&fwc, 0, sizeof(fwc));
	strcpy(fwc.family, "inet");
	strcpy(fwc.table, "igdd");
	fwc.mode = FW_STANDALONE;
	strcpy(fwc.wan_ifname[0], "wan0");
	fwc.n_wan = 1;
	strcpy(fwc.lan_ifname[0], "lan0");
	fwc.n_lan = 1;
	strcpy(fwc.chain_prefix, "igdd_");
	new_core_on(NULL, NULL);
	ck_assert_int_eq(core_start(core, err, sizeof(err)), 0);
}

static void teardown(void)
{
	core_free(core);
	fw->ops->destroy(fw);
}

/* One request as the operator (or as a LAN host when peer is given); returns the status and
 * the parsed body in *out (caller decrefs). */
static int call_as(const char *peer, enum rule_origin origin, const char *method, const char *path,
		   const char *body, json_t **out)
{
	struct api_request req = { .method = method, .path = path, .body = body,
				   .body_len = body ? strlen(body) : 0, .privileged = peer == NULL,
				   .origin = origin, .fw = &fwc, .now = NOW };
	struct api_response resp = { 0 };
	json_error_t jerr;

	ck_assert(addr_parse(peer ? peer : "::1", &req.peer));
	ck_assert_int_eq(api_handle(core, &req, &resp), 0);
	ck_assert_ptr_nonnull(resp.body);
	*out = json_loads(resp.body, 0, &jerr);
	ck_assert_msg(*out != NULL, "answer is not JSON: %s", resp.body);
	api_response_free(&resp);
	return resp.status;
}

static int call(const char *method, const char *path, const char *body, json_t **out)
{
	return call_as(NULL, ORIGIN_CTL, method, path, body, out);
}

/* Status and error code of a request expected to fail. */
static void expect_error(const char *method, const char *path, const char *body, int status, const char *code)
{
	json_t *j;
	int st = call(method, path, body, &j);
	const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));

	ck_assert_msg(st == status, "%s %s %s: status %d, expected %d", method, path, body ? body : "", st, status);
	ck_assert_msg(c && strcmp(c, code) == 0, "%s %s %s: code %s, expected %s", method, path, body ? body : "",
		      c ? c : "(none)", code);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(json_object_get(j, "error"), "message")));
	json_decref(j);
}

static json_int_t add_ok(const char *body)
{
	json_t *j;
	int st = call("POST", "/api/v1/rules", body, &j);
	json_int_t id;

	ck_assert_msg(st == 201, "add %s: status %d", body, st);
	id = json_integer_value(json_object_get(json_object_get(j, "rule"), "id"));
	ck_assert_int_gt(id, 0);
	json_decref(j);
	return id;
}

#define PINHOLE "{\"kind\":\"pinhole\",\"address\":\"2001:db8:1:1::5\",\"proto\":\"tcp\",\"port\":8080,\"lease\":3600,"\
		"\"remote\":\"2001:db8:9::/48\",\"remote_port\":0,\"description\":\"x\"}"
#define PORTMAP "{\"kind\":\"portmap\",\"ext_port\":8080,\"address\":\"192.0.2.10\",\"port\":80,\"proto\":\"tcp\"}"

START_TEST(test_status)
{
	json_t *j, *fwj;

	ck_assert_int_eq(call("GET", "/api/v1/status", NULL, &j), 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "version")), IGDD_VERSION);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "rules"), "pinholes")), 0);
	ck_assert(json_is_integer(json_object_get(json_object_get(j, "rules"), "portmaps")));
	ck_assert(json_is_integer(json_object_get(json_object_get(j, "rules"), "pending")));
	fwj = json_object_get(j, "firewall");
	ck_assert(json_is_string(json_object_get(fwj, "backend")));
	ck_assert_str_eq(json_string_value(json_object_get(fwj, "table")), "inet igdd");
	ck_assert_str_eq(json_string_value(json_object_get(fwj, "mode")), "standalone");
	ck_assert(json_is_integer(json_object_get(fwj, "transactions")));
	ck_assert(json_is_integer(json_object_get(fwj, "reconciles")));
	json_decref(j);
	/* a query string is ignored */
	ck_assert_int_eq(call("GET", "/api/v1/status?x=1", NULL, &j), 200);
	json_decref(j);
}
END_TEST

START_TEST(test_pinhole_lifecycle)
{
	json_t *j, *r, *t;
	json_int_t id = add_ok(PINHOLE);
	char path[64];

	snprintf(path, sizeof(path), "/api/v1/rules/%lld", (long long)id);
	ck_assert_int_eq(call("GET", path, NULL, &j), 200);
	r = json_object_get(j, "rule");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(r, "kind")), "pinhole");
	ck_assert(json_is_string(json_object_get(r, "state")));
	ck_assert_str_eq(json_string_value(json_object_get(r, "proto")), "tcp");
	ck_assert_str_eq(json_string_value(json_object_get(r, "address")), "2001:db8:1:1::5");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "port")), 8080);
	ck_assert(json_is_null(json_object_get(r, "ext_port")));
	ck_assert(json_is_null(json_object_get(r, "ext_addr")));
	ck_assert_str_eq(json_string_value(json_object_get(r, "remote")), "2001:db8:9::/48");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "remote_port")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "lease")), 3600);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "expires")), NOW + 3600);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "expires_in")), 3600);
	ck_assert_str_eq(json_string_value(json_object_get(r, "origin")), "ctl");
	ck_assert_str_eq(json_string_value(json_object_get(r, "owner")), "::1");
	ck_assert_str_eq(json_string_value(json_object_get(r, "description")), "x");
	ck_assert(json_is_integer(json_object_get(r, "packets")));
	ck_assert(json_is_integer(json_object_get(r, "bytes")));
	t = json_object_get(r, "target");
	ck_assert(json_is_object(t));
	ck_assert_str_eq(json_string_value(json_object_get(t, "exact")), "2001:db8:1:1::5");
	ck_assert(json_is_string(json_object_get(t, "exact_kind")));
	ck_assert(json_object_get(t, "mac") && json_object_get(t, "stable") && json_object_get(t, "subnet"));
	json_decref(j);

	ck_assert_int_eq(call("GET", "/api/v1/rules", NULL, &j), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "rules")), 1);
	json_decref(j);

	snprintf(path, sizeof(path), "/api/v1/rules/%lld/refresh", (long long)id);
	ck_assert_int_eq(call("POST", path, "{\"lease\":7200}", &j), 200);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "rule"), "lease")), 7200);
	json_decref(j);
	expect_error("POST", path, "{}", 400, "bad_request");
	expect_error("POST", path, "{\"lease\":\"60\"}", 400, "bad_request");
	expect_error("POST", path, "{\"lease\":-1}", 422, "invalid");
	expect_error("POST", path, "{\"lease\":60,\"x\":1}", 400, "bad_request");
	expect_error("POST", path, "", 400, "bad_json");
	expect_error("POST", "/api/v1/rules/999/refresh", "{\"lease\":60}", 404, "not_found");

	snprintf(path, sizeof(path), "/api/v1/rules/%lld", (long long)id);
	ck_assert_int_eq(call("DELETE", path, NULL, &j), 200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "deleted")), id);
	json_decref(j);
	expect_error("GET", path, NULL, 404, "not_found");
	expect_error("DELETE", path, NULL, 404, "not_found");
}
END_TEST

START_TEST(test_portmap_and_conflict)
{
	json_t *j, *r;
	json_int_t id = add_ok(PORTMAP);
	char path[64];

	snprintf(path, sizeof(path), "/api/v1/rules/%lld", (long long)id);
	ck_assert_int_eq(call("GET", path, NULL, &j), 200);
	r = json_object_get(j, "rule");
	ck_assert_str_eq(json_string_value(json_object_get(r, "kind")), "portmap");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "ext_port")), 8080);
	ck_assert_str_eq(json_string_value(json_object_get(r, "address")), "192.0.2.10");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "port")), 80);
	/* the operator's lease 0 = no expiry */
	ck_assert_int_eq(json_integer_value(json_object_get(r, "expires")), 0);
	ck_assert(json_is_null(json_object_get(r, "expires_in")));
	ck_assert(json_is_null(json_object_get(r, "remote")));
	json_decref(j);
	/* the same external port for another host: taken */
	expect_error("POST", "/api/v1/rules",
		     "{\"kind\":\"portmap\",\"ext_port\":8080,\"address\":\"192.0.2.11\",\"port\":80,\"proto\":\"tcp\"}",
		     409, "conflict");
	/* the same again from the same owner: refreshed, same id */
	ck_assert_int_eq(add_ok(PORTMAP), id);
	ck_assert_int_eq(call("GET", "/api/v1/status", NULL, &j), 200);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "rules"), "portmaps")), 1);
	json_decref(j);
}
END_TEST

START_TEST(test_unprivileged)
{
	json_t *j;
	int st;

	/* a LAN host asking for another host's address in secure mode */
	st = call_as("2001:db8:1:1::9", ORIGIN_WEB, "POST", "/api/v1/rules",
		     "{\"kind\":\"pinhole\",\"address\":\"2001:db8:1:1::5\",\"proto\":\"udp\",\"port\":5000}", &j);
	ck_assert_int_eq(st, 403);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "not_authorized");
	json_decref(j);
	/* its own address, a low port */
	st = call_as("2001:db8:1:1::9", ORIGIN_WEB, "POST", "/api/v1/rules",
		     "{\"kind\":\"pinhole\",\"address\":\"2001:db8:1:1::9\",\"proto\":\"udp\",\"port\":80}", &j);
	ck_assert_int_eq(st, 403);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "low_port");
	json_decref(j);
	/* its own address, a high port: fine, lease clamped by policy */
	st = call_as("2001:db8:1:1::9", ORIGIN_WEB, "POST", "/api/v1/rules",
		     "{\"kind\":\"pinhole\",\"address\":\"2001:db8:1:1::9\",\"proto\":\"udp\",\"port\":5000}", &j);
	ck_assert_int_eq(st, 201);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "rule"), "origin")), "web");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "rule"), "lease")), 86400);
	json_decref(j);
}
END_TEST

START_TEST(test_bad_target)
{
	expect_error("POST", "/api/v1/rules",
		     "{\"kind\":\"pinhole\",\"address\":\"fe80::1\",\"proto\":\"tcp\",\"port\":8080}", 403, "bad_target");
}
END_TEST

static const struct {
	const char *body;
	int status;
	const char *code;
} bad_bodies[] = {
	{ "{", 400, "bad_json" },
	{ "", 400, "bad_json" },
	{ "nonsense", 400, "bad_json" },
	{ "{\"kind\":\"pinhole\",\"kind\":\"portmap\"}", 400, "bad_json" },
	{ "[]", 400, "bad_request" },
	{ "42", 400, "bad_request" },
	{ "{}", 400, "bad_request" },
	{ "{\"kind\":5,\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80}", 400, "bad_request" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":\"80\"}", 400, "bad_request" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80.0}", 400, "bad_request" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":true,\"port\":80}", 400, "bad_request" },
	{ "{\"kind\":\"pinhole\",\"address\":[],\"proto\":\"tcp\",\"port\":80}", 400, "bad_request" },
	{ "{\"kind\":\"pinhole\",\"proto\":\"tcp\",\"port\":80}", 400, "bad_request" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"port\":80}", 400, "bad_request" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\"}", 400, "bad_request" },
	{ "{\"kind\":\"portmap\",\"address\":\"192.0.2.10\",\"proto\":\"tcp\",\"port\":80}", 400, "bad_request" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80,\"evil\":1}", 400,
	  "bad_request" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80,\"lease\":\"1\"}", 400,
	  "bad_request" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80,\"description\":1}", 400,
	  "bad_request" },
	{ "{\"kind\":\"tunnel\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80}", 422, "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcpx\",\"port\":80}", 422, "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":300,\"port\":80}", 422, "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":65536}", 422, "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":-1}", 422, "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::zz\",\"proto\":\"tcp\",\"port\":80}", 422, "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"192.0.2.10\",\"proto\":\"tcp\",\"port\":80}", 422, "invalid" },
	{ "{\"kind\":\"portmap\",\"ext_port\":80,\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80}", 422,
	  "invalid" },
	{ "{\"kind\":\"portmap\",\"ext_port\":0,\"address\":\"192.0.2.10\",\"proto\":\"tcp\",\"port\":80}", 422,
	  "invalid" },
	{ "{\"kind\":\"portmap\",\"ext_port\":99999,\"address\":\"192.0.2.10\",\"proto\":\"tcp\",\"port\":80}", 422,
	  "invalid" },
	{ "{\"kind\":\"pinhole\",\"ext_port\":80,\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80}", 422,
	  "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80,\"remote\":\"x/99\"}", 422,
	  "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80,\"remote\":\"192.0.2.1\"}",
	  422, "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80,\"remote_port\":70000}",
	  422, "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80,\"lease\":4294967296}", 422,
	  "invalid" },
	{ "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\\u0000\",\"proto\":\"tcp\",\"port\":80}", 400, "bad_json" },
};

START_TEST(test_bad_bodies)
{
	expect_error("POST", "/api/v1/rules", bad_bodies[_i].body, bad_bodies[_i].status, bad_bodies[_i].code);
}
END_TEST

START_TEST(test_long_description)
{
	char body[600];
	char desc[300];

	memset(desc, 'd', sizeof(desc) - 1);
	desc[sizeof(desc) - 1] = '\0';
	snprintf(body, sizeof(body),
		 "{\"kind\":\"pinhole\",\"address\":\"2001:db8::5\",\"proto\":\"tcp\",\"port\":80,\"description\":\"%s\"}",
		 desc);
	expect_error("POST", "/api/v1/rules", body, 422, "invalid");
}
END_TEST

START_TEST(test_too_large)
{
	size_t n = API_BODY_MAX + 10;
	char *body = malloc(n + 1);

	memset(body, ' ', n);
	body[0] = '{';
	body[n - 1] = '}';
	body[n] = '\0';
	expect_error("POST", "/api/v1/rules", body, 413, "bad_request");
	free(body);
}
END_TEST

static const struct {
	const char *method, *path;
	int status;
} bad_routes[] = {
	{ "GET", "/", 404 },
	{ "GET", "/api/v1", 404 },
	{ "GET", "/api/v1/", 404 },
	{ "GET", "/api/v1/rules/", 404 },
	{ "GET", "/api/v1/rulesx", 404 },
	{ "GET", "/api/v1/rules/abc", 404 },
	{ "GET", "/api/v1/rules/0", 404 },
	{ "GET", "/api/v1/rules/007", 404 },
	{ "GET", "/api/v1/rules/-1", 404 },
	{ "GET", "/api/v1/rules/99999999999", 404 },
	{ "GET", "/api/v1/rules/1/refreshx", 404 },
	{ "GET", "/api/v1/rules/1/x", 404 },
	{ "GET", "/api/v2/status", 404 },
	{ "GET", "/api/v1/rules/12", 404 },
	{ "PUT", "/api/v1/rules", 405 },
	{ "DELETE", "/api/v1/rules", 405 },
	{ "POST", "/api/v1/status", 405 },
	{ "DELETE", "/api/v1/status", 405 },
	{ "PATCH", "/api/v1/rules/1", 405 },
	{ "GET", "/api/v1/rules/1/refresh", 405 },
	{ "", "/api/v1/status", 405 },
};

START_TEST(test_bad_routes)
{
	json_t *j;
	int st = call(bad_routes[_i].method, bad_routes[_i].path, NULL, &j);

	ck_assert_msg(st == bad_routes[_i].status, "%s %s: %d", bad_routes[_i].method, bad_routes[_i].path, st);
	ck_assert_ptr_nonnull(json_object_get(j, "error"));
	json_decref(j);
}
END_TEST

START_TEST(test_verdict_mapping)
{
	ck_assert_int_eq(api_verdict_status(V_INVALID), 422);
	ck_assert_int_eq(api_verdict_status(V_NOT_AUTHORIZED), 403);
	ck_assert_int_eq(api_verdict_status(V_BAD_TARGET), 403);
	ck_assert_int_eq(api_verdict_status(V_LOW_PORT), 403);
	ck_assert_int_eq(api_verdict_status(V_CONFLICT), 409);
	ck_assert_int_eq(api_verdict_status(V_QUOTA), 429);
	ck_assert_int_eq(api_verdict_status(V_NOT_FOUND), 404);
	ck_assert_int_eq(api_verdict_status(V_UNSUPPORTED_PROTO), 422);
	ck_assert_int_eq(api_verdict_status(V_NO_RESOURCES), 503);
	ck_assert_int_eq(api_verdict_status(V_DISABLED), 503);
	ck_assert_str_eq(api_verdict_code(V_UNSUPPORTED_PROTO), "unsupported_proto");
	ck_assert_str_eq(api_verdict_code(V_NO_RESOURCES), "no_resources");
	ck_assert_str_eq(api_verdict_code(V_QUOTA), "quota");
}
END_TEST

START_TEST(test_no_resources)
{
	fw_mem_fail_next(fw, 5);
	expect_error("POST", "/api/v1/rules", PINHOLE, 503, "no_resources");
}
END_TEST

static int envelope_status(const char *req, json_t **body)
{
	char *ans = api_ctl_answer(core, &fwc, NULL, req, strlen(req));
	json_t *j;
	int st;

	ck_assert_ptr_nonnull(ans);
	j = json_loads(ans, 0, NULL);
	free(ans);
	ck_assert_ptr_nonnull(j);
	st = (int)json_integer_value(json_object_get(j, "status"));
	*body = json_incref(json_object_get(j, "body"));
	ck_assert_ptr_nonnull(*body);
	json_decref(j);
	return st;
}

START_TEST(test_ctl_envelope)
{
	json_t *b;

	ck_assert_int_eq(envelope_status("{\"method\":\"GET\",\"path\":\"/api/v1/status\"}\n", &b), 200);
	ck_assert_ptr_nonnull(json_object_get(b, "version"));
	json_decref(b);
	ck_assert_int_eq(envelope_status("{\"method\":\"POST\",\"path\":\"/api/v1/rules\",\"body\":" PINHOLE "}", &b),
			 201);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "rule"), "origin")), "ctl");
	json_decref(b);
	ck_assert_int_eq(envelope_status("{\"method\":\"POST\",\"path\":\"/api/v1/rules\",\"body\":null}", &b), 400);
	json_decref(b);
	ck_assert_int_eq(envelope_status("{\"method\":\"GET\"", &b), 400);
	json_decref(b);
	ck_assert_int_eq(envelope_status("{\"method\":1,\"path\":\"/\"}", &b), 400);
	json_decref(b);
	ck_assert_int_eq(envelope_status("{\"method\":\"GET\",\"path\":\"/api/v1/status\",\"extra\":1}", &b), 400);
	json_decref(b);
	ck_assert_int_eq(envelope_status("{\"method\":\"GET\",\"path\":\"/nope\"}", &b), 404);
	json_decref(b);
}
END_TEST

START_TEST(test_rule_to_json_v4_remote)
{
	struct rule r;
	json_t *j;

	memset(&r, 0, sizeof(r));
	r.id = 3;
	r.kind = RULE_PORTMAP;
	r.state = RULE_INSTALLED;
	r.proto = 17;
	r.origin = ORIGIN_PCP;
	ck_assert(addr_parse("192.0.2.10", &r.target.exact));
	r.target.use_exact = true;
	r.int_port = 53;
	r.ext_port = 5353;
	r.ext_addr.s_addr = htonl(0xcb007101); /* 203.0.113.1 */
	ck_assert(addr_parse_prefix("198.51.100.0/24", &r.remote, &r.remote_len));
	r.expires = NOW + 10;
	j = api_rule_to_json(&r, NOW + 20, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "remote")), "198.51.100.0/24");
	ck_assert_str_eq(json_string_value(json_object_get(j, "ext_addr")), "203.0.113.1");
	ck_assert_str_eq(json_string_value(json_object_get(j, "proto")), "udp");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "expires_in")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(j, "origin")), "pcp");
	json_decref(j);
}
END_TEST

/* ---------- naming devices (PUT /api/v1/devices/MAC) ---------- */

#define DEV1 "52:54:00:12:34:01"
#define DEV2 "52:54:00:12:34:02"
static const uint8_t MAC1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };
static const uint8_t MAC2[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };

static char state_dir[] = "/tmp/igdd-check-api-XXXXXX";
static struct store *store;
static struct device_table *devices;

/* The core as igdd builds it: devices and store, then the saved names (devwatch_prepare_core's job). */
static void named_open(void)
{
	char err[256];

	store = store_open(state_dir, err, sizeof(err));
	ck_assert_msg(store != NULL, "%s", err);
	devices = device_table_new(0, 0);
	ck_assert_ptr_nonnull(devices);
	new_core_on(store, devices);
	core_load_device_names(core);
	ck_assert_int_eq(core_start(core, err, sizeof(err)), 0);
}

static void named_close(void)
{
	core_free(core);
	device_table_free(devices);
	store_close(store);
	fw->ops->destroy(fw);
}

static void named_setup(void)
{
	memset(&fwc, 0, sizeof(fwc));
	strcpy(fwc.family, "inet");
	strcpy(fwc.table, "igdd");
	fwc.mode = FW_STANDALONE;
	ck_assert_ptr_nonnull(mkdtemp(state_dir));
	named_open();
}

static void named_teardown(void)
{
	named_close();
	rm_tree(state_dir);
}

/* A device shows up on the LAN (what rtnetlink does in igdd). */
static void seen(const uint8_t mac[6], const char *addr)
{
	struct in6_addr a;

	ck_assert(addr_parse(addr, &a));
	ck_assert_int_ge(device_addr_seen(devices, mac, 2, &a, NULL, NOW), 0);
}

/* What GET /api/v1/devices shows under key for mac (a reference the caller drops), or NULL when the
 * device is not listed. */
static json_t *listed(const char *mac, const char *key)
{
	json_t *j, *d, *v = NULL;
	size_t i;

	ck_assert_int_eq(call("GET", "/api/v1/devices", NULL, &j), 200);
	json_array_foreach(json_object_get(j, "devices"), i, d)
		if (strcmp(json_string_value(json_object_get(d, "mac")), mac) == 0)
			v = json_incref(json_object_get(d, key));
	json_decref(j);
	return v;
}

/* The "name" GET /api/v1/devices shows for mac, or NULL when the device is not listed. */
static char *listed_name(const char *mac)
{
	json_t *v = listed(mac, "name");
	char *name = v ? strdup(json_string_value(v)) : NULL;

	json_decref(v);
	return name;
}

static void expect_listed(const char *mac, const char *want)
{
	char *name = listed_name(mac);

	ck_assert_msg(want ? name && strcmp(name, want) == 0 : name == NULL, "%s listed as %s, expected %s", mac,
		      name ? name : "(absent)", want ? want : "(absent)");
	free(name);
}

/* PUT path body: 200 with mac, name and present as expected. The answer (caller decrefs). */
static json_t *put_ok(const char *path, const char *body, const char *mac, const char *name, bool present)
{
	json_t *j;
	int st = call("PUT", path, body, &j);

	ck_assert_msg(st == 200, "PUT %s %s: %d", path, body, st);
	ck_assert_str_eq(json_string_value(json_object_get(j, "mac")), mac);
	ck_assert_str_eq(json_string_value(json_object_get(j, "name")), name);
	ck_assert(json_is_boolean(json_object_get(j, "present")) &&
		  json_is_true(json_object_get(j, "present")) == present);
	return j;
}

static void put_name(const char *path, const char *body, const char *mac, const char *name, bool present)
{
	json_decref(put_ok(path, body, mac, name, present));
}

START_TEST(test_name_device)
{
	seen(MAC1, "2001:db8:1:1::5");
	expect_listed(DEV1, "");
	put_name("/api/v1/devices/" DEV1, "{\"name\":\"Game console\"}", DEV1, "Game console", true);
	expect_listed(DEV1, "Game console");
	/* the MAC in any case; the answer in the canonical one */
	put_name("/api/v1/devices/52:54:00:12:34:0A", "{\"name\":\"Caf\u00e9 tablet\"}", "52:54:00:12:34:0a",
		 "Caf\xc3\xa9 tablet", false);
	/* a device that is away may be named: the name waits for it */
	put_name("/api/v1/devices/" DEV2, "{\"name\":\"Phone\"}", DEV2, "Phone", false);
	expect_listed(DEV2, NULL);
	seen(MAC2, "2001:db8:1:1::6");
	expect_listed(DEV2, "Phone");
	/* renaming keeps one name; "" removes it; removing a name nobody has is fine */
	put_name("/api/v1/devices/" DEV2, "{\"name\":\"Work phone\"}", DEV2, "Work phone", true);
	put_name("/api/v1/devices/" DEV2, "{\"name\":\"\"}", DEV2, "", true);
	expect_listed(DEV2, "");
	put_name("/api/v1/devices/" DEV2, "{\"name\":\"\"}", DEV2, "", true);
	put_name("/api/v1/devices/52:54:00:12:34:03", "{\"name\":\"\"}", "52:54:00:12:34:03", "", false);
	ck_assert_uint_eq(device_name_count(devices), 2);
	/* igdctl's way in: the control socket envelope */
	{
		char *ans = api_ctl_answer(core, &fwc, NULL, "{\"method\":\"PUT\",\"path\":\"/api/v1/devices/" DEV2
					   "\",\"body\":{\"name\":\"Laptop\"}}", strlen("{\"method\":\"PUT\","
					   "\"path\":\"/api/v1/devices/" DEV2 "\",\"body\":{\"name\":\"Laptop\"}}"));

		ck_assert_ptr_nonnull(strstr(ans, "\"status\":200"));
		free(ans);
	}
	expect_listed(DEV2, "Laptop");
}
END_TEST

/* A restart: the names come back from the store, for devices seen again and for those still away. */
START_TEST(test_name_survives_restart)
{
	put_name("/api/v1/devices/" DEV1, "{\"name\":\"Game console\"}", DEV1, "Game console", false);
	put_name("/api/v1/devices/" DEV2, "{\"name\":\"Phone\"}", DEV2, "Phone", false);
	put_name("/api/v1/devices/" DEV2, "{\"name\":\"\"}", DEV2, "", false);
	put_name("/api/v1/devices/52:54:00:12:34:03", "{\"name\":\"TV\"}", "52:54:00:12:34:03", "TV", false);
	named_close();
	named_open();
	ck_assert_uint_eq(device_name_count(devices), 2);
	ck_assert_str_eq(device_name_of(devices, MAC1), "Game console");
	ck_assert_str_eq(device_name_of(devices, MAC2), "");
	seen(MAC1, "2001:db8:1:1::5");
	expect_listed(DEV1, "Game console");
	/* the freed slot is used again, and the next restart still has all of them */
	put_name("/api/v1/devices/" DEV2, "{\"name\":\"Phone 2\"}", DEV2, "Phone 2", false);
	named_close();
	named_open();
	ck_assert_uint_eq(device_name_count(devices), 3);
	ck_assert_str_eq(device_name_of(devices, MAC2), "Phone 2");
}
END_TEST

static const struct {
	const char *method, *path, *body;
	int status;
	const char *code;
} bad_names[] = {
	{ "PUT", "/api/v1/devices/zz:54:00:12:34:01", "{\"name\":\"x\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/52:54:00:12:34", "{\"name\":\"x\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/52:54:00:12:34:01:02", "{\"name\":\"x\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/52-54-00-12-34-01", "{\"name\":\"x\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/01:00:5e:00:00:01", "{\"name\":\"x\"}", 422, "invalid" },   /* multicast */
	{ "PUT", "/api/v1/devices/00:00:00:00:00:00", "{\"name\":\"x\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/" DEV1, NULL, 400, "bad_json" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":", 400, "bad_json" },
	{ "PUT", "/api/v1/devices/" DEV1, "[\"x\"]", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{}", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":5}", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":null}", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"x\",\"colour\":\"red\"}", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"x\",\"name\":\"y\"}", 400, "bad_json" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"a\\u0000b\"}", 400, "bad_json" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"two\\nlines\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"tab\\there\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"c1 \\u0085\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"evil \\u202egnp.exe\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"\\u200fmark\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"\\ufeffbom\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"\\u061c x\"}", 422, "invalid" },
	/* jansson's message quotes the input cut inside a UTF-8 sequence: the answer is still JSON (fuzz_api) */
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"\\u20\xce\x9f x\",\"name\":\"\\u202e x\",\"extra\":\"extra\":1}",
	  400, "bad_json" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"\xff\"}", 400, "bad_json" },
	{ "PUT", "/api/v1/devices/" DEV1,
	  "{\"name\":\"0123456789012345678901234567890123456789012345678901234567890123\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"apps\":\"no\"}", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"apps\":0}", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"apps\":null}", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"apps\":false,\"name\":7}", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"apps\":false,\"ports\":1}", 400, "bad_request" },
	{ "PUT", "/api/v1/devices/" DEV1, "{\"apps\":false,\"name\":\"a\\tb\"}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/01:00:5e:00:00:01", "{\"apps\":false}", 422, "invalid" },
	{ "PUT", "/api/v1/devices/" DEV1 "/x", "{\"name\":\"x\"}", 404, "not_found" },
	{ "PUT", "/api/v1/devices/", "{\"name\":\"x\"}", 404, "not_found" },
	{ "GET", "/api/v1/devices/" DEV1, NULL, 405, "bad_request" },
	{ "POST", "/api/v1/devices/" DEV1, "{\"name\":\"x\"}", 405, "bad_request" },
	{ "DELETE", "/api/v1/devices/" DEV1, NULL, 405, "bad_request" },
	{ "PUT", "/api/v1/devices", "{\"name\":\"x\"}", 405, "bad_request" },
};

START_TEST(test_name_bad)
{
	expect_error(bad_names[_i].method, bad_names[_i].path, bad_names[_i].body, bad_names[_i].status,
		     bad_names[_i].code);
	ck_assert_uint_eq(device_name_count(devices), 0);
}
END_TEST

START_TEST(test_name_limits)
{
	json_t *j;
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 0 };
	char name[DEVICE_NAME_MAX + 1], body[128];

	/* exactly DEVICE_NAME_MAX bytes (a 2-byte character at the end) */
	memset(name, 'n', sizeof(name));
	name[DEVICE_NAME_MAX - 2] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"%s\\u00e9\"}", name);
	ck_assert_int_eq(call("PUT", "/api/v1/devices/" DEV1, body, &j), 200);
	json_decref(j);
	/* only the household or the operator */
	ck_assert_int_eq(call_as("2001:db8:1:1::9", ORIGIN_UPNP, "PUT", "/api/v1/devices/" DEV1, "{\"name\":\"x\"}",
				 &j), 403);
	json_decref(j);
	/* a full registry refuses new names (429) but still renames and un-names */
	for (int i = 1; device_name_count(devices) < DEVICE_NAMES_MAX; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		ck_assert_int_eq(device_set_name(devices, mac, "filler"), 0);
	}
	expect_error("PUT", "/api/v1/devices/" DEV2, "{\"name\":\"one too many\"}", 429, "quota");
	put_name("/api/v1/devices/" DEV2, "{\"name\":\"\"}", DEV2, "", false);
	put_name("/api/v1/devices/" DEV1, "{\"name\":\"renamed\"}", DEV1, "renamed", false);
	put_name("/api/v1/devices/" DEV1, "{\"name\":\"\"}", DEV1, "", false);
	put_name("/api/v1/devices/" DEV2, "{\"name\":\"now it fits\"}", DEV2, "now it fits", false);
}
END_TEST

/* The store refuses (here: gone): nothing changes, 503. Without a device table: 503 disabled. */
START_TEST(test_name_not_saved)
{
	ck_assert_int_eq(rm_tree(state_dir), 0);
	expect_error("PUT", "/api/v1/devices/" DEV1, "{\"name\":\"x\"}", 503, "no_resources");
	ck_assert_str_eq(device_name_of(devices, MAC1), "");
	ck_assert_int_eq(mkdir(state_dir, 0700), 0);
}
END_TEST

/* An app's rule, as UPnP would add it (the API itself only makes rules by hand). */
static void app_rule(const char *addr, uint16_t port)
{
	struct core_add_req q = tcp_pinhole_req(addr, addr, port, ORIGIN_UPNP);
	struct rule r;

	ck_assert_int_eq(core_add(core, &q, &r), V_OK);
}

/* PUT /api/v1/devices/mac body: 200, and the answer's apps and removed as expected too. */
static void put_apps(const char *mac, const char *body, const char *name, bool apps, bool present, int removed)
{
	char path[64];
	json_t *j;

	snprintf(path, sizeof(path), "/api/v1/devices/%s", mac);
	j = put_ok(path, body, mac, name, present);
	ck_assert(json_is_boolean(json_object_get(j, "apps")) && json_is_true(json_object_get(j, "apps")) == apps);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "removed")), removed);
	json_decref(j);
}

/* "apps" as GET /api/v1/devices shows it for a listed device. */
static bool listed_apps(const char *mac)
{
	json_t *v = listed(mac, "apps");
	bool apps = json_is_true(v);

	ck_assert_msg(json_is_boolean(v), "%s not listed with \"apps\"", mac);
	json_decref(v);
	return apps;
}

/* Blocking removes the device's app rules (not the manual ones) and survives a restart with the name. */
START_TEST(test_apps_device)
{
	struct rule *all;

	seen(MAC1, "2001:db8:1:1::5");
	app_rule("2001:db8:1:1::5", 5000);
	app_rule("2001:db8:1:1::5", 5001);
	add_ok(PINHOLE);
	ck_assert(listed_apps(DEV1));
	put_apps(DEV1, "{\"apps\":false}", "", false, true, 2);
	ck_assert(!listed_apps(DEV1));
	ck_assert_uint_eq(core_list(core, &all), 1);
	ck_assert_int_eq(all[0].origin, ORIGIN_CTL);
	free(all);
	put_apps(DEV1, "{\"apps\":false}", "", false, true, 0);
	/* both at once; allowing removes nothing and keeps the manual rule */
	put_apps(DEV1, "{\"name\":\"Tablet\",\"apps\":true}", "Tablet", true, true, 0);
	ck_assert(listed_apps(DEV1));
	put_apps(DEV1, "{\"name\":\"Tablet 2\"}", "Tablet 2", true, true, 0);
	put_apps(DEV1, "{\"apps\":false}", "Tablet 2", false, true, 0);
	/* a device that is away may be blocked too */
	put_apps(DEV2, "{\"apps\":false}", "", false, false, 0);
	named_close();
	named_open();
	ck_assert_uint_eq(device_name_count(devices), 2);
	ck_assert_str_eq(device_name_of(devices, MAC1), "Tablet 2");
	ck_assert(device_apps_blocked(devices, MAC1) && device_apps_blocked(devices, MAC2));
	seen(MAC2, "2001:db8:1:1::6");
	ck_assert(!listed_apps(DEV2));
	/* allowed and unnamed: the slot is freed, and stays free after a restart */
	put_apps(DEV2, "{\"apps\":true}", "", true, true, 0);
	named_close();
	named_open();
	ck_assert_uint_eq(device_name_count(devices), 1);
}
END_TEST

START_TEST(test_apps_not_saved)
{
	ck_assert_int_eq(rm_tree(state_dir), 0);
	expect_error("PUT", "/api/v1/devices/" DEV1, "{\"apps\":false}", 503, "no_resources");
	ck_assert(!device_apps_blocked(devices, MAC1));
	ck_assert_int_eq(mkdir(state_dir, 0700), 0);
}
END_TEST

START_TEST(test_name_no_devices)
{
	expect_error("PUT", "/api/v1/devices/" DEV1, "{\"name\":\"x\"}", 503, "disabled");
}
END_TEST


/* Names learned from the LAN (lease files, mDNS) are listed after the household's, each with its
 * source; "name" stays the household's own. */
START_TEST(test_learned_names_listed)
{
	json_t *v, *n;

	seen(MAC1, "2001:db8:1:1::5");
	ck_assert_int_eq(device_learn_name(devices, MAC1, NAME_SOURCE_MDNS, "Johns-laptop"), 1);
	v = listed(DEV1, "shown_name");
	ck_assert_str_eq(json_string_value(v), "Johns-laptop");
	json_decref(v);
	v = listed(DEV1, "name_source");
	ck_assert_str_eq(json_string_value(v), "mdns");
	json_decref(v);
	ck_assert_int_eq(device_learn_name(devices, MAC1, NAME_SOURCE_DHCP, "laptop"), 1);
	v = listed(DEV1, "shown_name");
	ck_assert_str_eq(json_string_value(v), "laptop");
	json_decref(v);
	expect_listed(DEV1, "");   /* no name of the household's own yet */
	put_name("/api/v1/devices/" DEV1, "{\"name\":\"Work laptop\"}", DEV1, "Work laptop", true);
	v = listed(DEV1, "shown_name");
	ck_assert_str_eq(json_string_value(v), "Work laptop");
	json_decref(v);
	v = listed(DEV1, "names");
	ck_assert_uint_eq(json_array_size(v), 3);
	n = json_array_get(v, 0);
	ck_assert_str_eq(json_string_value(json_object_get(n, "source")), "household");
	n = json_array_get(v, 1);
	ck_assert_str_eq(json_string_value(json_object_get(n, "source")), "dhcp");
	ck_assert_str_eq(json_string_value(json_object_get(n, "name")), "laptop");
	n = json_array_get(v, 2);
	ck_assert_str_eq(json_string_value(json_object_get(n, "source")), "mdns");
	json_decref(v);
	/* a device nobody named: no source */
	seen(MAC2, "2001:db8:1:1::6");
	v = listed(DEV2, "name_source");
	ck_assert_str_eq(json_string_value(v), "");
	json_decref(v);
}
END_TEST

/* The household gives a console's port (9308) to the other console: the core moves the mapping. */
START_TEST(test_give_port)
{
	json_t *j, *rules;
	json_int_t id, id2;
	char path[64];

	seen(MAC1, "::ffff:192.0.2.11");
	seen(MAC2, "::ffff:192.0.2.12");
	id = add_ok("{\"kind\":\"portmap\",\"ext_port\":9308,\"address\":\"192.0.2.11\",\"port\":9308,"
		    "\"proto\":\"udp\",\"lease\":3600,\"description\":\"PS4\"}");
	snprintf(path, sizeof(path), "/api/v1/rules/%lld/give", (long long)id);
	/* not from a LAN host, not to a device that is not there, not with a bad MAC */
	ck_assert_int_eq(call_as("2001:db8:1:1::9", ORIGIN_WEB, "POST", path, "{\"mac\":\"" DEV2 "\"}", &j), 403);
	json_decref(j);
	expect_error("POST", path, "{\"mac\":\"52:54:00:12:34:99\"}", 403, "bad_target");
	expect_error("POST", path, "{\"mac\":\"ff:ff:ff:ff:ff:ff\"}", 422, "invalid");
	expect_error("POST", path, "{\"mac\":7}", 400, "bad_request");
	expect_error("POST", path, "{\"mac\":\"" DEV2 "\",\"x\":1}", 400, "bad_request");
	expect_error("POST", "/api/v1/rules/999/give", "{\"mac\":\"" DEV2 "\"}", 404, "not_found");
	/* given */
	ck_assert_int_eq(call("POST", path, "{\"mac\":\"" DEV2 "\"}", &j), 200);
	{
		json_t *r = json_object_get(j, "rule");

		ck_assert_str_eq(json_string_value(json_object_get(r, "address")), "192.0.2.12");
		ck_assert_int_eq(json_integer_value(json_object_get(r, "ext_port")), 9308);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "port")), 9308);
		ck_assert_str_eq(json_string_value(json_object_get(r, "proto")), "udp");
		ck_assert_str_eq(json_string_value(json_object_get(r, "origin")), "web");
		ck_assert_str_eq(json_string_value(json_object_get(r, "description")), "PS4");
		ck_assert_int_eq(json_integer_value(json_object_get(r, "lease")), 3600);
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "target"), "mac")), DEV2);
		id2 = json_integer_value(json_object_get(r, "id"));
	}
	json_decref(j);
	ck_assert_int_ne(id, id2);
	/* one rule holds 9308 now, the other console's; its counters never rose */
	ck_assert_int_eq(call("GET", "/api/v1/rules", NULL, &j), 200);
	rules = json_object_get(j, "rules");
	ck_assert_uint_eq(json_array_size(rules), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rules, 0), "address")), "192.0.2.12");
	ck_assert(json_is_null(json_object_get(json_array_get(rules, 0), "last_packet")));
	json_decref(j);
	snprintf(path, sizeof(path), "/api/v1/rules/%lld", (long long)id);
	expect_error("GET", path, NULL, 404, "not_found");
	/* giving it to the device that holds it changes nothing */
	snprintf(path, sizeof(path), "/api/v1/rules/%lld/give", (long long)id2);
	ck_assert_int_eq(call("POST", path, "{\"mac\":\"" DEV2 "\"}", &j), 200);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "rule"), "id")), id2);
	json_decref(j);
}
END_TEST

/* A pinhole goes to the other device's stable (here EUI-64) address in the same /64. */
START_TEST(test_give_pinhole)
{
	json_t *j;
	json_int_t id;
	char path[64];

	seen(MAC1, "2001:db8:1:1:5054:ff:fe12:3401");
	seen(MAC2, "2001:db8:1:1:5054:ff:fe12:3402");
	id = add_ok("{\"kind\":\"pinhole\",\"address\":\"2001:db8:1:1:5054:ff:fe12:3401\",\"proto\":\"tcp\","
		    "\"port\":3074,\"lease\":600}");
	snprintf(path, sizeof(path), "/api/v1/rules/%lld/give", (long long)id);
	ck_assert_int_eq(call("POST", path, "{\"mac\":\"" DEV2 "\"}", &j), 200);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "rule"), "address")),
			 "2001:db8:1:1:5054:ff:fe12:3402");
	json_decref(j);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("core");
	TCase *tn = tcase_create("names");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_pinhole_lifecycle);
	tcase_add_test(tc, test_portmap_and_conflict);
	tcase_add_test(tc, test_unprivileged);
	tcase_add_test(tc, test_bad_target);
	tcase_add_loop_test(tc, test_bad_bodies, 0, (int)(sizeof(bad_bodies) / sizeof(bad_bodies[0])));
	tcase_add_test(tc, test_long_description);
	tcase_add_test(tc, test_too_large);
	tcase_add_loop_test(tc, test_bad_routes, 0, (int)(sizeof(bad_routes) / sizeof(bad_routes[0])));
	tcase_add_test(tc, test_verdict_mapping);
	tcase_add_test(tc, test_no_resources);
	tcase_add_test(tc, test_ctl_envelope);
	tcase_add_test(tc, test_rule_to_json_v4_remote);
	tcase_add_test(tc, test_name_no_devices);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tn, named_setup, named_teardown);
	tcase_add_test(tn, test_name_device);
	tcase_add_test(tn, test_learned_names_listed);
	tcase_add_test(tn, test_give_port);
	tcase_add_test(tn, test_give_pinhole);
	tcase_add_test(tn, test_name_survives_restart);
	tcase_add_loop_test(tn, test_name_bad, 0, (int)(sizeof(bad_names) / sizeof(bad_names[0])));
	tcase_add_test(tn, test_name_limits);
	tcase_add_test(tn, test_name_not_saved);
	tcase_add_test(tn, test_apps_device);
	tcase_add_test(tn, test_apps_not_saved);
	suite_add_tcase(s, tn);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(api_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
