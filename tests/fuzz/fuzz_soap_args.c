/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target for soap_: the first byte picks an action, the rest is "name=value" lines.
 * Every action of every service runs through soap_call against one in-memory core, so the argument
 * parsers, the verdict mapping and the handlers see hostile input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include "igdd/soap_args.h"
#include "igdd/upnp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PAIRS 16

static struct core *fuzz_core(void)
{
	static struct core *c;
	struct fw_config cfg;
	struct core_params p;
	char err[128];

	if (c)
		return c;
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.family, "inet");
	strcpy(cfg.table, "igdd");
	cfg.mode = FW_STANDALONE;
	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.policy.max_rules = 512;  /* keep the table small: runs go on for hours */
	p.fw = fw_mem_new(&cfg);
	c = core_new(&p);
	if (c == NULL || core_start(c, err, sizeof(err)) < 0)
		abort();
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct soap_arg args[MAX_PAIRS];
	struct soap_ctx ctx;
	struct soap_out out;
	const struct soap_actiondef *acts, *def;
	size_t nacts, n = 0;
	char *buf, *line, *save = NULL;

	if (size < 2)
		return 0;
	acts = soap_actions(&nacts);
	def = &acts[data[0] % nacts];
	buf = malloc(size);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = '\0';
	for (line = strtok_r(buf, "\n", &save); line && n < MAX_PAIRS; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		args[n].name = line;
		args[n].value = eq ? eq + 1 : "";
		if (eq)
			*eq = '\0';
		n++;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.core = fuzz_core();
	addr_parse(data[1] & 1 ? "2001:db8:1::20" : "192.0.2.20", &ctx.peer);
	ctx.v1 = data[1] & 2;
	ctx.firewall_enabled = !(data[1] & 4);
	ctx.pinholes_allowed = !(data[1] & 8);
	ctx.ua_igd1 = data[1] & 16;   /* a Windows or Xbox User-Agent */
	ctx.now = 1700000000;
	if (soap_call(&ctx, def->svc, def->name, args, n, &out) == 0)
		soap_out_free(&out);
	free(buf);
	return 0;
}
