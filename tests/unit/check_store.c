/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Check suite "store": the rule line format (rule_format / rule_parse) and the store on disk. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/core/rule.h"
#include "firewall/core/store.h"

#define BIG_COUNT 100000
/* the goal is 1 s; ASan and UBSan builds (make test) run about three times slower */
#if defined(__SANITIZE_ADDRESS__)
#define LOAD_LIMIT_S 3.0
#else
#define LOAD_LIMIT_S 1.0
#endif

/* ---------------------------------------------------------------- helpers */

/* The base dir is made and removed by the parent (unchecked fixture), so a failing test, which
 * exits its forked child at once, still leaves nothing behind. */
static char basedir[64];
static char tmpdir[128];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/t.XXXXXX", basedir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

static void base_setup(void)
{
	snprintf(basedir, sizeof(basedir), "/tmp/check_store.XXXXXX");
	if (mkdtemp(basedir) == NULL) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static void base_teardown(void)
{
	nftw(basedir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void addr(struct in6_addr *a, const char *s)
{
	ck_assert_msg(addr_parse(s, a), "test address %s", s);
}

/* A rule with every field set to something other than zero. */
static void full_rule(struct rule *r, uint32_t id)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->kind = RULE_PINHOLE;
	r->state = RULE_INSTALLED;
	r->proto = IPPROTO_UDP;
	for (int i = 0; i < 6; i++)
		r->target.mac[i] = (uint8_t)(0xa0 + i + id);
	r->target.has_mac = true;
	r->target.use_exact = true;
	addr(&r->target.exact, "2001:db8:1:1::5");
	r->target.exact_kind = ADDR_KIND_TEMPORARY;
	r->target.use_stable = true;
	addr(&r->target.subnet, "2001:db8:1:1::");
	r->target.subnet_len = 64;
	r->target.stable_resolved = true;
	addr(&r->target.stable, "2001:db8:1:1:a8bb:ccff:fedd:eeff");
	r->int_port = 51413;
	r->ext_port = 51414;
	r->ext_addr.s_addr = htonl(0xcb007101);
	addr(&r->remote, "2001:db8:9::");
	r->remote_len = 48;
	r->remote_port = 4444;
	r->expires = 1700000000 + id;
	r->lease = 3600;
	r->origin = ORIGIN_PCP;
	addr(&r->owner, "2001:db8:1:1::5");
	r->has_nonce = true;
	for (int i = 0; i < RULE_NONCE_LEN; i++)
		r->nonce[i] = (uint8_t)(i * 17 + 3);
	snprintf(r->desc, sizeof(r->desc), "rule %u: spaces, 100%% = sure", id);
	r->packets = 123456789012ull;
	r->bytes = UINT64_MAX;
}

/* Field by field (struct padding and the bytes after desc's NUL are not part of a rule). */
static void assert_rule_eq(const struct rule *a, const struct rule *b)
{
	const struct rule_target *x = &a->target, *y = &b->target;

	ck_assert_uint_eq(a->id, b->id);
	ck_assert_int_eq(a->kind, b->kind);
	ck_assert_int_eq(a->state, b->state);
	ck_assert_uint_eq(a->proto, b->proto);
	ck_assert_int_eq(x->has_mac, y->has_mac);
	ck_assert_mem_eq(x->mac, y->mac, sizeof(x->mac));
	ck_assert_int_eq(x->use_exact, y->use_exact);
	ck_assert_mem_eq(&x->exact, &y->exact, sizeof(x->exact));
	ck_assert_int_eq(x->exact_kind, y->exact_kind);
	ck_assert_int_eq(x->use_stable, y->use_stable);
	ck_assert_mem_eq(&x->subnet, &y->subnet, sizeof(x->subnet));
	ck_assert_uint_eq(x->subnet_len, y->subnet_len);
	ck_assert_int_eq(x->stable_resolved, y->stable_resolved);
	ck_assert_mem_eq(&x->stable, &y->stable, sizeof(x->stable));
	ck_assert_uint_eq(a->int_port, b->int_port);
	ck_assert_uint_eq(a->ext_port, b->ext_port);
	ck_assert_uint_eq(a->ext_addr.s_addr, b->ext_addr.s_addr);
	ck_assert_mem_eq(&a->remote, &b->remote, sizeof(a->remote));
	ck_assert_uint_eq(a->remote_len, b->remote_len);
	ck_assert_uint_eq(a->remote_port, b->remote_port);
	ck_assert_int_eq(a->expires, b->expires);
	ck_assert_uint_eq(a->lease, b->lease);
	ck_assert_int_eq(a->origin, b->origin);
	ck_assert_mem_eq(&a->owner, &b->owner, sizeof(a->owner));
	ck_assert_int_eq(a->has_nonce, b->has_nonce);
	ck_assert_mem_eq(a->nonce, b->nonce, sizeof(a->nonce));
	ck_assert_str_eq(a->desc, b->desc);
	ck_assert_uint_eq(a->packets, b->packets);
	ck_assert_uint_eq(a->bytes, b->bytes);
}

static void assert_round_trip(const struct rule *r)
{
	char line[RULE_LINE_MAX + 1], err[256] = "";
	struct rule back;
	int n = rule_format(r, line, sizeof(line));

	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(strlen(line), (size_t)n);
	ck_assert_ptr_null(memchr(line, '\n', (size_t)n));
	ck_assert_msg(rule_parse(line, (size_t)n, &back, err, sizeof(err)), "parse '%s': %s", line, err);
	assert_rule_eq(r, &back);
}

/* ---------------------------------------------------------------- the line format */

START_TEST(test_round_trip_full)
{
	struct rule r;

	full_rule(&r, 7);
	assert_round_trip(&r);
}
END_TEST

START_TEST(test_round_trip_variants)
{
	struct rule r;

	/* an IPv4 port mapping with a v4 remote prefix and a negative (odd but representable) expiry */
	full_rule(&r, RULE_ID_MAX);
	r.kind = RULE_PORTMAP;
	r.state = RULE_PENDING;
	r.proto = IPPROTO_TCP;
	addr(&r.target.exact, "192.0.2.10");
	r.target.exact_kind = ADDR_KIND_IPV4;
	r.target.use_stable = false;
	memset(&r.target.subnet, 0, sizeof(r.target.subnet));
	r.target.subnet_len = 0;
	r.target.stable_resolved = false;
	memset(&r.target.stable, 0, sizeof(r.target.stable));
	addr(&r.remote, "198.51.100.0");
	r.remote_len = 96 + 24;
	r.expires = INT64_MIN;
	r.lease = UINT32_MAX;
	r.int_port = 65535;
	assert_round_trip(&r);

	/* the fewest fields: nothing optional, id 0, proto any and a raw IANA number */
	memset(&r, 0, sizeof(r));
	r.kind = RULE_PINHOLE;
	r.state = RULE_GONE;
	r.origin = ORIGIN_STATIC;
	r.proto = RULE_PROTO_ANY;
	assert_round_trip(&r);
	r.proto = 0;
	assert_round_trip(&r);
	r.proto = 132;
	r.expires = INT64_MAX;
	assert_round_trip(&r);

	/* a v4-mapped remote with a length under 96 must not be confused with an IPv4 prefix */
	addr(&r.remote, "::ffff:0.0.0.0");
	r.remote_len = 80;
	assert_round_trip(&r);
	/* selectors on with all-zero values: the flags alone must survive */
	memset(&r.remote, 0, sizeof(r.remote));
	r.remote_len = 0;
	r.target.use_exact = true;
	r.target.use_stable = true;
	r.target.has_mac = true;
	r.has_nonce = true;
	assert_round_trip(&r);
	for (int k = ADDR_KIND_UNKNOWN; k <= ADDR_KIND_TEMPORARY; k++) {
		r.target.exact_kind = (enum addr_kind)k;
		assert_round_trip(&r);
	}
	for (int o = ORIGIN_UPNP; o <= ORIGIN_STATIC; o++) {
		r.origin = (enum rule_origin)o;
		assert_round_trip(&r);
	}
}
END_TEST

static const char *const nasty_descs[] = {
	"",
	" ",
	"two  spaces  and trailing ",
	"100% sure = yes",
	"%41 is not A",
	"line1\nline2\r\n",
	"tab\there",
	"UTF-8: Grüße, 日本語, emoji \xf0\x9f\x98\x80",
	"invalid UTF-8 \xff\xfe\xc0\x80",
	"key=value desc=fake id=99",
	"\x01\x02\x1f\x7f",
};

START_TEST(test_nasty_descriptions)
{
	struct rule r;

	full_rule(&r, 42);
	for (size_t i = 0; i < sizeof(nasty_descs) / sizeof(nasty_descs[0]); i++) {
		snprintf(r.desc, sizeof(r.desc), "%s", nasty_descs[i]);
		assert_round_trip(&r);
	}
	/* every byte value 1..255 (fits: 255 bytes) */
	for (int b = 1; b < 256; b++)
		r.desc[b - 1] = (char)b;
	r.desc[255] = '\0';
	assert_round_trip(&r);
	/* 255 bytes that all need escaping: the longest possible line must still fit */
	memset(r.desc, '%', RULE_DESC_MAX);
	r.desc[RULE_DESC_MAX] = '\0';
	assert_round_trip(&r);
}
END_TEST

START_TEST(test_longest_line_fits)
{
	char line[RULE_LINE_MAX + 1];
	struct rule r;
	int n;

	full_rule(&r, RULE_ID_MAX);
	memset(r.desc, '\n', RULE_DESC_MAX);
	r.desc[RULE_DESC_MAX] = '\0';
	/* the longest address text there is, everywhere */
	addr(&r.target.exact, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	r.target.subnet = r.target.stable = r.remote = r.owner = r.target.exact;
	r.expires = INT64_MIN;
	n = rule_format(&r, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, RULE_LINE_MAX);
	printf("longest rule line: %d bytes (RULE_LINE_MAX %d)\n", n, RULE_LINE_MAX);
	assert_round_trip(&r);
}
END_TEST

START_TEST(test_format_refuses)
{
	char line[RULE_LINE_MAX + 1], small[40];
	struct rule r;

	full_rule(&r, 1);
	/* too small a buffer: -1, and never a partial line left behind */
	ck_assert_int_eq(rule_format(&r, small, sizeof(small)), -1);
	ck_assert_str_eq(small, "");
	ck_assert_int_eq(rule_format(&r, line, 0), -1);
	ck_assert_int_eq(rule_format(NULL, line, sizeof(line)), -1);
	/* what rule_parse would refuse is never written */
	r.kind = (enum rule_kind)9;
	ck_assert_int_eq(rule_format(&r, line, sizeof(line)), -1);
	full_rule(&r, 1);
	r.state = (enum rule_state)0;
	ck_assert_int_eq(rule_format(&r, line, sizeof(line)), -1);
	full_rule(&r, 1);
	r.origin = (enum rule_origin)77;
	ck_assert_int_eq(rule_format(&r, line, sizeof(line)), -1);
	full_rule(&r, 1);
	r.remote_len = 129;
	ck_assert_int_eq(rule_format(&r, line, sizeof(line)), -1);
	full_rule(&r, 1);
	r.target.subnet_len = 200;
	ck_assert_int_eq(rule_format(&r, line, sizeof(line)), -1);
	full_rule(&r, 1);
	r.id = RULE_ID_MAX + 1;
	ck_assert_int_eq(rule_format(&r, line, sizeof(line)), -1);
	full_rule(&r, 1);
	r.proto = 300;
	ck_assert_int_eq(rule_format(&r, line, sizeof(line)), -1);
	full_rule(&r, 1);
	memset(r.desc, 'x', sizeof(r.desc));  /* no NUL anywhere */
	ck_assert_int_eq(rule_format(&r, line, sizeof(line)), -1);
}
END_TEST

#define BASE "v=1 id=5 kind=pinhole state=installed origin=upnp proto=tcp int_port=80 ext_port=0 " \
	     "remote_port=0 expires=0 lease=0 owner=2001:db8::5 desc=hi packets=0 bytes=0"

START_TEST(test_parse_base)
{
	struct rule r;
	char err[128];

	ck_assert_msg(rule_parse(BASE, strlen(BASE), &r, err, sizeof(err)), "%s", err);
	ck_assert_uint_eq(r.id, 5);
	ck_assert_uint_eq(r.proto, IPPROTO_TCP);
	ck_assert_str_eq(r.desc, "hi");
	ck_assert(!r.target.use_exact && !r.target.use_stable && !r.has_nonce && !r.target.has_mac);
	/* fields may come in any order after v, and the line need not be NUL-terminated */
	{
		const char *l = "v=1 bytes=0 packets=0 desc= owner=:: lease=0 expires=0 remote_port=0 "
				"ext_port=0 int_port=0 proto=any origin=web state=pending kind=portmap id=0XXX";

		ck_assert_msg(rule_parse(l, strlen(l) - 3, &r, err, sizeof(err)), "%s", err);
		ck_assert_int_eq(r.kind, RULE_PORTMAP);
	}
}
END_TEST

struct bad_case {
	const char *from, *to;  /* replace in BASE */
	const char *want;       /* expected in the message */
};

static const struct bad_case bad_cases[] = {
	{ "v=1 ", "v=2 ", "v: unsupported version" },
	{ "v=1 ", "", "must start with the version" },
	{ " desc=hi", " desc=hi v=1", "duplicate key 'v'" },
	{ " bytes=0", " bytes=0 color=red", "unknown key 'color'" },
	{ " bytes=0", " bytes=0 Color=red", "bad character in key" },
	{ " bytes=0", " bytes=0 id=6", "duplicate key 'id'" },
	{ "id=5 ", "", "missing field 'id'" },
	{ " desc=hi", "", "missing field 'desc'" },
	{ "id=5", "id=five", "id: bad number" },
	{ "id=5", "id=", "id: bad number" },
	{ "id=5", "id=-5", "id: bad number" },
	{ "id=5", "id=05", "id: bad number" },
	{ "id=5", "id=2147483648", "id: out of range" },
	{ "id=5", "id=99999999999999999999999", "id: " },
	{ "int_port=80", "int_port=65536", "int_port: bad number" },
	{ "int_port=80", "int_port=8O", "int_port: bad number" },
	{ "lease=0", "lease=4294967296", "lease: bad number" },
	{ "expires=0", "expires=-0", "expires: bad number" },
	{ "expires=0", "expires=9223372036854775808", "expires: bad number" },
	{ "packets=0", "packets=18446744073709551616", "packets: bad number" },
	{ "kind=pinhole", "kind=banana", "kind: unknown kind" },
	{ "state=installed", "state=Installed", "state: unknown state" },
	{ "origin=upnp", "origin=", "origin: unknown origin" },
	{ "proto=tcp", "proto=999", "proto: unknown protocol" },
	{ "owner=2001:db8::5", "owner=2001:db8::g", "owner: bad address" },
	{ "owner=2001:db8::5", "owner=example.com", "owner: bad address" },
	{ " bytes=0", " bytes=0 ext_addr=2001:db8::1", "ext_addr: not an IPv4" },
	{ " bytes=0", " bytes=0 remote=2001:db8::", "remote and remote_len" },
	{ " bytes=0", " bytes=0 remote=2001:db8:: remote_len=129", "remote_len: bad prefix length" },
	{ " bytes=0", " bytes=0 stable=2001:db8::1", "stable: needs subnet" },
	{ " bytes=0", " bytes=0 exact_kind=eui64", "exact_kind: needs exact" },
	{ " bytes=0", " bytes=0 exact=2001:db8::1 exact_kind=big", "exact_kind: unknown address kind" },
	{ " bytes=0", " bytes=0 mac=aa:bb:cc:dd:ee", "mac: bad MAC" },
	{ " bytes=0", " bytes=0 mac=aa-bb-cc-dd-ee-ff", "mac: bad MAC" },
	{ " bytes=0", " bytes=0 nonce=00112233", "nonce: bad nonce" },
	{ "desc=hi", "desc=a%00b", "desc: NUL byte" },
	{ "desc=hi", "desc=a%4", "desc: truncated %-escape" },
	{ "desc=hi", "desc=a%G1", "desc: bad %-escape" },
	{ "desc=hi", "desc=a=b", "desc: unescaped special byte" },
	{ "desc=hi", "desc=caf\xc3\xa9", "desc: unescaped special byte" },
	{ "desc=hi", "desc=a\tb", "desc: unescaped special byte" },
	{ "desc=hi", "desc=hi\n", "desc: unescaped special byte" },
	{ "desc=hi ", "desc=hi  ", "double or leading space" },
	{ " bytes=0", " bytes=0 ", "trailing space" },
	{ " bytes=0", " bytes", "without '='" },
	{ " bytes=0", " bytes=0 =5", "empty key" },
	{ " bytes=0", " bytes=0 averyveryverylongkey=1", "key too long" },
};

static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	char *out;

	ck_assert_ptr_nonnull(at);
	ck_assert_int_ne(asprintf(&out, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from)), -1);
	return out;
}

START_TEST(test_parse_rejects)
{
	const struct bad_case *c = &bad_cases[_i];
	char *line = replace(BASE, c->from, c->to);
	char err[256] = "";
	struct rule r;

	memset(&r, 0x5a, sizeof(r));
	ck_assert_msg(!rule_parse(line, strlen(line), &r, err, sizeof(err)), "accepted: %s", line);
	ck_assert_msg(strstr(err, c->want) != NULL, "line '%s': message '%s' lacks '%s'", line, err, c->want);
	/* a refused line leaves *out alone */
	ck_assert_uint_eq(r.id, 0x5a5a5a5au);
	free(line);
}
END_TEST

START_TEST(test_parse_overlong)
{
	char line[RULE_LINE_MAX + 64], err[128] = "", desc[3 * RULE_DESC_MAX + 8];
	struct rule r;
	int n;

	/* 256 bytes of description: one too many */
	memset(desc, 'd', RULE_DESC_MAX + 1);
	desc[RULE_DESC_MAX + 1] = '\0';
	n = snprintf(line, sizeof(line), "v=1 id=5 kind=pinhole state=installed origin=upnp proto=tcp int_port=80 "
		     "ext_port=0 remote_port=0 expires=0 lease=0 owner=:: desc=%s packets=0 bytes=0", desc);
	ck_assert(!rule_parse(line, (size_t)n, &r, err, sizeof(err)));
	ck_assert_msg(strstr(err, "desc: too long") != NULL, "%s", err);
	/* 255 escaped bytes plus one more escape: refused by its escaped length */
	memset(desc, 0, sizeof(desc));
	for (int i = 0; i <= RULE_DESC_MAX; i++)
		memcpy(desc + 3 * i, "%41", 3);
	desc[3 * (RULE_DESC_MAX + 1)] = '\0';
	n = snprintf(line, sizeof(line), "v=1 id=5 kind=pinhole state=installed origin=upnp proto=tcp int_port=80 "
		     "ext_port=0 remote_port=0 expires=0 lease=0 owner=:: desc=%s packets=0 bytes=0", desc);
	ck_assert(!rule_parse(line, (size_t)n, &r, err, sizeof(err)));
	ck_assert_msg(strstr(err, "desc: too long") != NULL, "%s", err);
	/* an overlong non-desc field */
	memset(desc, '1', 100);
	desc[100] = '\0';
	n = snprintf(line, sizeof(line), "v=1 id=%s", desc);
	ck_assert(!rule_parse(line, (size_t)n, &r, err, sizeof(err)));
	ck_assert_msg(strstr(err, "id: too long") != NULL, "%s", err);
	/* a whole line over RULE_LINE_MAX */
	memset(line, 'a', sizeof(line));
	ck_assert(!rule_parse(line, RULE_LINE_MAX + 1, &r, err, sizeof(err)));
	ck_assert_msg(strstr(err, "line too long") != NULL, "%s", err);
	/* empty, NULL, and a NUL byte inside the line */
	ck_assert(!rule_parse("", 0, &r, err, sizeof(err)));
	ck_assert(!rule_parse(NULL, 5, &r, err, sizeof(err)));
	memcpy(line, BASE, sizeof(BASE));
	line[strlen("v=1 id=5 kind=pin")] = '\0';
	ck_assert(!rule_parse(line, strlen(BASE), &r, err, sizeof(err)));
	/* a tiny or missing error buffer is fine */
	ck_assert(!rule_parse("x", 1, &r, err, 1));
	ck_assert_str_eq(err, "");
	ck_assert(!rule_parse("x", 1, &r, NULL, 0));
}
END_TEST

START_TEST(test_parse_truncated)
{
	char line[RULE_LINE_MAX + 1], err[256];
	struct rule r, back;
	const char *last;
	int n;

	full_rule(&r, 77);
	n = rule_format(&r, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	last = strstr(line, " bytes=");
	ck_assert_ptr_nonnull(last);
	/* every cut before the last field's first digit loses something required: always refused */
	for (size_t k = 0; k <= (size_t)(last - line) + strlen(" bytes="); k++)
		ck_assert_msg(!rule_parse(line, k, &back, err, sizeof(err)), "cut at %zu accepted", k);
}
END_TEST

/* ---------------------------------------------------------------- the store */

struct collected {
	struct rule *rules;
	size_t n, cap;
};

static int collect(void *arg, const struct rule *r)
{
	struct collected *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->rules = realloc(c->rules, c->cap * sizeof(*c->rules));
		ck_assert_ptr_nonnull(c->rules);
	}
	rule_copy(&c->rules[c->n++], r);
	return 0;
}

static const struct rule *find(const struct collected *c, uint32_t id)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->rules[i].id == id)
			return &c->rules[i];
	return NULL;
}

