#!/usr/bin/env bash
# bench/inline.sh: the inline-inspection benchmarks of issue 5, side by side
# in one run (every configuration in every round, rounds interleaved).
#
#   bench/inline.sh [ROUNDS=3]
#
# Topology (own namespaces, removed on every exit path):
#   <p>-cli 198.18.1.2-17 --- cli0 [<p>-gw, forwarding] srv0 --- <p>-srv 198.18.2.2
#
# Part "fwd" (benchmark 1), configurations:
#   kern    conduitd, every entry plain (kernel-only conduit, no queue)
#   bare1   the ruleset conduitd compiles for the inspected policy with
#           inspect-queues 1, conduitd then SIGKILLed (its table stays: the xt
#           NFQUEUE rule, no bypass), bench/nfq_bare on queue 0 pinned to CPU 0
#   bare2   the same with inspect-queues 2: nfq_bare on queues 0 and 1,
#           pinned to CPU 0 and 1 (like conduitd's workers)
#   cd1 cd2 conduitd with the inspected policy, 1 and 2 workers
#   The inspected policy: udp 20000 with `dnp3: {preset: all}`, tcp 5201 and
#   5202 with `dnp3: {preset: all}` and the conduit `malformed: allow` (iperf
#   bytes are not DNP3: every segment goes through the stream reassembly and
#   the DNP3 framing, is found malformed and allowed).
#   UDP: bench/flowgen, 2 flows (two client addresses that the queue hash
#   puts on different queues), each datagram a valid DNP3 read request
#   (18 bytes of payload), as fast as one sender thread goes, T s; received
#   pps (bench/udpgen recv). TCP: two iperf3 clients at once (one per client
#   address of a queue split, ports 5201 and 5202), T s, summed Gbit/s.
# Part "mb" (benchmark 2): tests/peers/mb-server on the server, mb-client
#   --tps (read-hr 0 10) sequential on one connection, and 16 connections in
#   parallel, through: none (no ruleset), kern (kernel-only conduit, tcp 502),
#   mbro (conduitd, `modbus: read-only` on tcp 502, default 2 workers).
# Part "rss" (benchmark 3): conduitd (2 workers, inspect-flows 131072 each)
#   and 0, 10 000, 100 000 one-datagram DNP3/UDP flows (100 client addresses
#   x N source ports, 40 000/s); VmHWM/VmRSS of the daemon, conntrack -C in the
#   gateway, datagrams received, queue drops.
# Ratios are to the config named in the table of the same round; tables show
# the median over rounds.
#
# Environment: NICE (niceness of the bench and all it starts, default -10),
# T (seconds per UDP/TCP measurement, default 3), PARTS
# (default "fwd mb rss"), MB_SEQ (transactions, default 5000), MB_PAR
# (transactions per connection of 16, default 500), OUT (raw data dir,
# default a temp dir), BENCH_MAX (s, no new round after it, default 330),
# CONDUITD/CONDUITCTL/PEERS/NFQ_BARE (default: a non-sanitizer -O2 build in
# /tmp/conduit-ibench, built if missing).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-3}
T=${T:-3}
PARTS=${PARTS:-"fwd mb rss"}
MB_SEQ=${MB_SEQ:-5000}
MB_PAR=${MB_PAR:-500}
BENCH_MAX=${BENCH_MAX:-330}
[ "$(id -u)" -eq 0 ] || { echo "bench/inline.sh: must run as root" >&2; exit 1; }
# the VM is shared with compiles and fuzzers: the bench (and all it starts)
# gets a higher CFS weight, not a real-time class (NICE=0 to turn it off)
renice -n "${NICE:--10}" -p $$ >/dev/null 2>&1

BB=${BB:-/tmp/conduit-ibench}
if [ -z "${CONDUITD:-}" ]; then
	mkdir -p "$BB"
	if [ ! -x "$BB/config.status" ]; then
		echo "building a non-sanitizer conduitd in $BB"
		[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) >/dev/null 2>&1
		(cd "$BB" && "$top/configure" -q CFLAGS=-O2) >"$BB/bench-build.log" 2>&1 ||
			{ echo "configure failed: $BB/bench-build.log" >&2; exit 1; }
	fi
	make -C "$BB" -s -j"$(nproc)" conduitd conduitctl tests/peers/mb-client \
		tests/peers/mb-server bench/nfq_bare >>"$BB/bench-build.log" 2>&1 ||
		{ echo "build failed: $BB/bench-build.log" >&2; exit 1; }
	export CONDUITD=$BB/conduitd CONDUITCTL=$BB/conduitctl
