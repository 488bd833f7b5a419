#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The web UI's HTTP server and JSON API against the real igdd in the lab, with curl from lan1:
# static pages and security headers, login (wrong password 401, rate limit 429), session cookie
# flags, CSRF (403 without the token), no session (401), every endpoint, bad JSON and wrong types
# (400), bad values (422), device names and settings that survive a restart, the Host header check
# against DNS rebinding (421), LAN only (the WAN side gets nothing), and igdd still answering after all of it.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
it_setup

PASSWORD='correct horse battery'
HASH=$(printf '%s\n%s\n' "$PASSWORD" "$PASSWORD" | "$IGDCTL_BIN" passwd) || fail "igdctl passwd"
case $HASH in 'web_password_hash=$'*) ok "igdctl passwd prints the config line" ;; *) fail "igdctl passwd printed '$HASH'" ;; esac
rc=0
printf 'password1\npassword2\n' | "$IGDCTL_BIN" passwd >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 1 "igdctl passwd refuses two different passwords"

lab_igdd_start "web_listen=:8080" "$HASH" web_hostname=router.lan || fail "igdd did not start"
BASE=http://$CPE_LAN4:8080
BASE6="http://[$CPE_LAN6]:8080"
JAR=$LAB_DIR/cookies
HDR=$LAB_DIR/headers

# web NS METHOD PATH [BODY] [CURL ARGS...]: prints the status; the body goes to $LAB_DIR/body
web() {
	local ns=$1 method=$2 path=$3 body=${4:-}
	shift 4 2>/dev/null || shift $#
	local args=(-s -o "$LAB_DIR/body" -D "$HDR" -w '%{http_code}' -m 5 -b "$JAR" -c "$JAR" -X "$method")
	if [ -n "$body" ]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$body")
	fi
	lab_exec "$ns" curl "${args[@]}" "$@" "$BASE$path" || true
}
api() { web lan1 "$@"; }
# expect_status GOT WANT MESSAGE
expect_status() {
	if [ "$1" = "$2" ]; then ok "$3 ($1)"; else fail "$3 (got $1, want $2; body: $(head -c 300 "$LAB_DIR/body"))"; fi
}
jq_body() { "$LAB_PY" -c "import json,sys; d=json.load(open('$LAB_DIR/body')); print($1)"; }
alive() { igdctl_lab status >/dev/null || fail "igdd stopped answering"; }

step "static files and headers"
s=$(api GET /)
expect_status "$s" 200 "GET / serves the UI"
grep -q '<script src="app.js"' "$LAB_DIR/body" || fail "index.html does not load app.js"
grep -qi "^Content-Security-Policy: .*script-src 'self'" "$HDR" || fail "no CSP with script-src 'self'"
grep -qi '^X-Frame-Options: DENY' "$HDR" || fail "no X-Frame-Options"
grep -qi '^X-Content-Type-Options: nosniff' "$HDR" || fail "no nosniff"
ok "CSP, X-Frame-Options, nosniff"
expect_status "$(api GET /app.js)" 200 "GET /app.js"
grep -qi '^Content-Type: text/javascript' "$HDR" || fail "app.js is not text/javascript"
expect_status "$(api GET /style.css)" 200 "GET /style.css"
expect_status "$(api GET /../igdd.conf)" 404 "no path traversal"
expect_status "$(api GET /nothing.html)" 404 "unknown page 404"
expect_status "$(api DELETE /index.html)" 405 "DELETE on a page 405"

step "no session"
expect_status "$(api GET /api/v1/session)" 200 "GET session without login"
expect_eq "$(jq_body 'd["logged_in"], d["password_set"]')" "False True" "session says: not logged in, password set"
for p in /api/v1/status /api/v1/rules /api/v1/rules/1 /api/v1/settings /api/v1/devices /api/v1/nothing; do
	expect_status "$(api GET $p)" 401 "GET $p without a session"
done
expect_status "$(api POST /api/v1/rules '{"kind":"pinhole"}')" 401 "POST rules without a session"
expect_status "$(api POST /api/v1/logout '{}')" 401 "logout without a session"

