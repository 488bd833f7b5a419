#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Quota and block are per device (issue 11, item 8), with hosts as real ones are (SLAAC from radvd, DAD
# on, nothing primed). lan2 is a stable-privacy host with a temporary address (its default source) and
# an IPv4 address; each request comes from one of them, by the client an app would use there: upnpc from
# the default source, a SOAP client bound to the stable address, our PCP client with --src, natpmpc.
#   1. quota per device: with max_rules_per_client=4, lan2 as a whole gets exactly 4 rules, whichever of
#      its addresses asks; the 5th is refused with each protocol's quota error (UPnP AddPinhole 701
#      PinholeSpaceExhausted, AddPortMapping 728 NoPortMapsAvailable, PCP USER_EX_QUOTA, NAT-PMP
#      NO_RESOURCES) from every address; lan1 is unaffected; deleting one rule frees one slot.
#   2. block per device: igdctl devices block <lan2's MAC> removes lan2's app-made rules at once (the WAN
#      no longer connects); then UPnP, PCP and NAT-PMP from any of lan2's addresses are refused (606 /
#      NOT_AUTHORIZED), also from addresses lan2 configures afterwards (IPv6 with DAD in its own /64, and
#      IPv4) that igdd never saw before; rules made by hand for lan2 still work; igdctl devices allow
#      restores it (and the new addresses count against the same device's quota). A restart of igdd
#      keeps both: the block holds for addresses lan2 configured while igdd was down (igdd asks the LAN
#      about them), and the rules made from several addresses still count against the one device.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=pcp_lib.sh
. "$(dirname "$0")/pcp_lib.sh"
# shellcheck source-path=SCRIPTDIR source=devices_lib.sh
. "$(dirname "$0")/devices_lib.sh"
it_setup
QUOTA=4
NONCE3=0123456789abcdef01234567
step "lan2 ($LAN2_MAC): temporary $LAN2_TMP (default source), stable $LAN2_STABLE, IPv4 $LAN2_V4"

for p in 9001 9002 9003 9004 9005 9006 9007 9008 9010 9011; do lab_listen lan2 tcp $p; done
lab_listen lan1 tcp 9101
lab_igdd_start enable_upnp=yes enable_pcp=yes max_rules_per_client=$QUOTA pcp_rate_limit=0 ||
	fail "igdd did not start"
dv_upnp_up || fail "the UPnP front end did not start"

# find_igd: the router's control URLs, as upnpc finds them by SSDP from lan2 (IPv6 and IPv4)
find_igd() {
	local out url6 url4
	out=$(dv_upc lan2 -6 -S)
	url6=$(printf '%s\n' "$out" | sed -n 's/^ *desc: \(http[^ ]*\)$/\1/p' | head -n1)
	[ -n "$url6" ] || { printf '%s\n' "$out" | tail -n 5; fail "upnpc -6 found no IGD"; }
	out=$(dv_upc lan2 -s)
	url4=$(printf '%s\n' "$out" | sed -n 's/^ *desc: \(http[^ ]*\)$/\1/p' | head -n1)
	[ -n "$url4" ] || { printf '%s\n' "$out" | tail -n 5; fail "upnpc found no IGD over IPv4"; }
	CTL6=${url6%/igd/rootDesc.xml}/ctl/IP6FCtl
	CTL4=${url4%/igd/rootDesc.xml}/ctl/IPConn
	step "IGD: $CTL6, $CTL4"
}
# restart_igdd: SIGTERM, start again with the same configuration, find the IGD again
restart_igdd() {
	lab_igdd_stop || fail "igdd did not stop"
	[ -z "${1:-}" ] || "$1"
	lab_igdd_start enable_upnp=yes enable_pcp=yes max_rules_per_client=$QUOTA pcp_rate_limit=0 ||
		fail "igdd did not start again"
	dv_upnp_up || fail "the UPnP front end did not start again"
	find_igd
}
find_igd

