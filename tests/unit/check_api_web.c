/* SPDX-License-Identifier: GPL-2.0-or-later */
/* api_web: login (right, wrong, rate-limited, no password set), the gate in front of the JSON API
 * (no session 401, missing CSRF token 403), logout, settings (types 400, values 422, a failing
 * apply 503 with nothing changed), hostile bodies, the settings text kept in the store, and the
 * Host header check against DNS rebinding. */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/api_web.h"

#define PASSWORD "hunter2 but longer"

static void fake_random(void *arg, void *buf, size_t len)
{
	unsigned *x = arg;
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		*x ^= *x << 13;
		*x ^= *x >> 17;
		*x ^= *x << 5;
		p[i] = (unsigned char)(*x >> 24);
	}
}

static unsigned rstate;
static char hash[SESSION_HASH_MAX];
static struct api_web *w;
static struct web_settings applied;
static int n_applied;
static int apply_result;

static int apply(void *arg, const struct web_settings *s)
{
	(void)arg;
	if (apply_result == 0) {
		applied = *s;
		n_applied++;
	}
	return apply_result;
}

static struct api_web *make(const char *pwhash)
{
	struct api_web_params p;

	memset(&p, 0, sizeof(p));
	p.password_hash = pwhash;
	p.settings.enable_upnp = true;
	p.settings.enable_pcp = true;
	p.settings.allow_temporary = true;
	p.settings.max_lifetime = 86400;
	p.min_lifetime = 120;
	p.rnd = fake_random;
	p.rnd_arg = &rstate;
	p.apply = apply;
	return api_web_new(&p);
}

static void setup(void)
{
	rstate = 12345;
	n_applied = 0;
	apply_result = 0;
	ck_assert_int_eq(session_hash_password(PASSWORD, fake_random, &rstate, hash, sizeof(hash)), 0);
	w = make(hash);
	ck_assert_ptr_nonnull(w);
}

static void teardown(void)
{
	api_web_free(w);
}

struct call {
	int rc;
	int status;
	json_t *body;
	char cookie[API_WEB_COOKIE_MAX];
	uint32_t retry_after;
};

static struct call do_req(const char *method, const char *path, const char *body, const char *cookie,
			  const char *csrf, const char *peer, uint64_t now)
{
	struct api_web_request rq;
	struct api_web_response rs;
	struct call c;
	char mapped[64];

	memset(&rq, 0, sizeof(rq));
	memset(&c, 0, sizeof(c));
	rq.method = method;
	rq.path = path;
	rq.body = body;
	rq.body_len = body ? strlen(body) : 0;
	rq.cookie = cookie;
	rq.csrf = csrf;
	rq.now_ms = now;
	snprintf(mapped, sizeof(mapped), "::ffff:%s", peer ? peer : "192.0.2.11");
	ck_assert_int_eq(inet_pton(AF_INET6, mapped, &rq.peer), 1);
	c.rc = api_web_handle(w, &rq, &rs);
	if (c.rc == API_WEB_CHECK) {
		/* the transport checks the password between the two calls, without its lock */
		ck_assert_str_eq(rs.login.hash, hash);
		c.rc = api_web_login_done(w, &rq, session_check_password(rs.login.hash, rs.login.password), &rs);
		ck_assert_str_eq(rs.login.password, "");
	}
	c.status = rs.status;
	c.retry_after = rs.retry_after;
	strcpy(c.cookie, rs.set_cookie);
	if (c.rc == API_WEB_DONE) {
		ck_assert_ptr_nonnull(rs.body);
		c.body = json_loads(rs.body, 0, NULL);
		ck_assert_ptr_nonnull(c.body);
	}
	api_web_response_free(&rs);
	return c;
}

static const char *err_code(const struct call *c)
{
	return json_string_value(json_object_get(json_object_get(c->body, "error"), "code"));
}

