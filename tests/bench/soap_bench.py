#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Load and latency clients for tests/bench/compare and tests/integration/t_load.sh (run inside the lab).

  soap_bench.py soap ROOT_DESC_URL --action pinhole|portmap --src ADDR --target ADDR
                [--base-port P] [--count N] [--time-limit S] [--clients C] [--duration S]
      SOAP AddPinhole (WANIPv6FirewallControl) or AddPortMapping (WANIPConnection) requests, each for a
      new port (BASE, BASE+1, ...), over HTTP/1.1 connections kept alive as long as the server lets us:
      a connection the server closes after its answer is reopened (connect time counted), and the
      output says how many answers came on a reused connection. --clients C runs C threads (ports
      interleaved); --duration S makes each thread loop for S seconds instead of stopping at N,
      re-adding its own ports (a refresh), mixed with GetExternalIPAddress. Prints one line:
        soap action=.. n=.. ok=.. err=.. secs=.. rate=.. p50_ms=.. p99_ms=.. max_ms=.. reused=.. conns=.. mode=..
             slow=.. slow_secs=.. errors=KIND:COUNT,..
      (latencies of answered requests; mode = kept-alive if any answer came on a reused connection,
      per-connection(server-closes) if a probe showed the server closing after each answer; slow =
      requests, answered or not, that took 1 s or more, and the seconds spent in them)
  soap_bench.py call ROOT_DESC_URL --src ADDR
      one GetExternalIPAddress; prints "call ok ms=.." or "call fail ..." (exit 1)
  soap_bench.py pcp SERVER --src ADDR [--count N] [--ports P] [--base B] [--proto udp|tcp] [--time-limit S]
      sequential PCP MAP create / delete (lifetime 0) pairs for the client's own address (IPv4 or IPv6,
      the family of SERVER), like pcp_bench.py; prints
        pcp n=.. ok=.. fail=.. timeouts=.. secs=.. rate=.. p50_ms=.. p99_ms=.. max_ms=..
  soap_bench.py pcpflood SERVER --src ADDR [--count 100000] [--sockets 1000] [--port P]
      sends COUNT PCP MAP requests round robin from SOCKETS source ports as fast as it can (the same
      mapping: a refresh), then collects answers for 1 s; prints
        pcpflood sent=.. answered=.. secs=.. sent_rate=.. answered_rate=..
  soap_bench.py gena EVENT_URL --callback-host ADDR [--count 1000] [--hold S] [--trigger ROOT_DESC_URL]
      subscribes COUNT times with callbacks to a NOTIFY sink on this host, waits up to HOLD s for the
      initial events, then (with --trigger) adds one port mapping and counts NOTIFYs for up to HOLD s;
      prints
        gena subscribed=.. refused=.. secs=.. initial_events=.. change_events=.. sids=..
