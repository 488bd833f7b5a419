#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench: figures, not pass/fail. Runs igdd in the lab (tests/lab/lab.sh) and measures
#   - installing 1,000 and 10,000 pinholes through igdd's control socket (one request per rule),
#     and for reference 10,000 elements in one `nft -f` transaction (the nft CLI, no igdd),
#   - wan -> lan1 forwarding of 64-byte UDP datagrams to a pinholed port (sendmmsg flood, counted by an
#     nft counter in lan1), and new TCP connections per second through a pinhole,
#     each with 1 and with 10,000 pinholes installed,
#   - UPnP AddPinhole / AddPortMapping latency p50/p99 (tests/bench/soap_bench.py; pupnp closes the
#     connection after each answer, so each request includes its TCP connect) with 0, 1,000 and 10,000
#     rules already installed: the cost per request must not grow with the table,
#   - UPnP AddPinhole from 16 concurrent clients with 10,000 rules installed, each request on its own
#     connection as pupnp wants: requests/s, how many journal syncs / nft transactions they shared
#     (the core groups requests that arrive together; each is durable and in the kernel before its
#     answer), p99, and the CPU split between igdd and the clients. Twice: 16 threads of a C client on
#     libminiupnpc's UPNP_AddPinhole (tests/bench/upnpc_bench.c: light enough that igdd is what is
#     measured), and 4 processes x 4 threads of the Python client (tests/bench/soap_bench.py),
#   - the kernel's share of a restart at carrier scale: one resync transaction of BENCH_BIG (1,000,000)
#     pinholes into an empty table (nft_bench BIG).
#   IGDD_BUILD=DIR selects the build; BENCH_SECONDS (3) the length of each traffic run;
#   BENCH_ONLY=upnp-concurrent runs only the 16-client UPnP rows (10,000 rules installed first).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$(cd "$(dirname "$0")/../lab" && pwd)/lab.sh"

SECS=${BENCH_SECONDS:-3}
UDP_PORT=5001
TCP_PORT=5002
MAX_CONNS=100000

if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (network namespaces, nftables)" >&2
	exit 1
fi
lab_trap
lab_up
FLOOD=$LAB_DIR/udpflood
cc -O2 -Wall -Wextra -o "$FLOOD" "$LAB_TOOLS/../bench/udpflood.c"
UPNPC_BENCH=$LAB_DIR/upnpc_bench
cc -O2 -Wall -Wextra -Werror -pthread -o "$UPNPC_BENCH" "$LAB_TOOLS/../bench/upnpc_bench.c" -lminiupnpc
ONLY=${BENCH_ONLY:-}

