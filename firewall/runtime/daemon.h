/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Start-up, run and shutdown shared by igdd and pcpd, so neither main writes it twice:
 * command line (-f FILE -d -n -v), config, detaching, store, nft backend, core, control socket,
 * privilege drop, and the loop with its timers (expiry, snapshot, counters), the firewall monitor
 * and signals. A main fills struct daemon_info and calls daemon_main(). */
#ifndef IGDD_DAEMON_H
#define IGDD_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "firewall/runtime/conf.h"
#include "firewall/core/core.h"
#include "firewall/runtime/ctl.h"
#include "firewall/runtime/devwatch.h"
#include "firewall/runtime/namewatch.h"
#include "firewall/runtime/loop.h"

/* Exit codes */
#define DAEMON_EXIT_OK      0
#define DAEMON_EXIT_CONFIG  1   /* bad command line or config */
#define DAEMON_EXIT_START   2   /* cannot start: store, firewall, socket */

struct daemon;

struct daemon_info {
	const char *name;   /* "igdd", "pcpd": syslog ident and messages */
	/* called once the core runs, before the loop starts (front ends register here); may be NULL */
	int (*start)(struct daemon *d);
	/* called once privileges are dropped: front ends that create threads start here, so the
	 * threads inherit exactly the capabilities the daemon keeps; may be NULL */
	int (*start_after_drop)(struct daemon *d);
	/* called at shutdown before the core is freed (front ends unregister here); may be NULL */
	void (*stop)(struct daemon *d);
	/* logs what of the config this build does not do yet; may be NULL */
	void (*note_features)(const struct conf *c);
	/* the LAN interfaces are links the hosts sit on (igdd): requests and targets must be on their
	 * subnets. false for pcpd, whose subscribers are routed to it. */
	bool lan_is_link;
};

struct daemon {
	const struct daemon_info *info;
	const char *conf_file;
	struct conf conf;
	struct loop *loop;
	struct store *store;
	struct fw *fw;
	struct core *core;
	struct ctl *ctl;
	/* the control API's view of an upstream PCP server (igdd's interworking function sets it in its
	 * start, clears it in its stop; loop thread); NULL = none */
	const struct api_upstream *api_upstream;
	/* who the daemon runs as after start-up: user= when started as root, else itself */
	uid_t run_uid;
	gid_t run_gid;
	bool switch_user;   /* started as root with user= other than root: become run_uid */
	int ready_fd;       /* pipe to the waiting parent when detached; -1 otherwise */
	int wake_fd;        /* eventfd: a rule changed (from any thread), re-check expiry */
	atomic_bool wake_armed;  /* wake_fd written and not yet read: a burst of changes is one wake-up */
	/* rule-change log lines this second, and those left out (under the core lock, see on_change) */
	struct {
		int64_t second;
		unsigned lines, dropped;
	} change_log;
	void *front;        /* the main's front ends (UPnP, PCP, web), owned by its start/stop hooks */
	struct devwatch *devwatch;  /* LAN devices and prefixes (rtnetlink); NULL if it could not start */
	struct namewatch *namewatch;  /* device names from lease files and mDNS; NULL when not asked for */
	/* Set by a main's start hook to tell clients of a LAN prefix change (UPnP SystemUpdateID, PCP
	 * ANNOUNCE); called on the loop thread after the core re-anchored its rules. May stay NULL. */
	/* Set by a main's start hook to hear about every rule change (UPnP eventing). Called under the core
	 * lock, from whichever thread changed the rule: it must not call the core. May stay NULL. */
	void (*on_rule_change)(struct daemon *d, const struct rule *r, enum core_event ev);
	/* a re-anchoring the loop has not told the front ends about yet (any thread may re-anchor) */
	pthread_mutex_t prefix_mu;
	bool prefix_pending;
	struct in6_addr prefix_old, prefix_new;
	uint8_t prefix_old_len, prefix_new_len;
	struct core_reanchor_result prefix_res;
	void (*on_prefix_change)(struct daemon *d, const struct in6_addr *old_prefix, uint8_t old_len,
				 const struct in6_addr *new_prefix, uint8_t new_len,
				 const struct core_reanchor_result *res);
	/* Set by a main's start hook: called on the loop thread after SIGHUP put the file's policy in
	 * force, so a front end can put back the part it owns (the web UI's saved settings win over the
	 * file, as they do at start). May stay NULL. */
	void (*on_policy_reload)(struct daemon *d);
	/* Set by a main's start hook: the LAN interfaces' links or addresses changed (loop thread); the
	 * current facts are also at devwatch_lan(d->devwatch) at any time on the loop thread. May stay NULL. */
	void (*on_lan_change)(struct daemon *d, const struct lanif_set *lan);
};

/* The whole life of a daemon; returns the process exit code. */
int daemon_main(const struct daemon_info *info, int argc, char **argv);

#endif
