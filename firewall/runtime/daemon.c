/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared daemon life cycle (see daemon.h). Order matters and is the point of this file:
 * config -> detach (the parent waits for the child's verdict, so the exit code still tells an init
 * script whether start-up worked) -> store -> firewall -> core (restores and resyncs) -> control
 * socket -> privilege drop -> loop. Shutdown keeps the kernel rules: a restart loses nothing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "firewall/lib/addr.h"
#include "firewall/runtime/api.h"
#include "firewall/runtime/cgroup.h"
#include "firewall/runtime/daemon.h"
#include "firewall/lib/log.h"
#include "firewall/core/store.h"

#define EXPIRE_EVERY_MS    1000
#define SNAPSHOT_EVERY_MS  60000
#define COUNTERS_EVERY_MS  15000
#define CTL_CLIENT_MS      5000
#define TRIM_AFTER_BYTES   (256 * 1024)   /* a control answer this long was a list: see ctl_answer */
#define MMAP_AT_BYTES      (1024 * 1024)  /* see start */
#define CHANGE_LOG_PER_S   50             /* rule-change lines per second; a PCP flood is summarised */

struct options {
	const char *conf_file;
	bool foreground, check_only, reference;
	int verbose;
};

static void usage(const char *name)
{
	fprintf(stderr, "usage: %s -f FILE [-d] [-n] [-v]\n"
			"  -f FILE  configuration file\n"
			"  -d       stay in the foreground, log to stderr\n"
			"  -n       check the configuration, print the effective one, exit\n"
			"  -v       more verbose logging (debug)\n"
			"  -k       print the configuration key reference (Markdown) and exit\n", name);
}

static int parse_options(const char *name, int argc, char **argv, struct options *o)
{
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((ch = getopt(argc, argv, "f:dnvkh")) != -1) {
		switch (ch) {
		case 'f': o->conf_file = optarg; break;
		case 'd': o->foreground = true; break;
		case 'n': o->check_only = true; break;
		case 'v': o->verbose++; break;
		case 'k': o->reference = true; break;
		default:
			usage(name);
			return -1;
		}
	}
	if (optind != argc || (!o->conf_file && !o->reference)) {
		usage(name);
		return -1;
	}
	return 0;
}

/* ---------- rule events: one fixed, protocol-neutral line each ---------- */

static const char *event_verb(enum core_event ev)
{
	switch (ev) {
	case CORE_EV_ADDED:   return "add";
	case CORE_EV_CHANGED: return "refresh";
	case CORE_EV_DELETED: return "delete";
	case CORE_EV_EXPIRED: return "expire";
	}
	return "change";
}

/* Wakes the loop thread (an eventfd: front ends on other threads, libupnp's, call the core, and the
 * loop is not thread-safe). Only the first change of a burst writes; on_wake re-arms. */
static void wake_loop(struct daemon *d)
{
	uint64_t one = 1;

	if (d->wake_fd < 0 || atomic_exchange(&d->wake_armed, true))
		return;
	if (write(d->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("wake: %s", strerror(errno));
}

/* One line per change is what an operator reads, but 30,000 PCP changes a second would drown syslog
 * (and a router's flash): past CHANGE_LOG_PER_S lines in a second the rest are counted, and the count
 * is logged with the next change after that second. Called under the core lock (one caller at a time). */
static bool change_log_admit(struct daemon *d)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec != d->change_log.second) {
		if (d->change_log.dropped)
			log_info("%u more rule changes not logged (over %u lines/s)", d->change_log.dropped,
				 CHANGE_LOG_PER_S);
		d->change_log.second = ts.tv_sec;
		d->change_log.lines = 0;
		d->change_log.dropped = 0;
	}
	if (d->change_log.lines < CHANGE_LOG_PER_S) {
		d->change_log.lines++;
		return true;
	}
	d->change_log.dropped++;
	return false;
}

