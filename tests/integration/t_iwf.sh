#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# RFC 6970 interworking: igdd behind pcpd on a CGN. UPnP AddPortMapping / AddAnyPortMapping from lan1
# make the CGN's address:port reach lan1 from the internet through both NATs; GetExternalIPAddress is
# the CGN's; a port outside the CPE's CGN block is 718; DeletePortMapping closes it end to end; a LAN
# PCP MAP is proxied upstream and a LAN PCP PEER relayed upstream as a PEER (RFC 7648); pcpd losing its
# state (kill -9, store gone) is repaired without client action; with pcpd gone an AddPortMapping fails
# cleanly and leaves nothing in either nftables table.
# Without upstream_pcp_server the default gateway is probed (RFC 7488): adopted while pcpd answers,
# interworking off (plain local mappings) once it does not.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=iwf_lib.sh
. "$HERE/iwf_lib.sh"

[ "$(id -u)" = 0 ] || { echo "t_iwf: skipped (needs root)"; exit 77; }
command -v upnpc >/dev/null || { echo "t_iwf: skipped (no upnpc)"; exit 77; }
iwf_trap
iwf_up || fail "iwf lab up"
step "lab $LAB up: wan - cgn - cpe - lan1"
iwf_pcpd_start || fail "pcpd start"
ok "pcpd runs on the cgn (block $IWF_LO-$IWF_HI for the cpe $IWF_CPE_WAN)"
iwf_igdd_start enable_upnp=yes enable_pcp=yes "upnp_http_port=$IWF_HTTP" "upstream_pcp_server=$IWF_GW" ||
	fail "igdd start"
up_ok() { [ "$(upstream_field state)" = up ] && [ "$(upstream_field ext_addr)" = "$IWF_CGN_EXT" ]; }
wait_until 15 up_ok || fail "upstream not up: state '$(upstream_field state)' addr '$(upstream_field ext_addr)'"
ok "igdd sees the upstream server $(upstream_field server) (epoch $(upstream_field epoch)) in ${WAITED}s"

step "GetExternalIPAddress"
out=$(iwf_upnpc -s)
grep -q "ExternalIPAddress = $IWF_CGN_EXT" <<<"$out" || fail "upnpc -s: $out"
ok "upnpc -s reports the CGN's address $IWF_CGN_EXT"

step "AddPortMapping in the CGN block"
P1=$((IWF_LO + 1))
lab_listen lan1 tcp 8080 || fail "listener"
out=$(iwf_upnpc -e iwf-test -a "$LAN1_V4" 8080 "$P1" TCP 600)
grep -qi "is redirected to internal" <<<"$out" || fail "upnpc -a $P1: $out"
ok "upnpc -a $LAN1_V4 8080 $P1 TCP succeeded"
expect_connect wan tcp "$IWF_CGN_EXT" "$P1" "the CGN's $IWF_CGN_EXT:$P1 reaches lan1:8080 through both NATs" 2
out=$(iwf_upnpc -L)
grep -q "$P1" <<<"$out" || fail "GetListOfPortMappings lacks $P1: $out"
ok "GetListOfPortMappings shows the CGN port $P1"

step "AddPortMapping outside the block: 718, nothing left"
out=$(iwf_upnpc -a "$LAN1_V4" 8081 25000 TCP 600)
grep -q "718" <<<"$out" || fail "upnpc -a 25000: $out"
iwf_cpe_has "25000" && fail "a local rule for 25000 was left behind"
iwf_cgn_has "25000" && fail "an upstream mapping for 25000 was left behind"
ok "port 25000 (outside the block) refused with 718 ConflictInMappingEntry; no half mapping"

