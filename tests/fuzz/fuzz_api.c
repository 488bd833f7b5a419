/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the JSON API against a real core on the in-memory backend. The first byte picks
 * what the rest is: a POST /api/v1/rules body (as a LAN host or the operator), a path for any
 * method, a refresh body, a whole control socket envelope, or a PUT /api/v1/devices/MAC body (a
 * device name; no store, so a valid one ends in 503). Never a crash, always a JSON answer with a
 * sane status (an error's message may quote the input: tests/fuzz/corpus/api/device_name_broken_escape). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/lib/addr.h"
#include "firewall/core/core.h"
#include "firewall/core/device.h"
#include "firewall/lib/log.h"
#include "firewall/runtime/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct core *core;
static struct fw_config fwc;

static int64_t fixed_clock(void *arg)
{
	(void)arg;
	return 1700000000;
}

static void make_core(void)
{
	struct core_params p;
	struct fw *fw;
	char err[128];

	log_init("fuzz_api", 0, 0);
	memset(&fwc, 0, sizeof(fwc));
	strcpy(fwc.family, "inet");
	strcpy(fwc.table, "igdd");
	fwc.mode = FW_STANDALONE;
	fw = fw_mem_new(&fwc);
	memset(&p, 0, sizeof(p));
	policy_defaults(&p.policy);
	p.fw = fw;
	p.clock = fixed_clock;
	p.devices = device_table_new(0, 0);
	core = core_new(&p);
	if (!fw || !p.devices || !core || core_start(core, err, sizeof(err)) < 0)
		abort();
}

/* Keeps the table small so the fuzzer measures the API, not a growing table. */
static void trim_table(void)
{
	struct rule *rules = NULL;
	size_t n = core_list(core, &rules);

	if (n > 256)
		for (size_t i = 0; i < n; i++)
			core_delete(core, rules[i].id, &in6addr_loopback, true);
	free(rules);
}

static void check_answer(const struct api_response *resp)
{
	json_t *j;

	if (resp->status < 200 || resp->status > 599 || !resp->body)
		abort();
	j = json_loads(resp->body, 0, NULL);
	if (!j)
		abort();
	json_decref(j);
}

static void request(const char *method, const char *path, const char *body, size_t len, bool privileged)
{
	struct api_request req = { .method = method, .path = path, .body = body, .body_len = len,
				   .privileged = privileged, .origin = privileged ? ORIGIN_CTL : ORIGIN_WEB,
				   .fw = &fwc, .now = 1700000000 };
	struct api_response resp = { 0 };

	addr_parse(privileged ? "::1" : "2001:db8:1:1::9", &req.peer);
	if (api_handle(core, &req, &resp) != 0)
		abort();
	check_answer(&resp);
	api_response_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "DELETE", "PUT" };
	char *text;

	if (!core)
		make_core();
	if (size < 1)
		return 0;
	/* a NUL-terminated copy: paths are C strings, bodies carry their length */
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] & 7) {
	case 0:
	case 1:
		request("POST", "/api/v1/rules", text, size - 1, data[0] & 1);
		break;
	case 2:
	case 3:
		request(methods[(data[0] >> 3) & 3], text, NULL, 0, true);
		break;
	case 4:
		request("POST", "/api/v1/rules/1/refresh", text, size - 1, (data[0] >> 3) & 1);
		break;
	case 5: {
		char *ans = api_ctl_answer(core, &fwc, NULL, text, size - 1);
		json_t *j = ans ? json_loads(ans, 0, NULL) : NULL;
		json_int_t status = json_integer_value(json_object_get(j, "status"));

		/* an envelope with a status and, error or not, an object as its body */
		if (!j || status < 200 || status > 599 || !json_is_object(json_object_get(j, "body")))
			abort();
		json_decref(j);
		free(ans);
		break;
	}
	case 6:
		request("PUT", "/api/v1/devices/52:54:00:12:34:01", text, size - 1, (data[0] >> 3) & 1);
		break;
	default:
		request("GET", "/api/v1/rules", NULL, 0, true);
		request("GET", "/api/v1/status", NULL, 0, false);
		break;
	}
	free(text);
	trim_table();
	return 0;
}