static void on_change(void *arg, const struct rule *r, enum core_event ev)
{
	struct daemon *d = arg;
	struct in6_addr addrs[2];
	char a[ADDR_STRLEN], p[8], what[128];
	size_t n = rule_addresses(r, addrs);

	if (r->kind == RULE_PORTMAP)
		snprintf(what, sizeof(what), "portmap %u/%s -> %s:%u", r->ext_port, proto_name(r->proto, p),
			 n ? addr_str(&addrs[0], a) : "(pending)", r->int_port);
	else
		snprintf(what, sizeof(what), "pinhole [%s]:%u/%s", n ? addr_str(&addrs[0], a) : "(pending)",
			 r->int_port, proto_name(r->proto, p));
	/* the core logs its own expire line; do not write the event twice */
	if (ev == CORE_EV_EXPIRED)
		log_debug("%s %s lease=%u via=%s id=%u", event_verb(ev), what, r->lease, rule_origin_name(r->origin),
			  r->id);
	else if (change_log_admit(d))
		log_info("%s %s lease=%u via=%s id=%u", event_verb(ev), what, r->lease, rule_origin_name(r->origin),
			 r->id);
	if (d->on_rule_change)
		d->on_rule_change(d, r, ev);
	/* The next expiry may have moved: wake the loop to look again. */
	wake_loop(d);
}

/* ---------- timers, monitor, signals ---------- */

static void expire_tick(void *arg)
{
	struct daemon *d = arg;
	int64_t ms = core_expire(d->core);
	uint64_t next = EXPIRE_EVERY_MS;

	/* never sleep longer than a second: cheap, and bounds any clock surprise */
	if (ms >= 0 && ms < EXPIRE_EVERY_MS)
		next = ms < 50 ? 50 : (uint64_t)ms;
	loop_timer(d->loop, next, expire_tick, d);
}

/* Loop thread: the front ends hear of a re-anchoring here, whichever thread made it. */
static void tell_prefix_change(struct daemon *d)
{
	struct in6_addr op, np;
	uint8_t ol, nl;
	struct core_reanchor_result res;
	bool pending;

	pthread_mutex_lock(&d->prefix_mu);
	pending = d->prefix_pending;
	d->prefix_pending = false;
	op = d->prefix_old, np = d->prefix_new, ol = d->prefix_old_len, nl = d->prefix_new_len;
	res = d->prefix_res;
	pthread_mutex_unlock(&d->prefix_mu);
	if (pending && d->on_prefix_change)
		d->on_prefix_change(d, &op, ol, &np, nl, &res);
}

/* Any thread (the core calls it after every re-anchoring): record it and wake the loop. */
static void core_reanchored(void *arg, const struct in6_addr *op, uint8_t ol, const struct in6_addr *np, uint8_t nl,
			    const struct core_reanchor_result *res)
{
	struct daemon *d = arg;

	pthread_mutex_lock(&d->prefix_mu);
	d->prefix_pending = true;
	d->prefix_old = *op, d->prefix_new = *np, d->prefix_old_len = ol, d->prefix_new_len = nl;
	d->prefix_res = *res;
	pthread_mutex_unlock(&d->prefix_mu);
	wake_loop(d);
}

static void on_wake(void *arg, int fd, uint32_t events)
{
	struct daemon *d = arg;
	uint64_t n;

	(void)events;
	atomic_store(&d->wake_armed, false);  /* before the read: a later change wakes us again */
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("wake: %s", strerror(errno));
	loop_timer(d->loop, 0, expire_tick, d);
	tell_prefix_change(d);
}

/* glibc keeps freed heap memory resident unless it lies at the very top of a heap, so one transient
 * peak (listing 10,000 rules builds ~44 MiB of copies, JSON trees and text) would stay in VmRSS for
 * good. malloc_trim(0) hands every free page of every arena back to the kernel. */
static void give_back_memory(void)
{
	malloc_trim(0);
}

static void snapshot_tick(void *arg)
{
	struct daemon *d = arg;

	if (core_snapshot(d->core) < 0)
		log_warnx("store: periodic snapshot failed");
	/* once a minute: the peaks other threads (web UI lists, igdctl dumps) leave */
	give_back_memory();
	loop_timer(d->loop, SNAPSHOT_EVERY_MS, snapshot_tick, d);
}

static void counters_tick(void *arg)
{
	struct daemon *d = arg;

	if (core_read_counters(d->core) < 0)
		log_debug("firewall: reading counters failed: %s", d->fw->read_err);
	loop_timer(d->loop, COUNTERS_EVERY_MS, counters_tick, d);
}

