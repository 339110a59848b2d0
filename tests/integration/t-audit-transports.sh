#!/usr/bin/env bash
# t-audit-transports: one daemon, four collectors on one real rsyslog
# (tests/collector) in the gateway namespace: UDP (RFC 5426), plain TCP
# (RFC 6587 octet counting), mutual TLS through rsyslog's OpenSSL driver
# (x509/certvalid) and mutual TLS through its GnuTLS driver with an HMAC
# chain key. Each listener's stream (raw.log, as de-framed) is complete and
# verifies on its own; the HMAC chain verifies only with the key; the JSON
# Lines copy holds the same records.
T_AUDIT_LIB=1
. "$(dirname "$0")/t-audit.sh"
audit_setup
C=$IT_TMP/coll
coll_start "$C" || it_bail "rsyslog collector starts in the gateway namespace"
KEY=$IT_TMP/audit.key
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEY"
chmod 0600 "$KEY"
JSONL=$IT_TMP/audit.jsonl
N=300
it_start "$PLANT" "${AUDIT_BASE_CONF[@]}" "audit-health-interval 0" \
	"audit-hmac-key $KEY" "audit-jsonl $JSONL" \
	"audit-collector u udp 127.0.0.1 $SYSLOG_UDP_PORT" \
	"audit-collector t tcp 127.0.0.1 $SYSLOG_TCP_PORT settle-ms 200" \
	"$(tls_collector o "$SYSLOG_TLS_OSSL_PORT")" \
	"$(tls_collector g "$SYSLOG_TLS_MTLS_PORT")"
# modest rate: UDP has no flow control and no resend
deny_burst "$N" 30000 500 >"$IT_TMP/burst.txt" 2>&1

# stream LISTENER: the messages one listener got, as we sent them
stream() { awk -v l="$1" '$1 == l { sub(/^[^ ]+ [^ ]+ /, ""); print }' "$C/raw.log"; }
stream_flows() {      # stream_flows LISTENER: all N burst flows in its stream
	local f=$IT_TMP/stream-$1.log
	for i in $(seq 100); do
		stream "$1" >"$f"
		[ "$(flows_in "$f" 30000 "$N")" -ge "$N" ] && return 0
		sleep 0.2
	done
	echo "$1: $(flows_in "$f" 30000 "$N") of $N flows"
	return 1
}
# tags: CR 2.8
TAGS="CR 2.8"
check "UDP collector (RFC 5426) receives all $N denied flows" stream_flows udp
# tags: CR 2.8
TAGS="CR 2.8"
check "plain TCP collector (octet counting) receives all $N denied flows" stream_flows tcp
# tags: CR 2.8, CR 3.1, CR 4.1
TAGS="CR 2.8, CR 3.1, CR 4.1"
check "mutual TLS via rsyslog ossl receives all $N denied flows" stream_flows tls-ossl
# tags: CR 2.8, CR 3.1, CR 4.1
TAGS="CR 2.8, CR 3.1, CR 4.1"
check "mutual TLS via rsyslog gtls receives all $N denied flows" stream_flows tls-mtls
for l in udp tcp tls-ossl tls-mtls; do
	# tags: CR 3.9
	TAGS="CR 3.9"
	check "$l stream: HMAC chain intact with --key" verify_ok "$IT_TMP/stream-$l.log" --key "$KEY"
done
# tags: CR 3.9
TAGS="CR 3.9"
check "HMAC chain: verify without the key reports a broken link (exit 1)" bash -c '
	"$0" audit verify "$1"; [ $? -eq 1 ]' "$CONDUITCTL" "$IT_TMP/stream-tls-mtls.log"
other_key() {
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$IT_TMP/other.key"
	"$CONDUITCTL" audit verify --key "$IT_TMP/other.key" "$IT_TMP/stream-tls-mtls.log"
	[ $? -eq 1 ]
}
# tags: CR 3.9
TAGS="CR 3.9"
check "HMAC chain: verify with another key reports a broken link (exit 1)" other_key
# tags: CR 3.9
TAGS="CR 3.9"
check "verify --spool --key: the spool's chain is intact" verify_ok --spool "$SPOOL" --key "$KEY"
same_records() {
	local a b
	a=$(seqs "$IT_TMP/stream-tcp.log" | sort -un | md5sum)
	b=$(seqs "$IT_TMP/stream-tls-ossl.log" | sort -un | md5sum)
	echo "tcp and ossl seq sets: $a / $b"
	[ "$a" = "$b" ]
}
check "tcp and TLS collectors got the same records" same_records
jsonl_ok() {
	local n
	jq -e -s 'length > 0 and all(.[]; has("seq") and has("msgid") and has("chain"))' "$JSONL" >/dev/null || return 1
	n=$(jq -r 'select(.msgid == "FLOW_DENIED") | .seq' "$JSONL" | sort -u | wc -l)
	echo "$n FLOW_DENIED objects in $JSONL"
	[ "$n" -ge "$N" ]
}
# tags: CR 2.8
TAGS="CR 2.8"
check "audit-jsonl: one JSON object per record (seq, msgid, chain)" jsonl_ok
check "conduitd still running at the end" kill -0 "$LAB_PID"
it_done
