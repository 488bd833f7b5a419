#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# IPv4 port mappings: 203.0.113.1:EXT from the WAN reaches a LAN host's 192.0.2.x:PORT, until deleted.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

lab_listen lan1 tcp 8080
lab_listen lan1 udp 8080
lab_listen lan2 tcp 8080
lab_igdd_start || fail "igdd did not start"
step "igdd up"
expect_no_connect wan tcp "$CPE_WAN4" 18080 "no mapping, no way in"
expect_no_connect wan tcp "$LAN1_V4" 8080 "the WAN has no route to the LAN"
expect_connect lan1 tcp "$LAN2_V4" 8080 "LAN to LAN works"

step "igdctl add portmap 18080 $LAN1_V4 8080 tcp"
tcp_id=$(igdctl_add portmap 18080 "$LAN1_V4" 8080 tcp)
expect_connect wan tcp "$CPE_WAN4" 18080 "mapping reaches lan1"
expect_no_connect wan tcp "$CPE_WAN4" 18081 "other external ports stay closed"
expect_no_connect wan udp "$CPE_WAN4" 18080 "tcp mapping does not map udp"

step "igdctl add portmap 18081 $LAN1_V4 8080 udp"
udp_id=$(igdctl_add portmap 18081 "$LAN1_V4" 8080 udp)
expect_connect wan udp "$CPE_WAN4" 18081 "udp mapping reaches lan1"

step "igdctl delete $tcp_id"
igdctl_lab delete "$tcp_id" || fail "delete $tcp_id"
expect_no_connect wan tcp "$CPE_WAN4" 18080 "deleted mapping is closed"
expect_connect wan udp "$CPE_WAN4" 18081 "the udp mapping stays"
step "igdctl delete $udp_id"
igdctl_lab delete "$udp_id" || fail "delete $udp_id"
expect_no_connect wan udp "$CPE_WAN4" 18081 "deleted udp mapping is closed"

step "a mapping to lan2 and an outbound check"
igdctl_add portmap 18082 "$LAN2_V4" 8080 tcp >/dev/null
expect_connect wan tcp "$CPE_WAN4" 18082 "mapping reaches lan2"
lab_listen wan tcp 9000
expect_connect lan1 tcp "$WAN_V4" 9000 "LAN hosts still reach the WAN (masquerade)"
it_done
