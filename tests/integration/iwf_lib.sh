# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The interworking lab (sourced): igdd on a CPE behind pcpd on a carrier-grade NAT (RFC 6970).
#
#   ${LAB}wan  eth0 198.51.100.1/24 ── wan0 198.51.100.2/24  ${LAB}cgn (pcpd, pool 203.0.113.8/30)
#              route 203.0.113.8/30 via the cgn               sub0 100.64.0.1/24
#                                                               │
#   ${LAB}lan1 eth0 192.0.2.11 ── lan0 192.0.2.1  ${LAB}cpe (igdd)  wan0 100.64.0.2/24, default via 100.64.0.1
#
# The helpers of tests/lab/lab.sh (lab_igdd_start, igdctl_lab, lab_listen, lab_can_connect) work here:
# the namespaces keep their names; only the cgn is extra, and iwf_down removes it with the rest.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

# shellcheck source=pcpd_lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pcpd_lib.sh"
IWF_POOL=203.0.113.8/30
IWF_CGN_EXT=203.0.113.8
IWF_PPS=16
IWF_MIN=20000
# the cpe is subscriber 100.64.0.2: the block of index 2
IWF_LO=$((IWF_MIN + 2 * IWF_PPS))
IWF_HI=$((IWF_LO + IWF_PPS - 1))
IWF_CPE_WAN=100.64.0.2
IWF_GW=100.64.0.1
IWF_WAN=198.51.100.1
IWF_HTTP=49231
IWF_URL=http://192.0.2.1:$IWF_HTTP/igd/rootDesc.xml

iwf_down() {
	local p
	if [ -n "${LAB_DIR:-}" ] && [ -f "$LAB_DIR/pcpd.pid" ]; then
		kill -KILL "$(cat "$LAB_DIR/pcpd.pid")" 2>/dev/null || true
	fi
	if [ -e "/run/netns/${LAB}cgn" ]; then
		for p in $(ip netns pids "${LAB}cgn" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "${LAB}cgn" 2>/dev/null || true
	fi
	lab_down
}

iwf_trap() {
	# shellcheck disable=SC2154 # _iwf_rc is assigned inside the trap
	trap '_iwf_rc=$?; trap - EXIT INT TERM; iwf_down; exit $_iwf_rc' EXIT
	trap 'trap - EXIT INT TERM; iwf_down; exit 130' INT TERM
}

# iwf_up [slaac]: the lab; with "slaac" the cpe runs radvd and lan1 forms its IPv6 addresses itself
# (SLAAC with DAD, a temporary address beside the EUI-64 one), as in tests/lab/lab.sh
iwf_up() {
	local ns i slaac=${1:-}
	LAB_DIR=$(mktemp -d "/tmp/igdiwf.${LAB}.XXXXXX") || return 1
	LAB_DIR_OWNED=1
	export LAB_DIR LAB_DIR_OWNED
	: >"$LAB_DIR/pids"
	for ns in wan cgn cpe lan1; do
		ip netns add "${LAB}$ns" || return 1
		if [ "$ns" = lan1 ] && [ "$slaac" = slaac ]; then
			ip -n "${LAB}$ns" link set lo up || return 1
			continue   # a host: IPv6 as the kernel's defaults and _lab_host_setup make it
		fi
		ip netns exec "${LAB}$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
			net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 >/dev/null || return 1
		ip -n "${LAB}$ns" link set lo up || return 1
	done
	ip link add eth0 netns "${LAB}wan" type veth peer name wan0 netns "${LAB}cgn" || return 1
	ip link add sub0 netns "${LAB}cgn" type veth peer name wan0 netns "${LAB}cpe" || return 1
	ip link add eth0 netns "${LAB}lan1" address "$LAN1_MAC" type veth peer name lan1 netns "${LAB}cpe" || return 1
	if [ "$slaac" = slaac ]; then _lab_host_setup 1 || return 1; fi
	ip -n "${LAB}wan" -batch - <<-EOB || return 1
		link set eth0 up
		addr add $IWF_WAN/24 dev eth0
		route add $IWF_POOL via 198.51.100.2
	EOB
	ip -n "${LAB}cgn" -batch - <<-EOB || return 1
		link set wan0 up
		link set sub0 up
		addr add 198.51.100.2/24 dev wan0
		addr add $IWF_GW/24 dev sub0
	EOB
	ip netns exec "${LAB}cgn" sysctl -qw net.ipv4.ip_forward=1 >/dev/null || return 1
	ip -n "${LAB}cpe" -batch - <<-EOB || return 1
		link add lan0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0
		link set lan1 master lan0
		link set lan1 up
		link set lan0 up
		link set wan0 up
		addr add $IWF_CPE_WAN/24 dev wan0
		addr add $CPE_LAN4/24 dev lan0
		addr add $CPE_LAN6/64 dev lan0 nodad
		route add default via $IWF_GW
	EOB
	ip netns exec "${LAB}cpe" sysctl -qw net.ipv4.ip_forward=1 >/dev/null || return 1
	if [ "$slaac" = slaac ]; then
		ip netns exec "${LAB}cpe" sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null || return 1
		_lab_radvd_conf "$LAN_NET6"
		_lab_start_radvd
	fi
	ip -n "${LAB}lan1" -batch - <<-EOB || return 1
		link set eth0 up
		addr add $LAN1_V4/24 dev eth0
		route add default via $CPE_LAN4
	EOB
	# the CPE's own NAT44 (NAT444 with the CGN): the lab's table, not igdd's
	ip netns exec "${LAB}cpe" nft -f - <<-EOB || return 1
		table ip labnat {
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				oifname "wan0" masquerade
			}
		}
	EOB
	ip netns exec "${LAB}lan1" ping -4 -q -c1 -W1 "$CPE_LAN4" >/dev/null 2>&1 || return 1
	return 0
}

