#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Attack surface, seen from the internet (namespace wan) and from hostile LAN input:
#  - privileges: with user=igdd (the default: a system user of its own) every thread runs as igdd's
#    uid/gid with CapEff exactly CAP_NET_ADMIN | CAP_NET_BIND_SERVICE (0x1400), no inheritable/ambient
#    capabilities, no_new_privs; and still works
#  - igdd's sockets: exactly those of its front ends (PCP, UPnP, the web UI, the interworking's ANNOUNCE
#    port); the control socket is a unix socket, 0600, root's (the privilege drop gives it away no more)
#  - from wan, nothing of ours answers: every TCP port igdd listens on, on the cpe's WAN addresses and on its LAN
#    addresses routed from outside (the delegated IPv6 prefix is, by design); PCP and NAT-PMP on 5351/udp; SSDP
#    M-SEARCH (multicast and unicast) on 1900/udp
#  - PCP from a LAN-looking source arriving on wan0 (spoofed) is ignored
#  - PCP datagrams over 1100 bytes get MALFORMED_REQUEST (the answer within 1100 bytes), and 3,000 garbage
#    datagrams later igdd still answers
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
it_setup

step "igdd as user=igdd, with every front end"
IGDD_UID=$(it_system_user igdd) || fail "no system user igdd (make deps adds it)"
IGDD_GID=$(id -g igdd)
export LAB_IGDD_USER=igdd
PASSWORD='surface test password'
HASH=$(printf '%s\n%s\n' "$PASSWORD" "$PASSWORD" | "$IGDCTL_BIN" passwd 2>/dev/null) || fail "igdctl passwd"
# A front end that cannot start stops igdd (exit 2): there is no half-started daemon to look at.
lab_igdd_start enable_pcp=yes enable_upnp=yes "web_listen=:8080" "$HASH" || fail "igdd did not start"
ok "igdd runs with PCP, UPnP and the web UI"
pid=$(lab_igdd_pid)

