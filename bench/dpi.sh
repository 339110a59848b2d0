#!/usr/bin/env bash
# bench/dpi.sh: the two DPI benchmarks of issue 4, Markdown on stdout.
#
#   bench/dpi.sh [ROUNDS=3]
#
# 1. Decision path, single core (taskset -c $CPU), capture preloaded in
#    memory: bench/decide in mode engine (port classifier, no verdict
#    module), decode (verdict module without policy: nDPI + parsers) and
#    policy (bench/policies/<proto>.yaml: every PDU decided), against
#    `ndpiReader -i FILE -l LOOPS` (median of its "nDPI throughput" lines)
#    and the bare nDPI loop of shared/bench-notes/ndpi_bench.c (-m until).
#    The biggest capture of each protocol in $PCAPS/<proto>/. Every
#    config of every capture runs once per round, rounds interleaved; the
#    table shows medians over rounds, the ratio is taken within a round.
# 2. Memory: bench/flowmem at 10 000 and 100 000 concurrent flows (80 %
#    TCP Modbus with handshake, request, response; 20 % UDP DNP3), per
#    mode; peak RSS, bytes per flow, the pools' allocations.
#
# Builds its own non-sanitizer tree in $BENCH_BUILD (default
# /tmp/conduit-bench-build, CFLAGS=-O2) and ndpi_bench in it. The verdict
# modes are built when src/dpi/verdict.c defines verdict_alloc. No root,
# no network; each program run is bounded by `timeout` (BENCH_TIMEOUT s).
# Environment: ROUNDS, CPU (1), PCAPS (<top>/../shared/pcaps), BENCH_BUILD,
# OUT (raw data directory, default a temp dir), BENCH_TIMEOUT (60),
# PKTS (packets per configuration and round, default 300000: sets passes).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-${ROUNDS:-3}}
CPU=${CPU:-1}
PCAPS=${PCAPS:-$top/../shared/pcaps}
BB=${BENCH_BUILD:-/tmp/conduit-bench-build}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-60}
PKTS=${PKTS:-300000}
OUT=${OUT:-$(mktemp -d /tmp/conduit-dpi-bench.XXXXXX)}
PROTOS="modbus dnp3 s7comm enip iec104"
mkdir -p "$OUT" "$BB"
start=$(date +%s)

die() { echo "bench/dpi.sh: $*" >&2; exit 1; }
[ -d "$PCAPS" ] || die "no captures in $PCAPS (set PCAPS)"

# --- build ------------------------------------------------------------------
have_verdict=0
grep -q 'verdict_alloc' "$top/src/dpi/verdict.c" 2>/dev/null && have_verdict=1
bflags=
[ $have_verdict = 1 ] && bflags=-DBENCH_HAVE_VERDICT
if [ ! -x "$BB/config.status" ]; then
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) >/dev/null 2>&1
	(cd "$BB" && CFLAGS=-O2 "$top/configure" -q) >"$BB/bench-build.log" 2>&1 ||
		die "configure failed: $BB/bench-build.log"
