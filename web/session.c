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

static bool is_v4(const struct in6_addr *a)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a->s6_addr, v4mapped, sizeof(v4mapped)) == 0;
}

/* The network of an address: its /64 (an IPv6 host may take any address in it at will), or for
 * IPv4 its /24. */
static void net_key(const struct in6_addr *peer, struct in6_addr *key)
{
	*key = *peer;
	if (is_v4(peer))
		key->s6_addr[15] = 0;
	else
		memset(key->s6_addr + 8, 0, 8);
}

static void bucket_fill(struct session_bucket *b, uint32_t burst, uint64_t now_ms)
{
	b->tokens_milli = burst * 1000u;
	b->last_ms = now_ms;
}

static void refill(struct session_bucket *b, uint32_t burst, uint32_t refill_ms, uint64_t now_ms)
{
	const uint32_t full = burst * 1000u;
	uint64_t add;

	if (now_ms <= b->last_ms)
		return;
	add = (now_ms - b->last_ms) * 1000u / refill_ms;
	b->tokens_milli = add >= full - b->tokens_milli ? full : b->tokens_milli + (uint32_t)add;
	b->last_ms = now_ms;
}

/* Seconds until the bucket holds a whole token again; 0 if it does. */
static uint32_t wait_s(const struct session_bucket *b, uint32_t refill_ms)
{
	if (b->tokens_milli >= 1000u)
		return 0;
	return (uint32_t)(((1000u - b->tokens_milli) * (uint64_t)refill_ms / 1000u + 999u) / 1000u);
}

static struct session_rate *rate_slot(struct session_rate *tab, size_t n, const struct in6_addr *key, bool create,
				      uint32_t burst, uint64_t now_ms)
{
	struct session_rate *victim = NULL;

	for (size_t i = 0; i < n; i++)
		if (tab[i].used && memcmp(&tab[i].key, key, sizeof(*key)) == 0)
			return &tab[i];
	if (!create)
		return NULL;
	/* a new key takes a free slot, else the one idle longest among those not known: a host posing as
	 * many addresses cannot push out the addresses that proved the password */
	for (size_t i = 0; i < n; i++) {
		struct session_rate *r = &tab[i];

		if (!r->used) {
			victim = r;
			break;
		}
		if (!victim || (victim->known && !r->known) ||
		    (victim->known == r->known && r->b.last_ms < victim->b.last_ms))
			victim = r;
	}
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	victim->key = *key;
	bucket_fill(&victim->b, burst, now_ms);
	return victim;
}

bool session_login_allow(struct sessions *ss, const struct in6_addr *peer, bool has_session, uint64_t now_ms,
			 uint32_t *retry_after_s)
{
	struct session_rate *a, *n;
	struct in6_addr key;
	uint32_t wait;
	bool known;

	net_key(peer, &key);
	a = rate_slot(ss->rate, SESSION_RATE_SLOTS, peer, true, SESSION_RATE_BURST, now_ms);
	n = rate_slot(ss->net, SESSION_NET_SLOTS, &key, true, SESSION_NET_BURST, now_ms);
	if (!ss->all_used) {
		bucket_fill(&ss->all, SESSION_ALL_BURST, now_ms);
		ss->all_used = true;
	}
	refill(&a->b, SESSION_RATE_BURST, SESSION_RATE_REFILL_MS, now_ms);
	refill(&n->b, SESSION_NET_BURST, SESSION_NET_REFILL_MS, now_ms);
	refill(&ss->all, SESSION_ALL_BURST, SESSION_ALL_REFILL_MS, now_ms);
	/* its own bucket binds every host; the shared ones bind only hosts the router does not know */
	known = has_session || a->known;
	wait = wait_s(&a->b, SESSION_RATE_REFILL_MS);
	if (!known) {
		uint32_t wn = wait_s(&n->b, SESSION_NET_REFILL_MS), wa = wait_s(&ss->all, SESSION_ALL_REFILL_MS);

		wait = wait > wn ? wait : wn;
		wait = wait > wa ? wait : wa;
	}
	if (wait) {
		*retry_after_s = wait;
		return false;
	}
	a->b.tokens_milli -= 1000u;
	if (!known) {
		n->b.tokens_milli -= 1000u;
		ss->all.tokens_milli -= 1000u;
	}
	*retry_after_s = 0;
	return true;
}

void session_login_result(struct sessions *ss, const struct in6_addr *peer, bool ok, uint64_t now_ms)
{
	struct session_rate *a = rate_slot(ss->rate, SESSION_RATE_SLOTS, peer, false, 0, now_ms);
	const uint32_t full = SESSION_RATE_BURST * 1000u;

	if (!a)
		return;  /* pushed out meanwhile: nothing to give back */
	a->known = ok;
	/* a login is not a guess: its attempt goes back to the address (the shared buckets keep it) */
	if (ok)
		a->b.tokens_milli = a->b.tokens_milli + 1000u > full ? full : a->b.tokens_milli + 1000u;
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
