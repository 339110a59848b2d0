#!/usr/bin/env bash
# t-audit-syslogng: interoperability with syslog-ng (tests/collector/
# syslog-ng.sh, unpacked next to rsyslog): one daemon, two collectors, the
# same records arrive at rsyslog (mutual TLS, gtls) and at syslog-ng (TLS,
# RFC 5425 framing, peer-verify required-trusted) and both verify.
# Exit 77 (skip) when syslog-ng cannot be unpacked on this machine.
T_AUDIT_LIB=1
. "$(dirname "$0")/t-audit.sh"
SNG=$COLL/syslog-ng.sh
[ -x "$SNG" ] || { echo "1..0 # SKIP $SNG missing"; exit 77; }
audit_setup
C=$IT_TMP/coll
S=$IT_TMP/sng
coll_start "$C" || it_bail "rsyslog collector starts in the gateway namespace"
mkdir -p "$S"
lab_exec gw "$SNG" start "$S" "$PKI" >"$S.log" 2>&1
rc=$?
if [ "$rc" -eq 77 ]; then
	echo "1..0 # SKIP syslog-ng not available: $(tail -n 1 "$S.log")"
	IT_N=0
	exit 77
fi
[ "$rc" -eq 0 ] || { tail -n 5 "$S.log" | sed 's/^/# /'; it_bail "syslog-ng starts in the gateway namespace"; }
# shellcheck disable=SC1091
. "$S/ports.env"
echo "${SNG_PID:-${SYSLOG_NG_PID:-}}" >>"$LAB_DIR/pids"
# the octet-counted TLS listener (syslog() driver: RFC 5425 framing)
SNG_PORT=${SNG_TLS_OC_PORT:-${SYSLOG_NG_TLS_PORT:-${SNG_TLS_PORT:-}}}
[ -n "$SNG_PORT" ] || it_bail "syslog-ng ports.env names its TLS port ($(tr '\n' ' ' <"$S/ports.env"))"
SNG_FILE=$S/received.log
it_diag "syslog-ng TLS on 127.0.0.1:$SNG_PORT, rsyslog gtls on 127.0.0.1:$SYSLOG_TLS_MTLS_PORT"
N=500
it_start "$PLANT" "${AUDIT_BASE_CONF[@]}" "audit-health-interval 0" \
	"$(tls_collector rsys "$SYSLOG_TLS_MTLS_PORT")" \
	"$(tls_collector sng "$SNG_PORT")"
deny_burst "$N" 30000 >/dev/null 2>&1
# tags: CR 2.8, CR 3.1, CR 4.1
TAGS="CR 2.8, CR 3.1, CR 4.1"
check "syslog-ng receives all $N denied flows over TLS" wait_flows "$SNG_FILE" 30000 "$N" 30
# tags: CR 2.8
TAGS="CR 2.8"
check "rsyslog receives all $N denied flows over mutual TLS" wait_flows "$C/received.log" 30000 "$N" 30
same_seqs() {
	local a b
	a=$(flow_rows "$C/received.log" | awk '{ print $1 }' | sort -un | md5sum)
	b=$(flow_rows "$SNG_FILE" | awk '{ print $1 }' | sort -un | md5sum)
	echo "rsyslog / syslog-ng FLOW_DENIED seq sets: $a / $b"
	[ "$a" = "$b" ]
}
check "rsyslog and syslog-ng hold the same records (seq sets equal)" same_seqs
# tags: CR 3.9
TAGS="CR 3.9"
check "verify of syslog-ng's file: chain intact" verify_ok "$SNG_FILE"
check "verify of rsyslog's file: chain intact" verify_ok "$C/received.log"
lab_exec gw "$SNG" stop "$S" >>"$S.log" 2>&1
check "conduitd still running at the end" kill -0 "$LAB_PID"
it_done
