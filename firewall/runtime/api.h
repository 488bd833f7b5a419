/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON API (/api/v1, see tests/CONTRACTS.md) as pure functions: method, path, body bytes in;
 * HTTP status and a JSON body out. No sockets here: the control socket (firewall/runtime/ctl.c, igdctl)
 * and the web server (web/http.c) are transports around api_handle(). Every request ends in one
 * core.h entry point. */
#ifndef IGDD_API_H
#define IGDD_API_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall/core/core.h"
#include "firewall/nft/fw.h"
#include "firewall/core/rule.h"

#ifndef IGDD_VERSION
#define IGDD_VERSION "0.1.0"
#endif

#define API_BODY_MAX (64 * 1024)   /* larger bodies: 413 */

struct api_upstream;

struct api_request {
	const char *method;            /* "GET", "POST", "PUT", "DELETE" */
	const char *path;              /* "/api/v1/rules/7"; a "?query" part is ignored */
	const char *body;              /* may be NULL */
	size_t body_len;
	struct in6_addr peer;          /* the caller (v4-mapped for IPv4): owner of what it adds */
	bool privileged;               /* operator / household UI */
	enum rule_origin origin;       /* ORIGIN_CTL for the control socket, ORIGIN_WEB for the web UI */
	const struct fw_config *fw;    /* for status: table and mode; NULL = not shown */
	int64_t now;                   /* wall clock unix seconds for "expires_in"; 0 = time(NULL) */
	const struct api_upstream *upstream;  /* igdd's upstream PCP server (below); NULL = none */
};

struct api_response {
	int status;                    /* HTTP status */
	char *body;                    /* malloc'd JSON text; free with api_response_free */
};

/* Handles one request. Returns 0 with resp filled (any HTTP status), or -1 when out of memory
 * (resp->status 500, resp->body may be NULL). */
int api_handle(struct core *core, const struct api_request *req, struct api_response *resp);
void api_response_free(struct api_response *resp);

/* The control socket envelope (CONTRACTS.md): {"method","path","body"} in, {"status":N,"body":...}
 * out, as the operator (privileged, ORIGIN_CTL). fw = for status (may be NULL). Returns a malloc'd
 * string (NULL only when out of memory). Its signature fits daemon.h's ctl_answer. */
char *api_ctl_answer(struct core *core, const struct fw_config *fw, const struct api_upstream *upstream,
		     const char *req, size_t len);

/* The upstream PCP server (igdd's RFC 6970 interworking function: igdd/ fills this view of its handle,
 * firewall/ and web/ cannot include igdd/), passed with each request by the transports. status: the
 * "upstream" object of GET /api/v1/status (new reference, NULL = none); rule: the "upstream" member of a
 * port mapping's RULE object (new reference, NULL = not mapped upstream). Both are called from the web
 * and control threads and must not block on the network; the view outlives the transports. */
struct api_upstream {
	json_t *(*status)(void *arg);
	json_t *(*rule)(void *arg, uint32_t rule_id);
	void *arg;
};

/* The RULE object of CONTRACTS.md. now = wall clock unix seconds (for expires_in); u: adds a port
 * mapping's "upstream" member (NULL = none). NULL on ENOMEM. */
json_t *api_rule_to_json(const struct rule *r, int64_t now, const struct api_upstream *u);
/* The error object {"error":{"code","message"}}. */
json_t *api_error_json(const char *code, const char *message);
/* Fills resp with status and the JSON body (taking ownership of body; NULL body = 500). 0 or -1. */
int api_respond(struct api_response *resp, int status, json_t *body);
int api_respond_error(struct api_response *resp, int status, const char *code, const char *message);
/* Why a request body is not a JSON object: HTTP status (400), error code and message for the answer. */
struct api_body_problem {
	int status;
	const char *code;          /* "bad_json" (missing, not JSON) or "bad_request" (not an object) */
	char message[200];
};
/* The one parser of JSON request bodies (the API's and the web UI's): the body as a JSON object (new
 * reference, duplicate keys refused), or NULL with *p saying why. */
json_t *api_parse_object(const char *body, size_t len, struct api_body_problem *p);
/* api_parse_object on the request's body; NULL with resp written and *rc its return value. */
json_t *api_load_object(const struct api_request *req, struct api_response *resp, int *rc);
/* Verdict -> HTTP status and error code, as in CONTRACTS.md. */
int api_verdict_status(enum verdict v);
const char *api_verdict_code(enum verdict v);

#endif
