/* SPDX-License-Identifier: GPL-2.0-or-later */
/* soap_: argument validation, error codes, and the IGD action handlers on an in-memory core. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include <libxml/parser.h>

#include "igdd/desc.h"
#include "igdd/soap_args.h"
#include "igdd/upnp.h"
#include "tests/unit/testutil.h"


/* ---------- argument vectors ---------- */

#define PM(rh, ep, pr, ip, ic, en, de, le) { \
	{ "NewRemoteHost", rh }, { "NewExternalPort", ep }, { "NewProtocol", pr }, { "NewInternalPort", ip }, \
	{ "NewInternalClient", ic }, { "NewEnabled", en }, { "NewPortMappingDescription", de }, \
	{ "NewLeaseDuration", le } }
#define PH(rh, rp, ic, ip, pr, le) { \
	{ "RemoteHost", rh }, { "RemotePort", rp }, { "InternalClient", ic }, { "InternalPort", ip }, \
	{ "Protocol", pr }, { "LeaseTime", le } }

struct pm_case {
	struct soap_arg a[8];
	bool any;
	int want;
};

static const struct pm_case pm_cases[] = {
	{ PM("", "40000", "TCP", "40000", "192.0.2.20", "1", "game", "3600"), false, 0 },
	{ PM("*", "40000", "udp", "40000", "192.0.2.20", "true", "", "0"), false, 0 },
	{ PM(" 198.51.100.7 ", "40000", "UDP", "40000", "192.0.2.20", "1", "x", "3600"), false, 0 },
	{ PM("", "0", "TCP", "40000", "192.0.2.20", "1", "x", "3600"), false, 716 },
	{ PM("", "0", "TCP", "40000", "192.0.2.20", "1", "x", "3600"), true, 0 },
	{ PM("", "40000", "TCP", "0", "192.0.2.20", "1", "x", "3600"), false, 732 },
	{ PM("", "40000", "TCP", "40000", "", "1", "x", "3600"), false, 0 },   /* client_empty: handler decides */
	{ PM("", "40000", "ICMP", "40000", "192.0.2.20", "1", "x", "3600"), false, 601 },
	{ PM("", "40000", "", "40000", "192.0.2.20", "1", "x", "3600"), false, 601 },
	{ PM("", "abc", "TCP", "40000", "192.0.2.20", "1", "x", "3600"), false, 402 },
	{ PM("", "65536", "TCP", "40000", "192.0.2.20", "1", "x", "3600"), false, 402 },
	{ PM("", "-1", "TCP", "40000", "192.0.2.20", "1", "x", "3600"), false, 402 },
	{ PM("", "", "TCP", "40000", "192.0.2.20", "1", "x", "3600"), false, 402 },
	{ PM("", "40000", "TCP", "40000", "2001:db8::1", "1", "x", "3600"), false, 402 },
	{ PM("", "40000", "TCP", "40000", "host.example", "1", "x", "3600"), false, 402 },
	{ PM("2001:db8::9", "40000", "TCP", "40000", "192.0.2.20", "1", "x", "3600"), false, 402 },
	{ PM("", "40000", "TCP", "40000", "192.0.2.20", "maybe", "x", "3600"), false, 402 },
	/* a lease is never refused for its size (clamped to the maximum): only for not being a number */
	{ PM("", "40000", "TCP", "40000", "192.0.2.20", "1", "x", "4294967296"), false, 0 },
	{ PM("", "40000", "TCP", "40000", "192.0.2.20", "1", "x", "0x10"), false, 402 },
	{ PM("", "40000", "TCP", "40000", "192.0.2.20", "1", "x", "-1"), false, 402 },
	{ PM("", "40000", "TCP", "40000", "192.0.2.20", "1", "x", ""), false, 402 },
};

START_TEST(test_parse_portmap)
{
	const struct pm_case *c = &pm_cases[_i];
	struct soap_pm_req q;
	int rc = soap_parse_add_portmap(c->a, 8, c->any, &q);

	ck_assert_msg(rc == c->want, "case %d: got %d want %d", _i, rc, c->want);
}
END_TEST

START_TEST(test_portmap_lease_and_values)
{
	struct soap_arg a[8] = PM("", "40000", "udp", "40001", "192.0.2.20", "yes", "d", "0");
	struct soap_arg b[8] = PM("", "40000", "TCP", "40001", "", "0", "", "999999");
	struct soap_pm_req q;

	ck_assert_int_eq(soap_parse_add_portmap(a, 8, false, &q), 0);
	ck_assert_uint_eq(q.lease, 604800);  /* IGD:2: 0 = the maximum, not forever */
	ck_assert_uint_eq(q.proto, IPPROTO_UDP);
	ck_assert_uint_eq(q.int_port, 40001);
	ck_assert(q.enabled);
	ck_assert_uint_eq(q.remote_len, 0);
	ck_assert(addr_equal(&q.client, &(struct in6_addr){ .s6_addr = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 20 } }));
	ck_assert_int_eq(soap_parse_add_portmap(b, 8, false, &q), 0);
	ck_assert_uint_eq(q.lease, 604800);
	ck_assert(q.client_empty);
	ck_assert_str_eq(q.desc, "");
}
END_TEST

struct ph_case {
	struct soap_arg a[6];
	int want;
};

