#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `nft flush ruleset` (what a careless firewall reload does) three times while requests arrive for 5 s over the
# control socket and PCP: each time our table is back within 1 s, during the load; afterwards every acknowledged
# request is installed, nothing else is, and the rules pass traffic while the default deny holds.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
it_setup

lab_listen lan1 tcp 8080
lab_igdd_start enable_pcp=yes pcp_rate_limit=0 max_rules_per_client=20000 max_rules=20000 || fail "igdd did not start"
igdctl_add pinhole "$LAN1_EUI64" tcp 8080 >/dev/null
expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole open before the flushes"
# the terse listing (no elements) is cheap enough to poll while thousands of elements come and go
terse() { lab_exec cpe nft -t list table inet igdd 2>/dev/null | sed -E 's/packets [0-9]+ bytes [0-9]+//'; }
terse >"$LAB_DIR/table0.txt"
ok "our table: $(grep -cE '^\s+(set|map) ' "$LAB_DIR/table0.txt") sets and maps, $(wc -l <"$LAB_DIR/table0.txt") lines"

table_whole() {
	terse | cmp -s - "$LAB_DIR/table0.txt" &&
		lab_exec cpe nft get element inet igdd ph_port "{ $LAN1_EUI64 . tcp . 8080 }" >/dev/null 2>&1
}

# While thousands of commits a second go in, `nft list` dumps keep being interrupted and restarted (the
# ruleset generation moves), so the restore is timed from `nft monitor` events, stamped as they arrive.
lab_exec cpe nft monitor new tables 2>/dev/null </dev/null |
	"$LAB_PY" -u -c 'import sys, time
for line in sys.stdin:
    print("%.3f %s" % (time.time(), line.strip()), flush=True)' >"$LAB_DIR/monitor.log" &
sleep 0.3
# restored_after T: the monitor saw our table created after T; sets DELAY
restored_after() {
	local t
	t=$(awk -v t0="$1" '$1 > t0 && /table inet igdd/ { print $1; exit }' "$LAB_DIR/monitor.log")
	[ -n "$t" ] || return 1
	DELAY=$(awk -v a="$1" -v b="$t" 'BEGIN { printf "%.3f", b - a }')
}

out="$LAB_DIR/burst.log"
: >"$out"
step "load: control-socket pinholes and PCP MAPs for 5 s; nft flush ruleset three times meanwhile"
fault_burst lan1 "$out" --ctl 5000 --pcp 5000 --seconds 5 >"$LAB_DIR/burst.summary" 2>&1 &
bpid=$!
for k in 1 2 3; do
	sleep 0.5
	_lab_alive "$bpid" || fail "the load ended before flush $k; make it longer"
	n=$(grep -cv '^sent ' "$out" || true)
	t_flush=$(date +%s.%N)
	lab_exec cpe nft flush ruleset || fail "nft flush ruleset"
	wait_until 3 restored_after "$t_flush" || fail "flush $k: our table was not re-created within 3 s"
	awk -v d="$DELAY" 'BEGIN { exit !(d <= 1.0) }' || fail "flush $k: table re-created only after $DELAY s"
	_lab_alive "$bpid" || fail "flush $k: the load ended before the table was back; make it longer"
	ok "flush $k (after $n answers): table re-created $DELAY s later, during the load"
done
for ((i = 0; i < 400; i++)); do
	_lab_alive "$bpid" || break
	sleep 0.1
done
_lab_alive "$bpid" && { kill "$bpid"; fail "the load did not end within 40 s"; }
wait "$bpid" || true
ok "$(cat "$LAB_DIR/burst.summary")"
refused=$(($(grep -c '^sent ' "$out") - $(grep -cv '^sent ' "$out")))
ok "$refused requests refused or unanswered while the table was being restored"
wait_until 1 table_whole || fail "table not whole 1 s after the load: $(terse | diff - "$LAB_DIR/table0.txt" | head)"
ok "table whole ${WAITED} s after the load ended"
msg=$(fault_acked_present "$out") || fail "$msg"
ok "$msg"
msg=$(fault_consistent "after the flushes") || fail "$msg"
ok "$msg"

step "rules work"
expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole from before the flushes"
port=$(awk '$1 == "ctl-add" { p = $3 } END { print p }' "$out")
lab_listen lan2 tcp "$port"
expect_connect wan tcp "$LAN2_STABLE" "$port" "last acknowledged control-socket pinhole"
read -r _ _ iport eport < <(awk '$1 == "pcp-add" { l = $0 } END { print l }' "$out")
lab_listen lan1 udp "$iport"
expect_connect wan udp "$CPE_WAN4" "$eport" "last acknowledged PCP mapping"
expect_no_connect wan tcp "$LAN2_STABLE" 29999 "default deny holds"
st=$(igdctl_lab --json status) || fail "status"
rec=$(echo "$st" | fault_json 'j["firewall"]["reconciles"]')
[ "$rec" -ge 3 ] || fail "status counts $rec reconciles, want >= 3"
ok "status counts $rec reconciles"
it_done
