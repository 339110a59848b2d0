#!/usr/bin/env bash
# t-mgmt-audit: the management plane's audit trail (issue 7) at a real
# rsyslog collector over mutual TLS (the tests/collector kit, as t-audit.sh
# runs it): a short remote session script (failed login, login, a viewer's
# denied command, a two-person policy change, a session kill, logout)
# becomes MGMT_* records with user, source and outcome; the received file
# verifies as one unbroken chain; no password or TOTP code used anywhere in
# the scenario appears at the collector, in the daemon log or in the spool.
T_AUDIT_LIB=1
# shellcheck source=t-audit.sh
. "$(dirname "$0")/t-audit.sh"
# shellcheck source=mgmt-pki.sh
. "$IT_HERE/mgmt-pki.sh"
audit_setup
command -v oathtool >/dev/null || it_bail "oathtool installed (scripts/bootstrap)"
mgmt_pki_setup
C=$IT_TMP/coll
coll_start "$C" || it_bail "rsyslog collector starts in the gateway namespace"
it_start "$PLANT" "${AUDIT_BASE_CONF[@]}" "$(tls_collector siem "$SYSLOG_TLS_MTLS_PORT")" \
	"${MGMT_TLS_CONF[@]}" "approval-required yes" "approval-ttl 600"
lab_wait_listen gw "$MGMT_PORT" || it_bail "TLS endpoint listens"
R=$C/received.log

PW_ADAM='Quartz-Meadow-5182' PW_VIC='Cobalt-River-7713'
PW_ERIN='Silver-Thistle-9034' PW_EZRA='Indigo-Falcon-6621'
PW_WRONG='Wrong-Secret-Attempt-31'
user_add adam admin "$PW_ADAM" || it_bail "add adam"
user_add vic viewer "$PW_VIC" || it_bail "add vic"
user_add erin engineer "$PW_ERIN" || it_bail "add erin"
user_add ezra engineer "$PW_EZRA" || it_bail "add ezra"
for u in adam vic erin ezra; do enroll "$u" || it_bail "totp-enroll $u"; done
CODES=()
# login_as USER PASSWORD: a secrets file in LOGIN_FILE; the code is kept
login_as() { login_file "$1" "$2"; CODES+=("$CODE"); }

# rec_has MSGID STRING... [within 10 s]: one record of ours with MSGID at
# the collector holds every STRING
rec_has() {
	local m=$1 i s
	shift
	for i in $(seq 50); do
		awk -v sd="[$SDID " -v m="$m" 'index($0, sd) && $6 == m' "$R" >"$IT_TMP/rec.txt"
		for s in "$@"; do grep -F -- "$s" "$IT_TMP/rec.txt" >"$IT_TMP/rec2.txt"; mv "$IT_TMP/rec2.txt" "$IT_TMP/rec.txt"; done
		[ -s "$IT_TMP/rec.txt" ] && { head -n 1 "$IT_TMP/rec.txt" | cut -c1-400; return 0; }
		sleep 0.2
	done
	echo "no $m record of ours with all of: $*"
	awk -v sd="[$SDID " -v m="$m" 'index($0, sd) && $6 == m' "$R" | tail -n 3 | cut -c1-400
	return 1
}
SRC="source=\"$LAB_PLC4:"

# --- the session script -------------------------------------------------------------
code_peek adam
CODES+=("$CODE")
pw_write "$IT_TMP/wrong" "$PW_WRONG" "$CODE"
check "1. a failed login of adam (wrong password)" \
	expect_rc 4 'authentication failed' -- rctl adam "$IT_TMP/wrong" status
login_as adam "$PW_ADAM"
check "2. adam logs in (password + TOTP) and reads the status" expect_rc 0 '^sha256:' -- rctl adam "$LOGIN_FILE" status
login_as vic "$PW_VIC"
check "3. viewer vic is denied island on" expect_rc 1 'permission-denied' -- rctl vic "$LOGIN_FILE" island on
V1=$IT_TMP/no443.yaml
policy_without_443 "$V1" || it_bail "policy variant"
login_as erin "$PW_ERIN"
submit() {
	local out
	out=$(rctl erin "$LOGIN_FILE" --json policy apply "$V1" 2>/dev/null) || { echo "$out"; return 1; }
	PID=$(jq -r '.pending.id // empty' <<<"$out")
	echo "pending change $PID"
	[ -n "$PID" ]
}
check "4. engineer erin submits a policy change" submit
login_as ezra "$PW_EZRA"
check "5. engineer ezra approves it: applied" \
	expect_rc 0 'applied' -- rctl ezra "$LOGIN_FILE" policy approve "$PID" --yes
check "the daemon runs the approved policy" sha_is "$V1"
# vic holds a shell; adam kills its session
login_as vic "$PW_VIC"
rshell_open vic vic "$LOGIN_FILE"
rshell_send vic "status"
rshell_wait_out vic '^sha256:' 15 >/dev/null || it_diag "vic's shell: $(tail -n 3 "$IT_TMP/sh-vic.out")"
login_as adam "$PW_ADAM"
kill_vic() {
	local out id
	out=$({ echo "session list"; } | rctl adam "$LOGIN_FILE" --json 2>/dev/null)
	id=$(jq -r '[.sessions[]? | select(.user == "vic")] | first | .id // empty' <<<"$out" 2>/dev/null)
	[ -n "$id" ] || { echo "no session of vic in: $out"; return 1; }
	login_as adam "$PW_ADAM"
	VIC_SESSION=$id
	expect_rc 0 "session $id of vic killed" -- rctl adam "$LOGIN_FILE" session kill "$id"
}
check "6. admin adam kills vic's session" kill_vic
rshell_send vic "status"
check "vic's shell finds its session gone" rshell_ended vic 3 10
rshell_close vic
login_as adam "$PW_ADAM"
logout_shell() {
	local out rc
	out=$(printf 'status\nlogout\n' | rctl adam "$LOGIN_FILE" 2>&1)
	rc=$?
	echo "$out" | tail -n 3
	[ "$rc" -eq 0 ] && grep -q '^sha256:' <<<"$out"
}
check "7. adam's shell runs status and logs out" logout_shell

