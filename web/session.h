/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Household login for the web UI: password hashes (crypt(3), yescrypt "$y$" by default, any
 * scheme libcrypt knows when checking), session and CSRF tokens, and a per-client token bucket
 * for login attempts. Pure: no I/O, no clock, no randomness of its own — the caller passes "now"
 * and a source of random bytes (getrandom in web/http.c, a fixed pattern in unit tests), so the
 * whole module is unit-testable. Not thread-safe: web/http.c serializes calls with its own lock. */
#ifndef IGDD_SESSION_H
#define IGDD_SESSION_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_TOKEN_BYTES 32                       /* 256 bits from the random source */
#define SESSION_TOKEN_LEN   (2 * SESSION_TOKEN_BYTES) /* as lowercase hex */
#define SESSION_MAX         32                       /* live sessions; the oldest is evicted */
#define SESSION_IDLE_MS     (30u * 60u * 1000u)       /* no request for 30 min: logged out */
#define SESSION_MAX_AGE_MS  (12u * 3600u * 1000u)     /* and at most 12 h after login */
#define SESSION_RATE_SLOTS  256                      /* clients tracked by the login rate limit */
#define SESSION_RATE_BURST  5                        /* login attempts a client may make at once */
#define SESSION_RATE_REFILL_MS 12000u                /* then one more every 12 s */
#define SESSION_HASH_MAX    256                      /* bytes of a crypt(3) hash, with the NUL */
#define SESSION_PASSWORD_MAX 256                     /* longer passwords are refused (DoS) */

/* Fills buf with len unpredictable bytes. */
typedef void (*session_random_fn)(void *arg, void *buf, size_t len);

struct session {
	bool used;
	char token[SESSION_TOKEN_LEN + 1];  /* the cookie value */
	char csrf[SESSION_TOKEN_LEN + 1];   /* the X-CSRF-Token every change must carry */
	uint64_t created_ms, last_ms;
};

struct session_rate {
	bool used;
	struct in6_addr key;                /* IPv4 (v4-mapped) address, or the IPv6 /64 */
	uint32_t tokens_milli;              /* tokens * 1000 */
	uint64_t last_ms;
};

struct sessions {
	struct session s[SESSION_MAX];
	struct session_rate rate[SESSION_RATE_SLOTS];
	session_random_fn rnd;
	void *rnd_arg;
};

void sessions_init(struct sessions *ss, session_random_fn rnd, void *rnd_arg);
/* A new session (evicting the least recently used when full). Never NULL. */
const struct session *session_create(struct sessions *ss, uint64_t now_ms);
/* The live session with this cookie token (touching its idle timer), or NULL (unknown, expired:
 * an expired one is forgotten). Compares in constant time per slot. */
const struct session *session_find(struct sessions *ss, const char *token, uint64_t now_ms);
/* Forgets the session with this token (logout). */
void session_destroy(struct sessions *ss, const char *token);
/* Does hdr (the X-CSRF-Token header, may be NULL) carry this session's CSRF token? */
bool session_csrf_ok(const struct session *s, const char *hdr);
/* Takes one login attempt from the peer's bucket: false = over the limit (answer 429). */
bool session_rate_take(struct sessions *ss, const struct in6_addr *peer, uint64_t now_ms);
/* Seconds until the peer may try again (for Retry-After), 0 if it may now. */
uint32_t session_rate_retry_after(const struct sessions *ss, const struct in6_addr *peer, uint64_t now_ms);

/* crypt(3) hash of a password with a fresh salt made from rnd. 0, or -1 (bad password, no
 * algorithm). out holds at least SESSION_HASH_MAX bytes. */
int session_hash_password(const char *password, session_random_fn rnd, void *rnd_arg, char *out, size_t outlen);
/* Does password match hash? False for an empty or malformed hash. */
bool session_check_password(const char *hash, const char *password);
/* Is this a crypt(3) hash we can check ("$id$..." with the crypt alphabet)? */
bool session_hash_valid(const char *hash);
/* Constant-time string equality (length leaks, content does not). */
bool session_str_eq(const char *a, const char *b);

#endif
