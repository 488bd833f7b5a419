#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 12, the edges: what a hostile LAN host (or a WAN host) could do to igdd's front ends, replayed
# against the real daemon with real clients.
#   GENA       "Second-infinite" is capped at 1,800 s; one host holds at most 16 subscriptions per
#              service (503 beyond), so it cannot lock out the others; expired ones stop counting.
#   web        web_listen=[LAN IPv6]:PORT answers the LAN only (the address is routed from the WAN);
#              one host's failed logins do not lock out another host of the same /64; a host posing
#              as many addresses drains its /64's budget, yet a host with a session or whose last
#              login succeeded still gets in; a slow password hash does not stall other requests.
#   igdctl     a description with terminal escape sequences is not printed raw.
#   interworking (the CGN lab): an unsolicited ANNOUNCE with the upstream server's address spoofed,
#              from a LAN host or on the WAN link, re-creates nothing; a real state loss still does;
#              descriptions go upstream only with upstream_descriptions=yes.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=iwf_lib.sh
. "$HERE/iwf_lib.sh"

[ "$(id -u)" = 0 ] || { echo "t_hostile_edge: skipped (needs root)"; exit 77; }
it_setup

UPNP_PORT=49240
PASSWORD='correct horse battery'
HASH=$(printf '%s\n%s\n' "$PASSWORD" "$PASSWORD" | "$IGDCTL_BIN" passwd) || fail "igdctl passwd"
lab_igdd_start enable_upnp=yes enable_pcp=yes "upnp_http_port=$UPNP_PORT" "web_listen=[$CPE_LAN6]:8080" "$HASH" ||
	fail "igdd did not start"
upnp_up() { grep -q "upnp: IGD" "$LAB_DIR/igdd.log" 2>/dev/null; }
wait_until 10 upnp_up || fail "the UPnP front end did not start"

# ---------------------------------------------------------------- GENA
# subscribe NS COUNT TIMEOUT: COUNT SUBSCRIBEs to WANIPConnection's events from NS, one connection
# each; prints "CODE TIMEOUT-HEADER" per request
subscribe() {
	local ns=$1 n=$2 tmo=$3 cb
	eval "cb=\$$(tr '[:lower:]' '[:upper:]' <<<"$ns")_V4"
	ip netns exec "${LAB}$ns" timeout 60 "$LAB_PY" - "http://$CPE_LAN4:$UPNP_PORT/evt/IPConn" \
		"http://$cb:5001/" "$tmo" "$n" <<-'PY'
		import socket, sys, urllib.parse
		u = urllib.parse.urlparse(sys.argv[1])
		for _ in range(int(sys.argv[4])):
		    s = socket.create_connection((u.hostname, u.port), timeout=5)
		    s.sendall(("SUBSCRIBE %s HTTP/1.1\r\nHOST: %s:%d\r\nCALLBACK: <%s>\r\nNT: upnp:event\r\n"
		               "TIMEOUT: %s\r\n\r\n" % (u.path, u.hostname, u.port, sys.argv[2], sys.argv[3])).encode())
		    resp = b""
		    while b"\r\n\r\n" not in resp:
		        d = s.recv(4096)
		        if not d:
		            break
		        resp += d
		    s.close()
		    lines = resp.decode(errors="replace").split("\r\n")
		    words = lines[0].split(" ")
		    tmo = [l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("timeout:")]
		    print(words[1] if len(words) > 1 else "none", tmo[0] if tmo else "-")
	PY
}
count() { grep -c "^$1 " <<<"$2" || true; }

step "GENA: Second-infinite is capped"
out=$(subscribe lan1 1 Second-infinite)
expect_eq "$out" "200 Second-1800" "SUBSCRIBE with TIMEOUT: Second-infinite is granted 1,800 s"

