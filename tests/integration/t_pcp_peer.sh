#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PCP PEER keeps one outbound flow reachable from its remote peer after conntrack forgot it: lan1 sends
# UDP to wan, asks for a PEER, the cpe's conntrack table is flushed, and then only that peer gets in
# (its address and port, IPv6 and IPv4 through the NAT44 alike). Lifetime 0 closes it
# again, and tshark reads every PEER request and response without a malformed warning.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
command -v conntrack >/dev/null || fail "conntrack(8) missing (make deps installs it)"
it_setup

N1=0102030405060708090a0b0c
N2=ffffffffffffffffffffffff
P6=4000  # lan1's port of the IPv6 flow
Q6=5000  # wan's port of it
P4=4400
Q4=5400
P5=4500  # both LAN hosts' port of one IPv4 flow each to the same peer port
Q5=5500
WAN_V4_OTHER=203.0.113.3
WAN_V6_OTHER=2001:db8:ffff::3

# udp_from NS SRC_ADDR SRC_PORT DST_ADDR DST_PORT [TIMEOUT_S=0.6]: one datagram from SRC_ADDR:SRC_PORT,
# resent every 0.2 s; 0 if DST echoes it within the timeout. With DST_PORT suffixed "!" it only sends
# once and returns 0 (the first packet of an outbound flow).
udp_from() {
	ip netns exec "${LAB}$1" python3 - "$2" "$3" "$4" "$5" "${6:-0.6}" <<'PY'
import socket, sys, time
src, sport, dst, dport, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((src, sport))
s.connect((dst, int(dport.rstrip("!"))))
token = b"peer-probe-%f" % time.time()
if dport.endswith("!"):
    s.send(token)
    sys.exit(0)
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        s.send(token)
    except OSError:
        pass
    s.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
    try:
        if s.recv(2048) == token:
            sys.exit(0)
    except OSError:
        pass
sys.exit(1)
PY
}

# expect_udp NS SRC_ADDR SRC_PORT DST_ADDR DST_PORT yes|no MESSAGE
expect_udp() {
	local got=blocked
	udp_from "$1" "$2" "$3" "$4" "$5" && got=arrives
	if [ "$got" = "$([ "$6" = yes ] && echo arrives || echo blocked)" ]; then
		ok "$7 ($2:$3 -> $4 $5/udp $got)"
	else
		fail "$7 ($2:$3 -> $4 $5/udp $got)"
	fi
}

# map_count MAP: elements in map MAP of table inet igdd
map_count() { lab_nft_count elems list map inet igdd "$1" || true; }

# conntrack_flush: the cpe forgets every flow, as it would an idle one
conntrack_flush() {
	lab_exec cpe conntrack -F >/dev/null 2>&1 || true
	[ "$(lab_exec cpe conntrack -C 2>/dev/null)" = 0 ] || fail "conntrack table not empty after flush"
}

ip netns exec "${LAB}cpe" tshark -q -i lan0 -f "udp port 5351 or udp port 5350" -w "$LAB_DIR/pcp.pcap" \
	</dev/null >/dev/null 2>"$LAB_DIR/tshark.err" &
echo $! >>"$LAB_DIR/pids"
sleep 1
lab_exec wan ip addr add "$WAN_V6_OTHER/64" dev eth0 nodad
lab_exec wan ip addr add "$WAN_V4_OTHER/24" dev eth0
lab_listen lan1 udp $P6
lab_listen lan2 udp $P6
lab_listen lan1 udp $P4
lab_igdd_start enable_pcp=yes || fail "igdd did not start"
step "igdd up with PCP"

step "IPv6: an outbound flow, then PEER"
udp_from lan1 "$LAN1_EUI64" $P6 "$WAN_V6" "$Q6!"
lab_exec cpe conntrack -L -f ipv6 -p udp --dport $Q6 2>/dev/null | grep -q "sport=$P6" &&
	ok "conntrack holds the outbound flow" || fail "no conntrack entry for the outbound flow"
expect_result lan1 SUCCESS "PEER udp $P6 -> [$WAN_V6]:$Q6" -s "$CPE_LAN6" --src "$LAN1_EUI64" peer --proto udp \
	--port $P6 --peer "$WAN_V6" --peer-port $Q6 --nonce $N1 --lifetime 600
