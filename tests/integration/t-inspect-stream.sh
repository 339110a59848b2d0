#!/usr/bin/env bash
# t-inspect-stream: what the Modbus parser sees is the TCP stream, not the
# segments. Through a read-only Modbus conduit to a real libmodbus server:
# - non-Modbus traffic on port 502 (HTTP from curl, and the DCERPC, NFS,
#   TLS, HTTP and scanner flows of a real capture played by pcap-play)
#   never reaches the server, with `modbus: read-only` and with
#   `app: [modbus]`, while real Modbus reads on the same conduit work;
# - requests split over several TCP segments (MBAP header and PDU apart,
#   a request in three pieces, a boundary inside a merged segment) and
#   several requests in one segment get the verdicts `conduitctl replay`
#   gives for the very same bytes (captured on the historian with dumpcap):
#   reads served, the write never reaches the PLC, and a segment that merges
#   a read with a write is dropped whole;
# - a real capture with merged requests (iti__ModbusTCP) stops live at the
#   segment of the first request replay denies.
. "$(dirname "$0")/lib.sh"
PEERS=${PEERS:-$BUILD/tests/peers}
PCAPS=${PCAPS:-$LAB_TOP/../shared/pcaps}
PY=${PY:-/usr/bin/python3}
for b in mb-server mb-client pcap-play; do
	[ -x "$PEERS/$b" ] || { echo "Bail out! t-inspect-stream needs $PEERS/$b (make check, libmodbus)"; exit 1; }
done
for b in curl dumpcap editcap tshark jq "$PY"; do
	command -v "$b" >/dev/null || { echo "Bail out! t-inspect-stream needs $b"; exit 1; }
done
[ -d "$PCAPS/modbus" ] || { echo "Bail out! t-inspect-stream needs the captures in $PCAPS"; exit 1; }
it_setup

# One policy for the daemon and for replay: plant.yaml with a read-only
# Modbus entry for the PLC, and the control zone also given its networks
# (replay has no interfaces to match, the daemon matches either).
RO=$IT_TMP/modbus-ro.yaml
APP=$IT_TMP/modbus-app.yaml
derive() {   # derive OUT ENTRY
	sed -e 's|^    interfaces: \[ctl0\]$|&\n    networks: [198.18.30.0/24, 2001:db8:30::/64]|' \
		-e "s|- { proto: tcp, port: 502, to-hosts: \[198.18.30.10\] }|- $2|" \
		"$PLANT" >"$1" && chmod 0644 "$1" &&
		grep -q '198.18.30.0/24' "$1" && ! cmp -s "$PLANT" "$1" &&
		"$CONDUITCTL" policy check "$1" >/dev/null
}
derive "$RO" '{ modbus: read-only, to-hosts: [198.18.30.10] }' ||
	it_bail "derive a read-only Modbus policy from $PLANT"
derive "$APP" '{ proto: tcp, port: 502, app: [modbus], to-hosts: [198.18.30.10] }' ||
	it_bail "derive an app: [modbus] policy from $PLANT"

# --- 1. non-Modbus on port 502 -------------------------------------------------
# a sink on the PLC's port 502 that records every byte it receives
SINK=$IT_TMP/sink.bin
: >"$SINK"
chmod 0666 "$SINK"
lab_bg ctl socat TCP-LISTEN:502,reuseaddr,fork SYSTEM:"cat >>$SINK"
SINK_PID=$LAB_BG_LAST
lab_wait_listen ctl 502 || it_bail "byte sink listens on the PLC port 502"
it_start "$PLANT" "inspect-queues 2"

http_to_502() {
	lab_exec dmz curl -sS -m 2 --http1.1 -H 'X-Probe: p502' \
		-d 'not modbus' "http://$LAB_PLC4:502/" >/dev/null 2>&1
	sleep 0.3
}
sink_has_http() { grep -q 'X-Probe: p502' "$SINK"; }
sink_empty() {
	echo "sink holds $(stat -c %s "$SINK") bytes"
	[ ! -s "$SINK" ]
}

# control: with the plain tcp/502 entry the sink gets the request
http_to_502
check "control: plain tcp 502 conduit, the HTTP request reaches the port 502 sink" sink_has_http
: >"$SINK"

check "policy apply of the read-only Modbus policy exits 0" lab_ctl policy apply "$RO"
http_to_502
# tags: NDR 5.2, CR 3.5
TAGS="NDR 5.2, CR 3.5"
check "modbus read-only: HTTP on port 502 never reaches the server (0 bytes)" sink_empty
# tags: CR 3.5
TAGS="CR 3.5"
check "modbus read-only: the non-Modbus stream is logged as malformed" \
	log_has 'violation kind=malformed .*conduit=historian-poll .*proto=modbus'