step "GENA: one host cannot take every subscription"
out=$(subscribe lan1 30 Second-infinite)
expect_eq "$(count 200 "$out")" 15 "lan1 gets 15 more subscriptions (16 in all)"
expect_eq "$(count 503 "$out")" 15 "the other 15 SUBSCRIBEs from lan1 get 503"
expect_eq "$(subscribe lan2 1 Second-1800)" "200 Second-1800" "lan2 still subscribes"

step "GENA: expired subscriptions stop counting"
out=$(subscribe lan2 15 Second-2)
expect_eq "$(count 200 "$out")" 15 "lan2 holds 16 (15 of them for 2 s)"
expect_eq "$(subscribe lan2 1 Second-60 | cut -d' ' -f1)" 503 "the 17th from lan2 is refused"
sleep 3
expect_eq "$(subscribe lan2 1 Second-60)" "200 Second-60" "once 15 expired, lan2 subscribes again"
igdctl_lab status >/dev/null || fail "igdd stopped answering"

# ---------------------------------------------------------------- web_listen
BASE6="http://[$CPE_LAN6]:8080"
step "web_listen=[$CPE_LAN6]:8080: the LAN only"
s=$(lab_exec lan1 curl -g -s -o /dev/null -w '%{http_code}' -m 3 "$BASE6/" || true)
expect_eq "$s" 200 "lan1 gets the UI at $BASE6"
s=$(lab_exec wan curl -g -s -o /dev/null -w '%{http_code}' -m 3 "$BASE6/" || true)
expect_eq "$s" 000 "the WAN host, which has a route to $CPE_LAN6, gets no answer"
grep -q "web: listening on \[$CPE_LAN6\]:8080 (lan0)" "$LAB_DIR/igdd.log" || fail "the log does not name lan0"
ok "the socket is tied to lan0"

# ---------------------------------------------------------------- login
# login NS SRC PASSWORD [CURL ARGS...]: a login from address SRC of NS; prints the status
login() {
	local ns=$1 src=$2 pw=$3
	shift 3
	lab_exec "$ns" curl -g -s -o /dev/null -w '%{http_code}' -m 5 --interface "$src" -X POST \
		-H 'Content-Type: application/json' --data-binary "{\"password\":\"$pw\"}" "$@" "$BASE6/api/v1/login" || true
}

step "login: one host's failures are its own"
expect_eq "$(login lan2 "$LAN2_STABLE" "$PASSWORD" -c "$LAB_DIR/jar2")" 200 "lan2 logs in (its stable address)"
for i in 1 2 3 4 5; do
	expect_eq "$(login lan1 "$LAN1_EUI64" "guess $i")" 401 "lan1 guess $i: wrong password"
done
expect_eq "$(login lan1 "$LAN1_EUI64" "$PASSWORD")" 429 "lan1's 6th attempt: rate limited"
expect_eq "$(login lan2 "$LAN2_TMP" wrong)" 401 \
	"lan2 from another address of the same /64 is not locked out (401, not 429)"

step "login: a host posing as many addresses of the /64"
for i in $(seq 1 24); do
	ip -n "${LAB}lan1" addr add "2001:db8:1:1::a:$i/64" dev eth0 nodad || fail "address $i"
done
codes=""
for i in $(seq 1 24); do
	codes="$codes $(login lan1 "2001:db8:1:1::a:$i" "guess a$i")"
done
n401=$(tr ' ' '\n' <<<"$codes" | grep -c '^401$' || true)
n429=$(tr ' ' '\n' <<<"$codes" | grep -c '^429$' || true)
if [ "$n401" -lt 10 ] || [ "$n429" -lt 5 ] || [ $((n401 + n429)) != 24 ]; then
	fail "24 posing addresses got:$codes"