static const struct ph_case ph_cases[] = {
	{ PH("", "0", "2001:db8:1::20", "40000", "6", "3600"), 0 },
	{ PH("*", "0", "2001:db8:1::20", "40000", "17", "1"), 0 },
	{ PH("2001:db8:ff::2", "5000", "2001:db8:1::20", "40000", "17", "86400"), 0 },
	{ PH("", "0", "2001:db8:1::20", "0", "58", "3600"), 0 },        /* ICMPv6: no ports */
	{ PH("", "0", "2001:db8:1::20", "40000", "6", "0"), 0 },        /* 0 and above: 86400, never 402 */
	{ PH("", "0", "2001:db8:1::20", "40000", "6", "86401"), 0 },
	{ PH("", "0", "2001:db8:1::20", "40000", "6", "3 600"), 402 },
	{ PH("", "0", "", "40000", "6", "3600"), 708 },
	{ PH("", "0", "*", "40000", "6", "3600"), 708 },
	{ PH("", "0", "2001:db8:1::20", "0", "6", "3600"), 706 },
	{ PH("", "0", "2001:db8:1::20", "40000", "65535", "3600"), 707 },
	{ PH("", "0", "2001:db8:1::20", "40000", "256", "3600"), 705 },
	{ PH("", "0", "2001:db8:1::20", "40000", "0", "3600"), 705 },
	{ PH("", "0", "2001:db8:1::20", "40000", "TCP", "3600"), 402 },
	{ PH("", "0", "192.0.2.20", "40000", "6", "3600"), 402 },
	{ PH("", "0", "::ffff:192.0.2.20", "40000", "6", "3600"), 402 },
	{ PH("", "0", "2001:db8:1::20%eth0", "40000", "6", "3600"), 402 },
	{ PH("198.51.100.2", "0", "2001:db8:1::20", "40000", "6", "3600"), 402 },
	{ PH("", "70000", "2001:db8:1::20", "40000", "6", "3600"), 402 },
};

START_TEST(test_parse_pinhole)
{
	const struct ph_case *c = &ph_cases[_i];
	struct soap_ph_req q;
	int rc = soap_parse_add_pinhole(c->a, 6, &q);

	ck_assert_msg(rc == c->want, "case %d: got %d want %d", _i, rc, c->want);
}
END_TEST

START_TEST(test_lease_values)
{
	struct soap_arg ph0[6] = PH("", "0", "2001:db8:1::20", "40000", "6", " 0 ");
	struct soap_arg ph3[6] = PH("", "0", "2001:db8:1::20", "40000", "6", "3");
	struct soap_arg phbig[6] = PH("", "0", "2001:db8:1::20", "40000", "6", "99999999999999999999999");
	struct soap_arg upd0[2] = { { "UniqueID", "3" }, { "NewLeaseTime", "0" } };
	struct soap_ph_req q;
	uint32_t lease;
	uint16_t id;

	ck_assert_int_eq(soap_parse_add_pinhole(ph0, 6, &q), 0);
	ck_assert_uint_eq(q.lease, 86400);
	ck_assert_int_eq(soap_parse_add_pinhole(ph3, 6, &q), 0);
	ck_assert_uint_eq(q.lease, 3);   /* as asked: UPnP cannot tell the client of a floor */
	ck_assert_int_eq(soap_parse_add_pinhole(phbig, 6, &q), 0);
	ck_assert_uint_eq(q.lease, 86400);
	ck_assert_int_eq(soap_parse_update_pinhole(upd0, 2, &id, &lease), 0);
	ck_assert_uint_eq(lease, 86400);
	ck_assert_int_eq(soap_parse_lease("604801", SOAP_LEASE_MAX_PM, &lease), 0);
	ck_assert_uint_eq(lease, 604800);
	ck_assert_int_eq(soap_parse_lease("1", SOAP_LEASE_MAX_PM, &lease), 0);
	ck_assert_uint_eq(lease, 1);
	ck_assert_int_eq(soap_parse_lease("1e3", SOAP_LEASE_MAX_PM, &lease), 402);
	ck_assert_int_eq(soap_parse_lease(NULL, SOAP_LEASE_MAX_PM, &lease), 402);
	ck_assert_int_eq(soap_parse_lease("  ", SOAP_LEASE_MAX_PM, &lease), 402);
}
END_TEST

START_TEST(test_check_args)
{
	const struct soap_actiondef *d = soap_action_find(SOAP_SVC_V6FC, "UpdatePinhole");
	struct soap_arg ok[2] = { { "NewLeaseTime", "10" }, { "UniqueID", "3" } };
	struct soap_arg dup[2] = { { "UniqueID", "3" }, { "UniqueID", "3" } };
	struct soap_arg wrong[2] = { { "UniqueID", "3" }, { "LeaseTime", "10" } };
	char *big = malloc(SOAP_VALUE_MAX + 2);
	struct soap_arg longv[2] = { { "UniqueID", big }, { "NewLeaseTime", "10" } };
	uint16_t id;
	uint32_t lease;

	memset(big, '1', SOAP_VALUE_MAX + 1);
	big[SOAP_VALUE_MAX + 1] = '\0';
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(soap_check_args(d, ok, 2), 0);
	ck_assert_int_eq(soap_check_args(d, ok, 1), 402);
	ck_assert_int_eq(soap_check_args(d, dup, 2), 402);
	ck_assert_int_eq(soap_check_args(d, wrong, 2), 402);
	ck_assert_int_eq(soap_check_args(d, longv, 2), 402);
	ck_assert_int_eq(soap_parse_update_pinhole(ok, 2, &id, &lease), 0);
	ck_assert_uint_eq(id, 3);
	ck_assert_uint_eq(lease, 10);
	ck_assert_ptr_null(soap_action_find(SOAP_SVC_V6FC, "AddPortMapping"));
	ck_assert_ptr_null(soap_action_find(SOAP_SVC_WANIPC, NULL));
	free(big);
}
END_TEST

