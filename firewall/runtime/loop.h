/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one event loop of a process: epoll for fds, timers with millisecond resolution (one timerfd),
 * signals through signalfd. Callbacks run on the loop thread and must not block. */
#ifndef IGDD_LOOP_H
#define IGDD_LOOP_H

#include <stdint.h>

struct loop;
typedef void (*loop_fd_cb)(void *arg, int fd, uint32_t events);
typedef void (*loop_timer_cb)(void *arg);
typedef void (*loop_signal_cb)(void *arg, int signo);

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* events: EPOLLIN etc. Returns 0 or -1. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_del_fd(struct loop *l, int fd);
/* One-shot timer, re-armable: (re)schedules the timer identified by (cb, arg) after ms. */
int loop_timer(struct loop *l, uint64_t ms, loop_timer_cb cb, void *arg);
void loop_timer_cancel(struct loop *l, loop_timer_cb cb, void *arg);
/* Blocks the signal for the process and delivers it through the loop. */
int loop_signal(struct loop *l, int signo, loop_signal_cb cb, void *arg);
/* Runs until loop_stop; returns 0, or -1 on a fatal epoll error. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* Monotonic milliseconds. */
uint64_t loop_now_ms(void);

#endif
