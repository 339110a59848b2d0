#!/bin/bash
# selftest.sh [DIR] -- checks the test collector kit itself, with no
# conduitd involved: start it, send RFC 5424 with logger (UDP, TCP octet
# counted) and openssl s_client (TLS server auth, mutual TLS on both
# drivers), check that refused clients deliver nothing, restart on the same
# ports, stop. TAP output; exit 0 when all passed, 77 when rsyslogd is
# missing.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
command -v rsyslogd >/dev/null || { echo "1..0 # SKIP rsyslogd not installed"; exit 77; }
DIR=${1:-$(mktemp -d /tmp/collector-selftest.XXXXXX)}
mkdir -p "$DIR"
[ $# -ge 1 ] || trap_rm=1
n=0 pass=0 fail=0
ok() { n=$((n + 1)) pass=$((pass + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)) fail=$((fail + 1)); echo "not ok $n - $*"; }
check() { # DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
finish() {
	"$HERE/collector.sh" stop "$DIR" >/dev/null 2>&1
	echo "1..$n"
	echo "# $pass passed, $fail failed"
	[ "${trap_rm:-0}" = 1 ] && [ "$fail" = 0 ] && rm -rf "$DIR"
}
trap finish EXIT

if ! "$HERE/collector.sh" start "$DIR" >"$DIR/start.log" 2>&1; then
	not_ok "collector starts (see $DIR/start.log)"
	exit 1
fi
ok "collector starts: $(tail -1 "$DIR/start.log")"
# shellcheck disable=SC1091
. "$DIR/ports.env"
K=$SYSLOG_PKI

# Whether received.log gets a line containing $1 within 2 s / stays without.
arrives() {
	for _ in $(seq 200); do
		grep -qF -- "$1" "$DIR/received.log" 2>/dev/null && return 0
		sleep 0.01
	done
	return 1
}
stays_away() {
	sleep 0.5
	! grep -qF -- "$1" "$DIR/received.log" 2>/dev/null
}
# RFC 5425 / RFC 6587 octet counting
frame() { printf '%d %s' "$(printf '%s' "$1" | wc -c)" "$1"; }
# tls_send PORT CASE [s_client options]: one framed record; s_client's status
tls_send() {
	local p=$1 c=$2
	shift 2
	# -quiet implies -ign_eof: without -no_ign_eof s_client waits forever
	frame "<110>1 2026-01-02T03:04:05.123456+01:00 gw01.test conduitd 1 TEST [conduitd@32473 case=\"$c\"] selftest $c" |
		timeout 10 openssl s_client -connect "127.0.0.1:$p" \
			-CAfile "$K/ca.pem" -verify_return_error \
			-verify_hostname syslog.test -quiet -no_ign_eof "$@" \
			>"$DIR/s_client-$c.log" 2>&1
}

logger --rfc5424=notq --udp -n 127.0.0.1 -P "$SYSLOG_UDP_PORT" -t conduitd \
	--msgid TEST --sd-id conduitd@32473 --sd-param 'case="udp"' 'selftest udp'
check "udp (logger)" arrives '[conduitd@32473 case="udp"] selftest udp'
logger --rfc5424=notq --tcp --octet-count -n 127.0.0.1 -P "$SYSLOG_TCP_PORT" \
	-t conduitd --msgid TEST --sd-id conduitd@32473 \
	--sd-param 'q="a\"b\\c\]d"' 'selftest tcp'
check "tcp octet-counted (logger), SD escapes kept" \
	arrives '[conduitd@32473 q="a\"b\\c\]d"] selftest tcp'

tls_send "$SYSLOG_TLS_ANON_PORT" anon
check "tls server auth only (gtls anon), no client cert" arrives 'case="anon"'
tls_send "$SYSLOG_TLS_MTLS_PORT" mtls -cert "$K/client.pem" -key "$K/client.key"
check "mutual tls gtls x509/name, gateway01.test" arrives 'case="mtls"'
tls_send "$SYSLOG_TLS_OSSL_PORT" ossl -cert "$K/client.pem" -key "$K/client.key"
check "mutual tls ossl x509/certvalid" arrives 'case="ossl"'
tls_send "$SYSLOG_TLS_MTLS_PORT" mtls-badname -cert "$K/badclient.pem" -key "$K/badclient.key"
check "gtls x509/name refuses intruder.test" stays_away 'case="mtls-badname"'
tls_send "$SYSLOG_TLS_MTLS_PORT" mtls-nocert
check "gtls x509/name refuses a client without certificate" stays_away 'case="mtls-nocert"'
tls_send "$SYSLOG_TLS_OSSL_PORT" ossl-rogue -cert "$K/rogue.pem" -key "$K/rogue.key"
check "ossl refuses a certificate from an untrusted CA" stays_away 'case="ossl-rogue"'
tls_send "$SYSLOG_TLS_OSSL_PORT" ossl-expired -cert "$K/expired.pem" -key "$K/expired.key"
check "ossl refuses an expired certificate" stays_away 'case="ossl-expired"'
check "refusals are explained in internal.log" \
	grep -q 'not permitted to talk to' "$DIR/internal.log"
if tls_send "$SYSLOG_TLS_ANON_PORT" wrongname -verify_hostname siem.example; then
	not_ok "s_client refuses a server certificate for another name"
else
	ok "s_client refuses a server certificate for another name"
fi

old=$SYSLOG_TCP_PORT
if "$HERE/collector.sh" restart "$DIR" >"$DIR/restart.log" 2>&1; then
	# shellcheck disable=SC1091
	. "$DIR/ports.env"
	check "restart keeps the ports" test "$SYSLOG_TCP_PORT" = "$old"
	logger --rfc5424=notq --tcp --octet-count -n 127.0.0.1 -P "$SYSLOG_TCP_PORT" \
		-t conduitd 'selftest after restart'
	check "a record after the restart lands" arrives 'selftest after restart'
else
	not_ok "restart (see $DIR/restart.log)"
fi
pid=$COLLECTOR_PID
"$HERE/collector.sh" stop "$DIR"
st=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null || echo gone)
check "stop ends rsyslogd $pid" test "$st" = gone -o "$st" = Z
[ "$fail" = 0 ]
