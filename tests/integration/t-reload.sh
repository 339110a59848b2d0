#!/usr/bin/env bash
# t-reload: a broken policy, whether given to `policy apply` or written to the
# configured path and `reload`ed, is rejected with file:line:col and the
# running policy stays (same traffic, same sha256 in status). `policy check`
# exit codes; `policy diff` shows a change.
. "$(dirname "$0")/lib.sh"
it_setup
it_listeners
it_start

GOOD=$IT_TMP/good.yaml
BADPORT=$IT_TMP/bad-port.yaml
BADZONE=$IT_TMP/bad-zone.yaml
NO443=$IT_TMP/no443.yaml
cp "$PLANT" "$GOOD"
# bad-port: tcp port 99999 in place of 8443 (out of range)
sed -E '0,/^[^#]*port:.*\b8443\b/ s/\b8443\b/99999/' "$PLANT" >"$BADPORT"
BADPORT_LINE=$(grep -n '99999' "$BADPORT" | head -1 | cut -d: -f1)
# bad-zone: the first conduit's destination zone does not exist
sed -E '0,/^[[:space:]]*to:[[:space:]]*dmz[[:space:]]*$/ s/(to:[[:space:]]*)dmz/\1nowhere/' "$PLANT" >"$BADZONE"
BADZONE_LINE=$(grep -n 'nowhere' "$BADZONE" | head -1 | cut -d: -f1)
policy_without_443 "$NO443"
[ -n "$BADPORT_LINE" ] || it_bail "could not derive bad-port.yaml from $PLANT"
[ -n "$BADZONE_LINE" ] || it_bail "could not derive bad-zone.yaml from $PLANT"
chmod 0644 "$IT_TMP"/*.yaml

# out_has FILE REGEX CMD...: CMD fails (exit 1) and its output matches REGEX.
rejected_with() {
	local re=$1 rc out
	shift
	out=$("$@" 2>&1)
	rc=$?
	echo "$out"
	echo "exit status $rc"
	[ "$rc" -eq 1 ] && grep -qE -- "$re" <<<"$out"
}
behaves_like_plant() {
	lab_tcp_echo_ok ent "$LAB_HIST4" 443 || { echo "allowed tcp ent->hist:443 broken"; return 1; }
	lab_tcp_echo_ok ent "$LAB_HIST6" 8443 || { echo "allowed tcp6 ent->hist:8443 broken"; return 1; }
	lab_tcp_ok ent "$LAB_PLC4" 502 && { echo "denied tcp ent->plc:502 passes"; return 1; }
	return 0
}

# --- policy check (no daemon state involved) ------------------------------------
# tags: CR 3.5, CR 7.6
TAGS="CR 3.5, CR 7.6"
check "policy check on plant.yaml exits 0" lab_ctl policy check "$GOOD"
# tags: CR 3.5
TAGS="CR 3.5"
check "policy check on a bad port exits 1 with file:$BADPORT_LINE:col" \
	rejected_with "bad-port\.yaml:$BADPORT_LINE:[0-9]+" lab_ctl policy check "$BADPORT"
# tags: CR 3.5
TAGS="CR 3.5"
check "policy check on an unknown zone exits 1 with file:$BADZONE_LINE:col" \
	rejected_with "bad-zone\.yaml:$BADZONE_LINE:[0-9]+" lab_ctl policy check "$BADZONE"
# tags: CR 3.5
TAGS="CR 3.5"
check "policy check on a missing file exits 1" \
	rejected_with "." lab_ctl policy check "$IT_TMP/does-not-exist.yaml"
check_usage() { lab_ctl policy check >/dev/null 2>&1; [ $? -eq 2 ]; }
check "policy check without a file is a usage error (exit 2)" check_usage

# --- policy apply of a broken file -------------------------------------------------
# tags: CR 3.5, CR 7.6
TAGS="CR 3.5, CR 7.6"
check "policy apply of a bad policy rejected with file:line:col" \
	rejected_with "bad-port\.yaml:$BADPORT_LINE:[0-9]+" lab_ctl policy apply "$BADPORT"
# tags: CR 7.6
TAGS="CR 7.6"
check "after rejected apply: status still shows the plant sha256" sha_is "$PLANT"
# tags: CR 7.6
TAGS="CR 7.6"
check "after rejected apply: traffic behaves exactly as before" behaves_like_plant
check "after rejected apply: table present" lab_table_present

# --- reload of a broken configured file ----------------------------------------------
cp "$BADZONE" "$LAB_POLICY"
# tags: CR 3.5, CR 7.6
TAGS="CR 3.5, CR 7.6"
check "reload of a broken configured policy rejected with file:$BADZONE_LINE:col" \
	rejected_with "policy\.yaml:$BADZONE_LINE:[0-9]+" lab_ctl reload
# tags: CR 7.6
TAGS="CR 7.6"
check "after rejected reload: status still shows the plant sha256" sha_is "$PLANT"
# tags: CR 7.6
TAGS="CR 7.6"
check "after rejected reload: traffic behaves exactly as before" behaves_like_plant
check "daemon survived the rejected reload" kill -0 "$LAB_PID"

# --- diff, then a good apply and a good reload ----------------------------------------
diff_shows_443() {
	local out rc
	out=$(lab_ctl policy diff "$NO443" 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" -eq 0 ] && grep -q "ops-to-historian" <<<"$out" && grep -qw "443" <<<"$out"
}
# tags: CR 7.6
TAGS="CR 7.6"
check "policy diff names the conduit and port 443 the new policy removes" diff_shows_443
diff_same_quiet() {
	local out
	out=$(lab_ctl policy diff "$GOOD" 2>&1) || return 1
	echo "$out"
	! grep -qw "443" <<<"$out"
}
check "policy diff against the running policy shows no port change" diff_same_quiet
check "policy diff of a bad policy exits 1 with file:line:col" \
	rejected_with "bad-port\.yaml:$BADPORT_LINE:[0-9]+" lab_ctl policy diff "$BADPORT"

# tags: CR 7.6
TAGS="CR 7.6"
check "policy apply of a good new policy exits 0" lab_ctl policy apply "$NO443"
# tags: CR 7.6
TAGS="CR 7.6"
check "after good apply: status shows the new sha256" sha_is "$NO443"
check "after good apply: tcp ent -> historian:443 now dropped" tcp_blocked ent "$LAB_HIST4" 443
check "after good apply: tcp ent -> historian:8443 still passes" lab_tcp_echo_ok ent "$LAB_HIST4" 8443

cp "$GOOD" "$LAB_POLICY"
# tags: CR 7.6
TAGS="CR 7.6"
check "reload of the repaired configured policy exits 0" lab_ctl reload
check "after reload: status shows the plant sha256 again" sha_is "$PLANT"
check "after reload: tcp ent -> historian:443 passes again" lab_tcp_echo_ok ent "$LAB_HIST4" 443

# SIGHUP is the daemon's other reload path: a broken file must not kill it.
cp "$BADZONE" "$LAB_POLICY"
kill -HUP "$LAB_PID"
sleep 1
check "SIGHUP with a broken configured policy: daemon still running" kill -0 "$LAB_PID"
check "SIGHUP with a broken configured policy: plant sha256 kept" sha_is "$PLANT"
check "SIGHUP with a broken configured policy: traffic as before" behaves_like_plant
cp "$GOOD" "$LAB_POLICY"
it_done
