/* SPDX-License-Identifier: GPL-2.0-or-later */
/* GENA eventing (see upnp_priv.h): subscriptions answered with the evented variables as of now, and a
 * thread that sends a NOTIFY to every subscriber whenever the rule table changed. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "firewall/lib/log.h"
#include "igdd/upnp_priv.h"

/* GENA subscriptions, per service and address family. A subscription lives at most
 * UPNP_MAX_SUBSCRIPTION_S unless renewed ("Second-infinite" gets that too), and one control point
 * (source address) may hold UPNP_MAX_SUBSCRIPTIONS_PER_HOST per service: a home's control points hold
 * one or two each, so one host cannot fill the table and lock every other one out (it would need 32
 * addresses). The per-host limit is our pupnp patch (tests/tools/pupnp/): the library's subscription
 * callback is told neither the subscriber nor its callback URL, and only after it has answered 200. */
#define UPNP_MAX_SUBSCRIPTIONS          512
#define UPNP_MAX_SUBSCRIPTIONS_PER_HOST 16
#define UPNP_MAX_SUBSCRIPTION_S         1800

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
	upnp_wan_info(u, false, &w);
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

void upnp_gena_subscribe(struct upnp_handle *h, const UpnpSubscriptionRequest *s)
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
void upnp_gena_limit(const struct upnp_handle *h)
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

/* A pinhole changes no evented variable: WANIPv6FirewallControl's two (FirewallEnabled,
 * InboundPinholeAllowed) are constant, and WANIPConnection's SystemUpdateID and
 * PortMappingNumberOfEntries count port mappings only. Waking the eventing thread for one would cost
 * an empty NOTIFY round and, worse, its core_count takes the lock as a reader that commits any open
 * group, so concurrent AddPinhole requests would share fewer syncs and transactions. */
void upnp_rule_changed(struct upnp_service *u, const struct rule *r, enum core_event ev)
{
	(void)ev;
	if (u == NULL || (r != NULL && r->kind == RULE_PINHOLE))
		return;
	pthread_mutex_lock(&u->ev_lock);
	u->system_update_id++;
	u->ev_dirty = true;
	pthread_cond_signal(&u->ev_cond);
	pthread_mutex_unlock(&u->ev_lock);
}

int upnp_gena_start(struct upnp_service *u)
{
	if (pthread_create(&u->ev_thread, NULL, ev_main, u) != 0)
		return -1;
	u->ev_running = true;
	return 0;
}

void upnp_gena_stop(struct upnp_service *u)
{
	if (!u->ev_running)
		return;
	pthread_mutex_lock(&u->ev_lock);
	u->ev_stop = true;
	pthread_cond_signal(&u->ev_cond);
	pthread_mutex_unlock(&u->ev_lock);
	pthread_join(u->ev_thread, NULL);
	u->ev_running = false;
}
