# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The igdd lab: four network namespaces on the real kernel, sourced by the integration tests,
# the demo and the benchmarks (bash).
#
#      ${LAB}wan                 ${LAB}cpe (runs igdd)                ${LAB}lan1 / ${LAB}lan2
#   eth0 203.0.113.2    ---  wan0 203.0.113.1             lan0 (bridge) --- eth0 192.0.2.11 / .12
#        2001:db8:ffff::2         2001:db8:ffff::1          192.0.2.1        2001:db8:1:1:5054:ff:fe12:3401 / ..02 (EUI-64)
#                                 (delegated 2001:db8:1::/56) 2001:db8:1:1::1  + one random "temporary" address each
#
# IPv4 from the LAN is masqueraded on wan0 (table ip labnat, the lab's own; table inet igdd is igdd's).
# wan has no route to 192.0.2.0/24: only igdd's port mappings reach the LAN over IPv4.
#
#   LAB=xy lab_up / lab_down / lab_trap        build / remove (idempotent) / remove on EXIT INT TERM
#   lab_exec NS CMD...                         run CMD in ${LAB}NS (NS = wan, cpe, lan1, lan2)
#   lab_listen NS tcp|udp PORT [ADDR]          background echo server in NS (waits until bound)
#   lab_can_connect NS tcp|udp ADDR PORT [S]   0 if an echo round trip from NS succeeds within S seconds (1)
#   lab_igdd_start [CONFIG LINE...]            start igdd in cpe, wait until igdctl status answers
#   lab_igdd_stop / lab_igdd_kill9             SIGTERM (bounded wait) / SIGKILL
#   igdctl_lab ARGS...                         igdctl -s $LAB_DIR/igdd.sock ARGS in cpe
#
# Files of one run live in $LAB_DIR, a directory lab_up makes outside the checkout (see there) and
# lab_down removes (LAB_KEEP=1 keeps it); with LAB_OUT set, lab_down first copies it there.

LAB_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$LAB_TOOLS/../.." && pwd)
LAB_PY=/usr/bin/python3
IGDD_BIN=${IGDD_BUILD:-$TOP}/igdd/igdd
IGDCTL_BIN=${IGDD_BUILD:-$TOP}/igdd/igdctl

# Addresses (documentation and unique-local ranges only).
export WAN_V4=203.0.113.2 WAN_V6=2001:db8:ffff::2
export CPE_WAN4=203.0.113.1 CPE_WAN6=2001:db8:ffff::1
export CPE_LAN4=192.0.2.1 CPE_LAN6=2001:db8:1:1::1
export DELEGATED6=2001:db8:1::/56 LAN_PREFIX6=2001:db8:1:1::/64 LAN_PREFIX4=192.0.2.0/24
export LAN1_MAC=52:54:00:12:34:01 LAN1_V4=192.0.2.11
export LAN1_EUI64=2001:db8:1:1:5054:ff:fe12:3401 LAN1_LL=fe80::5054:ff:fe12:3401
export LAN2_MAC=52:54:00:12:34:02 LAN2_V4=192.0.2.12
export LAN2_EUI64=2001:db8:1:1:5054:ff:fe12:3402 LAN2_LL=fe80::5054:ff:fe12:3402

if [ -z "${LAB:-}" ]; then
	LAB=ig$$
	if ip netns list 2>/dev/null | grep -q "^${LAB}"; then
		LAB=ig$$x$((RANDOM % 100))
	fi
fi
export LAB

_lab_ns() { echo "${LAB}$1"; }

lab_exec() {
	local ns=$1
	shift
	ip netns exec "${LAB}$ns" "$@"
}

# random interface identifier with neither the EUI-64 ff:fe marker nor the u/l bit quirks
_lab_rand_iid() {
	printf '%x:%x:%x:%x' $((0x2000 + RANDOM % 0xd000)) $((RANDOM % 0xfe00)) $((RANDOM)) $((RANDOM + 1))
}

