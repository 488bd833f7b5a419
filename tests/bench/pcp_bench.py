#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""PCP MAP requests per second and latency against a PCP server (pcpd with pcp_rate_limit=0).

  pcp_bench.py -s SERVER [--count N] [--ports P] [--proto udp|tcp]

One sequential client. Each round sends a MAP for internal port BASE+i (i < P, within the
subscriber's quota), then a MAP with lifetime 0 deleting it, so every request changes the rule
table and goes through the store and one nftables transaction. Prints requests/s and p50/p99/max
latency in ms for creates and deletes. Bounded: N requests, 2 s timeout each.
"""
import argparse
import os
import socket
import struct
import time


def map_req(client, proto, port, lifetime, nonce):
    hdr = struct.pack("!BBHI", 2, 1, 0, lifetime) + socket.inet_pton(socket.AF_INET6, "::ffff:" + client)
    op = nonce + struct.pack("!B3xHH", proto, port, 0) + socket.inet_pton(socket.AF_INET6, "::ffff:0.0.0.0")
    return hdr + op


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-s", "--server", required=True)
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--ports", type=int, default=4)
    ap.add_argument("--base", type=int, default=30000)
    ap.add_argument("--proto", default="udp")
    a = ap.parse_args()
    proto = 17 if a.proto == "udp" else 6
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((a.server, 5351))
    s.settimeout(2)
    client = s.getsockname()[0]
    nonce = os.urandom(12)
    lat = {"create": [], "delete": []}
    fails = 0
    t0 = time.perf_counter()
    for i in range(a.count):
        port = a.base + (i // 2) % a.ports
        kind = "create" if i % 2 == 0 else "delete"
        msg = map_req(client, proto, port, 600 if kind == "create" else 0, nonce)
        t = time.perf_counter()
        s.send(msg)
        try:
            r = s.recv(1100)
        except socket.timeout:
            fails += 1
            continue
        lat[kind].append((time.perf_counter() - t) * 1000)
        if len(r) < 4 or r[3] != 0:
            fails += 1
    el = time.perf_counter() - t0
    done = len(lat["create"]) + len(lat["delete"])
    print("pcp_bench: %d requests in %.2f s = %.0f MAP/s sequential, %d failed" % (done, el, done / el, fails))
    for k in ("create", "delete"):
        v = lat[k]
        print("  %-6s n=%d p50=%.3f ms p99=%.3f ms max=%.3f ms" % (k, len(v), pct(v, 0.5), pct(v, 0.99), max(v or [0])))


if __name__ == "__main__":
    main()
