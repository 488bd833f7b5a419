# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Whether a lab's process still runs, and a bounded wait for its end (sourced by lab.sh, and by
# tests/integration/pcpd_lib.sh for the CGN lab, which has no lab.sh).
#
#   _lab_alive PID              0 while PID runs (a zombie has ended: its sockets and files are closed)
#   _lab_wait_gone PID TENTHS   0 once PID has ended, 1 if it still runs after TENTHS * 0.1 s

_lab_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

_lab_wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		_lab_alive "$1" || return 0
		sleep 0.1
	done
	return 1
}
