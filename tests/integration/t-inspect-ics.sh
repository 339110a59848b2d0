#!/usr/bin/env bash
# t-inspect-ics: DNP3, IEC 104, S7comm and EtherNet/IP-CIP conduits enforced
# live. pcap-play plays the client side of a real capture from the historian
# (dmz) over a real TCP connection to pcap-play playing the server side on
# the PLC (control), through the gateway. With the restrictive presets the
# play stops exactly at the first request the preset forbids (that segment
# is never acknowledged, the server receives only the bytes before it, the
# violation is logged); with preset `all` the same conversation plays
# through byte for byte. Segment numbers come from tshark (client data
# segments in capture order, retransmissions left out), e.g.
#   tshark -r F -Y 'tcp.stream==S && tcp.dstport==P && tcp.len>0' \
#     -T fields -e dnp3.al.func
. "$(dirname "$0")/lib.sh"
PEERS=${PEERS:-$BUILD/tests/peers}
PCAPS=${PCAPS:-$LAB_TOP/../shared/pcaps}
[ -x "$PEERS/pcap-play" ] ||
	{ echo "Bail out! t-inspect-ics needs $PEERS/pcap-play (make check)"; exit 1; }
[ -d "$PCAPS/dnp3" ] || { echo "Bail out! t-inspect-ics needs the captures in $PCAPS"; exit 1; }
it_setup

# policy: historian-poll (dmz -> control) of plant.yaml plus one inspected
# entry per protocol for the PLC, with the given presets
derive() {   # derive OUT DNP3 IEC104 S7 ENIP
	awk -v d="$2" -v i="$3" -v s="$4" -v e="$5" '{ print }
		/- \{ proto: tcp, port: 502, to-hosts: \[198\.18\.30\.10\] \}/ {
			h = "to-hosts: [198.18.30.10] }"
			printf "      - { dnp3: %s, %s\n", d, h
			printf "      - { iec104: %s, %s\n", i, h
			printf "      - { s7comm: %s, %s\n", s, h
			printf "      - { enip: %s, %s\n", e, h
			n++ }
		END { exit n == 1 ? 0 : 1 }' "$PLANT" >"$1" && chmod 0644 "$1"
}
RO=$IT_TMP/ics-restricted.yaml
ALL=$IT_TMP/ics-all.yaml
derive "$RO" read-only monitor-only read-only read-only ||
	it_bail "derive the restricted ICS policy from $PLANT"
derive "$ALL" all all all all || it_bail "derive the ICS 'all' policy from $PLANT"
it_start "$RO" "inspect-queues 2"

# play NAME PORT FILE FLOW: server side on the PLC, client side from the
# historian; outputs in $IT_TMP/NAME.client and $IT_TMP/NAME.server
play() {
	local name=$1 port=$2 file=$3 flow=$4 pid i
	lab_bg ctl "$PEERS/pcap-play" server "$file" --flow "$flow" \
		--listen "$LAB_PLC4:$port" --once --idle-ms 1200 \
		>"$IT_TMP/$name.server" 2>&1
	pid=$LAB_BG_LAST
	lab_wait_listen ctl "$port" || return 1
	lab_exec dmz "$PEERS/pcap-play" client "$file" --flow "$flow" \
		--connect "$LAB_PLC4:$port" --timeout-ms 800 \
		>"$IT_TMP/$name.client" 2>&1
	# the server reports its connection when it ends or idles out
	for i in $(seq 40); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	lab_kill_pid "$pid"
	wait "$pid" 2>/dev/null
	cat "$IT_TMP/$name.client" "$IT_TMP/$name.server"
	return 0
}

# plays_through NAME PORT FILE FLOW: every segment delivered, every server
# byte back, on both ends
plays_through() {
	play "$@" || return 1
	grep -q 'result ok$' "$IT_TMP/$1.client" &&
		grep -q 'result ok$' "$IT_TMP/$1.server"
}

# stops_at NAME PORT FILE FLOW K: segments 1..K-1 sent, segment K dropped
# (sent, never acknowledged), none after it delivered, and the server
# received exactly the client bytes before segment K
stops_at() {
	local k=$5 before
	play "$1" "$2" "$3" "$4" || return 1
	before=$(awk -v k="$k" '$1 == "seg" && $2 < k { s += $4 } END { print s + 0 }' \
		"$IT_TMP/$1.client")
	echo "# want: seg $k not-delivered, server got exactly the $before bytes before it"
	# (a segment before K may show not-delivered although the server got
	# it: its ACK rode on a server reply that crossed segment K, and the
	# deny blocks the connection both ways)
	awk -v k="$k" '$1 == "seg" && $2 < k && $5 == "not-sent" { bad = 1 }
		$1 == "seg" && $2 > k && $5 == "delivered" { bad = 1 }
		$1 == "seg" && $2 == k && $5 == "not-delivered" { hit = 1 }
		END { exit !hit || bad }' "$IT_TMP/$1.client" &&
		grep -q "^stopped: timeout" "$IT_TMP/$1.client" &&
		grep -q 'result fail$' "$IT_TMP/$1.client" &&
		grep -q "client bytes $before/" "$IT_TMP/$1.server"
}

D=$PCAPS/dnp3 I=$PCAPS/iec104 S=$PCAPS/s7comm E=$PCAPS/enip
# violation lines: allow[1..4] are the dnp3, iec104, s7comm, enip entries
V='violation kind=denied action=deny conduit=historian-poll zones=dmz->control'
dnp3_violations() {    # write (2), select (3), direct-operate (5)
	log_has "$V proto=dnp3 function=2 rule=allow\[1\]\.dnp3\.functions" &&
		log_has "$V proto=dnp3 function=3 rule=allow\[1\]\.dnp3\.functions" &&
		log_has "$V proto=dnp3 function=5 rule=allow\[1\]\.dnp3\.functions"
}
s7_violations() {      # write-var (5), request-download (0x1a)
	log_has "$V proto=s7comm function=5 rule=allow\[3\]\.s7comm\.functions" &&
		log_has "$V proto=s7comm function=26 rule=allow\[3\]\.s7comm\.functions"
}

