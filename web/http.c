/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libmicrohttpd around the pure handlers (see http.h). This file does the I/O and decides
 * nothing: who may do what is web/api_web.c's and firewall/runtime/api.c's business. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "firewall/lib/addr.h"
#include "firewall/lib/log.h"
#include "firewall/runtime/api.h"
#include "web/api_web.h"
#include "web/http.h"

#define WEB_MAX_DAEMONS     FW_MAX_IFNAMES
#define WEB_CONN_LIMIT      64        /* connections per listening socket */
#define WEB_THREADS         4         /* per listening socket: a slow login does not stall the others */
#define WEB_PER_IP_LIMIT    16        /* a browser opens about 6 */
#define WEB_TIMEOUT_S       30        /* idle connection closed after */
#define WEB_MEMORY_LIMIT    (32 * 1024) /* per connection: request line + headers must fit (else 431) */
#define WEB_STATIC_MAX      (1024 * 1024)
#define WEB_DEFAULT_ROOT    "/usr/share/igdd/web"

struct web {
	struct MHD_Daemon *mhd[WEB_MAX_DAEMONS];
	size_t n_mhd;
	/* ":PORT" mode: LAN interfaces that did not exist yet when we started (a router's bridge made by
	 * its network manager after us); web_lan_changed listens on them once they do. Loop thread. */
	bool waiting[FW_MAX_IFNAMES];
	const struct conf *conf;
	int static_fd;                 /* O_PATH directory of the static files, -1 = none */
	pthread_mutex_t mu;            /* api_web state: the daemons' threads share it */
	struct api_web *aw;
	struct core *core;
	const struct fw_config *fw;
	const struct api_upstream *upstream;
	struct store *store;
	const struct netif *ifaces;    /* where a web_listen address is (netif.h) */
	bool saved;                    /* the household saved settings (now or before a restart): they rule */
	void (*fronts)(void *arg, const struct web_settings *s);
	void *fronts_arg;
	/* web_hostname: the names besides our addresses a request's Host may carry */
	char hostname[CONF_WEB_HOSTNAMES][CONF_HOSTNAME_MAX + 1];
	const char *hostnames[CONF_WEB_HOSTNAMES];
	size_t n_hostnames;
};

/* One request's upload, kept between the access handler's calls. */
struct upload {
	char *buf;
	size_t len;
	bool too_big;
};

static void random_bytes(void *arg, void *buf, size_t len)
{
	unsigned char *p = buf;

	(void)arg;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fatal("getrandom"); /* no session token is better than a guessable one */
		p += n;
		len -= (size_t)n;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------- settings: policy, front ends, store ---------- */

/* Under the core's lock: a SIGHUP swapping the policy meanwhile cannot be half overwritten. */
static void edit_policy(void *arg, struct policy_config *pc)
{
	const struct web_settings *s = arg;

	pc->allow_temporary = s->allow_temporary;
	pc->max_lifetime = s->max_lifetime;
	if (pc->min_lifetime > pc->max_lifetime)
		pc->min_lifetime = pc->max_lifetime;
}

static void apply_policy(struct web *w, const struct web_settings *s)
{
	core_policy_update(w->core, edit_policy, (void *)s);
}

/* api_web's apply callback: durable first, so an answer of 200 survives a restart. */
static int apply_settings(void *arg, const struct web_settings *s)
{
	struct web *w = arg;
	char text[128];

	if (api_web_settings_encode(s, text, sizeof(text)) < 0)
		return -1;
	if (w->store && store_meta_set(w->store, API_WEB_META_KEY, text) < 0) {
		log_warn("web: cannot save settings");
		return -1;
	}
	apply_policy(w, s);
	w->saved = true;
	if (w->fronts)
		w->fronts(w->fronts_arg, s);
	log_info("web: settings %s", text);
	return 0;
}

void web_reapply_settings(struct web *w)
{
	struct web_settings s;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	if (w->saved) {
		api_web_settings(w->aw, &s);
		apply_policy(w, &s);
		log_info("web: the settings saved in the web UI stay in force (temporary pinholes %s, max lease %u s)",
			 s.allow_temporary ? "allowed" : "refused", s.max_lifetime);
	}
	pthread_mutex_unlock(&w->mu);
}

/* ---------- responses ---------- */

static void security_headers(struct MHD_Response *r, bool api)
{
	/* no inline script or style anywhere: the CSP allows our own files only */
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
				"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", api ? "no-store" : "no-cache");
}

