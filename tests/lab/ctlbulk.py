#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Drives igdd's control socket directly (one JSON request per connection, see tests/CONTRACTS.md).

  ctlbulk.py SOCK add-pinholes ADDR6 PROTO FIRST_PORT COUNT [LEASE]
      adds COUNT pinholes ADDR6 PROTO FIRST_PORT.., one request each; prints "added N in S s (R/s)"
  ctlbulk.py SOCK delete-all
      deletes every rule; prints "deleted N in S s (R/s)"
  ctlbulk.py SOCK count
      prints the number of rules igdd lists
Exit 0 when every request succeeded, 1 otherwise (the first error on stderr).
"""
import json
import socket
import sys
import time


def call(path_sock, method, path, body=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path_sock)
    req = {"method": method, "path": path}
    if body is not None:
        req["body"] = body
    s.sendall(json.dumps(req).encode() + b"\n")
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def rules(sock):
    ans = call(sock, "GET", "/api/v1/rules")
    return ans.get("body", {}).get("rules", [])


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    sock, cmd = argv[1], argv[2]
    t0 = time.monotonic()
    if cmd == "add-pinholes" and len(argv) in (7, 8):
        addr, proto, first, count = argv[3], argv[4], int(argv[5]), int(argv[6])
        body = {"kind": "pinhole", "address": addr, "proto": proto}
        if len(argv) == 8:
            body["lease"] = int(argv[7])
        for i in range(count):
            body["port"] = first + i
            ans = call(sock, "POST", "/api/v1/rules", body)
            if ans.get("status") != 201:
                sys.stderr.write("request %d (port %d) failed: %s\n" % (i, first + i, json.dumps(ans)))
                return 1
        dt = time.monotonic() - t0
        print("added %d in %.2f s (%.0f/s)" % (count, dt, count / dt if dt > 0 else 0))
        return 0
    if cmd == "delete-all" and len(argv) == 3:
        ids = [r["id"] for r in rules(sock)]
        t0 = time.monotonic()
        for rid in ids:
            ans = call(sock, "DELETE", "/api/v1/rules/%s" % rid)
            if ans.get("status") != 200:
                sys.stderr.write("delete %s failed: %s\n" % (rid, json.dumps(ans)))
                return 1
        dt = time.monotonic() - t0
        print("deleted %d in %.2f s (%.0f/s)" % (len(ids), dt, len(ids) / dt if dt > 0 else 0))
        return 0
    if cmd == "count" and len(argv) == 3:
        print(len(rules(sock)))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
