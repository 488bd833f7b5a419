#!/bin/sh
# Runs each libFuzzer target for SECONDS, starting from its seed corpus in tests/fuzz/corpus/<name>/.
# New inputs go to a scratch directory (the seeds in the repository stay as they are); a crash leaves
# its reproducer in tests/out/fuzz/ and fails the run.
#   usage: run.sh SECONDS FUZZER...
set -u
secs=$1
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/tests/out/fuzz
mkdir -p "$out"
pass=0
failed=0
for f in "$@"; do
	name=$(basename "$f")
	seeds=$top/tests/fuzz/corpus/${name#fuzz_}
	scratch=$(mktemp -d)
	[ -d "$seeds" ] || seeds=
	printf '%-22s %ss ... ' "$name" "$secs"
	if "$f" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$out/$name-" \
		"$scratch" $seeds >"$out/$name.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")
		echo "ok (${runs:-?} runs)"
		pass=$((pass + 1))
	else
		echo "FAILED, see $out/$name.log"
		tail -n 30 "$out/$name.log"
		failed=$((failed + 1))
	fi
	rm -rf "$scratch"
done
echo "fuzz: $pass passed, $failed failed"
[ "$failed" = 0 ]
