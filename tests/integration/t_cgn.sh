#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcpd on a CGN: a subscriber's MAP gets a pool address and a port of its block; the wan host reaches
# the subscriber there; the subscriber's outbound flow from the mapped internal port leaves from the
# same external endpoint (endpoint-independent mapping); the block is the quota; a neighbour gets
# another block; unmapped TCP and UDP flows leave from the subscriber's own block (the block map,
# RFC 7422), each subscriber its own, as `pcpd --print-blocks` exports it; every mapping created or
# deleted is in mapping_log; after kill -9, a flush and a restart the mappings and the
# block map are back in the kernel and still work.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cgn_lib.sh
. "$HERE/cgn_lib.sh"
in_block() { # PORT SUBSCRIBER_INDEX
	local lo=$((CGN_MIN + $2 * CGN_PPS))
	[ "$1" -ge "$lo" ] && [ "$1" -le $((lo + CGN_PPS - 1)) ]
}

[ "$(id -u)" = 0 ] || { echo "t_cgn: skipped (needs root)"; exit 77; }
cgn_trap
cgn_up || fail "cgn lab up"
step "lab $CGN_LAB up"
cgn_pcpd_start || fail "pcpd start"
ok "pcpd runs in CGN mode: $(grep -o 'CGN mode: .*' "$CGN_DIR/pcpd.log" | head -1)"

step "MAP from sub1"
NONCE1=0102030405060708090a0b0c
L=$(cgn_pcpc sub1 map --proto tcp --port 8080 --lifetime 600 --nonce "$NONCE1")
[ "$(field "$L" result)" = SUCCESS ] || fail "MAP tcp 8080 from sub1: $L"
EXT_ADDR=$(field "$L" ext_addr)
EXT_TCP=$(field "$L" ext_port)
[ "$EXT_ADDR" = 203.0.113.8 ] || fail "sub1's pool address is $EXT_ADDR, want 203.0.113.8"
in_block "$EXT_TCP" 2 || fail "sub1's port $EXT_TCP is outside its block"
ok "sub1 tcp 8080 -> $EXT_ADDR:$EXT_TCP (block of subscriber 2)"
cgn_echo sub1 tcp 8080 || fail "echo server in sub1"
cgn_connect wan tcp "$EXT_ADDR" "$EXT_TCP" 2 || fail "wan -> $EXT_ADDR:$EXT_TCP does not reach sub1"
ok "wan reaches sub1 through $EXT_ADDR:$EXT_TCP/tcp"

step "the operator's records: block table and mapping log"
# the exported table says what pcpd assigned: sub1 (100.64.0.2) on its address, its port in its row
BLOCKS=$("$PCPD_BIN" --print-blocks csv -f "$CGN_DIR/pcpd.conf") || fail "pcpd --print-blocks csv"
[ "$(head -n1 <<<"$BLOCKS")" = subscriber,external_address,port_first,port_last,block,nat ] ||
	fail "block table header: $(head -n1 <<<"$BLOCKS")"
ROW=$(grep '^100\.64\.0\.2,' <<<"$BLOCKS") || fail "no row for sub1 in the block table"
IFS=, read -r _ R_ADDR R_LO R_HI _ R_NAT <<<"$ROW"
[ "$R_ADDR" = "$EXT_ADDR" ] && [ "$EXT_TCP" -ge "$R_LO" ] && [ "$EXT_TCP" -le "$R_HI" ] && [ "$R_NAT" = block ] ||
	fail "sub1 got $EXT_ADDR:$EXT_TCP, the table says $ROW"
ok "block table row '$ROW' holds sub1's mapping $EXT_ADDR:$EXT_TCP"
NJ=$("$PCPD_BIN" --print-blocks json -f "$CGN_DIR/pcpd.conf" |
	"$CGN_PY" -c 'import json,sys; print(len(json.load(sys.stdin)["subscribers"]))') || fail "JSON block table"