/* Logs in; token and csrf receive the session cookie value and the CSRF token. */
static void login(char *token, char *csrf, const char *peer, uint64_t now)
{
	struct call c = do_req("POST", "/api/v1/login", "{\"password\":\"" PASSWORD "\"}", NULL, NULL, peer, now);
	const char *eq, *semi;

	ck_assert_int_eq(c.status, 200);
	ck_assert(json_is_true(json_object_get(c.body, "logged_in")));
	strcpy(csrf, json_string_value(json_object_get(c.body, "csrf")));
	ck_assert(strstr(c.cookie, "HttpOnly") && strstr(c.cookie, "SameSite=Strict") && strstr(c.cookie, "Path=/"));
	eq = strchr(c.cookie, '=');
	semi = strchr(c.cookie, ';');
	ck_assert(eq && semi && semi > eq);
	memcpy(token, eq + 1, (size_t)(semi - eq - 1));
	token[semi - eq - 1] = '\0';
	ck_assert_uint_eq(strlen(token), SESSION_TOKEN_LEN);
	json_decref(c.body);
}

START_TEST(test_session_before_login)
{
	struct call c = do_req("GET", "/api/v1/session", NULL, NULL, NULL, NULL, 1000);

	ck_assert_int_eq(c.status, 200);
	ck_assert(json_is_false(json_object_get(c.body, "logged_in")));
	ck_assert(json_is_true(json_object_get(c.body, "password_set")));
	ck_assert_ptr_null(json_object_get(c.body, "csrf"));
	json_decref(c.body);
}
END_TEST

START_TEST(test_no_password)
{
	struct call c;

	api_web_free(w);
	w = make("");
	c = do_req("GET", "/api/v1/session", NULL, NULL, NULL, NULL, 1000);
	ck_assert(json_is_false(json_object_get(c.body, "password_set")));
	json_decref(c.body);
	c = do_req("POST", "/api/v1/login", "{\"password\":\"\"}", NULL, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 403);
	ck_assert_str_eq(err_code(&c), "no_password");
	ck_assert(strstr(json_string_value(json_object_get(json_object_get(c.body, "error"), "message")), "igdctl passwd"));
	json_decref(c.body);
	/* a malformed hash is treated as none, never as "anything goes" */
	api_web_free(w);
	w = make("not-a-hash");
	c = do_req("POST", "/api/v1/login", "{\"password\":\"not-a-hash\"}", NULL, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 403);
	json_decref(c.body);
}
END_TEST

START_TEST(test_login_and_gate)
{
	char token[128], csrf[128];
	struct call c;

	c = do_req("POST", "/api/v1/login", "{\"password\":\"wrong\"}", NULL, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 401);
	ck_assert_str_eq(c.cookie, "");
	json_decref(c.body);
	login(token, csrf, NULL, 1000);

	c = do_req("GET", "/api/v1/session", NULL, token, NULL, NULL, 2000);
	ck_assert(json_is_true(json_object_get(c.body, "logged_in")));
	ck_assert_str_eq(json_string_value(json_object_get(c.body, "csrf")), csrf);
	json_decref(c.body);

	/* the JSON API behind the gate */
	c = do_req("GET", "/api/v1/rules", NULL, NULL, NULL, NULL, 2000);
	ck_assert_int_eq(c.status, 401);
	json_decref(c.body);
	c = do_req("GET", "/api/v1/rules?x=1", NULL, "0123", NULL, NULL, 2000);
	ck_assert_int_eq(c.status, 401);
	json_decref(c.body);
	ck_assert_int_eq(do_req("GET", "/api/v1/rules", NULL, token, NULL, NULL, 2000).rc, API_WEB_PASS);
	ck_assert_int_eq(do_req("GET", "/api/v1/status", NULL, token, NULL, NULL, 2000).rc, API_WEB_PASS);
	c = do_req("POST", "/api/v1/rules", "{}", token, NULL, NULL, 2000);
	ck_assert_int_eq(c.status, 403);
	ck_assert_str_eq(err_code(&c), "csrf");
	json_decref(c.body);
	c = do_req("DELETE", "/api/v1/rules/1", NULL, token, token, NULL, 2000);
	ck_assert_int_eq(c.status, 403);
	json_decref(c.body);
	ck_assert_int_eq(do_req("POST", "/api/v1/rules", "{}", token, csrf, NULL, 2000).rc, API_WEB_PASS);
	ck_assert_int_eq(do_req("DELETE", "/api/v1/rules/1", NULL, token, csrf, NULL, 2000).rc, API_WEB_PASS);
	/* naming a device is a change like any other */
	c = do_req("PUT", "/api/v1/devices/52:54:00:12:34:01", "{\"name\":\"x\"}", NULL, csrf, NULL, 2000);
	ck_assert_int_eq(c.status, 401);
	json_decref(c.body);
	c = do_req("PUT", "/api/v1/devices/52:54:00:12:34:01", "{\"name\":\"x\"}", token, NULL, NULL, 2000);
	ck_assert_int_eq(c.status, 403);
	ck_assert_str_eq(err_code(&c), "csrf");
	json_decref(c.body);
	ck_assert_int_eq(do_req("PUT", "/api/v1/devices/52:54:00:12:34:01", "{\"name\":\"x\"}", token, csrf, NULL,
				2000).rc, API_WEB_PASS);

	/* idle for longer than the timeout: logged out */
	c = do_req("GET", "/api/v1/rules", NULL, token, NULL, NULL, 2000 + SESSION_IDLE_MS + 1);
	ck_assert_int_eq(c.status, 401);
	json_decref(c.body);
}
END_TEST

