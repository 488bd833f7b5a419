# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What every integration test reports with (sourced by lib.sh and cgn_lib.sh): step, ok, fail, it_done,
# and field for the key=value lines of the lab's clients. fail first calls checks_on_fail, which a lab
# library defines to print the tails of its daemons' logs.

IT_NAME=$(basename "$0" .sh)
IT_T0=$(date +%s.%N)
IT_OK=0

_it_ts() { awk -v a="$IT_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.2f", b - a }'; }

step() { echo "[$(_it_ts)] -- $*"; }
ok() {
	IT_OK=$((IT_OK + 1))
	echo "[$(_it_ts)] ok: $*"
}
fail() {
	echo "[$(_it_ts)] FAIL: $*"
	declare -F checks_on_fail >/dev/null && checks_on_fail
	exit 1
}
# it_done: the last line of a passing test
it_done() { echo "[$(_it_ts)] $IT_NAME: all $IT_OK checks passed"; }

# field LINE KEY: the value of KEY in a line of key=value words (pcpc.py, igdctl)
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# tail_log FILE LABEL [LINES=15]: the end of a daemon's log, if there is one
tail_log() {
	[ -f "$1" ] || return 0
	echo "--- $2 (tail)"
	tail -n "${3:-15}" "$1"
}
