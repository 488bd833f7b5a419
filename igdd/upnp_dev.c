/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libupnp (pupnp 1.14) glue: one IGD registered for IPv4 and IPv6 on the LAN interface, SOAP
 * actions turned into name/value pairs for soap_call, GENA subscriptions and change events.
 * This file does I/O and decides nothing: every decision is in soap_*.c and the core.
 *
 * Threads: libupnp calls us from its pool (up to 12 at once). The callbacks share no mutable state
 * but the eventing fields (u->ev_lock); the core takes its own lock. upnp_rule_changed() runs under the core
 * lock, so it only counts and signals the eventing thread, which calls UpnpNotify without any lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* pupnp's headers declare "T *X_new();": not ours to fix, and -Wstrict-prototypes is -Werror here */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <upnp.h>
#include <upnptools.h>
#pragma GCC diagnostic pop

#include "firewall/addr.h"
#include "firewall/device.h"
#include "firewall/lanif.h"
#include "firewall/log.h"
#include "igdd/desc.h"
#include "igdd/upnp.h"

/* pupnp queues every SOAP request and every GENA NOTIFY (one per subscriber) as a job; its default of
 * 100 queued jobs drops NOTIFYs to all but ~100 subscribers of one event. Bounded subscriptions keep the
 * queue (and memory) bounded in turn. */
#define UPNP_MAX_JOBS          4096
/* GENA subscriptions, per service and address family. A subscription lives at most
 * UPNP_MAX_SUBSCRIPTION_S unless renewed ("Second-infinite" gets that too), and one control point
 * (source address) may hold UPNP_MAX_SUBSCRIPTIONS_PER_HOST per service: a home's control points hold
 * one or two each, so one host cannot fill the table and lock every other one out (it would need 32
 * addresses). The per-host limit is our pupnp patch (tests/tools/pupnp/): the library's subscription
 * callback is told neither the subscriber nor its callback URL, and only after it has answered 200. */
#define UPNP_MAX_SUBSCRIPTIONS          512
#define UPNP_MAX_SUBSCRIPTIONS_PER_HOST 16
#define UPNP_MAX_SUBSCRIPTION_S         1800

#define MAX_IN_ARGS (SOAP_MAX_ARGS + 2)  /* one more than any action takes: more is 402 anyway */

struct upnp_handle {
	struct upnp_service *u;
	UpnpDevice_Handle h;
	bool registered;
	int family;
};

/* What libupnp should serve, from the LAN interface's facts (lanif.h). libupnp reads the interface's
 * addresses itself (getifaddrs) when it starts and binds to them, so it may only start once the
 * link-local address (and any ULA) is out of Duplicate Address Detection; and it knows nothing of
 * later changes, so a different set of addresses means a restart. */
struct upnp_want {
	bool ready;                   /* libupnp can start: link up with carrier, nothing it would bind tentative */
	char why[80];                 /* when not ready: what we wait for */
	int ifindex;
	bool has_v4, has_ll, has_gua, has_ula;
	struct in6_addr v4, ll, gua, ula;
	uint8_t gua_plen;
};

struct upnp_service {
	struct upnp_params p;
	char ifname[IF_NAMESIZE], ext_ifname[IF_NAMESIZE];
	struct desc_params desc;
	char udn[DESC_DEV_COUNT][DESC_UUID_LEN + 6];
	char www[PATH_MAX];
	struct upnp_handle h4, h6;
	int64_t started;
	/* the supervisor thread: (re)starts libupnp when `want` differs from what runs */
	pthread_mutex_t ctl_mu;
	pthread_cond_t ctl_cond;
	pthread_t ctl_thread;
	bool ctl_running, ctl_stop;
	struct upnp_want want, have;  /* have.ready: libupnp runs with have's addresses */
	unsigned failures;            /* consecutive failed starts (backoff) */
	/* held for writing while libupnp stops or starts, for reading around our own libupnp calls */
	pthread_rwlock_t sdk_lock;
	/* eventing */
	pthread_mutex_t ev_lock;
	pthread_cond_t ev_cond;
	pthread_t ev_thread;
	bool ev_running, ev_stop, ev_dirty;
	uint32_t system_update_id;
};

/* ---------- persistent UUID ---------- */

/* The same UUID across restarts: control points recognise the router. It is a store value
 * (state_dir/meta.upnp_uuid), written through the store's handle on the directory: igdd's user need
 * not be able to reach state_dir by its path (a checkout below a 0700 home, a state_dir below a
 * private directory). Older versions wrote state_dir/upnp_uuid by path: taken over once. */
#define UUID_KEY    "upnp_uuid"
#define LEGACY_UUID "upnp_uuid"

static bool uuid_from(char *buf, char out[DESC_UUID_LEN + 1])
{
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!desc_uuid_valid(buf))
		return false;
	memcpy(out, buf, DESC_UUID_LEN + 1);
	return true;
}

static bool read_legacy_uuid(const char *state_dir, char out[DESC_UUID_LEN + 1])
{
	char path[PATH_MAX], buf[64];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/" LEGACY_UUID, state_dir) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return uuid_from(buf, out);
}

static bool new_uuid(char out[DESC_UUID_LEN + 1])
{
	uint8_t r[16];

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return false;
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);  /* version 4 */
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
	snprintf(out, DESC_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	return true;
}

static int load_uuid(struct upnp_service *u)
{
	char buf[64];

	if (core_meta_get(u->p.core, UUID_KEY, buf, sizeof(buf)) == 0 && uuid_from(buf, u->desc.base_uuid))
		return 0;
	if (!read_legacy_uuid(u->p.state_dir, u->desc.base_uuid) && !new_uuid(u->desc.base_uuid))
		return -1;
	if (core_meta_set(u->p.core, UUID_KEY, u->desc.base_uuid) < 0) {
		log_warn("upnp: cannot keep the UUID in %s/meta." UUID_KEY, u->p.state_dir);
		return -1;
	}
	return 0;
}

/* ---------- descriptions: a libupnp virtual directory, chosen per request ---------- */

/* One served document in its two versions; the v1 one goes to clients that break on IGD:2. */
struct doc {
	const char *path;
	char *v2, *v1;
};

#define MAX_DOCS 8

struct docs {
	struct doc d[MAX_DOCS];
	size_t n;
	time_t mtime;
};

struct open_doc {
	const char *data;
	size_t len, pos;
};