expect_eq "$(field "$PCP_LINE" ext_port)" $P6 "external port = internal port"
expect_eq "$(field "$PCP_LINE" ext_addr)" "$LAN1_EUI64" "external address = internal address"
expect_eq "$(field "$PCP_LINE" peer)" "$WAN_V6" "the remote peer is echoed"
expect_eq "$(field "$PCP_LINE" peer_port)" $Q6 "the remote peer port is echoed"
expect_eq "$(set_count ph_remote)" 1 "one ph_remote element"
igdctl_lab list | grep -qF "PCP PEER to [$WAN_V6]:$Q6" && ok "igdctl list says what it is" ||
	fail "PEER not described: $(igdctl_lab list)"
conntrack_flush
expect_udp wan "$WAN_V6" $Q6 "$LAN1_EUI64" $P6 yes "the peer reaches lan1 without conntrack state"
expect_udp wan "$WAN_V6" $((Q6 + 1)) "$LAN1_EUI64" $P6 no "another port of the peer"
expect_udp wan "$WAN_V6_OTHER" $Q6 "$LAN1_EUI64" $P6 no "another wan address"
expect_udp wan "$WAN_V6" $Q6 "$LAN2_STABLE" $P6 no "lan2, which asked for nothing"
expect_result lan1 SUCCESS "refresh with the same nonce" -s "$CPE_LAN6" --src "$LAN1_EUI64" peer --proto udp \
	--port $P6 --peer "$WAN_V6" --peer-port $Q6 --nonce $N1 --lifetime 900
expect_eq "$(field "$PCP_LINE" lifetime)" 900 "refresh grants the new lifetime"
expect_result lan2 NOT_AUTHORIZED "another host with another nonce cannot delete it" -s "$CPE_LAN6" \
	--src "$LAN2_STABLE" peer --proto udp --port $P6 --peer "$WAN_V6" --peer-port $Q6 --nonce $N2 --lifetime 0 \
	--third-party "$LAN1_EUI64"
expect_result lan1 SUCCESS "PEER lifetime 0" -s "$CPE_LAN6" --src "$LAN1_EUI64" peer --proto udp \
	--port $P6 --peer "$WAN_V6" --peer-port $Q6 --nonce $N1 --lifetime 0
expect_eq "$(field "$PCP_LINE" lifetime)" 0 "deleted: lifetime 0"
expect_eq "$(set_count ph_remote)" 0 "ph_remote empty"
conntrack_flush
expect_udp wan "$WAN_V6" $Q6 "$LAN1_EUI64" $P6 no "closed again"

step "IPv4 through the NAT44: an outbound flow, then PEER"
udp_from lan1 "$LAN1_V4" $P4 "$WAN_V4" "$Q4!"
lab_exec cpe conntrack -L -f ipv4 -p udp --dport $Q4 2>/dev/null | grep -q "sport=$P4" &&
	ok "conntrack holds the outbound flow" || fail "no conntrack entry for the outbound flow"
expect_result lan1 SUCCESS "PEER udp $P4 -> $WAN_V4:$Q4" -s "$CPE_LAN4" peer --proto udp --port $P4 \
	--peer "$WAN_V4" --peer-port $Q4 --nonce $N1 --lifetime 600
expect_eq "$(field "$PCP_LINE" ext_addr)" "$CPE_WAN4" "external address = the WAN address"
expect_eq "$(field "$PCP_LINE" ext_port)" $P4 "external port = internal port (as masquerade keeps it)"
expect_eq "$(field "$PCP_LINE" peer)" "$WAN_V4" "the remote peer is echoed"
expect_eq "$(map_count pm4_remote_port)" 1 "one pm4_remote_port element (the peer's address and port)"
expect_eq "$(map_count pm4_remote)" 0 "none admitting every port of the peer"
expect_eq "$(map_count pm4)" 0 "no mapping open to everyone"
conntrack_flush
expect_udp wan "$WAN_V4" $Q4 "$CPE_WAN4" $P4 yes "the peer reaches lan1 without conntrack state"
expect_udp wan "$WAN_V4_OTHER" $Q4 "$CPE_WAN4" $P4 no "another wan address"
expect_udp wan "$WAN_V4" $((Q4 + 1)) "$CPE_WAN4" $P4 no "another port of the peer"
expect_result lan1 SUCCESS "PEER lifetime 0" -s "$CPE_LAN4" peer --proto udp --port $P4 \
	--peer "$WAN_V4" --peer-port $Q4 --nonce $N1 --lifetime 0
