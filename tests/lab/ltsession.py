#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A libtorrent 2.0 session (Debian's python3-libtorrent), as a BitTorrent client runs it: it listens on
PORT and asks the router for that port with the methods given, then stays up, logging libtorrent's
port-mapping alerts, until SECONDS have passed or it is signalled.

  ltsession.py PORT upnp|natpmp|both SECONDS
"""
import signal
import sys
import time

import libtorrent as lt


def main(argv):
    if len(argv) != 4 or argv[2] not in ("upnp", "natpmp", "both"):
        sys.stderr.write(__doc__)
        return 2
    port, how, seconds = int(argv[1]), argv[2], float(argv[3])
    ses = lt.session({
        "listen_interfaces": "0.0.0.0:%d,[::]:%d" % (port, port),
        "enable_upnp": how in ("upnp", "both"),
        "enable_natpmp": how in ("natpmp", "both"),
        "enable_dht": False,
        "enable_lsd": False,
        "alert_mask": lt.alert.category_t.port_mapping_notification
        | lt.alert.category_t.port_mapping_log_notification
        | lt.alert.category_t.error_notification,
    })
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    deadline = time.monotonic() + seconds
    while not stop and time.monotonic() < deadline:
        ses.wait_for_alert(200)
        for a in ses.pop_alerts():
            print("%.3f %s: %s" % (time.time(), a.what(), a.message()), flush=True)
    # a clean exit, as the application's quit: libtorrent deletes its mappings
    del ses
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