lab_up() {
	local ns h
	# Never below the checkout: igdd, once it runs as its own user, and the browser must reach these
	# files wherever the checkout lies (a 0700 home, a long path: a unix socket's path has at most 107
	# bytes). 0755, so igdd's user can pass. A LAB_DIR given the old way is where the copy goes.
	LAB_OUT=${LAB_OUT:-${LAB_DIR:-}}
	LAB_DIR=$(mktemp -d "/tmp/igdlab.${LAB}.XXXXXX") || return 1
	chmod 0755 "$LAB_DIR"
	LAB_DIR_OWNED=1
	export LAB_DIR LAB_DIR_OWNED LAB_OUT
	: >"$LAB_DIR/pids"
	LAN1_TMP=2001:db8:1:1:$(_lab_rand_iid)
	LAN2_TMP=2001:db8:1:1:$(_lab_rand_iid)
	export LAN1_TMP LAN2_TMP
	printf 'LAB=%s\nLAN1_TMP=%s\nLAN2_TMP=%s\n' "$LAB" "$LAN1_TMP" "$LAN2_TMP" >"$LAB_DIR/lab.env"

	for ns in wan cpe lan1 lan2; do
		ip netns add "${LAB}$ns" || { lab_down; return 1; }
		# No DAD (addresses usable at once), no router advertisements taken from anywhere.
		ip netns exec "${LAB}$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null ||
			{ lab_down; return 1; }
	done
	ip netns exec "${LAB}cpe" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null ||
		{ lab_down; return 1; }

	if ! { ip link add eth0 netns "${LAB}wan" type veth peer name wan0 netns "${LAB}cpe" &&
		ip link add eth0 netns "${LAB}lan1" address "$LAN1_MAC" type veth peer name lan1 netns "${LAB}cpe" &&
		ip link add eth0 netns "${LAB}lan2" address "$LAN2_MAC" type veth peer name lan2 netns "${LAB}cpe"; }; then
		lab_down
		return 1
	fi

	ip -n "${LAB}wan" -batch - <<-EOF || { lab_down; return 1; }
		link set lo up
		link set eth0 up
		addr add $WAN_V4/24 dev eth0
		addr add $WAN_V6/64 dev eth0 nodad
		route add $DELEGATED6 via $CPE_WAN6
	EOF
	ip -n "${LAB}cpe" -batch - <<-EOF || { lab_down; return 1; }
		link set lo up
		link add lan0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0
		link set lan1 master lan0
		link set lan2 master lan0
		link set lan1 up
		link set lan2 up
		link set lan0 up
		link set wan0 up
		addr add $CPE_WAN4/24 dev wan0
		addr add $CPE_WAN6/64 dev wan0 nodad
		addr add $CPE_LAN4/24 dev lan0
		addr add $CPE_LAN6/64 dev lan0 nodad
		route add unreachable $DELEGATED6
	EOF
	for h in 1 2; do
		local v4 eui tmp
		eval "v4=\$LAN${h}_V4 eui=\$LAN${h}_EUI64 tmp=\$LAN${h}_TMP"
		ip -n "${LAB}lan$h" -batch - <<-EOF || { lab_down; return 1; }
			link set lo up
			link set eth0 up
			addr add $v4/24 dev eth0
			addr add $eui/64 dev eth0 nodad
			addr add $tmp/64 dev eth0 nodad preferred_lft 3600 valid_lft 7200
			route add default via $CPE_LAN4
			route add default via $CPE_LAN6
		EOF
	done
	ip netns exec "${LAB}cpe" nft -f - <<-EOF || { lab_down; return 1; }
		table ip labnat {
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				oifname "wan0" masquerade
			}
		}
	EOF
	# Let the cpe see every LAN address once (neighbour table), as a real network would.
	local pids=()
	for h in 1 2; do
		local eui tmp
		eval "eui=\$LAN${h}_EUI64 tmp=\$LAN${h}_TMP"
		ip netns exec "${LAB}lan$h" ping -6 -q -c1 -W1 -I "$eui" "$CPE_LAN6" >/dev/null 2>&1 &
		pids+=($!)
		ip netns exec "${LAB}lan$h" ping -6 -q -c1 -W1 -I "$tmp" "$CPE_LAN6" >/dev/null 2>&1 &
		pids+=($!)
		ip netns exec "${LAB}lan$h" ping -4 -q -c1 -W1 "$CPE_LAN4" >/dev/null 2>&1 &
		pids+=($!)
	done
	local p rc=0
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	if [ $rc -ne 0 ]; then
		echo "lab_up: a LAN host cannot reach the cpe" >&2
		lab_down
		return 1
	fi
	return 0
}

