#!/usr/bin/env bash
# t-mgmt-remote: the TLS management endpoint (issue 7) from the control
# zone's host: the banner before the prompt, password + TOTP, the one
# generic failure, lockout and unlock, client certificates, the idle lock,
# session list/kill, the per-user cap, reachability only from the
# management zone, protocol abuse and a connection flood.
#
# conduitctl --remote drives every user-facing flow; mgmt-client.py (a
# test-only protocol client) sends what conduitctl never would: bad frames,
# wrong types, half frames, floods, timed logins. TOTP codes come from
# oathtool, an independent RFC 6238 implementation.
. "$(dirname "$0")/lib.sh"
# shellcheck source=mgmt-pki.sh
. "$IT_HERE/mgmt-pki.sh"
it_setup
command -v oathtool >/dev/null || it_bail "oathtool installed (scripts/bootstrap)"
mgmt_pki_setup carl ada kim

BANNER_TEXT="LAB NOTICE 4711: authorised operators of the lab plant only; all use is recorded."
printf '%s\n' "$BANNER_TEXT" >"$IT_TMP/banner.txt"
chmod 0644 "$IT_TMP/banner.txt"
# a decoy listener on the gateway's enterprise address, port 8443: a connect
# from the enterprise host can only fail there because the firewall drops it
lab_bg gw socat TCP-LISTEN:$MGMT_PORT,bind=$LAB_GW_ENT4,reuseaddr,fork PIPE
lab_wait_listen gw "$MGMT_PORT" || it_bail "decoy listener on $LAB_GW_ENT4:$MGMT_PORT"
# extra source addresses of the ctl host: timing probes, spraying, the flood
lab_exec ctl ip addr add 198.18.30.20/24 dev eth0
lab_exec ctl ip addr add 198.18.30.30/24 dev eth0
for i in $(seq 100 163); do lab_exec ctl ip addr add "198.18.30.$i/24" dev eth0; done

# session-idle-lock 3, lockout-time 5 and the login timeout 5 keep the
# scenario short; password-cost 1 (in MGMT_TLS_CONF) keeps ASan logins fast
it_start "$PLANT" "${MGMT_TLS_CONF[@]}" "banner-file $IT_TMP/banner.txt" \
	"session-idle-lock 3" "lockout-failures 3" "lockout-window 60" "lockout-time 5" \
	"session-max-per-user 2" "management-login-timeout 5" "management-handshake-timeout 5"
lab_wait_listen gw "$MGMT_PORT" || it_bail "TLS endpoint listens"

PW_ADAM='Quartz-Meadow-5182'
PW_ADA='Harbor-Falcon-3907'
PW_CARL='Copper-Lantern-7304'
PW_LOU='Saffron-Delta-2291'
PW_KIM='Marble-Orchid-6615'
PW_TIM='Velvet-Canyon-8840'
user_add adam admin "$PW_ADAM" || it_bail "add adam"
user_add ada admin "$PW_ADA" || it_bail "add ada"
user_add carl operator "$PW_CARL" || it_bail "add carl"
user_add lou engineer "$PW_LOU" || it_bail "add lou"
user_add kim viewer "$PW_KIM" || it_bail "add kim"
user_add tim viewer "$PW_TIM" || it_bail "add tim"
for u in adam lou kim tim; do enroll "$u" || it_bail "totp-enroll $u"; done
# ada (admin) and kim log in by certificate + password in most checks: each
# TOTP code works once, three steps are valid at a time, and a scenario
# that used them up would wait for the next 30 s step
pw_write "$IT_TMP/ada.pw" "$PW_ADA"
pw_write "$IT_TMP/kim.pw" "$PW_KIM"
ada() { rctl_cert ada ada "$IT_TMP/ada.pw" "$@"; }
check "conduitctl user add of remote-only users (no --unix) works" \
	bash -c '[ "$1" -eq 0 ]' _ "$USER_ADD_FALLBACKS"

