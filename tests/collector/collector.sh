#!/bin/bash
# collector.sh -- conduitd's private rsyslog collector for tests.
#
#   collector.sh start DIR [PKI]  start rsyslogd (rsyslog.conf next to this
#                                 script), wait until EVERY listener is up,
#                                 write DIR/ports.env; PKI defaults to
#                                 DIR/pki, made by gen-certs.sh if missing
#   collector.sh stop DIR         stop the instance of DIR (its PID only)
#   collector.sh restart DIR      stop, start again on the SAME ports (so a
#                                 sender's reconnect reaches it)
#
# DIR/ports.env (shell syntax):
#   COLLECTOR_PID SYSLOG_UDP_PORT SYSLOG_TCP_PORT SYSLOG_TLS_ANON_PORT
#   SYSLOG_TLS_MTLS_PORT (gtls x509/name) SYSLOG_TLS_OSSL_PORT (ossl
#   x509/certvalid) SYSLOG_PKI SYSLOG_DIR
# Env: RSYSLOGD (rsyslogd), COLLECTOR_CONF (rsyslog.conf here),
#   READY_TIMEOUT_S (10: rsyslog's gtls driver generates DH parameters at
#   start, seen taking up to 1.5 s on a loaded 2-core VM),
#   COLLECTOR_{UDP,TCP,TLS_ANON,TLS_MTLS,TLS_OSSL}_PORT (0 = any free one).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LISTENERS="UDP TCP TLS_ANON TLS_MTLS TLS_OSSL"

usage() {
	echo "usage: collector.sh start|stop|restart DIR [PKI]" >&2
	exit 2
}

# Running and not a zombie. A collector started from a shell that has
# exited is reparented; until its new parent reaps it, a stopped one is a
# zombie and kill -0 still succeeds.
alive() {
	local st
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]
}

# The UDP port a PID listens on (imudp writes no port file).
udp_port() {
	ss -Hlunp 2>/dev/null | awk -v p="pid=$1," \
		'index($0, p) { n = split($4, a, ":"); print a[n]; exit }'
}

tcp_listening() { # PID PORT
	ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}

do_stop() {
	local pid
	[ -s "$DIR/collector.pid" ] || return 0
	pid=$(cat "$DIR/collector.pid")
	# never signal a PID that was reused by something else
	alive "$pid" && grep -qa rsyslogd "/proc/$pid/cmdline" 2>/dev/null ||
		{ rm -f "$DIR/collector.pid"; return 0; }
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 300); do
		alive "$pid" || { rm -f "$DIR/collector.pid"; return 0; }
		sleep 0.01
	done
	echo "collector.sh: rsyslogd $pid ignored SIGTERM for 3 s, killing" >&2
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$DIR/collector.pid"
}

do_start() {
	local pki=$1 conf pid t0 deadline ok v n f want udp
	conf=${COLLECTOR_CONF:-$HERE/rsyslog.conf}
	if [ -n "$pki" ]; then
		pki=$(cd "$pki" && pwd) || { echo "collector.sh: PKI dir $1 missing" >&2; exit 1; }
	else
		pki=$DIR/pki
		[ -s "$pki/server.pem" ] || "$HERE/gen-certs.sh" "$pki" >/dev/null
	fi
	for f in ca.pem server.pem server.key; do
		[ -r "$pki/$f" ] || { echo "collector.sh: $pki/$f not readable" >&2; exit 1; }
	done
	if [ -s "$DIR/collector.pid" ] && alive "$(cat "$DIR/collector.pid")"; then
		echo "collector.sh: already running in $DIR (pid $(cat "$DIR/collector.pid"))" >&2
		exit 1
	fi
	export COLLECTOR_DIR=$DIR COLLECTOR_PKI=$pki
	for v in $LISTENERS; do
		n=COLLECTOR_${v}_PORT
		export "$n=${!n:-0}"
	done
	rm -f "$DIR"/*.port "$DIR/ports.env"
	if ! "${RSYSLOGD:-rsyslogd}" -N1 -f "$conf" >"$DIR/confcheck.log" 2>&1; then
		echo "collector.sh: $conf does not pass rsyslogd -N1:" >&2
		cat "$DIR/confcheck.log" >&2
		exit 1
	fi
	t0=$(date +%s%N)
	# -n: stay in the foreground (we keep the PID); own pidfile, not
	# /run/rsyslogd.pid of the system instance
	"${RSYSLOGD:-rsyslogd}" -n -f "$conf" -i "$DIR/rsyslogd.pid" \
		</dev/null >"$DIR/stderr.log" 2>&1 &
	pid=$!
	echo "$pid" >"$DIR/collector.pid"
	deadline=$(($(date +%s) + ${READY_TIMEOUT_S:-10}))
	while :; do
		if ! alive "$pid"; then
			echo "collector.sh: rsyslogd exited during start:" >&2
			cat "$DIR/stderr.log" >&2
			exit 1
		fi
		ok=1
		for v in TCP TLS_ANON TLS_MTLS TLS_OSSL; do
			n=COLLECTOR_${v}_PORT
			want=${!n}
			f=$DIR/$(echo "$v" | tr 'A-Z_' 'a-z-').port
			if [ "$want" = 0 ]; then
				[ -s "$f" ] || ok=0
			elif tcp_listening "$pid" "$want"; then
				printf '%s' "$want" >"$f"
			else
				ok=0
			fi
		done
		udp=$(udp_port "$pid")
		[ -n "$udp" ] || ok=0
		[ "$ok" = 1 ] && break
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "collector.sh: listeners not ready in ${READY_TIMEOUT_S:-10} s" >&2
			kill "$pid"
			exit 1
		fi
		sleep 0.01
	done
	{
		echo "COLLECTOR_PID=$pid"
		echo "SYSLOG_UDP_PORT=$udp"
		for v in TCP TLS_ANON TLS_MTLS TLS_OSSL; do
			f=$DIR/$(echo "$v" | tr 'A-Z_' 'a-z-').port
			echo "SYSLOG_${v}_PORT=$(cat "$f")"
		done
		echo "SYSLOG_PKI=$pki"
		echo "SYSLOG_DIR=$DIR"
	} >"$DIR/ports.env.tmp"
	mv "$DIR/ports.env.tmp" "$DIR/ports.env"
	echo "collector ready in $((($(date +%s%N) - t0) / 1000000)) ms:" \
		"$(grep PORT "$DIR/ports.env" | tr '\n' ' ')"
}

[ $# -ge 2 ] || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
case $cmd in
start) do_start "${3:-}" ;;
stop) do_stop ;;
restart)
	[ -s "$DIR/ports.env" ] || { echo "collector.sh: no $DIR/ports.env to restart from" >&2; exit 1; }
	# shellcheck disable=SC1091
	. "$DIR/ports.env"
	do_stop
	export COLLECTOR_UDP_PORT=$SYSLOG_UDP_PORT \
		COLLECTOR_TCP_PORT=$SYSLOG_TCP_PORT \
		COLLECTOR_TLS_ANON_PORT=$SYSLOG_TLS_ANON_PORT \
		COLLECTOR_TLS_MTLS_PORT=$SYSLOG_TLS_MTLS_PORT \
		COLLECTOR_TLS_OSSL_PORT=$SYSLOG_TLS_OSSL_PORT
	do_start "$SYSLOG_PKI"
	;;
*) usage ;;
esac
