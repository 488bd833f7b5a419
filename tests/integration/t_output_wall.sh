#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The output wall (second wall against CallStranger, CVE-2020-12695): igdd's own sockets may open TCP
# connections only towards the LAN. igdd, started from the root cgroup as the lab does, moves itself
# into a cgroup v2 of its own (igdd-<table>) and table inet igdd gets an output chain that drops new
# TCP from that cgroup leaving anywhere but @lan_if and lo. A probe process put into the same cgroup
# stands in for igdd's sockets (the cgroup of the process that creates a socket is what the rule sees):
#  - TCP to wan (IPv4 and IPv6) is blocked; TCP to lan1 (IPv4 and IPv6) works
#  - UDP to wan still works (PCP to an upstream server)
#  - a process outside the cgroup still reaches wan over TCP (the host's other traffic is not ours)
# The cgroup is removed at the end if igdd made it and nothing else is in it.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

CG_DIR=
# after lab_down (which stops igdd): remove the cgroup igdd made, if it is empty (rmdir refuses otherwise)
cg_cleanup() {
	case ${CG_PATH:-} in
	/igdd-*) [ -n "$CG_DIR" ] && [ -d "$CG_DIR" ] && rmdir "$CG_DIR" 2>/dev/null || true ;;
	esac
}
# shellcheck disable=SC2154 # _lab_rc is assigned inside the trap
trap '_lab_rc=$?; trap - EXIT INT TERM; lab_down; cg_cleanup; exit $_lab_rc' EXIT

CG_MOUNT=$(awk '$0 ~ / - cgroup2 / && $4 == "/" { print $5; exit }' /proc/self/mountinfo)
[ -n "$CG_MOUNT" ] || fail "no cgroup2 mounted on this host"

lab_listen wan tcp 9100
lab_listen wan udp 9101
lab_listen lan1 tcp 9100
expect_connect cpe tcp "$WAN_V4" 9100 "without igdd the cpe reaches wan"

lab_igdd_start || fail "igdd did not start"
pid=$(lab_igdd_pid)
step "igdd up (pid $pid)"
grep -q "output wall: igdd's TCP limited to the LAN (cgroup /igdd-igdd)" "$LAB_DIR/igdd.log" ||
	fail "igdd did not log its output wall"
ok "igdd logged: $(grep -o "output wall: .*" "$LAB_DIR/igdd.log" | tail -n 1)"
CG_PATH=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
expect_eq "$CG_PATH" /igdd-igdd "igdd's cgroup"
CG_DIR=$CG_MOUNT$CG_PATH
[ -d "$CG_DIR" ] || fail "$CG_DIR is not a directory"
CG_ID=$(stat -c %i "$CG_DIR")
grep -qx "$pid" "$CG_DIR/cgroup.procs" || fail "igdd ($pid) is not in $CG_DIR/cgroup.procs"
ok "igdd is in $CG_DIR (id $CG_ID)"
rules=$(lab_exec cpe nft list chain inet igdd output) || fail "no chain output in table inet igdd"
echo "$rules"
want="socket cgroupv2 level 1 $CG_ID oifname != @lan_if oifname != \"lo\" meta l4proto tcp ct state new drop"
# nft names the cgroup by its path when it can see it under /sys/fs/cgroup, by its id when not
if printf '%s\n' "$rules" | grep -q "type filter hook output priority filter; policy accept;" &&
	{ printf '%s\n' "$rules" | grep -qF "$want" ||
		printf '%s\n' "$rules" | grep -qF "${want/ $CG_ID / \"igdd-igdd\" }"; }; then
	ok "chain output holds the wall, for cgroup id $CG_ID"
else
	fail "chain output does not hold the wall for cgroup id $CG_ID"
fi

# in_cg_connect tcp|udp ADDR PORT [S]: probe.py connect from a process in igdd's cgroup, in cpe.
# The subshell joins the cgroup first; ip netns exec and the probe inherit it. Exit 3: could not join.
in_cg_connect() {
	(
		echo "$BASHPID" >"$CG_DIR/cgroup.procs" || exit 3
		grep -qx "0::$CG_PATH" "/proc/$BASHPID/cgroup" || exit 3
		lab_exec cpe "$LAB_PY" "$LAB_TOOLS/probe.py" connect "$@"
	)
}
expect_in_cg() {   # expect_in_cg yes|no tcp|udp ADDR PORT MESSAGE
	local want=$1 rc=0
	in_cg_connect "$2" "$3" "$4" "$([ "$want" = yes ] && echo 1 || echo 0.5)" || rc=$?
	[ $rc != 3 ] || fail "$5: the probe could not join $CG_DIR"
	if [ "$want" = yes ] && [ $rc = 0 ]; then
		ok "$5 (igdd's cgroup -> $3 $4/$2 connects)"
	elif [ "$want" = no ] && [ $rc != 0 ]; then
		ok "$5 (igdd's cgroup -> $3 $4/$2 blocked)"
	else
		fail "$5 (igdd's cgroup -> $3 $4/$2: exit $rc)"
	fi
}

step "from igdd's cgroup"
expect_in_cg no tcp "$WAN_V4" 9100 "TCP to the internet is walled (IPv4)"
expect_in_cg no tcp "$WAN_V6" 9100 "TCP to the internet is walled (IPv6)"
expect_in_cg yes tcp "$LAN1_V4" 9100 "TCP to the LAN works (IPv4)"
expect_in_cg yes tcp "$LAN1_EUI64" 9100 "TCP to the LAN works (IPv6)"
expect_in_cg yes udp "$WAN_V4" 9101 "UDP to the internet still works (IPv4)"
expect_in_cg yes udp "$WAN_V6" 9101 "UDP to the internet still works (IPv6)"
# (another lab run on this host may have its own igdd in the same igdd-<table> cgroup)
grep -qx "$pid" "$CG_DIR/cgroup.procs" || fail "igdd ($pid) left its cgroup"
stray=$(for p in $(cat "$CG_DIR/cgroup.procs"); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = igdd ] || echo "$p"; done | xargs)
expect_eq "$stray" "" "after the probes no probe process is left in igdd's cgroup"

step "from outside igdd's cgroup"
expect_connect cpe tcp "$WAN_V4" 9100 "the host's own TCP to the internet is not ours to stop (IPv4)"
expect_connect cpe tcp "$WAN_V6" 9100 "the host's own TCP to the internet is not ours to stop (IPv6)"
expect_connect lan1 tcp "$WAN_V4" 9100 "forwarded LAN traffic is not walled"

step "igdd stops, the cgroup is reused at the next start"
lab_igdd_stop || fail "igdd did not stop"
lab_igdd_start || fail "igdd did not start again"
expect_eq "$(stat -c %i "$CG_DIR")" "$CG_ID" "same cgroup (id) after a restart"
expect_in_cg no tcp "$WAN_V4" 9100 "still walled after a restart"
lab_igdd_stop || fail "igdd did not stop"
cg_cleanup
[ ! -d "$CG_DIR" ] || echo "(left $CG_DIR: another igdd is in it)"
it_done
