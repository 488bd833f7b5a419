#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The folders' dependencies point one way (../shared/DESIGN.md, README "Architecture: folders and layers"):
#   firewall/ -> (libraries only)   pcpd/ -> firewall/   web/ -> firewall/   igdd/ -> firewall/ pcpd/ web/
# and inside firewall/, one folder per layer, each including only itself and the layers below it:
#   lib/ <- nft/ <- core/ <- runtime/
# Fails, naming the file and line, when a project include points another way (or climbs out with ../,
# which would hide where it points), when a file of firewall/ sits in no layer, and when pcpd links the
# web library. Run by `make test` before anything is built.
set -eu
cd "$(dirname "$0")/../.."
FIREWALL_LAYERS="lib nft core runtime"   # bottom first
bad=0

out=$(
	# firewall/'s own entries: a layer folder each, nothing beside them (build outputs of B=. aside)
	for f in firewall/*; do
		case $f in *.a|*.o|*.d) continue ;; esac
		if [ -d "$f" ]; then echo "DIR $f"; else echo "FILE $f"; fi
	done
	# every project include: FILE:LINE:#include "..."
	find firewall pcpd web igdd -name '*.[ch]' | sort |
		xargs grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' | sed 's/^/INC /'
)
printf '%s\n' "$out" | awk -v layers="$FIREWALL_LAYERS" '
BEGIN {
	n = split(layers, l, " ")
	for (i = 1; i <= n; i++) rank[l[i]] = i
	list = layers; gsub(/ /, ",", list)
	# top folder -> the top folders it may include besides itself
	may["firewall"] = ""; may["pcpd"] = " firewall "; may["web"] = " firewall "
	may["igdd"] = " firewall pcpd web "
}
function wrong(msg) { print "layers: " msg; bad++ }
$1 == "DIR" {
	sub(/^firewall\//, "", $2)
	if (!($2 in rank)) wrong("firewall/" $2 "/: not a layer of firewall/ (one of: " layers ")")
	next
}
$1 == "FILE" { wrong($2 ": in no layer: it belongs in one of firewall/{" list "}/"); next }
$1 == "INC" {
	line = substr($0, 5)
	split(line, p, ":")
	where = p[1] ":" p[2]
	path = line
	sub(/^[^"]*"/, "", path); sub(/".*/, "", path)
	split(p[1], fp, "/")
	top = fp[1]
	if (path ~ /(^|\/)\.\.\//) { wrong(where ": include by a relative path (" path "): name it from the top, folder/file.h"); next }
	if (path !~ /\//) next   # beside the file: its own folder and layer
	split(path, tp, "/")
	if (tp[1] != top && index(may[top], " " tp[1] " ") == 0) {
		wrong(where ": " top "/ may not include " tp[1] "/ (" path ")")
		next
	}
	if (top != "firewall" || tp[1] != "firewall") next
	# inside firewall/: the layer of the file against the layer of what it includes
	own = fp[2]
	if (!(own in rank)) next   # a file in no layer: reported above
	if (!(3 in tp) || !(tp[2] in rank)) { wrong(where ": " path " is in no layer"); next }
	if (rank[tp[2]] > rank[own])
		wrong(where ": firewall/" own "/ may not include firewall/" tp[2] "/ (" path "): " tp[2] " is above " own)
}
END {
	if (bad) { print "layers: " bad " include(s) or file(s) out of place"; exit 1 }
}' || bad=1
# the core's private header (its table, indexes and batch) is for the core's own files and the core's
# white-box unit tests (tests/unit/check_core*.c): everyone else goes through core.h's entry points
for f in $(grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"firewall/core/core_priv\.h"' \
	--include='*.c' --include='*.h' igdd pcpd web firewall tests 2>/dev/null); do
	case $f in firewall/core/core.c | firewall/core/core_*.c | tests/unit/check_core*.c) ;; *)
		echo "layers: $f: includes firewall/core/core_priv.h, the core's private header (use core.h)"
		bad=1 ;;
	esac
done
if grep -Eq '^\$\(B\)/pcpd/pcpd:.*LIB_WEB' Makefile; then
	echo "layers: Makefile: pcpd links the web library"
	bad=1
fi
[ "$bad" = 0 ] || exit 1
echo "layers: includes point one way (firewall <- pcpd, web <- igdd; inside firewall/: $(echo $FIREWALL_LAYERS | sed 's/ / <- /g'))"
