#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PCP PEER on pcpd's CGN, with the lab's real PCP client (tests/lab/pcpc.py): a subscriber's PEER
# installs what its answer says, a port of its own block on its pool address; the flow it names then
# leaves from exactly that address and port (what the wan peer sees), and a PEER for a flow already
# running names the port the block map gave it (the connection tracker's); once the CGN's conntrack has
# forgotten the flow, the peer's address and port still reach the subscriber and the peer's other
# ports do not. A third subscriber on the next pool address with the same block (same ports), the
# same internal port and the same peer gets the same external port there, and each pool address
# reaches its own subscriber. A MAP with a FILTER naming a port admits that port only. Mappings and
# the flows' SNAT come back after kill -9, a flush and a restart; lifetime 0 closes the PEER.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cgn_lib.sh
. "$HERE/cgn_lib.sh"
CGN_NS="$CGN_NS sub3"   # 100.64.0.18: block 18 = the second pool address, the ports of sub1's block 2
in_block() { # PORT SUBSCRIBER_INDEX: the port is in that subscriber's block (16 blocks per address)
	local lo=$((CGN_MIN + ($2 % 16) * CGN_PPS))
	[ "$1" -ge "$lo" ] && [ "$1" -le $((lo + CGN_PPS - 1)) ]
}
# elems MAP: elements of one of pcpd's maps
elems() { cgn_exec cgn nft list map inet pcpd "$1" | grep -c ' : [0-9.]* \. [0-9]*' || true; }
# tag_echo NS PORT: a UDP server on PORT that answers every datagram with the namespace's name
tag_echo() {
	local ready="$CGN_DIR/ready.$RANDOM" i
	cgn_bg "$1" "$CGN_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
open(sys.argv[3], "w").write("1")
while True:
    _, peer = s.recvfrom(2048)
    s.sendto(sys.argv[2].encode(), peer)
' "$2" "$1" "$ready"
	for ((i = 0; i < 50; i++)); do [ -s "$ready" ] && return 0; sleep 0.05; done
	return 1
}
# from_wan SPORT ADDR PORT: one datagram from the wan host's SPORT (resent every 0.2 s for 1 s);
# prints the answer (the name of the subscriber's namespace that answered), empty if none came
from_wan() {
	cgn_exec wan timeout 5 "$CGN_PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.1", int(sys.argv[1])))
deadline = time.monotonic() + 1
while time.monotonic() < deadline:
    s.sendto(b"knock", (sys.argv[2], int(sys.argv[3])))
    s.settimeout(0.2)
    try:
        print(s.recv(2048).decode())
        break
    except OSError:
        pass
' "$@" </dev/null
}
# expect_from_wan SPORT ADDR PORT WANT MESSAGE: WANT = the namespace that must answer, or "none"
expect_from_wan() {
	local got
	got=$(from_wan "$1" "$2" "$3")
	[ "${got:-none}" = "$4" ] || fail "$5: 198.51.100.1:$1 -> $2:$3 answered by '${got:-none}', want $4"
	ok "$5 (198.51.100.1:$1 -> $2:$3: ${got:-no answer})"
}
# flow_snat SUBSCRIBER PORT: how many pm4_snat_flow elements the flow SUBSCRIBER:PORT -> 198.51.100.1:7777 has
flow_snat() {
	cgn_exec cgn nft list map inet pcpd pm4_snat_flow | grep -cF "$1 . 198.51.100.1 . udp . $2 . 7777 " || true
}
# endpoint_snat SUBSCRIBER PORT EXT EXT_PORT: how many pm4_snat elements send SUBSCRIBER:PORT (udp) out from EXT:EXT_PORT
endpoint_snat() {
	cgn_exec cgn nft list map inet pcpd pm4_snat | grep -cE "(^|[ {])${1//./\\.} \\. udp \\. $2 [^,}]*: ${3//./\\.} \\. $4([^0-9]|\$)" || true
}
conntrack_flush() { # the CGN forgets every flow, as it does an idle one (a packet of the lab's own
	# chatter may land between the flush and the count: flushed again, at most 10 times)
	local i
	for ((i = 0; i < 10; i++)); do
		cgn_exec cgn conntrack -F >/dev/null 2>&1 || true
		[ "$(cgn_exec cgn conntrack -C 2>/dev/null)" = 0 ] && return 0
		sleep 0.1
	done
	fail "conntrack table not empty after 10 flushes: $(cgn_exec cgn conntrack -L 2>/dev/null | head -3)"
}

