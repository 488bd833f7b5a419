// SPDX-License-Identifier: GPL-2.0-or-later
/* Traffic generator for tests/bench/run.sh (runs inside the lab's namespaces).
 *
 *   udpflood send ADDR PORT SECONDS [PAYLOAD_BYTES=64]
 *       sendmmsg() flood of UDP datagrams to ADDR:PORT for SECONDS; prints "sent N"
 *   udpflood tcpconn ADDR PORT MAX_CONNS SECONDS
 *       opens TCP connections one after the other (each closed with RST) until MAX_CONNS or SECONDS;
 *       prints "conns N seconds S failed F"
 *   udpflood tcpsink PORT SECONDS
 *       accepts and closes TCP connections on [::]:PORT for SECONDS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char *s, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (port == 0 || port > 65535)
		return -1;
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	return -1;
}

static int cmd_send(const char *addr, unsigned port, double secs, size_t payload)
{
	static char buf[1500];
	struct sockaddr_storage ss;
	socklen_t sl;
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	unsigned long long sent = 0;
	double end;
	int fd, i, sndbuf = 4 << 20;

	if (parse_addr(addr, port, &ss, &sl) < 0 || payload > sizeof(buf)) {
		fprintf(stderr, "udpflood: bad address, port or size\n");
		return 2;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		perror("udpflood: socket/connect");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	memset(buf, 'x', sizeof(buf));
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = payload;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	end = now() + secs;
	while (now() < end) {
		int n = sendmmsg(fd, msgs, BATCH, 0);

		if (n > 0)
			sent += (unsigned)n;
		else if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR) {
			perror("udpflood: sendmmsg");
			break;
		}
	}
	printf("sent %llu\n", sent);
	close(fd);
	return 0;
}

static int cmd_tcpconn(const char *addr, unsigned port, unsigned long max, double secs)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	unsigned long ok = 0, failed = 0;
	double t0, end;

	if (parse_addr(addr, port, &ss, &sl) < 0) {
		fprintf(stderr, "udpflood: bad address or port\n");
		return 2;
	}
	t0 = now();
	end = t0 + secs;
	while (ok < max && now() < end && failed < 1000) {
		int fd = socket(ss.ss_family, SOCK_STREAM, 0);

		if (fd < 0) {
			perror("udpflood: socket");
			return 1;
		}
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
			ok++;
		else
			failed++;
		close(fd);
	}
	printf("conns %lu seconds %.3f failed %lu\n", ok, now() - t0, failed);
	return 0;
}

static int cmd_tcpsink(unsigned port, double secs)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	int fd, one = 1, zero = 0;
	double end = now() + secs;

	s6.sin6_port = htons(port);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("udpflood: socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&s6, sizeof(s6)) < 0 || listen(fd, 4096) < 0) {
		perror("udpflood: bind/listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 200) > 0) {
			int c = accept(fd, NULL, NULL);

			if (c >= 0)
				close(c);
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && argc <= 6 && strcmp(argv[1], "send") == 0)
		return cmd_send(argv[2], (unsigned)atoi(argv[3]), atof(argv[4]), argc == 6 ? (size_t)atoi(argv[5]) : 64);
	if (argc == 6 && strcmp(argv[1], "tcpconn") == 0)
		return cmd_tcpconn(argv[2], (unsigned)atoi(argv[3]), strtoul(argv[4], NULL, 10), atof(argv[5]));
	if (argc == 4 && strcmp(argv[1], "tcpsink") == 0)
		return cmd_tcpsink((unsigned)atoi(argv[2]), atof(argv[3]));
	fprintf(stderr, "usage: udpflood send ADDR PORT SECONDS [PAYLOAD] | tcpconn ADDR PORT MAX SECONDS | tcpsink PORT SECONDS\n");
	return 2;
}
