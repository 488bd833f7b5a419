/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pcpd: the PCP server alone, for CGN operators: the shared life cycle (firewall/runtime/daemon.c) plus the
 * PCP/NAT-PMP service on the subscriber-facing interfaces. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "firewall/runtime/conf.h"
#include "firewall/runtime/daemon.h"
#include "firewall/nft/fw.h"
#include "firewall/lib/log.h"
#include "firewall/runtime/loop.h"
#include "pcpd/cgn.h"
#include "pcpd/maplog.h"
#include "pcpd/pcp_io.h"

/* What pcpd's start hook made, in d->front. */
struct pcpd_front {
	struct pcp_service *pcp;
	int maplog_fd;            /* mapping_log, opened before privileges are dropped; -1 = syslog */
};

/* Every committed change, under the core lock: the operator's record of each mapping (maplog.h). */
static void pcpd_rule_change(struct daemon *d, const struct rule *r, enum core_event ev)
{
	struct pcpd_front *f = d->front;
	char line[MAPLOG_LINE_MAX];
	size_t n = maplog_format(line, sizeof(line), (int64_t)time(NULL), ev, r);

	if (n == 0 || f == NULL)
		return;
	if (f->maplog_fd < 0) {
		log_info("record %.*s", (int)n - 1, line);
		return;
	}
	/* one write per line on an O_APPEND descriptor: whole lines, even beside a logrotate copytruncate */
	if (write(f->maplog_fd, line, n) != (ssize_t)n)
		log_warn("mapping_log %s: record of rule %u not written", d->conf.mapping_log, r->id);
}

/* SIGUSR1: this node has just taken over the site's PCP address (keepalived's notify_master, README
 * "Two pcpd nodes per site"). The clients now reaching it made their mappings on the node that
 * failed, and nothing of that state is here: to them the server lost its state (RFC 6887 8.5). The
 * epoch restarts, so the next answer tells them, and the ANNOUNCE burst asks them to re-map now
 * (14.1.3). Without it a standby that has run as long as the failed node answers an epoch that looks
 * continuous, and the clients would never re-create their mappings. */
static void pcpd_on_takeover(void *arg, int signo)
{
	struct daemon *d = arg;
	struct pcpd_front *f = d->front;

	(void)signo;
	if (f == NULL || f->pcp == NULL) {
		log_info("SIGUSR1 (takeover): PCP is off, nothing to announce");
		return;
	}
	log_info("SIGUSR1 (takeover): the clients' mappings were made elsewhere: epoch restarts, ANNOUNCE");
	pcp_service_state_lost(f->pcp);
}

static int pcpd_start(struct daemon *d)
{
	struct pcpd_front *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->maplog_fd = -1;
	if (d->conf.mapping_log[0] &&
	    (f->maplog_fd = open(d->conf.mapping_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640)) < 0) {
		log_warn("mapping_log %s", d->conf.mapping_log);
		free(f);
		return -1;
	}
	d->front = f;
	d->on_rule_change = pcpd_rule_change;
	if (loop_signal(d->loop, SIGUSR1, pcpd_on_takeover, d) < 0) {
		log_warn("SIGUSR1");
		return -1;
	}
	if (!d->conf.enable_pcp) {
		log_info("enable_pcp=no: pcpd runs with the control socket only");
		return 0;
	}
	if (pcp_service_start_conf(&f->pcp, d->loop, d->core, &d->conf, devwatch_netif(d->devwatch), NULL) < 0)
		return -1;
	return 0;
}

static void pcpd_stop(struct daemon *d)
{
	struct pcpd_front *f = d->front;

	if (f == NULL)
		return;
	pcp_service_stop(f->pcp);
	if (f->maplog_fd >= 0)
		close(f->maplog_fd);
	d->on_rule_change = NULL;
	d->front = NULL;
	free(f);
}

/* The block map (firewall/nft/nft.c) serves at most FW_NAT_BLOCK_ELEMS_MAX subscribers: say when the
 * pool could serve more, since those fall back to the pool rule (any pool address, any port). */
static void note_block_map(const struct conf *c)
{
	struct fw_nat_blocks nb;
	uint64_t n = fw_nat_block_elems(&c->fw, &nb), cap;

	if (n == 0)
		return;
	cap = fw_nat_blocks_capacity(&nb);
	log_info("cgn: TCP/UDP of %llu subscribers leaves from their own port block (map nat_block)",
		 (unsigned long long)n);
	if (cap > n)
		log_info("cgn: %llu more subscribers with a PCP block exceed the block map's bound of %u: their "
			 "traffic uses the pool rule (snat ... persistent, any pool address and port)",
			 (unsigned long long)(cap - n), FW_NAT_BLOCK_ELEMS_MAX);
}

static void pcpd_note_features(const struct conf *c)
{
	note_block_map(c);
	if (c->enable_upnp)
		log_info("enable_upnp=yes: pcpd never speaks UPnP; the key is ignored");
	if (c->web_listen[0])
		log_info("web_listen=%s: pcpd has no web UI; the key is ignored", c->web_listen);
	if (c->has_upstream_pcp)
		log_info("upstream_pcp_server=%s: pcpd is the upstream server itself; the key is ignored",
			 c->upstream_pcp_server);
}

static const struct daemon_info pcpd_info = {
	.name = "pcpd",
	.start = pcpd_start,
	.stop = pcpd_stop,
	.note_features = pcpd_note_features,
};

/* pcpd --print-blocks csv|json -f FILE: the subscriber <-> (pool address, port block) table of FILE's
 * CGN settings, for the operator to archive (cgn.h). Computed from the configuration alone: the same
 * arithmetic pcpd and its NAT44 block map use, so it holds whether pcpd runs or not. */
static int print_blocks(int argc, char **argv)
{
	enum cgn_export_format f;
	struct cgn_config cc;
	struct conf *c;
	struct cgn *g;
	char err[512];
	int rc = DAEMON_EXIT_CONFIG;

	if (argc != 5 || !cgn_export_format_parse(argv[2], &f) || strcmp(argv[3], "-f") != 0) {
		fprintf(stderr, "usage: %s --print-blocks csv|json -f FILE\n", argv[0]);
		return DAEMON_EXIT_CONFIG;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return DAEMON_EXIT_START;
	if (conf_load_file(argv[4], c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
	} else if (!cgn_configured(c)) {
		fprintf(stderr, "%s: no cgn_pool: no port blocks\n", argv[4]);
	} else {
		cgn_config_from_conf(c, &cc);
		if ((g = cgn_new(&cc, err, sizeof(err))) == NULL) {
			fprintf(stderr, "%s: %s\n", argv[4], err);
		} else {
			rc = cgn_export(g, f, stdout) == 0 ? DAEMON_EXIT_OK : DAEMON_EXIT_START;
			cgn_free(g);
		}
	}
	free(c);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--print-blocks") == 0)
		return print_blocks(argc, argv);
	return daemon_main(&pcpd_info, argc, argv);
}