[ "$(id -u)" = 0 ] || { echo "t_cgn_peer: skipped (needs root)"; exit 77; }
command -v conntrack >/dev/null || fail "conntrack(8) missing (make deps installs it)"
cgn_trap
cgn_up || fail "cgn lab up"
ip link add s3 netns "${CGN_LAB}cgn" type veth peer name eth0 netns "${CGN_LAB}sub3" || fail "sub3 link"
cgn_exec cgn ip link set s3 master br0 up
cgn_exec sub3 ip addr add 100.64.0.18/24 dev eth0
cgn_exec sub3 ip link set eth0 up
cgn_exec sub3 ip route add default via 100.64.0.1
step "lab $CGN_LAB up (sub1 100.64.0.2, sub2 100.64.0.3, sub3 100.64.0.18)"
cgn_pcpd_start || fail "pcpd start"
ok "pcpd runs in CGN mode"

step "PEER from sub1: udp 4000 -> 198.51.100.1:7777"
N1=0102030405060708090a0b0c
L=$(cgn_pcpc sub1 peer --proto udp --port 4000 --peer 198.51.100.1 --peer-port 7777 --lifetime 600 --nonce $N1)
[ "$(field "$L" result)" = SUCCESS ] || fail "PEER from sub1: $L"
EXT1=$(field "$L" ext_addr)
PORT1=$(field "$L" ext_port)
[ "$EXT1" = 203.0.113.8 ] || fail "sub1's PEER on $EXT1, want its pool address 203.0.113.8"
in_block "$PORT1" 2 || fail "sub1's PEER port $PORT1 is outside its block"
[ "$(field "$L" lifetime)" = 600 ] || fail "PEER lifetime: $L"
ok "answered $EXT1:$PORT1 (sub1's block), lifetime 600"
[ "$(elems pm4_addr_remote_port)" = 1 ] && [ "$(elems pm4_snat_flow)" = 1 ] ||
	fail "installed: $(elems pm4_addr_remote_port) DNAT and $(elems pm4_snat_flow) flow SNAT elements, want 1 and 1"
[ "$(elems pm4_addr)" = 0 ] && [ "$(elems pm4_addr_remote)" = 0 ] || fail "a PEER opened more than its peer's port"
ok "installed: one DNAT from the peer's address and port, one SNAT for the flow"
grep -q " create udp subscriber=100.64.0.2 internal=100.64.0.2:4000 external=$EXT1:$PORT1 peer=198.51.100.1:7777 lifetime=600 via=pcp-peer id=" \
	"$CGN_DIR/mappings.log" || fail "no create record for the PEER: $(cat "$CGN_DIR/mappings.log")"
ok "mapping_log has the PEER"

step "the flow leaves from the port the answer named"
SEEN=$(cgn_peer_of sub1 4000)
[ "$SEEN" = "$EXT1:$PORT1" ] || fail "sub1's flow from udp 4000 seen at the peer as '$SEEN', the PEER said $EXT1:$PORT1"
ok "the peer sees sub1's flow from $SEEN = the PEER's answer"
SEEN=$(cgn_peer_of sub1 4001)
[ "${SEEN%:*}" = 203.0.113.8 ] && in_block "${SEEN#*:}" 2 && [ "$SEEN" != "$EXT1:$PORT1" ] ||
	fail "sub1's other flow (udp 4001) seen as '$SEEN'"
ok "another flow of sub1 leaves from its block as before ($SEEN)"

step "only the peer's address and port get in, after conntrack forgot the flow"
tag_echo sub1 4000 || fail "echo server in sub1"
conntrack_flush
expect_from_wan 7777 "$EXT1" "$PORT1" sub1 "the peer reaches sub1"
conntrack_flush
expect_from_wan 7778 "$EXT1" "$PORT1" none "another port of the peer does not"

