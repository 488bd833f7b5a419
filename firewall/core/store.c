/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Durable rule state in state_dir (see store.h):
 *
 *   rules.snap     one rule_format line per rule, then "end count=N" so a cut-short file is noticed
 *   rules.journal  "put <rule line>" / "del id=N"; the lines of one sync (one line, or a whole group
 *                  commit) go in with one write() and one fdatasync; then zeros up to the file's end
 *   lock           flock(LOCK_EX|LOCK_NB) held while open: one daemon per state_dir
 *   meta.<key>     one small value, replaced atomically (temp file, fsync, rename, fsync dir)
 *
 * The journal is written with pwrite at the end of its last complete line, never O_APPEND: a
 * failed or short write is cut back with ftruncate, and a torn tail left by a crash is dropped
 * before the next line goes in, so a new line is never glued to half an old one.
 *
 * The file grows by JOURNAL_CHUNK at a time, the room past the last line written with zeros: a group's
 * lines then overwrite blocks the file system has already allocated, and their fdatasync writes those
 * blocks without a metadata commit (on ext4, no jbd2 transaction: ~15 % of a 16-client UPnP burst's
 * throughput went to it); only the sync after a growth commits the new size. Reading, a run of NUL
 * bytes ends a line without making one: the zero tail is skipped, and so is a hole a crash left in
 * a write never acknowledged (a line cut short by one is dropped, like a torn last line).
 *
 * The daemon opens state_dir as root and then runs as its own user, who owns the directory: were that
 * user compromised, it could plant anything here for root to open at the next start. So state_dir
 * must be ours alone (owned by root or that user, writable by no one else, holding only the names
 * below), every file is opened relative to the directory's fd without following a symbolic link,
 * a temporary file is always created afresh (O_EXCL), and only our own entries change hands.
 *
 * Loading: a rule line that does not parse (a damaged or hand-edited file) is skipped and logged with
 * file:line, so one bad rule does not keep every other one (and the daemon) from starting; damage to
 * the files' structure (a snapshot without its end line, a duplicate id, a journal line that is
 * neither put nor del) still fails the load with file:line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firewall/lib/log.h"
#include "firewall/core/rule.h"
#include "firewall/core/store.h"

#define SNAP_FILE      "rules.snap"
#define SNAP_TMP       "rules.snap.tmp"
#define JOURNAL_FILE   "rules.journal"
#define LOCK_FILE      "lock"
#define META_PREFIX    "meta."
#define META_KEY_MAX   32
#define META_VALUE_MAX 4096
#define TMP_SUFFIX     ".tmp"
/* names older igdd versions kept here (the UUID is meta.upnp_uuid now; libupnp's empty web root) */
#define LEGACY_UUID    "upnp_uuid"
#define LEGACY_WWW     "upnp-www"
/* a file system of its own has one: root's, left alone */
#define LOST_FOUND     "lost+found"
#define PUT_PREFIX     "put "
#define DEL_PREFIX     "del id="
/* a journal or snapshot line: "put " + rule line + "\n" */
#define LINE_MAX_BYTES (RULE_LINE_MAX + 16)
#define READ_BUF       (64 * 1024)
/* how much the journal grows at once (zeros, overwritten in place by the lines to come) */
#define JOURNAL_CHUNK  (64 * 1024)

struct store {
	int dirfd;
	int lockfd;
	int jfd;
	off_t jlen;      /* end of the last complete journal line: where the next one goes */
	off_t jsize;     /* current file size: [jlen, jsize) is zeros unless tail_dirty */
	bool tail_dirty; /* what follows jlen may be a torn line (found at open, or a write failed) */
	size_t jlines;
	uint64_t syncs;  /* journal fdatasyncs so far */
	bool unsynced;   /* store_write wrote lines that no store_datasync has synced yet */
	/* lines queued by store_queue_put/del, written by the next store_sync */
	char *pend;
	size_t plen, pcap, plines;
	char *dir;
};

static int set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---------------------------------------------------------------- our entries */

static bool meta_key_ok(const char *key)
{
	size_t n = key != NULL ? strnlen(key, META_KEY_MAX + 1) : 0;

	if (n == 0 || n > META_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

enum entry_kind { ENTRY_FOREIGN, ENTRY_FILE, ENTRY_DIR, ENTRY_LEFT_ALONE };

/* What a name in state_dir is: one of our files, our (legacy) directory, lost+found, or not ours. */
static enum entry_kind entry_kind(const char *name)
{
	static const char *const files[] = { LOCK_FILE, SNAP_FILE, SNAP_TMP, JOURNAL_FILE, LEGACY_UUID,
					     LEGACY_UUID TMP_SUFFIX };
	size_t pre = strlen(META_PREFIX), n;
	char key[META_KEY_MAX + 1];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(name, files[i]) == 0)
			return ENTRY_FILE;
	if (strcmp(name, LEGACY_WWW) == 0)
		return ENTRY_DIR;
	if (strcmp(name, LOST_FOUND) == 0)
		return ENTRY_LEFT_ALONE;
	if (strncmp(name, META_PREFIX, pre) != 0)
		return ENTRY_FOREIGN;
	n = strlen(name + pre);
	if (n > strlen(TMP_SUFFIX) && strcmp(name + pre + n - strlen(TMP_SUFFIX), TMP_SUFFIX) == 0)
		n -= strlen(TMP_SUFFIX);
	if (n == 0 || n > META_KEY_MAX)
		return ENTRY_FOREIGN;
	memcpy(key, name + pre, n);
	key[n] = '\0';
	return meta_key_ok(key) ? ENTRY_FILE : ENTRY_FOREIGN;
}

/* Opens one of our files relative to the directory: never through a symbolic link (O_NOFOLLOW: ELOOP),
 * never blocking on a FIFO, and only a regular file with a single link (else EINVAL, EMLINK): a file
 * planted by whoever else could write here must not lead root, which opens these files at the next
 * start, to read or write another. */
static int open_entry(int dirfd, const char *name, int flags)
{
	struct stat sb;
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	int e;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0)
		e = errno;
	else if (!S_ISREG(sb.st_mode))
		e = EINVAL;
	else if (sb.st_nlink != 1)
		e = EMLINK;
	else
		return fd;
	close(fd);
	errno = e;
	return -1;
}