step "privileges"
st=/proc/$pid/status
expect_eq "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$st")" "$IGDD_UID $IGDD_UID $IGDD_UID $IGDD_UID" "Uid (real, effective, saved, fs)"
expect_eq "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "$st")" "$IGDD_GID $IGDD_GID $IGDD_GID $IGDD_GID" "Gid"
expect_eq "$(awk '/^Groups:/ { $1 = ""; print $0 }' "$st" | xargs)" "$IGDD_GID" "supplementary groups"
expect_eq "$(awk '/^CapEff:/ { print $2 }' "$st")" 0000000000001400 "CapEff = CAP_NET_ADMIN|CAP_NET_BIND_SERVICE"
expect_eq "$(awk '/^CapPrm:/ { print $2 }' "$st")" 0000000000001400 "CapPrm"
expect_eq "$(awk '/^CapInh:/ { print $2 }' "$st")" 0000000000000000 "CapInh"
expect_eq "$(awk '/^CapAmb:/ { print $2 }' "$st")" 0000000000000000 "CapAmb"
expect_eq "$(awk '/^NoNewPrivs:/ { print $2 }' "$st")" 1 "NoNewPrivs"
# Capabilities are per thread: a thread started before the drop keeps what setresuid left it (nothing), and
# cannot commit to nftables (the kernel checks the sending thread too). Reported at the end, so the rest runs.
DEFERRED=()
n=0
for t in /proc/"$pid"/task/*; do
	[ -r "$t/status" ] || continue
	n=$((n + 1))
	c=$(awk '/^CapEff:/ { print $2 }' "$t/status")
	u=$(awk '/^Uid:/ { print $3 }' "$t/status")
	if [ "$c" != 0000000000001400 ] || [ "$u" != "$IGDD_UID" ]; then
		DEFERRED+=("thread $(basename "$t") ($(cat "$t/comm" 2>/dev/null)): uid $u CapEff $c")
		echo "[$(_it_ts)] NOT OK: ${DEFERRED[-1]}"
	fi
done
[ ${#DEFERRED[@]} -gt 0 ] || ok "all $n threads: uid $IGDD_UID (igdd), CapEff 0x1400"
expect_eq "$(stat -c '%U %a' "$LAB_DIR/state")" "igdd 755" "state_dir: igdd's, writable by igdd alone"
expect_eq "$(stat -c '%F %U %a' "$LAB_DIR/igdd.sock")" "socket root 600" "control socket: unix, root's, mode 0600"
expect_eq "$(stat -c '%U' "$LAB_DIR")" root "the control socket's directory stays root's"
lab_listen lan1 tcp 8081
igdctl_add pinhole "$LAN1_EUI64" tcp 8081 >/dev/null
expect_connect wan tcp "$LAN1_EUI64" 8081 "unprivileged igdd still installs rules (control socket)"
expect_result lan1 SUCCESS "unprivileged igdd still installs rules (PCP)" map --proto udp --port 9000 --lifetime 600
# the web UI's thread commits to nftables itself: it needs CAP_NET_ADMIN too
ans=$(lab_exec lan1 "$LAB_PY" - "$CPE_LAN4" "$PASSWORD" "$LAN1_EUI64" <<'PY'
import http.cookiejar, json, sys, urllib.error, urllib.request
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
def call(path, body, csrf=None):
    h = {"Content-Type": "application/json"}
    if csrf:
        h["X-CSRF-Token"] = csrf
    r = urllib.request.Request("http://%s:8080%s" % (sys.argv[1], path), json.dumps(body).encode(), h, method="POST")
    try:
        with op.open(r, timeout=8) as a:
            return a.status, json.loads(a.read())
    except urllib.error.HTTPError as e:
        return e.code, {}
    except OSError as e:
        return "no answer (%s)" % e, {}
st, b = call("/api/v1/login", {"password": sys.argv[2]})
if st != 200:
    print("login", st)
    sys.exit(0)
st, b = call("/api/v1/rules", {"kind": "pinhole", "address": sys.argv[3], "proto": "tcp", "port": 8083}, b.get("csrf"))
print("add", st)
PY
)
if [ "$ans" = "add 201" ]; then
	ok "unprivileged igdd still installs rules (web UI)"
else
	DEFERRED+=("web UI add as user=igdd: $ans (its thread lacks CAP_NET_ADMIN?)")
	echo "[$(_it_ts)] NOT OK: ${DEFERRED[-1]}"
fi

step "igdd's sockets"
fault_igdd_sockets >"$LAB_DIR/sockets"
sed 's/^/    /' "$LAB_DIR/sockets"
grep -q '^udp .*:5351$' "$LAB_DIR/sockets" || fail "no PCP socket?"
grep -q '^tcp .*%lan0:8080$' "$LAB_DIR/sockets" || fail "no web UI socket?"
grep -q '^udp .*%lan0:1900$' "$LAB_DIR/sockets" || fail "no SSDP socket?"
# each one named: a socket of a front end that failed, or of one not asked for, fails here
while read -r proto local; do
	case "$proto $local" in
	"udp 0.0.0.0:5351" | "udp [::]:5351") ;;         # PCP and NAT-PMP (answers LAN interfaces only)
	"udp 0.0.0.0%lan0:1900" | "udp [::]%lan0:1900") ;; # SSDP, tied to the LAN
	"udp 0.0.0.0%lan0:5353" | "udp [::]%lan0:5353") ;; # mDNS, heard for device names (mdns_names), tied to the LAN
	"udp 0.0.0.0:5350")                               # interworking (RFC 6970): the upstream server's ANNOUNCE,
		# only while interworking may come on (the lab's cpe has no IPv4 default gateway: it is off)
		grep -q "interworking off" "$LAB_DIR/igdd.log" && fail "port 5350 still bound with interworking off" ;;
	"udp 127.0.0.1:"*) ;;                             # libupnp's internal stop socket, loopback only
	"tcp *%lan0:8080") ;;                             # the web UI, tied to the LAN
	"tcp "*"%lan0:"49*) ;;                            # UPnP description/SOAP/GENA, tied to the LAN
	*) fail "unexpected socket: $proto $local" ;;
	esac
done <"$LAB_DIR/sockets"
ok "inet sockets: only those of the front ends ($(wc -l <"$LAB_DIR/sockets"))"
lab_exec cpe ss -H -lxp 2>/dev/null | grep "pid=$pid," | grep -q "$LAB_DIR/igdd.sock" || fail "control socket not a unix listener of igdd"
ok "the control socket is a unix socket"

step "from wan, nothing of ours answers"
# the internet can route to the LAN's IPv6 prefix (it is delegated to us); give wan a route to the LAN's IPv4 too,
# as a neighbour on the WAN link could
lab_exec wan ip route add "$LAN_PREFIX4" via "$CPE_WAN4"
targets="$CPE_WAN4 $CPE_WAN6 $CPE_LAN4 $CPE_LAN6"
ntcp=0
# shellcheck disable=SC2013 # one port per line
for port in $(awk '$1 == "tcp" { sub(/.*:/, "", $2); print $2 }' "$LAB_DIR/sockets" | sort -un); do
	for a in $targets; do
		expect_no_connect wan tcp "$a" "$port" "TCP $port from wan"
		ntcp=$((ntcp + 1))
	done
	# the same port from the LAN does answer (the test would prove nothing otherwise)
	lab_exec lan1 "$LAB_PY" -c 'import socket, sys
for a in sys.argv[2:]:
    try:
        socket.create_connection((a, int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        pass
sys.exit(1)' "$port" "$CPE_LAN4" "$CPE_LAN6" || fail "TCP $port does not answer from the LAN either"
done
ok "$ntcp TCP probes from wan unanswered (ports that answer on the LAN)"
for a in $targets; do
	l=$(pcpc wan --timeout 0.3 --tries 2 -s "$a" map --proto udp --port 9001) || true
	expect_eq "$(field "$l" result)" TIMEOUT "PCP MAP from wan to $a"
	l=$(pcpc wan --timeout 0.3 --tries 1 -s "$a" announce) || true
	expect_eq "$(field "$l" result)" TIMEOUT "PCP ANNOUNCE from wan to $a"
done
natpmp() {
	ip netns exec "${LAB}$1" "$LAB_PY" - "$2" <<-'PY'
		import socket, sys
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		s.settimeout(0.5)
		s.sendto(b"\0\0", (sys.argv[1], 5351))
		try:
		    print("answer %d bytes" % len(s.recv(100)))
		except socket.timeout:
		    print("none")
	PY
}
expect_eq "$(natpmp lan1 "$CPE_LAN4")" "answer 12 bytes" "NAT-PMP external address request from the LAN"
expect_eq "$(natpmp wan "$CPE_WAN4")" none "NAT-PMP from wan to $CPE_WAN4"
expect_eq "$(natpmp wan "$CPE_LAN4")" none "NAT-PMP from wan to $CPE_LAN4"
ssdp() {
	ip netns exec "${LAB}$1" "$LAB_PY" - "$2" <<-'PY'
		import socket, sys, time
		dst = sys.argv[1]
		v6 = ":" in dst
		s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
		host = "[%s]:1900" % dst if v6 else "%s:1900" % dst
		msg = ("M-SEARCH * HTTP/1.1\r\nHOST: %s\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n" % host).encode()
		if v6:
		    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("eth0"))
		    s.sendto(msg, (dst, 1900, 0, socket.if_nametoindex("eth0")))
		else:
		    import struct
		    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
		    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
		                 struct.pack("4s4si", bytes(4), bytes(4), socket.if_nametoindex("eth0")))
		    s.sendto(msg, (dst, 1900))
		s.settimeout(0.2)
		end = time.monotonic() + 1.5
		n = 0
		while time.monotonic() < end:
		    try:
		        s.recv(4096)
		        n += 1
		    except socket.timeout:
		        pass
		print(n)
	PY
}
n=$(ssdp lan1 239.255.255.250)
[ "$n" -gt 0 ] || fail "SSDP M-SEARCH from the LAN got no answer (the wan probes would prove nothing)"
ok "SSDP M-SEARCH from the LAN: $n answers"
for a in 239.255.255.250 ff02::c ff05::c "$CPE_WAN4" "$CPE_WAN6" "$CPE_LAN6"; do
	expect_eq "$(ssdp wan "$a")" 0 "SSDP M-SEARCH from wan to $a: answers"
done

step "PCP from a LAN-looking source, arriving on wan0"
lab_exec wan ip addr add 192.0.2.99/32 dev eth0
lab_exec wan ip addr add 2001:db8:1:1::99/128 dev eth0 nodad
for a in "$CPE_LAN4" "$CPE_WAN4"; do
	l=$(pcpc wan --timeout 0.3 --tries 2 --src 192.0.2.99 -s "$a" map --proto udp --port 9002) || true
	expect_eq "$(field "$l" result)" TIMEOUT "spoofed 192.0.2.99 -> $a"
done
for a in "$CPE_LAN6" "$CPE_WAN6"; do
	l=$(pcpc wan --timeout 0.3 --tries 2 --src 2001:db8:1:1::99 -s "$a" map --proto udp --port 9002) || true
	expect_eq "$(field "$l" result)" TIMEOUT "spoofed 2001:db8:1:1::99 -> $a"
done
n=$(igdctl_lab --json list | fault_json 'sum(1 for r in j["rules"] if r["port"] == 9002 or r["port"] == 9001)')
expect_eq "$n" 0 "rules created from outside"

step "oversized and garbage PCP"
for a in "$CPE_LAN4" "$CPE_LAN6"; do
	for size in 1104 1200 2000 9000; do
		l=$(fault_pcp_raw lan1 "$a" "$size")
		expect_eq "$(field "$l" result)" MALFORMED_REQUEST "$size-byte PCP request to $a"
		[ "$(field "$l" len)" -le 1100 ] || fail "answer of $(field "$l" len) bytes (> 1100)"
	done
done
ok "answers to oversized requests fit in 1100 bytes"
l=$(fault_pcp_raw lan1 "$CPE_LAN4" 60)
expect_eq "$(field "$l" result)" SUCCESS "a well-formed 60-byte MAP after them"
lab_exec lan1 "$LAB_PY" - "$CPE_LAN4" "$CPE_LAN6" <<'PY'
import os, random, socket, sys
random.seed(6887)
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(3000):
    n = random.choice([0, 1, 2, 3, 4, 11, 12, 23, 24, 25, 59, 60, 61, 79, 80, 1096, 1100, 1101, 1500, 4000])
    b = bytearray(os.urandom(n))
    if n and i % 2:
        b[0] = 2          # mostly version 2, so the parser gets past the first byte
    if n > 1 and i % 3 == 0:
        b[1] = random.choice([0, 1, 2, 3, 0x81])
    (s4 if i % 4 else s6).sendto(bytes(b), (sys.argv[1], 5351) if i % 4 else (sys.argv[2], 5351))
PY
ok "3,000 garbage datagrams sent"
_lab_alive "$pid" || fail "igdd died"
expect_result lan1 SUCCESS "PCP MAP after the garbage" map --proto udp --port 9003 --lifetime 600
expect_result lan1 SUCCESS "PCP MAP over IPv6 after the garbage" -s "$CPE_LAN6" map --proto udp --port 9004 --lifetime 600
igdctl_lab status >/dev/null || fail "control socket after the garbage"
msg=$(fault_consistent "after the garbage") || fail "$msg"
ok "$msg"
[ ${#DEFERRED[@]} -eq 0 ] || fail "${DEFERRED[*]}"
it_done
