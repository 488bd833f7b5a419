/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The store's one-line text form of a rule (rule_format / rule_parse, declared in rule.h).
 *
 *   v=1 id=7 kind=pinhole state=installed origin=upnp proto=udp int_port=51413 ext_port=0
 *   remote_port=0 exact=2001:db8::5 exact_kind=eui64 expires=1700000000 lease=3600
 *   owner=2001:db8::5 desc=my%20torrent packets=0 bytes=0
 *
 * Fields are key=value separated by single spaces; "v" comes first so the format can evolve.
 * Values are %-escaped: every byte outside 0x21..0x7e, and '%' and '=', becomes %XX, so a
 * description with any bytes survives and a line never holds a space, newline or NUL.
 * Fields guarded by a flag (mac, exact, subnet, stable, nonce) are written only when the flag is
 * set, and their presence sets the flag on parse; remote and ext_addr only when not zero.
 * Addresses are written whole and prefix lengths as separate keys in in6 terms (0..128), so a
 * v4-mapped prefix shorter than 96 cannot be misread. rule_format refuses (-1, EINVAL) any rule
 * rule_parse would refuse, so the store never writes a line it cannot load back. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/rule.h"

#define TEXT_VERSION    1
#define KEY_MAX         16   /* longest key we accept before looking it up */
#define VALUE_RAW_MAX   64   /* escaped length of any value but desc */
#define DESC_RAW_MAX    (3 * RULE_DESC_MAX)

/* Enum ranges as declared in rule.h; names come from rule.c so the two never disagree. */
#define KIND_FIRST      RULE_PINHOLE
#define KIND_LAST       RULE_PORTMAP
#define STATE_FIRST     RULE_PENDING
#define STATE_LAST      RULE_GONE
#define ORIGIN_FIRST    ORIGIN_UPNP
#define ORIGIN_LAST     ORIGIN_PCP_PEER
#define AKIND_FIRST     ADDR_KIND_UNKNOWN
#define AKIND_LAST      ADDR_KIND_TEMPORARY

/* ---------------------------------------------------------------- formatting */

struct writer {
	char *buf;
	size_t len;
	size_t pos;
	bool overflow;
};

static void put_bytes(struct writer *w, const char *s, size_t n)
{
	if (w->overflow || n >= w->len - w->pos) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->pos, s, n);
	w->pos += n;
	w->buf[w->pos] = '\0';
}

static bool byte_needs_escape(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '%' || c == '=';
}

static void put_escaped(struct writer *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (byte_needs_escape(c)) {
			char esc[3] = { '%', hex[c >> 4], hex[c & 0xf] };

			put_bytes(w, esc, sizeof(esc));
		} else {
			put_bytes(w, (const char *)&c, 1);
		}
	}
}

/* Starts a field: separator (except before the first) and "key=". */
static void put_key(struct writer *w, const char *key)
{
	if (w->pos > 0)
		put_bytes(w, " ", 1);
	put_bytes(w, key, strlen(key));
	put_bytes(w, "=", 1);
}

static void put_str(struct writer *w, const char *key, const char *val)
{
	put_key(w, key);
	put_escaped(w, val, strlen(val));
}

static void put_u64(struct writer *w, const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	put_str(w, key, num);
}

static void put_i64(struct writer *w, const char *key, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRId64, v);
	put_str(w, key, num);
}

static void put_addr(struct writer *w, const char *key, const struct in6_addr *a)
{
	char s[ADDR_STRLEN];

	put_str(w, key, addr_str(a, s));
}

static void put_hex(struct writer *w, const char *key, const uint8_t *b, size_t n, char sep)
{
	static const char hex[] = "0123456789abcdef";
	char s[3 * RULE_NONCE_LEN + 1];
	size_t o = 0;

	for (size_t i = 0; i < n && o + 3 < sizeof(s); i++) {
		if (sep != '\0' && i > 0)
			s[o++] = sep;
		s[o++] = hex[b[i] >> 4];
		s[o++] = hex[b[i] & 0xf];
	}
	s[o] = '\0';
	put_str(w, key, s);
}

