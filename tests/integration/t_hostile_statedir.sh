#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# igdd starts as root and runs as its own user (user=igdd), who owns the state directory. Replayed here:
#  - issue 16: a state_dir below a directory that user cannot enter works (igdd keeps the directory open;
#    the UUID and the rules survive a restart); a state_dir that user cannot write stops igdd at start:
#    exit 2, one log line with the path and the fix, and no socket left behind
#  - issue 12: a state_dir that is not igdd's alone (a /tmp, a directory holding someone else's file) is
#    refused, and nothing in it changes hands; what igdd's user plants in its own state_dir (a symbolic link
#    as rules.journal, lock, rules.snap.tmp, a meta file or its .tmp) is refused at the next start with a
#    line that names it, and root never writes or creates a file through it; the control socket stays
#    root's, in a directory igdd's user cannot write
# The victim is a root-owned file outside the state directory; it must come through every start untouched.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
it_setup

it_system_user igdd >/dev/null || fail "no system user igdd (make deps adds it)"
export LAB_IGDD_USER=igdd
as_igdd() { setpriv --reuid=igdd --regid=igdd --init-groups -- "$@"; }
VICTIM=$LAB_DIR/victim
printf "root's file: keep out\n" >"$VICTIM"
chmod 0600 "$VICTIM"
victim_intact() {
	[ "$(cat "$VICTIM")" = "root's file: keep out" ] || fail "$1: the victim's content changed: $(head -c 80 "$VICTIM")"
	[ "$(stat -c '%U %a %h' "$VICTIM")" = "root 600 1" ] || fail "$1: the victim is now $(stat -c '%U %a %h' "$VICTIM")"
	ok "$1: the victim is untouched"
}
# refused WHAT GREP [CONFIG LINE...]: igdd exits 2 with one line matching GREP, and leaves no socket
refused() {
	local what=$1 want=$2
	shift 2
	fault_igdd_run_once 10 enable_pcp=yes "$@"
	expect_eq "$FAULT_RC" 2 "exit code: $what"
	grep -q -- "$want" "$LAB_DIR/once.log" || fail "$what: no line says '$want': $(cat "$LAB_DIR/once.log")"
	ok "$what: $(grep -m1 -- "$want" "$LAB_DIR/once.log")"
	local left
	left=$(lab_exec cpe ss -H -lnptuw | grep -v '(("radvd"' || true)
	[ -z "$left" ] || fail "$what: sockets left: $left"
}

step "issue 16: a state_dir below a directory igdd's user cannot enter"
PRIV=$LAB_DIR/private
mkdir -m 0700 "$PRIV"
as_igdd test -x "$PRIV" && fail "igdd's user can enter $PRIV"
lab_igdd_start enable_pcp=yes enable_upnp=yes "state_dir=$PRIV/state" || fail "igdd did not start"
uuid=$(cat "$PRIV/state/meta.upnp_uuid") || fail "no UUID kept"
id=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8080)
lab_igdd_stop || fail "igdd did not stop"
lab_igdd_start enable_pcp=yes enable_upnp=yes "state_dir=$PRIV/state" || fail "igdd did not restart"
expect_eq "$(cat "$PRIV/state/meta.upnp_uuid")" "$uuid" "the UUID after a restart"
igdctl_lab list | grep -q "^$id " || fail "rule $id lost across the restart"
ok "rule $id restored"
bad='cannot keep the UUID|cannot prepare|snapshot failed|cannot write'
grep -qE "$bad" "$LAB_DIR/igdd.log" && fail "a write failed: $(grep -E -m1 "$bad" "$LAB_DIR/igdd.log")"
ok "no write failed"
lab_igdd_stop || fail "igdd did not stop"

step "issue 16: a state_dir igdd's user cannot write: a clear error at start"
RO=$LAB_DIR/ro-state
mkdir "$RO"
chown igdd: "$RO"
chmod 0500 "$RO"
refused "unwritable state_dir" "state_dir $RO: user igdd (uid [0-9]*) cannot create files in it (Permission denied); make it that user's alone: chown igdd: $RO" \
	enable_upnp=yes web_listen=:8080 "state_dir=$RO"