START_TEST(test_logout)
{
	char token[128], csrf[128];
	struct call c;

	login(token, csrf, NULL, 1000);
	c = do_req("POST", "/api/v1/logout", NULL, token, NULL, NULL, 1100);
	ck_assert_int_eq(c.status, 403); /* logging someone out is a change too */
	json_decref(c.body);
	c = do_req("POST", "/api/v1/logout", NULL, token, csrf, NULL, 1100);
	ck_assert_int_eq(c.status, 200);
	ck_assert(strstr(c.cookie, "Max-Age=0"));
	json_decref(c.body);
	c = do_req("GET", "/api/v1/rules", NULL, token, NULL, NULL, 1200);
	ck_assert_int_eq(c.status, 401);
	json_decref(c.body);
}
END_TEST

/* The slow part of a login, crypt(3), is handed back to the caller (it runs it without the lock that
 * serializes api_web): api_web_handle itself never hashes. */
START_TEST(test_login_hash_outside)
{
	struct api_web_request rq;
	struct api_web_response rs;
	enum api_web_result rc;

	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.path = "/api/v1/login";
	rq.body = "{\"password\":\"a guess\"}";
	rq.body_len = strlen(rq.body);
	rq.now_ms = 1000;
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:192.0.2.11", &rq.peer), 1);
	rc = api_web_handle(w, &rq, &rs);
	ck_assert_int_eq(rc, API_WEB_CHECK);
	ck_assert_str_eq(rs.login.password, "a guess");
	ck_assert_str_eq(rs.login.hash, hash);
	ck_assert_ptr_null(rs.body);
	rc = api_web_login_done(w, &rq, false, &rs);
	ck_assert_int_eq(rc, API_WEB_DONE);
	ck_assert_int_eq(rs.status, 401);
	ck_assert_str_eq(rs.login.password, "");
	api_web_response_free(&rs);
}
END_TEST

START_TEST(test_rate_limit)
{
	char token[128], csrf[128];
	struct call c;

	for (int i = 0; i < SESSION_RATE_BURST; i++) {
		c = do_req("POST", "/api/v1/login", "{\"password\":\"guess\"}", NULL, NULL, NULL, 1000);
		ck_assert_int_eq(c.status, 401);
		json_decref(c.body);
	}
	/* even the right password waits */
	c = do_req("POST", "/api/v1/login", "{\"password\":\"" PASSWORD "\"}", NULL, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 429);
	ck_assert_uint_gt(c.retry_after, 0);
	ck_assert_str_eq(err_code(&c), "rate_limited");
	json_decref(c.body);
	login(token, csrf, "192.0.2.12", 1000);           /* another host is not affected */
	login(token, csrf, NULL, 1000 + SESSION_RATE_REFILL_MS); /* and it refills */
}
END_TEST

