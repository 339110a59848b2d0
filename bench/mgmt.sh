#!/usr/bin/env bash
# bench/mgmt.sh: the management-plane benchmark of issue 7 (FR1, FR2).
#
#   bench/mgmt.sh [ROUNDS=3]
#
# conduitd runs in the lab's gateway namespace (scripts/lab) with the TLS
# endpoint on 198.18.30.1:8443 (the management zone, ctl0) and a client
# CA; every client (bench/mgmt_drive) runs in the ctl namespace (the
# management zone). Users are created through the daemon with
# `conduitctl user add` (control socket, root = the lab's local admin),
# TOTP secrets with `conduitctl user totp-enroll`; the driver computes the
# codes itself (src/mgmt/totp.h). Throwaway PKI: tests/integration/
# mgmt-pki.sh (a client certificate CN=user per user).
#
#   login   connect + TLS handshake + hello + auth.login, median and p95 of
#           NLOGIN logins per yescrypt cost (COSTS) per round, with a
#           client certificate + password (no TOTP: no 30 s replay step);
#           cost 5 also with password + TOTP (one user per login and
#           step). The hash cost of a user is the password-cost of the
#           daemon that hashed its password: one short-lived daemon per
#           cost creates user bc<cost>, then one daemon (password-cost 5,
#           the default) serves them all. × cost 5 = ratio to cost 5 of the
#           same round. VmHWM/VmRSS of the daemon before and after 20
#           logins at cost 5 (the first logins after the start).
#   hash    bench/login_cost: auth_hash/auth_verify in a fresh process per
#           cost: verify time, peak RSS growth, yescrypt N and r.
#   cmds    CMDS requests (status, hello) on one session for T s, on the
#           local Unix socket and on the TLS endpoint (one request in
#           flight), rounds interleaved; × local = TLS / local.
#   session daemon VmRSS with 0 and with NSESS (30) authenticated TLS
#           sessions (8 users x 4, the per-user cap, from 10 sources);
#           per session = delta / NSESS; each round on a freshly restarted
#           daemon after one login.
#   flood   NFLOOD (1000) plain TCP connections that never send a byte
#           (half-open for the endpoint), reopened when closed, at most
#           FLOOD_RATE (500) new connections/s, from one source address
#           (198.18.30.100) or ten (.100-.109, added to ctl's eth0); while
#           it holds, NADMIN logins of an admin (certificate + password,
#           from 198.18.30.10): latency against the same logins without a
#           flood in the same round (× none), and what the endpoint did
#           (status.management.endpoint deltas: accepted, refused by the
#           per-source cap / the global cap, evicted, handshake
#           timeouts; clients held while the admin logged in).
#
# Environment: NLOGIN (20), COSTS ("1 2 3 4 5 6 7"), T (5 s), CMDS
# ("status hello"), NSESS (30), NFLOOD (1000), FLOOD_RATE (500), NADMIN
# (20), HASHN (20 verifications per cost and round in login_cost), OUT
# (raw data, default a temp dir), BENCH_MAX (s, default 900: no new round
# after it), CONDUITD/CONDUITCTL (default: a non-sanitizer -O2 build in
# BB=/tmp/conduit-mbench, built if missing; never a sanitizer build).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-3}
NLOGIN=${NLOGIN:-20}
COSTS=${COSTS:-"1 2 3 4 5 6 7"}
T=${T:-5}
CMDS=${CMDS:-"status hello"}
NSESS=${NSESS:-30}
NFLOOD=${NFLOOD:-1000}
FLOOD_RATE=${FLOOD_RATE:-500}
NADMIN=${NADMIN:-20}
HASHN=${HASHN:-20}
BENCH_MAX=${BENCH_MAX:-900}
[ "$(id -u)" -eq 0 ] || { echo "bench/mgmt.sh: must run as root" >&2; exit 1; }
case " $COSTS " in *" 5 "*) ;; *) COSTS="$COSTS 5" ;; esac

