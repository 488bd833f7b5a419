/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The event loop: epoll for fds, ONE timerfd for any number of one-shot timers (kept in a small
 * array; a router daemon has a handful), and one signalfd for all signals.
 * Registrations are looked up by fd at dispatch time, so a callback may remove any fd (its own
 * or another one ready in the same batch) without leaving a dangling pointer behind. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "firewall/runtime/loop.h"

struct loop_fd {
	int fd;
	loop_fd_cb cb;
	void *arg;
};

struct loop_tmr {
	loop_timer_cb cb;
	void *arg;
	uint64_t deadline;  /* loop_now_ms() */
	uint64_t seq;       /* scheduling order: a timer re-armed from a callback waits for the next round */
};

struct loop_sig {
	int signo;
	loop_signal_cb cb;
	void *arg;
};

struct loop {
	int epfd, tfd, sfd;
	struct loop_fd *fds;
	size_t nfds, capfds;
	struct loop_tmr *tmrs;
	size_t ntmrs, captmrs;
	uint64_t seq;
	struct loop_sig *sigs;
	size_t nsigs;
	sigset_t sigmask;
	bool stop;
};

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int epoll_add(int epfd, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->tfd = l->sfd = -1;
	sigemptyset(&l->sigmask);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto fail;
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->tfd < 0 || epoll_add(l->epfd, l->tfd, EPOLLIN) < 0)
		goto fail;
	return l;
fail:
	loop_free(l);
	return NULL;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->sfd >= 0)
		close(l->sfd);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l->fds);
	free(l->tmrs);
	free(l->sigs);
	free(l);
}

static struct loop_fd *find_fd(struct loop *l, int fd)
{
	for (size_t i = 0; i < l->nfds; i++)
		if (l->fds[i].fd == fd)
			return &l->fds[i];
	return NULL;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	if (fd < 0 || !cb || find_fd(l, fd)) {
		errno = EINVAL;
		return -1;
	}
	if (l->nfds == l->capfds) {
		size_t cap = l->capfds ? l->capfds * 2 : 8;
		struct loop_fd *n = realloc(l->fds, cap * sizeof(*n));

		if (!n)
			return -1;
		l->fds = n;
		l->capfds = cap;
	}
	if (epoll_add(l->epfd, fd, events) < 0)
		return -1;
	l->fds[l->nfds++] = (struct loop_fd){ .fd = fd, .cb = cb, .arg = arg };
	return 0;
}

int loop_del_fd(struct loop *l, int fd)
{
	struct loop_fd *f = find_fd(l, fd);

	if (!f) {
		errno = ENOENT;
		return -1;
	}
	*f = l->fds[--l->nfds];
	/* the fd may already be closed by the caller; epoll forgets closed fds by itself */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	return 0;
}

/* Arms the timerfd for the earliest deadline (or disarms it). */
static void rearm(struct loop *l)
{
	struct itimerspec its = { 0 };
	uint64_t first = UINT64_MAX, now = loop_now_ms();

	for (size_t i = 0; i < l->ntmrs; i++)
		if (l->tmrs[i].deadline < first)
			first = l->tmrs[i].deadline;
	if (first != UINT64_MAX) {
		uint64_t ms = first > now ? first - now : 0;

		/* an all-zero it_value disarms: due timers fire after 1 ns instead */
		its.it_value.tv_sec = (time_t)(ms / 1000);
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
		if (ms == 0)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(l->tfd, 0, &its, NULL);
}

static struct loop_tmr *find_timer(struct loop *l, loop_timer_cb cb, void *arg)
{
	for (size_t i = 0; i < l->ntmrs; i++)
		if (l->tmrs[i].cb == cb && l->tmrs[i].arg == arg)
			return &l->tmrs[i];
	return NULL;
}

int loop_timer(struct loop *l, uint64_t ms, loop_timer_cb cb, void *arg)
{
	struct loop_tmr *t = find_timer(l, cb, arg);

	if (!cb) {
		errno = EINVAL;
		return -1;
	}
	if (!t) {
		if (l->ntmrs == l->captmrs) {
			size_t cap = l->captmrs ? l->captmrs * 2 : 8;
			struct loop_tmr *n = realloc(l->tmrs, cap * sizeof(*n));

			if (!n)
				return -1;
			l->tmrs = n;
			l->captmrs = cap;
		}
		t = &l->tmrs[l->ntmrs++];
		t->cb = cb;
		t->arg = arg;
	}
	t->deadline = loop_now_ms() + ms;
	t->seq = ++l->seq;
	rearm(l);
	return 0;
}

void loop_timer_cancel(struct loop *l, loop_timer_cb cb, void *arg)
{
	struct loop_tmr *t = find_timer(l, cb, arg);

	if (!t)
		return;
	*t = l->tmrs[--l->ntmrs];
	rearm(l);
}

/* Fires every timer due now that was scheduled before this round began. One at a time, and the
 * array is searched again after each callback, because a callback may add or cancel timers. */
static void run_timers(struct loop *l)
{
	uint64_t buf, now = loop_now_ms(), round = l->seq;

	while (read(l->tfd, &buf, sizeof(buf)) > 0)
		;
	for (;;) {
		struct loop_tmr *due = NULL;

		for (size_t i = 0; i < l->ntmrs; i++)
			if (l->tmrs[i].deadline <= now && l->tmrs[i].seq <= round) {
				due = &l->tmrs[i];
				break;
			}
		if (!due)
			break;
		loop_timer_cb cb = due->cb;
		void *arg = due->arg;

		*due = l->tmrs[--l->ntmrs];
		cb(arg);
	}
	rearm(l);
}

int loop_signal(struct loop *l, int signo, loop_signal_cb cb, void *arg)
{
	struct loop_sig *n = realloc(l->sigs, (l->nsigs + 1) * sizeof(*n));

	if (!n)
		return -1;
	l->sigs = n;
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0)
		return -1;
	if (l->sfd < 0) {
		l->sfd = signalfd(-1, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
		if (l->sfd < 0 || epoll_add(l->epfd, l->sfd, EPOLLIN) < 0)
			return -1;
	} else if (signalfd(l->sfd, &l->sigmask, 0) < 0) {
		return -1;
	}
	l->sigs[l->nsigs++] = (struct loop_sig){ .signo = signo, .cb = cb, .arg = arg };
	return 0;
}

static void run_signals(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (size_t i = 0; i < l->nsigs; i++)
			if (l->sigs[i].signo == (int)si.ssi_signo) {
				l->sigs[i].cb(l->sigs[i].arg, (int)si.ssi_signo);
				break;
			}
	}
}

static void dispatch(struct loop *l, int fd, uint32_t events)
{
	struct loop_fd *f;

	if (fd == l->tfd) {
		run_timers(l);
		return;
	}
	if (fd == l->sfd) {
		run_signals(l);
		return;
	}
	f = find_fd(l, fd);
	if (f)
		f->cb(f->arg, fd, events);
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[32];

	l->stop = false;
	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, 32, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < n && !l->stop; i++)
			dispatch(l, evs[i].data.fd, evs[i].events);
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
