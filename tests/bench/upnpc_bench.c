// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Concurrent UPnP AddPinhole load through the real client library (libminiupnpc, as upnpc and
 * the applications built on it call it), so that the clients are not the bottleneck of the figure.
 *
 *   upnpc_bench ROOT_DESC_URL CLIENTS COUNT BASE_PORT TIME_LIMIT_S
 *
 * Reads the description once (UPNP_GetIGDFromUrl), then CLIENTS threads send COUNT AddPinhole
 * requests in all, each for a new port (BASE_PORT + i, i = 0..COUNT-1, interleaved between the
 * threads), for the address the kernel chose to reach the gateway (the library's "lanaddr", as a
 * real client does). libminiupnpc opens a connection per request. Every answer is checked: a
 * request counts as ok only if the library reports success and the UniqueID is a decimal number
 * no other answer carried; anything else is counted under its kind. Prints one line:
 *   upnpc action=pinhole clients=.. n=.. ok=.. err=.. secs=.. rate=.. p50_ms=.. p99_ms=.. max_ms=..
 *         cpu_s=.. errors=KIND:COUNT,..
 * (cpu_s: this process's user + system CPU seconds, to split the machine between client and
 * server). Bounded: each thread stops at TIME_LIMIT_S; the library's sockets have timeouts.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>

#define MAX_CLIENTS 256
#define MAX_KINDS 16

struct bench {
	struct UPNPUrls urls;
	struct IGDdatas data;
	char lanaddr[64];
	int clients;
	int count;
	int base_port;
	double deadline;
	double *latency_ms;  // [count]; only answered-ok requests fill theirs
	unsigned char *ok;   // [count]
	long *unique_id;     // [count]
	pthread_mutex_t lock;
	struct {
		int code;
		int n;
	} kinds[MAX_KINDS];
	int other_kinds;
	int sent;
};

