#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Someone else edits igdd's table (flush, delete one element, delete the table): igdd repairs it within 1 s.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

lab_listen lan1 tcp 8080
lab_listen lan1 udp 8081
lab_listen lan2 tcp 8080
lab_igdd_start || fail "igdd did not start"
igdctl_add pinhole "$LAN1_EUI64" tcp 8080 >/dev/null
igdctl_add pinhole "$LAN1_EUI64" udp 8081 >/dev/null
expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole open"
expect_no_connect wan tcp "$LAN2_STABLE" 8080 "lan2 closed"
rules0=$(lab_nft_count rules list table inet igdd)

has_elem() { lab_exec cpe nft list set inet igdd ph_port 2>/dev/null | grep -q "$LAN1_EUI64 . tcp . 8080"; }
repaired() {
	has_elem && [ "$(set_count ph_port)" = 2 ] &&
		[ "$(lab_nft_count rules list table inet igdd)" = "$rules0" ]
}

# check_repair WHAT: after an outside change, the table is whole again within 1 s and behaves
check_repair() {
	wait_until 1 repaired || fail "$1: not repaired within 1 s: $(lab_exec cpe nft list table inet igdd 2>&1 | head -n 40)"
	ok "$1: repaired in $WAITED s"
	expect_connect wan tcp "$LAN1_EUI64" 8080 "$1: pinhole works again"
	expect_connect wan udp "$LAN1_EUI64" 8081 "$1: udp pinhole works again"
	expect_no_connect wan tcp "$LAN2_STABLE" 8080 "$1: default deny is back"
}

step "nft flush table inet igdd"
lab_exec cpe nft flush table inet igdd
check_repair "flush table"

step "nft delete element inet igdd ph_port { $LAN1_EUI64 . tcp . 8080 }"
lab_exec cpe nft delete element inet igdd ph_port "{ $LAN1_EUI64 . tcp . 8080 }"
check_repair "delete element"

step "nft delete table inet igdd"
lab_exec cpe nft delete table inet igdd
check_repair "delete table"

step "nft flush set inet igdd ph_port"
lab_exec cpe nft flush set inet igdd ph_port
check_repair "flush set"

st=$(igdctl_lab --json status) || fail "status"
rec=$(echo "$st" | "$LAB_PY" -c 'import json,sys; print(json.load(sys.stdin)["firewall"]["reconciles"])')
[ "$rec" -ge 4 ] || fail "status counts $rec reconciles, want >= 4"
ok "status counts $rec reconciles"
it_done
