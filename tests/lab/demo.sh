#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make demo: what igdd exists for, in a lab of network namespaces. An app on a home computer (lan1,
# with a stable and a temporary IPv6 address, as every desktop has) opens a pinhole with a real UPnP
# client (miniupnpc's upnpc, from its temporary address, as apps do); an internet host connects; the
# provider changes the home's prefix (radvd announces the new one); the pinhole follows the computer
# and the internet host connects to its new address. The web UI shows the same, at the address printed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source-path=SCRIPTDIR source=lab.sh
. "$(cd "$(dirname "$0")" && pwd)/lab.sh"

if [ "$(id -u)" != 0 ]; then
	echo "The demo builds network namespaces and nftables rules: run it as root (sudo make demo)." >&2
	exit 1
fi
lab_trap

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() { sed 's/^/    /'; }
bad() {
	printf '\n*** demo failed: %s\n' "$*" >&2
	[ ! -f "$LAB_DIR/igdd.log" ] || tail -n 15 "$LAB_DIR/igdd.log" >&2
	exit 1
}
# try ADDR: can the internet host connect to ADDR port 8080?
try() {
	if lab_can_connect wan tcp "$1" 8080 1; then
		echo "    [$1]:8080 => connected"
		return 0
	fi
	echo "    [$1]:8080 => blocked"
	return 1
}
# the host's EUI-64 address in the /64 of PREFIX (the /56's first /64, as radvd announces it)
addr_in() { lab_exec lan1 ip -6 -o addr show dev eth0 scope global | awk -v p="$1:1:" \
	'index($4, p) == 1 && $4 ~ /5054:ff:fe12:3401\// { sub("/.*", "", $4); print $4; exit }'; }

say "Building the lab: four network namespaces on this machine (nothing outside them changes)"
lab_up || bad "the lab did not come up"
show <<EOT
wan   an internet host         $WAN_V6, $WAN_V4
cpe   the home router (igdd)   wan0 $CPE_WAN6, $CPE_WAN4; lan0 $CPE_LAN6, $CPE_LAN4
lan1  a computer at home       $LAN1_EUI64 (stable, from its MAC $LAN1_MAC)
                               $LAN1_TMP (temporary: what it sends from)
lan2  another computer         $LAN2_STABLE
EOT

say "Starting igdd on the router, with UPnP and the web UI"
WEB_PASSWORD=demo-$RANDOM$RANDOM
HASH=$(printf '%s\n%s\n' "$WEB_PASSWORD" "$WEB_PASSWORD" | "$IGDCTL_BIN" passwd) || bad "igdctl passwd"
# the DHCP server's leases, as dnsmasq writes them: the computers are shown by name
exp=$(($(date +%s) + 43200))
printf '%s\n' "$exp $LAN1_MAC $LAN1_V4 desktop 01:$LAN1_MAC" "$exp $LAN2_MAC $LAN2_V4 laptop *" >"$LAB_DIR/dnsmasq.leases"
lab_igdd_start enable_upnp=yes web_listen=:8080 "$HASH" "dhcp_leases=$LAB_DIR/dnsmasq.leases" ||
	bad "igdd did not start"
for ((i = 0; i < 100; i++)); do grep -q "upnp: IGD" "$LAB_DIR/igdd.log" && break; sleep 0.1; done
igdctl_lab status | show

say "An app on lan1 (\"desktop\") listens on port 8080"
lab_listen lan1 tcp 8080 || bad "listener"
say "The internet host tries to connect"
if try "$LAN1_EUI64"; then bad "wan got in without a pinhole"; fi
echo "    (blocked, as it should be: the router lets no unsolicited IPv6 connection in)"

say "The app asks the router over UPnP, from its temporary address: upnpc -6 -A \"\" 0 $LAN1_TMP 8080 6 3600"
out=$(timeout 20 ip netns exec "${LAB}lan1" upnpc -i -6 -A "" 0 "$LAN1_TMP" 8080 6 3600 2>&1 </dev/null || true)
printf '%s\n' "$out" | grep -E "AddPinhole|Pinhole ID|desc:" | show
printf '%s\n' "$out" | grep -Eq "Pinhole ID = [0-9]+" || bad "upnpc did not get a pinhole"
echo "    igdd opens the address the app named and the computer's stable one (pinhole_target=both):"
igdctl_lab list | show

say "The internet host connects (to the stable address, the one a peer or a DNS name knows)"
try "$LAN1_EUI64" || bad "the pinhole did not open"

say "The provider changes the home's prefix: radvd now announces 2001:db8:2:1::/64, the old one deprecated"
lab_renumber 2001:db8:2 || bad "lab_renumber"
NEW=
for ((i = 0; i < 150; i++)); do NEW=$(addr_in 2001:db8:2) && [ -n "$NEW" ] && break; sleep 0.1; done
[ -n "$NEW" ] || bad "lan1 formed no address in the new prefix within 15 s"
echo "    lan1's stable address is now $NEW"
t0=$(date +%s%N)
for ((i = 0; i < 100; i++)); do lab_can_connect wan tcp "$NEW" 8080 0.3 && break; sleep 0.1; done
say "The internet host connects to the computer's new address (the app did nothing)"
try "$NEW" || bad "the pinhole did not follow the computer to $NEW"
echo "    (followed within $(((($(date +%s%N) - t0) / 1000000))) ms of the address being usable)"
if lab_can_connect wan tcp "$LAN1_EUI64" 8080 0.5; then bad "the old address is still open"; fi
echo "    [$LAN1_EUI64]:8080 => blocked (the old prefix is closed)"
igdctl_lab list | show
say "igdctl devices: the computers by name, where the name came from, and their addresses"
igdctl_lab devices | show

say "The same view in the web UI"
show <<EOT
http://$CPE_LAN4:8080/   (password: $WEB_PASSWORD)
It listens on the router's LAN side only, so the browser must be a LAN host of the lab, e.g.:
  sudo ip netns exec ${LAB}lan1 chromium --no-sandbox --user-data-dir=/tmp/igdd-demo-ui http://$CPE_LAN4:8080/
Rules: who opened what (the app's pinhole on the new address), its packets over the lease and the time
of the last connection; Devices: "desktop" and "laptop" with their addresses.
EOT
if [ -t 0 ]; then
	read -r -p "    Press Enter to tear the lab down. " _ || true
fi

say "Done: tearing the lab down"
