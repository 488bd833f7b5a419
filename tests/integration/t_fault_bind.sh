#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# igdd (and pcpd) that cannot bind what they must: one clear log line naming the problem and exit code 2,
# leaving no socket file or lock behind (a normal start right after works). Cases: PCP port 5351 taken
# (IPv4, IPv6, both), the control socket path a regular file, its directory a file, another program
# listening on it; with the web UI in the build, its port taken.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
it_setup

HOLD_N=0
# hold NS KIND ADDR PORT: a program in NS holding a udp/tcp port or a unix socket path (until the lab goes)
hold() {
	local ready="$LAB_DIR/hold.$HOLD_N" i
	HOLD_N=$((HOLD_N + 1))
	ip netns exec "${LAB}$1" "$LAB_PY" - "$2" "$3" "$4" "$ready" >/dev/null 2>>"$LAB_DIR/hold.err" <<-'PY' &
		import socket, sys, time
		kind, addr, port, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
		if kind == "unix":
		    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		    s.bind(addr)
		    s.listen(1)
		else:
		    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
		    s = socket.socket(fam, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
		    if fam == socket.AF_INET6:
		        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
		    s.bind((addr, port))
		    if kind == "tcp":
		        s.listen(1)
		open(ready, "w").write("1")
		time.sleep(120)
	PY
	echo $! >>"$LAB_DIR/pids"
	HOLDER=$!
	for ((i = 0; i < 50; i++)); do
		[ -s "$ready" ] && return 0
		sleep 0.05
	done
	fail "hold $*: the holder did not come up ($(tail -n 3 "$LAB_DIR/hold.err"))"
}
unhold() {
	kill "$HOLDER" 2>/dev/null || true
	wait "$HOLDER" 2>/dev/null || true
}

# refused WHAT REGEX [CONFIG LINE...]: igdd must exit 2 within 10 s, logging a line matching REGEX
refused() {
	local what=$1 re=$2
	shift 2
	fault_igdd_run_once 10 "$@"
	expect_eq "$FAULT_RC" 2 "$what: exit code"
	grep -qiE "$re" "$LAB_DIR/once.log" || fail "$what: no log line matching /$re/: $(cat "$LAB_DIR/once.log")"
	ok "$what: log: $(grep -iE -m1 "$re" "$LAB_DIR/once.log")"
	[ "${RUNNING:-0}" = 1 ] && return 0
	[ -e "$LAB_DIR/igdd.sock" ] && fail "$what: the control socket file was left behind"
	ok "$what: no control socket left behind"
}

step "PCP port 5351 taken"
hold cpe udp 0.0.0.0 5351
refused "IPv4 PCP port taken" 'pcp: IPv4 socket on port 5351: Address already in use' enable_pcp=yes
unhold
hold cpe udp :: 5351
refused "IPv6 PCP port taken" 'pcp: IPv6 socket on port 5351: Address already in use' enable_pcp=yes
unhold
hold cpe udp "$CPE_LAN4" 5351
refused "PCP port taken on the LAN address only" 'pcp: IPv4 socket on port 5351: Address already in use' enable_pcp=yes
unhold
lab_igdd_start enable_pcp=yes || fail "igdd does not start once the port is free"
expect_result lan1 SUCCESS "PCP answers once the port is free" announce
step "a second igdd while the first runs"
RUNNING=1 refused "second igdd on the same state_dir" 'in use by another igdd' enable_pcp=yes
igdctl_lab status >/dev/null || fail "the first igdd lost its control socket to the second"
expect_result lan1 SUCCESS "the first igdd still answers PCP" announce
lab_igdd_stop || fail "igdd did not stop"

step "control socket path unusable"
: >"$LAB_DIR/notasocket"
refused "control socket path is a regular file" 'exists and is not a socket' "control_socket=$LAB_DIR/notasocket"
[ -f "$LAB_DIR/notasocket" ] || fail "igdd removed a regular file in the socket's place"
ok "the regular file is still there"
refused "control socket directory is a file" 'control socket: .*(not a directory|cannot create)' \
	"control_socket=$LAB_DIR/notasocket/igdd.sock"
hold cpe unix "$LAB_DIR/igdd.sock" 0
fault_igdd_run_once 10 enable_pcp=no
expect_eq "$FAULT_RC" 2 "another program listening on the control socket: exit code"
grep -qi 'another daemon is listening' "$LAB_DIR/once.log" || fail "no clear log line: $(cat "$LAB_DIR/once.log")"
ok "log: $(grep -i -m1 'another daemon' "$LAB_DIR/once.log")"
unhold
rm -f "$LAB_DIR/igdd.sock"
long="$LAB_DIR/$(printf 'x%.0s' $(seq 1 120))/igdd.sock"
fault_igdd_run_once 10 "control_socket=$long"
[ "$FAULT_RC" = 1 ] || [ "$FAULT_RC" = 2 ] || fail "control socket path too long: exit $FAULT_RC"
grep -qi 'too long' "$LAB_DIR/once.log" || fail "path too long: no clear log line: $(cat "$LAB_DIR/once.log")"
ok "control socket path too long: exit $FAULT_RC, log: $(grep -i -m1 'too long' "$LAB_DIR/once.log")"
lab_igdd_start || fail "igdd does not start after the failed starts"
ok "igdd starts normally after all of that"
lab_igdd_stop || fail "igdd did not stop"

step "pcpd: PCP port taken"
PCPD_BIN=${IGDD_BUILD:-$TOP}/pcpd/pcpd
if [ -x "$PCPD_BIN" ]; then
	hold cpe udp 0.0.0.0 5351
	lab_igdd_conf enable_pcp=yes
	rc=0
	timeout -k 2 10 ip netns exec "${LAB}cpe" "$PCPD_BIN" -d -f "$LAB_DIR/igdd.conf" </dev/null >"$LAB_DIR/pcpd.log" 2>&1 || rc=$?
	expect_eq "$rc" 2 "pcpd with PCP port taken: exit code"
	grep -q 'Address already in use' "$LAB_DIR/pcpd.log" || fail "pcpd: no clear log line: $(cat "$LAB_DIR/pcpd.log")"
	ok "pcpd log: $(grep -m1 'Address already in use' "$LAB_DIR/pcpd.log")"
	unhold
else
	ok "pcpd not built: skipped"
fi

step "web UI port taken (when the web UI is part of this build)"
fault_igdd_run_once 3 "web_listen=$CPE_LAN4:8080" enable_pcp=no
if grep -q 'web UI is not yet part of this build' "$LAB_DIR/once.log"; then
	ok "the web UI is not part of this build yet: skipped"
else
	hold cpe tcp "$CPE_LAN4" 8080
	refused "web port taken" '(web|http).*(8080|in use|bind)' "web_listen=$CPE_LAN4:8080" enable_pcp=no
	unhold
fi
it_done
