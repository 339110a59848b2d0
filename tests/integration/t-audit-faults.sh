#!/usr/bin/env bash
# t-audit-faults: TLS failures give a clear local error and keep every record
# in the spool (a client certificate the collector rejects on the gtls
# x509/name port and on the ossl port, a wrong CA, a wrong server name);
# a corrupt spool segment at start is quarantined (*.corrupt), reported as
# SPOOL_CORRUPT and the other segments are delivered; a full file system
# under the spool gives SPOOL_FAILURE locally and at the collector after
# recovery, and loses nothing that reached the spool. Real rsyslog
# (tests/collector) in the gateway namespace.
T_AUDIT_LIB=1
. "$(dirname "$0")/t-audit.sh"
audit_setup
C=$IT_TMP/coll
coll_start "$C" || it_bail "rsyslog collector starts in the gateway namespace"

# --- 1. TLS failures: four collectors that must never get a record ----------------
tls_line() {          # tls_line NAME PORT CA CERT SERVER_NAME
	echo "audit-collector $1 tls 127.0.0.1 $2 ca $PKI/$3.pem cert $PKI/$4.pem key $PKI/$4.key server-name $5 settle-ms 200 backoff-max-ms 1000"
}
it_start "$PLANT" "${AUDIT_BASE_CONF[@]}" "audit-health-interval 0" \
	"$(tls_line rejname "$SYSLOG_TLS_MTLS_PORT" ca badclient syslog.test)" \
	"$(tls_line rejossl "$SYSLOG_TLS_OSSL_PORT" ca rogue syslog.test)" \
	"$(tls_line wrongca "$SYSLOG_TLS_MTLS_PORT" rogue-ca client syslog.test)" \
	"$(tls_line wrongname "$SYSLOG_TLS_MTLS_PORT" ca client wrong-name.test)"
deny_burst 50 30000 >/dev/null 2>&1
sleep 3
# coll_error NAME REGEX: the collector's last_error matches (case-insensitive)
coll_error() {
	local e
	for i in $(seq 30); do
		e=$(coll_field "$1" last_error)
		grep -qiE -- "$2" <<<"$e" && { echo "$1: $e"; return 0; }
		sleep 0.2
	done
	echo "$1: last_error '$e' does not match /$2/"
	status_json | jq -c '.audit? // empty' 2>/dev/null | head -c 1500
	return 1
}
kept() {              # kept NAME: nothing delivered, records kept
	local d b
	d=$(coll_field "$1" delivered)
	b=$(coll_field "$1" backlog)
	echo "$1: delivered=$d backlog=$b up=$(coll_field "$1" up)"
	[ "$d" = 0 ] && [ -n "$b" ] && [ "$b" -ge 50 ]
}
# tags: CR 3.1, CR 4.1, CR 2.8
TAGS="CR 3.1, CR 4.1, CR 2.8"
check "nothing of ours reaches the collector through any rejected TLS session" \
	it_not grep -qF "[$SDID " "$C/received.log" "$C/raw.log"
# tags: CR 3.1
TAGS="CR 3.1"
check "gtls x509/name refuses the badclient certificate (rsyslog's internal.log)" \
	grep -qiE 'not (authorized|permitted)' "$C/internal.log"
# tags: CR 3.1
TAGS="CR 3.1"
check "rejected client certificate (x509/name): clear local error" \
	coll_error rejname 'reject|alert|certificate|closed|reset'
# tags: CR 3.1
TAGS="CR 3.1"
check "rejected client certificate (ossl, untrusted issuer): clear local error" \
	coll_error rejossl 'reject|alert|certificate|closed|reset'
# tags: CR 3.1, CR 4.1
TAGS="CR 3.1, CR 4.1"
check "wrong CA: the collector's certificate fails verification, named" \
	coll_error wrongca 'verif|issuer'
# tags: CR 3.1, CR 4.1
TAGS="CR 3.1, CR 4.1"
check "wrong server name: the name mismatch is named" \
	coll_error wrongname 'name|match|host'
for n in rejname rejossl wrongca wrongname; do
	# tags: CR 2.10
	TAGS="CR 2.10"
	check "$n: nothing counted delivered, records kept in the spool (backlog >= 50)" kept "$n"
