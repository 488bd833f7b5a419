#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make demo: a lab of network namespaces, igdd on the router, one IPv6 pinhole opened and closed.
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
try() {
	if lab_can_connect wan tcp "$LAN1_EUI64" 8080 1; then
		echo "    => connected"
		return 0
	fi
	echo "    => blocked"
	return 1
}

say "Building the lab: four network namespaces on this machine (nothing outside them changes)"
lab_up || bad "the lab did not come up"
show <<EOT
wan   an internet host         $WAN_V6, $WAN_V4
cpe   the home router (igdd)   wan0 $CPE_WAN6, $CPE_WAN4; lan0 $CPE_LAN6, $CPE_LAN4
lan1  a computer at home       $LAN1_EUI64 (stable, from its MAC $LAN1_MAC)
                               $LAN1_TMP (temporary)
lan2  another computer         $LAN2_STABLE
EOT

say "Starting igdd on the router"
lab_igdd_start || bad "igdd did not start"
igdctl_lab status | show

say "lan1 listens on [$LAN1_EUI64]:8080"
lab_listen lan1 tcp 8080 || bad "listener"

say "wan tries to connect to [$LAN1_EUI64]:8080"
if try; then bad "wan got in without a pinhole"; fi
echo "    (blocked, as it should be: the router lets no unsolicited IPv6 connection in)"

say "igdctl add pinhole $LAN1_EUI64 tcp 8080 lease=3600 desc=demo"
id=$(igdctl_lab add pinhole "$LAN1_EUI64" tcp 8080 lease=3600 desc=demo) || bad "igdctl add failed"
echo "    => rule $id"

say "wan tries again"
try || bad "the pinhole did not open"

say "igdctl list"
igdctl_lab list | show
say "nft list set inet igdd ph_port   (the kernel's view: one set element, no new rule)"
lab_exec cpe nft list set inet igdd ph_port | show

say "wan tries lan1's temporary address and lan2 on the same port"
lab_listen lan2 tcp 8080 || bad "listener"
if lab_can_connect wan tcp "$LAN1_TMP" 8080 0.5; then bad "the temporary address got in"; fi
echo "    [$LAN1_TMP]:8080 => blocked (temporary addresses are not opened)"
if lab_can_connect wan tcp "$LAN2_STABLE" 8080 0.5; then bad "lan2 got in"; fi
echo "    [$LAN2_STABLE]:8080 => blocked (the pinhole is for lan1 only)"

say "igdctl delete $id"
igdctl_lab delete "$id" || bad "igdctl delete failed"
say "wan tries once more"
if try; then bad "the pinhole is still open"; fi

say "Done: tearing the lab down"
