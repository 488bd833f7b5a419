/* SPDX-License-Identifier: GPL-2.0-or-later */
/* conf: every key, the defaults, bad values with their line numbers, permission lines, -n output. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/conf.h"

#define MIN_CONF "ext_ifname=wan0\nlan_ifname=lan0\n"

static struct conf *cf;
static char err[512];

static void setup(void)
{
	cf = malloc(sizeof(*cf));
	ck_assert_ptr_nonnull(cf);
	err[0] = '\0';
}

static void teardown(void)
{
	free(cf);
}

static int parse(const char *text)
{
	return conf_parse_buf(text, strlen(text), "t.conf", cf, err, sizeof(err));
}

START_TEST(test_defaults)
{
	ck_assert_int_eq(parse(MIN_CONF), 0);
	ck_assert_str_eq(cf->ext_ifname, "wan0");
	ck_assert_uint_eq(cf->fw.n_lan, 1);
	ck_assert_str_eq(cf->fw.lan_ifname[0], "lan0");
	ck_assert_uint_eq(cf->fw.n_wan, 1);
	ck_assert_str_eq(cf->fw.wan_ifname[0], "wan0");
	ck_assert_uint_eq(cf->n_listening_ip, 0);
	ck_assert_str_eq(cf->state_dir, "/var/lib/igdd");
	ck_assert_str_eq(cf->nft_table, "inet igdd");
	ck_assert_str_eq(cf->fw.family, "inet");
	ck_assert_str_eq(cf->fw.table, "igdd");
	ck_assert_int_eq(cf->fw.mode, FW_STANDALONE);
	ck_assert_str_eq(cf->fw.chain_prefix, "igdd_");
	ck_assert_str_eq(cf->control_socket, "/run/igdd/igdd.sock");
	ck_assert(cf->enable_upnp);
	ck_assert(cf->enable_pcp);
	ck_assert_str_eq(cf->web_listen, ":8080");
	ck_assert(!cf->web_has_addr);
	ck_assert_uint_eq(cf->web_port, 8080);
	ck_assert_str_eq(cf->upstream_pcp_server, "");
	ck_assert(!cf->has_upstream_pcp);
	ck_assert(!cf->upstream_descriptions);  /* descriptions stay home unless asked */
	ck_assert(cf->policy.secure_mode);
	ck_assert(!cf->policy.allow_low_ports);
	ck_assert(cf->policy.allow_temporary);
	ck_assert_int_eq(cf->policy.pinhole_target, PINHOLE_TARGET_BOTH);
	ck_assert_uint_eq(cf->policy.min_lifetime, 120);
	ck_assert_uint_eq(cf->policy.max_lifetime, 86400);
	ck_assert_uint_eq(cf->policy.max_rules, 65535);
	ck_assert_uint_eq(cf->policy.max_rules_per_client, 256);
	ck_assert_uint_eq(cf->ext_port_min, 1024);
	ck_assert_uint_eq(cf->ext_port_max, 65535);
	ck_assert_str_eq(cf->user, "igdd");   /* a user of its own: nobody is shared with other daemons */
	ck_assert_int_eq(cf->log_level, CONF_LOG_INFO);
	ck_assert_uint_eq(cf->policy.n_perms, 0);
}
END_TEST

static const char every_key[] =
	"# a full file\n"
	"\n"
	"  ext_ifname = eth1  \n"
	"lan_ifname=br-lan\n"
	"lan_ifname=wlan0\r\n"
	"listening_ip=br-lan\n"
	"listening_ip=192.0.2.1/24\n"
	"state_dir=/tmp/igdd-state\n"
	"nft_table=inet fw4\n"
	"nft_mode=integrated\n"
	"nft_chain_prefix=upnp_\n"
	"control_socket=/tmp/igdd/ctl.sock\n"
	"enable_upnp=no\n"
	"enable_pcp=no\n"
	"web_listen=[2001:db8::1]:8443\n"
	"web_hostname=router.lan\n"
	"web_hostname=gw-1.home.example\n"
	"upstream_pcp_server=198.51.100.1\n"
	"upstream_descriptions=yes\n"
	"secure_mode=no\n"
	"allow_low_ports=yes\n"
	"allow_temporary=no\n"
	"pinhole_target=stable\n"
	"min_lifetime=60\n"
	"max_lifetime=7200\n"
	"max_rules=1000\n"
	"max_rules_per_client=10\n"
	"ext_port_range=2000-3000\n"
	"user=root\n"
	"log_level=debug\n"
	"allow 1024-65535 192.0.2.0/24 1024-65535\n"
	"deny 0-65535 0.0.0.0/0 0-65535\n";

