#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# 10,000 pinholes: elements of sets, not rules. The ruleset keeps a small, constant number of rules.
# (Installing 10,000 elements in one transaction is checked by the backend's C tests.)
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup
N=${SCALE_N:-10000}

lab_listen lan1 tcp 25000
lab_igdd_start || fail "igdd did not start"
rules0=$(lab_nft_count rules list table inet igdd) || fail "table inet igdd missing"
ok "empty table: $rules0 rules"
[ "$rules0" -lt 30 ] || fail "too many rules in an empty table: $rules0"

step "adding $N pinholes through the control socket, one request each"
res=$(lab_ctlbulk add-pinholes "$LAN1_EUI64" tcp 20000 "$N" 2>&1) || fail "bulk add: $res"
ok "$res"

elems=$(set_count ph_port)
expect_eq "$elems" "$N" "ph_port holds every pinhole"
rules1=$(lab_nft_count rules list table inet igdd)
expect_eq "$rules1" "$rules0" "rule count unchanged with $N pinholes"
listed=$(lab_ctlbulk count)
expect_eq "$listed" "$N" "igdd lists every pinhole"
text=$(lab_exec cpe nft list table inet igdd)
echo "$text" | grep -q "$LAN1_EUI64 . tcp . 25000" || fail "nft list table does not show element $LAN1_EUI64 . tcp . 25000"
ok "nft list table shows the elements in the set"
expect_connect wan tcp "$LAN1_EUI64" 25000 "pinhole in the middle of $N works"
expect_no_connect wan tcp "$LAN2_STABLE" 25000 "lan2 still closed"

step "deleting them all"
res=$(lab_ctlbulk delete-all 2>&1) || fail "bulk delete: $res"
ok "$res"
expect_eq "$(set_count ph_port)" 0 "ph_port empty again"
expect_no_connect wan tcp "$LAN1_EUI64" 25000 "closed again"
it_done
