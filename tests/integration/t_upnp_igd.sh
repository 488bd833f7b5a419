#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# UPnP IGD:2 with real clients (miniupnpc's upnpc) from lan1/lan2: discovery over IPv4 and IPv6,
# IPv4 port mappings and IPv6 pinholes with real wan -> lan connections, authorisation by device,
# error codes for refused targets and bad arguments, the CVE-2020-13848 SUBSCRIBE, and a household
# blocking apps on lan1 (igdctl devices block): its UPnP and PCP rules go, upnpc gets 606, PCP and
# NAT-PMP get NOT_AUTHORIZED, lan2 and rules by hand still work, allowing again lets upnpc work; and a
# new WAN address (another DHCP lease) reaches UPnP and NAT-PMP clients, PCP restarting its epoch.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
it_setup

upnp_up() {
	local i
	lab_igdd_start enable_upnp=yes enable_pcp=yes || return 1
	for ((i = 0; i < 100; i++)); do
		grep -q "upnp: IGD" "$LAB_DIR/igdd.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "no 'upnp: IGD' line in the log: the UPnP front end did not start" >&2
	return 1
}


lab_listen lan1 tcp 8080
lab_listen lan1 tcp 8090
lab_listen lan1 udp 8081
lab_listen lan2 tcp 8080
upnp_up || fail "UPnP front end did not start"
step "UPnP up"

step "discovery and status over IPv4"
out=$(upc lan1 -s)
expect_out "$out" "desc: http://$CPE_LAN4:[0-9]+/igd/rootDesc.xml" "IPv4 discovery finds the IGD"
expect_out "$out" "Status : Connected" "GetStatusInfo says Connected behind a non-public WAN address"
expect_out "$out" "ExternalIPAddress = $CPE_WAN4" "GetExternalIPAddress"
url4=$(printf '%s\n' "$out" | sed -n 's/^ *desc: \(http[^ ]*\)$/\1/p' | head -n1)
ctl4=${url4%/igd/rootDesc.xml}/ctl/IPConn

step "nothing answers on the WAN side"
out=$(ip netns exec "${LAB}wan" timeout 5 "$LAB_PY" - "$CPE_WAN4" <<-'PY' 2>&1 || true
	import socket, sys
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
	s.sendto(b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
	         b'ST: ssdp:all\r\n\r\n', (sys.argv[1], 1900))
	try:
	    print("answer", s.recvfrom(2048)[0][:40])
	except socket.timeout:
	    print("silence")
PY
)
expect_out "$out" "^silence$" "a unicast M-SEARCH from the WAN gets no answer"

step "IPv4 port mapping"
expect_no_connect wan tcp "$CPE_WAN4" 8080 "no mapping yet"
out=$(upc lan1 -a "$LAN1_V4" 8080 8080 TCP 600)
expect_out "$out" "is redirected to internal $LAN1_V4:8080" "AddPortMapping"
expect_connect wan tcp "$CPE_WAN4" 8080 "mapping forwards wan -> lan1"
out=$(upc lan1 -l)
expect_out "$out" "TCP +8080->$LAN1_V4:8080" "GetGenericPortMappingEntry lists it"
out=$(upc lan1 -L)
expect_out "$out" "8080.*$LAN1_V4" "GetListOfPortMappings lists it"
out=$(upc lan2 -a "$LAN2_V4" 8080 8080 TCP 600)
expect_out "$out" "718|ConflictInMappingEntry" "lan2 cannot take lan1's external port (718)"
out=$(upc lan2 -n "$LAN2_V4" 8080 8080 TCP 600)
expect_out "$out" "is redirected to internal $LAN2_V4:8080" "AddAnyPortMapping gives lan2 another port"
if printf '%s\n' "$out" | grep -q "external $CPE_WAN4:8080 TCP"; then fail "AddAnyPortMapping returned the taken port"; fi
ok "AddAnyPortMapping returned a port other than 8080"
out=$(upc lan1 -a "$LAN2_V4" 8080 8085 TCP 600)
expect_out "$out" "606|not authorized" "lan1 cannot map for lan2 (606)"
out=$(upc lan2 -d 8080 TCP)
expect_out "$out" "606|not authorized" "lan2 cannot delete lan1's mapping (606)"
out=$(upc lan1 -d 8080 TCP)
expect_out "$out" "UPNP_DeletePortMapping\(\) returned : 0" "DeletePortMapping"
expect_no_connect wan tcp "$CPE_WAN4" 8080 "deleted mapping no longer forwards"
upc lan1 -a "$LAN1_V4" 8090 8090 TCP 600 >/dev/null
out=$(upc lan1 -N 8000 8100 TCP)
expect_out "$out" "UPNP_DeletePortMappingRange\(\) returned : 0" "DeletePortMappingRange"
expect_no_connect wan tcp "$CPE_WAN4" 8090 "range delete closed 8090"