static void monitor_event(void *arg, int fd, uint32_t events)
{
	struct daemon *d = arg;
	int rc = d->fw->ops->monitor_read(d->fw);

	(void)fd;
	(void)events;
	if (rc < 0) {
		log_warn("firewall monitor");
		return;
	}
	if (rc == 1) {
		log_info("firewall: someone else changed our table, restoring it");
		if (core_reconcile(d->core) < 0)
			log_warnx("firewall: restoring the table failed: %s", d->fw->err);
	}
}

static void on_terminate(void *arg, int signo)
{
	struct daemon *d = arg;

	log_info("%s: shutting down (signal %d), firewall rules stay in place", d->info->name, signo);
	loop_stop(d->loop);
}

/* Settings that need a restart: everything that was opened at start-up. */
static void note_restart_keys(const struct conf *old, const struct conf *nc)
{
	if (strcmp(old->ext_ifname, nc->ext_ifname) || old->fw.n_lan != nc->fw.n_lan ||
	    memcmp(old->fw.lan_ifname, nc->fw.lan_ifname, sizeof(old->fw.lan_ifname)) ||
	    strcmp(old->nft_table, nc->nft_table) || old->fw.mode != nc->fw.mode ||
	    strcmp(old->fw.chain_prefix, nc->fw.chain_prefix) || strcmp(old->state_dir, nc->state_dir) ||
	    strcmp(old->control_socket, nc->control_socket) || strcmp(old->user, nc->user))
		log_warnx("reload: interfaces, nft table, state_dir, control_socket or user changed: "
			  "they take effect at restart");
}

/* SIGHUP: a new file applies whole or not at all. */
static void on_reload(void *arg, int signo)
{
	struct daemon *d = arg;
	struct conf *nc = malloc(sizeof(*nc));
	struct policy_config running;
	char err[512];

	(void)signo;
	if (!nc) {
		log_warnx("reload: out of memory, keeping the running configuration");
		return;
	}
	log_info("reload: re-reading %s", d->conf_file);
	if (conf_load_file(d->conf_file, nc, err, sizeof(err)) < 0) {
		log_warnx("reload: %s; keeping the running configuration", err);
		free(nc);
		return;
	}
	note_restart_keys(&d->conf, nc);
	core_policy_get(d->core, &running);
	if (memcmp(&nc->policy, &running, sizeof(nc->policy)) != 0) {
		core_set_policy(d->core, &nc->policy);
		d->conf.policy = nc->policy;
		log_info("reload: policy settings applied to new requests");
		if (d->on_policy_reload)
			d->on_policy_reload(d);
	}
	if (nc->log_level != d->conf.log_level)
		log_setverbose(nc->log_level == CONF_LOG_DEBUG ? 1 : log_getverbose());
	free(nc);
}

/* ---------- detaching ---------- */

/* Forks; the parent waits for the child's start-up verdict (one byte) and exits with it. */
static int detach(int *ready_fd)
{
	int p[2], null;
	pid_t pid;
	unsigned char code = DAEMON_EXIT_START;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		do
			n = read(p[0], &code, 1);
		while (n < 0 && errno == EINTR);
		/* no byte: the child died before it could say */
		_exit(n == 1 ? code : DAEMON_EXIT_START);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/") < 0)
		return -1;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	*ready_fd = p[1];
	return 0;
}

static void report_start(struct daemon *d, int code)
{
	unsigned char c = (unsigned char)code;

	if (d->ready_fd < 0)
		return;
	if (write(d->ready_fd, &c, 1) != 1)
		log_warn("telling the parent process");
	close(d->ready_fd);
	d->ready_fd = -1;
}

/* ---------- privileges ---------- */