# iwf_pcpd_conf: the cgn's pcpd.conf (the cpe is subscriber 100.64.0.2 of the pool)
iwf_pcpd_conf() {
	mkdir -p "$LAB_DIR/pcpd-state"
	pcpd_conf lan_ifname=sub0 "state_dir=$LAB_DIR/pcpd-state" "control_socket=$LAB_DIR/pcpd.sock" \
		"cgn_pool=$IWF_POOL" "cgn_ports_per_subscriber=$IWF_PPS" "cgn_port_range=$IWF_MIN-20063" >"$LAB_DIR/pcpd.conf"
}

iwf_pcpd_start() {
	[ -f "$LAB_DIR/pcpd.conf" ] || iwf_pcpd_conf
	pcpd_start "${LAB}cgn" "$LAB_DIR"
}

# iwf_pcpd_kill9 [forget]: SIGKILL; with "forget" its store and kernel table go too (a real state loss)
iwf_pcpd_kill9() {
	pcpd_kill9 "$LAB_DIR"
	if [ "${1:-}" = forget ]; then
		rm -rf "$LAB_DIR/pcpd-state"
		mkdir -p "$LAB_DIR/pcpd-state"
		ip netns exec "${LAB}cgn" nft delete table inet pcpd 2>/dev/null || true
	fi
}

# iwf_cgn_has TEXT / iwf_cpe_has TEXT: pcpd's / igdd's nftables table mentions TEXT
iwf_cgn_has() { ip netns exec "${LAB}cgn" nft list table inet pcpd 2>/dev/null | grep -q "$1"; }
iwf_cpe_has() { ip netns exec "${LAB}cpe" nft list table inet igdd 2>/dev/null | grep -q "$1"; }

# iwf_igdd_start CONFIG...: lab_igdd_start (UPnP on), then waits until the log says the UPnP device is
# registered on IPv4. upnpc -u goes straight to the description URL, without the SSDP search that would
# wait for it: between libupnp's web server starting and the device's registration the description is
# served but a SOAP action gets no usable answer (miniupnpc -1). A client that searches first never sees
# that window (the advertisement follows the registration); a client with a remembered URL retries.
iwf_igdd_start() {
	IWF_UPNP_SEEN=$(grep -c "upnp: IGD:2 at http://192.0.2.1:" "$LAB_DIR/igdd.log" 2>/dev/null || true)
	lab_igdd_start "$@" || return 1
	wait_until 10 _iwf_upnp_registered || { echo "iwf_igdd_start: UPnP not registered within 10 s" >&2; return 1; }
}
_iwf_upnp_registered() {
	[ "$(grep -c "upnp: IGD:2 at http://192.0.2.1:" "$LAB_DIR/igdd.log")" -gt "${IWF_UPNP_SEEN:-0}" ]
}

# iwf_upnpc ARGS...: upnpc in lan1 against igdd's description URL (bounded)
iwf_upnpc() {
	timeout 30 ip netns exec "${LAB}lan1" upnpc -i -u "$IWF_URL" "$@" 2>&1 </dev/null || true
}

# iwf_pcpc ARGS...: tests/lab/pcpc.py from lan1 against igdd's PCP server
iwf_pcpc() {
	ip netns exec "${LAB}lan1" "$LAB_PY" "$LAB_TOOLS/pcpc.py" -s "$CPE_LAN4" "$@" </dev/null
}

