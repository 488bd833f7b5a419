#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PCP and NAT-PMP on the cpe's LAN: IPv6 pinholes, IPv4 mappings, nonces, lifetimes, options,
# natpmpc, the restart ANNOUNCE, and tshark reading every message without a malformed warning.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
it_setup

N1=0102030405060708090a0b0c
N2=ffffffffffffffffffffffff
SRC6=$LAN1_EUI64  # the stable address: the kernel would pick the temporary one
IWF=$LAN2_STABLE

ip netns exec "${LAB}cpe" tshark -q -i lan0 -f "udp port 5351 or udp port 5350" -w "$LAB_DIR/pcp.pcap" \
	</dev/null >/dev/null 2>"$LAB_DIR/tshark.err" &
echo $! >>"$LAB_DIR/pids"
sleep 1
lab_listen lan1 tcp 8080
lab_listen lan1 tcp 9090
lab_listen lan1 tcp 7070
lab_igdd_start enable_pcp=yes "pcp_allow_thirdparty=$IWF" || fail "igdd did not start"
step "igdd up with PCP"
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "no pinhole yet"

step "IPv6 MAP"
expect_result lan1 SUCCESS "MAP tcp 8080" -s "$CPE_LAN6" --src "$SRC6" map --port 8080 --nonce $N1 --lifetime 600
expect_eq "$(field "$PCP_LINE" ext_port)" 8080 "assigned port = internal port"
expect_connect wan tcp "$LAN1_EUI64" 8080 "the pinhole admits wan"
expect_result lan1 SUCCESS "refresh, same nonce" -s "$CPE_LAN6" --src "$SRC6" map --port 8080 --nonce $N1 --lifetime 900
expect_eq "$(field "$PCP_LINE" lifetime)" 900 "refresh grants the new lifetime"
expect_connect wan tcp "$LAN1_EUI64" 8080 "still open after refresh"
# another host (here the allowed THIRD_PARTY requester) with another nonce; the mapping's own host with a new
# nonce is accepted (t_quirks_pcp)
expect_result lan2 NOT_AUTHORIZED "other nonce from another host" -s "$CPE_LAN6" --src "$IWF" map --port 8080 \
	--nonce $N2 --third-party "$LAN1_EUI64"
expect_result lan2 NOT_AUTHORIZED "other nonce from another host cannot delete" -s "$CPE_LAN6" --src "$IWF" map \
	--port 8080 --nonce $N2 --third-party "$LAN1_EUI64" --lifetime 0
expect_result lan1 SUCCESS "delete (lifetime 0)" -s "$CPE_LAN6" --src "$SRC6" map --port 8080 --nonce $N1 --lifetime 0
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "deleted pinhole is closed"

step "IPv4 MAP through the NAT44"
expect_result lan1 SUCCESS "MAP v4 tcp 9090 -> 19090" -s "$CPE_LAN4" map --port 9090 --sugg-port 19090 --nonce $N1
expect_eq "$(field "$PCP_LINE" ext_addr)" "$CPE_WAN4" "assigned the WAN address"
expect_eq "$(field "$PCP_LINE" ext_port)" 19090 "assigned the suggested port"
expect_connect wan tcp "$CPE_WAN4" 19090 "mapping reaches lan1"
expect_result lan2 CANNOT_PROVIDE_EXTERNAL "PREFER_FAILURE on a taken port" -s "$CPE_LAN4" map --port 9090 \
	--sugg-port 19090 --prefer-failure
expect_result lan2 SUCCESS "without PREFER_FAILURE another port" -s "$CPE_LAN4" map --port 9090 --sugg-port 19090
[ "$(field "$PCP_LINE" ext_port)" != 19090 ] && ok "another port: $(field "$PCP_LINE" ext_port)" || fail "same port"

step "FILTER"
expect_result lan1 SUCCESS "MAP with FILTER $WAN_V6" -s "$CPE_LAN6" --src "$SRC6" map --port 7070 --filter "$WAN_V6/128" \
	--desc "pcp filter test"
expect_connect wan tcp "$LAN1_EUI64" 7070 "the named peer connects"
lab_exec wan ip addr add 2001:db8:ffff::3/64 dev eth0 nodad
if ip netns exec "${LAB}wan" python3 - "$LAN1_EUI64" 7070 <<'PY'; then fail "other peer connects"; else ok "another wan address is refused"; fi
import socket, sys
s = socket.socket(socket.AF_INET6); s.settimeout(0.5); s.bind(("2001:db8:ffff::3", 0))
sys.exit(0 if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 1)
PY
igdctl_lab list | grep -q "pcp filter test" && ok "DESCRIPTION shown by igdctl list" || fail "description missing"

