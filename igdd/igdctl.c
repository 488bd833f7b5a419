/* SPDX-License-Identifier: GPL-2.0-or-later */
/* igdctl: the operator's command line. Builds one request of the JSON API (tests/CONTRACTS.md),
 * sends it over the control socket (firewall/runtime/ctl.c) and prints the answer: a table for people,
 * the raw JSON with --json. Exit: 0 done, 1 refused, 2 usage, 3 daemon unreachable. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "firewall/runtime/ctl.h"
#include "igdd/vis.h"
#include "web/session.h"

#define EXIT_REFUSED     1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3
#define DEFAULT_SOCKET   "/run/igdd/igdd.sock"
#define TIMEOUT_MS       10000

struct cli {
	const char *socket;
	bool json;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: igdctl [-s SOCKET] [--json] status\n"
		"       igdctl [-s SOCKET] [--json] list\n"
		"       igdctl [-s SOCKET] [--json] add pinhole ADDR6 PROTO PORT [lease=SECONDS] [remote=ADDR[/LEN]]"
		" [rport=PORT] [desc=TEXT]\n"
		"       igdctl [-s SOCKET] [--json] add portmap EXTPORT ADDR4 PORT PROTO [lease=SECONDS]"
		" [remote=ADDR4[/LEN]] [desc=TEXT]\n"
		"       igdctl [-s SOCKET] [--json] refresh ID LEASE\n"
		"       igdctl [-s SOCKET] delete ID\n"
		"       igdctl [-s SOCKET] [--json] devices\n"
		"       igdctl [-s SOCKET] [--json] devices name MAC NAME   (NAME \"\" removes the name)\n"
		"       igdctl [-s SOCKET] [--json] devices allow|block MAC   (may apps on it open ports; block removes"
		" their rules)\n"
		"       igdctl [-s SOCKET] [--json] prefix-changed OLD/LEN NEW/LEN   (e.g. from a DHCPv6 client hook)\n"
		"       igdctl passwd   (reads the web UI password twice from stdin, prints the config line)\n"
		"PROTO: tcp, udp, any or an IANA number. PORT 0 = every port. lease=0 or none = no expiry.\n");
}

/* A decimal number; the range is the daemon's to judge (it answers 422), the syntax is ours. */
static bool parse_num(const char *s, json_int_t *out)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static json_t *proto_json(const char *s)
{
	return json_string(s);
}

/* name=value options after the positional arguments of add. */
static bool add_options(json_t *body, char **argv, int argc, bool pinhole)
{
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		const char *v = eq ? eq + 1 : NULL;
		size_t klen = eq ? (size_t)(eq - argv[i]) : 0;
		json_int_t n;

		if (!eq)
			return false;
		if (klen == 5 && !strncmp(argv[i], "lease", 5) && parse_num(v, &n))
			json_object_set_new(body, "lease", json_integer(n));
		else if (klen == 6 && !strncmp(argv[i], "remote", 6))
			json_object_set_new(body, "remote", json_string(v));
		else if (pinhole && klen == 5 && !strncmp(argv[i], "rport", 5) && parse_num(v, &n))
			json_object_set_new(body, "remote_port", json_integer(n));
		else if (klen == 4 && !strncmp(argv[i], "desc", 4))
			json_object_set_new(body, "description", json_string(v));
		else
			return false;
	}
	return true;
}