Every loop is bounded by its count and by a time limit; every socket has a timeout.
"""
import argparse
import os
import re
import select
import socket
import struct
import sys
import threading
import time
import urllib.parse

TIMEOUT = 5.0


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0.0


# ---------------------------------------------------------------- HTTP / SOAP

def fetch_desc(url, src):
    u = urllib.parse.urlparse(url)
    c = Conn(u.hostname, u.port or 80, src)
    try:
        status, _, body = c.request("GET %s HTTP/1.1\r\nHOST: %s\r\nConnection: close\r\n\r\n" % (
            u.path, hostport(u)), b"")
    finally:
        c.close()
    if status != 200:
        raise RuntimeError("GET %s: HTTP %s" % (url, status))
    services = {}
    for blk in re.findall(r"<service>(.*?)</service>", body.decode(errors="replace"), re.S):
        st = re.search(r"<serviceType>\s*([^<\s]+)", blk)
        cu = re.search(r"<controlURL>\s*([^<\s]+)", blk)
        eu = re.search(r"<eventSubURL>\s*([^<\s]+)", blk)
        if st:
            services[st.group(1)] = (cu.group(1) if cu else "", eu.group(1) if eu else "")
    return u, services


def hostport(u):
    h = u.hostname
    return ("[%s]:%d" % (h, u.port)) if ":" in h else ("%s:%d" % (h, u.port))


def find_service(services, word):
    for st, urls in services.items():
        if word in st:
            return st, urls
    raise RuntimeError("no %s service in the description" % word)


class Conn:
    """One HTTP/1.1 connection from SRC; reopened when the server closed it."""

    def __init__(self, host, port, src):
        self.host, self.port, self.src = host, port, src
        self.s = None
        self.buf = b""
        self.used = 0      # answers on the current connection
        self.conns = 0     # connections opened
        self.reused = 0    # answers that came on a connection that had answered before

    def open(self):
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        if self.src:
            s.bind((self.src, 0))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect((self.host, self.port))
        self.s, self.buf, self.used = s, b"", 0
        self.conns += 1

    def close(self):
        if self.s is not None:
            try:
                self.s.close()
            except OSError:
                pass
        self.s = None

    def _read_response(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                return None
            self.buf += d
            if len(self.buf) > 1 << 20:
                raise RuntimeError("header too long")
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            n = int(hdrs["content-length"])
            while len(rest) < n:
                d = self.s.recv(65536)
                if not d:
                    break
                rest += d
            body, self.buf = rest[:n], rest[n:]
        else:  # until close
            body = rest
            while True:
                d = self.s.recv(65536)
                if not d:
                    break
                body += d
            self.buf = b""
            hdrs["connection"] = "close"
        return status, hdrs, body

    def request(self, head, body):
        """Sends one request; returns (status, headers, body). Reopens a closed connection once."""
        for attempt in (0, 1):
            if self.s is None:
                self.open()
            try:
                self.s.sendall(head.encode() + body)
                r = self._read_response()
            except (ConnectionResetError, BrokenPipeError):
                r = None
            if r is None:
                # the server had closed the connection: only an error on a fresh one
                fresh = self.used == 0
                self.close()
                if fresh or attempt == 1:
                    raise RuntimeError("connection closed without an answer")
                continue
            if self.used > 0:
                self.reused += 1
            self.used += 1
            if r[1].get("connection", "").lower() == "close":
                self.close()
            return r
        raise RuntimeError("unreachable")


def soap_request(u, path, st, action, args, keepalive=True):
    body = ('<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%s xmlns:u="%s">%s'
            '</u:%s></s:Body></s:Envelope>\r\n') % (
        action, st, "".join("<%s>%s</%s>" % (k, v, k) for k, v in args), action)
    body = body.encode()
    head = ("POST %s HTTP/1.1\r\nHOST: %s\r\nCONTENT-TYPE: text/xml; charset=\"utf-8\"\r\n"
            "CONTENT-LENGTH: %d\r\nSOAPACTION: \"%s#%s\"\r\nUSER-AGENT: igdd-bench/1 UPnP/1.1\r\n"
            "Connection: %s\r\n\r\n") % (path, hostport(u), len(body), st, action,
                                         "keep-alive" if keepalive else "close")
    return head, body


def action_args(action, a, port):
    if action == "pinhole":
        return "AddPinhole", [("RemoteHost", ""), ("RemotePort", "0"), ("InternalClient", a.target),
                              ("InternalPort", str(port)), ("Protocol", str(a.protonum)),
                              ("LeaseTime", str(a.lease))]
    if action == "portmap":
        return "AddPortMapping", [("NewRemoteHost", ""), ("NewExternalPort", str(port)),
                                  ("NewProtocol", a.proto.upper()), ("NewInternalPort", str(port)),
                                  ("NewInternalClient", a.target), ("NewEnabled", "1"),
                                  ("NewPortMappingDescription", "bench"),
                                  ("NewLeaseDuration", str(a.lease))]
    return "GetExternalIPAddress", []


def detect_keepalive(u, ctl, st, src):
    """True if the server keeps a connection open after answering a keep-alive request: one
    GetExternalIPAddress, then 0.5 s to see whether the server closes."""
    c = Conn(u.hostname, u.port, src)
    try:
        head, body = soap_request(u, ctl, st, "GetExternalIPAddress", [])
        status, hdrs, _ = c.request(head, body)
        if c.s is None:  # it said Connection: close
            return False
        c.s.settimeout(0.5)
        try:
            return c.s.recv(1) != b""
        except socket.timeout:
            return True
        except OSError:
            return False
    finally:
        c.close()


def upnp_error(body):
    m = re.search(rb"<errorCode>\s*(\d+)", body)
    return int(m.group(1)) if m else 0


def cmd_soap(a):
    u, services = fetch_desc(a.url, a.src)
    word = "WANIPv6FirewallControl" if a.action == "pinhole" else "WANIPConnection"
    st, (ctl, _) = find_service(services, word)
    st_ip, (ctl_ip, _) = find_service(services, "WANIPConnection")
    a.protonum = 6 if a.proto == "tcp" else 17
    keep = detect_keepalive(u, ctl_ip, st_ip, a.src)
    lat, errs, lock = [], {}, threading.Lock()
    stats = {"conns": 0, "reused": 0, "n": 0, "slow": 0, "slow_secs": 0.0}
    t_start = time.perf_counter()
    deadline = t_start + (a.duration if a.duration else a.time_limit)

    def worker(k):
        c = Conn(u.hostname, u.port, a.src)
        mine, my_errs = [], {}
        slow = [0, 0.0]   # requests that took 1 s or more (answered or not), seconds spent in them
        i = 0
        try:
            while time.perf_counter() < deadline:
                if not a.duration and k + i * a.clients >= a.count:
                    break
                if a.duration and i >= 10000000:
                    break
                if a.duration:
                    # a refresh of the client's own few ports, and a read-only action in between
                    port = a.base_port + k * 4 + (i // 2) % 4
                    act = a.action if i % 2 == 0 else "get"
                else:
                    port = a.base_port + k + i * a.clients
                    act = a.action
                name, args = action_args(act, a, port)
                head, body = soap_request(u, ctl if act != "get" else ctl_ip,
                                          st if act != "get" else st_ip, name, args, keep)
                t = time.perf_counter()
                try:
                    status, _, rbody = c.request(head, body)
                except (OSError, RuntimeError, ValueError) as e:
                    key = type(e).__name__
                    my_errs[key] = my_errs.get(key, 0) + 1
                    c.close()
                    i += 1
                    dt = time.perf_counter() - t
                    if dt >= 1.0:
                        slow[0] += 1
                        slow[1] += dt
                    continue
                dt = (time.perf_counter() - t) * 1000
                if dt >= 1000:
                    slow[0] += 1
                    slow[1] += dt / 1000
                if status == 200:
                    mine.append(dt)
                else:
                    key = "upnp%d" % upnp_error(rbody) if upnp_error(rbody) else "http%d" % status
                    my_errs[key] = my_errs.get(key, 0) + 1
                if not keep:
                    c.close()
                i += 1
        finally:
            c.close()
        with lock:
            lat.extend(mine)
            for kk, v in my_errs.items():
                errs[kk] = errs.get(kk, 0) + v
            stats["conns"] += c.conns
            stats["reused"] += c.reused
            stats["n"] += i
            stats["slow"] += slow[0]
            stats["slow_secs"] += slow[1]

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join((a.duration or a.time_limit) + 30)
    el = time.perf_counter() - t_start
    nerr = sum(errs.values())
    print("soap action=%s n=%d ok=%d err=%d secs=%.2f rate=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
          "reused=%d conns=%d mode=%s slow=%d slow_secs=%.1f errors=%s" % (
              a.action, stats["n"], len(lat), nerr, el, len(lat) / el if el > 0 else 0, pct(lat, 0.5),
              pct(lat, 0.99), max(lat or [0]), stats["reused"], stats["conns"],
              "kept-alive" if stats["reused"] else
              ("per-connection" if keep else "per-connection(server-closes)"), stats["slow"], stats["slow_secs"],
              ",".join("%s:%d" % kv for kv in sorted(errs.items())) or "-"), flush=True)
    return 0


def cmd_call(a):
    try:
        u, services = fetch_desc(a.url, a.src)
        st, (ctl, _) = find_service(services, "WANIPConnection")
        c = Conn(u.hostname, u.port, a.src)
        head, body = soap_request(u, ctl, st, "GetExternalIPAddress", [])
        t = time.perf_counter()
        status, _, rbody = c.request(head, body)
        c.close()
    except (OSError, RuntimeError, ValueError) as e:
        print("call fail %s" % e)
        return 1
    if status != 200:
        print("call fail HTTP %d" % status)
        return 1
    print("call ok ms=%.3f" % ((time.perf_counter() - t) * 1000))
    return 0


# ---------------------------------------------------------------- PCP

def addr16(text):
    if ":" in text:
        return socket.inet_pton(socket.AF_INET6, text)
    return b"\0" * 10 + b"\xff\xff" + socket.inet_pton(socket.AF_INET, text)


def map_req(client, proto, port, lifetime, nonce):
    sugg = "::" if ":" in client else "0.0.0.0"
    return (struct.pack("!BBHI", 2, 1, 0, lifetime) + addr16(client) + nonce +
            struct.pack("!B3xHH", proto, port, port) + addr16(sugg))


def pcp_socket(server, src, sport=0):
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, sport))
    s.connect((server, 5351))
    return s


def cmd_pcp(a):
    proto = 17 if a.proto == "udp" else 6
    s = pcp_socket(a.server, a.src)
    s.settimeout(1)
    nonce = os.urandom(12)
    lat, fails, timeouts, results = [], 0, 0, {}
    t0 = time.perf_counter()
    n = 0
    while n < a.count and time.perf_counter() - t0 < a.time_limit:
        port = a.base + (n // 2) % a.ports
        msg = map_req(a.src, proto, port, 600 if n % 2 == 0 else 0, nonce)
        n += 1
        t = time.perf_counter()
        s.send(msg)
        try:
            r = s.recv(1100)
        except socket.timeout:
            timeouts += 1
            continue
        lat.append((time.perf_counter() - t) * 1000)
        code = r[3] if len(r) >= 4 else -1
        if code != 0:
            fails += 1
            results[code] = results.get(code, 0) + 1
    el = time.perf_counter() - t0
    print("pcp n=%d ok=%d fail=%d timeouts=%d secs=%.2f rate=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f codes=%s" % (
        n, len(lat) - fails, fails, timeouts, el, len(lat) / el if el > 0 else 0, pct(lat, 0.5),
        pct(lat, 0.99), max(lat or [0]), ",".join("%d:%d" % kv for kv in sorted(results.items())) or "-"))
    return 0


def cmd_pcpflood(a):
    socks = []
    for _ in range(a.sockets):
        s = pcp_socket(a.server, a.src)
        s.setblocking(False)
        socks.append(s)
    nonce = os.urandom(12)
    msg = map_req(a.src, 6, a.port, 600, nonce)
    answered = 0
    sent = 0
    t0 = time.perf_counter()
    deadline = t0 + a.time_limit

    def drain():
        got = 0
        for s in socks:
            while True:
                try:
                    s.recv(1100)
                    got += 1
                except (BlockingIOError, ConnectionRefusedError):
                    break
        return got

    i = 0
    while sent < a.count and time.perf_counter() < deadline:
        try:
            socks[i % len(socks)].send(msg)
            sent += 1
        except (BlockingIOError, ConnectionRefusedError):
            pass
        i += 1
        if i % len(socks) == 0:
            answered += drain()
    el = time.perf_counter() - t0
    end = time.perf_counter() + 1.0
    while time.perf_counter() < end:
        answered += drain()
        time.sleep(0.05)
    for s in socks:
        s.close()
    print("pcpflood sent=%d answered=%d secs=%.2f sent_rate=%.0f answered_rate=%.1f" % (
        sent, answered, el, sent / el if el > 0 else 0, answered / el if el > 0 else 0))
    return 0


# ---------------------------------------------------------------- GENA

class Sink:
    """A NOTIFY sink: accepts connections, counts requests per SID, answers 200, bounded by time."""

    def __init__(self, host):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.ls = socket.socket(fam, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, 0))
        self.ls.listen(4096)
        self.port = self.ls.getsockname()[1]
        self.count = 0
        self.sids = set()
        self.lock = threading.Lock()
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.ls.settimeout(0.2)
        conns = {}
        while not self.stop:
            rl = [self.ls] + list(conns)
            try:
                r, _, _ = select.select(rl, [], [], 0.2)
            except (OSError, ValueError):
                break
            for s in r:
                if s is self.ls:
                    try:
                        c, _ = self.ls.accept()
                        c.setblocking(False)
                        conns[c] = b""
                    except OSError:
                        pass
                    continue
                try:
                    d = s.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    s.close()
                    del conns[s]
                    continue
                conns[s] += d
                buf = conns[s]
                if b"\r\n\r\n" in buf:
                    head, _, body = buf.partition(b"\r\n\r\n")
                    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    if m and len(body) < int(m.group(1)):
                        continue
                    sid = re.search(rb"(?i)\r\nsid:\s*(\S+)", head)
                    with self.lock:
                        self.count += 1
                        if sid:
                            self.sids.add(sid.group(1))
                    try:
                        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    except OSError:
                        pass
                    s.close()
                    del conns[s]
        for s in conns:
            s.close()
        self.ls.close()


def cmd_gena(a):
    u = urllib.parse.urlparse(a.url)
    sink = Sink(a.callback_host)
    cb = "http://%s:%d/notify" % (("[%s]" % a.callback_host) if ":" in a.callback_host else a.callback_host,
                                  sink.port)
    ok = refused = 0
    t0 = time.perf_counter()
    for i in range(a.count):
        if time.perf_counter() - t0 > a.time_limit:
            break
        c = Conn(u.hostname, u.port, a.callback_host)
        head = ("SUBSCRIBE %s HTTP/1.1\r\nHOST: %s\r\nCALLBACK: <%s/%d>\r\nNT: upnp:event\r\n"
                "TIMEOUT: Second-1800\r\nConnection: close\r\n\r\n") % (u.path, hostport(u), cb, i)
        try:
            status, hdrs, _ = c.request(head, b"")
            if status == 200 and hdrs.get("sid"):
                ok += 1
            else:
                refused += 1
        except (OSError, RuntimeError, ValueError):
            refused += 1
        finally:
            c.close()
    el = time.perf_counter() - t0
    # initial events: one per subscription
    end = time.perf_counter() + a.hold
    while time.perf_counter() < end and sink.count < ok:
        time.sleep(0.1)
    initial = sink.count
    change = 0
    if a.trigger:
        tu, services = fetch_desc(a.trigger, a.callback_host)
        st, (ctl, _) = find_service(services, "WANIPConnection")
        ns = argparse.Namespace(target=a.callback_host, proto="tcp", lease=600, protonum=6)
        name, args = action_args("portmap", ns, a.trigger_port)
        c = Conn(tu.hostname, tu.port, a.callback_host)
        head, body = soap_request(tu, ctl, st, name, args)
        try:
            c.request(head, body)
        except (OSError, RuntimeError, ValueError):
            pass
        c.close()
        end = time.perf_counter() + a.hold
        while time.perf_counter() < end and sink.count - initial < ok:
            time.sleep(0.1)
        change = sink.count - initial
    sink.stop = True
    sink.t.join(2)
    print("gena subscribed=%d refused=%d secs=%.2f initial_events=%d change_events=%d sids=%d" % (
        ok, refused, el, initial, change, len(sink.sids)))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("soap")
    p.add_argument("url")
    p.add_argument("--action", choices=["pinhole", "portmap", "get"], required=True)
    p.add_argument("--src", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--proto", default="tcp")
    p.add_argument("--base-port", type=int, default=20000)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--lease", type=int, default=3600)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--duration", type=float, default=0)
    p.add_argument("--time-limit", type=float, default=60)
    p = sub.add_parser("call")
    p.add_argument("url")
    p.add_argument("--src", required=True)
    p = sub.add_parser("pcp")
    p.add_argument("server")
    p.add_argument("--src", required=True)
    p.add_argument("--count", type=int, default=4000)
    p.add_argument("--ports", type=int, default=4)
    p.add_argument("--base", type=int, default=30000)
    p.add_argument("--proto", default="udp")
    p.add_argument("--time-limit", type=float, default=60)
    p = sub.add_parser("pcpflood")
    p.add_argument("server")
    p.add_argument("--src", required=True)
    p.add_argument("--count", type=int, default=100000)
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--port", type=int, default=40000)
    p.add_argument("--time-limit", type=float, default=30)
    p = sub.add_parser("gena")
    p.add_argument("url")
    p.add_argument("--callback-host", required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--hold", type=float, default=10)
    p.add_argument("--trigger", help="root description URL: add one port mapping to cause an event")
    p.add_argument("--trigger-port", type=int, default=45000)
    p.add_argument("--time-limit", type=float, default=40)
    a = ap.parse_args()
    return {"soap": cmd_soap, "call": cmd_call, "pcp": cmd_pcp, "pcpflood": cmd_pcpflood,
            "gena": cmd_gena}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
