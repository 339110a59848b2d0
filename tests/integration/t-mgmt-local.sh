#!/usr/bin/env bash
# t-mgmt-local: authenticated management on the control socket (issue 7):
# the first-run bootstrap, the SO_PEERCRED mapping of Unix users, the role
# table (viewer, operator, engineer), user administration, the password
# policy, the users file's protection, and two-person policy changes.
# Every command is conduitctl run as a throwaway Unix user (setpriv).
. "$(dirname "$0")/lib.sh"
# shellcheck source=mgmt-pki.sh
. "$IT_HERE/mgmt-pki.sh"
it_setup

U_GRP=cdg$$ U_VIEW=cdv$$ U_OP=cdo$$ U_ENG=cde$$ U_ENG2=cdz$$ U_ADM=cda$$ U_OUT=cdx$$
IT_EXTRA_CLEANUP='for u in $U_GRP $U_VIEW $U_OP $U_ENG $U_ENG2 $U_ADM $U_OUT; do userdel "$u" 2>/dev/null; done'
for u in $U_GRP $U_VIEW $U_OP $U_ENG $U_ENG2 $U_ADM; do
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
		-G conduitd "$u" || it_bail "create throwaway user $u"
done
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$U_OUT" ||
	it_bail "create throwaway user $U_OUT"

as_user() {   # as_user USER conduitctl-args...
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups --no-new-privs \
		"$CONDUITCTL" -s "$LAB_SOCK" "$@"
}
users_file_safe() {
	local f=$LAB_DIR/etc/users
	echo "$f: $(stat -c '%a %U:%G' "$f")"
	[ "$(stat -c %a "$f")" = 600 ] && [ "$(stat -c %U "$f")" = conduitd ]
}

# --- first run: no admin in an empty store ------------------------------------------
mkdir -p "$LAB_DIR/etc"
: >"$LAB_DIR/etc/users"
# password-cost 1 keeps yescrypt fast under ASan (the cost is not what is tested)
LAB_USERS_KEEP=1 it_start "$PLANT" "password-cost 1"
PW_BOSS='Granite-Willow-4410'
pw_write "$IT_TMP/boss.pw" "$PW_BOSS"
# tags: CR 1.1, CR 1.3
TAGS="CR 1.1, CR 1.3"
check "bootstrap: root with an empty user store gets a session (status served)" \
	expect_rc 0 '^sha256:' -- lab_ctl status
# tags: CR 2.1
TAGS="CR 2.1"
check "bootstrap: the session may not list sessions (only the first admin)" \
	expect_rc 1 'no admin exists yet' -- lab_ctl session list
# tags: CR 2.1
TAGS="CR 2.1"
check "bootstrap: the session may not switch island mode" expect_rc 1 'permission-denied' -- lab_ctl island on
check "the refused island on had no effect" island_is off
# tags: CR 1.3
TAGS="CR 1.3"
check "bootstrap: the first user must be an admin (viewer refused)" \
	expect_rc 1 'must be an admin' -- lab_ctl user add early --role viewer --unix "$U_VIEW" --password-file "$IT_TMP/boss.pw"
# tags: CR 1.3
TAGS="CR 1.3"
check "bootstrap: user add boss --role admin creates the first admin" \
	expect_rc 0 '' -- lab_ctl user add boss --role admin --unix "$U_ADM" --password-file "$IT_TMP/boss.pw"
# tags: CR 1.1, CR 2.1
TAGS="CR 1.1, CR 2.1"
check "bootstrap over: root, unmapped, is refused now that an admin exists" \
	expect_rc 1 'not mapped to an active conduitd user' -- lab_ctl status
# tags: CR 1.1, CR 2.1
TAGS="CR 1.1, CR 2.1"
check "bootstrap over: a second user add by root is refused" \
	expect_rc 1 'not mapped' -- lab_ctl user add second --role admin --unix root --password-file "$IT_TMP/boss.pw"