fi
# the verdict flag is not a dependency make knows: always recompile both
rm -f "$BB"/bench/*.o
make -C "$BB" -s -j"$(nproc)" bench/decide bench/flowmem \
	BENCH_CPPFLAGS="$bflags" >>"$BB/bench-build.log" 2>&1 ||
	die "build failed: $BB/bench-build.log"
DECIDE=$BB/bench/decide
FLOWMEM=$BB/bench/flowmem
NDPI_BENCH=$BB/ndpi_bench
nb_src=$top/../shared/bench-notes/ndpi_bench.c
if [ -f "$nb_src" ]; then
	gcc -O2 -o "$NDPI_BENCH" "$nb_src" -lndpi -lpcap >>"$BB/bench-build.log" 2>&1 ||
		NDPI_BENCH=
else
	NDPI_BENCH=
fi
NDPIREADER=$(command -v ndpiReader || true) # Debian package libndpi-bin

run() { timeout "$BENCH_TIMEOUT" taskset -c "$CPU" "$@"; }
kv() { tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "-";
	else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
# 1234567 -> 1.23M, 12345 -> 12.3k
fmt_pps() { awk -v x="$1" 'BEGIN { if (x == "-" || x == "") print "-";
	else if (x >= 1e6) printf "%.2fM\n", x/1e6;
	else printf "%.0fk\n", x/1e3 }'; }

# --- captures: the biggest of each protocol ----------------------------------
declare -A CAP NPK
for p in $PROTOS; do
	f=$(ls -S "$PCAPS/$p"/*.pcap "$PCAPS/$p"/*.pcapng 2>/dev/null | head -1)
	[ -n "$f" ] || continue
	CAP[$p]=$f
	NPK[$p]=$(run "$DECIDE" -p 1 -w 0 "$f" | kv packets)
done

# --- 1. decision path --------------------------------------------------------
modes="engine"
[ $have_verdict = 1 ] && modes="engine decode policy"
RAW=$OUT/decide.tsv
: >"$RAW"
for r in $(seq 1 "$ROUNDS"); do
	for p in $PROTOS; do
		f=${CAP[$p]:-}
		[ -n "$f" ] || continue
		n=${NPK[$p]}
		passes=$(( (PKTS + n - 1) / n ))
		[ $passes -lt 10 ] && passes=10
		[ $passes -gt 400 ] && passes=400
		loops=$(( (PKTS / 5 + n - 1) / n ))
		[ $loops -lt 3 ] && loops=3
		[ $loops -gt 20 ] && loops=20
		for m in $modes; do
			extra=
			[ $m = policy ] && extra="-P $top/bench/policies/$p.yaml"
			# -R: one verdict (one nDPI init) for all passes
			[ $m != engine ] && extra="$extra -R"
			line=$(run "$DECIDE" -m $m $extra -p $passes "$f" 2>>"$OUT/err.log")
			echo "$line" >>"$OUT/decide-$m.log"
			pps=$(echo "$line" | kv pps)
			ns=$(echo "$line" | kv ns_median)
			[ -n "$pps" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$p" "$m" "$pps" "$ns" >>"$RAW"
		done
		if [ -n "$NDPIREADER" ]; then
			pps=$(run "$NDPIREADER" -l $loops -i "$f" 2>/dev/null |
				sed -n 's/.*nDPI throughput: *\([0-9.]*\) \([KM]\) pps.*/\1 \2/p' |
				awk '{print $1 * ($2 == "M" ? 1e6 : 1e3)}' | median)
			[ "$pps" != "-" ] && printf '%s\t%s\tndpiReader\t%s\t%s\n' "$r" "$p" "$pps" \
				"$(awk -v x="$pps" 'BEGIN{printf "%.1f", 1e9/x}')" >>"$RAW"
		fi
		if [ -n "$NDPI_BENCH" ]; then
			out=$(run "$NDPI_BENCH" -m until -p $passes "$f" 2>/dev/null)
			ns=$(echo "$out" | sed -n 's/^ns\/packet median \([0-9.]*\).*/\1/p')
			pps=$(echo "$out" | sed -n 's/.*=> \([0-9]*\) pkt\/s.*/\1/p')
			[ -n "$pps" ] && printf '%s\t%s\tndpi_bench\t%s\t%s\n' "$r" "$p" "$pps" "$ns" >>"$RAW"
		fi
	done
done

get() { # proto config column(4 pps, 5 ns) -> median over rounds
	awk -F'\t' -v p="$1" -v c="$2" -v k="$3" '$2==p && $3==c {print $k}' "$RAW" | median
}
ours=engine
[ $have_verdict = 1 ] && ours=policy
ratio() { # median over rounds of ours/ndpiReader within the round
	awk -F'\t' -v p="$1" -v o="$ours" '$2==p && $3==o {a[$1]=$4}
		$2==p && $3=="ndpiReader" {b[$1]=$4}
		END {for (r in a) if (r in b) printf "%.2f\n", a[r]/b[r]}' "$RAW" | median
}

echo "## Decision path (bench/dpi.sh, $(date +%F))"
echo
echo "Single core (taskset -c $CPU), capture in memory, $ROUNDS rounds interleaved, medians over"
echo "rounds; ours = decide mode \`$ours\`. Commit $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet 2>/dev/null || echo ' + work tree')."
echo
hdr="| capture | packets | engine pps / ns"
sep="|---|---|---"
if [ $have_verdict = 1 ]; then
	hdr="$hdr | decode pps / ns | policy pps / ns"
	sep="$sep|---|---"