done
# tags: CR 6.1, CR 2.10
TAGS="CR 6.1, CR 2.10"
check "audit tail shows the kept FLOW_DENIED records" \
	bash -c '"$0" audit tail -n 100 --spool "$1" | grep -q FLOW_DENIED' "$CONDUITCTL" "$SPOOL"
# tags: CR 2.8
TAGS="CR 2.8"
check "audit tail shows COLLECTOR_DOWN records with the reason" \
	bash -c '"$0" audit tail -n 200 --spool "$1" | grep -E "COLLECTOR_DOWN" | grep -qiE "verif|name|alert|certificate|reject"' \
	"$CONDUITCTL" "$SPOOL"
grep -iE 'rejname|rejossl|wrongca|wrongname' "$LAB_LOG" | head -n 4 | sed 's/^/# daemon log: /'
lab_conduitd_stop TERM

# --- 2. a corrupt spool segment at start ---------------------------------------------------
coll_stop "$C"
: >"$C/received.log"
it_start "$PLANT" "${AUDIT_BASE_CONF[@]}" "audit-health-interval 0" \
	"audit-segment-size 64K" "audit-capacity 8M" \
	"$(tls_collector siem "$SYSLOG_TLS_MTLS_PORT")"
deny_burst 1200 31000 >/dev/null 2>&1
segs() { find "$SPOOL" -maxdepth 1 -name 'seg-*.cds' -printf '%f\n' 2>/dev/null | sort; }
four_segs() {
	for i in $(seq 50); do
		[ "$(segs | wc -l)" -ge 4 ] && { segs | tr '\n' ' '; return 0; }
		sleep 0.2
	done
	echo "segments: $(segs | tr '\n' ' ')"
	return 1
}
check "collector down: the spool grows to >= 4 segments of 64K" four_segs
lab_conduitd_stop TERM
mapfile -t S < <(segs)
hexseq() { local h=${1#seg-}; h=${h%.cds}; echo $((16#$h)); }
if [ "${#S[@]}" -ge 3 ]; then
	BAD=${S[1]}
	bad_first=$(hexseq "$BAD")
	next_first=$(hexseq "${S[2]}")
	sz=$(stat -c %s "$SPOOL/$BAD")
	printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' |
		dd of="$SPOOL/$BAD" bs=1 seek=$((sz / 2)) conv=notrunc status=none
	it_diag "flipped 8 bytes at offset $((sz / 2)) of $BAD (seq $bad_first..$((next_first - 1))); segments ${S[*]}"
else
	BAD=none bad_first=0 next_first=0
fi
coll_restart "$C" || it_bail "collector restarts"
check "conduitd starts on the damaged spool" lab_conduitd_run
# tags: CR 3.9, CR 2.10
TAGS="CR 3.9, CR 2.10"
check "SPOOL_CORRUPT arrives at the collector" has_msgid "$C/received.log" SPOOL_CORRUPT 15
# tags: CR 3.9
TAGS="CR 3.9"
check "SPOOL_CORRUPT names the quarantined segment" grep -qE "SPOOL_CORRUPT .*$BAD" "$C/received.log"
# tags: CR 3.9
TAGS="CR 3.9"
check "the damaged segment is renamed $BAD.corrupt" \
	bash -c '[ -f "$1/$2.corrupt" ] && [ ! -f "$1/$2" ]' _ "$SPOOL" "$BAD"
check "a local error names the damaged segment" log_has "$BAD" 5
rest_delivered() {
	local want got missing
	last=$(audit_field last_seq)
	for i in $(seq 75); do
		got=$(seqs "$C/received.log" | sort -un)
		missing=$(seq 1 $((bad_first - 1)); seq "$next_first" "${last:-0}")
		missing=$(comm -23 <(sort -u <<<"$missing") <(sort -u <<<"$got") | wc -l)
		[ -n "$last" ] && [ "$missing" -eq 0 ] && { echo "seq 1..$((bad_first - 1)) and $next_first..$last all present"; return 0; }
		sleep 0.2
		last=$(audit_field last_seq)
	done
	echo "$missing records of the intact segments missing (last_seq '$last')"
	return 1
}
# tags: CR 2.10, CR 3.9
TAGS="CR 2.10, CR 3.9"
check "every record of the intact segments is delivered" rest_delivered
verify_out "$C/received.log" | sed 's/^/# verify after quarantine: /' | head -n 2
lab_conduitd_stop TERM

# --- 3. file system full under the spool -------------------------------------------------
TINY=$IT_TMP/tiny
mkdir -p "$TINY"
mount -t tmpfs -o size=512k,mode=0755 conduitd-audit-test "$TINY" || it_bail "mount a 512k tmpfs on $TINY"
IT_EXTRA_CLEANUP='lab_conduitd_stop KILL; umount -l "$TINY" 2>/dev/null'
: >"$C/received.log"
SPOOL=$TINY/audit
it_start "$PLANT" "${AUDIT_BASE_CONF[@]}" "audit-health-interval 0" \
	"audit-dir $SPOOL" "audit-segment-size 64K" "audit-capacity 16M" \
	"$(tls_collector siem "$SYSLOG_TLS_MTLS_PORT")"
check "DAEMON_START delivered (spool on the tiny tmpfs)" has_msgid "$C/received.log" DAEMON_START 15
dd if=/dev/zero of="$TINY/filler" bs=4k status=none 2>/dev/null
it_diag "tmpfs full: $(df -k --output=avail "$TINY" | tail -n 1) KiB free"
deny_burst 400 33000 1000 >/dev/null 2>&1
sleep 1
# tags: CR 2.10
TAGS="CR 2.10"
check "disk full: write failures counted in the status audit object" \
	field_gt "$(audit_field write_failures)" 0
# tags: CR 2.10
TAGS="CR 2.10"
check "disk full: a clear local error in the daemon log" log_has '(spool|audit).*(No space|ENOSPC|full)' 5
rm -f "$TINY/filler"
# the writer retries the spool every 500 ms; SPOOL_FAILURE is its first
# record once writing works again (events in between beyond its small
# retry buffer are counted in an AUDIT_LOSS record, not silently lost)
# tags: CR 2.10
TAGS="CR 2.10"
check "after recovery: SPOOL_FAILURE arrives at the collector" has_msgid "$C/received.log" SPOOL_FAILURE 10
# tags: CR 2.10
TAGS="CR 2.10"
check "after recovery: an AUDIT_LOSS record counts what the full disk refused" \
	bash -c 'grep " AUDIT_LOSS " "$1" | grep -q "cause=\"spool-failure\""' _ "$C/received.log"
deny_burst 100 34000 >/dev/null 2>&1
# tags: CR 2.10
TAGS="CR 2.10"
check "after recovery: the new records arrive" wait_flows "$C/received.log" 34000 100 20
spooled_all_delivered() {
	local last n max
	for i in $(seq 50); do
		last=$(audit_field last_seq)
		n=$(seqs "$C/received.log" | sort -un | wc -l)
		max=$(seqs "$C/received.log" | sort -n | tail -n 1)
		# every status poll is itself audited (login, command, logout of
		# its session) after it reads last_seq: the collector may be a
		# few records ahead, never behind, and never with a gap
		[ -n "$last" ] && [ -n "$max" ] && [ "$n" = "$max" ] && [ "$max" -ge "$last" ] &&
			{ echo "seq 1..$max all delivered (daemon said $last)"; return 0; }
		sleep 0.2
	done
	echo "daemon last_seq '$last', collector has $n distinct seq, max $max"
	return 1
}
# tags: CR 2.10
TAGS="CR 2.10"
check "disk full: every record that reached the spool is delivered (seq 1..last)" spooled_all_delivered
# tags: CR 3.9
TAGS="CR 3.9"
check "disk full: the chain at the collector is intact" verify_ok "$C/received.log"
grep -E ' (SPOOL_FAILURE|AUDIT_LOSS) ' "$C/received.log" | head -n 2 | cut -c 1-300 | sed 's/^/# /'
check "conduitd still running at the end" kill -0 "$LAB_PID"
it_done
