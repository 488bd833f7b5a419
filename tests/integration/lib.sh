# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Assertions for the integration tests (sourced). A test is a bash script that calls it_setup, then
# makes assertions; the first failed assertion ends it with status 1 (the lab is removed by its trap).

# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lab" && pwd)/lab.sh"

# shellcheck source=checks.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/checks.sh"
# a failed check shows the end of igdd's log (and pcpd's, in the labs that run one)
checks_on_fail() {
	[ -n "${LAB_DIR:-}" ] || return 0
	tail_log "$LAB_DIR/igdd.log" igdd.log
	tail_log "$LAB_DIR/pcpd.log" pcpd.log 10
}

# it_setup: builds a fresh lab that goes away when the test ends
it_setup() {
	lab_trap
	lab_up || fail "lab_up"
	step "lab $LAB up (lan1 $LAN1_EUI64 tmp $LAN1_TMP, lan2 $LAN2_STABLE)"
}

# it_system_user NAME: prints NAME's uid, adding it as a system user first if it is missing (as
# `make deps` does for igdd; a test run outside make may come first)
it_system_user() {
	if ! id -u "$1" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1" >/dev/null 2>&1 ||
			id -u "$1" >/dev/null 2>&1 || return 1   # another run may have added it meanwhile
	fi
	id -u "$1"
}


# expect_connect FROM tcp|udp ADDR PORT MESSAGE [TIMEOUT_S=1]
expect_connect() {
	if lab_can_connect "$1" "$2" "$3" "$4" "${6:-1}"; then
		ok "$5 ($1 -> $3 $4/$2 connects)"
	else
		fail "$5 ($1 -> $3 $4/$2 does not connect)"
	fi
}

# expect_no_connect FROM tcp|udp ADDR PORT MESSAGE [TIMEOUT_S=0.5]
expect_no_connect() {
	if lab_can_connect "$1" "$2" "$3" "$4" "${6:-0.5}"; then
		fail "$5 ($1 -> $3 $4/$2 connects)"
	else
		ok "$5 ($1 -> $3 $4/$2 blocked)"
	fi
}

# expect_eq GOT WANT MESSAGE
expect_eq() {
	if [ "$1" = "$2" ]; then ok "$3 ($1)"; else fail "$3 (got '$1', want '$2')"; fi
}

# shellcheck disable=SC2034 # WAITED is read by the tests
# wait_until SECONDS CMD...: polls CMD every 50 ms; 0 once it succeeds, 1 at the deadline.
# Sets WAITED to the seconds it took.
wait_until() {
	local limit_ms t0 now
	limit_ms=$(awk -v l="$1" 'BEGIN { printf "%d", l * 1000 }')
	shift
	t0=$(date +%s%N)
	while :; do
		if "$@"; then
			now=$(date +%s%N)
			WAITED=$(awk -v d=$(((now - t0) / 1000000)) 'BEGIN { printf "%.2f", d / 1000 }')
			return 0
		fi
		now=$(date +%s%N)
		if [ $(((now - t0) / 1000000)) -ge "$limit_ms" ]; then
			WAITED=$(awk -v d="$limit_ms" 'BEGIN { printf "%.2f", d / 1000 }')
			return 1
		fi
		sleep 0.05
	done
}

# igdctl_add ARGS...: igdctl add ARGS, prints the new id; fails the test if igdctl fails
igdctl_add() {
	local id
	id=$(igdctl_lab add "$@") || fail "igdctl add $* (exit $?)"
	[ -n "$id" ] || fail "igdctl add $* printed no id"
	echo "$id"
}

# upstream_field KEY: a field of the "upstream" object (igdd's PCP client toward a CGN) of igdctl status
upstream_field() {
	igdctl_lab --json status 2>/dev/null | "$LAB_PY" -c '
import json, sys
d = json.load(sys.stdin)
u = d.get("upstream") or (d.get("body") or {}).get("upstream") or {}
v = u.get(sys.argv[1])
print("" if v is None else v)' "$1"
}

# set_count SET: elements in set SET of table inet igdd (-1 if it does not exist)
set_count() { lab_nft_count elems list set inet igdd "$1" || true; }

# upc NS ARGS...: miniupnpc's upnpc in NS (bounded, never fails the test by itself), output on stdout
upc() {
	local ns=$1
	shift
	timeout 20 ip netns exec "${LAB}$ns" upnpc -i "$@" 2>&1 || true
}

# expect_out OUTPUT REGEX MESSAGE: OUTPUT has a line matching the extended REGEX
expect_out() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then ok "$3"; else
		printf '%s\n' "$1" | tail -n 8
		fail "$3 (no /$2/)"
	fi
}