BB=${BB:-/tmp/conduit-mbench}
if [ -z "${CONDUITD:-}" ]; then
	mkdir -p "$BB"
	if [ ! -x "$BB/config.status" ]; then
		echo "building a non-sanitizer conduitd in $BB"
		[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) >/dev/null 2>&1
		(cd "$BB" && "$top/configure" -q CFLAGS=-O2) >"$BB/bench-build.log" 2>&1 ||
			{ echo "configure failed: $BB/bench-build.log" >&2; exit 1; }
	fi
	make -C "$BB" -s -j2 conduitd conduitctl libconduit.a >>"$BB/bench-build.log" 2>&1 ||
		{ echo "build failed: $BB/bench-build.log" >&2; exit 1; }
	export CONDUITD=$BB/conduitd CONDUITCTL=$BB/conduitctl
fi
grep -qE "^(SAN_)?CFLAGS = .*-fsanitize=" "$BB/Makefile" 2>/dev/null &&
	{ echo "bench/mgmt.sh: $BB is a sanitizer build" >&2; exit 1; }
OUT=${OUT:-$(mktemp -d /tmp/conduitd-mgmt.XXXXXX)}
mkdir -p "$OUT"
chmod 0755 "$OUT"
LIBS=$(pkg-config --libs jansson openssl libxcrypt)
for d in mgmt_drive login_cost; do
	# shellcheck disable=SC2086
	gcc -O2 -Wall -I"$BB" -I"$top/src" -o "$OUT/$d" "$top/bench/$d.c" \
		"$BB/libconduit.a" $LIBS ||
		{ echo "cannot build bench/$d.c against $BB/libconduit.a" >&2; exit 1; }
done

