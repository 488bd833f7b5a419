#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The household UI in a real browser (tests/browser/run.sh: playwright-core + Debian's chromium in
# lan1): log in, see lan1 and lan2 by the names their DHCP requests gave (dnsmasq's lease file), open a
# TCP port for lan1, a wan->lan1 connection succeeds and the packets chart shows it; delete it in the UI
# and the connection fails; give a port upnpc mapped for lan1 to lan2. Screenshots:
# tests/out/browser/.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

WEB_PASSWORD="lab password $LAB"
HASH=$(printf '%s\n%s\n' "$WEB_PASSWORD" "$WEB_PASSWORD" | "$IGDCTL_BIN" passwd) || fail "igdctl passwd"
# the DHCP server's lease file, as dnsmasq writes it: lan1 and lan2 asked for names of their own
exp=$(($(date +%s) + 43200))
printf '%s\n' "$exp $LAN1_MAC $LAN1_V4 lan1-pc 01:$LAN1_MAC" "$exp $LAN2_MAC $LAN2_V4 lan2-console *" \
	>"$LAB_DIR/dnsmasq.leases"
lab_igdd_start "web_listen=:8080" enable_upnp=yes "$HASH" "dhcp_leases=$LAB_DIR/dnsmasq.leases" ||
	fail "igdd did not start"
ok "igdd serves the UI on the LAN"
PORT=8081
lab_listen lan1 tcp "$PORT" || fail "listener on lan1"
expect_no_connect wan tcp "$LAN1_EUI64" "$PORT" "closed before the browser opens it"
# the console port the household gives from lan1 to lan2: only lan2 answers on it
GIVE_PORT=9308
lab_listen lan2 tcp "$GIVE_PORT" || fail "listener on lan2"
expect_no_connect wan tcp "$CPE_WAN4" "$GIVE_PORT" "no mapping for $GIVE_PORT before the browser test"

step "browser"
export LAB LAB_DIR LAN1_EUI64 LAN1_MAC LAN1_V4 LAN2_MAC CPE_WAN4 GIVE_PORT WEB_PASSWORD IGDCTL_BIN
export WEB_BASE=http://$CPE_LAN4:8080 TEST_PORT=$PORT
export SHOTS=${SHOTS:-$TOP/tests/out/browser}
rc=0
bash "$TOP/tests/browser/run.sh" || rc=$?
[ $rc = 0 ] || fail "tests/browser/run.sh failed (exit $rc)"
ok "browser test passed; screenshots in $SHOTS"
igdctl_lab status >/dev/null || fail "igdd stopped answering"
it_done
