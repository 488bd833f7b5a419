#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# igdd killed with SIGKILL comes back with every unexpired rule, none twice, none it had deleted.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

lab_listen lan1 tcp 8080
lab_listen lan1 udp 8081
lab_listen lan2 tcp 8090
lab_igdd_start || fail "igdd did not start"

ids() { igdctl_lab --json list | "$LAB_PY" -c 'import json,sys; print(" ".join(sorted(str(r["id"]) for r in json.load(sys.stdin)["rules"])))'; }

step "five rules, then one deleted"
igdctl_add pinhole "$LAN1_EUI64" tcp 8080 >/dev/null
igdctl_add pinhole "$LAN1_EUI64" udp 8081 lease=600 >/dev/null
gone=$(igdctl_add pinhole "$LAN2_STABLE" tcp 8090)
igdctl_add portmap 18080 "$LAN1_V4" 8080 tcp >/dev/null
igdctl_add pinhole "$LAN1_EUI64" tcp 8084 lease=3600 desc=restart >/dev/null
expect_connect wan tcp "$LAN2_STABLE" 8090 "pinhole to lan2 open"
igdctl_lab delete "$gone" || fail "delete $gone"
expect_no_connect wan tcp "$LAN2_STABLE" 8090 "deleted pinhole closed"
short=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8085 lease=2)
t_short=$(date +%s%N)
before=$(ids)
nb=$(echo "$before" | wc -w)
expect_eq "$nb" 5 "five rules listed before the kill"
elems_before=$(lab_nft_count elems list table inet igdd)
ph_before=$(set_count ph_port)
ok "kernel holds $elems_before elements ($ph_before in ph_port)"

step "kill -9 igdd; wait until the lease=2 rule $short has expired; restart"
lab_igdd_kill9
while [ $(($(date +%s%N) - t_short)) -lt 2500000000 ]; do sleep 0.1; done
t0=$(date +%s%N)
lab_igdd_start || fail "igdd did not restart"
ok "igdd answers $(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.2f", d / 1e9 }') s after start"

after=$(ids)
expected=$(for i in $before; do [ "$i" = "$short" ] || echo "$i"; done | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
expect_eq "$after" "$expected" "every unexpired rule is back with its id"
case " $after " in *" $gone "*) fail "deleted rule $gone came back" ;; esac
ok "deleted rule $gone did not come back"
case " $after " in *" $short "*) fail "expired rule $short came back" ;; esac
ok "expired rule $short did not come back"
elems_after=$(lab_nft_count elems list table inet igdd)
expect_eq "$elems_after" "$((elems_before - 1))" "kernel elements: those before, less the expired one"
expect_eq "$(set_count ph_port)" "$((ph_before - 1))" "ph_port elements"

expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole passes traffic after restart"
expect_connect wan udp "$LAN1_EUI64" 8081 "udp pinhole passes traffic after restart"
expect_connect wan tcp "$CPE_WAN4" 18080 "port mapping passes traffic after restart"
expect_no_connect wan tcp "$LAN2_STABLE" 8090 "deleted pinhole stays closed"

step "clean restart (SIGTERM) keeps them too"
lab_igdd_stop || fail "igdd did not stop on SIGTERM"
lab_igdd_start || fail "igdd did not restart"
expect_eq "$(ids)" "$expected" "rules after a clean restart"
expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole passes traffic"
it_done
