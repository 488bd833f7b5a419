/* SPDX-License-Identifier: GPL-2.0-or-later */
/* session: password hashes (crypt(3)), session tokens and their expiry, CSRF checks and the login
 * rate limit, all with a test clock and a deterministic random source. */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "web/session.h"

/* xorshift32, not randomness: tokens differ, the test stays reproducible. */
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

static unsigned ctr;
static struct sessions ss;

static void setup(void)
{
	ctr = 1;
	sessions_init(&ss, fake_random, &ctr);
}

static struct in6_addr a6(const char *s)
{
	struct in6_addr a;

	ck_assert_int_eq(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

START_TEST(test_hash_roundtrip)
{
	char hash[SESSION_HASH_MAX];

	ck_assert_int_eq(session_hash_password("correct horse", fake_random, &ctr, hash, sizeof(hash)), 0);
	ck_assert(strncmp(hash, "$y$", 3) == 0);
	ck_assert(session_hash_valid(hash));
	ck_assert(session_check_password(hash, "correct horse"));
	ck_assert(!session_check_password(hash, "correct horsE"));
	ck_assert(!session_check_password(hash, ""));
	ck_assert(!session_check_password(hash, NULL));
}
END_TEST

START_TEST(test_hash_salted)
{
	char h1[SESSION_HASH_MAX], h2[SESSION_HASH_MAX];

	ck_assert_int_eq(session_hash_password("same", fake_random, &ctr, h1, sizeof(h1)), 0);
	ck_assert_int_eq(session_hash_password("same", fake_random, &ctr, h2, sizeof(h2)), 0);
	ck_assert_str_ne(h1, h2); /* a fresh salt each time */
	ck_assert(session_check_password(h1, "same") && session_check_password(h2, "same"));
}
END_TEST

START_TEST(test_hash_refusals)
{
	char hash[SESSION_HASH_MAX], longpw[SESSION_PASSWORD_MAX + 2];

	ck_assert_int_eq(session_hash_password("", fake_random, &ctr, hash, sizeof(hash)), -1);
	memset(longpw, 'x', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	ck_assert_int_eq(session_hash_password(longpw, fake_random, &ctr, hash, sizeof(hash)), -1);
	ck_assert_int_eq(session_hash_password("ok", fake_random, &ctr, hash, 10), -1);
	ck_assert(!session_check_password("", "x"));
	ck_assert(!session_check_password(NULL, "x"));
	ck_assert(!session_check_password("plaintext", "plaintext"));
	ck_assert(!session_check_password("$y$bad hash with spaces", "x"));
	ck_assert(!session_check_password("$9$unknownscheme", "x"));
	ck_assert(!session_hash_valid("$y"));
}
END_TEST

/* A SHA-512 crypt hash made elsewhere (mkpasswd -m sha-512 -S saltsalt secret) is accepted too. */
START_TEST(test_hash_sha512_compat)
{
	ck_assert(session_check_password("$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1", "secret"));
	ck_assert(!session_check_password("$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1", "Secret"));
}
END_TEST

START_TEST(test_session_lifecycle)
{
	const struct session *s = session_create(&ss, 1000);
	char token[SESSION_TOKEN_LEN + 1], csrf[SESSION_TOKEN_LEN + 1];

	ck_assert_uint_eq(strlen(s->token), SESSION_TOKEN_LEN);
	ck_assert_uint_eq(strlen(s->csrf), SESSION_TOKEN_LEN);
	ck_assert_str_ne(s->token, s->csrf);
	strcpy(token, s->token);
	strcpy(csrf, s->csrf);
	ck_assert_ptr_eq(session_find(&ss, token, 2000), s);
	ck_assert(session_csrf_ok(s, csrf));
	ck_assert(!session_csrf_ok(s, token));
	ck_assert(!session_csrf_ok(s, ""));
	ck_assert(!session_csrf_ok(s, NULL));
	ck_assert_ptr_null(session_find(&ss, "nope", 2000));
	ck_assert_ptr_null(session_find(&ss, NULL, 2000));
	token[0] = token[0] == 'a' ? 'b' : 'a';
	ck_assert_ptr_null(session_find(&ss, token, 2000));
	token[0] = s->token[0];
	session_destroy(&ss, s->token);
	ck_assert_ptr_null(session_find(&ss, token, 2000));
}
END_TEST

START_TEST(test_session_idle_and_max_age)
{
	const struct session *s = session_create(&ss, 0);
	char token[SESSION_TOKEN_LEN + 1];
	uint64_t t = 0;

	strcpy(token, s->token);
	/* used every 20 minutes: alive until the 12 h ceiling */
	while (t + 20u * 60u * 1000u <= SESSION_MAX_AGE_MS) {
		t += 20u * 60u * 1000u;
		ck_assert_ptr_nonnull(session_find(&ss, token, t));
	}
	ck_assert_ptr_null(session_find(&ss, token, SESSION_MAX_AGE_MS + 1));

	s = session_create(&ss, 0);
	strcpy(token, s->token);
	ck_assert_ptr_null(session_find(&ss, token, SESSION_IDLE_MS + 1));
	/* a clock going backwards ends the session rather than extending it */
	s = session_create(&ss, 5000);
	strcpy(token, s->token);
	ck_assert_ptr_null(session_find(&ss, token, 4000));
}
END_TEST

START_TEST(test_session_eviction)
{
	char first[SESSION_TOKEN_LEN + 1];
	const struct session *s = session_create(&ss, 0);

	strcpy(first, s->token);
	for (int i = 1; i <= SESSION_MAX; i++)
		session_create(&ss, (uint64_t)i);
	/* the least recently used (the first) made room */
	ck_assert_ptr_null(session_find(&ss, first, SESSION_MAX + 1));
}
END_TEST

/* One attempt from peer at t: allowed? (the rate limit alone; no password involved) */
static bool try_at(const struct in6_addr *peer, bool has_session, uint64_t t)
{
	uint32_t retry = 12345;
	bool ok = session_login_allow(&ss, peer, has_session, t, &retry);

	if (ok)
		ck_assert_uint_eq(retry, 0);
	else
		ck_assert_uint_ge(retry, 1);
	return ok;
}

/* An address that fails n times at t (each allowed). */
static void fail_n(const struct in6_addr *peer, int n, uint64_t t)
{
	for (int i = 0; i < n; i++) {
		ck_assert(try_at(peer, false, t));
		session_login_result(&ss, peer, false, t);
	}
}

START_TEST(test_rate_limit)
{
	struct in6_addr a = a6("::ffff:192.0.2.11"), b = a6("::ffff:192.0.2.12");
	uint64_t t = 100000;
	uint32_t retry;

	fail_n(&a, SESSION_RATE_BURST, t);
	ck_assert(!session_login_allow(&ss, &a, false, t, &retry));
	ck_assert_uint_gt(retry, 0);
	ck_assert_uint_le(retry, SESSION_RATE_REFILL_MS / 1000 + 1);
	ck_assert(try_at(&b, false, t)); /* another host has its own bucket */
	ck_assert(!try_at(&a, false, t + SESSION_RATE_REFILL_MS - 1));
	ck_assert(try_at(&a, false, t + 2 * SESSION_RATE_REFILL_MS));
	ck_assert(!try_at(&a, false, t + 2 * SESSION_RATE_REFILL_MS));
	/* a long pause fills the bucket, never beyond the burst */
	t += 1000u * SESSION_RATE_REFILL_MS;
	for (int i = 0; i < SESSION_RATE_BURST; i++)
		ck_assert(try_at(&a, false, t));
	ck_assert(!try_at(&a, false, t));
}
END_TEST

/* issue 12: one LAN host's failures locked every address of its /64 out of the login */
START_TEST(test_rate_limit_same_prefix)
{
	struct in6_addr a = a6("2001:db8:1:1::a"), b = a6("2001:db8:1:1:dead:beef::1");
	struct in6_addr a4 = a6("::ffff:192.0.2.11"), b4 = a6("::ffff:192.0.2.12");

	fail_n(&a, SESSION_RATE_BURST, 0);
	ck_assert(!try_at(&a, false, 0));
	ck_assert(try_at(&b, false, 0));   /* another host of the same /64 */
	fail_n(&a4, SESSION_RATE_BURST, 0);
	ck_assert(!try_at(&a4, false, 0));
	ck_assert(try_at(&b4, false, 0));  /* and of the same IPv4 /24 */
}
END_TEST

/* Trying as fast as its own bucket lets it, one address never empties its network's bucket. */
START_TEST(test_rate_limit_one_address_cannot_drain)
{
	struct in6_addr a = a6("2001:db8:1:1::a"), b = a6("2001:db8:1:1::b");
	uint64_t t = 0;

	fail_n(&a, SESSION_RATE_BURST, t);
	for (int i = 0; i < 1000; i++) {
		t += SESSION_RATE_REFILL_MS;
		fail_n(&a, 1, t);
		ck_assert(!try_at(&a, false, t));
	}
	ck_assert(try_at(&b, false, t));
}
END_TEST

/* A host posing as many addresses of its /64 empties the /64's bucket: then only the hosts the
 * router knows get in there (a valid session, or an address whose last login succeeded). */
START_TEST(test_rate_limit_posing_as_many)
{
	struct in6_addr known = a6("2001:db8:1:1::100"), x = a6("2001:db8:1:1::1000"), other = a6("2001:db8:1:2::5");
	struct in6_addr v4 = a6("::ffff:192.0.2.12");
	int allowed = 0;

	ck_assert(try_at(&known, false, 0));
	session_login_result(&ss, &known, true, 0);
	for (int i = 0; i < 10 * SESSION_NET_BURST; i++) {
		x.s6_addr[15] = (uint8_t)i;
		x.s6_addr[14] = (uint8_t)(i >> 8);
		if (try_at(&x, false, 0)) {
			session_login_result(&ss, &x, false, 0);
			allowed++;
		}
	}
	ck_assert_int_eq(allowed, SESSION_NET_BURST - 1);  /* the known address's first login took one */
	x.s6_addr[13] = 0x77;
	ck_assert(!try_at(&x, false, 0));       /* a new address of that /64: the coarse last resort */
	ck_assert(try_at(&x, true, 0));         /* unless it has a session */
	ck_assert(try_at(&known, false, 0));    /* or logged in from there before */
	ck_assert(try_at(&other, false, 0));    /* another /64 is not affected */
	ck_assert(try_at(&v4, false, 0));       /* nor IPv4 */
	/* a known address that fails is known no longer */
	session_login_result(&ss, &known, false, 0);
	ck_assert(!try_at(&known, false, 0));
	/* and the /64 refills at one address's pace */
	ck_assert(try_at(&x, false, SESSION_NET_REFILL_MS));
}
END_TEST

/* Many networks at once: the router-wide bucket ends it, the known hosts still get in. */
START_TEST(test_rate_limit_all)
{
	struct in6_addr x = a6("2001:db8:1:1::1"), known = a6("::ffff:192.0.2.11");
	int allowed = 0;

	ck_assert(try_at(&known, false, 0));
	session_login_result(&ss, &known, true, 0);
	for (int i = 0; i < 4 * SESSION_ALL_BURST; i++) {
		x.s6_addr[7] = (uint8_t)i;  /* a /64 each */
		if (try_at(&x, false, 0))
			allowed++;
	}
	ck_assert_int_eq(allowed, SESSION_ALL_BURST - 1);
	x.s6_addr[6] = 0x55;
	ck_assert(!try_at(&x, false, 0));
	ck_assert(try_at(&known, false, 0));
	ck_assert(try_at(&x, false, SESSION_ALL_REFILL_MS));
}
END_TEST

/* A login is no guess: it gives its attempt back. */
START_TEST(test_rate_limit_success_returns)
{
	struct in6_addr a = a6("::ffff:192.0.2.11");

	for (int i = 0; i < 3 * SESSION_RATE_BURST; i++) {
		ck_assert(try_at(&a, false, 0));
		session_login_result(&ss, &a, true, 0);
	}
}
END_TEST

START_TEST(test_rate_table_full)
{
	struct in6_addr known = a6("2001:db8:1:1::100"), x = a6("2001:db8:1:1:ffff::");
	uint64_t t = 0;
	unsigned i;

	ck_assert(try_at(&known, false, 0));
	session_login_result(&ss, &known, true, 0);
	/* more addresses than slots, at the pace the shared buckets refill: bounded memory, and every
	 * new address gets a bucket */
	for (i = 0; i < 3 * SESSION_RATE_SLOTS; i++) {
		t = (uint64_t)i * SESSION_RATE_REFILL_MS;
		x.s6_addr[14] = (uint8_t)(i >> 8);
		x.s6_addr[15] = (uint8_t)i;
		ck_assert(try_at(&x, false, t));
		session_login_result(&ss, &x, false, t);
	}
	/* then all at once: the /64 runs dry */
	for (; i < 3 * SESSION_RATE_SLOTS + 2 * SESSION_NET_BURST; i++) {
		x.s6_addr[14] = (uint8_t)(i >> 8);
		x.s6_addr[15] = (uint8_t)i;
		if (try_at(&x, false, t))
			session_login_result(&ss, &x, false, t);
	}
	ck_assert(!try_at(&x, false, t));
	/* the flood of new addresses did not push the known one out of the table: it still gets in */
	ck_assert(try_at(&known, false, t));
}
END_TEST

START_TEST(test_str_eq)
{
	ck_assert(session_str_eq("", ""));
	ck_assert(session_str_eq("abc", "abc"));
	ck_assert(!session_str_eq("abc", "abd"));
	ck_assert(!session_str_eq("abc", "abcd"));
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_hash_roundtrip);
	tcase_add_test(tc, test_hash_salted);
	tcase_add_test(tc, test_hash_refusals);
	tcase_add_test(tc, test_hash_sha512_compat);
	tcase_add_test(tc, test_session_lifecycle);
	tcase_add_test(tc, test_session_idle_and_max_age);
	tcase_add_test(tc, test_session_eviction);
	tcase_add_test(tc, test_rate_limit);
	tcase_add_test(tc, test_rate_limit_same_prefix);
	tcase_add_test(tc, test_rate_limit_one_address_cannot_drain);
	tcase_add_test(tc, test_rate_limit_posing_as_many);
	tcase_add_test(tc, test_rate_limit_all);
	tcase_add_test(tc, test_rate_limit_success_returns);
	tcase_add_test(tc, test_rate_table_full);
	tcase_add_test(tc, test_str_eq);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(session_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
