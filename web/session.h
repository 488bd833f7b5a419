/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Household login for the web UI: password hashes (crypt(3), yescrypt "$y$" by default, any
 * scheme libcrypt knows when checking), session and CSRF tokens, and token buckets for login
 * attempts. Pure: no I/O, no clock, no randomness of its own — the caller passes "now" and a source
 * of random bytes (getrandom in web/http.c, a fixed pattern in unit tests), so the whole module is
 * unit-testable. Not thread-safe: web/http.c serializes calls with its own lock, except for the
 * password functions, which touch no shared state (they run outside the lock: a hash takes long). */
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
/* Login attempts (session_login_allow): every source has its own bucket, so one host cannot use its
 * failures against another; its network (IPv6 /64, IPv4 /24) and the whole router have larger ones,
 * refilled at least as fast as one address's, which only a host posing as many addresses can drain.
 * When they are dry, the hosts known to the router still get in: a valid session, or an address whose
 * last login succeeded and that has not failed since. */
#define SESSION_RATE_SLOTS  256                      /* addresses tracked by the login rate limit */
#define SESSION_RATE_BURST  5                        /* login attempts an address may make at once */
#define SESSION_RATE_REFILL_MS 12000u                /* then one more every 12 s */
#define SESSION_NET_SLOTS   64                       /* networks (IPv6 /64, IPv4 /24) tracked */
#define SESSION_NET_BURST   20                       /* attempts from one network at once */
#define SESSION_NET_REFILL_MS SESSION_RATE_REFILL_MS /* never slower than one address's bucket */
#define SESSION_ALL_BURST   60                       /* attempts from everywhere at once */
#define SESSION_ALL_REFILL_MS 2000u                  /* then one every 2 s (1,800 guesses an hour) */
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

struct session_bucket {
	uint32_t tokens_milli;              /* tokens * 1000 */
	uint64_t last_ms;
};

struct session_rate {
	bool used;
	bool known;                         /* its last login succeeded and it has not failed since */
	struct in6_addr key;                /* the address (v4-mapped for IPv4), or the network */
	struct session_bucket b;
};

struct sessions {
	struct session s[SESSION_MAX];
	struct session_rate rate[SESSION_RATE_SLOTS];   /* per address */
	struct session_rate net[SESSION_NET_SLOTS];     /* per /64 or /24 */
	struct session_bucket all;
	bool all_used;
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
/* May peer try a password now? Takes the attempt from its buckets (a refusal takes nothing). false =
 * over the limit (answer 429), with *retry_after_s the seconds until it may (>= 1). has_session: the
 * request carries a valid session cookie. */
bool session_login_allow(struct sessions *ss, const struct in6_addr *peer, bool has_session, uint64_t now_ms,
			 uint32_t *retry_after_s);
/* The password check of an allowed attempt came out ok or not: a success gives the attempt back and
 * makes the address known, a failure makes it unknown. */
void session_login_result(struct sessions *ss, const struct in6_addr *peer, bool ok, uint64_t now_ms);

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