static struct store *open_ok(void)
{
	char err[256] = "";
	struct store *st = store_open(tmpdir, err, sizeof(err));

	ck_assert_msg(st != NULL, "store_open: %s", err);
	return st;
}

static void load_ok(struct store *st, struct collected *c)
{
	char err[256] = "";

	free(c->rules);
	memset(c, 0, sizeof(*c));
	ck_assert_msg(store_load(st, collect, c, err, sizeof(err)) == 0, "store_load: %s", err);
}

static void load_fails(struct store *st, const char *want)
{
	struct collected c = { 0 };
	char err[256] = "";

	ck_assert_int_eq(store_load(st, collect, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, want) != NULL, "message '%s' lacks '%s'", err, want);
	free(c.rules);
}

static void path_of(char *buf, size_t len, const char *file)
{
	snprintf(buf, len, "%s/%s", tmpdir, file);
}

static off_t file_size(const char *file)
{
	char p[256];
	struct stat sb;

	path_of(p, sizeof(p), file);
	ck_assert_int_eq(stat(p, &sb), 0);
	return sb.st_size;
}

/* The journal's lines: the bytes before the zeros it grows by (see store.c). */
static off_t journal_used(void)
{
	char p[256], buf[4096];
	off_t used = 0;
	ssize_t got;
	int fd;

	path_of(p, sizeof(p), "rules.journal");
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	/* bounded by the file's size */
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		char *nul = memchr(buf, '\0', (size_t)got);

		if (nul != NULL) {
			used += nul - buf;
			break;
		}
		used += got;
	}
	close(fd);
	return used;
}

