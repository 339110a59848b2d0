#!/usr/bin/env bash
# t-audit-outage: nothing that reached the spool is lost (CR 2.10) when the
# collector is down at start, when it is stopped mid-stream and restarted
# (at-least-once: the only duplicates are resent records with the same seq
# and identical content), and when conduitd is killed -9 mid-stream and
# restarted (DAEMON_RECOVER, the chain continues unbroken across the crash).
# Real rsyslog (tests/collector) in the gateway namespace, mutual TLS.
T_AUDIT_LIB=1
. "$(dirname "$0")/t-audit.sh"
audit_setup
C=$IT_TMP/coll

# the collector's ports first, then it goes away: conduitd starts without it
coll_start "$C" || it_bail "rsyslog collector starts in the gateway namespace"
coll_stop "$C" || it_bail "collector stops"
it_start "$PLANT" "${AUDIT_BASE_CONF[@]}" "audit-health-interval 0" \
	"$(tls_collector siem "$SYSLOG_TLS_MTLS_PORT")"

# --- 1. collector down at start ---------------------------------------------------
deny_burst 500 30000 >"$IT_TMP/b1.txt" 2>&1
down_kept() {
	local up b e
	for i in $(seq 30); do
		b=$(coll_field siem backlog)
		[ -n "$b" ] && [ "$b" -ge 500 ] 2>/dev/null && break
		sleep 0.2
	done
	up=$(coll_field siem up)
	e=$(coll_field siem last_error)
	echo "siem: up=$up backlog=$b last_error='$e'"
	[ "$up" = false ] && [ "${b:-0}" -ge 500 ] && [ -n "$e" ]
}
# tags: CR 2.10
TAGS="CR 2.10"
check "collector down at start: records kept (backlog >= 500), a local error names why" down_kept
# tags: CR 2.10, CR 6.1
TAGS="CR 2.10, CR 6.1"
check "collector down at start: audit tail shows the spooled FLOW_DENIED records" \
	bash -c '"$0" audit tail -n 20 --spool "$1" | grep -q FLOW_DENIED' "$CONDUITCTL" "$SPOOL"
check "collector restarted on the same ports" coll_restart "$C"
# tags: CR 2.10
TAGS="CR 2.10"
check "collector down at start: all 500 spooled records delivered once it is up" \
	wait_flows "$C/received.log" 30000 500 30
# tags: CR 2.8
TAGS="CR 2.8"
check "COLLECTOR_UP record arrives" has_msgid "$C/received.log" COLLECTOR_UP 5
# tags: CR 2.8
TAGS="CR 2.8"
check "COLLECTOR_DOWN record (from the time it was down) arrives with a reason" \
	grep -qE " COLLECTOR_DOWN \[$SDID [^]]*(reason|error)[a-z_]*=\"[^\"]+\"" "$C/received.log"