# --- what the collector received (CR 2.8, CR 2.12) ------------------------------------
# tags: CR 2.8, CR 1.10
TAGS="CR 2.8, CR 1.10"
check "CR 2.8: MGMT_LOGIN_FAIL for adam with source and reason" \
	rec_has MGMT_LOGIN_FAIL 'user="adam"' "$SRC" 'reason="wrong password"'
# tags: CR 2.8, CR 2.12
TAGS="CR 2.8, CR 2.12"
check "CR 2.8: MGMT_LOGIN of adam by password+totp with source" \
	rec_has MGMT_LOGIN 'user="adam"' "$SRC" 'method="password+totp"' 'action="login"'
# tags: CR 2.8, CR 2.1 RE(1)
TAGS="CR 2.8, CR 2.1 RE(1)"
check "CR 2.8: MGMT_DENIED for vic's island with source and reason" \
	rec_has MGMT_DENIED 'user="vic"' "$SRC" 'command="island"' 'role viewer may not run island'
# tags: CR 2.8, CR 2.12, CR 2.1 RE(4)
TAGS="CR 2.8, CR 2.12, CR 2.1 RE(4)"
check "CR 2.8: MGMT_APPROVAL submitted by erin" rec_has MGMT_APPROVAL 'action="submitted"' 'author="erin"'
# tags: CR 2.8, CR 2.12, CR 2.1 RE(4)
TAGS="CR 2.8, CR 2.12, CR 2.1 RE(4)"
check "CR 2.8: MGMT_APPROVAL approved by ezra, applied" \
	rec_has MGMT_APPROVAL 'action="approved"' 'author="erin"' 'ezra' 'outcome="applied"'
# tags: CR 2.8, CR 2.12
TAGS="CR 2.8, CR 2.12"
check "CR 2.8: MGMT_COMMAND policy.approve by ezra, outcome ok, with source" \
	rec_has MGMT_COMMAND 'command="policy.approve"' 'user="ezra"' "$SRC" 'outcome="ok"'
# tags: CR 2.8, CR 2.12
TAGS="CR 2.8, CR 2.12"
check "CR 2.8: MGMT_COMMAND status by adam, outcome ok" \
	rec_has MGMT_COMMAND 'command="status"' 'user="adam"' 'outcome="ok"'
# tags: CR 2.8, CR 2.6
TAGS="CR 2.8, CR 2.6"
check "CR 2.8: MGMT_SESSION killed: vic's session, by adam" \
	rec_has MGMT_SESSION 'action="killed"' 'user="vic"' "session=\"${VIC_SESSION:-x}\"" 'adam'
# tags: CR 2.8, CR 2.6
TAGS="CR 2.8, CR 2.6"
check "CR 2.8: MGMT_LOGOUT of vic's session: reason killed" \
	rec_has MGMT_LOGOUT 'user="vic"' 'reason="killed"'
# tags: CR 2.8
TAGS="CR 2.8"
check "CR 2.8: MGMT_LOGOUT of adam: reason logout" rec_has MGMT_LOGOUT 'user="adam"' 'reason="logout"'
# tags: CR 3.9
TAGS="CR 3.9"
check "conduitctl audit verify on the collector's file: chain intact" verify_ok "$R"

# --- no secret anywhere (CR 1.10, CR 2.8) ------------------------------------------------
no_secret() {
	local f s bad=0 files=("$R" "$LAB_LOG")
	while IFS= read -r f; do files+=("$f"); done < <(find "$SPOOL" -type f)
	echo "searching ${#files[@]} files (collector, daemon log, spool) for 5 passwords and ${#CODES[@]} TOTP codes"
	# the searches find what they look for (the last secrets file holds both)
	grep -aqF -- "$PW_ADAM" "$LOGIN_FILE" && grep -aqP -- "(?<![0-9a-f.:T-])${CODES[-1]}(?![0-9a-f])" "$LOGIN_FILE" ||
		{ echo "the search does not find the secrets in $LOGIN_FILE"; return 1; }
	for s in "$PW_ADAM" "$PW_VIC" "$PW_ERIN" "$PW_EZRA" "$PW_WRONG"; do
		if grep -aqF -- "$s" "${files[@]}"; then
			echo "password ${s:0:3}... found in: $(grep -alF -- "$s" "${files[@]}" | tr '\n' ' ')"
			bad=1
		fi
	done
	for s in "${CODES[@]}"; do
		# a code as a value of its own, not six digits inside a time or a hash
		if grep -aqP -- "(?<![0-9a-f.:T-])$s(?![0-9a-f])" "${files[@]}"; then
			echo "TOTP code $s found: $(grep -aoP -- ".{0,40}(?<![0-9a-f.:T-])$s(?![0-9a-f]).{0,20}" "${files[@]}" | head -n 2)"
			bad=1
		fi
	done
	[ "$bad" -eq 0 ]
}
# tags: CR 1.10, CR 2.8
TAGS="CR 1.10, CR 2.8"
check "CR 1.10: no password or TOTP code in the collector's file, the daemon log or the spool" no_secret
check "conduitd still running" kill -0 "$LAB_PID"
no_sanitizer() { ! grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$LAB_LOG"; }
check "no sanitizer report in the daemon log" no_sanitizer
it_done
