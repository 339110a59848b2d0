#!/usr/bin/env bash
# t-inspect-stop: SIGSTOP of conduitd (a stalled daemon, not a dead one):
# the NFQUEUE has no reader, so inspected Modbus traffic is blocked (fail
# close, no bypass) and never reaches the PLC, while kernel-only conduits
# (ping to the PLC, tcp 443 to the historian) are unaffected; SIGCONT:
# inspected reads pass again and writes are still dropped.
. "$(dirname "$0")/lib.sh"
PEERS=${PEERS:-$BUILD/tests/peers}
[ -x "$PEERS/mb-server" ] && [ -x "$PEERS/mb-client" ] ||
	{ echo "Bail out! t-inspect-stop needs $PEERS/mb-server and mb-client (make check, libmodbus)"; exit 1; }
it_setup
# never leave a stopped daemon behind (lab_down's TERM would not end it)
IT_EXTRA_CLEANUP='[ -n "$LAB_PID" ] && kill -CONT "$LAB_PID" 2>/dev/null'
lab_tcp_listen dmz 443 || it_bail "listener dmz tcp 443"

POL=$IT_TMP/inspect.yaml
sed 's|- { proto: tcp, port: 502, to-hosts: \[198.18.30.10\] }|- { modbus: { preset: read-only, unit-ids: [1] }, to-hosts: [198.18.30.10] }|' \
	"$PLANT" >"$POL"
grep -q 'modbus:' "$POL" || it_bail "derive a read-only Modbus policy from $PLANT"
chmod 0644 "$POL"
PLCLOG=$IT_TMP/plc.log
lab_bg ctl "$PEERS/mb-server" --unit 1 --log "$PLCLOG" "$LAB_PLC4" 502
lab_wait_listen ctl 502 || it_bail "mb-server listens on the PLC"
it_start "$POL" "inspect-queues 2"

mbc() { lab_exec dmz "$PEERS/mb-client" --timeout-ms 700 "$LAB_PLC4" 502 --unit 1 "$@"; }
mb_read_ok() { mbc read-hr 0 10 | grep -q '^read-hr 0 10: ok'; }
mb_write_dropped() { mbc write-hr 100 7 | grep -q '^write-hr 100 7: timeout'; }
# blocked OP...: no answer; the handshake is queued too, so a new connection
# fails to connect ("error (connect: ...)") rather than timing out a request
blocked() {
	local out
	out=$(mbc "$@")
	echo "$out"
	grep -qE ': (timeout|error \(connect)' <<<"$out" && ! grep -q ': ok' <<<"$out"
}
plc_saw() { grep -qE -- "$1" "$PLCLOG"; }
stopped() { grep -q '^State:.*T' "/proc/$LAB_PID/status"; }
running() { ! grep -q '^State:.*T' "/proc/$LAB_PID/status" && kill -0 "$LAB_PID"; }

check "status shows the inspection workers started" log_has "inspection: 2 workers on queues"
check "read-only modbus: historian reads the PLC" mb_read_ok
check "kill -STOP of conduitd" eval 'kill -STOP "$LAB_PID" && LAB_POLL=2 lab_wait_for stopped'
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "conduitd stopped: an inspected modbus read gets no answer (fail close)" blocked read-hr 7 1
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "conduitd stopped: the read never reached the PLC" it_not plc_saw 'fc=3 .*addr=7 '
# tags: NDR 5.2 RE(3)
TAGS="NDR 5.2 RE(3)"
check "conduitd stopped: kernel-only conduit ping dmz -> PLC passes" lab_ping_ok dmz "$LAB_PLC4"
# tags: NDR 5.2 RE(3)
TAGS="NDR 5.2 RE(3)"
check "conduitd stopped: kernel-only tcp ent -> historian:443 passes" lab_tcp_echo_ok ent "$LAB_HIST4" 443
check "conduitd stopped: a write gets no answer either" blocked write-hr 100 7
check "conduitd stopped: the PLC never received the write" it_not plc_saw 'fc=6 .*addr=100'
check "kill -CONT of conduitd" eval 'kill -CONT "$LAB_PID" && LAB_POLL=2 lab_wait_for running'
# tags: NDR 5.2 RE(3)
TAGS="NDR 5.2 RE(3)"
check "after SIGCONT: inspected reads pass again" mb_read_ok
# tags: NDR 5.2
TAGS="NDR 5.2"
check "after SIGCONT: writes are still dropped" mb_write_dropped
check "after SIGCONT: the PLC never received a write" it_not plc_saw 'fc=6 '
check "after SIGCONT: the daemon answers status" lab_ctl status
it_done