static struct docs docs;  /* libupnp's virtual directory callbacks are global anyway */

static void docs_free(void)
{
	for (size_t i = 0; i < docs.n; i++) {
		free(docs.d[i].v2);
		free(docs.d[i].v1);
	}
	memset(&docs, 0, sizeof(docs));
}

static int docs_add(const char *path, char *v2, char *v1)
{
	if (docs.n >= MAX_DOCS || v2 == NULL || v1 == NULL) {
		free(v2);
		free(v1);
		return -1;
	}
	docs.d[docs.n].path = path;
	docs.d[docs.n].v2 = v2;
	docs.d[docs.n++].v1 = v1;
	return 0;
}

static int docs_build(const struct upnp_service *u)
{
	bool f = u->p.force_v1;
	int rc = 0;

	docs_free();
	docs.mtime = time(NULL);
	rc |= docs_add(DESC_ROOT_PATH, desc_root(&u->desc, f), desc_root(&u->desc, true));
	for (int s = 0; s < SOAP_SVC_COUNT; s++) {
		enum soap_service svc = (enum soap_service)s;

		rc |= docs_add(desc_scpd_path(svc, false), desc_scpd(svc, f), desc_scpd(svc, true));
		if (strcmp(desc_scpd_path(svc, false), desc_scpd_path(svc, true)) != 0)
			rc |= docs_add(desc_scpd_path(svc, true), desc_scpd(svc, true), desc_scpd(svc, true));
	}
	return rc ? -1 : 0;
}

static const struct doc *doc_find(const char *path)
{
	for (size_t i = 0; path && i < docs.n; i++)
		if (strcmp(docs.d[i].path, path) == 0)
			return &docs.d[i];
	return NULL;
}

/* libupnp hands a virtual directory the request's User-Agent as "Os" (webserver.c), not in the
 * extra headers list. */
static const char *request_ua(const UpnpFileInfo *info)
{
	return UpnpFileInfo_get_Os_cstr(info);
}

static int vd_info(const char *filename, UpnpFileInfo *info, const void *cookie, const void **req)
{
	const struct upnp_service *u = cookie;
	const struct doc *d = doc_find(filename);
	const char *data;

	if (d == NULL)
		return -1;
	data = u->p.force_v1 || desc_ua_needs_v1(request_ua(info)) ? d->v1 : d->v2;
	*req = data;
	UpnpFileInfo_set_FileLength(info, (off_t)strlen(data));
	UpnpFileInfo_set_LastModified(info, docs.mtime);
	UpnpFileInfo_set_IsDirectory(info, 0);
	UpnpFileInfo_set_IsReadable(info, 1);
	UpnpFileInfo_set_ContentType(info, "text/xml; charset=\"utf-8\"");
	return 0;
}

