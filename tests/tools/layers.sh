#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The folders' dependencies point one way (../shared/DESIGN.md, README "Architecture"):
#   firewall/ -> (libraries only)   pcpd/ -> firewall/   web/ -> firewall/   igdd/ -> firewall/ pcpd/ web/
# Fails, naming the file and line, when a project include points another way, and when pcpd links the
# web library. Run by `make test` before anything is built.
set -eu
cd "$(dirname "$0")/../.."
bad=0
check() {   # FOLDER ALLOWED...
	dir=$1
	shift
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		# project includes are "folder/file.h" (or "file.h" beside the file, which is its own folder)
		grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*/' "$f" | while IFS= read -r hit; do
			target=$(printf '%s\n' "$hit" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^/"]*\)\/.*/\1/')
			ok=0
			for a in "$dir" "$@"; do [ "$target" = "$a" ] && ok=1; done
			if [ $ok = 0 ]; then
				echo "layers: $f:${hit%%:*}: $dir/ may not include $target/ (${hit#*:})"
				echo x >>"$tmp"
			fi
		done
	done
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
check firewall
check pcpd firewall
check web firewall
check igdd firewall pcpd web
if grep -Eq '^\$\(B\)/pcpd/pcpd:.*LIB_WEB' Makefile; then
	echo "layers: Makefile: pcpd links the web library"
	echo x >>"$tmp"
fi
bad=$(wc -l <"$tmp")
if [ "$bad" -gt 0 ]; then
	echo "layers: $bad include(s) point the wrong way"
	exit 1
fi
echo "layers: includes point one way (firewall <- pcpd, web <- igdd)"