. "$top/scripts/lab"
IT_HERE=$top/tests/integration # mgmt-pki.sh names its directory
. "$top/tests/integration/mgmt-pki.sh"
LAB_WAIT=30
P=m$(lab_prefix)
P=${P:0:10}
FLOOD_PID=
HOLD_PID=
cleanup() {
	[ -n "$FLOOD_PID" ] && lab_kill_pid "$FLOOD_PID"
	[ -n "$HOLD_PID" ] && lab_kill_pid "$HOLD_PID"
	lab_down "$P"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lab_up "$P" || { echo "lab_up failed" >&2; exit 1; }
GW=$LAB_GW_CTL4
PORT=8443
ADMIN_SRC=$LAB_PLC4
SRC1=198.18.30.100
SRC10=$(seq -s, -f '198.18.30.%g' 100 109)
for i in $(seq 100 109); do
	ip -n "$P-ctl" addr add "198.18.30.$i/24" dev eth0 || exit 1
done
PKI=$OUT/pki
HOLD_USERS="bs1 bs2 bs3 bs4 bs5 bs6 bs7 bs8"
CUSERS=
for c in $COSTS; do CUSERS="$CUSERS bc$c"; done
# shellcheck disable=SC2086
mgmt_pki "$PKI" badmin $CUSERS $HOLD_USERS || { echo "mgmt_pki failed" >&2; exit 1; }
PW=Bench-mgmt-Pass-2026
PWF=$OUT/password
printf '%s\n' "$PW" >"$PWF"
chmod 0600 "$PWF"
conf=(
	"management-port $PORT"
	"management-listen $GW"
	"management-tls-cert $PKI/server.pem"
	"management-tls-key $PKI/server.key"
	"management-tls-client-ca $PKI/ca.pem"
	"session-max 32"
)
start() { # COST [CONF_LINE...]
	local c=$1
	shift
	lab_conduitd_start "$P" "$top/policy/examples/plant.yaml" "${conf[@]}" \
		"password-cost $c" "$@" >>"$OUT/lab.log" 2>&1 ||
		{ echo "conduitd start (password-cost $c) failed; $OUT/lab.log" >&2; tail -5 "$OUT/lab.log" >&2; exit 1; }
	LAB_USERS_KEEP=1
}
add_user() { # NAME ROLE
	lab_ctl user add "$1" --role "$2" --password-file "$PWF" >>"$OUT/users.log" 2>&1 ||
		{ echo "user add $1 failed:" >&2; tail -3 "$OUT/users.log" >&2; exit 1; }
}
# --- users: one daemon per cost hashes bc<cost>'s password -------------------
t_start=$(date +%s)
NTOTP=$NLOGIN
: >"$OUT/u-totp"
for c in $COSTS; do
	start "$c"
	add_user "bc$c" viewer
	echo "bc$c $PW - $PKI/bc$c.pem $PKI/bc$c.key" >"$OUT/u-c$c"
	if [ "$c" = 5 ]; then
		add_user badmin admin
		echo "badmin $PW - $PKI/badmin.pem $PKI/badmin.key" >"$OUT/u-admin"
		: >"$OUT/u-hold"
		for u in $HOLD_USERS; do
			add_user "$u" viewer
			echo "$u $PW - $PKI/$u.pem $PKI/$u.key" >>"$OUT/u-hold"
		done
		for i in $(seq "$NTOTP"); do
			add_user "bt$i" viewer
			s=$(lab_ctl --json user totp-enroll "bt$i" | jq -r '.secret // .result.secret // empty')
			[ -n "$s" ] || { echo "totp-enroll bt$i: no secret in the answer" >&2; exit 1; }
			echo "bt$i $PW $s - -" >>"$OUT/u-totp"
		done
	fi
	lab_conduitd_stop TERM
done
chmod 0644 "$OUT"/u-*
echo "users: $(grep -c . "$LAB_USERS") in $LAB_USERS (setup $(($(date +%s) - t_start)) s)"
start 5
DPID=$LAB_PID
grep -q '^Name:.*conduitd' "/proc/$DPID/status" ||
	{ echo "LAB_PID $DPID is not conduitd" >&2; exit 1; }
vm() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$DPID/status"; }
drive() { # MODE ARGS...: the driver in the management zone
	local m=$1
	shift
	lab_exec ctl "$OUT/mgmt_drive" "$m" -h "$GW" -p "$PORT" -C "$PKI/ca.pem" "$@"
}
endpoint() { lab_ctl --json status | jq -c '.management.endpoint // .result.management.endpoint // {}'; }
alive() {
	kill -0 "$DPID" 2>/dev/null && return 0
	echo "conduitd (pid $DPID) died; log tail:" >&2
	tail -20 "$LAB_LOG" >&2
	exit 1
}

RAW=$OUT/mgmt.tsv
printf 'round\tphase\tcfg\tvalue\tvalue2\tvalue3\tnote\n' >"$RAW"
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" | tee -a "$RAW"; }
sumval() { grep -oE "(^| )$1=[0-9.]+" <<<"$2" | head -1 | sed 's/.*=//'; }

# --- login: the daemon's memory over its first 20 logins --------------------
hwm0=$(vm VmHWM)
rss0=$(vm VmRSS)
r=$(drive login -U "$OUT/u-c5" -N 20 -s "$ADMIN_SRC" 2>&1 | tee "$OUT/login-first20.txt" | tail -1)
row 0 rss20 before "$hwm0" "$rss0" - "VmHWM VmRSS kB"
row 0 rss20 after "$(vm VmHWM)" "$(vm VmRSS)" - "$r"
alive

for round in $(seq "$ROUNDS"); do
	if [ $(($(date +%s) - t_start)) -gt "$BENCH_MAX" ]; then
		echo "BENCH_MAX ${BENCH_MAX}s reached; stopping before round $round"
		break
	fi
	# login latency per cost, and cost 5 with TOTP
	for c in $COSTS totp; do
		f=$OUT/u-c$c
		[ "$c" = totp ] && f=$OUT/u-totp
		out=$(drive login -U "$f" -N "$NLOGIN" -s "$ADMIN_SRC" 2>&1)
		echo "$out" | sed "s/^/$round\t$c\t/" >>"$OUT/login-raw.tsv"
		s=$(tail -1 <<<"$out")
		row "$round" login "$c" "$(sumval median_ms "$s")" "$(sumval p95_ms "$s")" \
			"$(sumval ok "$s")/$NLOGIN" "$s"
		alive
	done
	# commands/s, local vs TLS
	for cmd in $CMDS; do
		s=$("$OUT/mgmt_drive" cmds -x "$LAB_SOCK" -T "$T" -c "$cmd" 2>&1 | tail -1)
		row "$round" cmds "local-$cmd" "$(sumval rate "$s")" "$(sumval cmds "$s")" - "$s"
		s=$(drive cmds -U "$OUT/u-admin" -s "$ADMIN_SRC" -T "$T" -c "$cmd" 2>&1 | tail -1)
		row "$round" cmds "tls-$cmd" "$(sumval rate "$s")" "$(sumval cmds "$s")" - "$s"
		alive
	done
	# memory per session: a fresh daemon (a heap that served earlier
	# sessions reuses their memory) after one login (the hashing thread's
	# yescrypt memory is then counted in both figures)
	lab_conduitd_restart >>"$OUT/lab.log" 2>&1 || { echo "conduitd restart failed" >&2; exit 1; }
	DPID=$LAB_PID
	drive login -U "$OUT/u-hold" -N 1 -s "$ADMIN_SRC" >"$OUT/hold-warm-$round.txt" 2>&1
	sleep 0.5
	r0=$(vm VmRSS)
	fifo=$OUT/hold.in
	rm -f "$fifo"
	mkfifo "$fifo"
	exec {hfd}<>"$fifo"
	drive hold -U "$OUT/u-hold" -N "$NSESS" -s "$SRC10" -T 120 <"$fifo" >"$OUT/hold-$round.txt" 2>&1 {hfd}>&- &
	HOLD_PID=$!
	for i in $(seq 600); do
		grep -q '^held' "$OUT/hold-$round.txt" && break
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.1
	done
	sleep 0.5
	r1=$(vm VmRSS)
	act=$(lab_ctl --json status | jq -r '.management.sessions.active // .result.management.sessions.active // "?"')
	exec {hfd}>&-
	for i in $(seq 200); do
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.1
	done
	lab_kill_pid "$HOLD_PID"
	wait "$HOLD_PID" 2>/dev/null
	HOLD_PID=
	row "$round" session "$NSESS" "$r0" "$r1" "$act" "$(head -1 "$OUT/hold-$round.txt")"
	alive
	# flood
	# the three configs in a rotating order (round 1 none first, ...)
	cfgs=(none flood1 flood10)
	for k in 0 1 2; do
		cfg=${cfgs[$(((k + round - 1) % 3))]}
		e0=$(endpoint)
		during=-
		fl=-
		if [ "$cfg" != none ]; then
			src=$SRC1
			[ "$cfg" = flood10 ] && src=$SRC10
			ffile=$OUT/flood-$round-$cfg.txt
			rm -f "$fifo"
			mkfifo "$fifo"
			exec {ffd}<>"$fifo"
			lab_exec ctl "$OUT/mgmt_drive" flood -h "$GW" -p "$PORT" -N "$NFLOOD" \
				-r "$FLOOD_RATE" -s "$src" -T 120 <"$fifo" >"$ffile" 2>&1 {ffd}>&- &
			FLOOD_PID=$!
			for i in $(seq 300); do
				grep -q '^opened' "$ffile" && break
				kill -0 "$FLOOD_PID" 2>/dev/null || break
				sleep 0.1
			done
			sleep 2
			during=$(endpoint)
		fi
		out=$(drive login -U "$OUT/u-admin" -N "$NADMIN" -s "$ADMIN_SRC" 2>&1)
		echo "$out" | sed "s/^/$round\t$cfg\t/" >>"$OUT/flood-login-raw.tsv"
		s=$(tail -1 <<<"$out")
		if [ "$cfg" != none ]; then
			during="$during $(endpoint)"
			exec {ffd}>&-
			for i in $(seq 50); do
				kill -0 "$FLOOD_PID" 2>/dev/null || break
				sleep 0.1
			done
			lab_kill_pid "$FLOOD_PID"
			wait "$FLOOD_PID" 2>/dev/null
			FLOOD_PID=
			fl=$(grep '^flood ' "$ffile" | tail -1)
			# the endpoint lets go of the rest (handshake timeout)
			sleep 1
		fi
		e1=$(endpoint)
		row "$round" flood "$cfg" "$(sumval median_ms "$s")" "$(sumval p95_ms "$s")" \
			"$(sumval ok "$s")/$NADMIN" "$s | client: $fl | endpoint before: $e0 during(start,end): $during after: $e1"
		alive
	done
done
# --- hash cost alone ------------------------------------------------------------
# shellcheck disable=SC2086
"$OUT/login_cost" "$ROUNDS" "$HASHN" $COSTS >"$OUT/login_cost.tsv" 2>"$OUT/login_cost.err" ||
	echo "login_cost failed: $(cat "$OUT/login_cost.err")" >&2
runtime=$(($(date +%s) - t_start))
load=$(cut -d' ' -f1-3 /proc/loadavg)
alive
lab_conduitd_stop TERM

/usr/bin/python3 - "$OUT" "$runtime" "$load" "$NFLOOD" "$FLOOD_RATE" "$NSESS" <<'EOF'
import csv, json, os, re, statistics, sys
out, runtime, load = sys.argv[1], int(sys.argv[2]), sys.argv[3]
nflood, rate, nsess = sys.argv[4], sys.argv[5], int(sys.argv[6])
rows = list(csv.DictReader(open(os.path.join(out, "mgmt.tsv")), delimiter="\t"))
def num(v):
    try: return float(v)
    except (TypeError, ValueError): return None
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None
def f(v, fmt="%.1f"):
    return "ERR" if v is None else fmt % v
def sel(phase, cfg=None):
    return [r for r in rows if r["phase"] == phase and (cfg is None or r["cfg"] == cfg)]
def ratio(phase, cfg, base, key="value"):
    r = []
    for x in sel(phase, cfg):
        b = [y for y in sel(phase, base) if y["round"] == x["round"]]
        if b and num(b[0][key]) and num(x[key]) is not None:
            r.append(num(x[key]) / num(b[0][key]))
    return med(r)
def oks(rs):
    a = b = 0
    for r in rs:
        m = re.match(r"(\d+)/(\d+)", r["value3"])
        if m: a += int(m.group(1)); b += int(m.group(2))
    return "%d/%d" % (a, b)

hc = {}
p = os.path.join(out, "login_cost.tsv")
if os.path.exists(p):
    for r in csv.DictReader(open(p), delimiter="\t"):
        hc.setdefault(r["cost"], []).append(r)
parts = {}
p = os.path.join(out, "login-raw.tsv")
if os.path.exists(p):
    for line in open(p):
        x = line.rstrip("\n").split("\t")
        if len(x) == 11 and x[2] == "login" and x[10] == "ok":
            parts.setdefault(x[1], []).append([float(v) for v in x[6:10]])
def part(c, i):
    return med([v[i] for v in parts.get(c, [])])
print("\n| yescrypt cost | N | r | nominal MiB (128·r·N) | login median ms | p95 ms | × cost 5 | of it: TLS handshake ms | auth.login ms | logins ok | verify alone median ms | × cost 5 | verify peak RSS growth MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
costs = sorted({r["cfg"] for r in sel("login")} - {"totp"}, key=int)
vb = med([num(x["verify_ms_median"]) for x in hc.get("5", [])])
for c in costs + ["totp"]:
    rs = sel("login", c)
    h = hc.get(c if c != "totp" else "5", [])
    v = med([num(x["verify_ms_median"]) for x in h])
    label = c if c != "totp" else "5, password + TOTP"
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        label, h[0]["N"] if h else "-", h[0]["r"] if h else "-",
        f(num(h[0]["nominal_kib"]) / 1024, "%.0f") if h else "-",
        f(med([num(r["value"]) for r in rs])), f(med([num(r["value2"]) for r in rs])),
        f(ratio("login", c, "5"), "%.2f"), f(part(c, 1)), f(part(c, 3)), oks(rs),
        f(v) if c != "totp" else "-", f(v / vb if v and vb else None, "%.2f") if c != "totp" else "-",
        f(med([num(x["maxrss_delta_kib"]) / 1024 for x in h])) if c != "totp" else "-"))