/* add pinhole ADDR6 PROTO PORT ... | add portmap EXTPORT ADDR4 PORT PROTO ... */
static json_t *build_add(int argc, char **argv)
{
	json_t *body = json_object();
	json_int_t port, ext;
	bool ok;

	if (argc >= 4 && strcmp(argv[0], "pinhole") == 0 && parse_num(argv[3], &port)) {
		ok = !json_object_set_new(body, "kind", json_string("pinhole")) &&
		     !json_object_set_new(body, "address", json_string(argv[1])) &&
		     !json_object_set_new(body, "proto", proto_json(argv[2])) &&
		     !json_object_set_new(body, "port", json_integer(port)) &&
		     add_options(body, argv + 4, argc - 4, true);
	} else if (argc >= 5 && strcmp(argv[0], "portmap") == 0 && parse_num(argv[1], &ext) &&
		   parse_num(argv[3], &port)) {
		ok = !json_object_set_new(body, "kind", json_string("portmap")) &&
		     !json_object_set_new(body, "ext_port", json_integer(ext)) &&
		     !json_object_set_new(body, "address", json_string(argv[2])) &&
		     !json_object_set_new(body, "port", json_integer(port)) &&
		     !json_object_set_new(body, "proto", proto_json(argv[4])) &&
		     add_options(body, argv + 5, argc - 5, false);
	} else {
		ok = false;
	}
	if (!ok) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* ---------- printing ---------- */

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

static json_int_t int_or(json_t *o, const char *key, json_int_t dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* The upstream PCP server (RFC 6970 interworking) and each mapping's state there. */
static void print_upstream(json_t *u)
{
	json_t *list = json_object_get(u, "list"), *m, *ep;
	size_t i;

	if (!json_is_object(u))
		return;
	ep = json_object_get(u, "epoch");
	printf("upstream      %s (%s)\n", str_or(u, "server", "-"), str_or(u, "state", "?"));
	if (json_is_integer(ep))
		printf("upstream epoch %" JSON_INTEGER_FORMAT "\n", json_integer_value(ep));
	else
		printf("upstream epoch -\n");
	printf("upstream addr %s\n", str_or(u, "ext_addr", "-"));
	printf("upstream maps %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT " mapped, %" JSON_INTEGER_FORMAT
	       " re-created)\n", int_or(u, "mappings", 0), int_or(u, "mapped", 0), int_or(u, "recreated", 0));
	printf("upstream resets %" JSON_INTEGER_FORMAT " (times the server lost its state)\n", int_or(u, "resets", 0));
	json_array_foreach(list, i, m)
		printf("  rule %-6" JSON_INTEGER_FORMAT " %s %-5" JSON_INTEGER_FORMAT " -> %s:%" JSON_INTEGER_FORMAT
		       "  %s  lifetime %" JSON_INTEGER_FORMAT "\n", int_or(m, "rule", 0), str_or(m, "proto", "?"),
		       int_or(m, "int_port", 0), str_or(m, "ext_addr", "?"), int_or(m, "ext_port", 0),
		       str_or(m, "state", "?"), int_or(m, "lifetime", 0));
}

static void print_status(json_t *b)
{
	json_t *rules = json_object_get(b, "rules"), *fw = json_object_get(b, "firewall");

	printf("version       %s\n", str_or(b, "version", "?"));
	printf("pinholes      %" JSON_INTEGER_FORMAT "\n", int_or(rules, "pinholes", 0));
	printf("portmaps      %" JSON_INTEGER_FORMAT "\n", int_or(rules, "portmaps", 0));
	printf("pending       %" JSON_INTEGER_FORMAT "\n", int_or(rules, "pending", 0));
	printf("backend       %s\n", str_or(fw, "backend", "?"));
	printf("table         %s\n", str_or(fw, "table", "-"));
	printf("mode          %s\n", str_or(fw, "mode", "-"));
	printf("transactions  %" JSON_INTEGER_FORMAT "\n", int_or(fw, "transactions", 0));
	printf("reconciles    %" JSON_INTEGER_FORMAT "\n", int_or(fw, "reconciles", 0));
	print_upstream(json_object_get(b, "upstream"));
}

static void print_rule_row(json_t *r)
{
	char target[80], lease[24], ext[16];
	json_t *ein = json_object_get(r, "expires_in");

	if (strcmp(str_or(r, "kind", ""), "portmap") == 0) {
		snprintf(ext, sizeof(ext), "%" JSON_INTEGER_FORMAT, int_or(r, "ext_port", 0));
		snprintf(target, sizeof(target), "%s:%" JSON_INTEGER_FORMAT, str_or(r, "address", "-"),
			 int_or(r, "port", 0));
	} else {
		json_t *tg = json_object_get(r, "target");
		const char *kind = str_or(tg, "exact_kind", "unknown");
		const char *stable = str_or(tg, "stable", NULL);

		snprintf(ext, sizeof(ext), "-");
		/* the address kind when it matters to the user: a temporary address dies within days, and a
		 * second (stable) address the rule also opens */
		snprintf(target, sizeof(target), "[%s]:%" JSON_INTEGER_FORMAT "%s%s%s", str_or(r, "address", "-"),
			 int_or(r, "port", 0), strcmp(kind, "temporary") == 0 ? " temporary" : "",
			 stable && json_is_string(json_object_get(tg, "exact")) &&
				 strcmp(stable, str_or(tg, "exact", "")) != 0 ? " +stable " : "",
			 stable && json_is_string(json_object_get(tg, "exact")) &&
				 strcmp(stable, str_or(tg, "exact", "")) != 0 ? stable : "");
	}
	if (json_is_integer(ein))
		snprintf(lease, sizeof(lease), "%" JSON_INTEGER_FORMAT "s", json_integer_value(ein));
	else
		snprintf(lease, sizeof(lease), "never");
	printf("%-6" JSON_INTEGER_FORMAT " %-8s %-10s %-5s %-6s %-46s %-20s %-9s %-7s %-10" JSON_INTEGER_FORMAT " %s\n",
	       int_or(r, "id", 0), str_or(r, "kind", "?"), str_or(r, "state", "?"), str_or(r, "proto", "?"), ext,
	       target, str_or(r, "remote", "*"), lease, str_or(r, "origin", "?"), int_or(r, "packets", 0),
	       str_or(r, "description", ""));
}

static void print_list(json_t *b)
{
	json_t *rules = json_object_get(b, "rules"), *r;
	size_t i;

	printf("%-6s %-8s %-10s %-5s %-6s %-46s %-20s %-9s %-7s %-10s %s\n", "ID", "KIND", "STATE", "PROTO", "EXT",
	       "TARGET", "REMOTE", "EXPIRES", "ORIGIN", "PACKETS", "DESCRIPTION");
	json_array_foreach(rules, i, r)
		print_rule_row(r);
}

static void print_devices(json_t *b)
{
	json_t *devs = json_object_get(b, "devices"), *d, *a;
	size_t i, k;

	/* the name shown is the household's, else the one its DHCP client sent, else its mDNS host name;
	 * FROM says which (names are text without control characters: the daemon escaped them) */
	printf("%-17s %-9s %-20s %-7s %-40s %-10s %-9s %s\n", "MAC", "FROM", "NAME", "APPS", "ADDRESS", "KIND",
	       "STATE", "EVIDENCE");
	json_array_foreach(devs, i, d) {
		json_t *addrs = json_object_get(d, "addresses");
		const char *apps = json_is_false(json_object_get(d, "apps")) ? "blocked" : "allowed";
		const char *name = str_or(d, "shown_name", str_or(d, "name", "")), *from = str_or(d, "name_source", "");

		if (json_array_size(addrs) == 0)
			printf("%-17s %-9s %-20s %s\n", str_or(d, "mac", "?"), from, name, apps);
		json_array_foreach(addrs, k, a)
			printf("%-17s %-9s %-20s %-7s %-40s %-10s %-9s %s\n", k ? "" : str_or(d, "mac", "?"),
			       k ? "" : from, k ? "" : name, k ? "" : apps, str_or(a, "address", "?"),
			       str_or(a, "kind", "?"), str_or(a, "state", "?"), str_or(a, "evidence", ""));
	}
	if (json_is_object(json_object_get(b, "table"))) {
		json_t *t = json_object_get(b, "table");

		printf("%lld devices, %lld addresses; since start: %lld evicted to make room, %lld refused (all held "
		       "rules), %lld claims on another device's address ignored\n",
		       (long long)json_integer_value(json_object_get(t, "devices")),
		       (long long)json_integer_value(json_object_get(t, "addresses")),
		       (long long)json_integer_value(json_object_get(t, "evicted")),
		       (long long)json_integer_value(json_object_get(t, "refused")),
		       (long long)json_integer_value(json_object_get(t, "claims_ignored")));
	}
}

static void print_named(json_t *b)
{
	const char *name = str_or(b, "name", "");

	if (*name)
		printf("%s is named \"%s\"%s\n", str_or(b, "mac", "?"), name,
		       json_is_true(json_object_get(b, "present")) ? "" : " (not seen now: the name waits for it)");
	else
		printf("%s has no name\n", str_or(b, "mac", "?"));
}

static void print_apps(json_t *b)
{
	if (json_is_false(json_object_get(b, "apps")))
		printf("apps on %s may not open ports now; %" JSON_INTEGER_FORMAT " app-made rules removed\n",
		       str_or(b, "mac", "?"), int_or(b, "removed", 0));
	else
		printf("apps on %s may open ports\n", str_or(b, "mac", "?"));
}

static void print_prefix_changed(json_t *b)
{
	printf("%s -> %s: %" JSON_INTEGER_FORMAT " rules re-anchored (%" JSON_INTEGER_FORMAT " installed, %"
	       JSON_INTEGER_FORMAT " pending, %" JSON_INTEGER_FORMAT " removed)\n", str_or(b, "old", "?"),
	       str_or(b, "new", "?"), int_or(b, "reanchored", 0), int_or(b, "installed", 0), int_or(b, "pending", 0),
	       int_or(b, "removed", 0));
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s)
		printf("%s\n", s);
	free(s);
}

/* ---------- the exchange ---------- */

/* Sends one request; returns the answer's body (owned) and its status, or an exit code < 0 on failure. */
static int exchange(const struct cli *cli, const char *method, const char *path, json_t *body, json_t **out)
{
	json_t *env = json_pack("{s:s,s:s}", "method", method, "path", path), *ans, *st;
	char *req, *resp = NULL;
	json_error_t jerr;
	int status;

	if (env && body)
		json_object_set_new(env, "body", body);
	req = env ? json_dumps(env, JSON_COMPACT) : NULL;
	json_decref(env);
	if (!req) {
		fprintf(stderr, "igdctl: out of memory\n");
		return -EXIT_REFUSED;
	}
	if (ctl_request(cli->socket, req, &resp, TIMEOUT_MS) < 0) {
		fprintf(stderr, "igdctl: cannot reach the daemon at %s: %s\n", cli->socket, strerror(errno));
		free(req);
		return -EXIT_UNREACHABLE;
	}
	free(req);
	ans = json_loads(resp, 0, &jerr);
	free(resp);
	st = json_object_get(ans, "status");
	if (!json_is_integer(st) || !json_object_get(ans, "body")) {
		fprintf(stderr, "igdctl: the daemon's answer is not understood\n");
		json_decref(ans);
		return -EXIT_UNREACHABLE;
	}
	status = (int)json_integer_value(st);
	*out = json_incref(json_object_get(ans, "body"));
	json_decref(ans);
	return status;
}

static int refused(json_t *body, int status)
{
	json_t *e = json_object_get(body, "error");

	fprintf(stderr, "igdctl: %s (%s, %d)\n", str_or(e, "message", "refused"), str_or(e, "code", "error"), status);
	return EXIT_REFUSED;
}

/* Runs a request and prints the answer with the given printer (NULL: nothing in text mode). */
static int run(const struct cli *cli, const char *method, const char *path, json_t *body,
	       void (*print)(json_t *), const char *json_key)
{
	json_t *ans = NULL;
	int status = exchange(cli, method, path, body, &ans);
	int rc = 0;

	if (status < 0)
		return -status;
	/* descriptions and names come from LAN hosts: on a terminal their control characters are shown,
	 * not obeyed (JSON output escapes them itself) */
	if ((!cli->json || status < 200 || status > 299) && vis_json(ans) < 0) {
		fprintf(stderr, "igdctl: out of memory\n");
		json_decref(ans);
		return EXIT_REFUSED;
	}
	if (status < 200 || status > 299) {
		rc = refused(ans, status);
	} else if (cli->json) {
		print_json(json_key ? json_object_get(ans, json_key) : ans);
	} else if (print) {
		print(ans);
	}
	json_decref(ans);
	return rc;
}

static void print_id(json_t *ans)
{
	printf("%" JSON_INTEGER_FORMAT "\n", int_or(json_object_get(ans, "rule"), "id", 0));
}

static bool valid_id(const char *s, json_int_t *id)
{
	return parse_num(s, id) && *id > 0 && *id <= 0x7fffffff;
}

/* ---------- igdctl passwd ---------- */

static void passwd_random(void *arg, void *buf, size_t len)
{
	unsigned char *p = buf;

	(void)arg;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			perror("igdctl: getrandom");
			exit(EXIT_REFUSED);
		}
		p += n;
		len -= (size_t)n;
	}
}

