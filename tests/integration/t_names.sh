#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Device names from what the router already knows (issue 13):
#   1. a dnsmasq lease file, written as dnsmasq writes it (EXPIRY MAC IP HOSTNAME CLIENTID, the
#      server's DUID line, DHCPv6 lines): lan1 is shown as "lan1-laptop", from dhcp;
#   2. an mDNS announcement from lan2 (exact bytes of an unsolicited response: A/AAAA, reverse PTR,
#      SRV, over IPv4 and IPv6): lan2 is shown as "lan2-printer", from mdns;
#   3. hostile: lan1 announces a name for lan2's addresses: not taken; lan1 announces a label with a
#      terminal escape: shown escaped (\x1b), never as the raw byte;
#   4. the household names lan1: its name comes first, the DHCP name is still listed;
#   5. igdctl devices prints the names and where they came from.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

leases=$LAB_DIR/dnsmasq.leases
exp=$(($(date +%s) + 43200))
# dnsmasq rewrites its lease file whole on every change; the server's DUID line precedes DHCPv6 leases
{
	echo "$exp $LAN1_MAC $LAN1_V4 lan1-laptop 01:$LAN1_MAC"
	echo "$exp 52:54:00:99:99:99 192.0.2.99 gone-host *"
	echo "duid 00:01:00:01:2c:5a:1b:3e:52:54:00:00:00:01"
	echo "$exp 305419896 2001:db8:1:1::99 v6-only-host 00:01:00:01:2c:5a:1b:3e:52:54:00:12:34:99"
} >"$leases.tmp"
mv "$leases.tmp" "$leases"

lab_igdd_start "dhcp_leases=$leases" mdns_names=yes || fail "igdd did not start"

# shown_name/name_source/names of the device with MAC $1, one line
dev() {
	igdctl_lab --json devices | python3 -c '
import json, sys
j = json.load(sys.stdin)
for d in j["devices"]:
    if d["mac"] == sys.argv[1]:
        print(d.get("shown_name", ""), "|", d.get("name_source", ""), "|",
              ",".join(n["source"] + "=" + n["name"] for n in d.get("names", [])))
' "$1"
}
shown_is() { [ "$(dev "$1" | cut -d'|' -f1-2 | tr -s ' ')" = "$2 | $3 " ]; }

step "1. dnsmasq's lease file"
wait_until 10 shown_is "$LAN1_MAC" lan1-laptop dhcp || fail "lan1 not named from the lease file: $(dev "$LAN1_MAC")"
ok "lan1 is shown as lan1-laptop (dhcp) after ${WAITED}s"

step "2. lan2 announces itself over mDNS"
ip netns exec "${LAB}lan2" python3 "$TOP/tests/lab/mdns_announce.py" 4 eth0 lan2-printer "$LAN2_V4"
ip netns exec "${LAB}lan2" python3 "$TOP/tests/lab/mdns_announce.py" 6 eth0 lan2-printer "$LAN2_STABLE" "$LAN2_TMP"
announced() {
	shown_is "$LAN2_MAC" lan2-printer mdns && return 0
	# a host announces again (RFC 6762 8.3: at least twice, a second apart)
	ip netns exec "${LAB}lan2" python3 "$TOP/tests/lab/mdns_announce.py" 4 eth0 lan2-printer "$LAN2_V4"
	ip netns exec "${LAB}lan2" python3 "$TOP/tests/lab/mdns_announce.py" 6 eth0 lan2-printer "$LAN2_STABLE" "$LAN2_TMP"
	sleep 1
	return 1
}
wait_until 15 announced || fail "lan2 not named from mDNS: $(dev "$LAN2_MAC"); log: $(grep names: "$LAB_DIR/igdd.log" | tail -5)"
ok "lan2 is shown as lan2-printer (mdns) after ${WAITED}s"

step "3. a hostile host"
for i in 1 2 3; do
	ip netns exec "${LAB}lan1" python3 "$TOP/tests/lab/mdns_announce.py" 6 eth0 evil-name "$LAN2_STABLE" "$LAN2_TMP"
	ip netns exec "${LAB}lan1" python3 "$TOP/tests/lab/mdns_announce.py" 4 eth0 evil-name "$LAN2_V4"
	sleep 0.5
done
sleep 2
case $(dev "$LAN2_MAC") in *evil*) fail "lan1 renamed lan2: $(dev "$LAN2_MAC")" ;; esac
ok "lan1's announcement of lan2's addresses was not taken: $(dev "$LAN2_MAC")"
ip netns exec "${LAB}lan1" python3 "$TOP/tests/lab/mdns_announce.py" 6 eth0 'a\x1b[2Jb' "$LAN1_EUI64"
ip netns exec "${LAB}lan1" python3 "$TOP/tests/lab/mdns_announce.py" 4 eth0 'a\x1b[2Jb' "$LAN1_V4"
escaped() {
	case $(dev "$LAN1_MAC") in *'mdns=a\x1b[2Jb'*) return 0 ;; esac
	ip netns exec "${LAB}lan1" python3 "$TOP/tests/lab/mdns_announce.py" 6 eth0 'a\x1b[2Jb' "$LAN1_EUI64"
	sleep 1
	return 1
}
wait_until 15 escaped || fail "lan1's escape-laden label not shown escaped: $(dev "$LAN1_MAC" | od -c | head)"
igdctl_lab --json devices | grep -q $'\x1b' && fail "a raw escape byte in GET /api/v1/devices"
ok "the label with ESC is listed escaped, DHCP's name still first: $(dev "$LAN1_MAC")"

step "4. the household's own name comes first"
igdctl_lab devices name "$LAN1_MAC" "Game console" >/dev/null || fail "naming lan1"
shown_is "$LAN1_MAC" "Game console" household || fail "household name not first: $(dev "$LAN1_MAC")"
case $(dev "$LAN1_MAC") in *"household=Game console,dhcp=lan1-laptop,mdns="*) ;;
	*) fail "names not listed household, dhcp, mdns: $(dev "$LAN1_MAC")" ;; esac
ok "lan1: $(dev "$LAN1_MAC")"

step "5. igdctl devices"
out=$(igdctl_lab devices)
echo "$out" | grep -E "^$LAN2_MAC +lan2-printer +mdns " >/dev/null || fail "igdctl devices: $out"
echo "$out" | grep -E "^$LAN1_MAC +Game console +household " >/dev/null || fail "igdctl devices: $out"
ok "igdctl devices shows names and sources"
it_done