msecs() { awk -v d="$1" 'BEGIN { printf "%.0f", d / 1e6 }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }
results=()
row() { results+=("$(printf '%-58s %14s %s' "$1" "$2" "$3")"); }

# counting sink in lan1: counts and drops the flood before any socket (what the cpe forwarded)
lab_exec lan1 nft -f - <<EOF
table inet bench {
	counter rx {}
	chain input {
		type filter hook input priority -10; policy accept;
		udp dport $UDP_PORT counter name rx drop
	}
}
EOF

rx_count() {
	lab_exec lan1 nft list counter inet bench rx | awk '/packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'
}

# traffic LABEL: the UDP flood and the TCP connection rate through the pinholes on UDP_PORT/TCP_PORT
traffic() {
	local label=$1 sent got conns secs
	lab_exec lan1 nft reset counter inet bench rx >/dev/null
	sent=$(lab_exec wan "$FLOOD" send "$LAN1_EUI64" "$UDP_PORT" "$SECS" 64 | awk '{ print $2 }')
	sleep 0.2
	got=$(rx_count)
	row "UDP 64 B wan->lan1, $label: sent / forwarded" "$(rate "$sent" "$SECS")/s" "$(rate "$got" "$SECS") pkt/s forwarded ($got of $sent)"
	lab_exec lan1 "$FLOOD" tcpsink "$TCP_PORT" $((SECS + 2)) >/dev/null &
	local sink=$!
	echo "$sink" >>"$LAB_DIR/pids"
	sleep 0.3
	read -r _ conns _ secs _ _ < <(lab_exec wan "$FLOOD" tcpconn "$LAN1_EUI64" "$TCP_PORT" "$MAX_CONNS" "$SECS")
	row "new TCP connections wan->lan1, $label" "$(rate "$conns" "$secs")/s" "($conns in ${secs} s)"
	wait "$sink" 2>/dev/null || true
}

# install N: N pinholes (ports 20000..) through the control socket; prints ms and rate
install() {
	local n=$1 t0 t1 res
	t0=$(date +%s%N)
	res=$(lab_ctlbulk add-pinholes "$LAN1_EUI64" tcp 20000 "$n") || { echo "bench: install failed: $res" >&2; exit 1; }
	t1=$(date +%s%N)
	row "install $n pinholes via igdd control socket" "$(msecs $((t1 - t0))) ms" "$(rate "$n" "$(awk -v d=$((t1 - t0)) 'BEGIN { print d / 1e9 }')")/s"
}

remove_all() {
	local t0 t1 res n
	t0=$(date +%s%N)
	res=$(lab_ctlbulk delete-all) || { echo "bench: delete-all failed: $res" >&2; exit 1; }
	t1=$(date +%s%N)
	n=$(echo "$res" | awk '{ print $2 }')
	row "delete $n pinholes via igdd control socket" "$(msecs $((t1 - t0))) ms" "$(rate "$n" "$(awk -v d=$((t1 - t0)) 'BEGIN { print d / 1e9 }')")/s"
}

echo "bench: lab $LAB, igdd from ${IGDD_BUILD:-$TOP}, ${SECS} s per traffic run" >&2
lab_igdd_start enable_upnp=yes upnp_http_port=49152 max_rules_per_client=65535
SOAP_BENCH="$LAB_TOOLS/../bench/soap_bench.py"
DESC4="http://$CPE_LAN4:49152/igd/rootDesc.xml"
DESC6="http://[$CPE_LAN6]:49152/igd/rootDesc.xml"
SOAP_BASE=40000

# soap_latency LABEL: 200 AddPinhole and 200 AddPortMapping requests (new ports each time)
soap_latency() {
	local label=$1 out
	out=$(timeout 120 ip netns exec "${LAB}lan1" "$LAB_PY" "$SOAP_BENCH" soap "$DESC6" --action pinhole \
		--src "$LAN1_EUI64" --target "$LAN1_EUI64" --base-port "$SOAP_BASE" --count 200 --time-limit 60 </dev/null)
	row "UPnP AddPinhole p50 / p99, $label" "$(kv "$out" p50_ms) / $(kv "$out" p99_ms) ms" "($(kv "$out" ok) of 200 ok, $(kv "$out" mode))"
	out=$(timeout 120 ip netns exec "${LAB}lan1" "$LAB_PY" "$SOAP_BENCH" soap "$DESC4" --action portmap \
		--src "$LAN1_V4" --target "$LAN1_V4" --base-port "$SOAP_BASE" --count 200 --time-limit 60 </dev/null)
	row "UPnP AddPortMapping p50 / p99, $label" "$(kv "$out" p50_ms) / $(kv "$out" p99_ms) ms" "($(kv "$out" ok) of 200 ok)"
	SOAP_BASE=$((SOAP_BASE + 200))
}
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# cpu_ticks PID: user + system clock ticks the process has used so far (all its threads)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# busy_ticks: clock ticks all CPUs of the machine spent not idle so far
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
transactions() { igdctl_lab --json status | "$LAB_PY" -c 'import json,sys; print(json.load(sys.stdin)["firewall"]["transactions"])'; }
cpus() { awk -v t="$1" -v s="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz / s }'; }

# soap_concurrent_c LABEL BASE: 3 runs of 16 threads of upnpc_bench, 4,000 AddPinhole each (new ports
# from BASE, 12,000 in all): the rate of each run (the VM's neighbours make one run alone unreliable),
# and for all three the nft transactions, the worst p99 and the CPU split
soap_concurrent_c() {
	local label=$1 base=$2 pid tx0 tx1 c0 c1 b0 b1 t0 t1 out secs run rates="" ok=0 cpu=0 p99 worst=0 errs=0
	pid=$(lab_igdd_pid)
	tx0=$(transactions)
	c0=$(cpu_ticks "$pid")
	b0=$(busy_ticks)
	t0=$(date +%s%N)
	for run in 1 2 3; do
		out=$(timeout 300 ip netns exec "${LAB}lan1" "$UPNPC_BENCH" "$DESC6" 16 4000 "$base" 240 </dev/null) || true
		echo "bench: $out" >&2
		rates="$rates${rates:+ / }$(kv "$out" rate)"
		ok=$((ok + $(kv "$out" ok)))
		errs=$((errs + $(kv "$out" err)))
		cpu=$(awk -v a="$cpu" -v b="$(kv "$out" cpu_s)" 'BEGIN { print a + b }')
		p99=$(kv "$out" p99_ms)
		worst=$(awk -v a="$worst" -v b="$p99" 'BEGIN { print (b > a ? b : a) }')
		base=$((base + 4000))
	done
	t1=$(date +%s%N)
	c1=$(cpu_ticks "$pid")
	b1=$(busy_ticks)
	tx1=$(transactions)
	secs=$(awk -v d=$((t1 - t0)) 'BEGIN { print d / 1e9 }')
	row "UPnP AddPinhole, 16 concurrent C clients (libminiupnpc), $label" "$rates/s" \
		"(3 runs; $ok of 12000 ok, $errs errors; $((tx1 - tx0)) nft transactions, worst p99 $worst ms; CPUs: igdd $(cpus $((c1 - c0)) "$secs"), client $(awk -v c="$cpu" -v s="$secs" 'BEGIN { printf "%.2f", c / s }'), machine $(cpus $((b1 - b0)) "$secs"))"
}

# soap_concurrent LABEL: 16 Python clients (4 processes x 4 threads), 1,000 AddPinhole each (new ports)
soap_concurrent() {
	local label=$1 k tx0 tx1 t0 t1 ok=0 out secs pid c0 c1 b0 b1
	pid=$(lab_igdd_pid)
	tx0=$(transactions)
	c0=$(cpu_ticks "$pid")
	b0=$(busy_ticks)
	t0=$(date +%s%N)
	for k in 0 1 2 3; do
		timeout 300 ip netns exec "${LAB}lan1" "$LAB_PY" "$SOAP_BENCH" soap "$DESC6" --action pinhole \
			--src "$LAN1_EUI64" --target "$LAN1_EUI64" --base-port $((56000 + k * 1000)) --count 1000 \
			--clients 4 --time-limit 240 </dev/null >"$LAB_DIR/soapc.$k" &
	done
	wait
	t1=$(date +%s%N)
	c1=$(cpu_ticks "$pid")
	b1=$(busy_ticks)
	tx1=$(transactions)
	for k in 0 1 2 3; do
		out=$(cat "$LAB_DIR/soapc.$k")
		ok=$((ok + $(kv "$out" ok)))
	done
	secs=$(awk -v d=$((t1 - t0)) 'BEGIN { print d / 1e9 }')
	row "UPnP AddPinhole, 16 concurrent Python clients, $label" "$(rate "$ok" "$secs")/s" "($ok of 4000 ok; $((tx1 - tx0)) nft transactions, p99 $(kv "$out" p99_ms) ms; CPUs: igdd $(cpus $((c1 - c0)) "$secs"), machine $(cpus $((b1 - b0)) "$secs"))"
}

print_results() {
	echo
	printf '%-58s %14s %s\n' "igdd bench ($(uname -r), $(nproc) CPUs)" "figure" "detail"
	printf '%s\n' "${results[@]}"
}

if [ "$ONLY" = upnp-concurrent ]; then
	lab_ctlbulk add-pinholes "$LAN1_EUI64" tcp 20000 10000 >/dev/null || { echo "bench: install failed" >&2; exit 1; }
	echo "bench: UPnP AddPinhole from 16 concurrent clients with 10,000 rules" >&2
	soap_concurrent_c "10,000 rules installed" 40000
	soap_concurrent "10,000 rules installed"
	print_results
	exit 0
fi

echo "bench: nft CLI reference (10,000 elements, one transaction)" >&2
{
	echo "table inet benchref {"
	echo "  set s { type ipv6_addr . inet_proto . inet_service; flags timeout; counter; }"
	echo "}"
	echo -n "add element inet benchref s { "
	for ((p = 20000; p < 30000; p++)); do echo -n "$LAN1_EUI64 . tcp . $p timeout 1h, "; done
	echo "}"
} >"$LAB_DIR/ref.nft"
t0=$(date +%s%N)
lab_exec cpe nft -f "$LAB_DIR/ref.nft"
t1=$(date +%s%N)
lab_exec cpe nft delete table inet benchref
row "reference: nft -f, 10000 elements in one transaction" "$(msecs $((t1 - t0))) ms" "(nft CLI, not igdd)"
for tool in "${IGDD_BUILD:-$TOP}/tests/bench/nft_bench" "${IGDD_BUILD:-$TOP}/tests/bench/reanchor_bench"; do
	if [ -x "$tool" ]; then
		echo "bench: $tool" >&2
		while IFS=: read -r label figure; do
			row "nft backend: $label" "$figure" "(libnftnl, no journal)"
		done < <(case $tool in */nft_bench) lab_exec cpe "$tool" "${BENCH_BIG:-1000000}" ;; *) lab_exec cpe "$tool" ;; esac)
	fi