step "login"
expect_status "$(api POST /api/v1/login '{"password":"wrong"}')" 401 "wrong password"
expect_status "$(api POST /api/v1/login '{"password":')" 400 "bad JSON"
expect_status "$(api POST /api/v1/login '{"password":5}')" 400 "password of the wrong type"
expect_status "$(api POST /api/v1/login '[]')" 400 "body not an object"
expect_status "$(api POST /api/v1/login '{"password":"wrong again"}')" 401 "wrong password again"
expect_status "$(api GET /api/v1/login)" 405 "GET login"
s=$(web lan1 POST /api/v1/login '' -H 'Content-Type: text/plain' --data-binary "{\"password\":\"$PASSWORD\"}")
expect_status "$s" 415 "login body that does not say JSON"
# 5 attempts at once, then one every 12 s: this one is the 6th from lan1
expect_status "$(api POST /api/v1/login "{\"password\":\"$PASSWORD\"}")" 429 "rate limit after 5 attempts"
grep -qi '^Retry-After: [0-9]' "$HDR" || fail "429 without Retry-After"
ok "429 carries Retry-After"
# lan2 has its own bucket
s=$(web lan2 POST /api/v1/login "{\"password\":\"$PASSWORD\"}" -c "$LAB_DIR/jar2")
expect_status "$s" 200 "lan2 logs in (its own bucket)"
grep -i '^Set-Cookie:' "$HDR" | grep -qi 'HttpOnly' || fail "cookie without HttpOnly"
grep -i '^Set-Cookie:' "$HDR" | grep -qi 'SameSite=Strict' || fail "cookie without SameSite=Strict"
ok "session cookie is HttpOnly and SameSite=Strict"
step "waiting 12 s for lan1's bucket to refill one attempt"
sleep 12.5
expect_status "$(api POST /api/v1/login "{\"password\":\"$PASSWORD\"}")" 200 "lan1 logs in after the refill"
CSRF=$(jq_body 'd["csrf"]')
[ ${#CSRF} = 64 ] || fail "no CSRF token in the login answer"
ok "login answer carries a CSRF token"
expect_status "$(api GET /api/v1/session)" 200 "GET session"
expect_eq "$(jq_body 'd["logged_in"], d["csrf"]=="'"$CSRF"'"')" "True True" "session: logged in, same CSRF token"

step "endpoints"
expect_status "$(api GET /api/v1/status)" 200 "GET status"
expect_status "$(api GET /api/v1/rules)" 200 "GET rules"
expect_eq "$(jq_body 'len(d["rules"])')" 0 "no rules yet"
RULE="{\"kind\":\"pinhole\",\"address\":\"$LAN1_EUI64\",\"proto\":\"tcp\",\"port\":8081,\"description\":\"web test\"}"
expect_status "$(api POST /api/v1/rules "$RULE")" 403 "POST rules without X-CSRF-Token"
expect_status "$(api POST /api/v1/rules "$RULE" -H 'X-CSRF-Token: 00')" 403 "POST rules with a wrong X-CSRF-Token"
C=(-H "X-CSRF-Token: $CSRF")
expect_status "$(api POST /api/v1/rules "$RULE" "${C[@]}")" 201 "POST rules with the token"
ID=$(jq_body 'd["rule"]["id"]')
expect_eq "$(jq_body 'd["rule"]["origin"], d["rule"]["description"]')" "web web test" "rule origin web, description kept"
expect_status "$(api GET "/api/v1/rules/$ID")" 200 "GET rules/$ID"
expect_status "$(api POST "/api/v1/rules/$ID/refresh" '{"lease":600}' "${C[@]}")" 200 "refresh $ID"
expect_status "$(api POST "/api/v1/rules/$ID/refresh" '{"lease":"x"}' "${C[@]}")" 400 "refresh with a string lease"
expect_status "$(api POST /api/v1/rules '{"kind":"pinhole","address":"2001:db8:1:1::zz","proto":"tcp","port":1}' "${C[@]}")" 422 "bad address 422"
expect_status "$(api POST /api/v1/rules '{"kind":"pinhole","address":5,"proto":"tcp","port":1}' "${C[@]}")" 400 "address of the wrong type 400"
expect_status "$(api POST /api/v1/rules '{"kind":' "${C[@]}")" 400 "bad JSON 400"
expect_status "$(api POST /api/v1/rules '' "${C[@]}")" 400 "no body 400"
big=$(head -c 70000 /dev/zero | tr '\0' 'a')
expect_status "$(api POST /api/v1/rules "{\"description\":\"$big\"}" "${C[@]}")" 413 "70 kB body 413"
expect_status "$(api DELETE "/api/v1/rules/$ID")" 403 "DELETE without the token"
expect_status "$(api DELETE "/api/v1/rules/$ID" '' "${C[@]}")" 200 "DELETE with the token"
expect_status "$(api DELETE "/api/v1/rules/$ID" '' "${C[@]}")" 404 "DELETE again 404"
s=$(api GET /api/v1/devices)
case $s in 200 | 404) ok "GET devices answers $s (404 until the devices API exists)" ;; *) expect_status "$s" 200 "GET devices" ;; esac
alive

