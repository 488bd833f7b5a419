/* SPDX-License-Identifier: GPL-2.0-or-later */
/* OpenBSD-style logging: stderr when debugging (-d), syslog otherwise.
 * log_warn/fatal append strerror(errno); the *x variants do not.
 * Bad input -> log_warnx and drop; broken invariant -> fatalx. */
#ifndef IGDD_LOG_H
#define IGDD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

void log_init(const char *ident, int to_stderr, int verbose);
void log_setverbose(int verbose);
int log_getverbose(void);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line that a client can cause at will (a request the firewall refuses) is logged at most once per
 * interval: log_limit_pass says whether to log now, and how many were left out since the last one. */
struct log_limit {
	uint64_t next_ms;
	unsigned long dropped;
};
bool log_limit_pass(struct log_limit *l, unsigned interval_ms, unsigned long *dropped);
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
