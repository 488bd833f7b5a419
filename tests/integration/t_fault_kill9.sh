#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kill -9 during a burst of 1,000 requests (control socket adds and deletes, PCP MAPs): after the restart
# every acknowledged request holds (adds listed, deletes gone) and nothing is half-installed (each listed
# rule has its kernel element, each element of ours belongs to a listed rule). Two rounds, killed at
# different points, then three kills while igdd is still restoring; the table keeps passing traffic.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
it_setup

CONF=(enable_pcp=yes pcp_rate_limit=0 max_rules_per_client=4000 max_rules=20000)
lab_igdd_start "${CONF[@]}" || fail "igdd did not start"

acked_lines() { grep -cv '^sent ' "$1" 2>/dev/null || true; }

# round N KILL_AFTER CTL_PORT0 PCP_PORT0
round() {
	local n=$1 kill_after=$2 cport=$3 pport=$4 out="$LAB_DIR/burst$1.log" pre ids bpid i acked sent
	step "round $n: 100 pinholes to delete, then a burst of 1,000 requests, kill -9 after ~$kill_after answers"
	pre=$(lab_ctlbulk add-pinholes "$LAN1_EUI64" udp $((cport + 5000)) 100) || fail "pre-adding 100 pinholes"
	ok "$pre"
	ids=$(igdctl_lab --json list | fault_json "' '.join(str(r['id']) for r in j['rules'] if r['proto'] == 'udp' and $((cport + 5000)) <= r['port'] < $((cport + 5100)))")
	[ "$(echo "$ids" | wc -w)" = 100 ] || fail "expected 100 ids to delete, got $(echo "$ids" | wc -w)"
	: >"$out"
	fault_burst lan1 "$out" --ctl 450 --pcp 450 --del-ids "$ids" --ctl-port0 "$cport" --pcp-port0 "$pport" \
		--until-dead --seconds 40 >"$LAB_DIR/burst$n.summary" 2>&1 &
	bpid=$!
	for ((i = 0; i < 400; i++)); do
		[ "$(acked_lines "$out")" -ge "$kill_after" ] && break
		_lab_alive "$bpid" || break
		sleep 0.05
	done
	_lab_alive "$bpid" || fail "round $n: the burst ended before the kill ($(cat "$LAB_DIR/burst$n.summary"))"
	lab_igdd_kill9
	acked=$(acked_lines "$out")
	ok "round $n: igdd killed with SIGKILL after $acked acknowledged requests"
	for ((i = 0; i < 100; i++)); do
		_lab_alive "$bpid" || break
		sleep 0.1
	done
	if _lab_alive "$bpid"; then
		kill "$bpid" 2>/dev/null || true
		fail "round $n: burst client did not notice the dead daemon"
	fi
	wait "$bpid" || true
	acked=$(acked_lines "$out")
	sent=$(grep -c '^sent ' "$out" || true)
	ok "round $n: $(cat "$LAB_DIR/burst$n.summary"); $sent sent, $acked acknowledged, $((sent - acked)) unanswered"
	[ "$acked" -lt 1000 ] || fail "round $n: every request was answered: the kill came too late"

	lab_igdd_start "${CONF[@]}" || fail "round $n: igdd did not restart"
	msg=$(fault_acked_present "$out") || fail "round $n: $msg"
	ok "round $n: $msg"
	msg=$(fault_consistent "round $n after restart") || fail "$msg"
	ok "$msg"
}

round 1 300 30000 20000
# the second kill comes early in the burst, right after a restart that replayed a journal
round 2 60 31000 21000

step "kill -9 while igdd starts (restoring ~400 rules), three times"
lab_igdd_stop || fail "igdd did not stop"
for t in 0.02 0.06 0.12; do
	echo "=== $(date +%T.%N | cut -c1-12) igdd start, killed after $t s" >>"$LAB_DIR/igdd.log"
	ip netns exec "${LAB}cpe" "$IGDD_BIN" -d -f "$LAB_DIR/igdd.conf" </dev/null >>"$LAB_DIR/igdd.log" 2>&1 &
	p=$!
	sleep "$t"
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
done
lab_igdd_start "${CONF[@]}" || fail "igdd did not start after the killed starts"
for n in 1 2; do
	msg=$(fault_acked_present "$LAB_DIR/burst$n.log") || fail "after the killed starts: round $n: $msg"
done
ok "after the killed starts: every request of both bursts still as acknowledged"
msg=$(fault_consistent "after the killed starts") || fail "$msg"
ok "$msg"

step "the table still works"
port=$(awk '$1 == "ctl-add" { print $3; exit }' "$LAB_DIR/burst2.log")
[ -n "$port" ] || port=$(awk '$1 == "ctl-add" { print $3; exit }' "$LAB_DIR/burst1.log")
lab_listen lan2 tcp "$port"
expect_connect wan tcp "$LAN2_STABLE" "$port" "acknowledged control-socket pinhole passes traffic"
read -r _ _ iport eport < <(awk '$1 == "pcp-add" { print; exit }' "$LAB_DIR/burst1.log")
lab_listen lan1 udp "$iport"
expect_connect wan udp "$CPE_WAN4" "$eport" "acknowledged PCP mapping passes traffic"
expect_no_connect wan tcp "$LAN2_STABLE" 29999 "default deny holds"
out=$(pcpc lan1 map --proto udp --port 22000 --lifetime 600) || true
expect_eq "$(field "$out" result)" SUCCESS "PCP answers after two crashes"
msg=$(fault_consistent "final") || fail "$msg"
ok "$msg"
it_done