step "device names"
# name_of MAC: the name GET /api/v1/devices shows for MAC ("-" when the device is not listed)
name_of() {
	expect_status "$(api GET /api/v1/devices)" 200 "GET devices" >/dev/null
	jq_body "next((x['name'] for x in d['devices'] if x['mac']=='$1'), '-')"
}
# lan1 has talked to the cpe (curl above): its neighbour entry makes it a device
expect_eq "$(name_of "$LAN1_MAC")" "" "lan1 is listed without a name"
DEV=/api/v1/devices/$LAN1_MAC
expect_status "$(api PUT "$DEV" '{"name":"Game console"}')" 403 "PUT a name without X-CSRF-Token"
expect_status "$(api PUT "$DEV" '{"name":"Game console"}' "${C[@]}")" 200 "PUT a name for lan1"
expect_eq "$(jq_body 'd["mac"], d["name"], d["present"]')" "$LAN1_MAC Game console True" "the answer: MAC, name, present"
expect_eq "$(name_of "$LAN1_MAC")" "Game console" "GET devices shows lan1's name"
AWAY=52:54:00:12:34:99
expect_status "$(api PUT /api/v1/devices/$AWAY '{"name":"Away phone"}' "${C[@]}")" 200 "a device not seen may be named"
expect_eq "$(jq_body 'd["present"]')" False "it is not present"
expect_status "$(api PUT /api/v1/devices/52:54:00:12:34 '{"name":"x"}' "${C[@]}")" 422 "a bad MAC 422"
expect_status "$(api PUT /api/v1/devices/01:00:5e:00:00:01 '{"name":"x"}' "${C[@]}")" 422 "a multicast MAC 422"
expect_status "$(api PUT "$DEV" '{"name":"two\nlines"}' "${C[@]}")" 422 "a name with a control character 422"
expect_status "$(api PUT "$DEV" "{\"name\":\"$(printf 'x%.0s' {1..64})\"}" "${C[@]}")" 422 "a 64-byte name 422"
expect_status "$(api PUT "$DEV" '{"name":7}' "${C[@]}")" 400 "a name of the wrong type 400"
expect_status "$(api PUT "$DEV" '{"name":' "${C[@]}")" 400 "bad JSON 400"
expect_status "$(api GET "$DEV")" 405 "GET one device 405"
expect_eq "$(name_of "$LAN1_MAC")" "Game console" "refused requests changed nothing"
alive

