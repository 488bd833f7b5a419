#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Renumbering (issue 5): the delegated prefix changes the way an RA-driven renumbering does it (new prefix
# added, old one deprecated with preferred lifetime 0, then removed), and every pinhole follows it in one
# nft transaction:
#   lan1 is an EUI-64 host: its pinhole moves to its new address at once, no client action; old address closed;
#   lan2 is an RFC 7217 host: no EUI-64 address, a stable opaque IID per prefix (rn_iid7217). The cpe cannot
#        tell it from a temporary one by looking, so the classifier must learn it by persistence: igdd runs with
#        stable_after=3 (a lab-sized stand-in for the default 25 h). Its pinhole is pending after the change,
#        then installed once its new address has persisted 3 s;
#   a pinhole for a fresh temporary address of lan1 (the classifier's sibling rule: an opaque newcomer beside
#        the /64's EUI-64 address) is removed.
# Stage 1 with igdd running (2001:db8:1 -> 2001:db8:2), stage 2 with igdd stopped during the change
# (-> 2001:db8:3), stage 3 through `igdctl prefix-changed` as a DHCPv6 client hook calls it (-> 2001:db8:4).
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=renumber_lib.sh
. "$(dirname "$0")/renumber_lib.sh"
it_setup

N1=2001:db8:1 N2=2001:db8:2 N3=2001:db8:3 N4=2001:db8:4
A1=$N1:1:$(rn_iid7217 $N1)
A2=$N2:1:$(rn_iid7217 $N2)
A3=$N3:1:$(rn_iid7217 $N3)

step "lan2 becomes an RFC 7217 host: EUI-64 address removed, stable opaque $A1"
lab_exec lan2 ip -6 addr del "$LAN2_STABLE/64" dev eth0
lab_exec cpe ip -6 neigh del "$LAN2_STABLE" dev lan0 2>/dev/null || true
rn_host_add 2 "$A1"
for p in 8080 8081; do lab_listen lan1 tcp $p; lab_listen lan2 tcp $p; done

lab_igdd_start stable_after=3 || fail "igdd did not start"
id1=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8080 desc=eui64)
id2=$(igdctl_add pinhole "$A1" tcp 8080 desc=opaque)
expect_connect wan tcp "$LAN1_EUI64" 8080 "EUI-64 pinhole open"
expect_connect wan tcp "$A1" 8080 "opaque pinhole open"
is_stable() { [ "$(rn_kind "$1")" = stable ]; }
wait_until 8 is_stable "$A1" || fail "$A1 not judged stable ($(rn_kind "$A1"))"
ok "classifier: $A1 stable after ${WAITED} s (persistence)"

T1=$N1:1:$(_lab_rand_iid)
rn_host_add 1 "$T1"
is_temp() { [ "$(rn_kind "$1")" = temporary ]; }
wait_until 2 is_temp "$T1" || fail "$T1 not judged temporary ($(rn_kind "$T1"))"
ok "classifier: fresh opaque $T1 beside lan1's EUI-64 is temporary"
id3=$(igdctl_add pinhole "$T1" tcp 8081 desc=temp)
igdctl_lab list | grep "\[$T1\]" | grep -q temporary || fail "igdctl list does not mark $T1 temporary"
ok "igdctl list marks the temporary target"
expect_connect wan tcp "$T1" 8081 "temporary-address pinhole open"

# ---------------------------------------------------------------- stage 1: live
tx0=$(rn_tx)
step "renumber $N1 -> $N2 with igdd running (transactions so far: $tx0)"
N2E1=$(rn_eui $N2 1)
rn_cpe_add $N2
rn_cpe_deprecate $N1
t0=$(date +%s%N)
rn_host_add 1 "$N2E1"
rn_host_deprecate 1 "$LAN1_EUI64"
rn_host_deprecate 1 "$T1"
rn_host_deprecate 2 "$A1"
open_new() { lab_can_connect wan tcp "$N2E1" 8080 0.3; }
wait_until 2 open_new || fail "EUI-64 host not reachable at $N2E1 within 2 s"
ok "EUI-64 pinhole reachable at $N2E1 $(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.2f", d / 1e9 }') s after the change"
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "old EUI-64 address closed (still on the host, deprecated)"
expect_no_connect wan tcp "$T1" 8081 "temporary-address pinhole of the old prefix closed"
expect_eq "$(rn_state "$id3")" none "temporary-address rule removed"
expect_eq "$(rn_state "$id2")" pending "stable-opaque rule pending"
expect_no_connect wan tcp "$A1" 8080 "old stable-opaque address closed"
rn_set_has "$N1:" && fail "an address of $N1::/56 is still in table inet igdd"
ok "no element of $N1::/56 left in the kernel"
expect_eq "$(($(rn_tx) - tx0))" 1 "one nft transaction re-anchored everything"

step "lan2 forms its new stable opaque address $A2"
t0=$(date +%s%N)
rn_host_add 2 "$A2"
open_a2() { lab_can_connect wan tcp "$A2" 8080 0.3; }
wait_until 10 open_a2 || fail "stable-opaque host not reachable at $A2 (rule $(rn_state "$id2"))"
ok "stable-opaque pinhole open at $A2 $(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.2f", d / 1e9 }') s after it appeared"
expect_eq "$(rn_state "$id2")" installed "stable-opaque rule installed"
step "old addresses removed"
rn_cpe_remove $N1
rn_host_remove 1 "$LAN1_EUI64"
rn_host_remove 1 "$T1"
rn_host_remove 2 "$A1"
expect_connect wan tcp "$N2E1" 8080 "EUI-64 pinhole still open"
expect_connect wan tcp "$A2" 8080 "stable-opaque pinhole still open"

