#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench, interworking part: figures, not pass/fail. igdd behind pcpd on a CGN (the lab of
# tests/integration/iwf_lib.sh, RFC 6970) with PCP on and pcp_rate_limit=0. Measures the latency of PCP
# MAP requests that need no upstream (IPv6 pinholes from lan1, one sequential client,
# tests/bench/pcp_bench.py) while another client of lan1 keeps asking for IPv4 mappings (which do need
# the upstream: each is proxied to pcpd), first with the upstream answering, then with it silent (PCP
# dropped on the cgn, no ICMP: every proxied request waits its full budget). The goal: the requests
# that need no upstream are answered within 10 % of the same latency either way (the proxied ones wait
# on the IWF's job thread, not on the loop).
# The IPv4 clients are paced (one request a second each, whatever the answers take), so both phases
# offer the loop the same load.
# The two conditions alternate IWF_BENCH_ROUNDS (5) times, the order turned every other round, and the
# median round is compared: the shared machine's other load drifts more than the difference sought.
#   IGDD_BUILD=DIR selects the build; IWF_BENCH_N (10000) IPv6 requests per phase; IWF_BENCH_V4_SOCKETS
#   (8) paced IPv4 clients.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../integration/iwf_lib.sh disable=SC1091
. "$HERE/../integration/iwf_lib.sh"

N=${IWF_BENCH_N:-10000}
ROUNDS=${IWF_BENCH_ROUNDS:-5}
V4_SOCKETS=${IWF_BENCH_V4_SOCKETS:-8}
BENCH=$HERE/pcp_bench.py

if [ "$(id -u)" != 0 ]; then
	echo "iwf bench: needs root (network namespaces, nftables)" >&2
	exit 1
fi
results=()
row() { results+=("$(printf "%-78s %s" "$1" "$2")"); echo "iwf bench: ${results[-1]}" >&2; }

iwf_trap
iwf_up slaac || { echo "iwf bench: lab up failed" >&2; exit 1; }
lan1_eui64() { [ "$(lab_host_addr 1 stable)" = "$LAN1_EUI64" ]; }
wait_until 20 lan1_eui64 || { echo "iwf bench: lan1 has no SLAAC address $LAN1_EUI64" >&2; exit 1; }
iwf_pcpd_start || { echo "iwf bench: pcpd start failed" >&2; exit 1; }
lab_igdd_start enable_upnp=no enable_pcp=yes pcp_rate_limit=0 "upstream_pcp_server=$IWF_GW" ||
	{ echo "iwf bench: igdd start failed" >&2; exit 1; }
up_ok() { [ "$(upstream_field state)" = up ] && [ "$(upstream_field ext_addr)" = "$IWF_CGN_EXT" ]; }
wait_until 15 up_ok || { echo "iwf bench: upstream not up" >&2; exit 1; }
echo "iwf bench: lab $LAB, igdd from ${IGDD_BUILD:-$TOP}" >&2

# phase LABEL: the IPv6 client's latency while V4_SOCKETS IPv4 clients ask for proxied mappings; sets
# P50 and P99
phase() {
	local label=$1 v4pid out v4
	# the IPv4 clients (internal ports 31000.., one each: the CGN block holds 16) run as long as the
	# measurement, bounded by their own time limit
	timeout -k 5 200 ip netns exec "${LAB}lan1" "$LAB_PY" "$BENCH" -s "$CPE_LAN4" --count 1000000 \
		--sockets "$V4_SOCKETS" --ports 1 --base 31000 --proto tcp --time-limit 150 --interval 1000 \
		</dev/null >"$LAB_DIR/v4.out" 2>&1 &
	v4pid=$!
	sleep 1
	out=$(timeout -k 5 200 ip netns exec "${LAB}lan1" "$LAB_PY" "$BENCH" -s "$CPE_LAN6" --src "$LAN1_EUI64" \
		--count "$N" --sockets 1 --base 32000 --time-limit 150 </dev/null | grep '^result')
	kill -TERM "$v4pid" 2>/dev/null
	wait "$v4pid" 2>/dev/null
	v4=$(grep "^result" "$LAB_DIR/v4.out" || true)
	row "IPv6 MAP (no upstream needed), 1 sequential client, upstream $label" \
		"p50 $(field "$out" p50_ms) / p99 $(field "$out" p99_ms) ms, $(field "$out" rate)/s ($(field "$out" fail)+$(field "$out" timeouts) failed)"
	if [ -n "$v4" ]; then
		row "  meanwhile IPv4 MAP (proxied upstream), $V4_SOCKETS paced clients" \
			"$(field "$v4" n) answered, $(field "$v4" fail) errors, $(field "$v4" timeouts) unanswered within 1 s"
	else
		row "  meanwhile IPv4 MAP (proxied upstream), $V4_SOCKETS paced clients" "stopped early"
	fi
	P50=$(field "$out" p50_ms)
	P99=$(field "$out" p99_ms)
}

# the two conditions alternate, ROUNDS times, in turned order every other round (answering then silent,
# then silent then answering): a drift of the machine's speed over the run falls on both alike; the
# median round counts
answering() {
	# the upstream answers again (a silent phase before left it "unreachable": one request brings it back)
	ip netns exec "${LAB}cgn" nft delete table inet iwf_silence 2>/dev/null
	iwf_pcpc map --proto udp --port 31999 --lifetime 0 >/dev/null 2>&1 || true
	wait_until 15 up_ok || { echo "iwf bench: upstream not back up" >&2; exit 1; }
	phase "answering (round $round)"
	a50+=("$P50") a99+=("$P99")
}
silent() {
	# silence: PCP to the CGN dropped, no ICMP (the worst case: every proxied request waits its budget)
	echo 'table inet iwf_silence { chain input { type filter hook input priority -10; udp dport 5351 drop; }; }' |
		ip netns exec "${LAB}cgn" nft -f - || exit 1
	phase "silent (round $round)"
	s50+=("$P50") s99+=("$P99")
}
a50=() a99=() s50=() s99=()
for ((round = 1; round <= ROUNDS; round++)); do
	if ((round % 2)); then
		answering
		silent
	else
		silent
		answering
	fi
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%+.1f %%", (b - a) * 100 / a; else print "-" }'; }
A50=$(median "${a50[@]}") A99=$(median "${a99[@]}") S50=$(median "${s50[@]}") S99=$(median "${s99[@]}")
row "IPv6 MAP, median of $ROUNDS rounds, upstream answering" "p50 $A50 / p99 $A99 ms"
row "IPv6 MAP, median of $ROUNDS rounds, upstream silent" "p50 $S50 / p99 $S99 ms"
row "IPv6 MAP p50, silent vs answering upstream (goal: within 10 %)" "$(ratio "$A50" "$S50")"
row "IPv6 MAP p99, silent vs answering upstream (goal: within 10 %)" "$(ratio "$A99" "$S99")"
echo
echo "=== interworking (igdd behind pcpd): PCP latency of requests that need no upstream"
printf '%s\n' "${results[@]}"
