/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control socket transport (see ctl.h). Everything is non-blocking and bounded: a client that
 * sends too much, or too slowly, or never reads its answer, is dropped; it cannot stall the loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "firewall/runtime/ctl.h"
#include "firewall/lib/log.h"

struct ctl_conn {
	struct ctl *ctl;
	int fd;
	bool writing;
	char *buf;           /* request while reading, answer while writing */
	size_t len, off, cap;
};

struct ctl {
	struct loop *loop;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_handler handler;
	void *arg;
	struct ctl_conn *conns[CTL_MAX_CONNS];
};

int ctl_frame_complete(const char *buf, size_t len)
{
	int depth = 0;
	bool in_str = false, esc = false, seen = false;

	if (len == 0 || buf[len - 1] != '\n')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			depth++;
			seen = true;
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return seen && depth <= 0 && !in_str;
}

static bool fill_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return false;
	}
	strcpy(sun->sun_path, path);
	return true;
}

/* ---------- server ---------- */

static void conn_free(struct ctl_conn *cn)
{
	struct ctl *c = cn->ctl;

	for (size_t i = 0; i < CTL_MAX_CONNS; i++)
		if (c->conns[i] == cn)
			c->conns[i] = NULL;
	loop_del_fd(c->loop, cn->fd);
	close(cn->fd);
	free(cn->buf);
	free(cn);
}

static void conn_timeout(void *arg)
{
	struct ctl_conn *cn = arg;

	log_warnx("control socket: client too slow, dropped");
	conn_free(cn);
}

static void conn_close(struct ctl_conn *cn)
{
	loop_timer_cancel(cn->ctl->loop, conn_timeout, cn);
	conn_free(cn);
}

static void conn_write(struct ctl_conn *cn)
{
	while (cn->off < cn->len) {
		ssize_t n = send(cn->fd, cn->buf + cn->off, cn->len - cn->off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* a large answer: wait for room, and give a reading client more time */
			loop_timer(cn->ctl->loop, CTL_TIMEOUT_MS, conn_timeout, cn);
			return;
		}
		if (n <= 0) {
			log_debug("control socket: write: %s", strerror(errno));
			break;
		}
		cn->off += (size_t)n;
	}
	conn_close(cn);
}

static void conn_event(void *arg, int fd, uint32_t events);

/* The request is complete: ask the handler and start writing its answer. */
static void conn_answer(struct ctl_conn *cn)
{
	struct ctl *c = cn->ctl;
	char *resp = c->handler(c->arg, cn->buf, cn->len);

	free(cn->buf);
	cn->buf = resp;
	cn->len = resp ? strlen(resp) : 0;
	cn->off = 0;
	cn->writing = true;
	if (!resp) {
		conn_close(cn);
		return;
	}
	/* the answer ends with a newline, so line-oriented clients (socat) see its end too */
	if (cn->len == 0 || resp[cn->len - 1] != '\n') {
		char *r2 = realloc(resp, cn->len + 2);

		if (r2) {
			r2[cn->len++] = '\n';
			r2[cn->len] = '\0';
			cn->buf = r2;
		}
	}
	/* from now on the connection waits for room to write, not for input */
	loop_del_fd(c->loop, cn->fd);
	if (loop_add_fd(c->loop, cn->fd, EPOLLOUT, conn_event, cn) < 0) {
		conn_close(cn);
		return;
	}
	conn_write(cn);
}

/* Reads what is there; answers once the request is complete. */
static void conn_read(struct ctl_conn *cn)
{
	for (;;) {
		ssize_t n;

		if (cn->len == cn->cap) {
			/* +1 so that one byte past the limit is read and recognised as too much */
			size_t cap = cn->cap ? cn->cap * 2 : 4096;
			char *b;

			if (cap > CTL_REQ_MAX + 1)
				cap = CTL_REQ_MAX + 1;
			if (cn->len == cap) {
				log_warnx("control socket: request larger than %d bytes, dropped", CTL_REQ_MAX);
				conn_close(cn);
				return;
			}
			b = realloc(cn->buf, cap + 1);
			if (!b) {
				conn_close(cn);
				return;
			}
			cn->buf = b;
			cn->cap = cap;
		}
		n = read(cn->fd, cn->buf + cn->len, cn->cap - cn->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (cn->len > CTL_REQ_MAX) {
				log_warnx("control socket: request larger than %d bytes, dropped", CTL_REQ_MAX);
				conn_close(cn);
			} else if (ctl_frame_complete(cn->buf, cn->len)) {
				cn->buf[cn->len] = '\0';
				conn_answer(cn);
			}
			return;
		}
		if (n < 0) {
			conn_close(cn);
			return;
		}
		if (n == 0) {
			if (cn->len > CTL_REQ_MAX) {
				log_warnx("control socket: request larger than %d bytes, dropped", CTL_REQ_MAX);
				conn_close(cn);
				return;
			}
			cn->buf[cn->len] = '\0';
			conn_answer(cn);
			return;
		}
		cn->len += (size_t)n;
	}
}