START_TEST(test_range_and_misc)
{
	struct soap_arg r[5] = { { "NewStartPort", "2000" }, { "NewEndPort", "1000" }, { "NewProtocol", "TCP" },
				 { "NewManage", "0" }, { "NewNumberOfPorts", "0" } };
	struct soap_pm_range q;
	struct soap_arg ct[1] = { { "NewConnectionType", "IP_Routed" } };
	struct soap_arg ct2[1] = { { "NewConnectionType", "PPPoE" } };
	char type[16];
	bool b;
	uint16_t u16;

	ck_assert_int_eq(soap_parse_pm_range(r, 5, true, &q), 733);
	r[1].value = "3000";
	ck_assert_int_eq(soap_parse_pm_range(r, 5, true, &q), 0);
	ck_assert_int_eq(soap_parse_conn_type(ct, 1, type), 0);
	ck_assert_str_eq(type, "IP_Routed");
	ck_assert_int_eq(soap_parse_conn_type(ct2, 1, type), 600);
	ck_assert_int_eq(soap_parse_bool(" TRUE ", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(soap_parse_bool("2", &b), 402);
	ck_assert_int_eq(soap_parse_bool(NULL, &b), 402);
	ck_assert_int_eq(soap_parse_ui2("65535", &u16), 0);
	ck_assert_int_eq(soap_parse_ui2("+1", &u16), 402);
	ck_assert_int_eq(soap_parse_ui2("99999999999", &u16), 402);
}
END_TEST

START_TEST(test_codes)
{
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_ADD_PM, V_CONFLICT, false), 718);
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_ADD_ANY_PM, V_CONFLICT, false), 728);
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_ADD_PM, V_NOT_AUTHORIZED, false), 606);
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_ADD_PM, V_NOT_AUTHORIZED, true), 718);
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_DEL_PM, V_NOT_AUTHORIZED, true), 714);
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_DEL_PM, V_NOT_FOUND, false), 714);
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_ADD_PH, V_QUOTA, false), 701);
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_ADD_PH, V_BAD_TARGET, false), 606);
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_PH_ID, V_NOT_FOUND, false), 704);
	ck_assert_int_eq(soap_verdict_code(SOAP_OP_PH_ID, V_OK, false), 0);
	ck_assert_str_eq(soap_error_desc(SOAP_SVC_WANIPC, 704), "ConnectionSetupFailed");
	ck_assert_str_eq(soap_error_desc(SOAP_SVC_V6FC, 704), "NoSuchEntry");
	ck_assert_str_eq(soap_error_desc(SOAP_SVC_WANIPC, 733), "InconsistentParameters");
	ck_assert_str_eq(soap_error_desc(SOAP_SVC_V6FC, 606), "Action not authorized");
	ck_assert_str_eq(soap_error_desc(SOAP_SVC_WANCIC, 999), "Action Failed");
}
END_TEST

/* ---------- handlers on an in-memory core ---------- */

static struct fw *fw;
static struct core *core;

/* fd00:1::20 and 2001:db8:1::20 are addresses of one device (the core's device table would say so) */
static bool same_dev(void *arg, const struct in6_addr *a, const struct in6_addr *b)
{
	struct in6_addr t = A("fd00:1::20"), g = A("2001:db8:1::20");

	(void)arg;
	return (addr_equal(a, &t) && addr_equal(b, &g)) || (addr_equal(a, &g) && addr_equal(b, &t));
}

static void setup(void)
{
	struct core_params p;
	char err[256];

	fw = mem_fw();
	ck_assert_ptr_nonnull(fw);
	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.fw = fw;
	p.clock = fake_clock;
	p.same_device = same_dev;
	core = core_new(&p);
	ck_assert_ptr_nonnull(core);
	ck_assert_msg(core_start(core, err, sizeof(err)) == 0, "%s", err);
}

static void teardown(void)
{
	core_free(core);
	fw->ops->destroy(fw);
}

static bool gw_addr(void *arg, const struct in6_addr *a)
{
	struct in6_addr gw = A("2001:db8:1::1");

	(void)arg;
	return addr_equal(a, &gw);
}

static struct soap_ctx ctx_for(const char *peer)
{
	struct soap_ctx c;

	memset(&c, 0, sizeof(c));
	c.core = core;
	c.peer = A(peer);
	c.now = fake_now;
	c.firewall_enabled = c.pinholes_allowed = true;
	c.is_gateway_addr = gw_addr;
	strcpy(c.wan.ext_ip, "203.0.113.7");
	return c;
}

static int call(const struct soap_ctx *c, enum soap_service s, const char *act, const struct soap_arg *a,
		size_t n, struct soap_out *o)
{
	return soap_call(c, s, act, a, n, o);
}

static const char *outv(const struct soap_out *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->name[i], name) == 0)
			return o->value[i];
	return NULL;
}

START_TEST(test_pinhole_lifecycle)
{
	struct soap_ctx c = ctx_for("2001:db8:1::20"), other = ctx_for("2001:db8:1::30");
	struct soap_arg add[6] = PH("", "0", "2001:db8:1::20", "40000", "6", "3600");
	struct soap_arg id[1] = { { "UniqueID", "" } };
	struct soap_arg upd[2] = { { "UniqueID", "" }, { "NewLeaseTime", "100" } };
	struct soap_out o;
	char uid[8];

	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "AddPinhole", add, 6, &o), 0);
	snprintf(uid, sizeof(uid), "%s", outv(&o, "UniqueID"));
	soap_out_free(&o);
	/* same five-tuple again: the same UniqueID, lease extended */
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "AddPinhole", add, 6, &o), 0);
	ck_assert_str_eq(outv(&o, "UniqueID"), uid);
	soap_out_free(&o);
	/* another host may not open for .20 nor touch its pinhole */
	ck_assert_int_eq(call(&other, SOAP_SVC_V6FC, "AddPinhole", add, 6, &o), 606);
	id[0].value = uid;
	upd[0].value = uid;
	ck_assert_int_eq(call(&other, SOAP_SVC_V6FC, "DeletePinhole", id, 1, &o), 606);
	ck_assert_int_eq(call(&other, SOAP_SVC_V6FC, "UpdatePinhole", upd, 2, &o), 606);
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "UpdatePinhole", upd, 2, &o), 0);
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "GetPinholePackets", id, 1, &o), 0);
	ck_assert_str_eq(outv(&o, "PinholePackets"), "0");
	soap_out_free(&o);
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "CheckPinholeWorking", id, 1, &o), 709);
	ck_assert_uint_eq(o.n, 0);
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "DeletePinhole", id, 1, &o), 0);
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "DeletePinhole", id, 1, &o), 704);
	id[0].value = "x";
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "DeletePinhole", id, 1, &o), 402);
}
END_TEST

