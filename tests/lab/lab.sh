# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The igdd lab: four network namespaces on the real kernel, sourced by the integration tests,
# the demo and the benchmarks (bash). The LAN hosts configure themselves as real ones do: the cpe runs
# radvd (Debian's) announcing the LAN /64, the hosts form their addresses by SLAAC with Duplicate
# Address Detection, and nothing is added by hand or pinged to prime the router's caches.
#
#      ${LAB}wan                 ${LAB}cpe (runs igdd, radvd)         ${LAB}lan1 / ${LAB}lan2
#   eth0 203.0.113.2    ---  wan0 203.0.113.1             lan0 (bridge) --- eth0 192.0.2.11 / .12
#        2001:db8:ffff::2         2001:db8:ffff::1          192.0.2.1        SLAAC in 2001:db8:1:1::/64:
#                                 (delegated 2001:db8:1::/56) 2001:db8:1:1::1
#   lan1: an EUI-64 host (addr_gen_mode 0, like older Android or a server) with a temporary address
#         (use_tempaddr 2, the default source, RFC 6724 rule 7): LAN1_EUI64, LAN1_TMP
#   lan2: a stable-privacy host (RFC 7217, addr_gen_mode 2 with a per-run stable_secret, as Windows,
#         macOS and NetworkManager do) with a temporary address: LAN2_STABLE (its stable address, which
#         never sends a packet of its own), LAN2_TMP
#
# IPv4 from the LAN is masqueraded on wan0 (table ip labnat, the lab's own; table inet igdd is igdd's).
# wan has no route to 192.0.2.0/24: only igdd's port mappings reach the LAN over IPv4.
#
#   LAB=xy lab_up / lab_down / lab_trap        build / remove (idempotent) / remove on EXIT INT TERM
#   LAB_LAN_DOWN=1 lab_up                      the same, but the LAN stays unplugged (bridge without
#                                              carrier, hosts down) until lab_lan_up
#   lab_lan_up                                 plugs the hosts in; they configure themselves (SLAAC)
#   lab_renumber NET                           radvd announces NET:1::/64 (NET e.g. 2001:db8:2) and the
#                                              old prefix with preferred lifetime 0; the cpe numbers lan0
#                                              from it (and keeps the old address deprecated)
#   lab_host_addr H stable|temporary [NET]     a host's address of that kind (in NET:1::/64)
#   lab_background H                           the host talks now and then from its default source (a
#                                              ping to the wan every 0.5 s), as a desktop does
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
# shellcheck source-path=SCRIPTDIR source=proc.sh
. "$LAB_TOOLS/proc.sh"

# Addresses (documentation and unique-local ranges only).
export WAN_V4=203.0.113.2 WAN_V6=2001:db8:ffff::2
export CPE_WAN4=203.0.113.1 CPE_WAN6=2001:db8:ffff::1
export CPE_LAN4=192.0.2.1 CPE_LAN6=2001:db8:1:1::1
export DELEGATED6=2001:db8:1::/56 LAN_NET6=2001:db8:1 LAN_PREFIX6=2001:db8:1:1::/64 LAN_PREFIX4=192.0.2.0/24
export LAN1_MAC=52:54:00:12:34:01 LAN1_V4=192.0.2.11
export LAN1_EUI64=2001:db8:1:1:5054:ff:fe12:3401 LAN1_LL=fe80::5054:ff:fe12:3401
export LAN2_MAC=52:54:00:12:34:02 LAN2_V4=192.0.2.12
# read from the hosts once SLAAC is done (lab_up): LAN1_TMP LAN2_STABLE LAN2_TMP LAN2_LL

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

# _lab_radvd_conf NET [OLDNET...]: radvd announces NET:1::/64, and each OLDNET:1::/64 as going away
# (preferred lifetime 0), as RFC 7084 / RFC 9096 routers do when the delegated prefix changes
_lab_radvd_conf() {
	local net=$1 old
	shift
	{
		echo "interface lan0 {"
		echo "	AdvSendAdvert on;"
		echo "	MinRtrAdvInterval 3;"
		echo "	MaxRtrAdvInterval 10;"
		echo "	prefix $net:1::/64 { AdvOnLink on; AdvAutonomous on; AdvValidLifetime 7200; AdvPreferredLifetime 3600; };"
		for old in "$@"; do
			echo "	prefix $old:1::/64 { AdvOnLink on; AdvAutonomous on; AdvValidLifetime 7200; AdvPreferredLifetime 0; };"
		done
		echo "};"
	} >"$LAB_DIR/radvd.conf"
}

_lab_start_radvd() {
	ip netns exec "${LAB}cpe" radvd -n -C "$LAB_DIR/radvd.conf" -p "$LAB_DIR/radvd.pid" -m logfile \
		-l "$LAB_DIR/radvd.log" </dev/null >/dev/null 2>&1 &
	local pid=$!
	disown "$pid" 2>/dev/null || true
	echo "$pid" >>"$LAB_DIR/pids"
}

