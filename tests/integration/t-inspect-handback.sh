#!/usr/bin/env bash
# t-inspect-handback: a flow decided for good goes back to the kernel. An
# HTTP download on an `app: [http]` entry (enterprise -> historian:8080) is
# inspected until nDPI identified it, then the worker's verdict rewrites the
# flow's ct mark (bit 30 "inspect" cleared, bit 31 alone: handed back) and
# its later packets take the kernel's established fast path: with conduitd
# stopped (SIGSTOP) the download goes on, while a new HTTP connection (not
# yet identified: it needs the workers) and Modbus (per-PDU rules: never
# handed back) are blocked. SIGCONT: everything passes again.
. "$(dirname "$0")/lib.sh"
PEERS=${PEERS:-$BUILD/tests/peers}
[ -x "$PEERS/mb-server" ] && [ -x "$PEERS/mb-client" ] ||
	{ echo "Bail out! t-inspect-handback needs $PEERS/mb-server and mb-client (make check, libmodbus)"; exit 1; }
IT_EXTRA_CLEANUP='[ -n "$LAB_PID" ] && kill -CONT "$LAB_PID" 2>/dev/null'
it_setup

POL=$IT_TMP/handback.yaml
sed -e 's|- { proto: tcp, port: 502, to-hosts: \[198.18.30.10\] }|- { modbus: { preset: read-only, unit-ids: [1] }, to-hosts: [198.18.30.10] }|' \
	-e 's|      - { proto: tcp, port: \[443, 8443, 5201\], to-hosts: \[198.18.20.5, 2001:db8:20::5\] }|&\n      - { proto: tcp, port: 8080, app: [http], to-hosts: [198.18.20.5] }|' \
	"$PLANT" >"$POL"
grep -q 'app: \[http\]' "$POL" && grep -q 'modbus:' "$POL" || it_bail "derive the policy from $PLANT"
chmod 0644 "$POL"

# the historian serves a 32 MiB file over HTTP (python's http.server)
WWW=$IT_TMP/www
mkdir -p "$WWW"
head -c 33554432 /dev/urandom >"$WWW/big.bin"
WANT=$(sha256sum "$WWW/big.bin" | cut -d' ' -f1)
chmod -R a+rX "$WWW"
lab_bg dmz /usr/bin/python3 -m http.server --bind "$LAB_HIST4" --directory "$WWW" 8080
lab_wait_listen dmz 8080 || it_bail "http.server listens on the historian"
lab_bg ctl "$PEERS/mb-server" --unit 1 "$LAB_PLC4" 502
lab_wait_listen ctl 502 || it_bail "mb-server listens on the PLC"
it_start "$POL" "inspect-queues 1"

mb_read_ok() { lab_exec dmz "$PEERS/mb-client" --timeout-ms 700 "$LAB_PLC4" 502 --unit 1 read-hr 0 10 | grep -q '^read-hr 0 10: ok'; }
http_get() { lab_exec ent curl -sS --max-time "${2:-10}" -o "$1" "http://$LAB_HIST4:8080/big.bin"; }
get_ok() { http_get "$IT_TMP/get.bin" && [ "$(sha256sum "$IT_TMP/get.bin" | cut -d' ' -f1)" = "$WANT" ]; }
stopped() { grep -q '^State:.*T' "/proc/$LAB_PID/status"; }
running() { ! grep -q '^State:.*T' "/proc/$LAB_PID/status" && kill -0 "$LAB_PID"; }
# ct marks of the conntrack entries to the historian's port 8080
marks() { lab_exec gw conntrack -L -p tcp --dport 8080 2>/dev/null | sed -n 's/.* mark=\([0-9]*\).*/\1/p'; }
handed_back_mark() {
	local m
	for m in $(marks); do
		# bit 31 set, bit 30 clear
		[ $((m & 0xC0000000)) -eq $((0x80000000)) ] && return 0
	done
	it_diag "marks: $(marks | tr '\n' ' ')"
	return 1
}

