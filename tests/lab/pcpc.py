#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A small PCP (RFC 6887) test client: MAP, PEER, ANNOUNCE with nonce and options, and a listener
for unsolicited ANNOUNCEs. Prints one line of key=value pairs per response, e.g.
  result=SUCCESS code=0 opcode=MAP lifetime=3600 epoch=12 ext_port=8080 ext_addr=2001:db8::5
PEER names the outbound flow it is about: --port is the internal port, --peer/--peer-port the remote end,
e.g.  pcpc.py -s 192.0.2.1 peer --proto udp --port 4000 --peer 203.0.113.2 --peer-port 5000
`unsolicited` plays the server: it sends an unsolicited ANNOUNCE response (--epoch) to -s on port 5350,
e.g. from a spoofed --src, to see that a client does not take it for the server's word.
Exit status: 0 when a response arrived (whatever its result), 2 on timeout, 1 on usage errors.
Raw mode (--raw-version/--raw-len) sends deliberately broken requests for error-path tests.
`natpmp` speaks NAT-PMP (RFC 6886): --op external|udp|tcp, e.g. the requests Bitcoin Core and libtorrent send.
`probe` replays Tailscale's gateway probe: a NAT-PMP public-address request and a PCP ANNOUNCE from one
socket, and reports each answer with the milliseconds it took (exit 0 only if both came within --timeout).
`map --layout v1` sends the pre-RFC version-1 MAP (draft PCP, no nonce), the second step of libpcp.
Every line carries len=, the answer's size in octets (clients such as libtorrent check it exactly)."""
import argparse
import ipaddress
import os
import socket
import struct
import sys
import time

RESULTS = ["SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST", "UNSUPP_OPCODE",
           "UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES", "UNSUPP_PROTOCOL",
           "USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS"]
OPCODES = {0: "ANNOUNCE", 1: "MAP", 2: "PEER"}
PROTOS = {"tcp": 6, "udp": 17, "all": 0}


def addr16(text):
    """16 octets: IPv6 as is, IPv4 as IPv4-mapped."""
    a = ipaddress.ip_address(text)
    if a.version == 4:
        return b"\0" * 10 + b"\xff\xff" + a.packed
    return a.packed


def addr_text(b16):
    a = ipaddress.IPv6Address(b16)
    return str(a.ipv4_mapped) if a.ipv4_mapped else str(a)


def option(code, data):
    pad = (-len(data)) % 4
    return struct.pack("!BBH", code, 0, len(data)) + data + b"\0" * pad


def build_v1_map(args, client):
    """The draft (version 1) MAP: header, then protocol, 3 reserved, internal port, suggested external port,
    suggested external address; no nonce."""
    proto = PROTOS.get(args.proto, None)
    proto = int(args.proto) if proto is None else proto
    sugg = args.sugg_addr or ("0.0.0.0" if ":" not in (args.client or client) else "::")
    return (struct.pack("!BBHI", 1, 1, 0, args.lifetime) + addr16(args.client or client)
            + struct.pack("!B3xHH", proto, args.port, args.sugg_port) + addr16(sugg))


def build(args, client):
    op = {"announce": 0, "map": 1, "peer": 2}[args.cmd]
    lifetime = 0 if op == 0 else args.lifetime
    if op == 1 and getattr(args, "layout", "v2") == "v1":
        return build_v1_map(args, client)
    msg = struct.pack("!BBHI", 2, op, 0, lifetime) + addr16(args.client or client)
    if op:
        nonce = bytes.fromhex(args.nonce) if args.nonce else os.urandom(12)
        if len(nonce) != 12:
            sys.exit("pcpc: --nonce needs 24 hex digits")
        proto = PROTOS.get(args.proto, None)
        proto = int(args.proto) if proto is None else proto
        sugg = args.sugg_addr or ("0.0.0.0" if ":" not in (args.client or client) and not args.third_party
                                  else "::")
        msg += nonce + struct.pack("!B3xHH", proto, args.port, args.sugg_port) + addr16(sugg)
        if op == 2:
            msg += struct.pack("!H2x", args.peer_port) + addr16(args.peer)
    if args.third_party:
        msg += option(1, addr16(args.third_party))
    if args.prefer_failure:
        msg += option(2, b"")
    for f in args.filter or []:
        spec, _, port = f.partition("@")
        net = ipaddress.ip_network(spec, strict=False)
        plen = net.prefixlen + (96 if net.version == 4 else 0)
        msg += option(3, struct.pack("!xBH", plen, int(port or 0)) + addr16(str(net.network_address)))
    if args.desc is not None:
        msg += option(128, args.desc.encode())
    return msg