done
if [ -x "${IGDD_BUILD:-$TOP}/tests/bench/read_bench" ]; then
	echo "bench: read_bench" >&2
	while IFS=: read -r label figure; do
		row "core reads: $label" "$figure" "(10,000 mappings, in-memory backend)"
	done < <("${IGDD_BUILD:-$TOP}/tests/bench/read_bench")
fi

targets() {
	lab_ctlbulk add-pinholes "$LAN1_EUI64" udp "$UDP_PORT" 1 >/dev/null
	lab_ctlbulk add-pinholes "$LAN1_EUI64" tcp "$TCP_PORT" 1 >/dev/null
}

echo "bench: traffic with 1 pinhole per protocol" >&2
targets
traffic "1 pinhole"

echo "bench: UPnP latency with an empty table" >&2
soap_latency "0 rules installed"
remove_all
targets

echo "bench: installs" >&2
install 1000
echo "bench: UPnP latency with 1,000 rules" >&2
soap_latency "1,000 rules installed"
remove_all
targets
install 10000
echo "bench: UPnP latency with 10,000 rules" >&2
soap_latency "10,000 rules installed"
echo "bench: UPnP AddPinhole from 16 concurrent clients with 10,000 rules" >&2
soap_concurrent_c "10,000 rules installed" 41000
soap_concurrent "10,000 rules installed"

echo "bench: traffic with 10,000 pinholes" >&2
n=$(lab_nft_count elems list set inet igdd ph_port)
traffic "$n pinholes"

print_results
echo "(UDP: one sender core over veth pairs; forwarded = counted in lan1 after crossing the cpe)"