/* A temporary file made afresh: what had its name (a crash's leftover, or something planted) goes
 * first, and O_EXCL makes sure the file written is the one just created. */
static int create_tmp(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return -1;
	return openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* What open_entry's refusals mean, for a message. */
static const char *entry_strerror(int e)
{
	switch (e) {
	case ELOOP:  return "a symbolic link (igdd follows none in its state_dir)";
	case EINVAL: return "not a regular file";
	case EMLINK: return "a file with other hard links";
	default:     return strerror(e);
	}
}

/* A name as it may go into a message: an entry's name can hold any byte but '/' and NUL. */
static const char *printable(const char *name, char *buf, size_t len)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < len; i++)
		buf[i] = name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?';
	buf[i] = '\0';
	return buf;
}

static bool owner_ok(uid_t owner, uid_t user)
{
	return owner == geteuid() || owner == user;
}

/* One entry of state_dir checked: ours by name, of the right type, owned by us. */
static int check_entry(struct store *st, const char *name, uid_t user, char *err, size_t errlen)
{
	enum entry_kind kind = entry_kind(name);
	struct stat sb;
	char pn[64];

	if (kind == ENTRY_FOREIGN)
		return set_err(err, errlen, "state_dir %s holds \"%s\", which is not igdd's: a state_dir must be "
			       "igdd's alone (point state_dir at a directory of its own, e.g. /var/lib/igdd)",
			       st->dir, printable(name, pn, sizeof(pn)));
	if (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return set_err(err, errlen, "%s/%s: %s", st->dir, name, strerror(errno));
	if (S_ISLNK(sb.st_mode))
		return set_err(err, errlen, "%s/%s is %s: remove it", st->dir, name, entry_strerror(ELOOP));
	if (kind == ENTRY_LEFT_ALONE)
		return 0;
	if (kind == ENTRY_DIR ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))
		return set_err(err, errlen, "%s/%s is not a %s: remove it", st->dir, name,
			       kind == ENTRY_DIR ? "directory" : "regular file");
	if (kind == ENTRY_FILE && sb.st_nlink != 1)
		return set_err(err, errlen, "%s/%s is %s: remove it", st->dir, name, entry_strerror(EMLINK));
	if (!owner_ok(sb.st_uid, user))
		return set_err(err, errlen, "%s/%s belongs to uid %u, not to igdd: remove it", st->dir, name,
			       (unsigned)sb.st_uid);
	return 0;
}