# soap_from NS SRC URL ACTION ARGS...: one SOAP action sent from address SRC (a client bound to it, as
# an app bound to that address is); ARGS are NAME=VALUE in order. Prints "ok NAME=VALUE..." or
# "error CODE" (the UPnP errorCode) or "fail WHY".
soap_from() {
	local ns=$1 src=$2 url=$3 act=$4
	shift 4
	timeout 15 ip netns exec "${LAB}$ns" "$LAB_PY" - "$src" "$url" "$act" "$@" </dev/null <<-'PY' 2>&1 || true
		import sys, re, http.client, urllib.parse
		src, url, act = sys.argv[1:4]
		u = urllib.parse.urlsplit(url)
		svc = ("WANIPv6FirewallControl:1" if u.path.endswith("IP6FCtl") else "WANIPConnection:2")
		ns = "urn:schemas-upnp-org:service:" + svc
		args = "".join("<%s>%s</%s>" % (k, v, k) for k, v in (a.split("=", 1) for a in sys.argv[4:]))
		env = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
		       's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
		       '<u:%s xmlns:u="%s">%s</u:%s></s:Body></s:Envelope>' % (act, ns, args, act))
		try:
		    c = http.client.HTTPConnection(u.hostname, u.port, timeout=8, source_address=(src, 0))
		    c.request("POST", u.path, env.encode(), {"Content-Type": 'text/xml; charset="utf-8"',
		              "SOAPAction": '"%s#%s"' % (ns, act)})
		    r = c.getresponse()
		    t = r.read().decode("utf-8", "replace")
		except Exception as e:
		    print("fail", type(e).__name__, e)
		    sys.exit(0)
		if r.status == 200:
		    print("ok", " ".join("%s=%s" % m for m in re.findall(r"<(New\w+|UniqueID)>([^<]*)<", t)))
		else:
		    m = re.search(r"<errorCode>(\d+)</errorCode>", t)
		    print("error", m.group(1) if m else "http%d" % r.status)
	PY
}
# add_pinhole_from NS SRC ADDR PORT: AddPinhole (TCP, 600 s) for ADDR:PORT sent from SRC
add_pinhole_from() {
	soap_from "$1" "$2" "$CTL6" AddPinhole RemoteHost= RemotePort=0 "InternalClient=$3" "InternalPort=$4" \
		Protocol=6 LeaseTime=600
}
# add_portmap_from NS SRC ADDR4 PORT: AddPortMapping (TCP, external = internal port, 600 s) sent from SRC
add_portmap_from() {
	soap_from "$1" "$2" "$CTL4" AddPortMapping NewRemoteHost= "NewExternalPort=$4" NewProtocol=TCP \
		"NewInternalPort=$4" "NewInternalClient=$3" NewEnabled=1 NewPortMappingDescription=quota \
		NewLeaseDuration=600
}
# natpmp NS ARGS...: natpmpc in NS to the router (bounded)
natpmp() {
	local ns=$1
	shift
	timeout 10 ip netns exec "${LAB}$ns" natpmpc -g "$CPE_LAN4" "$@" 2>&1 </dev/null || true
}
# dev_rules MAC: app-made rules whose requester igdd counts as device MAC; prints "N: id owner origin, ..."
dev_rules() {
	local devs
	devs=$(igdctl_lab --json devices) || return 1
	igdctl_lab --json list | "$LAB_PY" -c '
import json, sys
mac = sys.argv[1]
devs = json.loads(sys.argv[2])["devices"]
of = {a["address"]: d["mac"] for d in devs for a in d["addresses"]}
rs = [r for r in json.load(sys.stdin)["rules"] if r["origin"] in ("upnp", "pcp", "natpmp") and of.get(r["owner"]) == mac]
print("%d: %s" % (len(rs), ", ".join("%s %s %s" % (r["id"], r["owner"], r["origin"]) for r in rs)))' "$1" "$devs"
}
# expect_dev_rules MAC N MESSAGE: igdctl shows N app-made rules of the device
expect_dev_rules() {
	local got
	got=$(dev_rules "$1") || fail "igdctl list/devices failed"
	echo "  device $1 holds ${got}"
	expect_eq "${got%%:*}" "$2" "$3"
}

