#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# IPv6 pinholes: closed by default, opened per address/proto/port, closed on delete, on lease expiry,
# and by the kernel's own element timeout when igdd is gone.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

lab_listen lan1 tcp 8080
lab_listen lan1 udp 8080
lab_listen lan1 udp 8081
lab_listen lan1 tcp 8082
lab_listen lan1 tcp 8083
lab_listen lan2 tcp 8080
lab_listen lan2 udp 8081
expect_connect wan tcp "$LAN1_EUI64" 8080 "without igdd the lab forwards"

lab_igdd_start || fail "igdd did not start"
step "igdd up"
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "default deny inbound"
expect_no_connect wan udp "$LAN1_EUI64" 8081 "default deny inbound"
expect_connect lan1 tcp "$LAN2_STABLE" 8080 "LAN to LAN is not igdd's business"

step "igdctl add pinhole $LAN1_EUI64 tcp 8080"
tcp_id=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8080)
expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole opens lan1"
expect_no_connect wan tcp "$LAN2_STABLE" 8080 "pinhole for lan1 does not open lan2"
expect_no_connect wan tcp "$LAN1_TMP" 8080 "pinhole for lan1's EUI-64 address does not open its temporary address"
expect_no_connect wan udp "$LAN1_EUI64" 8080 "tcp pinhole does not open udp"

step "igdctl add pinhole $LAN1_EUI64 udp 8081"
udp_id=$(igdctl_add pinhole "$LAN1_EUI64" udp 8081)
expect_connect wan udp "$LAN1_EUI64" 8081 "udp pinhole opens lan1"
expect_no_connect wan udp "$LAN2_STABLE" 8081 "udp pinhole for lan1 does not open lan2"
expect_no_connect wan udp "$LAN1_TMP" 8081 "udp pinhole does not open lan1's temporary address"
[ "$(set_count ph_port)" = 2 ] || fail "ph_port should hold 2 elements, holds $(set_count ph_port)"
ok "ph_port holds 2 elements"

step "igdctl delete $tcp_id"
igdctl_lab delete "$tcp_id" || fail "delete $tcp_id"
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "deleted pinhole is closed"
expect_connect wan udp "$LAN1_EUI64" 8081 "the other pinhole stays"
igdctl_lab delete "$udp_id" || fail "delete $udp_id"
expect_no_connect wan udp "$LAN1_EUI64" 8081 "deleted udp pinhole is closed"

step "pinhole with lease=3"
t0=$(date +%s%N)
igdctl_add pinhole "$LAN1_EUI64" tcp 8082 lease=3 >/dev/null
expect_connect wan tcp "$LAN1_EUI64" 8082 "leased pinhole opens"
closed() { ! lab_can_connect wan tcp "$LAN1_EUI64" 8082 0.3; }
wait_until 6 closed || fail "lease=3 pinhole still open 6 s later"
secs=$(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", d / 1e9 }')
awk -v s="$secs" 'BEGIN { exit !(s >= 2.5) }' || fail "lease=3 pinhole closed too early (${secs} s)"
ok "lease=3 pinhole closed after ${secs} s"
expect_no_connect wan tcp "$LAN1_EUI64" 8082 "expired pinhole stays closed"

step "pinhole with lease=4, then igdd killed with SIGKILL"
[ "$(set_count ph_port)" = 0 ] || fail "ph_port should be empty, holds $(set_count ph_port)"
t0=$(date +%s%N)
igdctl_add pinhole "$LAN1_EUI64" tcp 8083 lease=4 >/dev/null
expect_connect wan tcp "$LAN1_EUI64" 8083 "leased pinhole opens"
lab_igdd_kill9
ok "igdd killed"
[ "$(set_count ph_port)" = 1 ] || fail "ph_port should still hold the element, holds $(set_count ph_port)"
expect_connect wan tcp "$LAN1_EUI64" 8083 "pinhole still open without igdd"
empty() { [ "$(set_count ph_port)" = 0 ]; }
wait_until 7 empty || fail "kernel did not time the element out ($(lab_exec cpe nft list set inet igdd ph_port))"
secs=$(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", d / 1e9 }')
awk -v s="$secs" 'BEGIN { exit !(s >= 3.5) }' || fail "element left too early (${secs} s)"
ok "kernel removed the element after ${secs} s"
expect_no_connect wan tcp "$LAN1_EUI64" 8083 "timed-out pinhole is closed with igdd gone"
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "default deny still in place with igdd gone"
it_done
