# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The CGN lab (sourced): pcpd on a carrier-grade NAT between an internet host and subscribers.
#
#   wan  wan0 198.51.100.1/24 ── wan0 198.51.100.2/24  cgn (pcpd)  br0 100.64.0.1/24 ─┬─ sub1 100.64.0.2
#        route 203.0.113.8/30 via 198.51.100.2          pool 203.0.113.8/30           └─ sub2 100.64.0.3
#
# The pool addresses are on no interface: the wan host routes them to the cgn, whose DNAT/SNAT
# (pcpd's table) translates them. Subscribers 100.64.0.0/24, blocks of CGN_PPS ports from
# CGN_RANGE, so subscriber .N owns 203.0.113.8 ports MIN+N*PPS .. MIN+N*PPS+PPS-1 (see pcpd/cgn.h):
# for its PCP mappings and, through the block map, for its dynamic TCP/UDP flows.
# Namespaces are named ${CGN_LAB}<role>, unique per run, and removed by cgn_trap.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=checks.sh
. "$TOP/tests/integration/checks.sh"
# shellcheck source=pcpd_lib.sh
. "$TOP/tests/integration/pcpd_lib.sh"
checks_on_fail() { [ -n "$CGN_DIR" ] && tail_log "$CGN_DIR/pcpd.log" pcpd.log; }
CGN_TOOLS=$TOP/tests/lab
CGN_PY=/usr/bin/python3
CGN_LAB=${CGN_LAB:-cg$$x$((RANDOM % 1000))}
CGN_DIR=
CGN_POOL=203.0.113.8/30
CGN_PPS=${CGN_PPS:-4}
CGN_MIN=20000
CGN_RANGE=${CGN_MIN}-20063
CGN_NS="wan cgn sub1 sub2"
export CGN_LAB

cgn_exec() {
	local ns=$1
	shift
	ip netns exec "${CGN_LAB}$ns" "$@"
}

cgn_down() {
	local p ns
	if [ -n "$CGN_DIR" ] && [ -f "$CGN_DIR/pcpd.pid" ]; then
		kill -KILL "$(cat "$CGN_DIR/pcpd.pid")" 2>/dev/null || true
	fi
	if [ -n "$CGN_DIR" ] && [ -f "$CGN_DIR/pids" ]; then
		while read -r p; do [ -z "$p" ] || kill -KILL "$p" 2>/dev/null || true; done <"$CGN_DIR/pids"
	fi
	for ns in $CGN_NS; do
		[ -e "/run/netns/${CGN_LAB}$ns" ] || continue
		for p in $(ip netns pids "${CGN_LAB}$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "${CGN_LAB}$ns" 2>/dev/null || true
	done
	if [ -n "$CGN_DIR" ] && [ "${CGN_KEEP:-0}" != 1 ]; then rm -rf "$CGN_DIR"; fi
	CGN_DIR=
	return 0
}

cgn_trap() {
	trap '_cgn_rc=$?; trap - EXIT INT TERM; cgn_down; exit $_cgn_rc' EXIT
	trap 'trap - EXIT INT TERM; cgn_down; exit 130' INT TERM
}

cgn_up() {
	local ns i
	CGN_DIR=$(mktemp -d "/tmp/igdd-cgn.XXXXXX") || return 1
	: >"$CGN_DIR/pids"
	for ns in $CGN_NS; do
		ip netns add "${CGN_LAB}$ns" || return 1
		cgn_exec "$ns" ip link set lo up
	done
	ip link add wan0 netns "${CGN_LAB}wan" type veth peer name wan0 netns "${CGN_LAB}cgn" || return 1
	cgn_exec wan ip addr add 198.51.100.1/24 dev wan0
	cgn_exec wan ip link set wan0 up
	cgn_exec wan ip route add "$CGN_POOL" via 198.51.100.2
	cgn_exec cgn ip addr add 198.51.100.2/24 dev wan0
	cgn_exec cgn ip link set wan0 up
	cgn_exec cgn ip link add br0 type bridge
	cgn_exec cgn ip addr add 100.64.0.1/24 dev br0
	cgn_exec cgn ip link set br0 up
	cgn_exec cgn sysctl -qw net.ipv4.ip_forward=1
	for i in 1 2; do
		ip link add "s$i" netns "${CGN_LAB}cgn" type veth peer name eth0 netns "${CGN_LAB}sub$i" || return 1
		cgn_exec cgn ip link set "s$i" master br0 up
		cgn_exec "sub$i" ip addr add "100.64.0.$((i + 1))/24" dev eth0
		cgn_exec "sub$i" ip link set eth0 up
		cgn_exec "sub$i" ip route add default via 100.64.0.1
	done
	# the wan host has no route back to 100.64/10: only translated traffic can reach it
	return 0
}

# cgn_pcpd_conf [KEY=VALUE...]: the CGN's pcpd.conf (pool, blocks, mapping log); KEY=VALUE replace
cgn_pcpd_conf() {
	mkdir -p "$CGN_DIR/state"
	pcpd_conf lan_ifname=br0 "state_dir=$CGN_DIR/state" "control_socket=$CGN_DIR/pcpd.sock" \
		"cgn_pool=$CGN_POOL" "cgn_ports_per_subscriber=$CGN_PPS" "cgn_port_range=$CGN_RANGE" \
		"mapping_log=$CGN_DIR/mappings.log" "$@" >"$CGN_DIR/pcpd.conf"
}

# cgn_pcpd_start: pcpd on the cgn (cgn_pcpd_conf's configuration unless one was written)
cgn_pcpd_start() {
	[ -f "$CGN_DIR/pcpd.conf" ] || cgn_pcpd_conf
	pcpd_start "${CGN_LAB}cgn" "$CGN_DIR"
}

cgn_pcpd_kill9() { pcpd_kill9 "$CGN_DIR"; }

# cgn_pcpc NS ARGS...: tests/lab/pcpc.py against the cgn's PCP server, from namespace NS
cgn_pcpc() {
	local ns=$1
	shift
	cgn_exec "$ns" "$CGN_PY" "$CGN_TOOLS/pcpc.py" -s 100.64.0.1 "$@" </dev/null
}

# cgn_bg NS CMD...: a background helper, killed by cgn_down
cgn_bg() {
	local ns=$1
	shift
	ip netns exec "${CGN_LAB}$ns" "$@" </dev/null >/dev/null 2>>"$CGN_DIR/bg.err" &
	echo $! >>"$CGN_DIR/pids"
	disown $! 2>/dev/null || true
}

# cgn_echo NS tcp|udp PORT: the lab's echo server (tests/lab/probe.py), waits until it listens
cgn_echo() {
	local ready="$CGN_DIR/ready.$RANDOM" i
	cgn_bg "$1" "$CGN_PY" "$CGN_TOOLS/probe.py" listen "$2" "$3" --ready "$ready"
	for ((i = 0; i < 50; i++)); do [ -s "$ready" ] && return 0; sleep 0.05; done
	return 1
}

# cgn_connect NS tcp|udp ADDR PORT [TIMEOUT]: 0 if an echo round trip works
cgn_connect() {
	cgn_exec "$1" "$CGN_PY" "$CGN_TOOLS/probe.py" connect "$2" "$3" "$4" "${5:-1}" </dev/null
}

# cgn_peer_of FROM_NS SRC_PORT [WAN_PORT]: sends one UDP datagram from FROM_NS, source port SRC_PORT, to
# the wan host's WAN_PORT (default 7777) and prints the source address:port the wan host saw (the NAT's
# choice); empty if none came.
cgn_peer_of() {
	local out="$CGN_DIR/peer.$RANDOM" wan_port=${3:-7777}
	ip netns exec "${CGN_LAB}wan" timeout 5 "$CGN_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.1", int(sys.argv[2])))