static UpnpWebFileHandle vd_open(const char *filename, enum UpnpOpenFileMode mode, const void *cookie,
				 const void *req)
{
	struct open_doc *o;

	(void)filename;
	(void)cookie;
	if (mode != UPNP_READ || req == NULL || (o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	o->data = req;
	o->len = strlen(o->data);
	return o;
}

static int vd_read(UpnpWebFileHandle h, char *buf, size_t len, const void *cookie, const void *req)
{
	struct open_doc *o = h;
	size_t n = o->len - o->pos < len ? o->len - o->pos : len;

	(void)cookie;
	(void)req;
	memcpy(buf, o->data + o->pos, n);
	o->pos += n;
	return (int)n;
}

static int vd_write(UpnpWebFileHandle h, char *buf, size_t len, const void *cookie, const void *req)
{
	(void)h;
	(void)buf;
	(void)len;
	(void)cookie;
	(void)req;
	return -1;
}

static int vd_seek(UpnpWebFileHandle h, off_t off, int whence, const void *cookie, const void *req)
{
	struct open_doc *o = h;
	off_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (off_t)o->pos : (off_t)o->len;

	(void)cookie;
	(void)req;
	if (base + off < 0 || base + off > (off_t)o->len)
		return -1;
	o->pos = (size_t)(base + off);
	return 0;
}

static int vd_close(UpnpWebFileHandle h, const void *cookie, const void *req)
{
	(void)cookie;
	(void)req;
	free(h);
	return 0;
}

/* libupnp serves files below its web root for every URL outside our virtual directory (without a
 * root it answers those 500). Ours names a directory in state_dir that is never created (older
 * versions made it, empty): every such request is a 404, and igdd's user needs no path to it. */
static int serve_descriptions(struct upnp_service *u)
{
	if (snprintf(u->www, sizeof(u->www), "%s/upnp-www", u->p.state_dir) >= (int)sizeof(u->www))
		return -1;
	if (UpnpSetWebServerRootDir(u->www) != UPNP_E_SUCCESS)
		return -1;
	if (UpnpVirtualDir_set_GetInfoCallback(vd_info) || UpnpVirtualDir_set_OpenCallback(vd_open) ||
	    UpnpVirtualDir_set_ReadCallback(vd_read) || UpnpVirtualDir_set_WriteCallback(vd_write) ||
	    UpnpVirtualDir_set_SeekCallback(vd_seek) || UpnpVirtualDir_set_CloseCallback(vd_close))
		return -1;
	return UpnpAddVirtualDir(DESC_DIR, u, NULL) == UPNP_E_SUCCESS ? 0 : -1;
}

/* ---------- addresses and WAN facts ---------- */

/* Copies rather than casts: getifaddrs' sockaddrs need not be aligned for sockaddr_storage. */
static void sockaddr_to_in6(const void *sa, struct in6_addr *out)
{
	sa_family_t fam;

	memset(out, 0, sizeof(*out));
	if (sa == NULL)
		return;
	memcpy(&fam, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof(fam));
	if (fam == AF_INET) {
		struct sockaddr_in s4;

		memcpy(&s4, sa, sizeof(s4));
		addr_from_v4(out, s4.sin_addr);
	} else if (fam == AF_INET6) {
		struct sockaddr_in6 s6;

		memcpy(&s6, sa, sizeof(s6));
		*out = s6.sin6_addr;
	}
}

static bool ifa_addr(const struct ifaddrs *i, struct in6_addr *a, uint8_t *plen)
{
	struct in6_addr m;
	uint8_t n = 0;
	int fam;

	if (i->ifa_addr == NULL)
		return false;
	fam = i->ifa_addr->sa_family;
	if (fam != AF_INET && fam != AF_INET6)
		return false;
	sockaddr_to_in6(i->ifa_addr, a);
	if (plen == NULL)
		return true;
	if (i->ifa_netmask == NULL)
		return false;
	sockaddr_to_in6(i->ifa_netmask, &m);
	if (fam == AF_INET)
		n = 96;
	for (int b = fam == AF_INET ? 12 : 0; b < 16; b++)
		n = (uint8_t)(n + __builtin_popcount(m.s6_addr[b]));
	*plen = n;
	return true;
}

/* Is the control point on one of the LAN interface's subnets? UPnP is for the LAN only (IGD:2 §2.3). */
static bool peer_on_lan(const struct upnp_service *u, const struct in6_addr *peer)
{
	struct ifaddrs *ifs, *i;
	bool ok = false;

	if (getifaddrs(&ifs) < 0)
		return false;
	for (i = ifs; i && !ok; i = i->ifa_next) {
		struct in6_addr a;
		uint8_t len;

		if (strcmp(i->ifa_name, u->ifname) != 0 || !ifa_addr(i, &a, &len))
			continue;
		ok = addr_in_prefix(peer, &a, len);
	}
	freeifaddrs(ifs);
	return ok;
}

static bool is_gateway_addr(void *arg, const struct in6_addr *x)
{
	struct ifaddrs *ifs, *i;
	bool found = false;

	(void)arg;
	if (getifaddrs(&ifs) < 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		struct in6_addr a;

		found = ifa_addr(i, &a, NULL) && addr_equal(&a, x);
	}
	freeifaddrs(ifs);
	return found;
}

static uint64_t read_stat(const char *ifname, const char *name)
{
	char path[128], buf[32];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		v = strtoull(buf, NULL, 10);
	fclose(f);
	return v;
}

static void wan_info(const struct upnp_service *u, bool counters, struct soap_wan_info *w)
{
	struct ifaddrs *ifs, *i;

	memset(w, 0, sizeof(*w));
	if (u->ext_ifname[0] == '\0' || getifaddrs(&ifs) < 0)
		return;
	for (i = ifs; i; i = i->ifa_next) {
		if (strcmp(i->ifa_name, u->ext_ifname) != 0)
			continue;
		if ((i->ifa_flags & IFF_UP) && (i->ifa_flags & IFF_RUNNING))
			w->link_up = true;
		if (w->ext_ip[0] == '\0' && i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
			struct in6_addr a;

			sockaddr_to_in6(i->ifa_addr, &a);
			inet_ntop(AF_INET, &a.s6_addr[12], w->ext_ip, sizeof(w->ext_ip));
		}
	}
	freeifaddrs(ifs);
	if (counters) {
		w->tx_bytes = read_stat(u->ext_ifname, "tx_bytes");
		w->rx_bytes = read_stat(u->ext_ifname, "rx_bytes");
		w->tx_packets = read_stat(u->ext_ifname, "tx_packets");
		w->rx_packets = read_stat(u->ext_ifname, "rx_packets");
	}
}

struct same_q {
	const struct in6_addr *a, *b;
};

static int same_fn(void *arg, struct device_table *t)
{
	const struct same_q *q = arg;

	return device_same(t, q->a, q->b) ? 1 : 2;
}

/* The core's device table decides, as it does for the core's own checks; without a table (tests,
 * a build without devwatch) the kernel's neighbour table does. */
static bool core_same_device(void *arg, const struct in6_addr *a, const struct in6_addr *b)
{
	const struct upnp_service *u = arg;
	struct same_q q = { a, b };
	int rc = core_with_devices(u->p.core, same_fn, &q);

	if (rc != 0)
		return rc == 1;
	return upnp_same_device_neigh(NULL, a, b);
}

static void make_ctx(const struct upnp_service *u, const struct in6_addr *peer, bool v1, const char *ua,
		     bool counters, struct soap_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->core = u->p.core;
	ctx->iwf = u->p.iwf;
	ctx->peer = *peer;
	ctx->v1 = v1;
	ctx->ua_igd1 = desc_ua_needs_v1(ua);
	ctx->now = (int64_t)time(NULL);
	ctx->uptime = ctx->now - u->started;
	wan_info(u, counters, &ctx->wan);
	ctx->firewall_enabled = true;
	ctx->pinholes_allowed = true;
	ctx->same_device = u->p.same_device ? u->p.same_device : core_same_device;
	ctx->is_gateway_addr = is_gateway_addr;  /* ignores its argument */
	ctx->arg = u->p.same_device ? u->p.device_arg : (void *)(uintptr_t)u;
}

/* ---------- SOAP ---------- */

/* Text of an element's only text child; "" when empty. NULL when it has element children (402). */
static const char *elem_text(IXML_Node *e)
{
	IXML_Node *c = ixmlNode_getFirstChild(e);
	const char *v;

	if (c == NULL)
		return "";
	if (ixmlNode_getNodeType(c) != eTEXT_NODE || ixmlNode_getNextSibling(c) != NULL)
		return NULL;
	v = ixmlNode_getNodeValue(c);
	return v ? v : "";
}

/* The action element's children as name/value pairs (names without prefix). -1 when malformed. */
static int collect_args(IXML_Node *action, struct soap_arg *a, size_t *n)
{
	*n = 0;
	for (IXML_Node *c = ixmlNode_getFirstChild(action); c; c = ixmlNode_getNextSibling(c)) {
		const char *name;

		if (ixmlNode_getNodeType(c) == eTEXT_NODE)
			continue;  /* white space between arguments */
		if (ixmlNode_getNodeType(c) != eELEMENT_NODE || *n >= MAX_IN_ARGS)
			return -1;
		name = ixmlNode_getLocalName(c);
		if (name == NULL)
			name = ixmlNode_getNodeName(c);
		a[*n].name = name;
		a[*n].value = elem_text(c);
		if (a[*n].name == NULL || a[*n].value == NULL)
			return -1;
		(*n)++;
	}
	return 0;
}

static IXML_Node *action_element(IXML_Document *doc)
{
	IXML_Node *c = doc ? ixmlNode_getFirstChild((IXML_Node *)doc) : NULL;

	while (c && ixmlNode_getNodeType(c) != eELEMENT_NODE)
		c = ixmlNode_getNextSibling(c);
	return c;
}

/* The service type to answer in: the CP's own namespace when it is a version of ours (IGD:1 CPs post
 * WANIPConnection:1 to our v2 URL and expect :1 back). */
static const char *answer_type(enum soap_service svc, const char *ns, bool *v1)
{
	const char *v2 = desc_service_type(svc, false), *t1 = desc_service_type(svc, true);

	*v1 = false;
	if (ns && strcmp(ns, t1) == 0 && strcmp(t1, v2) != 0) {
		*v1 = true;
		return t1;
	}
	return v2;
}

static void set_error(UpnpActionRequest *r, enum soap_service svc, int code)
{
	UpnpActionRequest_set_ErrCode(r, code);
	UpnpActionRequest_strcpy_ErrStr(r, soap_error_desc(svc, code));
	UpnpActionRequest_set_ActionResult(r, NULL);
}

/* NewPortListing travels as CDATA, as miniupnpd sends it: miniupnpc's small XML parser does not
 * decode entities, so an escaped listing (&lt;p:PortMappingList...) parses as zero entries (tried). */
static bool add_cdata_arg(IXML_Document *resp, const char *name, const char *value)
{
	IXML_Node *top = ixmlNode_getFirstChild((IXML_Node *)resp);
	IXML_Element *el = NULL;
	IXML_CDATASection *cd = NULL;

	if (top == NULL || strstr(value, "]]>") != NULL)
		return false;
	if (ixmlDocument_createElementEx(resp, name, &el) != IXML_SUCCESS)
		return false;
	if (ixmlDocument_createCDATASectionEx(resp, value, &cd) != IXML_SUCCESS ||
	    ixmlNode_appendChild((IXML_Node *)el, (IXML_Node *)cd) != IXML_SUCCESS) {
		if (cd)
			ixmlNode_free((IXML_Node *)cd);
		ixmlElement_free(el);
		return false;
	}
	if (ixmlNode_appendChild(top, (IXML_Node *)el) != IXML_SUCCESS) {
		ixmlElement_free(el);
		return false;
	}
	return true;
}

static void respond(UpnpActionRequest *r, const char *action, const char *type, const struct soap_out *o)
{
	IXML_Document *resp = NULL;

	if (o->n == 0)
		UpnpAddToActionResponse(&resp, action, type, NULL, NULL);
	for (size_t i = 0; i < o->n; i++) {
		if (strcmp(o->name[i], "NewPortListing") == 0) {
			if (resp == NULL)
				UpnpAddToActionResponse(&resp, action, type, NULL, NULL);
			if (resp && add_cdata_arg(resp, o->name[i], o->value[i]))
				continue;
		}
		UpnpAddToActionResponse(&resp, action, type, o->name[i], o->value[i]);
	}
	if (resp == NULL) {
		set_error(r, SOAP_SVC_COUNT, SOAP_E_OUT_OF_MEMORY);
		return;
	}
	UpnpActionRequest_set_ErrCode(r, UPNP_E_SUCCESS);
	UpnpActionRequest_set_ActionResult(r, resp);
}

static void on_action(struct upnp_service *u, UpnpActionRequest *r)
{
	const char *action = UpnpActionRequest_get_ActionName_cstr(r);
	enum soap_service svc = desc_service_by_id(UpnpActionRequest_get_ServiceID_cstr(r));
	IXML_Node *el = action_element(UpnpActionRequest_get_ActionRequest(r));
	struct soap_arg args[MAX_IN_ARGS];
	struct in6_addr peer;
	struct soap_ctx ctx;
	struct soap_out out;
	const char *type;
	char pbuf[ADDR_STRLEN];
	size_t n;
	bool v1;
	int rc;

	sockaddr_to_in6(UpnpActionRequest_get_CtrlPtIPAddr(r), &peer);
	if (svc == SOAP_SVC_COUNT || action == NULL || el == NULL) {
		set_error(r, SOAP_SVC_COUNT, SOAP_E_INVALID_ACTION);
		return;
	}
	type = answer_type(svc, ixmlNode_getNamespaceURI(el), &v1);
	if (!peer_on_lan(u, &peer)) {
		log_warnx("upnp: %s from %s, not on %s: refused", action, addr_str(&peer, pbuf), u->ifname);
		set_error(r, svc, SOAP_E_NOT_AUTHORIZED);
		return;
	}
	if (collect_args(el, args, &n) < 0) {
		set_error(r, svc, SOAP_E_INVALID_ARGS);
		return;
	}
	/* pupnp 1.14 copies the request's User-Agent into the action request's "Os" (soap_device.c) */
	make_ctx(u, &peer, v1 || u->p.force_v1, UpnpActionRequest_get_Os_cstr(r), svc == SOAP_SVC_WANCIC, &ctx);
	rc = soap_call(&ctx, svc, action, args, n, &out);
	log_debug("upnp: %s from %s -> %d", action, addr_str(&peer, pbuf), rc);
	if (rc != SOAP_OK) {
		set_error(r, svc, rc);
		return;
	}
	respond(r, action, type, &out);
	soap_out_free(&out);
}

/* ---------- GENA ---------- */

#define EV_MAX 5

struct ev_vars {
	const char *name[EV_MAX];
	const char *value[EV_MAX];
	char buf[EV_MAX][24];
	size_t n;
};

static void ev_add(struct ev_vars *v, const char *name, const char *value)
{
	if (v->n >= EV_MAX)
		return;
	snprintf(v->buf[v->n], sizeof(v->buf[v->n]), "%s", value);
	v->name[v->n] = name;
	v->value[v->n] = v->buf[v->n];
	v->n++;
}

/* The evented variables of a service, as of now. Takes the core lock (core_count): never call it
 * with the core lock held. */
static void ev_values(struct upnp_service *u, enum soap_service svc, struct ev_vars *v)
{
	struct soap_wan_info w;
	uint32_t portmaps;
	char num[16];
	uint32_t id;

	memset(v, 0, sizeof(*v));
	wan_info(u, false, &w);
	if (svc == SOAP_SVC_WANIPC) {
		portmaps = core_count(u->p.core, RULE_PORTMAP);
		pthread_mutex_lock(&u->ev_lock);
		id = u->system_update_id;
		pthread_mutex_unlock(&u->ev_lock);
		snprintf(num, sizeof(num), "%u", id);
		ev_add(v, "SystemUpdateID", num);
		snprintf(num, sizeof(num), "%u", portmaps > 65535 ? 65535 : portmaps);
		ev_add(v, "PortMappingNumberOfEntries", num);
		ev_add(v, "ExternalIPAddress", w.ext_ip);
		ev_add(v, "ConnectionStatus", w.ext_ip[0] || w.link_up ? "Connected" : "Disconnected");
		ev_add(v, "PossibleConnectionTypes", "IP_Routed");
	} else if (svc == SOAP_SVC_V6FC) {
		ev_add(v, "FirewallEnabled", "1");
		ev_add(v, "InboundPinholeAllowed", "1");
	} else {
		ev_add(v, "PhysicalLinkStatus", w.link_up ? "Up" : "Down");
	}
}

static const char *udn_of(const struct upnp_service *u, enum soap_service svc)
{
	return u->udn[svc == SOAP_SVC_WANCIC ? DESC_DEV_WAN : DESC_DEV_WCD];
}

static void on_subscribe(struct upnp_handle *h, const UpnpSubscriptionRequest *s)
{
	struct upnp_service *u = h->u;
	enum soap_service svc = desc_service_by_id(UpnpSubscriptionRequest_get_ServiceId_cstr(s));
	struct ev_vars v;

	/* pupnp 1.14 already refuses callbacks outside the interface's subnet (CallStranger), and with
	 * our patch a subscriber over its share (limit_subscriptions) */
	if (svc == SOAP_SVC_COUNT)
		return;
	ev_values(u, svc, &v);
	UpnpAcceptSubscription(h->h, UpnpSubscriptionRequest_get_UDN_cstr(s),
			       UpnpSubscriptionRequest_get_ServiceId_cstr(s), v.name, v.value, (int)v.n,
			       UpnpSubscriptionRequest_get_SID_cstr(s));
}

/* The bounds above, on one registered device. */
static void limit_subscriptions(const struct upnp_handle *h)
{
	if (UpnpSetMaxSubscriptions(h->h, UPNP_MAX_SUBSCRIPTIONS) != UPNP_E_SUCCESS ||
	    UpnpSetMaxSubscriptionsPerHost(h->h, UPNP_MAX_SUBSCRIPTIONS_PER_HOST) != UPNP_E_SUCCESS ||
	    UpnpSetMaxSubscriptionTimeOut(h->h, UPNP_MAX_SUBSCRIPTION_S) != UPNP_E_SUCCESS)
		log_warnx("upnp: cannot bound the GENA subscriptions");
}

static void notify_all(struct upnp_service *u)
{
	struct ev_vars v;

	ev_values(u, SOAP_SVC_WANIPC, &v);
	/* never while the supervisor stops or starts libupnp: the handles change under it */
	pthread_rwlock_rdlock(&u->sdk_lock);
	if (u->h4.registered)
		UpnpNotify(u->h4.h, udn_of(u, SOAP_SVC_WANIPC), desc_service_id(SOAP_SVC_WANIPC), v.name, v.value,
			   (int)v.n);
	if (u->h6.registered)
		UpnpNotify(u->h6.h, udn_of(u, SOAP_SVC_WANIPC), desc_service_id(SOAP_SVC_WANIPC), v.name, v.value,
			   (int)v.n);
	pthread_rwlock_unlock(&u->sdk_lock);
}

static void *ev_main(void *arg)
{
	struct upnp_service *u = arg;

	pthread_mutex_lock(&u->ev_lock);
	while (!u->ev_stop) {
		if (!u->ev_dirty) {
			pthread_cond_wait(&u->ev_cond, &u->ev_lock);
			continue;
		}
		u->ev_dirty = false;
		pthread_mutex_unlock(&u->ev_lock);
		notify_all(u);
		pthread_mutex_lock(&u->ev_lock);
	}
	pthread_mutex_unlock(&u->ev_lock);
	return NULL;
}

void upnp_rule_changed(struct upnp_service *u, const struct rule *r, enum core_event ev)
{
	(void)r;
	(void)ev;
	if (u == NULL)
		return;
	pthread_mutex_lock(&u->ev_lock);
	u->system_update_id++;
	u->ev_dirty = true;
	pthread_cond_signal(&u->ev_cond);
	pthread_mutex_unlock(&u->ev_lock);
}

/* ---------- libupnp callback and life cycle ---------- */

static int upnp_cb(Upnp_EventType type, const void *event, void *cookie)
{
	struct upnp_handle *h = cookie;

	switch (type) {
	case UPNP_CONTROL_ACTION_REQUEST:
		on_action(h->u, (UpnpActionRequest *)(uintptr_t)event);
		break;
	case UPNP_EVENT_SUBSCRIPTION_REQUEST:
		on_subscribe(h, event);
		break;
	default:
		break;
	}
	return 0;
}

static int register_family(struct upnp_service *u, struct upnp_handle *h, int family, const char *ip,
			   unsigned short port)
{
	char url[256], lower[256];
	const char *fmt = family == AF_INET6 ? "http://[%s]:%u/%s" : "http://%s:%u/%s";
	int rc;

	h->u = u;
	h->family = family;
	if (ip == NULL || ip[0] == '\0' || port == 0)
		return -1;
	snprintf(url, sizeof(url), fmt, ip, port, &DESC_ROOT_PATH[1]);
	/* A search for InternetGatewayDevice:1 gets the same (IGD:2) description, with ST :1 echoed by
	 * pupnp. Not rootDesc1.xml: miniupnpc 2.2 searches for IGD:1 first and would never see the
	 * pinhole service (tried: `upnpc -6 -A` found no WANIPv6FirewallControl). force_igd_v1 serves
	 * the IGD:1 description for every search instead. */
	snprintf(lower, sizeof(lower), fmt, ip, port, &DESC_ROOT_PATH[1]);
	rc = UpnpRegisterRootDevice4(url, upnp_cb, h, &h->h, family, lower);
	if (rc == UPNP_E_SUCCESS) {
		/* IGD:2 MUST send ssdp:byebye before its first ssdp:alive, so control points notice the
		 * restart (their mappings may be gone). pupnp exports no byebye-only call: unregistering
		 * sends it, then we register again. */
		UpnpUnRegisterRootDevice(h->h);
		rc = UpnpRegisterRootDevice4(url, upnp_cb, h, &h->h, family, lower);
	}
	if (rc != UPNP_E_SUCCESS) {
		log_warnx("upnp: register %s: %s (%d)", url, UpnpGetErrorMessage(rc), rc);
		return -1;
	}
	h->registered = true;
	limit_subscriptions(h);
	rc = UpnpSendAdvertisement(h->h, (int)(2 * (u->p.notify_interval ? u->p.notify_interval : 900)));
	if (rc != UPNP_E_SUCCESS)
		log_warnx("upnp: advertise %s: %s", url, UpnpGetErrorMessage(rc));
	log_info("upnp: IGD%s at %s", u->p.force_v1 ? ":1" : ":2", url);
	return 0;
}

/* libupnp binds its SSDP sockets to 0.0.0.0:1900 / [::]:1900, and the kernel would hand its HTTP
 * listeners a connection arriving on the WAN for a LAN address: seen answering a unicast M-SEARCH
 * sent from the WAN to the WAN address. UPnP must not be reachable from the WAN (IGD:2 2.3), and
 * libupnp has no option for it, so its listening sockets are tied to the LAN interface here. */
static bool our_port(const struct sockaddr_storage *ss, const unsigned short ports[4])
{
	unsigned short port;

	if (ss->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	else
		return false;
	for (int i = 0; i < 4; i++)
		if (port != 0 && port == ports[i])
			return true;
	return false;
}

static void bind_to_lan(const struct upnp_service *u)
{
	unsigned short ports[4] = { 1900, UpnpGetServerPort(), UpnpGetServerPort6(), UpnpGetServerUlaGuaPort6() };
	int n = 0;

	/* bounded: descriptors below 4096 (libupnp's sockets are among the first a daemon opens) */
	for (int fd = 0; fd < 4096; fd++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char dev[IF_NAMESIZE] = "";
		socklen_t devlen = sizeof(dev);

		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || !our_port(&ss, ports))
			continue;
		/* A socket bound to a link-local address is tied to its interface already, and changing a
		 * socket's device takes CAP_NET_RAW, which we do not keep: only the unbound ones are tied. */
		if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &devlen) == 0 && dev[0]) {
			if (strcmp(dev, u->ifname) != 0)
				log_warnx("upnp: socket %d is tied to %s, not %s", fd, dev, u->ifname);
			n++;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, u->ifname, (socklen_t)strlen(u->ifname) + 1) < 0)
			log_warn("upnp: cannot tie socket %d to %s", fd, u->ifname);
		else
			n++;
	}
	log_debug("upnp: %d sockets tied to %s", n, u->ifname);
}