static const char *const bad_login_bodies[] = {
	NULL, "", "{", "[]", "\"pw\"", "{\"password\":1}", "{\"password\":null}", "{\"password\":[\"x\"]}",
	"{\"pass\":\"x\"}", "{\"password\":\"x\",\"password\":\"y\"}", "{\"password\":\"x\",\"user\":\"admin\"}",
};

START_TEST(test_bad_login_bodies)
{
	struct call c = do_req("POST", "/api/v1/login", bad_login_bodies[_i], NULL, NULL, NULL, 1000);

	ck_assert_int_eq(c.status, 400);
	json_decref(c.body);
}
END_TEST

START_TEST(test_nul_in_password)
{
	struct api_web_request rq;
	struct api_web_response rs;
	static const char body[] = "{\"password\":\"hunter2\\u0000 but longer\"}";

	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.path = "/api/v1/login";
	rq.body = body;
	rq.body_len = sizeof(body) - 1;
	ck_assert_int_eq(api_web_handle(w, &rq, &rs), API_WEB_DONE);
	/* jansson refuses \u0000 without JSON_ALLOW_NUL: a bad body, never a truncated password */
	ck_assert_int_eq(rs.status, 400);
	api_web_response_free(&rs);
}
END_TEST

START_TEST(test_routes_and_methods)
{
	char token[128], csrf[128];
	struct call c;

	c = do_req("GET", "/api/v1/login", NULL, NULL, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 405);
	json_decref(c.body);
	c = do_req("POST", "/api/v1/session", "{}", NULL, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 405);
	json_decref(c.body);
	c = do_req("GET", "/index.html", NULL, NULL, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 404);
	json_decref(c.body);
	c = do_req(NULL, "/api/v1/rules", NULL, NULL, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 400);
	json_decref(c.body);
	login(token, csrf, NULL, 1000);
	c = do_req("GET", "/api/v1/logout", NULL, token, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 405);
	json_decref(c.body);
	c = do_req("DELETE", "/api/v1/settings", NULL, token, csrf, NULL, 1000);
	ck_assert_int_eq(c.status, 405);
	json_decref(c.body);
	/* unknown API paths pass the gate: api_handle answers 404 for them */
	ck_assert_int_eq(do_req("GET", "/api/v1/nothing", NULL, token, NULL, NULL, 1000).rc, API_WEB_PASS);
}
END_TEST

START_TEST(test_settings)
{
	char token[128], csrf[128];
	struct call c;

	login(token, csrf, NULL, 1000);
	c = do_req("GET", "/api/v1/settings", NULL, token, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 200);
	ck_assert(json_is_true(json_object_get(c.body, "enable_upnp")));
	ck_assert_int_eq(json_integer_value(json_object_get(c.body, "max_lifetime")), 86400);
	ck_assert_int_eq(json_integer_value(json_object_get(c.body, "min_lifetime")), 120);
	json_decref(c.body);

	c = do_req("PUT", "/api/v1/settings", "{\"enable_pcp\":false}", token, NULL, NULL, 1000);
	ck_assert_int_eq(c.status, 403);
	json_decref(c.body);
	ck_assert_int_eq(n_applied, 0);

	c = do_req("PUT", "/api/v1/settings", "{\"enable_pcp\":false,\"max_lifetime\":3600}", token, csrf, NULL, 1000);
	ck_assert_int_eq(c.status, 200);
	ck_assert(json_is_false(json_object_get(c.body, "enable_pcp")));
	json_decref(c.body);
	ck_assert_int_eq(n_applied, 1);
	ck_assert(!applied.enable_pcp && applied.enable_upnp && applied.allow_temporary);
	ck_assert_uint_eq(applied.max_lifetime, 3600);

	/* the store or the core said no: nothing changes */
	apply_result = -1;
	c = do_req("PUT", "/api/v1/settings", "{\"enable_upnp\":false}", token, csrf, NULL, 1000);
	ck_assert_int_eq(c.status, 503);
	json_decref(c.body);
	c = do_req("GET", "/api/v1/settings", NULL, token, NULL, NULL, 1000);
	ck_assert(json_is_true(json_object_get(c.body, "enable_upnp")));
	ck_assert_int_eq(json_integer_value(json_object_get(c.body, "max_lifetime")), 3600);
	json_decref(c.body);
}
END_TEST

