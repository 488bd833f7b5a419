#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Devices as real hosts are (issue 11), with igdd started BEFORE the LAN is up: the router boots, its
# LAN bridge has no carrier (its own LAN addresses wait in DAD), then the hosts are plugged in and
# configure themselves (SLAAC with DAD). Nothing primes the router.
#   4. UPnP over IPv6 comes up by itself (upnpc -6 discovery) within a few seconds of the LAN coming
#      up; igdd never exits (status 2 was the bug);
#   2. pinhole_target=both: an app on lan2 asks from its temporary address (its default source) for
#      that address: the temporary AND lan2's stable address are opened (igdd learnt the stable one
#      from the host's Duplicate Address Detection: that address never sent a packet);
#   6. lan1 is a Windows-like host: one random IID kept across prefixes (ip token) instead of EUI-64,
#      plus a temporary address. An app asks for its stable address; after renumbering, the same IID
#      in the new prefix is recognised as stable and the rule follows within 10 s.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=devices_lib.sh
. "$(dirname "$0")/devices_lib.sh"
TOKEN=::abcd:1234:5678:9abc
N2=2001:db8:2

lab_trap
LAB_LAN_DOWN=1 lab_up || fail "lab_up"
# lan1 keeps one IID across prefixes, as Windows does (set before it boots, like an OS setting)
lab_exec lan1 ip token set "$TOKEN" dev eth0 || fail "ip token set"
step "lab $LAB up, LAN unplugged"
echo "cpe lan0: $(ip -n "${LAB}cpe" -6 -o addr show dev lan0 | awk '{ print $4, $NF }' | tr '\n' ' ')"

# ------------------------------------------------------------------ 4. start before the LAN
step "4. igdd starts before the LAN has carrier"
lab_igdd_start enable_upnp=yes enable_pcp=yes pinhole_target=both || fail "igdd did not start"
pid=$(lab_igdd_pid)
ok "igdd is up without a usable LAN (pid $pid)"
for p in 8080 8081; do lab_listen lan2 tcp $p; done
waiting() { grep -q "upnp: waiting for lan0" "$LAB_DIR/igdd.log"; }
wait_until 5 waiting || fail "igdd does not say it waits for lan0"
ok "UPnP waits for lan0 ($(grep -m1 "upnp: waiting for lan0" "$LAB_DIR/igdd.log"))"
_lab_alive "$pid" || fail "igdd exited while the LAN was down"
t_plug=$(date +%s%N)
lab_lan_up || fail "lab_lan_up"
t_hosts=$(date +%s%N)
step "hosts configured $(dv_secs "$(dv_ms_since "$t_plug")") s after plugging in:" \
	"lan1 tmp $LAN1_TMP, lan2 stable $LAN2_STABLE tmp $LAN2_TMP"
for p in 8080 8081; do lab_listen lan1 tcp $p; done
disc6() {
	out=$(dv_upc lan2 -6 -S)
	printf '%s\n' "$out" | grep -Eq "desc: http://\[$LAN_NET6:1::1\]:[0-9]+/" &&
		printf '%s\n' "$out" | grep -q "Firewall Enabled: Yes"
}
if wait_until 20 disc6; then
	ok "upnpc -6 finds the IGD $(dv_secs "$(dv_ms_since "$t_plug")") s after plug-in" \
		"($(dv_secs "$(((t_hosts - t_plug) / 1000000))") s of it the hosts' SLAAC)"
else
	printf '%s\n' "$out" | tail -n 5
	fail "UPnP over IPv6 did not come up within 20 s of the hosts' SLAAC"
fi
_lab_alive "$pid" || fail "igdd exited ($(tail -n 3 "$LAB_DIR/igdd.log"))"
ok "igdd still running (pid $pid)"
grep -q "cannot tie socket" "$LAB_DIR/igdd.log" && fail "false warning: $(grep -m1 "cannot tie socket" "$LAB_DIR/igdd.log")"
ok "no 'cannot tie socket' warning"
n_bind=$(grep -c "UPNP_E_SOCKET_BIND" "$LAB_DIR/igdd.log" || true)
echo "UPnP start attempts that failed to bind: $n_bind; log lines about lan0:"
grep -E "^upnp:" "$LAB_DIR/igdd.log" | head -n 8

# ------------------------------------------------------------------ 2. both = temporary + stable
step "2. lan2 asks for its temporary address (pinhole_target=both)"
expect_no_connect wan tcp "$LAN2_STABLE" 8080 "default deny before any pinhole"
out=$(dv_upc lan2 -6 -A "" 0 "$LAN2_TMP" 8080 6 600)
dv_expect_out "$out" "Pinhole ID = [0-9]+" "upnpc AddPinhole for lan2's temporary address accepted"
ph=$(dv_pinhole_id "$out")
echo "rule $ph: $(dv_rule "$ph"); $LAN2_STABLE: kind $(dv_kind "$LAN2_STABLE") ($(dv_evidence "$LAN2_STABLE"))"
expect_connect wan tcp "$LAN2_TMP" 8080 "WAN reaches the temporary address"
expect_connect wan tcp "$LAN2_STABLE" 8080 "WAN reaches lan2's stable address too (learnt from its DAD)"
expect_no_connect wan tcp "$LAN2_STABLE" 8081 "only the asked port"

# ------------------------------------------------------------------ 6. Windows-like host
step "6. lan1 keeps one IID ($TOKEN) across prefixes"
W1=$(lab_host_addr 1 stable)
case $W1 in *:abcd:1234:5678:9abc) ok "lan1's stable address is $W1 (its token)" ;;
*) fail "lan1's stable address is '$W1', not the token's" ;; esac
out=$(dv_upc lan1 -6 -A "" 0 "$W1" 8080 6 600)
dv_expect_out "$out" "Pinhole ID = [0-9]+" "upnpc (from lan1's temporary address) AddPinhole for $W1"
ph1=$(dv_pinhole_id "$out")
echo "rule $ph1: $(dv_rule "$ph1"); $W1: kind $(dv_kind "$W1") ($(dv_evidence "$W1"))"
expect_connect wan tcp "$W1" 8080 "WAN reaches lan1's token address"
lab_background 1
lab_background 2
t_ren=$(date +%s%N)
lab_renumber $N2 || fail "lab_renumber"
W2=$(dv_wait_addr 1 stable $N2 15) || fail "lan1 formed no stable address in $N2:1::/64 within 15 s"
t_usable=$(date +%s%N)
expect_eq "$W2" "$N2:1:abcd:1234:5678:9abc" "lan1's new stable address keeps the IID"
step "usable $(dv_secs "$(dv_ms_since "$t_ren")") s after the RA change"
reach_w2() { lab_can_connect wan tcp "$W2" 8080 0.3; }
if wait_until 10 reach_w2; then
	ok "pinhole follows to $W2: $(dv_secs "$(dv_ms_since "$t_usable")") s after the address was usable"
else
	echo "rule $ph1: $(dv_rule "$ph1"); lan1 as igdd sees it:"
	dv_show_device "$LAN1_MAC"
	fail "WAN does not reach $W2:8080 within 10 s of it being usable"
fi
expect_eq "$(dv_kind "$W2")" stable "igdctl devices: $W2 is stable ($(dv_evidence "$W2"))"
expect_no_connect wan tcp "$W1" 8080 "old token address closed"
_lab_alive "$pid" || fail "igdd exited"
ok "igdd ran throughout (pid $pid)"
it_done
