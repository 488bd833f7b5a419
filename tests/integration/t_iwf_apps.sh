#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real applications behind a carrier-grade NAT (igdd on the CPE as an RFC 6970 interworking client of
# pcpd): Transmission 3.00 (libnatpmp: it ignores a gateway whose public address is a reserved one, so it
# must hear the CGN's) and a libtorrent 2.0 session (UPnP and NAT-PMP/PCP, its defaults) each get a
# port that the internet reaches through both NATs; each is checked by a connection from the WAN side to the CGN's address that
# the application accepts.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=iwf_lib.sh
. "$HERE/iwf_lib.sh"

[ "$(id -u)" = 0 ] || { echo "t_iwf_apps: skipped (needs root)"; exit 77; }
for cmd in transmission-daemon; do
	command -v "$cmd" >/dev/null || fail "$cmd is not installed (make deps installs it)"
done
"$LAB_PY" -c 'import libtorrent' 2>/dev/null || fail "python3-libtorrent is not installed (make deps)"
iwf_trap
iwf_up || fail "iwf lab up"
step "lab $LAB up: wan - cgn (pcpd, pool $IWF_POOL) - cpe (igdd) - lan1"
iwf_pcpd_start || fail "pcpd start"
iwf_igdd_start enable_upnp=yes enable_pcp=yes "upnp_http_port=$IWF_HTTP" "upstream_pcp_server=$IWF_GW" ||
	fail "igdd start"
up_ok() { [ "$(upstream_field state)" = up ] && [ "$(upstream_field ext_addr)" = "$IWF_CGN_EXT" ]; }
wait_until 15 up_ok || fail "upstream not up: state '$(upstream_field state)' addr '$(upstream_field ext_addr)'"
ok "igdd sees the upstream, external address $IWF_CGN_EXT"

# ext_of TARGET: the external port of the CPE's installed port mapping for TARGET (192.0.2.11:PORT)
ext_of() {
	igdctl_lab list 2>/dev/null | awk -v t="$1" '$2 == "portmap" && $3 == "installed" && $4 == "tcp" && $6 == t { print $5; exit }'
}
has_map() { [ -n "$(ext_of "$1")" ]; }
accepted() { ip netns exec "${LAB}wan" "$LAB_PY" "$LAB_TOOLS/probe.py" accepted "$1" "$2" 2; }
apps=$LAB_DIR/apps
mkdir -p "$apps/tr/dl"

step "transmission-daemon 3.00 on lan1 (NAT-PMP) asks for 51413"
ip netns exec "${LAB}lan1" timeout 100 transmission-daemon -f -g "$apps/tr" -w "$apps/tr/dl" -P 51413 -m \
	--no-auth -T -r 127.0.0.1 -p 19091 >"$apps/transmission.log" 2>&1 &
tr_pid=$!
ip netns exec "${LAB}lan1" timeout 100 "$LAB_PY" "$LAB_TOOLS/ltsession.py" 46882 both 95 >"$apps/libtorrent.log" 2>&1 &
lt_pid=$!
# shellcheck disable=SC2064
trap "kill $tr_pid $lt_pid 2>/dev/null || true; iwf_down" EXIT INT TERM
wait_until 30 has_map "$LAN1_V4:51413" || {
	grep -i 'nat-pmp\|port' "$apps/transmission.log" | tail -5
	fail "no mapping for transmission within 30 s"
}
ok "transmission's mapping on the CPE after ${WAITED}s"
# (its log is written through stdio's buffer: give it a moment)
heard_pub() { grep -q "Found public address \"$IWF_CGN_EXT\"" "$apps/transmission.log"; }
wait_until 5 heard_pub ||
	fail "transmission did not hear $IWF_CGN_EXT as its public address: $(grep -i 'public address' "$apps/transmission.log")"
ok "transmission heard the CGN's $IWF_CGN_EXT as its public address (not the CPE's $IWF_CPE_WAN)"
up_port() {
	igdctl_lab --json list 2>/dev/null | "$LAB_PY" -c '
import json, sys
for r in json.load(sys.stdin)["rules"]:
    u = r.get("upstream") or {}
    if r.get("kind") == "portmap" and int(sys.argv[1]) in (r.get("port"), r.get("int_port")) and u.get("ext_port"):
        print(u["ext_port"]); break' "$1"
}
reach_tr() { p=$(up_port 51413); [ -n "$p" ] && accepted "$IWF_CGN_EXT" "$p"; }
wait_until 10 reach_tr || fail "the WAN does not reach transmission at $IWF_CGN_EXT:$(up_port 51413)"
ok "a WAN peer reaches transmission at $IWF_CGN_EXT:$(up_port 51413) through both NATs"

step "a libtorrent 2.0 session on lan1 (UPnP and NAT-PMP/PCP)"
# Its UPnP AddPortMapping asks for 46882 exactly, outside the CPE's port block on the CGN: RFC 6970 makes
# that a PREFER_FAILURE MAP upstream and a 718 for the app (libtorrent then tries random ports, as
# exact); its PCP MAP lets the CGN pick a port of the block, which is what it gets.
# lt_port: the external TCP port libtorrent reports as mapped by NAT-PMP/PCP (its log is its view)
lt_port() {
	sed -n "s/.*successfully mapped port using NAT-PMP. local: $LAN1_V4 external port: TCP\/\([0-9]*\).*/\1/p" \
		"$apps/libtorrent.log" | tail -n 1
}
lt_up() { [ -n "$(lt_port)" ]; }
wait_until 30 lt_up || fail "libtorrent reports no mapping within 30 s: $(grep 'mapped port' "$apps/libtorrent.log" | tail -3)"
LP=$(lt_port)
ok "libtorrent reports external port $LP after ${WAITED}s"
{ [ "$LP" -ge "$IWF_LO" ] && [ "$LP" -le "$IWF_HI" ]; } || fail "port $LP is not in the CPE's block $IWF_LO-$IWF_HI on the CGN"
ok "port $LP is in the CPE's block on the CGN ($IWF_LO-$IWF_HI)"
reach_lt() { accepted "$IWF_CGN_EXT" "$LP"; }
wait_until 10 reach_lt || {
	igdctl_lab list
	igdctl_lab status | grep -i upstream
	fail "the WAN does not reach libtorrent at $IWF_CGN_EXT:$LP"
}
ok "a WAN peer reaches libtorrent at $IWF_CGN_EXT:$LP through both NATs"
n718=$(grep -c 'error while adding port map, code: 718' "$apps/libtorrent.log" || true)
echo "note: libtorrent's UPnP AddPortMapping got 718 $n718 time(s) (exact ports outside the block)"
it_done
