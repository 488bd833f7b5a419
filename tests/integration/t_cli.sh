#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# igdctl's error paths, naming devices, allowing and blocking apps on them, and igdd's config check mode.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup
lab_igdd_start || fail "igdd did not start"

# expect_refused MESSAGE ARGS...: igdctl ARGS exits non-zero and says why on stderr
expect_refused() {
	local msg=$1 rc=0 err
	shift
	err=$(igdctl_lab "$@" 2>&1 >/dev/null) || rc=$?
	[ $rc != 0 ] || fail "$msg: igdctl $* succeeded"
	[ -n "$err" ] || fail "$msg: igdctl $* exited $rc without a message"
	ok "$msg: exit $rc, '$(echo "$err" | head -n 1)'"
	igdctl_lab status >/dev/null || fail "daemon stopped answering after igdctl $*"
}

expect_refused "bad address" add pinhole 2001:db8:1:1::zz tcp 8080
expect_refused "IPv4 address for a pinhole" add pinhole "$LAN1_V4" tcp 8080
expect_refused "bad proto" add pinhole "$LAN1_EUI64" tcpp 8080
expect_refused "port 70000" add pinhole "$LAN1_EUI64" tcp 70000
expect_refused "bad lease" add pinhole "$LAN1_EUI64" tcp 8080 lease=soon
expect_refused "bad portmap address" add portmap 18080 300.1.2.3 8080 tcp
expect_refused "portmap ext port 70000" add portmap 70000 "$LAN1_V4" 8080 tcp
expect_refused "delete of an unknown id" delete 987654
expect_refused "refresh of an unknown id" refresh 987654 60
expect_refused "unknown command" frobnicate
expect_refused "missing arguments" add pinhole

rc=0
igdctl_lab delete 987654 2>/dev/null || rc=$?
expect_eq "$rc" 1 "refused request exits 1"
rc=0
igdctl_lab add pinhole "$LAN1_EUI64" 2>/dev/null || rc=$?
expect_eq "$rc" 2 "usage error exits 2"
rc=0
ip netns exec "${LAB}cpe" "$IGDCTL_BIN" -s "$LAB_DIR/nothing.sock" status >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 3 "unreachable daemon exits 3"

id=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8080 desc=cli-test)
igdctl_lab list | grep -q "$LAN1_EUI64" || fail "igdctl list does not show the pinhole"
ok "igdctl list shows pinhole $id"
igdctl_lab --json list | "$LAB_PY" -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if len(r["rules"])==1 else 1)' ||
	fail "igdctl --json list is not {\"rules\":[one rule]}"
ok "igdctl --json list parses"
igdctl_lab --json status | "$LAB_PY" -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r["rules"]["pinholes"]==1 else 1)' ||
	fail "igdctl --json status does not count 1 pinhole"
ok "igdctl --json status counts 1 pinhole"
igdctl_lab refresh "$id" 120 >/dev/null || fail "refresh $id"
ok "refresh $id"
igdctl_lab delete "$id" || fail "delete $id"
ok "delete $id"
rc=0
igdctl_lab delete "$id" 2>/dev/null || rc=$?
expect_eq "$rc" 1 "second delete of $id is refused"

step "igdctl devices name"
# lan1 talks to the cpe: its neighbour entry makes it a device (bounded wait for rtnetlink)
lab_exec lan1 ping -c 1 -W 1 "$CPE_LAN4" >/dev/null 2>&1 || true
for i in $(seq 1 20); do
	igdctl_lab --json devices | grep -q "\"$LAN1_MAC\"" && break
	sleep 0.1
done
# json_name MAC: the name igdctl --json devices shows for MAC ("-" when not listed)
json_name() {
	igdctl_lab --json devices | "$LAB_PY" -c "import json,sys; d=json.load(sys.stdin)
print(next((x['name'] for x in d['devices'] if x['mac']=='$1'), '-'))"
}
expect_eq "$(json_name "$LAN1_MAC")" "" "lan1 is a device without a name"
out=$(igdctl_lab devices name "$LAN1_MAC" "Game console") || fail "igdctl devices name failed"
expect_eq "$out" "$LAN1_MAC is named \"Game console\"" "igdctl devices name says so"
igdctl_lab devices | grep "^$LAN1_MAC" | grep -q "Game console" || fail "igdctl devices does not print the name"
ok "igdctl devices prints the name"
expect_eq "$(json_name "$LAN1_MAC")" "Game console" "igdctl --json devices carries the name"
out=$(igdctl_lab devices name 52:54:00:12:34:98 "Away phone") || fail "naming an unseen device failed"
case $out in *"not seen now"*) ok "an unseen device may be named: '$out'" ;; *) fail "unseen device: '$out'" ;; esac
out=$(igdctl_lab devices name 52:54:00:12:34:98 "") || fail "un-naming failed"
expect_eq "$out" "52:54:00:12:34:98 has no name" "igdctl devices name MAC \"\" removes the name"
expect_refused "bad MAC" devices name 52:54:00:12:34 x
expect_refused "name with a control character" devices name "$LAN1_MAC" "$(printf 'a\tb')"
expect_refused "name too long" devices name "$LAN1_MAC" "$(printf 'x%.0s' {1..64})"
rc=0
igdctl_lab devices name "$LAN1_MAC" 2>/dev/null || rc=$?
expect_eq "$rc" 2 "devices name without a NAME is a usage error"
rc=0
igdctl_lab devices name "../rules/1" x 2>/dev/null || rc=$?
expect_eq "$rc" 2 "a MAC that is not one is a usage error (never a path)"
expect_eq "$(json_name "$LAN1_MAC")" "Game console" "refused requests changed nothing"