[ "$NJ" = $(($(wc -l <<<"$BLOCKS") - 1)) ] || fail "JSON has $NJ rows, CSV $(($(wc -l <<<"$BLOCKS") - 1))"
ok "JSON block table parses, $NJ rows as the CSV"
REC=$(grep " create tcp subscriber=100.64.0.2 internal=100.64.0.2:8080 external=$EXT_ADDR:$EXT_TCP lifetime=600 via=pcp id=" \
	"$CGN_DIR/mappings.log") || fail "no create record for sub1's mapping: $(cat "$CGN_DIR/mappings.log")"
[[ "$REC" =~ ^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-9:]{8}Z\  ]] || fail "record without a UTC time: $REC"
ok "mapping_log: $REC"
L=$(cgn_pcpc sub1 map --proto udp --port 4777 --lifetime 600 --nonce "$NONCE1")
[ "$(field "$L" result)" = SUCCESS ] || fail "MAP udp 4777: $L"
L=$(cgn_pcpc sub1 map --proto udp --port 4777 --lifetime 0 --nonce "$NONCE1")
[ "$(field "$L" result)" = SUCCESS ] || fail "delete of udp 4777: $L"
grep -q " delete udp subscriber=100.64.0.2 internal=100.64.0.2:4777 external=$EXT_ADDR:" "$CGN_DIR/mappings.log" ||
	fail "no delete record: $(tail -n 3 "$CGN_DIR/mappings.log")"
ok "mapping_log records the delete too"

step "endpoint-independent mapping"
L=$(cgn_pcpc sub1 map --proto udp --port 4001 --lifetime 600 --nonce "$NONCE1")
[ "$(field "$L" result)" = SUCCESS ] || fail "MAP udp 4001: $L"
EXT_UDP=$(field "$L" ext_port)
SEEN=$(cgn_peer_of sub1 4001)
[ "$SEEN" = "$EXT_ADDR:$EXT_UDP" ] || fail "sub1's flow from udp 4001 seen at wan as '$SEEN', want $EXT_ADDR:$EXT_UDP"
ok "sub1 udp 4001 -> wan is seen from $SEEN = the mapping"

step "dynamic flows leave from the subscriber's own block"
# the block map holds one element per subscriber the pool serves: 4 addresses x 16 blocks
NB=$(cgn_exec cgn nft list map inet pcpd nat_block | grep -o '100\.64\.0\.[0-9]* : ' | wc -l)
[ "$NB" = 64 ] || fail "nat_block holds $NB subscribers, want 64"
ok "nat_block holds $NB subscribers"
SEEN2=$(cgn_peer_of sub2 4555)
[ "${SEEN2%:*}" = 203.0.113.8 ] && in_block "${SEEN2#*:}" 3 || fail "unmapped sub2 flow seen as '$SEEN2', want its block"
ok "unmapped sub2 udp 4555 leaves from its block ($SEEN2)"
IFS=, read -r _ R_ADDR R_LO R_HI _ _ <<<"$(grep '^100\.64\.0\.3,' <<<"$BLOCKS")"
[ "${SEEN2%:*}" = "$R_ADDR" ] && [ "${SEEN2#*:}" -ge "$R_LO" ] && [ "${SEEN2#*:}" -le "$R_HI" ] ||
	fail "sub2's flow $SEEN2 is not where the block table puts sub2 ($R_ADDR:$R_LO-$R_HI)"
ok "the block table names sub2 for $SEEN2 ($R_ADDR:$R_LO-$R_HI)"
# several flows per protocol and subscriber (3 of a block of $CGN_PPS, to one destination: each
# needs its own port), sub1 = subscriber 2, sub2 = subscriber 3, all on 203.0.113.8
for sub in 1 2; do
	for proto in udp tcp; do
		PEERS=$(cgn_peers "sub$sub" "$proto" 3 $((7800 + sub)))
		[ "$(wc -l <<<"$PEERS")" = 3 ] || fail "sub$sub $proto: wan saw '$PEERS', want 3 flows"
		for p in $PEERS; do
			[ "${p%:*}" = 203.0.113.8 ] && in_block "${p#*:}" $((sub + 1)) ||
				fail "sub$sub $proto flow seen as $p, outside its block"
		done
		ok "sub$sub $proto: 3 flows from its block: $(echo $PEERS)"
	done