START_TEST(test_every_key)
{
	struct in6_addr a;

	ck_assert_msg(parse(every_key) == 0, "%s", err);
	ck_assert_str_eq(cf->ext_ifname, "eth1");
	ck_assert_uint_eq(cf->fw.n_lan, 2);
	ck_assert_str_eq(cf->fw.lan_ifname[1], "wlan0");
	ck_assert_uint_eq(cf->n_listening_ip, 2);
	ck_assert_str_eq(cf->listening_ip[1], "192.0.2.1/24");
	ck_assert_str_eq(cf->state_dir, "/tmp/igdd-state");
	ck_assert_str_eq(cf->fw.table, "fw4");
	ck_assert_int_eq(cf->fw.mode, FW_INTEGRATED);
	ck_assert_str_eq(cf->fw.chain_prefix, "upnp_");
	ck_assert_str_eq(cf->control_socket, "/tmp/igdd/ctl.sock");
	ck_assert(!cf->enable_upnp);
	ck_assert(!cf->enable_pcp);
	ck_assert(cf->web_has_addr);
	ck_assert(addr_parse("2001:db8::1", &a));
	ck_assert(addr_equal(&a, &cf->web_addr));
	ck_assert_uint_eq(cf->web_port, 8443);
	ck_assert_uint_eq(cf->n_web_hostname, 2);
	ck_assert_str_eq(cf->web_hostname[1], "gw-1.home.example");
	ck_assert(cf->has_upstream_pcp);
	ck_assert(addr_parse("198.51.100.1", &a));
	ck_assert(addr_equal(&a, &cf->upstream_pcp_addr));
	ck_assert(cf->upstream_descriptions);
	ck_assert(!cf->policy.secure_mode);
	ck_assert(cf->policy.allow_low_ports);
	ck_assert(!cf->policy.allow_temporary);
	ck_assert_int_eq(cf->policy.pinhole_target, PINHOLE_TARGET_STABLE);
	ck_assert_uint_eq(cf->policy.min_lifetime, 60);
	ck_assert_uint_eq(cf->policy.max_lifetime, 7200);
	ck_assert_uint_eq(cf->policy.max_rules, 1000);
	ck_assert_uint_eq(cf->policy.max_rules_per_client, 10);
	ck_assert_uint_eq(cf->ext_port_min, 2000);
	ck_assert_uint_eq(cf->ext_port_max, 3000);
	ck_assert_str_eq(cf->user, "root");
	ck_assert_int_eq(cf->log_level, CONF_LOG_DEBUG);
	ck_assert_uint_eq(cf->policy.n_perms, 2);
	ck_assert(cf->policy.perms[0].allow);
	ck_assert_uint_eq(cf->policy.perms[0].eport_min, 1024);
	ck_assert(!cf->policy.perms[1].allow);
}
END_TEST

/* conf_print writes every key; what it prints parses back to the same configuration. */
START_TEST(test_print_roundtrip)
{
	char *text = NULL, *text2 = NULL;
	size_t len = 0, len2 = 0;
	FILE *f;
	const char *keys[] = { "ext_ifname=", "lan_ifname=", "listening_ip=", "state_dir=", "nft_table=", "nft_mode=",
			       "nft_chain_prefix=", "control_socket=", "enable_upnp=", "enable_pcp=", "web_listen=",
			       "web_hostname=",
			       "upstream_pcp_server=", "upstream_descriptions=", "secure_mode=", "allow_low_ports=",
			       "allow_temporary=",
			       "pinhole_target=", "min_lifetime=", "max_lifetime=", "max_rules=",
			       "max_rules_per_client=", "ext_port_range=", "user=", "log_level=", "allow ", "deny " };

	ck_assert_int_eq(parse(every_key), 0);
	f = open_memstream(&text, &len);
	conf_print(cf, f);
	fclose(f);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(strstr(text, keys[i]) != NULL, "%s missing from -n output", keys[i]);
	ck_assert_msg(parse(text) == 0, "%s", err);
	f = open_memstream(&text2, &len2);
	conf_print(cf, f);
	fclose(f);
	ck_assert_str_eq(text, text2);
	free(text);
	free(text2);
}
END_TEST

START_TEST(test_reference)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	conf_print_reference(f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "| `max_lifetime` | `86400` |"));
	ck_assert_ptr_nonnull(strstr(text, "| `nft_table` | `inet igdd` |"));
	free(text);
}
END_TEST