fi
PEERS=${PEERS:-$BB/tests/peers}
NFQ_BARE=${NFQ_BARE:-$BB/bench/nfq_bare}
for b in "$PEERS/mb-client" "$PEERS/mb-server" "$NFQ_BARE"; do
	[ -x "$b" ] || { echo "bench/inline.sh: missing $b" >&2; exit 1; }
done
. "$top/scripts/lab"
LAB_WAIT=30

OUT=${OUT:-$(mktemp -d /tmp/conduitd-inline.XXXXXX)}
mkdir -p "$OUT"
chmod 0755 "$OUT"
P=i$(lab_prefix)
P=${P:0:10}
CLI="ip netns exec $P-cli"
SRV="ip netns exec $P-srv"
GW="ip netns exec $P-gw"
LAB_PREFIX=$P
BARE_PIDS=

bare_stop() {
	local pid
	for pid in $BARE_PIDS; do kill -TERM "$pid" 2>/dev/null; done
	for pid in $BARE_PIDS; do wait "$pid" 2>/dev/null; done
	BARE_PIDS=
}
bench_down() {
	bare_stop
	[ -n "${LAB_PID:-}" ] && lab_conduitd_stop KILL
	local h pid f
	for f in "$OUT"/*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	for h in cli gw srv; do
		for pid in $(ip netns pids "$P-$h" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
	done
	for h in cli gw srv; do ip netns del "$P-$h" 2>/dev/null; done
	[ -n "${LAB_DIR:-}" ] && rm -rf "$LAB_DIR"
}
trap bench_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_up() {
	local h a
	for h in cli gw srv; do
		ip netns add "$P-$h" || return 1
		ip -n "$P-$h" link set lo up
	done
	ip link add cli0 netns "$P-gw" type veth peer name eth0 netns "$P-cli" || return 1
	ip link add srv0 netns "$P-gw" type veth peer name eth0 netns "$P-srv" || return 1
	ip -n "$P-gw" addr add 198.18.1.1/24 dev cli0
	ip -n "$P-gw" addr add 198.18.2.1/24 dev srv0
	for a in $(seq 2 17); do ip -n "$P-cli" addr add "198.18.1.$a/24" dev eth0; done
	ip -n "$P-srv" addr add 198.18.2.2/24 dev eth0
	for h in cli srv; do ip -n "$P-$h" link set eth0 up; done
	ip -n "$P-gw" link set cli0 up
	ip -n "$P-gw" link set srv0 up
	ip -n "$P-cli" route add default via 198.18.1.1
	ip -n "$P-srv" route add default via 198.18.2.1
	$GW sysctl -qw net.ipv4.ip_forward=1
	# flowgen's many-flow sources (198.18.1.100-199) are not cli's own
	# addresses: the server's answers (none expected) are not resolved
	$GW sysctl -qw net.ipv4.conf.all.rp_filter=0
	$GW sysctl -qw net.ipv4.conf.cli0.rp_filter=0
}

bench_up || { echo "topology setup failed" >&2; exit 1; }
LAB_DIR=$(mktemp -d "/tmp/conduitd-lab.$P.XXXXXX")
chmod 0755 "$LAB_DIR"
: >"$LAB_DIR/pids"
LAB_UDPGEN_DIR=$OUT
UDPGEN=$(lab_udpgen) || { echo "cannot build bench/udpgen.c" >&2; exit 1; }
FLOWGEN=$OUT/flowgen
gcc -O2 -Wall -o "$FLOWGEN" "$top/bench/flowgen.c" || { echo "cannot build bench/flowgen.c" >&2; exit 1; }
for port in 5201 5202; do
	$SRV iperf3 -s -D -p $port --pidfile "$OUT/iperf3-$port.pid" >/dev/null 2>&1
done
$SRV "$PEERS/mb-server" --log /dev/null 198.18.2.2 502 >"$OUT/mb-server.log" 2>&1 &
echo $! >"$OUT/mb-server.pid"
sleep 0.5

# --- policies ----------------------------------------------------------------
pol_head() {
	printf '%s\n' "# bench/inline.sh: $1" 'version: 1' 'zones:' \
		'  cli:' '    networks: [198.18.1.0/24]' \
		'  srv:' '    networks: [198.18.2.0/24]' 'conduits:' \
		'  - name: bench' '    from: cli' '    to: srv'
}
{
	pol_head "kernel-only: every entry plain"
	printf '%s\n' '    allow:' \
		'      - { proto: udp, port: 20000 }' \
		'      - { proto: tcp, port: 5201 }' \
		'      - { proto: tcp, port: 5202 }' \
		'      - { proto: tcp, port: 5209 }' \
		'      - { proto: tcp, port: 502 }'
} >"$OUT/kern.yaml"
{
	pol_head "inspected: dnp3 on udp 20000 and (iperf) tcp 5201/5202"
	printf '%s\n' '    malformed: allow' '    allow:' \
		'      - { proto: udp, port: 20000, dnp3: { preset: all } }' \
		'      - { proto: tcp, port: 5201, dnp3: { preset: all } }' \
		'      - { proto: tcp, port: 5202, dnp3: { preset: all } }' \
		'      - { proto: tcp, port: 5209, dnp3: { preset: all } }'
} >"$OUT/insp.yaml"
{
	pol_head "read-only Modbus conduit"
	printf '%s\n' '    allow:' \
		'      - { proto: tcp, port: 502, modbus: read-only }'
} >"$OUT/mbro.yaml"
chmod 0644 "$OUT"/*.yaml

# --- helpers -------------------------------------------------------------------
# cd_start POLICY QUEUES [CONF...]: fresh daemon in the gateway
cd_start() {
	local pol=$1 q=$2
	shift 2
	lab_conduitd_start "$P" "$pol" "management-port 0" "log-level info" \
		"inspect-queues $q" "$@" >>"$OUT/lab.log" 2>&1
}
cd_stop() { # cd_stop [NAME]: kill the daemon, keep its log as OUT/NAME.log
	[ -n "${LAB_PID:-}" ] && lab_conduitd_stop KILL
	[ -n "${1:-}" ] && [ -f "${LAB_LOG:-}" ] && cp "$LAB_LOG" "$OUT/$1.log"
	$GW nft flush ruleset 2>/dev/null
}
# bare_start N: conduitd's ruleset for the inspected policy with N queues,
# conduitd killed (the table stays), N bare consumers pinned like the workers
bare_start() {
	local n=$1 i
	cd_start "$OUT/insp.yaml" "$n" || return 1
	lab_conduitd_stop KILL
	$GW nft list table inet conduitd >/dev/null 2>&1 || return 1
	for i in $(seq 0 $((n - 1))); do
		$GW taskset -c $((i % $(nproc))) "$NFQ_BARE" "$i" >"$OUT/bare-$i.log" 2>&1 &
		BARE_PIDS="$BARE_PIDS $!"
	done
	sleep 0.3
}
# queue counters of the gateway: "q:seq:qdrop:udrop ..." (id_sequence = packets queued)
qstat() {
	$GW cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk '{ printf "%s%s:%s:%s:%s", (NR > 1 ? " " : ""), $1, $8, $6, $7 }'
}
qseq() { # qseq QUEUE: packets queued so far on QUEUE (0 if not bound)
	$GW cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk -v q="$1" '$1 == q { s = $8 } END { print s + 0 }'
}
# queue_of_udp ADDR / queue_of_tcp ADDR: the queue one packet of ADDR lands on
queue_of_udp() {
	local a b
	a=$(qseq 0)
	$CLI "$FLOWGEN" -s "$1" -c 1 198.18.2.2 20000 1 >/dev/null 2>&1
	sleep 0.1
	b=$(qseq 0)
	[ "$b" -gt "$a" ] && echo 0 || echo 1
}
queue_of_tcp() {
	local a b
	a=$(qseq 0)
	$CLI timeout 2 nc -z -w1 -s "$1" 198.18.2.2 5209 >/dev/null 2>&1
	sleep 0.1
	b=$(qseq 0)
	[ "$b" -gt "$a" ] && echo 0 || echo 1
}

measure_udp() { # -> received pps
	$SRV "$UDPGEN" recv -w $((T + 5)) 20000 "$T" >"$OUT/recv.txt" 2>/dev/null &
	local rp=$!
	sleep 0.3
	timeout $((T + 5)) $CLI "$FLOWGEN" -s "$UA" -n 2 198.18.2.2 20000 "$T" >"$OUT/send.txt" 2>&1
	wait "$rp"
	awk '/^recv/ { print $NF }' "$OUT/recv.txt"
}
measure_tcp() { # -> "Gbit/s retransmits", two clients at once
	timeout $((T + 10)) $CLI iperf3 -c 198.18.2.2 -p 5201 -B "$TA" -t "$T" \
		--connect-timeout 2000 -J >"$OUT/iperf1.json" 2>/dev/null &
	local p1=$!
	timeout $((T + 10)) $CLI iperf3 -c 198.18.2.2 -p 5202 -B "$TB" -t "$T" \
		--connect-timeout 2000 -J >"$OUT/iperf2.json" 2>/dev/null
	wait "$p1"
	jq -rs '"\([.[] | (.end.sum_received.bits_per_second // 0)] | add / 1e9 | . * 1000 | round / 1000) \([.[] | (.end.sum_sent.retransmits // 0)] | add)"' \
		"$OUT/iperf1.json" "$OUT/iperf2.json" 2>/dev/null || echo "0 -"
}
# measure_mb CONNS N -> "tps avg p50 p99 ok"
measure_mb() {
	local c=$1 n=$2
	timeout 60 $CLI "$PEERS/mb-client" --timeout-ms 1000 --tps "$n" --connections "$c" \
		198.18.2.2 502 read-hr 0 10 >"$OUT/mb.txt" 2>&1
	awk '/^total:/ { for (i = 1; i <= NF; i++) if ($i ~ /^ok=/) { sub("ok=", "", $i); ok = $i } }
	     /^tps=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	     END { printf "%s %s %s %s %s", v["tps"] + 0, v["avg"] + 0, v["p50"] + 0, v["p99"] + 0, ok + 0 }' \
		"$OUT/mb.txt"
}
hwm() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }

part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

# --- queue split: which client addresses the xt NFQUEUE hash spreads ----------
UA=198.18.1.2 TA=198.18.1.2 TB=198.18.1.3
if part fwd; then
	if bare_start 2; then
		q2=$(queue_of_udp 198.18.1.2)
		for a in $(seq 3 17); do
			q=$(queue_of_udp "198.18.1.$a")
			if [ "$q" != "$q2" ]; then UA=198.18.1.$((a - 1)); break; fi
			q2=$q
		done
		tq=$(queue_of_tcp 198.18.1.2)
		for a in $(seq 3 17); do
			if [ "$(queue_of_tcp "198.18.1.$a")" != "$tq" ]; then TB=198.18.1.$a; break; fi
		done
		echo "queue split: udp flows from $UA and its successor, tcp from $TA and $TB ($(qstat))"
	else
		echo "queue split probe failed; using $UA, $TA, $TB" >&2
	fi
	bare_stop
	cd_stop
fi

RAWF=$OUT/fwd.tsv RAWM=$OUT/mb.tsv RAWR=$OUT/rss.tsv
printf 'round\tcfg\tudp_pps\ttcp_gbps\ttcp_retr\tqueues_udp\tqueues_tcp\tok\n' >"$RAWF"
printf 'round\tcfg\tconns\ttps\tavg_us\tp50_us\tp99_us\tok\n' >"$RAWM"
printf 'round\tflows\thwm_kb\trss_kb\tconntrack\treceived\tqueues\tsent\n' >"$RAWR"
t_start=$(date +%s)
for round in $(seq "$ROUNDS"); do
	if [ $(($(date +%s) - t_start)) -gt "$BENCH_MAX" ]; then
		echo "BENCH_MAX ${BENCH_MAX}s reached; stopping before round $round"
		break
	fi
	case " $PARTS " in *" fwd "*)
		for c in kern bare1 cd1 bare2 cd2; do
			ok=yes
			case "$c" in
			kern) cd_start "$OUT/kern.yaml" 1 || ok=start-failed ;;
			bare1) bare_start 1 || ok=start-failed ;;
			bare2) bare_start 2 || ok=start-failed ;;
			cd1) cd_start "$OUT/insp.yaml" 1 || ok=start-failed ;;
			cd2) cd_start "$OUT/insp.yaml" 2 || ok=start-failed ;;
			esac
			udp=$(measure_udp)
			qu=$(qstat)
			read -r tcp retr <<<"$(measure_tcp)"
			qt=$(qstat)
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "${udp:-0}" "${tcp:-0}" "${retr:--}" \
				"${qu:--}" "${qt:--}" "$ok" | tee -a "$RAWF"
			bare_stop
			cd_stop "$c-$round"
		done
		;;
	esac
	case " $PARTS " in *" mb "*)
		for c in none kern mbro; do
			ok=yes
			case "$c" in
			none) ;;
			kern) cd_start "$OUT/kern.yaml" 1 || ok=start-failed ;;
			mbro) cd_start "$OUT/mbro.yaml" 0 || ok=start-failed ;;
			esac
			# warm-up: connection, ARP, conntrack
			measure_mb 1 50 >/dev/null
			read -r tps avg p50 p99 okn <<<"$(measure_mb 1 "$MB_SEQ")"
			printf '%s\t%s\t1\t%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "$tps" "$avg" "$p50" "$p99" \
				"$ok:$okn/$MB_SEQ" | tee -a "$RAWM"
			read -r tps avg p50 p99 okn <<<"$(measure_mb 16 "$MB_PAR")"
			printf '%s\t%s\t16\t%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "$tps" "$avg" "$p50" "$p99" \
				"$ok:$okn/$((16 * MB_PAR))" | tee -a "$RAWM"
			cd_stop
		done
		;;
	esac
	case " $PARTS " in *" rss "*)
		for n in 0 10000 100000; do
			cd_start "$OUT/insp.yaml" 2 "inspect-flows 131072" || {
				printf '%s\t%s\tERR\tERR\tERR\tERR\t-\t-\n' "$round" "$n" | tee -a "$RAWR"
				continue
			}
			recv=0 sent=-
			if [ "$n" -gt 0 ]; then
				$SRV "$UDPGEN" recv -w 20 20000 15 >"$OUT/rss-recv.txt" 2>/dev/null &
				rp=$!
				sleep 0.3
				# 100 sources x n/100 ports, one datagram each, at 40k/s
				sent=$($CLI "$FLOWGEN" -s 198.18.1.100 -n 100 -p 10000 -P $((n / 100)) \
					-c "$n" -r 40000 198.18.2.2 20000 10 2>&1 | awk '{ print $2 }')
				sleep 1.5
				kill -TERM "$rp" 2>/dev/null
				wait "$rp" 2>/dev/null
				recv=$(awk '/^recv/ { print $2 }' "$OUT/rss-recv.txt")
			fi
			sleep 0.5
			h=$(hwm "$LAB_PID" VmHWM)
			r=$(hwm "$LAB_PID" VmRSS)
			ct=$($GW conntrack -C 2>/dev/null)
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$n" "${h:-ERR}" "${r:-ERR}" \
				"${ct:-ERR}" "${recv:-0}" "$(qstat)" "$sent" | tee -a "$RAWR"
			cd_stop
			$GW conntrack -F >/dev/null 2>&1
		done
		;;
	esac
done
runtime=$(($(date +%s) - t_start))

/usr/bin/python3 - "$OUT" "$runtime" "$T" <<'EOF'
import csv, os, statistics, sys
out, runtime, T = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def rows(name):
    p = os.path.join(out, name)
    return list(csv.DictReader(open(p), delimiter="\t")) if os.path.exists(p) else []
def num(v):
    try: return float(v)
    except (TypeError, ValueError): return None
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None
def f(v, fmt="%.2f"):
    return "ERR" if v is None else fmt % v
def ratio(rs, cfg, key, base, extra=None):
    """median over rounds of cfg/base in the same round"""
    out = []
    for r in rs:
        if r["cfg"] != cfg or (extra and not extra(r)): continue
        b = [x for x in rs if x["round"] == r["round"] and x["cfg"] == base and (not extra or extra(x))]
        if b and num(b[0][key]) and num(r[key]) is not None:
            out.append(num(r[key]) / num(b[0][key]))
    return med(out)

fw = rows("fwd.tsv")
if fw:
    label = {"kern": "kernel-only conduit", "bare1": "bare consumer, 1 queue",
             "bare2": "bare consumer, 2 queues", "cd1": "conduitd, 1 worker",
             "cd2": "conduitd, 2 workers"}
    bare = {"cd1": "bare1", "cd2": "bare2"}
    def qdrops(r):
        """UDP: datagrams the kernel dropped at the queue (full or no reader)"""
        if r["queues_udp"] in ("", "-"): return None
        return sum(int(x.split(":")[2]) + int(x.split(":")[3]) for x in r["queues_udp"].split())
    print("\n| config | UDP pps (DNP3, 2 flows) | × kernel | × bare | queue drops (UDP) | TCP Gbit/s (2 streams) | × kernel | × bare | TCP retransmits | rounds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in ["kern", "bare1", "bare2", "cd1", "cd2"]:
        rs = [r for r in fw if r["cfg"] == c]
        if not rs: continue
        u = med([num(r["udp_pps"]) for r in rs]); t = med([num(r["tcp_gbps"]) for r in rs])
        b = bare.get(c)
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            label[c], f(u, "%.0f"), f(ratio(fw, c, "udp_pps", "kern")),
            f(ratio(fw, c, "udp_pps", b)) if b else "-",
            f(med([qdrops(r) for r in rs]), "%.0f") if c != "kern" else "-", f(t),
            f(ratio(fw, c, "tcp_gbps", "kern")),
            f(ratio(fw, c, "tcp_gbps", b)) if b else "-",
            f(med([num(r["tcp_retr"]) for r in rs]), "%.0f"),
            sum(1 for r in rs if r["ok"] == "yes")))
mb = rows("mb.tsv")
if mb:
    label = {"none": "no firewall", "kern": "kernel-only conduit (tcp 502)",
             "mbro": "conduitd, modbus read-only"}
    print("\n| path | connections | transactions/s | × kernel | avg µs | p50 µs | p99 µs | added avg µs vs kernel | added p50 µs vs kernel | ok |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for conns in ["1", "16"]:
        sel = lambda r, c=conns: r["conns"] == c
        for c in ["none", "kern", "mbro"]:
            rs = [r for r in mb if r["cfg"] == c and r["conns"] == conns]
            if not rs: continue
            def added(key):
                d = []
                for r in rs:
                    b = [x for x in mb if x["round"] == r["round"] and x["cfg"] == "kern" and x["conns"] == conns]
                    if b and num(r[key]) is not None and num(b[0][key]) is not None:
                        d.append(num(r[key]) - num(b[0][key]))
                return med(d)
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label[c], conns, f(med([num(r["tps"]) for r in rs]), "%.0f"),
                f(ratio(mb, c, "tps", "kern", sel)),
                f(med([num(r["avg_us"]) for r in rs]), "%.1f"),
                f(med([num(r["p50_us"]) for r in rs]), "%.0f"),
                f(med([num(r["p99_us"]) for r in rs]), "%.0f"),
                f(added("avg_us"), "%+.1f") if c != "kern" else "-",
                f(added("p50_us"), "%+.0f") if c != "kern" else "-",
                " ".join(sorted(set(r["ok"] for r in rs)))))
rs = rows("rss.tsv")
if rs:
    print("\n| concurrent inspected flows | VmHWM MiB | VmRSS MiB | over 0 flows MiB | B per flow | conntrack entries | datagrams received |")
    print("|---|---|---|---|---|---|---|")
    base = med([num(r["hwm_kb"]) for r in rs if r["flows"] == "0"])
    for n in ["0", "10000", "100000"]:
        s = [r for r in rs if r["flows"] == n]
        if not s: continue
        h = med([num(r["hwm_kb"]) for r in s])
        d = None if h is None or base is None else h - base
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            n, f(h / 1024 if h else None, "%.1f"),
            f(med([num(r["rss_kb"]) / 1024 if num(r["rss_kb"]) else None for r in s]), "%.1f"),
            f(d / 1024 if d is not None else None, "%.1f"),
            f(d * 1024 / int(n), "%.0f") if d is not None and int(n) else "-",
            f(med([num(r["conntrack"]) for r in s]), "%.0f"),
            f(med([num(r["received"]) for r in s]), "%.0f")))
print("\nruntime %d s, T=%s s per UDP/TCP measurement; raw data in %s" % (runtime, T, out))
EOF
