#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""PCP MAP requests per second and latency against a PCP server (pcpd or igdd with pcp_rate_limit=0).

  pcp_bench.py -s SERVER [--src ADDR] [--count N] [--ports P] [--base B] [--proto udp|tcp]
               [--sockets K] [--time-limit S] [--interval MS]
  pcp_bench.py -s SERVER [--src ADDR] --fill N [--sockets K] [--fill-base B] [--lifetime L]
               [--subscribers FIRST --per-sub M]

Run (default): each client socket sends a MAP for internal port BASE+k*P+i (i < P), then a MAP with
lifetime 0 deleting it, round after round, so every request changes the rule table (store, nftables).
With --sockets 1 (the default) that is one sequential client; with K sockets the K clients run at once
from one process (epoll), each waiting for its answer before its next request, so up to K requests are
in flight: the server sees many clients (source ports) at the same time. --interval MS paces each client
to one request per MS (a steady load beside another measurement, the same whatever the answers take). Prints requests/s and
p50/p99/max latency in ms for creates and deletes, and one "result key=value ..." line for scripts.

--fill N: installs N long-lived mappings (TCP then UDP internal ports from --fill-base up; the run mode
uses UDP 30000.. by default) as fast as K sockets get answers; prints "filled ok=.. fail=.. secs=.. rate=..".
With --subscribers (IPv4, a CGN): mapping i is asked by subscriber FIRST + i // M for UDP internal port
B + i % M, each request sent from that subscriber's address (IP_PKTINFO: the namespace must treat the
range as local, e.g. `ip route add local 100.64.64.0/18 dev lo`), so N mappings come from N / M clients.