/* Queues body (malloc'd, taken) as the answer. */
static enum MHD_Result send_json(struct MHD_Connection *c, int status, char *body, const char *cookie,
				 uint32_t retry_after)
{
	static const char fallback[] = "{\"error\":{\"code\":\"no_resources\",\"message\":\"out of memory\"}}";
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (body)
		r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	else
		r = MHD_create_response_from_buffer(sizeof(fallback) - 1, (void *)fallback, MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (!body)
		status = 500;
	security_headers(r, true);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (cookie && *cookie)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	if (retry_after) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%u", retry_after);
		MHD_add_response_header(r, "Retry-After", ra);
	}
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *code, const char *msg)
{
	json_t *j = api_error_json(code, msg);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return send_json(c, status, s, NULL, 0);
}

/* ---------- static files ---------- */

static const char *content_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" }, { ".svg", "image/svg+xml" },
		{ ".png", "image/png" }, { ".ico", "image/x-icon" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

/* A plain file name in the static directory: letters, digits, '-', '_', one '.' for the type. */
static bool static_name_ok(const char *name)
{
	size_t n = strlen(name), dots = 0;

	if (n == 0 || n > 64 || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++) {
		if (*p == '.')
			dots++;
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			   *p == '-' || *p == '_'))
			return false;
	}
	return dots == 1;
}

static enum MHD_Result serve_static(struct web *w, struct MHD_Connection *c, const char *url)
{
	const char *name = strcmp(url, "/") == 0 ? "index.html" : url + 1;
	const char *type;
	struct MHD_Response *r;
	struct stat st;
	enum MHD_Result ret;
	int fd;

	if (url[0] != '/' || !static_name_ok(name) || !(type = content_type(name)) || w->static_fd < 0)
		return send_error(c, 404, "not_found", "no such page");
	fd = openat(w->static_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return send_error(c, 404, "not_found", "no such page");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_STATIC_MAX) {
		close(fd);
		return send_error(c, 404, "not_found", "no such page");
	}
	r = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* takes fd */
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	security_headers(r, false);
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---------- the API ---------- */

/* An IPv6 or IPv4 socket address as an in6_addr (v4-mapped); all zero for anything else. */
static void sockaddr_in6addr(const struct sockaddr *sa, struct in6_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa && sa->sa_family == AF_INET6)
		*out = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else if (sa && sa->sa_family == AF_INET)
		addr_from_v4(out, ((const struct sockaddr_in *)(const void *)sa)->sin_addr);
}

static void peer_addr(struct MHD_Connection *c, struct in6_addr *out)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	sockaddr_in6addr(ci ? ci->client_addr : NULL, out);
}

/* The address the client connected to (ours). */
static void local_addr(struct MHD_Connection *c, struct in6_addr *out)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;   /* all zero: no Host matches it */
	sockaddr_in6addr((const struct sockaddr *)&ss, out);
}

/* DNS rebinding (see api_web_host_ok): a short plain answer, as the page of the other site will not
 * show it anyway, but a person typing a wrong name will. */
static enum MHD_Result refuse_host(struct MHD_Connection *c)
{
	static const char msg[] = "421 Misdirected Request: open this router's page by its address "
				  "(or a name set with web_hostname=).\n";
	struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	security_headers(r, true);
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_MISDIRECTED_REQUEST, r);
	MHD_destroy_response(r);
	return ret;
}

static bool host_ok(const struct web *w, struct MHD_Connection *c)
{
	struct in6_addr local;

	local_addr(c, &local);
	return api_web_host_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST), &local,
			       w->hostnames, w->n_hostnames);
}

