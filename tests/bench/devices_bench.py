#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers of tests/bench/devices_run.sh (the device bench, issue 11).

  devices_bench.py open ADDR PORT [--interval 0.05] [--limit 30] [--attempt 1.0]
      Starts a fresh non-blocking TCP connect to [ADDR]:PORT every --interval seconds (each attempt
      lives --attempt seconds, so a SYN dropped before the pinhole opened does not hide a later one)
      until one completes. Prints "open_ns=T attempts=K" (T = the wall clock, ns, at which the first
      connect completed; exit 0) or "timeout attempts=K" (exit 1) after --limit seconds.
  devices_bench.py tslog IN OUT
      Follows the file IN (igdd -d's stderr, which carries no timestamps) and appends each new line to
      OUT as "EPOCH_NS LINE"; the resolution is the 5 ms poll. Runs until killed.
"""
import argparse
import errno
import os
import select
import socket
import sys
import time


def cmd_open(a):
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    t0 = time.monotonic()
    deadline = t0 + a.limit
    nxt = t0
    inflight = []  # (socket, started)
    attempts = 0
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                print("timeout attempts=%d" % attempts, flush=True)
                return 1
            if now >= nxt:
                s = socket.socket(fam, socket.SOCK_STREAM)
                s.setblocking(False)
                attempts += 1
                rc = s.connect_ex((a.addr, a.port))
                if rc == 0:
                    print("open_ns=%d attempts=%d" % (time.time_ns(), attempts), flush=True)
                    s.close()
                    return 0
                if rc in (errno.EINPROGRESS, errno.EAGAIN):
                    inflight.append((s, now))
                else:
                    s.close()  # refused / unreachable: try again at the next tick
                nxt += a.interval
                if nxt < now:
                    nxt = now + a.interval
            keep = []
            for s, started in inflight:
                if now - started > a.attempt:
                    s.close()
                else:
                    keep.append((s, started))
            inflight = keep
            wait = max(0.0, min(nxt, deadline) - time.monotonic())
            if not inflight:
                time.sleep(wait)
                continue
            _, w, _ = select.select([], [s for s, _ in inflight], [], wait)
            done_ns = time.time_ns()
            for s in w:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    print("open_ns=%d attempts=%d" % (done_ns, attempts), flush=True)
                    return 0
                inflight = [(x, st) for x, st in inflight if x is not s]
                s.close()
    finally:
        for s, _ in inflight:
            s.close()


def cmd_tslog(a):
    pos = 0
    buf = b""
    with open(a.out, "ab", buffering=0) as out:
        while True:
            try:
                with open(a.inp, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            if data:
                pos += len(data)
                ts = b"%d " % time.time_ns()
                buf += data
                *lines, buf = buf.split(b"\n")
                if lines:
                    out.write(b"".join(ts + ln + b"\n" for ln in lines))
            time.sleep(0.005)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("open")
    o.add_argument("addr")
    o.add_argument("port", type=int)
    o.add_argument("--interval", type=float, default=0.05)
    o.add_argument("--limit", type=float, default=30.0)
    o.add_argument("--attempt", type=float, default=1.0)
    t = sub.add_parser("tslog")
    t.add_argument("inp")
    t.add_argument("out")
    a = ap.parse_args()
    if a.cmd == "open":
        if not 0.005 <= a.interval <= 1 or not 0 < a.limit <= 120:
            sys.exit("devices_bench: bad --interval or --limit")
        return cmd_open(a)
    try:
        cmd_tslog(a)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