/* Calls fn for every entry of state_dir but . and ..; stops at the first that fails. */
static int each_entry(struct store *st, int (*fn)(struct store *st, const char *name, void *arg), void *arg,
		      char *err, size_t errlen)
{
	int fd = openat(st->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int rc = 0;

	if (!dp) {
		set_err(err, errlen, "%s: %s", st->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* bounded by the directory's entries */
	while (rc == 0 && (de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			rc = fn(st, de->d_name, arg);
	closedir(dp);
	return rc;
}

struct entry_arg {
	uid_t uid;
	gid_t gid;
	char *err;
	size_t errlen;
};

static int check_one(struct store *st, const char *name, void *arg)
{
	struct entry_arg *a = arg;

	return check_entry(st, name, a->uid, a->err, a->errlen);
}

/* state_dir is ours alone: owned by us (or the user we become), writable by nobody else, holding only
 * our entries. Anything else (/tmp, /run, a home, a shared directory) is refused, not taken over. */
static int check_dir(struct store *st, uid_t user, char *err, size_t errlen)
{
	struct entry_arg a = { .uid = user, .err = err, .errlen = errlen };
	struct stat sb;

	if (fstat(st->dirfd, &sb) < 0)
		return set_err(err, errlen, "%s: %s", st->dir, strerror(errno));
	if (!owner_ok(sb.st_uid, user))
		return set_err(err, errlen, "state_dir %s belongs to uid %u, neither to uid %u nor to the user igdd "
			       "runs as (uid %u): a state_dir must be igdd's alone (chown it, or point state_dir "
			       "at a directory of its own)", st->dir, (unsigned)sb.st_uid, (unsigned)geteuid(),
			       (unsigned)user);
	if (sb.st_mode & (S_IWGRP | S_IWOTH))
		return set_err(err, errlen, "state_dir %s is writable by others (mode %04o): a state_dir must be "
			       "igdd's alone (chmod go-w %s, or point state_dir at a directory of its own)", st->dir,
			       (unsigned)(sb.st_mode & 07777), st->dir);
	return each_entry(st, check_one, &a, err, errlen);
}

/* ---------------------------------------------------------------- open / close */

/* mkdir -p, so a fresh /var/lib/igdd works on first start. */
static int make_dirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -1;
		buf[i] = i < n ? '/' : '\0';
	}
	return 0;
}

/* Offset just past the last '\n' of fd (0 if none): anything after it is a torn line. */
static int last_line_end(int fd, off_t size, off_t *out)
{
	char buf[4096];
	off_t end = size;

	while (end > 0) {
		size_t chunk = end > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)end;
		ssize_t got = pread(fd, buf, chunk, end - (off_t)chunk);

		if (got != (ssize_t)chunk) {
			if (got >= 0)
				errno = EIO;
			return -1;
		}
		for (size_t i = chunk; i > 0; i--) {
			if (buf[i - 1] == '\n') {
				*out = end - (off_t)chunk + (off_t)i;
				return 0;
			}
		}
		end -= (off_t)chunk;
	}
	*out = 0;
	return 0;
}

static int open_journal(struct store *st)
{
	struct stat sb;

	st->jfd = open_entry(st->dirfd, JOURNAL_FILE, O_RDWR | O_CREAT);
	if (st->jfd < 0)
		return -1;
	if (fstat(st->jfd, &sb) < 0)
		return -1;
	st->jsize = sb.st_size;
	if (last_line_end(st->jfd, sb.st_size, &st->jlen) < 0)
		return -1;
	/* zeros or a torn line: not worth telling apart, the first write cuts it (and grows the file anew) */
	st->tail_dirty = st->jsize != st->jlen;
	return 0;
}

static int take_lock(struct store *st, char *err, size_t errlen)
{
	st->lockfd = open_entry(st->dirfd, LOCK_FILE, O_RDWR | O_CREAT);
	if (st->lockfd < 0)
		return set_err(err, errlen, "%s/%s: %s", st->dir, LOCK_FILE, entry_strerror(errno));
	if (flock(st->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return set_err(err, errlen, "%s is in use by another igdd or pcpd (lock held on %s)",
				       st->dir, LOCK_FILE);
		return set_err(err, errlen, "%s/%s: flock: %s", st->dir, LOCK_FILE, strerror(errno));
	}
	return 0;
}

struct store *store_open(const char *state_dir, char *err, size_t errlen)
{
	return store_open_for(state_dir, geteuid(), err, errlen);
}

struct store *store_open_for(const char *state_dir, uid_t user, char *err, size_t errlen)
{
	struct store *st;

	if (state_dir == NULL || state_dir[0] == '\0') {
		set_err(err, errlen, "no state_dir given");
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->dir = strdup(state_dir)) == NULL) {
		free(st);
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	st->dirfd = st->lockfd = st->jfd = -1;
	if (make_dirs(state_dir) < 0) {
		set_err(err, errlen, "%s: cannot create: %s", state_dir, strerror(errno));
		goto fail;
	}
	/* the path is the operator's (it may pass through symbolic links, /var/lib/igdd is one under
	 * systemd's DynamicUser); what is inside is checked and never followed */
	st->dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		set_err(err, errlen, "%s: %s", state_dir, strerror(errno));
		goto fail;
	}
	if (check_dir(st, user, err, errlen) < 0 || take_lock(st, err, errlen) < 0)
		goto fail;
	if (open_journal(st) < 0) {
		set_err(err, errlen, "%s/%s: %s", state_dir, JOURNAL_FILE, entry_strerror(errno));
		goto fail;
	}
	return st;
fail:
	store_close(st);
	return NULL;
}

static int give_one(struct store *st, const char *name, void *arg)
{
	struct entry_arg *a = arg;
	enum entry_kind kind = entry_kind(name);
	int fd, rc;

	if (kind == ENTRY_LEFT_ALONE)
		return 0;
	if (kind == ENTRY_FOREIGN)   /* checked at open: only we wrote here since */
		return check_entry(st, name, a->uid, a->err, a->errlen);
	fd = kind == ENTRY_DIR ? openat(st->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			       : open_entry(st->dirfd, name, O_RDONLY);
	if (fd < 0)
		return set_err(a->err, a->errlen, "%s/%s: %s", st->dir, name, entry_strerror(errno));
	/* through the fd: the very file checked, whatever happens to the name */
	rc = fchown(fd, a->uid, a->gid);
	if (rc < 0)
		set_err(a->err, a->errlen, "chown %s/%s: %s", st->dir, name, strerror(errno));
	close(fd);
	return rc;
}

int store_give_to(struct store *st, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct entry_arg a = { .uid = uid, .gid = gid, .err = err, .errlen = errlen };

	if (st == NULL)
		return set_err(err, errlen, "no store");
	if (fchown(st->dirfd, uid, gid) < 0)
		return set_err(err, errlen, "chown %s: %s", st->dir, strerror(errno));
	return each_entry(st, give_one, &a, err, errlen);
}

int store_check_writable(struct store *st, char *err, size_t errlen)
{
	int fd;

	if (st == NULL)
		return set_err(err, errlen, "no store");
	/* the snapshot's temporary file: what a periodic snapshot will do first */
	fd = create_tmp(st->dirfd, SNAP_TMP);
	if (fd < 0)
		return set_err(err, errlen, "%s", strerror(errno));
	close(fd);
	if (unlinkat(st->dirfd, SNAP_TMP, 0) < 0)
		return set_err(err, errlen, "%s", strerror(errno));
	return 0;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	/* a clean stop leaves no zeros: the file is its lines, as an older igdd (which would take the
	 * zeros for one overlong line) and a reader expect (a crash leaves them: they are skipped) */
	if (st->jfd >= 0 && st->jsize > st->jlen && !st->tail_dirty && ftruncate(st->jfd, st->jlen) < 0)
		log_warn("store: cannot cut the journal's zeros off");
	if (st->jfd >= 0)
		close(st->jfd);
	if (st->lockfd >= 0)
		close(st->lockfd);  /* releases the flock */
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->pend);
	free(st->dir);
	free(st);
}

/* ---------------------------------------------------------------- the journal */

/* Puts the journal back to its last good length (dropping a torn tail or a half-written line). */
static int journal_cut(struct store *st)
{
	if (ftruncate(st->jfd, st->jlen) < 0)
		return -1;
	st->jsize = st->jlen;
	st->tail_dirty = false;
	return 0;
}

/* The file grew to jsize with the lines just written: zeros from there to the next chunk boundary,
 * for the lines to come. Best effort: what it could not write, a later line's write extends. */
static void journal_grow(struct store *st)
{
	static const char zeros[JOURNAL_CHUNK];
	off_t to = (st->jsize / JOURNAL_CHUNK + 1) * JOURNAL_CHUNK;

	/* bounded: each pass writes at least one byte or stops */
	while (st->jsize < to) {
		ssize_t w = pwrite(st->jfd, zeros, (size_t)(to - st->jsize), st->jsize);

		if (w <= 0)
			return;
		st->jsize += w;
	}
}

/* A write or sync of the journal's tail failed (errno saved): cuts the tail back, best effort, and
 * fails with that errno. */
static int journal_fail(struct store *st, int saved)
{
	st->tail_dirty = true;   /* until the cut below succeeds */
	if (journal_cut(st) == 0)
		(void)fdatasync(st->jfd);
	errno = saved;
	return -1;
}

/* Writes complete lines (n bytes) at the journal's end, not yet durable; on failure cuts them back. */
static int journal_write(struct store *st, const char *data, size_t n)
{
	off_t end = st->jlen + (off_t)n;
	ssize_t w;

	if (st->tail_dirty && journal_cut(st) < 0)
		return -1;
	w = pwrite(st->jfd, data, n, st->jlen);
	if (w == (ssize_t)n) {
		if (end > st->jsize) {   /* past the zeros: room for the next lines, synced with these */
			st->jsize = end;
			journal_grow(st);
		}
		return 0;
	}
	/* a short write sets no errno: on a regular file it means the disk or the file size limit is full */
	return journal_fail(st, w >= 0 && w < (ssize_t)n ? ENOSPC : errno);
}

/* Queues one line (n bytes, newline included); nothing is queued on failure. */
static int queue_line(struct store *st, const char *line, size_t n)
{
	if (st->plen + n > st->pcap) {
		size_t ncap = st->pcap ? st->pcap : 4096;
		char *p;

		while (ncap < st->plen + n)
			ncap *= 2;
		p = realloc(st->pend, ncap);
		if (p == NULL)
			return -1;
		st->pend = p;
		st->pcap = ncap;
	}
	memcpy(st->pend + st->plen, line, n);
	st->plen += n;
	st->plines++;
	return 0;
}

int store_queue_put(struct store *st, const struct rule *r)
{
	char line[LINE_MAX_BYTES];
	size_t pre = strlen(PUT_PREFIX);
	int n;

	if (st == NULL || r == NULL) {
		errno = EINVAL;
		return -1;
	}
	memcpy(line, PUT_PREFIX, pre);
	/* a rule rule_format refuses would also be refused on load: keep it out of the journal */
	n = rule_format(r, line + pre, sizeof(line) - pre - 1);
	if (n < 0) {
		errno = EINVAL;
		return -1;
	}
	line[pre + (size_t)n] = '\n';
	return queue_line(st, line, pre + (size_t)n + 1);
}

int store_queue_del(struct store *st, uint32_t id)
{
	char line[64];
	int n;

	if (st == NULL || id > RULE_ID_MAX) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(line, sizeof(line), DEL_PREFIX "%u\n", id);
	return queue_line(st, line, (size_t)n);
}

int store_write(struct store *st)
{
	int rc;

	if (st == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (st->plen == 0)
		return 0;
	rc = journal_write(st, st->pend, st->plen);
	if (rc == 0) {
		st->jlen += (off_t)st->plen;   /* in the file; a failed store_datasync is undone by store_rewind */
		st->jlines += st->plines;
		st->unsynced = true;
	}
	st->plen = st->plines = 0;
	return rc;
}

int store_datasync(struct store *st)
{
	if (st == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (!st->unsynced)
		return 0;   /* nothing written since the last sync: a batch that changed nothing costs none */
	st->syncs++;
	st->unsynced = false;
	return fdatasync(st->jfd);
}

/* What the group commit does (store_write, store_datasync, store_rewind on failure), in one call: the
 * queued lines are durable, all of them, or none is in the journal. */
int store_sync(struct store *st)
{
	struct store_mark m = store_mark(st);
	int saved;

	if (store_write(st) < 0)
		return -1;
	if (store_datasync(st) == 0)
		return 0;
	saved = errno;
	(void)store_rewind(st, &m);
	errno = saved;
	return -1;
}

/* The single-change forms: queue then sync. A line queued before (a caller mixing the two) goes too. */
int store_put(struct store *st, const struct rule *r)
{
	return store_queue_put(st, r) < 0 ? -1 : store_sync(st);
}

int store_del(struct store *st, uint32_t id)
{
	return store_queue_del(st, id) < 0 ? -1 : store_sync(st);
}

struct store_mark store_mark(const struct store *st)
{
	struct store_mark m = { 0, 0 };

	if (st != NULL) {
		m.jlen = (uint64_t)st->jlen;
		m.jlines = st->jlines;
	}
	return m;
}

int store_rewind(struct store *st, const struct store_mark *m)
{
	if (st == NULL || m == NULL || (off_t)m->jlen > st->jlen) {
		errno = EINVAL;
		return -1;
	}
	st->plen = st->plines = 0;
	if ((off_t)m->jlen == st->jlen && !st->tail_dirty)
		return 0;
	st->jlen = (off_t)m->jlen;
	st->jlines = m->jlines;
	/* until the cut succeeds, the lines past jlen are no journal's: the next write cuts them first */
	st->tail_dirty = true;
	if (journal_cut(st) < 0 || fdatasync(st->jfd) < 0)
		return -1;
	return 0;
}

uint64_t store_syncs(const struct store *st)
{
	return st != NULL ? st->syncs : 0;
}

size_t store_journal_lines(const struct store *st)
{
	return st != NULL ? st->jlines : 0;
}

/* ---------------------------------------------------------------- the snapshot */

struct out_buf {
	int fd;
	size_t used;
	char data[READ_BUF];
};

static int out_flush(struct out_buf *o)
{
	size_t done = 0;

	/* bounded: every pass writes at least one byte or returns */
	while (done < o->used) {
		ssize_t w = write(o->fd, o->data + done, o->used - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		done += (size_t)w;
	}
	o->used = 0;
	return 0;
}

static int out_line(struct out_buf *o, const char *s, size_t n)
{
	if (n + 1 > sizeof(o->data) - o->used && out_flush(o) < 0)
		return -1;
	memcpy(o->data + o->used, s, n);
	o->data[o->used + n] = '\n';
	o->used += n + 1;
	return 0;
}

static int write_rules(struct out_buf *o, bool (*next)(void *arg, struct rule *out), void *arg)
{
	char line[RULE_LINE_MAX + 1];
	struct rule *r = malloc(sizeof(*r));
	size_t n = 0;
	int len;

	if (r == NULL)
		return -1;
	for (; next(arg, r); n++) {
		len = rule_format(r, line, sizeof(line));
		if (len < 0) {
			free(r);
			errno = EINVAL;
			return -1;
		}
		if (out_line(o, line, (size_t)len) < 0) {
			free(r);
			return -1;
		}
	}
	free(r);
	len = snprintf(line, sizeof(line), "end count=%zu", n);
	if (out_line(o, line, (size_t)len) < 0 || out_flush(o) < 0)
		return -1;
	return fsync(o->fd);
}

static int write_snapshot_tmp(int fd, bool (*next)(void *arg, struct rule *out), void *arg)
{
	/* the 64 KiB buffer lives on the heap: callers may run on small thread stacks */
	struct out_buf *o = malloc(sizeof(*o));
	int rc, saved;

	if (o == NULL)
		return -1;
	o->fd = fd;
	o->used = 0;
	rc = write_rules(o, next, arg);
	saved = errno;
	free(o);
	errno = saved;
	return rc;
}

struct rule_array {
	const struct rule *const *rules;
	size_t n, at;
};

static bool array_next(void *arg, struct rule *out)
{
	struct rule_array *a = arg;

	if (a->at == a->n)
		return false;
	rule_copy(out, a->rules[a->at++]);
	return true;
}

int store_snapshot(struct store *st, const struct rule *const *rules, size_t n)
{
	struct rule_array a = { rules, n, 0 };

	if (rules == NULL && n > 0) {
		errno = EINVAL;
		return -1;
	}
	return store_snapshot_each(st, array_next, &a);
}

int store_snapshot_each(struct store *st, bool (*next)(void *arg, struct rule *out), void *arg)
{
	int fd, saved;

	if (st == NULL || next == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (st->plen != 0) {
		errno = EBUSY;   /* queued lines would land after the snapshot they may not be part of */
		return -1;
	}
	fd = create_tmp(st->dirfd, SNAP_TMP);
	if (fd < 0)
		return -1;
	if (write_snapshot_tmp(fd, next, arg) < 0) {
		saved = errno;
		close(fd);
		unlinkat(st->dirfd, SNAP_TMP, 0);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0 || renameat(st->dirfd, SNAP_TMP, st->dirfd, SNAP_FILE) < 0) {
		saved = errno;
		unlinkat(st->dirfd, SNAP_TMP, 0);
		errno = saved;
		return -1;
	}
	if (fsync(st->dirfd) < 0)
		return -1;
	/* Had we crashed before this point, replaying the old journal over the new snapshot gives the
	 * same table (every journal entry is already in it), so emptying it now is safe. */
	st->jlen = 0;
	if (journal_cut(st) < 0 || fsync(st->jfd) < 0)
		return -1;
	st->jlines = 0;
	return 0;
}

/* ---------------------------------------------------------------- loading */

/* The rules being rebuilt: an array in first-seen order, plus an id -> index+1 hash (0 = empty). Each
 * rule is kept only as long as its description (rule_used_size: ~190 bytes, not 440; a million rules
 * are loaded beside the table the core builds from them), its id beside it for the hash's probes. */
struct table {
	struct rule **rules;
	uint32_t *ids;
	bool *alive;
	size_t n, cap;
	uint32_t *slots;
	size_t nslots;   /* power of two, kept at least twice n */
};

static size_t slot_of(const struct table *t, uint32_t id)
{
	uint32_t h = id * 2654435761u;  /* Knuth's multiplicative hash spreads sequential ids */
	size_t mask = t->nslots - 1;
	size_t i = h & mask;

	/* bounded: the table is never more than half full, so an empty slot comes within nslots steps */
	for (size_t k = 0; k < t->nslots; k++, i = (i + 1) & mask) {
		if (t->slots[i] == 0 || t->ids[t->slots[i] - 1] == id)
			return i;
	}
	return SIZE_MAX;
}

static int table_grow(struct table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	size_t nslots = cap * 2;
	struct rule **rules = realloc(t->rules, cap * sizeof(*rules));
	uint32_t *ids;
	bool *alive;

	if (rules == NULL)
		return -1;
	t->rules = rules;
	ids = realloc(t->ids, cap * sizeof(*ids));
	if (ids == NULL)
		return -1;
	t->ids = ids;
	alive = realloc(t->alive, cap * sizeof(*alive));
	if (alive == NULL)
		return -1;
	t->alive = alive;
	free(t->slots);
	t->slots = calloc(nslots, sizeof(*t->slots));
	if (t->slots == NULL)
		return -1;
	t->nslots = nslots;
	t->cap = cap;
	for (size_t i = 0; i < t->n; i++)
		t->slots[slot_of(t, t->ids[i])] = (uint32_t)(i + 1);
	return 0;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->rules[i]);
	free(t->rules);
	free(t->ids);
	free(t->alive);
	free(t->slots);
}

/* Returns 1 if id was already there (and replaced), 0 if added, -1 on out of memory. */
static int table_put(struct table *t, const struct rule *r)
{
	size_t s;

	struct rule *copy = malloc(rule_used_size(r));

	if (copy == NULL || (t->n == t->cap && table_grow(t) < 0)) {
		free(copy);
		return -1;
	}
	rule_copy(copy, r);
	s = slot_of(t, r->id);
	if (t->slots[s] != 0) {
		size_t i = t->slots[s] - 1;
		bool was = t->alive[i];

		free(t->rules[i]);
		t->rules[i] = copy;
		t->alive[i] = true;
		return was ? 1 : 0;
	}
	t->rules[t->n] = copy;
	t->ids[t->n] = r->id;
	t->alive[t->n] = true;
	t->slots[s] = (uint32_t)++t->n;
	return 0;
}

static void table_del(struct table *t, uint32_t id)
{
	size_t s;

	if (t->nslots == 0)
		return;
	s = slot_of(t, id);
	if (t->slots[s] != 0)
		t->alive[t->slots[s] - 1] = false;  /* the slot stays: a later put revives it in place */
}

/* Buffered line reader; a line longer than LINE_MAX_BYTES is an error, not a silent split. */
struct line_reader {
	int fd;
	char buf[READ_BUF];
	size_t start, end;
	bool eof;
	bool nul_breaks;   /* the journal: a run of NULs ends a line without making one (see the top) */
	size_t dropped;    /* line pieces a NUL run cut short */
};

/* The next newline in the buffer (NULL if none), after skipping a piece cut short by a run of NULs,
 * and the run, if the buffer holds one before that newline. (Looks no further than the next line: per
 * line, not per buffer; the newline, found first, is still the next one after the run.) */
static char *skip_nul_run(struct line_reader *lr)
{
	char *at = lr->buf + lr->start;
	char *nl = memchr(at, '\n', lr->end - lr->start);
	char *nul = memchr(at, '\0', nl != NULL ? (size_t)(nl - at) : lr->end - lr->start);

	if (nul == NULL)
		return nl;
	if (nul > at)
		lr->dropped++;
	lr->start = (size_t)(nul - lr->buf);
	/* bounded by the buffer */
	while (lr->start < lr->end && lr->buf[lr->start] == '\0')
		lr->start++;
	return nl;
}

enum read_result { LINE_OK, LINE_TORN, LINE_EOF, LINE_TOO_LONG, LINE_ERROR };

static enum read_result read_line(struct line_reader *lr, const char **line, size_t *len)
{
	/* bounded: each pass either returns or reads more bytes (or reaches eof) */
	for (;;) {
		char *nl;
		ssize_t got;

		nl = lr->nul_breaks ? skip_nul_run(lr) : memchr(lr->buf + lr->start, '\n', lr->end - lr->start);

		if (nl != NULL) {
			*line = lr->buf + lr->start;
			*len = (size_t)(nl - *line);
			lr->start += *len + 1;
			return *len > LINE_MAX_BYTES ? LINE_TOO_LONG : LINE_OK;
		}
		if (lr->end - lr->start > LINE_MAX_BYTES)
			return LINE_TOO_LONG;
		if (lr->eof) {
			if (lr->start == lr->end)
				return LINE_EOF;
			*line = lr->buf + lr->start;
			*len = lr->end - lr->start;
			lr->start = lr->end;
			return LINE_TORN;
		}
		memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
		lr->end -= lr->start;
		lr->start = 0;
		got = read(lr->fd, lr->buf + lr->end, sizeof(lr->buf) - lr->end);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return LINE_ERROR;
		if (got == 0)
			lr->eof = true;
		lr->end += (size_t)got;
	}
}

struct loader {
	struct store *st;
	struct table t;
	struct line_reader lr;
	const char *file;
	size_t lineno;
	size_t replayed;  /* complete journal lines */
	char *err;
	size_t errlen;
	char msg[256];
};

static int load_fail(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int load_fail(struct loader *ld, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return set_err(ld->err, ld->errlen, "%s/%s:%zu: %s", ld->st->dir, ld->file, ld->lineno, msg);
}

/* Opens a state file for reading; *absent set when it does not exist (not an error). */
static int loader_open(struct loader *ld, const char *file, bool *absent)
{
	ld->file = file;
	ld->lineno = 0;
	ld->lr.start = ld->lr.end = 0;
	ld->lr.eof = false;
	ld->lr.nul_breaks = strcmp(file, JOURNAL_FILE) == 0;
	ld->lr.dropped = 0;
	*absent = false;
	ld->lr.fd = open_entry(ld->st->dirfd, file, O_RDONLY);
	if (ld->lr.fd >= 0)
		return 0;
	if (errno == ENOENT) {
		*absent = true;
		return 0;
	}
	return set_err(ld->err, ld->errlen, "%s/%s: %s", ld->st->dir, file, entry_strerror(errno));
}

/* A rule line that does not parse: said, and left out. */
static void load_skip(struct loader *ld)
{
	log_warnx("store: %s/%s:%zu: %s; the rule on this line is skipped", ld->st->dir, ld->file, ld->lineno,
		  ld->msg);
}

static int parse_end_line(struct loader *ld, const char *line, size_t len, size_t count)
{
	char want[48];
	int n = snprintf(want, sizeof(want), "end count=%zu", count);

	if (len != (size_t)n || memcmp(line, want, len) != 0)
		return load_fail(ld, "bad end line (expected \"%s\")", want);
	return 0;
}

static int read_err(struct loader *ld, enum read_result rr)
{
	if (rr == LINE_TOO_LONG)
		return load_fail(ld, "line too long");
	return load_fail(ld, "read: %s", strerror(errno));
}

static int load_snapshot(struct loader *ld)
{
	const char *line;
	size_t len, count = 0;
	enum read_result rr;
	bool absent;
	struct rule r;

	if (loader_open(ld, SNAP_FILE, &absent) < 0 || absent)
		return absent ? 0 : -1;
	/* bounded by the file's size: each line consumes bytes */
	while ((rr = read_line(&ld->lr, &line, &len)) == LINE_OK) {
		ld->lineno++;
		if (len >= 4 && memcmp(line, "end ", 4) == 0) {
			if (parse_end_line(ld, line, len, count) < 0)
				return -1;
			rr = read_line(&ld->lr, &line, &len);
			ld->lineno++;
			return rr == LINE_EOF ? 0 : load_fail(ld, "data after the end line");
		}
		count++;
		if (!rule_parse(line, len, &r, ld->msg, sizeof(ld->msg))) {
			load_skip(ld);
			continue;
		}
		switch (table_put(&ld->t, &r)) {
		case -1: return load_fail(ld, "out of memory");
		case 1: return load_fail(ld, "duplicate id %u", r.id);
		default: break;
		}
	}
	ld->lineno++;
	if (rr == LINE_EOF || rr == LINE_TORN)
		return load_fail(ld, "truncated snapshot (no end line)");
	return read_err(ld, rr);
}

static int replay_line(struct loader *ld, const char *line, size_t len)
{
	size_t pl = strlen(PUT_PREFIX), dl = strlen(DEL_PREFIX);
	struct rule r;

	if (len > pl && memcmp(line, PUT_PREFIX, pl) == 0) {
		if (!rule_parse(line + pl, len - pl, &r, ld->msg, sizeof(ld->msg))) {
			load_skip(ld);
			return 0;
		}
		return table_put(&ld->t, &r) < 0 ? load_fail(ld, "out of memory") : 0;
	}
	if (len > dl && len - dl <= 10 && memcmp(line, DEL_PREFIX, dl) == 0) {
		char num[16];
		char *end;
		unsigned long id;

		memcpy(num, line + dl, len - dl);
		num[len - dl] = '\0';
		errno = 0;
		id = strtoul(num, &end, 10);
		if (num[0] < '0' || num[0] > '9' || *end != '\0' || errno != 0 || id > RULE_ID_MAX)
			return load_fail(ld, "del: bad id");
		/* a del of an unknown id is fine: the snapshot may already reflect it */
		table_del(&ld->t, (uint32_t)id);
		return 0;
	}
	return load_fail(ld, "expected \"put ...\" or \"del id=N\"");
}

static int load_journal(struct loader *ld)
{
	const char *line;
	size_t len;
	enum read_result rr;
	bool absent;

	if (loader_open(ld, JOURNAL_FILE, &absent) < 0 || absent)
		return absent ? 0 : -1;
	while ((rr = read_line(&ld->lr, &line, &len)) == LINE_OK) {
		ld->lineno++;
		if (replay_line(ld, line, len) < 0)
			return -1;
		ld->replayed++;
	}
	ld->lineno++;
	/* a line a NUL run cut short is a write a crash interrupted: never acknowledged, like a torn last line */
	if (ld->lr.dropped > 0)
		log_warnx("store: %s/%s: %zu line(s) a crash cut short dropped (never acknowledged)", ld->st->dir,
			  JOURNAL_FILE, ld->lr.dropped);
	if (rr == LINE_EOF || rr == LINE_TORN)
		return 0;
	return read_err(ld, rr);
}

static int hand_out(struct loader *ld, int (*cb)(void *arg, const struct rule *r), void *arg)
{
	for (size_t i = 0; i < ld->t.n; i++) {
		if (!ld->t.alive[i])
			continue;
		if (cb(arg, ld->t.rules[i]) != 0)
			return set_err(ld->err, ld->errlen, "%s: rule %u refused while loading",
				       ld->st->dir, ld->t.ids[i]);
		/* handed over: the caller keeps its own copy, so the two tables never both hold it all */
		free(ld->t.rules[i]);
		ld->t.rules[i] = NULL;
	}
	return 0;
}

int store_load(struct store *st, int (*cb)(void *arg, const struct rule *r), void *arg, char *err, size_t errlen)
{
	struct loader *ld;
	int rc;

	if (st == NULL || cb == NULL)
		return set_err(err, errlen, "store_load: no store or callback");
	/* the reader's 64 KiB buffer lives on the heap: callers may run on small thread stacks */
	ld = calloc(1, sizeof(*ld));
	if (ld == NULL)
		return set_err(err, errlen, "out of memory");
	ld->st = st;
	ld->err = err;
	ld->errlen = errlen;
	ld->lr.fd = -1;
	rc = load_snapshot(ld);
	if (ld->lr.fd >= 0)
		close(ld->lr.fd);
	ld->lr.fd = -1;
	if (rc == 0)
		rc = load_journal(ld);
	if (ld->lr.fd >= 0)
		close(ld->lr.fd);
	if (rc == 0) {
		/* what we replayed counts toward the next snapshot */
		st->jlines = ld->replayed;
		rc = hand_out(ld, cb, arg);
	}
	table_free(&ld->t);
	free(ld);
	return rc;
}

/* ---------------------------------------------------------------- meta values */

int store_meta_get(struct store *st, const char *key, char *buf, size_t len)
{
	char name[sizeof(META_PREFIX) + META_KEY_MAX];
	ssize_t got;
	int fd, saved;

	if (st == NULL || !meta_key_ok(key) || buf == NULL || len == 0) {
		errno = EINVAL;
		return -1;
	}
	snprintf(name, sizeof(name), META_PREFIX "%s", key);
	fd = open_entry(st->dirfd, name, O_RDONLY);
	if (fd < 0)
		return -1;
	/* one read: values are small; one byte more than fits tells us it was too long */
	got = read(fd, buf, len);
	saved = errno;
	close(fd);
	if (got < 0) {
		errno = saved;
		return -1;
	}
	if (got > 0 && buf[got - 1] == '\n')
		got--;  /* written with a newline for people who cat the file */
	if ((size_t)got >= len) {
		errno = ERANGE;
		return -1;
	}
	buf[got] = '\0';
	if (memchr(buf, '\0', (size_t)got) != NULL || memchr(buf, '\n', (size_t)got) != NULL) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
	ssize_t w = write(fd, s, n);

	if (w == (ssize_t)n)
		return 0;
	if (w >= 0)
		errno = ENOSPC;
	return -1;
}

int store_meta_set(struct store *st, const char *key, const char *value)
{
	char name[sizeof(META_PREFIX) + META_KEY_MAX], tmp[sizeof(name) + 4];
	char data[META_VALUE_MAX + 1];
	size_t n = value != NULL ? strnlen(value, META_VALUE_MAX + 1) : 0;
	int fd, saved;

	if (st == NULL || !meta_key_ok(key) || value == NULL || n > META_VALUE_MAX - 1 ||
	    memchr(value, '\n', n) != NULL) {
		errno = EINVAL;
		return -1;
	}
	snprintf(name, sizeof(name), META_PREFIX "%s", key);
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, name);
	memcpy(data, value, n);
	data[n] = '\n';
	fd = create_tmp(st->dirfd, tmp);
	if (fd < 0)
		return -1;
	if (write_all(fd, data, n + 1) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlinkat(st->dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0 || renameat(st->dirfd, tmp, st->dirfd, name) < 0) {
		saved = errno;
		unlinkat(st->dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return fsync(st->dirfd);
}