expect_eq "$(map_count pm4_remote_port)" 0 "pm4_remote_port empty"
conntrack_flush
expect_udp wan "$WAN_V4" $Q4 "$CPE_WAN4" $P4 no "closed again"

step "IPv4: two hosts, one port, one peer: masquerade moves the second flow, the PEER names where"
# two consoles of one game, both on udp $P5, to the same server: the second flow cannot keep its port
udp_from lan2 "$LAN2_V4" $P5 "$WAN_V4" "$Q5!"
udp_from lan1 "$LAN1_V4" $P5 "$WAN_V4" "$Q5!"
MOVED=$(lab_exec cpe conntrack -L -f ipv4 -p udp --src "$LAN1_V4" --sport $P5 2>/dev/null |
	sed -n 's/.*dport=\([0-9]*\).*/\1/p' | head -n1)
[ -n "$MOVED" ] && [ "$MOVED" != $P5 ] || fail "lan1's flow was not moved off $P5 (conntrack: '$MOVED')"
ok "masquerade moved lan1's flow to $CPE_WAN4:$MOVED (lan2 holds $P5)"
expect_result lan1 SUCCESS "PEER udp $P5 -> $WAN_V4:$Q5" -s "$CPE_LAN4" peer --proto udp --port $P5 \
	--peer "$WAN_V4" --peer-port $Q5 --nonce $N1 --lifetime 600
expect_eq "$(field "$PCP_LINE" ext_port)" "$MOVED" "the PEER names the port the flow has (the connection tracker's)"
lab_listen lan1 udp $P5
conntrack_flush
expect_udp wan "$WAN_V4" $Q5 "$CPE_WAN4" "$MOVED" yes "the peer reaches lan1 there without conntrack state"
expect_result lan1 SUCCESS "PEER lifetime 0" -s "$CPE_LAN4" peer --proto udp --port $P5 \
	--peer "$WAN_V4" --peer-port $Q5 --nonce $N1 --lifetime 0

step "malformed PEERs"
expect_result lan1 MALFORMED_REQUEST "internal port 0" -s "$CPE_LAN6" --src "$LAN1_EUI64" peer --proto udp \
	--port 0 --peer "$WAN_V6" --peer-port $Q6
expect_result lan1 MALFORMED_REQUEST "an IPv4 peer for an IPv6 flow" -s "$CPE_LAN6" --src "$LAN1_EUI64" peer \
	--proto udp --port $P6 --peer "$WAN_V4" --peer-port $Q6
expect_result lan1 MALFORMED_OPTION "PREFER_FAILURE is a MAP option" -s "$CPE_LAN6" --src "$LAN1_EUI64" peer \
	--proto udp --port $P6 --peer "$WAN_V6" --peer-port $Q6 --prefer-failure

step "tshark"
sleep 1
kill "$(tail -n1 "$LAB_DIR/pids")" 2>/dev/null || true
sleep 1
req=$(tshark -r "$LAB_DIR/pcp.pcap" -Y "portcontrol.opcode == 2 && portcontrol.request" 2>/dev/null | wc -l)
rsp=$(tshark -r "$LAB_DIR/pcp.pcap" -Y "portcontrol.opcode == 2 && portcontrol.response" 2>/dev/null | wc -l)
bad=$(tshark -r "$LAB_DIR/pcp.pcap" -Y "_ws.malformed || _ws.expert.severity >= error" 2>/dev/null | wc -l)
[ "$req" -ge 11 ] && [ "$rsp" = "$req" ] && ok "tshark reads $req PEER requests and $rsp responses" ||
	fail "tshark reads $req PEER requests and $rsp responses (11 sent, each answered)"
if [ "$bad" = 0 ]; then ok "tshark: no malformed packet"; else
	tshark -r "$LAB_DIR/pcp.pcap" -Y "_ws.malformed || _ws.expert.severity >= error" 2>/dev/null | head
	fail "tshark flags $bad packets"
fi
it_done