step "sub3 on the next pool address: same ports, same peer, no clash"
L=$(cgn_pcpc sub3 peer --proto udp --port 4000 --peer 198.51.100.1 --peer-port 7777 --lifetime 600 --nonce $N1)
[ "$(field "$L" result)" = SUCCESS ] || fail "PEER from sub3: $L"
EXT3=$(field "$L" ext_addr)
PORT3=$(field "$L" ext_port)
[ "$EXT3" = 203.0.113.9 ] && [ "$PORT3" = "$PORT1" ] ||
	fail "sub3's PEER answered $EXT3:$PORT3, want 203.0.113.9:$PORT1 (block 18 has block 2's ports)"
ok "sub3 answered $EXT3:$PORT3: the same external port and peer as sub1's, on another pool address"
[ "$(elems pm4_addr_remote_port)" = 2 ] && [ "$(elems pm4_snat_flow)" = 2 ] ||
	fail "$(elems pm4_addr_remote_port) DNAT and $(elems pm4_snat_flow) flow SNAT elements, want 2 and 2"
SEEN=$(cgn_peer_of sub3 4000)
[ "$SEEN" = "$EXT3:$PORT3" ] || fail "sub3's flow seen as '$SEEN', the PEER said $EXT3:$PORT3"
ok "the peer sees sub3's flow from $SEEN"
tag_echo sub3 4000 || fail "echo server in sub3"
conntrack_flush
expect_from_wan 7777 "$EXT3" "$PORT3" sub3 "the peer reaches sub3 on its pool address"
conntrack_flush
expect_from_wan 7777 "$EXT1" "$PORT1" sub1 "and still sub1 on the other"