START_TEST(test_pinhole_refused_targets)
{
	struct soap_ctx c = ctx_for("2001:db8:1::1");
	struct soap_arg gw[6] = PH("", "0", "2001:db8:1::1", "40000", "6", "3600");
	struct soap_arg ll[6] = PH("", "0", "fe80::20", "40000", "6", "3600");
	struct soap_arg mc[6] = PH("", "0", "ff02::1", "40000", "6", "3600");
	struct soap_arg low[6] = PH("", "0", "2001:db8:1::1", "80", "6", "3600");
	struct soap_out o;

	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "AddPinhole", gw, 6, &o), 606);
	c.peer = A("fe80::20");
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "AddPinhole", ll, 6, &o), 606);
	c.peer = A("2001:db8:1::20");
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "AddPinhole", mc, 6, &o), 606);
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "AddPinhole", low, 6, &o), 606);
	c.firewall_enabled = false;
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "GetFirewallStatus", NULL, 0, &o), 0);
	ck_assert_str_eq(outv(&o, "FirewallEnabled"), "0");
	soap_out_free(&o);
}
END_TEST

/* Another address of the same device may read the pinhole (the core decides, by its device table);
 * another device may not. */
START_TEST(test_pinhole_same_device_reads)
{
	struct soap_ctx c = ctx_for("2001:db8:1::20"), ula = ctx_for("fd00:1::20"), other = ctx_for("fd00:1::30");
	struct soap_arg add[6] = PH("", "0", "2001:db8:1::20", "40000", "17", "3600");
	struct soap_arg id[1] = { { "UniqueID", "" } };
	struct soap_out o;
	char uid[8];

	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "AddPinhole", add, 6, &o), 0);
	snprintf(uid, sizeof(uid), "%s", outv(&o, "UniqueID"));
	soap_out_free(&o);
	id[0].value = uid;
	ck_assert_int_eq(call(&other, SOAP_SVC_V6FC, "GetPinholePackets", id, 1, &o), 606);
	ck_assert_int_eq(call(&ula, SOAP_SVC_V6FC, "GetPinholePackets", id, 1, &o), 0);
	soap_out_free(&o);
}
END_TEST

/* A rule for the device's stable address only (asked for it by name, then re-anchored): its owner's
 * temporary address is gone after a renumbering, so the device's other address must count. */
START_TEST(test_portmap_lifecycle)
{
	struct soap_ctx c = ctx_for("192.0.2.20"), other = ctx_for("192.0.2.30");
	struct soap_arg add[8] = PM("", "40000", "TCP", "40000", "192.0.2.20", "1", "game", "0");
	struct soap_arg add30[8] = PM("", "40000", "TCP", "40000", "192.0.2.30", "1", "", "3600");
	struct soap_arg key[3] = { { "NewRemoteHost", "" }, { "NewExternalPort", "40000" }, { "NewProtocol", "TCP" } };
	struct soap_arg idx[1] = { { "NewPortMappingIndex", "0" } };
	struct soap_arg list[5] = { { "NewStartPort", "1" }, { "NewEndPort", "65535" }, { "NewProtocol", "TCP" },
				    { "NewManage", "1" }, { "NewNumberOfPorts", "0" } };
	struct soap_arg range[4] = { { "NewStartPort", "1" }, { "NewEndPort", "65535" }, { "NewProtocol", "TCP" },
				     { "NewManage", "0" } };
	struct soap_out o;

	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", add, 8, &o), 0);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", add, 8, &o), 0);  /* overwrite */
	ck_assert_int_eq(call(&other, SOAP_SVC_WANIPC, "AddPortMapping", add30, 8, &o), 718);
	/* port taken by .20: conflict first; a free port for someone else's client: not authorised */
	ck_assert_int_eq(call(&other, SOAP_SVC_WANIPC, "AddPortMapping", add, 8, &o), 718);
	add[1].value = "40002";
	ck_assert_int_eq(call(&other, SOAP_SVC_WANIPC, "AddPortMapping", add, 8, &o), 606);
	other.v1 = true;
	ck_assert_int_eq(call(&other, SOAP_SVC_WANIPC, "AddPortMapping", add, 8, &o), 718);
	add[1].value = "40000";
	ck_assert_int_eq(call(&other, SOAP_SVC_WANIPC, "AddAnyPortMapping", add30, 8, &o), 401);
	other.v1 = false;
	ck_assert_int_eq(call(&other, SOAP_SVC_WANIPC, "AddAnyPortMapping", add30, 8, &o), 0);
	ck_assert_str_ne(outv(&o, "NewReservedPort"), "40000");
	soap_out_free(&o);

	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetSpecificPortMappingEntry", key, 3, &o), 0);
	ck_assert_str_eq(outv(&o, "NewInternalClient"), "192.0.2.20");
	ck_assert_str_eq(outv(&o, "NewPortMappingDescription"), "game");
	ck_assert_uint_gt(strtoul(outv(&o, "NewLeaseDuration"), NULL, 10), 0);
	soap_out_free(&o);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetGenericPortMappingEntry", idx, 1, &o), 0);
	ck_assert_str_eq(outv(&o, "NewRemoteHost"), "");
	ck_assert_uint_eq(o.n, 8);
	soap_out_free(&o);
	idx[0].value = "2";
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetGenericPortMappingEntry", idx, 1, &o), 713);

	/* secure mode: Manage=1 is treated as 0, so .20 sees only its own mapping */
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetListOfPortMappings", list, 5, &o), 0);
	ck_assert_ptr_nonnull(strstr(outv(&o, "NewPortListing"), "<p:NewInternalClient>192.0.2.20<"));
	ck_assert_ptr_null(strstr(outv(&o, "NewPortListing"), "192.0.2.30"));
	ck_assert_ptr_nonnull(strstr(outv(&o, "NewPortListing"), "<p:NewDescription>game</p:NewDescription>"));
	soap_out_free(&o);

	ck_assert_int_eq(call(&other, SOAP_SVC_WANIPC, "DeletePortMapping", key, 3, &o), 606);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "DeletePortMappingRange", range, 4, &o), 0);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "DeletePortMapping", key, 3, &o), 714);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "DeletePortMappingRange", range, 4, &o), 730);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetListOfPortMappings", list, 5, &o), 730);
}
END_TEST

