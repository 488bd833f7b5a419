#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench, devices part (issue 11): figures, not pass/fail. The lab's SLAAC hosts (radvd in the cpe,
# DAD on; lan2 a stable-privacy host, RFC 7217, with a temporary address, RFC 8981), igdd started after
# the hosts configured themselves (as t_devices.sh), UPnP on. Measures
#   - re-anchoring latency for a stable-privacy host: an app on lan2 asks by upnpc, from its default
#     source (its temporary address), for a pinhole on that address, with pinhole_target=both (the
#     default: the device's stable address in the /64 is opened too, and is what follows a prefix
#     change; README "Devices and prefix changes"). DEV_ASK=stable asks for the stable address instead.
#     lan2 talks in the background (lab_background), then the lab is renumbered DEV_RENUMBERS (10)
#     times, each to a fresh 2001:db8:X:1::/64. For each: t_usable = the moment lan2's new stable
#     address is out of DAD (`ip -6 addr` in lan2 polled every 20 ms), t_open = the first moment a TCP
#     connect from wan to [new stable]:PORT completes (a new connect every 50 ms, tests/bench/
#     devices_bench.py open), latency = t_open - t_usable; 30 s cap (DEV_CAP_SECONDS) per renumbering
#     (a timeout is a failure). Before each renumbering the hosts' addresses of the prefix before the
#     current one are removed, as their valid lifetime would end (see expire_old).
#     Figures: p50, p90, max, failures; each renumbering's timeline (RA change, address seen
#     tentative, usable, igdd's log line for the rule, WAN connect) is printed too, from igdd's log
#     timestamped as it is written (devices_bench.py tslog: igdd -d logs without timestamps).
#   - the device table under a spoofed-neighbour flood: tests/lab/ndflood.py in lan1 for
#     DEV_FLOOD_SECONDS (60) at DEV_FLOOD_RATE (10,000) frames/s, every frame from a fresh MAC and a
#     made-up address (DAD NS, NS with SLLA to the router, unsolicited NA, in thirds); igdd's VmRSS
#     sampled every second (start, peak, end, growth), `igdctl devices` counts, and whether lan2's
#     pinhole still admits a WAN connection at the end.
#   IGDD_BUILD=DIR selects the build. DEV_TRACE=1 also records, with timestamps, lan2's address events
#   (ip monitor), the cpe's neighbour events and lan2's ICMPv6 on lan0 (tcpdump, if installed) in $LAB_DIR (keep it
#   with LAB_KEEP=1 or LAB_OUT=DIR).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$(cd "$(dirname "$0")/../lab" && pwd)/lab.sh"

N=${DEV_RENUMBERS:-10}
ASK=${DEV_ASK:-temporary}
FLOOD_SECS=${DEV_FLOOD_SECONDS:-60}
FLOOD_RATE=${DEV_FLOOD_RATE:-10000}
CAP_S=${DEV_CAP_SECONDS:-30}
PORT=8080
HELPER=$LAB_TOOLS/../bench/devices_bench.py

if [ "$(id -u)" != 0 ]; then
	echo "devices bench: needs root (network namespaces, nftables)" >&2
	exit 1
fi
case $ASK in temporary | stable) ;; *) echo "devices bench: DEV_ASK is temporary or stable" >&2; exit 2 ;; esac
if [ "$N" -lt 1 ] || [ "$N" -gt 200 ]; then echo "devices bench: DEV_RENUMBERS is 1..200" >&2; exit 2; fi
[ $((FLOOD_SECS * FLOOD_RATE)) -le 1000000 ] || { echo "devices bench: ndflood.py sends at most 1,000,000 frames" >&2; exit 2; }
lab_trap
lab_up