step "THIRD_PARTY"
expect_result lan1 NOT_AUTHORIZED "THIRD_PARTY from lan1 (not authorised)" -s "$CPE_LAN6" --src "$SRC6" map --port 7071 \
	--third-party "$LAN2_STABLE"
expect_result lan2 SUCCESS "THIRD_PARTY from the authorised IWF" -s "$CPE_LAN6" --src "$IWF" map --port 7071 \
	--third-party "$LAN1_EUI64"

step "ADDRESS_MISMATCH, UNSUPP_VERSION, ANNOUNCE"
expect_result lan1 ADDRESS_MISMATCH "client field is not the source" -s "$CPE_LAN6" --src "$SRC6" map --port 7072 --client 2001:db8:1:1::99
expect_result lan1 UNSUPP_VERSION "version 1" -s "$CPE_LAN6" --src "$SRC6" map --port 7072 --raw-version 1
expect_result lan1 SUCCESS "ANNOUNCE" -s "$CPE_LAN6" --src "$SRC6" announce

step "NAT-PMP"
out=$(ip netns exec "${LAB}lan1" natpmpc -g "$CPE_LAN4" -a 6060 6060 tcp 600 2>&1 </dev/null) || true
grep -q "Mapped public port 6060 protocol TCP to local port 6060" <<<"$out" && ok "natpmpc -a" || fail "natpmpc: $out"
grep -q "Public IP address : $CPE_WAN4" <<<"$out" && ok "natpmpc learns $CPE_WAN4" || fail "natpmpc address: $out"
lab_listen lan1 tcp 6060
expect_connect wan tcp "$CPE_WAN4" 6060 "NAT-PMP mapping reaches lan1"

step "restart: ANNOUNCE on the LAN, epoch restarts"
lab_igdd_stop
ip netns exec "${LAB}lan1" python3 "$PCPC" listen --group 224.0.0.1 --timeout 8 --count 2 \
	>"$LAB_DIR/announce4" 2>&1 </dev/null &
l4=$!
ip netns exec "${LAB}lan1" python3 "$PCPC" listen --group ff02::1 --iface eth0 --timeout 8 --count 1 \
	>"$LAB_DIR/announce6" 2>&1 </dev/null &
l6=$!
# both listeners bound before igdd starts (a fixed sleep lost the first ANNOUNCE under load)
listeners() { [ "$(ip netns exec "${LAB}lan1" ss -Hlun 'sport = :5350' | wc -l)" -ge 2 ]; }
wait_until 5 listeners || fail "the ANNOUNCE listeners did not bind within 5 s"
lab_igdd_start enable_pcp=yes "pcp_allow_thirdparty=$IWF" || fail "igdd did not restart"
wait $l4 || true
wait $l6 || true
grep -q "opcode=ANNOUNCE lifetime=0 epoch=0" "$LAB_DIR/announce4" && ok "ANNOUNCE on 224.0.0.1:5350" || fail "$(cat "$LAB_DIR/announce4")"
grep -q "opcode=ANNOUNCE lifetime=0 epoch=0" "$LAB_DIR/announce6" && ok "ANNOUNCE on [ff02::1]:5350" || fail "$(cat "$LAB_DIR/announce6")"
expect_result lan1 SUCCESS "restored mapping refreshes with its nonce" -s "$CPE_LAN4" map --port 9090 \
	--sugg-port 19090 --nonce $N1
expect_eq "$(field "$PCP_LINE" ext_port)" 19090 "same port after restart"

step "tshark"
sleep 1
kill "$(tail -n1 "$LAB_DIR/pids")" 2>/dev/null || true
sleep 1
n=$(tshark -r "$LAB_DIR/pcp.pcap" 2>/dev/null | wc -l)
bad=$(tshark -r "$LAB_DIR/pcp.pcap" -Y "_ws.malformed || _ws.expert.severity >= error" 2>/dev/null | wc -l)
[ "$n" -gt 20 ] && ok "$n PCP/NAT-PMP packets captured" || fail "only $n packets captured"
if [ "$bad" = 0 ]; then ok "tshark: no malformed packet"; else
	tshark -r "$LAB_DIR/pcp.pcap" -Y "_ws.malformed || _ws.expert.severity >= error" 2>/dev/null | head
	fail "tshark flags $bad packets"
fi
it_done