step "AddAnyPortMapping outside the block gets another port"
lab_listen lan1 udp 8082 || fail "udp listener"
out=$(iwf_upnpc -n "$LAN1_V4" 8082 25001 UDP 600)
P2=$(sed -n 's/^external [0-9.]*:\([0-9]*\) UDP is redirected.*/\1/p' <<<"$out" | head -n1)
{ [ -n "$P2" ] && [ "$P2" -ge "$IWF_LO" ] && [ "$P2" -le "$IWF_HI" ]; } || fail "upnpc -n: port '$P2': $out"
ok "upnpc -n 25001 UDP was given the CGN port $P2"
expect_connect wan udp "$IWF_CGN_EXT" "$P2" "the CGN's $IWF_CGN_EXT:$P2/udp reaches lan1:8082" 2

step "AddPortMapping with a RemoteHost: the CGN filters too (FILTER option, RFC 6970)"
P3=$((IWF_LO + 10))
[ "$P3" != "$P2" ] || P3=$((IWF_LO + 11))
lab_listen lan1 tcp 8085 || fail "listener"
out=$(iwf_upnpc -a "$LAN1_V4" 8085 "$P3" TCP 600 "$IWF_WAN")
grep -qi "is redirected to internal" <<<"$out" || fail "upnpc -a $P3 from $IWF_WAN only: $out"
iwf_cgn_has "$IWF_WAN . tcp . $P3 " || fail "pcpd's mapping for $P3 is not limited to $IWF_WAN: $(ip netns exec "${LAB}cgn" nft list table inet pcpd | grep -- "$P3")"
ok "pcpd holds $P3 for the remote host $IWF_WAN only"
expect_connect wan tcp "$IWF_CGN_EXT" "$P3" "the remote host $IWF_WAN reaches lan1:8085 through $IWF_CGN_EXT:$P3" 2
out=$(iwf_upnpc -d "$P3" TCP "$IWF_WAN")
grep -qi "fail\|error" <<<"$out" && fail "upnpc -d $P3: $out"
iwf_cgn_has " $P3 " && fail "pcpd still holds $P3"
ok "DeletePortMapping with the RemoteHost removed it upstream"

step "status and API"
st=$(igdctl_lab status)
grep -q "^upstream .*$IWF_GW (up)" <<<"$st" || fail "igdctl status: $st"
grep -q "upstream epoch [0-9]" <<<"$st" || fail "igdctl status has no epoch: $st"
grep -q "$IWF_CGN_EXT:$P1 .*mapped" <<<"$st" || fail "igdctl status lacks the mapping: $st"
ok "igdctl status shows the upstream server, its epoch and each mapping's state"
j=$(igdctl_lab --json list)
"$LAB_PY" -c '
import json, sys
d = json.loads(sys.argv[1]); p = int(sys.argv[2])
rules = d.get("rules") if isinstance(d, dict) else d
ups = [r.get("upstream") for r in rules if r.get("kind") == "portmap"]
assert any(u and u.get("ext_port") == p and u.get("state") == "mapped" for u in ups), ups
' "$j" "$P1" || fail "API rule JSON lacks the upstream state: $j"
ok "the API's rules carry their upstream state"

step "LAN PCP MAP proxied upstream"
lab_listen lan1 tcp 7070 || fail "listener 7070"
L=$(iwf_pcpc map --proto tcp --port 7070 --lifetime 600)
[ "$(field "$L" result)" = SUCCESS ] || fail "PCP MAP from lan1: $L"
[ "$(field "$L" ext_addr)" = "$IWF_CGN_EXT" ] || fail "PCP MAP answered with $(field "$L" ext_addr), want the CGN's: $L"
P3=$(field "$L" ext_port)
ok "PCP MAP from lan1 -> $IWF_CGN_EXT:$P3"
expect_connect wan tcp "$IWF_CGN_EXT" "$P3" "the proxied mapping reaches lan1:7070" 2

