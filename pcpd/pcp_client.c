/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pure parts of a PCP client: timers, epoch check, response matching, RFC 6970 error mapping and
 * the state of one upstream mapping. No I/O (see pcp_client.h). */
#include <string.h>

#include "pcpd/pcp_client.h"

uint32_t pcp_client_rt_ms(uint32_t prev_ms, int rand_pm)
{
	uint64_t base, rt, cap;

	if (rand_pm < -100)
		rand_pm = -100;
	if (rand_pm > 100)
		rand_pm = 100;
	base = prev_ms == 0 ? PCP_CLIENT_IRT_MS : 2ull * prev_ms;
	rt = base * (uint64_t)(1000 + rand_pm) / 1000;
	cap = (uint64_t)PCP_CLIENT_MRT_MS * (uint64_t)(1000 + rand_pm) / 1000;
	return (uint32_t)(rt > cap ? cap : rt);
}

uint32_t pcp_client_renew_s(uint32_t lifetime, unsigned attempt, unsigned rand_pm)
{
	/* attempt k: the window starts at 1 - 1/2^(k+1) of the lifetime, width 1/2^(k+3) */
	uint64_t lo, width, at;
	unsigned k = attempt > 16 ? 16 : attempt;

	if (rand_pm > 1000)
		rand_pm = 1000;
	lo = (uint64_t)lifetime - ((uint64_t)lifetime >> (k + 1));
	width = (uint64_t)lifetime >> (k + 3);
	at = lo + width * rand_pm / 1000;
	if (at < PCP_CLIENT_MIN_RENEW_S)
		at = PCP_CLIENT_MIN_RENEW_S;
	return (uint32_t)at;
}

bool pcp_client_epoch_check(struct pcp_client_epoch *e, uint32_t server_epoch, uint64_t now_s)
{
	bool ok = true;

	if (e->valid) {
		int64_t cd = (int64_t)(now_s - e->prev_client_s);
		int64_t sd = (int64_t)server_epoch - (int64_t)e->prev_server;

		if ((int64_t)server_epoch < (int64_t)e->prev_server - 1)
			ok = false;
		else if (cd + 2 < sd - sd / 16 || sd + 2 < cd - cd / 16)
			ok = false;
	}
	e->valid = true;
	e->prev_client_s = now_s;
	e->prev_server = server_epoch;
	return ok;
}

enum pcp_client_epoch_verdict pcp_client_epoch_arrived(struct pcp_client_epoch *e, uint32_t server_epoch,
							uint64_t arrival_ms)
{
	if (e->valid && arrival_ms < e->prev_arrival_ms)
		return PCP_CLIENT_EPOCH_STALE;
	e->prev_arrival_ms = arrival_ms;
	return pcp_client_epoch_check(e, server_epoch, arrival_ms / 1000u) ? PCP_CLIENT_EPOCH_FINE
									   : PCP_CLIENT_EPOCH_LOST;
}

uint64_t pcp_client_recreate_at(uint64_t now_ms, uint32_t jitter_ms, bool have_last, uint64_t last_ms)
{
	uint64_t at = now_ms + (jitter_ms > PCP_CLIENT_RECREATE_MAX_MS ? PCP_CLIENT_RECREATE_MAX_MS : jitter_ms);

	if (have_last && last_ms >= now_ms)
		return last_ms;  /* one is due anyway: this loss joins it */
	if (have_last && at < last_ms + PCP_CLIENT_RECREATE_MIN_GAP_MS)
		at = last_ms + PCP_CLIENT_RECREATE_MIN_GAP_MS;
	return at;
}

bool pcp_client_match(const struct pcp_request *req, const struct pcp_response *resp)
{
	if (resp->opcode != req->opcode)
		return false;
	if (req->opcode == PCP_OP_ANNOUNCE)
		return true;
	/* error responses copy our opcode data back too (RFC 6887 8.3); without it they cannot match */
	if (!resp->has_op)
		return false;
	return memcmp(resp->op.nonce, req->op.nonce, PCP_NONCE_LEN) == 0 &&
	       resp->op.protocol == req->op.protocol && resp->op.internal_port == req->op.internal_port;
}

