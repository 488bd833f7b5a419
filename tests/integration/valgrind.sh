#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# igdd under valgrind (memcheck, --leak-check=full, definite leaks count as errors) through a short lab
# scenario: control-socket adds, refresh, delete, list; PCP MAP/ANNOUNCE over IPv4 and IPv6, a deletion by
# lifetime 0, malformed and oversized PCP; an outside flush (reconcile); SIGHUP; a clean stop; a restart that
# restores from the store; a kill -9 and a restart that replays the journal. Fails on any valgrind error or
# a non-zero exit. Then pcpd, on the same store, briefly. VALGRIND_FRONTS=1 also starts UPnP and the web UI (when this build has them).
# Standalone: bash tests/integration/valgrind.sh (as root); in the suite: t_valgrind.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 1; }
it_setup
# valgrind cannot run an ASan build (make test runs the lab tests on one): use the plain build of the tree.
IGDD_BIN=$TOP/igdd/igdd
[ -x "$IGDD_BIN" ] || fail "valgrind needs the plain build: $IGDD_BIN (make all)"

CONF=(enable_pcp=yes pcp_rate_limit=0)
[ "${VALGRIND_FRONTS:-0}" = 1 ] && CONF+=(enable_upnp=yes "web_listen=:8080")
RUN=0
VG=()
vg_start() {
	RUN=$((RUN + 1))
	VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
		--track-fds=no --num-callers=30 "--log-file=$LAB_DIR/valgrind.$RUN.log")
	FAULT_START_WAIT=300 fault_igdd_start_wrapped "${VG[@]}" -- "${CONF[@]}" || fail "igdd under valgrind did not start (run $RUN)"
	ok "run $RUN: igdd answers under valgrind (pid $FAULT_PID)"
}
# vg_stop SIGNAL: stops igdd, checks its exit code and valgrind's summary
vg_stop() {
	kill -"$1" "$FAULT_PID"
	fault_igdd_wait 30 || { kill -KILL "$FAULT_PID" 2>/dev/null; fail "run $RUN: igdd did not exit within 30 s"; }
	local log="$LAB_DIR/valgrind.$RUN.log" sum
	sum=$(grep -m1 'ERROR SUMMARY' "$log" | sed 's/^==[0-9]*== //')
	if [ "$1" = KILL ]; then
		expect_eq "$FAULT_RC" 137 "run $RUN: killed"
		return 0
	fi
	if [ "$FAULT_RC" != 0 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
		echo "--- $log"
		sed -n '/HEAP SUMMARY/q;p' "$log" | head -n 80
		grep -A 25 'definitely lost in' "$log" | head -n 80
		fail "run $RUN: exit $FAULT_RC, $sum"
	fi
	ok "run $RUN: exit 0, $sum; $(grep -m1 -E 'definitely lost:|All heap blocks were freed' "$log" | sed 's/^==[0-9]*== *//')"
}

lab_listen lan1 tcp 8080
vg_start
step "control socket"
id1=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8080 desc=valgrind)
id2=$(igdctl_add portmap 18080 "$LAN1_V4" 8080 tcp lease=600)
id3=$(igdctl_add pinhole "$LAN2_STABLE" udp 0 lease=300)
igdctl_lab refresh "$id2" 1200 >/dev/null || fail "refresh"
igdctl_lab delete "$id3" || fail "delete"
igdctl_lab list >/dev/null || fail "list"
igdctl_lab --json status >/dev/null || fail "status"
igdctl_lab add pinhole fe80::1 tcp 80 2>/dev/null && fail "link-local pinhole accepted"
ok "adds, refresh, delete, list, status, one refusal"
expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole works" 3
expect_connect wan tcp "$CPE_WAN4" 18080 "port mapping works" 3

