#!/usr/bin/env bash
# t-failopen: the per-conduit choice between fail close (default) and fail
# open. Two inspected Modbus conduits: historian -> PLC (fail close) and
# enterprise -> historian (fail: open). With conduitd running both are
# inspected (writes dropped); with conduitd killed the fail-close conduit
# blocks its traffic and the fail-open one lets it pass uninspected; the
# apply of a fail-open conduit is logged as a warning.
. "$(dirname "$0")/lib.sh"
PEERS=${PEERS:-$BUILD/tests/peers}
[ -x "$PEERS/mb-server" ] && [ -x "$PEERS/mb-client" ] ||
	{ echo "Bail out! t-failopen needs $PEERS/mb-server and mb-client (make check, libmodbus)"; exit 1; }
it_setup

POL=$IT_TMP/failopen.yaml
sed -e 's|- { proto: tcp, port: 502, to-hosts: \[198.18.30.10\] }|- { modbus: read-only, to-hosts: [198.18.30.10] }|' \
	-e 's|^    log: true$|    log: true\n    fail: open|' \
	-e 's|- { proto: tcp, port: \[443, 8443, 5201\], to-hosts: \[198.18.20.5, 2001:db8:20::5\] }|&\n      - { modbus: read-only, to-hosts: [198.18.20.5] }|' \
	"$PLANT" >"$POL"
grep -q 'fail: open' "$POL" && [ "$(grep -c 'modbus: read-only' "$POL")" -eq 2 ] ||
	it_bail "derive the two-conduit Modbus policy from $PLANT"
chmod 0644 "$POL"
lab_bg ctl "$PEERS/mb-server" --unit 1 --log "$IT_TMP/plc.log" "$LAB_PLC4" 502
lab_bg dmz "$PEERS/mb-server" --unit 1 --log "$IT_TMP/hist.log" "$LAB_HIST4" 502
lab_wait_listen ctl 502 || it_bail "mb-server on the PLC"
lab_wait_listen dmz 502 || it_bail "mb-server on the historian"
it_start "$POL" "inspect-queues 1"

mbc() { lab_exec "$1" "$PEERS/mb-client" --timeout-ms 700 "$2" 502 --unit 1 "${@:3}"; }
reads() { mbc "$1" "$2" read-hr 0 4 | grep -q ': ok'; }
writes() { mbc "$1" "$2" write-hr 10 3 | grep -q ': ok'; }

check "the fail-open conduit is announced as a warning" log_has 'conduit ops-to-historian: fail open'
# tags: NDR 5.2
TAGS="NDR 5.2"
check "running: fail-close conduit dmz -> PLC reads pass" reads dmz "$LAB_PLC4"
check "running: fail-close conduit dmz -> PLC writes dropped" it_not writes dmz "$LAB_PLC4"
# tags: NDR 5.2
TAGS="NDR 5.2"
check "running: fail-open conduit ent -> historian is inspected too (reads pass)" reads ent "$LAB_HIST4"
check "running: fail-open conduit ent -> historian writes dropped" it_not writes ent "$LAB_HIST4"
check "kill -9 of conduitd" lab_conduitd_stop KILL
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "dead: fail-close conduit blocks its inspected traffic" it_not reads dmz "$LAB_PLC4"
# tags: NDR 5.2 RE(3)
TAGS="NDR 5.2 RE(3)"
check "dead: fail-open conduit passes its traffic uninspected (reads)" reads ent "$LAB_HIST4"
check "dead: fail-open conduit passes writes too (no inspection without the daemon)" writes ent "$LAB_HIST4"
it_done
