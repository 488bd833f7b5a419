/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The descriptions: a libupnp virtual directory, the document chosen per request (see upnp_priv.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "igdd/upnp_priv.h"


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

void upnp_docs_free(void)
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

int upnp_docs_build(const struct upnp_service *u)
{
	bool f = u->p.force_v1;
	int rc = 0;

	upnp_docs_free();
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
int upnp_docs_serve(struct upnp_service *u)
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