step "python3-miniupnpc from lan2"
out=$(ip netns exec "${LAB}lan2" timeout 30 "$LAB_PY" - "$LAN2_V4" <<-'PY' 2>&1 || true
	import sys, miniupnpc
	me = sys.argv[1]
	u = miniupnpc.UPnP(); u.discoverdelay = 1000
	print("devices", u.discover()); u.selectigd()
	print("status", u.statusinfo()); print("ext", u.externalipaddress())
	print("add", u.addportmapping(9100, "TCP", me, 9100, "py", ""))
	print("specific", u.getspecificportmapping(9100, "TCP"))
	print("any", u.addanyportmapping(9100, "TCP", me, 9101, "py2", ""))
	try:
	    u.addportmapping(9102, "TCP", "192.0.2.11", 9102, "other", "")
	except Exception as e:
	    print("foreign", e)
	print("range", u.deleteportmappingrange(9100, 9200, "TCP", False))
	print("after", u.getspecificportmapping(9100, "TCP"))
PY
)
expect_out "$out" "status \('Connected'" "miniupnpc statusinfo: Connected"
expect_out "$out" "ext $CPE_WAN4" "miniupnpc externalipaddress"
expect_out "$out" "add True" "miniupnpc addportmapping"
expect_out "$out" "specific \(9100, '$LAN2_V4'|specific \('$LAN2_V4', 9100" "miniupnpc getspecificportmapping"
# the same client's own (RemoteHost, ExternalPort, Protocol): overwritten in place (IGD:2 §2.3)
expect_out "$out" "^any 9100$" "miniupnpc addanyportmapping on its own mapping overwrites it"
expect_out "$out" "foreign .*(606|[Nn]ot authorized)" "miniupnpc: a mapping for another host is refused (606)"
expect_out "$out" "after None" "miniupnpc deleteportmappingrange removed them"

step "IPv6 discovery and pinholes (lan1 asks from its temporary address)"
out=$(upc lan1 -6 -S)
expect_out "$out" "desc: http://\[2001:db8:1:1::1\]:[0-9]+/igd/rootDesc.xml" "IPv6 discovery (plain upnpc -6)"
expect_out "$out" "Firewall Enabled: Yes" "GetFirewallStatus"
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "default deny before the pinhole"
out=$(upc lan1 -6 -A "" 0 "$LAN1_EUI64" 8080 6 600)
expect_out "$out" "Pinhole ID = [0-9]+" "AddPinhole for lan1's EUI-64 address, asked from another of its addresses"
ph=$(printf '%s\n' "$out" | sed -n 's/.*Pinhole ID = \([0-9]*\).*/\1/p' | head -n1)
expect_connect wan tcp "$LAN1_EUI64" 8080 "pinhole opens lan1"
out=$(upc lan1 -6 -U "$ph" 1200)
expect_out "$out" "UpdatePinhole: Pinhole ID = $ph with Lease Time: 1200" "UpdatePinhole"
out=$(upc lan2 -6 -D "$ph")
expect_out "$out" "returned : 606" "lan2 cannot delete lan1's pinhole (606)"
out=$(upc lan1 -6 -K "$ph")
expect_out "$out" "PinholePackets = [1-9]" "GetPinholePackets counts the connection"
out=$(upc lan1 -6 -C "$ph")
expect_out "$out" "IsWorking = Yes" "CheckPinholeWorking"
out=$(upc lan1 -6 -D "$ph")
expect_out "$out" "UPNP_DeletePinhole\(\) returned : 0" "DeletePinhole"
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "deleted pinhole is closed"
out=$(upc lan1 -6 -A "" 0 "$LAN2_STABLE" 8080 6 600)
expect_out "$out" "606|not authorized" "lan1 cannot open a pinhole for lan2 (606)"
out=$(upc lan1 -6 -A "" 0 "$LAN1_LL" 8080 6 600)
expect_out "$out" "606|not authorized" "pinhole to a link-local address refused (606)"
out=$(upc lan1 -6 -A "" 0 ff02::1 8080 6 600)
expect_out "$out" "606|not authorized" "pinhole to a multicast address refused (606)"
out=$(upc lan1 -6 -A "" 0 "$CPE_LAN6" 8080 6 600)
expect_out "$out" "606|not authorized" "pinhole to the router itself refused (606)"
out=$(upc lan1 -6 -A "" 0 "$LAN1_EUI64" 0 6 600)
expect_out "$out" "706|InternalPortWildcard" "InternalPort 0 refused (706)"
out=$(upc lan1 -6 -G "" 0 "$LAN1_EUI64" 8080 6)
expect_out "$out" "Timeout = [0-9]+" "GetOutboundPinholeTimeout"

