# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the fault and attack-surface tests (sourced after lib.sh and pcp_lib.sh).
#
#   fault_consistent [WHY]              every listed rule has its kernel element(s) and every element in our
#                                       sets and maps belongs to a listed rule; prints a summary, 1 otherwise
#   fault_burst NS OUT ARGS...          mixed burst (control socket + PCP) recording acknowledged requests
#   fault_acked_present OUT             every acknowledged add is listed, no acknowledged delete is
#   fault_igdd_start_wrapped WRAP... -- [CONFIG LINE...]
#                                       like lab_igdd_start, but igdd runs under WRAP (unshare, valgrind);
#                                       igdd stays a child of this shell so fault_igdd_wait gets its exit code
#   fault_igdd_wait SECONDS             waits for that igdd to exit; sets FAULT_RC
#   fault_igdd_run_once SECONDS [WRAP... --] [CONFIG LINE...]
#                                       runs igdd in the foreground (start-up failures); FAULT_RC, once.log
#   fault_tmpfs_wrap DIR SIZE [ro]      FAULT_WRAP = igdd in a private mount namespace with a tmpfs on DIR
#   fault_pcp_raw NS SERVER SIZE        sends a SIZE-byte PCP MAP datagram, prints result=... len=...
#   fault_igdd_sockets                  igdd's inet sockets in cpe: "udp 0.0.0.0:5351" lines
#   fault_json EXPR                     python expression over the JSON on stdin (j), printed
#
# Everything here is bounded in count and time; the tests call lib.sh's fail on a broken expectation.


fault_json() {
	"$LAB_PY" -c 'import json,sys
j = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}

# fault_consistent [WHY]: compares `igdctl --json list` with `nft -j list table inet igdd`.
fault_consistent() {
	igdctl_lab --json list >"$LAB_DIR/fc.rules" 2>/dev/null || { echo "igdctl list failed"; return 1; }
	lab_exec cpe nft -j list table inet igdd >"$LAB_DIR/fc.table" 2>/dev/null || { echo "nft list table failed"; return 1; }
	"$LAB_PY" - "$LAB_DIR/fc.rules" "$LAB_DIR/fc.table" "${1:-}" <<'PY'
import ipaddress, json, sys

rules = json.load(open(sys.argv[1]))["rules"]
tbl = json.load(open(sys.argv[2])).get("nftables", [])
why = sys.argv[3]
PROTO = {"tcp": 6, "udp": 17, "icmpv6": 58, "icmp": 1}


def pnum(p):
    if isinstance(p, int):
        return p
    return PROTO.get(p, p if not str(p).isdigit() else int(p))


def norm(v):
    if isinstance(v, str):
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            return str(pnum(v))
    if isinstance(v, dict) and "prefix" in v:
        return "%s/%d" % (ipaddress.ip_address(v["prefix"]["addr"]), v["prefix"]["len"])
    return str(v)


def key_of(e):
    if isinstance(e, dict) and "elem" in e:
        e = e["elem"]["val"]
    if isinstance(e, dict) and "concat" in e:
        return tuple(norm(x) for x in e["concat"])
    return (norm(e),)


have = {}
for o in tbl:
    for kind in ("set", "map"):
        if kind not in o:
            continue
        s = o[kind]
        if s["name"] == "wan_if" or s["name"].endswith("_if"):
            continue
        for e in s.get("elem", []):
            k = key_of(e[0] if kind == "map" and isinstance(e, list) else e)
            have.setdefault(s["name"], set()).add(k)

want = {}
problems = []
unsupported = 0
for r in rules:
    addrs = []
    t = r.get("target") or {}
    if r["state"] == "pending":
        continue
    if r["kind"] == "pinhole":
        for a in (t.get("exact"), t.get("stable")):
            if a and str(ipaddress.ip_address(a)) not in addrs:
                addrs.append(str(ipaddress.ip_address(a)))
        if not addrs and r.get("address"):
            addrs.append(str(ipaddress.ip_address(r["address"])))
        if r.get("remote") or r["proto"] in ("any", 65535) or not r["port"]:
            unsupported += 1
            continue
        for a in addrs:
            want.setdefault("ph_port", set()).add((a, str(pnum(r["proto"])), str(r["port"])))
    else:
        if r.get("remote") or r.get("ext_addr"):
            unsupported += 1
            continue
        want.setdefault("pm4", set()).add((str(pnum(r["proto"])), str(r["ext_port"])))

for name, keys in want.items():
    missing = keys - have.get(name, set())
    for k in sorted(missing)[:5]:
        problems.append("listed rule without element: %s %s" % (name, " . ".join(k)))
    if len(missing) > 5:
        problems.append("... %d more missing in %s" % (len(missing) - 5, name))
if unsupported == 0:
    for name, keys in have.items():
        extra = keys - want.get(name, set())
        for k in sorted(extra)[:5]:
            problems.append("element of no listed rule: %s %s" % (name, " . ".join(k)))
        if len(extra) > 5:
            problems.append("... %d more extra in %s" % (len(extra) - 5, name))
n_el = sum(len(v) for v in have.values())
if problems:
    print("%s: INCONSISTENT (%d rules, %d elements): %s" % (why, len(rules), n_el, "; ".join(problems)))
    sys.exit(1)
print("%s: %d rules, %d elements, consistent" % (why, len(rules), n_el))
PY
}