static bool in_range(int v, int lo, int hi)
{
	return v >= lo && v <= hi;
}

/* Does rule_parse(proto_name(p)) give p back? (rule.c decides which numbers have names.) */
static bool proto_round_trips(uint16_t proto)
{
	char name[8];
	uint16_t back;

	return proto_parse(proto_name(proto, name), &back) && back == proto;
}

/* Everything rule_parse would refuse, refused before a byte is written. */
static bool formattable(const struct rule *r)
{
	const struct rule_target *t = &r->target;

	return r->id <= RULE_ID_MAX &&
	       in_range((int)r->kind, KIND_FIRST, KIND_LAST) &&
	       in_range((int)r->state, STATE_FIRST, STATE_LAST) &&
	       in_range((int)r->origin, ORIGIN_FIRST, ORIGIN_LAST) &&
	       (!t->use_exact || in_range((int)t->exact_kind, AKIND_FIRST, AKIND_LAST)) &&
	       (!t->use_stable || t->subnet_len <= 128) &&
	       r->remote_len <= 128 &&
	       strnlen(r->desc, sizeof(r->desc)) <= RULE_DESC_MAX &&
	       proto_round_trips(r->proto);
}

static void put_target(struct writer *w, const struct rule_target *t)
{
	if (t->has_mac)
		put_hex(w, "mac", t->mac, sizeof(t->mac), ':');
	if (t->use_exact) {
		put_addr(w, "exact", &t->exact);
		put_str(w, "exact_kind", addr_kind_name(t->exact_kind));
	}
	if (t->use_stable) {
		put_addr(w, "subnet", &t->subnet);
		put_u64(w, "subnet_len", t->subnet_len);
		if (t->stable_resolved)
			put_addr(w, "stable", &t->stable);
	}
}

int rule_format(const struct rule *r, char *buf, size_t len)
{
	struct writer w = { .buf = buf, .len = len };
	char pname[8];

	if (r == NULL || buf == NULL || len == 0) {
		errno = EINVAL;
		return -1;
	}
	buf[0] = '\0';
	if (!formattable(r)) {
		errno = EINVAL;
		return -1;
	}
	put_u64(&w, "v", TEXT_VERSION);
	put_u64(&w, "id", r->id);
	put_str(&w, "kind", rule_kind_name(r->kind));
	put_str(&w, "state", rule_state_name(r->state));
	put_str(&w, "origin", rule_origin_name(r->origin));
	put_str(&w, "proto", proto_name(r->proto, pname));
	put_u64(&w, "int_port", r->int_port);
	put_u64(&w, "ext_port", r->ext_port);
	if (r->ext_addr.s_addr != 0) {
		struct in6_addr a;

		addr_from_v4(&a, r->ext_addr);
		put_addr(&w, "ext_addr", &a);
	}
	if (r->remote_len != 0 || !addr_is_unspecified(&r->remote)) {
		put_addr(&w, "remote", &r->remote);
		put_u64(&w, "remote_len", r->remote_len);
	}
	put_u64(&w, "remote_port", r->remote_port);
	put_target(&w, &r->target);
	put_i64(&w, "expires", r->expires);
	put_u64(&w, "lease", r->lease);
	put_addr(&w, "owner", &r->owner);
	if (r->has_owner_mac)
		put_hex(&w, "owner_mac", r->owner_mac, sizeof(r->owner_mac), ':');
	if (r->has_nonce)
		put_hex(&w, "nonce", r->nonce, sizeof(r->nonce), '\0');
	/* desc before the counters: a line cut short loses a required field, not silently a tail */
	put_str(&w, "desc", r->desc);
	put_u64(&w, "packets", r->packets);
	put_u64(&w, "bytes", r->bytes);
	if (w.overflow) {
		buf[0] = '\0';
		errno = ENOSPC;
		return -1;
	}
	return (int)w.pos;
}

/* ---------------------------------------------------------------- parsing: values */

