#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The LAN interface goes down and up (and, harder, is deleted and created again with a new ifindex, as a
# network manager restart does): igdd keeps running, keeps its rules in the table and in the kernel, and
# answers PCP over IPv4 and IPv6 again once the interface is back (re-adding the IPv6 address, which the
# kernel drops on link down, is the network manager's job, done here by hand); traffic passes again once
# the router's link-local address has finished its DAD (the kernel resolves no LAN neighbour before).
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
it_setup

lab_listen lan1 tcp 8080
lab_listen lan1 udp 9000
lab_igdd_start enable_pcp=yes || fail "igdd did not start"
pid=$(lab_igdd_pid)
igdctl_add pinhole "$LAN1_EUI64" tcp 8080 >/dev/null
expect_result lan1 SUCCESS "PCP MAP (IPv4) before" map --proto udp --port 9000 --sugg-port 19000
eport=$(field "$PCP_LINE" ext_port)
expect_result lan1 SUCCESS "PCP MAP (IPv6) before" -s "$CPE_LAN6" map --proto udp --port 9001
n0=$(igdctl_lab --json list | fault_json 'len(j["rules"])')

lan_back() {
	lab_exec cpe ip addr replace "$CPE_LAN6/64" dev lan0 nodad
}
# one nonce for these probes: a repeated MAP with the same nonce is a refresh (another nonce is taken over as the host's own)
NONCE=0123456789abcdef01234567
pcp_answers() {
	local l4 l6
	l4=$(pcpc lan1 --timeout 0.3 --tries 1 map --nonce $NONCE --proto udp --port 9010 --lifetime 120) || return 1
	l6=$(pcpc lan1 --timeout 0.3 --tries 1 -s "$CPE_LAN6" map --nonce $NONCE --proto udp --port 9011 \
		--lifetime 120) || return 1
	[ "$(field "$l4" result)" = SUCCESS ] && [ "$(field "$l6" result)" = SUCCESS ]
}
# check WHAT: igdd alive, rules intact, PCP answers (v4 and v6) within 3 s, traffic passes
check() {
	_lab_alive "$pid" || fail "$1: igdd died"
	ok "$1: igdd still running (pid $pid)"
	wait_until 3 pcp_answers || fail "$1: PCP does not answer (v4 and v6) 3 s after the LAN came back"
	ok "$1: PCP answers over IPv4 and IPv6 again ($WAITED s)"
	n=$(igdctl_lab --json list | fault_json 'len(j["rules"])')
	[ "$n" -ge "$n0" ] || fail "$1: $n rules listed, $n0 before"
	msg=$(fault_consistent "$1") || fail "$msg"
	ok "$msg"
	# Once the link is up again the router's own link-local address is tentative until its DAD ends (1-2 s):
	# meanwhile the kernel sends no neighbour solicitation for a forwarded packet (it has no source for
	# one), so the first connection to a LAN host waits for that, as it would on a real router.
	wait_until 6 lab_can_connect wan tcp "$LAN1_EUI64" 8080 1 ||
		fail "$1: the pinhole passes no traffic 6 s after the LAN came back"
	ok "$1: pinhole passes traffic ($WAITED s after PCP answered)"
	expect_connect wan udp "$CPE_WAN4" "$eport" "$1: PCP port mapping passes traffic" 2
	expect_no_connect wan tcp "$LAN2_STABLE" 8080 "$1: default deny holds"
}

step "lan0 down for 2 s, PCP asked meanwhile, then up"
lab_exec cpe ip link set lan0 down
l=$(pcpc lan1 --timeout 0.3 --tries 2 map --proto udp --port 9020) || true
ok "PCP while lan0 is down: $(field "$l" result)"
sleep 1.5
_lab_alive "$pid" || fail "igdd died while lan0 was down"
lab_exec cpe ip link set lan0 up
lan_back
check "down/up"

step "lan0 flapping 5 times in 2.5 s"
for i in 1 2 3 4 5; do
	lab_exec cpe ip link set lan0 down
	sleep 0.25
	lab_exec cpe ip link set lan0 up
	sleep 0.25
done
lan_back
check "flapping"

step "lan0 deleted and created again (new ifindex)"
old_idx=$(lab_exec cpe cat /sys/class/net/lan0/ifindex)
lab_exec cpe ip link del lan0
sleep 0.5
_lab_alive "$pid" || fail "igdd died when lan0 was deleted"
lab_exec cpe ip -batch - <<-EOF || fail "re-creating lan0"
	link add lan0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0
	link set lan1 master lan0
	link set lan2 master lan0
	link set lan0 up
	addr add $CPE_LAN4/24 dev lan0
	addr add $CPE_LAN6/64 dev lan0 nodad
EOF
new_idx=$(lab_exec cpe cat /sys/class/net/lan0/ifindex)
[ "$old_idx" != "$new_idx" ] || fail "lan0 kept its ifindex"
ok "lan0 is back with ifindex $new_idx (was $old_idx)"
check "re-created"
grep -qiE 'fatal|assert' "$LAB_DIR/igdd.log" && fail "igdd logged a fatal error"
ok "no fatal line in the log"
it_done
