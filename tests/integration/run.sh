#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs every tests/integration/t_*.sh in its own fresh lab (network namespaces on the real kernel; needs root).
#   IGDD_BUILD=DIR   where igdd/igdd and igdd/igdctl are (default: the repository top)
#   TESTS="t_cli t_pinhole"   run only these
# Output and igdd logs of each test: tests/out/integration/<test>/ (the lab works in a directory of its
# own outside the checkout and copies it there at the end). Ends with "N passed, N failed".
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${IGDD_BUILD:-$top}
out=${TEST_OUT:-$top/tests/out}/integration

if [ "$(id -u)" != 0 ]; then
	echo "integration tests need root (network namespaces, nftables)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for b in igdd/igdd igdd/igdctl; do
	if [ ! -x "$build/$b" ]; then
		echo "missing $build/$b (build it first)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

mkdir -p "$out"
pass=0
failed=0
failures=
n=0
for t in "$here"/t_*.sh; do
	name=$(basename "$t" .sh)
	if [ -n "${TESTS:-}" ] && ! printf ' %s ' "$TESTS" | grep -q " $name "; then
		continue
	fi
	n=$((n + 1))
	dir=$out/$name
	rm -rf "$dir"
	mkdir -p "$dir"
	t0=$(date +%s%N)
	LAB=i$n$$ LAB_OUT=$dir IGDD_BUILD=$build timeout -k 10 300 bash "$t" >"$dir/output" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", d / 1e9 }')
	if [ $rc = 0 ]; then
		pass=$((pass + 1))
		printf 'PASS %-14s %6ss\n' "$name" "$secs"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		printf 'FAIL %-14s %6ss (exit %s%s)\n' "$name" "$secs" "$rc" "$([ $rc = 124 ] && echo ', timed out')"
		echo "---- $dir/output (tail)"
		tail -n 40 "$dir/output" | sed 's/^/    /'
		if [ -f "$dir/igdd.log" ]; then
			echo "---- $dir/igdd.log (tail)"
			tail -n 20 "$dir/igdd.log" | sed 's/^/    /'
		fi
		echo "----"
	fi
	# a test must leave no namespace behind
	for ns in wan cpe lan1 lan2; do
		if [ -e "/run/netns/i$n$$$ns" ]; then
			echo "WARNING: $name left namespace i$n$$$ns behind; removing it" >&2
			ip netns del "i$n$$$ns" 2>/dev/null
		fi
	done
done
[ -z "$failures" ] || echo "failed:$failures"
echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