step "apps on a device"
# apps_of MAC: "apps" as GET /api/v1/devices shows it for MAC
apps_of() {
	expect_status "$(api GET /api/v1/devices)" 200 "GET devices" >/dev/null
	jq_body "next((x['apps'] for x in d['devices'] if x['mac']=='$1'), '-')"
}
expect_eq "$(apps_of "$LAN1_MAC")" True "apps on lan1 may open ports by default"
expect_status "$(api PUT "$DEV" '{"apps":false}')" 403 "PUT apps without X-CSRF-Token"
expect_status "$(api PUT "$DEV" '{"apps":"no"}' "${C[@]}")" 400 "apps of the wrong type 400"
expect_status "$(api PUT /api/v1/devices/52:54:00:12:34 '{"apps":false}' "${C[@]}")" 422 "block a bad MAC 422"
expect_status "$(api PUT "$DEV" '{"apps":false}' "${C[@]}")" 200 "block apps on lan1"
expect_eq "$(jq_body 'd["mac"], d["name"], d["apps"], d["removed"]')" "$LAN1_MAC Game console False 0" \
	"the answer: MAC, name kept, apps, rules removed"
expect_eq "$(apps_of "$LAN1_MAC")" False "GET devices shows lan1 blocked"
alive

step "settings"
expect_status "$(api GET /api/v1/settings)" 200 "GET settings"
expect_eq "$(jq_body 'd["enable_pcp"], d["allow_temporary"], d["max_lifetime"]')" "False True 86400" "settings from the config"
expect_status "$(api PUT /api/v1/settings '{"max_lifetime":3600}')" 403 "PUT settings without the token"
expect_status "$(api PUT /api/v1/settings '{"max_lifetime":"1h"}' "${C[@]}")" 400 "max_lifetime of the wrong type"
expect_status "$(api PUT /api/v1/settings '{"max_lifetime":5}' "${C[@]}")" 422 "max_lifetime below min_lifetime"
expect_status "$(api PUT /api/v1/settings '{"max_lifetime":99999999}' "${C[@]}")" 422 "max_lifetime above a week"
expect_status "$(api PUT /api/v1/settings '{"enable_upnp":"yes"}' "${C[@]}")" 400 "enable_upnp of the wrong type"
expect_status "$(api PUT /api/v1/settings '{"colour":"red"}' "${C[@]}")" 400 "unknown setting"
expect_status "$(api PUT /api/v1/settings '{"max_lifetime":3600,"allow_temporary":false}' "${C[@]}")" 200 "PUT settings"
expect_status "$(api POST /api/v1/rules "{\"kind\":\"pinhole\",\"address\":\"$LAN1_EUI64\",\"proto\":\"udp\",\"port\":9,\"lease\":0}" "${C[@]}")" 201 "a rule after the change"
expect_eq "$(jq_body 'd["rule"]["lease"]')" 3600 "its lease follows the new max_lifetime"

step "restart keeps the settings"
lab_igdd_stop || fail "igdd stop"
lab_igdd_start "web_listen=:8080" "$HASH" web_hostname=router.lan || fail "igdd did not restart"
expect_status "$(api GET /api/v1/settings)" 401 "sessions do not survive a restart"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do
	s=$(api POST /api/v1/login "{\"password\":\"$PASSWORD\"}")
	[ "$s" = 200 ] && break
	sleep 1
done
expect_status "$s" 200 "log in again"
CSRF=$(jq_body 'd["csrf"]')
C=(-H "X-CSRF-Token: $CSRF")
expect_status "$(api GET /api/v1/settings)" 200 "GET settings after the restart"
expect_eq "$(jq_body 'd["max_lifetime"], d["allow_temporary"]')" "3600 False" "settings kept across the restart"
expect_eq "$(name_of "$LAN1_MAC")" "Game console" "lan1's name kept across the restart"
expect_eq "$(apps_of "$LAN1_MAC")" False "lan1's block kept across the restart"
expect_status "$(api PUT "$DEV" '{"apps":true}' "${C[@]}")" 200 "allow apps on lan1 again"
expect_eq "$(jq_body 'd["apps"], d["removed"]')" "True 0" "allowed, nothing removed"
grep -qx "$AWAY Away phone" "$LAB_DIR"/state/meta.device_name_* || fail "the away device's name is not in the store"
ok "the away device's name is in the store"
expect_status "$(api PUT /api/v1/devices/$AWAY '{"name":""}' "${C[@]}")" 200 "un-name the away device"

