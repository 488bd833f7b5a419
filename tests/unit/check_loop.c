/* SPDX-License-Identifier: GPL-2.0-or-later */
/* loop (timers, fds, signals) and the control socket transport (ctl) on top of it. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "firewall/runtime/ctl.h"
#include "firewall/lib/log.h"
#include "firewall/runtime/loop.h"

struct rec {
	struct loop *l;
	char order[16];
	size_t n;
	int stop_after;
};

static void note(struct rec *r, char c)
{
	r->order[r->n++] = c;
	if ((int)r->n == r->stop_after)
		loop_stop(r->l);
}

static void tick_a(void *arg) { note(arg, 'a'); }
static void tick_b(void *arg) { note(arg, 'b'); }
static void tick_c(void *arg) { note(arg, 'c'); }

START_TEST(test_timer_order)
{
	struct rec r = { .l = loop_new(), .stop_after = 3 };
	uint64_t t0 = loop_now_ms();

	/* Deadlines 200 ms apart: each loop_timer reads the clock, so a stall of the test process between
	 * two calls (a loaded machine, ASan) longer than the gap would reorder them (it did at 10 ms). */
	loop_timer(r.l, 600, tick_c, &r);
	loop_timer(r.l, 200, tick_a, &r);
	loop_timer(r.l, 400, tick_b, &r);
	ck_assert_int_eq(loop_run(r.l), 0);
	ck_assert_str_eq(r.order, "abc");
	ck_assert_uint_ge(loop_now_ms() - t0, 600);
	loop_free(r.l);
}
END_TEST

START_TEST(test_timer_rearm_cancel)
{
	struct rec r = { .l = loop_new(), .stop_after = 2 };

	loop_timer(r.l, 5, tick_a, &r);
	loop_timer(r.l, 500, tick_a, &r);   /* the same (cb, arg): rescheduled, not doubled */
	loop_timer(r.l, 100, tick_b, &r);
	loop_timer(r.l, 200, tick_c, &r);
	loop_timer_cancel(r.l, tick_c, &r);
	ck_assert_int_eq(loop_run(r.l), 0);
	ck_assert_str_eq(r.order, "ba");
	loop_free(r.l);
}
END_TEST

/* A timer that re-arms itself with 0 ms must not starve the loop within one round. */
static void self_rearm(void *arg)
{
	struct rec *r = arg;

	note(r, 'x');
	if ((int)r->n < r->stop_after)
		loop_timer(r->l, 0, self_rearm, r);
}

START_TEST(test_timer_zero_rearm)
{
	struct rec r = { .l = loop_new(), .stop_after = 5 };

	loop_timer(r.l, 0, self_rearm, &r);
	ck_assert_int_eq(loop_run(r.l), 0);
	ck_assert_str_eq(r.order, "xxxxx");
	loop_free(r.l);
}
END_TEST

static void on_fd(void *arg, int fd, uint32_t events)
{
	struct rec *r = arg;
	char c;

	ck_assert(events & EPOLLIN);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	note(r, c);
	loop_del_fd(r->l, fd);
}

static void on_sig(void *arg, int signo)
{
	ck_assert_int_eq(signo, SIGUSR1);
	note(arg, 's');
}

START_TEST(test_fd_and_signal)
{
	struct rec r = { .l = loop_new(), .stop_after = 2 };
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(loop_add_fd(r.l, p[0], EPOLLIN, on_fd, &r), 0);
	ck_assert_int_eq(loop_add_fd(r.l, p[0], EPOLLIN, on_fd, &r), -1); /* twice: refused */
	ck_assert_int_eq(loop_signal(r.l, SIGUSR1, on_sig, &r), 0);
	ck_assert_int_eq(write(p[1], "f", 1), 1);
	raise(SIGUSR1);
	ck_assert_int_eq(loop_run(r.l), 0);
	ck_assert(strchr(r.order, 'f') && strchr(r.order, 's'));
	ck_assert_int_eq(loop_del_fd(r.l, p[0]), -1);
	close(p[0]);
	close(p[1]);
	loop_free(r.l);
}
END_TEST

START_TEST(test_frame)
{
	ck_assert(ctl_frame_complete("{}\n", 3));
	ck_assert(!ctl_frame_complete("{}", 2));
	ck_assert(!ctl_frame_complete("{\n", 2));
	ck_assert(!ctl_frame_complete("{\"a\":\"}\"\n", 9));
	ck_assert(ctl_frame_complete("{\"a\":\"}\\\"\"}\n", 12));
	ck_assert(!ctl_frame_complete("\n", 1));
	ck_assert(!ctl_frame_complete("", 0));
}
END_TEST

/* ---------- ctl: a server in a child process, the client here ---------- */

static char *echo_handler(void *arg, const char *req, size_t len)
{
	char *out = malloc(len + 8);

	(void)arg;
	snprintf(out, len + 8, "echo:%.*s", (int)len, req);
	return out;
}

