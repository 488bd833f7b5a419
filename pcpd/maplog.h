/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Mapping records for the operator: one line per mapping pcpd creates or removes, with the time, the
 * subscriber, and its internal and external endpoints. With the deterministic block table
 * (`pcpd --print-blocks`, cgn.h) this is all a CGN operator must keep to say who used an address and
 * port at a time (RFC 7422): no per-flow log. One line, fields in a fixed order:
 *
 *   2026-12-04T09:00:00Z create udp subscriber=100.64.0.10 internal=100.64.0.10:4000 external=203.0.113.1:1050 lifetime=600 via=pcp id=42
 *   2026-12-04T09:10:00Z expire udp subscriber=100.64.0.10 internal=100.64.0.10:4000 external=203.0.113.1:1050 lifetime=600 via=pcp id=42
 *
 * verbs: create, delete (asked for, by the client or the operator), expire (its lease ran out).
 * A PEER adds peer=ADDR:PORT after external=. IPv6 endpoints are in brackets; a pinhole's external
 * endpoint is its internal one (no translation). Refreshes are not recorded: the endpoints stay.
 * maplog_format is pure; the writer (pcpd/main.c) appends each line to mapping_log or syslog. */
#ifndef IGDD_MAPLOG_H
#define IGDD_MAPLOG_H

#include <stddef.h>
#include <stdint.h>

#include "firewall/core/core.h"

#define MAPLOG_LINE_MAX 320

/* Does this event make a record? (create, delete, expire; not a refresh) */
bool maplog_records(enum core_event ev);
/* The record of r's event ev at wall-clock time `wall` (unix seconds, UTC), with a newline, into buf.
 * Returns its length, or 0 if buf is too small or the event makes no record. */
size_t maplog_format(char *buf, size_t len, int64_t wall, enum core_event ev, const struct rule *r);

#endif
