#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Reads `nft -j list ...` output on stdin.

  nftcount.py elems   number of elements over every set and map listed
  nftcount.py rules   number of rules listed
  nftcount.py sets    one line per set/map: NAME ELEMENTS
"""
import json
import sys


def main(argv):
    what = argv[1] if len(argv) == 2 else ""
    text = sys.stdin.read()
    objs = json.loads(text).get("nftables", []) if text.strip() else []
    if what == "elems":
        print(sum(len(o[k].get("elem", [])) for o in objs for k in ("set", "map") if k in o))
    elif what == "rules":
        print(sum(1 for o in objs if "rule" in o))
    elif what == "sets":
        for o in objs:
            for k in ("set", "map"):
                if k in o:
                    print(o[k]["name"], len(o[k].get("elem", [])))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