static void append_file(const char *file, const char *data)
{
	char p[256];
	FILE *f;

	path_of(p, sizeof(p), file);
	f = fopen(p, "a");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(data, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* Replaces the first occurrence of from in file (same length keeps the other lines in place). */
static void edit_file(const char *file, const char *from, const char *to)
{
	char p[256], *data, *out;
	FILE *f;
	long n;

	path_of(p, sizeof(p), file);
	f = fopen(p, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	data = calloc(1, (size_t)n + 1);
	ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	out = replace(data, from, to);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(out, f);
	fclose(f);
	free(data);
	free(out);
}

START_TEST(test_put_del_load)
{
	struct collected c = { 0 };
	struct store *st;
	struct rule r;

	make_tmpdir();
	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 0);
	for (uint32_t id = 1; id <= 5; id++) {
		full_rule(&r, id);
		ck_assert_int_eq(store_put(st, &r), 0);
	}
	ck_assert_int_eq(store_del(st, 2), 0);
	full_rule(&r, 4);
	snprintf(r.desc, sizeof(r.desc), "changed");
	ck_assert_int_eq(store_put(st, &r), 0);
	ck_assert_int_eq(store_del(st, 999), 0);  /* unknown id: harmless */
	ck_assert_uint_eq(store_journal_lines(st), 8);
	store_close(st);

	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 4);
	ck_assert_ptr_null(find(&c, 2));
	ck_assert_str_eq(find(&c, 4)->desc, "changed");
	full_rule(&r, 5);
	assert_rule_eq(find(&c, 5), &r);
	ck_assert_uint_eq(store_journal_lines(st), 8);
	/* invalid input */
	r.kind = (enum rule_kind)0;
	errno = 0;
	ck_assert_int_eq(store_put(st, &r), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(store_put(st, NULL), -1);
	ck_assert_int_eq(store_del(st, RULE_ID_MAX + 1), -1);
	ck_assert_uint_eq(store_journal_lines(st), 8);
	store_close(st);
	free(c.rules);
	remove_tmpdir();
}
END_TEST

/* Group commit: queued lines reach the file only at store_sync, all with one sync; a rewind takes a
 * synced batch back out, exactly. */
START_TEST(test_queue_sync_rewind)
{
	struct collected c = { 0 };
	struct store_mark m;
	struct store *st;
	struct rule r;
	off_t before;
	uint64_t syncs;

	make_tmpdir();
	st = open_ok();
	full_rule(&r, 1);
	ck_assert_int_eq(store_put(st, &r), 0);
	before = journal_used();
	syncs = store_syncs(st);
	m = store_mark(st);
	full_rule(&r, 2);
	ck_assert_int_eq(store_queue_put(st, &r), 0);
	ck_assert_int_eq(store_queue_del(st, 1), 0);
	ck_assert_int_eq(journal_used(), before);     /* nothing written yet */
	ck_assert_int_eq(store_sync(st), 0);
	ck_assert_uint_eq(store_syncs(st), syncs + 1);            /* two lines, one sync */
	ck_assert_uint_eq(store_journal_lines(st), 3);
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_ptr_nonnull(find(&c, 2));
	/* the batch is refused after its sync: the journal goes back to the mark */
	ck_assert_int_eq(store_rewind(st, &m), 0);
	ck_assert_int_eq(journal_used(), before);
	ck_assert_uint_eq(store_journal_lines(st), 1);
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_ptr_nonnull(find(&c, 1));
	/* queued lines are dropped by a rewind; nothing to sync is no sync */
	full_rule(&r, 3);
	ck_assert_int_eq(store_queue_put(st, &r), 0);
	ck_assert_int_eq(store_snapshot(st, NULL, 0), -1);       /* not while lines wait */
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_int_eq(store_rewind(st, &m), 0);
	syncs = store_syncs(st);
	ck_assert_int_eq(store_sync(st), 0);
	ck_assert_uint_eq(store_syncs(st), syncs);
	/* an invalid rule queues nothing */
	r.kind = (enum rule_kind)0;
	ck_assert_int_eq(store_queue_put(st, &r), -1);
	ck_assert_int_eq(store_sync(st), 0);
	ck_assert_int_eq(journal_used(), before);
	/* the two halves (the core syncs without its lock): the write puts the lines in the file, the
	 * datasync makes them durable, once; with nothing written since, a datasync is no sync */
	full_rule(&r, 4);
	ck_assert_int_eq(store_queue_put(st, &r), 0);
	syncs = store_syncs(st);
	ck_assert_int_eq(store_write(st), 0);
	ck_assert_int_gt(journal_used(), before);
	ck_assert_uint_eq(store_journal_lines(st), 2);
	ck_assert_int_eq(store_datasync(st), 0);
	ck_assert_uint_eq(store_syncs(st), syncs + 1);
	ck_assert_int_eq(store_write(st), 0);
	ck_assert_int_eq(store_datasync(st), 0);
	ck_assert_uint_eq(store_syncs(st), syncs + 1);
	/* and a written group refused by the firewall is cut back like a synced one */
	ck_assert_int_eq(store_rewind(st, &m), 0);
	ck_assert_int_eq(journal_used(), before);
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_ptr_nonnull(find(&c, 1));
	store_close(st);
	free(c.rules);
	remove_tmpdir();
}
END_TEST

START_TEST(test_snapshot_and_journal)
{
	struct collected c = { 0 };
	struct rule rules[3];
	const struct rule *ptrs[3];
	struct store *st;
	struct rule r;

	make_tmpdir();
	st = open_ok();
	for (int i = 0; i < 3; i++) {
		full_rule(&rules[i], (uint32_t)(i + 1));
		ptrs[i] = &rules[i];
		ck_assert_int_eq(store_put(st, &rules[i]), 0);
	}
	ck_assert_int_eq(store_snapshot(st, ptrs, 3), 0);
	ck_assert_uint_eq(store_journal_lines(st), 0);
	ck_assert_int_eq(file_size("rules.journal"), 0);
	{
		char p[256];

		path_of(p, sizeof(p), "rules.snap.tmp");
		ck_assert_int_eq(access(p, F_OK), -1);  /* renamed away */
	}
	/* after the snapshot: change one, delete one, add one */
	full_rule(&r, 1);
	r.packets = 5;
	ck_assert_int_eq(store_put(st, &r), 0);
	ck_assert_int_eq(store_del(st, 2), 0);
	full_rule(&r, 10);
	ck_assert_int_eq(store_put(st, &r), 0);
	ck_assert_uint_eq(store_journal_lines(st), 3);
	store_close(st);

	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_uint_eq(find(&c, 1)->packets, 5);
	ck_assert_ptr_null(find(&c, 2));
	ck_assert_ptr_nonnull(find(&c, 3));
	ck_assert_ptr_nonnull(find(&c, 10));
	ck_assert_uint_eq(store_journal_lines(st), 3);

	/* a crash between the snapshot's rename and the journal truncation replays the journal over a
	 * snapshot that already holds it: the same table comes out */
	{
		const struct rule *now[3] = { &c.rules[0], &c.rules[1], &c.rules[2] };
		struct collected c2 = { 0 };

		ck_assert_int_eq(store_snapshot(st, now, 3), 0);
		full_rule(&r, 1);
		r.packets = 5;
		ck_assert_int_eq(store_put(st, &r), 0);
		ck_assert_int_eq(store_del(st, 2), 0);
		full_rule(&r, 10);
		ck_assert_int_eq(store_put(st, &r), 0);
		load_ok(st, &c2);
		ck_assert_uint_eq(c2.n, 3);
		ck_assert_uint_eq(find(&c2, 1)->packets, 5);
		ck_assert_ptr_null(find(&c2, 2));
		free(c2.rules);
	}
	/* an empty snapshot */
	ck_assert_int_eq(store_snapshot(st, NULL, 0), 0);
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 0);
	ck_assert_int_eq(store_snapshot(st, NULL, 1), -1);
	store_close(st);
	free(c.rules);
	remove_tmpdir();
}
END_TEST

/* A journal holding rule 1, then half of rule 2's line. */
static void journal_then_torn_line(void)
{
	char line[RULE_LINE_MAX + 1];
	struct store *st = open_ok();
	struct rule r;
	int n;

	full_rule(&r, 1);
	ck_assert_int_eq(store_put(st, &r), 0);
	store_close(st);
	full_rule(&r, 2);
	n = rule_format(&r, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	line[n / 2] = '\0';
	append_file("rules.journal", "put ");
	append_file("rules.journal", line);
}

START_TEST(test_torn_last_line)
{
	struct collected c = { 0 };
	struct store *st;
	struct rule r;

	make_tmpdir();
	journal_then_torn_line();   /* a crash in the middle of writing rule 2's line */

	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.rules[0].id, 1);
	ck_assert_uint_eq(store_journal_lines(st), 1);
	/* the next put must not be glued onto the torn half */
	full_rule(&r, 3);
	ck_assert_int_eq(store_put(st, &r), 0);
	store_close(st);
	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_ptr_nonnull(find(&c, 1));
	ck_assert_ptr_nonnull(find(&c, 3));
	/* a torn line with nothing complete before it */
	store_close(st);
	{
		char p[256];

		path_of(p, sizeof(p), "rules.journal");
		ck_assert_int_eq(truncate(p, 0), 0);
	}
	append_file("rules.journal", "put v=1 id=");
	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 0);
	store_close(st);
	free(c.rules);
	remove_tmpdir();
}
END_TEST