/* Bad lines: each must fail, naming the file and the line (always line 3 here). */
static const struct {
	const char *line;
	const char *msg;
} bad_lines[] = {
	{ "frobnicate=yes", "unknown key 'frobnicate'" },
	{ "just words", "expected key=value" },
	{ "lan_ifname=averyveryverylongname", "interface name" },
	{ "lan_ifname=", "interface name" },
	{ "lan_ifname=lan0", "listed twice" },
	{ "lan_ifname=a/b", "bad interface name" },
	{ "listening_ip=not an address", "neither an address" },
	{ "state_dir=relative/dir", "absolute path" },
	{ "nft_table=igdd", "FAMILY NAME" },
	{ "nft_table=ip6 igdd", "family must be inet" },
	{ "nft_table=inet bad;name", "bad table name" },
	{ "nft_mode=sideways", "expected standalone|integrated" },
	{ "nft_chain_prefix=a b", "may hold only" },
	{ "control_socket=/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "too long" },
	{ "enable_upnp=maybe", "expected yes or no" },
	{ "enable_pcp=1", "expected yes or no" },
	{ "web_listen=8080", "[ADDR]:PORT" },
	{ "web_listen=:0", "PORT 1-65535" },
	{ "web_listen=:65536", "PORT 1-65535" },
	{ "web_listen=2001:db8::1:80", "brackets" },
	{ "web_listen=[nonsense]:80", "bad address" },
	{ "upstream_pcp_server=pcp.example", "bad address" },
	{ "web_hostname=", "DNS name" },
	{ "web_hostname=router..lan", "DNS name" },
	{ "web_hostname=.lan", "DNS name" },
	{ "web_hostname=router.lan.", "DNS name" },
	{ "web_hostname=-router.lan", "DNS name" },
	{ "web_hostname=router-.lan", "DNS name" },
	{ "web_hostname=router lan", "DNS name" },
	{ "web_hostname=router.lan:8080", "DNS name" },
	{ "secure_mode=YES", "expected yes or no" },
	{ "allow_low_ports=", "expected yes or no" },
	{ "allow_temporary=nope", "expected yes or no" },
	{ "pinhole_target=any", "requested|stable|both" },
	{ "min_lifetime=0", "number from 1" },
	{ "min_lifetime=-5", "number from 1" },
	{ "max_lifetime=99999999999", "number from 1" },
	{ "max_lifetime=12h", "number from 1" },
	{ "max_rules=", "number from 1" },
	{ "max_rules_per_client=0", "number from 1" },
	{ "ext_port_range=2000", "MIN-MAX" },
	{ "ext_port_range=3000-2000", "MIN <= MAX" },
	{ "ext_port_range=0-100", "MIN <= MAX" },
	{ "ext_port_range=1-70000", "MIN <= MAX" },
	{ "user=no body", "may hold only" },
	{ "log_level=trace", "expected info|debug" },
	{ "secure_mode=yes\nsecure_mode=no", "given twice" },
	{ "allow 1024-65535 192.0.2.0/24", "expected: allow|deny" },
	{ "deny 0-70000 0.0.0.0/0 0-65535", "bad external port range" },
	{ "allow 1-2 not-an-address 1-2", "bad address" },
};

START_TEST(test_bad_lines)
{
	const char *line = bad_lines[_i].line;
	char text[512], where[32];

	snprintf(text, sizeof(text), MIN_CONF "%s\n# after\n", line);
	ck_assert_msg(parse(text) == -1, "'%s' was accepted", line);
	/* a "given twice" error is on the line after the first one */
	snprintf(where, sizeof(where), "t.conf:%d: ", strstr(line, "\n") ? 4 : 3);
	ck_assert_msg(strncmp(err, where, strlen(where)) == 0, "'%s': error '%s' lacks '%s'", line, err, where);
	ck_assert_msg(strstr(err, bad_lines[_i].msg) != NULL, "'%s': error '%s' lacks '%s'", line, err,
		      bad_lines[_i].msg);
}
END_TEST

START_TEST(test_required_and_relations)
{
	ck_assert_int_eq(parse("lan_ifname=lan0\n"), -1);
	ck_assert_str_eq(err, "t.conf: ext_ifname is required");
	ck_assert_int_eq(parse("ext_ifname=wan0\n"), -1);
	ck_assert_str_eq(err, "t.conf: at least one lan_ifname is required");
	ck_assert_int_eq(parse("ext_ifname=wan0\nlan_ifname=wan0\n"), -1);
	ck_assert_ptr_nonnull(strstr(err, "both ext_ifname and lan_ifname"));
	ck_assert_int_eq(parse(MIN_CONF "min_lifetime=500\nmax_lifetime=400\n"), -1);
	ck_assert_ptr_nonnull(strstr(err, "min_lifetime (500) is above max_lifetime (400)"));
	ck_assert_int_eq(parse(MIN_CONF "max_rules=10\nmax_rules_per_client=11\n"), -1);
	ck_assert_ptr_nonnull(strstr(err, "above max_rules"));
	ck_assert_int_eq(parse(MIN_CONF "min_lifetime=400\nmax_lifetime=400\n"), 0);
	ck_assert_int_eq(parse(""), -1);
	ck_assert_int_eq(conf_parse_buf(NULL, 0, NULL, cf, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_limits)
{
	char text[4096];
	size_t n = 0;

	n += (size_t)snprintf(text + n, sizeof(text) - n, "ext_ifname=wan0\n");
	for (int i = 0; i < 9; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "lan_ifname=lan%d\n", i);
	ck_assert_int_eq(parse(text), -1);
	ck_assert_ptr_nonnull(strstr(err, "t.conf:10: lan_ifname: at most 8"));
	/* 15 bytes is the longest interface name */
	ck_assert_int_eq(parse("ext_ifname=abcdefghijklmno\nlan_ifname=lan0\n"), 0);
	ck_assert_int_eq(parse("ext_ifname=abcdefghijklmnop\nlan_ifname=lan0\n"), -1);
	ck_assert_int_eq(parse(MIN_CONF "web_hostname=a\nweb_hostname=b\nweb_hostname=c\nweb_hostname=d\n"
			       "web_hostname=e\nweb_hostname=f\nweb_hostname=g\nweb_hostname=h\nweb_hostname=i\n"), -1);
	ck_assert_ptr_nonnull(strstr(err, "t.conf:11: web_hostname: at most 8"));
	ck_assert_int_eq(parse(MIN_CONF "web_listen=\n"), 0);
	ck_assert_uint_eq(cf->web_port, 0);
	ck_assert_int_eq(parse(MIN_CONF "web_listen=192.0.2.1:80\n"), 0);
	ck_assert(cf->web_has_addr && cf->web_port == 80);
	ck_assert_int_eq(parse(MIN_CONF "ext_port_range=1-65535\n"), 0);
	ck_assert_int_eq(parse(MIN_CONF "max_lifetime=2147483647\n"), 0);
}
END_TEST

START_TEST(test_hostile_bytes)
{
	char text[2048];
	static const char nul[] = "ext_ifname=wan0\nlan_if\0name=lan0\n";

	ck_assert_int_eq(conf_parse_buf(nul, sizeof(nul) - 1, "t.conf", cf, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:2: NUL byte in line");
	memset(text, 'a', sizeof(text));
	memcpy(text, MIN_CONF, strlen(MIN_CONF));
	ck_assert_int_eq(conf_parse_buf(text, sizeof(text), "t.conf", cf, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "t.conf:3: line too long"));
	/* a file without a final newline still counts its last line */
	ck_assert_int_eq(parse("ext_ifname=wan0\nlan_ifname=lan0"), 0);
	ck_assert_int_eq(parse(MIN_CONF "=value\n"), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown key ''"));
}
END_TEST

START_TEST(test_perm_limit)
{
	size_t cap = 100 * 64, n = 0;
	char *text = malloc(cap);

	n += (size_t)snprintf(text + n, cap - n, MIN_CONF);
	for (int i = 0; i <= POLICY_MAX_PERMS; i++)
		n += (size_t)snprintf(text + n, cap - n, "allow 1024-65535 192.0.2.%d/32 1024-65535\n", i);
	ck_assert_int_eq(parse(text), -1);
	ck_assert_ptr_nonnull(strstr(err, "at most 64 permission lines"));
	free(text);
}
END_TEST

START_TEST(test_load_file)
{
	char path[] = "/tmp/check_conf_XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs(MIN_CONF "max_lifetime=600\n", f);
	fclose(f);
	ck_assert_msg(conf_load_file(path, cf, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cf->policy.max_lifetime, 600);
	f = fopen(path, "w");
	fputs(MIN_CONF "\nbogus=1\n", f);
	fclose(f);
	ck_assert_int_eq(conf_load_file(path, cf, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ":4: unknown key 'bogus'"));
	ck_assert_ptr_nonnull(strstr(err, path));
	unlink(path);
	ck_assert_int_eq(conf_load_file(path, cf, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_print_roundtrip);
	tcase_add_test(tc, test_reference);
	tcase_add_loop_test(tc, test_bad_lines, 0, (int)(sizeof(bad_lines) / sizeof(bad_lines[0])));
	tcase_add_test(tc, test_required_and_relations);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_hostile_bytes);
	tcase_add_test(tc, test_perm_limit);
	tcase_add_test(tc, test_load_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
