/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What several Check suites share: a clock the test drives, address literals that must parse, an
 * in-memory firewall, a pinhole request, and the runner. Header-only: each suite is one binary. */
#ifndef IGDD_TESTUTIL_H
#define IGDD_TESTUTIL_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include "firewall/nft/fw.h"

/* The wall clock the core sees (core_params.clock = fake_clock); tests move it forward. */
static int64_t fake_now __attribute__((unused)) = 1700000000;

static inline int64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

/* An address literal of the test itself: a typo fails the test, not silently "::". */
static inline struct in6_addr A(const char *s)
{
	struct in6_addr a;

	ck_assert_msg(addr_parse(s, &a), "bad test address %s", s);
	return a;
}

/* The in-memory backend with a standalone `inet igdd` config. */
static inline struct fw *mem_fw(void)
{
	struct fw_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.family, "inet");
	strcpy(cfg.table, "igdd");
	cfg.mode = FW_STANDALONE;
	return fw_mem_new(&cfg);
}

/* Kernel elements as the backends take them: a pinhole to addr (proto, port, kernel timeout) and an
 * IPv4 port mapping ext_port -> to:port (IPv4 literal). */
static inline struct fw_elem elem_pinhole(const char *addr, uint16_t proto, uint16_t port, uint64_t timeout_ms)
{
	struct fw_elem e = { .proto = proto, .port = port, .timeout_ms = timeout_ms };

	e.addr = A(addr);
	return e;
}

static inline struct fw_elem elem_portmap(uint16_t proto, uint16_t ext_port, const char *to, uint16_t port)
{
	struct fw_elem e = { .v4 = true, .proto = proto, .ext_port = ext_port, .port = port };
	char mapped[64];

	snprintf(mapped, sizeof(mapped), "::ffff:%s", to);
	e.addr = A(mapped);
	return e;
}

/* A TCP pinhole to target:port for an hour, asked by owner from origin o (the operator and the household
 * UI are privileged, as igdctl and the web make them). */
static inline struct core_add_req tcp_pinhole_req(const char *target, const char *owner, uint16_t port,
						  enum rule_origin o)
{
	struct core_add_req q;

	memset(&q, 0, sizeof(q));
	q.rule.kind = RULE_PINHOLE;
	q.rule.proto = 6;
	q.rule.int_port = port;
	q.rule.target.use_exact = true;
	q.rule.target.exact = A(target);
	q.rule.owner = A(owner);
	q.rule.origin = o;
	q.rule.lease = 3600;
	q.privileged = o == ORIGIN_CTL || o == ORIGIN_WEB;
	return q;
}

static inline int testutil_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes a test's state directory and everything in it (links themselves, never what they point to).
 * 0, or -1 as nftw says. */
static inline int rm_tree(const char *dir)
{
	return nftw(dir, testutil_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Runs one suite (fork per test) and turns failures into the exit status. */
static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