/* One rule for every read (README, Limits): under secure_mode a CP sees its own mappings only (it made
 * them, or they are for its device), by index, by key and in lists alike; before, GetGeneric and
 * GetSpecific showed every device's mappings and descriptions to anyone. Without secure_mode a CP
 * may act for anyone, so it sees everyone's, and Manage=0 narrows a list to its own. */
START_TEST(test_portmap_reads_are_own_only)
{
	struct soap_ctx a = ctx_for("192.0.2.20"), b = ctx_for("192.0.2.30");
	struct soap_arg add20[8] = PM("", "40000", "TCP", "40000", "192.0.2.20", "1", "a's secret", "3600");
	struct soap_arg add30[8] = PM("", "40001", "TCP", "40001", "192.0.2.30", "1", "b's", "3600");
	struct soap_arg key20[3] = { { "NewRemoteHost", "" }, { "NewExternalPort", "40000" }, { "NewProtocol", "TCP" } };
	struct soap_arg idx[1] = { { "NewPortMappingIndex", "0" } };
	struct soap_arg list[5] = { { "NewStartPort", "1" }, { "NewEndPort", "65535" }, { "NewProtocol", "TCP" },
				    { "NewManage", "1" }, { "NewNumberOfPorts", "0" } };
	struct policy_config pc;
	struct soap_out o;

	ck_assert_int_eq(call(&a, SOAP_SVC_WANIPC, "AddPortMapping", add20, 8, &o), 0);
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "AddPortMapping", add30, 8, &o), 0);
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetGenericPortMappingEntry", idx, 1, &o), 0);
	ck_assert_str_eq(outv(&o, "NewExternalPort"), "40001");
	soap_out_free(&o);
	idx[0].value = "1";
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetGenericPortMappingEntry", idx, 1, &o), 713);
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetSpecificPortMappingEntry", key20, 3, &o), 606);
	b.v1 = true;
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetSpecificPortMappingEntry", key20, 3, &o), 714);
	b.v1 = false;
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetListOfPortMappings", list, 5, &o), 0);
	ck_assert_ptr_null(strstr(outv(&o, "NewPortListing"), "secret"));
	soap_out_free(&o);
	ck_assert_int_eq(call(&a, SOAP_SVC_WANIPC, "GetSpecificPortMappingEntry", key20, 3, &o), 0);
	ck_assert_str_eq(outv(&o, "NewPortMappingDescription"), "a's secret");
	soap_out_free(&o);

	core_policy_get(core, &pc);
	pc.secure_mode = false;
	core_set_policy(core, &pc);
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetGenericPortMappingEntry", idx, 1, &o), 0);
	ck_assert_str_eq(outv(&o, "NewExternalPort"), "40001");
	soap_out_free(&o);
	idx[0].value = "0";
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetGenericPortMappingEntry", idx, 1, &o), 0);
	ck_assert_str_eq(outv(&o, "NewExternalPort"), "40000");
	soap_out_free(&o);
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetSpecificPortMappingEntry", key20, 3, &o), 0);
	soap_out_free(&o);
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetListOfPortMappings", list, 5, &o), 0);
	ck_assert_ptr_nonnull(strstr(outv(&o, "NewPortListing"), "secret"));
	soap_out_free(&o);
	list[3].value = "0";
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "GetListOfPortMappings", list, 5, &o), 0);
	ck_assert_ptr_null(strstr(outv(&o, "NewPortListing"), "secret"));
	soap_out_free(&o);
}
END_TEST

START_TEST(test_portmap_empty_client)
{
	struct soap_ctx c = ctx_for("192.0.2.20");
	struct soap_arg add[8] = PM("", "40000", "UDP", "40000", "", "1", "", "3600");
	struct soap_out o;

	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", add, 8, &o), 715);
	c.v1 = true;
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", add, 8, &o), 0);
}
END_TEST

/* A UPnP lease is kept as asked (the answer cannot carry another), 0 is the maximum, and the rule goes
 * when its lease ends; PCP and NAT-PMP, whose answers say what they got, keep min_lifetime's floor. */
