/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The device UUID (see upnp_priv.h). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "firewall/lib/log.h"
#include "igdd/upnp_priv.h"

/* The same UUID across restarts: control points recognise the router. It is a store value
 * (state_dir/meta.upnp_uuid), written through the store's handle on the directory: igdd's user need
 * not be able to reach state_dir by its path (a checkout below a 0700 home, a state_dir below a
 * private directory). Older versions wrote state_dir/upnp_uuid by path: taken over once. */
#define UUID_KEY    "upnp_uuid"
#define LEGACY_UUID "upnp_uuid"

static bool uuid_from(char *buf, char out[DESC_UUID_LEN + 1])
{
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!desc_uuid_valid(buf))
		return false;
	memcpy(out, buf, DESC_UUID_LEN + 1);
	return true;
}

static bool read_legacy_uuid(const char *state_dir, char out[DESC_UUID_LEN + 1])
{
	char path[PATH_MAX], buf[64];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/" LEGACY_UUID, state_dir) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return uuid_from(buf, out);
}

static bool new_uuid(char out[DESC_UUID_LEN + 1])
{
	uint8_t r[16];

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return false;
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);  /* version 4 */
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
	snprintf(out, DESC_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	return true;
}

int upnp_uuid_load(struct upnp_service *u)
{
	char buf[64];

	if (core_meta_get(u->p.core, UUID_KEY, buf, sizeof(buf)) == 0 && uuid_from(buf, u->desc.base_uuid))
		return 0;
	if (!read_legacy_uuid(u->p.state_dir, u->desc.base_uuid) && !new_uuid(u->desc.base_uuid))
		return -1;
	if (core_meta_set(u->p.core, UUID_KEY, u->desc.base_uuid) < 0) {
		log_warn("upnp: cannot keep the UUID in %s/meta." UUID_KEY, u->p.state_dir);
		return -1;
	}
	return 0;
}
