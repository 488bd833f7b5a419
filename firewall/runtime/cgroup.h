/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Which cgroup v2 the daemon runs in, for the "output wall" (fw_config.out_cgroup_*): nft.c matches
 * the daemon's own sockets with `socket cgroupv2 level L "PATH"` and keeps them from opening TCP
 * connections anywhere but the LAN (CallStranger, CVE-2020-12695, defence in depth).
 * The parsers are pure (text in, answer out); cgroup_self_setup does the I/O. */
#ifndef IGDD_CGROUP_H
#define IGDD_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_PATH_MAX 256

struct cgroup_self {
	char mount[CGROUP_PATH_MAX];  /* where cgroup2 is mounted, e.g. /sys/fs/cgroup */
	char path[CGROUP_PATH_MAX];   /* our cgroup below it, with a leading '/', e.g. /igdd-igdd */
	uint64_t id;                  /* the cgroup's id: its directory's inode number */
	uint32_t level;               /* path components: "/" 0, "/a" 1, "/a/b" 2 */
	bool created;                 /* we moved ourselves out of the root cgroup into path */
	bool own_mount;               /* none was visible: we mounted cgroup2 in a mount namespace of our own */
};

/* The mount point of the first cgroup2 file system in /proc/self/mountinfo text (mounted at its
 * root; \ooo escapes decoded). False if there is none or it does not fit in len. */
bool cgroup_parse_mountinfo(const char *text, char *mount, size_t len);
/* The v2 path from /proc/self/cgroup text (the "0::/path" line). False if there is none, it does not
 * start with '/', or it does not fit. */
bool cgroup_parse_self(const char *text, char *path, size_t len);
/* Number of components of a cgroup path ("/" -> 0). */
uint32_t cgroup_level(const char *path);
/* Is name usable as one directory name below the cgroup2 root? */
bool cgroup_name_ok(const char *name);

/* Finds our cgroup; if it is the root ("/", a shell or a test lab), creates (or reuses)
 * <mount>/<child> and moves this process into it. If no cgroup2 is mounted in our mount namespace
 * (`ip netns exec` hides the host's), it first moves into a mount namespace of its own, a slave of
 * the current one, and mounts cgroup2 there. Call as root, before any thread exists. Fills *out;
 * -1 with a reason in err (no cgroup2, no permission, ...). */
int cgroup_self_setup(const char *child, struct cgroup_self *out, char *err, size_t errlen);

#endif