_lab_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# _lab_wait_gone PID TENTHS: wait until PID exits (at most TENTHS * 0.1 s)
_lab_wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		_lab_alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

lab_down() {
	local p ns
	if [ -n "${LAB_DIR:-}" ] && [ -f "$LAB_DIR/igdd.pid" ]; then
		p=$(cat "$LAB_DIR/igdd.pid")
		if _lab_alive "$p"; then
			kill -TERM "$p" 2>/dev/null || true
			_lab_wait_gone "$p" 20 || { kill -KILL "$p" 2>/dev/null || true; _lab_wait_gone "$p" 20 || true; }
		fi
		rm -f "$LAB_DIR/igdd.pid"
	fi
	if [ -n "${LAB_DIR:-}" ] && [ -f "$LAB_DIR/pids" ]; then
		while read -r p; do
			[ -z "$p" ] || kill -KILL "$p" 2>/dev/null || true
		done <"$LAB_DIR/pids"
		: >"$LAB_DIR/pids"
	fi
	for ns in wan cpe lan1 lan2; do
		[ -e "/run/netns/${LAB}$ns" ] || continue
		for p in $(ip netns pids "${LAB}$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
		ip netns del "${LAB}$ns" 2>/dev/null || true
	done
	# igdd started outside any service cgroup moves itself into igdd-<table> (the output wall); the
	# cgroup outlives it. rmdir only removes it once empty, so a concurrent run keeps its own.
	for p in /sys/fs/cgroup/igdd-* /sys/fs/cgroup/unified/igdd-*; do
		[ -d "$p" ] && rmdir "$p" 2>/dev/null || true
	done
	if [ "${LAB_DIR_OWNED:-0}" = 1 ] && [ -n "${LAB_DIR:-}" ] && [ -n "${LAB_OUT:-}" ]; then
		mkdir -p "$LAB_OUT" && cp -a "$LAB_DIR/." "$LAB_OUT/" 2>/dev/null || true
	fi
	if [ "${LAB_DIR_OWNED:-0}" = 1 ] && [ -n "${LAB_DIR:-}" ] && [ "${LAB_KEEP:-0}" != 1 ]; then
		rm -rf "$LAB_DIR"
		LAB_DIR=
		LAB_DIR_OWNED=0
	fi
	return 0
}

lab_trap() {
	# shellcheck disable=SC2154 # _lab_rc is assigned inside the trap
	trap '_lab_rc=$?; trap - EXIT INT TERM; lab_down; exit $_lab_rc' EXIT
	trap 'trap - EXIT INT TERM; lab_down; exit 130' INT TERM
}

_lab_seq=0
lab_listen() {
	local ns=$1 proto=$2 port=$3 addr=${4:-} ready i
	_lab_seq=$((_lab_seq + 1))
	ready="$LAB_DIR/ready.$$.$_lab_seq"
	rm -f "$ready"
	if [ -n "$addr" ]; then
		ip netns exec "${LAB}$ns" "$LAB_PY" "$LAB_TOOLS/probe.py" listen "$proto" "$port" "$addr" --ready "$ready" \
			</dev/null >/dev/null 2>>"$LAB_DIR/listen.err" &
	else
		ip netns exec "${LAB}$ns" "$LAB_PY" "$LAB_TOOLS/probe.py" listen "$proto" "$port" --ready "$ready" \
			</dev/null >/dev/null 2>>"$LAB_DIR/listen.err" &
	fi
	local pid=$!
	disown "$pid" 2>/dev/null || true
	echo "$pid" >>"$LAB_DIR/pids"
	for ((i = 0; i < 50; i++)); do
		[ -s "$ready" ] && { rm -f "$ready"; return 0; }
		_lab_alive "$pid" || break
		sleep 0.05
	done
	echo "lab_listen: $ns $proto $port ${addr:-*} did not come up" >&2
	return 1
}

lab_can_connect() {
	local ns=$1 proto=$2 addr=$3 port=$4 t=${5:-1}
	ip netns exec "${LAB}$ns" "$LAB_PY" "$LAB_TOOLS/probe.py" connect "$proto" "$addr" "$port" "$t" </dev/null
}

igdctl_lab() {
	ip netns exec "${LAB}cpe" "$IGDCTL_BIN" -s "$LAB_DIR/igdd.sock" "$@"
}

# lab_igdd_conf [CONFIG LINE...]: writes $LAB_DIR/igdd.conf; our defaults unless a line sets the same key
lab_igdd_conf() {
	local conf="$LAB_DIR/igdd.conf" kv key line skip
	mkdir -p "$LAB_DIR/state"
	{
		echo "# written by tests/lab/lab.sh for lab $LAB"
		for kv in ext_ifname=wan0 lan_ifname=lan0 "state_dir=$LAB_DIR/state" "control_socket=$LAB_DIR/igdd.sock" \
			"nft_table=inet igdd" "user=${LAB_IGDD_USER:-root}" enable_upnp=no enable_pcp=no web_listen=; do
			key=${kv%%=*}
			skip=0
			for line in "$@"; do
				case $line in "$key="*) skip=1 ;; esac
			done
			[ $skip = 1 ] || echo "$kv"
		done
		for line in "$@"; do echo "$line"; done
	} >"$conf"
}