step "PEER for a flow already running (sub2): its mapping is reused"
SEEN=$(cgn_peer_of sub2 4100)
RUN=${SEEN#*:}
[ "${SEEN%:*}" = 203.0.113.8 ] && in_block "$RUN" 3 || fail "sub2's flow from udp 4100 seen as '$SEEN'"
OTHER=$((RUN == CGN_MIN + 3 * CGN_PPS ? RUN + 1 : RUN - 1))   # a free port of sub2's block, not the flow's
L=$(cgn_pcpc sub2 peer --proto udp --port 4100 --peer 198.51.100.1 --peer-port 7777 --sugg-port "$OTHER" \
	--lifetime 600 --nonce $N1)
[ "$(field "$L" result)" = SUCCESS ] || fail "PEER from sub2: $L"
[ "$(field "$L" ext_addr):$(field "$L" ext_port)" = "$SEEN" ] ||
	fail "PEER for the running flow answered $(field "$L" ext_addr):$(field "$L" ext_port) (suggested $OTHER), the peer sees $SEEN"
ok "the flow runs on $SEEN (the block map's choice); the PEER names it, not the suggested $OTHER"
tag_echo sub2 4100 || fail "echo server in sub2"
conntrack_flush
expect_from_wan 7777 203.0.113.8 "$RUN" sub2 "the peer reaches sub2 there after conntrack forgot the flow"
conntrack_flush
SEEN2=$(cgn_peer_of sub2 4100)
[ "$SEEN2" = "$SEEN" ] || fail "sub2's flow, started again, seen as '$SEEN2', want $SEEN"
ok "and the flow started again leaves from $SEEN2 (the PEER's SNAT)"

step "MAP with a FILTER naming a port (sub2)"
L=$(cgn_pcpc sub2 map --proto udp --port 5000 --filter 198.51.100.1/32@7777 --lifetime 600 --nonce $N1)
[ "$(field "$L" result)" = SUCCESS ] || fail "MAP with a port filter: $L"
PORT2=$(field "$L" ext_port)
in_block "$PORT2" 3 || fail "sub2's port $PORT2 is outside its block"
tag_echo sub2 5000 || fail "echo server in sub2"
expect_from_wan 7777 203.0.113.8 "$PORT2" sub2 "the filtered peer port reaches sub2"
conntrack_flush
expect_from_wan 7779 203.0.113.8 "$PORT2" none "another port of that host does not"
SEEN=$(cgn_peer_of sub2 5000)
[ "$SEEN" = "203.0.113.8:$PORT2" ] || fail "sub2's flow from the MAP's port seen as '$SEEN'"
ok "the MAP's endpoint-independent SNAT holds ($SEEN)"

step "kill -9, flush, restart"
cgn_pcpd_kill9
cgn_exec cgn nft flush table inet pcpd
cgn_pcpd_start || fail "pcpd restart"
[ "$(elems pm4_addr_remote_port)" = 4 ] && [ "$(elems pm4_snat_flow)" = 3 ] && [ "$(elems pm4_snat)" = 1 ] ||
	fail "after restart $(elems pm4_addr_remote_port) DNAT, $(elems pm4_snat_flow) flow SNAT, $(elems pm4_snat) SNAT"
ok "after restart: 4 remote-port DNAT elements, 3 flow SNATs, 1 endpoint SNAT"
conntrack_flush
expect_from_wan 7777 "$EXT3" "$PORT3" sub3 "after restart the peer reaches sub3"
SEEN=$(cgn_peer_of sub1 4000)
[ "$SEEN" = "$EXT1:$PORT1" ] || fail "after restart sub1's flow seen as '$SEEN'"
ok "after restart sub1's flow leaves from $SEEN"
L=$(cgn_pcpc sub1 peer --proto udp --port 4000 --peer 198.51.100.1 --peer-port 7777 --lifetime 600 --nonce $N1)
[ "$(field "$L" ext_port)" = "$PORT1" ] || fail "refresh after restart: $L"
ok "refresh keeps $EXT1:$PORT1"

step "lifetime 0"
L=$(cgn_pcpc sub1 peer --proto udp --port 4000 --peer 198.51.100.1 --peer-port 7777 --lifetime 0 --nonce $N1)
[ "$(field "$L" result)" = SUCCESS ] && [ "$(field "$L" lifetime)" = 0 ] || fail "PEER delete: $L"
[ "$(elems pm4_addr_remote_port)" = 3 ] && [ "$(elems pm4_snat_flow)" = 2 ] ||
	fail "after the delete $(elems pm4_addr_remote_port) DNAT and $(elems pm4_snat_flow) flow SNAT elements"
conntrack_flush
expect_from_wan 7777 "$EXT1" "$PORT1" none "closed again"
grep -q " delete udp subscriber=100.64.0.2 internal=100.64.0.2:4000 external=$EXT1:$PORT1 peer=198.51.100.1:7777 " \
	"$CGN_DIR/mappings.log" || fail "no delete record: $(tail -n 3 "$CGN_DIR/mappings.log")"
ok "mapping_log has the delete"

step "a PEER the operator makes permanent: its flow's SNAT goes, the endpoint's comes"
L=$(cgn_pcpc sub1 peer --proto udp --port 4200 --peer 198.51.100.1 --peer-port 7777 --lifetime 600 --nonce $N1)
[ "$(field "$L" result)" = SUCCESS ] || fail "PEER from sub1 for udp 4200: $L"
EXTP=$(field "$L" ext_addr)
PORTP=$(field "$L" ext_port)
PEER_ID=$(sed -n "s/.* create udp subscriber=100.64.0.2 internal=100.64.0.2:4200 external=$EXTP:$PORTP peer=198.51.100.1:7777 .* via=pcp-peer id=\([0-9]*\)$/\1/p" \
	"$CGN_DIR/mappings.log" | tail -n 1)
[ -n "$PEER_ID" ] || fail "no create record for the PEER of udp 4200: $(tail -n 3 "$CGN_DIR/mappings.log")"
[ "$(flow_snat 100.64.0.2 4200)" = 1 ] || fail "the PEER's flow SNAT is not in pm4_snat_flow"
ok "PEER $PEER_ID on $EXTP:$PORTP, its flow's SNAT in pm4_snat_flow"
# A MAP of the same endpoint with a FILTER of exactly the PEER's peer and port, suggesting the PEER's
# port, is not that mapping (a MAP is named without the peer, RFC 6887 11.3): it gets a port of its own
L=$(cgn_pcpc sub1 map --proto udp --port 4200 --filter 198.51.100.1/32@7777 --sugg-port "$PORTP" --lifetime 600 --nonce $N1)
[ "$(field "$L" result)" = SUCCESS ] && [ "$(field "$L" ext_port)" != "$PORTP" ] && in_block "$(field "$L" ext_port)" 2 ||
	fail "MAP with the PEER's filter and port: $L (the PEER holds $PORTP)"
[ "$(flow_snat 100.64.0.2 4200)" = 1 ] || fail "the MAP took the PEER's flow SNAT away"
ok "a MAP with the PEER's FILTER and suggested port is another mapping ($(field "$L" ext_port)); the PEER's flow SNAT stays"
L=$(cgn_pcpc sub1 map --proto udp --port 4200 --filter 198.51.100.1/32@7777 --lifetime 0 --nonce $N1)
[ "$(field "$L" result)" = SUCCESS ] || fail "MAP delete: $L"
# The operator (control socket, as its scripts send it) asks for exactly the PEER's mapping, without
# expiry: the core changes that rule, which is no flow's mapping any more but the endpoint's
A=$(cgn_api POST /api/v1/rules "{\"kind\":\"portmap\",\"ext_addr\":\"$EXTP\",\"ext_port\":$PORTP,\"address\":\"100.64.0.2\",\"port\":4200,\"proto\":\"udp\",\"remote\":\"198.51.100.1\",\"remote_port\":7777,\"lease\":0}")
[ "$(field "$A" status)" = 201 ] && [ "$(field "$A" id)" = "$PEER_ID" ] && [ "$(field "$A" origin)" = ctl ] ||
	fail "the operator's mapping: $A (the PEER is rule $PEER_ID)"
ok "the operator's request changed rule $PEER_ID ($A)"
[ "$(flow_snat 100.64.0.2 4200)" = 0 ] ||
	fail "the PEER's flow SNAT was left in pm4_snat_flow: $(cgn_exec cgn nft list map inet pcpd pm4_snat_flow | grep -F '100.64.0.2 . 198.51.100.1 . udp . 4200')"
[ "$(endpoint_snat 100.64.0.2 4200 "$EXTP" "$PORTP")" = 1 ] ||
	fail "no endpoint SNAT for 100.64.0.2:4200 -> $EXTP:$PORTP: $(cgn_exec cgn nft list map inet pcpd pm4_snat)"
ok "pm4_snat_flow holds nothing of that flow; pm4_snat holds 100.64.0.2 . udp . 4200 : $EXTP . $PORTP"
tag_echo sub1 4200 || fail "echo server in sub1 on udp 4200"
conntrack_flush
expect_from_wan 7777 "$EXTP" "$PORTP" sub1 "the peer still reaches sub1 through the operator's mapping"
conntrack_flush
expect_from_wan 7778 "$EXTP" "$PORTP" none "and only the peer's port does"
conntrack_flush
SEEN=$(cgn_peer_of sub1 4200 7778)
[ "$SEEN" = "$EXTP:$PORTP" ] || fail "sub1's flow from udp 4200 to another port seen as '$SEEN', want $EXTP:$PORTP"
ok "sub1's flows from udp 4200 leave from $SEEN whatever their peer port (the endpoint's SNAT)"

step "one external endpoint per internal endpoint: another mapping of 100.64.0.2:4200/udp is refused"
# Its SNAT companion is one element of pm4_snat: a second mapping of the endpoint (another external port)
# took it over, and deleting either left the other's flows leaving from the pool
PORT2=$((PORTP ^ 1))
A=$(cgn_api POST /api/v1/rules "{\"kind\":\"portmap\",\"ext_addr\":\"$EXTP\",\"ext_port\":$PORT2,\"address\":\"100.64.0.2\",\"port\":4200,\"proto\":\"udp\",\"lease\":0}")
[ "$(field "$A" status)" = 409 ] || fail "a second operator mapping of 100.64.0.2:4200/udp on $EXTP:$PORT2: $A"
ok "the operator's second mapping of the endpoint, on $EXTP:$PORT2: $A"
L=$(cgn_pcpc sub1 map --proto udp --port 4200 --lifetime 600 --nonce $N1)
[ "$(field "$L" result)" = NOT_AUTHORIZED ] || fail "sub1's MAP of the endpoint the operator mapped: $L"
ok "sub1's own MAP of it: NOT_AUTHORIZED (PCP does not change a static mapping)"
[ "$(endpoint_snat 100.64.0.2 4200 "$EXTP" "$PORTP")" = 1 ] && [ "$(endpoint_snat 100.64.0.2 4200 "$EXTP" "$PORT2")" = 0 ] ||
	fail "pm4_snat after the refusals: $(cgn_exec cgn nft list map inet pcpd pm4_snat)"
conntrack_flush
SEEN=$(cgn_peer_of sub1 4200 7778)
[ "$SEEN" = "$EXTP:$PORTP" ] || fail "sub1's flow from udp 4200 seen as '$SEEN' after the refusals, want $EXTP:$PORTP"
ok "pm4_snat holds the endpoint's SNAT to $EXTP:$PORTP only; sub1's flows from udp 4200 still leave from $SEEN"

step "an orphaned flow SNAT (what a pcpd before this fix left): reconciled away, and gone after kill -9 and a restart"
# orphan: the flow SNAT a PEER made permanent by the operator kept (20012: sub2's block, no mapping)
orphan() {
	cgn_exec cgn nft add element inet pcpd pm4_snat_flow \
		"{ 100.64.0.3 . 198.51.100.1 . udp . 4300 . 7777 timeout 10m : 203.0.113.8 . 20012 }"
}
RECONCILED=$(grep -c "someone else changed our table, restoring it" "$CGN_DIR/pcpd.log" || true)
orphan || fail "could not put the orphan in"
for ((i = 0; i < 50; i++)); do [ "$(flow_snat 100.64.0.3 4300)" = 0 ] && break; sleep 0.1; done
[ "$(flow_snat 100.64.0.3 4300)" = 0 ] || fail "the running pcpd left the orphan in pm4_snat_flow for 5 s"
[ "$(grep -c "someone else changed our table, restoring it" "$CGN_DIR/pcpd.log")" -gt "$RECONCILED" ] ||
	fail "no reconcile in pcpd.log"
ok "the running pcpd saw the foreign element and restored its table without it"
cgn_pcpd_kill9
orphan || fail "could not put the orphan in"   # as the killed pcpd's kernel would hold it
[ "$(flow_snat 100.64.0.3 4300)" = 1 ] || fail "the orphan is not in pm4_snat_flow"
cgn_pcpd_start || fail "pcpd restart"
[ "$(flow_snat 100.64.0.3 4300)" = 0 ] || fail "the orphan survived the restart's resync"
[ "$(flow_snat 100.64.0.2 4200)" = 0 ] && [ "$(endpoint_snat 100.64.0.2 4200 "$EXTP" "$PORTP")" = 1 ] ||
	fail "after restart: $(flow_snat 100.64.0.2 4200) flow SNAT, $(endpoint_snat 100.64.0.2 4200 "$EXTP" "$PORTP") endpoint SNAT for 100.64.0.2:4200"
[ "$(elems pm4_addr_remote_port)" = 4 ] && [ "$(elems pm4_snat_flow)" = 2 ] && [ "$(elems pm4_snat)" = 2 ] ||
	fail "after restart $(elems pm4_addr_remote_port) DNAT, $(elems pm4_snat_flow) flow SNAT, $(elems pm4_snat) SNAT, want 4, 2, 2"
ok "after restart: the orphan is gone; 4 remote-port DNAT, 2 flow SNATs (sub2's, sub3's), 2 endpoint SNATs"
conntrack_flush
expect_from_wan 7777 "$EXTP" "$PORTP" sub1 "after restart the peer reaches sub1"
it_done