static bool is_json_type(const char *ct)
{
	static const char want[] = "application/json";

	return ct && strncasecmp(ct, want, sizeof(want) - 1) == 0 &&
	       (ct[sizeof(want) - 1] == '\0' || ct[sizeof(want) - 1] == ';' || ct[sizeof(want) - 1] == ' ');
}

static enum MHD_Result serve_api(struct web *w, struct MHD_Connection *c, const char *url, const char *method,
				 struct upload *up)
{
	struct api_web_request wr;
	struct api_web_response wresp;
	enum api_web_result res;

	if (up->too_big)
		return send_error(c, 413, "bad_request", "body larger than 64 KiB");
	/* a body must say it is JSON: an HTML form on another site cannot send that without CORS */
	if (up->len > 0 && !is_json_type(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type")))
		return send_error(c, 415, "bad_request", "the body must be application/json");
	memset(&wr, 0, sizeof(wr));
	wr.method = method;
	wr.path = url;
	wr.body = up->buf;
	wr.body_len = up->len;
	peer_addr(c, &wr.peer);
	wr.cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, API_WEB_COOKIE);
	wr.csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
	wr.now_ms = now_ms();

	pthread_mutex_lock(&w->mu);
	res = api_web_handle(w->aw, &wr, &wresp);
	pthread_mutex_unlock(&w->mu);
	if (res == API_WEB_CHECK) {
		/* crypt(3) is slow by design: without the lock, so other requests go on meanwhile */
		bool good = session_check_password(wresp.login.hash, wresp.login.password);

		pthread_mutex_lock(&w->mu);
		res = api_web_login_done(w->aw, &wr, good, &wresp);
		pthread_mutex_unlock(&w->mu);
	}

	if (res == API_WEB_PASS) {
		struct api_request ar = {
			.method = method, .path = url, .body = up->buf, .body_len = up->len, .peer = wr.peer,
			.privileged = true, .origin = ORIGIN_WEB, .fw = w->fw, .now = 0, .upstream = w->upstream,
		};
		struct api_response resp = { 0 };

		api_web_response_free(&wresp);
		api_handle(w->core, &ar, &resp);
		return send_json(c, resp.status, resp.body, NULL, 0);
	}
	return send_json(c, wresp.status, wresp.body, wresp.set_cookie, wresp.retry_after);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct web *w = cls;
	struct upload *up = *con_cls;
	bool api = strncmp(url, "/api/", 5) == 0;

	(void)version;
	if (!up) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

		up = calloc(1, sizeof(*up));
		if (!up)
			return MHD_NO;
		*con_cls = up;
		/* refuse an oversized body before it is sent, when its size is announced */
		if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX)
			up->too_big = true;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		if (!up->too_big && (!api || up->len + n > API_BODY_MAX)) {
			up->too_big = true;
			free(up->buf);
			up->buf = NULL;
			up->len = 0;
		}
		if (!up->too_big) {
			char *nb = realloc(up->buf, up->len + n + 1);

			if (!nb)
				return MHD_NO;
			memcpy(nb + up->len, upload_data, n);
			up->buf = nb;
			up->len += n;
			up->buf[up->len] = '\0';
		}
		*upload_data_size = 0; /* consumed (or dropped) */
		return MHD_YES;
	}
	if (!host_ok(w, c))
		return refuse_host(c);
	if (api)
		return serve_api(w, c, url, method, up);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return send_error(c, 405, "bad_request", "method not allowed");
	if (up->too_big || up->len)
		return send_error(c, 413, "bad_request", "no body expected");
	return serve_static(w, c, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode tc)
{
	struct upload *up = *con_cls;

	(void)cls;
	(void)c;
	(void)tc;
	if (up) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("web: %s", buf);
}

/* ---------- listening sockets ---------- */

static int listen_socket(const struct sockaddr *sa, socklen_t salen, const char *ifname)
{
	int one = 1, zero = 0;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6 && !ifname)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	else if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/* the LAN-only guarantee: the kernel delivers only what arrived on this interface */
	if (ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0) {
		int saved = errno;

		if (saved != ENODEV)
			log_warn("web: SO_BINDTODEVICE %s", ifname);
		close(fd);
		errno = saved;
		return -1;
	}
	if (bind(fd, sa, salen) < 0 || listen(fd, 32) < 0) {
		log_warn("web: bind/listen%s%s", ifname ? " on " : "", ifname ? ifname : "");
		close(fd);
		return -1;
	}
	return fd;
}

