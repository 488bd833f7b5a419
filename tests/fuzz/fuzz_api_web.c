/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the web UI's own endpoints and login gate (web/api_web.c). The first byte picks what
 * the rest is: a login body, a settings body (logged in, with the CSRF token), a METHOD PATH line
 * through the gate with and without a session, or the settings text kept in the store (which is also
 * tried as a Host header against DNS rebinding). Never a
 * crash, and every answer is JSON with a sane status. Password checks run crypt(3) (slow by
 * design): the fuzzer's hash is a cheap $1$ (MD5-crypt) one, so it can still try many inputs. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/api_web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "$1$fuzzsalt$" + MD5-crypt of "fuzz password" */
#define FUZZ_HASH "$1$fuzzsalt$Q1yyMp7coR1tc40UJbjE91"

static unsigned rstate = 1;

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

static int apply(void *arg, const struct web_settings *s)
{
	(void)arg;
	return s->max_lifetime % 7 == 0 ? -1 : 0; /* sometimes the store says no */
}

/* As web/http.c does it: a login's password is checked between two calls. */
static enum api_web_result handle(struct api_web *w, const struct api_web_request *rq, struct api_web_response *rs)
{
	enum api_web_result rc = api_web_handle(w, rq, rs);

	if (rc == API_WEB_CHECK)
		rc = api_web_login_done(w, rq, session_check_password(rs->login.hash, rs->login.password), rs);
	return rc;
}

static void check(const struct api_web_response *rs, enum api_web_result rc)
{
	json_t *j;

	if (rc == API_WEB_PASS)
		return;
	if (rc != API_WEB_DONE || !rs->body || rs->status < 200 || rs->status > 599)
		abort();
	j = json_loads(rs->body, 0, NULL);
	if (!j || !json_is_object(j))
		abort();
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_web_params p;
	struct api_web_request rq;
	struct api_web_response rs;
	enum api_web_result rc;
	struct api_web *w;
	char token[SESSION_TOKEN_LEN + 1] = "", csrf[SESSION_TOKEN_LEN + 1] = "";
	char *text;

	if (size < 1 || size > 70000)
		return 0;
	memset(&p, 0, sizeof(p));
	p.password_hash = FUZZ_HASH;
	p.settings.max_lifetime = 86400;
	p.min_lifetime = 120;
	p.rnd = fake_random;
	p.rnd_arg = &rstate;
	p.apply = apply;
	w = api_web_new(&p);
	if (!w)
		return 0;
	text = malloc(size);
	if (!text) {
		api_web_free(w);
		return 0;
	}
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';

	memset(&rq, 0, sizeof(rq));
	rq.now_ms = 1000;
	rq.peer.s6_addr[15] = data[0];
	/* a session to use (through the same login code, with the right password) */
	rq.method = "POST";
	rq.path = "/api/v1/login";
	rq.body = "{\"password\":\"fuzz password\"}";
	rq.body_len = strlen(rq.body);
	rc = handle(w, &rq, &rs);
	check(&rs, rc);
	if (rs.status == 200) {
		const char *eq = strchr(rs.set_cookie, '=');

		if (!eq || strlen(eq + 1) < SESSION_TOKEN_LEN)
			abort();
		memcpy(token, eq + 1, SESSION_TOKEN_LEN);
		json_t *j = json_loads(rs.body, 0, NULL);
		snprintf(csrf, sizeof(csrf), "%s", json_string_value(json_object_get(j, "csrf")));
		json_decref(j);
	}
	api_web_response_free(&rs);

	memset(&rq, 0, sizeof(rq));
	rq.now_ms = 2000;
	switch (data[0] % 4) {
	case 0: /* a login body */
		rq.method = "POST";
		rq.path = "/api/v1/login";
		rq.body = text;
		rq.body_len = size - 1;
		break;
	case 1: /* a settings body, logged in */
		rq.method = "PUT";
		rq.path = "/api/v1/settings";
		rq.body = text;
		rq.body_len = size - 1;
		rq.cookie = token;
		rq.csrf = csrf;
		break;
	case 2: { /* "METHOD PATH": the gate, logged in or not, token or not */
		char *sp = strchr(text, ' ');

		rq.method = text;
		rq.path = sp ? sp + 1 : "/api/v1/rules";
		if (sp)
			*sp = '\0';
		rq.cookie = data[0] & 4 ? token : NULL;
		rq.csrf = data[0] & 8 ? csrf : text;
		break;
	}
	default: { /* the settings text from the store; the same bytes as a Host header */
		static const char *const names[] = { "router.lan" };
		struct web_settings s = p.settings;
		struct in6_addr local = { .s6_addr = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 1 } };
		char buf[256];

		/* a Host taken is ours: never a name with a dot other than ours, never an empty one */
		if (api_web_host_ok(text, &local, names, 1) && (text[0] == '\0' || text[0] == ':'))
			abort();

		if (api_web_settings_decode(text, p.min_lifetime, &s)) {
			if (s.max_lifetime < p.min_lifetime || s.max_lifetime > API_WEB_MAX_LIFETIME_MAX)
				abort();
			if (api_web_settings_encode(&s, buf, sizeof(buf)) < 0)
				abort();
		}
		free(text);
		api_web_free(w);
		return 0;
	}
	}
	rc = handle(w, &rq, &rs);
	check(&rs, rc);
	api_web_response_free(&rs);
	free(text);
	api_web_free(w);
	return 0;
}
