#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcpd on a CGN with its subscribers routed, as carriers have them: two homes behind one aggregation
# router (a BNG: sub1 here) reach the CGN from the router's MAC, and nobody on the CGN's link answers
# ARP for their addresses. Each home is still its own subscriber: its MAP succeeds (pcpd once asked the
# link who holds the address and, hearing nothing, refused NOT_AUTHORIZED), its quota is its own (all
# homes behind one router are one MAC, which the device table would have made one "device" sharing
# one quota), and the wan host reaches it through its mapping.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cgn_lib.sh
. "$HERE/cgn_lib.sh"
CGN_NS="$CGN_NS home1 home2"
map() { # NS PROTO PORT: one MAP from a home, prints pcpc's line
	cgn_exec "$1" "$CGN_PY" "$CGN_TOOLS/pcpc.py" -s 100.64.0.1 map --proto "$2" --port "$3" --lifetime 600 </dev/null
}

[ "$(id -u)" = 0 ] || { echo "t_cgn_routed: skipped (needs root)"; exit 77; }
cgn_trap
cgn_up || fail "cgn lab up"
# sub1 is the homes' router: 100.64.0.2 on the CGN's link, 100.64.1.1/24 toward the homes
cgn_exec sub1 sysctl -qw net.ipv4.ip_forward=1
cgn_exec sub1 ip link add acc type bridge
cgn_exec sub1 ip addr add 100.64.1.1/24 dev acc
cgn_exec sub1 ip link set acc up
for i in 1 2; do
	ip link add "h$i" netns "${CGN_LAB}sub1" type veth peer name eth0 netns "${CGN_LAB}home$i" || fail "veth"
	cgn_exec sub1 ip link set "h$i" master acc up
	cgn_exec "home$i" ip addr add "100.64.1.$((i + 1))/24" dev eth0
	cgn_exec "home$i" ip link set eth0 up
	cgn_exec "home$i" ip route add default via 100.64.1.1
done
cgn_exec cgn ip route add 100.64.1.0/24 via 100.64.0.2
# the routed homes are the subscribers: blocks of 4 ports, 2 mappings each at most
cgn_pcpd_conf cgn_subscribers=100.64.1.0/24 max_rules_per_client=2
cgn_pcpd_start || fail "pcpd start"
step "lab $CGN_LAB up: home1 100.64.1.2 and home2 100.64.1.3 behind router sub1"

step "each home maps its own ports"
L=$(map home1 tcp 8080)
[ "$(field "$L" result)" = SUCCESS ] || fail "home1 MAP tcp 8080: $L"
EXT1=$(field "$L" ext_addr):$(field "$L" ext_port)
ok "home1 tcp 8080 -> $EXT1"
L=$(map home1 udp 9000)
[ "$(field "$L" result)" = SUCCESS ] || fail "home1 MAP udp 9000: $L"
L=$(map home1 udp 9001)
[ "$(field "$L" result)" = USER_EX_QUOTA ] || fail "home1's third mapping: $L (want USER_EX_QUOTA, its quota is 2)"
ok "home1's third mapping is beyond its own quota: USER_EX_QUOTA"
L=$(map home2 tcp 8080)
[ "$(field "$L" result)" = SUCCESS ] || fail "home2 MAP tcp 8080 (its quota is its own, not its router's): $L"
EXT2=$(field "$L" ext_addr):$(field "$L" ext_port)
L=$(map home2 udp 9000)
[ "$(field "$L" result)" = SUCCESS ] || fail "home2 MAP udp 9000: $L"
[ "$EXT1" != "$EXT2" ] || fail "both homes got $EXT1"
ok "home2 tcp 8080 -> $EXT2, and a second mapping: quotas per subscriber behind one router MAC"

step "the wan host reaches each home through its mapping"
cgn_echo home1 tcp 8080 || fail "echo server in home1"
cgn_echo home2 tcp 8080 || fail "echo server in home2"
cgn_connect wan tcp "${EXT1%:*}" "${EXT1##*:}" 2 || fail "wan -> $EXT1 does not reach home1"
cgn_connect wan tcp "${EXT2%:*}" "${EXT2##*:}" 2 || fail "wan -> $EXT2 does not reach home2"
ok "wan reaches home1 at $EXT1 and home2 at $EXT2"
it_done