# ------------------------------------------------------------------ 1. quota per device
step "1. quota per device: max_rules_per_client=$QUOTA, lan2 asks from each of its addresses"
expect_no_connect wan tcp "$LAN2_TMP" 9001 "default deny before any rule"
out=$(dv_upc lan2 -6 -A "" 0 "$LAN2_TMP" 9001 6 600)
dv_expect_out "$out" "Pinhole ID = [0-9]+" "1/$QUOTA: upnpc -6 from the temporary address (default source) opens [tmp]:9001"
ph_tmp=$(dv_pinhole_id "$out")
out=$(add_pinhole_from lan2 "$LAN2_STABLE" "$LAN2_STABLE" 9002)
echo "  AddPinhole from $LAN2_STABLE: $out"
dv_expect_out "$out" "^ok UniqueID=[0-9]+" "2/$QUOTA: SOAP AddPinhole from the stable address opens [stable]:9002"
ph_st=$(printf '%s\n' "$out" | sed -n 's/.*UniqueID=\([0-9]*\).*/\1/p')
expect_result lan2 SUCCESS "3/$QUOTA: PCP MAP from the stable address (--src) opens [stable]:9003" \
	-s "$CPE_LAN6" --src "$LAN2_STABLE" --nonce "$NONCE3" map --proto tcp --port 9003 --lifetime 600
echo "  $PCP_LINE"
out=$(dv_upc lan2 -a "$LAN2_V4" 9004 9004 TCP 600)
dv_expect_out "$out" "is redirected to internal $LAN2_V4:9004" "4/$QUOTA: upnpc AddPortMapping over IPv4 maps 9004"
expect_connect wan tcp "$LAN2_TMP" 9001 "WAN reaches [lan2 tmp]:9001"
expect_connect wan tcp "$LAN2_STABLE" 9002 "WAN reaches [lan2 stable]:9002"
expect_connect wan tcp "$LAN2_STABLE" 9003 "WAN reaches [lan2 stable]:9003 (PCP)"
expect_connect wan tcp "$CPE_WAN4" 9004 "WAN reaches $CPE_WAN4:9004 -> lan2"
expect_dev_rules "$LAN2_MAC" $QUOTA "lan2 holds $QUOTA app-made rules, from 3 of its addresses"

step "the 5th, from each address and protocol, is refused"
out=$(dv_upc lan2 -6 -A "" 0 "$LAN2_TMP" 9005 6 600)
dv_expect_out "$out" "failed with code 701" "upnpc -6 AddPinhole from the temporary address: 701 PinholeSpaceExhausted"
out=$(add_pinhole_from lan2 "$LAN2_STABLE" "$LAN2_STABLE" 9005)
echo "  AddPinhole from $LAN2_STABLE: $out"
dv_expect_out "$out" "^error 701$" "SOAP AddPinhole from the stable address: 701"
out=$(add_pinhole_from lan2 "$LAN2_STABLE" "$LAN2_TMP" 9005)
dv_expect_out "$out" "^error 701$" "SOAP AddPinhole from the stable address for the temporary one: 701"
expect_result lan2 USER_EX_QUOTA "PCP MAP from the stable address: USER_EX_QUOTA" \
	-s "$CPE_LAN6" --src "$LAN2_STABLE" map --proto tcp --port 9005 --lifetime 600
expect_result lan2 USER_EX_QUOTA "PCP MAP from the temporary address (default source): USER_EX_QUOTA" \
	-s "$CPE_LAN6" map --proto tcp --port 9005 --lifetime 600
expect_result lan2 USER_EX_QUOTA "PCP MAP over IPv4: USER_EX_QUOTA" \
	-s "$CPE_LAN4" map --proto tcp --port 9005 --lifetime 600