b, a = sel("rss20", "before"), sel("rss20", "after")
if b and a:
    print("\nconduitd over its first 20 logins (cost 5): VmHWM %s → %s MiB, VmRSS %s → %s MiB" % (
        f(num(b[0]["value"]) / 1024), f(num(a[0]["value"]) / 1024),
        f(num(b[0]["value2"]) / 1024), f(num(a[0]["value2"]) / 1024)))

print("\n| command | local socket req/s | TLS endpoint req/s | × local (TLS / local) | rounds |")
print("|---|---|---|---|---|")
for cmd in sorted({r["cfg"].split("-", 1)[1] for r in sel("cmds")}, key=lambda x: x != "status"):
    l, t = sel("cmds", "local-" + cmd), sel("cmds", "tls-" + cmd)
    print("| %s | %s | %s | %s | %d |" % (cmd, f(med([num(r["value"]) for r in l]), "%.0f"),
          f(med([num(r["value"]) for r in t]), "%.0f"), f(ratio("cmds", "tls-" + cmd, "local-" + cmd), "%.2f"), len(t)))

ss = sel("session")
if ss:
    print("\n| sessions | VmRSS 0 sessions MiB | VmRSS with them MiB | per session KiB | active sessions seen (incl. the local status query) | rounds |")
    print("|---|---|---|---|---|---|")
    print("| %d TLS (8 users × ≤ 4, 10 sources) | %s | %s | %s | %s | %d |" % (nsess,
          f(med([num(r["value"]) / 1024 for r in ss])), f(med([num(r["value2"]) / 1024 for r in ss])),
          f(med([(num(r["value2"]) - num(r["value"])) / nsess for r in ss])),
          ",".join(r["value3"] for r in ss), len(ss)))