void pcp_client_map_request(struct pcp_request *req, const struct in6_addr *client,
			    const uint8_t nonce[PCP_NONCE_LEN], uint8_t protocol, uint16_t int_port,
			    uint16_t sugg_port, const struct in6_addr *sugg_addr, uint32_t lifetime,
			    bool prefer_failure, const char *desc)
{
	memset(req, 0, sizeof(*req));
	req->version = PCP_VERSION;
	req->opcode = PCP_OP_MAP;
	req->lifetime = lifetime;
	req->client_addr = *client;
	memcpy(req->op.nonce, nonce, PCP_NONCE_LEN);
	req->op.protocol = protocol;
	req->op.internal_port = int_port;
	req->op.ext_port = sugg_port;
	if (sugg_addr)
		req->op.ext_addr = *sugg_addr;
	else {
		/* no preference, IPv4 flavour: ::ffff:0.0.0.0 */
		req->op.ext_addr.s6_addr[10] = 0xff;
		req->op.ext_addr.s6_addr[11] = 0xff;
	}
	req->opt.prefer_failure = prefer_failure && lifetime != 0;
	if (desc && desc[0] && lifetime != 0) {
		size_t n = strnlen(desc, PCP_DESC_MAX);

		req->opt.has_description = true;
		req->opt.description_len = (uint16_t)n;
		memcpy(req->opt.description, desc, n);
		req->opt.description[n] = '\0';
	}
}

void pcp_client_announce_request(struct pcp_request *req, const struct in6_addr *client)
{
	memset(req, 0, sizeof(*req));
	req->version = PCP_VERSION;
	req->opcode = PCP_OP_ANNOUNCE;
	req->client_addr = *client;
}

int pcp_client_upnp_error(uint8_t result, bool v1)
{
	switch (result) {
	case PCP_SUCCESS:
		return 0;
	case PCP_NOT_AUTHORIZED:
		return v1 ? 718 : 606;
	case PCP_NO_RESOURCES:
	case PCP_USER_EX_QUOTA:
		return v1 ? 501 : 728;
	case PCP_CANNOT_PROVIDE_EXTERNAL:
		return 718;
	default:
		/* UNSUPP_*, MALFORMED_*, NETWORK_FAILURE, ADDRESS_MISMATCH, EXCESSIVE_REMOTE_PEERS, no answer */
		return 501;
	}
}

const char *pcp_client_state_name(enum pcp_client_state s)
{
	switch (s) {
	case PCP_CLIENT_MAPPED: return "mapped";
	case PCP_CLIENT_RENEWING: return "renewing";
	case PCP_CLIENT_LOST: return "lost";
	case PCP_CLIENT_FAILED: return "failed";
	}
	return "unknown";
}

enum pcp_client_state pcp_client_next(enum pcp_client_state s, enum pcp_client_event ev)
{
	switch (ev) {
	case PCP_CLIENT_EV_OK:
		return PCP_CLIENT_MAPPED;
	case PCP_CLIENT_EV_EPOCH:
		return PCP_CLIENT_LOST;
	case PCP_CLIENT_EV_TIMEOUT:
		/* a mapping the server holds stays usable while we keep trying to renew it */
		return s == PCP_CLIENT_MAPPED || s == PCP_CLIENT_RENEWING ? PCP_CLIENT_RENEWING : PCP_CLIENT_FAILED;
	case PCP_CLIENT_EV_REFUSED:
		return PCP_CLIENT_FAILED;
	}
	return s;
}

uint32_t pcp_client_backoff_s(unsigned fails, uint32_t cap_s)
{
	uint64_t s = 4ull << (fails > 20 ? 20 : fails);

	return (uint32_t)(s > cap_s ? cap_s : s);
}
