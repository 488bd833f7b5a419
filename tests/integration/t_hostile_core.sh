#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 12, the attacks that need packets, replayed against the real igdd and kernel with real clients:
#  - the operator's `igdctl add portmap 2222 -> lan1:2222` cannot be turned into lan1:22 by upnpc
#    AddPortMapping, from lan1 itself or from lan2; the household's 8080 -> lan2:8080, set up in the
#    web UI from lan1, cannot be turned into lan2:22 by an app on lan1;
#  - a PCP client's MAP with a /64 FILTER and a PEER inside it no longer fails the other clients'
#    requests read in the same bursts: 40 MAPs from lan2 around the offending PEER all succeed;
#  - a deny line for lan1's stable (EUI-64) address holds when lan1 asks through its temporary
#    address with pinhole_target=both (the stable address used to be opened beside it).
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
it_setup

PASSWORD='correct horse battery'
HASH=$(printf '%s\n%s\n' "$PASSWORD" "$PASSWORD" | "$IGDCTL_BIN" passwd) || fail "igdctl passwd"

# rule_json ID EXPR: EXPR of rule ID (as r) in igdctl --json list
rule_json() {
	igdctl_lab --json list | "$LAB_PY" -c "import json,sys
r = next(x for x in json.load(sys.stdin)['rules'] if x['id'] == $1)
print($2)"
}
# web METHOD PATH [BODY [CURL ARGS...]]: the household's browser on lan1; prints the status
web() {
	local method=$1 path=$2 body=${3:-}
	shift 3 2>/dev/null || shift $#
	local args=(-s -o "$LAB_DIR/body" -w '%{http_code}' -m 5 -b "$LAB_DIR/jar" -c "$LAB_DIR/jar" -X "$method")
	[ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
	lab_exec lan1 curl "${args[@]}" "$@" "http://$CPE_LAN4:8080$path" || true
}
body() { "$LAB_PY" -c "import json; d=json.load(open('$LAB_DIR/body')); print($1)"; }

lab_listen lan1 tcp 2222
lab_listen lan2 tcp 8080
lab_listen lan1 tcp 8443
lab_listen lan2 tcp 8443
# igdd_up [CONFIG LINE...]: igdd with UPnP (announced), PCP and the web UI
igdd_up() {
	local i
	lab_igdd_start enable_upnp=yes enable_pcp=yes "web_listen=:8080" "$HASH" web_hostname=router.lan "$@" ||
		fail "igdd did not start"
	for ((i = 0; i < 100; i++)); do
		grep -q "upnp: IGD" "$LAB_DIR/igdd.log" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no 'upnp: IGD' line in the log: the UPnP front end did not start"
}
igdd_up
step "igdd up with UPnP, PCP and the web UI"

step "the operator's port mapping cannot be rewritten by an app"
op=$(igdctl_add portmap 2222 "$LAN1_V4" 2222 tcp)
expect_connect wan tcp "$CPE_WAN4" 2222 "2222 reaches lan1:2222"
out=$(upc lan1 -a "$LAN1_V4" 22 2222 TCP 600)
expect_out "$out" "718|ConflictInMappingEntry" "AddPortMapping(2222 -> lan1:22) from lan1 itself: 718"
out=$(upc lan2 -a "$LAN1_V4" 22 2222 TCP 600)
expect_out "$out" "718|606|ConflictInMappingEntry" "AddPortMapping(2222 -> lan1:22) from lan2: refused"
out=$(upc lan1 -d 2222 TCP)
expect_out "$out" "UPNP_DeletePortMapping\(\) failed|failed with code 606|606" "DeletePortMapping of it from lan1: 606"
expect_eq "$(rule_json "$op" "r['port'], r['origin'], r['lease']")" "2222 ctl 0" "still :2222, by ctl, no lease"
expect_connect wan tcp "$CPE_WAN4" 2222 "2222 still reaches lan1:2222 (nothing listens on lan1:22)"

step "the household's port mapping, set up from lan1's browser, cannot be rewritten by an app on lan1"
expect_eq "$(web POST /api/v1/login "{\"password\":\"$PASSWORD\"}")" 200 "the household logs in from lan1"
CSRF=$(body 'd["csrf"]')
s=$(web POST /api/v1/rules "{\"kind\":\"portmap\",\"ext_port\":8080,\"address\":\"$LAN2_V4\",\"port\":8080,\"proto\":\"tcp\",\"lease\":0,\"description\":\"NAS\"}" -H "X-CSRF-Token: $CSRF")
expect_eq "$s" 201 "POST /api/v1/rules 8080 -> lan2:8080"
home=$(body 'd["rule"]["id"]')
expect_eq "$(body 'd["rule"]["owner"]')" "$LAN1_V4" "the rule's owner is lan1, where the browser runs"
expect_connect wan tcp "$CPE_WAN4" 8080 "8080 reaches lan2:8080"
out=$(upc lan1 -a "$LAN2_V4" 22 8080 TCP 600)
expect_out "$out" "718|ConflictInMappingEntry" "AddPortMapping(8080 -> lan2:22) from lan1: 718"
expect_eq "$(rule_json "$home" "r['port'], r['origin'], r['address']")" "8080 web $LAN2_V4" "still lan2:8080, by web"
expect_connect wan tcp "$CPE_WAN4" 8080 "8080 still reaches lan2:8080"

step "a PCP MAP with a /64 FILTER and a PEER inside it, in bursts with 40 other clients' MAPs"
# One process sends from both namespaces (sockets made in each via setns), back to back, so the
# offending PEER is read in the same wake-ups as the other clients' requests.
burst=$("$LAB_PY" - "$LAB" "$PCPC" "$CPE_LAN6" "$LAN1_EUI64" "$LAN2_STABLE" <<'PY'
import argparse, ctypes, importlib.util, os, socket, sys, time
lab, pcpc_path, server, attacker, victim = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("pcpc", pcpc_path)
pcpc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pcpc)
libc = ctypes.CDLL(None, use_errno=True)
home = os.open("/proc/self/ns/net", os.O_RDONLY)

def sock_in(ns, addr):
    fd = os.open("/run/netns/" + lab + ns, os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:
        sys.exit("setns %s: %s" % (ns, os.strerror(ctypes.get_errno())))
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((addr, 0))
    s.setblocking(False)
    libc.setns(home, 0x40000000)
    os.close(fd)
    return s

def req(cmd, port, nonce, **kw):
    a = argparse.Namespace(cmd=cmd, lifetime=600, client=None, nonce=nonce, proto="udp", port=port, sugg_port=0,
                           sugg_addr=None, third_party=None, prefer_failure=False, filter=[], desc=None,
                           peer=None, peer_port=0)
    for k, v in kw.items():
        setattr(a, k, v)
    return pcpc.build(a, attacker if nonce.startswith("a") else victim)

def answers(s, want, deadline):
    got = {}
    while len(got) < want and time.monotonic() < deadline:
        try:
            d = pcpc.parse(s.recv(2048))
            got[d["nonce"]] = d["result"]
        except BlockingIOError:
            time.sleep(0.005)
    return got

att, vic = sock_in("lan1", attacker), sock_in("lan2", victim)
results, attack = {}, []
for rnd in range(2):
    port = 4000 + rnd
    # the attacker's MAP first, committed on its own: then the PEER is what the kernel refused
    att.sendto(req("map", port, "a%023x" % (2 * rnd), filter=["2001:db8:99::/64"]), (server, 5351))
    attack.append(answers(att, 1, time.monotonic() + 3))
    vs = [req("map", 6000 + 20 * rnd + i, "b%023x" % (20 * rnd + i)) for i in range(20)]
    peer = req("peer", port, "a%023x" % (2 * rnd + 1), peer="2001:db8:99::7", peer_port=5000)
    for m in vs[:10]:
        vic.sendto(m, (server, 5351))
    att.sendto(peer, (server, 5351))
    for m in vs[10:]:
        vic.sendto(m, (server, 5351))
    results.update(answers(vic, 20, time.monotonic() + 5))
    attack.append(answers(att, 1, time.monotonic() + 3))
ok = sum(1 for r in results.values() if r == "SUCCESS")
print("victims=%d success=%d attacker=%s" % (len(results), ok,
      ",".join(v for a in attack for v in a.values())))
PY
) || fail "burst script: $burst"
step "$burst"
expect_eq "$(sed -n 's/.* success=\([0-9]*\).*/\1/p' <<<"$burst")" 40 "all 40 other clients' MAPs succeed"
expect_eq "$(sed -n 's/.*attacker=//p' <<<"$burst")" "SUCCESS,NO_RESOURCES,SUCCESS,NO_RESOURCES" \
	"the offender's MAPs stand, its PEERs alone are refused"
expect_eq "$(set_count ph_remote)" 2 "ph_remote holds the two FILTERed MAPs, no PEER"
expect_eq "$(set_count ph_port)" 40 "ph_port holds the 40 other clients' pinholes"

step "a deny line protects lan1's stable address, asked for through its temporary one"
lab_igdd_stop || fail "igdd did not stop"
igdd_up "deny 0-65535 $LAN1_EUI64/128 0-65535"
ok "igdd restarted with deny 0-65535 $LAN1_EUI64/128 0-65535 (pinhole_target=both, the default)"
knows_both() {
	igdctl_lab --json devices | "$LAB_PY" -c "import json,sys
d = next((x for x in json.load(sys.stdin)['devices'] if x['mac'] == '$LAN1_MAC'), {'addresses': []})
have = {a['address'] for a in d['addresses']}
sys.exit(0 if {'$LAN1_TMP', '$LAN1_EUI64'} <= have else 1)"
}
# nothing primes the router: igdd asks the LAN about the requester and lan1's EUI-64 address itself
expect_result lan1 NOT_AUTHORIZED "MAP tcp 8443 for $LAN1_TMP (its device's stable address is denied)" \
	-s "$CPE_LAN6" --src "$LAN1_TMP" map --proto tcp --port 8443 --lifetime 600
wait_until 10 knows_both || fail "the device table does not tie $LAN1_TMP and $LAN1_EUI64 to lan1"
ok "the device table ties both addresses to lan1 (${WAITED} s)"
expect_no_connect wan tcp "$LAN1_EUI64" 8443 "lan1's stable address stays closed"
expect_no_connect wan tcp "$LAN1_TMP" 8443 "and its temporary one"
expect_result lan2 SUCCESS "lan2 maps its own 8443 (no line denies it)" -s "$CPE_LAN6" --src "$LAN2_STABLE" map \
	--proto tcp --port 8443 --lifetime 600
expect_connect wan tcp "$LAN2_STABLE" 8443 "lan2:8443 open"
igdctl_lab status >/dev/null || fail "igdd stopped answering"
it_done
