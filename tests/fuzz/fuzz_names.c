/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: what a hostile LAN host can make the router read for names. The first byte picks
 * the parser: mDNS messages (names_mdns_parse, what any host sends to 5353), dnsmasq or odhcpd lease
 * files (names_leases_parse: a host picks its DHCP hostname, the server writes it). Every name that
 * comes out must be text the device table accepts (device_name_valid) and no longer than the bound;
 * every record must name a host; parsing the same input twice gives the same answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/core/device.h"
#include "firewall/runtime/names.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t seen;

static void on_record(void *arg, const struct names_mdns_record *r)
{
	(void)arg;
	CHECK(r->host[0] && device_name_valid(r->host));
	CHECK(strlen(r->host) <= DEVICE_NAME_MAX);
	CHECK(device_name_valid(r->instance));
	CHECK(r->kind != NAMES_MDNS_SERVICE || r->instance[0]);
	seen++;
}

static void on_lease(void *arg, const struct names_lease *l)
{
	(void)arg;
	CHECK(l->name[0] && device_name_valid(l->name));
	CHECK(l->naddrs <= NAMES_LEASE_ADDRS);
	CHECK(!l->has_mac || mac_usable(l->mac));
	CHECK(l->has_mac || l->naddrs > 0);
	seen++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t first;
	long n1, n2;

	if (size < 1)
		return 0;
	seen = 0;
	if (data[0] % 3 == 0) {
		n1 = names_mdns_parse(data + 1, size - 1, on_record, NULL);
		CHECK(n1 == -1 || (size_t)n1 == seen);
		CHECK(n1 <= NAMES_MDNS_MAX_RRS);
		first = seen;
		n2 = names_mdns_parse(data + 1, size - 1, on_record, NULL);
		CHECK(n1 == n2 && seen == 2 * first);
	} else {
		enum names_lease_format fmt = data[0] % 3 == 1 ? NAMES_DNSMASQ : NAMES_ODHCPD;
		size_t bad;

		n1 = names_leases_parse(fmt, (const char *)data + 1, size - 1, 1700000000, on_lease, NULL, &bad);
		CHECK(n1 == -1 || (size_t)n1 == seen);
		CHECK(n1 <= NAMES_LEASES_MAX);
	}
	return 0;
}