static void quit(void *arg, int signo)
{
	(void)signo;
	loop_stop(arg);
}

static char sock_path[64];

static pid_t start_server(void)
{
	char err[256];
	pid_t pid;
	int p[2];
	char c;

	snprintf(sock_path, sizeof(sock_path), "/tmp/check_ctl_%d/ctl.sock", (int)getpid());
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct loop *l = loop_new();
		struct ctl *c2;

		log_init("check_loop", 1, 0);
		c2 = ctl_open(l, sock_path, echo_handler, NULL, err, sizeof(err));
		if (!c2) {
			fprintf(stderr, "%s\n", err);
			_exit(1);
		}
		loop_signal(l, SIGTERM, quit, l);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		loop_run(l);
		ctl_close(c2);
		loop_free(l);
		_exit(0);
	}
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
	return pid;
}

static void stop_server(pid_t pid)
{
	int st;
	char dir[64];

	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(access(sock_path, F_OK), -1); /* removed on close */
	snprintf(dir, sizeof(dir), "/tmp/check_ctl_%d", (int)getpid());
	rmdir(dir);
}

START_TEST(test_ctl_roundtrip)
{
	pid_t pid = start_server();
	struct stat st;
	char *resp = NULL, *big;
	size_t n = CTL_REQ_MAX + 100;

	ck_assert_int_eq(stat(sock_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(ctl_request(sock_path, "{\"method\":\"GET\"}", &resp, 2000), 0);
	ck_assert_str_eq(resp, "echo:{\"method\":\"GET\"}\n");
	free(resp);
	/* a newline after a complete object ends the request too */
	ck_assert_int_eq(ctl_request(sock_path, "{\"a\":1}\n", &resp, 2000), 0);
	ck_assert_str_eq(resp, "echo:{\"a\":1}\n");
	free(resp);
	/* too large: dropped without an answer */
	big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	ck_assert_int_eq(ctl_request(sock_path, big, &resp, 2000), -1);
	ck_assert_ptr_null(resp);
	free(big);
	/* the server still serves after that */
	ck_assert_int_eq(ctl_request(sock_path, "{}", &resp, 2000), 0);
	free(resp);
	stop_server(pid);
}
END_TEST

START_TEST(test_ctl_refuses_live_socket)
{
	pid_t pid = start_server();
	struct loop *l = loop_new();
	char err[256];

	ck_assert_ptr_null(ctl_open(l, sock_path, echo_handler, NULL, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "another daemon"));
	loop_free(l);
	stop_server(pid);
}
END_TEST

START_TEST(test_ctl_unreachable)
{
	char *resp = NULL;

	ck_assert_int_eq(ctl_request("/tmp/no/such/socket", "{}", &resp, 500), -1);
	ck_assert_ptr_null(resp);
}
END_TEST

/* The socket's directory must be private (issue 12): in one another user may write, the socket's name
 * could be swapped for a symbolic link between bind and whatever the daemon does by name next. */
START_TEST(test_ctl_private_dir)
{
	struct loop *l = loop_new();
	char dir[64], path[96], err[256];
	struct ctl *c;
	struct stat st;

	snprintf(dir, sizeof(dir), "/tmp/check_ctl_private_%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(chmod(dir, 01777), 0);   /* like /tmp */
	ck_assert_ptr_null(ctl_open(l, path, echo_handler, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not private") != NULL, "%s", err);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(chmod(dir, 0770), 0);
	ck_assert_ptr_null(ctl_open(l, path, echo_handler, NULL, err, sizeof(err)));
	if (geteuid() == 0) {
		/* the daemon's user's own directory (what the old code made of it) */
		ck_assert_int_eq(chmod(dir, 0750), 0);
		ck_assert_int_eq(chown(dir, 4242, 4242), 0);
		ck_assert_ptr_null(ctl_open(l, path, echo_handler, NULL, err, sizeof(err)));
		ck_assert_int_eq(chown(dir, 0, 0), 0);
	}
	ck_assert_int_eq(chmod(dir, 0755), 0);
	c = ctl_open(l, path, echo_handler, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_uint_eq(st.st_uid, geteuid());
	ctl_close(c);
	loop_free(l);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");
	TCase *tc2 = tcase_create("ctl");

	tcase_add_test(tc, test_timer_order);
	tcase_add_test(tc, test_timer_rearm_cancel);
	tcase_add_test(tc, test_timer_zero_rearm);
	tcase_add_test(tc, test_fd_and_signal);
	suite_add_tcase(s, tc);
	tcase_add_test(tc2, test_frame);
	tcase_add_test(tc2, test_ctl_roundtrip);
	tcase_add_test(tc2, test_ctl_refuses_live_socket);
	tcase_add_test(tc2, test_ctl_unreachable);
	tcase_add_test(tc2, test_ctl_private_dir);
	suite_add_tcase(s, tc2);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(loop_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