check "policy apply of the app: [modbus] policy exits 0" lab_ctl policy apply "$APP"
http_to_502
# tags: NDR 5.2, CR 3.5
TAGS="NDR 5.2, CR 3.5"
check "app [modbus]: HTTP on port 502 never reaches the server (0 bytes)" sink_empty
lab_kill_pid "$SINK_PID"
wait "$SINK_PID" 2>/dev/null

# play NAME FILE FLOW: pcap-play server on the PLC, client on the historian
play() {
	local name=$1 file=$2 flow=$3 pid i
	lab_bg ctl "$PEERS/pcap-play" server "$file" --flow "$flow" \
		--listen "$LAB_PLC4:502" --once --idle-ms 500 \
		>"$IT_TMP/$name.server" 2>&1
	pid=$LAB_BG_LAST
	lab_wait_listen ctl 502 || return 1
	lab_exec dmz "$PEERS/pcap-play" client "$file" --flow "$flow" \
		--connect "$LAB_PLC4:502" --timeout-ms 600 \
		>"$IT_TMP/$name.client" 2>&1
	for i in $(seq 40); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	lab_kill_pid "$pid"
	wait "$pid" 2>/dev/null
	cat "$IT_TMP/$name.client" "$IT_TMP/$name.server"
}
plays_through() {
	play "$@" || return 1
	grep -q 'result ok$' "$IT_TMP/$1.client" &&
		grep -q 'result ok$' "$IT_TMP/$1.server"
}
# stops_at NAME FILE FLOW K: segments before K sent, K dropped (never
# acknowledged), none after it delivered, the server got exactly the
# client bytes before K
stops_at() {
	local k=$4 before
	play "$1" "$2" "$3" || return 1
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
		grep -q 'result fail$' "$IT_TMP/$1.client" &&
		grep -q "client bytes $before/" "$IT_TMP/$1.server"
}

MIX=$PCAPS/modbus/zeek__modbus-and-non-modbus-p502.pcap
# flows 2..7 of the capture: DCERPC bind, NFS, TLS ClientHello, HTTP GET,
# a scanner banner; one client segment each
for pol in app:"$APP" modbus:"$RO"; do
	check "policy apply ($pol)" lab_ctl policy apply "${pol#*:}"
	for f in 2 3 4 6 7; do
		# tags: NDR 5.2, CR 3.5
		TAGS="NDR 5.2, CR 3.5"
		check "${pol%%:*}: non-Modbus flow $f of the p502 capture is dropped (server got 0 bytes)" \
			stops_at "p502-${pol%%:*}-$f" "$MIX" "$f" 1
	done
done
# the Modbus flow 1 of the same capture: reads, then write-single-coil (seg 4)
# tags: NDR 5.2
TAGS="NDR 5.2"
check "modbus read-only: the Modbus flow of the p502 capture stops at its write (seg 4)" \
	stops_at p502-mb "$MIX" 1 4
check "policy apply of plant.yaml" lab_ctl policy apply "$PLANT"
check "control: plain tcp 502, the TLS flow of the p502 capture plays through" \
	plays_through p502-plain-4 "$MIX" 4

# --- 2. real Modbus server, split and merged requests --------------------------
PLCLOG=$IT_TMP/plc.log
lab_bg ctl "$PEERS/mb-server" --unit 1 --log "$PLCLOG" "$LAB_PLC4" 502
MB_PID=$LAB_BG_LAST
lab_wait_listen ctl 502 || it_bail "mb-server listens on the PLC"
check "policy apply of the read-only Modbus policy" lab_ctl policy apply "$RO"
mb_read_ok() {
	lab_exec dmz "$PEERS/mb-client" --timeout-ms 700 "$LAB_PLC4" 502 --unit 1 read-hr 0 10 |
		grep -q '^read-hr 0 10: ok'
}
# tags: NDR 5.2
TAGS="NDR 5.2"
check "modbus read-only: a real Modbus read on the same conduit works" mb_read_ok

# The client: each case is one connection, a list of sends; each send is a
# list of chunks written with TCP_NODELAY and 50 ms apart, so that every
# chunk is its own segment. Requests read or write holding register ADDR;
# ADDR identifies a request in the PLC log and in replay.
CLI=$IT_TMP/split.py
cat >"$CLI" <<'EOF'
import socket, struct, sys, time

def req(tid, fc, addr):
    val = 1 if fc == 3 else 7            # read 1 register / write value 7
    return struct.pack(">HHHBBHH", tid, 0, 6, 1, fc, addr, val)

