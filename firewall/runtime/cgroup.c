/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Our own cgroup v2, for the output wall (see cgroup.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firewall/runtime/cgroup.h"

#define PROC_TEXT_MAX (1024 * 1024)   /* /proc/self/mountinfo of a busy host is tens of KB */

/* The next space-separated field of a line: [*p, end) -> [*start, *start + *flen). */
static bool next_field(const char **p, const char *end, const char **start, size_t *flen)
{
	const char *s = *p, *e;

	while (s < end && *s == ' ')
		s++;
	if (s >= end)
		return false;
	for (e = s; e < end && *e != ' '; e++)
		;
	*start = s;
	*flen = (size_t)(e - s);
	*p = e;
	return true;
}

static bool field_is(const char *f, size_t flen, const char *want)
{
	return flen == strlen(want) && memcmp(f, want, flen) == 0;
}

/* Copies a mountinfo field, decoding the kernel's \ooo escapes (space, tab, newline, backslash). */
static bool unescape(const char *f, size_t flen, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < flen; i++) {
		char c = f[i];

		if (c == '\\' && i + 3 < flen && f[i + 1] >= '0' && f[i + 1] <= '3' && f[i + 2] >= '0' && f[i + 2] <= '7' &&
		    f[i + 3] >= '0' && f[i + 3] <= '7') {
			c = (char)((f[i + 1] - '0') * 64 + (f[i + 2] - '0') * 8 + (f[i + 3] - '0'));
			i += 3;
		}
		if (c == '\0' || o + 1 >= len)
			return false;
		out[o++] = c;
	}
	if (len == 0)
		return false;
	out[o] = '\0';
	return o > 0;
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER". */
static bool mountinfo_line(const char *p, const char *end, char *mount, size_t len)
{
	const char *f, *root = NULL, *mp = NULL;
	size_t flen, root_len = 0, mp_len = 0;
	int n = 0;

	while (next_field(&p, end, &f, &flen)) {
		n++;
		if (n == 4)
			root = f, root_len = flen;
		else if (n == 5)
			mp = f, mp_len = flen;
		else if (n >= 7 && field_is(f, flen, "-"))
			break;
	}
	if (n < 7 || !root || !mp || !next_field(&p, end, &f, &flen) || !field_is(f, flen, "cgroup2"))
		return false;
	/* a bind mount of a subtree (cgroup namespace) would need path translation: not ours */
	if (!field_is(root, root_len, "/"))
		return false;
	return unescape(mp, mp_len, mount, len);
}

bool cgroup_parse_mountinfo(const char *text, char *mount, size_t len)
{
	const char *p = text;

	if (!text || !mount || len == 0)
		return false;
	while (*p) {
		const char *end = strchr(p, '\n');

		if (!end)
			end = p + strlen(p);
		if (mountinfo_line(p, end, mount, len))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

bool cgroup_parse_self(const char *text, char *path, size_t len)
{
	const char *p = text;

	if (!text || !path || len == 0)
		return false;
	while (*p) {
		const char *end = strchr(p, '\n');
		size_t n;

		if (!end)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if (n > 3 && memcmp(p, "0::", 3) == 0) {
			if (p[3] != '/' || n - 3 >= len)
				return false;
			memcpy(path, p + 3, n - 3);
			path[n - 3] = '\0';
			return true;
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

uint32_t cgroup_level(const char *path)
{
	uint32_t n = 0;

	for (const char *p = path; p && *p; p++)
		if (*p != '/' && (p == path || p[-1] == '/'))
			n++;
	return n;
}

bool cgroup_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= 64 || name[0] == '.' || strchr(name, '/'))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] <= ' ' || name[i] == '"' || name[i] == '\\' || name[i] == 0x7f)
			return false;
	return true;
}

/* ---------- I/O ---------- */

/* Reads a /proc text file whole (bounded); NULL + errno. */
static char *read_text(const char *path)
{
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap), *nb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int saved;

	if (fd < 0 || !buf)
		goto fail;
	for (;;) {
		if (cap - len < 2) {
			if (cap >= PROC_TEXT_MAX) {
				errno = EFBIG;
				goto fail;
			}
			if (!(nb = realloc(buf, cap * 2)))
				goto fail;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	free(buf);
	errno = saved;
	return NULL;
}

static int write_pid(const char *file, pid_t pid)
{
	char num[24];
	int fd = open(file, O_WRONLY | O_CLOEXEC), n = snprintf(num, sizeof(num), "%ld\n", (long)pid), saved;
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, num, (size_t)n);
	saved = errno;
	close(fd);
	errno = saved;
	return w == n ? 0 : -1;
}

/* Where cgroup2 is mounted in our mount namespace. */
static int find_mount(char *where, size_t len, char *err, size_t errlen)
{
	char *text = read_text("/proc/self/mountinfo");
	bool ok;

	if (!text) {
		snprintf(err, errlen, "reading /proc/self/mountinfo: %s", strerror(errno));
		return -1;
	}
	ok = cgroup_parse_mountinfo(text, where, len);
	free(text);
	return ok ? 0 : 1;
}

/* No cgroup2 in our mount namespace: `ip netns exec` (and so the test lab) gives its command a
 * fresh /sys without the host's cgroup mounts. The hierarchy is still there, one per kernel: move
 * into a mount namespace of our own, a slave of this one (the host's later mounts still reach us,
 * ours never reach the host), and mount cgroup2 at /sys/fs/cgroup in it. Single-threaded only
 * (unshare(CLONE_NEWNS) implies CLONE_FS). */
static int mount_own(char *where, size_t len, char *err, size_t errlen)
{
	static const char at[] = "/sys/fs/cgroup";

	if (unshare(CLONE_NEWNS) < 0) {
		snprintf(err, errlen, "no cgroup2 mounted, and no mount namespace of our own: %s", strerror(errno));
		return -1;
	}
	/* A propagation change ignores source and type; "none" rather than NULL keeps valgrind quiet. */
	if (mount("none", "/", "none", MS_REC | MS_SLAVE, NULL) < 0 ||
	    mount("cgroup2", at, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		snprintf(err, errlen, "no cgroup2 mounted, and mounting it at %s failed: %s", at, strerror(errno));
		return -1;
	}
	if (sizeof(at) > len) {
		snprintf(err, errlen, "no room for the cgroup2 mount point");
		return -1;
	}
	memcpy(where, at, sizeof(at));
	return 0;
}

int cgroup_self_setup(const char *child, struct cgroup_self *out, char *err, size_t errlen)
{
	char *text, dir[2 * CGROUP_PATH_MAX + 8];
	struct stat st;
	int n;

	memset(out, 0, sizeof(*out));
	if ((n = find_mount(out->mount, sizeof(out->mount), err, errlen)) < 0)
		return -1;
	if (n > 0) {
		if (mount_own(out->mount, sizeof(out->mount), err, errlen) < 0)
			return -1;
		out->own_mount = true;
	}
	if (!(text = read_text("/proc/self/cgroup"))) {
		snprintf(err, errlen, "reading /proc/self/cgroup: %s", strerror(errno));
		return -1;
	}
	if (!cgroup_parse_self(text, out->path, sizeof(out->path))) {
		free(text);
		snprintf(err, errlen, "no cgroup v2 line in /proc/self/cgroup");
		return -1;
	}
	free(text);
	if (strcmp(out->path, "/") == 0) {
		/* the root cgroup holds every process of the host: make one of our own */
		if (!cgroup_name_ok(child)) {
			snprintf(err, errlen, "bad cgroup name \"%s\"", child ? child : "");
			return -1;
		}
		snprintf(out->path, sizeof(out->path), "/%s", child);
		snprintf(dir, sizeof(dir), "%s/%s", out->mount, child);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "creating cgroup %s: %s", dir, strerror(errno));
			return -1;
		}
		n = snprintf(dir, sizeof(dir), "%s/%s/cgroup.procs", out->mount, child);
		if (n < 0 || (size_t)n >= sizeof(dir) || write_pid(dir, getpid()) < 0) {
			snprintf(err, errlen, "moving into cgroup %s: %s", out->path, strerror(errno));
			return -1;
		}
		out->created = true;
	}
	n = snprintf(dir, sizeof(dir), "%s%s", out->mount, out->path);
	if (n < 0 || (size_t)n >= sizeof(dir) || stat(dir, &st) < 0) {
		snprintf(err, errlen, "cgroup %s: %s", dir, n < 0 || (size_t)n >= sizeof(dir) ? "path too long" : strerror(errno));
		return -1;
	}
	out->id = (uint64_t)st.st_ino;
	out->level = cgroup_level(out->path);
	if (out->level == 0 || out->id == 0) {
		snprintf(err, errlen, "cgroup %s cannot be told apart from the host", out->path);
		return -1;
	}
	return 0;
}
