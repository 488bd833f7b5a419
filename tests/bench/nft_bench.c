/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Times the nftables backend alone (no daemon, no journal): N pinholes in one transaction, a full
 * resync, and a re-anchoring-sized change (delete N + add N in one transaction). Uses its own table
 * so it can run beside a live igdd. Prints "label: X ms" lines for tests/bench/run.sh.
 *   nft_bench [BIG]: also the resync of BIG pinholes into the emptied table (what a reboot with BIG
 *   rules asks of the kernel), and again over those BIG (what a restart of the daemon asks: the
 *   kernel still holds them), e.g. 1000000 for the carrier-scale figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firewall/lib/addr.h"
#include "firewall/nft/fw.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* n pinholes for addresses PREFIX::i, TCP port 20000 + i % 40000 */
static struct fw_elem *pinholes(size_t n, const char *prefix)
{
	struct fw_elem *e = calloc(n, sizeof(*e));
	char buf[64];

	for (size_t i = 0; e && i < n; i++) {
		snprintf(buf, sizeof(buf), "%s%zx:%zx", prefix, i >> 16, i & 0xffff);
		if (!addr_parse(buf, &e[i].addr))
			abort();
		e[i].proto = 6;
		e[i].port = (uint16_t)(20000 + i % 40000);
		e[i].timeout_ms = 3600 * 1000;
	}
	return e;
}

static int timed(const char *label, int rc, double t0)
{
	if (rc < 0) {
		fprintf(stderr, "nft_bench: %s failed\n", label);
		return -1;
	}
	printf("%s: %.1f ms\n", label, now_ms() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	size_t big = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
	struct fw_config cfg;
	struct fw *fw;
	struct fw_elem *old1k = pinholes(1000, "2001:db8:1:1::"), *old = pinholes(10000, "2001:db8:1:1::"),
		       *moved = pinholes(10000, "2001:db8:2:1::");
	double t0;
	int rc = 0;

	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.family, "inet");
	strcpy(cfg.table, "igdd_bench");
	cfg.mode = FW_STANDALONE;
	strcpy(cfg.wan_ifname[0], "benchwan0");
	cfg.n_wan = 1;
	fw = fw_nft_new(&cfg);
	if (fw == NULL || !old1k || !old || !moved || fw->ops->init(fw) < 0) {
		fprintf(stderr, "nft_bench: cannot set up the table: %s\n", fw ? fw->err : "no backend");
		return 1;
	}
	t0 = now_ms();
	rc |= timed("install 1000 pinholes, one transaction", fw->ops->commit(fw, NULL, 0, old1k, 1000), t0);
	fw->ops->resync(fw, NULL, 0);
	t0 = now_ms();
	rc |= timed("install 10000 pinholes, one transaction", fw->ops->commit(fw, NULL, 0, old, 10000), t0);
	t0 = now_ms();
	rc |= timed("resync 10000 pinholes (counters kept)", fw->ops->resync(fw, old, 10000), t0);
	t0 = now_ms();
	rc |= timed("re-anchor 10000 pinholes (delete + add, one transaction)",
		    fw->ops->commit(fw, old, 10000, moved, 10000), t0);
	if (big) {
		struct fw_elem *many = pinholes(big, "2001:db8:3::");
		char label[96];

		if (many == NULL || fw->ops->resync(fw, NULL, 0) < 0) {
			fprintf(stderr, "nft_bench: no memory for %zu pinholes, or the table cannot be emptied\n", big);
			rc = -1;
		} else {
			snprintf(label, sizeof(label), "resync %zu pinholes into an empty table (a reboot)", big);
			t0 = now_ms();
			rc |= timed(label, fw->ops->resync(fw, many, big), t0);
			snprintf(label, sizeof(label), "resync %zu pinholes over the same %zu (a daemon restart)", big, big);
			t0 = now_ms();
			rc |= timed(label, fw->ops->resync(fw, many, big), t0);
		}
		free(many);
	}
	fw->ops->remove(fw);
	fw->ops->destroy(fw);
	free(old1k);
	free(old);
	free(moved);
	return rc ? 1 : 0;
}
