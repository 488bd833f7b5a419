#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Renumbering as a home sees it: the router announces a new delegated prefix by RA (radvd: new PIO, the
# old one with preferred lifetime 0) and the hosts renumber themselves by SLAAC with DAD. Nothing here adds
# a host address by hand or pings from a chosen source. Rules:
#   lan1 (EUI-64 host) has an igdctl pinhole on its EUI-64 address and, asked by upnpc from its temporary
#        address (its default source), a pinhole on that temporary address;
#   lan2 (stable-privacy host, its stable address silent) has a pinhole on its stable address, asked by
#        upnpc from its temporary address.
# Stage 1, igdd running: the EUI-64 pinhole moves to lan1's new address in the transaction that removes
#   the old prefix's elements; the rule asked for lan1's temporary address follows lan1 (the device) to
#   its new stable address, the old temporary address closed; lan2's rule follows to its new stable
#   address (it talks in the background, as a desktop does); nothing of the old /56 stays in the kernel.
# Stage 2, igdd stopped while the prefix changes, started after the hosts renumbered: the same.
# Stage 3, a DHCPv6 client hook (`igdctl prefix-changed`) tells igdd before the router announces the new
#   prefix: one transaction, a PCP ANNOUNCE burst, and the EUI-64 pinhole open as soon as lan1 has the
#   address; malformed prefixes are refused.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
# shellcheck source-path=SCRIPTDIR source=devices_lib.sh
. "$(dirname "$0")/devices_lib.sh"
it_setup

N1=$LAN_NET6 N2=2001:db8:2 N3=2001:db8:3 N4=2001:db8:4
eui() { echo "$1:1:5054:ff:fe12:340$2"; }
state_of() { dv_json "next((r['state'] for r in j['rules'] if r['id']==$1), 'none')" list; }
tx() { dv_json "j['firewall']['transactions']" status; }
# in_kernel TEXT: does table inet igdd hold an element containing TEXT?
in_kernel() { lab_exec cpe nft list table inet igdd | grep -q "$1"; }
# on_addr ID ADDR: rule ID targets ADDR (exactly, or as its resolved stable address)
on_addr() {
	local st exact stable
	read -r st _ exact stable <<<"$(dv_rule "$1")"
	[ "$st" = installed ] && { [ "$exact" = "$2" ] || [ "$stable" = "$2" ]; }
}
reach() { lab_can_connect wan tcp "$1" "$2" 0.3; }

for p in 8080 8081; do lab_listen lan1 tcp $p; lab_listen lan2 tcp $p; done
lab_igdd_start enable_upnp=yes enable_pcp=yes || fail "igdd did not start"
dv_upnp_up || fail "the UPnP front end did not start"

step "rules: lan1 EUI-64 $LAN1_EUI64 (igdctl), lan1 temporary $LAN1_TMP and lan2 stable $LAN2_STABLE (upnpc)"
id_eui=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8080 desc=eui64)
out=$(dv_upc lan1 -6 -A "" 0 "$LAN1_TMP" 8081 6 3600)
dv_expect_out "$out" "Pinhole ID = [0-9]+" "upnpc on lan1: pinhole on its temporary address"
id_tmp=$(dv_pinhole_id "$out")
out=$(dv_upc lan2 -6 -A "" 0 "$LAN2_STABLE" 8080 6 3600)
dv_expect_out "$out" "Pinhole ID = [0-9]+" "upnpc on lan2 (from its temporary address): pinhole on its stable address"
id_st=$(dv_pinhole_id "$out")
expect_connect wan tcp "$LAN1_EUI64" 8080 "WAN reaches lan1's EUI-64 address"
expect_connect wan tcp "$LAN1_TMP" 8081 "WAN reaches lan1's temporary address"
expect_connect wan tcp "$LAN2_STABLE" 8080 "WAN reaches lan2's stable address"
lab_background 1
lab_background 2

# ------------------------------------------------------------------ stage 1: live
tx0=$(tx)
step "1. radvd announces $N2:1::/64 ($N1:1::/64 deprecated) with igdd running"
t0=$(date +%s%N)
lab_renumber $N2 || fail "lab_renumber $N2"
E2=$(dv_wait_addr 1 stable $N2 15) || fail "lan1 formed no address in $N2:1::/64 within 15 s"
expect_eq "$E2" "$(eui $N2 1)" "lan1 formed its EUI-64 address in the new prefix"
t_usable=$(date +%s%N)
wait_until 3 reach "$E2" 8080 || fail "WAN does not reach $E2:8080 within 3 s of it being usable"
ok "EUI-64 pinhole reachable at $E2 $(dv_secs "$(dv_ms_since "$t_usable")") s after lan1's address was usable ($(dv_secs "$(dv_ms_since "$t0")") s after the RA change)"
on_addr "$id_tmp" "$E2" || fail "the rule asked for lan1's temporary address is not on $E2 ($(dv_rule "$id_tmp"))"
ok "the rule asked for lan1's temporary address follows lan1 to $E2"
expect_connect wan tcp "$E2" 8081 "WAN reaches lan1's new address on that rule's port"
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "old EUI-64 address closed (still on the host, deprecated)"
expect_no_connect wan tcp "$LAN1_TMP" 8081 "old temporary address closed"
S2=$(dv_wait_addr 2 stable $N2 15) || fail "lan2 formed no stable address in $N2:1::/64 within 15 s"
t_usable=$(date +%s%N)
if wait_until 10 on_addr "$id_st" "$S2"; then
	ok "lan2's rule follows to its new stable address $S2 ${WAITED} s after it was usable"