boss_lists() {
	local out
	out=$(as_user "$U_ADM" --json user list) || { echo "$out"; return 1; }
	echo "$out" | jq -c '.users[]'
	jq -e '[.users[] | .name] == ["boss"] and .users[0].role == "admin" and .users[0].password' <<<"$out"
}
# tags: CR 1.1, CR 1.3
TAGS="CR 1.1, CR 1.3"
check "the first admin (Unix user $U_ADM) is served: user list holds boss only" boss_lists
# tags: CR 1.5
TAGS="CR 1.5"
check "CR 1.5: the users file is 0600 and owned by conduitd after the first admin" users_file_safe
stored_hash() {
	local h
	h=$(awk -F: '$1 == "boss" { print $5 }' "$LAB_DIR/etc/users")
	echo "boss: hash ${h:0:12}..."
	[[ $h == '$y$'* ]] && ! grep -qF "$PW_BOSS" "$LAB_DIR/etc/users"
}
# tags: CR 1.5
TAGS="CR 1.5"
check "CR 1.5: the password is stored as a yescrypt hash, never in clear" stored_hash
lab_conduitd_stop

# --- the lab's store: root is the admin lab-admin -------------------------------------
printf '%s\n' 'Lab-Common-Phrase-2024' >"$IT_TMP/common.txt"
chmod 0644 "$IT_TMP/common.txt"
it_start "$PLANT" "password-cost 1" "password-common-file $IT_TMP/common.txt" "password-history 3"
user_add vic viewer 'Cobalt-River-7713' "$U_VIEW" || it_bail "add vic"
user_add olga operator 'Amber-Glacier-2256' "$U_OP" || it_bail "add olga"
user_add erin engineer 'Silver-Thistle-9034' "$U_ENG" || it_bail "add erin"
user_add ezra engineer 'Indigo-Falcon-6621' "$U_ENG2" || it_bail "add ezra"

# tags: CR 1.1, CR 2.1
TAGS="CR 1.1, CR 2.1"
check "member of the group but unmapped: refused, and told why" \
	expect_rc 1 "uid $(id -u "$U_GRP") \($U_GRP\) is not mapped to an active conduitd user" -- as_user "$U_GRP" status
# tags: CR 2.8
TAGS="CR 2.8"
check "the refusal is logged" log_has "failed login as \"$U_GRP\" from unix .*not mapped"
# tags: CR 2.1
TAGS="CR 2.1"
refused_out() { ! as_user "$U_OUT" status; }
check "outside the group conduitd: refused" refused_out

# --- the role table (CR 2.1 RE(1), RE(2)) ----------------------------------------------
V1=$IT_TMP/no443.yaml
policy_without_443 "$V1" || it_bail "policy variant without 443"
# tags: CR 2.1 RE(1), CR 2.1 RE(2)
TAGS="CR 2.1 RE(1), CR 2.1 RE(2)"
check "viewer vic: status served" expect_rc 0 '^sha256:' -- as_user "$U_VIEW" status
# tags: CR 2.1 RE(1), CR 2.1 RE(2)
TAGS="CR 2.1 RE(1), CR 2.1 RE(2)"
check "CR 2.1 RE(1): viewer vic cannot switch island on (permission-denied)" \
	expect_rc 1 'permission-denied: role viewer may not run island' -- as_user "$U_VIEW" island on
check "island still off" island_is off
# tags: CR 2.1 RE(1), CR 2.1 RE(2)
TAGS="CR 2.1 RE(1), CR 2.1 RE(2)"
check "CR 2.1 RE(1): viewer vic cannot apply a policy (permission-denied)" \
	expect_rc 1 'permission-denied' -- as_user "$U_VIEW" policy apply "$V1"
# tags: CR 2.1 RE(1)
TAGS="CR 2.1 RE(1)"
check "CR 2.1 RE(1): the running policy is unchanged" sha_is "$LAB_POLICY"
# tags: CR 2.1 RE(1), CR 2.8
TAGS="CR 2.1 RE(1), CR 2.8"
check "CR 2.1 RE(1): the denials are logged (MGMT_DENIED)" log_has 'policy.apply refused for vic .*role viewer'
# tags: CR 2.1 RE(2)
TAGS="CR 2.1 RE(2)"
check "CR 2.1 RE(2): operator olga switches island on" expect_rc 0 '' -- as_user "$U_OP" island on
check "island on" island_is on
check "operator olga switches island off" expect_rc 0 '' -- as_user "$U_OP" island off
check "island off" island_is off
# tags: CR 2.1 RE(1), CR 2.1 RE(2)
TAGS="CR 2.1 RE(1), CR 2.1 RE(2)"
check "CR 2.1 RE(1): operator olga cannot apply a policy" expect_rc 1 'permission-denied' -- as_user "$U_OP" policy apply "$V1"
# tags: CR 2.1 RE(2)
TAGS="CR 2.1 RE(2)"
check "CR 2.1 RE(2): engineer erin applies a policy" expect_rc 0 'applied' -- as_user "$U_ENG" policy apply "$V1"
check "the daemon runs erin's policy" sha_is "$V1"
# tags: CR 2.1 RE(1)
TAGS="CR 2.1 RE(1)"
# (a password file erin can read: the refusal must be the daemon's)
pw_write "$IT_TMP/mallory.pw" 'Scarlet-Meadow-8812'
chmod 0644 "$IT_TMP/mallory.pw"
check "CR 2.1 RE(1): engineer erin cannot add users" \
	expect_rc 1 'permission-denied' -- as_user "$U_ENG" user add mallory --role admin --unix "$U_GRP" --password-file "$IT_TMP/mallory.pw"

