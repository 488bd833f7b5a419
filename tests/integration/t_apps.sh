#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real applications from Debian open their ports through igdd, as they do in a home: Transmission
# (libnatpmp + miniupnpc), qBittorrent (libtorrent 2.0: NAT-PMP/PCP + UPnP, IPv4 and IPv6), a bare
# libtorrent 2.0 session with UPnP only, and Syncthing (UPnP, its own random external port). Each app
# runs unmodified with its defaults for port mapping; every mapping it gets is checked by a connection
# from the WAN side that the application itself accepts. When a libtorrent session quits, what it
# opened closes.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

for cmd in transmission-daemon qbittorrent-nox syncthing; do
	command -v "$cmd" >/dev/null || fail "$cmd is not installed (make deps installs it)"
done
"$LAB_PY" -c 'import libtorrent' 2>/dev/null || fail "python3-libtorrent is not installed (make deps)"

lab_igdd_start enable_upnp=yes enable_pcp=yes || fail "igdd did not start"
step "igdd up (UPnP, PCP, NAT-PMP)"

# rule_ext KIND PROTO TARGET: the external port (portmap) or "-" (pinhole) of the installed rule for
# TARGET (192.0.2.11:51413 or [addr]:port), empty if there is none
rule_ext() {
	igdctl_lab list 2>/dev/null | awk -v k="$1" -v p="$2" -v t="$3" \
		'$2 == k && $3 == "installed" && $4 == p && $6 == t { print $5; exit }'
}
has_rule() { [ -n "$(rule_ext "$@")" ]; }
# accepted NS ADDR PORT: the application at the far end accepts a TCP connection within 2 s
accepted() { ip netns exec "${LAB}$1" "$LAB_PY" "$LAB_TOOLS/probe.py" accepted "$2" "$3" 2; }
expect_accepted() {
	if accepted wan "$1" "$2"; then ok "$3 (wan -> $1 $2/tcp accepted)"; else fail "$3 (wan -> $1 $2/tcp not accepted)"; fi
}
apps=$LAB_DIR/apps
mkdir -p "$apps"

step "nothing is open before the apps ask"
for p in 51413 46881 46882 22000; do
	if accepted wan "$CPE_WAN4" $p; then fail "WAN reaches $p before any app asked"; fi
done
ok "the WAN reaches none of the apps' ports"

step "start the apps: transmission + syncthing on lan1, qbittorrent + libtorrent (UPnP only) on lan2"
mkdir -p "$apps/tr/dl"
ip netns exec "${LAB}lan1" timeout 120 transmission-daemon -f -g "$apps/tr" -w "$apps/tr/dl" -P 51413 -m \
	--no-auth -T -r 127.0.0.1 -p 19091 >"$apps/transmission.log" 2>&1 &
tr_pid=$!
mkdir -p "$apps/qb/qBittorrent/config"
cat >"$apps/qb/qBittorrent/config/qBittorrent.conf" <<'CONF'
[LegalNotice]
Accepted=true
[BitTorrent]
Session\Port=46881
[Preferences]
Connection\UPnP=true
WebUI\Address=127.0.0.1
WebUI\Port=18080
CONF
ip netns exec "${LAB}lan2" timeout 120 qbittorrent-nox --profile="$apps/qb" >"$apps/qbittorrent.log" 2>&1 &
qb_pid=$!
ip netns exec "${LAB}lan2" timeout 120 "$LAB_PY" "$LAB_TOOLS/ltsession.py" 46882 upnp 110 >"$apps/libtorrent.log" 2>&1 &
lt_pid=$!
mkdir -p "$apps/st"
ip netns exec "${LAB}lan1" env HOME="$apps/st" STNOUPGRADE=1 timeout 120 syncthing -home="$apps/st" -no-browser \
	-gui-address=127.0.0.1:18384 -verbose >"$apps/syncthing.log" 2>&1 &
st_pid=$!
# shellcheck disable=SC2064
trap "kill $tr_pid $qb_pid $lt_pid $st_pid 2>/dev/null || true; lab_down" EXIT INT TERM

step "transmission-daemon 3.00 on lan1 asks for 51413"
wait_until 30 has_rule portmap tcp "$LAN1_V4:51413" || fail "no mapping for transmission within 30 s"
ok "transmission's mapping installed after ${WAITED}s ($(igdctl_lab list | awk '$6 == "'"$LAN1_V4"':51413" { print $9; exit }'))"
ext=$(rule_ext portmap tcp "$LAN1_V4:51413")
expect_eq "$ext" 51413 "transmission got the port it asked for"
expect_accepted "$CPE_WAN4" 51413 "a WAN peer reaches transmission"