else
	dv_show_device "$LAN2_MAC"
	fail "lan2's rule is not on $S2 within 10 s ($(dv_rule "$id_st"))"
fi
expect_connect wan tcp "$S2" 8080 "WAN reaches lan2's new stable address"
expect_no_connect wan tcp "$LAN2_STABLE" 8080 "lan2's old stable address closed"
in_kernel "$N1:" && fail "an element of $N1::/56 is still in table inet igdd"
ok "no element of $N1::/56 left in the kernel"
ntx=$(($(tx) - tx0))
# one transaction when the prefix changed (EUI-64 moved, old elements and the temporary rule gone), one
# when lan2's new stable address was learned; the background traffic changes no rule
[ "$ntx" -le 2 ] && ok "re-anchoring took $ntx nft transaction(s)" || fail "re-anchoring took $ntx nft transactions"

# ------------------------------------------------------------------ stage 2: igdd stopped
step "2. igdd stopped; radvd announces $N3:1::/64; the hosts renumber; igdd started"
lab_igdd_stop || fail "igdd stop"
lab_renumber $N3 || fail "lab_renumber $N3"
E3=$(dv_wait_addr 1 stable $N3 15) || fail "lan1 formed no address in $N3:1::/64 within 15 s"
S3=$(dv_wait_addr 2 stable $N3 15) || fail "lan2 formed no stable address in $N3:1::/64 within 15 s"
t0=$(date +%s%N)
lab_igdd_start enable_upnp=yes enable_pcp=yes || fail "igdd did not restart"
wait_until 3 reach "$E3" 8080 || fail "WAN does not reach $E3:8080 within 3 s of igdd's start"
ok "EUI-64 pinhole reachable at $E3 $(dv_secs "$(dv_ms_since "$t0")") s after igdd started"
expect_no_connect wan tcp "$E2" 8080 "the EUI-64 address of the old prefix closed"
in_kernel "$N2:" && fail "an element of $N2::/56 is in table inet igdd after the restart"
ok "no element of $N2::/56 in the kernel after the restart"
# lan2's new stable address was formed while igdd was down and never speaks: igdd holds lan2's rule until
# it learns that address (relisten and asking the LAN work on what the host answers)
if wait_until 5 on_addr "$id_st" "$S3"; then
	ok "lan2's rule on its new stable address $S3 ${WAITED} s after igdd's start"
	expect_connect wan tcp "$S3" 8080 "WAN reaches lan2's new stable address"
else
	st=$(state_of "$id_st")
	expect_eq "$st" pending "lan2's rule waits for its new stable address (not installed elsewhere)"
	in_kernel "$S2" && fail "lan2's old stable address is still in the kernel"
	ok "nothing of lan2's rule in the kernel while it waits"
fi
expect_no_connect wan tcp "$S2" 8080 "lan2's old stable address closed"

# ------------------------------------------------------------------ stage 3: DHCPv6 hook first
step "3. igdctl prefix-changed $N3::/56 $N4::/56 (a DHCPv6 client hook), then radvd announces it"
E4=$(eui $N4 1)
tx0=$(tx)
# PCP clients must hear of it (RFC 6887 14.1.3): a new ANNOUNCE burst starts at once (0, 250, 500 ms...),
# which the start-up burst (by now one packet every few seconds) cannot fake within 2.5 s
ip netns exec "${LAB}lan1" "$LAB_PY" "$TOP/tests/lab/pcpc.py" listen --group 224.0.0.1 --timeout 2.5 --count 6 \
	>"$LAB_DIR/announce" 2>&1 </dev/null &
listener=$!
listening() { ip netns exec "${LAB}lan1" ss -Hlun 'sport = :5350' | grep -q 5350; }
wait_until 5 listening || fail "the ANNOUNCE listener did not start"
out=$(igdctl_lab prefix-changed "$N3::/56" "$N4::/56") || fail "igdctl prefix-changed"
ok "igdctl: $out"
wait "$listener" || true
n_ann=$(grep -c 'opcode=ANNOUNCE' "$LAB_DIR/announce" || true)
[ "$n_ann" -ge 2 ] && ok "PCP ANNOUNCE burst on the LAN after the change ($n_ann in 2.5 s)" ||
	fail "no new ANNOUNCE burst after the change ($n_ann PCP ANNOUNCE in 2.5 s)"
expect_eq "$(($(tx) - tx0))" 1 "one nft transaction"
in_kernel "$E4" || fail "the EUI-64 pinhole is not on $E4 after prefix-changed"
ok "the EUI-64 pinhole is on $E4 before the host has the address"
lab_renumber $N4 || fail "lab_renumber $N4"
dv_wait_addr 1 stable $N4 15 >/dev/null || fail "lan1 formed no address in $N4:1::/64 within 15 s"
wait_until 3 reach "$E4" 8080 || fail "WAN does not reach $E4:8080"
ok "WAN reaches $E4 as soon as lan1 has it"
expect_no_connect wan tcp "$E3" 8080 "old address closed"
igdctl_lab prefix-changed "$N4::/56" "2001:db8:5::/129" >/dev/null 2>&1 && fail "a bad prefix was accepted"
igdctl_lab prefix-changed "$N4::/56" "fe80::/56" >/dev/null 2>&1 && fail "a link-local prefix was accepted"
ok "malformed and link-local prefixes refused"
it_done