# _lab_host_setup H: sysctls of a LAN host, before its link comes up (as an OS sets them at boot)
_lab_host_setup() {
	local ns="${LAB}lan$1" conf=net.ipv6.conf
	ip netns exec "$ns" sysctl -qw $conf.all.accept_ra=1 $conf.default.accept_ra=1 $conf.eth0.accept_ra=1 \
		$conf.eth0.use_tempaddr=2 net.ipv4.conf.all.rp_filter=0 >/dev/null || return 1
	if [ "$1" = 2 ]; then
		# RFC 7217: a secret of this host's own (per run), then stable-privacy generation
		ip netns exec "$ns" sysctl -qw \
			"$conf.eth0.stable_secret=$(_lab_rand_iid):$(_lab_rand_iid)" $conf.eth0.addr_gen_mode=2 >/dev/null ||
			return 1
	fi
}

# lab_host_addr H stable|temporary|link [NET]: the address of that kind the host holds now (not
# tentative), in NET:1::/64 (default: the lab's first prefix); empty if none
lab_host_addr() {
	local h=$1 kind=$2 net=${3:-$LAN_NET6} want
	case $kind in
	temporary) want='temporary' ;;
	stable) want='mngtmpaddr' ;;
	link) want='scope link' ;;
	esac
	ip -n "${LAB}lan$h" -6 -o addr show dev eth0 2>/dev/null |
		awk -v w="$want" -v net="$net:1:" -v k="$kind" '
			/tentative|dadfailed/ { next }
			index($0, w) == 0 { next }
			{ split($4, a, "/"); if (k == "link" || index(a[1], net) == 1) { print a[1]; exit } }'
}

# _lab_settled NS [DEV]: no address of NS (on DEV) is still in DAD
_lab_settled() {
	! ip -n "${LAB}$1" -6 -o addr show ${2:+dev "$2"} 2>/dev/null | grep -q tentative
}

# _lab_wait_addrs WHAT...: waits (bounded: 20 s) until each WHAT holds: "NS" or "NS/DEV" settled, or
# "hosts": both hosts have their stable and temporary addresses, out of DAD
_lab_wait_addrs() {
	local i w ok
	for ((i = 0; i < 200; i++)); do
		ok=1
		for w in "$@"; do
			case $w in
			hosts)
				[ -n "$(lab_host_addr 1 temporary)" ] && [ -n "$(lab_host_addr 1 stable)" ] &&
					[ -n "$(lab_host_addr 2 temporary)" ] && [ -n "$(lab_host_addr 2 stable)" ] &&
					_lab_settled lan1 && _lab_settled lan2 || ok=0 ;;
			*/*) _lab_settled "${w%/*}" "${w#*/}" || ok=0 ;;
			*) _lab_settled "$w" || ok=0 ;;
			esac
		done
		[ $ok = 1 ] && return 0
		sleep 0.1
	done
	echo "lab: addresses not configured within 20 s ($*):" >&2
	for w in cpe lan1 lan2; do ip -n "${LAB}$w" -6 -o addr show >&2; done
	return 1
}

# _lab_read_hosts: the hosts' own addresses, as SLAAC made them
_lab_read_hosts() {
	LAN1_TMP=$(lab_host_addr 1 temporary)
	LAN2_STABLE=$(lab_host_addr 2 stable)
	LAN2_TMP=$(lab_host_addr 2 temporary)
	LAN2_LL=$(lab_host_addr 2 link)
	export LAN1_TMP LAN2_STABLE LAN2_TMP LAN2_LL
	printf 'LAB=%s\nLAN1_TMP=%s\nLAN2_STABLE=%s\nLAN2_TMP=%s\nLAN2_LL=%s\n' "$LAB" "$LAN1_TMP" "$LAN2_STABLE" \
		"$LAN2_TMP" "$LAN2_LL" >"$LAB_DIR/lab.env"
	[ -n "$LAN1_TMP" ] && [ -n "$LAN2_STABLE" ] && [ -n "$LAN2_TMP" ]
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
	LAB_NET6=$LAN_NET6
	export LAB_NET6

	for ns in wan cpe lan1 lan2; do
		ip netns add "${LAB}$ns" || { lab_down; return 1; }
		# nobody takes router advertisements unless told below (the hosts are)
		ip netns exec "${LAB}$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
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
	for h in 1 2; do _lab_host_setup $h || { lab_down; return 1; }; done

	ip -n "${LAB}wan" -batch - <<-EOF || { lab_down; return 1; }
		link set lo up
		link set eth0 up
		addr add $WAN_V4/24 dev eth0
		addr add $WAN_V6/64 dev eth0
		route add $DELEGATED6 via $CPE_WAN6
	EOF
	ip -n "${LAB}cpe" -batch - <<-EOF || { lab_down; return 1; }
		link set lo up
		link add lan0 type bridge forward_delay 0 stp_state 0
		link set lan1 master lan0
		link set lan2 master lan0
		link set lan1 up
		link set lan2 up
		link set lan0 up
		link set wan0 up
		addr add $CPE_WAN4/24 dev wan0
		addr add $CPE_WAN6/64 dev wan0
		addr add $CPE_LAN4/24 dev lan0
		addr add $CPE_LAN6/64 dev lan0
		route add unreachable $DELEGATED6
	EOF
	ip netns exec "${LAB}cpe" nft -f - <<-EOF || { lab_down; return 1; }
		table ip labnat {
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				oifname "wan0" masquerade
			}
		}
	EOF
	if [ "${LAB_LAN_DOWN:-0}" = 1 ]; then
		# the router boots before anyone is plugged in: lan0 has no carrier, its addresses wait in DAD
		_lab_wait_addrs wan cpe/wan0 || { lab_down; return 1; }
		_lab_radvd_conf "$LAN_NET6"
		_lab_start_radvd
		return 0
	fi
	# the hosts are plugged in but still booting (no IPv6 yet): the router's LAN has carrier and its
	# own addresses finish DAD before radvd announces and the hosts configure themselves
	for h in 1 2; do
		ip netns exec "${LAB}lan$h" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1 >/dev/null &&
			ip -n "${LAB}lan$h" link set eth0 up || { lab_down; return 1; }
	done
	_lab_wait_addrs wan cpe || { lab_down; return 1; }
	_lab_radvd_conf "$LAN_NET6"
	_lab_start_radvd
	lab_lan_up || { lab_down; return 1; }
	return 0
}

