#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PCP and NAT-PMP clients as they are in the field, replayed byte for byte from lan1 (tests/lab/pcpc.py)
# where the client is not in Debian, natpmpc where it is; every mapping is checked by a connection from
# the WAN side reaching lan1:
#   Tailscale     its probe (NAT-PMP public address + PCP ANNOUNCE at once, answered within 250 ms), a MAP
#                 with a fresh nonce on every renewal and on release
#   Bitcoin Core  one nonce for all its mappings (IPv4 and each global IPv6 address), a new one after a
#                 restart, its NAT-PMP requests (exactly 12 / 16 octet answers), and with NAT-PMP off the
#                 8-octet NAT-PMP UNSUPP_VERSION it falls back on
#   libpcp        version steps: 2, then the draft 1, then NAT-PMP (0); any other version is UNSUPP_VERSION 2
#   libtorrent    drops a PCP MAP answer that is not exactly 60 octets, a NAT-PMP one not exactly 16
#   natpmpc       the same external port back for the same internal endpoint; lifetime 0 deletes
# and another host (here the allowed THIRD_PARTY requester) with another nonce stays NOT_AUTHORIZED.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
command -v natpmpc >/dev/null || { echo "t_quirks_pcp: skipped (no natpmpc)"; exit 77; }
it_setup

IWF=$LAN2_STABLE
# expect_len NAME WANT: the last pcpc answer's size
expect_len() { expect_eq "$(field "$PCP_LINE" len)" "$2" "$1: answer of exactly $2 octets"; }
# nonce: 24 random hex digits, as each client draws them
nonce() { od -An -tx1 -N12 /dev/urandom | tr -d ' \n'; }
igdd_log_has() { grep -q "$1" "$LAB_DIR/igdd.log"; }
# rules_on_port PORT: how many rules igdd holds for that internal port
rules_on_port() {
	igdctl_lab --json list | "$LAB_PY" -c '
import json, sys
d = json.load(sys.stdin)
rules = d.get("rules") if isinstance(d, dict) else d
print(sum(1 for r in rules if r.get("port") == int(sys.argv[1])))' "$1"
}

lab_listen lan1 udp 41641 || fail "listener udp 41641"
lab_listen lan1 tcp 8333 || fail "listener tcp 8333"
lab_listen lan1 tcp 8334 || fail "listener tcp 8334"
lab_listen lan1 tcp 6881 || fail "listener tcp 6881"
lab_listen lan1 udp 6881 || fail "listener udp 6881"
lab_listen lan1 tcp 6882 || fail "listener tcp 6882"
lab_listen lan1 tcp 7400 || fail "listener tcp 7400"
lab_listen lan1 udp 6090 || fail "listener udp 6090"
lab_listen lan1 tcp 5555 || fail "listener tcp 5555"
lab_igdd_start enable_pcp=yes "pcp_allow_thirdparty=$IWF" || fail "igdd did not start"
step "igdd up with PCP and NAT-PMP"

step "Tailscale: the probe"
# the first probe is what Tailscale sends when it meets the gateway; it allows 250 ms for all answers
out=$(pcpc lan1 -s "$CPE_LAN4" --timeout 0.25 probe) || fail "probe: not both answered within 250 ms: $out"
n=$(grep "proto=natpmp" <<<"$out") || fail "probe: no NAT-PMP answer: $out"
p=$(grep "proto=pcp" <<<"$out") || fail "probe: no PCP answer: $out"
expect_eq "$(field "$n" result) $(field "$n" len) $(field "$n" ext_addr)" "SUCCESS 12 $CPE_WAN4" \
	"NAT-PMP public address in $(field "$n" ms) ms"
expect_eq "$(field "$p" result) $(field "$p" opcode) $(field "$p" len) $(field "$p" version)" "SUCCESS ANNOUNCE 24 2" \
	"PCP ANNOUNCE in $(field "$p" ms) ms"

step "Tailscale: a fresh nonce on every renewal and on release"
expect_result lan1 SUCCESS "MAP udp 41641" -s "$CPE_LAN4" map --proto udp --port 41641 --sugg-addr :: \
	--lifetime 7200 --nonce "$(nonce)"
