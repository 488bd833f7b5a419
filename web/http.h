/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The web UI's transport: libmicrohttpd with a few threads of its own, on the LAN only. It serves
 * web/static/ and the /api/v1 paths: the login gate and settings (web/api_web.c), then the JSON API
 * (firewall/runtime/api.c, api_handle) as the logged-in household user (privileged, ORIGIN_WEB). The core's
 * entry points take the core's own lock, so calling them from this thread is safe.
 *
 * Where it listens (config web_listen):
 *   ":PORT"       one dual-stack socket per lan_ifname, bound to that interface (SO_BINDTODEVICE):
 *                 packets arriving on the WAN (or any other interface) never reach it;
 *   "ADDR:PORT"   that address only, and only as it arrives on the interface holding it, which must
 *                 be a LAN interface or the loopback (SO_BINDTODEVICE too: the LAN's IPv6 addresses
 *                 are routed from the internet); any other address is refused at start;
 *   empty         no web server (web_start is not called).
 * Every request, page or API, must name us in its Host header (the address it connected to,
 * localhost, or a web_hostname name; see api_web_host_ok): anything else, a DNS-rebinding page among
 * them, gets 421 Misdirected Request. web_hostname is read at start. */
#ifndef IGDD_HTTP_H
#define IGDD_HTTP_H

#include "firewall/runtime/conf.h"
#include "firewall/core/core.h"
#include "firewall/runtime/netif.h"
#include "firewall/core/store.h"
#include "web/api_web.h"

struct web;

struct web_params {
	struct core *core;
	const struct conf *conf;       /* web_listen, lan/ext ifnames, web_password_hash, enable_*, policy */
	struct store *store;           /* the household settings persist here; NULL = not persisted */
	/* The host's interfaces (devwatch_netif): which interface an explicit web_listen address is on.
	 * NULL = not known: only ":PORT" (every LAN interface) can be served. */
	const struct netif *ifaces;
	/* the static files; NULL = $IGDD_WEB_ROOT, else <dir of the executable>/../web/static
	 * (running from the source tree), else /usr/share/igdd/web */
	const char *static_dir;
	/* The UPnP / PCP on-off switches changed (also called once by web_start with the persisted
	 * values). Runs on the web thread: it must only record the wish and wake the main loop
	 * (e.g. store atomics and write an eventfd); it must not call back into the web server. */
	void (*fronts)(void *arg, const struct web_settings *s);
	void *fronts_arg;
	/* igdd's upstream PCP server as the API shows it (firewall/runtime/api.h); NULL = none. Outlives the server. */
	const struct api_upstream *upstream;
};

/* Applies the persisted settings, opens the listening sockets and starts the server thread.
 * 0, or -1 (logged). Call before privileges are dropped (SO_BINDTODEVICE, low ports). */
int web_start(struct web **out, const struct web_params *p);
/* After a config reload put the file's policy in force: the settings saved in the web UI (if any)
 * go back on top, as at start. Loop thread; NULL is fine. */
void web_reapply_settings(struct web *w);
/* Stops the thread, closes every connection and frees w (NULL is fine). */
void web_stop(struct web *w);
/* Loop thread: the LAN's links changed; a LAN interface that did not exist at web_start gets its
 * listener once it does (":PORT" mode). NULL w: nothing. */
void web_lan_changed(struct web *w);

#endif