step "PCP"
N=00112233445566778899aabb
expect_result lan1 SUCCESS "MAP v4" --timeout 2 map --nonce $N --proto udp --port 9000 --lifetime 600
expect_result lan1 SUCCESS "MAP v6" --timeout 2 -s "$CPE_LAN6" map --nonce $N --proto tcp --port 9001 --lifetime 600
expect_result lan1 SUCCESS "MAP v4 lifetime 0 (delete)" --timeout 2 map --nonce $N --proto udp --port 9000 --lifetime 0
expect_result lan1 SUCCESS "ANNOUNCE" --timeout 2 announce
expect_result lan1 MALFORMED_REQUEST "short request" --timeout 2 map --raw-len 30
expect_result lan1 UNSUPP_VERSION "version 3" --timeout 2 map --raw-version 3
l=$(fault_pcp_raw lan1 "$CPE_LAN4" 1500)
expect_eq "$(field "$l" result)" MALFORMED_REQUEST "1500-byte request"

if [ "${VALGRIND_FRONTS:-0}" = 1 ]; then
	step "UPnP description and web UI over HTTP"
	lab_exec lan1 "$LAB_PY" - "$CPE_LAN4" <<'PY' || fail "HTTP requests to UPnP and the web UI"
import sys, urllib.request
for url in ("http://%s:49152/igd/rootDesc.xml" % sys.argv[1], "http://%s:8080/" % sys.argv[1]):
    with urllib.request.urlopen(url, timeout=5) as r:
        print(url, r.status, len(r.read()))
PY
	ok "UPnP description and web page fetched"
fi

step "outside flush, SIGHUP"
lab_exec cpe nft flush table inet igdd
has_elem() { lab_exec cpe nft get element inet igdd ph_port "{ $LAN1_EUI64 . tcp . 8080 }" >/dev/null 2>&1; }
wait_until 5 has_elem ||
	fail "table not repaired within 5 s"
ok "table repaired in $WAITED s"
kill -HUP "$FAULT_PID"
sleep 0.5
igdctl_lab status >/dev/null || fail "status after SIGHUP"
ok "reloaded"
msg=$(fault_consistent "run 1") || fail "$msg"
ok "$msg"
vg_stop TERM

step "restart: restore from the store"
vg_start
n=$(igdctl_lab --json list | fault_json 'len(j["rules"])')
expect_eq "$n" 3 "rules restored"
id4=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8082 lease=120)
igdctl_lab delete "$id1" || fail "delete after restart"
expect_result lan1 SUCCESS "MAP after restart" --timeout 2 map --proto udp --port 9002 --lifetime 600
vg_stop KILL

step "kill -9, restart: replay the journal"
vg_start
ids=$(igdctl_lab --json list | fault_json "' '.join(str(r['id']) for r in j['rules'])")
case " $ids " in *" $id4 "*) ;; *) fail "rule $id4 not restored after kill -9" ;; esac
case " $ids " in *" $id1 "*) fail "deleted rule $id1 came back" ;; esac
ok "journal replayed: $ids"
msg=$(fault_consistent "run 3") || fail "$msg"
ok "$msg"
vg_stop TERM

PCPD_BIN=$TOP/pcpd/pcpd
if [ -x "$PCPD_BIN" ]; then
	step "pcpd under valgrind, on the same store"
	IGDD_BIN=$PCPD_BIN
	CONF=(enable_pcp=yes pcp_rate_limit=0)
	vg_start
	expect_result lan1 SUCCESS "pcpd: MAP" --timeout 2 map --proto udp --port 9005 --lifetime 600
	expect_result lan1 SUCCESS "pcpd: MAP v6" --timeout 2 -s "$CPE_LAN6" map --proto udp --port 9006 --lifetime 600
	expect_result lan1 MALFORMED_REQUEST "pcpd: short request" --timeout 2 map --raw-len 30
	id=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8090)
	igdctl_lab delete "$id" || fail "pcpd: delete"
	msg=$(fault_consistent "pcpd") || fail "$msg"
	ok "$msg"
	vg_stop TERM
fi
it_done
