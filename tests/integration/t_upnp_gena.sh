#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# UPnP GENA: a LAN subscriber gets the initial event and a NOTIFY with SystemUpdateID and
# PortMappingNumberOfEntries on add and on lease expiry, and none for a pinhole; a SUBSCRIBE whose callback is off the LAN
# (CallStranger, CVE-2020-12695) is refused and nothing reaches the WAN host.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

upnp_up() {
	local i
	lab_igdd_start enable_upnp=yes min_lifetime=1 || return 1
	for ((i = 0; i < 100; i++)); do
		grep -q "upnp: IGD" "$LAB_DIR/igdd.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "no 'upnp: IGD' line in the log: the UPnP front end did not start" >&2
	return 1
}

# sink NS PORT FILE: background HTTP server in NS appending each NOTIFY body to FILE
sink() {
	ip netns exec "${LAB}$1" "$LAB_PY" - "$2" "$3" <<-'PY' >/dev/null 2>&1 &
		import sys, http.server
		port, path = int(sys.argv[1]), sys.argv[2]
		class H(http.server.BaseHTTPRequestHandler):
		    def do_NOTIFY(self):
		        n = int(self.headers.get("Content-Length", "0"))
		        body = self.rfile.read(n).decode(errors="replace") if n else ""
		        with open(path, "a") as f:
		            f.write("SEQ=%s %s\n" % (self.headers.get("SEQ"), body.replace("\n", " ")))
		        self.send_response(200); self.end_headers()
		    def log_message(self, *a): pass
		http.server.HTTPServer(("", port), H).serve_forever()
	PY
	echo $! >>"$LAB_DIR/pids"
	disown $! 2>/dev/null || true
}

# subscribe URL CALLBACK: prints the HTTP status line's code
subscribe() {
	ip netns exec "${LAB}lan1" timeout 10 "$LAB_PY" - "$1" "$2" <<-'PY'
		import sys, socket, urllib.parse
		u = urllib.parse.urlparse(sys.argv[1])
		s = socket.create_connection((u.hostname, u.port), timeout=5)
		s.sendall(("SUBSCRIBE %s HTTP/1.1\r\nHOST: %s:%d\r\nCALLBACK: <%s>\r\nNT: upnp:event\r\n"
		           "TIMEOUT: Second-300\r\n\r\n" % (u.path, u.hostname, u.port, sys.argv[2])).encode())
		print(s.recv(4096).decode(errors="replace").split("\r\n")[0].split(" ")[1])
	PY
}

upnp_up || fail "UPnP front end did not start"
step "UPnP up"
out=$(timeout 20 ip netns exec "${LAB}lan1" upnpc -i -s 2>&1 || true)
url=$(printf '%s\n' "$out" | sed -n 's/^ *desc: \(http[^ ]*\)$/\1/p' | head -n1)
[ -n "$url" ] || fail "no IGD discovered"
evt=${url%/igd/rootDesc.xml}/evt/IPConn

sink lan1 5001 "$LAB_DIR/lan1.events"
sink wan 5001 "$LAB_DIR/wan.events"
sleep 0.5

step "CallStranger: callback on the WAN"
code=$(subscribe "$evt" "http://$WAN_V4:5001/")
[ "$code" != 200 ] || fail "SUBSCRIBE with a WAN callback accepted"
ok "SUBSCRIBE with a WAN callback refused ($code)"

step "LAN subscriber"
code=$(subscribe "$evt" "http://$LAN1_V4:5001/")
expect_eq "$code" 200 "SUBSCRIBE from lan1 accepted"
has() { grep -q -- "$1" "$LAB_DIR/lan1.events" 2>/dev/null; }
wait_until 5 has "SEQ=0 .*SystemUpdateID" || fail "no initial event"
ok "initial event carries SystemUpdateID"
# a pinhole changes no evented variable (WANIPv6FirewallControl's are constant; SystemUpdateID and
# PortMappingNumberOfEntries count port mappings): no NOTIFY for it. The AddPortMapping below shows
# that the same subscriber hears a change that does concern it.
before=$(wc -l <"$LAB_DIR/lan1.events")
out=$(upc lan1 -6 -A "" 0 "$LAN1_EUI64" 8090 6 600)
expect_out "$out" "Pinhole ID = [0-9]+" "upnpc AddPinhole accepted"
sleep 1.5
expect_eq "$(wc -l <"$LAB_DIR/lan1.events")" "$before" "no NOTIFY after AddPinhole (no evented variable changed)"
timeout 20 ip netns exec "${LAB}lan1" upnpc -i -a "$LAN1_V4" 8080 8080 TCP 2 >/dev/null 2>&1 || true
wait_until 5 has "PortMappingNumberOfEntries>1<" || fail "no event after AddPortMapping"
ok "AddPortMapping is evented (PortMappingNumberOfEntries=1)"
wait_until 8 has "SEQ=[2-9][0-9]* .*PortMappingNumberOfEntries>0<" || fail "lease expiry not evented"
ok "lease expiry is evented (PortMappingNumberOfEntries=0)"
ids=$(grep -o 'SystemUpdateID>[0-9]*<' "$LAB_DIR/lan1.events" | tr -dc '0-9\n' | sort -un | wc -l)
[ "$ids" -ge 3 ] || fail "SystemUpdateID did not increase ($ids distinct values)"
ok "SystemUpdateID increases ($ids distinct values)"
[ ! -s "$LAB_DIR/wan.events" ] || fail "the WAN host received a NOTIFY"
ok "nothing was sent to the WAN host"
it_done
