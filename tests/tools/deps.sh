#!/bin/sh
# Installs everything the build, the tests and the demo need, and builds pupnp 1.14.20 (libupnp)
# from Debian trixie's own source package, with Debian's patches and ours (tests/tools/pupnp/), into
# .deps/ (build-local, never committed).
#
# Why not Debian 12's libupnp 1.8.4: no IPv6 SSDP, IPv6 HTTP on link-local only, and an
# unauthenticated crash (CVE-2020-13848). See ../shared/reference/dependencies.md.
#
# Idempotent: installs only what is missing; rebuilds pupnp only when its stamp is absent.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
deps="$top/.deps"
mkdir -p "$deps"
deps=$(cd "$deps" && pwd -P)   # the real place, also when .deps is a symlink shared by worktrees
prefix="$deps/pupnp"
# our own patches to pupnp (tests/tools/pupnp/*.patch, applied after Debian's): the stamp names their
# checksum, so a changed patch rebuilds the library
ours=$(cat "$top"/tests/tools/pupnp/*.patch | sha256sum | cut -c1-12)
stamp="$prefix/.built-1.14.20-1+deb13u1+igdd-$ours"

PACKAGES="build-essential pkg-config cmake dpkg-dev xz-utils ca-certificates
 libxml2-dev libnftnl-dev libmnl-dev check libmicrohttpd-dev libjansson-dev libcap-dev
 clang libclang-rt-14-dev
 nftables iproute2 iputils-ping procps psmisc socat tshark valgrind conntrack radvd
 miniupnpc libminiupnpc-dev python3 python3-miniupnpc natpmpc miniupnpd-nftables keepalived
 transmission-daemon qbittorrent-nox python3-libtorrent syncthing
 chromium avahi-daemon"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
# Node may come from another packaging of nodejs that bundles npm: ask for the command, not the package.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer no without a prompt.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing
fi
# Debian's miniupnpd package may start its own daemon; the lab and the side-by-side bench start theirs.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q miniupnpd 2>/dev/null; then
	systemctl disable --now miniupnpd || true
fi

if [ ! -f "$stamp" ]; then
	ORIG=pupnp_1.14.20.orig.tar.gz
	ORIG_SHA=34a1303ad3f091cdb190466a25eaa9ec620b29c0a36352fb0ad7d7436e6af9d5
	DEB=pupnp_1.14.20-1+deb13u1.debian.tar.xz
	DEB_SHA=65edd5e6ca25f424b49afc02e7bc61d785fb034f8b5b97a1e2a6fc77a6827cb6
	src="$deps/src"
	mkdir -p "$src/lists/partial"
	# A private apt configuration with only trixie's deb-src: no binary package from trixie can be
	# pulled in by accident, and the host's sources.list stays untouched.
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$src/sources.list"
	aptopt="-q -o Dir::Etc::SourceList=$src/sources.list -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists=$src/lists"
	cd "$src"
	if ! echo "$ORIG_SHA  $ORIG" | sha256sum -c --status 2>/dev/null || ! echo "$DEB_SHA  $DEB" | sha256sum -c --status 2>/dev/null; then
		# shellcheck disable=SC2086
		apt-get $aptopt update
		# The .dsc has been seen to answer 404 while both tarballs arrive, so apt's exit code is not
		# the verdict: the checksums below are.
		# shellcheck disable=SC2086
		apt-get $aptopt source --download-only pupnp=1:1.14.20-1+deb13u1 || true
	fi
	echo "$ORIG_SHA  $ORIG" | sha256sum -c
	echo "$DEB_SHA  $DEB" | sha256sum -c
	rm -rf pupnp-release-1.14.20 "$prefix"
	tar xzf "$ORIG"
	cd pupnp-release-1.14.20
	tar xJf "../$DEB"
	grep -v '^#' debian/patches/series | while read -r patch; do
		[ -n "$patch" ] || continue
		echo "deps: applying debian/patches/$patch"
		patch -p1 --batch <"debian/patches/$patch"
	done
	for patch in "$top"/tests/tools/pupnp/*.patch; do
		echo "deps: applying ${patch#"$top"/}"
		patch -p1 --batch <"$patch"
	done
	cmake -S . -B build -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DUPNP_BUILD_SHARED=OFF -DUPNP_BUILD_STATIC=ON -DUPNP_BUILD_SAMPLES=OFF -DUPNP_BUILD_TEST=OFF \
		-DBUILD_TESTING=OFF -DUPNP_ENABLE_IPV6=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null
	cmake --build build -j"$(nproc)" >/dev/null
	cmake --install build >/dev/null
	touch "$stamp"
	echo "deps: pupnp 1.14.20 (+ Debian's and our patches) built into $prefix"
fi

# The .pc files name the prefix pupnp was installed to; a tree that was moved must still find the
# headers and libraries where they are.
for pc in "$prefix"/lib/pkgconfig/*.pc; do
	[ -f "$pc" ] || continue
	grep -qxF "prefix=$prefix" "$pc" || sed -i "s|^prefix=.*|prefix=$prefix|" "$pc"
done

# igdd's default user= (a system user of its own, as the lab's tests run it); only made when missing.
if ! id -u igdd >/dev/null 2>&1; then
	echo "deps: adding the system user igdd"
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin igdd || id -u igdd >/dev/null
fi

# playwright-core drives Debian's chromium in the browser test; it downloads no browser of its own.
if [ ! -d "$top/tests/browser/node_modules/playwright-core" ] && [ -f "$top/tests/browser/package.json" ]; then
	(cd "$top/tests/browser" && npm install --no-audit --no-fund --silent)
fi
exit 0