/* Keeps CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (those we hold) and drops every other capability. */
static int keep_net_caps(void)
{
	cap_value_t want[] = { CAP_NET_ADMIN, CAP_NET_BIND_SERVICE }, keep[2];
	cap_t cur = cap_get_proc(), caps = cap_init();
	int n = 0, rc = -1;

	if (!cur || !caps)
		goto out;
	for (size_t i = 0; i < 2; i++) {
		cap_flag_value_t v = CAP_CLEAR;

		if (cap_get_flag(cur, want[i], CAP_PERMITTED, &v) == 0 && v == CAP_SET)
			keep[n++] = want[i];
	}
	if (n && (cap_set_flag(caps, CAP_PERMITTED, n, keep, CAP_SET) < 0 ||
		  cap_set_flag(caps, CAP_EFFECTIVE, n, keep, CAP_SET) < 0))
		goto out;
	rc = cap_set_proc(caps);
out:
	if (cur)
		cap_free(cur);
	if (caps)
		cap_free(caps);
	return rc;
}

static void log_cap_eff(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "CapEff:", 7) == 0 || strncmp(line, "Uid:", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			log_debug("privileges: %s", line);
		}
	fclose(f);
}

/* Who the daemon will run as: user= when started as root (looked up now: the store is checked
 * against it), or itself when started unprivileged (systemd's DynamicUser): nothing to switch then. */
static int resolve_user(struct daemon *d)
{
	const char *user = d->conf.user;
	struct passwd *pw;

	d->run_uid = geteuid();
	d->run_gid = getegid();
	d->switch_user = false;
	if (geteuid() != 0 || strcmp(user, "root") == 0)
		return 0;
	pw = getpwnam(user);
	if (!pw) {
		log_warnx("user=%s: no such user; create it (useradd --system --no-create-home --home-dir "
			  "/nonexistent --shell /usr/sbin/nologin %s) or name another in %s", user, user, d->conf_file);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_warnx("user=%s is uid 0: name an unprivileged user in %s (or user=root to stay root on purpose)",
			  user, d->conf_file);
		return -1;
	}
	if (strcmp(user, "nobody") == 0)
		log_info("user=nobody: other daemons run as nobody too; a user of %s's own (the default, igdd) "
			 "keeps them apart", d->info->name);
	d->run_uid = pw->pw_uid;
	d->run_gid = pw->pw_gid;
	d->switch_user = true;
	return 0;
}

static int become_user(struct daemon *d)
{
	const char *user = d->conf.user;
	gid_t gid = d->run_gid;
	char err[512];

	/* the state directory and our files in it, nothing else: the control socket stays root's */
	if (store_give_to(d->store, d->run_uid, d->run_gid, err, sizeof(err)) < 0) {
		log_warnx("state_dir: cannot hand it to user %s: %s", user, err);
		return -1;
	}
	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0 || setgroups(1, &gid) < 0 ||
	    setresgid(d->run_gid, d->run_gid, d->run_gid) < 0 ||
	    setresuid(d->run_uid, d->run_uid, d->run_uid) < 0) {
		log_warn("switching to user %s", user);
		return -1;
	}
	prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
	return 0;
}

/* After the drop: the store must still be writable, through the directory's fd (so wherever state_dir
 * lies, e.g. below a home only root may enter). If not, say where and how to fix it, and stop. */
static int check_state_dir(struct daemon *d)
{
	char err[256];

	if (store_check_writable(d->store, err, sizeof(err)) == 0)
		return 0;
	if (d->switch_user)
		log_warnx("state_dir %s: user %s (uid %u) cannot create files in it (%s); make it that user's "
			  "alone: chown %s: %s && chmod 0700 %s", d->conf.state_dir, d->conf.user,
			  (unsigned)d->run_uid, err, d->conf.user, d->conf.state_dir, d->conf.state_dir);
	else
		log_warnx("state_dir %s: uid %u cannot create files in it (%s); give this uid a writable "
			  "directory of its own (systemd: StateDirectory=)", d->conf.state_dir,
			  (unsigned)d->run_uid, err);
	return -1;
}

static int drop_privileges(struct daemon *d)
{
	if (geteuid() != 0)
		/* started unprivileged with ambient capabilities (systemd): nothing to switch */
		log_debug("privileges: already running as uid %u, user=%s not applied", (unsigned)geteuid(),
			  d->conf.user);
	else if (d->switch_user && become_user(d) < 0)
		return -1;
	if (keep_net_caps() < 0) {
		log_warn("dropping capabilities");
		return -1;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L);
	log_cap_eff();
	return check_state_dir(d);
}