# --- user administration (CR 1.3, CR 1.4) -----------------------------------------------
pw_write "$IT_TMP/temp1.pw" 'Orange-Harvest-3318'
# tags: CR 1.3
TAGS="CR 1.3"
check "CR 1.3: admin adds temp (viewer, Unix user $U_GRP)" \
	expect_rc 0 '' -- lab_ctl user add temp --role viewer --unix "$U_GRP" --password-file "$IT_TMP/temp1.pw"
list_has() {   # list_has NAME JQ-CONDITION
	local out
	out=$(lab_ctl --json user list) || { echo "$out"; return 1; }
	jq -c --arg n "$1" '.users[] | select(.name == $n)' <<<"$out"
	jq -e --arg n "$1" "[.users[] | select(.name == \$n) | $2] | length == 1" <<<"$out" >/dev/null
}
check "user list: temp is an active viewer mapped to $U_GRP" list_has temp "select(.role == \"viewer\" and .state == \"active\" and .unix == \"$U_GRP\")"
# tags: CR 1.3
TAGS="CR 1.3"
check "CR 1.3: admin adds a local-only user without a password (--no-password)" \
	expect_rc 0 '' -- lab_ctl user add loc --role viewer --unix "$U_OUT" --no-password
# tags: CR 1.4, CR 1.1 RE(1)
TAGS="CR 1.4, CR 1.1 RE(1)"
check "CR 1.4: a second user with the name temp is refused" \
	expect_rc 1 'exists' -- lab_ctl user add temp --role viewer --password-file "$IT_TMP/temp1.pw"
# tags: CR 1.4, CR 1.1 RE(1)
TAGS="CR 1.4, CR 1.1 RE(1)"
check "CR 1.4: a Unix user already mapped (to loc) cannot be mapped to a second user" \
	expect_rc 1 'already mapped to loc' -- lab_ctl user add loc2 --role viewer --unix "$U_OUT" --password-file "$IT_TMP/temp1.pw"
check "$U_GRP, now mapped to temp, is served" expect_rc 0 '^sha256:' -- as_user "$U_GRP" status
# tags: CR 1.3
TAGS="CR 1.3"
check "CR 1.3: admin locks temp" expect_rc 0 '' -- lab_ctl user lock temp
check "user list: temp disabled" list_has temp 'select(.state == "disabled")'
# tags: CR 1.3
TAGS="CR 1.3"
check "CR 1.3: a locked user is refused on the socket" expect_rc 1 'not mapped to an active' -- as_user "$U_GRP" status
# tags: CR 1.3
TAGS="CR 1.3"
check "CR 1.3: admin unlocks temp: served again" \
	bash -c '"$0" -s "$1" user unlock temp && setpriv --reuid="$2" --regid="$(id -g "$2")" --init-groups "$0" -s "$1" status' \
	"$CONDUITCTL" "$LAB_SOCK" "$U_GRP"

