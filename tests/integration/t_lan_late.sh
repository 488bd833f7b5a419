#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The router's LAN bridge does not exist yet when igdd starts (OpenWrt's netifd, or systemd-networkd,
# makes br-lan after the service manager started igdd). igdd must neither exit (its web UI could not
# tie a socket to a missing interface: it did) nor stay deaf: once the bridge appears with its
# addresses and the hosts configure themselves, the web UI answers on it, UPnP finds the IGD and a
# PCP MAP opens a pinhole the wan host can use.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

lab_trap
LAB_LAN_DOWN=1 lab_up || fail "lab_up"
# the network manager has not made the bridge yet: the hosts' cables end in ports without a bridge
lab_exec cpe ip link del lan0
pkill -F "$LAB_DIR/radvd.pid" 2>/dev/null || true
step "lab $LAB up, no lan0 on the router"

lab_igdd_start enable_upnp=yes enable_pcp=yes web_listen=:8080 || fail "igdd did not start without lan0"
pid=$(lab_igdd_pid)
waiting() { grep -q "web: lan0 does not exist yet" "$LAB_DIR/igdd.log"; }
wait_until 5 waiting || fail "igdd does not say the web UI waits for lan0: $(tail -n 5 "$LAB_DIR/igdd.log")"
ok "igdd runs without lan0 (pid $pid): $(grep -m1 "web: lan0 does not exist yet" "$LAB_DIR/igdd.log")"

step "the network manager makes lan0, radvd starts on it, the hosts come up"
ip -n "${LAB}cpe" -batch - <<-EOF || fail "making lan0"
	link add lan0 type bridge forward_delay 0 stp_state 0
	link set lan1 master lan0
	link set lan2 master lan0
	link set lan0 up
	addr add $CPE_LAN4/24 dev lan0
	addr add $CPE_LAN6/64 dev lan0
EOF
_lab_start_radvd
lab_lan_up || fail "lab_lan_up"
_lab_alive "$pid" || fail "igdd exited: $(tail -n 5 "$LAB_DIR/igdd.log")"

web_ok() { lab_exec lan1 curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$CPE_LAN4:8080/" | grep -q '^200$'; }
wait_until 10 web_ok || fail "the web UI does not answer on lan0: $(grep 'web:' "$LAB_DIR/igdd.log" | tail -n 3)"
ok "the web UI answers on lan0 ($(grep -m1 'web: listening on port 8080 of lan0' "$LAB_DIR/igdd.log"))"
web6_ok() { lab_exec lan1 curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://[$CPE_LAN6]:8080/" | grep -q '^200$'; }
wait_until 10 web6_ok || fail "the web UI does not answer on lan0's IPv6 address"
ok "and on its IPv6 address"

lab_listen lan1 tcp 8090
upnp_ok() { timeout 10 ip netns exec "${LAB}lan1" upnpc -i -6 -S 2>&1 </dev/null | grep -q "Firewall Enabled: Yes"; }
wait_until 20 upnp_ok || fail "UPnP over IPv6 does not come up on lan0"
ok "upnpc -6 finds the IGD on lan0"
pcp_map() { lab_exec lan1 "$LAB_PY" "$LAB_TOOLS/pcpc.py" -s "$CPE_LAN6" --src "$LAN1_EUI64" map --proto tcp --port 8090 --lifetime 600 </dev/null; }
L=$(pcp_map)
case $L in *result=SUCCESS*) ;; *) fail "PCP MAP on lan0: $L" ;; esac
ok "PCP MAP tcp 8090 from lan1: SUCCESS"
expect_connect wan tcp "$LAN1_EUI64" 8090 "the wan host reaches lan1 through the pinhole"
_lab_alive "$pid" || fail "igdd exited"
it_done