# --- reachability (NDR 1.13) ------------------------------------------------
listeners_ok() {
	local l
	l=$(lab_exec gw ss -Hltn "sport = :$MGMT_PORT" | awk '{ print $4 }' | sort)
	echo "listening on port $MGMT_PORT: $l"
	# the endpoint on the control address, the decoy on the enterprise one
	[ "$l" = "$(printf '%s\n' "$LAB_GW_CTL4:$MGMT_PORT" "$LAB_GW_ENT4:$MGMT_PORT" | sort)" ]
}
# tags: NDR 1.13
TAGS="NDR 1.13"
check "NDR 1.13: the TLS endpoint is bound to the control-zone address only" listeners_ok
# tags: NDR 1.13
TAGS="NDR 1.13"
check "NDR 1.13: the control host connects to $LAB_GW_CTL4:$MGMT_PORT" lab_tcp_ok ctl "$LAB_GW_CTL4" "$MGMT_PORT"
# tags: NDR 1.13
TAGS="NDR 1.13"
check "NDR 1.13: the enterprise host cannot connect to $LAB_GW_CTL4:$MGMT_PORT" \
	tcp_blocked ent "$LAB_GW_CTL4" "$MGMT_PORT"
check "decoy on $LAB_GW_ENT4:$MGMT_PORT answers inside the gateway" lab_tcp_ok gw "$LAB_GW_ENT4" "$MGMT_PORT"
# tags: NDR 1.13
TAGS="NDR 1.13"
check "NDR 1.13: the enterprise host cannot connect to $LAB_GW_ENT4:$MGMT_PORT (firewall, a listener is there)" \
	tcp_blocked ent "$LAB_GW_ENT4" "$MGMT_PORT"
# tags: NDR 1.13
TAGS="NDR 1.13"
check "NDR 1.13: the enterprise host cannot connect to $LAB_GW_ENT6 either" \
	tcp_blocked ent "$LAB_GW_CTL6" "$MGMT_PORT"

# --- banner, password + TOTP (CR 1.12, CR 1.1 RE(2)) -------------------------
code_for adam
lab_exec ctl /usr/bin/python3 "$MC" pty --banner "$BANNER_TEXT" --password "$PW_ADAM" --totp "$CODE" -- \
	"$CONDUITCTL" --remote "$LAB_GW_CTL4:$MGMT_PORT" --user adam --ca "$MPKI/ca.pem" status \
	>"$IT_TMP/pty.txt" 2>&1
PTY_RC=$?
# tags: CR 1.12
TAGS="CR 1.12"
check "CR 1.12: the configured banner is shown before the password prompt" \
	grep -qx 'banner-before-prompt yes' "$IT_TMP/pty.txt"
# tags: CR 1.1 RE(2)
TAGS="CR 1.1 RE(2)"
check "CR 1.1 RE(2): interactive remote login with password and TOTP code: status served" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^sha256:" "$2"' _ "$PTY_RC" "$IT_TMP/pty.txt"
# tags: CR 1.10
TAGS="CR 1.10"
check "CR 1.10: the password is not echoed on the terminal" grep -qx 'echoed no' "$IT_TMP/pty.txt"
grep -q 'TOTP code: ' "$IT_TMP/pty.txt" || it_diag "no TOTP prompt in: $(head -c 400 "$IT_TMP/pty.txt")"

login_file adam "$PW_ADAM"
# tags: CR 1.1 RE(2)
TAGS="CR 1.1 RE(2)"
check "CR 1.1 RE(2): remote login with password and TOTP (--password-file): status served" \
	expect_rc 0 '^sha256:' -- rctl adam "$LOGIN_FILE" status
# tags: CR 2.8
TAGS="CR 2.8"
check "the login is in the daemon log with user, method and source" \
	log_has "login: adam password\+totp from tls $LAB_PLC4:[0-9]+"

pw_write "$IT_TMP/nototp" "$PW_ADAM"
# tags: CR 1.1 RE(2)
TAGS="CR 1.1 RE(2)"
check "CR 1.1 RE(2): conduitctl will not log in without a TOTP code (exit 2, says why)" \
	expect_rc 2 'no TOTP code' -- rctl adam "$IT_TMP/nototp" status
# tags: CR 1.1 RE(2)
TAGS="CR 1.1 RE(2)"
check "CR 1.1 RE(2): auth.login with password only is refused: authentication-failed" \
	expect_rc 0 '"code": "authentication-failed"' -- mc_tls call '{"cmd":"hello"}' \
	"{\"cmd\":\"auth.login\",\"args\":{\"user\":\"adam\",\"password\":\"$PW_ADAM\"}}"