struct listen_q {
	const struct conf *cf;
};

/* Where the UI may be served: a LAN interface or the loopback. */
static bool lan_or_loopback(void *arg, const char *name, bool loopback)
{
	const struct listen_q *q = arg;
	bool ok = loopback;

	for (size_t k = 0; k < q->cf->fw.n_lan && !ok; k++)
		ok = strcmp(name, q->cf->fw.lan_ifname[k]) == 0;
	return ok;
}

/* The interface an explicit web_listen address belongs to, if it may serve the UI there: a LAN
 * interface or the loopback. The socket is then tied to it, as in the ":PORT" mode: the LAN side's
 * IPv6 addresses are routed from the internet, and a connection to one arriving on the WAN must not
 * reach the UI. */
static bool listen_ifname(const struct web *w, const struct conf *cf, const struct in6_addr *a,
			  char ifname[IF_NAMESIZE])
{
	struct listen_q q = { cf };
	char name[NETIF_NAME_MAX];

	if (!netif_holder(w->ifaces, a, lan_or_loopback, &q, name))
		return false;
	snprintf(ifname, IF_NAMESIZE, "%s", name);
	return true;
}

static int start_daemon(struct web *w, int fd)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;

	flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)WEB_THREADS,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_CONN_LIMIT,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)WEB_PER_IP_LIMIT,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_TIMEOUT_S,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_MEMORY_LIMIT,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
			     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, w,
			     MHD_OPTION_END);
	if (!d) {
		close(fd);
		return -1;
	}
	w->mhd[w->n_mhd++] = d;
	return 0;
}

/* ":PORT" mode: the UI on LAN interface i, tied to it. 0, -ENODEV when the interface does not exist
 * (yet), -1 on another failure (logged). */
static int listen_on_lan(struct web *w, const struct conf *cf, size_t i)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(cf->web_port) };
	int fd = listen_socket((struct sockaddr *)&s6, sizeof(s6), cf->fw.lan_ifname[i]);

	if (fd < 0 && errno == ENODEV)
		return -ENODEV;
	if (fd < 0) {
		/* a host without IPv6: IPv4 on the same interface */
		struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(cf->web_port) };

		fd = listen_socket((struct sockaddr *)&s4, sizeof(s4), cf->fw.lan_ifname[i]);
	}
	if (fd < 0 || start_daemon(w, fd) < 0)
		return -1;
	log_info("web: listening on port %u of %s", cf->web_port, cf->fw.lan_ifname[i]);
	return 0;
}

static int open_listeners(struct web *w, const struct conf *cf)
{
	if (cf->web_has_addr) {
		struct sockaddr_storage ss;
		char ifname[IF_NAMESIZE];
		socklen_t len;
		int fd;

		memset(&ss, 0, sizeof(ss));
		if (!listen_ifname(w, cf, &cf->web_addr, ifname)) {
			log_warnx("web: web_listen=%s is not an address of a LAN interface (lan_ifname) or of the "
				  "loopback: refused (\":PORT\" listens on every LAN interface)", cf->web_listen);
			return -1;
		}
		if (addr_is_v4(&cf->web_addr)) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			s4->sin_addr = addr_to_v4(&cf->web_addr);
			s4->sin_port = htons(cf->web_port);
			len = sizeof(*s4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			s6->sin6_addr = cf->web_addr;
			s6->sin6_port = htons(cf->web_port);
			len = sizeof(*s6);
		}
		fd = listen_socket((struct sockaddr *)&ss, len, ifname);
		if (fd < 0 || start_daemon(w, fd) < 0)
			return -1;
		log_info("web: listening on %s (%s)", cf->web_listen, ifname);
		return 0;
	}
	for (size_t i = 0; i < cf->fw.n_lan && i < WEB_MAX_DAEMONS; i++) {
		int rc = listen_on_lan(w, cf, i);

		if (rc == -ENODEV) {
			w->waiting[i] = true;
			log_info("web: %s does not exist yet; the UI listens there once it does",
				 cf->fw.lan_ifname[i]);
		} else if (rc < 0) {
			return -1;
		}
	}
	return 0;
}