step "LAN PCP PEER relayed upstream as a PEER (RFC 7648)"
# a LAN host keeps its outbound UDP flow 4000 -> the WAN host's 5000 reachable: the CPE makes its PEER
# mapping and relays a PEER (not a MAP: that would open the CGN port to every remote host) to pcpd
PN=0123456789abcdef01234567
L=$(iwf_pcpc peer --proto udp --port 4000 --peer "$IWF_WAN" --peer-port 5000 --lifetime 600 --nonce "$PN")
[ "$(field "$L" result)" = SUCCESS ] || fail "PCP PEER from lan1: $L"
[ "$(field "$L" ext_addr)" = "$IWF_CGN_EXT" ] ||
	fail "PCP PEER answered with $(field "$L" ext_addr) (the CPE's own, not relayed?), want the CGN's: $L"
{ [ "$(field "$L" peer)" = "$IWF_WAN" ] && [ "$(field "$L" peer_port)" = 5000 ]; } || fail "PEER answer names another flow: $L"
PP=$(field "$L" ext_port)
# pcpd on the CGN installs a PEER as a PEER (origin pcp-peer, admitting only that peer); a MAP for the
# CPE's UDP 4000 would open the CGN port to every remote host
pcpd_peer() { grep -q "via=pcp-peer" "$LAB_DIR/pcpd.log"; }
wait_until 2 pcpd_peer || fail "pcpd made no PEER mapping: $(grep 'via=' "$LAB_DIR/pcpd.log" | tail -n 3)"
grep -E ":4000 .*via=pcp id=" "$LAB_DIR/pcpd.log" && fail "the PEER went upstream as a MAP"
ok "PCP PEER from lan1 -> $IWF_CGN_EXT:$PP for the flow to $IWF_WAN:5000 (the CGN's answer)"
peer_up() {
	igdctl_lab --json list | "$LAB_PY" -c '
import json, sys
d = json.load(sys.stdin)
rules = d.get("rules") if isinstance(d, dict) else d
ups = [r.get("upstream") for r in rules if r.get("origin") == "pcp-peer"]
print(" ".join("%s:%s:%s" % (u.get("state"), u.get("ext_addr"), u.get("ext_port")) for u in ups if u) or "none")'
}
up=$(peer_up)
[ "$up" = "mapped:$IWF_CGN_EXT:$PP" ] || fail "the PEER rule's upstream state: $up"
ok "the PEER rule is held upstream ($up)"
grep -q "$IWF_CGN_EXT:$PP " <<<"$(igdctl_lab status)" || fail "igdctl status lacks the relayed PEER"
L=$(iwf_pcpc peer --proto udp --port 4000 --peer "$IWF_WAN" --peer-port 5000 --lifetime 0 --nonce "$PN")
[ "$(field "$L" result)" = SUCCESS ] || fail "PCP PEER delete: $L"
peer_gone() { [ "$(peer_up)" = none ] && ! igdctl_lab status | grep -q "$IWF_CGN_EXT:$PP "; }
wait_until 5 peer_gone || fail "the relayed PEER outlived its delete: $(peer_up)"
ok "PEER lifetime 0: the CPE's rule and the upstream PEER are gone"

step "pcpd loses its state (kill -9, store and table gone) and restarts"
# an epoch check needs an epoch to compare: let the first one grow past the RFC 6887 slack
epoch_grown() { [ "$(upstream_field epoch)" -ge 12 ] 2>/dev/null; }
wait_until 15 epoch_grown || fail "the upstream epoch did not grow: $(upstream_field epoch)"
iwf_pcpd_kill9 forget
iwf_pcpd_start || fail "pcpd restart"
works() { lab_can_connect wan tcp "$IWF_CGN_EXT" "$P1" 1; }
wait_until 20 works || fail "after the epoch reset $IWF_CGN_EXT:$P1 does not reach lan1"
ok "after pcpd's state loss the mapping works again in ${WAITED}s without client action"
re=$(upstream_field recreated)
[ "${re:-0}" -ge 1 ] || fail "no mapping counted as re-created"
ok "igdd re-created $re upstream mappings"

