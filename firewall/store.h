/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Durable rule state: a snapshot file plus an append-only journal in state_dir.
 * Every store_put/store_del is on disk (fsync) before it returns 0: the caller answers the client
 * only after that. store_snapshot writes the whole table to a temporary file, fsyncs, renames it
 * over the snapshot (atomic) and truncates the journal. A torn last journal line (crash while
 * writing) is ignored on load; any other damage is reported with file:line and loading fails. */
#ifndef IGDD_STORE_H
#define IGDD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "rule.h"

struct store;

/* Opens (creating state_dir if needed) and takes a lock file so two daemons cannot share it. */
struct store *store_open(const char *state_dir, char *err, size_t errlen);
void store_close(struct store *st);

/* Replays snapshot then journal; cb gets each surviving rule once (later puts win, dels remove).
 * Returns 0, or -1 with a message in err. */
int store_load(struct store *st, int (*cb)(void *arg, const struct rule *r), void *arg, char *err, size_t errlen);
/* Journal one added or changed rule / one deleted id. 0 on success (durable), -1 with errno set. */
int store_put(struct store *st, const struct rule *r);
int store_del(struct store *st, uint32_t id);
/* Rewrite the snapshot from the full table and empty the journal. */
int store_snapshot(struct store *st, const struct rule *const *rules, size_t n);
/* Journal lines written since the last snapshot (the core snapshots past a threshold). */
size_t store_journal_lines(const struct store *st);

/* Small named values kept beside the rules (e.g. "next_id", "uuid", "epoch"), one file per key,
 * written atomically. get returns 0 and fills buf, or -1 if absent. */
int store_meta_get(struct store *st, const char *key, char *buf, size_t len);
int store_meta_set(struct store *st, const char *key, const char *value);

#endif