/* ---------- start and stop ---------- */

static char *ctl_answer(void *arg, const char *req, size_t len)
{
	struct daemon *d = arg;
	char *out = api_ctl_answer(d->core, &d->conf.fw, d->api_upstream, req, len);

	/* A long answer is a list, built through transient copies many times its size: give them back
	 * now rather than at the next tick. Short answers (adds, deletes) skip the trim's heap walk. */
	if (out && strnlen(out, TRIM_AFTER_BYTES) == TRIM_AFTER_BYTES)
		give_back_memory();
	return out;
}

static void lan_changed(void *arg, const struct lanif_set *lan)
{
	struct daemon *d = arg;

	if (d->on_lan_change)
		d->on_lan_change(d, lan);
}

/* Names for the devices, on a LAN hosts sit on (igdd; pcpd's subscribers are routed): the DHCP
 * servers' lease files and mDNS, as configured. A failure costs names only. */
static void open_namewatch(struct daemon *d)
{
	struct namewatch_params np;

	if (!d->devwatch || !d->info->lan_is_link ||
	    (!d->conf.dhcp_leases[0] && !d->conf.odhcpd_leases[0] && !d->conf.mdns_names))
		return;
	memset(&np, 0, sizeof(np));
	snprintf(np.dnsmasq_leases, sizeof(np.dnsmasq_leases), "%s", d->conf.dhcp_leases);
	snprintf(np.odhcpd_leases, sizeof(np.odhcpd_leases), "%s", d->conf.odhcpd_leases);
	np.mdns = d->conf.mdns_names;
	for (size_t i = 0; i < d->conf.fw.n_lan && i < LANIF_MAX_IFS; i++)
		snprintf(np.lan_ifname[np.n_lan++], sizeof(np.lan_ifname[0]), "%s", d->conf.fw.lan_ifname[i]);
	if (!(d->namewatch = namewatch_new(&np)))
		log_warn("names: devices are shown without the names the LAN knows them by");
}

/* Devices and prefixes: before the core, so the rules are restored against today's LAN (a prefix that
 * changed while we were down is re-anchored by core_start). Without it the daemon still works, with
 * exact-address rules only, so a failure here is a warning. */
static void open_devwatch(struct daemon *d)
{
	struct devwatch_params wp;

	memset(&wp, 0, sizeof(wp));
	for (size_t i = 0; i < d->conf.fw.n_lan && i < LANIF_MAX_IFS; i++)
		snprintf(wp.lan_ifname[wp.n_lan++], sizeof(wp.lan_ifname[0]), "%s", d->conf.fw.lan_ifname[i]);
	wp.lan_bounds_policy = d->info->lan_is_link;
	wp.on_lan = lan_changed;
	wp.lan_arg = d;
	wp.stable_after = d->conf.stable_after;
	wp.forget_after = d->conf.forget_after;
	/* clients hear of a change through the core's on_reanchor, whoever asked for it */
	d->devwatch = devwatch_new(&wp);
	if (!d->devwatch)
		log_warn("devices: cannot watch the LAN (rtnetlink); pinholes will not follow prefix changes");
	open_namewatch(d);
}

/* The output wall (nft.c): our cgroup v2, so the backend can keep our own TCP connections on the
 * LAN (CallStranger, CVE-2020-12695). Still root, and before any thread exists: a process started
 * from the root cgroup moves itself into <mount>/igdd-<table>. Without it we run, with a warning. */
