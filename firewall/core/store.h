/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Durable rule state: a snapshot file plus an append-only journal in state_dir.
 * Every store_put/store_del is on disk (fsync) before it returns 0: the caller answers the client
 * only after that. Group commit: store_queue_put/del only queue their line; store_sync writes every
 * queued line with one write and one fdatasync, so a batch of changes costs one sync. store_snapshot writes the whole table to a temporary file, fsyncs, renames it
 * over the snapshot (atomic) and truncates the journal. A torn last journal line (crash while
 * writing) is ignored on load; a rule line that does not parse is skipped and logged (file:line);
 * damage to the files' structure is reported with file:line and loading fails. */
#ifndef IGDD_STORE_H
#define IGDD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "firewall/core/rule.h"

struct store;

/* Opens (creating state_dir if needed) and takes a lock file so two daemons cannot share it.
 * state_dir must be ours alone: owned by this process or by user (the uid the daemon will run as),
 * writable by no one else, holding only the store's files (and those older versions kept there);
 * a symbolic link, a FIFO or a hard-linked file in place of one of them is refused, never followed.
 * store_open is store_open_for with the process's own uid. NULL with a message in err. */
struct store *store_open(const char *state_dir, char *err, size_t errlen);
struct store *store_open_for(const char *state_dir, uid_t user, char *err, size_t errlen);
/* Hands state_dir and our entries in it (only those, each through a file descriptor) to uid:gid,
 * before the daemon becomes that user. 0, or -1 with a message in err. */
int store_give_to(struct store *st, uid_t uid, gid_t gid, char *err, size_t errlen);
/* Can this process create files in state_dir (as a snapshot will)? 0, or -1 with strerror in err.
 * Called once the daemon runs as its user: a directory it cannot write is an error at start. */
int store_check_writable(struct store *st, char *err, size_t errlen);
void store_close(struct store *st);

/* Replays snapshot then journal; cb gets each surviving rule once (later puts win, dels remove),
 * kept only as long as its description: read it with rule_copy, never by assignment (rule.h).
 * Returns 0, or -1 with a message in err. */
int store_load(struct store *st, int (*cb)(void *arg, const struct rule *r), void *arg, char *err, size_t errlen);
/* Journal one added or changed rule / one deleted id. 0 on success (durable), -1 with errno set. */
int store_put(struct store *st, const struct rule *r);
int store_del(struct store *st, uint32_t id);
/* Queue one line for the next store_sync (nothing reaches the file yet). 0, or -1 with errno
 * (EINVAL: a rule the journal cannot hold; ENOMEM) and nothing queued. */
int store_queue_put(struct store *st, const struct rule *r);
int store_queue_del(struct store *st, uint32_t id);
/* Writes the queued lines and fdatasyncs: 0 when they are durable (also when none were queued: no
 * sync then), -1 with errno when none of them is in the journal. The queue is empty afterwards. It is
 * the two halves below in one call (and store_rewind when the sync fails): one write path. */
int store_sync(struct store *st);
/* store_sync in two halves, for a caller that makes the journal durable without holding its own lock
 * (the core's group commit): store_write writes the queued lines (in the file, not yet durable: 0, or -1
 * with errno and none of them there), store_datasync makes what was written durable (0 — at once when
 * nothing was written since the last one —, or -1 with errno: then store_rewind to a mark from before
 * the write). store_datasync touches only the journal's
 * descriptor: it may run on another thread while the owner queues lines, but not beside any other call
 * that writes the file (store_write, store_rewind, a snapshot). */
int store_write(struct store *st);
int store_datasync(struct store *st);
/* The journal's length, to go back to when a batch already synced must be undone (the firewall
 * refused it): store_rewind drops queued lines and cuts the journal back to the mark, durably. The
 * mark is void after a snapshot. 0, or -1 with errno. */
struct store_mark {
	uint64_t jlen;
	size_t jlines;
};
struct store_mark store_mark(const struct store *st);
int store_rewind(struct store *st, const struct store_mark *m);
/* Journal writes with fdatasync so far (tests count them). */
uint64_t store_syncs(const struct store *st);
/* Rewrite the snapshot from the full table and empty the journal. -1 (EBUSY) while lines are queued. */
int store_snapshot(struct store *st, const struct rule *const *rules, size_t n);
/* The same from an iterator: next fills *out with the next rule and returns true, false at the end
 * (the core's table keeps no struct rule to point at). */
int store_snapshot_each(struct store *st, bool (*next)(void *arg, struct rule *out), void *arg);
/* Journal lines written since the last snapshot (the core snapshots past a threshold). */
size_t store_journal_lines(const struct store *st);

/* Small named values kept beside the rules (e.g. "next_id", "uuid", "epoch"), one file per key,
 * written atomically. get returns 0 and fills buf, or -1 if absent. */
int store_meta_get(struct store *st, const char *key, char *buf, size_t len);
int store_meta_set(struct store *st, const char *key, const char *value);

#endif