static void conn_event(void *arg, int fd, uint32_t events)
{
	struct ctl_conn *cn = arg;

	(void)fd;
	(void)events;
	if (cn->writing)
		conn_write(cn);
	else
		conn_read(cn);
}

static void ctl_accept(void *arg, int fd, uint32_t events)
{
	struct ctl *c = arg;
	struct ctl_conn *cn;
	size_t slot;
	int cfd;

	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	for (slot = 0; slot < CTL_MAX_CONNS && c->conns[slot]; slot++)
		;
	cn = slot < CTL_MAX_CONNS ? calloc(1, sizeof(*cn)) : NULL;
	if (!cn) {
		log_warnx("control socket: too many clients, one refused");
		close(cfd);
		return;
	}
	cn->ctl = c;
	cn->fd = cfd;
	if (loop_add_fd(c->loop, cfd, EPOLLIN, conn_event, cn) < 0) {
		close(cfd);
		free(cn);
		return;
	}
	c->conns[slot] = cn;
	loop_timer(c->loop, CTL_TIMEOUT_MS, conn_timeout, cn);
}

/* The socket's directory: created (0750) if missing, and private: ours, writable by no one else. Only
 * then is the name we bind, and remove at the next start, the socket we made: in a directory another
 * user (the one the daemon runs as, too) could write, the name could be swapped for a symbolic link
 * between our calls. The directory stays ours after the privilege drop. */
static int private_parent_dir(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(ENOTDIR));
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "control_socket %s: its directory %s is not private (owner uid %u, mode %04o): "
			 "put the socket in a directory of igdd's own, e.g. /run/igdd/igdd.sock", path, dir,
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* A socket file left by a daemon that died: remove it. One a daemon still answers on: refuse. */
static int remove_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	if (!fill_addr(&sun, path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s: another daemon is listening there", path);
		return -1;
	}
	unlink(path);
	return 0;
}

struct ctl *ctl_open(struct loop *l, const char *path, ctl_handler handler, void *arg, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct ctl *c;
	mode_t old;
	int rc;

	if (!fill_addr(&sun, path)) {
		snprintf(err, errlen, "%s: path too long for a unix socket", path);
		return NULL;
	}
	if (private_parent_dir(path, err, errlen) < 0)
		return NULL;
	err[0] = '\0';
	if (remove_stale(path, err, errlen) < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = l;
	c->handler = handler;
	c->arg = arg;
	strcpy(c->path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	/* made 0600 (no window in which it has wider permissions, and no chmod by name afterwards); it
	 * stays ours: the client is the operator, and the daemon's user never needs it */
	old = umask(0177);
	rc = bind(c->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(c->fd, 16) < 0 || loop_add_fd(l, c->fd, EPOLLIN, ctl_accept, c) < 0)
		goto fail;
	return c;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return NULL;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CTL_MAX_CONNS; i++)
		if (c->conns[i])
			conn_close(c->conns[i]);
	loop_del_fd(c->loop, c->fd);
	close(c->fd);
	/* fails once the daemon runs as its own user (the directory is not its); the next start removes
	 * the stale socket */
	unlink(c->path);
	free(c);
}

/* ---------- client ---------- */

static int wait_fd(int fd, short events, int64_t deadline_ms, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left = deadline_ms - (int64_t)loop_now_ms();
	int rc;

	if (timeout_ms < 0)
		left = -1;
	else if (left <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	do
		rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
	while (rc < 0 && errno == EINTR);
	if (rc == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline, int timeout_ms)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLOUT, deadline, timeout_ms) < 0)
				return -1;
			continue;
		}
		if (n < 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, char **out, int64_t deadline, int timeout_ms)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap + 1);
	bool timed_out = false;

	if (!buf)
		return -1;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *b;

			if (cap >= CTL_RESP_MAX) {
				free(buf);
				errno = EMSGSIZE;
				return -1;
			}
			b = realloc(buf, cap * 2 + 1);
			if (!b) {
				free(buf);
				return -1;
			}
			buf = b;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLIN, deadline, timeout_ms) < 0) {
				timed_out = true;
				break;
			}
			continue;
		}
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (timed_out || len == 0) {
		/* no answer at all: the daemon refused or dropped the request */
		free(buf);
		errno = timed_out ? ETIMEDOUT : ECONNRESET;
		return -1;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int ctl_request(const char *path, const char *req, char **resp, int timeout_ms)
{
	struct sockaddr_un sun;
	int64_t deadline = (int64_t)loop_now_ms() + timeout_ms;
	int fd, rc = -1, e;

	*resp = NULL;
	if (!fill_addr(&sun, path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* a full backlog answers EAGAIN on unix sockets: wait, within the deadline */
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			goto out;
		if (wait_fd(fd, POLLOUT, deadline, timeout_ms) < 0)
			goto out;
	}
	if (send_all(fd, req, strlen(req), deadline, timeout_ms) < 0)
		goto out;
	shutdown(fd, SHUT_WR);
	errno = 0;
	rc = recv_all(fd, resp, deadline, timeout_ms);
out:
	e = errno;
	close(fd);
	errno = e;
	return rc;
}
