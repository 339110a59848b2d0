#!/usr/bin/env bash
# t-log: denied packets become "deny ..." lines in the daemon log (format of
# docs/dev/CONTRACTS.md), a flood to one port is aggregated into a bounded
# number of lines, and the per-conduit counters of `policy show` move.
. "$(dirname "$0")/lib.sh"
it_setup
it_listeners
UDPGEN=$(lab_udpgen) || it_bail "build bench/udpgen.c"

# short aggregation interval so that the aggregated line comes quickly
INTERVAL=2
it_start "$PLANT" "deny-log-interval $INTERVAL"

E4=198\\.18\\.10\\.2 P4=198\\.18\\.30\\.10 H4=198\\.18\\.20\\.5

# A denied TCP SYN enterprise -> PLC (no conduit between the zones).
tcp_blocked ent "$LAB_PLC4" 502
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "deny line for tcp ent -> plc:502 (no-conduit, zones named)" \
	log_has "deny reason=no-conduit conduit=- from=enterprise to=control proto=tcp src=$E4:[0-9]+ dst=$P4:502 packets=1( |$)"

tcp_blocked ent "$LAB_PLC6" 502
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "deny line for tcp v6 ent -> plc:502 with [addr]:port" \
	log_has "deny reason=no-conduit conduit=- from=enterprise to=control proto=tcp src=\[2001:db8:10::2\]:[0-9]+ dst=\[2001:db8:30::10\]:502 packets=1( |$)"

ping_blocked ent "$LAB_PLC4"
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "deny line for icmp ent -> plc (no port)" \
	log_has "deny reason=no-conduit conduit=- from=enterprise to=control proto=icmp src=$E4 dst=$P4 packets="

ping_blocked ent "$LAB_PLC6"
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "deny line for icmpv6 ent -> plc" \
	log_has "deny reason=no-conduit conduit=- from=enterprise to=control proto=icmpv6 src=2001:db8:10::2 dst=2001:db8:30::10 packets="

# A service the conduit does not allow: reason=conduit, conduit named.
tcp_blocked ent "$LAB_HIST4" 22
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "deny line for tcp ent -> historian:22 (reason=conduit conduit=ops-to-historian)" \
	log_has "deny reason=conduit conduit=ops-to-historian from=enterprise to=dmz proto=tcp src=$E4:[0-9]+ dst=$H4:22 packets=1( |$)"

udp_blocked dmz "$LAB_ENT4" 20000
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "deny line for udp dmz -> ent:20000" \
	log_has "deny reason=no-conduit conduit=- from=dmz to=enterprise proto=udp src=$H4:[0-9]+ dst=$E4:20000 packets="

# An allowed flow must not produce a deny line.
lab_tcp_echo_ok ent "$LAB_HIST4" 443
sleep 0.5
check "no deny line for the allowed tcp ent -> historian:443" \
	it_not grep -qE "deny .*dst=$H4:443( |$)" "$LAB_LOG"

# --- flood: 2000 denied datagrams to one port, one flow -----------------------
before=$(wc -l <"$LAB_LOG")
lab_exec ent "$UDPGEN" send -c 2000 -r 2000 "$LAB_PLC4" 20001 2 >"$IT_TMP/flood.txt" 2>&1
check "flood sender sent 2000 datagrams" grep -q "^sent 2000 " "$IT_TMP/flood.txt"
sleep $((INTERVAL * 2 + 1))          # let the aggregated line(s) come out
flood_lines() { tail -n +"$((before + 1))" "$LAB_LOG" | grep -cE "^.*deny .*dst=$P4:20001( |$)"; }
n=$(flood_lines)
it_diag "flood: $n deny lines for dst $LAB_PLC4:20001, $(($(wc -l <"$LAB_LOG") - before)) log lines in all"
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "flood of 2000 denied packets gives 1..6 lines (got $n)" \
	test "$n" -ge 1 -a "$n" -le 6
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "flood: first packet logged at once with packets=1" \
	log_has "deny reason=no-conduit conduit=- from=enterprise to=control proto=udp src=$E4:[0-9]+ dst=$P4:20001 packets=1( |$)"
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "flood: later packets summed in an aggregated line" \
	log_has "deny reason=no-conduit conduit=- from=enterprise to=control proto=udp src=$E4:[0-9]+ dst=$P4:20001 packets=([2-9]|[1-9][0-9]+) aggregated=1"
check "whole log grew by at most 20 lines during the flood" \
	test "$(($(wc -l <"$LAB_LOG") - before))" -le 20

# --- counters -------------------------------------------------------------------
a0=$(conduit_counter ops-to-historian accept)
d0=$(conduit_counter ops-to-historian deny)
it_diag "ops-to-historian counters before: accept=$a0 deny=$d0"
check "policy show --json has accept/deny counters for ops-to-historian" \
	test -n "$a0" -a -n "$d0"
for i in 1 2 3; do lab_tcp_echo_ok ent "$LAB_HIST4" 8443; done
lab_ping_ok ent "$LAB_HIST6"
for i in 1 2 3; do tcp_blocked ent "$LAB_HIST4" 22; done
a1=$(conduit_counter ops-to-historian accept)
d1=$(conduit_counter ops-to-historian deny)
it_diag "ops-to-historian counters after: accept=$a1 deny=$d1"
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "accept counter of ops-to-historian moved after 3 connections + ping ($a0 -> $a1)" \
	test -n "$a0" -a -n "$a1" -a "${a1:-0}" -gt "${a0:-0}"
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "deny counter of ops-to-historian moved after 3 denied SYNs ($d0 -> $d1)" \
	test -n "$d0" -a -n "$d1" -a "${d1:-0}" -ge "$((${d0:-0} + 3))"
h0=$(conduit_counter historian-poll accept)
check "idle conduit plc-to-historian counted no denials from enterprise traffic" \
	test "$(conduit_counter plc-to-historian deny)" = 0
it_diag "historian-poll accept=$h0"
check "policy show (text) names the conduits" \
	bash -c '"$0" -s "$1" policy show | grep -q ops-to-historian' "$CONDUITCTL" "$LAB_SOCK"

check "conduitd still running at the end" kill -0 "$LAB_PID"
it_done