IPv4 SERVER: port mappings (NAT44); IPv6 SERVER: pinholes for the client's own address (--src binds it).
Bounded: N requests (or N mappings), at most --time-limit seconds, a request unanswered within 1 s is
counted as a timeout and the socket moves on. SIGTERM ends a run early, with its figures printed.
"""
import argparse
import os
import selectors
import signal
import socket
import struct
import time

TIMEOUT_S = 1.0
IP_PKTINFO = 8  # linux/in.h; not exported by Python's socket module


def map_req(client16, proto, port, lifetime, nonce):
    hdr = struct.pack("!BBHI", 2, 1, 0, lifetime) + client16
    # no suggested external address: the all-zeros address of the client's family
    any_ext = bytes(10) + b"\xff\xff" + bytes(4) if client16[:12] == bytes(10) + b"\xff\xff" else bytes(16)
    return hdr + nonce + struct.pack("!B3xHH", proto, port, 0) + any_ext


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0.0


def open_socket(server, src):
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    s.connect((server, 5351))
    s.setblocking(False)
    a = s.getsockname()[0]
    if fam == socket.AF_INET:
        client16 = socket.inet_pton(socket.AF_INET6, "::ffff:" + a)
    else:
        client16 = socket.inet_pton(socket.AF_INET6, a.split("%")[0])
    return s, client16


class Client:
    """One socket and the requests it still has to send, in order: (kind, message)."""

    def __init__(self, s, reqs):
        self.s, self.reqs, self.next, self.kind, self.t, self.t0, self.tries = s, reqs, 0, None, 0.0, 0.0, 0
        self.idle_until = 0.0  # --interval: the next request waits until then

    def send(self):
        if self.next >= len(self.reqs):
            self.kind = None
            return False
        self.kind, msg = self.reqs[self.next][:2]
        self.next += 1
        self.t = self.t0 = time.perf_counter()
        try:
            self.transmit(msg)
        except BlockingIOError:
            pass  # lost like any datagram: the timeout moves on
        return True

    def transmit(self, msg):
        self.s.send(msg)


class SubscriberClient(Client):
    """A socket that sends each request from the subscriber address the request names."""

    def __init__(self, s, reqs, server):
        super().__init__(s, reqs)
        self.server = server

    def transmit(self, msg):
        src = self.reqs[self.next - 1][2]
        info = struct.pack("=I4s4s", 0, src, bytes(4))
        self.s.sendmsg([msg], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, (self.server, 5351))


stopped = False


def answers(c, r):
    """Is r the answer to c's current request? Same nonce, protocol and internal port (a socket may
    speak for several subscribers, each its own nonce), and a success's lifetime is 0 exactly when the
    request deleted (a create and the delete of one port alternate)."""
    msg = c.reqs[c.next - 1][1]
    if len(r) < 42 or r[40:42] != msg[40:42] or r[24:37] != msg[24:37]:
        return False
    if r[3] != 0:
        return True
    return (struct.unpack("!I", r[4:8])[0] == 0) == (struct.unpack("!I", msg[4:8])[0] == 0)


def stop(_sig, _frame):
    """SIGTERM: a load that runs beside a measurement ends with it and reports what it did."""
    global stopped
    stopped = True


def drive(clients, limit_s, interval=0.0, retries=0):
    """Runs every client until its requests are done or limit_s passed; with interval, each client sends
    at most one request per interval seconds (a paced load); a request unanswered after TIMEOUT_S is
    sent again up to `retries` times, then counted as a timeout. Returns the figures."""
    lat = {}
    fails = timeouts = 0
    sel = selectors.DefaultSelector()
    for c in clients:
        sel.register(c.s, selectors.EVENT_READ, c)
    t0 = time.perf_counter()
    busy = sum(1 for c in clients if c.send())
    deadline = t0 + limit_s
    while busy and time.perf_counter() < deadline and not stopped:
        for key, _ in sel.select(0.05):
            c = key.data
            try:
                r = c.s.recv(1100)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            if c.kind is None or not answers(c, r):
                continue  # a late answer after a timeout, or to a request sent again
            c.tries = 0
            lat.setdefault(c.kind, []).append((time.perf_counter() - c.t0) * 1000)
            if len(r) < 4 or r[3] != 0:
                fails += 1
            if interval:
                c.kind, c.idle_until = None, c.t + interval
            elif not c.send():
                busy -= 1
        now = time.perf_counter()
        for c in clients:
            if c.kind is not None and now - c.t > TIMEOUT_S:
                if c.tries < retries:
                    # a PCP client retransmits (RFC 6887 8.1.1); the latency counts from the first send
                    c.tries += 1
                    c.next -= 1
                    first = c.t0
                    c.send()
                    c.t0 = first
                    continue
                timeouts += 1
                c.tries = 0
                if interval:
                    c.kind, c.idle_until = None, c.t + max(interval, TIMEOUT_S)
                elif not c.send():
                    busy -= 1
            elif c.kind is None and c.idle_until and now >= c.idle_until:
                c.idle_until = 0.0
                if not c.send():
                    busy -= 1
    el = time.perf_counter() - t0
    sel.close()
    return lat, fails, timeouts, el


def fill_ports(n, base):
    """The first n (proto, port) pairs from base up, TCP then UDP."""
    pairs = [(proto, port) for proto in (6, 17) for port in range(base, 65536)]
    return pairs[:n]


def fill_subscribers(a, k):
    """--fill with --subscribers: many CGN subscribers, each its own source address."""
    first = struct.unpack("!I", socket.inet_aton(a.subscribers))[0]
    clients = []
    for i in range(k):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: send from any address of the local range
        s.bind(("0.0.0.0", 0))
        s.setblocking(False)
        reqs = []
        # each socket takes whole subscribers, so a subscriber's requests stay in order on one socket
        for sub in range(i, (a.fill + a.per_sub - 1) // a.per_sub, k):
            addr = socket.inet_aton(socket.inet_ntoa(struct.pack("!I", first + sub)))
            nonce = os.urandom(12)
            client16 = bytes(10) + b"\xff\xff" + addr
            for j in range(min(a.per_sub, a.fill - sub * a.per_sub)):
                reqs.append(("create", map_req(client16, 17, a.fill_base + j, a.lifetime, nonce), addr))
        clients.append(SubscriberClient(s, reqs, a.server))
    lat, fails, timeouts, el = drive(clients, a.time_limit, retries=4)
    ok = len(lat.get("create", [])) - fails
    print("filled ok=%d fail=%d timeouts=%d secs=%.2f rate=%.0f" % (ok, fails, timeouts, el, ok / el))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-s", "--server", required=True)
    ap.add_argument("--src", default="")
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--ports", type=int, default=4)
    ap.add_argument("--base", type=int, default=30000)
    ap.add_argument("--proto", default="udp")
    ap.add_argument("--sockets", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=120)
    ap.add_argument("--fill", type=int, default=0)
    ap.add_argument("--fill-base", type=int, default=1024)
    ap.add_argument("--lifetime", type=int, default=7200)
    ap.add_argument("--subscribers", default="")
    ap.add_argument("--per-sub", type=int, default=64)
    ap.add_argument("--interval", type=float, default=0.0)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, stop)
    k = max(1, a.sockets)
    if a.fill and a.subscribers:
        fill_subscribers(a, k)
        return
    socks = [open_socket(a.server, a.src) for _ in range(k)]
    if a.fill:
        pairs = fill_ports(a.fill, a.fill_base)
        clients = []
        for i, (s, client16) in enumerate(socks):
            nonce = os.urandom(12)
            clients.append(Client(s, [("create", map_req(client16, p, port, a.lifetime, nonce))
                                      for p, port in pairs[i::k]]))
        lat, fails, timeouts, el = drive(clients, a.time_limit)
        ok = len(lat.get("create", [])) - fails
        print("filled ok=%d fail=%d timeouts=%d secs=%.2f rate=%.0f" % (ok, fails, timeouts, el, ok / el))
        return
    proto = 17 if a.proto == "udp" else 6
    clients = []
    rounds = a.count // 2  # create + delete: the table ends as it began
    for i, (s, client16) in enumerate(socks):
        nonce = os.urandom(12)
        reqs = []
        for j in range(2 * (rounds // k + (1 if i < rounds % k else 0))):
            port = a.base + i * a.ports + (j // 2) % a.ports
            kind = "create" if j % 2 == 0 else "delete"
            reqs.append((kind, map_req(client16, proto, port, 600 if kind == "create" else 0, nonce)))
        clients.append(Client(s, reqs))
    lat, fails, timeouts, el = drive(clients, a.time_limit, a.interval / 1000.0)
    done = sum(len(v) for v in lat.values())
    both = lat.get("create", []) + lat.get("delete", [])
    how = "sequential" if k == 1 else "from %d sockets" % k
    print("pcp_bench: %d requests in %.2f s = %.0f MAP/s %s, %d failed" % (done, el, done / el, how, fails + timeouts))
    for kind in ("create", "delete"):
        v = lat.get(kind, [])
        print("  %-6s n=%d p50=%.3f ms p99=%.3f ms max=%.3f ms" % (kind, len(v), pct(v, 0.5), pct(v, 0.99), max(v or [0])))
    print("result sockets=%d n=%d fail=%d timeouts=%d secs=%.2f rate=%.0f p50_ms=%.3f p99_ms=%.3f" % (
        k, done, fails, timeouts, el, done / el, pct(both, 0.5), pct(both, 0.99)))


if __name__ == "__main__":
    main()