step "raw SOAP: wrong argument types, malformed SUBSCRIBE"
soap() {  # soap ACTION BODY [VERSION=2]: prints the HTTP status and the errorCode (or the body)
	ip netns exec "${LAB}lan1" timeout 10 "$LAB_PY" - "$ctl4" "$1" "$2" "${3:-2}" <<-'PY'
		import sys, urllib.request, urllib.error, re
		url, act, body, ver = sys.argv[1:5]
		ns = "urn:schemas-upnp-org:service:WANIPConnection:" + ver
		env = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
		       's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
		       '<u:%s xmlns:u="%s">%s</u:%s></s:Body></s:Envelope>' % (act, ns, body, act))
		req = urllib.request.Request(url, env.encode(), {"Content-Type": 'text/xml; charset="utf-8"',
		                             "SOAPAction": '"%s#%s"' % (ns, act)})
		try:
		    r = urllib.request.urlopen(req, timeout=5); print(r.status, "ok"); print(r.read().decode())
		except urllib.error.HTTPError as e:
		    t = e.read().decode(); m = re.search(r"<errorCode>(\d+)</errorCode>", t)
		    print(e.code, m.group(1) if m else "nocode")
	PY
}
pm='<NewRemoteHost></NewRemoteHost><NewExternalPort>%s</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>8080</NewInternalPort><NewInternalClient>%s</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription></NewPortMappingDescription><NewLeaseDuration>60</NewLeaseDuration>'
# shellcheck disable=SC2059
out=$(soap AddPortMapping "$(printf "$pm" abc "$LAN1_V4")")
expect_out "$out" "^500 402" "NewExternalPort=abc -> 402"
# shellcheck disable=SC2059
out=$(soap AddPortMapping "$(printf "$pm" 8086 "")")
expect_out "$out" "^500 715" "empty NewInternalClient -> 715"
out=$(soap AddPortMapping '<NewRemoteHost></NewRemoteHost>')
expect_out "$out" "^500 402" "missing arguments -> 402"
# shellcheck disable=SC2059
out=$(soap AddPortMapping "$(printf "$pm" 8087 "$LAN2_V4")" 1)
expect_out "$out" "^500 718" "IGD:1 namespace: a foreign InternalClient gets v1's 718"
out=$(soap AddAnyPortMapping "$(printf "$pm" 8087 "$LAN1_V4")" 1)
expect_out "$out" "^500 401" "IGD:1 namespace has no AddAnyPortMapping (401)"
out=$(soap GetExternalIPAddress '' 1)
expect_out "$out" 'xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"' "the answer echoes the CP's namespace version"
fetch() {  # fetch URL [USER-AGENT]
	ip netns exec "${LAB}lan1" timeout 10 "$LAB_PY" -c 'import sys, urllib.request as u
h = {"User-Agent": sys.argv[2]} if len(sys.argv) > 2 else {}
print(u.urlopen(u.Request(sys.argv[1], headers=h), timeout=5).read().decode())' "$@"
}
out=$(fetch "$url4")
expect_out "$out" "device:InternetGatewayDevice:2.*WANIPv6FirewallControl" "default clients get the IGD:2 description"
out=$(fetch "$url4" "Microsoft-Windows/10.0 UPnP/1.0")
expect_out "$out" "device:InternetGatewayDevice:1" "a Microsoft User-Agent gets the IGD:1 description"
if printf '%s\n' "$out" | grep -q "WANIPv6FirewallControl"; then fail "IGD:1 description lists the pinhole service"; fi
ok "the IGD:1 description has no pinhole service"
out=$(soap GetExternalIPAddress '')
expect_out "$out" "<NewExternalIPAddress>$CPE_WAN4</NewExternalIPAddress>" "GetExternalIPAddress over raw SOAP"
hp=${url4#http://}
hp=${hp%%/*}
ip netns exec "${LAB}lan1" timeout 5 "$LAB_PY" - "${hp%:*}" "${hp#*:}" <<-'PY' || true
	import socket, sys
	s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
	s.sendall(b"SUBSCRIBE http://%s:%s HTTP/1.1\r\nSID: uuid:1\r\n\r\n" % (sys.argv[1].encode(), sys.argv[2].encode()))
	try: s.recv(1024)
	except Exception: pass
PY
sleep 0.3
_lab_alive "$(lab_igdd_pid)" || fail "daemon died after the CVE-2020-13848 SUBSCRIBE"
out=$(upc lan1 -s)
expect_out "$out" "Status : Connected" "still answering after the malformed SUBSCRIBE"

step "apps on lan1 blocked by the household, then allowed again"
out=$(upc lan1 -a "$LAN1_V4" 8080 8080 TCP 600)
expect_out "$out" "is redirected to internal $LAN1_V4:8080" "before the block: lan1's app maps 8080"
out=$(upc lan1 -6 -A "" 0 "$LAN1_EUI64" 8080 6 600)
expect_out "$out" "Pinhole ID = [0-9]+" "before the block: lan1's app opens a pinhole"
expect_result lan1 SUCCESS "before the block: lan1's PCP MAP" -s "$CPE_LAN6" --src "$LAN1_EUI64" map --port 8090 \
	--lifetime 600
expect_connect wan tcp "$CPE_WAN4" 8080 "lan1's mapping forwards"
out=$(igdctl_lab devices block "$LAN1_MAC") || fail "igdctl devices block $LAN1_MAC"
expect_eq "$out" "apps on $LAN1_MAC may not open ports now; 3 app-made rules removed" "igdctl devices block"
expect_no_connect wan tcp "$CPE_WAN4" 8080 "lan1's app mapping is gone at once"
expect_no_connect wan tcp "$LAN1_EUI64" 8080 "lan1's app pinhole is gone at once"
igdctl_lab devices | grep "^$LAN1_MAC" | grep -q " blocked " || fail "igdctl devices does not show lan1 blocked"
ok "igdctl devices shows lan1 blocked"
out=$(upc lan1 -a "$LAN1_V4" 8080 8080 TCP 600)
expect_out "$out" "606|not authorized" "AddPortMapping from blocked lan1: 606"
out=$(upc lan1 -6 -A "" 0 "$LAN1_EUI64" 8080 6 600)
expect_out "$out" "failed with code 606" "AddPinhole from blocked lan1: 606"
expect_result lan1 NOT_AUTHORIZED "PCP MAP from blocked lan1" -s "$CPE_LAN6" --src "$LAN1_EUI64" map --port 8090
out=$(ip netns exec "${LAB}lan1" timeout 10 natpmpc -g "$CPE_LAN4" -a 6060 6060 tcp 600 2>&1 </dev/null) || true
expect_out "$out" "not authorized" "NAT-PMP from blocked lan1: NOT_AUTHORIZED"
out=$(upc lan2 -a "$LAN2_V4" 8080 8088 TCP 600)
expect_out "$out" "is redirected to internal $LAN2_V4:8080" "lan2's app still maps"
expect_connect wan tcp "$CPE_WAN4" 8088 "lan2's mapping forwards"
id=$(igdctl_add portmap 8080 "$LAN1_V4" 8080 tcp desc=by-hand)
expect_connect wan tcp "$CPE_WAN4" 8080 "a rule by hand for blocked lan1 (igdctl, id $id) works"
igdctl_lab delete "$id" || fail "delete $id"
out=$(igdctl_lab devices allow "$LAN1_MAC") || fail "igdctl devices allow $LAN1_MAC"
expect_eq "$out" "apps on $LAN1_MAC may open ports" "igdctl devices allow"
out=$(upc lan1 -a "$LAN1_V4" 8080 8080 TCP 600)
expect_out "$out" "is redirected to internal $LAN1_V4:8080" "allowed again: lan1's app maps 8080"
expect_connect wan tcp "$CPE_WAN4" 8080 "and it forwards"
upc lan1 -d 8080 TCP >/dev/null
upc lan2 -d 8088 TCP >/dev/null

# The front ends read the WAN's facts from rtnetlink's events, not from a look of their own per request:
# a new lease from the ISP must reach UPnP and NAT-PMP clients all the same.
step "the WAN address changes (the ISP's DHCP server hands out another lease)"
NEW_WAN4=203.0.113.5
lab_exec cpe ip addr del "$CPE_WAN4/24" dev wan0
lab_exec cpe ip addr add "$NEW_WAN4/24" dev wan0
wan_is() { upc lan1 -s | grep -q "ExternalIPAddress = $1"; }
wait_until 10 wan_is "$NEW_WAN4" || fail "GetExternalIPAddress still says: $(upc lan1 -s | grep ExternalIPAddress)"
ok "GetExternalIPAddress: $NEW_WAN4 (within ${WAITED} s, upnpc's discovery included)"
natpmp_is() { ip netns exec "${LAB}lan1" timeout 5 natpmpc -g "$CPE_LAN4" 2>&1 </dev/null | grep -q "Public IP address : $1"; }
wait_until 10 natpmp_is "$NEW_WAN4" || fail "NAT-PMP does not tell $NEW_WAN4"
ok "NAT-PMP's public address: $NEW_WAN4"
grep -q "pcp: external address now $NEW_WAN4: epoch restarts" "$LAB_DIR/igdd.log" || fail "no epoch restart in the log"
ok "PCP's epoch restarted for the new address"

it_done