done

step "quota: the block holds $CGN_PPS mappings per protocol"
for ((i = 1; i < CGN_PPS; i++)); do
	L=$(cgn_pcpc sub1 map --proto tcp --port $((9000 + i)) --lifetime 600 --nonce "$NONCE1")
	[ "$(field "$L" result)" = SUCCESS ] || fail "MAP $((i + 1)) of $CGN_PPS: $L"
done
L=$(cgn_pcpc sub1 map --proto tcp --port 9999 --lifetime 600 --nonce "$NONCE1")
[ "$(field "$L" result)" = USER_EX_QUOTA ] || fail "MAP $((CGN_PPS + 1)) answered: $L"
ok "MAP $((CGN_PPS + 1)) from sub1 refused with USER_EX_QUOTA"

step "sub2 gets another block"
L=$(cgn_pcpc sub2 map --proto tcp --port 8080 --lifetime 600)
[ "$(field "$L" result)" = SUCCESS ] || fail "MAP from sub2: $L"
P2=$(field "$L" ext_port)
in_block "$P2" 3 || fail "sub2's port $P2 is outside its block"
ok "sub2 tcp 8080 -> $(field "$L" ext_addr):$P2 (block of subscriber 3)"

step "kill -9 and restart"
cgn_pcpd_kill9
cgn_exec cgn nft flush table inet pcpd   # what a lost kernel state looks like; the store has the truth
cgn_pcpd_start || fail "pcpd restart"
N=$(cgn_exec cgn nft list map inet pcpd pm4_addr | grep -o 'tcp \. [0-9]*\|udp \. [0-9]*' | wc -l)
S=$(cgn_exec cgn nft list map inet pcpd pm4_snat | grep -o ': 203\.0\.113\.[0-9]* \. [0-9]*' | wc -l)
[ "$N" = $((CGN_PPS + 2)) ] || fail "after restart pm4_addr holds $N mappings, want $((CGN_PPS + 2))"
[ "$S" = "$N" ] || fail "after restart pm4_snat holds $S companions for $N mappings"
ok "after restart: $N mappings and $S SNAT companions back in the kernel"
NB=$(cgn_exec cgn nft list map inet pcpd nat_block | grep -o '100\.64\.0\.[0-9]* : ' | wc -l)
[ "$NB" = 64 ] || fail "after restart nat_block holds $NB subscribers, want 64"
ok "after restart nat_block holds $NB subscribers"
cgn_connect wan tcp "$EXT_ADDR" "$EXT_TCP" 2 || fail "after restart wan -> $EXT_ADDR:$EXT_TCP does not reach sub1"
ok "wan still reaches sub1 through $EXT_ADDR:$EXT_TCP/tcp"
L=$(cgn_pcpc sub1 map --proto tcp --port 8080 --lifetime 600 --nonce "$NONCE1")
[ "$(field "$L" ext_port)" = "$EXT_TCP" ] || fail "refresh after restart: $L"
ok "refresh with the same nonce keeps $EXT_ADDR:$EXT_TCP"
SEEN=$(cgn_peer_of sub1 4001)
[ "$SEEN" = "$EXT_ADDR:$EXT_UDP" ] || fail "after restart sub1 udp 4001 seen as '$SEEN'"
ok "after restart the EIM still holds ($SEEN)"

step "a foreign flush: the monitor restores the block map"
cgn_exec cgn nft flush map inet pcpd nat_block
for ((i = 0; i < 40; i++)); do
	NB=$(cgn_exec cgn nft list map inet pcpd nat_block 2>/dev/null | grep -o '100\.64\.0\.[0-9]* : ' | wc -l)
	[ "$NB" = 64 ] && break
	sleep 0.1
done
[ "$NB" = 64 ] || fail "4 s after a flush nat_block holds $NB subscribers"
PEERS=$(cgn_peers sub2 udp 1 7803)
[ "${PEERS%:*}" = 203.0.113.8 ] && in_block "${PEERS#*:}" 3 || fail "after the flush sub2 seen as '$PEERS'"
ok "resync restored nat_block; sub2 leaves from its block again ($PEERS)"
it_done