step "a config reload (SIGHUP) keeps the settings saved in the UI"
reloads() { grep -c "reload: re-reading" "$LAB_DIR/igdd.log" || true; }
r0=$(reloads)
kill -HUP "$(lab_igdd_pid)"
reloaded() { [ "$(reloads)" -gt "$r0" ] && grep -q "settings saved in the web UI stay in force" "$LAB_DIR/igdd.log"; }
wait_until 5 reloaded || fail "igdd did not reload, or did not put the saved settings back"
expect_status "$(api POST /api/v1/rules "{\"kind\":\"pinhole\",\"address\":\"$LAN1_EUI64\",\"proto\":\"udp\",\"port\":10,\"lease\":0}" "${C[@]}")" 201 "a rule after the reload"
expect_eq "$(jq_body 'd["rule"]["lease"]')" 3600 "its lease still follows the max_lifetime saved in the UI, not the file's"

step "Host header (DNS rebinding)"
# a page of evil.example whose name was re-pointed at the router: same-origin to the browser, not to us
for p in / /api/v1/session /api/v1/status; do
	expect_status "$(api GET "$p" '' -H 'Host: evil.example:8080')" 421 "GET $p with Host evil.example"
done
grep -q 'Misdirected Request' "$LAB_DIR/body" || fail "421 without its plain message"
grep -qi '^Content-Type: text/plain' "$HDR" || fail "421 is not text/plain"
ok "421 says why, in plain text"
expect_status "$(api POST /api/v1/rules "$RULE" "${C[@]}" -H 'Host: evil.example')" 421 "POST rules with Host evil.example"
expect_status "$(api GET /api/v1/status '' -H "Host: $CPE_LAN4:8080")" 200 "Host: the address literal"
expect_status "$(api GET /api/v1/status '' -H "Host: 192.0.2.99:8080")" 421 "Host: another address"
# (curl keeps cookies per host name: under another name there is no session, so /session, which needs none)
expect_status "$(api GET /api/v1/session '' -H 'Host: localhost:8080')" 200 "Host: localhost (an SSH tunnel)"
expect_status "$(api GET /api/v1/session '' -H 'Host: Router.LAN:8080')" 200 "Host: a web_hostname name"
expect_status "$(api GET /api/v1/session '' -H 'Host: router.lan.evil.example')" 421 "Host: a name that only starts like ours"
expect_status "$(api GET / '' -0 -H 'Host:')" 421 "HTTP/1.0 without Host"
s=$(lab_exec lan1 curl -s -o /dev/null -w '%{http_code}' -m 2 -H 'Host: evil.example' "$BASE6/" || true)
expect_eq "$s" 421 "over IPv6 too"
s=$(lab_exec lan1 curl -s -o /dev/null -w '%{http_code}' -m 2 -H "Host: [$CPE_LAN6]:8080" "$BASE6/" || true)
expect_eq "$s" 200 "Host: the [IPv6] literal"

step "logout"
expect_status "$(api POST /api/v1/logout '' "${C[@]}")" 200 "logout"
expect_status "$(api GET /api/v1/status)" 401 "no access after logout"

step "LAN only"
s=$(lab_exec wan curl -s -o /dev/null -w '%{http_code}' -m 2 "http://$CPE_WAN4:8080/" || true)
expect_eq "$s" 000 "the WAN side gets no answer on $CPE_WAN4:8080"
s=$(lab_exec wan curl -s -o /dev/null -w '%{http_code}' -m 2 "http://[$CPE_WAN6]:8080/" || true)
expect_eq "$s" 000 "the WAN side gets no answer on [$CPE_WAN6]:8080"
s=$(lab_exec lan1 curl -s -o /dev/null -w '%{http_code}' -m 2 "$BASE6/" || true)
expect_eq "$s" 200 "the LAN reaches the UI over IPv6"

step "garbage does not hurt"
for i in 1 2 3; do
	lab_exec lan1 bash -c "head -c 20000 /dev/urandom > /dev/tcp/$CPE_LAN4/8080" 2>/dev/null || true
done
lab_exec lan1 curl -s -o /dev/null -m 3 -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' 'b')" "$BASE/" || true
alive
expect_status "$(api GET /)" 200 "still serving after garbage"

it_done
