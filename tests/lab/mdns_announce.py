#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Sends one mDNS announcement (RFC 6762 8.3: an unsolicited response, QR and AA set, cache-flush
# records, TTL 120) to 224.0.0.251 or ff02::fb port 5353, from the host it runs on, as avahi-daemon
# and Apple's mDNSResponder send them: HOST.local A/AAAA records for the given addresses, their
# reverse PTR records, and one DNS-SD SRV record naming the host.
#   usage: mdns_announce.py 4|6 IFNAME HOSTLABEL ADDR...
# HOSTLABEL may hold \xNN escapes (a hostile host's label, sent as those bytes).
# With MDNS_FLOOD="COUNT SECONDS" in the environment: COUNT announcements, each with a fresh random
# 63-byte label, paced over SECONDS (a hostile host flooding the link); prints sent=N seconds=S.
import ipaddress
import os
import socket
import struct
import sys
import time


def name(*labels):
    out = b''
    for label in labels:
        out += bytes([len(label)]) + label
    return out + b'\0'


def rr(owner, rtype, rdata, ttl=120):
    return owner + struct.pack('>HHIH', rtype, 0x8001, ttl, len(rdata)) + rdata


def message(label, addrs):
    host = name(label, b'local')
    records = []
    for a in addrs:
        ip = ipaddress.ip_address(a)
        records.append(rr(host, 1 if ip.version == 4 else 28, ip.packed))
        rev = ip.reverse_pointer.split('.')
        records.append(rr(name(*[x.encode() for x in rev]), 12, host))
    records.append(rr(name(b'Printer', b'_ipp', b'_tcp', b'local'), 33, struct.pack('>HHH', 0, 0, 631) + host))
    return struct.pack('>HHHHHH', 0, 0x8400, 0, len(records), 0, 0) + b''.join(records)


def main():
    family, ifname, label = sys.argv[1], sys.argv[2], sys.argv[3].encode().decode('unicode_escape').encode('latin-1')
    addrs = sys.argv[4:]
    if family == '4':
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        s.setsockopt(socket.SOL_SOCKET, 25, ifname.encode())   # SO_BINDTODEVICE
        s.bind(('', 5353))
        to = ('224.0.0.251', 5353)
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        idx = socket.if_nametoindex(ifname)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
        s.bind(('', 5353))
        to = ('ff02::fb', 5353, 0, idx)
    flood = os.environ.get('MDNS_FLOOD')
    if not flood:
        s.sendto(message(label, addrs), to)
        return
    count, seconds = int(flood.split()[0]), float(flood.split()[1])
    t0 = time.monotonic()
    sent = 0
    for i in range(count):
        due = t0 + seconds * i / count
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        if now - t0 > seconds + 5:
            break   # bounded in time even on a slow machine
        try:
            s.sendto(message(os.urandom(63), addrs), to)
            sent += 1
        except OSError:
            pass
    print('sent=%d seconds=%.2f' % (sent, time.monotonic() - t0))


main()