fi
ok "24 new addresses of lan1: $n401 answered, then the /64's budget ran dry ($n429 times 429)"
expect_eq "$(login lan2 "$LAN2_TMP" "$PASSWORD")" 429 "an unknown address of that /64 waits (the coarse last resort)"
expect_eq "$(login lan2 "$LAN2_TMP" "$PASSWORD" -b "$LAB_DIR/jar2")" 200 "... unless it has a session"
expect_eq "$(login lan2 "$LAN2_STABLE" "$PASSWORD")" 200 "an address whose last login succeeded gets in"

# ---------------------------------------------------------------- igdctl list
step "igdctl list with a terminal escape in a description"
out=$(lab_exec lan1 "$LAB_PY" "$LAB_TOOLS/pcpc.py" -s "$CPE_LAN4" map --proto tcp --port 7001 --lifetime 600 \
	--desc $'evil\x1b[2J\x1b]0;pwned\x07name' </dev/null)
grep -q "result=SUCCESS" <<<"$out" || fail "PCP MAP with the description: $out"
list=$(igdctl_lab list) || fail "igdctl list"
grep -q "evil.*name" <<<"$list" || fail "the rule is not listed: $list"
if printf '%s' "$list" | LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]'; then
	fail "igdctl list printed a control character: $(printf '%s' "$list" | grep evil | od -c | head -n 5)"
fi
ok "igdctl list shows the description without its control characters: $(grep -o 'evil.*name' <<<"$list")"

# ---------------------------------------------------------------- a slow hash
step "a slow password hash does not stall the other clients"
lab_igdd_stop || fail "igdd stop"
# SHA-512 crypt of "slow horse battery" with 6,000,000 rounds (~1.5 s here; Python's crypt module)
# shellcheck disable=SC2016 # a crypt(3) hash, not an expansion
SLOW='$6$rounds=6000000$e12saltsaltsalt$sgM2QR9ultbdRFS5cP6r.vwgoN.4XOGDoT0ajisSUbKsleZ8llxF2E/z2HfvM.2M.ut2vLU1sKf1ukt2rsrdZ1'
lab_igdd_start "web_listen=:8080" "web_password_hash=$SLOW" || fail "igdd with the slow hash"
t0=$(date +%s%N)
(
	lab_exec lan1 curl -s -o /dev/null -m 20 -X POST -H 'Content-Type: application/json' \
		--data-binary '{"password":"not it"}' "http://$CPE_LAN4:8080/api/v1/login" || true
	date +%s%N >"$LAB_DIR/login.end"
) &
bg=$!
sleep 0.3
s=$(lab_exec lan2 curl -s -o /dev/null -w '%{http_code}' -m 20 "http://$CPE_LAN4:8080/api/v1/session" || true)
t_get=$(date +%s%N)
wait "$bg"
t_login=$(cat "$LAB_DIR/login.end")
expect_eq "$s" 200 "lan2's GET /api/v1/session during lan1's login"
login_ms=$(((t_login - t0) / 1000000))
get_ms=$(((t_get - t0) / 1000000))
[ "$login_ms" -ge 800 ] || fail "the login took only $login_ms ms: the hash is not slow enough to show anything"
[ "$get_ms" -lt "$login_ms" ] || fail "lan2's request ended at $get_ms ms, after lan1's login ($login_ms ms)"
ok "lan2 was answered at $get_ms ms while lan1's password check ran until $login_ms ms"