START_TEST(test_upnp_leases_as_asked)
{
	struct soap_ctx c = ctx_for("2001:db8:1::20"), c4 = ctx_for("192.0.2.20");
	struct soap_arg ph[6] = PH("", "0", "2001:db8:1::20", "40000", "6", "3");
	struct soap_arg upd[2] = { { "UniqueID", "" }, { "NewLeaseTime", "0" } };
	struct soap_arg pm0[8] = PM("", "40000", "TCP", "40000", "192.0.2.20", "1", "transmission", "0");
	struct soap_arg pm5[8] = PM("", "40001", "TCP", "40001", "192.0.2.20", "1", "", "5");
	struct soap_arg key[3] = { { "NewRemoteHost", "" }, { "NewExternalPort", "40000" }, { "NewProtocol", "TCP" } };
	struct policy_config pc;
	struct rule r;
	struct soap_out o;
	char uid[8];
	uint32_t id;

	core_policy_get(core, &pc);
	ck_assert_uint_eq(pc.min_lifetime, 120);
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "AddPinhole", ph, 6, &o), 0);
	snprintf(uid, sizeof(uid), "%s", outv(&o, "UniqueID"));
	soap_out_free(&o);
	id = (uint32_t)strtoul(uid, NULL, 10);
	ck_assert_int_eq(core_get(core, id, &r), V_OK);
	ck_assert_uint_eq(r.lease, 3);
	ck_assert_int_eq(r.expires, fake_now + 3);
	upd[0].value = uid;
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "UpdatePinhole", upd, 2, &o), 0);   /* 0: the maximum */
	ck_assert_int_eq(core_get(core, id, &r), V_OK);
	ck_assert_uint_eq(r.lease, 86400);
	upd[1].value = "3";
	ck_assert_int_eq(call(&c, SOAP_SVC_V6FC, "UpdatePinhole", upd, 2, &o), 0);
	fake_now += 4;
	core_expire(core);
	ck_assert_int_eq(core_get(core, id, &r), V_NOT_FOUND);

	c4.now = fake_now;
	ck_assert_int_eq(call(&c4, SOAP_SVC_WANIPC, "AddPortMapping", pm0, 8, &o), 0);
	ck_assert_int_eq(call(&c4, SOAP_SVC_WANIPC, "AddPortMapping", pm5, 8, &o), 0);
	ck_assert_int_eq(call(&c4, SOAP_SVC_WANIPC, "GetSpecificPortMappingEntry", key, 3, &o), 0);
	ck_assert_str_eq(outv(&o, "NewLeaseDuration"), "86400");   /* 0 = max_lifetime */
	soap_out_free(&o);
	key[1].value = "40001";
	ck_assert_int_eq(call(&c4, SOAP_SVC_WANIPC, "GetSpecificPortMappingEntry", key, 3, &o), 0);
	ck_assert_str_eq(outv(&o, "NewLeaseDuration"), "5");
	soap_out_free(&o);

	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_PCP, 3), 120);
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_NATPMP, 3), 120);
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_UPNP, 3), 3);
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_UPNP, 0), 86400);
	ck_assert_uint_eq(policy_lease_for(&pc, ORIGIN_UPNP, 604800), 86400);
}
END_TEST

/* AddAnyPortMapping from a client that has a mapping of the same internal endpoint gets that mapping's
 * port again, whatever port it suggests now (Tailscale suggests a random one after a restart). */
START_TEST(test_anyport_same_endpoint)
{
	struct soap_ctx a = ctx_for("192.0.2.20"), b = ctx_for("192.0.2.30");
	struct soap_arg a40[8] = PM("", "40000", "UDP", "40000", "192.0.2.20", "1", "a", "3600");
	struct soap_arg b40[8] = PM("", "40000", "UDP", "41641", "192.0.2.30", "1", "tailscale-portmap", "7200");
	struct soap_out o;
	char port[8];

	ck_assert_int_eq(call(&a, SOAP_SVC_WANIPC, "AddAnyPortMapping", a40, 8, &o), 0);
	ck_assert_str_eq(outv(&o, "NewReservedPort"), "40000");
	soap_out_free(&o);
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "AddAnyPortMapping", b40, 8, &o), 0);
	snprintf(port, sizeof(port), "%s", outv(&o, "NewReservedPort"));
	ck_assert_str_ne(port, "40000");
	soap_out_free(&o);
	b40[1].value = "52345";   /* a new random suggestion */
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "AddAnyPortMapping", b40, 8, &o), 0);
	ck_assert_str_eq(outv(&o, "NewReservedPort"), port);
	soap_out_free(&o);
	b40[1].value = "0";
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "AddAnyPortMapping", b40, 8, &o), 0);
	ck_assert_str_eq(outv(&o, "NewReservedPort"), port);
	soap_out_free(&o);
	ck_assert_uint_eq(core_count(core, RULE_PORTMAP), 2);
	/* another internal port is another endpoint: a mapping of its own, at the port it suggests */
	b40[1].value = "52345";
	b40[3].value = "41642";
	ck_assert_int_eq(call(&b, SOAP_SVC_WANIPC, "AddAnyPortMapping", b40, 8, &o), 0);
	ck_assert_str_eq(outv(&o, "NewReservedPort"), "52345");
	soap_out_free(&o);
	ck_assert_uint_eq(core_count(core, RULE_PORTMAP), 3);
}
END_TEST

/* A port held by anyone else (another client, a PCP mapping, the household's rule) is a conflict:
 * 718 for AddPortMapping in both namespaces (libtorrent reads 501 as one too and would hop ports). */
START_TEST(test_conflict_is_718)
{
	struct soap_ctx c = ctx_for("192.0.2.20");
	struct soap_arg pm[8] = PM("", "40010", "TCP", "40010", "192.0.2.20", "1", "", "0");
	struct core_add_req req;
	struct rule got;
	struct soap_out o;

	memset(&req, 0, sizeof(req));
	req.rule.kind = RULE_PORTMAP;
	req.rule.proto = IPPROTO_TCP;
	req.rule.ext_port = 40010;
	req.rule.int_port = 8080;
	req.rule.target.use_exact = true;
	req.rule.target.exact = A("192.0.2.30");
	req.rule.target.exact_kind = ADDR_KIND_IPV4;
	req.rule.origin = ORIGIN_WEB;
	req.rule.owner = A("192.0.2.30");
	req.privileged = true;
	ck_assert_int_eq(core_add(core, &req, &got), V_OK);
	req.rule.ext_port = 40011;
	req.rule.origin = ORIGIN_PCP;
	req.privileged = false;
	ck_assert_int_eq(core_add(core, &req, &got), V_OK);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", pm, 8, &o), 718);
	pm[1].value = "40011";
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", pm, 8, &o), 718);
	c.v1 = true;
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", pm, 8, &o), 718);
	pm[1].value = "40010";
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", pm, 8, &o), 718);
}
END_TEST