/* libupnp picks its IPv6 ULA/GUA listener address itself, in UpnpGetIfInfo, and its choice is broken
 * for us twice: it takes a GUA only while this global is empty, and nothing ever empties it, so after a
 * restart it keeps the old prefix's address forever (and fails to bind it); and among several GUAs (old
 * and new prefix during a renumbering) it takes whichever getifaddrs lists last. Setting the global
 * before UpnpInit2 makes it skip its own GUA choice and use ours (a ULA, when the interface has one,
 * still wins in libupnp, as documented). Both are exported by libupnp (upnpapi.c); only read by it. */
extern char gIF_IPV6_ULA_GUA[INET6_ADDRSTRLEN];
extern unsigned gIF_IPV6_ULA_GUA_PREFIX_LENGTH;

static void preset_gua(const struct upnp_want *w)
{
	memset(gIF_IPV6_ULA_GUA, 0, INET6_ADDRSTRLEN);
	gIF_IPV6_ULA_GUA_PREFIX_LENGTH = 0;
	if (w->has_gua && inet_ntop(AF_INET6, &w->gua, gIF_IPV6_ULA_GUA, INET6_ADDRSTRLEN))
		gIF_IPV6_ULA_GUA_PREFIX_LENGTH = w->gua_plen;
}

/* Stops libupnp (byebye first, so control points learn our mappings' host is going). sdk_lock held. */
static void libupnp_down(struct upnp_service *u)
{
	if (!u->have.ready)
		return;
	if (u->h4.registered)
		UpnpUnRegisterRootDevice(u->h4.h);
	if (u->h6.registered)
		UpnpUnRegisterRootDevice(u->h6.h);
	u->h4.registered = u->h6.registered = false;
	UpnpFinish();
	memset(&u->have, 0, sizeof(u->have));
}