# ---------------------------------------------------------------- interworking
step "interworking lab (wan - cgn - cpe - lan1)"
lab_down
iwf_trap
iwf_up || fail "iwf lab up"
iwf_pcpd_start || fail "pcpd start"
lab_igdd_start enable_pcp=yes "upstream_pcp_server=$IWF_GW" || fail "igdd start"
up_ok() { [ "$(upstream_field state)" = up ] && [ "$(upstream_field ext_addr)" = "$IWF_CGN_EXT" ]; }
wait_until 15 up_ok || fail "upstream not up: state '$(upstream_field state)'"
ok "igdd maps through pcpd on the cgn"
# pcpd_descs: the descriptions pcpd holds, one a line
pcpd_descs() {
	ip netns exec "${LAB}cgn" "$IGDCTL_BIN" -s "$LAB_DIR/pcpd.sock" --json list | "$LAB_PY" -c '
import json, sys
d = json.load(sys.stdin)
for r in d.get("rules", []):
    print(r.get("description", ""))'
}
out=$(iwf_pcpc map --proto tcp --port 7070 --lifetime 600 --desc "secret game")
grep -q "result=SUCCESS" <<<"$out" || fail "PCP MAP from lan1: $out"
grep -q "ext_addr=$IWF_CGN_EXT" <<<"$out" || fail "not mapped upstream: $out"
descs=$(pcpd_descs) || fail "pcpd list"
grep -q "secret game" <<<"$descs" && fail "the description went upstream: $descs"
ok "upstream_descriptions=no (the default): pcpd's mapping has no description"

epoch_grown() { [ "$(upstream_field epoch)" -ge 12 ] 2>/dev/null; }
wait_until 20 epoch_grown || fail "the upstream epoch did not grow: $(upstream_field epoch)"
# Epochs far ahead of the server's clock: either, believed, is a loss of state; and no answer of
# pcpd's carries them (its own ANNOUNCEs after its start are in the log too).
step "spoofed unsolicited ANNOUNCEs from the server's address $IWF_GW"
ip -n "${LAB}lan1" addr add "$IWF_GW/32" dev eth0 || fail "spoofed address on lan1"
lab_exec lan1 "$LAB_PY" "$LAB_TOOLS/pcpc.py" -s "$CPE_LAN4" --src "$IWF_GW" unsolicited --epoch 313131 \
	</dev/null >/dev/null || fail "spoof from lan1"
ip netns exec "${LAB}cgn" "$LAB_PY" "$LAB_TOOLS/pcpc.py" -s "$IWF_CPE_WAN" --src "$IWF_GW" unsolicited --epoch 424242 \
	</dev/null >/dev/null || fail "spoof on the WAN link"
hinted() { grep -q "unsolicited ANNOUNCE from the upstream server (epoch 424242)" "$LAB_DIR/igdd.log"; }
wait_until 5 hinted || fail "the ANNOUNCE on the WAN link was not even looked at"
ok "the one on the WAN link only made igdd ask the server itself"
grep -q "(epoch 313131)" "$LAB_DIR/igdd.log" && fail "the ANNOUNCE from lan1 was taken"
ok "the one from lan1 was ignored"
sleep 8  # a re-creation would start 0-5 s after a loss of state is believed
grep -q "lost its state" "$LAB_DIR/igdd.log" &&
	fail "igdd believed the spoofed ANNOUNCE: $(grep 'lost its state' "$LAB_DIR/igdd.log")"
expect_eq "$(upstream_field recreated)" 0 "no upstream mapping was re-created"

step "a real loss of state is still repaired"
iwf_pcpd_kill9 forget
iwf_pcpd_start || fail "pcpd restart"
recreated() { [ "$(upstream_field recreated)" -ge 1 ] 2>/dev/null; }
wait_until 20 recreated || fail "after pcpd lost its state nothing was re-created"
ok "igdd re-created the upstream mapping in ${WAITED}s"

step "upstream_descriptions=yes"
lab_igdd_stop || fail "igdd stop"
lab_igdd_start enable_pcp=yes "upstream_pcp_server=$IWF_GW" upstream_descriptions=yes || fail "igdd start"
wait_until 15 up_ok || fail "upstream not up"
out=$(iwf_pcpc map --proto tcp --port 7071 --lifetime 600 --desc "shared name")
grep -q "result=SUCCESS" <<<"$out" || fail "PCP MAP from lan1: $out"
descs=$(pcpd_descs) || fail "pcpd list"
grep -q "shared name" <<<"$descs" || fail "the description did not go upstream: $descs"
ok "with upstream_descriptions=yes pcpd's mapping carries the description"
it_done