# shellcheck disable=SC2120 # config lines are optional
lab_igdd_start() {
	local i pid
	[ -x "$IGDD_BIN" ] || { echo "lab_igdd_start: $IGDD_BIN not built" >&2; return 1; }
	lab_igdd_conf "$@"
	echo "=== $(date +%T.%N | cut -c1-12) igdd start" >>"$LAB_DIR/igdd.log"
	ip netns exec "${LAB}cpe" "$IGDD_BIN" -d -f "$LAB_DIR/igdd.conf" </dev/null >>"$LAB_DIR/igdd.log" 2>&1 &
	pid=$!
	disown "$pid" 2>/dev/null || true
	echo "$pid" >"$LAB_DIR/igdd.pid"
	for ((i = 0; i < 200; i++)); do
		if ! _lab_alive "$pid"; then
			echo "lab_igdd_start: igdd exited; log tail:" >&2
			tail -n 20 "$LAB_DIR/igdd.log" >&2
			return 1
		fi
		if [ -S "$LAB_DIR/igdd.sock" ] && igdctl_lab status >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "lab_igdd_start: igdd did not answer within 10 s; log tail:" >&2
	tail -n 20 "$LAB_DIR/igdd.log" >&2
	return 1
}

lab_igdd_pid() { cat "$LAB_DIR/igdd.pid" 2>/dev/null; }

lab_igdd_stop() {
	local pid
	pid=$(lab_igdd_pid) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	if ! _lab_wait_gone "$pid" 50; then
		echo "lab_igdd_stop: igdd ignored SIGTERM for 5 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
		_lab_wait_gone "$pid" 20 || true
		rm -f "$LAB_DIR/igdd.pid"
		return 1
	fi
	rm -f "$LAB_DIR/igdd.pid"
}

lab_igdd_kill9() {
	local pid
	pid=$(lab_igdd_pid) || return 0
	kill -KILL "$pid" 2>/dev/null || true
	_lab_wait_gone "$pid" 30 || true
	rm -f "$LAB_DIR/igdd.pid"
}

# lab_nft_count elems|rules|sets NFT-ARGS...: counts in `nft -j NFT-ARGS` run in cpe (prints -1 if nft fails)
lab_nft_count() {
	local what=$1 j
	shift
	j=$(ip netns exec "${LAB}cpe" nft -j "$@" 2>/dev/null) || { echo -1; return 1; }
	printf '%s' "$j" | "$LAB_PY" "$LAB_TOOLS/nftcount.py" "$what"
}

# lab_ctlbulk ARGS...: tests/lab/ctlbulk.py on this lab's control socket
lab_ctlbulk() {
	"$LAB_PY" "$LAB_TOOLS/ctlbulk.py" "$LAB_DIR/igdd.sock" "$@"
}
