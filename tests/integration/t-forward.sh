#!/usr/bin/env bash
# t-forward: zone-to-zone forwarding with policy/examples/plant.yaml.
# Every flow of the matrix is first shown to work with no firewall (so a
# "denied" result below is the firewall's doing, not a missing listener),
# then checked with conduitd: allowed flows pass with replies, everything
# else is dropped, v4 and v6.
. "$(dirname "$0")/lib.sh"
it_setup
it_listeners

# expect kind host dst port  (kind: tcp = handshake + echo, udp = datagram +
# reply, icmp = echo request + reply)
MATRIX="
allow tcp  ent $LAB_HIST4 443
allow tcp  ent $LAB_HIST6 443
allow tcp  ent $LAB_HIST4 8443
allow tcp  ent $LAB_HIST6 8443
allow tcp  ent $LAB_HIST4 5201
allow tcp  ent $LAB_HIST6 5201
allow udp  ent $LAB_HIST4 20000
allow udp  ent $LAB_HIST4 20010
allow icmp ent $LAB_HIST4 -
allow icmp ent $LAB_HIST6 -
deny  tcp  ent $LAB_HIST4 22
deny  tcp  ent $LAB_HIST6 22
deny  udp  ent $LAB_HIST4 20011
deny  udp  ent $LAB_HIST6 20000
deny  udp  ent $LAB_HIST4 514
allow tcp  dmz $LAB_PLC4 502
deny  tcp  dmz $LAB_PLC6 502
deny  tcp  dmz $LAB_PLC4 443
allow icmp dmz $LAB_PLC4 -
allow icmp dmz $LAB_PLC6 -
allow udp  ctl $LAB_HIST4 514
allow udp  ctl $LAB_HIST6 514
allow tcp  ctl $LAB_HIST4 5201
allow tcp  ctl $LAB_HIST6 5201
deny  tcp  ctl $LAB_HIST4 443
deny  icmp ctl $LAB_HIST4 -
deny  icmp ctl $LAB_HIST6 -
deny  tcp  ent $LAB_PLC4 502
deny  tcp  ent $LAB_PLC6 502
deny  tcp  ent $LAB_PLC4 443
deny  udp  ent $LAB_PLC4 20000
deny  udp  ent $LAB_PLC6 20000
deny  icmp ent $LAB_PLC4 -
deny  icmp ent $LAB_PLC6 -
deny  tcp  dmz $LAB_ENT4 443
deny  tcp  dmz $LAB_ENT6 443
deny  udp  dmz $LAB_ENT4 20000
deny  udp  dmz $LAB_ENT6 20000
deny  icmp dmz $LAB_ENT4 -
deny  icmp dmz $LAB_ENT6 -
deny  tcp  ctl $LAB_ENT4 443
deny  tcp  ctl $LAB_ENT6 443
deny  udp  ctl $LAB_ENT4 514
deny  udp  ctl $LAB_ENT6 514
deny  icmp ctl $LAB_ENT4 -
deny  icmp ctl $LAB_ENT6 -
deny  tcp  ent $LAB_GW_ENT4 22
deny  tcp  ent $LAB_GW_CTL4 22
deny  tcp  dmz $LAB_GW_DMZ6 22
"

flow_ok() {           # flow_ok kind host dst port
	case "$1" in
	tcp) lab_tcp_echo_ok "$2" "$3" "$4" ;;
	udp) lab_udp_echo_ok "$2" "$3" "$4" ;;
	icmp) lab_ping_ok "$2" "$3" ;;
	esac
}
flow_blocked() {
	case "$1" in
	tcp) tcp_blocked "$2" "$3" "$4" ;;
	udp) udp_blocked "$2" "$3" "$4" ;;
	icmp) ping_blocked "$2" "$3" ;;
	esac
}
label() { [ "$4" = - ] && echo "$1 $2 -> $3" || echo "$1 $2 -> $3 port $4"; }

# Baseline: no ruleset in the gateway, every flow of the matrix works.
while read -r exp kind host dst port; do
	[ -n "$exp" ] || continue
	check "no firewall: $(label "$kind" "$host" "$dst" "$port") works" \
		flow_ok "$kind" "$host" "$dst" "$port"
done <<<"$MATRIX"

it_start
check "table inet conduitd present after start" lab_table_present

while read -r exp kind host dst port; do
	[ -n "$exp" ] || continue
	if [ "$exp" = allow ]; then
		# tags: CR 5.1, NDR 5.2 RE(1)
		TAGS="CR 5.1, NDR 5.2 RE(1)"
		check "allowed: $(label "$kind" "$host" "$dst" "$port") passes with reply" \
			flow_ok "$kind" "$host" "$dst" "$port"
	else
		# tags: CR 5.1, NDR 5.2 RE(1)
		TAGS="CR 5.1, NDR 5.2 RE(1)"
		check "denied: $(label "$kind" "$host" "$dst" "$port") is dropped" \
			flow_blocked "$kind" "$host" "$dst" "$port"
	fi
done <<<"$MATRIX"

check "conduitd still running at the end" kill -0 "$LAB_PID"
it_done
