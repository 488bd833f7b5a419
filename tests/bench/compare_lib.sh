# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Pieces of tests/bench/compare and tests/integration/t_load.sh (sourced after tests/lab/lab.sh):
# miniupnpd in the lab, the bench clients, figures.
#
#   mup_start                      miniupnpd (Debian miniupnpd-nftables) in cpe, own table, foreground (-d)
#   mup_stop                       SIGTERM it (bounded), delete its table
#   cmp_rss PID                    VmRSS of PID in kB (from /proc), "-" if gone
#   cmp_bench NS ARGS...           tests/bench/soap_bench.py ARGS in NS (bounded by timeout)
#   cmp_kv LINE KEY                the value of KEY=... in a soap_bench.py output line
#   cmp_igdd_upnp_start LINES...   lab_igdd_start with UPnP on, waits for the UPnP front end
#   cmp_wait_soap URL SRC SECS     polls GetExternalIPAddress until it answers

CMP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CMP_BENCH=$CMP_DIR/soap_bench.py
MUP_BIN=${MUP_BIN:-/usr/sbin/miniupnpd}
MUP_TABLE=${MUP_TABLE:-miniupnpd}
MUP_PORT=${MUP_PORT:-49160}

cmp_rss() {
	awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print "-" }' "/proc/$1/status" 2>/dev/null || echo -
}

cmp_bench() {
	local ns=$1 t=${CMP_TIMEOUT:-150}
	shift
	timeout -k 5 "$t" ip netns exec "${LAB}$ns" "$LAB_PY" "$CMP_BENCH" "$@" </dev/null
}

cmp_kv() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

cmp_wait_soap() {
	local url=$1 src=$2 secs=$3 i
	for ((i = 0; i < secs * 10; i++)); do
		CMP_TIMEOUT=5 cmp_bench lan1 call "$url" --src "$src" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

cmp_igdd_upnp_start() {
	local i
	lab_igdd_start enable_upnp=yes "$@" || return 1
	for ((i = 0; i < 100; i++)); do
		grep -q "upnp: IGD" "$LAB_DIR/igdd.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "cmp: igdd's UPnP front end did not start" >&2
	return 1
}

# The same inbound policy igdd's standalone table has (RFC 6092: established, required ICMPv6, then
# the daemon's rules, then IPv6 from the WAN dropped), with miniupnpd's chains in the middle, the way
# /etc/miniupnpd/nft_init.sh lays them out.
mup_nft_init() {
	lab_exec cpe nft -f - <<-EOF
		table inet $MUP_TABLE {
			chain forward {
				type filter hook forward priority filter; policy accept;
				iifname != "wan0" return
				ct state established,related accept
				ct state invalid drop
				icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request } accept
				jump miniupnpd
				meta nfproto ipv4 ct status dnat accept
				meta nfproto ipv6 drop
			}
			chain miniupnpd {
			}
			chain prerouting {
				type nat hook prerouting priority dstnat; policy accept;
				jump prerouting_miniupnpd
			}
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				jump postrouting_miniupnpd
			}
			chain prerouting_miniupnpd {
			}
			chain postrouting_miniupnpd {
			}
		}
	EOF
}

mup_conf() {
	local uuid
	uuid=$(cat /proc/sys/kernel/random/uuid)
	mkdir -p "$LAB_DIR/mup"
	sed -e "s|@HTTP_PORT@|$MUP_PORT|" -e "s|@UUID@|$uuid|" -e "s|@DIR@|$LAB_DIR/mup|" \
		-e "s|@TABLE@|$MUP_TABLE|" -e "s|@LAN4@|$LAN_PREFIX4|" \
		"$CMP_DIR/miniupnpd.conf.in" >"$LAB_DIR/mup/miniupnpd.conf"
}

mup_start() {
	local pid i
	[ -x "$MUP_BIN" ] || { echo "cmp: $MUP_BIN not installed" >&2; return 1; }
	mup_conf
	mup_nft_init || return 1
	# -d: foreground, debug log to stderr (2.3.1 has no quieter foreground mode); -P: pid file off /run
	ip netns exec "${LAB}cpe" "$MUP_BIN" -d -f "$LAB_DIR/mup/miniupnpd.conf" -P "$LAB_DIR/mup/miniupnpd.pid" \
		</dev/null >"$LAB_DIR/mup/miniupnpd.log" 2>&1 &
	pid=$!
	disown "$pid" 2>/dev/null || true
	echo "$pid" >>"$LAB_DIR/pids"
	MUP_PID=$pid
	for ((i = 0; i < 100; i++)); do
		_lab_alive "$pid" || break
		grep -q "HTTP listening on port" "$LAB_DIR/mup/miniupnpd.log" && return 0
		sleep 0.1
	done
	echo "cmp: miniupnpd did not start; log tail:" >&2
	tail -n 20 "$LAB_DIR/mup/miniupnpd.log" >&2
	return 1
}

mup_stop() {
	[ -n "${MUP_PID:-}" ] || return 0
	kill -TERM "$MUP_PID" 2>/dev/null || true
	_lab_wait_gone "$MUP_PID" 50 || { kill -KILL "$MUP_PID" 2>/dev/null || true; _lab_wait_gone "$MUP_PID" 20 || true; }
	MUP_PID=
	lab_exec cpe nft delete table inet "$MUP_TABLE" 2>/dev/null || true
}
