/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control socket TRANSPORT (unix stream): one request per connection, one answer, close.
 * A request ends when the client shuts down its write side, or with a newline after a complete
 * top-level {...}; at most CTL_REQ_MAX bytes, within CTL_TIMEOUT_MS. What the bytes mean is the
 * handler's business (the daemons plug the JSON API in). */
#ifndef IGDD_CTL_H
#define IGDD_CTL_H

#include <stddef.h>
#include <sys/types.h>

#include "firewall/runtime/loop.h"

#define CTL_REQ_MAX      (64 * 1024)
#define CTL_TIMEOUT_MS   5000
#define CTL_MAX_CONNS    16
#define CTL_RESP_MAX     (256u * 1024 * 1024)   /* what a client accepts */

struct ctl;

/* Returns a malloc'd answer (NULL: close without one). Runs on the loop thread. */
typedef char *(*ctl_handler)(void *arg, const char *req, size_t len);

/* Creates the parent directory (0750) if missing and refuses one that is not private (another owner,
 * or writable by group or others), removes a stale socket (refuses to take over one a live daemon
 * answers on), binds with mode 0600, listens and registers with the loop. Directory and socket stay
 * the process's own (root's): a privilege drop gives neither away. */
struct ctl *ctl_open(struct loop *l, const char *path, ctl_handler handler, void *arg, char *err, size_t errlen);
/* Stops listening, drops open connections and removes the socket file (if it still may). */
void ctl_close(struct ctl *c);

/* Client side: sends req, half-closes, reads the answer until EOF. *resp is malloc'd and
 * NUL-terminated. Returns 0, or -1 with errno (ETIMEDOUT, ECONNREFUSED, ENOENT, EMSGSIZE...). */
int ctl_request(const char *path, const char *req, char **resp, int timeout_ms);

/* Framing (pure, exported for tests): does buf hold a complete top-level {...} followed by '\n'? */
int ctl_frame_complete(const char *buf, size_t len);

#endif
