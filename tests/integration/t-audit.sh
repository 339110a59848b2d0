#!/usr/bin/env bash
# t-audit: the audit trail (issue 6) end to end with a real rsyslog collector
# (tests/collector) in the gateway namespace: 10 000 denied-flow events over
# mutual TLS (rsyslog gtls, x509/name) arrive in order and verify as one
# unbroken chain; a changed byte is named by `conduitctl audit verify`; the
# lab's denied flows carry their 5-tuple; timestamps are RFC 3339 with
# microseconds; health records; `audit tail` and the status audit object.
#
# The first part of this file is also the helper library of the other
# t-audit-*.sh scenarios: they source it with T_AUDIT_LIB=1 and stop there.
#
# How events are made: there is no command that emits audit events (a
# security product), so every event is real traffic. deny_burst sends N UDP
# datagrams enterprise -> PLC (no conduit between the zones), each to its
# own destination port: the NFLOG aggregation keys on the 5-tuple without
# the source port, so each datagram is a new flow and gives one FLOW_DENIED
# at once. With deny-log-interval 1 a key lives 1-2 s in the daemon's table
# of 4096 keys, hence at most AUDIT_RATE (1600) flows per second.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COLL=$LAB_TOP/tests/collector
PEN=32473
SDID="conduitd@$PEN"
AUDIT_RATE=${AUDIT_RATE:-1600}
PKI=
SPOOL=

# audit_setup: it_setup, the collector kit present, a throwaway PKI.
audit_setup() {
	it_setup
	[ -x "$COLL/collector.sh" ] && [ -x "$COLL/gen-certs.sh" ] ||
		it_bail "collector kit in $COLL (collector.sh, gen-certs.sh)"
	command -v rsyslogd >/dev/null || it_bail "rsyslogd installed (scripts/bootstrap)"
	PKI=$IT_TMP/pki
	"$COLL/gen-certs.sh" "$PKI" >"$IT_TMP/gen-certs.log" 2>&1 ||
		{ tail -n 5 "$IT_TMP/gen-certs.log"; it_bail "gen-certs.sh makes a PKI"; }
	SPOOL=$LAB_DIR/state/audit
}

# --- the collector (rsyslog in the gateway namespace, on its 127.0.0.1) -------
# coll_start DIR: start it, source DIR/ports.env (SYSLOG_*_PORT, RSYSLOG_PID).
coll_start() {
	mkdir -p "$1"
	lab_exec gw "$COLL/collector.sh" start "$1" "$PKI" >>"$1.log" 2>&1 ||
		{ tail -n 5 "$1.log"; return 1; }
	# shellcheck disable=SC1091
	. "$1/ports.env"
	echo "${COLLECTOR_PID:-${RSYSLOG_PID:-}}" >>"$LAB_DIR/pids"
}
coll_stop() { lab_exec gw "$COLL/collector.sh" stop "$1" >>"$1.log" 2>&1; }
# coll_restart DIR: start again on the same ports (also after coll_stop).
coll_restart() {
	lab_exec gw "$COLL/collector.sh" restart "$1" >>"$1.log" 2>&1 ||
		{ tail -n 5 "$1.log"; return 1; }
	# shellcheck disable=SC1091
	. "$1/ports.env"
	echo "${COLLECTOR_PID:-${RSYSLOG_PID:-}}" >>"$LAB_DIR/pids"
}