/* One line from stdin without its newline; echo is off while a terminal types it. */
static bool read_password(const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	bool ok;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	ok = fgets(buf, (int)len, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!ok)
		return false;
	if (!strchr(buf, '\n') && !feof(stdin))
		return false; /* longer than the buffer: refused, not cut */
	buf[strcspn(buf, "\r\n")] = '\0';
	return true;
}

/* Prints the web_password_hash= line for igdd.conf; the password itself is never stored. */
static int passwd_command(void)
{
	char a[SESSION_PASSWORD_MAX + 2], b[SESSION_PASSWORD_MAX + 2], hash[SESSION_HASH_MAX];
	int rc = EXIT_REFUSED;

	if (!read_password("New web UI password: ", a, sizeof(a)) ||
	    !read_password("Again: ", b, sizeof(b))) {
		fprintf(stderr, "igdctl: no password read (or longer than %d bytes)\n", SESSION_PASSWORD_MAX);
	} else if (strcmp(a, b) != 0) {
		fprintf(stderr, "igdctl: the two passwords differ\n");
	} else if (strlen(a) < 8) {
		fprintf(stderr, "igdctl: use at least 8 characters\n");
	} else if (session_hash_password(a, passwd_random, NULL, hash, sizeof(hash)) < 0) {
		fprintf(stderr, "igdctl: crypt(3) could not hash the password\n");
	} else {
		printf("web_password_hash=%s\n", hash);
		rc = 0;
	}
	explicit_bzero(a, sizeof(a));
	explicit_bzero(b, sizeof(b));
	return rc;
}

