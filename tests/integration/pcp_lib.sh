# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PCP helpers for the integration tests (sourced after lib.sh).
PCPC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../lab" && pwd)/pcpc.py"

# pcpc NS ARGS...: runs the PCP client in namespace NS, prints its key=value line
pcpc() {
	local ns=$1
	shift
	ip netns exec "${LAB}$ns" python3 "$PCPC" "$@" </dev/null
}

# expect_result NS WANT MESSAGE PCPC-ARGS...: one request, its result must be WANT; sets PCP_LINE
expect_result() {
	local ns=$1 want=$2 msg=$3
	shift 3
	PCP_LINE=$(pcpc "$ns" "$@") || true
	expect_eq "$(field "$PCP_LINE" result)" "$want" "$msg"
}