static const struct {
	const char *body;
	int status;
} bad_settings[] = {
	{ "{\"enable_upnp\":\"yes\"}", 400 },
	{ "{\"enable_pcp\":1}", 400 },
	{ "{\"allow_temporary\":null}", 400 },
	{ "{\"max_lifetime\":\"3600\"}", 400 },
	{ "{\"max_lifetime\":3600.5}", 400 },
	{ "{\"max_lifetime\":119}", 422 },
	{ "{\"max_lifetime\":-1}", 422 },
	{ "{\"max_lifetime\":604801}", 422 },
	{ "{\"max_lifetime\":99999999999999999}", 422 },
	{ "{\"colour\":\"red\"}", 400 },
	{ "[]", 400 },
	{ "{", 400 },
	{ "", 400 },
};

START_TEST(test_bad_settings)
{
	char token[128], csrf[128];
	struct call c;

	login(token, csrf, NULL, 1000);
	c = do_req("PUT", "/api/v1/settings", bad_settings[_i].body, token, csrf, NULL, 1000);
	ck_assert_int_eq(c.status, bad_settings[_i].status);
	json_decref(c.body);
	ck_assert_int_eq(n_applied, 0);
}
END_TEST

START_TEST(test_settings_text)
{
	struct web_settings s = { true, false, true, 7200 }, t = { false, true, false, 300 };
	char buf[128];

	ck_assert_int_eq(api_web_settings_encode(&s, buf, sizeof(buf)), 0);
	ck_assert(api_web_settings_decode(buf, 120, &t));
	ck_assert(t.enable_upnp && !t.enable_pcp && t.allow_temporary);
	ck_assert_uint_eq(t.max_lifetime, 7200);
	ck_assert_int_eq(api_web_settings_encode(&s, buf, 10), -1);
	/* partial text changes only what it names */
	ck_assert(api_web_settings_decode("pcp=1", 120, &t));
	ck_assert(t.enable_pcp && t.enable_upnp);
	ck_assert(api_web_settings_decode("", 120, &t));
	/* anything malformed leaves it untouched */
	t = s;
	ck_assert(!api_web_settings_decode("upnp=2", 120, &t));
	ck_assert(!api_web_settings_decode("max_lifetime=60", 120, &t));
	ck_assert(!api_web_settings_decode("max_lifetime=x", 120, &t));
	ck_assert(!api_web_settings_decode("max_lifetime=", 120, &t));
	ck_assert(!api_web_settings_decode("colour=red", 120, &t));
	ck_assert(!api_web_settings_decode("upnp", 120, &t));
	ck_assert(!api_web_settings_decode("pcp=0 upnp=yes", 120, &t));
	ck_assert(t.enable_upnp && !t.enable_pcp && t.max_lifetime == 7200);
}
END_TEST