check "status shows the inspection workers started" log_has "inspection: 2 workers on queues"

# --- restrictive presets -----------------------------------------------------
# tags: NDR 5.2
TAGS="NDR 5.2"
check "dnp3 read-only: a read conversation plays through" \
	plays_through dnp3-read 20000 "$D/iti__read_and_response.pcap" 1
# iti__full_exchange: disable-unsolicited, confirm, write (seg 3), read, ...
# tags: NDR 5.2
TAGS="NDR 5.2"
check "dnp3 read-only: play stops at the write (seg 3), the outstation never gets it" \
	stops_at dnp3-write 20000 "$D/iti__full_exchange.pcap" 1 3
# tags: NDR 5.2
TAGS="NDR 5.2"
check "dnp3 read-only: select (seg 1) of select/operate is dropped" \
	stops_at dnp3-sbo 20000 "$D/iti__select_operate_and_responses.pcap" 1 1
# tags: NDR 5.2
TAGS="NDR 5.2"
check "dnp3 read-only: direct-operate (seg 1) is dropped" \
	stops_at dnp3-do 20000 "$D/iti__directoperate_and_response.pcap" 1 1
# tags: NDR 5.2
TAGS="NDR 5.2"
check "dnp3 read-only: the violations are logged with their rule" \
	dnp3_violations
# ndpi__iec60780-5-104 flow 6: STARTDT, C_IC_NA_1 interrogation (100), S,
# S, C_DC_NA_1 double command (46, seg 5), ...
# tags: NDR 5.2
TAGS="NDR 5.2"
check "iec104 monitor-only: interrogation passes, play stops at the double command (seg 5)" \
	stops_at iec104-cmd 2404 "$I/ndpi__iec60780-5-104.pcap" 6 5
# tags: NDR 5.2
TAGS="NDR 5.2"
check "iec104 monitor-only: the command is logged as a violation" \
	log_has "$V proto=iec104 function=46 rule=allow\[2\]\.iec104\.type-ids"
# libnodave demo flow 2: COTP CR, setup-communication, read-var x2,
# write-var (seg 5), ...
# tags: NDR 5.2
TAGS="NDR 5.2"
check "s7comm read-only: reads pass, play stops at write-var (seg 5)" \
	stops_at s7-write 102 "$S/iti__s7comm_varservice_libnodavedemo.pcap" 2 5
# downloading_block_db1 flow 2: setup, SZL and block-info userdata, then
# request-download (seg 26)
# tags: NDR 5.2
TAGS="NDR 5.2"
check "s7comm read-only: userdata reads pass, play stops at request-download (seg 26)" \
	stops_at s7-download 102 "$S/iti__s7comm_downloading_block_db1.pcap" 2 26
# tags: NDR 5.2
TAGS="NDR 5.2"
check "s7comm read-only: the violations are logged" \
	s7_violations
# EIP-SoftwareUpload: register-session, unconnected sends of get-attribute
# and forward-open/close, then set-attribute-list (0x04) in seg 18
# tags: NDR 5.2
TAGS="NDR 5.2"
check "enip read-only: reads pass, play stops at the CIP set-attribute-list (seg 18)" \
	stops_at enip-set 44818 "$E/iti__EIP-SoftwareUpload.pcap" 1 18
# tags: NDR 5.2
TAGS="NDR 5.2"
check "enip read-only: the CIP write is logged as a violation" \
	log_has "$V proto=enip function=4 rule=allow\[4\]\.enip\.services"

# --- preset all: the same conversations play through ---------------------------
check "policy apply of the 'all' presets exits 0" lab_ctl policy apply "$ALL"
# tags: NDR 5.2
TAGS="NDR 5.2"
check "dnp3 all: full exchange with the write plays through" \
	plays_through dnp3-write-all 20000 "$D/iti__full_exchange.pcap" 1
# tags: NDR 5.2
TAGS="NDR 5.2"
check "dnp3 all: select/operate plays through" \
	plays_through dnp3-sbo-all 20000 "$D/iti__select_operate_and_responses.pcap" 1
# tags: NDR 5.2
TAGS="NDR 5.2"
check "iec104 all: the commands play through" \
	plays_through iec104-all 2404 "$I/ndpi__iec60780-5-104.pcap" 6
# tags: NDR 5.2
TAGS="NDR 5.2"
check "s7comm all: write-var conversation plays through" \
	plays_through s7-write-all 102 "$S/iti__s7comm_varservice_libnodavedemo.pcap" 2
# tags: NDR 5.2
TAGS="NDR 5.2"
check "s7comm all: block download plays through" \
	plays_through s7-download-all 102 "$S/iti__s7comm_downloading_block_db1.pcap" 2
# tags: NDR 5.2
TAGS="NDR 5.2"
check "enip all: the software upload with its CIP writes plays through" \
	plays_through enip-all 44818 "$E/iti__EIP-SoftwareUpload.pcap" 1

# --- and back: the restriction is the policy's, not the capture's ---------------
check "policy apply of the restricted presets exits 0" lab_ctl policy apply "$RO"
# tags: NDR 5.2
TAGS="NDR 5.2"
check "after re-apply: dnp3 direct-operate dropped again" \
	stops_at dnp3-do-2 20000 "$D/iti__directoperate_and_response.pcap" 1 1
check "kernel-only conduit: ping dmz -> PLC passes" lab_ping_ok dmz "$LAB_PLC4"
it_done
