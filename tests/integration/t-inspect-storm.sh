#!/usr/bin/env bash
# t-inspect-storm: 100 policy applies while the historian polls the PLC
# through a read-only Modbus conduit. Two equivalent policies alternate
# (both forbid writes; they differ in a description, so every apply is a
# real commit of a new policy). Two mb-client loops run meanwhile: reads
# only on one long-lived connection (its flow state must survive each
# apply), and reads with a write (dropped, then the client reconnects).
# No write may reach the PLC, and the reads must keep succeeding.
. "$(dirname "$0")/lib.sh"
PEERS=${PEERS:-$BUILD/tests/peers}
[ -x "$PEERS/mb-server" ] && [ -x "$PEERS/mb-client" ] ||
	{ echo "Bail out! t-inspect-storm needs $PEERS/mb-server and mb-client (make check, libmodbus)"; exit 1; }
N_APPLY=${N_APPLY:-100}
it_setup

A=$IT_TMP/storm-a.yaml
B=$IT_TMP/storm-b.yaml
sed 's|- { proto: tcp, port: 502, to-hosts: \[198.18.30.10\] }|- { modbus: { preset: read-only, unit-ids: [1] }, to-hosts: [198.18.30.10] }|' \
	"$PLANT" >"$A"
sed 's|description: The historian polls the PLC over Modbus/TCP|description: The historian polls the PLC over Modbus/TCP (storm b)|' \
	"$A" >"$B"
grep -q 'modbus:' "$A" && grep -q 'storm b' "$B" ||
	it_bail "derive two equivalent read-only Modbus policies from $PLANT"
chmod 0644 "$A" "$B"
PLCLOG=$IT_TMP/plc.log
# each dropped write leaves a stalled connection on the server (its FIN
# queues behind the dropped bytes), so allow many
lab_bg ctl "$PEERS/mb-server" --unit 1 --max-conn 512 --log "$PLCLOG" "$LAB_PLC4" 502
lab_wait_listen ctl 502 || it_bail "mb-server listens on the PLC"
it_start "$A" "inspect-queues 2"
check "status shows the inspection workers started" log_has "inspection: 2 workers on queues"
mb_read_ok() {
	lab_exec dmz "$PEERS/mb-client" --timeout-ms 700 "$LAB_PLC4" 502 --unit 1 read-hr 0 10 |
		grep -q '^read-hr 0 10: ok'
}
check "read-only modbus: a read passes before the storm" mb_read_ok

# the polling loops, until SIGTERM; they print their counts when they end
R_OUT=$IT_TMP/loop-reads.out
W_OUT=$IT_TMP/loop-writes.out
lab_bg dmz "$PEERS/mb-client" --timeout-ms 1000 --loop 0 --interval-ms 10 \
	"$LAB_PLC4" 502 --unit 1 read-hr 0 10 >"$R_OUT" 2>&1
R_PID=$LAB_BG_LAST
lab_bg dmz "$PEERS/mb-client" --timeout-ms 1000 --loop 0 --interval-ms 50 \
	"$LAB_PLC4" 502 --unit 1 read-hr 0 5 write-hr 100 7 >"$W_OUT" 2>&1
W_PID=$LAB_BG_LAST
sleep 0.5

APPLY_FAIL=0
t0=$(date +%s.%N)
for i in $(seq "$N_APPLY"); do
	if [ $((i % 2)) -eq 1 ]; then f=$B; else f=$A; fi
	lab_ctl policy apply "$f" >"$IT_TMP/apply.out" 2>&1 || {
		APPLY_FAIL=$((APPLY_FAIL + 1))
		[ "$APPLY_FAIL" -le 3 ] && sed "s/^/# apply $i: /" "$IT_TMP/apply.out"
	}
done
t1=$(date +%s.%N)
sleep 0.5
kill -TERM "$R_PID" "$W_PID" 2>/dev/null
wait "$R_PID" "$W_PID" 2>/dev/null
it_diag "$N_APPLY applies in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, $APPLY_FAIL failed"
it_diag "reads loop:  $(grep '^op ' "$R_OUT" | tr '\n' ' ')"
it_diag "writes loop: $(grep '^op ' "$W_OUT" | tr '\n' ' ')"
it_diag "connections: reads loop $(grep -oE 'connections=[0-9]+' "$R_OUT"), writes loop $(grep -oE 'connections=[0-9]+' "$W_OUT")"

count() {    # count FILE OP KEY
	grep "^op $2:" "$1" | grep -oE " $3=[0-9]+" | cut -d= -f2
}
all_ok() {   # all_ok FILE OP: some ok, no timeout, reset or error
	local k
	grep "^op $2:" "$1"
	[ "$(count "$1" "$2" ok)" -gt 0 ] || return 1
	for k in timeout reset error; do
		[ "$(count "$1" "$2" "$k")" = 0 ] || return 1
	done
}
# tags: CR 7.2
TAGS="CR 7.2"
check "every one of the $N_APPLY applies exits 0" eval '[ "$APPLY_FAIL" -eq 0 ]'
check "the daemon runs policy b or a at the end" eval 'sha_is "$A" || sha_is "$B"'
# tags: NDR 5.2, CR 7.2
TAGS="NDR 5.2, CR 7.2"
check "no write reached the PLC during the storm" it_not grep -q 'fc=6 ' "$PLCLOG"
# tags: NDR 5.2
TAGS="NDR 5.2"
check "the writes loop saw no write answered" \
	eval '[ "$(count "$W_OUT" "write-hr 100 7" ok)" = 0 ] && [ "$(count "$W_OUT" "write-hr 100 7" timeout)" -gt 0 ]'
# tags: CR 7.2
TAGS="CR 7.2"
check "the long-lived reads loop kept polling (> 100 reads ok)" \
	eval '[ "$(count "$R_OUT" "read-hr 0 10" ok)" -gt 100 ]'
# tags: CR 7.2
TAGS="CR 7.2"
check "the long-lived reads loop had no read timeout, reset or error" all_ok "$R_OUT" "read-hr 0 10"
# tags: CR 7.2
TAGS="CR 7.2"
check "the reads of the writes loop (new connections) all succeeded" all_ok "$W_OUT" "read-hr 0 5"
check "after the storm: a read passes" mb_read_ok
check "the daemon is alive and answers status" lab_ctl status
it_done