# --- the password policy (CR 1.7) ---------------------------------------------------------
passwd_rejected() {   # passwd_rejected PASSWORD REASON
	pw_write "$IT_TMP/try.pw" "$1"
	expect_rc 1 "password rejected: .*$2" -- lab_ctl user passwd temp --password-file "$IT_TMP/try.pw"
}
# tags: CR 1.7
TAGS="CR 1.7"
check "CR 1.7: a password shorter than 12 characters is rejected, saying so" passwd_rejected 'Sh0rt-Pw!' 'shorter than 12'
# tags: CR 1.7
TAGS="CR 1.7"
check "CR 1.7: a password of one character class is rejected" passwd_rejected 'onlylowercaseletters' 'needs 3 of'
# tags: CR 1.7
TAGS="CR 1.7"
check "CR 1.7: a password containing the user name is rejected" passwd_rejected 'My-temp-Password-77' 'contains the user name'
# tags: CR 1.7
TAGS="CR 1.7"
check "CR 1.7: a common password (built-in list) is rejected" passwd_rejected 'Password1234!' 'commonly used'
# tags: CR 1.7
TAGS="CR 1.7"
check "CR 1.7: a password of password-common-file is rejected" passwd_rejected 'Lab-Common-Phrase-2024' 'commonly used'
pw_write "$IT_TMP/temp2.pw" 'Crimson-Lagoon-5529'
# tags: CR 1.3, CR 1.5
TAGS="CR 1.3, CR 1.5"
check "CR 1.5: admin changes temp's password" expect_rc 0 '' -- lab_ctl user passwd temp --password-file "$IT_TMP/temp2.pw"
# tags: CR 1.7
TAGS="CR 1.7"
check "CR 1.7: the previous password is rejected (password-history 3)" passwd_rejected 'Orange-Harvest-3318' 'used before'
# tags: CR 1.7
TAGS="CR 1.7"
check "CR 1.7: the current password is rejected too" passwd_rejected 'Crimson-Lagoon-5529' 'used before'
hash_changed() {
	local h
	h=$(awk -F: '$1 == "temp" { print $5 ":" $7 }' "$LAB_DIR/etc/users")
	echo "temp: ${h:0:30}..."
	[[ $h == '$y$'*':$y$'* ]]
}
# tags: CR 1.5
TAGS="CR 1.5"
check "CR 1.5: the store keeps the new hash and the old one in the history" hash_changed
# tags: CR 1.3
TAGS="CR 1.3"
check "CR 1.3: admin deletes temp" expect_rc 0 '' -- lab_ctl user del temp
check "user list: temp gone" bash -c '! "$0" -s "$1" --json user list | jq -e ".users[] | select(.name == \"temp\")"' \
	"$CONDUITCTL" "$LAB_SOCK"
check "CR 1.3: the deleted user's Unix account is refused again" expect_rc 1 'not mapped' -- as_user "$U_GRP" status
# tags: CR 1.3
TAGS="CR 1.3"
check "CR 1.3: the last active admin cannot be deleted" expect_rc 1 'last active admin' -- lab_ctl user del lab-admin
# tags: CR 1.5
TAGS="CR 1.5"
check "CR 1.5: the users file is still 0600, owned by conduitd, after the changes" users_file_safe
# tags: CR 2.8
TAGS="CR 2.8"
check "every user change is logged with who did it" \
	bash -c 'for a in add lock unlock password delete; do grep -qE "user temp: $a by lab-admin" "$0" || { echo "no \"user temp: $a\""; exit 1; }; done' "$LAB_LOG"

# --- two-person policy changes (CR 2.1 RE(4)) ----------------------------------------------
# approval-ttl has a minimum of 60 s: the expiry is waited for once, at the end
lab_conduitd_stop
printf '%s\n' "approval-required yes" "approval-ttl 60" >>"$LAB_CONF"
lab_conduitd_run || it_bail "conduitd restarts with approval-required yes"
V2=$IT_TMP/no5201.yaml
sed -E '0,/8443, 5201/ s/8443, 5201/8443/' "$PLANT" >"$V2"
cmp -s "$PLANT" "$V2" && it_bail "policy variant without 5201"
SHA0=$(status_sha)
it_diag "running policy before the two-person change: $SHA0"
submit() {   # submit USER FILE: PID = the pending id
	local out
	PID=
	out=$(as_user "$1" --json policy apply "$2") || { echo "$out"; return 1; }
	echo "$out" | jq -c '.pending | {id, author, sha256, expires}'
	PID=$(jq -r '.pending.id // empty' <<<"$out")
	[ -n "$PID" ] && [ "$(jq -r '.pending.author' <<<"$out")" = erin ]
}
sha_still() { local s; s=$(status_sha); echo "running $s, before $SHA0"; [ "$s" = "$SHA0" ]; }
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): engineer erin's policy apply is queued for approval" submit "$U_ENG" "$V2"
P1=$PID
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): the running policy is unchanged while it waits" sha_still
pending_shows() {
	local out
	out=$(as_user "$U_ENG2" policy pending) || { echo "$out"; return 1; }
	echo "$out"
	grep -qE "^$P1 +erin " <<<"$out" && grep -qE 'conduits' <<<"$out"
}
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): policy pending shows change $P1 by erin with its diff" pending_shows
diff_json() {
	as_user "$U_ENG2" --json policy pending | jq -e --argjson id "$P1" \
		'.pending[] | select(.id == $id) | .diff | type == "object"'
}
check "policy pending --json carries the diff object" diff_json
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): erin cannot approve her own change" \
	expect_rc 1 'second person' -- as_user "$U_ENG" policy approve "$P1" --yes