out=$(dv_upc lan2 -a "$LAN2_V4" 9005 9005 TCP 600)
dv_expect_out "$out" "failed with code 728" "upnpc AddPortMapping over IPv4: 728 NoPortMapsAvailable"
out=$(add_portmap_from lan2 "$LAN2_V4" "$LAN2_V4" 9005)
dv_expect_out "$out" "^error 728$" "SOAP AddPortMapping from $LAN2_V4: 728"
out=$(natpmp lan2 -a 9005 9005 tcp 600)
dv_expect_out "$out" "[Oo]ut of resources|OUTOFRESOURCES" "NAT-PMP from $LAN2_V4: NO_RESOURCES"
expect_no_connect wan tcp "$LAN2_TMP" 9005 "nothing opened on [tmp]:9005"
expect_no_connect wan tcp "$LAN2_STABLE" 9005 "nothing opened on [stable]:9005"
expect_no_connect wan tcp "$CPE_WAN4" 9005 "nothing mapped on $CPE_WAN4:9005"
expect_dev_rules "$LAN2_MAC" $QUOTA "lan2 still holds exactly $QUOTA"

step "a full device still refreshes what it holds, from any of its addresses"
expect_result lan2 SUCCESS "PCP MAP repeated (same nonce) from the stable address refreshes [stable]:9003" \
	-s "$CPE_LAN6" --src "$LAN2_STABLE" --nonce "$NONCE3" map --proto tcp --port 9003 --lifetime 900
expect_eq "$(field "$PCP_LINE" lifetime)" 900 "the PCP refresh granted the new lifetime"
out=$(dv_upc lan2 -a "$LAN2_V4" 9004 9004 TCP 900)
dv_expect_out "$out" "is redirected to internal $LAN2_V4:9004" "upnpc AddPortMapping repeated for 9004 refreshes it"
out=$(dv_upc lan2 -6 -U "$ph_st" 1200)
dv_expect_out "$out" "UpdatePinhole: Pinhole ID = $ph_st with Lease Time: 1200" \
	"upnpc -6 UpdatePinhole from the temporary address refreshes rule $ph_st (made from the stable address)"
expect_dev_rules "$LAN2_MAC" $QUOTA "and lan2 holds $QUOTA, no more"

step "lan1 is unaffected"
out=$(dv_upc lan1 -6 -A "" 0 "$LAN1_TMP" 9101 6 600)
dv_expect_out "$out" "Pinhole ID = [0-9]+" "lan1's upnpc -6 AddPinhole still succeeds"
expect_connect wan tcp "$LAN1_TMP" 9101 "WAN reaches [lan1 tmp]:9101"
expect_result lan1 SUCCESS "lan1's PCP MAP still succeeds" -s "$CPE_LAN6" --src "$LAN1_EUI64" map --proto tcp \
	--port 9101 --lifetime 600
expect_dev_rules "$LAN1_MAC" 2 "lan1 holds its 2"

step "deleting one of lan2's rules frees one slot for the device"
out=$(dv_upc lan2 -6 -D "$ph_tmp")
dv_expect_out "$out" "UPNP_DeletePinhole\(\) returned : 0" "upnpc -6 DeletePinhole $ph_tmp (made from the temporary address)"
expect_no_connect wan tcp "$LAN2_TMP" 9001 "[tmp]:9001 closed"
expect_dev_rules "$LAN2_MAC" $((QUOTA - 1)) "lan2 holds $((QUOTA - 1))"
out=$(add_pinhole_from lan2 "$LAN2_STABLE" "$LAN2_STABLE" 9005)
echo "  AddPinhole from $LAN2_STABLE: $out"
dv_expect_out "$out" "^ok UniqueID=[0-9]+" "the freed slot is used from another address (SOAP from the stable one)"
expect_connect wan tcp "$LAN2_STABLE" 9005 "WAN reaches [lan2 stable]:9005"
out=$(dv_upc lan2 -6 -A "" 0 "$LAN2_TMP" 9006 6 600)
dv_expect_out "$out" "failed with code 701" "and the device is full again: upnpc -6 from the temporary address gets 701"
expect_dev_rules "$LAN2_MAC" $QUOTA "lan2 holds $QUOTA again"