static void open_output_wall(struct daemon *d)
{
	struct fw_config *fc = &d->conf.fw;
	struct cgroup_self cg;
	char child[FW_NAME_MAX + 8], err[512];
	size_t len;

	if (fc->n_lan == 0) {
		log_warnx("output wall: no LAN interface; %s's TCP is not limited to the LAN", d->info->name);
		return;
	}
	snprintf(child, sizeof(child), "igdd-%.*s", (int)strnlen(fc->table, sizeof(fc->table)), fc->table);
	if (cgroup_self_setup(child, &cg, err, sizeof(err)) < 0) {
		log_warnx("output wall: %s; %s's TCP is not limited to the LAN", err, d->info->name);
		return;
	}
	len = strlen(cg.path + 1);
	if (len >= sizeof(fc->out_cgroup_path)) {
		log_warnx("output wall: cgroup path %s too long; %s's TCP is not limited to the LAN", cg.path,
			  d->info->name);
		return;
	}
	fc->out_cgroup_id = cg.id;
	fc->out_cgroup_level = cg.level;
	memcpy(fc->out_cgroup_path, cg.path + 1, len + 1);
	log_info("output wall: %s's TCP limited to the LAN (cgroup %s)", d->info->name, cg.path);
	if (cg.own_mount)
		log_debug("output wall: no cgroup2 was mounted here; mounted it at %s in a mount namespace of our own",
			  cg.mount);
	if (cg.created)
		log_debug("output wall: moved from the root cgroup into %s%s (id %llu)", cg.mount, cg.path,
			  (unsigned long long)cg.id);
}