/* Loop thread, on every change of the LAN's links: listen on the interfaces that appeared. */
void web_lan_changed(struct web *w)
{
	for (size_t i = 0; w && i < w->conf->fw.n_lan && i < WEB_MAX_DAEMONS; i++)
		if (w->waiting[i] && listen_on_lan(w, w->conf, i) != -ENODEV)
			w->waiting[i] = false;   /* listening, or a failure already logged: not retried */
}

/* ---------- static directory ---------- */

static int open_static_dir(const char *given)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	const char *env = getenv("IGDD_WEB_ROOT");
	ssize_t n;
	int fd;

	if (given)
		return open(given, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (env && *env)
		return open(env, O_PATH | O_DIRECTORY | O_CLOEXEC);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/../web/static", exe);
			fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0)
				return fd;
			/* the sanitizer build lives in .build/san/igdd/: the sources are three levels up */
			snprintf(path, sizeof(path), "%s/../../../web/static", exe);
			fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0)
				return fd;
		}
	}
	return open(WEB_DEFAULT_ROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* ---------- life cycle ---------- */

int web_start(struct web **out, const struct web_params *p)
{
	const struct conf *cf = p->conf;
	struct api_web_params ap;
	struct web *w;
	char text[256];

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	pthread_mutex_init(&w->mu, NULL);
	w->core = p->core;
	w->fw = &cf->fw;
	w->conf = cf;
	w->upstream = p->upstream;
	w->store = p->store;
	w->ifaces = p->ifaces;
	w->fronts = p->fronts;
	w->fronts_arg = p->fronts_arg;
	for (size_t i = 0; i < cf->n_web_hostname && i < CONF_WEB_HOSTNAMES; i++) {
		snprintf(w->hostname[i], sizeof(w->hostname[i]), "%s", cf->web_hostname[i]);
		w->hostnames[w->n_hostnames++] = w->hostname[i];
	}
	w->static_fd = open_static_dir(p->static_dir);
	if (w->static_fd < 0)
		log_warnx("web: no static files found (set IGDD_WEB_ROOT); only the API is served");

	memset(&ap, 0, sizeof(ap));
	ap.password_hash = cf->web_password_hash;
	ap.settings.enable_upnp = cf->enable_upnp;
	ap.settings.enable_pcp = cf->enable_pcp;
	ap.settings.allow_temporary = cf->policy.allow_temporary;
	ap.settings.max_lifetime = cf->policy.max_lifetime;
	ap.min_lifetime = cf->policy.min_lifetime;
	ap.rnd = random_bytes;
	ap.apply = apply_settings;
	ap.apply_arg = w;
	/* what the household chose in the UI outlives restarts: it wins over the config file */
	if (p->store && store_meta_get(p->store, API_WEB_META_KEY, text, sizeof(text)) == 0) {
		if (api_web_settings_decode(text, ap.min_lifetime, &ap.settings)) {
			apply_policy(w, &ap.settings);
			w->saved = true;
			log_info("web: saved settings %s", text);
		} else {
			log_warnx("web: ignoring malformed saved settings '%s'", text);
		}
	}
	if (w->fronts)
		w->fronts(w->fronts_arg, &ap.settings);
	if (!cf->web_password_hash[0])
		log_info("web: no web_password_hash configured: the UI will explain how to set one");
	w->aw = api_web_new(&ap);
	if (!w->aw || open_listeners(w, cf) < 0) {
		web_stop(w);
		return -1;
	}
	*out = w;
	return 0;
}

void web_stop(struct web *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_mhd; i++)
		MHD_stop_daemon(w->mhd[i]);
	/* (MHD_stop_daemon closed the listening sockets it was given) */
	if (w->static_fd >= 0)
		close(w->static_fd);
	api_web_free(w->aw);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
