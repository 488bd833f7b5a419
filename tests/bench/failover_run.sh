#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench, failover part: the time from the kill of the serving pcpd node until the wan host reaches
# the LAN host again through the same address and port (tests/integration/t_failover.sh: two pcpd nodes
# behind keepalived, igdd on the CPE re-creating its upstream mapping). Runs the test FAILOVER_RUNS
# times (3), each in its own lab, and prints the figures and their min / median / max. A run that
# fails is reported and counts as no figure. IGDD_BUILD=DIR selects the build.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
test=$here/../integration/t_failover.sh
runs=${FAILOVER_RUNS:-3}

if [ "$(id -u)" != 0 ]; then
	echo "failover bench: needs root (network namespaces, nftables)" >&2
	exit 1
fi
figs=()
vrrp=()
for ((i = 1; i <= runs; i++)); do
	out=$(LAB=fb$i$$ timeout -k 10 300 bash "$test" 2>&1 </dev/null)
	line=$(grep '^failover: ' <<<"$out")
	if [ -z "$line" ]; then
		echo "failover bench: run $i failed:" >&2
		tail -n 15 <<<"$out" >&2
		continue
	fi
	echo "failover bench: run $i: ${line#failover: }" >&2
	figs+=("$(sed -n 's/^failover: \([0-9.]*\) s .*/\1/p' <<<"$line")")
	vrrp+=("$(sed -n 's/.*notify_master after \([0-9.]*\) s).*/\1/p' <<<"$line")")
done
[ ${#figs[@]} -gt 0 ] || { echo "failover bench: no run succeeded" >&2; exit 1; }
summary() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%s / %s / %s s\n", v[1], v[int((NR + 1) / 2)], v[NR] }'; }
echo
echo "pcpd failover (keepalived defaults, advert_int 1; ${#figs[@]} of $runs runs), min / median / max:"
printf "  %-64s %s\n" "kill of the serving node -> wan reaches the LAN host again" "$(summary "${figs[@]}")"
printf "  %-64s %s\n" "kill of the serving node -> standby holds the address, hook ran" "$(summary "${vrrp[@]}")"