# ------------------------------------------------------------------ 2. block per device
step "2. igdctl devices block $LAN2_MAC"
expect_connect wan tcp "$LAN2_STABLE" 9002 "before the block: [stable]:9002 (UPnP) reachable"
expect_connect wan tcp "$CPE_WAN4" 9004 "before the block: $CPE_WAN4:9004 reachable"
t0=$(date +%s%N)
out=$(igdctl_lab devices block "$LAN2_MAC") || fail "igdctl devices block $LAN2_MAC"
echo "  igdctl devices block took $(dv_ms_since "$t0") ms: $out"
expect_eq "$out" "apps on $LAN2_MAC may not open ports now; $QUOTA app-made rules removed" "igdctl devices block"
expect_no_connect wan tcp "$LAN2_STABLE" 9002 "[stable]:9002 (UPnP, from the stable address) closed at once"
expect_no_connect wan tcp "$LAN2_STABLE" 9003 "[stable]:9003 (PCP) closed at once"
expect_no_connect wan tcp "$CPE_WAN4" 9004 "$CPE_WAN4:9004 (IPv4 mapping) closed at once"
expect_no_connect wan tcp "$LAN2_STABLE" 9005 "[stable]:9005 closed at once"
expect_dev_rules "$LAN2_MAC" 0 "lan2 holds no app-made rule"
expect_connect wan tcp "$LAN1_TMP" 9101 "lan1's pinhole still works"
igdctl_lab devices | grep "^$LAN2_MAC" | grep -q " blocked " || fail "igdctl devices does not show lan2 blocked"
ok "igdctl devices shows lan2 blocked"

step "requests from each of lan2's known addresses are refused"
out=$(dv_upc lan2 -6 -A "" 0 "$LAN2_TMP" 9006 6 600)
dv_expect_out "$out" "failed with code 606" "upnpc -6 AddPinhole from the temporary address: 606"
out=$(dv_upc lan2 -6 -U "$ph_st" 1200)
dv_expect_out "$out" "code 606|code 704" "upnpc -6 UpdatePinhole of a removed rule: refused ($(printf '%s\n' "$out" | grep -Eo 'code [0-9]+' | head -n1))"
out=$(add_pinhole_from lan2 "$LAN2_STABLE" "$LAN2_STABLE" 9006)
dv_expect_out "$out" "^error 606$" "SOAP AddPinhole from the stable address: 606"
expect_result lan2 NOT_AUTHORIZED "PCP MAP from the stable address: NOT_AUTHORIZED" \
	-s "$CPE_LAN6" --src "$LAN2_STABLE" map --proto tcp --port 9006 --lifetime 600
expect_result lan2 NOT_AUTHORIZED "PCP MAP from the temporary address: NOT_AUTHORIZED" \
	-s "$CPE_LAN6" map --proto tcp --port 9006 --lifetime 600
expect_result lan2 NOT_AUTHORIZED "PCP MAP over IPv4: NOT_AUTHORIZED" \
	-s "$CPE_LAN4" map --proto tcp --port 9006 --lifetime 600
out=$(dv_upc lan2 -a "$LAN2_V4" 9006 9006 TCP 600)
dv_expect_out "$out" "failed with code 606" "upnpc AddPortMapping over IPv4: 606"
out=$(natpmp lan2 -a 9006 9006 tcp 600)
dv_expect_out "$out" "[Nn]ot authorized|NOTAUTHORIZED" "NAT-PMP from $LAN2_V4: NOT_AUTHORIZED"

