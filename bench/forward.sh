#!/usr/bin/env bash
# bench/forward.sh: forwarding cost of conduitd rulesets against no ruleset
# and against a linear nft ruleset, measured in one run with interleaved
# configurations, plus apply time and memory against plain `nft -f`.
#
#   bench/forward.sh [ROUNDS=3]
#
# Topology (own namespaces, removed on exit):
#   <p>-cli 198.18.1.2 --- cli0 [<p>-gw, forwarding] srv0 --- <p>-srv 198.18.2.2
# Configurations (every one in every round, in this order):
#   none     no ruleset in the gateway (no conntrack either)
#   c10 c1k c10k c100k   conduitd with bench/gen-policy N (the bench conduit last)
#   lin10k   bench/gen-policy --linear 10000 loaded with nft -f (ct fast path first)
#   ct       the smallest stateful firewall (ct established accept + 1 accept
#            rule, nft -f): what conntrack alone costs, the floor of any
#            conntrack-based ruleset
# Per config and round: udpgen 64-byte UDP, one flow (stays NEW in conntrack,
# so every packet is classified), received pps over T s; iperf3 TCP, 1
# stream, T s. Ratios are to `none` of the same round; the table shows the
# median over rounds. For conduitd: start-to-ready time, the time of a
# `policy apply` of the same file (a full replace), VmHWM of the daemon, and
# `nft -f` (time, peak RSS) of the ruleset conduitd produced (`nft list table
# inet conduitd` dump, loaded into an empty namespace ruleset).
#
# Environment: T (seconds per measurement, default 3), CONFIGS (subset),
# CONDUITD/CONDUITCTL (default: a non-sanitizer build in <top>/build-bench,
# built if missing), OUT (directory for raw data, default a temp dir),
# BENCH_MAX (seconds; the run stops starting new rounds after it, default 600),
# BENCH_WAIT (seconds for one conduitd start or apply, default 180).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-3}
T=${T:-3}
CONFIGS=${CONFIGS:-"none ct c10 c1k c10k c100k lin10k"}
BENCH_MAX=${BENCH_MAX:-600}
[ "$(id -u)" -eq 0 ] || { echo "bench/forward.sh: must run as root" >&2; exit 1; }

if [ -z "${CONDUITD:-}" ]; then
	bb=$top/build-bench
	mkdir -p "$bb"
	if [ ! -x "$bb/config.status" ]; then
		echo "building a non-sanitizer conduitd in $bb"
		[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) >/dev/null 2>&1
		(cd "$bb" && "$top/configure" -q) >"$bb/bench-build.log" 2>&1 ||
			{ echo "configure failed: $bb/bench-build.log" >&2; exit 1; }
	fi
	make -C "$bb" -s -j"$(nproc)" conduitd conduitctl >>"$bb/bench-build.log" 2>&1 ||
		{ echo "build failed: $bb/bench-build.log" >&2; exit 1; }
	export CONDUITD=$bb/conduitd CONDUITCTL=$bb/conduitctl
fi
. "$top/scripts/lab"
# bound of one conduitd start or apply (100k conduits: parse + compile + commit);
# a config over it is marked failed and skipped in later rounds
LAB_WAIT=${BENCH_WAIT:-180}

OUT=${OUT:-$(mktemp -d /tmp/conduitd-bench.XXXXXX)}
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
P=b$(lab_prefix)
P=${P:0:10}
CLI="ip netns exec $P-cli"
SRV="ip netns exec $P-srv"
GW="ip netns exec $P-gw"
LAB_PREFIX=$P

bench_down() {
	[ -n "${LAB_PID:-}" ] && lab_conduitd_stop KILL
	[ -f "$OUT/iperf3.pid" ] && kill "$(cat "$OUT/iperf3.pid")" 2>/dev/null
	local h pid
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
	local h
	for h in cli gw srv; do
		ip netns add "$P-$h" || return 1
		ip -n "$P-$h" link set lo up
	done
	ip link add cli0 netns "$P-gw" type veth peer name eth0 netns "$P-cli" || return 1
	ip link add srv0 netns "$P-gw" type veth peer name eth0 netns "$P-srv" || return 1
	ip -n "$P-gw" addr add 198.18.1.1/24 dev cli0
	ip -n "$P-gw" addr add 198.18.2.1/24 dev srv0
	ip -n "$P-cli" addr add 198.18.1.2/24 dev eth0
	ip -n "$P-srv" addr add 198.18.2.2/24 dev eth0
	for h in cli srv; do ip -n "$P-$h" link set eth0 up; done
	ip -n "$P-gw" link set cli0 up
	ip -n "$P-gw" link set srv0 up
	ip -n "$P-cli" route add default via 198.18.1.1
	ip -n "$P-srv" route add default via 198.18.2.1
	$GW sysctl -qw net.ipv4.ip_forward=1
}