# lab_lan_up: the hosts are plugged in (or finish booting) and configure themselves (SLAAC with DAD:
# a few seconds)
lab_lan_up() {
	local h
	for h in 1 2; do
		ip netns exec "${LAB}lan$h" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 >/dev/null || return 1
		ip -n "${LAB}lan$h" -batch - <<-EOF || return 1
			link set lo up
			link set eth0 up
			addr add $(eval "echo \$LAN${h}_V4")/24 dev eth0
			route add default via $CPE_LAN4
		EOF
	done
	_lab_wait_addrs hosts || return 1
	_lab_read_hosts || { echo "lab: the hosts lack an address" >&2; return 1; }
}

# lab_renumber NET: the delegated prefix becomes NET::/56 (e.g. 2001:db8:2): the cpe routes it and
# numbers lan0 from it, radvd announces NET:1::/64 and the current prefix deprecated; the hosts form
# new addresses by themselves. Returns once radvd announced (not waiting for the hosts).
lab_renumber() {
	local net=$1 old=$LAB_NET6
	ip -n "${LAB}cpe" -6 route add unreachable "$net::/56" 2>/dev/null || true
	ip -n "${LAB}wan" -6 route add "$net::/56" via "$CPE_WAN6" 2>/dev/null || true
	ip -n "${LAB}cpe" -6 addr add "$net:1::1/64" dev lan0 || return 1
	ip -n "${LAB}cpe" -6 addr change "$old:1::1/64" dev lan0 preferred_lft 0 || return 1
	_lab_radvd_conf "$net" "$old"
	LAB_NET6=$net
	export LAB_NET6
	kill -HUP "$(cat "$LAB_DIR/radvd.pid")" || return 1
}

# lab_background H: the host talks from its default source now and then (a ping to the wan every
# 0.5 s), as a desktop's background traffic does; stopped with the lab
lab_background() {
	ip netns exec "${LAB}lan$1" ping -6 -q -i 0.5 "$WAN_V6" </dev/null >/dev/null 2>&1 &
	local pid=$!
	disown "$pid" 2>/dev/null || true
	echo "$pid" >>"$LAB_DIR/pids"
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

# lab_stamp FILE: appends its input to FILE line by line, each line led by the time since the test began
# ([  12.34], the clock of the test's own lines; since the epoch outside a test), so that a daemon's
# log reads against the test's steps when a run on another machine fails
lab_stamp() {
	local line now t0=${IT_T0:-0} d
	t0=${t0//[.,]/}
	t0=${t0:0:16}   # IT_T0 is date +%s.%N: to microseconds, as EPOCHREALTIME
	[ "$t0" != 0 ] || t0=0000000000000000
	while IFS= read -r line || [ -n "$line" ]; do
		now=${EPOCHREALTIME//[.,]/}
		d=$((10#$now - 10#$t0))
		printf '[%3d.%02d] %s\n' $((d / 1000000)) $((d % 1000000 / 10000)) "$line"
	done >>"$1"
}

# shellcheck disable=SC2120 # config lines are optional
lab_igdd_start() {
	local i pid
	[ -x "$IGDD_BIN" ] || { echo "lab_igdd_start: $IGDD_BIN not built" >&2; return 1; }
	lab_igdd_conf "$@"
	echo "=== $(date +%T.%N | cut -c1-12) igdd start" >>"$LAB_DIR/igdd.log"
	ip netns exec "${LAB}cpe" "$IGDD_BIN" -d -f "$LAB_DIR/igdd.conf" </dev/null > >(lab_stamp "$LAB_DIR/igdd.log") 2>&1 &
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