def ep(text, which):
    """endpoint JSON objects in a note"""
    return [json.loads(m) for m in re.findall(r"\{[^{}]*\}", text)]
print("\n| flood (%s half-open TCP, ≤ %s new/s, reopened) | admin login median ms | p95 ms | × none | admin logins ok | held by the endpoint while the admin logged in (tls clients / unauth) | refused per-source | refused cap | evicted | handshake timeouts | accepted | client: closed < 200 ms / later |" % (nflood, rate))
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for cfg, label in (("none", "none"), ("flood1", "1 source"), ("flood10", "10 sources")):
    rs = sel("flood", cfg)
    if not rs: continue
    held, d = [], {k: [] for k in ("refused_source", "refused_cap", "evicted", "tls_handshake_timeout", "tls_accepted")}
    cl = []
    for r in rs:
        note = r["note"]
        objs = ep(note, None)
        if len(objs) >= 2:
            for k in d:
                d[k].append(objs[-1].get(k, 0) - objs[0].get(k, 0))
        for o in objs[1:-1]:
            held.append("%s/%s" % (o.get("tls_clients", "?"), o.get("tls_unauthenticated", "?")))
        m = re.search(r"closed_fast=(\d+) closed_slow=(\d+)", note)
        if m: cl.append("%s/%s" % m.groups())
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (label,
          f(med([num(r["value"]) for r in rs])), f(med([num(r["value2"]) for r in rs])),
          f(ratio("flood", cfg, "none"), "%.2f"), oks(rs),
          ", ".join(held) if cfg != "none" else "-",
          *[f(med(d[k]), "%.0f") if d[k] and cfg != "none" else "-" for k in d],
          ", ".join(cl) if cl else "-"))
print("\nruntime %d s; load average at the end %s; raw data in %s" % (runtime, load, out))
EOF
