/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The web UI's own endpoints and its login gate (see api_web.h). Pure: no I/O; time, randomness
 * and the effect of a settings change come from the caller. Input is hostile: every LAN host can
 * reach it, so every field is type-checked (400) and range-checked (422) before it is used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/api.h"
#include "web/api_web.h"

struct api_web {
	struct sessions ss;
	char hash[SESSION_HASH_MAX];
	bool has_password;
	struct web_settings cur;
	uint32_t min_lifetime;
	int (*apply)(void *arg, const struct web_settings *s);
	void *apply_arg;
};

struct api_web *api_web_new(const struct api_web_params *p)
{
	struct api_web *w;

	if (!p->rnd)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	sessions_init(&w->ss, p->rnd, p->rnd_arg);
	/* a hash we cannot check would lock everyone out silently: treat it as no password, loudly
	 * (the UI then says how to set one); conf parsing already refuses malformed ones */
	if (p->password_hash && session_hash_valid(p->password_hash)) {
		snprintf(w->hash, sizeof(w->hash), "%s", p->password_hash);
		w->has_password = true;
	}
	w->cur = p->settings;
	w->min_lifetime = p->min_lifetime;
	w->apply = p->apply;
	w->apply_arg = p->apply_arg;
	return w;
}

void api_web_free(struct api_web *w)
{
	if (!w)
		return;
	explicit_bzero(w, sizeof(*w));
	free(w);
}

void api_web_settings(const struct api_web *w, struct web_settings *out)
{
	*out = w->cur;
}

void api_web_response_free(struct api_web_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	explicit_bzero(&resp->login, sizeof(resp->login));
}

/* ---------- answers ---------- */

static enum api_web_result respond(struct api_web_response *resp, int status, json_t *body)
{
	resp->status = status;
	resp->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!resp->body) {
		resp->status = 500;
		return API_WEB_ERROR;
	}
	return API_WEB_DONE;
}

static enum api_web_result respond_error(struct api_web_response *resp, int status, const char *code,
					 const char *msg)
{
	return respond(resp, status, api_error_json(code, msg));
}