fi
echo "$hdr | ndpiReader pps | ndpi_bench pps | ours / ndpiReader |"
echo "$sep|---|---|---|"
for p in $PROTOS; do
	f=${CAP[$p]:-}
	[ -n "$f" ] || continue
	row="| $p/$(basename "$f") | ${NPK[$p]}"
	for m in $modes; do
		row="$row | $(fmt_pps "$(get $p $m 4)") / $(get $p $m 5)"
	done
	row="$row | $(fmt_pps "$(get $p ndpiReader 4)") | $(fmt_pps "$(get $p ndpi_bench 4)") | $(ratio $p) |"
	echo "$row"
done
[ -z "$NDPIREADER" ] && echo && echo "ndpiReader not installed (Debian package libndpi-bin): column empty."
echo

# --- 2. memory ---------------------------------------------------------------
MEM=$OUT/flowmem.log
: >"$MEM"
echo "## Memory at N concurrent flows (bench/flowmem)"
echo
echo "80 % TCP (handshake, one Modbus request and its response, final ACK), 20 % UDP (one DNP3"
echo "read); table sized to N (engine_conf.max_flows = N), other pools at their defaults."
echo "Peak = VmHWM of the whole process (ru_maxrss agrees within a page); per flow = RSS after the"
echo "flows minus RSS before engine_alloc, over N; alloc = heap bytes engine_alloc (+ verdict_alloc) took."
echo
echo "| flows | mode | peak RSS MiB | ru_maxrss MiB | RSS empty engine MiB | per flow B | alloc MiB | flows refused | state pool full | nDPI no slot |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in 10000 100000; do
	for m in $modes; do
		extra=
		[ $m = policy ] && extra="-P $top/bench/policies/flowmem.yaml"
		o=$(timeout "$BENCH_TIMEOUT" "$FLOWMEM" -m $m $extra -n $n 2>>"$OUT/err.log")
		{ echo "### n=$n mode=$m"; echo "$o"; } >>"$MEM"
		l() { echo "$o" | grep "^$1 " | head -1; }
		hwm=$(l peak | kv vmhwm_kb)
		maxrss=$(l peak | kv ru_maxrss_kb)
		before=$(l rss_kb | kv before)
		empty=$(l rss_kb | kv empty_engine)
		pf=$(l per_flow | kv rss_over_before)
		alloc=$(l heap_bytes | kv engine_alloc)
		full=$(l engine | kv flow_pool_full)
		sfull=$(l engine | kv state_pool_full)
		noslot=$(l ndpi | kv no_slot)
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$m" \
			"$(awk -v x="${hwm:-0}" 'BEGIN{printf "%.1f", x/1024}')" \
			"$(awk -v x="${maxrss:-0}" 'BEGIN{printf "%.1f", x/1024}')" \
			"$(awk -v x="${empty:-0}" -v b="${before:-0}" 'BEGIN{printf "%.1f", (x-b)/1024}')" \
			"${pf:--}" \
			"$(awk -v x="${alloc:-0}" 'BEGIN{printf "%.1f", x/1048576}')" \
			"${full:--}" "${sfull:--}" "${noslot:--}"
	done
done
echo
echo "Pools at 100 000 flows, each allocated on its own (mode \`${modes##* }\`):"
echo
echo "| pool | MiB | detail |"
echo "|---|---|---|"
grep -A20 "^### n=100000 mode=${modes##* }\$" "$MEM" | grep '^pool ' | while read -r _ name rest; do
	b=$(echo "$rest" | kv bytes)
	printf '| %s | %s | %s |\n' "$name" \
		"$(awk -v x="$b" 'BEGIN{printf "%.2f", x/1048576}')" \
		"$(echo "$rest" | sed 's/^bytes=[0-9]* ([0-9.]* MiB) *//')"
done
echo
echo "Bench runtime $(( $(date +%s) - start )) s; raw data in $OUT."