expect_len "MAP" 60
TS_PORT=$(field "$PCP_LINE" ext_port)
expect_connect wan udp "$CPE_WAN4" "$TS_PORT" "the mapping reaches lan1:41641"
expect_result lan1 SUCCESS "renewal with a new nonce" -s "$CPE_LAN4" map --proto udp --port 41641 \
	--sugg-port "$TS_PORT" --sugg-addr "$CPE_WAN4" --lifetime 7200 --nonce "$(nonce)"
expect_eq "$(field "$PCP_LINE" ext_port)" "$TS_PORT" "renewed on the same external port"
expect_eq "$(field "$PCP_LINE" lifetime)" 7200 "renewal grants the lifetime asked"
igdd_log_has "came with a new nonce for its own MAP mapping" && ok "igdd logs the nonce it replaced" ||
	fail "no log line for the replaced nonce"
expect_connect wan udp "$CPE_WAN4" "$TS_PORT" "still reaches lan1 after the renewal"
expect_result lan1 SUCCESS "release (lifetime 0) with yet another nonce" -s "$CPE_LAN4" map --proto udp --port 41641 \
	--sugg-port "$TS_PORT" --lifetime 0 --nonce "$(nonce)"
expect_eq "$(field "$PCP_LINE" lifetime)" 0 "release answers lifetime 0"
expect_no_connect wan udp "$CPE_WAN4" "$TS_PORT" "released: the port is closed"

step "Bitcoin Core: one nonce for every mapping"
BTC=$(nonce)
expect_result lan1 SUCCESS "MAP tcp 8333 IPv4" -s "$CPE_LAN4" map --port 8333 --sugg-port 8333 --lifetime 1200 --nonce "$BTC"
expect_len "MAP" 60
expect_eq "$(field "$PCP_LINE" ext_port)" 8333 "IPv4 8333 as suggested"
expect_result lan1 SUCCESS "MAP tcp 8333 from $LAN1_EUI64" -s "$CPE_LAN6" --src "$LAN1_EUI64" map --port 8333 \
	--sugg-port 8333 --lifetime 1200 --nonce "$BTC"
expect_result lan1 SUCCESS "MAP tcp 8333 from $LAN1_TMP" -s "$CPE_LAN6" --src "$LAN1_TMP" map --port 8333 \
	--sugg-port 8333 --lifetime 1200 --nonce "$BTC"
expect_connect wan tcp "$CPE_WAN4" 8333 "IPv4 8333 reaches lan1"
expect_connect wan tcp "$LAN1_EUI64" 8333 "the stable address's pinhole"
expect_connect wan tcp "$LAN1_TMP" 8333 "the temporary address's pinhole"
expect_eq "$(rules_on_port 8333)" 3 "three mappings under one nonce"
expect_result lan1 SUCCESS "refresh IPv4 with the same nonce" -s "$CPE_LAN4" map --port 8333 --sugg-port 8333 \
	--lifetime 1200 --nonce "$BTC"
expect_result lan1 SUCCESS "delete the temporary address's (same nonce)" -s "$CPE_LAN6" --src "$LAN1_TMP" map \
	--port 8333 --lifetime 0 --nonce "$BTC"
expect_no_connect wan tcp "$LAN1_TMP" 8333 "that one closed"
expect_connect wan tcp "$LAN1_EUI64" 8333 "the other two stay"
expect_connect wan tcp "$CPE_WAN4" 8333 "... and IPv4"
BTC2=$(nonce)
expect_result lan1 SUCCESS "Bitcoin Core restarted (new nonce) refreshes its mapping" -s "$CPE_LAN6" \
	--src "$LAN1_EUI64" map --port 8333 --sugg-port 8333 --lifetime 1200 --nonce "$BTC2"
expect_result lan2 NOT_AUTHORIZED "another host (the THIRD_PARTY requester) with another nonce" -s "$CPE_LAN6" \
	--src "$IWF" map --port 8333 --third-party "$LAN1_EUI64" --lifetime 1200 --nonce "$(nonce)"
expect_result lan2 NOT_AUTHORIZED "... nor may it delete it" -s "$CPE_LAN6" --src "$IWF" map --port 8333 \
	--third-party "$LAN1_EUI64" --lifetime 0 --nonce "$(nonce)"