step "igdctl devices block / allow"
# json_apps MAC: "apps" as igdctl --json devices shows it for MAC
json_apps() {
	igdctl_lab --json devices | "$LAB_PY" -c "import json,sys; d=json.load(sys.stdin)
print(next((x['apps'] for x in d['devices'] if x['mac']=='$1'), '-'))"
}
expect_eq "$(json_apps "$LAN1_MAC")" True "apps on lan1 may open ports by default"
out=$(igdctl_lab devices block "$LAN1_MAC") || fail "igdctl devices block failed"
expect_eq "$out" "apps on $LAN1_MAC may not open ports now; 0 app-made rules removed" "igdctl devices block says so"
expect_eq "$(json_apps "$LAN1_MAC")" False "igdctl --json devices carries the block"
expect_eq "$(json_name "$LAN1_MAC")" "Game console" "blocking keeps the name"
igdctl_lab devices | grep "^$LAN1_MAC" | grep -q "Game console *blocked" || fail "igdctl devices does not print the block"
ok "igdctl devices prints the block"
out=$(igdctl_lab devices block 52:54:00:12:34:98) || fail "blocking an unseen device failed"
expect_eq "$out" "apps on 52:54:00:12:34:98 may not open ports now; 0 app-made rules removed" "an unseen device may be blocked"
grep -q "^52:54:00:12:34:98 "$'\t'"apps=blocked$" "$LAB_DIR"/state/meta.device_name_* || fail "the block is not in the store"
ok "the block is in the store, in the name's record"
igdctl_lab devices allow 52:54:00:12:34:98 >/dev/null || fail "allowing an unseen device failed"
out=$(igdctl_lab devices allow "$LAN1_MAC") || fail "igdctl devices allow failed"
expect_eq "$out" "apps on $LAN1_MAC may open ports" "igdctl devices allow says so"
expect_eq "$(json_apps "$LAN1_MAC")" True "allowed again"
expect_refused "block a bad MAC" devices block 52:54:00:12:34
rc=0
igdctl_lab devices block 2>/dev/null || rc=$?
expect_eq "$rc" 2 "devices block without a MAC is a usage error"
rc=0
igdctl_lab devices permit "$LAN1_MAC" 2>/dev/null || rc=$?
expect_eq "$rc" 2 "an unknown devices verb is a usage error"

step "igdd -n"
conf=$LAB_DIR/igdd.conf
out=$(lab_exec cpe "$IGDD_BIN" -n -f "$conf" 2>&1) || fail "igdd -n -f $conf failed: $out"
echo "$out" | grep -q 'ext_ifname.*wan0' || fail "igdd -n does not print ext_ifname=wan0: $out"
echo "$out" | grep -q 'lan_ifname.*lan0' || fail "igdd -n does not print lan_ifname=lan0: $out"
ok "igdd -n -f prints the effective config ($(echo "$out" | wc -l) lines)"

bad=$LAB_DIR/bad.conf
cp "$conf" "$bad"
echo "no_such_key=1" >>"$bad"
line=$(wc -l <"$bad")
rc=0
out=$(lab_exec cpe "$IGDD_BIN" -n -f "$bad" 2>&1) || rc=$?
[ $rc != 0 ] || fail "igdd -n accepted an unknown key"
echo "$out" | grep -q "$bad:$line" || fail "igdd -n does not name $bad:$line: $out"
ok "unknown key: exit $rc, '$(echo "$out" | grep "$bad:$line" | head -n 1)'"

printf 'ext_ifname=wan0\nlan_ifname\n' >"$bad"
rc=0
out=$(lab_exec cpe "$IGDD_BIN" -n -f "$bad" 2>&1) || rc=$?
if [ $rc = 0 ] || ! echo "$out" | grep -q "$bad:2"; then
	fail "line without '=' not refused with $bad:2: $out"
fi
ok "line without '=': exit $rc"
igdctl_lab status >/dev/null || fail "daemon stopped answering"
ok "daemon still answers"
it_done