step "lan2 configures addresses igdd has never seen, and asks from them"
# a random interface identifier in lan2's own /64 (not EUI-64, not lan2's stable one), added with DAD on
iid() { printf '%x:%x:%x:%x' $((0x2000 + RANDOM % 0xd000)) $((RANDOM % 0xfe00)) $((RANDOM)) $((RANDOM + 1)); }
NEW6A=$LAN_NET6:1:$(iid)
NEW6B=$LAN_NET6:1:$(iid)
NEW4=192.0.2.22
lab_exec lan2 ip -6 addr add "$NEW6A/64" dev eth0 || fail "ip -6 addr add $NEW6A"
lab_exec lan2 ip -6 addr add "$NEW6B/64" dev eth0 || fail "ip -6 addr add $NEW6B"
lab_exec lan2 ip -4 addr add "$NEW4/24" dev eth0 || fail "ip -4 addr add $NEW4"
settled() { _lab_settled lan2 eth0; }
wait_until 5 settled || fail "lan2's new addresses still tentative after 5 s"
step "lan2 holds $NEW6A, $NEW6B and $NEW4 (DAD done in $WAITED s); igdd knows them as: $(dv_mac_of "$NEW6A"), $(dv_mac_of "$NEW6B"), $(dv_mac_of "$NEW4")"
t0=$(date +%s%N)
out=$(add_pinhole_from lan2 "$NEW6A" "$NEW6A" 9007)
echo "  AddPinhole from $NEW6A: $out ($(dv_ms_since "$t0") ms)"
dv_expect_out "$out" "^error 606$" "SOAP AddPinhole from a new address of lan2: 606"
t0=$(date +%s%N)
expect_result lan2 NOT_AUTHORIZED "PCP MAP from another new address of lan2: NOT_AUTHORIZED ($(dv_ms_since "$t0") ms)" \
	-s "$CPE_LAN6" --src "$NEW6B" map --proto tcp --port 9007 --lifetime 600
out=$(add_portmap_from lan2 "$NEW4" "$NEW4" 9007)
echo "  AddPortMapping from $NEW4: $out"
dv_expect_out "$out" "^error 606$" "SOAP AddPortMapping from a new IPv4 address of lan2: 606"
expect_no_connect wan tcp "$NEW6A" 9007 "nothing opened on [$NEW6A]:9007"
expect_no_connect wan tcp "$NEW6B" 9007 "nothing opened on [$NEW6B]:9007"
expect_no_connect wan tcp "$CPE_WAN4" 9007 "nothing mapped on $CPE_WAN4:9007"
expect_eq "$(dv_mac_of "$NEW6A")" "$LAN2_MAC" "igdd now knows $NEW6A as lan2's"
expect_eq "$(dv_mac_of "$NEW4")" "$LAN2_MAC" "igdd now knows $NEW4 as lan2's"
expect_dev_rules "$LAN2_MAC" 0 "lan2 still holds no app-made rule"

step "rules made by hand for blocked lan2 still work"
id6=$(igdctl_add pinhole "$LAN2_STABLE" tcp 9008 desc=by-hand)
expect_connect wan tcp "$LAN2_STABLE" 9008 "igdctl add pinhole [lan2 stable]:9008 (id $id6) works"
id4=$(igdctl_add portmap 9008 "$LAN2_V4" 9008 tcp desc=by-hand)
expect_connect wan tcp "$CPE_WAN4" 9008 "igdctl add portmap $CPE_WAN4:9008 -> lan2 (id $id4) works"

