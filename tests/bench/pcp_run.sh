#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench, PCP part: figures, not pass/fail. igdd in the lab (tests/lab/lab.sh) with PCP on and
# pcp_rate_limit=0; clients in lan1 (tests/bench/pcp_bench.py) over IPv6 (MAP -> pinhole). Measures
#   - MAP create/delete requests/s and p50/p99 latency from one sequential client, and from 64 client
#     sockets at once (one process, each socket waiting for its answer: up to 64 requests in flight),
#     each with 0, 1,000 and 10,000 mappings already installed (installed by PCP, long-lived);
#   - igdd's resident memory (VmRSS) at start, with 10,000 and with 100,000 mappings, and with 10,000
#     resident after 100,000 and 200,000 more create/delete cycles (bounded memory shows one figure);
#   - pcpd's (the same core and server, no UPnP and no web UI) at start and with 100,000 mappings, per
#     mapping, and the kernel's share: growth of the kernel's slab memory (/proc/meminfo Slab, the
#     whole machine: other activity shows up as noise) per nftables element;
#   - pcpd's user space per mapping without a lab at 100,000 (and PCP_MEM_BIG, 1,000,000) mappings
#     from 64-mapping subscribers of a CGN (tests/bench/mem_bench: the same core, store and server
#     over a firewall that keeps nothing).
# Every create and delete is journalled and committed before its answer (group commit: a burst shares
# one journal sync and one nftables transaction).
#   IGDD_BUILD=DIR selects the build; PCP_SEQ_N (4000) / PCP_PAR_N (40000) requests per run;
#   PCP_SOCKETS (64) concurrent client sockets; PCP_CHURN_MARKS ("100000 200000") churn checkpoints;
#   PCP_PARTS ("igdd pcpd mem") which parts run; PCP_MEM_BIG (1000000) the large mem_bench run.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$(cd "$(dirname "$0")/../lab" && pwd)/lab.sh"

SEQ_N=${PCP_SEQ_N:-4000}
PAR_N=${PCP_PAR_N:-40000}
SOCKETS=${PCP_SOCKETS:-64}
BENCH=$LAB_TOOLS/../bench/pcp_bench.py

if [ "$(id -u)" != 0 ]; then
	echo "pcp bench: needs root (network namespaces, nftables)" >&2
	exit 1
fi
lab_trap
lab_up

results=()
row() { results+=("$(printf "%-72s %12s %s" "$1" "$2" "$3")"); echo "pcp bench: ${results[-1]}" >&2; }
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n1; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$(lab_igdd_pid)/status"; }
slab_kib() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }
per() { awk -v d="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", d * 1024 / n; else print "-" }'; }
part() { case " ${PCP_PARTS:-igdd pcpd mem} " in *" $1 "*) return 0 ;; esac; return 1; }
# pcp ARGS...: pcp_bench.py in lan1 from the EUI-64 address, bounded
pcp() {
	timeout -k 5 180 ip netns exec "${LAB}lan1" "$LAB_PY" "$BENCH" -s "$CPE_LAN6" --src "$LAN1_EUI64" \
		--time-limit 150 "$@" </dev/null
}

installed=0
FILL_BASE=1024
# fill_to N: installs mappings (TCP ports from 1024 up, 64 sockets) until N are installed
fill_to() {
	local want=$1 n out
	n=$((want - installed))
	[ "$n" -gt 0 ] || return 0
	out=$(pcp --fill "$n" --fill-base "$FILL_BASE" --sockets "$SOCKETS" | grep '^filled')
	echo "pcp bench: $out" >&2
	[ "$(kv "$out" ok)" = "$n" ] || { echo "pcp bench: could not install $n mappings: $out" >&2; exit 1; }
	row "install $n mappings by PCP MAP ($SOCKETS sockets)" "$(kv "$out" rate)/s" "($(kv "$out" secs) s)"
	installed=$want
	FILL_BASE=$((1024 + want))
}