static int open_core(struct daemon *d)
{
	struct core_params p;
	char err[512];

	d->store = store_open_for(d->conf.state_dir, d->run_uid, err, sizeof(err));
	if (!d->store) {
		log_warnx("cannot open the store: %s", err);
		return -1;
	}
	open_output_wall(d);
	d->fw = fw_nft_new(&d->conf.fw);
	if (!d->fw) {
		log_warn("cannot open the nftables backend (table %s)", d->conf.nft_table);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.policy = d->conf.policy;
	p.fw = d->fw;
	p.store = d->store;
	p.on_change = on_change;
	p.on_reanchor = core_reanchored;
	p.change_arg = d;
	p.ext_port_min = d->conf.ext_port_min;
	p.ext_port_max = d->conf.ext_port_max;
	open_devwatch(d);
	/* Devices are hosts on the LAN's link (igdd). pcpd's subscribers are routed: every one behind a
	 * BNG shares its MAC, and asking the link about them gets no answer, so neither a device's
	 * identity (quotas, "same device") nor the "nobody answers for it" refusal may judge them. */
	if (d->devwatch && d->info->lan_is_link) {
		p.devices = devwatch_devices(d->devwatch);
		/* IGD:2 606 and PCP: another address of the same device (same MAC) may act for it */
		p.same_device = device_same_cb;
		p.device_arg = p.devices;
		/* an address a request names and the LAN has not shown yet is asked about */
		p.ask = devwatch_ask;
		p.ask_arg = d->devwatch;
	}
	d->core = core_new(&p);
	if (!d->core) {
		log_warnx("cannot create the core: out of memory");
		return -1;
	}
	if (d->devwatch)
		devwatch_prepare_core(d->devwatch, d->core);
	if (core_start(d->core, err, sizeof(err)) < 0) {
		log_warnx("cannot start: %s", err);
		return -1;
	}
	return 0;
}

static int register_loop(struct daemon *d)
{
	int mfd = d->fw->ops->monitor_fd ? d->fw->ops->monitor_fd(d->fw) : -1;

	if (mfd >= 0 && loop_add_fd(d->loop, mfd, EPOLLIN, monitor_event, d) < 0)
		return -1;
	if (loop_add_fd(d->loop, d->wake_fd, EPOLLIN, on_wake, d) < 0)
		return -1;
	if (mfd < 0)
		log_warnx("firewall: no change monitor; foreign edits of our table go unnoticed");
	if (loop_signal(d->loop, SIGTERM, on_terminate, d) < 0 || loop_signal(d->loop, SIGINT, on_terminate, d) < 0 ||
	    loop_signal(d->loop, SIGHUP, on_reload, d) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	loop_timer(d->loop, 0, expire_tick, d);
	loop_timer(d->loop, SNAPSHOT_EVERY_MS, snapshot_tick, d);
	loop_timer(d->loop, COUNTERS_EVERY_MS, counters_tick, d);
	return 0;
}

static int start(struct daemon *d)
{
	char err[512];

	/* Blocks of 1 MiB and more (rule lists, their JSON text, large index arrays) get pages of their
	 * own, returned to the kernel when freed. Left to glibc, the threshold rises to the largest
	 * block ever freed, and later ones are carved from the heap, where they stay resident. */
	mallopt(M_MMAP_THRESHOLD, MMAP_AT_BYTES);
	d->loop = loop_new();
	d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!d->loop || d->wake_fd < 0) {
		log_warn("event loop");
		return -1;
	}
	if (resolve_user(d) < 0 || open_core(d) < 0)
		return -1;
	d->ctl = ctl_open(d->loop, d->conf.control_socket, ctl_answer, d, err, sizeof(err));
	if (!d->ctl) {
		log_warnx("control socket: %s", err);
		return -1;
	}
	if (register_loop(d) < 0) {
		log_warn("event loop");
		return -1;
	}
	if (d->devwatch && devwatch_start(d->devwatch, d->core, d->loop) < 0) {
		log_warn("devices: event loop");
		return -1;
	}
	if (d->namewatch && namewatch_start(d->namewatch, d->core, d->devwatch, d->loop) < 0) {
		log_warn("names: event loop");
		return -1;
	}
	if (d->info->start && d->info->start(d) < 0)
		return -1;
	if (drop_privileges(d) < 0)
		return -1;
	return d->info->start_after_drop ? d->info->start_after_drop(d) : 0;
}

/* started: the start-up went through. After a failed one the journal already holds everything (and
 * a state_dir we could not write would only add a second line to the one that says why). */
static void stop(struct daemon *d, bool started)
{
	if (d->info->stop)
		d->info->stop(d);
	if (started && d->core && core_snapshot(d->core) < 0)
		log_warnx("store: final snapshot failed");
	ctl_close(d->ctl);
	namewatch_free(d->namewatch);
	devwatch_free(d->devwatch);   /* no more device events into a core being freed */
	core_free(d->core);
	/* destroy only frees our side; the kernel keeps the rules for the next start */
	if (d->fw)
		d->fw->ops->destroy(d->fw);
	if (d->store)
		store_close(d->store);
	loop_free(d->loop);
	if (d->wake_fd >= 0)
		close(d->wake_fd);
}

static int load_config(struct daemon *d, const struct options *o)
{
	char err[512];

	if (conf_load_file(o->conf_file, &d->conf, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	return 0;
}

int daemon_main(const struct daemon_info *info, int argc, char **argv)
{
	struct options o;
	struct daemon *d;
	int rc = DAEMON_EXIT_OK;

	log_init(info->name, 1, 0);
	if (parse_options(info->name, argc, argv, &o) < 0)
		return DAEMON_EXIT_CONFIG;
	if (o.reference) {
		conf_print_reference(stdout);
		return DAEMON_EXIT_OK;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return DAEMON_EXIT_START;
	d->info = info;
	d->conf_file = o.conf_file;
	d->ready_fd = -1;
	d->wake_fd = -1;
	pthread_mutex_init(&d->prefix_mu, NULL);
	if (load_config(d, &o) < 0) {
		free(d);
		return DAEMON_EXIT_CONFIG;
	}
	if (o.check_only) {
		conf_print(&d->conf, stdout);
		free(d);
		return DAEMON_EXIT_OK;
	}
	if (!o.foreground && detach(&d->ready_fd) < 0) {
		log_warn("detaching");
		free(d);
		return DAEMON_EXIT_START;
	}
	log_init(info->name, o.foreground, o.verbose || d->conf.log_level == CONF_LOG_DEBUG);
	log_info("%s %s starting: ext %s, %zu LAN interface(s), table %s (%s), socket %s", info->name, "0.1.0",
		 d->conf.ext_ifname, d->conf.fw.n_lan, d->conf.nft_table,
		 d->conf.fw.mode == FW_INTEGRATED ? "integrated" : "standalone", d->conf.control_socket);
	if (info->note_features)
		info->note_features(&d->conf);
	if (start(d) < 0) {
		rc = DAEMON_EXIT_START;
		/* every socket closed before the parent hears: whoever restarts us at once finds the ports free */
		stop(d, false);
		report_start(d, rc);
	} else {
		report_start(d, DAEMON_EXIT_OK);
		log_info("%s: ready", info->name);
		if (loop_run(d->loop) < 0) {
			log_warn("event loop");
			rc = DAEMON_EXIT_START;
		}
		stop(d, true);
	}
	free(d);
	return rc;
}
