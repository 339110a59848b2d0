#!/usr/bin/env bash
# t-socket: the control socket is mode 0660, group conduitd; a local user
# outside group conduitd is refused; a member of the group is served only
# when the user store maps it to a conduitd user (issue 7: membership alone
# is not enough). No requirement tag: the access-control claims are in
# t-mgmt-local.sh; this scenario only checks the socket's contract.
. "$(dirname "$0")/lib.sh"
# shellcheck source=mgmt-pki.sh
. "$IT_HERE/mgmt-pki.sh"
it_setup
# password-cost 1: a fast hash under ASan for the mapped user's password
it_start "$PLANT" "password-cost 1"

U_OUT=cdo$$
U_IN=cdi$$
U_VIEW=cdv$$
IT_EXTRA_CLEANUP='userdel "$U_OUT" 2>/dev/null; userdel "$U_IN" 2>/dev/null; userdel "$U_VIEW" 2>/dev/null'
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$U_OUT" ||
	it_bail "create throwaway user $U_OUT"
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	-G conduitd "$U_IN" || it_bail "create throwaway user $U_IN"
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	-G conduitd "$U_VIEW" || it_bail "create throwaway user $U_VIEW"
user_add sockview viewer 'Walnut-Beacon-4127' "$U_VIEW" || it_bail "map $U_VIEW to a viewer"

check "control socket exists and is a socket" test -S "$LAB_SOCK"
check "control socket mode 0660" bash -c '[ "$(stat -c %a "$0")" = 660 ]' "$LAB_SOCK"
check "control socket group conduitd" bash -c '[ "$(stat -c %G "$0")" = conduitd ]' "$LAB_SOCK"
check "control socket not world accessible" bash -c '[ "$(( $(stat -c 0%a "$0") & 7 ))" = 0 ]' "$LAB_SOCK"

as_user() {   # as_user USER conduitctl-args...: exit status of conduitctl
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups --no-new-privs \
		"$CONDUITCTL" -s "$LAB_SOCK" "$@"
}
refused() {
	local out rc
	out=$(as_user "$U_OUT" "$@" 2>&1)
	rc=$?
	echo "$out"
	echo "exit status $rc"
	[ "$rc" -ne 0 ]
}
check "user outside group conduitd: status refused (non-zero exit)" refused status
check "user outside group conduitd: island on refused" refused island on
check "refused island on had no effect" island_is off
check "user outside group conduitd: policy apply refused" refused policy apply "$PLANT"
member_refused() {
	local out rc
	out=$(as_user "$U_IN" status 2>&1)
	rc=$?
	echo "$out"
	echo "exit status $rc"
	[ "$rc" -eq 1 ] && grep -q 'not mapped to an active conduitd user' <<<"$out"
}
check "member of the group but unmapped: refused" member_refused
check "mapped to a viewer: status served" as_user "$U_VIEW" status
check "root: status served" lab_ctl status
unreachable() { "$CONDUITCTL" -s "$IT_TMP/no-such.sock" status >/dev/null 2>&1; [ $? -eq 3 ]; }
check "no daemon behind the socket path: exit 3" unreachable
check "conduitd still running" kill -0 "$LAB_PID"
it_done