R, W = 3, 6
# case: list of sends; a send: list of (tid, fc, addr, cuts) whose bytes are
# concatenated and cut at the given offsets of the concatenation
CASES = {
    # MBAP header and PDU in two segments; a read in three; a split write
    "split": [[(1, R, 11, [7])], [(2, R, 12, [2, 7])], [(3, W, 13, [7])]],
    # two reads in one segment; then a read and a write in one segment
    "merged": [[(4, R, 21, []), (5, R, 22, [])], [(6, R, 23, []), (7, W, 24, [])]],
    # a segment with one read and the first 4 bytes of the next; its rest
    "straddle": [[(8, R, 31, []), (9, R, 32, [16])]],
}

def main():
    host, port, case, sport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", sport))
    s.settimeout(2)
    s.connect((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    want = []
    for send in CASES[case]:
        data, cuts = b"", []
        for tid, fc, addr, c in send:
            cuts += [len(data) + x for x in c]
            data += req(tid, fc, addr)
            want.append(tid)
        prev = 0
        for c in cuts + [len(data)]:
            s.sendall(data[prev:c])
            prev = c
            time.sleep(0.05)
    got, buf, end = set(), b"", time.time() + 1.0
    s.settimeout(0.1)
    while time.time() < end and len(got) < len(want):
        try:
            b = s.recv(4096)
        except socket.timeout:
            continue
        if not b:
            break
        buf += b
        while len(buf) >= 6 and len(buf) >= 6 + struct.unpack(">H", buf[4:6])[0]:
            n = 6 + struct.unpack(">H", buf[4:6])[0]
            got.add(struct.unpack(">H", buf[:2])[0])
            buf = buf[n:]
    for tid in want:
        print("tid %d: %s" % (tid, "ok" if tid in got else "timeout"))

main()
EOF
chmod 0644 "$CLI"

# the cases' connections (source ports 40001..40003; the kernel may still
# retransmit the dropped segments of the plays above), captured on the
# historian for replay
CAP=$IT_TMP/cases.pcapng
lab_bg dmz dumpcap -q -i eth0 -f 'tcp port 502 and tcp portrange 40001-40003' -w "$CAP"
DUMP_PID=$LAB_BG_LAST
for i in $(seq 30); do [ -s "$CAP" ] && break; sleep 0.1; done
sleep 0.3
sp=40000
for c in split merged straddle; do
	sp=$((sp + 1))
	lab_exec dmz "$PY" "$CLI" "$LAB_PLC4" 502 "$c" "$sp" >"$IT_TMP/case-$c.out" 2>&1
done
sleep 0.3
kill -INT "$DUMP_PID" 2>/dev/null
wait "$DUMP_PID" 2>/dev/null

answered() {   # answered CASE TID ok|timeout
	cat "$IT_TMP/case-$1.out"
	grep -qx "tid $2: $3" "$IT_TMP/case-$1.out"
}
plc_saw() {    # plc_saw FC ADDR
	grep -qE "unit=1 fc=$1 .*addr=$2( |$)" "$PLCLOG"
}
# tags: CR 3.5
TAGS="CR 3.5"
check "split: a read with MBAP header and PDU in two segments is answered" answered split 1 ok
# tags: CR 3.5
TAGS="CR 3.5"
check "split: a read in three segments is answered" answered split 2 ok
# tags: NDR 5.2, CR 3.5
TAGS="NDR 5.2, CR 3.5"
check "split: a write split into header and PDU is not answered" answered split 3 timeout
check "split: the PLC served both split reads" eval 'plc_saw 3 11 && plc_saw 3 12'
# tags: NDR 5.2, CR 3.5
TAGS="NDR 5.2, CR 3.5"
check "split: the PLC never received the split write" it_not plc_saw 6 13
# tags: CR 3.5
TAGS="CR 3.5"
check "merged: two reads in one segment are both answered" \
	eval 'answered merged 4 ok && answered merged 5 ok'
check "merged: the PLC served both merged reads" eval 'plc_saw 3 21 && plc_saw 3 22'
# tags: NDR 5.2, CR 3.5
TAGS="NDR 5.2, CR 3.5"
check "merged: a segment with a read and a write gets no answer" \
	eval 'answered merged 6 timeout && answered merged 7 timeout'
# tags: NDR 5.2, CR 3.5
TAGS="NDR 5.2, CR 3.5"
check "merged: the PLC received neither request of the read+write segment" \
	eval '! plc_saw 3 23 && ! plc_saw 6 24'
# tags: CR 3.5
TAGS="CR 3.5"
check "straddle: a request boundary inside a segment, both reads answered" \
	eval 'answered straddle 8 ok && answered straddle 9 ok && plc_saw 3 31 && plc_saw 3 32'

# Replay of the captured cases with the same policy: per segment (frame) the
# strongest verdict of its PDUs; the PLC must have served exactly the
# requests of the allowed segments (first copy of each transaction).
REP=$IT_TMP/cases.replay
"$CONDUITCTL" replay --json --policy "$RO" "$CAP" >"$REP" 2>"$IT_TMP/replay.err"
replay_same_as_live() {
	local want have
	want=$(jq -rs '
		map(select(.dir? == "request" and .verdict? != null)) |
		group_by(.frame) |
		map({v: (if any(.[]; .verdict != "allow") then "deny" else "allow" end),
		     r: map({t: .transaction_id, f: .function, a: .address})}) |
		[.[] | .v as $v | .r[] | . + {v: $v}] |
		unique_by(.t) | map(select(.v == "allow") | "fc=\(.f) addr=\(.a)") |
		sort | .[]' "$REP")
	have=$(grep -oE 'fc=[0-9]+ op=[a-z-]+ addr=[0-9]+' "$PLCLOG" |
		sed -E 's/ op=[a-z-]+//' | grep -E 'addr=(1[1-3]|2[1-4]|3[12])$' | sort -u)
	echo "replay allows: $(echo $want)"
	echo "PLC served:    $(echo $have)"
	[ -n "$want" ] && [ "$want" = "$have" ]
}
replay_denied() {   # replay denied the write 13 and the read+write segment
	jq -e -s '[.[] | select(.dir? == "request" and .verdict? == "deny") |
		.address] | (index(13) != null) and (index(24) != null)' "$REP"
}
replay_decided_all() {   # the 9 transactions of the 3 cases, tids 1..9
	local t
	t=$(jq -rs '[.[] | select(.dir? == "request" and .verdict? != null) |
		.transaction_id] | unique | map(tostring) | join(" ")' "$REP")
	echo "replay decided transactions: $t"
	head -c 600 "$IT_TMP/replay.err"
	[ "$t" = "1 2 3 4 5 6 7 8 9" ]
}
check "replay of the live capture decides every request of the cases" replay_decided_all
# tags: CR 3.5, CR 3.6
TAGS="CR 3.5, CR 3.6"
check "replay denies the split write and the read+write segment, as live" replay_denied
# tags: CR 3.5, CR 3.6
TAGS="CR 3.5, CR 3.6"
check "live verdicts equal replay's: the PLC served exactly the requests replay allows" \
	replay_same_as_live

# --- 3. real capture with merged requests: live stops where replay denies ---
# iti__ModbusTCP flow 1: 141.81.0.10 -> 141.81.0.86; its segment 4 carries
# read-di + two write-multiple-coils, segment 6 four reads
# (its first 400 frames, enough for both flows and quick to replay)
MTCP=$IT_TMP/modbustcp-400.pcap
editcap -r "$PCAPS/modbus/iti__ModbusTCP.pcap" "$MTCP" 1-400 >/dev/null 2>&1 ||
	it_bail "editcap cuts the first 400 frames of iti__ModbusTCP.pcap"
RPOL=$IT_TMP/replay-mtcp.yaml
cat >"$RPOL" <<'EOF'
version: 1
zones:
  dmz:
    networks: [141.81.0.10/32]
  control:
    networks: [141.81.0.86/32, 141.81.0.24/32]
conduits:
  - name: historian-poll
    from: dmz
    to: control
    allow:
      - { modbus: read-only }
EOF
# first_denied_seg SERVER: client data segment (pcap-play numbering) of the
# first request replay denies in the flow to SERVER
first_denied_seg() {
	local fr
	fr=$("$CONDUITCTL" replay --json --policy "$RPOL" "$MTCP" 2>/dev/null |
		jq -r --arg d "$1:502" 'select(.dst? == $d and .dir? == "request" and
			.verdict? == "deny") | .frame' | head -n 1)
	[ -n "$fr" ] || return 1
	tshark -r "$MTCP" -Y "ip.dst == $1 && tcp.dstport == 502 && tcp.len > 0 &&
		!tcp.analysis.retransmission" -T fields -e frame.number 2>/dev/null |
		awk -v f="$fr" '$1 == f { print NR; exit }'
}
K1=$(first_denied_seg 141.81.0.86)
K2=$(first_denied_seg 141.81.0.24)
it_diag "replay: first denied request of flow 1 in client segment ${K1:-?}, flow 2 in ${K2:-?}"
check "replay names a denied segment in both flows" eval '[ -n "$K1" ] && [ -n "$K2" ]'
lab_kill_pid "$MB_PID"
wait "$MB_PID" 2>/dev/null
# tags: CR 3.5, CR 3.6
TAGS="CR 3.5, CR 3.6"
check "merged PDUs: flow 1 (read + writes in one segment) stops live at replay's segment ${K1:-?}" \
	stops_at mtcp-1 "$MTCP" 1 "${K1:-0}"
# tags: CR 3.5, CR 3.6
TAGS="CR 3.5, CR 3.6"
check "merged PDUs: flow 2 (three reads in one segment pass) stops live at replay's segment ${K2:-?}" \
	stops_at mtcp-2 "$MTCP" 2 "${K2:-0}"
it_done