# --- 2. collector stopped for the middle part of a stream ------------------------------
N2=4000
deny_burst "$N2" 31000 1000 >"$IT_TMP/b2.txt" 2>&1 &
gp=$!
sleep 1
coll_stop "$C"
it_diag "collector stopped at ~1000 of $N2 events"
sleep 2
coll_restart "$C" || it_diag "collector restart failed: $(tail -n 3 "$C.log")"
it_diag "collector restarted at ~3000 of $N2 events"
wait "$gp"
check "burst of $N2 sent" grep -q "^sent $N2 " "$IT_TMP/b2.txt"
# tags: CR 2.10
TAGS="CR 2.10"
check "collector outage mid-stream: all $N2 events arrive" wait_flows "$C/received.log" 31000 "$N2" 40
# tags: CR 3.9
TAGS="CR 3.9"
check "verify after the outage: chain intact" verify_ok "$C/received.log"
verify_out "$C/received.log" | sed 's/^/# verify: /' | head -n 2
# dups_identical FILE: every seq that arrived twice arrived with identical bytes
dups_identical() {
	ours "$1" | awk -v sd="$SDID" '
	{ if (!match($0, /\[conduitd@[0-9]+ seq="[0-9]+"/)) next
	  s = substr($0, RSTART, RLENGTH); sub(/.*seq="/, "", s); sub(/"/, "", s)
	  if (s in line) { dups++; if (line[s] != $0) { print "seq " s " twice with different content"; bad++ } }
	  else line[s] = $0 }
	END { print dups + 0 " duplicate records, " bad + 0 " differing"; exit bad > 0 }'
}
# tags: CR 2.10, CR 3.9
TAGS="CR 2.10, CR 3.9"
check "duplicates are only resent records: same seq, identical content" dups_identical "$C/received.log"
verify_dups() {
	local out d
	out=$(verify_out "$C/received.log")
	d=$(sed -nE 's/.* ([0-9]+) duplicates?.*/\1/p' <<<"$out")
	echo "verify: $out; awk counts: $(dups_identical "$C/received.log")"
	[ -n "$d" ] && [ "$d" = "$(dups_identical "$C/received.log" | awk '{ print $1 }')" ]
}
check "verify reports the same duplicate count" verify_dups
up_again() {
	local b
	for i in $(seq 50); do
		b=$(coll_field siem backlog)
		[ "$(coll_field siem up)" = true ] && [ "$b" = 0 ] && return 0
		sleep 0.2
	done
	echo "siem: up=$(coll_field siem up) backlog=$b resent=$(coll_field siem resent)"
	return 1
}
check "status: siem up again, backlog 0" up_again
it_diag "siem resent $(coll_field siem resent) records after the outage"

# --- 3. kill -9 mid-stream ----------------------------------------------------------------
N3=3000
deny_burst "$N3" 36000 1000 >"$IT_TMP/b3.txt" 2>&1 &
gp=$!
sleep 1
check "kill -9 of conduitd mid-stream" lab_conduitd_stop KILL
sleep 0.5
# tags: CR 2.10
TAGS="CR 2.10"
check "conduitd restarts on its spool" lab_conduitd_run
wait "$gp"
# tags: CR 2.8
TAGS="CR 2.8"
check "DAEMON_RECOVER arrives after the restart" has_msgid "$C/received.log" DAEMON_RECOVER 15
# every record the spool got, before and after the kill, reaches the collector:
# the collector's seqs are exactly 1..last seq of the daemon (no gap)
all_seq_arrived() {
	local last max n
	for i in $(seq 50); do
		last=$(audit_field last_seq)
		max=$(seqs "$C/received.log" | sort -n | tail -n 1)
		n=$(seqs "$C/received.log" | sort -un | wc -l)
		# the status poll is audited itself (its session's login, command
		# and logout) after it read last_seq: the collector may be a few
		# records ahead, never behind, never with a gap
		[ -n "$last" ] && [ -n "$max" ] && [ "$n" = "$max" ] && [ "$max" -ge "$last" ] &&
			{ echo "seq 1..$max all present (daemon said $last)"; return 0; }
		sleep 0.2
	done
	echo "daemon last_seq '$last'; collector: $n distinct seq, max $max"
	return 1
}
# tags: CR 2.10
TAGS="CR 2.10"
check "after kill -9: every seq 1..last arrives (nothing that reached the spool lost)" all_seq_arrived
# tags: CR 3.9
TAGS="CR 3.9"
check "after kill -9: verify over both daemon lives: chain intact" verify_ok "$C/received.log"
# ~800 flows were sent before the kill (1000/s, kill after 1 s), the last
# ~500 well after the restart
before_after() {
	local rows b a
	rows=$(flow_rows "$C/received.log")
	b=$(awk '$2 >= 36000 && $2 < 36800' <<<"$rows" | wc -l)
	a=$(awk -v n="$N3" '$2 >= 36000 + n - 500 && $2 < 36000 + n' <<<"$rows" | wc -l)
	echo "flows of the burst at the collector: $b of the first 800, $a of the last 500"
	[ "$b" -ge 700 ] && [ "$a" -eq 500 ]
}
# tags: CR 2.8
TAGS="CR 2.8"
check "after kill -9: the burst's flows from before the kill and after the restart arrived" before_after
check "conduitd still running at the end" kill -0 "$LAB_PID"
it_done