expect_eq "$(grep -c "$RO" "$LAB_DIR/once.log")" 1 "log lines that name it"
# detached (no -d): the parent's exit code comes once the child has closed everything
lab_igdd_conf enable_pcp=yes enable_upnp=yes web_listen=:8080 "state_dir=$RO"
rc=0
lab_exec cpe "$IGDD_BIN" -f "$LAB_DIR/igdd.conf" </dev/null >>"$LAB_DIR/igdd.log" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit code of the detached start"
expect_eq "$(lab_exec cpe ss -H -lnptuw | grep -cv "((\"radvd\"")" 0 "sockets bound once the parent returned"

step "issue 12: a state_dir that is not igdd's alone is refused, nothing in it changes hands"
FAKETMP=$LAB_DIR/faketmp
mkdir "$FAKETMP"
chmod 1777 "$FAKETMP"
touch "$FAKETMP/.X0-lock"
refused "state_dir=/tmp (what the README advised)" "state_dir $FAKETMP is writable by others" "state_dir=$FAKETMP"
expect_eq "$(stat -c '%U' "$FAKETMP" "$FAKETMP/.X0-lock" | sort -u)" root "owner of the directory and its file"
SHARED=$LAB_DIR/shared
mkdir "$SHARED"
cp "$VICTIM" "$SHARED/passwd"
refused "a state_dir holding someone else's file" "holds \"passwd\", which is not igdd's" "state_dir=$SHARED"
expect_eq "$(stat -c '%U' "$SHARED" "$SHARED/passwd" | sort -u)" root "owner of the directory and its file"

step "issue 12: what igdd's user plants in its state_dir"
STATE=$LAB_DIR/state
lab_igdd_start enable_pcp=yes || fail "igdd did not start"
id=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8081)
igdctl_lab devices name "$LAN1_MAC" "Planted" >/dev/null || fail "igdctl devices name"
expect_eq "$(stat -c '%U' "$STATE")" igdd "state_dir owner"
expect_eq "$(stat -c '%F %U %a' "$LAB_DIR/igdd.sock")" "socket root 600" "the control socket: root's"
as_igdd touch "$LAB_DIR/planted" 2>/dev/null && fail "igdd's user can write the control socket's directory"
ok "igdd's user cannot write the control socket's directory"
lab_igdd_stop || fail "igdd did not stop"
# Root opens these at the next start (the lock and the journal; a snapshot after restoring rules; meta
# values): a planted link is refused with a line that names it, never followed, nor created through.
meta=$(cd "$STATE" && ls meta.device_name_*) || fail "no device name in the store"
for name in rules.snap.tmp "$meta.tmp" meta.lan_prefix_lan0.tmp; do
	as_igdd ln -s "$VICTIM" "$STATE/$name"
	refused "$name as a symbolic link" "$name is a symbolic link (igdd follows none in its state_dir): remove it"
	as_igdd rm "$STATE/$name"
done
ASIDE=$LAB_DIR/igdds-own   # where igdd's user puts the real files meanwhile
mkdir "$ASIDE"
chown igdd: "$ASIDE"
for name in rules.journal "$meta"; do
	as_igdd mv "$STATE/$name" "$ASIDE/"
	as_igdd ln -s "$VICTIM" "$STATE/$name"
	refused "$name as a symbolic link" "$name is a symbolic link (igdd follows none in its state_dir): remove it"
	as_igdd mv -f "$ASIDE/$name" "$STATE/$name"
done
as_igdd rm "$STATE/lock"
as_igdd ln -s "$LAB_DIR/created-by-root" "$STATE/lock"
refused "lock as a dangling symbolic link" "lock is a symbolic link"
[ -e "$LAB_DIR/created-by-root" ] && fail "root created the file the lock pointed to"
ok "no file created where the lock pointed"
as_igdd rm "$STATE/lock"
victim_intact "every plant"

step "the plants gone, nothing is lost"
lab_igdd_start enable_pcp=yes || fail "igdd did not start"
igdctl_lab list | grep -q "^$id " || fail "rule $id lost"
igdctl_lab devices | grep -q "Planted" || fail "the device's name was lost"
ok "rule $id and the device's name are there"
it_done
