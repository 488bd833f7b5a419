#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs ui.test.js: playwright-core drives Debian's /usr/bin/chromium, started inside the lab's
# lan1 namespace (so the browser is a LAN host), against igdd's web UI.
# Needs a running lab with igdd serving the UI (tests/integration/t_browser.sh sets it up):
#   LAB LAB_DIR LAN1_EUI64 LAN1_MAC   the lab (tests/lab/lab.sh)
#   WEB_BASE WEB_PASSWORD             where the UI is, and its password
#   IGDCTL_BIN                        igdctl for the rule made "from elsewhere"
#   SHOTS                             screenshot directory (default tests/out/browser)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$here/../.." && pwd)
export TOP
export SHOTS=${SHOTS:-$TOP/tests/out/browser}

if [ ! -d "$here/node_modules/playwright-core" ]; then
	echo "run.sh: playwright-core is missing: run 'make deps' (npm install in tests/browser)" >&2
	exit 1
fi
[ -x /usr/bin/chromium ] || { echo "run.sh: /usr/bin/chromium is missing (make deps)" >&2; exit 1; }

# A fresh profile and home per run, in a directory of its own outside the checkout: nothing from another
# run or the host's user leaks in, and chromium's socket paths below it stay short (at most 107 bytes;
# a checkout at a longer path killed chromium at launch).
profile=$(mktemp -d /tmp/igdd-chromium.XXXXXX)
trap 'rm -rf "$profile"' EXIT
trap 'exit 143' INT TERM
mkdir -p "$profile/home" "$profile/tmp"
wrapper=$profile/chromium-lan1.sh
cat >"$wrapper" <<EOW
#!/bin/sh
# chromium as a host in ${LAB}lan1; playwright talks to it over inherited pipes (fds 3 and 4)
export HOME=$profile/home XDG_CONFIG_HOME=$profile/home/.config XDG_CACHE_HOME=$profile/home/.cache TMPDIR=$profile/tmp
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
exec ip netns exec ${LAB}lan1 /usr/bin/chromium "\$@"
EOW
chmod +x "$wrapper"
export CHROMIUM_WRAPPER=$wrapper
cd "$here"
# playwright makes its fresh --user-data-dir under TMPDIR
export TMPDIR=$profile/tmp
timeout -k 5 180 node ui.test.js
