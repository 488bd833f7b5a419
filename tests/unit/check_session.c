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

START_TEST(test_rate_limit)
{
	struct in6_addr a = a6("::ffff:192.0.2.11"), b = a6("::ffff:192.0.2.12");
	uint64_t t = 100000;

	for (int i = 0; i < SESSION_RATE_BURST; i++)
		ck_assert(session_rate_take(&ss, &a, t));
	ck_assert(!session_rate_take(&ss, &a, t));
	ck_assert_uint_gt(session_rate_retry_after(&ss, &a, t), 0);
	ck_assert_uint_le(session_rate_retry_after(&ss, &a, t), SESSION_RATE_REFILL_MS / 1000 + 1);
	ck_assert(session_rate_take(&ss, &b, t)); /* another client has its own bucket */
	ck_assert_uint_eq(session_rate_retry_after(&ss, &b, t), 0);
	ck_assert(!session_rate_take(&ss, &a, t + SESSION_RATE_REFILL_MS - 1));
	ck_assert(session_rate_take(&ss, &a, t + 2 * SESSION_RATE_REFILL_MS));
	ck_assert(!session_rate_take(&ss, &a, t + 2 * SESSION_RATE_REFILL_MS));
	/* a long pause fills the bucket, never beyond the burst */
	t += 1000u * SESSION_RATE_REFILL_MS;
	for (int i = 0; i < SESSION_RATE_BURST; i++)
		ck_assert(session_rate_take(&ss, &a, t));
	ck_assert(!session_rate_take(&ss, &a, t));
}
END_TEST

START_TEST(test_rate_limit_ipv6_prefix)
{
	struct in6_addr a = a6("2001:db8:1:1::a"), b = a6("2001:db8:1:1:dead:beef::1"), c = a6("2001:db8:1:2::a");

	for (int i = 0; i < SESSION_RATE_BURST; i++)
		ck_assert(session_rate_take(&ss, &a, 0));
	/* a new address in the same /64 is the same client */
	ck_assert(!session_rate_take(&ss, &b, 0));
	ck_assert(session_rate_take(&ss, &c, 0));
}
END_TEST

START_TEST(test_rate_table_full)
{
	struct in6_addr a = a6("::ffff:192.0.2.1");

	/* more clients than slots: bounded memory, every new client still gets a bucket */
	for (unsigned i = 0; i < 3 * SESSION_RATE_SLOTS; i++) {
		a.s6_addr[14] = (uint8_t)(i >> 8);
		a.s6_addr[15] = (uint8_t)i;
		ck_assert(session_rate_take(&ss, &a, i));
	}
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
	tcase_add_test(tc, test_rate_limit_ipv6_prefix);
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
