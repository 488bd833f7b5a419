# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcpd in a lab (sourced by cgn_lib.sh, iwf_lib.sh, t_failover.sh): its configuration, start and kill.
# Everything of one pcpd lives in one directory DIR: pcpd.conf, pcpd.log, pcpd.pid, pcpd.sock.
PCPD_BIN=${IGDD_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/pcpd/pcpd
# shellcheck source-path=SCRIPTDIR source=../lab/proc.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lab" && pwd)/proc.sh"

# pcpd_conf KEY=VALUE...: a lab pcpd's configuration on stdout: what every lab shares (WAN on wan0, CGN
# subscribers 100.64.0.0/24, run as root, no UPnP, no web UI, no rate limit), then the KEY=VALUE given;
# a key given again replaces the earlier value in place (pcpd refuses a key given twice).
pcpd_conf() {
	local kv k keys=()
	local -A value=()
	for kv in ext_ifname=wan0 "nft_table=inet pcpd" user=root enable_upnp=no web_listen= pcp_rate_limit=0 \
		cgn_subscribers=100.64.0.0/24 "$@"; do
		k=${kv%%=*}
		[ -n "${value[$k]+set}" ] || keys+=("$k")
		value[$k]=${kv#*=}
	done
	for k in "${keys[@]}"; do echo "$k=${value[$k]}"; done
}

# pcpd_start NETNS DIR: starts pcpd with DIR/pcpd.conf in namespace NETNS; 0 once it says it is ready
# (its table is in the kernel and it listens; no `nft list`, which takes minutes at a million
# mappings). PCPD_START_TRIES: 50 ms each (default 200).
pcpd_start() {
	local ns=$1 dir=$2 i pid ready0
	[ -x "$PCPD_BIN" ] || { echo "pcpd_start: $PCPD_BIN not built" >&2; return 1; }
	echo "=== $(date +%T) pcpd start" >>"$dir/pcpd.log"
	ready0=$(grep -c '^pcpd: ready' "$dir/pcpd.log" || true)
	# ip netns exec execs pcpd: $! is pcpd itself (a shell function here would put a subshell between)
	ip netns exec "$ns" "$PCPD_BIN" -d -f "$dir/pcpd.conf" </dev/null >>"$dir/pcpd.log" 2>&1 &
	pid=$!
	disown "$pid" 2>/dev/null || true
	echo "$pid" >"$dir/pcpd.pid"
	for ((i = 0; i < ${PCPD_START_TRIES:-200}; i++)); do
		kill -0 "$pid" 2>/dev/null || { tail -n 20 "$dir/pcpd.log" >&2; return 1; }
		if [ -S "$dir/pcpd.sock" ] && [ "$(grep -c '^pcpd: ready' "$dir/pcpd.log" || true)" -gt "$ready0" ]; then
			return 0
		fi
		sleep 0.05
	done
	echo "pcpd_start: pcpd in $ns not ready within $((${PCPD_START_TRIES:-200} / 20)) s" >&2
	tail -n 20 "$dir/pcpd.log" >&2
	return 1
}

# pcpd_kill9 DIR: SIGKILL, waits (≤ 3 s) until it is gone
pcpd_kill9() {
	local pid
	pid=$(cat "$1/pcpd.pid" 2>/dev/null) || return 0
	kill -KILL "$pid" 2>/dev/null || true
	_lab_wait_gone "$pid" 30 || true
	rm -f "$1/pcpd.pid" "$1/pcpd.sock"
}