/* Starts libupnp on the addresses of w. sdk_lock held. 0, or -1 (libupnp stopped again). */
static int libupnp_up(struct upnp_service *u, const struct upnp_want *w)
{
	int rc;
	const char *ip6;

	UpnpSetMaxJobsTotal(UPNP_MAX_JOBS);   /* before UpnpInit2: it sizes the thread pools */
	preset_gua(w);
	rc = UpnpInit2(u->ifname, u->p.http_port);
	if (rc != UPNP_E_SUCCESS) {
		log_warnx("upnp: UpnpInit2(%s): %s (%d)", u->ifname, UpnpGetErrorMessage(rc), rc);
		return -1;
	}
	u->have = *w;
	u->have.ready = true;
	if (serve_descriptions(u) < 0) {
		log_warnx("upnp: cannot serve the descriptions");
		libupnp_down(u);
		return -1;
	}
	register_family(u, &u->h4, AF_INET, UpnpGetServerIpAddress(), UpnpGetServerPort());
	/* a ULA/GUA listener: LOCATION with a link-local literal needs a zone id clients mishandle */
	ip6 = UpnpGetServerUlaGuaIp6Address();
	if (ip6 && ip6[0] && strcmp(ip6, "::") != 0)
		register_family(u, &u->h6, AF_INET6, ip6, UpnpGetServerUlaGuaPort6());
	else
		register_family(u, &u->h6, AF_INET6, UpnpGetServerIp6Address(), UpnpGetServerPort6());
	if (!u->h4.registered && !u->h6.registered) {
		log_warnx("upnp: no address family could be registered on %s", u->ifname);
		libupnp_down(u);
		return -1;
	}
	bind_to_lan(u);
	return 0;
}

