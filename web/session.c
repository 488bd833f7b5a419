/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sessions, CSRF tokens, login rate limit and password hashes (see session.h). Pure: time and
 * randomness come from the caller. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "web/session.h"

void sessions_init(struct sessions *ss, session_random_fn rnd, void *rnd_arg)
{
	memset(ss, 0, sizeof(*ss));
	ss->rnd = rnd;
	ss->rnd_arg = rnd_arg;
}

static void random_hex(struct sessions *ss, char out[SESSION_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[SESSION_TOKEN_BYTES];

	ss->rnd(ss->rnd_arg, b, sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[SESSION_TOKEN_LEN] = '\0';
	memset(b, 0, sizeof(b));
}

bool session_str_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = 0;

	if (la != lb)
		return false;
	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static bool expired(const struct session *s, uint64_t now_ms)
{
	/* a clock that went backwards (it should not: the caller uses CLOCK_MONOTONIC) ends the session */
	return now_ms < s->last_ms || now_ms - s->last_ms > SESSION_IDLE_MS ||
	       now_ms - s->created_ms > SESSION_MAX_AGE_MS;
}

const struct session *session_create(struct sessions *ss, uint64_t now_ms)
{
	struct session *slot = NULL;

	for (size_t i = 0; i < SESSION_MAX; i++) {
		struct session *s = &ss->s[i];

		if (s->used && expired(s, now_ms))
			memset(s, 0, sizeof(*s));
		if (!s->used) {
			slot = s;
			break;
		}
		if (!slot || s->last_ms < slot->last_ms)
			slot = s;
	}
	memset(slot, 0, sizeof(*slot));
	slot->used = true;
	random_hex(ss, slot->token);
	random_hex(ss, slot->csrf);
	slot->created_ms = slot->last_ms = now_ms;
	return slot;
}

static struct session *find(struct sessions *ss, const char *token)
{
	struct session *hit = NULL;

	if (!token || strlen(token) != SESSION_TOKEN_LEN)
		return NULL;
	/* every slot is compared, so the time taken does not say which one matched */
	for (size_t i = 0; i < SESSION_MAX; i++)
		if (ss->s[i].used && session_str_eq(ss->s[i].token, token))
			hit = &ss->s[i];
	return hit;
}

const struct session *session_find(struct sessions *ss, const char *token, uint64_t now_ms)
{
	struct session *s = find(ss, token);

	if (!s)
		return NULL;
	if (expired(s, now_ms)) {
		memset(s, 0, sizeof(*s));
		return NULL;
	}
	s->last_ms = now_ms;
	return s;
}

void session_destroy(struct sessions *ss, const char *token)
{
	struct session *s = find(ss, token);

	if (s)
		memset(s, 0, sizeof(*s));
}

bool session_csrf_ok(const struct session *s, const char *hdr)
{
	return s && hdr && *hdr && session_str_eq(s->csrf, hdr);
}

/* ---------- login rate limit ---------- */

/* An IPv6 host can take any address of its /64 at will: the bucket belongs to the /64. */
static void rate_key(const struct in6_addr *peer, struct in6_addr *key)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	*key = *peer;
	if (memcmp(peer->s6_addr, v4mapped, sizeof(v4mapped)) != 0)
		memset(key->s6_addr + 8, 0, 8);
}

static void refill(struct session_rate *r, uint64_t now_ms)
{
	const uint32_t full = SESSION_RATE_BURST * 1000u;
	uint64_t add;

	if (now_ms <= r->last_ms)
		return;
	add = (now_ms - r->last_ms) * 1000u / SESSION_RATE_REFILL_MS;
	r->tokens_milli = add >= full - r->tokens_milli ? full : r->tokens_milli + (uint32_t)add;
	r->last_ms = now_ms;
}

static struct session_rate *rate_slot(struct sessions *ss, const struct in6_addr *key, bool create,
				      uint64_t now_ms)
{
	struct session_rate *victim = NULL;

	for (size_t i = 0; i < SESSION_RATE_SLOTS; i++)
		if (ss->rate[i].used && memcmp(&ss->rate[i].key, key, sizeof(*key)) == 0)
			return &ss->rate[i];
	if (!create)
		return NULL;
	/* a new client takes a free slot, else the one idle longest (a full bucket by now, most likely) */
	for (size_t i = 0; i < SESSION_RATE_SLOTS; i++) {
		struct session_rate *r = &ss->rate[i];

		if (!r->used) {
			victim = r;
			break;
		}
		if (!victim || r->last_ms < victim->last_ms)
			victim = r;
	}
	victim->used = true;
	victim->key = *key;
	victim->tokens_milli = SESSION_RATE_BURST * 1000u;
	victim->last_ms = now_ms;
	return victim;
}

bool session_rate_take(struct sessions *ss, const struct in6_addr *peer, uint64_t now_ms)
{
	struct in6_addr key;
	struct session_rate *r;

	rate_key(peer, &key);
	r = rate_slot(ss, &key, true, now_ms);
	refill(r, now_ms);
	if (r->tokens_milli < 1000u)
		return false;
	r->tokens_milli -= 1000u;
	return true;
}

uint32_t session_rate_retry_after(const struct sessions *ss, const struct in6_addr *peer, uint64_t now_ms)
{
	struct in6_addr key;
	struct session_rate r;
	const struct session_rate *p;

	rate_key(peer, &key);
	p = rate_slot((struct sessions *)ss, &key, false, now_ms);
	if (!p)
		return 0;
	r = *p;
	refill(&r, now_ms);
	if (r.tokens_milli >= 1000u)
		return 0;
	return (uint32_t)(((1000u - r.tokens_milli) * (uint64_t)SESSION_RATE_REFILL_MS / 1000u + 999u) / 1000u);
}

/* ---------- password hashes ---------- */

bool session_hash_valid(const char *hash)
{
	size_t n;

	if (!hash || hash[0] != '$')
		return false;
	n = strlen(hash);
	if (n < 4 || n >= SESSION_HASH_MAX)
		return false;
	/* the crypt(3) alphabet plus the '$' separators (and ',' '=' of some parameter strings) */
	for (const char *p = hash; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '/' || *p == '$' || *p == ',' || *p == '='))
			return false;
	return true;
}

int session_hash_password(const char *password, session_random_fn rnd, void *rnd_arg, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	unsigned char rb[32];
	struct crypt_data *cd;
	int rc = -1;

	if (!password || !*password || strlen(password) > SESSION_PASSWORD_MAX || outlen < SESSION_HASH_MAX)
		return -1;
	rnd(rnd_arg, rb, sizeof(rb));
	if (!crypt_gensalt_rn("$y$", 0, (const char *)rb, sizeof(rb), salt, sizeof(salt)))
		return -1;
	cd = calloc(1, sizeof(*cd)); /* ~32 KiB: not on the stack */
	if (!cd)
		return -1;
	if (crypt_r(password, salt, cd) && cd->output[0] == '$' && strlen(cd->output) < outlen) {
		strcpy(out, cd->output);
		rc = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

bool session_check_password(const char *hash, const char *password)
{
	struct crypt_data *cd;
	bool ok = false;

	if (!session_hash_valid(hash) || !password || strlen(password) > SESSION_PASSWORD_MAX)
		return false;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return false;
	/* crypt_r answers "*0"/"*1" (never a '$' string) for a hash it cannot handle */
	if (crypt_r(password, hash, cd) && cd->output[0] == '$')
		ok = session_str_eq(cd->output, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}