results=()
row() { results+=("$(printf '%-66s %14s %s' "$1" "$2" "$3")"); echo "devices bench: ${results[-1]}" >&2; }
now_ns() { date +%s%N; }
ms() { awk -v d="$1" 'BEGIN { printf "%.0f", d / 1e6 }'; }
secs() { awk -v d="$1" 'BEGIN { printf "%.2f", d / 1e9 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$(lab_igdd_pid)/status"; }
bg() { # bg CMD...: a helper that goes away with the lab
	"$@" </dev/null &
	echo $! >>"$LAB_DIR/pids"
	disown $! 2>/dev/null || true
}
devjson() { # devjson PYTHON-EXPR: igdctl --json devices | expression on j
	timeout 10 ip netns exec "${LAB}cpe" "$IGDCTL_BIN" -s "$LAB_DIR/igdd.sock" --json devices |
		"$LAB_PY" -c "import json,sys; j=json.load(sys.stdin); print($1)"
}
# pct P VALUES...: the P-th percentile (nearest rank) of the values
pct() {
	local p=$1
	shift
	printf '%s\n' "$@" | sort -n | awk -v p="$p" '{ v[NR] = $1 } END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; print v[r] }'
}

# host_state NET: "STABLE STATE TEMPORARY STATE" of lan2's addresses in NET:1::/64, STATE tentative or
# usable ("- -" for one not formed yet)
host_state() {
	ip -n "${LAB}lan2" -6 -o addr show dev eth0 2>/dev/null |
		awk -v net="$1:1:" 'BEGIN { s = "- -"; t = "- -" }
			/dadfailed/ { next }
			{ split($4, a, "/"); if (index(a[1], net) != 1) next
			  v = a[1] " " (/tentative/ ? "tentative" : "usable")
			  if (/mngtmpaddr/) s = v; else if (/temporary/) t = v }
			END { print s, t }'
}

echo "devices bench: lab $LAB, igdd from ${IGDD_BUILD:-$TOP}; lan2 stable $LAN2_STABLE, temporary $LAN2_TMP" >&2
lab_listen lan2 tcp $PORT
lab_igdd_start enable_upnp=yes upnp_http_port=49152
bg "$LAB_PY" "$HELPER" tslog "$LAB_DIR/igdd.log" "$LAB_DIR/igdd.tslog"
for ((i = 0; i < 100; i++)); do grep -q "upnp: IGD" "$LAB_DIR/igdd.log" && break; sleep 0.1; done
[ "$ASK" = stable ] && want=$LAN2_STABLE || want=$LAN2_TMP
out=$(timeout 20 ip netns exec "${LAB}lan2" upnpc -i -6 -A "" 0 "$want" $PORT 6 86400 2>&1 </dev/null || true)
ph=$(printf '%s\n' "$out" | sed -n 's/.*Pinhole ID = \([0-9]*\).*/\1/p' | head -n1)
[ -n "$ph" ] || { printf '%s\n' "$out" | tail -n 5 >&2; echo "devices bench: upnpc AddPinhole failed" >&2; exit 1; }
echo "devices bench: pinhole $ph for lan2's $ASK address $want (asked from lan2's default source)" >&2
stable_open=no
lab_can_connect wan tcp "$LAN2_STABLE" $PORT 0.5 && stable_open=yes
row "before renumbering: pinhole $ph admits WAN -> lan2 stable address" "$stable_open" \
	"(asked for the $ASK address; stable kind: $(devjson "next((a['kind'] for d in j['devices'] for a in d['addresses'] if a['address']=='$LAN2_STABLE'), 'unknown to igdd')"))"
if [ "${DEV_TRACE:-0}" = 1 ]; then
	bg ip -n "${LAB}lan2" -ts monitor address >"$LAB_DIR/lan2.addr.trace" 2>&1
	bg ip -n "${LAB}cpe" -ts monitor neigh dev lan0 >"$LAB_DIR/cpe.neigh.trace" 2>&1
	if command -v tcpdump >/dev/null; then
		bg ip netns exec "${LAB}cpe" tcpdump -l -n -tt -i lan0 "ether src $LAN2_MAC and icmp6" >"$LAB_DIR/lan2.icmp6.trace" 2>/dev/null
	fi
fi
lab_background 2

# ------------------------------------------------------------------ re-anchoring latency
# expire_old: the hosts' addresses in prefixes before the current one reach the end of their valid
# lifetime (RA: 2 h) and go. Renumbering every few seconds would otherwise pile them up, and Linux
# forms no more SLAAC addresses past net.ipv6.conf.*.max_addresses (16 per interface).
expire_old() {
	local h a
	for h in 1 2; do
		for a in $(ip -n "${LAB}lan$h" -6 -o addr show dev eth0 scope global | awk '{ print $4 }'); do
			case $a in "$LAB_NET6:1:"*) ;; *) ip -n "${LAB}lan$h" -6 addr del "$a" dev eth0 2>/dev/null || true ;; esac
		done
	done
}
lats=()
fails=0
timeline=()
for ((k = 1; k <= N; k++)); do
	net=$(printf '2001:db8:%x' $((0x100 + k)))
	expire_old
	t_ren=$(now_ns)
	lab_renumber "$net"
	t_seen='' t_usable='' t_tmp='' addr='' opener=''
	rm -f "$LAB_DIR/open.out"
	while :; do
		t=$(now_ns)
		[ $((t - t_ren)) -lt $((CAP_S * 1000000000)) ] || break
		read -r a st _ tst <<<"$(host_state "$net")" || true
		[ -z "$t_tmp" ] && [ "$tst" = usable ] && t_tmp=$t
		if [ "$a" != - ]; then
			if [ -z "$addr" ]; then
				addr=$a
				t_seen=$t
				# the WAN starts trying while the host is still in DAD: t_open is measured, not polled late
				ip netns exec "${LAB}wan" "$LAB_PY" "$HELPER" open "$addr" $PORT --interval 0.05 \
					--limit $((CAP_S + 2)) >"$LAB_DIR/open.out" 2>&1 </dev/null &
				opener=$!
				echo "$opener" >>"$LAB_DIR/pids"
			fi
			if [ "$st" = usable ]; then
				t_usable=$t
				break
			fi
		fi
		sleep 0.02
	done
	if [ -z "$t_usable" ]; then
		fails=$((fails + 1))
		[ -z "$opener" ] || kill "$opener" 2>/dev/null || true
		timeline+=("$(printf '%2d  %-36s no usable stable address within %d s (FAILED)' "$k" "$net:1::/64" "$CAP_S")")
		continue
	fi
	# bounded: the opener gives up CAP_S s after the address was first seen
	wait "$opener" || true
	read -r res _ < <(cat "$LAB_DIR/open.out") || res=
	t_open=${res#open_ns=}
	# igdd's log line for the rule landing on the new address (timestamped when written)
	t_igdd=$(awk -v a="[$addr]" -v id="id=$ph " 'index($0, a) && index($0, id) && /-> \[/ { print $1; exit }' \
		"$LAB_DIR/igdd.tslog" 2>/dev/null || true)
	ig=-
	[ -n "$t_igdd" ] && ig=$(ms $((t_igdd - t_usable)))
	if [ -z "$t_tmp" ] && [ "$(host_state "$net" | awk '{ print $4 }')" = usable ]; then t_tmp=$(now_ns); fi
	if [ "${res%%=*}" = open_ns ] && [ $((t_open - t_usable)) -le $((CAP_S * 1000000000)) ]; then
		lat=$((t_open - t_usable))
		[ $lat -lt 0 ] && lat=0   # cannot be: a tentative address takes no connection
		lats+=("$(ms $lat)")
		verdict="open +$(ms $lat) ms"
	else
		fails=$((fails + 1))
		verdict="NOT OPEN within ${CAP_S} s (FAILED)"
		{
			echo "--- renumbering $k to $net:1::/64 failed: rule $ph, lan2 as igdd sees it, lan2's addresses"
			igdctl_lab list | awk -v id="$ph" '$1 == id'
			devjson "'\\n'.join('  %s %s (%s) state %s' % (a['address'], a['kind'], a['evidence'], a['state'])
				for d in j['devices'] if d['mac']=='$LAN2_MAC' for a in d['addresses'])"
			lab_exec lan2 ip -6 -o addr show dev eth0 | awk '{ print "  host:", $4, $5, $6, $7, $8, $9 }'
		} >>"$LAB_DIR/failures" 2>&1 || true
	fi
	tf=-
	[ -n "$t_tmp" ] && tf=$(ms $((t_tmp - t_usable)))
	timeline+=("$(printf '%2d  %-40s RA->seen %5s  DAD %5s  temp usable %+6s  igdd %+6s  %s' "$k" "$addr" \
		"$(ms $((t_seen - t_ren)))" "$(ms $((t_usable - t_seen)))" "$tf" "$ig" "$verdict")")
	echo "devices bench: ${timeline[-1]}" >&2
	sleep 1