step "DeletePortMapping closes it end to end"
out=$(iwf_upnpc -d "$P1" TCP)
grep -qi "fail\|error" <<<"$out" && fail "upnpc -d: $out"
expect_no_connect wan tcp "$IWF_CGN_EXT" "$P1" "the CGN port $P1 is closed after upnpc -d"
iwf_cgn_has "$P1" && fail "pcpd still holds $P1"
ok "pcpd's table no longer holds $P1"

step "no upstream_pcp_server: the WAN default gateway is probed (RFC 7488)"
lab_igdd_stop || fail "igdd stop"
iwf_igdd_start enable_upnp=yes enable_pcp=yes "upnp_http_port=$IWF_HTTP" || fail "igdd start without upstream_pcp_server"
wait_until 15 up_ok || fail "default gateway not adopted: state '$(upstream_field state)' server '$(upstream_field server)'"
grep -q "$IWF_GW" <<<"$(upstream_field server)" || fail "upstream server '$(upstream_field server)', want the gateway $IWF_GW"
ok "igdd found PCP at its default gateway $(upstream_field server) in ${WAITED}s; external address $IWF_CGN_EXT"

step "pcpd stopped: AddPortMapping fails cleanly"
iwf_pcpd_kill9
P4=$((IWF_LO + 5))
out=$(iwf_upnpc -a "$LAN1_V4" 8083 "$P4" TCP 600)
grep -qE "\b(501|718)\b" <<<"$out" || fail "upnpc -a with pcpd down: $out"
iwf_cpe_has "$P4" && fail "a local rule for $P4 was left behind"
iwf_cgn_has "$P4" && fail "an upstream mapping for $P4 was left behind"
ok "AddPortMapping with pcpd down: $(grep -oE '\b(501|718)\b[^)]*' <<<"$out" | head -n1); nothing in either table"
[ "$(upstream_field state)" = unreachable ] || fail "state is '$(upstream_field state)', want unreachable"
ok "igdd reports the upstream as unreachable"
# a silent upstream (PCP dropped, no ICMP): while known unreachable, a client is answered at once
echo 'table inet iwf_silence { chain input { type filter hook input priority -10; udp dport 5351 drop; }; }' |
	ip netns exec "${LAB}cgn" nft -f - || fail "drop rule on the cgn"
t0=$(date +%s%N)
out=$(iwf_upnpc -a "$LAN1_V4" 8083 "$((IWF_LO + 7))" TCP 600)
ms=$((($(date +%s%N) - t0) / 1000000))
grep -qE "\b(501|718)\b" <<<"$out" || fail "upnpc -a with a silent upstream: $out"
[ "$ms" -lt 3000 ] || fail "AddPortMapping with a known-silent upstream took $ms ms"
iwf_cpe_has "$((IWF_LO + 7))" && fail "a local rule for $((IWF_LO + 7)) was left behind"
ok "a silent upstream known to be down: AddPortMapping refused in $ms ms, nothing left"
ip netns exec "${LAB}cgn" nft delete table inet iwf_silence

step "no upstream_pcp_server and a gateway without PCP: interworking off"
lab_igdd_stop || fail "igdd stop"
iwf_igdd_start enable_upnp=yes enable_pcp=yes "upnp_http_port=$IWF_HTTP" || fail "igdd start without upstream_pcp_server"
off_ok() { [ "$(upstream_field state)" = off ]; }
wait_until 20 off_ok || fail "state '$(upstream_field state)', want off"
ok "the gateway does not answer PCP: interworking off in ${WAITED}s"
P5=$((IWF_LO + 6))
out=$(iwf_upnpc -a "$LAN1_V4" 8084 "$P5" TCP 600)
iwf_cpe_has "$P5" || fail "no local mapping for $P5 with interworking off: $out"
ok "AddPortMapping is a plain local mapping again (the cpe maps $P5)"
it_done
