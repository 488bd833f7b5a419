#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The household UI in a real browser (tests/browser/run.sh: playwright-core + Debian's chromium in
# lan1): log in, see lan1, open a TCP port for it, a wan->lan1 connection succeeds; delete it in
# the UI and the connection fails; a rule made by igdctl shows up within 2 s. Screenshots:
# tests/out/browser/.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

WEB_PASSWORD="lab password $LAB"
HASH=$(printf '%s\n%s\n' "$WEB_PASSWORD" "$WEB_PASSWORD" | "$IGDCTL_BIN" passwd) || fail "igdctl passwd"
lab_igdd_start "web_listen=:8080" enable_upnp=yes "$HASH" || fail "igdd did not start"
ok "igdd serves the UI on the LAN"
PORT=8081
lab_listen lan1 tcp "$PORT" || fail "listener on lan1"
expect_no_connect wan tcp "$LAN1_EUI64" "$PORT" "closed before the browser opens it"

step "browser"
export LAB LAB_DIR LAN1_EUI64 LAN1_MAC WEB_PASSWORD IGDCTL_BIN
export WEB_BASE=http://$CPE_LAN4:8080 TEST_PORT=$PORT
export SHOTS=${SHOTS:-$TOP/tests/out/browser}
rc=0
bash "$TOP/tests/browser/run.sh" || rc=$?
[ $rc = 0 ] || fail "tests/browser/run.sh failed (exit $rc)"
ok "browser test passed; screenshots in $SHOTS"
igdctl_lab status >/dev/null || fail "igdd stopped answering"
it_done