bench_up || { echo "topology setup failed" >&2; exit 1; }
LAB_DIR=$(mktemp -d "/tmp/conduitd-lab.$P.XXXXXX")
chmod 0755 "$LAB_DIR"
: >"$LAB_DIR/pids"
LAB_UDPGEN_DIR=$OUT
UDPGEN=$(lab_udpgen) || { echo "cannot build bench/udpgen.c" >&2; exit 1; }
$SRV iperf3 -s -D -p 5201 --pidfile "$OUT/iperf3.pid" >/dev/null 2>&1
sleep 0.5

echo "generating policies in $OUT"
for c in $CONFIGS; do
	case "$c" in
	c10) "$top/bench/gen-policy" 10 >"$OUT/c10.yaml" ;;
	c1k) "$top/bench/gen-policy" 1000 >"$OUT/c1k.yaml" ;;
	c10k) "$top/bench/gen-policy" 10000 >"$OUT/c10k.yaml" ;;
	c100k) "$top/bench/gen-policy" 100000 >"$OUT/c100k.yaml" ;;
	lin10k) "$top/bench/gen-policy" --linear 10000 >"$OUT/lin10k.nft" ;;
	ct) printf '%s\n' 'table inet ctbench {' \
		'	chain forward {' \
		'		type filter hook forward priority 0; policy drop;' \
		'		ct state established,related accept' \
		'		ip daddr 198.18.2.2 accept' \
		'	}' '}' >"$OUT/ct.nft" ;;
	esac
