/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vis: what igdctl prints of the daemon's text. Control characters (C0, DEL, C1), bidirectional
 * overrides and broken UTF-8 are shown as escapes, never sent to the terminal; other text, any
 * script, is copied; the output never overflows and never ends inside an escape. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "igdd/vis.h"

static const char *vis(const char *in)
{
	static char out[512];

	ck_assert(vis_str(in, out, sizeof(out)));
	return out;
}

/* No byte a terminal acts on: C0, DEL, the UTF-8 forms of C1 and of the bidi controls. */
static void assert_inert(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		ck_assert_msg(*p >= 0x20 && *p != 0x7f, "control byte 0x%02x in \"%s\"", *p, s);
		ck_assert_msg(!(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f), "C1 control in \"%s\"", s);
		ck_assert_msg(!(p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae),
			      "bidi override in \"%s\"", s);
	}
}

/* issue 12: a PCP DESCRIPTION with ESC sequences was printed raw by `igdctl list` */
START_TEST(test_terminal_escapes)
{
	static const char title[] = "game\x1b]0;pwned\x07\x1b[2J\x1b[1;1Hnothing here\r\n";

	ck_assert_str_eq(vis(title), "game\\x1b]0;pwned\\x07\\x1b[2J\\x1b[1;1Hnothing here\\x0d\\x0a");
	assert_inert(vis(title));
	ck_assert_str_eq(vis("a\tb\x7f"), "a\\x09b\\x7f");
	ck_assert_str_eq(vis("\xc2\x9b" "31m"), "\\u009b31m");            /* C1 CSI */
	ck_assert_str_eq(vis("abc\xe2\x80\xae" "fdp.exe"), "abc\\u202efdp.exe"); /* right-to-left override */
	ck_assert_str_eq(vis("\xe2\x81\xa6x\xe2\x80\xa8"), "\\u2066x\\u2028");
	ck_assert_str_eq(vis("back\\slash"), "back\\\\slash");
}
END_TEST

START_TEST(test_text_kept)
{
	ck_assert_str_eq(vis(""), "");
	ck_assert_str_eq(vis("Minecraft server (TCP)"), "Minecraft server (TCP)");
	ck_assert_str_eq(vis("Wohnzimmer-Fernseher äöü ß"), "Wohnzimmer-Fernseher äöü ß");
	ck_assert_str_eq(vis("ゲーム 🎮"), "ゲーム 🎮");
	ck_assert_str_eq(vis("\xc2\xa0nbsp"), "\xc2\xa0nbsp");  /* U+00A0 is text */
}
END_TEST

START_TEST(test_broken_utf8)
{
	ck_assert_str_eq(vis("\xff\xfe"), "\\xff\\xfe");
	ck_assert_str_eq(vis("\xc0\x9b"), "\\xc0\\x9b");               /* overlong: not a way round */
	ck_assert_str_eq(vis("\xe0\x80\x9b"), "\\xe0\\x80\\x9b");
	ck_assert_str_eq(vis("\xed\xa0\x80"), "\\xed\\xa0\\x80");       /* surrogate */
	ck_assert_str_eq(vis("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* beyond U+10FFFF */
	ck_assert_str_eq(vis("cut \xe2\x80"), "cut \\xe2\\x80");
	assert_inert(vis("\xc2"));
}
END_TEST

START_TEST(test_bounded)
{
	char out[8];
	char big[300];

	/* never beyond the buffer, never half an escape */
	ck_assert(!vis_str("\x1b\x1b\x1b", out, sizeof(out)));
	ck_assert_str_eq(out, "\\x1b");
	ck_assert(!vis_str("abcdefghij", out, sizeof(out)));
	ck_assert_str_eq(out, "abcdefg");
	ck_assert(!vis_str("abcdef\xe2\x80\xae", out, 8));
	ck_assert_str_eq(out, "abcdef");
	ck_assert(vis_str("", out, 1));
	ck_assert(!vis_str("x", out, 1));
	ck_assert_str_eq(out, "");
	ck_assert(!vis_str("x", out, 0));
	/* the worst case fits VIS_MAX_EXPANSION */
	memset(big, 0x1b, sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char *o = malloc((sizeof(big) - 1) * VIS_MAX_EXPANSION + 1);

		ck_assert(vis_str(big, o, (sizeof(big) - 1) * VIS_MAX_EXPANSION + 1));
		free(o);
	}
}
END_TEST

START_TEST(test_json_tree)
{
	json_t *j = json_pack("{s:[{s:s,s:s,s:i}],s:{s:s}}", "rules", "description", "x\x1b[31mred", "address",
			      "192.0.2.11", "port", 80, "error", "message", "bad \xc2\x9b");
	json_t *rule;
	char *s;

	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(vis_json(j), 0);
	rule = json_array_get(json_object_get(j, "rules"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(rule, "description")), "x\\x1b[31mred");
	ck_assert_str_eq(json_string_value(json_object_get(rule, "address")), "192.0.2.11");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")), "bad \\u009b");
	s = json_dumps(j, JSON_COMPACT);
	assert_inert(s);
	free(s);
	json_decref(j);
}
END_TEST

static Suite *vis_suite(void)
{
	Suite *s = suite_create("vis");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_terminal_escapes);
	tcase_add_test(tc, test_text_kept);
	tcase_add_test(tc, test_broken_utf8);
	tcase_add_test(tc, test_bounded);
	tcase_add_test(tc, test_json_tree);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(vis_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
