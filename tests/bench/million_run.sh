#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench, carrier part: pcpd on a CGN with a million mappings, the kernel included (figures, not
# pass/fail). The CGN lab of tests/integration/cgn_lib.sh; the subscribers are a routed /18 behind
# sub1 (100.64.64.0/18, local to sub1 so one client process can speak for all of them, as a BNG's
# aggregation would bring them), 64 ports each on a pool of 16 addresses. Measures
#   - new TCP connections/s from the wan host to one mapped port with 1 mapping installed, and with
#     MILLION_N (1,000,000) installed (the packet path: one hash lookup whatever the table holds);
#   - the install rate to MILLION_N mappings from MILLION_N / 64 subscribers over 64 client sockets,
#     each mapping durable (journal) and in the kernel (DNAT + SNAT elements) before its answer;
#   - pcpd's VmRSS and the kernel's slab growth at 100,000 and at MILLION_N mappings;
#   - a restart with MILLION_N mappings (kill -9, start: store load + the kernel resync) until pcpd
#     answers, and the CPU time that took (the wall time depends on whatever else shares the CPUs), while the wan host keeps connecting to a mapped port (connections that
#     failed during the restart: the old elements stay in the kernel until the resync replaces them
#     atomically, so there should be none).
#   MILLION_N (1000000), MILLION_SECS (5) per connection-rate run.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source-path=SCRIPTDIR source=../integration/cgn_lib.sh
. "$(cd "$(dirname "$0")/../integration" && pwd)/cgn_lib.sh"

N=${MILLION_N:-1000000}
SECS=${MILLION_SECS:-5}
PER_SUB=64
SUBS_FIRST=100.64.64.1
POOL=203.0.113.0/28
BENCH=$TOP/tests/bench/pcp_bench.py
[ "$(id -u)" = 0 ] || { echo "million bench: needs root" >&2; exit 1; }

cgn_trap
cgn_up
FLOOD=$CGN_DIR/udpflood
cc -O2 -Wall -Wextra -o "$FLOOD" "$TOP/tests/bench/udpflood.c"
# the subscribers: routed to sub1, which takes the whole /18 as its own
cgn_exec cgn ip route add 100.64.64.0/18 via 100.64.0.2
cgn_exec sub1 ip route add local 100.64.64.0/18 dev lo
cgn_exec wan ip route replace "$POOL" via 198.51.100.2
cgn_pcpd_conf "cgn_pool=$POOL" cgn_subscribers=100.64.64.0/18 "cgn_ports_per_subscriber=$PER_SUB" \
	cgn_port_range=1024-65535 max_rules=1048576 "max_rules_per_client=$PER_SUB" max_lifetime=86400

results=()
row() { results+=("$(printf "%-66s %14s %s" "$1" "$2" "$3")"); echo "million bench: ${results[-1]}" >&2; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$(cat "$CGN_DIR/pcpd.pid")/status"; }
slab_kib() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }
per() { awk -v d="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", d * 1024 / n; else print "-" }'; }
installed=0
# fill_to WANT: mappings for the next subscribers until WANT are installed
fill_to() {
	local want=$1 n first out
	n=$((want - installed))
	# whole subscribers: the next one after those the last fill used
	first=$(python3 -c "import ipaddress; print(ipaddress.ip_address('$SUBS_FIRST') + ($installed + $PER_SUB - 1) // $PER_SUB)")
	out=$(timeout -k 5 900 ip netns exec "${CGN_LAB}sub1" python3 "$BENCH" -s 100.64.0.1 --fill "$n" \
		--subscribers "$first" --per-sub "$PER_SUB" --fill-base 4000 --sockets 64 --time-limit 850 \
		--lifetime 86400 </dev/null | grep '^filled')
	echo "million bench: $out" >&2
	[ "$(field "$out" ok)" = "$n" ] || { echo "million bench: could not install $n mappings: $out" >&2; exit 1; }
	installed=$want
	FILL_LAST="$(field "$out" rate)/s ($(field "$out" secs) s)"
}
# conn_rate LABEL: new TCP connections/s from the wan host through the first mapping (TCP twin of it)
conn_rate() {
	local out conns secs
	cgn_exec sub1 "$FLOOD" tcpsink 4000 $((SECS + 2)) >/dev/null &
	sleep 0.3
	out=$(cgn_exec wan "$FLOOD" tcpconn "$EXT_ADDR" "$EXT_PORT" 100000000 "$SECS")
	wait
	read -r _ conns _ secs _ _ <<<"$out"
	row "wan -> subscriber new TCP connections/s, $1" "$(awk -v c="$conns" -v s="$secs" 'BEGIN { printf "%.0f", c / s }')" "($out)"
}

