# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the device tests (issue 11: hosts as real ones are), sourced after lib.sh and pcp_lib.sh.
# Nothing here primes the router: the hosts only do what their OS does (SLAAC, DAD, background traffic),
# the apps speak from the host's default source, and the WAN host connects.

# dv_upc NS ARGS...: upnpc in NS (bounded), output on stdout
dv_upc() {
	local ns=$1
	shift
	timeout 20 ip netns exec "${LAB}$ns" upnpc -i "$@" 2>&1 </dev/null || true
}

# dv_expect_out OUTPUT REGEX MESSAGE
dv_expect_out() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then ok "$3"; else
		printf '%s\n' "$1" | tail -n 8
		fail "$3 (no /$2/)"
	fi
}

# dv_pinhole_id OUTPUT: the id in upnpc's "Pinhole ID = N"
dv_pinhole_id() { printf '%s\n' "$1" | sed -n 's/.*Pinhole ID = \([0-9]*\).*/\1/p' | head -n1; }

# dv_json PYTHON-EXPR ARGS...: igdctl --json ARGS | python expression on j
dv_json() {
	local expr=$1
	shift
	igdctl_lab --json "$@" | "$LAB_PY" -c "import json,sys; j=json.load(sys.stdin); print($expr)"
}
# dv_rule ID: "STATE OWNER EXACT STABLE" of rule ID ("none" if gone; "-" for an empty field)
dv_rule() {
	dv_json "next(('%s %s %s %s' % (r['state'], r['owner'] or '-', r['target']['exact'] or '-',
		r['target']['stable'] or '-') for r in j['rules'] if r['id']==$1), 'none')" list
}
# dv_kind ADDR: the device table's kind for ADDR ("none" if unknown), and dv_evidence ADDR its evidence
dv_kind() {
	dv_json "next((a['kind'] for d in j['devices'] for a in d['addresses'] if a['address']=='$1'), 'none')" devices
}
dv_evidence() {
	dv_json "next((a['evidence'] for d in j['devices'] for a in d['addresses'] if a['address']=='$1'), '')" devices
}
# dv_mac_of ADDR: the MAC of the device holding ADDR ("none")
dv_mac_of() {
	dv_json "next((d['mac'] for d in j['devices'] for a in d['addresses'] if a['address']=='$1'), 'none')" devices
}

# dv_upnp_up: waits (bounded: 10 s) for the UPnP front end's "upnp: IGD" line
dv_upnp_up() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "upnp: IGD" "$LAB_DIR/igdd.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# dv_rss_kib: igdd's resident set (VmRSS, KiB)
dv_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$(lab_igdd_pid)/status"; }

# dv_ms_since T0_NS: milliseconds since T0 (date +%s%N)
dv_ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
dv_secs() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }

# dv_wait_addr H KIND NET SECONDS: waits for host H's address of KIND in NET:1::/64 (out of DAD); prints it
dv_wait_addr() {
	local i a
	for ((i = 0; i < $4 * 20; i++)); do
		a=$(lab_host_addr "$1" "$2" "$3")
		[ -n "$a" ] && { echo "$a"; return 0; }
		sleep 0.05
	done
	return 1
}

# dv_show_device MAC: the device's addresses as igdd judges them (for a failure's explanation)
dv_show_device() {
	dv_json "'\\n'.join('  %s %s (%s) state %s first %s' % (a['address'], a['kind'], a['evidence'], a['state'],
		a['first_seen']) for d in j['devices'] if d['mac']=='$1' for a in d['addresses'])" devices
}