expect_connect wan tcp "$LAN1_EUI64" 8333 "still open"

step "Bitcoin Core: its NAT-PMP requests"
PCP_LINE=$(pcpc lan1 -s "$CPE_LAN4" natpmp --op external) || true
expect_eq "$(field "$PCP_LINE" result) $(field "$PCP_LINE" ext_addr)" "SUCCESS $CPE_WAN4" "NAT-PMP public address"
expect_len "public address" 12
PCP_LINE=$(pcpc lan1 -s "$CPE_LAN4" natpmp --op tcp --port 8334 --sugg-port 8334 --lifetime 1200) || true
expect_eq "$(field "$PCP_LINE" result) $(field "$PCP_LINE" ext_port)" "SUCCESS 8334" "NAT-PMP map tcp 8334"
expect_len "map" 16
expect_connect wan tcp "$CPE_WAN4" 8334 "the NAT-PMP mapping reaches lan1"

step "libpcp: version 2, then 1, then NAT-PMP"
expect_result lan1 SUCCESS "version 2 MAP" -s "$CPE_LAN4" map --port 7400 --lifetime 600 --nonce "$(nonce)"
expect_len "version 2 MAP" 60
expect_connect wan tcp "$CPE_WAN4" "$(field "$PCP_LINE" ext_port)" "the version-2 mapping reaches lan1"
for v in 1 3 255; do
	if [ "$v" = 1 ]; then
		PCP_LINE=$(pcpc lan1 -s "$CPE_LAN4" map --layout v1 --port 7401 --lifetime 600) || true
	else
		PCP_LINE=$(pcpc lan1 -s "$CPE_LAN4" map --port 7401 --lifetime 600 --raw-version "$v") || true
	fi
	expect_eq "$(field "$PCP_LINE" result) $(field "$PCP_LINE" version) $(field "$PCP_LINE" opcode)" \
		"UNSUPP_VERSION 2 MAP" "version $v: UNSUPP_VERSION saying 2, as a MAP answer"
done
PCP_LINE=$(pcpc lan1 -s "$CPE_LAN4" natpmp --op tcp --port 7401 --lifetime 600) || true
expect_eq "$(field "$PCP_LINE" result) $(field "$PCP_LINE" version) $(field "$PCP_LINE" len)" "SUCCESS 0 16" \
	"version 0 is served as NAT-PMP"
expect_eq "$(rules_on_port 7401)" 1 "only the NAT-PMP step mapped 7401"

step "libtorrent: exact answer sizes"
for proto in tcp udp; do
	expect_result lan1 SUCCESS "MAP $proto 6881" -s "$CPE_LAN4" map --proto $proto --port 6881 --sugg-port 6881 \
		--lifetime 3600 --nonce "$(nonce)"
	expect_len "MAP $proto" 60
	[ -z "$(field "$PCP_LINE" options)" ] && ok "no option the client did not send" || fail "options added: $PCP_LINE"
	expect_connect wan "$proto" "$CPE_WAN4" "$(field "$PCP_LINE" ext_port)" "libtorrent's $proto mapping reaches lan1"
done
PCP_LINE=$(pcpc lan1 -s "$CPE_LAN4" natpmp --op tcp --port 6882 --sugg-port 6882 --lifetime 3600) || true
expect_len "NAT-PMP map" 16
expect_connect wan tcp "$CPE_WAN4" "$(field "$PCP_LINE" ext_port)" "libtorrent's NAT-PMP mapping reaches lan1"
PCP_LINE=$(pcpc lan1 -s "$CPE_LAN4" natpmp --op tcp --port 6882 --lifetime 0) || true
expect_eq "$(field "$PCP_LINE" result) $(field "$PCP_LINE" len) $(field "$PCP_LINE" lifetime)" "SUCCESS 16 0" \
	"NAT-PMP lifetime 0 deletes"
expect_no_connect wan tcp "$CPE_WAN4" 6882 "deleted by NAT-PMP lifetime 0"

