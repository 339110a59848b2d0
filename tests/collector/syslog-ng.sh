#!/bin/bash
# syslog-ng.sh -- a private syslog-ng collector for interoperability tests.
#
#   syslog-ng.sh start DIR [PKI]   unpack syslog-ng if needed, start it with
#                                  syslog-ng.conf, wait for every listener,
#                                  write DIR/ports.env (SNG_PID SNG_UDP_PORT
#                                  SNG_TCP_PORT SNG_TLS_PORT SNG_TLS_ANON_PORT
#                                  SNG_PKI SNG_DIR)
#   syslog-ng.sh stop DIR
#
# syslog-ng-core cannot be installed next to rsyslog (both Provide and
# Conflict system-log-daemon), so it is unpacked, never installed:
# `apt-get download syslog-ng-core` + `dpkg-deb -x` into SYSLOG_NG_CACHE
# (default /var/cache/conduitd-test/syslog-ng), run with LD_LIBRARY_PATH and
# --module-path pointing into it. Its runtime libraries (libivykis0 libnet1
# libwrap0 libjson-c5 libglib2.0-0) do not conflict and come from
# scripts/bootstrap. Exit 77 (skip) when the package cannot be had.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SYSLOG_NG_CACHE:-/var/cache/conduitd-test/syslog-ng}
ROOT=$CACHE/root

usage() {
	echo "usage: syslog-ng.sh start|stop DIR [PKI]" >&2
	exit 2
}

skip() {
	echo "syslog-ng.sh: SKIP: $*" >&2
	exit 77
}

alive() {
	local st
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]
}

unpack() {
	local deb
	[ -x "$ROOT/usr/sbin/syslog-ng" ] && return 0
	mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ] ||
		skip "cache dir $CACHE not writable (set SYSLOG_NG_CACHE)"
	deb=$(ls "$CACHE"/syslog-ng-core_*.deb 2>/dev/null | head -1 || true)
	if [ -z "$deb" ]; then
		(cd "$CACHE" && apt-get download syslog-ng-core) \
			>"$CACHE/download.log" 2>&1 ||
			skip "cannot fetch syslog-ng-core with apt-get download (offline? see $CACHE/download.log)"
		deb=$(ls "$CACHE"/syslog-ng-core_*.deb | head -1)
	fi
	rm -rf "$ROOT.tmp"
	dpkg-deb -x "$deb" "$ROOT.tmp" || skip "dpkg-deb -x $deb failed"
	mv "$ROOT.tmp" "$ROOT"
}

# n free TCP ports and one UDP port on 127.0.0.1 (kernel's choice; a small
# race until syslog-ng binds them is accepted)
free_ports() {
	/usr/bin/python3 - "$1" <<'PY'
import socket, sys
socks = []
for i in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
print(u.getsockname()[1], *[s.getsockname()[1] for s in socks])
PY
}

do_start() {
	local pki=${1:-} pid deadline ok p libdir moddir
	unpack
	libdir=$ROOT/usr/lib/syslog-ng
	moddir=$(ls -d "$libdir"/[0-9]* | head -1)
	export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	"$ROOT/usr/sbin/syslog-ng" --version >"$DIR/sng-version.log" 2>&1 ||
		skip "unpacked syslog-ng does not run (missing runtime libs? $(cat "$DIR/sng-version.log" | head -1))"
	if [ -z "$pki" ]; then
		pki=$DIR/pki
		[ -s "$pki/server.pem" ] || "$HERE/gen-certs.sh" "$pki" >/dev/null
	fi
	pki=$(cd "$pki" && pwd)
	read -r SNG_UDP_PORT SNG_TCP_PORT SNG_TLS_PORT SNG_TLS_ANON_PORT <<<"$(free_ports 3)"
	export SNG_DIR=$DIR SNG_PKI=$pki SNG_UDP_PORT SNG_TCP_PORT SNG_TLS_PORT SNG_TLS_ANON_PORT
	# -F foreground (we keep the PID; no -e: that would divert internal()
	# from internal.log to stderr);
	# persist file, control socket and pidfile of our own
	"$ROOT/usr/sbin/syslog-ng" --module-path="$moddir" -F \
		-f "${SNG_CONF:-$HERE/syslog-ng.conf}" -R "$DIR/sng.persist" \
		-c "$DIR/sng.ctl" -p "$DIR/sng.pid" \
		</dev/null >"$DIR/stderr.log" 2>&1 &
	pid=$!
	echo "$pid" >"$DIR/collector.pid"
	deadline=$(($(date +%s) + ${READY_TIMEOUT_S:-10}))
	while :; do
		alive "$pid" || { echo "syslog-ng.sh: syslog-ng exited during start:" >&2; cat "$DIR/stderr.log" >&2; exit 1; }
		ok=1
		for p in $SNG_TCP_PORT $SNG_TLS_PORT $SNG_TLS_ANON_PORT; do
			ss -Hltnp "sport = :$p" 2>/dev/null | grep -q "pid=$pid," || ok=0
		done
		ss -Hlunp "sport = :$SNG_UDP_PORT" 2>/dev/null | grep -q "pid=$pid," || ok=0
		[ "$ok" = 1 ] && break
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "syslog-ng.sh: listeners not ready in ${READY_TIMEOUT_S:-10} s:" >&2
			cat "$DIR/stderr.log" >&2
			kill "$pid"
			exit 1
		fi
		sleep 0.01
	done
	printf '%s\n' "SNG_PID=$pid" "SNG_UDP_PORT=$SNG_UDP_PORT" \
		"SNG_TCP_PORT=$SNG_TCP_PORT" "SNG_TLS_PORT=$SNG_TLS_PORT" \
		"SNG_TLS_ANON_PORT=$SNG_TLS_ANON_PORT" "SNG_PKI=$pki" \
		"SNG_DIR=$DIR" >"$DIR/ports.env"
	echo "syslog-ng ready: $(grep PORT "$DIR/ports.env" | tr '\n' ' ')"
}

do_stop() {
	local pid
	[ -s "$DIR/collector.pid" ] || return 0
	pid=$(cat "$DIR/collector.pid")
	alive "$pid" && grep -qa syslog-ng "/proc/$pid/cmdline" 2>/dev/null ||
		{ rm -f "$DIR/collector.pid"; return 0; }
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 300); do
		alive "$pid" || { rm -f "$DIR/collector.pid"; return 0; }
		sleep 0.01
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$DIR/collector.pid"
}

[ $# -ge 2 ] || usage
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
case $1 in
start) do_start "${3:-}" ;;
stop) do_stop ;;
*) usage ;;
esac