def parse(buf):
    if len(buf) < 24 or not buf[1] & 0x80:
        return {"result": "SHORT", "len": len(buf)}
    ver, opr, _, code, life, epoch = struct.unpack("!BBBBII", buf[:12])
    op = opr & 0x7F
    out = {"result": RESULTS[code] if code < len(RESULTS) else str(code), "code": code, "version": ver,
           "opcode": OPCODES.get(op, str(op)), "lifetime": life, "epoch": epoch, "len": len(buf)}
    off = 24
    if op in (1, 2) and len(buf) >= 60:
        out["nonce"] = buf[24:36].hex()
        out["proto"] = buf[36]
        out["int_port"], out["ext_port"] = struct.unpack("!HH", buf[40:44])
        out["ext_addr"] = addr_text(buf[44:60])
        off = 60
        if op == 2 and len(buf) >= 80:
            out["peer_port"] = struct.unpack("!H", buf[60:62])[0]
            out["peer"] = addr_text(buf[64:80])
            off = 80
    opts = []
    while off + 4 <= len(buf):
        c, _, ln = struct.unpack("!BBH", buf[off:off + 4])
        data = buf[off + 4:off + 4 + ln]
        if c == 1:
            opts.append("third_party:" + addr_text(data))
        elif c == 2:
            opts.append("prefer_failure")
        elif c == 3 and ln == 20:
            opts.append("filter:%s/%d@%d" % (addr_text(data[4:20]), data[1], struct.unpack("!H", data[2:4])[0]))
        elif c == 128:
            opts.append("description:" + data.decode("utf-8", "replace").replace(" ", "_"))
        else:
            opts.append("opt%d" % c)
        off += 4 + ln + ((-ln) % 4)
    if opts:
        out["options"] = ",".join(opts)
    return out


NATPMP_OPS = {"external": 0, "udp": 1, "tcp": 2}


def natpmp_build(args):
    op = NATPMP_OPS[args.op]
    ver = 0 if args.raw_version is None else args.raw_version
    if op == 0:
        return struct.pack("!BB", ver, 0)
    return struct.pack("!BBHHHI", ver, op, 0, args.port, args.sugg_port, args.lifetime)


def natpmp_parse(buf):
    """A NAT-PMP answer: 8 octets (errors), 12 (public address) or 16 (mapping)."""
    if len(buf) < 8:
        return {"result": "SHORT", "len": len(buf)}
    ver, opr, code, epoch = struct.unpack("!BBHI", buf[:8])
    names = ["SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "NETWORK_FAILURE", "NO_RESOURCES", "UNSUPP_OPCODE"]
    out = {"result": names[code] if code < len(names) else str(code), "code": code, "version": ver,
           "op": opr, "epoch": epoch, "len": len(buf)}
    if opr == 128 and len(buf) >= 12:
        out["ext_addr"] = str(ipaddress.IPv4Address(buf[8:12]))
    elif opr in (129, 130) and len(buf) >= 16:
        out["int_port"], out["ext_port"], out["lifetime"] = struct.unpack("!HHI", buf[8:16])
    return out


def any_parse(buf):
    """An answer of either protocol, told apart by its version octet."""
    return natpmp_parse(buf) if buf[:1] == b"\0" else parse(buf)


def show(d):
    print(" ".join("%s=%s" % kv for kv in d.items()), flush=True)


def client_socket(args, fam=None):
    """A UDP socket connected to the server's PCP port, bound to --src / --src-port if given."""
    fam = fam or (socket.AF_INET6 if ":" in args.server else socket.AF_INET)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if args.src_port or args.src:
        s.bind((args.src or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), args.src_port))
    s.connect((args.server, 5351))
    return s


def ask(s, msg, args, parse_fn):
    """Sends msg up to --tries times, --timeout apart, and shows the first answer (exit 0), or
    result=TIMEOUT (exit 2). RFC 6887 8.1.1 would back off from 3 s; a lab on one host answers in
    microseconds."""
    for _ in range(args.tries):
        s.send(msg)
        s.settimeout(args.timeout)
        try:
            buf = s.recv(2048)
        except socket.timeout:
            continue
        show(parse_fn(buf))
        return 0
    print("result=TIMEOUT", flush=True)
    return 2


def request(args):
    s = client_socket(args)
    client = s.getsockname()[0].split("%")[0]
    msg = build(args, client)
    if args.raw_version is not None:
        msg = bytes([args.raw_version]) + msg[1:]
    if args.raw_len is not None:
        msg = msg[:args.raw_len]
    return ask(s, msg, args, parse)