/* Windows and the Xbox list only mappings with lease 0: a long lease reads back as 0 to them. */
START_TEST(test_ua_igd1_reads_long_lease_as_zero)
{
	struct soap_ctx c = ctx_for("192.0.2.20");
	struct soap_arg pm0[8] = PM("", "40000", "TCP", "40000", "192.0.2.20", "1", "xbox", "0");
	struct soap_arg pm600[8] = PM("", "40001", "TCP", "40001", "192.0.2.20", "1", "", "600");
	struct soap_arg key[3] = { { "NewRemoteHost", "" }, { "NewExternalPort", "40000" }, { "NewProtocol", "TCP" } };
	struct soap_arg idx[1] = { { "NewPortMappingIndex", "0" } };
	struct soap_out o;

	c.v1 = true;
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", pm0, 8, &o), 0);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "AddPortMapping", pm600, 8, &o), 0);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetSpecificPortMappingEntry", key, 3, &o), 0);
	ck_assert_str_eq(outv(&o, "NewLeaseDuration"), "86400");
	soap_out_free(&o);
	c.ua_igd1 = true;
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetSpecificPortMappingEntry", key, 3, &o), 0);
	ck_assert_str_eq(outv(&o, "NewLeaseDuration"), "0");
	soap_out_free(&o);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetGenericPortMappingEntry", idx, 1, &o), 0);
	ck_assert_str_eq(outv(&o, "NewLeaseDuration"), "0");
	soap_out_free(&o);
	idx[0].value = "1";
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetGenericPortMappingEntry", idx, 1, &o), 0);
	ck_assert_str_eq(outv(&o, "NewLeaseDuration"), "600");   /* a short lease is what it is */
	soap_out_free(&o);
}
END_TEST

START_TEST(test_connection_actions)
{
	struct soap_ctx c = ctx_for("192.0.2.20");
	struct soap_arg ct[1] = { { "NewConnectionType", "IP_Bridged" } };
	struct soap_out o;

	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetStatusInfo", NULL, 0, &o), 0);
	ck_assert_str_eq(outv(&o, "NewConnectionStatus"), "Connected");
	soap_out_free(&o);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetExternalIPAddress", NULL, 0, &o), 0);
	ck_assert_str_eq(outv(&o, "NewExternalIPAddress"), "203.0.113.7");
	soap_out_free(&o);
	c.wan.ext_ip[0] = '\0';
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetExternalIPAddress", NULL, 0, &o), 0);
	ck_assert_str_eq(outv(&o, "NewExternalIPAddress"), "");  /* never "(null)" */
	soap_out_free(&o);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "SetConnectionType", ct, 1, &o), 731);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "ForceTermination", NULL, 0, &o), 606);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "NoSuchAction", NULL, 0, &o), 401);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANIPC, "GetStatusInfo", ct, 1, &o), 402);
	ck_assert_int_eq(call(&c, SOAP_SVC_WANCIC, "GetCommonLinkProperties", NULL, 0, &o), 0);
	ck_assert_uint_eq(o.n, 4);
	soap_out_free(&o);
}
END_TEST

/* ---------- descriptions ---------- */