# conf lines: fast aggregation, no kernel log limit, quick reconnects
AUDIT_BASE_CONF=("deny-log-interval 1" "log-rate 1000000")
# tls_collector NAME PORT [CERT=client] [extra options]: one conf line, mutual TLS
tls_collector() {
	local n=$1 port=$2 c=${3:-client}
	shift 2
	[ $# -gt 0 ] && shift
	echo "audit-collector $n tls 127.0.0.1 $port ca $PKI/ca.pem cert $PKI/$c.pem key $PKI/$c.key server-name syslog.test settle-ms 200 backoff-max-ms 1000${*:+ $*}"
}

# --- traffic ---------------------------------------------------------------
# deny_burst N BASE [RATE]: N denied UDP flows enterprise -> PLC, destination
# ports BASE..BASE+N-1, paced to RATE per second.
deny_burst() {
	lab_exec ent /usr/bin/python3 - "$1" "$2" "${3:-$AUDIT_RATE}" "$LAB_PLC4" <<-'EOF'
		import socket, sys, time
		n, base, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		t0 = time.monotonic()
		for i in range(n):
		    s.sendto(b"audit", (sys.argv[4], base + i))
		    d = t0 + (i + 1) / rate - time.monotonic()
		    if d > 0:
		        time.sleep(d)
		print("sent %d in %.2f s" % (n, time.monotonic() - t0))
	EOF
}

# --- what arrived -------------------------------------------------------------
# ours FILE: the records of ours in a collector file
ours() { grep -F "[$SDID " "$1" 2>/dev/null; }
# msgid_count FILE MSGID: records of ours with that MSGID
msgid_count() {
	grep -cE "^<[0-9]+>1 [^ ]+ [^ ]+ [^ ]+ [^ ]+ $2 \[$SDID " "$1" 2>/dev/null
}
has_msgid() {         # has_msgid FILE MSGID [SECONDS=10]
	local i
	for i in $(seq $((${3:-10} * 10))); do
		[ "$(msgid_count "$1" "$2")" -gt 0 ] && return 0
		sleep 0.1
	done
	echo "no $2 record of ours in $1 ($(ours "$1" | wc -l) of ours in all)"
	return 1
}
# flow_rows FILE: "seq dport" for every FLOW_DENIED record of ours (the
# destination port as a dport/dst_port parameter or the port of dst="a:p")
flow_rows() {
	awk -v sd="[$SDID " '
	index($0, sd) && $6 == "FLOW_DENIED" {
		s = ""; p = ""
		if (match($0, / seq="[0-9]+"/)) {
			s = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", s)
		}
		if (match($0, / (dport|dst_port)="[0-9]+"/)) {
			p = substr($0, RSTART, RLENGTH); sub(/^[^"]*"/, "", p); gsub(/[^0-9]/, "", p)
		} else if (match($0, / dst="[^"]*:[0-9]+"/)) {
			p = substr($0, RSTART, RLENGTH); sub(/.*:/, "", p); gsub(/[^0-9]/, "", p)
		}
		if (s != "" && p != "") print s, p
	}' "$1" 2>/dev/null
}
# flows_in FILE BASE N: distinct burst ports BASE..BASE+N-1 seen
flows_in() {
	flow_rows "$1" | awk -v b="$2" -v n="$3" '$2 >= b && $2 < b + n { print $2 }' | sort -u | wc -l
}
# wait_flows FILE BASE N [SECONDS=30]: all N flows of a burst arrived
wait_flows() {
	local i got=0
	for i in $(seq $((${4:-30} * 5))); do
		got=$(flows_in "$1" "$2" "$3")
		[ "$got" -ge "$3" ] && return 0
		sleep 0.2
	done
	echo "$got of $3 denied flows (ports $2..$(($2 + $3 - 1))) in $1"
	return 1
}
# seqs FILE: seq of every record of ours, in file order
seqs() {
	ours "$1" | sed -nE 's/.*\['"$SDID"' [^]]*\bseq="([0-9]+)".*/\1/p'
}
seq_strictly_increasing() {
	seqs "$1" | awk 'NR > 1 && $1 <= prev { print "seq " $1 " after " prev " (line " NR ")"; bad = 1; exit }
		{ prev = $1 } END { exit bad }'
}
# verify_ok FILE [ARGS]: `conduitctl audit verify` exits 0 saying "chain intact"
verify_ok() {
	local out rc
	out=$("$CONDUITCTL" audit verify "$@" 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" -eq 0 ] && grep -q 'chain intact' <<<"$out"
}
verify_out() { "$CONDUITCTL" audit verify "$@" 2>&1; }

# --- the daemon's view --------------------------------------------------------
status_json() { lab_ctl --json status 2>/dev/null; }
# coll_field NAME FIELD: a field of collector NAME in the status audit object
coll_field() {
	status_json | jq -r --arg n "$1" --arg f "$2" \
		'[.. | objects | select(.name? == $n and has($f)) | .[$f]] | first | select(. != null)' 2>/dev/null
}
# audit_field FIELD: a field of the status audit object (first match)
audit_field() {
	status_json | jq -r --arg f "$1" \
		'[.audit? // empty | .. | objects | select(has($f)) | .[$f]] | first | select(. != null)' 2>/dev/null
}
field_gt() {          # field_gt VALUE MIN: VALUE is a number > MIN
	echo "value '$1', want > $2"
	[ -n "$1" ] && [ "$1" -gt "$2" ] 2>/dev/null
}
tail_spool() { "$CONDUITCTL" audit tail --spool "$SPOOL" "$@" 2>&1; }

[ -n "${T_AUDIT_LIB:-}" ] && return 0

# ===================================================================== t-audit
N=${AUDIT_N:-10000}
BASE=30000
audit_setup
C=$IT_TMP/coll
coll_start "$C" || it_bail "rsyslog collector starts in the gateway namespace"
it_diag "collector: pid ${COLLECTOR_PID:-${RSYSLOG_PID:-}}, mutual TLS (gtls x509/name) on 127.0.0.1:$SYSLOG_TLS_MTLS_PORT"
it_start "$PLANT" "${AUDIT_BASE_CONF[@]}" "audit-health-interval 2" \
	"$(tls_collector siem "$SYSLOG_TLS_MTLS_PORT")"

# tags: CR 2.8
TAGS="CR 2.8"
check "DAEMON_START arrives at the collector over mutual TLS" has_msgid "$C/received.log" DAEMON_START 15
# tags: CR 3.1, CR 4.1
TAGS="CR 3.1, CR 4.1"
check "status: collector siem up over TLS" bash -c '[ "$1" = true ]' _ "$(coll_field siem up)"

# --- the lab's denied flows with their 5-tuple -----------------------------------
tcp_blocked ent "$LAB_PLC4" 502
tcp_blocked ent "$LAB_PLC6" 502
tcp_blocked ent "$LAB_HIST4" 22
# flow_has FILE STRING...: one FLOW_DENIED record of ours holds every STRING
flow_has() {
	local f=$1 i
	shift
	for i in $(seq 50); do
		awk -v sd="[$SDID " 'index($0, sd) && $6 == "FLOW_DENIED"' "$f" >"$IT_TMP/fd.txt"
		for s in "$@"; do grep -F -- "$s" "$IT_TMP/fd.txt" >"$IT_TMP/fd2.txt"; mv "$IT_TMP/fd2.txt" "$IT_TMP/fd.txt"; done
		[ -s "$IT_TMP/fd.txt" ] && { head -n 1 "$IT_TMP/fd.txt"; return 0; }
		sleep 0.2
	done
	echo "no FLOW_DENIED record with all of: $*"
	return 1
}
# tags: CR 2.8, NDR 5.2
TAGS="CR 2.8, NDR 5.2"
check "FLOW_DENIED tcp enterprise -> PLC:502 with the 5-tuple and zones" \
	flow_has "$C/received.log" '"198.18.10.2' '198.18.30.10' '502"' '"tcp"' '"enterprise"' '"control"'
# tags: CR 2.8, NDR 5.2
TAGS="CR 2.8, NDR 5.2"
check "FLOW_DENIED tcp v6 enterprise -> PLC:502" \
	flow_has "$C/received.log" '2001:db8:10::2' '2001:db8:30::10' '502"' '"tcp"'
# tags: CR 2.8, NDR 5.2
TAGS="CR 2.8, NDR 5.2"
check "FLOW_DENIED names the conduit ops-to-historian for tcp 22 to the historian" \
	flow_has "$C/received.log" '"ops-to-historian"' '198.18.20.5' '22"'

# --- 10 000 events ------------------------------------------------------------------
t0=$(date +%s.%N)
deny_burst "$N" "$BASE" >"$IT_TMP/burst.txt" 2>&1
check "burst: $N denied UDP flows sent" grep -q "^sent $N " "$IT_TMP/burst.txt"
# tags: CR 2.8
TAGS="CR 2.8"
check "all $N denied flows arrive as FLOW_DENIED over mutual TLS" wait_flows "$C/received.log" "$BASE" "$N" 60
t1=$(date +%s.%N)
it_diag "$N events: $(cat "$IT_TMP/burst.txt"), all at the collector after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
distinct_seq() {
	local n
	n=$(flow_rows "$1" | awk -v b="$BASE" -v n="$N" '$2 >= b && $2 < b + n { print $1 }' | sort -u | wc -l)
	echo "$n distinct seq for the burst's FLOW_DENIED records"
	[ "$n" -eq "$N" ]
}
# tags: CR 2.8, CR 3.9
TAGS="CR 2.8, CR 3.9"
check "exactly $N distinct seq among the burst's records" distinct_seq "$C/received.log"
# tags: CR 2.8
TAGS="CR 2.8"
check "records arrive in order (seq strictly increasing, no duplicate)" seq_strictly_increasing "$C/received.log"
# tags: CR 3.9
TAGS="CR 3.9"
check "conduitctl audit verify received.log: chain intact" verify_ok "$C/received.log"
verify_out "$C/received.log" | sed 's/^/# verify: /' | head -n 3
# tags: CR 3.9
TAGS="CR 3.9"
check "conduitctl audit verify --spool: chain intact" verify_ok --spool "$SPOOL"
# tags: CR 3.9
TAGS="CR 3.9"
check "conduitctl audit verify --json reports records and no break" \
	bash -c '"$0" audit verify --json "$1" | jq -e "(.records // .count) >= $2 and ((.broken // false) | not)"' \
	"$CONDUITCTL" "$C/received.log" "$N"

# one changed value in one record: verify names exactly that record
tamper() {
	local line seq out rc
	line=$(grep -nF "[$SDID " "$C/received.log" | grep ' FLOW_DENIED ' | sed -n '5000p' | cut -d: -f1)
	[ -n "$line" ] || { echo "no 5000th FLOW_DENIED record"; return 1; }
	seq=$(sed -n "${line}p" "$C/received.log" | sed -nE 's/.* seq="([0-9]+)".*/\1/p')
	sed -E "${line}s/req=\"NDR 5\.2\"/req=\"NDR 5.3\"/" "$C/received.log" >"$IT_TMP/tampered.log"
	cmp -s "$C/received.log" "$IT_TMP/tampered.log" && { echo "could not change line $line"; return 1; }
	out=$(verify_out "$IT_TMP/tampered.log")
	rc=$?
	echo "changed req= of line $line (seq $seq): rc=$rc: $out"
	[ "$rc" -eq 1 ] && grep -qE "seq $seq \(line $line\)" <<<"$out"
}
# tags: CR 3.9
TAGS="CR 3.9"
check "one changed byte in record 5000: verify exits 1 naming its seq and line" tamper

# --- CR 2.11: timestamps ---------------------------------------------------------------
ts_ok() {
	local ts now t
	ts=$(awk -v sd="[$SDID " 'index($0, sd) && $6 == "FLOW_DENIED" { print $2 }' "$C/received.log" | tail -n 1)
	echo "last FLOW_DENIED timestamp: $ts"
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$' <<<"$ts" ||
		return 1
	t=$(date -d "$ts" +%s) || return 1
	now=$(date +%s)
	echo "record time $t, now $now"
	[ $((now - t)) -ge 0 ] && [ $((now - t)) -lt 120 ]
}
# tags: CR 2.11
TAGS="CR 2.11"
check "timestamps: RFC 3339, 6 fraction digits, UTC offset, within the last 2 min" ts_ok
# tags: CR 2.11
TAGS="CR 2.11"
check "records carry a timeQuality element" grep -qE 'FLOW_DENIED \[[^]]*\]\[timeQuality tzKnown="1" isSynced="[01]"\]' "$C/received.log"
# tags: CR 2.8
TAGS="CR 2.8"
check "every record names its requirement (req=\"NDR 5.2\" on FLOW_DENIED)" \
	grep -qE "FLOW_DENIED \[$SDID [^]]*req=\"NDR 5.2\"" "$C/received.log"

# --- CR 6.2: health ------------------------------------------------------------------
# tags: CR 6.2
TAGS="CR 6.2"
check "HEALTH records arrive (audit-health-interval 2)" has_msgid "$C/received.log" HEALTH 10
# tags: CR 6.2
TAGS="CR 6.2"
health_full() {
	grep -E " HEALTH \[$SDID [^]]*spool[a-z_]*=\"[0-9]" "$1" |
		grep -E '="[0-9a-f]{64}" ' | tail -n 1 | grep .
}
check "a HEALTH record reports the spool fill and the policy hash" health_full "$C/received.log"

# --- CR 6.1: local access -----------------------------------------------------------------
# tags: CR 6.1
TAGS="CR 6.1"
check "conduitctl audit tail -n 5: five records from the spool" \
	bash -c '[ "$("$0" audit tail -n 5 --spool "$1" | grep -c .)" -eq 5 ]' "$CONDUITCTL" "$SPOOL"
# tags: CR 6.1
TAGS="CR 6.1"
check "conduitctl audit tail --json: JSON objects with seq and msgid" \
	bash -c '"$0" audit tail -n 3 --json --spool "$1" | jq -es "length == 3 and all(.[]; (.seq | tonumber) > 0 and (.msgid | length) > 0)"' \
	"$CONDUITCTL" "$SPOOL"
tail_follow() {
	local out=$IT_TMP/tail-f.txt
	timeout 6 "$CONDUITCTL" audit tail -f -n 1 --spool "$SPOOL" >"$out" 2>&1 &
	local tp=$!
	sleep 0.5
	deny_burst 3 45000 >/dev/null
	for i in $(seq 40); do
		[ "$(grep -c FLOW_DENIED "$out")" -ge 3 ] && break
		sleep 0.1
	done
	kill "$tp" 2>/dev/null
	wait "$tp" 2>/dev/null
	grep FLOW_DENIED "$out" | tail -n 3
	[ "$(grep -cE 'FLOW_DENIED.*4500[012]' "$out")" -ge 3 ]
}
# tags: CR 6.1
TAGS="CR 6.1"
check "conduitctl audit tail -f shows new records as they are written" tail_follow

# --- the status audit object -----------------------------------------------------------------
backlog_zero() {
	local b
	for i in $(seq 30); do
		b=$(coll_field siem backlog)
		[ "$b" = 0 ] && return 0
		sleep 0.2
	done
	echo "backlog of siem: '$b'"
	return 1
}
check "status: backlog of siem back to 0" backlog_zero
check "status: siem delivered counts every record" field_gt "$(coll_field siem delivered)" "$N"
check "status: last seq of the audit pipeline > $N" field_gt "$(audit_field last_seq)" "$N"
check "conduitd still running at the end" kill -0 "$LAB_PID"
it_done