check "CR 2.1 RE(4): still the old policy" sha_still
# tags: CR 2.1 RE(1), CR 2.1 RE(4)
TAGS="CR 2.1 RE(1), CR 2.1 RE(4)"
check "CR 2.1 RE(4): viewer vic cannot approve it" expect_rc 1 'permission-denied' -- as_user "$U_VIEW" policy approve "$P1" --yes
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): engineer ezra approves change $P1: applied" \
	expect_rc 0 'applied' -- as_user "$U_ENG2" policy approve "$P1" --yes
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): only now the daemon runs the new policy" sha_is "$V2"
# tags: CR 2.1 RE(4), CR 2.8
TAGS="CR 2.1 RE(4), CR 2.8"
check "CR 2.1 RE(4): submission and approval are logged with both names" \
	bash -c 'grep -qE "policy change $1 of erin submitted by erin" "$0" && grep -qE "policy change $1 of erin approved by ezra" "$0"' \
	"$LAB_LOG" "$P1"
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): erin submits another change" submit "$U_ENG" "$V1"
P2=$PID
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): ezra (not its author, not admin) cannot withdraw it" \
	expect_rc 1 'only its author or an admin' -- as_user "$U_ENG2" policy withdraw "$P2"
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): erin withdraws it" expect_rc 0 "withdrawn" -- as_user "$U_ENG" policy withdraw "$P2"
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): a withdrawn change cannot be approved" \
	expect_rc 1 "no pending policy change $P2" -- as_user "$U_ENG2" policy approve "$P2" --yes
check "the running policy is still the approved one" sha_is "$V2"
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): a change to expire: erin submits" submit "$U_ENG" "$V1"
P3=$PID
ttl_60() {
	as_user "$U_ENG" --json policy pending | jq -e --argjson id "$P3" \
		'.pending[] | select(.id == $id) | (.expires - .created) == 60'
}
check "CR 2.1 RE(4): it expires approval-ttl (60 s) after its submission" ttl_60
EXP=$(as_user "$U_ENG" --json policy pending | jq -r --argjson id "$P3" '.pending[] | select(.id == $id) | .expires')
[ -n "$EXP" ] && while [ "$(date +%s)" -le "$EXP" ]; do sleep 1; done
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): after expiry it is no longer pending" \
	bash -c '! "$0" -s "$1" --json policy pending | jq -e --argjson id "$2" ".pending[] | select(.id == \$id)"' \
	"$CONDUITCTL" "$LAB_SOCK" "$P3"
# tags: CR 2.1 RE(4)
TAGS="CR 2.1 RE(4)"
check "CR 2.1 RE(4): an expired change cannot be approved" \
	expect_rc 1 "no pending policy change $P3" -- as_user "$U_ENG2" policy approve "$P3" --yes
expired_record() {
	"$CONDUITCTL" audit tail -n 500 --json --spool "$LAB_DIR/state/audit" 2>/dev/null |
		jq -c 'select(.msgid == "MGMT_APPROVAL")' | grep -E '"expired"' | grep .
}
# tags: CR 2.1 RE(4), CR 2.8
TAGS="CR 2.1 RE(4), CR 2.8"
check "CR 2.1 RE(4): the expiry is an MGMT_APPROVAL audit record" expired_record
check "the running policy is still the approved one" sha_is "$V2"

check "conduitd still running" kill -0 "$LAB_PID"
no_sanitizer() { ! grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$LAB_LOG"; }
check "no sanitizer report in the daemon log" no_sanitizer
it_done