static int command(const struct cli *cli, int argc, char **argv)
{
	char path[64];
	json_int_t id, lease;
	json_t *body;

	if (argc == 1 && strcmp(argv[0], "passwd") == 0)
		return passwd_command();
	if (argc == 1 && strcmp(argv[0], "status") == 0)
		return run(cli, "GET", "/api/v1/status", NULL, print_status, NULL);
	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return run(cli, "GET", "/api/v1/rules", NULL, print_list, NULL);
	if (argc == 1 && strcmp(argv[0], "devices") == 0)
		return run(cli, "GET", "/api/v1/devices", NULL, print_devices, NULL);
	/* the MAC goes into the path: only its own characters (the daemon judges the rest, 422) */
	if (argc >= 3 && strcmp(argv[0], "devices") == 0 && strlen(argv[2]) < 32 &&
	    strspn(argv[2], "0123456789abcdefABCDEF:") == strlen(argv[2]))
		snprintf(path, sizeof(path), "/api/v1/devices/%s", argv[2]);
	else
		path[0] = '\0';
	if (argc == 3 && path[0] && (strcmp(argv[1], "allow") == 0 || strcmp(argv[1], "block") == 0))
		return run(cli, "PUT", path, json_pack("{s:b}", "apps", strcmp(argv[1], "allow") == 0), print_apps, NULL);
	if (argc == 4 && path[0] && strcmp(argv[1], "name") == 0) {
		body = json_pack("{s:s}", "name", argv[3]);
		if (!body) {   /* jansson takes UTF-8 only */
			fprintf(stderr, "igdctl: the name is not UTF-8 text\n");
			return EXIT_REFUSED;
		}
		return run(cli, "PUT", path, body, print_named, NULL);
	}
	if (argc == 3 && strcmp(argv[0], "prefix-changed") == 0)
		return run(cli, "POST", "/api/v1/prefix-changed",
			   json_pack("{s:s,s:s}", "old", argv[1], "new", argv[2]), print_prefix_changed, NULL);
	if (argc >= 2 && strcmp(argv[0], "add") == 0) {
		body = build_add(argc - 1, argv + 1);
		if (!body)
			goto bad;
		return run(cli, "POST", "/api/v1/rules", body, print_id, "rule");
	}
	if (argc == 3 && strcmp(argv[0], "refresh") == 0 && valid_id(argv[1], &id) && parse_num(argv[2], &lease)) {
		snprintf(path, sizeof(path), "/api/v1/rules/%" JSON_INTEGER_FORMAT "/refresh", id);
		return run(cli, "POST", path, json_pack("{s:I}", "lease", lease), print_id, "rule");
	}
	if (argc == 2 && strcmp(argv[0], "delete") == 0 && valid_id(argv[1], &id)) {
		snprintf(path, sizeof(path), "/api/v1/rules/%" JSON_INTEGER_FORMAT, id);
		return run(cli, "DELETE", path, NULL, NULL, NULL);
	}
bad:
	usage();
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { .socket = DEFAULT_SOCKET, .json = false };
	int ch;

	/* "+": options end at the command, so desc=-x and friends pass through */
	while ((ch = getopt_long(argc, argv, "+s:jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': cli.socket = optarg; break;
		case 'j': cli.json = true; break;
		default:
			usage();
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage();
		return EXIT_USAGE;
	}
	return command(&cli, argc - optind, argv + optind);
}