step "the same external port back for the same internal endpoint"
# lan2 holds 5555 first: lan1 is given another port, and keeps getting it
expect_result lan2 SUCCESS "lan2 MAP tcp 5555" -s "$CPE_LAN4" map --port 5555 --sugg-port 5555 --nonce "$(nonce)"
expect_result lan1 SUCCESS "lan1 MAP tcp 5555" -s "$CPE_LAN4" map --port 5555 --sugg-port 5555 --nonce "$(nonce)"
P5=$(field "$PCP_LINE" ext_port)
[ "$P5" != 5555 ] && ok "lan1 got $P5" || fail "lan1 got lan2's port 5555"
expect_result lan1 SUCCESS "lan1 again (new nonce, suggesting 5555)" -s "$CPE_LAN4" map --port 5555 --sugg-port 5555 \
	--nonce "$(nonce)"
expect_eq "$(field "$PCP_LINE" ext_port)" "$P5" "the same port back over PCP"
expect_connect wan tcp "$CPE_WAN4" "$P5" "it reaches lan1"
out=$(ip netns exec "${LAB}lan1" natpmpc -g "$CPE_LAN4" -a 6090 6090 udp 600 2>&1 </dev/null) || true
NP=$(sed -n 's/.*Mapped public port \([0-9]*\) protocol UDP to local port 6090.*/\1/p' <<<"$out")
[ -n "$NP" ] && ok "natpmpc -a 6090 -> $NP" || fail "natpmpc: $out"
# natpmpc -a PUBLIC PRIVATE PROTO LIFETIME: the same private port, another public one suggested
out=$(ip netns exec "${LAB}lan1" natpmpc -g "$CPE_LAN4" -a 7777 6090 udp 600 2>&1 </dev/null) || true
grep -q "Mapped public port $NP protocol UDP to local port 6090" <<<"$out" &&
	ok "natpmpc asking again (suggesting 7777) gets $NP back" || fail "natpmpc again: $out"
expect_connect wan udp "$CPE_WAN4" "$NP" "the natpmpc mapping reaches lan1"
out=$(ip netns exec "${LAB}lan1" natpmpc -g "$CPE_LAN4" -a 6090 "$NP" udp 0 2>&1 </dev/null) || true
expect_no_connect wan udp "$CPE_WAN4" "$NP" "natpmpc lifetime 0 deleted it"

step "NAT-PMP off: the 8-octet NAT-PMP UNSUPP_VERSION (Bitcoin Core's fallback signal)"
lab_igdd_stop || fail "igdd stop"
lab_igdd_start enable_pcp=yes enable_natpmp=no "pcp_allow_thirdparty=$IWF" || fail "igdd did not restart"
PCP_LINE=$(pcpc lan1 -s "$CPE_LAN4" natpmp --op external) || true
expect_eq "$(field "$PCP_LINE" result) $(field "$PCP_LINE" len) $(field "$PCP_LINE" version) $(field "$PCP_LINE" op)" \
	"UNSUPP_VERSION 8 0 128" "NAT-PMP public address request"
PCP_LINE=$(pcpc lan1 -s "$CPE_LAN4" natpmp --op tcp --port 8335 --lifetime 600) || true
expect_eq "$(field "$PCP_LINE" result) $(field "$PCP_LINE" len) $(field "$PCP_LINE" op)" "UNSUPP_VERSION 8 130" \
	"NAT-PMP map request"
expect_eq "$(rules_on_port 8335)" 0 "nothing mapped for 8335"
out=$(ip netns exec "${LAB}lan1" natpmpc -g "$CPE_LAN4" 2>&1 </dev/null) || true
grep -qi "unsupported" <<<"$out" && ok "natpmpc reads it: $(grep -i unsupported <<<"$out" | head -n1)" ||
	fail "natpmpc with NAT-PMP off: $out"
expect_result lan1 SUCCESS "Bitcoin Core's PCP MAP is still served (restored mapping, its nonce)" -s "$CPE_LAN4" map \
	--port 8333 --sugg-port 8333 --lifetime 1200 --nonce "$BTC"
expect_len "MAP" 60
expect_connect wan tcp "$CPE_WAN4" 8333 "IPv4 8333 reaches lan1 after the restart"
it_done