step "the router restarts while lan2 is blocked; lan2 configures addresses meanwhile (igdd sees no DAD of them)"
NEW6C=$LAN_NET6:1:$(iid)
NEW6D=$LAN_NET6:1:$(iid)
configure_cd() {
	lab_exec lan2 ip -6 addr add "$NEW6C/64" dev eth0 || fail "ip -6 addr add $NEW6C"
	lab_exec lan2 ip -6 addr add "$NEW6D/64" dev eth0 || fail "ip -6 addr add $NEW6D"
	wait_until 5 settled || fail "lan2's new addresses still tentative after 5 s"
}
restart_igdd configure_cd
igdctl_lab devices | grep "^$LAN2_MAC" | grep -q " blocked " || fail "after the restart lan2 is not shown blocked"
ok "after the restart igdctl devices still shows lan2 blocked"
expect_eq "$(dv_mac_of "$NEW6C") $(dv_mac_of "$NEW6D")" "none none" "igdd has not seen $NEW6C nor $NEW6D"
t0=$(date +%s%N)
out=$(add_pinhole_from lan2 "$NEW6C" "$NEW6C" 9007)
echo "  AddPinhole from $NEW6C: $out ($(dv_ms_since "$t0") ms)"
dv_expect_out "$out" "^error 606$" "SOAP AddPinhole from the unseen address $NEW6C: 606"
t0=$(date +%s%N)
expect_result lan2 NOT_AUTHORIZED "PCP MAP from the unseen address $NEW6D: NOT_AUTHORIZED ($(dv_ms_since "$t0") ms)" \
	-s "$CPE_LAN6" --src "$NEW6D" map --proto tcp --port 9007 --lifetime 600
expect_eq "$(dv_mac_of "$NEW6C") $(dv_mac_of "$NEW6D")" "$LAN2_MAC $LAN2_MAC" "igdd asked, and knows both as lan2's now"
expect_no_connect wan tcp "$NEW6C" 9007 "nothing opened on [$NEW6C]:9007"
expect_no_connect wan tcp "$NEW6D" 9007 "nothing opened on [$NEW6D]:9007"
expect_connect wan tcp "$LAN2_STABLE" 9008 "the pinhole by hand still works after the restart"
expect_connect wan tcp "$CPE_WAN4" 9008 "the mapping by hand still works after the restart"

step "igdctl devices allow $LAN2_MAC"
out=$(igdctl_lab devices allow "$LAN2_MAC") || fail "igdctl devices allow $LAN2_MAC"
expect_eq "$out" "apps on $LAN2_MAC may open ports" "igdctl devices allow"
out=$(dv_upc lan2 -6 -A "" 0 "$LAN2_TMP" 9010 6 600)
dv_expect_out "$out" "Pinhole ID = [0-9]+" "upnpc -6 AddPinhole from the temporary address works again"
expect_connect wan tcp "$LAN2_TMP" 9010 "WAN reaches [lan2 tmp]:9010"
expect_result lan2 SUCCESS "PCP MAP from the new address $NEW6B works" \
	-s "$CPE_LAN6" --src "$NEW6B" map --proto tcp --port 9010 --lifetime 600
expect_connect wan tcp "$NEW6B" 9010 "WAN reaches [$NEW6B]:9010"
out=$(add_portmap_from lan2 "$NEW4" "$NEW4" 9010)
dv_expect_out "$out" "^ok" "SOAP AddPortMapping from the new IPv4 address works"
out=$(natpmp lan2 -a 9011 9011 tcp 600)
dv_expect_out "$out" "[Mm]apped public port 9011" "NAT-PMP from $LAN2_V4 works"
expect_dev_rules "$LAN2_MAC" $QUOTA "the new addresses count against lan2's quota: $QUOTA"
out=$(add_pinhole_from lan2 "$NEW6A" "$NEW6A" 9011)
dv_expect_out "$out" "^error 701$" "the 5th, from the new address $NEW6A: 701"
expect_connect wan tcp "$LAN2_STABLE" 9008 "the rule by hand is untouched"

step "the quota survives a restart (rules keep the device they count against)"
restart_igdd
expect_dev_rules "$LAN2_MAC" $QUOTA "after the restart lan2 holds $QUOTA"
expect_result lan2 USER_EX_QUOTA "PCP MAP from $NEW6C: USER_EX_QUOTA" \
	-s "$CPE_LAN6" --src "$NEW6C" map --proto tcp --port 9011 --lifetime 600
out=$(dv_upc lan2 -6 -A "" 0 "$LAN2_TMP" 9011 6 600)
dv_expect_out "$out" "failed with code 701" "upnpc -6 AddPinhole from the temporary address: 701"
expect_connect wan tcp "$NEW6B" 9010 "lan2's PCP pinhole survived the restart"
it_done
