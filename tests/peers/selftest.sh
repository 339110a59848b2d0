#!/bin/sh
# Self-test of the test peers (tests/peers/README.md), run by `make check`:
# mb-server and mb-client against each other, pcap-play server and client
# on a Modbus and two S7comm captures, all on loopback inside a private
# network namespace (unshare -n) so the host network is never touched.
# TAP on stdout. Exit 77 (skip) only when not root or ../shared/pcaps is
# missing. By hand: tests/peers/selftest.sh (peers from $top_builddir, else
# $BUILD_DIR, else build-test/).
# $c and $MBC are split on purpose: a command and its options.
# shellcheck disable=SC2086
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-${BUILD_DIR:-$top/build-test}}
pcaps=${PCAPS_DIR:-$top/../shared/pcaps}
peers=$build/tests/peers

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP not root (needs unshare -n for a private loopback)"
	exit 77
fi
if [ ! -d "$pcaps" ]; then
	echo "1..0 # SKIP capture directory $pcaps not found"
	exit 77
fi
if [ -z "${PEERS_NETNS:-}" ]; then
	PEERS_NETNS=1 exec unshare -n -- /bin/sh "$0" "$@"
fi
export top build pcaps

N=0
FAILED=0
TMP=$(mktemp -d /tmp/peers-selftest.XXXXXX)
PIDS=
cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# check NAME CMD...: one TAP line; the command's output as diagnostics.
check() {
	name=$1
	shift
	N=$((N + 1))
	if "$@" >"$TMP/out" 2>&1; then
		echo "ok $N - peers: $name"
	else
		echo "not ok $N - peers: $name"
		echo "#   command: $*"
		tail -n 12 "$TMP/out" | sed 's/^/#   /'
		FAILED=$((FAILED + 1))
	fi
}

skip() {
	N=$((N + 1))
	echo "ok $N - peers: $1 # SKIP $2"
}

# expect PATTERN CMD...: CMD's stdout has a line matching PATTERN (grep -E).
expect() {
	pat=$1
	shift
	"$@" >"$TMP/exp" 2>&1
	cat "$TMP/exp"
	grep -Eq -- "$pat" "$TMP/exp"
}

# wait_file FILE: up to 5 s for FILE to appear.
wait_file() {
	i=0
	while [ ! -s "$1" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -s "$1" ]
}

# wait_port PORT: up to 5 s for a TCP listener on PORT.
wait_port() {
	i=0
	while ! ss -Hltn "sport = :$1" | grep -q . && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	ss -Hltn "sport = :$1" | grep -q .
}

log_has() { grep -Eq -- "$1" "$TMP/mb.log" || { cat "$TMP/mb.log"; false; }; }
log_count() { grep -Ec -- "$1" "$TMP/mb.log"; }

ip link set lo up

# --- mb-server / mb-client --------------------------------------------------
if [ -x "$peers/mb-server" ] && [ -x "$peers/mb-client" ]; then
	MBS=$peers/mb-server
	MBC=$peers/mb-client
	"$MBS" --unit 1 --log "$TMP/mb.log" --ready "$TMP/mb.port" \
		127.0.0.1 0 2>"$TMP/mb.err" &
	MBS_PID=$!
	PIDS="$PIDS $MBS_PID"
	check "mb-server listens on 127.0.0.1" wait_file "$TMP/mb.port"
	port=$(cat "$TMP/mb.port" 2>/dev/null)
	c="$MBC --timeout-ms 1000 127.0.0.1 $port"

	check "read-hr returns the mapping's values" \
		expect '^read-hr 0 10: ok 0 1 2 3 4 5 6 7 8 9$' $c read-hr 0 10
	check "write-hr then read-hr reads back the value" \
		expect '^read-hr 100 1: ok 4242$' \
		$c write-hr 100 4242 read-hr 100 1
	check "write-coil then read-coils reads back the bit" \
		expect '^read-coils 0 8: ok 01010001$' \
		$c write-coil 5 0 read-coils 0 8
	check "write-hrs, write-coils, read-ir, read-di all ok" \
		expect '^read-di 0 4: ok 0101$' \
		$c write-hrs 10 3 9 write-coils 20 4 1 read-ir 0 3 read-di 0 4
	check "server logged each request: fc, address, quantity" sh -c "
		grep -Eq 'unit=1 fc=3 op=read-hr addr=0 qty=10\$' '$TMP/mb.log' &&
		grep -Eq 'fc=6 op=write-hr addr=100 qty=1 value=4242\$' '$TMP/mb.log' &&
		grep -Eq 'fc=5 op=write-coil addr=5 qty=1 value=0\$' '$TMP/mb.log' &&
		grep -Eq 'fc=16 op=write-hrs addr=10 qty=3\$' '$TMP/mb.log' &&
		grep -Eq 'fc=15 op=write-coils addr=20 qty=4\$' '$TMP/mb.log' &&
		grep -Eq 'fc=4 op=read-ir addr=0 qty=3\$' '$TMP/mb.log' &&
		grep -Eq 'fc=2 op=read-di addr=0 qty=4\$' '$TMP/mb.log' ||
		{ cat '$TMP/mb.log'; false; }"
	check "address out of the mapping: exception 2" \
		expect '^read-hr 60000 1: exception 2$' $c read-hr 60000 1
	check "function the server lacks: exception 1, logged" sh -c "
		$c raw 0800000000 | grep -q '^raw 0800000000: exception 1\$' &&
		grep -q 'fc=8 op=other len=4 reply=exception-1\$' '$TMP/mb.log'"
	check "wrong unit id: exception 11, logged with its unit" sh -c "
		$MBC --unit 7 127.0.0.1 $port read-hr 0 1 |
			grep -q '^read-hr 0 1: exception 11\$' &&
		grep -q 'unit=7 fc=3 op=read-hr addr=0 qty=1 reply=exception-11-unit\$' \
			'$TMP/mb.log'"
	check "exit status 1 when an operation fails" \
		sh -c "! $c read-hr 0 1 read-hr 60000 1 >/dev/null"
	check "--loop counts every poll" \
		expect '^op read-hr 0 1: ok=20 exception=0 timeout=0 reset=0 error=0$' \
		$c --loop 20 --interval-ms 5 read-hr 0 1
	before=$(log_count 'op=read-hr addr=7 qty=2$')
	check "--tps over 4 parallel connections" \
		expect '^total: transactions=800 ok=800 .* connections=4 ' \
		$c --tps 200 --connections 4 read-hr 7 2
	check "server served all 800 requests of the 4 connections" sh -c "
		[ \$(grep -c 'op=read-hr addr=7 qty=2\$' '$TMP/mb.log') -eq \
			$((before + 800)) ] &&
		[ \$(grep 'op=read-hr addr=7 qty=2\$' '$TMP/mb.log' |
			sed 's/.*peer=\\([^ ]*\\).*/\\1/' | sort -u | wc -l) -eq 4 ]"
	check "--tps prints transactions/s and latency" \
		expect '^tps=[0-9.]+ ok_per_s=[0-9.]+ latency_us avg=[0-9.]+ p50=[0-9]+ p99=[0-9]+ max=[0-9]+$' \
		$c --tps 50 read-hr 0 1
	check "non-Modbus bytes on the port: logged, connection closed" sh -c "
		/usr/bin/python3 -c '
