/* SPDX-License-Identifier: GPL-2.0-or-later */
/* core_devices: the household's decisions about devices as core entry points (core_set_device,
 * core_load_device_names), called directly: what the JSON API checks before it calls (the shape of a
 * name) is checked again here, because the core is the one that decides. check_api covers the same
 * entry point through PUT /api/v1/devices. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firewall/core/core_devices.h"
#include "firewall/core/device.h"
#include "firewall/core/store.h"
#include "tests/unit/testutil.h"

static const uint8_t MAC1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };
static const uint8_t MAC2[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };

static char state_dir[] = "/tmp/igdd-check-core-devices-XXXXXX";
static struct fw *fw;
static struct store *store;
static struct device_table *devices;
static struct core *core;

/* A core as igdd builds it: store and device table, the saved entries loaded before core_start. with_table
 * false: pcpd's core, which has no device table. */
static void open_core(bool with_table)
{
	struct core_params p;
	char err[256];

	fw = mem_fw();
	ck_assert_ptr_nonnull(fw);
	store = store_open(state_dir, err, sizeof(err));
	ck_assert_msg(store != NULL, "%s", err);
	devices = with_table ? device_table_new(0, 0) : NULL;
	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.fw = fw;
	p.clock = fake_clock;
	p.store = store;
	p.devices = devices;
	core = core_new(&p);
	ck_assert_ptr_nonnull(core);
	if (with_table)
		core_load_device_names(core);
	ck_assert_int_eq(core_start(core, err, sizeof(err)), 0);
}

static void close_core(void)
{
	core_free(core);
	if (devices)
		device_table_free(devices);
	store_close(store);
	fw->ops->destroy(fw);
}

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(state_dir));
	open_core(true);
}

static void teardown(void)
{
	close_core();
	rm_tree(state_dir);
}

/* A device shows up on the LAN (what rtnetlink does in igdd). */
static void seen(const uint8_t mac[6], const char *addr)
{
	struct in6_addr a = A(addr);

	ck_assert_int_ge(device_addr_seen(devices, mac, 2, &a, NULL, fake_now), 0);
}

