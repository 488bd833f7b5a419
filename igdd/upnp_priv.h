/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the files of the libupnp glue share (upnp.h is what the rest of igdd sees):
 *   upnp_device.c  the device's life: the supervisor thread that starts libupnp when the LAN interface is
 *                  ready and restarts it when its addresses change, registration, SSDP announcements, the
 *                  listeners tied to the LAN; upnp_start / upnp_stop
 *   upnp_soap.c    SOAP dispatch: an action request turned into name/value pairs for soap_call, the
 *                  answer rendered back; the context (who asks, the WAN's facts from netif.h)
 *   upnp_gena.c    GENA eventing: subscriptions, and the thread that sends change events
 *   upnp_docs.c    the descriptions, served from a libupnp virtual directory (IGD:2 or IGD:1 per client)
 *   upnp_uuid.c    the device UUID, kept across restarts in the store's meta
 * They do I/O and decide nothing: every decision is in soap_*.c and the core.
 *
 * Threads: libupnp calls us from its pool (up to 12 at once). The callbacks share no mutable state
 * but the eventing fields (u->ev_lock); the core takes its own lock, the interface facts theirs (a leaf).
 * upnp_rule_changed() runs under the core lock, so it only counts and signals the eventing thread, which
 * calls UpnpNotify without any lock. */
#ifndef IGDD_UPNP_PRIV_H
#define IGDD_UPNP_PRIV_H

#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* pupnp's headers declare "T *X_new();": not ours to fix, and -Wstrict-prototypes is -Werror here */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <upnp.h>
#include <upnptools.h>
#pragma GCC diagnostic pop

#include "firewall/runtime/netif.h"
#include "igdd/desc.h"
#include "igdd/upnp.h"

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

/* upnp_uuid.c: the persistent UUID into u->desc.base_uuid (taken from the store, or made and kept). */
int upnp_uuid_load(struct upnp_service *u);

/* upnp_docs.c: the descriptions built once (upnp_start), served while libupnp runs, freed by upnp_stop. */
int upnp_docs_build(const struct upnp_service *u);
int upnp_docs_serve(struct upnp_service *u);   /* after UpnpInit2: the web root and virtual directory */
void upnp_docs_free(void);

/* upnp_soap.c: one action request, answered in r (a libupnp thread). */
void upnp_soap_action(struct upnp_service *u, UpnpActionRequest *r);
/* The WAN interface's facts for the WANIPConnection and WANCommonInterfaceConfig variables (counters:
 * the byte and packet counts too, read from sysfs). */
void upnp_wan_info(const struct upnp_service *u, bool counters, struct soap_wan_info *w);

/* upnp_gena.c */
void upnp_gena_subscribe(struct upnp_handle *h, const UpnpSubscriptionRequest *s);
void upnp_gena_limit(const struct upnp_handle *h);   /* the subscription bounds, on one registered device */
int upnp_gena_start(struct upnp_service *u);          /* the eventing thread; 0 or -1 */
void upnp_gena_stop(struct upnp_service *u);

#endif