step "qbittorrent-nox 4.5 on lan2: IPv4 by NAT-PMP/PCP and UPnP, IPv6 pinholes by PCP"
wait_until 30 has_rule portmap tcp "$LAN2_V4:46881" || fail "no IPv4 mapping for qbittorrent within 30 s"
ok "qbittorrent's IPv4 mapping after ${WAITED}s"
has_rule portmap udp "$LAN2_V4:46881" || fail "no UDP mapping for qbittorrent (uTP, DHT)"
ok "its UDP mapping too"
expect_eq "$(rule_ext portmap tcp "$LAN2_V4:46881")" 46881 "qbittorrent got the port it asked for"
expect_accepted "$CPE_WAN4" 46881 "a WAN peer reaches qbittorrent over IPv4"
wait_until 15 has_rule pinhole tcp "[$LAN2_TMP]:46881" || fail "no pinhole for qbittorrent's temporary address"
ok "pinhole for qbittorrent on its temporary address $LAN2_TMP"
expect_accepted "$LAN2_TMP" 46881 "a WAN peer reaches qbittorrent over IPv6 (temporary address)"
if has_rule pinhole tcp "[$LAN2_STABLE]:46881"; then
	expect_accepted "$LAN2_STABLE" 46881 "a WAN peer reaches qbittorrent over IPv6 (stable address)"
fi

step "a libtorrent 2.0 session on lan2 with UPnP only (the IGD:2 path)"
wait_until 30 has_rule portmap tcp "$LAN2_V4:46882" || fail "no UPnP mapping for libtorrent within 30 s"
ok "libtorrent's UPnP mapping after ${WAITED}s"
igdctl_lab list | awk '$6 == "'"$LAN2_V4"':46882" && $9 != "upnp" { bad = 1 } END { exit bad }' ||
	fail "libtorrent with NAT-PMP off got a mapping that did not come over UPnP"
expect_accepted "$CPE_WAN4" "$(rule_ext portmap tcp "$LAN2_V4:46882")" "a WAN peer reaches libtorrent"
grep -q 'successfully mapped port using UPnP' "$apps/libtorrent.log" ||
	fail "libtorrent did not report a UPnP mapping"
ok "libtorrent reports the mapping as done"

step "syncthing 1.19 on lan1: UPnP with an external port of its own choosing"
wait_until 45 has_rule portmap tcp "$LAN1_V4:22000" || fail "no mapping for syncthing within 45 s"
ok "syncthing's mapping after ${WAITED}s"
st_ext=$(rule_ext portmap tcp "$LAN1_V4:22000")
expect_accepted "$CPE_WAN4" "$st_ext" "a WAN device reaches syncthing on external port $st_ext"
grep -q "New NAT port mapping: external TCP address $CPE_WAN4:$st_ext" "$apps/syncthing.log" ||
	fail "syncthing does not report $CPE_WAN4:$st_ext as its address"
ok "syncthing announces $CPE_WAN4:$st_ext, the port igdd opened"

step "an app that quits closes what it opened (libtorrent's session deletes its UPnP mappings)"
# (Transmission 3.00 does not: it waits 8 s between NAT-PMP commands and its session closes first, so
# its mapping runs out with its lease. qBittorrent sends its PCP deletes as it exits, unanswered: on a
# busy host they may not leave before the socket closes, so they are reported, not required.)
kill -TERM "$lt_pid" "$qb_pid" 2>/dev/null || true
gone() { ! has_rule portmap tcp "$LAN2_V4:46882" && ! has_rule portmap udp "$LAN2_V4:46882"; }
wait_until 15 gone || fail "libtorrent's mappings outlived the app by 15 s"
ok "libtorrent's mappings deleted ${WAITED}s after it quit"
if accepted wan "$CPE_WAN4" 46882; then fail "the WAN still reaches libtorrent's closed port"; fi
ok "the WAN no longer reaches it"
qb_gone() { ! has_rule portmap tcp "$LAN2_V4:46881" && ! has_rule pinhole tcp "[$LAN2_TMP]:46881"; }
if wait_until 5 qb_gone; then echo "note: qbittorrent deleted its mappings ${WAITED}s after it quit"; else
	echo "note: qbittorrent's mappings stay until their lease ends (its deletes did not arrive)"
fi
has_rule portmap tcp "$LAN1_V4:51413" || fail "quitting apps on lan2 took transmission's mapping on lan1"
ok "transmission's mapping on lan1 stays"
igdctl_lab list >"$apps/rules.txt" 2>&1 || true
it_done
