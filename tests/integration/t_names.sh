#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Device names from what the router already knows (issue 13):
#   1. a dnsmasq lease file, written as dnsmasq writes it (EXPIRY MAC IP HOSTNAME CLIENTID, the
#      server's DUID line, DHCPv6 lines): lan1 is shown as "lan1-laptop", from dhcp;
#   2. Debian's avahi-daemon on lan2 announces its host name over mDNS (IPv4 and IPv6): lan2 is shown
#      as "lan2-printer", from mdns;
#   3. hostile, with exact bytes of an announcement (A/AAAA, reverse PTR, SRV; tests/lab/mdns_announce.py):
#      lan1 announces a name for lan2's addresses: not taken; lan1 announces a label with a terminal
#      escape: shown escaped (\x1b), never as the raw byte;
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

step "2. lan2 runs Debian's avahi-daemon: it probes for its name, then announces it"
command -v avahi-daemon >/dev/null || fail "avahi-daemon is not installed (make deps)"
cat >"$LAB_DIR/avahi.conf" <<EOC
[server]
host-name=lan2-printer
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=eth0
enable-dbus=no
[wide-area]
enable-wide-area=no
[publish]
publish-addresses=yes
publish-workstation=yes
EOC
# a /run of its own (its pid file and socket), no D-Bus, no chroot: one avahi-daemon per namespace
ip netns exec "${LAB}lan2" unshare -m sh -c 'mount -t tmpfs none /run && mkdir -p /run/avahi-daemon &&
	exec avahi-daemon -f "$1" --no-drop-root --no-chroot --no-rlimits' sh "$LAB_DIR/avahi.conf" \
	</dev/null >"$LAB_DIR/avahi.log" 2>&1 &
echo $! >>"$LAB_DIR/pids"
# avahi probes three times 250 ms apart, then announces (RFC 6762 8.1, 8.3); nothing is sent for it
wait_until 15 shown_is "$LAN2_MAC" lan2-printer mdns ||
	fail "lan2 not named from avahi's announcement: $(dev "$LAN2_MAC"); avahi: $(tail -3 "$LAB_DIR/avahi.log")"
ok "lan2 is shown as lan2-printer (mdns) ${WAITED}s after avahi-daemon started ($(grep -c "Server startup complete" "$LAB_DIR/avahi.log") start)"
kill "$(tail -n 1 "$LAB_DIR/pids")" 2>/dev/null || true

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
echo "$out" | grep -E "^$LAN2_MAC +mdns +lan2-printer " >/dev/null || fail "igdctl devices: $out"
echo "$out" | grep -E "^$LAN1_MAC +household +Game console +allowed " >/dev/null || fail "igdctl devices: $out"
ok "igdctl devices shows names and sources"
step "6. lan1 floods the link with announcements (random 63-byte labels, 4,000 a second for 5 s)"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$(lab_igdd_pid)/status"; }
rss0=$(rss)
log0=$(wc -l <"$LAB_DIR/igdd.log")
MDNS_FLOOD="20000 5" ip netns exec "${LAB}lan1" python3 "$TOP/tests/lab/mdns_announce.py" 4 eth0 x "$LAN1_V4" \
	>"$LAB_DIR/flood.out" &
flood=$!
t0=$(date +%s%N)
igdctl_lab devices >/dev/null || fail "igdctl devices does not answer during the flood"
ms=$((($(date +%s%N) - t0) / 1000000))
wait "$flood" || fail "the flood did not run"
rss1=$(rss)
echo "flood: $(cat "$LAB_DIR/flood.out"); igdd VmRSS ${rss0} -> ${rss1} KiB; igdctl devices answered in ${ms} ms mid-flood"
[ $((rss1 - rss0)) -lt 8192 ] || fail "igdd grew by $((rss1 - rss0)) KiB under the flood"
ok "memory bounded under the flood (+$((rss1 - rss0)) KiB), igdctl answered in ${ms} ms"
logged=$(($(wc -l <"$LAB_DIR/igdd.log") - log0))
[ "$logged" -lt 20 ] || fail "the flood wrote $logged lines to igdd's log"
ok "the flood cost $logged log lines"
case $(dev "$LAN1_MAC") in *'|'*'household=Game console'*) ;; *) fail "lan1's names after the flood: $(dev "$LAN1_MAC")" ;; esac
shown_is "$LAN2_MAC" lan2-printer mdns || fail "lan2's name after the flood: $(dev "$LAN2_MAC")"
len=$(dev "$LAN1_MAC" | sed -n 's/.*mdns=//p' | wc -c)
[ "$len" -le 64 ] || fail "a flooded name longer than 63 bytes: $len"
ok "after the flood: lan1 still \"Game console\" first, lan2 still lan2-printer, lan1's mDNS name at most 63 bytes ($((len - 1)))"
it_done
