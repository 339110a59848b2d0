#!/usr/bin/env bash
# t-inspect: a read-only Modbus conduit enforced live through the NFQUEUE
# workers between real Modbus programs (libmodbus server on the PLC, client
# on the historian): reads pass, writes are dropped and reported, the PLC
# never sees them; kill -9 of conduitd blocks the inspected traffic at once
# while kernel-only conduits keep working; a restart resumes inspection.
. "$(dirname "$0")/lib.sh"
PEERS=${PEERS:-$BUILD/tests/peers}
[ -x "$PEERS/mb-server" ] && [ -x "$PEERS/mb-client" ] ||
	{ echo "Bail out! t-inspect needs $PEERS/mb-server and mb-client (make check, libmodbus)"; exit 1; }
it_setup
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
mb_other_unit_dropped() {
	lab_exec dmz "$PEERS/mb-client" --timeout-ms 700 "$LAB_PLC4" 502 --unit 2 read-hr 0 1 |
		grep -q ': timeout'
}
mb_write_ok() { mbc write-hr 100 7 | grep -q '^write-hr 100 7: ok'; }
mb_read_ok() { mbc read-hr 0 10 | grep -q '^read-hr 0 10: ok'; }
mb_write_dropped() { mbc write-hr 100 7 | grep -q '^write-hr 100 7: timeout'; }
plc_saw() { grep -qE -- "$1" "$PLCLOG"; }

check "status shows the inspection workers started" log_has "inspection: 2 workers on queues"
# tags: NDR 5.2
TAGS="NDR 5.2"
check "read-only modbus: historian reads holding registers of the PLC" mb_read_ok
# tags: NDR 5.2
TAGS="NDR 5.2"
check "read-only modbus: a write of a holding register is dropped" mb_write_dropped
# tags: NDR 5.2
TAGS="NDR 5.2"
check "the PLC never received the write" it_not plc_saw 'fc=6 .*addr=100'
# tags: NDR 5.2
TAGS="NDR 5.2"
check "the dropped write is logged as a violation with its rule" \
	log_has 'violation kind=denied action=deny conduit=historian-poll zones=dmz->control proto=modbus function=6 rule=allow\[0\]\.modbus\.functions'
# tags: NDR 5.2
TAGS="NDR 5.2"
check "a read for another unit id is dropped" mb_other_unit_dropped
check "reads keep working after the violations" mb_read_ok
check "kernel-only conduit: ping dmz -> PLC passes" lab_ping_ok dmz "$LAB_PLC4"

# fail close: the workers die with the daemon, the queue has no consumer
check "kill -9 of conduitd" lab_conduitd_stop KILL
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "conduitd dead: inspected modbus reads are blocked (fail close)" it_not mb_read_ok
# tags: NDR 5.2 RE(3)
TAGS="NDR 5.2 RE(3)"
check "conduitd dead: kernel-only conduit ping dmz -> PLC passes" lab_ping_ok dmz "$LAB_PLC4"
check "kernel-only tcp ent -> historian:443 passes without the daemon" lab_tcp_echo_ok ent "$LAB_HIST4" 443
check "restart of conduitd" lab_conduitd_run
# tags: NDR 5.2 RE(3)
TAGS="NDR 5.2 RE(3)"
check "after the restart inspected reads pass again" mb_read_ok
check "after the restart writes are still dropped" mb_write_dropped

# conduitctl stats --json: the denied write in the per-conduit counters and
# in the last violations (retried: events reach the main loop via a ring)
stats_json() {
	local i
	for i in $(seq 30); do
		lab_ctl stats --json >"$IT_TMP/stats.json" &&
			jq -e "$1" "$IT_TMP/stats.json" >/dev/null && return 0
		sleep 0.1
	done
	jq -c "$1" "$IT_TMP/stats.json"
	return 1
}
HP='.conduits[] | select(.name == "historian-poll")'
# tags: NDR 5.2
TAGS="NDR 5.2"
check "stats --json: historian-poll is inspected and counts the denied write" \
	stats_json "$HP | .inspected and .pdus.deny >= 1 and .pdus.allow >= 1"