static bool well_formed(const char *xml)
{
	xmlDocPtr d = xmlReadMemory(xml, (int)strlen(xml), "x.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
	bool ok = d != NULL;

	xmlFreeDoc(d);
	return ok;
}

START_TEST(test_desc_root)
{
	struct desc_params p = { .base_uuid = "01234567-89ab-4cde-8f01-23456789abcd", .friendly_name = "a<b&c" };
	char *v2 = desc_root(&p, false), *v1 = desc_root(&p, true), udn[DESC_UUID_LEN + 6];

	ck_assert(well_formed(v2));
	ck_assert(well_formed(v1));
	ck_assert_ptr_nonnull(strstr(v2, "device:InternetGatewayDevice:2"));
	ck_assert_ptr_nonnull(strstr(v2, "WANIPv6FirewallControl:1"));
	ck_assert_ptr_nonnull(strstr(v2, "a&lt;b&amp;c"));
	ck_assert_ptr_nonnull(strstr(v1, "device:InternetGatewayDevice:1"));
	ck_assert_ptr_nonnull(strstr(v1, "service:WANIPConnection:1"));
	ck_assert_ptr_null(strstr(v1, "WANIPv6FirewallControl"));
	ck_assert_ptr_null(strstr(v1, ":2<"));
	desc_udn(&p, DESC_DEV_WCD, udn);
	ck_assert_str_eq(udn, "uuid:01234567-89ab-4cde-8f01-23456789abc2");
	ck_assert_ptr_nonnull(strstr(v2, udn));
	ck_assert(desc_uuid_valid(p.base_uuid));
	ck_assert(!desc_uuid_valid("01234567-89ab-4cde-8f01-23456789abcx"));
	ck_assert(!desc_uuid_valid(""));
	free(v2);
	free(v1);
}
END_TEST

START_TEST(test_desc_scpd)
{
	char *v2 = desc_scpd(SOAP_SVC_WANIPC, false), *v1 = desc_scpd(SOAP_SVC_WANIPC, true);
	char *fc = desc_scpd(SOAP_SVC_V6FC, false), *ci = desc_scpd(SOAP_SVC_WANCIC, false);

	ck_assert(well_formed(v2) && well_formed(v1) && well_formed(fc) && well_formed(ci));
	ck_assert_ptr_nonnull(strstr(v2, "<name>AddAnyPortMapping</name>"));
	ck_assert_ptr_nonnull(strstr(v2, "<name>SystemUpdateID</name>"));
	ck_assert_ptr_null(strstr(v1, "AddAnyPortMapping"));
	ck_assert_ptr_null(strstr(v1, "GetListOfPortMappings"));
	ck_assert_ptr_nonnull(strstr(v1, "<name>AddPortMapping</name>"));
	ck_assert_ptr_nonnull(strstr(fc, "<name>NewLeaseTime</name>"));
	ck_assert_ptr_nonnull(strstr(fc, "<minimum>1</minimum><maximum>86400</maximum>"));
	ck_assert_ptr_nonnull(strstr(ci, "<name>GetTotalPacketsReceived</name>"));
	ck_assert_int_eq(desc_service_by_id("urn:upnp-org:serviceId:WANIPv6Firewall1"), SOAP_SVC_V6FC);
	ck_assert_int_eq(desc_service_by_id("urn:upnp-org:serviceId:Nope"), SOAP_SVC_COUNT);
	ck_assert_int_eq(desc_service_by_id(NULL), SOAP_SVC_COUNT);
	free(v2);
	free(v1);
	free(fc);
	free(ci);
}
END_TEST

START_TEST(test_desc_user_agent)
{
	ck_assert(desc_ua_needs_v1("Microsoft-Windows/10.0 UPnP/1.0"));
	ck_assert(desc_ua_needs_v1("FDSSDP"));
	ck_assert(desc_ua_needs_v1("xbox MICROSOFT thing"));
	ck_assert(desc_ua_needs_v1("Xbox/2.0.17559.0 UPnP/1.0 Xbox/2.0.17559.0"));
	ck_assert(desc_ua_needs_v1("Mozilla/4.0 (compatible; UPnP/1.0; Windows NT/5.1)"));
	ck_assert(desc_ua_needs_v1("Mozilla/4.0 (compatible; UPnP/1.0; Windows 9x)"));
	ck_assert(desc_ua_needs_v1("Darwin/10.8.0 UPnP/1.0"));
	ck_assert(!desc_ua_needs_v1("Linux/6.1 UPnP/1.1 MiniUPnPc/2.2.4"));
	ck_assert(!desc_ua_needs_v1("MSWindows/10.0.19045, UPnP/1.1, MiniUPnPc/2.2.8"));
	ck_assert(!desc_ua_needs_v1("Go-http-client/1.1"));
	ck_assert(!desc_ua_needs_v1(NULL));
}
END_TEST

START_TEST(test_portlisting_xml)
{
	struct soap_ctx c;
	struct rule r[2];
	char *x;

	memset(&c, 0, sizeof(c));
	memset(r, 0, sizeof(r));
	c.now = 100;
	for (int i = 0; i < 2; i++) {
		r[i].kind = RULE_PORTMAP;
		r[i].proto = i ? IPPROTO_UDP : IPPROTO_TCP;
		r[i].ext_port = (uint16_t)(40000 + i);
		r[i].int_port = 40000;
		r[i].target.use_exact = true;
		r[i].target.exact = A("192.0.2.20");
		r[i].expires = 160;
	}
	strcpy(r[1].desc, "<&]]>");
	x = soap_portlisting_xml(&c, r, 2);
	ck_assert_ptr_nonnull(x);
	ck_assert(well_formed(x));
	ck_assert_ptr_nonnull(strstr(x, "<p:NewExternalPort>40001</p:NewExternalPort><p:NewProtocol>UDP"));
	ck_assert_ptr_nonnull(strstr(x, "<p:NewLeaseTime>60</p:NewLeaseTime>"));
	ck_assert_ptr_nonnull(strstr(x, "<p:NewRemoteHost></p:NewRemoteHost>"));
	ck_assert_ptr_null(strstr(x, "]]>"));  /* safe inside CDATA */
	free(x);
}
END_TEST

static Suite *desc_suite(void)
{
	Suite *s = suite_create("desc");
	TCase *t = tcase_create("desc");

	tcase_add_test(t, test_desc_root);
	tcase_add_test(t, test_desc_scpd);
	tcase_add_test(t, test_desc_user_agent);
	tcase_add_test(t, test_portlisting_xml);
	suite_add_tcase(s, t);
	return s;
}

static Suite *soap_suite(void)
{
	Suite *s = suite_create("soap");
	TCase *p = tcase_create("parse"), *h = tcase_create("handlers");

	tcase_add_loop_test(p, test_parse_portmap, 0, sizeof(pm_cases) / sizeof(pm_cases[0]));
	tcase_add_loop_test(p, test_parse_pinhole, 0, sizeof(ph_cases) / sizeof(ph_cases[0]));
	tcase_add_test(p, test_portmap_lease_and_values);
	tcase_add_test(p, test_lease_values);
	tcase_add_test(p, test_check_args);
	tcase_add_test(p, test_range_and_misc);
	tcase_add_test(p, test_codes);
	suite_add_tcase(s, p);
	tcase_add_checked_fixture(h, setup, teardown);
	tcase_add_test(h, test_pinhole_lifecycle);
	tcase_add_test(h, test_pinhole_refused_targets);
	tcase_add_test(h, test_pinhole_same_device_reads);
	tcase_add_test(h, test_portmap_lifecycle);
	tcase_add_test(h, test_portmap_reads_are_own_only);
	tcase_add_test(h, test_portmap_empty_client);
	tcase_add_test(h, test_connection_actions);
	tcase_add_test(h, test_upnp_leases_as_asked);
	tcase_add_test(h, test_anyport_same_endpoint);
	tcase_add_test(h, test_conflict_is_718);
	tcase_add_test(h, test_ua_igd1_reads_long_lease_as_zero);
	suite_add_tcase(s, h);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(soap_suite());
	int failed;

	srunner_add_suite(sr, desc_suite());

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
