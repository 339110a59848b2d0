#!/usr/bin/env bash
# t-failclose: a dead daemon leaves its table enforcing (fail close). After
# kill -9, allowed flows (new and established) still pass and denied ones
# are still dropped; only `conduitd --flush` removes the table.
. "$(dirname "$0")/lib.sh"
it_setup
it_listeners
it_start

lab_session_open est ent "$LAB_HIST4" 8443
check "established session ent -> historian:8443 carries data before the kill" \
	lab_session_roundtrip est
check "before the kill: denied tcp ent -> plc:502 is dropped" tcp_blocked ent "$LAB_PLC4" 502

pid=$LAB_PID
kill -KILL "$pid"
check "conduitd died on SIGKILL" wait_dead "$pid"
wait "$pid" 2>/dev/null
LAB_PID=

# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "table inet conduitd still in the kernel after kill -9" lab_table_present
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "after kill -9: allowed tcp ent -> historian:443 (v4) passes" lab_tcp_echo_ok ent "$LAB_HIST4" 443
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "after kill -9: allowed tcp ent -> historian:5201 (v6) passes" lab_tcp_echo_ok ent "$LAB_HIST6" 5201
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "after kill -9: allowed ping ent -> historian passes" lab_ping_ok ent "$LAB_HIST4"
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "after kill -9: established session still carries data" lab_session_roundtrip est
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "after kill -9: denied tcp ent -> plc:502 (v4) still dropped" tcp_blocked ent "$LAB_PLC4" 502
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "after kill -9: denied tcp ent -> plc:502 (v6) still dropped" tcp_blocked ent "$LAB_PLC6" 502
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "after kill -9: denied udp ent -> plc:20000 still dropped" udp_blocked ent "$LAB_PLC4" 20000
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "after kill -9: denied ping dmz -> ent still dropped" ping_blocked dmz "$LAB_ENT4"
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "after kill -9: denied tcp ent -> historian:22 still dropped" tcp_blocked ent "$LAB_HIST4" 22
lab_session_close est

# SIGTERM is an orderly stop, not a flush either: restart, stop, table stays.
lab_conduitd_run || it_bail "conduitd restarts after kill -9"
pid=$LAB_PID
lab_conduitd_stop TERM
# tags: NDR 5.2 RE(3), CR 3.6
TAGS="NDR 5.2 RE(3), CR 3.6"
check "table still present after SIGTERM" lab_table_present
check "after SIGTERM: denied tcp ent -> plc:502 still dropped" tcp_blocked ent "$LAB_PLC4" 502

check "conduitd --flush exits 0" lab_conduitd_oneshot --flush
check "conduitd --flush removed table inet conduitd" it_not lab_table_present
check "conduitd --flush again (no table) exits 0" lab_conduitd_oneshot --flush
check "after flush: no firewall, tcp ent -> plc:502 reachable" lab_tcp_ok ent "$LAB_PLC4" 502
it_done