static const struct {
	const char *host, *local;
	bool ok;
} hosts[] = {
	{ "192.0.2.1", "192.0.2.1", true },
	{ "192.0.2.1:8080", "192.0.2.1", true },
	{ "192.0.2.1:8080", "::ffff:192.0.2.1", true },      /* IPv4 on a dual-stack socket */
	{ "[2001:db8:1:1::1]:8080", "2001:db8:1:1::1", true },
	{ "[2001:db8:1:1:0:0:0:1]", "2001:db8:1:1::1", true },
	{ "[fd00::1]:8080", "fd00::1", true },
	{ "localhost:8080", "192.0.2.1", true },             /* an SSH tunnel */
	{ "LocalHost.", "192.0.2.1", true },
	{ "router.lan:8080", "192.0.2.1", true },            /* web_hostname */
	{ "ROUTER.LAN.", "2001:db8:1:1::1", true },
	{ "gw.example", "192.0.2.1", true },
	/* refused */
	{ NULL, "192.0.2.1", false },                         /* HTTP/1.0 without Host */
	{ "", "192.0.2.1", false },
	{ ":8080", "192.0.2.1", false },
	{ "evil.example", "192.0.2.1", false },               /* DNS rebinding: the attacker's name */
	{ "evil.example:8080", "192.0.2.1", false },
	{ "router.lan.evil.example", "192.0.2.1", false },
	{ "router", "192.0.2.1", false },
	{ "192.0.2.2:8080", "192.0.2.1", false },             /* another address than the one connected to */
	{ "198.51.100.7", "192.0.2.1", false },
	{ "[2001:db8:1:1::2]", "2001:db8:1:1::1", false },
	{ "[192.0.2.1]", "203.0.113.1", false },
	{ "2001:db8:1:1::1", "2001:db8:1:1::1", false },      /* IPv6 without brackets is not a Host */
	{ "[2001:db8:1:1::1", "2001:db8:1:1::1", false },
	{ "[router.lan]", "192.0.2.1", false },
	{ "[fe80::1%25lan0]:8080", "fe80::1", false },
	{ "192.0.2.1:", "192.0.2.1", false },
	{ "192.0.2.1:80a", "192.0.2.1", false },
	{ "192.0.2.1:123456", "192.0.2.1", false },
	{ "192.0.2.1:8080:1", "192.0.2.1", false },
	{ "localhost.evil.example", "192.0.2.1", false },
	{ "192.0.2.1 ", "192.0.2.1", false },
};

START_TEST(test_host)
{
	static const char *const names[] = { "router.lan", "gw.example" };
	struct in6_addr local;
	char mapped[64];

	snprintf(mapped, sizeof(mapped), "%s%s", strchr(hosts[_i].local, ':') ? "" : "::ffff:", hosts[_i].local);
	ck_assert_int_eq(inet_pton(AF_INET6, mapped, &local), 1);
	ck_assert_msg(api_web_host_ok(hosts[_i].host, &local, names, 2) == hosts[_i].ok, "Host \"%s\" to %s: %s",
		      hosts[_i].host ? hosts[_i].host : "(none)", hosts[_i].local, hosts[_i].ok ? "refused" : "taken");
	/* without web_hostname, only addresses and localhost */
	if (hosts[_i].host && strstr(hosts[_i].host, "router.lan"))
		ck_assert(!api_web_host_ok(hosts[_i].host, &local, NULL, 0));
	ck_assert(!api_web_host_ok("192.0.2.1", NULL, NULL, 0));
}
END_TEST

static Suite *api_web_suite(void)
{
	Suite *s = suite_create("api_web");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_session_before_login);
	tcase_add_test(tc, test_no_password);
	tcase_add_test(tc, test_login_and_gate);
	tcase_add_test(tc, test_logout);
	tcase_add_test(tc, test_login_hash_outside);
	tcase_add_test(tc, test_rate_limit);
	tcase_add_loop_test(tc, test_bad_login_bodies, 0, (int)(sizeof(bad_login_bodies) / sizeof(bad_login_bodies[0])));
	tcase_add_test(tc, test_nul_in_password);
	tcase_add_test(tc, test_routes_and_methods);
	tcase_add_test(tc, test_settings);
	tcase_add_loop_test(tc, test_bad_settings, 0, (int)(sizeof(bad_settings) / sizeof(bad_settings[0])));
	tcase_add_test(tc, test_settings_text);
	tcase_add_loop_test(tc, test_host, 0, (int)(sizeof(hosts) / sizeof(hosts[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(api_web_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