static bool want_same(const struct upnp_want *a, const struct upnp_want *b)
{
	return a->ready == b->ready && a->ifindex == b->ifindex && a->has_v4 == b->has_v4 &&
	       a->has_ll == b->has_ll && a->has_gua == b->has_gua && a->has_ula == b->has_ula &&
	       (!a->has_v4 || addr_equal(&a->v4, &b->v4)) && (!a->has_ll || addr_equal(&a->ll, &b->ll)) &&
	       (!a->has_gua || addr_equal(&a->gua, &b->gua)) && (!a->has_ula || addr_equal(&a->ula, &b->ula));
}

static void describe_want(const struct upnp_want *w, char *buf, size_t len)
{
	char a[ADDR_STRLEN], b[ADDR_STRLEN], c[ADDR_STRLEN];

	snprintf(buf, len, "IPv4 %s, link-local %s, global %s", w->has_v4 ? addr_str(&w->v4, a) : "none",
		 w->has_ll ? addr_str(&w->ll, b) : "none",
		 w->has_ula ? addr_str(&w->ula, c) : w->has_gua ? addr_str(&w->gua, c) : "none");
}

#define CTL_RETRY_MIN_MS 500
#define CTL_RETRY_MAX_MS 10000

/* 1 s, 2 s, 4 s, 8 s, then every 10 s */
static uint64_t retry_ms(unsigned failures)
{
	uint64_t ms = (uint64_t)CTL_RETRY_MIN_MS << (failures < 6 ? failures : 6);

	return ms < CTL_RETRY_MAX_MS ? ms : CTL_RETRY_MAX_MS;
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The supervisor: whenever what the interface offers differs from what libupnp serves, stop it and
 * (when the interface is ready) start it again; a start that fails for the same addresses is tried
 * again with backoff. SOAP callbacks in flight finish first (UpnpFinish waits for libupnp's threads). */
static void *ctl_main(void *arg)
{
	struct upnp_service *u = arg;
	struct upnp_want failed = { 0 };
	struct timespec retry_at = { 0 };
	bool has_failed = false;
	char said[sizeof(u->want.why)] = "";

	pthread_mutex_lock(&u->ctl_mu);
	while (!u->ctl_stop) {
		struct upnp_want w = u->want;
		bool as_wanted = u->have.ready ? want_same(&w, &u->have) : !w.ready, ok = true;
		char d[200];

		if (!w.ready && strcmp(said, w.why) != 0) {
			log_info("upnp: waiting for %s: %s", u->ifname, w.why);
			snprintf(said, sizeof(said), "%s", w.why);
		}
		if (as_wanted) {
			pthread_cond_wait(&u->ctl_cond, &u->ctl_mu);
			continue;
		}
		if (has_failed && want_same(&w, &failed) &&
		    pthread_cond_timedwait(&u->ctl_cond, &u->ctl_mu, &retry_at) != ETIMEDOUT)
			continue;   /* woken before the retry is due: look at the news first */
		pthread_mutex_unlock(&u->ctl_mu);
		pthread_rwlock_wrlock(&u->sdk_lock);
		if (u->have.ready) {
			describe_want(&w, d, sizeof(d));
			log_info("upnp: %s changed (%s): restarting UPnP", u->ifname, w.ready ? d : w.why);
			libupnp_down(u);
		}
		if (w.ready)
			ok = libupnp_up(u, &w) == 0;
		pthread_rwlock_unlock(&u->sdk_lock);
		if (ok && w.ready)
			upnp_rule_changed(u, NULL, CORE_EV_CHANGED);   /* new subscribers hear the current count */
		pthread_mutex_lock(&u->ctl_mu);
		if (ok) {
			has_failed = false;
			u->failures = 0;
			said[0] = '\0';
			continue;
		}
		/* the interface may change again meanwhile (a port still in use, an address on its way) */
		failed = w;
		has_failed = true;
		u->failures++;
		deadline_in(&retry_at, retry_ms(u->failures));
		if (u->failures == 1 || u->failures % 10 == 0)
			log_warnx("upnp: could not start on %s (%u tries so far); trying again", u->ifname, u->failures);
	}
	pthread_mutex_unlock(&u->ctl_mu);
	pthread_rwlock_wrlock(&u->sdk_lock);
	libupnp_down(u);
	pthread_rwlock_unlock(&u->sdk_lock);
	return NULL;
}

/* What libupnp should serve, from the interface's facts. */
static void want_of(const struct lanif *i, struct upnp_want *w)
{
	memset(w, 0, sizeof(*w));
	if (!i || i->ifindex <= 0) {
		snprintf(w->why, sizeof(w->why), "the interface does not exist");
		return;
	}
	w->ifindex = i->ifindex;
	if (!lanif_usable(i)) {
		snprintf(w->why, sizeof(w->why), "the interface is %s", i->up ? "without carrier" : "down");
		return;
	}
	for (size_t k = 0; k < i->n; k++) {
		const struct lanif_addr *x = &i->a[k];

		/* libupnp would take these and fail to bind (or bind an address about to vanish) */
		if (x->tentative && (addr_is_link_local(&x->addr) || addr_is_ula(&x->addr))) {
			snprintf(w->why, sizeof(w->why), "an address is still in Duplicate Address Detection");
			return;
		}
	}
	w->has_v4 = lanif_v4(i, &w->v4, NULL);
	w->has_ll = lanif_link_local(i, &w->ll);
	for (size_t k = 0; k < i->n; k++) {
		const struct lanif_addr *x = &i->a[k];

		if (!x->tentative && addr_is_ula(&x->addr) && !w->has_ula) {
			w->ula = x->addr;
			w->has_ula = true;
		}
	}
	/* the newest preferred prefix: after a renumbering, the new one */
	{
		const struct lanif_addr *b = NULL;

		for (size_t k = 0; k < i->n; k++) {
			const struct lanif_addr *x = &i->a[k];

			if (x->tentative || addr_is_v4(&x->addr) || addr_is_link_local(&x->addr) || addr_is_ula(&x->addr) ||
			    addr_is_multicast(&x->addr))
				continue;
			if (!b || (b->deprecated && !x->deprecated) || (b->deprecated == x->deprecated && x->seq > b->seq))
				b = x;
		}
		if (b) {
			w->gua = b->addr;
			w->gua_plen = b->plen;
			w->has_gua = true;
		}
	}
	if (!w->has_v4 && !w->has_ll) {
		snprintf(w->why, sizeof(w->why), "no IPv4 or link-local address yet");
		return;
	}
	w->ready = true;
}

void upnp_lan_changed(struct upnp_service *u, const struct lanif_set *lan)
{
	struct upnp_want w;
	const struct lanif *i = NULL;

	if (!u || !lan)
		return;
	for (size_t k = 0; k < lan->n; k++)
		if (strcmp(lan->ifs[k].name, u->ifname) == 0)
			i = &lan->ifs[k];
	want_of(i, &w);
	pthread_mutex_lock(&u->ctl_mu);
	if (!want_same(&w, &u->want) || strcmp(w.why, u->want.why) != 0) {
		u->want = w;
		pthread_cond_signal(&u->ctl_cond);
	}
	pthread_mutex_unlock(&u->ctl_mu);
}

int upnp_start(struct upnp_service **out, const struct upnp_params *p)
{
	struct upnp_service *u;

	*out = NULL;
	if (p->core == NULL || p->lan_ifname == NULL || p->state_dir == NULL ||
	    strlen(p->lan_ifname) >= IF_NAMESIZE || (p->ext_ifname && strlen(p->ext_ifname) >= IF_NAMESIZE)) {
		log_warnx("upnp: missing or bad parameters");
		return -1;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -1;
	u->p = *p;
	snprintf(u->ifname, sizeof(u->ifname), "%s", p->lan_ifname);
	snprintf(u->ext_ifname, sizeof(u->ext_ifname), "%s", p->ext_ifname ? p->ext_ifname : "");
	u->desc.friendly_name = p->friendly_name;
	u->started = (int64_t)time(NULL);
	pthread_mutex_init(&u->ev_lock, NULL);
	pthread_cond_init(&u->ev_cond, NULL);
	pthread_mutex_init(&u->ctl_mu, NULL);
	pthread_cond_init(&u->ctl_cond, NULL);
	pthread_rwlock_init(&u->sdk_lock, NULL);
	if (load_uuid(u) < 0 || docs_build(u) < 0) {
		log_warnx("upnp: cannot prepare descriptions in %s", p->state_dir);
		upnp_stop(u);
		return -1;
	}
	for (int d = 0; d < DESC_DEV_COUNT; d++)
		desc_udn(&u->desc, (enum desc_device)d, u->udn[d]);
	if (pthread_create(&u->ev_thread, NULL, ev_main, u) != 0) {
		upnp_stop(u);
		return -1;
	}
	u->ev_running = true;
	/* the interface's facts arrive now (p->lan) and whenever they change (upnp_lan_changed) */
	snprintf(u->want.why, sizeof(u->want.why), "no news of the interface yet");
	upnp_lan_changed(u, p->lan);
	if (pthread_create(&u->ctl_thread, NULL, ctl_main, u) != 0) {
		upnp_stop(u);
		return -1;
	}
	u->ctl_running = true;
	*out = u;
	return 0;
}

void upnp_stop(struct upnp_service *u)
{
	if (u == NULL)
		return;
	if (u->ctl_running) {
		/* it unregisters (byebye) and stops libupnp on its way out */
		pthread_mutex_lock(&u->ctl_mu);
		u->ctl_stop = true;
		pthread_cond_signal(&u->ctl_cond);
		pthread_mutex_unlock(&u->ctl_mu);
		pthread_join(u->ctl_thread, NULL);
	}
	if (u->ev_running) {
		pthread_mutex_lock(&u->ev_lock);
		u->ev_stop = true;
		pthread_cond_signal(&u->ev_cond);
		pthread_mutex_unlock(&u->ev_lock);
		pthread_join(u->ev_thread, NULL);
	}
	pthread_mutex_destroy(&u->ev_lock);
	pthread_cond_destroy(&u->ev_cond);
	pthread_mutex_destroy(&u->ctl_mu);
	pthread_cond_destroy(&u->ctl_cond);
	pthread_rwlock_destroy(&u->sdk_lock);
	docs_free();
	free(u);
}

/* ---------- same device: the kernel's neighbour table ---------- */

/* The MAC the neighbour table holds for a (any interface, any usable state). */
static bool neigh_mac(const struct in6_addr *a, uint8_t mac[6])
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req;
	char buf[16384];
	bool v4 = addr_is_v4(a), found = false, done = false;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return false;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
	req.nh.nlmsg_type = RTM_GETNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nd.ndm_family = v4 ? AF_INET : AF_INET6;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		close(fd);
		return false;
	}
	/* bounded: a dump ends with NLMSG_DONE; a broken socket ends the loop with an error */
	for (int rounds = 0; !done && rounds < 1024; rounds++) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);

		if (len <= 0)
			break;
		for (struct nlmsghdr *nh = (struct nlmsghdr *)(void *)buf; NLMSG_OK(nh, (size_t)len);
		     nh = NLMSG_NEXT(nh, len)) {
			struct ndmsg *nd = NLMSG_DATA(nh);
			struct rtattr *rta;
			int alen;
			const uint8_t *dst = NULL, *ll = NULL;

			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (nh->nlmsg_type != RTM_NEWNEIGH || found ||
			    (nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE | NUD_NOARP)))
				continue;
			alen = (int)NLMSG_PAYLOAD(nh, sizeof(*nd));
			for (rta = (struct rtattr *)(void *)((char *)nd + NLMSG_ALIGN(sizeof(*nd))); RTA_OK(rta, alen);
			     rta = RTA_NEXT(rta, alen)) {
				if (rta->rta_type == NDA_DST && RTA_PAYLOAD(rta) == (v4 ? 4u : 16u))
					dst = RTA_DATA(rta);
				else if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == 6)
					ll = RTA_DATA(rta);
			}
			if (dst && ll && memcmp(dst, v4 ? &a->s6_addr[12] : a->s6_addr, v4 ? 4 : 16) == 0) {
				memcpy(mac, ll, 6);
				found = true;
			}
		}
	}
	close(fd);
	return found;
}

/* An EUI-64 interface identifier names its MAC: no table entry needed for that side. */
static bool eui64_mac(const struct in6_addr *a, uint8_t mac[6])
{
	const uint8_t *s = a->s6_addr;

	if (addr_is_v4(a) || s[11] != 0xff || s[12] != 0xfe)
		return false;
	mac[0] = s[8] ^ 0x02;
	mac[1] = s[9];
	mac[2] = s[10];
	mac[3] = s[13];
	mac[4] = s[14];
	mac[5] = s[15];
	return true;
}

bool upnp_same_device_neigh(void *arg, const struct in6_addr *a, const struct in6_addr *b)
{
	uint8_t ma[6], mb[6];

	(void)arg;
	if (addr_equal(a, b))
		return true;
	if (!neigh_mac(a, ma) && !eui64_mac(a, ma))
		return false;
	if (!neigh_mac(b, mb) && !eui64_mac(b, mb))
		return false;
	return memcmp(ma, mb, 6) == 0;
}
