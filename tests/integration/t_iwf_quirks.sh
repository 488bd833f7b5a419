#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Behind a carrier-grade NAT (igdd behind pcpd, RFC 6970), what apps check of the answers:
#   - NAT-PMP's public address is the CGN's 203.0.113.8 (as UPnP's GetExternalIPAddress and PCP say), not
#     the CPE's 100.64.0.2 (Transmission ignores a gateway with a reserved address; Apple calls it double
#     NAT); natpmpc maps through both NATs; Tailscale's probe hears the CGN's address within 250 ms
#   - one restart of the upstream pcpd is one epoch reset (igdctl status "upstream resets 1"), however many
#     ANNOUNCEs it sends, and every mapping works again without client action
#   - the first UPnP request after the upstream went silent (PCP dropped, no ICMP) fails with 501 within
#     2 s (miniupnpc stops reading at 5 s), leaving nothing behind
# Measured figures are printed in the output.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=iwf_lib.sh
. "$HERE/iwf_lib.sh"
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

[ "$(id -u)" = 0 ] || { echo "t_iwf_quirks: skipped (needs root)"; exit 77; }
command -v upnpc >/dev/null || { echo "t_iwf_quirks: skipped (no upnpc)"; exit 77; }
command -v natpmpc >/dev/null || { echo "t_iwf_quirks: skipped (no natpmpc)"; exit 77; }
iwf_trap
iwf_up || fail "iwf lab up"
step "lab $LAB up: wan - cgn - cpe - lan1"
iwf_pcpd_start || fail "pcpd start"
# the LAN hears the announcements igdd multicasts on 224.0.0.1:5350 from its start on
ip netns exec "${LAB}lan1" "$LAB_PY" "$LAB_TOOLS/pcpc.py" listen --group 224.0.0.1 --timeout 10 --count 8 \
	>"$LAB_DIR/announce4" 2>&1 </dev/null &
listener=$!
bound() { [ "$(ip netns exec "${LAB}lan1" ss -Hlun 'sport = :5350' | wc -l)" -ge 1 ]; }
wait_until 5 bound || fail "the ANNOUNCE listener did not bind within 5 s"
iwf_igdd_start enable_upnp=yes enable_pcp=yes "upnp_http_port=$IWF_HTTP" "upstream_pcp_server=$IWF_GW" ||
	fail "igdd start"
up_ok() { [ "$(upstream_field state)" = up ] && [ "$(upstream_field ext_addr)" = "$IWF_CGN_EXT" ]; }
wait_until 15 up_ok || fail "upstream not up: state '$(upstream_field state)' addr '$(upstream_field ext_addr)'"
ok "igdd sees the upstream, external address $IWF_CGN_EXT, in ${WAITED}s"

step "NAT-PMP's public address is the CGN's"
heard() { grep -q "ext_addr=$IWF_CGN_EXT proto=natpmp" "$LAB_DIR/announce4"; }
wait_until 10 heard || fail "no NAT-PMP announcement of $IWF_CGN_EXT: $(cat "$LAB_DIR/announce4")"
kill "$listener" 2>/dev/null || true
grep -q "ext_addr=$IWF_CPE_WAN proto=natpmp" "$LAB_DIR/announce4" &&
	fail "a NAT-PMP announcement of the CPE's $IWF_CPE_WAN: $(cat "$LAB_DIR/announce4")"
ok "NAT-PMP announcements on 224.0.0.1:5350 name $IWF_CGN_EXT ($(grep -c "proto=natpmp" "$LAB_DIR/announce4") heard), never $IWF_CPE_WAN"
out=$(iwf_upnpc -s)
grep -q "ExternalIPAddress = $IWF_CGN_EXT" <<<"$out" || fail "upnpc -s: $out"
ok "UPnP GetExternalIPAddress: $IWF_CGN_EXT"
out=$(ip netns exec "${LAB}lan1" natpmpc -g "$CPE_LAN4" 2>&1 </dev/null) || true
grep -q "Public IP address : $IWF_CGN_EXT" <<<"$out" || fail "natpmpc -g: $out"
ok "natpmpc -g: Public IP address : $IWF_CGN_EXT (not the CPE's $IWF_CPE_WAN)"
out=$(iwf_pcpc --timeout 0.25 probe) || fail "Tailscale's probe: not both answered within 250 ms: $out"
n=$(grep "proto=natpmp" <<<"$out")
p=$(grep "proto=pcp" <<<"$out")
[ "$(field "$n" ext_addr)" = "$IWF_CGN_EXT" ] || fail "probe: NAT-PMP answered $(field "$n" ext_addr): $out"
[ "$(field "$p" result)" = SUCCESS ] || fail "probe: PCP ANNOUNCE: $out"
ok "Tailscale's probe: NAT-PMP $IWF_CGN_EXT in $(field "$n" ms) ms, PCP ANNOUNCE in $(field "$p" ms) ms"
lab_listen lan1 udp 9100 || fail "listener"
out=$(ip netns exec "${LAB}lan1" natpmpc -g "$CPE_LAN4" -a "$((IWF_LO + 3))" 9100 udp 600 2>&1 </dev/null) || true
NP=$(sed -n 's/.*Mapped public port \([0-9]*\) protocol UDP to local port 9100.*/\1/p' <<<"$out")
{ [ -n "$NP" ] && [ "$NP" -ge "$IWF_LO" ] && [ "$NP" -le "$IWF_HI" ]; } || fail "natpmpc -a: '$NP': $out"
ok "natpmpc -a maps the CGN port $NP"
expect_connect wan udp "$IWF_CGN_EXT" "$NP" "the CGN's $IWF_CGN_EXT:$NP reaches lan1:9100 (NAT-PMP through both NATs)" 2

