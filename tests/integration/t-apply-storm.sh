#!/usr/bin/env bash
# t-apply-storm: 100 applies alternating two valid policies while a denied
# port is probed all the time (no probe may get through: the swap is atomic
# and never opens a window) and an allowed TCP connection stays open and
# still carries data at the end. Bounded: the storm stops after STORM_MAX s.
. "$(dirname "$0")/lib.sh"
it_setup
it_listeners
UDPGEN=$(lab_udpgen) || it_bail "build bench/udpgen.c"
it_start

N=${STORM_N:-100}
STORM_MAX=${STORM_MAX:-120}
B=$IT_TMP/no443.yaml
policy_without_443 "$B" || it_bail "derive a second policy from $PLANT"
chmod 0644 "$B"

lab_session_open keep ent "$LAB_HIST4" 8443
check "session ent -> historian:8443 carries data before the storm" lab_session_roundtrip keep

# Probers: (1) TCP connects ent -> plc:502 in a loop, successes counted;
# (2) a paced UDP stream ent -> plc:20001 into a counting sink in ctl.
PROBE_OUT=$IT_TMP/probe.txt
: >"$PROBE_OUT"
STOP=$IT_TMP/stop
tcp_prober() {        # tcp_prober ADDR OUT
	local ok=0 tries=0
	while [ ! -e "$STOP" ]; do
		tries=$((tries + 1))
		if ip netns exec "$LAB_PREFIX-ent" timeout 1 nc -z -w1 "$1" 502 2>/dev/null; then
			ok=$((ok + 1))
		fi
	done
	echo "tries=$tries ok=$ok" >"$2"
}
tcp_prober "$LAB_PLC4" "$PROBE_OUT" &
PROBER4=$!
tcp_prober "$LAB_PLC6" "$PROBE_OUT.6" &
PROBER6=$!
echo "$PROBER4" >>"$LAB_DIR/pids"
echo "$PROBER6" >>"$LAB_DIR/pids"
# ip netns exec directly (not the lab_exec function): $! must be udpgen itself
ip netns exec "$LAB_PREFIX-ctl" "$UDPGEN" recv -w $((STORM_MAX + 10)) 20001 $((STORM_MAX + 10)) \
	>"$IT_TMP/sink.txt" 2>/dev/null &
SINK=$!
echo "$SINK" >>"$LAB_DIR/pids"
lab_wait_listen ctl 20001 udp
ip netns exec "$LAB_PREFIX-ent" "$UDPGEN" send -r 1000 "$LAB_PLC4" 20001 "$STORM_MAX" \
	>"$IT_TMP/src.txt" 2>&1 &
SRC=$!
echo "$SRC" >>"$LAB_DIR/pids"

fails=0 done_n=0 t0=$(date +%s)
for i in $(seq "$N"); do
	if [ $((i % 2)) -eq 1 ]; then f=$B; else f=$PLANT; fi
	if ! lab_ctl policy apply "$f" >"$IT_TMP/apply.out" 2>&1; then
		fails=$((fails + 1))
		[ "$fails" -le 3 ] && sed 's/^/# apply failed: /' "$IT_TMP/apply.out"
	fi
	done_n=$i
	[ $(($(date +%s) - t0)) -ge "$STORM_MAX" ] && break
done
elapsed=$(($(date +%s) - t0))
it_diag "storm: $done_n applies in ${elapsed}s, $fails failed"
# the storm ends on plant.yaml (even N); let probes see the final state too
sleep 1
touch "$STOP"
kill -TERM "$SRC" 2>/dev/null      # udpgen prints its summary on SIGTERM
wait "$SRC" 2>/dev/null
sleep 0.5                          # last datagrams in flight reach the sink
kill -TERM "$SINK" 2>/dev/null
wait "$SINK" 2>/dev/null
wait "$PROBER4" "$PROBER6" 2>/dev/null
it_diag "tcp probers: v4 $(cat "$PROBE_OUT"), v6 $(cat "$PROBE_OUT.6"); udp: $(cat "$IT_TMP/src.txt" 2>/dev/null) / $(cat "$IT_TMP/sink.txt" 2>/dev/null)"

check "all $N applies done within ${STORM_MAX}s ($done_n in ${elapsed}s)" test "$done_n" -eq "$N"
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "every apply of the storm exited 0 ($fails failed)" test "$fails" -eq 0
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "denied tcp ent -> plc:502: 0 successful connects during the storm (v4)" \
	grep -qE '^tries=[1-9][0-9]* ok=0$' "$PROBE_OUT"
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "denied tcp ent -> plc:502: 0 successful connects during the storm (v6)" \
	grep -qE '^tries=[1-9][0-9]* ok=0$' "$PROBE_OUT.6"
udp_zero() {
	grep -q '^sent [1-9]' "$IT_TMP/src.txt" && grep -q '^recv 0 pkts' "$IT_TMP/sink.txt"
}
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "denied udp ent -> plc:20001: 0 datagrams received during the storm" udp_zero
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "allowed tcp ent -> historian:8443 session still carries data after the storm" \
	lab_session_roundtrip keep 5
check "after the storm the running policy is plant.yaml" sha_is "$PLANT"
check "after the storm: tcp ent -> historian:443 passes (plant.yaml)" lab_tcp_echo_ok ent "$LAB_HIST4" 443
check "conduitd still running after the storm" kill -0 "$LAB_PID"
lab_session_close keep
it_done
