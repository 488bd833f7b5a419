/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cgroup suite: the pure parsers behind the output wall (/proc/self/mountinfo, /proc/self/cgroup,
 * levels, child names). cgroup_self_setup itself is exercised by tests/integration/t_output_wall.sh. */
#include <check.h>
#include <string.h>

#include "firewall/runtime/cgroup.h"
#include "tests/unit/testutil.h"

/* A hybrid host (this one): v1 controllers plus cgroup2 at /sys/fs/cgroup/unified. */
static const char hybrid[] =
	"22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw\n"
	"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
	"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

/* systemd / OpenWrt: cgroup2 at /sys/fs/cgroup, optional fields before the separator. */
static const char unified[] =
	"24 1 0:22 / / rw shared:1 - overlay overlayfs rw\n"
	"35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 master:3 - cgroup2 cgroup2 rw,nsdelegate\n";

START_TEST(mountinfo_finds_cgroup2)
{
	char m[64];

	ck_assert(cgroup_parse_mountinfo(hybrid, m, sizeof(m)));
	ck_assert_str_eq(m, "/sys/fs/cgroup/unified");
	ck_assert(cgroup_parse_mountinfo(unified, m, sizeof(m)));
	ck_assert_str_eq(m, "/sys/fs/cgroup");
}
END_TEST

START_TEST(mountinfo_refuses)
{
	char m[64], tiny[8];

	/* only v1 */
	ck_assert(!cgroup_parse_mountinfo("32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", m, sizeof(m)));
	/* a subtree bind mount (cgroup namespace): its paths are not the kernel's */
	ck_assert(!cgroup_parse_mountinfo("35 24 0:30 /lxc/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", m, sizeof(m)));
	/* fstype must be the field after " - ", not an option that says cgroup2 */
	ck_assert(!cgroup_parse_mountinfo("35 24 0:30 / /cg rw cgroup2 - tmpfs tmpfs rw\n", m, sizeof(m)));
	/* truncated lines, empty text, no room */
	ck_assert(!cgroup_parse_mountinfo("35 24 0:30 / /cg\n", m, sizeof(m)));
	ck_assert(!cgroup_parse_mountinfo("35 24 0:30 / /cg rw -\n", m, sizeof(m)));
	ck_assert(!cgroup_parse_mountinfo("", m, sizeof(m)));
	ck_assert(!cgroup_parse_mountinfo(NULL, m, sizeof(m)));
	ck_assert(!cgroup_parse_mountinfo(unified, tiny, sizeof(tiny)));
	ck_assert(!cgroup_parse_mountinfo(unified, m, 0));
}
END_TEST

START_TEST(mountinfo_unescapes)
{
	char m[64];

	ck_assert(cgroup_parse_mountinfo("35 24 0:30 / /mnt/my\\040cg rw - cgroup2 none rw\n", m, sizeof(m)));
	ck_assert_str_eq(m, "/mnt/my cg");
	/* an escape cut short is taken literally; \000 would end the string: refused */
	ck_assert(cgroup_parse_mountinfo("35 24 0:30 / /mnt/x\\04 rw - cgroup2 none rw", m, sizeof(m)));
	ck_assert_str_eq(m, "/mnt/x\\04");
	ck_assert(!cgroup_parse_mountinfo("35 24 0:30 / /mnt/x\\000 rw - cgroup2 none rw", m, sizeof(m)));
}
END_TEST

START_TEST(self_cgroup)
{
	char p[64], tiny[4];

	ck_assert(cgroup_parse_self("9:name=systemd:/\n4:memory:/a/b\n0::/\n", p, sizeof(p)));
	ck_assert_str_eq(p, "/");
	ck_assert(cgroup_parse_self("0::/system.slice/igdd.service\n", p, sizeof(p)));
	ck_assert_str_eq(p, "/system.slice/igdd.service");
	ck_assert(cgroup_parse_self("0::/igdd-igdd", p, sizeof(p)));   /* no final newline */
	ck_assert_str_eq(p, "/igdd-igdd");
	ck_assert(!cgroup_parse_self("4:memory:/a/b\n", p, sizeof(p)));         /* v1 only */
	ck_assert(!cgroup_parse_self("0::relative\n", p, sizeof(p)));
	ck_assert(!cgroup_parse_self("0::\n", p, sizeof(p)));
	ck_assert(!cgroup_parse_self("0::/system.slice\n", tiny, sizeof(tiny)));
	ck_assert(!cgroup_parse_self(NULL, p, sizeof(p)));
}
END_TEST

START_TEST(levels)
{
	ck_assert_uint_eq(cgroup_level("/"), 0);
	ck_assert_uint_eq(cgroup_level(""), 0);
	ck_assert_uint_eq(cgroup_level("/igdd-igdd"), 1);
	ck_assert_uint_eq(cgroup_level("/system.slice/igdd.service"), 2);
	ck_assert_uint_eq(cgroup_level("//a//b/"), 2);
	ck_assert_uint_eq(cgroup_level("a/b/c"), 3);
}
END_TEST

START_TEST(child_names)
{
	ck_assert(cgroup_name_ok("igdd-igdd"));
	ck_assert(cgroup_name_ok("igdd-fw4"));
	ck_assert(!cgroup_name_ok(""));
	ck_assert(!cgroup_name_ok(NULL));
	ck_assert(!cgroup_name_ok(".."));
	ck_assert(!cgroup_name_ok(".hidden"));
	ck_assert(!cgroup_name_ok("a/b"));
	ck_assert(!cgroup_name_ok("a b"));
	ck_assert(!cgroup_name_ok("a\"b"));
}
END_TEST

static Suite *cgroup_suite(void)
{
	Suite *s = suite_create("cgroup");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, mountinfo_finds_cgroup2);
	tcase_add_test(tc, mountinfo_refuses);
	tcase_add_test(tc, mountinfo_unescapes);
	tcase_add_test(tc, self_cgroup);
	tcase_add_test(tc, levels);
	tcase_add_test(tc, child_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(cgroup_suite());
}