code_peek adam
bad=$(printf '%06d' $(((10#$CODE + 1) % 1000000)))
pw_write "$IT_TMP/badtotp" "$PW_ADAM" "$bad"
# tags: CR 1.1 RE(2), CR 1.10
TAGS="CR 1.1 RE(2), CR 1.10"
check "CR 1.1 RE(2): a wrong TOTP code fails: 'conduitctl: authentication failed', exit 4" \
	expect_rc 4 '^conduitctl: authentication failed$' -- rctl adam "$IT_TMP/badtotp" status
rctl adam "$IT_TMP/badtotp" status >"$IT_TMP/out-badtotp" 2>&1
pw_write "$IT_TMP/badpw" "Wrong-Password-0000" "$CODE"
rctl adam "$IT_TMP/badpw" status >"$IT_TMP/out-badpw" 2>&1
pw_write "$IT_TMP/nouser" "$PW_ADAM" "$CODE"
# tags: CR 1.10
TAGS="CR 1.10"
check "CR 1.10: an unknown user gets the same message and exit 4" \
	expect_rc 4 '^conduitctl: authentication failed$' -- rctl nosuchuser "$IT_TMP/nouser" status
rctl nosuchuser "$IT_TMP/nouser" status >"$IT_TMP/out-nouser" 2>&1
same_output() {
	local a
	for a in "$IT_TMP/out-badpw" "$IT_TMP/out-nouser"; do
		cmp "$IT_TMP/out-badtotp" "$a" || { diff "$IT_TMP/out-badtotp" "$a"; return 1; }
	done
	echo "identical: $(tr '\n' '|' <"$IT_TMP/out-badtotp")"
}
# tags: CR 1.10
TAGS="CR 1.10"
check "CR 1.10: wrong TOTP, wrong password and unknown user print the same bytes" same_output
# tags: CR 1.10, CR 2.8
TAGS="CR 1.10, CR 2.8"
check "CR 1.10: the daemon log keeps the real reason (unknown user) for the audit" \
	log_has 'failed login as "nosuchuser" from tls .*: unknown user'

# timing: tim with a wrong password (tim unlocked before each try, so that
# the real hash is checked every time) against an unknown user, from
# 198.18.30.20 (the per-source lockout of 198.18.30.10 stays out of it).
# Medians of 7 auth.login round trips each; the bound is loose (3x) because
# at password-cost 1 a hash takes about a millisecond and scheduling noise
# of a shared 2-core machine dominates.
timing_close() {
	local i known=() unknown=() mk mu
	pw_write "$IT_TMP/tim-wrong" "Wrong-Password-0000" "000000"
	pw_write "$IT_TMP/ghost" "Wrong-Password-0000" "000000"
	for i in $(seq 7); do
		lab_ctl user unlock tim >/dev/null 2>&1
		known+=("$(mc_tls --src 198.18.30.20 login tim "$IT_TMP/tim-wrong" | awk '$1 == "fail" { print $2 }')")
		unknown+=("$(mc_tls --src 198.18.30.20 login "ghost$i" "$IT_TMP/ghost" | awk '$1 == "fail" { print $2 }')")
	done
	mk=$(printf '%s\n' "${known[@]}" | sort -g | sed -n 4p)
	mu=$(printf '%s\n' "${unknown[@]}" | sort -g | sed -n 4p)
	echo "existing user, wrong password: ${known[*]} (median $mk s)"
	echo "unknown user:                  ${unknown[*]} (median $mu s)"
	[ "${#known[@]}" -eq 7 ] && [ -n "$mk" ] && [ -n "$mu" ] &&
		awk -v a="$mk" -v b="$mu" 'BEGIN { exit !(a <= 3 * b + 0.005 && b <= 3 * a + 0.005) }'
}
# tags: CR 1.10
TAGS="CR 1.10"
check "CR 1.10: failed logins take about the same time for an unknown user (medians within 3x)" timing_close
lab_ctl user unlock tim >/dev/null 2>&1

# --- lockout (CR 1.11) ---------------------------------------------------------
pw_write "$IT_TMP/lou-wrong" "Wrong-Password-0000" "000000"
three_failures() {
	local i rc
	for i in 1 2 3; do
		rctl lou "$IT_TMP/lou-wrong" status >/dev/null 2>&1
		rc=$?
		echo "wrong password $i: exit $rc"
		[ "$rc" -eq 4 ] || return 1
	done
}
lou_login() { login_file lou "$PW_LOU"; expect_rc "$1" "${2:-}" -- rctl lou "$LOGIN_FILE" status; }
lou_locked() {
	lab_ctl --json user list | jq -e --argjson v "$1" '.users[] | select(.name == "lou") | .locked == $v'
}
# tags: CR 1.11
TAGS="CR 1.11"
check "CR 1.11: three wrong passwords for lou (lockout-failures 3)" three_failures
# tags: CR 1.11, CR 1.10
TAGS="CR 1.11, CR 1.10"
check "CR 1.11: lou is locked out: the right password and code fail the same way (exit 4)" \
	lou_login 4 '^conduitctl: authentication failed$'
# tags: CR 1.11, CR 2.8
TAGS="CR 1.11, CR 2.8"
check "CR 1.11: MGMT_LOCKOUT for lou in the daemon log" log_has 'user lou locked after failed logins'
spool_has() {   # spool_has MSGID REGEX: an audit record of the spool
	"$CONDUITCTL" audit tail -n 2000 --json --spool "$LAB_DIR/state/audit" 2>/dev/null |
		jq -c --arg m "$1" 'select(.msgid == $m)' | grep -E -- "$2" | tail -n 1 | grep .
}
# tags: CR 1.11, CR 2.8
TAGS="CR 1.11, CR 2.8"
check "CR 1.11: an MGMT_LOCKOUT audit record names lou" spool_has MGMT_LOCKOUT '"lou"'
# tags: CR 1.11
TAGS="CR 1.11"
check "CR 1.11: user list shows lou locked" lou_locked true
sleep 5.5
# tags: CR 1.11
TAGS="CR 1.11"
check "CR 1.11: after lockout-time (5 s) lou logs in again" lou_login 0 '^sha256:'
# tags: CR 1.11
TAGS="CR 1.11"
check "CR 1.11: lou locked out again after three more failures" three_failures
check "lou locked (user list)" lou_locked true
# tags: CR 1.11, CR 1.3
TAGS="CR 1.11, CR 1.3"
check "CR 1.11: an admin unlocks lou (conduitctl user unlock)" expect_rc 0 '' -- lab_ctl user unlock lou
# tags: CR 1.11
TAGS="CR 1.11"
check "CR 1.11: lou logs in at once after the unlock" lou_login 0 '^sha256:'

# spraying: 20 failed logins across 20 user names from one address lock the
# address (the per-source lockout, 20 in 15 min), not the users
spray() {
	local i
	pw_write "$IT_TMP/spray" "Spray-Password-1234" "123456"
	for i in $(seq 20); do
		mc_tls --src 198.18.30.30 login "sprayed$i" "$IT_TMP/spray" >/dev/null
	done
	log_has 'address 198.18.30.30 locked after failed logins'
}
# tags: CR 1.11
TAGS="CR 1.11"
check "CR 1.11: 20 failures across 20 user names lock the source address" spray
from_sprayer() {
	mc_tls --src 198.18.30.30 --cert ada login ada "$IT_TMP/ada.pw"
	[ $? -eq 1 ]
}
# tags: CR 1.11
TAGS="CR 1.11"
check "CR 1.11: even ada's certificate and password fail from the locked address" from_sprayer
# tags: CR 1.11
TAGS="CR 1.11"
check "CR 1.11: ada still logs in from another address" expect_rc 0 '^sha256:' -- ada status

# --- client certificates (CR 1.2, CR 1.8, CR 1.9) ------------------------------------
pw_write "$IT_TMP/carl.pw" "$PW_CARL"
cert_login() {
	local out
	out=$(rctl_cert carl carl "$IT_TMP/carl.pw" --json session list 2>"$IT_TMP/cert.err") ||
		{ echo "$out"; cat "$IT_TMP/cert.err"; return 1; }
	echo "$out" | tail -n 20
	jq -e '.sessions[] | select(.current) | .method == "certificate+password" and .user == "carl"' <<<"$out"
}
# tags: CR 1.2, CR 1.9
TAGS="CR 1.2, CR 1.9"
check "CR 1.9: a client certificate of the CA + password logs carl in, no TOTP asked" cert_login
pw_write "$IT_TMP/carl-wrong" "Wrong-Password-0000"
# tags: CR 1.9, CR 1.10
TAGS="CR 1.9, CR 1.10"
check "CR 1.9: the certificate with a wrong password fails (exit 4)" \
	expect_rc 4 '^conduitctl: authentication failed$' -- rctl_cert carl carl "$IT_TMP/carl-wrong" status
# tags: CR 1.9
TAGS="CR 1.9"
check "CR 1.9: carl's certificate does not log adam in with adam's password (CN is not adam)" \
	expect_rc 4 'authentication failed' -- rctl_cert carl adam "$IT_TMP/nototp" status
# tags: CR 1.2, CR 1.8, CR 1.9
TAGS="CR 1.2, CR 1.8, CR 1.9"
check "CR 1.9: a certificate of another CA fails the TLS handshake" \
	expect_rc 3 '' -- rctl_cert rogue-carl carl "$IT_TMP/carl.pw" status
# tags: CR 1.8, CR 1.9
TAGS="CR 1.8, CR 1.9"
check "CR 1.9: an expired certificate of the CA fails the TLS handshake" \
	expect_rc 3 '' -- rctl_cert expired-carl carl "$IT_TMP/carl.pw" status
# tags: CR 1.9, CR 2.8
TAGS="CR 1.9, CR 2.8"
check "CR 1.9: both handshake failures are logged with the reason" \
	bash -c 'grep -q "certificate has expired" "$1" && grep -qE "unable to get local issuer|unknown ca" "$1"' _ "$LAB_LOG"
wrong_server_ca() {
	lab_exec ctl "$CONDUITCTL" --remote "$LAB_GW_CTL4:$MGMT_PORT" --user adam \
		--ca "$MPKI/rogue-ca.pem" --password-file "$IT_TMP/nototp" status
}
# tags: CR 3.1, CR 4.1
TAGS="CR 3.1, CR 4.1"
check "CR 4.1: conduitctl refuses an endpoint whose certificate it cannot verify (exit 3)" \
	expect_rc 3 'verif' -- wrong_server_ca
tls_version() {
	local out
	# SECLEVEL=0: our side offers TLS 1.1, so the refusal is the endpoint's
	out=$(lab_exec ctl timeout 5 openssl s_client -connect "$LAB_GW_CTL4:$MGMT_PORT" -CAfile "$MPKI/ca.pem" \
		-tls1_1 -cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1)
	echo "TLS 1.1 offer: $(grep -m1 -iE 'alert|error' <<<"$out")"
	grep -q 'alert protocol version' <<<"$out" || return 1
	out=$(lab_exec ctl timeout 5 openssl s_client -connect "$LAB_GW_CTL4:$MGMT_PORT" -CAfile "$MPKI/ca.pem" \
		</dev/null 2>&1)
	grep -E '^New,|Verify return' <<<"$out"
	grep -qE '^New, TLSv1\.[23]' <<<"$out" && grep -q 'Verify return code: 0' <<<"$out"
}
# tags: CR 3.1, CR 4.1
TAGS="CR 3.1, CR 4.1"
check "CR 4.1: the endpoint speaks TLS 1.2+ with a verifiable certificate and refuses TLS 1.1" tls_version

# --- idle lock (CR 2.5) -----------------------------------------------------------------
idle_lock_flow() {
	local f=$IT_TMP/adam-shell.login code2 out rc
	code_for adam
	pw_write "$f" "$PW_ADAM" "$CODE"
	code_for adam
	code2=$CODE
	# the secrets file is re-read at the re-authentication: by then it holds
	# the next code (each code is accepted once)
	out=$({
		echo "status"
		sleep 1
		pw_write "$f" "$PW_ADAM" "$code2"
		sleep 4
		echo "session list"
		echo "exit"
	} | rctl adam "$f" 2>&1)
	rc=$?
	echo "$out" | tail -n 12
	echo "exit status $rc"
	[ "$rc" -eq 0 ] && grep -q '^sha256:' <<<"$out" && grep -q 'session locked' <<<"$out" &&
		grep -qE '^\* +[0-9]+ +adam .*active' <<<"$out"
}
# tags: CR 2.5
TAGS="CR 2.5"
check "CR 2.5: the shell idle for 5 s (session-idle-lock 3) is locked, re-authenticates and goes on" idle_lock_flow
# tags: CR 2.5, CR 2.8
TAGS="CR 2.5, CR 2.8"
check "CR 2.5: the lock and the unlock are logged" \
	bash -c 'grep -qE "session [0-9]+ of adam locked after 3 s idle" "$1" && grep -qE "unlock: adam password\+totp" "$1"' _ "$LAB_LOG"
locked_refuses() {
	code_for adam
	pw_write "$IT_TMP/adam-locked" "$PW_ADAM" "$CODE"
	# hello, login, wait past the idle lock, then a command: session-locked
	lab_exec ctl /usr/bin/python3 - "$LAB_GW_CTL4" "$MGMT_PORT" "$MPKI/ca.pem" "$IT_TMP/adam-locked" "$MC" <<-'EOF'
		import importlib.util, json, sys, time
		spec = importlib.util.spec_from_file_location("mc", sys.argv[5])
		mc = importlib.util.module_from_spec(spec); spec.loader.exec_module(mc)
		c = mc.Conn({"tls": (sys.argv[1], sys.argv[2]), "ca": sys.argv[3]})
		mc.login(c, "adam", sys.argv[4])
		time.sleep(4.5)
		r = c.call({"cmd": "island", "args": {"on": True}})
		print(json.dumps(r))
		sys.exit(0 if r and r.get("error", {}).get("code") == "session-locked" else 1)
	EOF
}
# tags: CR 2.5
TAGS="CR 2.5"
check "CR 2.5: a locked session gets session-locked for a command, which does not run" locked_refuses
check "the refused island on had no effect" island_is off

# --- session list / kill (CR 2.6) and the per-user cap (CR 2.7) -------------------------
login_file kim "$PW_KIM"
cp "$LOGIN_FILE" "$IT_TMP/kim1.login"
rshell_open kim1 kim "$IT_TMP/kim1.login"
rshell_send kim1 "status"
rshell_wait_out kim1 '^sha256:' 15 >/dev/null || it_diag "kim's first shell: $(tail -n 3 "$IT_TMP/sh-kim1.out")"
rshell_open kim2 kim "$IT_TMP/kim.pw" --cert "$MPKI/kim.pem" --key "$MPKI/kim.key"
rshell_send kim2 "status"
rshell_wait_out kim2 '^sha256:' 15 >/dev/null || it_diag "kim's second shell: $(tail -n 3 "$IT_TMP/sh-kim2.out")"
kim_sessions() {
	ada --json session list 2>/dev/null >"$IT_TMP/sessions.json"
	jq -c '.sessions[]' "$IT_TMP/sessions.json"
	[ "$(jq --arg s "$LAB_PLC4:" '[.sessions[] | select(.user == "kim" and .channel == "tls" and
		(.source | startswith($s)))] | length' "$IT_TMP/sessions.json")" -eq "$1" ]
}
# tags: CR 2.6
TAGS="CR 2.6"
check "CR 2.6: ada's session list shows kim's two remote sessions (tls, from $LAB_PLC4)" kim_sessions 2
# right credentials over the cap: "busy" (exit 1), not a failed login (no
# lockout count)
third_kim() { expect_rc 1 'too many sessions' -- rctl_cert kim kim "$IT_TMP/kim.pw" status; }
# tags: CR 2.7
TAGS="CR 2.7"
check "CR 2.7: a third session of kim is refused (session-max-per-user 2)" third_kim
# tags: CR 2.7, CR 2.8
TAGS="CR 2.7, CR 2.8"
check "CR 2.7: the refusal is logged as the per-user session cap" log_has 'failed login as "kim" .*per-user session cap'
kim_cannot_kill() {
	local id
	id=$(jq -r '[.sessions[] | select(.user == "ada")] | first | .id // 1' "$IT_TMP/sessions.json")
	expect_rc 1 'permission-denied' -- rctl_cert kim kim "$IT_TMP/kim.pw" session kill "$id"
}
kill_kim1() {
	local id
	id=$(jq -r '[.sessions[] | select(.user == "kim")] | sort_by(.id) | first | .id' "$IT_TMP/sessions.json")
	expect_rc 0 "session $id of kim killed" -- ada session kill "$id"
}
# tags: CR 2.6
TAGS="CR 2.6"
check "CR 2.6: ada (admin) kills kim's first session: session kill ID" kill_kim1
kim1_gone() {
	rshell_send kim1 "status"
	rshell_ended kim1 3 10
}
# tags: CR 2.6
TAGS="CR 2.6"
check "CR 2.6: kim's killed shell finds its connection gone (exit 3)" kim1_gone
# tags: CR 2.6, CR 2.8
TAGS="CR 2.6, CR 2.8"
check "CR 2.6: the kill is logged" log_has 'session [0-9]+ of kim killed by ada'
kim_again() { expect_rc 0 '^sha256:' -- rctl_cert kim kim "$IT_TMP/kim.pw" status; }
# tags: CR 2.7
TAGS="CR 2.7"
check "CR 2.7: with one of kim's sessions gone, a new one is accepted" kim_again
# tags: CR 2.1 RE(1)
TAGS="CR 2.1 RE(1)"
check "CR 2.1 RE(1): kim (viewer) may not kill sessions" kim_cannot_kill
rshell_close kim1
rshell_close kim2

# --- protocol abuse (CR 3.5, CR 7.1) -------------------------------------------------------
# each: an error answer or a close, and the daemon serves the next client
error_or_close() {   # error_or_close SEND-ARGS...: mc_tls send ... then check
	local out
	out=$(mc_tls send "$@" --wait 15 2>&1)
	echo "$out" | cut -c1-300
	grep -qE '^closed after' <<<"$out" || grep -qE '^frame .*"ok": false' <<<"$out"
}
# tags: CR 3.5, CR 7.1
TAGS="CR 3.5, CR 7.1"
check "CR 3.5: a frame announcing 40 MiB + 1 byte: protocol-error, then the close" \
	error_or_close --payload '{"id":1,"cmd":"hello"}' --length 41943041
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: a frame with a wrong magic: error or close" error_or_close --payload '{"id":1,"cmd":"hello"}' --magic XY
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: protocol version 9: error or close" error_or_close --payload '{"id":1,"cmd":"hello"}' --version 9
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: a payload of invalid UTF-8: error or close" \
	error_or_close --payload-hex "$(printf '{"id":1,"cmd":"hel\xff\xfelo"}' | od -An -tx1 | tr -d ' \n')"
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: a JSON array instead of an object: error or close" error_or_close --payload '[1,2,3]'
# answered(REQ CODE): REQ gets error CODE, and the connection still serves hello
answered() {
	local out
	out=$(mc_tls call "$1" '{"cmd":"hello"}' 2>&1)
	echo "$out" | cut -c1-300
	[ "$(sed -n 1p <<<"$out" | jq -r '.error.code')" = "$2" ] &&
		[ "$(sed -n 2p <<<"$out" | jq -r '.ok')" = true ]
}
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: auth.login with a number for user: invalid-arguments, connection usable" \
	answered '{"cmd":"auth.login","args":{"user":5,"password":"x"}}' invalid-arguments
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: an unknown argument: invalid-arguments" \
	answered '{"cmd":"status","args":{"bogus":1}}' invalid-arguments
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: args that are not an object: bad-request" \
	answered '{"cmd":"auth.login","args":"adam"}' bad-request
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: an unknown command: unknown-command" answered '{"cmd":"rm -rf","args":{}}' unknown-command
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: an id that is not a number: bad-request" answered '{"id":"one","cmd":"status"}' bad-request
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: an unknown top-level member: bad-request" answered '{"cmd":"hello","sudo":true}' bad-request
wrong_type_authenticated() {
	local out
	out=$(mc_tls --cert ada send --login ada "$IT_TMP/ada.pw" --payload '{"id":9,"cmd":"island","args":{"on":"yes"}}' --wait 2 2>&1)
	echo "$out" | cut -c1-300
	grep -q '"code": "invalid-arguments"' <<<"$out"
}
# tags: CR 3.5
TAGS="CR 3.5"
check "CR 3.5: logged-in admin, island with on:\"yes\": invalid-arguments" wrong_type_authenticated
check "the refused island request had no effect" island_is off
slowloris() {
	local out s
	out=$(mc_tls send --payload '{"id":1,"cmd":"hello","pad":"xxxxxxxxxxxxxxxx"}' --cut 20 --wait 20 2>&1)
	echo "$out" | cut -c1-300
	s=$(sed -nE 's/^closed after ([0-9.]+) s.*/\1/p' <<<"$out")
	[ -n "$s" ] && awk -v s="$s" 'BEGIN { exit !(s <= 15) }'
}
# tags: CR 7.1
TAGS="CR 7.1"
check "CR 7.1: a half frame left hanging (slowloris) is closed within 15 s" slowloris
no_tls() {
	lab_exec ctl /usr/bin/python3 - "$LAB_GW_CTL4" "$MGMT_PORT" <<-'EOF'
		import socket, sys, time
		s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
		t0 = time.monotonic()
		try:
		    d = s.recv(1)
		except OSError:
		    d = b""
		dt = time.monotonic() - t0
		print("closed after %.1f s" % dt if not d else "data: %r" % d)
		sys.exit(0 if not d and dt <= 9 else 1)
	EOF
}
# tags: CR 7.1
TAGS="CR 7.1"
check "CR 7.1: a TCP connection that never starts TLS is closed (handshake timeout 5 s)" no_tls
no_login() {
	local out s
	out=$(mc_tls send --payload '{"id":1,"cmd":"hello"}' --wait 15 2>&1)
	echo "$out" | cut -c1-200
	s=$(sed -nE 's/^closed after ([0-9.]+) s.*/\1/p' <<<"$out")
	[ -n "$s" ] && awk -v s="$s" 'BEGIN { exit !(s >= 3 && s <= 9) }'
}
# tags: CR 7.1
TAGS="CR 7.1"
check "CR 7.1: a TLS client that never logs in is closed (management-login-timeout 5)" no_login
after_abuse() {
	kill -0 "$LAB_PID" || { echo "conduitd is gone"; return 1; }
	expect_rc 0 '^sha256:' -- ada status
}
# tags: CR 7.1
TAGS="CR 7.1"
check "CR 7.1: after the abuse the daemon runs and ada logs in" after_abuse

# --- a flood of half-open connections (CR 7.1) ------------------------------------
# 300 TCP connections from 64 addresses of the ctl host (at most 5 per
# address: under management-max-per-source 8), none of which starts TLS,
# reopened as the endpoint closes them (50/s) for 20 s. Meanwhile adam logs
# in from 198.18.30.10.
lab_bg ctl /usr/bin/python3 "$MC" flood --host "$LAB_GW_CTL4" --port "$MGMT_PORT" --count 300 \
	--hold 20 --rate 50 --src 198.18.30. --from 100 --to 163 >"$IT_TMP/flood.out" 2>&1
FLOOD_PID=$LAB_BG_LAST
flood_up() { grep -q '^opened' "$IT_TMP/flood.out"; }
LAB_POLL=10 lab_wait_for flood_up || it_diag "flood: $(cat "$IT_TMP/flood.out")"
sleep 1
it_diag "flood: $(head -n 1 "$IT_TMP/flood.out")"
login_during_flood() {
	local t0 t1 rc
	if [ "$1" = totp ]; then
		login_file adam "$PW_ADAM"
		set -- rctl adam "$LOGIN_FILE"
	else
		set -- ada
	fi
	t0=$(date +%s.%N)
	expect_rc 0 '^sha256:' -- "$@" status
	rc=$?
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "login took %.2f s\n", b - a }'
	return "$rc"
}
# tags: CR 7.1
TAGS="CR 7.1"
check "CR 7.1: adam logs in (password + TOTP) during a flood of 300 half-open connections" login_during_flood totp
sleep 5
# tags: CR 7.1
TAGS="CR 7.1"
check "CR 7.1: ada logs in (certificate) 6 s into the flood" login_during_flood cert
wait_dead "$FLOOD_PID" 30
it_diag "flood: $(tail -n 1 "$IT_TMP/flood.out")"
it_diag "management status: $(lab_ctl --json status | jq -c '.management' | cut -c1-400)"
check "the flood ran to its end" grep -q '^flood done' "$IT_TMP/flood.out"

# --- the end --------------------------------------------------------------------------
check "conduitd still running" kill -0 "$LAB_PID"
no_sanitizer() { ! grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$LAB_LOG"; }
check "no sanitizer report in the daemon log" no_sanitizer
it_done
