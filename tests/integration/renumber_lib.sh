# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for renumbering the lab's LAN (sourced after lib.sh). A "net" is the first three groups of a
# delegated /56, e.g. 2001:db8:1 (LAN subnet NET:1::/64, cpe NET:1::1).

# rn_iid7217 NET: an RFC 7217-style stable opaque IID for lan2 in NET:1::/64 (a hash of prefix, interface and
# a per-lab secret: stable within a prefix, different in every prefix, no EUI-64 ff:fe marker).
rn_iid7217() {
	local h
	h=$(printf '%s:1::/64|eth0|secret-%s' "$1" "$LAB" | sha256sum | cut -c1-16)
	# clear the ff:fe marker should the hash hold it (bytes 11-12 of the address = hex chars 7-10 of the IID)
	[ "${h:6:4}" != fffe ] || h=${h:0:6}00${h:8}
	printf '%x:%x:%x:%x' $((0x${h:0:4})) $((0x${h:4:4})) $((0x${h:8:4})) $((0x${h:12:4}))
}

# rn_eui NET H: lan H's EUI-64 address in NET:1::/64
rn_eui() { echo "$1:1:5054:ff:fe12:340$2"; }

# rn_cpe_add NET: the cpe takes NET:1::1/64 on lan0 (the new PIO of the RA) and routes NET::/56
rn_cpe_add() {
	lab_exec cpe ip -6 route add unreachable "$1::/56" 2>/dev/null || true
	lab_exec wan ip -6 route add "$1::/56" via "$CPE_WAN6" 2>/dev/null || true
	lab_exec cpe ip -6 addr add "$1:1::1/64" dev lan0 nodad
}

# rn_cpe_deprecate NET: preferred lifetime 0, as a router announces a prefix that is going away
rn_cpe_deprecate() { lab_exec cpe ip -6 addr replace "$1:1::1/64" dev lan0 nodad preferred_lft 0 valid_lft 120; }
rn_cpe_remove() { lab_exec cpe ip -6 addr del "$1:1::1/64" dev lan0 2>/dev/null || true; }

# rn_host_add H ADDR: lan H forms ADDR (/64) and lets the cpe see it (neighbour entry), default route via NET:1::1
rn_host_add() {
	local h=$1 a=$2 net
	net=$(echo "$a" | cut -d: -f1-3)
	lab_exec "lan$h" ip -6 addr add "$a/64" dev eth0 nodad
	lab_exec "lan$h" ip -6 route replace default via "$net:1::1"
	lab_exec "lan$h" ping -6 -q -c1 -W1 -I "$a" "$net:1::1" >/dev/null 2>&1 || true
}
# rn_host_deprecate H ADDR / rn_host_remove H ADDR
rn_host_deprecate() { lab_exec "lan$1" ip -6 addr replace "$2/64" dev eth0 nodad preferred_lft 0 valid_lft 120; }
rn_host_remove() { lab_exec "lan$1" ip -6 addr del "$2/64" dev eth0 2>/dev/null || true; }

# rn_json PYTHON-EXPR ARGS...: igdctl --json ARGS | python expression on j
rn_json() {
	local expr=$1
	shift
	igdctl_lab --json "$@" | "$LAB_PY" -c "import json,sys; j=json.load(sys.stdin); print($expr)"
}
# rn_kind ADDR: the device table's kind for ADDR ("none" if unknown)
rn_kind() {
	rn_json "next((a['kind'] for d in j['devices'] for a in d['addresses'] if a['address']=='$1'), 'none')" devices
}
# rn_state ID: the rule's state ("none" if gone)
rn_state() { rn_json "next((r['state'] for r in j['rules'] if r['id']==$1), 'none')" list; }
rn_tx() { rn_json "j['firewall']['transactions']" status; }
# rn_set_has TEXT: does any pinhole set of table inet igdd hold an element containing TEXT?
rn_set_has() { lab_exec cpe nft list table inet igdd | grep -q "$1"; }