static void append_zeros(const char *file, size_t n)
{
	char p[256], zeros[256] = { 0 };
	FILE *f;

	path_of(p, sizeof(p), file);
	f = fopen(p, "a");
	ck_assert_ptr_nonnull(f);
	for (size_t done = 0; done < n; done += sizeof(zeros))
		ck_assert_uint_eq(fwrite(zeros, 1, n - done < sizeof(zeros) ? n - done : sizeof(zeros), f) > 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* The journal grows by zeros the next lines overwrite in place; it reads the same after a restart. */
START_TEST(test_journal_grows_by_zeros)
{
	struct collected c = { 0 };
	struct store *st;
	struct rule r;
	off_t one;

	make_tmpdir();
	st = open_ok();
	full_rule(&r, 1);
	ck_assert_int_eq(store_put(st, &r), 0);
	one = journal_used();
	ck_assert_int_gt(one, 0);
	ck_assert_int_eq(file_size("rules.journal"), 64 * 1024);   /* the line, then zeros */
	full_rule(&r, 2);
	ck_assert_int_eq(store_put(st, &r), 0);
	ck_assert_int_gt(journal_used(), one);
	ck_assert_int_eq(file_size("rules.journal"), 64 * 1024);   /* in place: the file did not grow */
	store_close(st);
	ck_assert_int_eq(file_size("rules.journal"), journal_used());   /* a clean stop leaves no zeros */
	/* a restart: both lines read, the zeros skipped; the next line goes right after them */
	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(store_journal_lines(st), 2);
	ck_assert_int_eq(store_del(st, 1), 0);
	store_close(st);
	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_ptr_nonnull(find(&c, 2));
	store_close(st);
	free(c.rules);
	remove_tmpdir();
}
END_TEST

/* A crash while a group's lines were being overwritten in place may leave a hole of zeros in them
 * (blocks reach the disk in any order before the fdatasync): the line the hole cuts short is dropped,
 * what follows it is read, and the journal goes on after it. None of it had been acknowledged. */
START_TEST(test_journal_hole_left_by_crash)
{
	struct collected c = { 0 };
	char line[RULE_LINE_MAX + 1];
	struct store *st;
	struct rule r;

	make_tmpdir();
	journal_then_torn_line();   /* rule 2, cut short by the hole */
	append_zeros("rules.journal", 4096);
	full_rule(&r, 3);
	ck_assert_int_gt(rule_format(&r, line, sizeof(line)), 0);
	append_file("rules.journal", "put ");
	append_file("rules.journal", line);
	append_file("rules.journal", "\n");
	append_zeros("rules.journal", 1000);
	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_ptr_nonnull(find(&c, 1));
	ck_assert_ptr_null(find(&c, 2));
	ck_assert_ptr_nonnull(find(&c, 3));
	full_rule(&r, 4);
	ck_assert_int_eq(store_put(st, &r), 0);
	store_close(st);
	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_ptr_nonnull(find(&c, 4));
	store_close(st);
	free(c.rules);
	remove_tmpdir();
}
END_TEST

START_TEST(test_corrupt_middle_line)
{
	struct collected c = { 0 };
	struct store *st;
	struct rule r;

	make_tmpdir();
	st = open_ok();
	for (uint32_t id = 1; id <= 3; id++) {
		full_rule(&r, id);
		ck_assert_int_eq(store_put(st, &r), 0);
	}
	/* a rule line that does not parse is skipped (and logged): the others load */
	edit_file("rules.journal", "id=2 kind=pinhole", "id=2 kind=banana");
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(c.rules[0].id + c.rules[1].id, 1 + 3);
	edit_file("rules.journal", "id=2 kind=banana", "id=2 kind=pinhole");
	/* the structure of the file is another matter */
	edit_file("rules.journal", "put v=1 id=3", "pot v=1 id=3");
	load_fails(st, "/rules.journal:3: expected");
	edit_file("rules.journal", "pot v=1 id=3", "put v=1 id=3");
	append_file("rules.journal", "del id=x\n");
	load_fails(st, "/rules.journal:4: del: bad id");
	free(c.rules);
	store_close(st);
	remove_tmpdir();
}
END_TEST

START_TEST(test_corrupt_snapshot)
{
	struct collected c = { 0 };
	struct rule rules[3];
	const struct rule *ptrs[3];
	struct store *st;
	char p[256];

	make_tmpdir();
	st = open_ok();
	for (int i = 0; i < 3; i++) {
		full_rule(&rules[i], (uint32_t)(i + 1));
		ptrs[i] = &rules[i];
	}
	ck_assert_int_eq(store_snapshot(st, ptrs, 3), 0);
	edit_file("rules.snap", "id=3 kind=pinhole", "id=3 kind=pinhol3");
	load_ok(st, &c);                                 /* rule 3 skipped, counted by the end line */
	ck_assert_uint_eq(c.n, 2);
	edit_file("rules.snap", "id=3 kind=pinhol3", "id=3 kind=pinhole");
	edit_file("rules.snap", "end count=3", "end count=4");
	load_fails(st, "/rules.snap:4: bad end line");
	/* cut short: the end line is gone */
	path_of(p, sizeof(p), "rules.snap");
	ck_assert_int_eq(truncate(p, file_size("rules.snap") - (off_t)strlen("end count=4\n")), 0);
	load_fails(st, "truncated snapshot");
	ck_assert_int_eq(truncate(p, file_size("rules.snap") - 10), 0);
	load_fails(st, "truncated snapshot");
	/* duplicate ids and data after the end */
	ck_assert_int_eq(store_snapshot(st, ptrs, 3), 0);
	append_file("rules.snap", "v=1\n");
	load_fails(st, "/rules.snap:5: data after the end line");
	ptrs[2] = &rules[0];
	ck_assert_int_eq(store_snapshot(st, ptrs, 3), 0);
	load_fails(st, "/rules.snap:3: duplicate id 1");
	/* a line too long to be a rule */
	{
		char big[4000];

		memset(big, 'a', sizeof(big) - 2);
		big[sizeof(big) - 2] = '\n';
		big[sizeof(big) - 1] = '\0';
		ck_assert_int_eq(truncate(p, 0), 0);
		append_file("rules.snap", big);
		load_fails(st, "/rules.snap:1: line too long");
	}
	free(c.rules);
	store_close(st);
	remove_tmpdir();
}
END_TEST

static int refuse_id_2(void *arg, const struct rule *r)
{
	(void)arg;
	return r->id == 2 ? -1 : 0;
}

START_TEST(test_callback_refuses)
{
	char err[256] = "";
	struct store *st;
	struct rule r;

	make_tmpdir();
	st = open_ok();
	for (uint32_t id = 1; id <= 3; id++) {
		full_rule(&r, id);
		ck_assert_int_eq(store_put(st, &r), 0);
	}
	ck_assert_int_eq(store_load(st, refuse_id_2, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "rule 2 refused") != NULL, "%s", err);
	ck_assert_int_eq(store_load(st, NULL, NULL, err, sizeof(err)), -1);
	ck_assert_int_eq(store_load(NULL, refuse_id_2, NULL, err, sizeof(err)), -1);
	store_close(st);
	remove_tmpdir();
}
END_TEST

START_TEST(test_lock)
{
	char err[256] = "", sub[256];
	struct store *a, *b;

	make_tmpdir();
	a = open_ok();
	b = store_open(tmpdir, err, sizeof(err));
	ck_assert_ptr_null(b);
	ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
	store_close(a);
	b = open_ok();
	store_close(b);
	/* creates missing parents; refuses nonsense */
	snprintf(sub, sizeof(sub), "%s/a/b/c", tmpdir);
	a = store_open(sub, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	store_close(a);
	ck_assert_ptr_null(store_open("", err, sizeof(err)));
	ck_assert_ptr_null(store_open(NULL, err, sizeof(err)));
	snprintf(sub, sizeof(sub), "%s/a/b/c/rules.journal/x", tmpdir);
	ck_assert_ptr_null(store_open(sub, err, sizeof(err)));
	ck_assert_msg(strstr(err, "cannot create") != NULL, "%s", err);
	store_close(NULL);
	remove_tmpdir();
}
END_TEST

START_TEST(test_meta)
{
	char buf[64], p[256];
	struct store *st;

	make_tmpdir();
	st = open_ok();
	errno = 0;
	ck_assert_int_eq(store_meta_get(st, "uuid", buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(store_meta_set(st, "uuid", "6f9619ff-8b86-d011-b42d-00cf4fc964ff"), 0);
	ck_assert_int_eq(store_meta_get(st, "uuid", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "6f9619ff-8b86-d011-b42d-00cf4fc964ff");
	ck_assert_int_eq(store_meta_set(st, "next_id", "17"), 0);
	ck_assert_int_eq(store_meta_set(st, "next_id", "18"), 0);
	ck_assert_int_eq(store_meta_get(st, "next_id", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "18");
	ck_assert_int_eq(store_meta_set(st, "empty", ""), 0);
	ck_assert_int_eq(store_meta_get(st, "empty", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	path_of(p, sizeof(p), "meta.next_id.tmp");
	ck_assert_int_eq(access(p, F_OK), -1);
	/* buffer exactly too small, then exactly big enough ("18" + NUL) */
	errno = 0;
	ck_assert_int_eq(store_meta_get(st, "next_id", buf, 2), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(store_meta_get(st, "next_id", buf, 3), 0);
	ck_assert_str_eq(buf, "18");
	/* bad keys and values */
	ck_assert_int_eq(store_meta_set(st, "../escape", "x"), -1);
	ck_assert_int_eq(store_meta_set(st, "", "x"), -1);
	ck_assert_int_eq(store_meta_set(st, "a/b", "x"), -1);
	ck_assert_int_eq(store_meta_set(st, "k", "two\nlines"), -1);
	ck_assert_int_eq(store_meta_set(st, "k", NULL), -1);
	ck_assert_int_eq(store_meta_set(st, "averyveryveryveryveryverylongkey1", "x"), -1);
	ck_assert_int_eq(store_meta_get(st, "../lock", buf, sizeof(buf)), -1);
	ck_assert_int_eq(store_meta_get(st, "uuid", NULL, 5), -1);
	store_close(st);
	/* survives a reopen */
	st = open_ok();
	ck_assert_int_eq(store_meta_get(st, "uuid", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "6f9619ff-8b86-d011-b42d-00cf4fc964ff");
	store_close(st);
	remove_tmpdir();
}
END_TEST

/* A write the file size limit cuts short: a real partial write, even as root. */
START_TEST(test_put_partial_write)
{
	struct collected c = { 0 };
	struct rlimit old, lim;
	struct store *st;
	struct rule r;
	off_t before;
	size_t lines = 0;
	int rc, saved, lim_rc;

	make_tmpdir();
	st = open_ok();
	/* lines until the next one no longer fits in the zeros the journal grew by */
	for (uint32_t id = 1; id < 1000; id++) {
		off_t was = journal_used();

		full_rule(&r, id);
		ck_assert_int_eq(store_put(st, &r), 0);
		lines = id;
		if (file_size("rules.journal") - journal_used() < journal_used() - was - 4)
			break;
	}
	before = journal_used();
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)file_size("rules.journal") + 40;  /* room for 40 bytes more only */
	full_rule(&r, 5000);
	/* no ck_assert while the limit holds: Check's own message file would hit it too */
	lim_rc = setrlimit(RLIMIT_FSIZE, &lim);
	errno = 0;
	rc = store_put(st, &r);
	saved = errno;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(lim_rc, 0);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(saved == ENOSPC || saved == EFBIG, "errno %d", saved);
	ck_assert_int_eq(journal_used(), before);  /* the half line was cut away */
	ck_assert_uint_eq(store_journal_lines(st), lines);
	/* and everything still works */
	full_rule(&r, 5001);
	ck_assert_int_eq(store_put(st, &r), 0);
	store_close(st);
	st = open_ok();
	load_ok(st, &c);
	ck_assert_uint_eq(c.n, lines + 1);
	ck_assert_ptr_nonnull(find(&c, 1));
	ck_assert_ptr_null(find(&c, 5000));
	ck_assert_ptr_nonnull(find(&c, 5001));
	/* a snapshot that does not fit fails without touching the old one */
	{
		const struct rule *one[1] = { &r };
		off_t snap_before;

		ck_assert_int_eq(store_snapshot(st, one, 1), 0);
		snap_before = file_size("rules.snap");
		lim.rlim_cur = 100;
		lim_rc = setrlimit(RLIMIT_FSIZE, &lim);
		rc = store_snapshot(st, one, 1);
		ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
		ck_assert_int_eq(lim_rc, 0);
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(file_size("rules.snap"), snap_before);
		load_ok(st, &c);
		ck_assert_uint_eq(c.n, 1);
	}
	store_close(st);
	free(c.rules);
	remove_tmpdir();
}
END_TEST

/* A private mount namespace for a real full or read-only filesystem; false (skip) without privilege. */
static bool private_mounts(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		printf("skipping: no mount namespace (%s)\n", strerror(errno));
		return false;
	}
	return true;
}

START_TEST(test_put_disk_full)
{
	struct collected c = { 0 };
	char p[256], chunk[4096];
	struct store *st;
	struct rule r;
	int fd, rc, saved;
	off_t before;

	make_tmpdir();
	if (!private_mounts()) {
		remove_tmpdir();
		return;
	}
	ck_assert_int_eq(mount("tmpfs", tmpdir, "tmpfs", 0, "size=256k,mode=0700"), 0);
	st = open_ok();
	for (uint32_t id = 1; id <= 5; id++) {
		full_rule(&r, id);
		ck_assert_int_eq(store_put(st, &r), 0);
	}
	before = journal_used();
	/* fill the disk */
	path_of(p, sizeof(p), "filler");
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	memset(chunk, 'f', sizeof(chunk));
	for (int i = 0; i < 1000 && write(fd, chunk, sizeof(chunk)) > 0; i++)
		;
	/* tmpfs allocates whole pages: also fill the journal's last page */
	for (int i = 0; i < 4096 && write(fd, chunk, 1) == 1; i++)
		;
	close(fd);
	rc = 0;
	/* (the journal's zeros take lines first: a full disk fails the first line past them) */
	for (uint32_t id = 6; id < 400 && rc == 0; id++) {
		full_rule(&r, id);
		errno = 0;
		rc = store_put(st, &r);
		saved = errno;
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(saved, ENOSPC);
	errno = 0;
	ck_assert_int_eq(store_meta_set(st, "x", "y"), -1);
	ck_assert_int_eq(errno, ENOSPC);
	/* space again: what was acknowledged is there, the failed put is not half there */
	ck_assert_int_eq(unlink(p), 0);
	load_ok(st, &c);
	ck_assert_uint_ge(c.n, 5);
	ck_assert_int_ge(journal_used(), before);
	full_rule(&r, 100);
	ck_assert_int_eq(store_put(st, &r), 0);
	load_ok(st, &c);
	ck_assert_ptr_nonnull(find(&c, 100));
	store_close(st);
	ck_assert_int_eq(umount(tmpdir), 0);
	free(c.rules);
	remove_tmpdir();
}
END_TEST

START_TEST(test_read_only_dir)
{
	char err[256] = "";
	struct store *st;
	struct rule r;

	make_tmpdir();
	if (!private_mounts()) {
		remove_tmpdir();
		return;
	}
	st = open_ok();
	full_rule(&r, 1);
	ck_assert_int_eq(store_put(st, &r), 0);
	store_close(st);
	ck_assert_int_eq(mount(tmpdir, tmpdir, NULL, MS_BIND, NULL), 0);
	ck_assert_int_eq(mount(NULL, tmpdir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);
	st = store_open(tmpdir, err, sizeof(err));
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(err, "Read-only file system") != NULL, "%s", err);
	ck_assert_int_eq(umount(tmpdir), 0);
	st = open_ok();
	store_close(st);
	remove_tmpdir();
}
END_TEST

static int count_cb(void *arg, const struct rule *r)
{
	size_t *n = arg;

	(void)r;
	(*n)++;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_big_table)
{
	struct rule *rules = calloc(BIG_COUNT, sizeof(*rules));
	const struct rule **ptrs = calloc(BIG_COUNT, sizeof(*ptrs));
	char err[256] = "";
	struct store *st;
	size_t loaded = 0;
	double t0, t_snap, t_load;

	ck_assert_ptr_nonnull(rules);
	ck_assert_ptr_nonnull(ptrs);
	for (size_t i = 0; i < BIG_COUNT; i++) {
		full_rule(&rules[i], (uint32_t)(i * 7 + 1));
		ptrs[i] = &rules[i];
	}
	make_tmpdir();
	st = open_ok();
	t0 = now_s();
	ck_assert_int_eq(store_snapshot(st, ptrs, BIG_COUNT), 0);
	t_snap = now_s() - t0;
	ck_assert_int_eq(store_del(st, 1), 0);
	store_close(st);
	st = open_ok();
	t0 = now_s();
	ck_assert_msg(store_load(st, count_cb, &loaded, err, sizeof(err)) == 0, "%s", err);
	t_load = now_s() - t0;
	ck_assert_uint_eq(loaded, BIG_COUNT - 1);
	printf("%d rules: snapshot %.3f s (%lld bytes), load %.3f s\n", BIG_COUNT, t_snap,
	       (long long)file_size("rules.snap"), t_load);
	ck_assert_msg(t_load < LOAD_LIMIT_S, "load took %.3f s", t_load);
	/* the same rules as journal lines (groups of 1,000, as a burst commits them), read back */
	for (size_t i = 0; i < BIG_COUNT; i++) {
		ck_assert_int_eq(store_queue_put(st, &rules[i]), 0);
		if (i % 1000 == 999)
			ck_assert_int_eq(store_sync(st), 0);
	}
	ck_assert_int_eq(store_sync(st), 0);
	store_close(st);
	st = open_ok();
	loaded = 0;
	t0 = now_s();
	ck_assert_msg(store_load(st, count_cb, &loaded, err, sizeof(err)) == 0, "%s", err);
	t_load = now_s() - t0;
	ck_assert_uint_eq(loaded, BIG_COUNT);
	printf("%d rules again as journal lines: load %.3f s (%lld bytes)\n", BIG_COUNT, t_load,
	       (long long)file_size("rules.journal"));
	ck_assert_msg(t_load < LOAD_LIMIT_S, "load took %.3f s", t_load);
	store_close(st);
	free(rules);
	free(ptrs);
	remove_tmpdir();
}
END_TEST

/* ---------------------------------------------------------------- a hostile state_dir
 * igdd opens state_dir as root, then runs as a user who owns it: that user, compromised, can plant
 * anything there before the next start (issue 12). Each test replays one such plant as a function
 * call; the "victim" is a root-owned file outside state_dir that must come through untouched. */

#define VICTIM_TEXT "root's file: keep out\n"

static char victim[192];

static void make_victim(void)
{
	FILE *f;

	snprintf(victim, sizeof(victim), "%s/victim.XXXXXX", basedir);
	ck_assert_int_ge(mkstemp(victim), 0);
	f = fopen(victim, "w");
	ck_assert_ptr_nonnull(f);
	fputs(VICTIM_TEXT, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void assert_victim_intact(void)
{
	char buf[128] = "";
	FILE *f = fopen(victim, "r");
	size_t n;
	struct stat sb;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	ck_assert_str_eq(buf, VICTIM_TEXT);
	ck_assert_int_eq(stat(victim, &sb), 0);
	ck_assert_uint_eq(sb.st_uid, geteuid());
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	unlink(victim);
}

static void plant_symlink(const char *name, const char *to)
{
	char p[256];

	path_of(p, sizeof(p), name);
	unlink(p);
	ck_assert_int_eq(symlink(to, p), 0);
}

static void open_refused(const char *want)
{
	char err[256] = "";
	struct store *st = store_open(tmpdir, err, sizeof(err));
	struct rule r;

	if (st != NULL) {   /* what the old code did next: write through the name it opened */
		full_rule(&r, 1);
		store_put(st, &r);
		store_close(st);
	}
	ck_assert_msg(st == NULL, "store_open took a state_dir with %s", want);
	ck_assert_msg(strstr(err, want) != NULL, "message '%s' lacks '%s'", err, want);
}

/* rules.journal, lock, rules.snap or a meta file as a symbolic link: refused at open, never followed */
static const char *const planted_names[] = { "rules.journal", "lock", "rules.snap", "meta.next_id" };

START_TEST(test_hostile_symlink)
{
	make_tmpdir();
	make_victim();
	plant_symlink(planted_names[_i], victim);
	open_refused("symbolic link");
	assert_victim_intact();
	remove_tmpdir();
}
END_TEST

/* A dangling link would make root create a file wherever it points. */
START_TEST(test_hostile_dangling_symlink)
{
	char where[192];

	make_tmpdir();
	snprintf(where, sizeof(where), "%s/created-by-root", basedir);
	plant_symlink("lock", where);
	open_refused("symbolic link");
	ck_assert_int_eq(access(where, F_OK), -1);
	remove_tmpdir();
}
END_TEST

/* The temporary files are made afresh: a planted link is replaced, its target never truncated. */
START_TEST(test_hostile_tmp_files)
{
	char buf[64], p[256];
	struct store *st;
	struct rule r;
	const struct rule *one = &r;
	struct stat sb;

	make_tmpdir();
	st = open_ok();
	make_victim();
	plant_symlink("rules.snap.tmp", victim);
	full_rule(&r, 1);
	ck_assert_int_eq(store_snapshot(st, &one, 1), 0);
	path_of(p, sizeof(p), "rules.snap");
	ck_assert_int_eq(lstat(p, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	plant_symlink("meta.next_id.tmp", victim);
	ck_assert_int_eq(store_meta_set(st, "next_id", "17"), 0);
	ck_assert_int_eq(store_meta_get(st, "next_id", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "17");
	store_close(st);
	assert_victim_intact();
	remove_tmpdir();
}
END_TEST

/* Not a regular file, or one with other names: refused (a FIFO without blocking). */
START_TEST(test_hostile_odd_files)
{
	char p[256], link_to[192];

	make_tmpdir();
	path_of(p, sizeof(p), "rules.journal");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	open_refused("not a regular file");
	unlink(p);
	make_victim();
	ck_assert_int_eq(link(victim, p), 0);
	open_refused("other hard links");
	unlink(p);
	assert_victim_intact();
	/* and the same when the store opens a file later than at start */
	{
		struct store *st = open_ok();
		char buf[16];

		path_of(p, sizeof(p), "meta.k");
		ck_assert_int_eq(mkfifo(p, 0600), 0);
		errno = 0;
		ck_assert_int_eq(store_meta_get(st, "k", buf, sizeof(buf)), -1);
		ck_assert_int_eq(errno, EINVAL);
		unlink(p);
		make_victim();
		snprintf(link_to, sizeof(link_to), "%s", victim);
		plant_symlink("meta.k", link_to);
		errno = 0;
		ck_assert_int_eq(store_meta_get(st, "k", buf, sizeof(buf)), -1);
		ck_assert_int_eq(errno, ELOOP);
		store_close(st);
		assert_victim_intact();
	}
	remove_tmpdir();
}
END_TEST

/* A state_dir that is not ours alone is refused, not taken over (the README once said state_dir=/tmp). */
START_TEST(test_not_ours_alone)
{
	char err[256] = "", p[256];
	struct store *st;

	make_tmpdir();
	ck_assert_int_eq(chmod(tmpdir, 01777), 0);   /* like /tmp */
	ck_assert_ptr_null(store_open(tmpdir, err, sizeof(err)));
	ck_assert_msg(strstr(err, "writable by others") != NULL, "%s", err);
	ck_assert_int_eq(chmod(tmpdir, 0770), 0);
	ck_assert_ptr_null(store_open(tmpdir, err, sizeof(err)));
	ck_assert_int_eq(chmod(tmpdir, 0755), 0);
	/* someone else's file in it */
	path_of(p, sizeof(p), "passwd");
	append_file("passwd", "");
	ck_assert_ptr_null(store_open(tmpdir, err, sizeof(err)));
	ck_assert_msg(strstr(err, "\"passwd\", which is not igdd's") != NULL, "%s", err);
	unlink(p);
	/* names like ours that are not */
	path_of(p, sizeof(p), "meta.UPPER");
	append_file("meta.UPPER", "");
	ck_assert_ptr_null(store_open(tmpdir, err, sizeof(err)));
	unlink(p);
	/* what older versions left, and a file system's lost+found, are fine */
	append_file("upnp_uuid", "");
	path_of(p, sizeof(p), "upnp-www");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	path_of(p, sizeof(p), "lost+found");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	st = open_ok();
	ck_assert_int_eq(store_meta_set(st, "k", "v"), 0);
	store_close(st);
	st = open_ok();   /* with a meta file and a snapshot-less journal */
	store_close(st);
	if (geteuid() == 0) {
		/* someone else's directory: neither ours nor the user's we will become */
		ck_assert_int_eq(chown(tmpdir, 4242, 4242), 0);
		ck_assert_ptr_null(store_open(tmpdir, err, sizeof(err)));
		ck_assert_msg(strstr(err, "belongs to uid 4242") != NULL, "%s", err);
		st = store_open_for(tmpdir, 4242, err, sizeof(err));
		ck_assert_msg(st != NULL, "%s", err);
		store_close(st);
	}
	remove_tmpdir();
}
END_TEST

/* store_give_to hands over the directory and our files, each through an fd; nothing else. */
START_TEST(test_give_to)
{
	char err[256] = "", p[256];
	struct store *st;
	struct stat sb;

	if (geteuid() != 0)
		return;
	make_tmpdir();
	path_of(p, sizeof(p), "lost+found");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	st = open_ok();
	ck_assert_int_eq(store_meta_set(st, "k", "v"), 0);
	make_victim();
	ck_assert_int_eq(store_give_to(st, 4242, 4343, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(tmpdir, &sb), 0);
	ck_assert_uint_eq(sb.st_uid, 4242);
	ck_assert_uint_eq(sb.st_gid, 4343);
	path_of(p, sizeof(p), "meta.k");
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_uint_eq(sb.st_uid, 4242);
	path_of(p, sizeof(p), "rules.journal");
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_uint_eq(sb.st_uid, 4242);
	path_of(p, sizeof(p), "lost+found");
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_uint_eq(sb.st_uid, 0);
	/* planted since the open: refused, the victim keeps its owner */
	plant_symlink("meta.x", victim);
	ck_assert_int_eq(store_give_to(st, 4242, 4343, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "symbolic link") != NULL, "%s", err);
	unlink(p);
	path_of(p, sizeof(p), "meta.x");
	unlink(p);
	ck_assert_int_eq(link(victim, p), 0);
	ck_assert_int_eq(store_give_to(st, 4242, 4343, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "other hard links") != NULL, "%s", err);
	unlink(p);
	store_close(st);
	assert_victim_intact();
	remove_tmpdir();
}
END_TEST

/* After the privilege drop: a state_dir the user cannot write is found at once (issue 16). */
START_TEST(test_check_writable)
{
	char err[256] = "";
	struct store *st;
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return;
	make_tmpdir();
	st = store_open_for(tmpdir, 4242, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	ck_assert_int_eq(store_check_writable(st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_give_to(st, 4242, 4242, err, sizeof(err)), 0);
	for (int mode = 0700; mode >= 0500; mode -= 0200) {
		ck_assert_int_eq(chmod(tmpdir, (mode_t)mode), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setresgid(4242, 4242, 4242) < 0 || setresuid(4242, 4242, 4242) < 0)
				_exit(3);
			_exit(store_check_writable(st, err, sizeof(err)) == 0 ? 0 :
			      strstr(err, "Permission denied") ? 1 : 2);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status));
		ck_assert_int_eq(WEXITSTATUS(status), mode == 0700 ? 0 : 1);
	}
	store_close(st);
	remove_tmpdir();
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *text = tcase_create("line");
	TCase *disk = tcase_create("disk");
	TCase *big = tcase_create("big");
	TCase *hostile = tcase_create("hostile");

	tcase_add_test(text, test_round_trip_full);
	tcase_add_test(text, test_round_trip_variants);
	tcase_add_test(text, test_nasty_descriptions);
	tcase_add_test(text, test_longest_line_fits);
	tcase_add_test(text, test_format_refuses);
	tcase_add_test(text, test_parse_base);
	tcase_add_loop_test(text, test_parse_rejects, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(text, test_parse_overlong);
	tcase_add_test(text, test_parse_truncated);
	suite_add_tcase(s, text);

	tcase_add_test(disk, test_put_del_load);
	tcase_add_test(disk, test_snapshot_and_journal);
	tcase_add_test(disk, test_queue_sync_rewind);
	tcase_add_test(disk, test_torn_last_line);
	tcase_add_test(disk, test_journal_grows_by_zeros);
	tcase_add_test(disk, test_journal_hole_left_by_crash);
	tcase_add_test(disk, test_corrupt_middle_line);
	tcase_add_test(disk, test_corrupt_snapshot);
	tcase_add_test(disk, test_callback_refuses);
	tcase_add_test(disk, test_lock);
	tcase_add_test(disk, test_meta);
	tcase_add_test(disk, test_put_partial_write);
	tcase_add_test(disk, test_put_disk_full);
	tcase_add_test(disk, test_read_only_dir);
	tcase_set_timeout(disk, 30);
	suite_add_tcase(s, disk);

	tcase_add_loop_test(hostile, test_hostile_symlink, 0, (int)(sizeof(planted_names) / sizeof(planted_names[0])));
	tcase_add_test(hostile, test_hostile_dangling_symlink);
	tcase_add_test(hostile, test_hostile_tmp_files);
	tcase_add_test(hostile, test_hostile_odd_files);
	tcase_add_test(hostile, test_not_ours_alone);
	tcase_add_test(hostile, test_give_to);
	tcase_add_test(hostile, test_check_writable);
	suite_add_tcase(s, hostile);

	tcase_add_test(big, test_big_table);
	tcase_set_timeout(big, 120);
	suite_add_tcase(s, big);
	tcase_add_unchecked_fixture(disk, base_setup, base_teardown);
	tcase_add_unchecked_fixture(hostile, base_setup, base_teardown);
	tcase_add_unchecked_fixture(big, base_setup, base_teardown);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