import socket, sys
s = socket.create_connection((\"127.0.0.1\", $port), timeout=3)
s.sendall(b\"GET / HTTP/1.0\\r\\n\\r\\n\")
sys.exit(0 if s.recv(100) == b\"\" else 1)' &&
		grep -q 'error=\"not Modbus/TCP: protocol id 21536' '$TMP/mb.log'"

	# A listener that accepts and never answers stands for a dropped write.
	/usr/bin/python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 1599))
s.listen(8)
time.sleep(60)' &
	PIDS="$PIDS $!"
	wait_port 1599
	check "no answer within --timeout-ms: timeout, then reconnect" \
		expect '^op write-hr 100 1: ok=0 exception=0 timeout=2 ' \
		$MBC --timeout-ms 200 --loop 2 127.0.0.1 1599 write-hr 100 1
	check "closed port: reset" \
		expect '^read-hr 0 1: reset' $MBC 127.0.0.1 1 read-hr 0 1

	"$MBS" --log "$TMP/mb6.log" --ready "$TMP/mb6.port" ::1 0 \
		2>>"$TMP/mb.err" &
	MBS6_PID=$!
	PIDS="$PIDS $MBS6_PID"
	wait_file "$TMP/mb6.port"
	check "IPv6: read-hr over ::1" expect '^read-hr 3 2: ok 3 4$' \
		$MBC ::1 "$(cat "$TMP/mb6.port")" read-hr 3 2
	kill -TERM $MBS_PID $MBS6_PID 2>/dev/null
	wait $MBS_PID
	rc4=$?
	wait $MBS6_PID
	rc6=$?
	check "mb-server exits 0 on SIGTERM" [ "$rc4.$rc6" = 0.0 ]
else
	skip "mb-server and mb-client" "not built (libmodbus not found by configure)"
fi

# --- pcap-play --------------------------------------------------------------
PP=$peers/pcap-play

# play FILE FLOW PORT: server and client on one flow; both must say "ok",
# with every client segment delivered and every server byte received.
play() {
	"$PP" server "$1" --flow "$2" --listen "127.0.0.1:$3" --once \
		>"$TMP/pp-srv.out" 2>&1 &
	sp=$!
	wait_port "$3" || { kill $sp; return 1; }
	"$PP" client "$1" --flow "$2" --connect "127.0.0.1:$3" \
		>"$TMP/pp-cli.out" 2>&1
	rc=$?
	wait $sp
	cat "$TMP/pp-cli.out" "$TMP/pp-srv.out" | grep -v '^seg '
	[ $rc -eq 0 ] || return 1
	grep -q 'result ok$' "$TMP/pp-srv.out" || return 1
	# Counts from the capture itself: tshark is the oracle.
	total=$(grep -c '^seg ' "$TMP/pp-cli.out")
	grep -Eq "^summary: segments $total/$total delivered, server bytes ([0-9]+)/\\1 received, match yes, result ok$" \
		"$TMP/pp-cli.out"
}

# tshark_segs FILE FLOW: "client-segments server-bytes" of the flow's
# client and server ports as pcap-play's --list names them.
tshark_check() {
	line=$("$PP" list "$1" | sed -n "${2}p")
	cport=$(echo "$line" | sed 's/^flow [0-9]* tcp [^ ]*:\([0-9]*\) -> .*/\1/')
	sport=$(echo "$line" | sed 's/^flow [0-9]* tcp [^ ]* -> [^ ]*:\([0-9]*\) .*/\1/')
	want=$(tshark -r "$1" -Y "tcp.port==$cport && tcp.port==$sport && tcp.len>0 && !tcp.analysis.retransmission" \
		-T fields -e tcp.srcport -e tcp.len 2>/dev/null |
		awk -v c="$cport" '$1 == c { n++ } $1 != c { b += $2 }
			END { printf "%d %d", n, b }')
	got=$(sed -n 's/^summary: segments [0-9]*\/\([0-9]*\) delivered, server bytes [0-9]*\/\([0-9]*\) .*/\1 \2/p' \
		"$TMP/pp-cli.out")
	echo "tshark: $want, pcap-play: $got"
	[ -n "$want" ] && [ "$want" = "$got" ]
}

MB=$pcaps/modbus/iti__ModbusTCP.pcap
S7A=$pcaps/s7comm/icsnpp__snap7.pcap
S7B=$pcaps/s7comm/iti__s7comm_clean.pcap

check "list numbers the Modbus capture's flows from 1" \
	expect '^flow 1 tcp 141\.81\.0\.10:57184 -> 141\.81\.0\.86:502 ' \
	"$PP" list "$MB"
check "Modbus capture flow 1: all segments delivered, all bytes back" \
	play "$MB" 1 1502
check "Modbus capture flow 1: segment and byte counts as tshark's" \
	tshark_check "$MB" 1
check "S7comm snap7 capture: all segments delivered, all bytes back" \
	play "$S7A" 1 1102
check "S7comm snap7 capture: counts as tshark's" tshark_check "$S7A" 1
check "S7comm 2637-segment capture: all delivered, all bytes back" \
	play "$S7B" 1 1103

# Segment boundaries on the wire are the capture's (split PDUs stay split).
if command -v dumpcap >/dev/null 2>&1; then
	wire_check() {
		dumpcap -q -i lo -f 'tcp port 1104' -w "$TMP/wire.pcapng" \
			>/dev/null 2>&1 &
		dp=$!
		sleep 1
		play "$S7A" 1 1104 >/dev/null || { kill $dp; return 1; }
		sleep 0.5
		kill $dp
		wait $dp
		tshark -r "$TMP/wire.pcapng" -Y 'tcp.len>0' -T fields \
			-e tcp.dstport -e tcp.len 2>/dev/null |
			awk '{ print ($1 == 1104 ? "C" : "S") $2 }' >"$TMP/wire.seq"
		tshark -r "$S7A" -Y 'tcp.len>0 && !tcp.analysis.retransmission' \
			-T fields -e tcp.dstport -e tcp.len 2>/dev/null |
			awk '{ print ($1 == 102 ? "C" : "S") $2 }' >"$TMP/cap.seq"
		echo "wire $(wc -l <"$TMP/wire.seq") segments, capture $(wc -l <"$TMP/cap.seq")"
		[ -s "$TMP/cap.seq" ] && cmp "$TMP/wire.seq" "$TMP/cap.seq"
	}
	check "S7comm on the wire: same segments, same sizes as captured" \
		wire_check
else
	skip "S7comm on the wire: same segments as captured" "no dumpcap"
fi

# A dropped segment must show: nft in this namespace drops S7 requests
# longer than the COTP connection request (the gateway does it for real).
drop_check() {
	nft -f - <<-EOF || return 1
	table inet peers_selftest {
		chain in {
			type filter hook input priority 0;
			tcp dport 1105 meta length gt 80 drop
		}
	}
	EOF
	"$PP" server "$S7A" --listen 127.0.0.1:1105 --once --idle-ms 2000 \
		>"$TMP/pp-srv.out" 2>&1 &
	sp=$!
	wait_port 1105
	"$PP" client "$S7A" --connect 127.0.0.1:1105 --timeout-ms 300 \
		>"$TMP/pp-cli.out" 2>&1
	rc=$?
	wait $sp
	nft delete table inet peers_selftest
	cat "$TMP/pp-cli.out" "$TMP/pp-srv.out" | grep -v 'not-sent'
	[ $rc -eq 1 ] &&
		grep -q '^seg 1 len 25 delivered reply 27/27$' "$TMP/pp-cli.out" &&
		grep -q '^seg 2 len 33 not-delivered reply 0/153$' "$TMP/pp-cli.out" &&
		grep -q '^stopped: timeout waiting for server bytes 27/180$' \
			"$TMP/pp-cli.out" &&
		grep -q 'result fail$' "$TMP/pp-srv.out"
}
check "dropped segment: not-delivered, timeout, both ends fail" drop_check

echo "1..$N"
echo "# peers: $((N - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
