/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What only the web UI needs on top of the JSON API (firewall/runtime/api.h): the login gate and the
 * household settings.
 *   POST /api/v1/login {"password"}    -> 200 {"logged_in":true,"csrf"} + session cookie; 401; 429
 *   POST /api/v1/logout                -> 200 {"logged_in":false} (cookie cleared)
 *   GET  /api/v1/session               -> {"logged_in","password_set","csrf"?,"idle_timeout"}
 *   GET  /api/v1/settings              -> {"enable_upnp","enable_pcp","allow_temporary","max_lifetime","min_lifetime"}
 *   PUT  /api/v1/settings  (any subset of the four writable keys) -> 200 the new settings; 400 / 422
 * Every other /api/v1 path needs a live session (401 otherwise) and, for anything but GET, the
 * session's CSRF token in X-CSRF-Token (403 otherwise); then api_web_handle says API_WEB_PASS and
 * the transport calls api_handle() as the privileged household user (ORIGIN_WEB).
 * Pure: the clock, the random source and applying settings come in as values and callbacks. */
#ifndef IGDD_API_WEB_H
#define IGDD_API_WEB_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "web/session.h"

#define API_WEB_COOKIE "igdd_session"
#define API_WEB_COOKIE_MAX 192
#define API_WEB_MAX_LIFETIME_MAX 604800u  /* a household lease ceiling: one week */
#define API_WEB_META_KEY "web_settings"   /* store_meta key the settings persist under */

struct web_settings {
	bool enable_upnp;
	bool enable_pcp;
	bool allow_temporary;
	uint32_t max_lifetime;                /* seconds, in [min_lifetime, API_WEB_MAX_LIFETIME_MAX] */
};

struct api_web_params {
	const char *password_hash;            /* crypt(3) hash; NULL or "" = no password set (no login) */
	struct web_settings settings;         /* current values (config, then the persisted ones) */
	uint32_t min_lifetime;                /* policy floor: max_lifetime may not go below it */
	session_random_fn rnd;
	void *rnd_arg;
	/* Makes new settings take effect and durable (core policy, front-end switches, store).
	 * 0 = applied; -1 = nothing changed (the answer is 503). */
	int (*apply)(void *arg, const struct web_settings *s);
	void *apply_arg;
};

struct api_web_request {
	const char *method;
	const char *path;                     /* "?query" ignored */
	const char *body;
	size_t body_len;
	struct in6_addr peer;                 /* v4-mapped for IPv4 */
	const char *cookie;                   /* value of the igdd_session cookie, or NULL */
	const char *csrf;                     /* X-CSRF-Token header, or NULL */
	uint64_t now_ms;                      /* monotonic milliseconds */
};

/* A login's password and the hash to check it against (API_WEB_CHECK). */
struct api_web_login {
	char password[SESSION_PASSWORD_MAX + 1];
	char hash[SESSION_HASH_MAX];
};

struct api_web_response {
	int status;
	char *body;                           /* malloc'd JSON; free with api_web_response_free */
	char set_cookie[API_WEB_COOKIE_MAX];  /* a Set-Cookie header value, or "" */
	uint32_t retry_after;                 /* seconds, for 429; 0 = none */
	struct api_web_login login;           /* API_WEB_CHECK: what to check */
};

enum api_web_result {
	API_WEB_ERROR = -1,                   /* out of memory: answer 500 */
	API_WEB_DONE = 0,                     /* resp is the answer */
	API_WEB_PASS = 1,                     /* authorised: hand the request to api_handle() */
	/* a login the rate limit let through: check the password (session_check_password(resp->login.hash,
	 * resp->login.password), slow by design) without holding the lock that serializes calls into
	 * api_web, then call api_web_login_done with the verdict */
	API_WEB_CHECK = 2,
};

struct api_web;

struct api_web *api_web_new(const struct api_web_params *p);
void api_web_free(struct api_web *w);
enum api_web_result api_web_handle(struct api_web *w, const struct api_web_request *req,
				   struct api_web_response *resp);
/* Ends a login after API_WEB_CHECK (same request; the password's verdict): a session cookie and 200,
 * or 401. Wipes resp->login. API_WEB_DONE or API_WEB_ERROR. */
enum api_web_result api_web_login_done(struct api_web *w, const struct api_web_request *req, bool ok,
				       struct api_web_response *resp);
void api_web_response_free(struct api_web_response *resp);
/* The settings as they stand now. */
void api_web_settings(const struct api_web *w, struct web_settings *out);

/* DNS rebinding: a page of another site whose name the attacker re-points at the router is, to the
 * browser, same-origin with the UI; but its requests still carry that site's name in Host. So the UI
 * answers a request only when its Host (port aside) is the address the client connected to (local:
 * what one types in the address bar, IPv4 or [IPv6]), "localhost" (an SSH tunnel), or one of the
 * names[n] the operator listed (web_hostname; case and a trailing dot aside). NULL host (HTTP/1.0
 * without one) is refused. */
bool api_web_host_ok(const char *host, const struct in6_addr *local, const char *const *names, size_t n);

/* Settings <-> the one-line text kept in the store ("upnp=1 pcp=1 temporary=1 max_lifetime=86400").
 * decode starts from *s and changes only what the text names; false on any malformed word. */
int api_web_settings_encode(const struct web_settings *s, char *buf, size_t len);
bool api_web_settings_decode(const char *text, uint32_t min_lifetime, struct web_settings *s);

#endif
