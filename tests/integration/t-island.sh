#!/usr/bin/env bash
# t-island: island mode drops every inter-zone packet, established
# connections included, while the management port on the gateway stays
# reachable from the management zone (control) and only from there; island
# off restores the policy; island state survives a daemon restart.
. "$(dirname "$0")/lib.sh"
it_setup
it_listeners
it_start

# The management port 8443 on the gateway: if conduitd does not listen on it
# itself, a stand-in echo server does (what matters here is the ruleset).
if ! lab_exec gw ss -H -ltn "sport = :8443" | grep -q .; then
	lab_tcp_listen gw 8443 || it_bail "stand-in listener on gw:8443"
fi

inter_zone_all_blocked() {    # prints what leaked; fails if anything did
	local bad=0
	lab_tcp_ok ent "$LAB_HIST4" 443 && { echo "leak: tcp ent->hist:443"; bad=1; }
	lab_tcp_ok ent "$LAB_HIST6" 8443 && { echo "leak: tcp6 ent->hist:8443"; bad=1; }
	LAB_UDP_TRIES=1 lab_udp_echo_ok ent "$LAB_HIST4" 20000 && { echo "leak: udp ent->hist:20000"; bad=1; }
	lab_ping_ok ent "$LAB_HIST4" && { echo "leak: ping ent->hist"; bad=1; }
	lab_tcp_ok dmz "$LAB_PLC4" 502 && { echo "leak: tcp dmz->plc:502"; bad=1; }
	LAB_UDP_TRIES=1 lab_udp_echo_ok ctl "$LAB_HIST4" 514 && { echo "leak: udp ctl->hist:514"; bad=1; }
	lab_tcp_ok ctl "$LAB_HIST6" 5201 && { echo "leak: tcp6 ctl->hist:5201"; bad=1; }
	return $bad
}

check "policy: allowed tcp ent -> historian:443 passes" lab_tcp_echo_ok ent "$LAB_HIST4" 443
check "policy: management port gw:8443 reachable from control" lab_tcp_ok ctl "$LAB_GW_CTL4" 8443
check "policy: management port gw:8443 not reachable from enterprise (ctl address)" tcp_blocked ent "$LAB_GW_CTL4" 8443
check "policy: management port gw:8443 not reachable from enterprise (ent address)" tcp_blocked ent "$LAB_GW_ENT4" 8443
check "policy: management port gw:8443 not reachable from dmz" tcp_blocked dmz "$LAB_GW_DMZ4" 8443

lab_session_open est ent "$LAB_HIST4" 8443
check "established session ent -> historian:8443 carries data before island" lab_session_roundtrip est
check "status says island off" island_is off

check "island on exits 0" lab_ctl island on
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "status says island on" island_is on
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "island: established connection ent -> historian:8443 is cut" it_not lab_session_roundtrip est 3
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "island: every inter-zone flow (even allowed ones) dropped" inter_zone_all_blocked
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "island: management port gw:8443 still reachable from control (v4)" lab_tcp_ok ctl "$LAB_GW_CTL4" 8443
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "island: management port gw:8443 still reachable from control (v6)" lab_tcp_ok ctl "$LAB_GW_CTL6" 8443
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "island: management port gw:8443 not reachable from enterprise" tcp_blocked ent "$LAB_GW_CTL4" 8443
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "island: deny lines carry reason=island" log_has "deny reason=island "
lab_session_close est

check "island off exits 0" lab_ctl island off
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "status says island off again" island_is off
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "island off: allowed tcp ent -> historian:443 passes again" lab_tcp_echo_ok ent "$LAB_HIST4" 443
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "island off: allowed ping ent -> historian passes again" lab_ping_ok ent "$LAB_HIST4"
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "island off: denied tcp ent -> plc:502 still dropped" tcp_blocked ent "$LAB_PLC4" 502
check "island off: management port still closed for enterprise" tcp_blocked ent "$LAB_GW_ENT4" 8443

# Island survives a restart of the daemon.
check "island on (before restart) exits 0" lab_ctl island on
lab_conduitd_restart || it_bail "conduitd restarts in island mode"
# tags: NDR 5.2 RE(2), CR 7.4
TAGS="NDR 5.2 RE(2), CR 7.4"
check "after restart: status still says island on" island_is on
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "after restart: every inter-zone flow still dropped" inter_zone_all_blocked
# tags: NDR 5.2 RE(2)
TAGS="NDR 5.2 RE(2)"
check "after restart: management port reachable from control" lab_tcp_ok ctl "$LAB_GW_CTL4" 8443
# kill -9 and start again: the state is on disk, not only in the kernel
lab_conduitd_stop KILL
lab_conduitd_run || it_bail "conduitd starts after kill -9 in island mode"
# tags: NDR 5.2 RE(2), CR 7.4
TAGS="NDR 5.2 RE(2), CR 7.4"
check "after kill -9 and start: status still says island on" island_is on
check "after kill -9 and start: allowed tcp ent -> historian:443 still dropped" tcp_blocked ent "$LAB_HIST4" 443
check "island off after restart exits 0" lab_ctl island off
# tags: NDR 5.2 RE(2), CR 7.4
TAGS="NDR 5.2 RE(2), CR 7.4"
check "island off after restart: policy restored (tcp ent -> historian:443)" lab_tcp_echo_ok ent "$LAB_HIST4" 443
check "conduitd still running at the end" kill -0 "$LAB_PID"
it_done