static void set_cookie(struct api_web_response *resp, const char *token)
{
	/* HttpOnly: page scripts never see it; SameSite=Strict: other sites' pages cannot make the
	 * browser send it. No Secure: the UI is plain HTTP on the LAN (no certificate a home router
	 * could get). No Max-Age on login: it ends with the browser session or the server's timeouts. */
	if (token)
		snprintf(resp->set_cookie, sizeof(resp->set_cookie),
			 API_WEB_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", token);
	else
		snprintf(resp->set_cookie, sizeof(resp->set_cookie),
			 API_WEB_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}

/* Parses a body that must be a JSON object; NULL with the answer written otherwise. */
static json_t *load_object(const struct api_web_request *req, struct api_web_response *resp, int *rc)
{
	struct api_body_problem p;
	json_t *j;

	if (req->body_len > API_BODY_MAX) {
		*rc = respond_error(resp, 413, "bad_request", "body larger than 64 KiB");
		return NULL;
	}
	if (!(j = api_parse_object(req->body, req->body_len, &p)))
		*rc = respond_error(resp, p.status, p.code, p.message);
	return j;
}

/* ---------- endpoints ---------- */

/* Up to the password check, which the caller runs without its lock (API_WEB_CHECK). */
static enum api_web_result post_login(struct api_web *w, const struct api_web_request *req,
				      struct api_web_response *resp)
{
	enum api_web_result rc = API_WEB_DONE;
	bool has_session;
	json_t *j, *pw;
	const char *key;
	json_t *v;
	size_t len;

	if (!w->has_password)
		return respond_error(resp, 403, "no_password",
				     "no password is set: run 'igdctl passwd' on the router and add the "
				     "web_password_hash=... line it prints to the igdd configuration");
	/* the attempt is taken before the password is looked at: guessing costs one either way */
	has_session = session_find(&w->ss, req->cookie, req->now_ms) != NULL;
	if (!session_login_allow(&w->ss, &req->peer, has_session, req->now_ms, &resp->retry_after))
		return respond_error(resp, 429, "rate_limited", "too many login attempts; wait and try again");
	j = load_object(req, resp, &rc);
	if (!j)
		return rc;
	json_object_foreach(j, key, v) {
		if (strcmp(key, "password") != 0) {
			json_decref(j);
			return respond_error(resp, 400, "bad_request", "unknown field in the login body");
		}
	}
	pw = json_object_get(j, "password");
	if (!pw || !json_is_string(pw)) {
		json_decref(j);
		return respond_error(resp, 400, "bad_request", "\"password\" must be a string");
	}
	len = strlen(json_string_value(pw));
	if (len != json_string_length(pw) || len > SESSION_PASSWORD_MAX) {
		/* a NUL inside or too long: no hash of ours can match it */
		json_decref(j);
		return api_web_login_done(w, req, false, resp);
	}
	memcpy(resp->login.password, json_string_value(pw), len + 1);
	memcpy(resp->login.hash, w->hash, sizeof(resp->login.hash));
	json_decref(j);
	return API_WEB_CHECK;
}

enum api_web_result api_web_login_done(struct api_web *w, const struct api_web_request *req, bool ok,
				       struct api_web_response *resp)
{
	const struct session *s;

	explicit_bzero(&resp->login, sizeof(resp->login));
	session_login_result(&w->ss, &req->peer, ok, req->now_ms);
	if (!ok)
		return respond_error(resp, 401, "not_authorized", "wrong password");
	/* a fresh token on every login: a cookie planted before login is worth nothing after it */
	if (req->cookie)
		session_destroy(&w->ss, req->cookie);
	s = session_create(&w->ss, req->now_ms);
	set_cookie(resp, s->token);
	return respond(resp, 200, json_pack("{s:b,s:s,s:I}", "logged_in", 1, "csrf", s->csrf,
					    "idle_timeout", (json_int_t)(SESSION_IDLE_MS / 1000)));
}

static enum api_web_result get_session(struct api_web *w, const struct api_web_request *req,
				       struct api_web_response *resp)
{
	const struct session *s = session_find(&w->ss, req->cookie, req->now_ms);
	json_t *j = json_pack("{s:b,s:b,s:I}", "logged_in", s != NULL, "password_set", w->has_password,
			      "idle_timeout", (json_int_t)(SESSION_IDLE_MS / 1000));

	if (j && s && json_object_set_new(j, "csrf", json_string(s->csrf)) < 0) {
		json_decref(j);
		j = NULL;
	}
	return respond(resp, 200, j);
}

static json_t *settings_json(const struct api_web *w)
{
	return json_pack("{s:b,s:b,s:b,s:I,s:I,s:I}", "enable_upnp", w->cur.enable_upnp,
			 "enable_pcp", w->cur.enable_pcp, "allow_temporary", w->cur.allow_temporary,
			 "max_lifetime", (json_int_t)w->cur.max_lifetime,
			 "min_lifetime", (json_int_t)w->min_lifetime,
			 "max_lifetime_limit", (json_int_t)API_WEB_MAX_LIFETIME_MAX);
}

static enum api_web_result put_settings(struct api_web *w, const struct api_web_request *req,
					struct api_web_response *resp)
{
	enum api_web_result rc = API_WEB_DONE;
	struct web_settings ns = w->cur;
	const char *key;
	json_t *j, *v;
	char msg[128];

	j = load_object(req, resp, &rc);
	if (!j)
		return rc;
	json_object_foreach(j, key, v) {
		bool *flag = strcmp(key, "enable_upnp") == 0 ? &ns.enable_upnp
			   : strcmp(key, "enable_pcp") == 0 ? &ns.enable_pcp
			   : strcmp(key, "allow_temporary") == 0 ? &ns.allow_temporary : NULL;

		if (flag) {
			if (!json_is_boolean(v)) {
				snprintf(msg, sizeof(msg), "\"%s\" must be true or false", key);
				json_decref(j);
				return respond_error(resp, 400, "bad_request", msg);
			}
			*flag = json_is_true(v);
		} else if (strcmp(key, "max_lifetime") == 0) {
			json_int_t n;

			if (!json_is_integer(v)) {
				json_decref(j);
				return respond_error(resp, 400, "bad_request", "\"max_lifetime\" must be an integer");
			}
			n = json_integer_value(v);
			if (n < (json_int_t)w->min_lifetime || n > (json_int_t)API_WEB_MAX_LIFETIME_MAX) {
				snprintf(msg, sizeof(msg), "\"max_lifetime\" must be between %u and %u seconds",
					 w->min_lifetime, API_WEB_MAX_LIFETIME_MAX);
				json_decref(j);
				return respond_error(resp, 422, "invalid", msg);
			}
			ns.max_lifetime = (uint32_t)n;
		} else {
			json_decref(j);
			return respond_error(resp, 400, "bad_request", "unknown field in the settings body");
		}
	}
	json_decref(j);
	if (w->apply && w->apply(w->apply_arg, &ns) < 0)
		return respond_error(resp, 503, "no_resources", "the settings could not be saved; nothing changed");
	w->cur = ns;
	return respond(resp, 200, settings_json(w));
}

/* ---------- the gate ---------- */

static bool path_is(const char *path, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(path, want, len) == 0;
}

enum api_web_result api_web_handle(struct api_web *w, const struct api_web_request *req,
				   struct api_web_response *resp)
{
	const struct session *s;
	const char *q;
	size_t plen;
	bool get, post, put, changes;

	memset(resp, 0, sizeof(*resp));
	resp->status = 500;
	if (!req->method || !req->path)
		return respond_error(resp, 400, "bad_request", "method and path are required");
	q = strchr(req->path, '?');
	plen = q ? (size_t)(q - req->path) : strlen(req->path);
	if (plen < 8 || memcmp(req->path, "/api/v1/", 8) != 0)
		return respond_error(resp, 404, "not_found", "no such path");
	get = strcmp(req->method, "GET") == 0;
	post = strcmp(req->method, "POST") == 0;
	put = strcmp(req->method, "PUT") == 0;
	/* anything that is not a read changes something: it must prove it comes from our page */
	changes = !get && strcmp(req->method, "HEAD") != 0;

	if (path_is(req->path, plen, "/api/v1/login")) {
		if (!post)
			return respond_error(resp, 405, "bad_request", "use POST");
		return post_login(w, req, resp);
	}
	if (path_is(req->path, plen, "/api/v1/session")) {
		if (!get)
			return respond_error(resp, 405, "bad_request", "use GET");
		return get_session(w, req, resp);
	}

	s = session_find(&w->ss, req->cookie, req->now_ms);
	if (!s)
		return respond_error(resp, 401, "not_authorized", "log in first");
	if (changes && !session_csrf_ok(s, req->csrf))
		return respond_error(resp, 403, "csrf", "missing or wrong X-CSRF-Token header");

	if (path_is(req->path, plen, "/api/v1/logout")) {
		if (!post)
			return respond_error(resp, 405, "bad_request", "use POST");
		session_destroy(&w->ss, req->cookie);
		set_cookie(resp, NULL);
		return respond(resp, 200, json_pack("{s:b}", "logged_in", 0));
	}
	if (path_is(req->path, plen, "/api/v1/settings")) {
		if (get)
			return respond(resp, 200, settings_json(w));
		if (put)
			return put_settings(w, req, resp);
		return respond_error(resp, 405, "bad_request", "use GET or PUT");
	}
	return API_WEB_PASS;
}

/* ---------- the Host header ---------- */

/* ":PORT" with 1-5 digits, or nothing. */
static bool port_suffix_ok(const char *s)
{
	size_t n;

	if (*s == '\0')
		return true;
	n = strspn(s + 1, "0123456789");
	return s[0] == ':' && n >= 1 && n <= 5 && s[1 + n] == '\0';
}

bool api_web_host_ok(const char *host, const struct in6_addr *local, const char *const *names, size_t n)
{
	char h[256];
	const char *end, *port;
	struct in6_addr a;
	size_t len;
	bool bracketed;

	if (!host || !local)
		return false;
	bracketed = host[0] == '[';
	if (bracketed) {                      /* "[2001:db8::1]:8080" */
		host++;
		if (!(end = strchr(host, ']')))
			return false;
		port = end + 1;
	} else {                                   /* "192.0.2.1:8080", "router.lan" */
		end = host + strcspn(host, ":");
		port = end;
	}
	len = (size_t)(end - host);
	if (!port_suffix_ok(port) || len == 0 || len >= sizeof(h))
		return false;
	memcpy(h, host, len);
	h[len] = '\0';
	if (addr_parse(h, &a))
		return addr_equal(&a, local);
	if (bracketed)
		return false;                          /* brackets hold an address or nothing */
	if (h[len - 1] == '.')
		h[--len] = '\0';                       /* "router.lan." is "router.lan" */
	if (strcasecmp(h, "localhost") == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcasecmp(h, names[i]) == 0)
			return true;
	return false;
}

/* ---------- persistence text ---------- */

int api_web_settings_encode(const struct web_settings *s, char *buf, size_t len)
{
	int n = snprintf(buf, len, "upnp=%d pcp=%d temporary=%d max_lifetime=%u", s->enable_upnp,
			 s->enable_pcp, s->allow_temporary, s->max_lifetime);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static bool parse_bit(const char *v, bool *out)
{
	if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0) {
		*out = v[0] == '1';
		return true;
	}
	return false;
}

bool api_web_settings_decode(const char *text, uint32_t min_lifetime, struct web_settings *s)
{
	struct web_settings ns = *s;
	char buf[256], *save = NULL, *word;

	if (strlen(text) >= sizeof(buf))
		return false;
	strcpy(buf, text);
	for (word = strtok_r(buf, " \t\n", &save); word; word = strtok_r(NULL, " \t\n", &save)) {
		char *eq = strchr(word, '=');
		bool ok;

		if (!eq)
			return false;
		*eq++ = '\0';
		if (strcmp(word, "upnp") == 0) {
			ok = parse_bit(eq, &ns.enable_upnp);
		} else if (strcmp(word, "pcp") == 0) {
			ok = parse_bit(eq, &ns.enable_pcp);
		} else if (strcmp(word, "temporary") == 0) {
			ok = parse_bit(eq, &ns.allow_temporary);
		} else if (strcmp(word, "max_lifetime") == 0) {
			char *end;
			unsigned long v;

			ok = *eq >= '0' && *eq <= '9';
			v = ok ? strtoul(eq, &end, 10) : 0;
			ok = ok && *end == '\0' && v >= min_lifetime && v <= API_WEB_MAX_LIFETIME_MAX;
			if (ok)
				ns.max_lifetime = (uint32_t)v;
		} else {
			ok = false;
		}
		if (!ok)
			return false;
	}
	*s = ns;
	return true;
}
