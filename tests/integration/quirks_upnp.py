# SPDX-License-Identifier: GPL-2.0-or-later
"""What UPnP clients outside Debian send, byte for byte where it matters (t_quirks_upnp.sh).

  quirks_upnp.py probe GW WAIT_S                    Tailscale's probe: NAT-PMP public address, PCP ANNOUNCE,
                                                    ssdp:all unicast to GW and multicast, IGD:1 multicast,
                                                    all from one socket within a moment; prints what answered
  quirks_upnp.py msearch6 GROUP ST WAIT_S            Syncthing's IPv6 search on GROUP ([ff05::c]); prints the
                                                    answers (source, ST, LOCATION)
  quirks_upnp.py soap URL NS ACTION BODY [UA [SRC]] one SOAP POST (User-Agent UA, from source address SRC);
                                                    prints "STATUS CODE" (CODE: errorCode, or "ok") and the body
  quirks_upnp.py soap-envns URL NS ACTION BODY       the same, the action's prefix declared on the Envelope
                                                    (gSOAP declares every namespace there), not on the action
  quirks_upnp.py get URL [UA]                       GET (the description), prints the body
Every network wait is bounded.
"""
import http.client
import re
import socket
import struct
import sys
import time
import urllib.parse

# Tailscale net/portmapper (portmapper.go): the two SSDP searches, byte for byte
TS_SSDP_ALL = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\n"
               b"MAN: \"ssdp:discover\"\r\nMX: 2\r\n\r\n")
TS_SSDP_IGD = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
               b"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
               b"MAN: \"ssdp:discover\"\r\nMX: 2\r\n\r\n")


def headers(data):
    out = {}
    for line in data.decode(errors="replace").split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().upper()] = v.strip()
    return out


def probe(gw, wait):
    """One socket, as Tailscale's Probe: answers told apart by source port (5351 PCP/NAT-PMP, 1900 SSDP)
    and, for SSDP, by the socket each search went from (the unicast one gets its own socket here, so
    its answers can be told from the multicast ones')."""
    me = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    me.bind(("0.0.0.0", 0))
    uni = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    uni.bind(("0.0.0.0", 0))
    t0 = time.monotonic()
    me.sendto(bytes([0, 0]), (gw, 5351))                     # NAT-PMP public address request
    # PCP ANNOUNCE (RFC 6887): version 2, opcode 0, lifetime 0, client address (v4-mapped)
    src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    src.connect((gw, 5351))
    client = socket.inet_aton(src.getsockname()[0])
    src.close()
    me.sendto(struct.pack("!BBHI", 2, 0, 0, 0) + b"\0" * 10 + b"\xff\xff" + client, (gw, 5351))
    uni.sendto(TS_SSDP_ALL, (gw, 1900))
    me.sendto(TS_SSDP_ALL, ("239.255.255.250", 1900))
    me.sendto(TS_SSDP_IGD, ("239.255.255.250", 1900))
    for s in (me, uni):
        s.setblocking(False)
    deadline = t0 + wait
    while time.monotonic() < deadline:
        for s, how in ((me, "multicast"), (uni, "unicast")):
            try:
                data, addr = s.recvfrom(4096)
            except BlockingIOError:
                continue
            ms = (time.monotonic() - t0) * 1000
            if addr[1] == 5351 and len(data) >= 2:
                kind = "natpmp" if data[0] == 0 else "pcp"
                print("%.0f %s from %s len %d op %d result %d" % (ms, kind, addr[0], len(data), data[1],
                                                                   data[3] if kind == "pcp" else data[2] * 256 + data[3]))
            elif addr[1] == 1900:
                h = headers(data)
                print("%.0f ssdp-%s from %s igd %s ST=%s LOCATION=%s" % (
                    ms, how, addr[0], "yes" if b":InternetGatewayDevice:" in data else "no", h.get("ST"),
                    h.get("LOCATION")))
        time.sleep(0.002)


def msearch6(group, st, wait):
    """Syncthing lib/upnp discover(): the template's \\n become \\r\\n, plus one more \\r\\n."""
    tmpl = ("M-SEARCH * HTTP/1.1\nHOST: [FF05::C]:1900\nST: %s\nMAN: \"ssdp:discover\"\nMX: %d\n"
            "USER-AGENT: syncthing/%s\n\n")
    msg = (tmpl % (st, 3, "v1.27.0")).replace("\n", "\r\n") + "\r\n"
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    ifi = socket.if_nametoindex("eth0")
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifi)
    s.bind(("::", 0))
    t0 = time.monotonic()
    s.sendto(msg.encode(), (group, 1900, 0, ifi))
    s.settimeout(0.1)
    while time.monotonic() - t0 < wait:
        try:
            data, addr = s.recvfrom(4096)
        except socket.timeout:
            continue
        h = headers(data)
        print("%.0f from %s ST=%s LOCATION=%s" % ((time.monotonic() - t0) * 1000, addr[0], h.get("ST"),
                                                  h.get("LOCATION")))


def request(method, url, body=None, hdrs=None, src=None):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5,
                                   source_address=(src, 0) if src else None)
    c.request(method, u.path, body=body, headers=hdrs or {})
    r = c.getresponse()
    data = r.read().decode(errors="replace")
    c.close()
    return r.status, data


def soap(url, ns, action, body, ua=None, src=None, ns_on_envelope=False):
    decl = ' xmlns:u="%s"' % ns   # on the action element, or (gSOAP) on the Envelope
    env_decl, action_decl = (decl, "") if ns_on_envelope else ("", decl)
    env = ('<?xml version="1.0" ?>\n\t<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"%s '
           's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">\n\t<s:Body>'
           '<u:%s%s>%s</u:%s></s:Body>\n\t</s:Envelope>\n' % (env_decl, action, action_decl, body, action))
    h = {"Content-Type": 'text/xml; charset="utf-8"', "SOAPAction": '"%s#%s"' % (ns, action),
         "Connection": "Close"}
    if ua:
        h["User-Agent"] = ua
    status, data = request("POST", url, env.encode(), h, src)
    m = re.search(r"<errorCode>(\d+)</errorCode>", data)
    print(status, m.group(1) if m else ("ok" if status == 200 else "nocode"))
    print(data)


def main():
    cmd = sys.argv[1]
    if cmd == "probe":
        probe(sys.argv[2], float(sys.argv[3]))
    elif cmd == "msearch6":
        msearch6(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif cmd == "soap":
        soap(*sys.argv[2:6], ua=sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] else None,
             src=sys.argv[7] if len(sys.argv) > 7 else None)
    elif cmd == "soap-envns":
        soap(*sys.argv[2:6], ns_on_envelope=True)
    elif cmd == "get":
        h = {"User-Agent": sys.argv[3]} if len(sys.argv) > 3 else {}
        print(request("GET", sys.argv[2], None, h)[1])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