struct worker {
	struct bench *b;
	int index;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// count_error: code is the library's return (negative: transport, parse) or a UPnP error code;
// 1 stands for "success without a usable UniqueID" and 2 for "a UniqueID given twice"
static void count_error(struct bench *b, int code)
{
	pthread_mutex_lock(&b->lock);
	for (int k = 0; k < MAX_KINDS; k++) {
		if (b->kinds[k].n == 0)
			b->kinds[k].code = code;
		if (b->kinds[k].code == code) {
			b->kinds[k].n++;
			pthread_mutex_unlock(&b->lock);
			return;
		}
	}
	b->other_kinds++;
	pthread_mutex_unlock(&b->lock);
}

static int parse_id(const char *text, long *out)
{
	char *end;
	long v;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	int sent = 0;

	for (int i = w->index; i < b->count; i += b->clients) {
		char port[8], uid[16] = "";
		double t0, t1;
		int r;

		if (now_s() >= b->deadline)
			break;
		snprintf(port, sizeof(port), "%d", b->base_port + i);
		t0 = now_s();
		r = UPNP_AddPinhole(b->urls.controlURL_6FC, b->data.IPv6FC.servicetype, "", "0",
				    b->lanaddr, port, "6", "3600", uid);
		t1 = now_s();
		sent++;
		if (r != UPNPCOMMAND_SUCCESS) {
			count_error(b, r);
			continue;
		}
		if (parse_id(uid, &b->unique_id[i]) != 0) {
			count_error(b, 1);
			continue;
		}
		b->latency_ms[i] = (t1 - t0) * 1000.0;
		b->ok[i] = 1;
	}
	pthread_mutex_lock(&b->lock);
	b->sent += sent;
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static double pct(const double *sorted, int n, double p)
{
	int i = (int)(n * p);

	if (n == 0)
		return 0.0;
	return sorted[i < n ? i : n - 1];
}

static int arg_int(const char *text, int lo, int hi, const char *what)
{
	char *end;
	long v = strtol(text, &end, 10);

	if (*end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "upnpc_bench: %s must be %d..%d\n", what, lo, hi);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct worker workers[MAX_CLIENTS];
	pthread_t threads[MAX_CLIENTS];
	struct rusage ru;
	double t_start, secs, *lat;
	long *ids;
	int n_ok = 0, n_ids = 0, dup = 0, n_err = 0;
	char errors[512] = "";
	size_t used = 0;

	if (argc != 6) {
		fprintf(stderr, "usage: upnpc_bench ROOT_DESC_URL CLIENTS COUNT BASE_PORT TIME_LIMIT_S\n");
		return 2;
	}
	b.clients = arg_int(argv[2], 1, MAX_CLIENTS, "CLIENTS");
	b.count = arg_int(argv[3], 1, 65535, "COUNT");
	b.base_port = arg_int(argv[4], 1, 65535, "BASE_PORT");
	if (b.base_port + b.count - 1 > 65535) {
		fprintf(stderr, "upnpc_bench: BASE_PORT + COUNT goes past port 65535\n");
		return 2;
	}
	pthread_mutex_init(&b.lock, NULL);
	if (UPNP_GetIGDFromUrl(argv[1], &b.urls, &b.data, b.lanaddr, sizeof(b.lanaddr)) != 1 ||
	    b.urls.controlURL_6FC == NULL || b.urls.controlURL_6FC[0] == '\0' ||
	    b.data.IPv6FC.servicetype[0] == '\0') {
		fprintf(stderr, "upnpc_bench: no WANIPv6FirewallControl service at %s\n", argv[1]);
		return 1;
	}
	b.latency_ms = calloc((size_t)b.count, sizeof(*b.latency_ms));
	b.ok = calloc((size_t)b.count, 1);
	b.unique_id = calloc((size_t)b.count, sizeof(*b.unique_id));
	lat = calloc((size_t)b.count, sizeof(*lat));
	ids = calloc((size_t)b.count, sizeof(*ids));
	if (!b.latency_ms || !b.ok || !b.unique_id || !lat || !ids) {
		fprintf(stderr, "upnpc_bench: out of memory\n");
		return 1;
	}
	t_start = now_s();
	b.deadline = t_start + arg_int(argv[5], 1, 3600, "TIME_LIMIT_S");
	for (int k = 0; k < b.clients; k++) {
		workers[k] = (struct worker){ .b = &b, .index = k };
		if (pthread_create(&threads[k], NULL, worker_run, &workers[k]) != 0) {
			fprintf(stderr, "upnpc_bench: cannot start thread %d\n", k);
			return 1;
		}
	}
	for (int k = 0; k < b.clients; k++)
		pthread_join(threads[k], NULL);
	secs = now_s() - t_start;
	getrusage(RUSAGE_SELF, &ru);

	for (int i = 0; i < b.count; i++) {
		if (!b.ok[i])
			continue;
		lat[n_ok++] = b.latency_ms[i];
		ids[n_ids++] = b.unique_id[i];
	}
	// every new pinhole has its own UniqueID: an answer repeating another's is not a success
	qsort(ids, (size_t)n_ids, sizeof(*ids), cmp_long);
	for (int i = 1; i < n_ids; i++)
		dup += ids[i] == ids[i - 1];
	for (int d = 0; d < dup; d++)
		count_error(&b, 2);
	qsort(lat, (size_t)n_ok, sizeof(*lat), cmp_double);
	for (int k = 0; k < MAX_KINDS && b.kinds[k].n > 0; k++) {
		const char *kind = b.kinds[k].code == 1 ? "no-unique-id" :
				   b.kinds[k].code == 2 ? "duplicate-unique-id" :
				   b.kinds[k].code < 0 ? "transport" : "upnp";
		n_err += b.kinds[k].n;
		used += (size_t)snprintf(errors + used, sizeof(errors) - used, "%s%s%d:%d", used ? "," : "",
					 kind, b.kinds[k].code, b.kinds[k].n);
		if (used >= sizeof(errors))
			break;
	}
	n_err += b.other_kinds;
	printf("upnpc action=pinhole clients=%d n=%d ok=%d err=%d secs=%.2f rate=%.0f p50_ms=%.3f p99_ms=%.3f "
	       "max_ms=%.3f cpu_s=%.2f errors=%s\n",
	       b.clients, b.sent, n_ok - dup, n_err, secs, secs > 0 ? (n_ok - dup) / secs : 0.0, pct(lat, n_ok, 0.5),
	       pct(lat, n_ok, 0.99), n_ok ? lat[n_ok - 1] : 0.0,
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		       ru.ru_stime.tv_usec / 1e6,
	       used ? errors : "-");
	FreeUPNPUrls(&b.urls);
	return b.sent == b.count && n_err == 0 ? 0 : 1;
}