# fault_burst NS OUT [--ctl N] [--pcp N] [--del-ids "ID ..."] [--pcp-server ADDR] [--ctl-port0 P] [--pcp-port0 P]
#   [--ctl-addr ADDR6 (default lan2's stable address)] [--until-dead] [--seconds S]
# Runs in namespace NS (the control socket is a path, reachable from any namespace). Interleaves control socket
# pinhole adds, deletes of the given ids and PCP MAP requests (one try each, 0.3 s). Appends to OUT, one line per
# ACKNOWLEDGED request as soon as the answer arrived:
#   ctl-add ID PORT | ctl-del ID | pcp-add PROTO PORT EXT_PORT
# and "sent ..." lines for requests sent but not acknowledged. Stops after the requests, after --seconds
# (default 20), or (with --until-dead) after 3 requests in a row got no answer.
fault_burst() {
	local ns=$1 out=$2
	shift 2
	ip netns exec "${LAB}$ns" "$LAB_PY" - "$LAB_DIR/igdd.sock" "$out" --ctl-addr "$LAN2_STABLE" "$@" <<'PY'
import argparse, json, os, socket, struct, sys, time

sock_path, out_path = sys.argv[1], sys.argv[2]
ap = argparse.ArgumentParser()
ap.add_argument("--ctl", type=int, default=0)
ap.add_argument("--pcp", type=int, default=0)
ap.add_argument("--del-ids", default="")
ap.add_argument("--pcp-server", default="192.0.2.1")
ap.add_argument("--ctl-port0", type=int, default=30000)
ap.add_argument("--pcp-port0", type=int, default=20000)
ap.add_argument("--ctl-addr", required=True)
ap.add_argument("--until-dead", action="store_true")
ap.add_argument("--seconds", type=float, default=20)
a = ap.parse_args(sys.argv[3:])
out = open(out_path, "a", buffering=1)
dels = [int(x) for x in a.del_ids.split()]


def ctl(method, path, body=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(sock_path)
        req = {"method": method, "path": path}
        if body is not None:
            req["body"] = body
        s.sendall(json.dumps(req).encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
        return json.loads(data) if data else None
    except (OSError, ValueError):
        return None
    finally:
        s.close()


v6 = ":" in a.pcp_server
us = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
us.connect((a.pcp_server, 5351))
me = us.getsockname()[0].split("%")[0]


def addr16(t):
    import ipaddress
    x = ipaddress.ip_address(t)
    return (b"\0" * 10 + b"\xff\xff" + x.packed) if x.version == 4 else x.packed


def pcp_map(port):
    nonce = os.urandom(12)
    sugg = "::" if v6 else "0.0.0.0"
    msg = struct.pack("!BBHI", 2, 1, 0, 3600) + addr16(me) + nonce + struct.pack("!B3xHH", 17, port, port) \
        + addr16(sugg)
    us.send(msg)
    us.settimeout(0.3)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        try:
            buf = us.recv(2048)
        except (socket.timeout, OSError):
            return None
        if len(buf) >= 60 and buf[24:36] == nonce:
            return buf[3], struct.unpack("!H", buf[42:44])[0]
    return None


t_end = time.monotonic() + a.seconds
plan = []
ic = ip = idl = 0
while ic < a.ctl or ip < a.pcp or idl < len(dels):
    if ic < a.ctl:
        plan.append(("ctl", ic)); ic += 1
    if idl < len(dels):
        plan.append(("del", dels[idl])); idl += 1
    if ip < a.pcp:
        plan.append(("pcp", ip)); ip += 1
dead = 0
acked = 0
for kind, i in plan:
    if time.monotonic() > t_end:
        break
    if kind == "ctl":
        port = a.ctl_port0 + i
        out.write("sent ctl-add %d\n" % port)
        ans = ctl("POST", "/api/v1/rules", {"kind": "pinhole", "address": a.ctl_addr, "proto": "tcp", "port": port})
        ok = ans is not None and ans.get("status") == 201
        if ok:
            out.write("ctl-add %d %d\n" % (ans["body"]["rule"]["id"], port))
    elif kind == "del":
        out.write("sent ctl-del %d\n" % i)
        ans = ctl("DELETE", "/api/v1/rules/%d" % i)
        ok = ans is not None and ans.get("status") == 200
        if ok:
            out.write("ctl-del %d\n" % i)
    else:
        port = a.pcp_port0 + i
        out.write("sent pcp-add %d\n" % port)
        r = pcp_map(port)
        ok = r is not None and r[0] == 0
        if ok:
            out.write("pcp-add udp %d %d\n" % (port, r[1]))
    if ok:
        acked += 1
        dead = 0
    else:
        dead += 1
        if a.until_dead and dead >= 3:
            break
print("burst: %d requests planned, %d acknowledged" % (len(plan), acked))
PY
}

# fault_acked_present OUT [PCP_ADDR]: acknowledged adds are listed (ctl by id, PCP by internal port),
# acknowledged deletes are not.
fault_acked_present() {
	igdctl_lab --json list >"$LAB_DIR/fa.rules" 2>/dev/null || { echo "igdctl list failed"; return 1; }
	"$LAB_PY" - "$1" "$LAB_DIR/fa.rules" "${2:-192.0.2.11}" <<'PY'
import ipaddress, json, sys
lines = open(sys.argv[1]).read().split("\n")
rules = json.load(open(sys.argv[2]))["rules"]
pcp_addr = str(ipaddress.ip_address(sys.argv[3]))
ids = {r["id"]: r for r in rules}
pcp = {(r["proto"], r["port"]) for r in rules if r["origin"] == "pcp" and
       str(ipaddress.ip_address(r["target"]["exact"] or "::")) == pcp_addr}
bad = []
n_add = n_del = n_pcp = 0
for ln in lines:
    f = ln.split()
    if not f:
        continue
    if f[0] == "ctl-add":
        n_add += 1
        r = ids.get(int(f[1]))
        if r is None or r["port"] != int(f[2]):
            bad.append("acknowledged ctl add id=%s port=%s missing" % (f[1], f[2]))
    elif f[0] == "ctl-del":
        n_del += 1
        if int(f[1]) in ids:
            bad.append("acknowledged delete of id=%s came back" % f[1])
    elif f[0] == "pcp-add":
        n_pcp += 1
        if (f[1], int(f[2])) not in pcp:
            bad.append("acknowledged PCP MAP %s/%s missing" % (f[2], f[1]))
if bad:
    print("%d problems: %s" % (len(bad), "; ".join(bad[:8])))
    sys.exit(1)
print("%d acknowledged adds, %d PCP MAPs, %d deletes: all as acknowledged" % (n_add, n_pcp, n_del))
PY
}

# fault_igdd_start_wrapped WRAP... -- [CONFIG LINE...]
# Starts igdd in cpe as: ip netns exec cpe WRAP... IGDD -d -f CONF (WRAP must exec igdd, keeping the pid).
# FAULT_START_WAIT (tenths of a second, default 200) bounds the wait for igdctl status.
fault_igdd_start_wrapped() {
	local wrap=() i pid
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		wrap+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	lab_igdd_conf "$@"
	echo "=== $(date +%T.%N | cut -c1-12) igdd start (${wrap[*]})" >>"$LAB_DIR/igdd.log"
	ip netns exec "${LAB}cpe" "${wrap[@]}" "$IGDD_BIN" -d -f "$LAB_DIR/igdd.conf" </dev/null \
		> >(lab_stamp "$LAB_DIR/igdd.log") 2>&1 &
	pid=$!
	echo "$pid" >"$LAB_DIR/igdd.pid"
	FAULT_PID=$pid
	for ((i = 0; i < ${FAULT_START_WAIT:-200}; i++)); do
		if ! _lab_alive "$pid"; then
			wait "$pid"
			FAULT_RC=$?
			echo "fault_igdd_start_wrapped: igdd exited ($FAULT_RC); log tail:" >&2
			tail -n 20 "$LAB_DIR/igdd.log" >&2
			rm -f "$LAB_DIR/igdd.pid"
			return 1
		fi
		if [ -S "$LAB_DIR/igdd.sock" ] && igdctl_lab status >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "fault_igdd_start_wrapped: igdd did not answer in time; log tail:" >&2
	tail -n 20 "$LAB_DIR/igdd.log" >&2
	return 1
}

# fault_igdd_wait SECONDS: waits for FAULT_PID (a child of this shell) to exit; sets FAULT_RC (124 on timeout).
fault_igdd_wait() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		if ! _lab_alive "$FAULT_PID"; then
			wait "$FAULT_PID"
			FAULT_RC=$?
			rm -f "$LAB_DIR/igdd.pid"
			return 0
		fi
		sleep 0.1
	done
	FAULT_RC=124
	return 1
}

# fault_igdd_run_once SECONDS [WRAP... --] [CONFIG LINE...]: runs igdd in cpe in the foreground (for start-up
# failures), under WRAP if given; sets FAULT_RC to its exit code (124 if it still ran after SECONDS: then it
# is killed) and leaves its output in $LAB_DIR/once.log (and appended to igdd.log).
fault_igdd_run_once() {
	local t=$1 wrap=() a
	shift
	for a in "$@"; do
		if [ "$a" = -- ]; then
			while [ "$1" != -- ]; do
				wrap+=("$1")
				shift
			done
			shift
			break
		fi
	done
	lab_igdd_conf "$@"
	echo "=== $(date +%T.%N | cut -c1-12) igdd run-once (${wrap[*]})" >>"$LAB_DIR/igdd.log"
	FAULT_RC=0
	timeout -k 2 "$t" ip netns exec "${LAB}cpe" "${wrap[@]}" "$IGDD_BIN" -d -f "$LAB_DIR/igdd.conf" </dev/null \
		>"$LAB_DIR/once.log" 2>&1 || FAULT_RC=$?
	cat "$LAB_DIR/once.log" >>"$LAB_DIR/igdd.log"
}

# fault_tmpfs_wrap DIR SIZE [ro]: sets FAULT_WRAP to a command prefix that runs igdd in a private mount
# namespace with a SIZE tmpfs (read-only with "ro") on DIR. Only that igdd sees the mount; it goes away with it.
fault_tmpfs_wrap() {
	local opts="size=$2,mode=0755"
	[ "${3:-}" = ro ] && opts="$opts,ro"
	# shellcheck disable=SC2016,SC2034 # expanded by the inner sh; FAULT_WRAP is read by the tests
	FAULT_WRAP=(unshare -m --propagation private sh -c 'mount -t tmpfs -o "$1" igddstate "$0" && shift && exec "$@"'
		"$1" "$opts")
}

# fault_pcp_raw NS SERVER SIZE [SRC]: one PCP MAP request padded with zero bytes (an unknown option would be
# something else) to SIZE bytes; prints "result=NAME code=N len=N" or result=TIMEOUT.
fault_pcp_raw() {
	ip netns exec "${LAB}$1" "$LAB_PY" - "$2" "$3" "${4:-}" <<'PY'
import ipaddress, os, socket, struct, sys
server, size, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
v6 = ":" in server
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
if src:
    s.bind((src, 0))
s.connect((server, 5351))
me = ipaddress.ip_address(s.getsockname()[0].split("%")[0])
a16 = (b"\0" * 10 + b"\xff\xff" + me.packed) if me.version == 4 else me.packed
msg = struct.pack("!BBHI", 2, 1, 0, 600) + a16 + os.urandom(12) + struct.pack("!B3xHH", 17, 4242, 0) + b"\0" * 16
msg = (msg + b"\0" * size)[:size]
names = ["SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST", "UNSUPP_OPCODE", "UNSUPP_OPTION",
         "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES"]
s.settimeout(0.5)
for _ in range(2):
    try:
        s.send(msg)
        buf = s.recv(65536)
    except socket.timeout:
        continue
    except OSError as e:
        print("result=ERROR errno=%d" % e.errno)
        sys.exit(0)
    code = buf[3] if len(buf) >= 4 else -1
    print("result=%s code=%d len=%d" % (names[code] if 0 <= code < len(names) else code, code, len(buf)))
    sys.exit(0)
print("result=TIMEOUT")
PY
}

# fault_igdd_sockets: "PROTO LOCAL" per inet socket of the running igdd (from ss in cpe)
fault_igdd_sockets() {
	local pid
	pid=$(lab_igdd_pid) || return 1
	lab_exec cpe ss -H -lnptuw 2>/dev/null | awk -v p="pid=$pid," 'index($0, p) { print $1, $5 }'
}