open(sys.argv[1] + ".ready", "w").write("1")
s.settimeout(4)
try:
    _, peer = s.recvfrom(2048)
    print("%s:%d" % peer)
except socket.timeout:
    pass
' "$out" "$wan_port" >"$out" 2>/dev/null &
	local lp=$! i
	for ((i = 0; i < 50; i++)); do [ -s "$out.ready" ] && break; sleep 0.05; done
	cgn_exec "$1" "$CGN_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.sendto(b"hello", ("198.51.100.1", int(sys.argv[2])))
' "$2" "$wan_port" </dev/null
	wait "$lp" 2>/dev/null
	cat "$out"
	rm -f "$out" "$out.ready"
}

# cgn_peers FROM_NS tcp|udp N PORT: N flows, each from a new socket (a kernel-chosen source port),
# from FROM_NS to the wan host's PORT; prints the source address:port the wan host saw for each
# (the NAT's choice), one a line, in order; fewer lines if flows did not arrive.
cgn_peers() {
	local out="$CGN_DIR/peers.$RANDOM" lp i
	ip netns exec "${CGN_LAB}wan" timeout 10 "$CGN_PY" -c '
import socket, sys
proto, n, port, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.1", port))
if proto == "tcp":
    s.listen(n)
open(out + ".ready", "w").write("1")
s.settimeout(5)
for _ in range(n):
    try:
        if proto == "tcp":
            c, peer = s.accept()
            c.close()
        else:
            _, peer = s.recvfrom(2048)
    except socket.timeout:
        break
    print("%s:%d" % peer, flush=True)
' "$2" "$3" "$4" "$out" >"$out" 2>/dev/null &
	lp=$!
	for ((i = 0; i < 50; i++)); do [ -s "$out.ready" ] && break; sleep 0.05; done
	cgn_exec "$1" "$CGN_PY" -c '
import socket, sys
proto, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        if proto == "tcp":
            s.connect(("198.51.100.1", port))
        else:
            s.sendto(b"hello", ("198.51.100.1", port))
    except OSError:
        pass
    s.close()
' "$2" "$3" "$4" </dev/null
	wait "$lp" 2>/dev/null
	cat "$out"
	rm -f "$out" "$out.ready"
}

# cgn_api METHOD PATH [BODY_JSON]: one request on pcpd's control socket, as the operator's own scripts
# send it (tests/CONTRACTS.md "Control socket protocol"); prints status=N and the answer's rule (or
# error) as KEY=VALUE words for field(): id, origin, ext_addr, ext_port, lease, code. status=0: no answer.
cgn_api() {
	"$CGN_PY" - "$CGN_DIR/pcpd.sock" "$@" <<'PY'
import json, socket, sys
path, method, url = sys.argv[1], sys.argv[2], sys.argv[3]
req = {"method": method, "path": url}
if len(sys.argv) > 4:
    req["body"] = json.loads(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
data = b""
try:
    s.connect(path)
    s.sendall(json.dumps(req).encode() + b"\n")
    s.shutdown(socket.SHUT_WR)
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    ans = json.loads(data)
except (OSError, ValueError):
    print("status=0")
    sys.exit(0)
body = ans.get("body") or {}
words = ["status=%s" % ans.get("status", 0)]
rule = body.get("rule") or {}
for k in ("id", "origin", "ext_addr", "ext_port", "lease"):
    if k in rule:
        words.append("%s=%s" % (k, rule[k]))
err = body.get("error") or {}
if "code" in err:
    words.append("code=%s" % err["code"])
print(" ".join(words))
PY
}
