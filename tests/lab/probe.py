#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tiny traffic probe for the igdd lab.

  probe.py listen  tcp|udp PORT [ADDR] [--ready FILE]
      Echo server: TCP echoes what it reads on each connection, UDP echoes each datagram.
      Binds ADDR (default: every IPv6 and IPv4 address) and touches FILE once bound.
  probe.py connect tcp|udp ADDR PORT [TIMEOUT_S]
      Exit 0 if a TCP connect + echo round trip, or a UDP datagram's echo, succeeds within TIMEOUT_S
      (default 1). Exit 1 otherwise. UDP datagrams are resent every 0.2 s until the timeout.
  probe.py accepted ADDR PORT [TIMEOUT_S]
      Exit 0 if a TCP connection to ADDR PORT is accepted within TIMEOUT_S (default 1): for real
      applications that speak their own protocol instead of echoing.
"""
import os
import select
import socket
import sys
import time


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def open_listener(fam, proto, addr, port):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(fam, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if proto == "udp":
            # answer from the address the datagram came to (a host has several)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    s.bind((addr, port))
    if proto == "tcp":
        s.listen(128)
    return s


def udp_echo(s):
    if s.family != socket.AF_INET6:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)
        return
    data, anc, _, peer = s.recvmsg(65535, socket.CMSG_SPACE(20))
    cmsgs = []
    for level, kind, info in anc:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(info) >= 16:
            cmsgs = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info[:16] + bytes(4))]
    s.sendmsg([data], cmsgs, 0, peer)


def listen(proto, port, addr, ready):
    if addr:
        socks = [open_listener(family_of(addr), proto, addr, port)]
    else:
        socks = [open_listener(socket.AF_INET6, proto, "::", port),
                 open_listener(socket.AF_INET, proto, "0.0.0.0", port)]
    if ready:
        with open(ready, "w") as f:
            f.write("%d\n" % os.getpid())
    conns = []
    while True:
        rd, _, _ = select.select(socks + conns, [], [], 60)
        for r in rd:
            try:
                if r in socks and proto == "udp":
                    udp_echo(r)
                elif r in socks:
                    c, _ = r.accept()
                    conns.append(c)
                else:
                    data = r.recv(65535)
                    if data:
                        r.sendall(data)
                    else:
                        r.close()
                        conns.remove(r)
            except OSError:
                if r not in socks:
                    r.close()
                    conns.remove(r)


def connect(proto, addr, port, timeout):
    token = b"igdd-probe-%d-%f" % (os.getpid(), time.time())
    deadline = time.monotonic() + timeout
    fam = family_of(addr)
    try:
        if proto == "tcp":
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect((addr, port))
            s.sendall(token)
            got = b""
            while len(got) < len(token):
                left = deadline - time.monotonic()
                if left <= 0:
                    return 1
                s.settimeout(left)
                chunk = s.recv(65535)
                if not chunk:
                    return 1
                got += chunk
            return 0 if got == token else 1
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.connect((addr, port))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return 1
            try:
                s.send(token)
            except OSError:
                pass
            end = time.monotonic() + min(0.2, left)
            while True:
                wait = end - time.monotonic()
                if wait <= 0:
                    break
                rd, _, _ = select.select([s], [], [], wait)
                if not rd:
                    break
                try:
                    if s.recv(65535) == token:
                        return 0
                except OSError:
                    break
    except OSError:
        return 1


def accepted(addr, port, timeout):
    """TCP only: 0 once something at ADDR PORT accepts the connection (for real applications that speak
    their own protocol rather than echo)."""
    try:
        with socket.create_connection((addr, port), timeout=timeout):
            return 0
    except OSError:
        return 1


def main(argv):
    if len(argv) >= 4 and argv[1] == "listen" and argv[2] in ("tcp", "udp"):
        rest = argv[4:]
        ready = None
        if "--ready" in rest:
            i = rest.index("--ready")
            ready = rest[i + 1]
            del rest[i:i + 2]
        listen(argv[2], int(argv[3]), rest[0] if rest else "", ready)
        return 0
    if len(argv) in (5, 6) and argv[1] == "connect" and argv[2] in ("tcp", "udp"):
        timeout = float(argv[5]) if len(argv) == 6 else 1.0
        return connect(argv[2], argv[3], int(argv[4]), timeout)
    if len(argv) in (4, 5) and argv[1] == "accepted":
        return accepted(argv[2], int(argv[3]), float(argv[4]) if len(argv) == 5 else 1.0)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