check "an identified HTTP download on the app entry completes" get_ok
# tags: NDR 5.2
TAGS="NDR 5.2"
check "the flow was handed back: its ct mark has bit 31 alone" handed_back_mark
check "modbus reads pass (per-PDU inspection)" mb_read_ok
# a 32 MiB download is at least 512 segments even with GSO: the workers saw
# only its first packets (and those of the modbus reads)
few_queued() {
	lab_ctl stats --json >"$IT_TMP/stats.json" || return 1
	jq -e '.totals.handed_back >= 1 and .totals.packets < 200' "$IT_TMP/stats.json" >/dev/null ||
		{ it_diag "$(jq -c '.totals | {handed_back, packets}' "$IT_TMP/stats.json")"; return 1; }
}
# tags: NDR 5.2
TAGS="NDR 5.2"
check "the workers saw only the first packets of the download (stats)" few_queued

# a slow download (about 8 s) that conduitd cannot serve after the first second
rm -f "$IT_TMP/slow.bin"
lab_exec ent curl -sS --max-time 30 --limit-rate 4M -o "$IT_TMP/slow.bin" \
	"http://$LAB_HIST4:8080/big.bin" &
SLOW=$!
sleep 1
check "kill -STOP of conduitd during the download" eval 'kill -STOP "$LAB_PID" && LAB_POLL=2 lab_wait_for stopped'
# tags: NDR 5.2
TAGS="NDR 5.2"
check "conduitd stopped: the handed-back download completes in the kernel" \
	eval 'wait $SLOW && [ "$(sha256sum "$IT_TMP/slow.bin" | cut -d" " -f1)" = "$WANT" ]'
# tags: NDR 5.2 RE(3)
TAGS="NDR 5.2 RE(3)"
check "conduitd stopped: a new HTTP connection (not yet identified) is blocked" it_not http_get "$IT_TMP/new.bin" 3
# tags: NDR 5.2 RE(3)
TAGS="NDR 5.2 RE(3)"
check "conduitd stopped: modbus (never handed back) is blocked" it_not mb_read_ok
check "kill -CONT of conduitd" eval 'kill -CONT "$LAB_PID" && LAB_POLL=2 lab_wait_for running'
check "after SIGCONT: a new download completes" get_ok
check "after SIGCONT: modbus reads pass" mb_read_ok

# policy applies while a handed-back download runs: an apply that leaves its
# conduit alone keeps it in the kernel; one that narrows the entry (app:
# [modbus] instead of [http]) sends it back to the workers, which refuse it
# under the new rules (mid-stream, the data is not Modbus)
POL2=$IT_TMP/other.yaml POL3=$IT_TMP/narrow.yaml
sed 's|- { proto: udp, port: 514 }|- { proto: udp, port: 515 }|' "$POL" >"$POL2"
sed 's|port: 8080, app: \[http\]|port: 8080, app: [modbus]|' "$POL" >"$POL3"
chmod 0644 "$POL2" "$POL3"
slow_get() {
	rm -f "$IT_TMP/slow.bin"
	lab_exec ent curl -sS --max-time "$1" --limit-rate 4M -o "$IT_TMP/slow.bin" \
		"http://$LAB_HIST4:8080/big.bin" &
	SLOW=$!
	sleep 1
}
slow_done_ok() { wait $SLOW && [ "$(sha256sum "$IT_TMP/slow.bin" | cut -d" " -f1)" = "$WANT" ]; }
slow_get 30
check "apply of a policy that changes another conduit" lab_ctl policy apply "$POL2"
check "the handed-back download goes on after it (conduit unchanged)" slow_done_ok
slow_get 12
# tags: NDR 5.2
TAGS="NDR 5.2"
check "apply of a policy that narrows the download's entry" lab_ctl policy apply "$POL3"
check "the apply sent the handed-back flow back to inspection" \
	log_has 'handed-back flows of changed conduits sent back to inspection'
# tags: NDR 5.2
TAGS="NDR 5.2"
check "re-checked under the new rules, the download is refused" it_not slow_done_ok
check "the refusal is a violation of the new app rule" \
	log_has 'violation kind=app action=deny conduit=ops-to-historian'
it_done