/* Strict unsigned decimal: digits only, no sign, no leading zeros, no overflow. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
	uint64_t mag;

	if (s[0] != '-') {
		if (!parse_u64(s, INT64_MAX, &mag))
			return false;
		*out = (int64_t)mag;
		return true;
	}
	if (!parse_u64(s + 1, (uint64_t)INT64_MAX + 1, &mag) || mag == 0)
		return false;  /* "-0" is not how we write zero */
	*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	return true;
}

/* n bytes as 2n hex digits, each pair optionally separated by sep. */
static bool parse_hex(const char *s, uint8_t *out, size_t n, char sep)
{
	size_t want = sep != '\0' ? 3 * n - 1 : 2 * n;

	if (strlen(s) != want)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *p = s + (sep != '\0' ? 3 * i : 2 * i);
		int hi = hex_digit(p[0]), lo = hex_digit(p[1]);

		if (hi < 0 || lo < 0)
			return false;
		if (sep != '\0' && i + 1 < n && p[2] != sep)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool parse_u16(const char *s, uint16_t *out)
{
	uint64_t v;

	if (!parse_u64(s, UINT16_MAX, &v))
		return false;
	*out = (uint16_t)v;
	return true;
}

static bool parse_prefix_len(const char *s, uint8_t *out)
{
	uint64_t v;

	if (!parse_u64(s, 128, &v))
		return false;
	*out = (uint8_t)v;
	return true;
}

/* Names -> enum values by asking rule.c for each value's name (no parse function for these). */
static bool parse_state(const char *s, enum rule_state *out)
{
	for (int v = STATE_FIRST; v <= STATE_LAST; v++) {
		if (strcmp(rule_state_name((enum rule_state)v), s) == 0) {
			*out = (enum rule_state)v;
			return true;
		}
	}
	return false;
}

static bool parse_addr_kind(const char *s, enum addr_kind *out)
{
	for (int v = AKIND_FIRST; v <= AKIND_LAST; v++) {
		if (strcmp(addr_kind_name((enum addr_kind)v), s) == 0) {
			*out = (enum addr_kind)v;
			return true;
		}
	}
	return false;
}

/* ---------------------------------------------------------------- parsing: fields */

#define BAD_NUMBER  "bad number"
#define BAD_ADDR    "bad address"

typedef const char *(*field_fn)(struct rule *r, const char *v);

static const char *f_version(struct rule *r, const char *v)
{
	uint64_t n;

	(void)r;
	if (!parse_u64(v, UINT32_MAX, &n))
		return BAD_NUMBER;
	return n == TEXT_VERSION ? NULL : "unsupported version";
}

static const char *f_id(struct rule *r, const char *v)
{
	uint64_t n;

	if (!parse_u64(v, UINT64_MAX, &n))
		return BAD_NUMBER;
	if (n > RULE_ID_MAX)
		return "out of range";
	r->id = (uint32_t)n;
	return NULL;
}

static const char *f_kind(struct rule *r, const char *v)
{
	return rule_kind_parse(v, &r->kind) ? NULL : "unknown kind";
}

static const char *f_state(struct rule *r, const char *v)
{
	return parse_state(v, &r->state) ? NULL : "unknown state";
}

static const char *f_origin(struct rule *r, const char *v)
{
	return rule_origin_parse(v, &r->origin) ? NULL : "unknown origin";
}

static const char *f_proto(struct rule *r, const char *v)
{
	return proto_parse(v, &r->proto) ? NULL : "unknown protocol";
}

static const char *f_int_port(struct rule *r, const char *v)
{
	return parse_u16(v, &r->int_port) ? NULL : BAD_NUMBER;
}

static const char *f_ext_port(struct rule *r, const char *v)
{
	return parse_u16(v, &r->ext_port) ? NULL : BAD_NUMBER;
}

static const char *f_remote_port(struct rule *r, const char *v)
{
	return parse_u16(v, &r->remote_port) ? NULL : BAD_NUMBER;
}

static const char *f_ext_addr(struct rule *r, const char *v)
{
	struct in6_addr a;

	if (!addr_parse(v, &a))
		return BAD_ADDR;
	if (!addr_is_v4(&a))
		return "not an IPv4 address";
	r->ext_addr = addr_to_v4(&a);
	return NULL;
}

static const char *f_remote(struct rule *r, const char *v)
{
	return addr_parse(v, &r->remote) ? NULL : BAD_ADDR;
}

static const char *f_remote_len(struct rule *r, const char *v)
{
	return parse_prefix_len(v, &r->remote_len) ? NULL : "bad prefix length (0..128)";
}

static const char *f_mac(struct rule *r, const char *v)
{
	if (!parse_hex(v, r->target.mac, sizeof(r->target.mac), ':'))
		return "bad MAC address";
	r->target.has_mac = true;
	return NULL;
}

static const char *f_exact(struct rule *r, const char *v)
{
	if (!addr_parse(v, &r->target.exact))
		return BAD_ADDR;
	r->target.use_exact = true;
	return NULL;
}

static const char *f_exact_kind(struct rule *r, const char *v)
{
	return parse_addr_kind(v, &r->target.exact_kind) ? NULL : "unknown address kind";
}

static const char *f_subnet(struct rule *r, const char *v)
{
	if (!addr_parse(v, &r->target.subnet))
		return BAD_ADDR;
	r->target.use_stable = true;
	return NULL;
}

static const char *f_subnet_len(struct rule *r, const char *v)
{
	return parse_prefix_len(v, &r->target.subnet_len) ? NULL : "bad prefix length (0..128)";
}

static const char *f_stable(struct rule *r, const char *v)
{
	if (!addr_parse(v, &r->target.stable))
		return BAD_ADDR;
	r->target.stable_resolved = true;
	return NULL;
}

static const char *f_expires(struct rule *r, const char *v)
{
	return parse_i64(v, &r->expires) ? NULL : BAD_NUMBER;
}

static const char *f_lease(struct rule *r, const char *v)
{
	uint64_t n;

	if (!parse_u64(v, UINT32_MAX, &n))
		return BAD_NUMBER;
	r->lease = (uint32_t)n;
	return NULL;
}

static const char *f_owner_mac(struct rule *r, const char *v)
{
	if (!parse_hex(v, r->owner_mac, sizeof(r->owner_mac), ':'))
		return "bad MAC address";
	r->has_owner_mac = true;
	return NULL;
}

static const char *f_owner(struct rule *r, const char *v)
{
	return addr_parse(v, &r->owner) ? NULL : BAD_ADDR;
}

static const char *f_nonce(struct rule *r, const char *v)
{
	if (!parse_hex(v, r->nonce, sizeof(r->nonce), '\0'))
		return "bad nonce (24 hex digits)";
	r->has_nonce = true;
	return NULL;
}

static const char *f_desc(struct rule *r, const char *v)
{
	size_t n = strlen(v);

	if (n > RULE_DESC_MAX)
		return "too long";
	memcpy(r->desc, v, n + 1);
	return NULL;
}

static const char *f_packets(struct rule *r, const char *v)
{
	return parse_u64(v, UINT64_MAX, &r->packets) ? NULL : BAD_NUMBER;
}

static const char *f_bytes(struct rule *r, const char *v)
{
	return parse_u64(v, UINT64_MAX, &r->bytes) ? NULL : BAD_NUMBER;
}

enum field_id {
	F_V, F_ID, F_KIND, F_STATE, F_ORIGIN, F_PROTO, F_INT_PORT, F_EXT_PORT, F_EXT_ADDR,
	F_REMOTE, F_REMOTE_LEN, F_REMOTE_PORT, F_MAC, F_EXACT, F_EXACT_KIND, F_SUBNET, F_SUBNET_LEN,
	F_STABLE, F_EXPIRES, F_LEASE, F_OWNER, F_OWNER_MAC, F_NONCE, F_DESC, F_PACKETS, F_BYTES, F_COUNT
};

struct field {
	const char *key;
	size_t klen;
	field_fn set;
	bool required;
	size_t raw_max;  /* longest escaped value accepted */
};

#define K(name) name, sizeof(name) - 1

static const struct field fields[F_COUNT] = {
	[F_V]           = { K("v"),           f_version,     true,  VALUE_RAW_MAX },
	[F_ID]          = { K("id"),          f_id,          true,  VALUE_RAW_MAX },
	[F_KIND]        = { K("kind"),        f_kind,        true,  VALUE_RAW_MAX },
	[F_STATE]       = { K("state"),       f_state,       true,  VALUE_RAW_MAX },
	[F_ORIGIN]      = { K("origin"),      f_origin,      true,  VALUE_RAW_MAX },
	[F_PROTO]       = { K("proto"),       f_proto,       true,  VALUE_RAW_MAX },
	[F_INT_PORT]    = { K("int_port"),    f_int_port,    true,  VALUE_RAW_MAX },
	[F_EXT_PORT]    = { K("ext_port"),    f_ext_port,    true,  VALUE_RAW_MAX },
	[F_EXT_ADDR]    = { K("ext_addr"),    f_ext_addr,    false, VALUE_RAW_MAX },
	[F_REMOTE]      = { K("remote"),      f_remote,      false, VALUE_RAW_MAX },
	[F_REMOTE_LEN]  = { K("remote_len"),  f_remote_len,  false, VALUE_RAW_MAX },
	[F_REMOTE_PORT] = { K("remote_port"), f_remote_port, true,  VALUE_RAW_MAX },
	[F_MAC]         = { K("mac"),         f_mac,         false, VALUE_RAW_MAX },
	[F_EXACT]       = { K("exact"),       f_exact,       false, VALUE_RAW_MAX },
	[F_EXACT_KIND]  = { K("exact_kind"),  f_exact_kind,  false, VALUE_RAW_MAX },
	[F_SUBNET]      = { K("subnet"),      f_subnet,      false, VALUE_RAW_MAX },
	[F_SUBNET_LEN]  = { K("subnet_len"),  f_subnet_len,  false, VALUE_RAW_MAX },
	[F_STABLE]      = { K("stable"),      f_stable,      false, VALUE_RAW_MAX },
	[F_EXPIRES]     = { K("expires"),     f_expires,     true,  VALUE_RAW_MAX },
	[F_LEASE]       = { K("lease"),       f_lease,       true,  VALUE_RAW_MAX },
	[F_OWNER]       = { K("owner"),       f_owner,       true,  VALUE_RAW_MAX },
	[F_OWNER_MAC]   = { K("owner_mac"),   f_owner_mac,   false, VALUE_RAW_MAX },
	[F_NONCE]       = { K("nonce"),       f_nonce,       false, VALUE_RAW_MAX },
	[F_DESC]        = { K("desc"),        f_desc,        true,  DESC_RAW_MAX },
	[F_PACKETS]     = { K("packets"),     f_packets,     true,  VALUE_RAW_MAX },
	[F_BYTES]       = { K("bytes"),       f_bytes,       true,  VALUE_RAW_MAX },
};

/* ---------------------------------------------------------------- parsing: the line */

struct parse_state {
	struct rule r;
	uint32_t seen;       /* bit per enum field_id */
	char *err;
	size_t errlen;
};

static bool fail(struct parse_state *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct parse_state *ps, const char *fmt, ...)
{
	va_list ap;

	if (ps->err != NULL && ps->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(ps->err, ps->errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool key_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int find_field(const char *key, size_t n)
{
	for (int i = 0; i < F_COUNT; i++) {
		if (fields[i].klen == n && memcmp(fields[i].key, key, n) == 0)
			return i;
	}
	return -1;
}

/* Undoes %XX into out (NUL-terminated); refuses bytes that must have been escaped and %00. */
static const char *unescape(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 1 >= outlen)
			return "too long";
		if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return "truncated %-escape";
			hi = hex_digit(s[i + 1]);
			lo = hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0)
				return "bad %-escape";
			c = (unsigned char)(hi << 4 | lo);
			if (c == '\0')
				return "NUL byte (%00) not allowed";
			i += 2;
		} else if (byte_needs_escape(c)) {
			return "unescaped special byte";
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return NULL;
}

static bool parse_token(struct parse_state *ps, const char *tok, size_t n, bool first)
{
	const char *eq = memchr(tok, '=', n);
	char val[DESC_RAW_MAX + 1];
	size_t klen, vlen;
	const char *msg;
	int f;

	if (eq == NULL)
		return fail(ps, "field without '=' (expected key=value)");
	klen = (size_t)(eq - tok);
	vlen = n - klen - 1;
	if (klen == 0)
		return fail(ps, "field with an empty key");
	if (klen > KEY_MAX)
		return fail(ps, "key too long (%zu bytes)", klen);
	for (size_t i = 0; i < klen; i++) {
		if (!key_char_ok(tok[i]))
			return fail(ps, "bad character in key (only a-z, 0-9, _)");
	}
	/* key is now at most KEY_MAX safe characters, fine to quote in messages */
	f = find_field(tok, klen);
	if (f < 0)
		return fail(ps, "unknown key '%.*s'", (int)klen, tok);
	/* a later "v" is caught as a duplicate below */
	if (first && f != F_V)
		return fail(ps, "line must start with the version (v=%d)", TEXT_VERSION);
	if (ps->seen & (1u << f))
		return fail(ps, "duplicate key '%s'", fields[f].key);
	ps->seen |= 1u << f;
	if (vlen > fields[f].raw_max)
		return fail(ps, "%s: too long (%zu bytes, max %zu)", fields[f].key, vlen, fields[f].raw_max);
	msg = unescape(eq + 1, vlen, val, sizeof(val));
	if (msg == NULL)
		msg = fields[f].set(&ps->r, val);
	if (msg != NULL)
		return fail(ps, "%s: %s", fields[f].key, msg);
	return true;
}

static bool seen(const struct parse_state *ps, enum field_id f)
{
	return (ps->seen & (1u << f)) != 0;
}

/* Required fields, and fields that only mean something together. */
static bool check_complete(struct parse_state *ps)
{
	for (int f = 0; f < F_COUNT; f++) {
		if (fields[f].required && !seen(ps, (enum field_id)f))
			return fail(ps, "missing field '%s'", fields[f].key);
	}
	if (seen(ps, F_REMOTE) != seen(ps, F_REMOTE_LEN))
		return fail(ps, "remote and remote_len go together");
	if (seen(ps, F_SUBNET) != seen(ps, F_SUBNET_LEN))
		return fail(ps, "subnet and subnet_len go together");
	if (seen(ps, F_STABLE) && !seen(ps, F_SUBNET))
		return fail(ps, "stable: needs subnet");
	if (seen(ps, F_EXACT_KIND) && !seen(ps, F_EXACT))
		return fail(ps, "exact_kind: needs exact");
	return true;
}

bool rule_parse(const char *line, size_t len, struct rule *out, char *err, size_t errlen)
{
	struct parse_state ps = { .err = err, .errlen = errlen };
	size_t pos = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (line == NULL || out == NULL)
		return fail(&ps, "no line");
	if (len == 0)
		return fail(&ps, "empty line");
	if (len > RULE_LINE_MAX)
		return fail(&ps, "line too long (%zu bytes, max %d)", len, RULE_LINE_MAX);
	/* every pass consumes at least one byte: the loop ends within len iterations */
	while (pos < len) {
		const char *sp = memchr(line + pos, ' ', len - pos);
		size_t end = sp != NULL ? (size_t)(sp - line) : len;

		if (end == pos)
			return fail(&ps, "empty field at byte %zu (double or leading space)", pos);
		if (!parse_token(&ps, line + pos, end - pos, pos == 0))
			return false;
		if (end < len && end + 1 == len)
			return fail(&ps, "trailing space");
		pos = end + 1;
	}
	if (!check_complete(&ps))
		return false;
	*out = ps.r;
	return true;
}
