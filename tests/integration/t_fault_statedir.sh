#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The state directory fills up: new requests get a clear error (igdctl: no_resources / 503, PCP: NO_RESOURCES)
# instead of an answer the store could not keep, existing rules keep working, the log says why, and once
# there is room again requests succeed. A read-only state directory at start: a clear log line, exit code 2.
# igdd runs in a private mount namespace with a 256 KiB tmpfs on its state_dir (nothing else sees the mount;
# larger than the 64 KiB the journal grows by at once, so that the file that fills it takes room of its own).
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
it_setup

STATE="$LAB_DIR/state"
CONF=(enable_pcp=yes pcp_rate_limit=0)
lab_listen lan1 tcp 8080
lab_listen lan1 udp 9000

step "igdd on a 256 KiB tmpfs state_dir"
fault_tmpfs_wrap "$STATE" 256k
fault_igdd_start_wrapped "${FAULT_WRAP[@]}" -- "${CONF[@]}" || fail "igdd did not start on the tmpfs"
pid=$(lab_igdd_pid)
in_igdd_ns() { nsenter -t "$pid" -m "$@"; }
in_igdd_ns findmnt -n -o FSTYPE,SIZE "$STATE" | grep -q tmpfs || fail "state_dir is not the tmpfs in igdd's namespace"
findmnt -n "$STATE" >/dev/null && fail "the tmpfs leaked out of igdd's mount namespace"
ok "state_dir is a tmpfs only igdd sees"
id1=$(igdctl_add pinhole "$LAN1_EUI64" tcp 8080)
expect_result lan1 SUCCESS "PCP MAP while there is room" map --proto udp --port 9000 --sugg-port 19000 --lifetime 600
eport=$(field "$PCP_LINE" ext_port)
expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole works"
expect_connect wan udp "$CPE_WAN4" "$eport" "PCP mapping works"

step "fill the file system"
in_igdd_ns dd if=/dev/zero of="$STATE/filler" bs=1k count=1024 2>/dev/null && fail "256 KiB tmpfs took 1 MiB"
ok "filled: $(in_igdd_ns df -k "$STATE" | awk 'NR == 2 { print $3 " KiB used, " $4 " KiB free" }')"

# The journal grows by zeros that later lines overwrite (store.c): what it could grow by before the disk
# was full still takes lines (each durable), a few hundred at most (64 KiB); the first
# refusal comes when they are used up.
first_fail=
acked=()
for ((i = 0; i < 1000; i++)); do
	rc=0
	id=$(igdctl_lab add pinhole "$LAN2_STABLE" tcp $((42000 + i)) 2>"$LAB_DIR/err") || rc=$?
	if [ "$rc" = 0 ]; then
		acked+=("$id")
		continue
	fi
	first_fail=$i
	break
done
[ -n "$first_fail" ] || fail "1000 requests on a full file system all succeeded"
expect_eq "$rc" 1 "igdctl exit status for a refused request"
grep -q no_resources "$LAB_DIR/err" || fail "igdctl message does not say no_resources: $(cat "$LAB_DIR/err")"
grep -q 503 "$LAB_DIR/err" || fail "igdctl message does not say 503: $(cat "$LAB_DIR/err")"
ok "request $first_fail refused (${#acked[@]} fitted in the room the journal had grown by): $(cat "$LAB_DIR/err")"
for ((i = 100; i < 105; i++)); do
	if igdctl_lab add pinhole "$LAN2_STABLE" tcp $((40000 + i)) 2>"$LAB_DIR/err" >/dev/null; then
		fail "request accepted on a full file system"
	fi
	grep -q no_resources "$LAB_DIR/err" || fail "refusal without no_resources: $(cat "$LAB_DIR/err")"
done
ok "5 more control-socket requests refused with no_resources"
ans=$(lab_exec cpe "$LAB_PY" - "$LAB_DIR/igdd.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "POST", "path": "/api/v1/rules", "body": {"kind": "pinhole",
          "address": "2001:db8:1:1:5054:ff:fe12:3402", "proto": "udp", "port": 41000}}).encode() + b"\n")
s.shutdown(socket.SHUT_WR)
d = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    d += c
a = json.loads(d)
print(a["status"], a["body"]["error"]["code"])
PY
)
expect_eq "$ans" "503 no_resources" "the API answers 503 no_resources"
expect_result lan1 NO_RESOURCES "PCP MAP on a full file system" map --proto udp --port 9100 --lifetime 600
expect_result lan1 NO_RESOURCES "PCP MAP over IPv6 on a full file system" -s "$CPE_LAN6" map --proto udp --port 9101 --lifetime 600
grep -q 'No space left on device' "$LAB_DIR/igdd.log" || fail "no log line says the disk is full"
ok "log: $(grep -m1 'No space left on device' "$LAB_DIR/igdd.log")"