def natpmp(args):
    return ask(client_socket(args, socket.AF_INET), natpmp_build(args), args, any_parse)


def probe(args):
    """Tailscale's probe: NAT-PMP public address and PCP ANNOUNCE at once, from one socket."""
    s = client_socket(args, socket.AF_INET)
    me = s.getsockname()[0]
    announce = struct.pack("!BBHI", 2, 0, 0, 0) + addr16(me)
    t0 = time.monotonic()
    s.send(b"\0\0")
    s.send(announce)
    seen = set()
    while len(seen) < 2:
        left = args.timeout - (time.monotonic() - t0)
        if left <= 0:
            break
        s.settimeout(left)
        try:
            buf = s.recv(2048)
        except socket.timeout:
            break
        d = any_parse(buf)
        d["proto"] = "natpmp" if buf[:1] == b"\0" else "pcp"
        d["ms"] = "%.1f" % ((time.monotonic() - t0) * 1000)
        seen.add(d["proto"])
        show(d)
    if len(seen) < 2:
        print("result=TIMEOUT answered=%s" % (",".join(sorted(seen)) or "none"), flush=True)
        return 2
    return 0


def unsolicited(args):
    """Sends one unsolicited ANNOUNCE response (RFC 6887 14.1.3) as a server would, and waits for none."""
    fam = socket.AF_INET6 if ":" in args.server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if args.src_port or args.src:
        s.bind((args.src or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), args.src_port))
    msg = struct.pack("!BBBBII", 2, 0x80, 0, 0, 0, args.epoch) + b"\0" * 12
    s.sendto(msg, (args.server, 5350))
    print("sent=ANNOUNCE epoch=%d" % args.epoch, flush=True)
    return 0


def listen(args):
    """Waits for unsolicited responses on port 5350 (joined to the group on --iface)."""
    v6 = ":" in args.group
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if v6 else "0.0.0.0", 5350))
    if v6:
        idx = socket.if_nametoindex(args.iface)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                     socket.inet_pton(socket.AF_INET6, args.group) + struct.pack("@I", idx))
    s.settimeout(args.timeout)
    got = 0
    try:
        while got < args.count:
            buf, frm = s.recvfrom(2048)
            d = any_parse(buf)
            d["proto"] = "natpmp" if buf[:1] == b"\0" else "pcp"
            d["from"] = frm[0].split("%")[0]
            show(d)
            got += 1
    except socket.timeout:
        pass
    return 0 if got else 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-s", "--server", required=False, default="192.0.2.1")
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--tries", type=int, default=3)
    ap.add_argument("--src-port", type=int, default=0)
    ap.add_argument("--src", help="source address to send from (default: the kernel's choice)")
    ap.add_argument("cmd", choices=["map", "peer", "announce", "listen", "unsolicited", "natpmp", "probe"])
    ap.add_argument("--op", choices=sorted(NATPMP_OPS), default="external", help="natpmp: the request")
    ap.add_argument("--layout", choices=["v2", "v1"], default="v2", help="map: v1 = the pre-RFC draft MAP")
    ap.add_argument("--proto", default="tcp")
    ap.add_argument("--port", type=int, default=0, help="internal port")
    ap.add_argument("--sugg-port", type=int, default=0)
    ap.add_argument("--sugg-addr")
    ap.add_argument("--lifetime", type=int, default=3600)
    ap.add_argument("--nonce", help="24 hex digits (default: random)")
    ap.add_argument("--client", help="PCP client address field (default: our source address)")
    ap.add_argument("--third-party")
    ap.add_argument("--prefer-failure", action="store_true")
    ap.add_argument("--filter", action="append", help="ADDR/LEN[@PORT], repeatable")
    ap.add_argument("--desc")
    ap.add_argument("--peer", help="PEER: the remote peer's address (required for peer)")
    ap.add_argument("--peer-port", type=int, default=0, help="PEER: the remote peer's port")
    ap.add_argument("--raw-version", type=int)
    ap.add_argument("--raw-len", type=int)
    ap.add_argument("--group", default="224.0.0.1")
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--epoch", type=int, default=0, help="unsolicited: the Epoch Time to claim")
    args = ap.parse_args()
    if args.cmd == "listen":
        return listen(args)
    if args.cmd == "unsolicited":
        return unsolicited(args)
    if args.cmd == "natpmp":
        return natpmp(args)
    if args.cmd == "probe":
        return probe(args)
    if args.cmd == "peer" and args.peer is None:
        sys.exit("pcpc: peer needs --peer (and --peer-port)")
    return request(args)


if __name__ == "__main__":
    sys.exit(main())
