/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Mapping records (see maplog.h): formatting only. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "firewall/lib/addr.h"
#include "pcpd/maplog.h"

bool maplog_records(enum core_event ev)
{
	return ev == CORE_EV_ADDED || ev == CORE_EV_DELETED || ev == CORE_EV_EXPIRED;
}

/* "100.64.0.10:4000" or "[2001:db8::5]:4000" */
static void endpoint(char *buf, size_t len, const struct in6_addr *a, uint16_t port)
{
	char s[ADDR_STRLEN];

	addr_str(a, s);
	snprintf(buf, len, addr_is_v4(a) ? "%s:%u" : "[%s]:%u", s, port);
}

size_t maplog_format(char *buf, size_t len, int64_t wall, enum core_event ev, const struct rule *r)
{
	char when[32], proto[8], sub[ADDR_STRLEN], in[ADDR_STRLEN + 8], ex[ADDR_STRLEN + 8], peer[ADDR_STRLEN + 16];
	struct in6_addr addrs[2], ext;
	time_t t = (time_t)wall;
	struct tm tm;
	int n;

	if (!maplog_records(ev) || gmtime_r(&t, &tm) == NULL)
		return 0;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* the address the rule opens now; a rule still pending has none: its exact target, as asked */
	if (rule_addresses(r, addrs) == 0)
		addrs[0] = r->target.exact;
	endpoint(in, sizeof(in), &addrs[0], r->int_port);
	if (r->kind == RULE_PORTMAP) {
		addr_from_v4(&ext, r->ext_addr);
		endpoint(ex, sizeof(ex), &ext, r->ext_port);
	} else {
		snprintf(ex, sizeof(ex), "%s", in);
	}
	peer[0] = '\0';
	if (r->origin == ORIGIN_PCP_PEER) {
		char p[ADDR_STRLEN + 8];

		endpoint(p, sizeof(p), &r->remote, r->remote_port);
		snprintf(peer, sizeof(peer), " peer=%s", p);
	}
	addr_str(&r->owner, sub);
	n = snprintf(buf, len, "%s %s %s subscriber=%s internal=%s external=%s%s lifetime=%u via=%s id=%u\n", when,
		     ev == CORE_EV_ADDED ? "create" : ev == CORE_EV_DELETED ? "delete" : "expire",
		     proto_name(r->proto, proto), sub, in, ex, peer, r->lease, rule_origin_name(r->origin), r->id);
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}