step "what was acknowledged stays, and keeps working"
ids=$(igdctl_lab --json list | fault_json "' '.join(str(r['id']) for r in j['rules'])")
for id in "$id1" "${acked[@]}"; do
	case " $ids " in *" $id "*) ;; *) fail "acknowledged rule $id is not listed" ;; esac
done
ok "all $((${#acked[@]} + 2)) acknowledged rules listed"
case " $ids " in *" $((id1 + ${#acked[@]} + 2)) "*) fail "a refused request left a rule behind" ;; esac
msg=$(fault_consistent "full disk") || fail "$msg"
ok "$msg"
expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole still works"
expect_connect wan udp "$CPE_WAN4" "$eport" "PCP mapping still works"
expect_no_connect wan tcp "$LAN2_STABLE" 40100 "refused request opened nothing"
expect_result lan1 SUCCESS "PCP ANNOUNCE still answered" announce
igdctl_lab status >/dev/null || fail "status on a full disk"
ok "igdctl status answers"

step "room again"
in_igdd_ns rm -f "$STATE/filler"
id=$(igdctl_add pinhole "$LAN2_STABLE" tcp 40200)
ok "control-socket request accepted again (id $id)"
expect_result lan1 SUCCESS "PCP MAP accepted again" map --proto udp --port 9100 --lifetime 600
lab_listen lan2 tcp 40200
expect_connect wan tcp "$LAN2_STABLE" 40200 "new pinhole works"
msg=$(fault_consistent "after the disk had room again") || fail "$msg"
ok "$msg"
n_before=$(igdctl_lab --json list | fault_json 'len(j["rules"])')
mkdir -p "$LAB_DIR/saved"
in_igdd_ns cp -a "$STATE/." "$LAB_DIR/saved/"
lab_igdd_stop || fail "igdd did not stop"

step "restart on a full state_dir that holds the rules (a reboot with full flash)"
# the flash: a 256 KiB tmpfs with the state_dir and, beside it (a state_dir holds only igdd's files),
# the file that fills it
FLASH=$LAB_DIR/flash
mkdir -p "$FLASH"
# shellcheck disable=SC2016 # expanded by the inner sh
fault_igdd_start_wrapped unshare -m --propagation private sh -c 'mount -t tmpfs -o size=256k,mode=0755 igddstate "$0" &&
	mkdir -m 0700 "$0/state" && cp -a "$1/." "$0/state/" && { dd if=/dev/zero of="$0/filler" bs=1k 2>/dev/null; true; } &&
	shift && exec "$@"' "$FLASH" "$LAB_DIR/saved" -- "${CONF[@]}" "state_dir=$FLASH/state" ||
	fail "igdd does not start on a full state_dir"
pid=$(lab_igdd_pid)
expect_eq "$(in_igdd_ns df -k "$FLASH/state" | awk 'NR == 2 { print $4 }')" 0 "KiB free on the state_dir"
expect_eq "$(igdctl_lab --json list | fault_json 'len(j["rules"])')" "$n_before" "rules restored on a full disk"
msg=$(fault_consistent "restart on a full disk") || fail "$msg"
ok "$msg"
expect_connect wan tcp "$LAN1_EUI64" 8080 "restored pinhole works"
refused=0
# (the zeros the journal had grown by are cut off at the first write after a start: that room takes lines)
for ((i = 0; i < 1000; i++)); do
	if ! igdctl_lab add pinhole "$LAN2_STABLE" tcp $((43000 + i)) >/dev/null 2>"$LAB_DIR/err"; then
		refused=1
		break
	fi
done
[ $refused = 1 ] || fail "1000 requests accepted on a full disk after restart"
grep -q no_resources "$LAB_DIR/err" || fail "refusal without no_resources: $(cat "$LAB_DIR/err")"
ok "new requests refused with no_resources after $i accepted"
lab_igdd_stop || fail "igdd did not stop"

step "read-only state_dir at start"
fault_tmpfs_wrap "$STATE" 64k ro
fault_igdd_run_once 10 "${FAULT_WRAP[@]}" -- "${CONF[@]}"
expect_eq "$FAULT_RC" 2 "exit code on a read-only state_dir"
grep -qi 'read-only file system' "$LAB_DIR/once.log" || fail "no log line says read-only: $(cat "$LAB_DIR/once.log")"
ok "log: $(grep -i -m1 'read-only' "$LAB_DIR/once.log")"
it_done