# tags: NDR 5.2
TAGS="NDR 5.2"
check "stats --json: the last violations hold the write (function 6) and its rule" \
	stats_json '[.violations.recent[] | select(.conduit == "historian-poll" and .kind == "denied" and .action == "deny" and .function == 6 and .rule == "allow[0].modbus.functions" and .zone_from == "dmz")] | length >= 1'
check "stats --json: 2 workers, packets inspected, flow table in use" \
	stats_json '(.workers | length) == 2 and .totals.packets > 0 and .totals.flows.max > 0 and .totals.pdus.deny >= 1'
stats_text_lists() { lab_ctl stats | grep -q "^$1 "; }
check "stats (text) lists the conduit" stats_text_lists historian-poll

# back to the plain policy: the same write passes (proves the drop was the rule)
check "policy apply of plant.yaml (no protocol rules) exits 0" lab_ctl policy apply "$PLANT"
check "without protocol rules the write reaches the PLC" mb_write_ok
check "the PLC logged that write" plc_saw 'fc=6 .*addr=100'
check "stats after the apply: historian-poll keeps its counters, now kernel only" \
	stats_json "$HP | (.inspected | not) and .pdus.deny >= 1"

# reject: the refused request is answered with TCP resets to both ends
REJ=$IT_TMP/reject.yaml
sed 's|- { proto: tcp, port: 502, to-hosts: \[198.18.30.10\] }|- { modbus: { preset: read-write, rules: [{ action: reject, functions: [write-single-register], holding-registers: { write: 100-199 } }] }, to-hosts: [198.18.30.10] }|' \
	"$PLANT" >"$REJ"
chmod 0644 "$REJ"
mb_write_reset() { mbc write-hr 150 1 | grep -q '^write-hr 150 1: reset'; }
mb_write_elsewhere_ok() { mbc write-hr 20 1 | grep -q '^write-hr 20 1: ok'; }
check "policy apply with a reject rule exits 0" lab_ctl policy apply "$REJ"
# tags: NDR 5.2, CR 3.6
TAGS="NDR 5.2, CR 3.6"
check "reject: a write to register 150 is answered with a TCP reset at once" mb_write_reset
check "reject: the PLC never received it" it_not plc_saw 'fc=6 .*addr=150'
# tags: NDR 5.2
TAGS="NDR 5.2"
check "reject: a write outside the rejected range passes (read-write preset)" mb_write_elsewhere_ok
check "stats --json counts the resets sent" stats_json '[.workers[].resets] | add >= 1'

# reject with a Modbus exception: the master gets a protocol-level answer
# (exception 2, illegal data address) instead of a reset or a timeout
EXC=$IT_TMP/exception.yaml
sed 's|- { proto: tcp, port: 502, to-hosts: \[198.18.30.10\] }|- { modbus: { preset: read-write, rules: [{ action: reject, exception: illegal-data-address, functions: [write-single-register], holding-registers: { write: 200-299 } }] }, to-hosts: [198.18.30.10] }|' \
	"$PLANT" >"$EXC"
chmod 0644 "$EXC"
mb_write_exception() { mbc write-hr 250 1 | grep -q '^write-hr 250 1: exception 2$'; }
check "policy apply with a reject rule answering exception 2 exits 0" lab_ctl policy apply "$EXC"
# tags: NDR 5.2, CR 3.6
TAGS="NDR 5.2, CR 3.6"
check "reject with exception: a write to register 250 is answered with exception 2" mb_write_exception
# tags: NDR 5.2
TAGS="NDR 5.2"
check "reject with exception: the PLC never received it" it_not plc_saw 'fc=6 .*addr=250'
check "reject with exception: a read on a new connection works" mb_read_ok
it_done