# runs LABEL: sequential and concurrent create/delete, table at $installed mappings
runs() {
	local label=$1 out n
	out=$(pcp --count "$SEQ_N" --sockets 1 | grep '^result')
	row "MAP/s, 1 sequential client, $label" "$(kv "$out" rate)/s" \
		"p50 $(kv "$out" p50_ms) / p99 $(kv "$out" p99_ms) ms ($(kv "$out" fail)+$(kv "$out" timeouts) failed)"
	out=$(pcp --count "$PAR_N" --sockets "$SOCKETS" | grep '^result')
	row "MAP/s, $SOCKETS client sockets at once, $label" "$(kv "$out" rate)/s" \
		"p50 $(kv "$out" p50_ms) / p99 $(kv "$out" p99_ms) ms ($(kv "$out" fail)+$(kv "$out" timeouts) failed)"
	n=$(lab_ctlbulk count)
	[ "$n" = "$installed" ] || echo "pcp bench: $n rules after the runs, expected $installed" >&2
}

echo "pcp bench: lab $LAB, igdd from ${IGDD_BUILD:-$TOP}" >&2
if part igdd; then
lab_igdd_start enable_pcp=yes pcp_rate_limit=0 max_rules=1048576 max_rules_per_client=1048576
row "igdd VmRSS at start" "$(rss_kib) KiB" ""
# the first answer also tells that the PCP service listens
pcp --count 2 >/dev/null

echo "pcp bench: empty table" >&2
runs "0 installed"
echo "pcp bench: 1,000 mappings" >&2
fill_to 1000
runs "1,000 installed"
echo "pcp bench: 10,000 mappings" >&2
fill_to 10000
runs "10,000 installed"
row "igdd VmRSS with 10,000 mappings" "$(rss_kib) KiB" ""
done_cycles=0
for m in ${PCP_CHURN_MARKS:-100000 200000}; do
	out=$(pcp --count $((2 * (m - done_cycles))) --sockets "$SOCKETS" | grep '^result')
	done_cycles=$m
	row "igdd VmRSS with 10,000 mappings, after $m more create/delete cycles" "$(rss_kib) KiB" \
		"($(kv "$out" rate) req/s, $(kv "$out" fail)+$(kv "$out" timeouts) failed)"
done
echo "pcp bench: 100,000 mappings" >&2
fill_to 100000
row "igdd VmRSS with 100,000 mappings" "$(rss_kib) KiB" "($(lab_ctlbulk count) rules, $(lab_nft_count elems list table inet igdd) kernel elements)"

lab_igdd_stop
rm -rf "$LAB_DIR/state"
lab_exec cpe nft delete table inet igdd
fi

if part pcpd; then
echo "pcp bench: pcpd, 100,000 mappings" >&2
IGDD_BIN=${IGDD_BUILD:-$TOP}/pcpd/pcpd
lab_igdd_start enable_pcp=yes pcp_rate_limit=0 max_rules=1048576 max_rules_per_client=1048576
pcp --count 2 >/dev/null
rss0=$(rss_kib)
row "pcpd VmRSS at start" "$rss0 KiB" ""
installed=0
FILL_BASE=1024
sync
slab0=$(slab_kib)
fill_to 100000
sleep 1
slab1=$(slab_kib)
rss1=$(rss_kib)
elems=$(lab_nft_count elems list table inet igdd)
row "pcpd VmRSS with 100,000 mappings" "$rss1 KiB" "($(per $((rss1 - rss0)) 100000) bytes per mapping above start)"
row "kernel slab growth for $elems nftables elements" "$((slab1 - slab0)) KiB" "($(per $((slab1 - slab0)) "$elems") bytes per element; whole machine)"
lab_igdd_stop
fi

if part mem; then
MB=${IGDD_BUILD:-$TOP}/tests/bench/mem_bench
for n in 100000 ${PCP_MEM_BIG:-1000000}; do
	out=$("$MB" "$n" 64 | grep '^result' | tr '\n' ' ')
	row "pcpd user space, $n CGN mappings (mem_bench, no kernel)" "$(kv "$out" rss_per_mapping) B/mapping" \
		"heap $(kv "$out" heap_per_mapping) B/mapping; installed at $(kv "$out" rate)/s ($(kv "$out" fail) failed); restart (store, indexes) $(kv "$out" restart_s) s"
done
fi

echo
printf '%-72s %12s %s\n' "igdd PCP bench ($(uname -r), $(nproc) CPUs)" "figure" "latency / detail"
printf '%s\n' "${results[@]}"
echo "(IPv6 MAP from lan1, create then delete (lifetime 0) of UDP ports 30000..; each answer after its journal sync and nftables commit)"