done
chmod 0644 "$OUT"/*.yaml 2>/dev/null
chmod 0755 "$OUT"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

measure_udp() {
	$SRV "$UDPGEN" recv -w $((T + 5)) 9000 "$T" >"$OUT/recv.txt" 2>/dev/null &
	local rp=$!
	sleep 0.3
	timeout $((T + 5)) $CLI "$UDPGEN" send 198.18.2.2 9000 "$T" >/dev/null 2>&1
	wait "$rp"
	awk '/^recv/ { print $NF }' "$OUT/recv.txt"
}
measure_tcp() {
	timeout $((T + 10)) $CLI iperf3 -c 198.18.2.2 -p 5201 -t "$T" --connect-timeout 2000 -J \
		>"$OUT/iperf.json" 2>/dev/null
	jq -r '(.end.sum_received.bits_per_second // 0) / 1e9 | . * 1000 | round / 1000' \
		"$OUT/iperf.json" 2>/dev/null || echo 0
}
clean_gw() {
	$GW nft flush ruleset 2>/dev/null
}

# setup_conduitd CFG: fresh daemon with the policy; sets R_READY R_APPLY R_HWM
# (runs in this shell, not a subshell: LAB_PID must survive)
setup_conduitd() {
	local f=$OUT/$1.yaml t0 t1 t2
	R_READY=ERR R_APPLY=ERR R_HWM=ERR
	t0=$(now)
	lab_conduitd_start "$P" "$f" "management-port 0" "log-level warn" >>"$OUT/lab.log" 2>&1 ||
		return 1
	t1=$(now)
	R_READY=$(elapsed "$t0" "$t1")
	timeout "$LAB_WAIT" "$CONDUITCTL" -s "$LAB_SOCK" policy apply "$LAB_POLICY" >>"$OUT/lab.log" 2>&1 ||
		return 1
	t2=$(now)
	R_APPLY=$(elapsed "$t1" "$t2")
	R_HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$LAB_PID/status" 2>/dev/null)
	: "${R_HWM:=ERR}"
}
# nft_compare CFG: dump conduitd's table, stop the daemon, flush, then time
# nft -f of the dump; sets R_NFTS R_NFTRSS (ERR when the dump does not load)
nft_compare() {
	local dump=$OUT/$1.dump.nft
	R_NFTS=ERR R_NFTRSS=ERR
	$GW nft list table inet conduitd >"$dump" 2>/dev/null
	lab_conduitd_stop TERM
	clean_gw
	if [ -s "$dump" ] && /usr/bin/time -f "%e %M" -o "$OUT/time.txt" $GW nft -f "$dump" >"$OUT/nft-$1.err" 2>&1; then
		read -r R_NFTS R_NFTRSS <"$OUT/time.txt"
	fi
	clean_gw
}

printf 'round\tcfg\tudp_pps\ttcp_gbps\tready_s\tapply_s\thwm_kb\tnft_s\tnft_rss_kb\tok\n' >"$RAW"
t_start=$(date +%s)
SKIP=
for round in $(seq "$ROUNDS"); do
	if [ $(($(date +%s) - t_start)) -gt "$BENCH_MAX" ]; then
		echo "BENCH_MAX ${BENCH_MAX}s reached; stopping before round $round"
		break
	fi
	for c in $CONFIGS; do
		# a config that failed or timed out once is not retried: it would
		# only eat the time budget of the others
		case " $SKIP " in *" $c "*) continue ;; esac
		clean_gw
		ready=- apply=- hwm=- nfts=- nftrss=- ok=yes
		case "$c" in
		none) ;;
		lin10k | ct)
			if /usr/bin/time -f "%e %M" -o "$OUT/time.txt" $GW nft -f "$OUT/$c.nft" 2>"$OUT/nft-lin.err"; then
				read -r nfts nftrss <"$OUT/time.txt"
			else
				ok=load-failed
			fi
			;;
		*)
			setup_conduitd "$c" || { ok=conduitd-failed; SKIP="$SKIP $c"; }
			ready=$R_READY apply=$R_APPLY hwm=$R_HWM
			;;
		esac
		# the bench flow must pass, whatever the config
		timeout 3 $CLI nc -z -w1 198.18.2.2 5201 || ok="${ok/yes/}bench-flow-blocked"
		udp=$(measure_udp)
		tcp=$(measure_tcp)
		case "$c" in
		none | lin10k | ct) ;;
		*)
			if [ "$ok" = yes ]; then
				nft_compare "$c"
				nfts=$R_NFTS nftrss=$R_NFTRSS
			fi
			;;
		esac
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "${udp:-0}" "${tcp:-0}" \
			"$ready" "$apply" "$hwm" "$nfts" "$nftrss" "$ok" | tee -a "$RAW"
		if [ "$c" != none ] && [ "$c" != lin10k ] && [ "$c" != ct ]; then
			lab_conduitd_stop KILL
			lab_conduitd_oneshot --flush >/dev/null 2>&1
		fi
		clean_gw
	done
done
runtime=$(($(date +%s) - t_start))

/usr/bin/python3 - "$RAW" "$runtime" "$T" <<'EOF'
import csv, statistics, sys
raw, runtime, T = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
def num(v):
    try: return float(v)
    except (TypeError, ValueError): return None
base = {(r["round"]): r for r in rows if r["cfg"] == "none"}
ctb = {(r["round"]): r for r in rows if r["cfg"] == "ct"}
order = []
for r in rows:
    if r["cfg"] not in order: order.append(r["cfg"])
n_of = {"none": "-", "ct": "1 rule + ct", "c10": "10", "c1k": "1 000", "c10k": "10 000", "c100k": "100 000", "lin10k": "10 000 rules"}
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None
def fmt(v, nd=2, unit=""):
    return "ERR" if v is None else ("%.*f%s" % (nd, v, unit))
def kpps(v):
    return "ERR" if v is None else "%.0fk" % (v / 1000)
print()
print("| config | conduits | UDP64 pps | × none | × ct | TCP Gbit/s | × none | start→ready s | apply s | VmHWM MB | nft -f s | nft RSS MB | rounds ok |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for c in order:
    rs = [r for r in rows if r["cfg"] == c]
    udp = [num(r["udp_pps"]) for r in rs]
    tcp = [num(r["tcp_gbps"]) for r in rs]
    ru, rt, rc = [], [], []
    for r in rs:
        b = base.get(r["round"])
        k = ctb.get(r["round"])
        if k and num(k["udp_pps"]) and num(r["udp_pps"]) is not None:
            rc.append(num(r["udp_pps"]) / num(k["udp_pps"]))
        if b and num(b["udp_pps"]) and num(r["udp_pps"]) is not None:
            ru.append(num(r["udp_pps"]) / num(b["udp_pps"]))
        if b and num(b["tcp_gbps"]) and num(r["tcp_gbps"]) is not None:
            rt.append(num(r["tcp_gbps"]) / num(b["tcp_gbps"]))
    hwm = med([num(r["hwm_kb"]) for r in rs])
    nrss = med([num(r["nft_rss_kb"]) for r in rs])
    okn = sum(1 for r in rs if r["ok"] == "yes")
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |" % (
        c, n_of.get(c, "?"), kpps(med(udp)), fmt(med(ru)), fmt(med(rc)) if rc else "-",
        fmt(med(tcp)), fmt(med(rt)),
        fmt(med([num(r["ready_s"]) for r in rs])) if c not in ("none", "lin10k", "ct") else "-",
        fmt(med([num(r["apply_s"]) for r in rs])) if c not in ("none", "lin10k", "ct") else "-",
        fmt(hwm / 1024, 1) if hwm else "-",
        fmt(med([num(r["nft_s"]) for r in rs])) if c != "none" else "-",
        fmt(nrss / 1024, 0) if nrss else "-", okn, len(rs)))
print()
print("median of %d round(s), T = %s s per measurement; × = median of same-round ratios to `none` (no ruleset, no conntrack) and to `ct` (conntrack + 1 rule);" % (len(base), T))
print("nft -f for conduitd rows = loading conduitd's own table dump (`nft list table inet conduitd`).")
print("bench runtime: %d s" % runtime)
EOF
echo "raw data: $RAW"