step "one restart of the upstream pcpd is one epoch reset"
lab_listen lan1 tcp 9101 || fail "listener"
lab_listen lan1 tcp 9102 || fail "listener"
for i in 1 2; do
	out=$(iwf_upnpc -e "quirk $i" -a "$LAN1_V4" "910$i" "$((IWF_LO + 3 + i))" TCP 600)
	grep -qi "is redirected to internal" <<<"$out" || fail "upnpc -a 910$i: $out"
done
ok "two UPnP mappings and one NAT-PMP mapping go through the CGN"
epoch_grown() { [ "$(upstream_field epoch)" -ge 12 ] 2>/dev/null; }
wait_until 20 epoch_grown || fail "the upstream epoch did not grow: $(upstream_field epoch)"
r0=$(upstream_field resets)
c0=$(upstream_field recreated)
[ "${r0:-x}" = 0 ] || fail "resets before the restart: '$r0'"
ann0=$(grep -c "unsolicited ANNOUNCE from the upstream server" "$LAB_DIR/igdd.log" || true)
iwf_pcpd_kill9 forget
t0=$(date +%s%N)
iwf_pcpd_start || fail "pcpd restart"
works() { lab_can_connect wan tcp "$IWF_CGN_EXT" "$((IWF_LO + 4))" 1; }
wait_until 30 works || fail "after the restart $IWF_CGN_EXT:$((IWF_LO + 4)) does not reach lan1"
back_ms=$(ms_since "$t0")
expect_connect wan tcp "$IWF_CGN_EXT" "$((IWF_LO + 5))" "the second UPnP mapping is back too" 2
expect_connect wan udp "$IWF_CGN_EXT" "$NP" "and the NAT-PMP one" 2
# pcpd announces its restart 10 times, 0.25 s to 64 s apart: the first eight come within 32 s; each
# brings an epoch check forward, and every answer is judged at its arrival
sleep_until=$((t0 / 1000000 + 33000))
while [ "$(($(date +%s%N) / 1000000))" -lt "$sleep_until" ]; do sleep 1; done
r1=$(upstream_field resets)
c1=$(upstream_field recreated)
n_ann=$(($(grep -c "unsolicited ANNOUNCE from the upstream server" "$LAB_DIR/igdd.log" || true) - ann0))
n_lost=$(grep -c "upstream PCP server lost its state" "$LAB_DIR/igdd.log" || true)
expect_eq "$r1" 1 "resets after one pcpd restart ($n_ann unsolicited ANNOUNCEs heard in 33 s)"
expect_eq "$n_lost" 1 "igdd logged one loss of state"
st=$(igdctl_lab status)
grep -q "^upstream resets 1 " <<<"$st" || fail "igdctl status: $(grep upstream <<<"$st")"
ok "igdctl status: $(grep '^upstream resets' <<<"$st")"
expect_eq "$((c1 - c0))" 3 "each of the three upstream mappings counted re-created once"
ok "figures: mappings reachable again $back_ms ms after pcpd restarted; $((c1 - c0)) upstream mappings re-created for 1 reset"

step "the upstream goes silent: the first UPnP request fails within 2 s"
lab_listen lan1 tcp 9103 || fail "listener"
t0=$(date +%s%N)
out=$(iwf_upnpc -a "$LAN1_V4" 9103 "$((IWF_LO + 8))" TCP 600)
ok_ms=$(ms_since "$t0")
grep -qi "is redirected to internal" <<<"$out" || fail "upnpc -a 9103 with the upstream up: $out"
[ "$(upstream_field state)" = up ] || fail "state '$(upstream_field state)' before the silence, want up"
echo 'table inet iwf_silence { chain input { type filter hook input priority -10; udp dport 5351 drop; }; }' |
	ip netns exec "${LAB}cgn" nft -f - || fail "drop rule on the cgn"
t0=$(date +%s%N)
out=$(iwf_upnpc -a "$LAN1_V4" 9104 "$((IWF_LO + 9))" TCP 600)
fail_ms=$(ms_since "$t0")
grep -qE "\b501\b" <<<"$out" || fail "upnpc -a with a silent upstream: $out"
[ "$fail_ms" -lt 2000 ] || fail "the first AddPortMapping after the upstream went silent took $fail_ms ms"
iwf_cpe_has "$((IWF_LO + 9))" && fail "a local rule for $((IWF_LO + 9)) was left behind"
iwf_cgn_has "$((IWF_LO + 9))" && fail "an upstream mapping for $((IWF_LO + 9)) was left behind"
ok "figures: AddPortMapping with the upstream up $ok_ms ms; the first after it went silent: 501 in $fail_ms ms (bound 2000), nothing left"
ip netns exec "${LAB}cgn" nft delete table inet iwf_silence
it_done