# ---------------------------------------------------------------- stage 2: igdd stopped during the change
T2=$N2:1:$(_lab_rand_iid)
rn_host_add 1 "$T2"
wait_until 2 is_temp "$T2" || fail "$T2 not judged temporary"
id4=$(igdctl_add pinhole "$T2" tcp 8081 desc=temp2)
step "igdd stopped; renumber $N2 -> $N3; igdd started"
lab_igdd_stop || fail "igdd stop"
N3E1=$(rn_eui $N3 1)
rn_cpe_add $N3
rn_cpe_deprecate $N2
rn_host_add 1 "$N3E1"
rn_host_deprecate 1 "$N2E1"
rn_host_deprecate 1 "$T2"
rn_host_deprecate 2 "$A2"
rn_host_add 2 "$A3"
rn_cpe_remove $N2
t0=$(date +%s%N)
lab_igdd_start stable_after=3 enable_pcp=yes || fail "igdd did not restart"
open_n3() { lab_can_connect wan tcp "$N3E1" 8080 0.3; }
wait_until 2 open_n3 || fail "EUI-64 host not reachable at $N3E1 after restart"
ok "EUI-64 pinhole reachable at $N3E1 $(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.2f", d / 1e9 }') s after start"
st2=$(rn_state "$id2")
expect_no_connect wan tcp "$N2E1" 8080 "old EUI-64 address closed"
expect_no_connect wan tcp "$T2" 8081 "temporary-address pinhole of the old prefix closed"
expect_eq "$(rn_state "$id4")" none "temporary-address rule removed"
rn_set_has "$N2:" && fail "an address of $N2::/56 is in table inet igdd after restart"
ok "no element of $N2::/56 in the kernel after restart"
echo "stable-opaque rule right after start: $st2; firewall transactions since start: $(rn_tx)"
[ "$st2" = pending ] && ok "stable-opaque rule pending after restart" ||
	echo "note: rule $id2 was '$st2' at the first look (its address may already have counted as stable)"
open_a3() { lab_can_connect wan tcp "$A3" 8080 0.3; }
wait_until 10 open_a3 || fail "stable-opaque host not reachable at $A3 after restart (rule $(rn_state "$id2"))"
ok "stable-opaque pinhole open at $A3"
expect_no_connect wan tcp "$A2" 8080 "old stable-opaque address closed"

# ---------------------------------------------------------------- stage 3: igdctl prefix-changed
step "igdctl prefix-changed $N3::/56 $N4::/56 (a DHCPv6 client hook)"
N4E1=$(rn_eui $N4 1)
lab_exec cpe ip -6 route add unreachable "$N4::/56"
lab_exec wan ip -6 route add "$N4::/56" via "$CPE_WAN6"
lab_exec cpe ip -6 addr add "$N4:1::1/64" dev lan0 nodad preferred_lft 0 valid_lft 120   # no RA decision yet
rn_host_add 1 "$N4E1"
tx0=$(rn_tx)
# PCP clients must hear of it (RFC 6887 14.1.3): a new ANNOUNCE burst starts at once (0, 250, 500 ms...),
# which the start-up burst (by now one packet every few seconds) cannot fake within 2.5 s (each step
# also carries a NAT-PMP announcement).
ip netns exec "${LAB}lan1" python3 "$TOP/tests/lab/pcpc.py" listen --group 224.0.0.1 --timeout 2.5 --count 6 \
	>"$LAB_DIR/announce" 2>&1 </dev/null &
listener=$!
# the burst must not start before the listener is bound (python starts slowly on a loaded machine)
listening() { ip netns exec "${LAB}lan1" ss -Hlun 'sport = :5350' | grep -q 5350; }
wait_until 5 listening || fail "the ANNOUNCE listener did not start"
out=$(igdctl_lab prefix-changed "$N3::/56" "$N4::/56") || fail "igdctl prefix-changed"
ok "igdctl: $out"
wait "$listener" || true
n_ann=$(grep -c 'opcode=ANNOUNCE' "$LAB_DIR/announce" || true)
[ "$n_ann" -ge 2 ] && ok "PCP ANNOUNCE burst on the LAN after the change ($n_ann in 2.5 s)" ||
	fail "no new ANNOUNCE burst after the change ($n_ann PCP ANNOUNCE in 2.5 s)"
expect_eq "$(($(rn_tx) - tx0))" 1 "one nft transaction"
expect_connect wan tcp "$N4E1" 8080 "EUI-64 pinhole follows to $N4E1"
expect_no_connect wan tcp "$N3E1" 8080 "old address closed"
expect_eq "$(rn_state "$id2")" pending "stable-opaque rule pending in $N4:1::/64"
igdctl_lab prefix-changed "$N3::/56" "2001:db8:5::/129" >/dev/null 2>&1 && fail "a bad prefix was accepted"
ok "bad prefix refused"
it_done