done
if [ ${#lats[@]} -gt 0 ]; then
	row "re-anchoring latency, stable-privacy host: p50 / p90 / max" \
		"$(pct 50 "${lats[@]}") / $(pct 90 "${lats[@]}") / $(pct 100 "${lats[@]}") ms" \
		"($N renumberings, $fails failed; usable -> WAN TCP connect)"
else
	row "re-anchoring latency, stable-privacy host: p50 / p90 / max" "-" "($N renumberings, all $fails failed)"
fi
NEW_STABLE=$addr

# ------------------------------------------------------------------ spoofed-neighbour flood
count=$((FLOOD_SECS * FLOOD_RATE))
ndev0=$(devjson "len(j['devices'])")
naddr0=$(devjson "sum(len(d['addresses']) for d in j['devices'])")
rss0=$(rss_kib)
peak=$rss0
echo "devices bench: flood: $count frames in $FLOOD_SECS s from lan1 in $LAB_NET6:1::/64" >&2
ip netns exec "${LAB}lan1" "$LAB_PY" "$LAB_TOOLS/ndflood.py" --iface eth0 --prefix "$LAB_NET6:1::" \
	--router "$LAB_NET6:1::1" --count "$count" --seconds "$FLOOD_SECS" >"$LAB_DIR/flood.out" 2>&1 </dev/null &
flood=$!
echo "$flood" >>"$LAB_DIR/pids"
samples=()
mid=''
for ((s = 1; s <= FLOOD_SECS + 30; s++)); do
	sleep 1
	r=$(rss_kib) || { echo "devices bench: igdd is gone" >&2; exit 1; }
	samples+=("$r")
	[ "$r" -gt "$peak" ] && peak=$r
	if [ $s = $((FLOOD_SECS / 2)) ]; then
		t1=$(now_ns)
		mid=$(devjson "len(j['devices'])") || mid='no answer'
		mid="$mid devices (igdctl answered in $(ms $(($(now_ns) - t1))) ms)"
	fi
	kill -0 "$flood" 2>/dev/null || break
done
wait "$flood" || { echo "devices bench: ndflood failed: $(cat "$LAB_DIR/flood.out")" >&2; exit 1; }
fl=$(cat "$LAB_DIR/flood.out")
rss1=$(rss_kib)
[ "$rss1" -gt "$peak" ] && peak=$rss1
ndev1=$(devjson "len(j['devices'])")
naddr1=$(devjson "sum(len(d['addresses']) for d in j['devices'])")
lan2_kept=$(devjson "any(a['address']=='$NEW_STABLE' for d in j['devices'] if d['mac']=='$LAN2_MAC' for a in d['addresses'])")
kneigh=$(ip -n "${LAB}cpe" -6 neigh show dev lan0 | wc -l)
sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$fl")
fsecs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$fl")
row "spoofed-neighbour flood from lan1 (ndflood.py)" "$(awk -v n="$sent" -v s="$fsecs" 'BEGIN { printf "%.0f/s", n / s }')" \
	"($sent frames in $fsecs s, asked for $FLOOD_RATE/s)"
row "igdd VmRSS under the flood: start / peak / end" "$rss0 / $peak / $rss1 KiB" \
	"(growth +$((rss1 - rss0)) KiB at the end, +$((peak - rss0)) KiB at the peak)"
row "igdctl devices: devices (addresses) before / after" "$ndev0 / $ndev1" \
	"($naddr0 / $naddr1 addresses; mid-flood: ${mid:-not sampled}; cpe kernel neighbours on lan0: $kneigh)"
row "device table since start: evicted / refused / claims ignored" \
	"$(devjson "'%d / %d / %d' % (j['table']['evicted'], j['table']['refused'], j['table']['claims_ignored'])")" \
	"(igdctl --json devices: table)"
echo "devices bench: VmRSS samples (KiB, 1/s): ${samples[*]}" >&2
ok=no
for try in 1 2 3 4 5 6 7 8 9 10; do # bounded: 10 tries of 1 s
	if lab_can_connect wan tcp "$NEW_STABLE" $PORT 1; then ok="yes (try $try of 10, 1 s each)"; break; fi
done
row "after the flood: WAN -> [lan2 stable]:$PORT connects" "$ok" "(lan2 still holds $NEW_STABLE in igdd's table: $lan2_kept)"

[ -f "$LAB_DIR/failures" ] && { echo; cat "$LAB_DIR/failures"; }
echo
echo "per renumbering: RA change -> lan2's new stable address seen (tentative) -> usable after DAD;"
echo "temp usable = when lan2's new temporary address was seen out of DAD, relative to the stable one (ms;"
echo "negative: first); igdd = its log line putting rule $ph on the address, relative to usable (ms); open = WAN TCP connect"
printf '%s\n' "${timeline[@]}"
echo
printf '%-66s %14s %s\n' "igdd devices bench ($(uname -r), $(nproc) CPUs)" "figure" "detail"
printf '%s\n' "${results[@]}"
echo "(pinhole asked by upnpc on lan2 for its $ASK address, pinhole_target=both; goals (issue 11): latency p50 <= 2 s, max <= 10 s; flood growth <= 4 MiB)"
