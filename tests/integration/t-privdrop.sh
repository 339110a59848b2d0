#!/usr/bin/env bash
# t-privdrop: after start-up the daemon runs as user conduitd with only
# CAP_NET_ADMIN effective (and nothing more it could regain), in every thread.
. "$(dirname "$0")/lib.sh"
it_setup
it_start

UID_WANT=$(id -u conduitd 2>/dev/null)
GID_WANT=$(id -g conduitd 2>/dev/null)
[ -n "$UID_WANT" ] || it_bail "user conduitd exists (scripts/bootstrap creates it)"
CAP_NET_ADMIN_MASK=0000000000001000

# every_task FIELD CHECK_FN: CHECK_FN gets the field's value for each thread
every_task() {
	local field=$1 fn=$2 st v rc=0
	for st in /proc/"$LAB_PID"/task/*/status; do
		v=$(awk -v f="$field:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "$st")
		echo "$st $field: $v"
		"$fn" "$v" || rc=1
	done
	return $rc
}
uids_ok() { [ "$1" = "$UID_WANT $UID_WANT $UID_WANT $UID_WANT" ]; }
gids_ok() { [ "$1" = "$GID_WANT $GID_WANT $GID_WANT $GID_WANT" ]; }
capeff_ok() { [ "$1" = "$CAP_NET_ADMIN_MASK" ]; }
capprm_ok() { [ "$1" = "$CAP_NET_ADMIN_MASK" ] || [ "$1" = 0000000000000000 ]; }
zero_ok() { [ "$1" = 0000000000000000 ]; }
no_root_group() { ! grep -qw 0 <<<"$1"; }

check "daemon process $LAB_PID is conduitd" \
	bash -c 'grep -q "^Name:.*conduitd" /proc/$0/status' "$LAB_PID"
# tags: CR 7.7
TAGS="CR 7.7"
check "real/effective/saved/fs uid = conduitd ($UID_WANT) in every thread" every_task Uid uids_ok
# tags: CR 7.7
TAGS="CR 7.7"
check "real/effective/saved/fs gid = conduitd ($GID_WANT) in every thread" every_task Gid gids_ok
# tags: CR 7.7
TAGS="CR 7.7"
check "no supplementary root group" every_task Groups no_root_group
# tags: CR 7.7
TAGS="CR 7.7"
check "CapEff is exactly CAP_NET_ADMIN (0x1000) in every thread" every_task CapEff capeff_ok
# tags: CR 7.7
TAGS="CR 7.7"
check "CapPrm holds nothing but CAP_NET_ADMIN" every_task CapPrm capprm_ok
# tags: CR 7.7
TAGS="CR 7.7"
check "CapInh and CapAmb are empty" bash -c \
	'for f in /proc/$0/task/*/status; do grep -E "^Cap(Inh|Amb):" "$f"; done | awk "{ if (\$2 != \"0000000000000000\") bad=1 } END { exit bad }"' "$LAB_PID"
# still works with those privileges: an apply needs CAP_NET_ADMIN only
check "policy apply still works after the drop" lab_ctl policy apply "$PLANT"
check "table present" lab_table_present
it_done