/* Not a device's MAC, or not a name: refused before anything is written, and out says nothing. */
START_TEST(test_bad_input)
{
	static const uint8_t zero[6], multicast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	char too_long[DEVICE_NAME_MAX + 2];
	struct core_device_entry out;

	memset(too_long, 'n', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	ck_assert_int_eq(core_set_device(core, zero, "x", CORE_APPS_KEEP, &out), V_INVALID);
	ck_assert_int_eq(core_set_device(core, multicast, NULL, CORE_APPS_BLOCK, &out), V_INVALID);
	ck_assert_int_eq(core_set_device(core, MAC1, "tab\there", CORE_APPS_KEEP, &out), V_INVALID);
	ck_assert_int_eq(core_set_device(core, MAC1, "\xc3\x28", CORE_APPS_KEEP, &out), V_INVALID);
	ck_assert_int_eq(core_set_device(core, MAC1, too_long, CORE_APPS_KEEP, &out), V_INVALID);
	ck_assert_str_eq(out.name, "");
	ck_assert(!out.apps_blocked && !out.present && out.removed == 0);
	ck_assert_uint_eq(device_name_count(devices), 0);
}
END_TEST

/* pcpd's core has no device table: there is nothing to name (and devwatch, asking core_has_devices,
 * reads rtnetlink without the core's lock). */
START_TEST(test_no_table)
{
	ck_assert(core_has_devices(core));
	close_core();
	open_core(false);
	ck_assert(!core_has_devices(core));
	ck_assert_int_eq(core_set_device(core, MAC1, "Phone", CORE_APPS_KEEP, NULL), V_DISABLED);
}
END_TEST

/* Each half of the entry is kept when not asked about; an entry emptied of both frees its slot, and what
 * stands comes back after a restart. */
START_TEST(test_keep_clear_and_reload)
{
	struct core_device_entry out;

	/* emptying what the device does not have: nothing to do, nothing written */
	ck_assert_int_eq(core_set_device(core, MAC1, "", CORE_APPS_ALLOW, &out), V_OK);
	ck_assert_uint_eq(device_name_count(devices), 0);
	ck_assert_int_eq(core_set_device(core, MAC1, "Phone", CORE_APPS_KEEP, &out), V_OK);
	ck_assert_str_eq(out.name, "Phone");
	ck_assert(!out.apps_blocked && !out.present);
	ck_assert_int_eq(core_set_device(core, MAC1, NULL, CORE_APPS_BLOCK, &out), V_OK);
	ck_assert_str_eq(out.name, "Phone");
	ck_assert(out.apps_blocked);
	ck_assert_int_eq(core_set_device(core, MAC2, "TV", CORE_APPS_KEEP, NULL), V_OK);   /* out may be NULL */
	ck_assert_int_eq(core_set_device(core, MAC2, "", CORE_APPS_ALLOW, &out), V_OK);
	ck_assert_uint_eq(device_name_count(devices), 1);
	close_core();
	open_core(true);
	ck_assert_uint_eq(device_name_count(devices), 1);
	ck_assert_str_eq(device_name_of(devices, MAC1), "Phone");
	ck_assert(device_apps_blocked(devices, MAC1));
	ck_assert_str_eq(device_name_of(devices, MAC2), "");
}
END_TEST

/* Blocking removes the rules apps made for the device, not the household's; allowing gives none back. */
START_TEST(test_block_removes_app_rules)
{
	struct core_add_req upnp = tcp_pinhole_req("2001:db8:1:1::5", "2001:db8:1:1::5", 5000, ORIGIN_UPNP);
	struct core_add_req web = tcp_pinhole_req("2001:db8:1:1::5", "2001:db8:1:1::9", 5001, ORIGIN_WEB);
	struct core_device_entry out;
	struct rule r, *all;

	seen(MAC1, "2001:db8:1:1::5");
	ck_assert_int_eq(core_add(core, &upnp, &r), V_OK);
	ck_assert_int_eq(core_add(core, &web, &r), V_OK);
	ck_assert_int_eq(core_set_device(core, MAC1, NULL, CORE_APPS_BLOCK, &out), V_OK);
	ck_assert(out.apps_blocked && out.present);
	ck_assert_uint_eq(out.removed, 1);
	ck_assert_uint_eq(core_list(core, &all), 1);
	ck_assert_int_eq(all[0].origin, ORIGIN_WEB);
	free(all);
	/* an app asking again is refused while the block stands */
	ck_assert_int_ne(core_add(core, &upnp, &r), V_OK);
	ck_assert_int_eq(core_set_device(core, MAC1, NULL, CORE_APPS_ALLOW, &out), V_OK);
	ck_assert(!out.apps_blocked);
	ck_assert_uint_eq(out.removed, 0);
	ck_assert_uint_eq(core_list(core, &all), 1);
	free(all);
	ck_assert_int_eq(core_add(core, &upnp, &r), V_OK);
}
END_TEST

/* The store refuses (its directory is gone): nothing changes, and out tells what still stands. */
START_TEST(test_store_refuses)
{
	struct core_device_entry out;

	ck_assert_int_eq(core_set_device(core, MAC1, "Phone", CORE_APPS_KEEP, NULL), V_OK);
	ck_assert_int_eq(rm_tree(state_dir), 0);
	ck_assert_int_eq(core_set_device(core, MAC1, "Laptop", CORE_APPS_BLOCK, &out), V_NO_RESOURCES);
	ck_assert_str_eq(out.name, "Phone");
	ck_assert(!out.apps_blocked);
	ck_assert_str_eq(device_name_of(devices, MAC1), "Phone");
	ck_assert(!device_apps_blocked(devices, MAC1));
	ck_assert_int_eq(mkdir(state_dir, 0700), 0);
}
END_TEST

/* A slot the store holds that is not an entry (a hand-edited file) is skipped at load, the others kept. */
START_TEST(test_load_skips_bad_record)
{
	ck_assert_int_eq(core_set_device(core, MAC1, "Phone", CORE_APPS_KEEP, NULL), V_OK);
	ck_assert_int_eq(core_meta_set(core, "device_name_7", "not a mac"), 0);
	close_core();
	open_core(true);
	ck_assert_uint_eq(device_name_count(devices), 1);
	ck_assert_str_eq(device_name_of(devices, MAC1), "Phone");
}
END_TEST

static Suite *core_devices_suite(void)
{
	Suite *s = suite_create("core_devices");
	TCase *tc = tcase_create("core_devices");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_no_table);
	tcase_add_test(tc, test_keep_clear_and_reload);
	tcase_add_test(tc, test_block_removes_app_rules);
	tcase_add_test(tc, test_store_refuses);
	tcase_add_test(tc, test_load_skips_bad_record);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(core_devices_suite());
}