echo "million bench: lab $CGN_LAB, pcpd from ${IGDD_BUILD:-$TOP}, $N mappings" >&2
cgn_pcpd_start
sync
rss0=$(rss_kib)
slab0=$(slab_kib)
row "pcpd VmRSS at start" "$rss0 KiB" ""
# one TCP mapping for the connection-rate runs (the fill maps UDP): subscriber 100.64.126.200 (beyond those the fill uses), port 4000
ip netns exec "${CGN_LAB}sub1" python3 "$CGN_TOOLS/pcpc.py" -s 100.64.0.1 --src 100.64.126.200 map --proto tcp --port 4000 \
	--lifetime 86400 >"$CGN_DIR/first.map" 2>&1 </dev/null || { cat "$CGN_DIR/first.map" >&2; exit 1; }
EXT=$(grep -m1 " create tcp subscriber=100.64.126.200 " "$CGN_DIR/mappings.log" | sed -n 's/.* external=\([^ ]*\) .*/\1/p')
EXT_ADDR=${EXT%:*}
EXT_PORT=${EXT##*:}
[ -n "$EXT_PORT" ] || { echo "million bench: no external port for the first mapping" >&2; cat "$CGN_DIR/first.map" >&2; exit 1; }
installed=0
conn_rate "1 mapping"

fill_to 100000
sleep 1
rss1=$(rss_kib)
slab1=$(slab_kib)
row "install 100,000 mappings (64 sockets, 1,563 subscribers)" "$FILL_LAST" ""
row "pcpd VmRSS with 100,000 mappings" "$rss1 KiB" "($(per $((rss1 - rss0)) 100000) B per mapping above start)"
row "kernel slab growth, 100,000 mappings (DNAT + SNAT elements)" "$((slab1 - slab0)) KiB" "($(per $((slab1 - slab0)) 100000) B per mapping; whole machine)"

fill_to "$N"
sleep 1
rss2=$(rss_kib)
slab2=$(slab_kib)
row "install $N mappings, from 100,000 on" "$FILL_LAST" ""
row "pcpd VmRSS with $N mappings" "$rss2 KiB" "($(per $((rss2 - rss0)) "$N") B per mapping above start)"
row "kernel slab growth, $N mappings" "$((slab2 - slab0)) KiB" "($(per $((slab2 - slab0)) "$N") B per mapping; whole machine)"
conn_rate "$N mappings"

# restart: kill -9, then start with the same state; the wan host connects all along
# (the connections run a fixed 90 s and are waited for: udpflood prints its figures only at its end)
cgn_exec sub1 "$FLOOD" tcpsink 4000 95 >/dev/null &
sink=$!
sleep 0.3
cgn_exec wan "$FLOOD" tcpconn "$EXT_ADDR" "$EXT_PORT" 100000000 90 >"$CGN_DIR/restart.conns" &
conns=$!
sleep 1
cgn_pcpd_kill9
t0=$(date +%s.%N)
PCPD_START_TRIES=2400 cgn_pcpd_start
t1=$(date +%s.%N)
ready=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
# the CPU the new pcpd used to get there (its own and the kernel's work on its behalf): what the
# restart costs whatever else shares the CPUs
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$(cat "$CGN_DIR/pcpd.pid")/stat")
wait "$conns" "$sink" 2>/dev/null || true
row "restart with $N mappings: kill -9 to answering (store + resync)" "$ready s" "$(grep -o '[0-9]* rules restored' "$CGN_DIR/pcpd.log" | tail -n1)"
row "restart with $N mappings: CPU time of the new pcpd until answering (user + system)" "$cpu s" "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
row "wan connections to a mapped port failed during the restart" "$(grep -o 'failed [0-9]*' "$CGN_DIR/restart.conns" || echo '?')" "($(cat "$CGN_DIR/restart.conns"))"

echo
printf '%-66s %14s %s\n' "pcpd carrier bench ($(uname -r), $(nproc) CPUs)" "figure" "detail"
printf '%s\n' "${results[@]}"
