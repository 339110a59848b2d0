# shellcheck shell=bash
# tests/integration/lib.sh: TAP-style checks for the netns scenarios.
#
#   . "$(dirname "$0")/lib.sh"
#   it_setup                 # lab up, cleanup trap, binaries present
#   # tags: NDR 5.2 RE(1)
#   TAGS="NDR 5.2 RE(1)"
#   check "allowed tcp 443" lab_tcp_echo_ok ent "$LAB_HIST4" 443
#   it_done                  # prints the plan, exit status = any failure
#
# check prints "ok N - <scenario>: NAME" or "not ok N - ..." followed by
# "# " diagnostic lines, and appends "NAME<TAB>pass|fail<TAB>TAGS" to
# $RESULTS_DIR/integration.tsv when RESULTS_DIR is set. TAGS is read and then
# cleared by every check, so each tagged check says its tags right before it
# (keep the "# tags:" comment line too: it is for humans reading the file).

set -u
IT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lab
. "$IT_HERE/../../scripts/lab"

IT_NAME=$(basename "$0" .sh)
IT_NAME=${IT_NAME#t-}
IT_N=0
IT_FAILED=0
IT_T0=$(date +%s)
TAGS=
PLANT=${PLANT:-$LAB_TOP/policy/examples/plant.yaml}
IT_TMP=

# check NAME CMD...: run CMD (output captured), report the result.
check() {
	local name="$IT_NAME: $1" out rc t0 t1
	shift
	IT_N=$((IT_N + 1))
	out=$(mktemp "${IT_TMP:-/tmp}/check.XXXXXX")
	t0=$(date +%s.%N)
	"$@" >"$out" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	if [ "$rc" -eq 0 ]; then
		echo "ok $IT_N - $name"
		it_tsv "$name" pass
	else
		echo "not ok $IT_N - $name"
		echo "#   command: $* (rc=$rc, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s)"
		tail -n 8 "$out" | sed 's/^/#   /'
		IT_FAILED=$((IT_FAILED + 1))
		it_tsv "$name" fail
	fi
	rm -f "$out"
	TAGS=
	return 0
}

it_tsv() {
	[ -n "${RESULTS_DIR:-}" ] || return 0
	mkdir -p "$RESULTS_DIR"
	printf '%s\t%s\t%s\n' "$1" "$2" "${TAGS:-}" >>"$RESULTS_DIR/integration.tsv"
}

# it_not CMD...: succeeds when CMD fails (for "denied" checks).
it_not() { ! "$@"; }

it_diag() { echo "# $*"; }

# it_bail REASON: a precondition failed; count it as one failure and stop.
it_bail() {
	IT_N=$((IT_N + 1))
	echo "not ok $IT_N - $IT_NAME: $1"
	[ -n "${LAB_LOG:-}" ] && [ -f "$LAB_LOG" ] && tail -n 15 "$LAB_LOG" | sed 's/^/#   log: /'
	IT_FAILED=$((IT_FAILED + 1))
	it_tsv "$IT_NAME: $1" fail
	it_done
}

it_done() {
	echo "1..$IT_N"
	echo "# $IT_NAME: $((IT_N - IT_FAILED)) passed, $IT_FAILED failed, $(($(date +%s) - IT_T0)) s"
	[ "$IT_FAILED" -eq 0 ] && exit 0
	exit 1
}

it_cleanup() {
	[ -n "${IT_EXTRA_CLEANUP:-}" ] && eval "$IT_EXTRA_CLEANUP"
	if [ -n "${IT_KEEP_LOG:-}" ] && [ -n "${LAB_LOG:-}" ] && [ -f "$LAB_LOG" ]; then
		cp "$LAB_LOG" "$IT_KEEP_LOG" 2>/dev/null
	fi
	lab_down "$IT_PREFIX"
	[ -n "$IT_TMP" ] && rm -rf "$IT_TMP"
}

# it_setup: root, binaries, a fresh lab with a cleanup trap.
it_setup() {
	[ "$(id -u)" -eq 0 ] || { echo "Bail out! $IT_NAME must run as root"; exit 1; }
	IT_TMP=$(mktemp -d "/tmp/conduitd-it.$IT_NAME.XXXXXX")
	chmod 0755 "$IT_TMP"
	IT_PREFIX=$(lab_prefix)
	trap it_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ -n "${RESULTS_DIR:-}" ]; then
		mkdir -p "$RESULTS_DIR/integration"
		IT_KEEP_LOG=$RESULTS_DIR/integration/$IT_NAME.conduitd.log
	fi
	[ -x "$CONDUITD" ] || it_bail "conduitd binary at $CONDUITD"
	[ -x "$CONDUITCTL" ] || it_bail "conduitctl binary at $CONDUITCTL"
	[ -s "$PLANT" ] || it_bail "policy $PLANT present"
	lab_up "$IT_PREFIX" || it_bail "lab_up $IT_PREFIX"
}

# it_start [POLICY] [CONF_LINE...]: conduitd with POLICY (default plant.yaml).
it_start() {
	local pol=${1:-$PLANT}
	[ $# -gt 0 ] && shift
	lab_conduitd_start "$LAB_PREFIX" "$pol" "$@" || it_bail "conduitd starts and answers status"
}

# --- denied-flow helpers (each can fail: a listener exists behind them) -----
tcp_blocked() { it_not lab_tcp_ok "$@"; }
udp_blocked() { LAB_UDP_TRIES=1 it_not lab_udp_echo_ok "$@"; }
ping_blocked() { it_not lab_ping_ok "$@"; }

# --- daemon log ----------------------------------------------------------------
# log_has REGEX [SECONDS=3]: an extended regex appears in the daemon log.
log_has() {
	local i
	for i in $(seq $((${2:-3} * 10))); do
		grep -qE -- "$1" "$LAB_LOG" && return 0
		sleep 0.1
	done
	echo "no line matching /$1/ in $LAB_LOG; last lines:"
	tail -n 5 "$LAB_LOG"
	return 1
}
log_count() { grep -cE -- "$1" "$LAB_LOG"; }

# --- status and policy views ----------------------------------------------------
# status_sha: the sha256 the daemon reports for the running policy.
status_sha() {
	lab_ctl --json status 2>/dev/null |
		jq -r '[.. | objects | (.sha256? // .policy_sha256? // empty)] | first // empty' 2>/dev/null
}
file_sha() { sha256sum "$1" | cut -d' ' -f1; }
sha_is() {            # sha_is FILE: the daemon runs FILE's policy
	local want have
	want=$(file_sha "$1")
	have=$(status_sha)
	echo "daemon reports sha256 '$have', want '$want' ($1)"
	[ -n "$have" ] && [ "$have" = "$want" ]
}

# island_state: "on", "off" or "" from `conduitctl --json status`.
island_state() {
	lab_ctl --json status 2>/dev/null | jq -r '
		[.. | objects | .island? | select(. != null)] | first |
		if . == true or . == "on" then "on" elif . == false or . == "off" then "off"
		else empty end' 2>/dev/null
}
island_is() {
	local s
	s=$(island_state)
	echo "island state '$s', want '$1'"
	[ "$s" = "$1" ]
}

# conduit_counter CONDUIT accept|deny: packets counted for a conduit in
# `conduitctl --json policy show`.
conduit_counter() {
	lab_ctl --json policy show 2>/dev/null | jq -r --arg c "$1" --arg k "$2" '
		[.. | objects | select(.name? == $c) |
		 ((.counters // .)) as $o |
		 ($o[$k + "_packets"] // $o[$k].packets? // $o[$k + "ed_packets"] // empty)] |
		first // empty' 2>/dev/null
}

# --- policy variants (textual edits of plant.yaml) ------------------------------
# Tests derive their second policy from plant.yaml so that they follow it.
# policy_without_443 OUT: ops-to-historian loses tcp 443 (8443 and 5201 stay).
policy_without_443() {
	sed -E '/^[^#]*port/ s/\b443, *//' "$PLANT" >"$1"
	if cmp -s "$PLANT" "$1"; then
		echo "policy_without_443: could not find '443, ' in a port: line of $PLANT" >&2
		return 1
	fi
}

wait_dead() {         # wait_dead PID [SECONDS=5]
	local i
	for i in $(seq $((${2:-5} * 10))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# it_listeners: echo servers on every port the scenarios probe, so that a
# "denied" check can only pass because the firewall dropped the flow.
it_listeners() {
	local p
	for p in 443 8443 5201 22 502; do lab_tcp_listen dmz "$p" || it_bail "listener dmz tcp $p"; done
	for p in 20000 20010 20011 514; do lab_udp_listen dmz "$p" || it_bail "listener dmz udp $p"; done
	for p in 502 443 22 5201; do lab_tcp_listen ctl "$p" || it_bail "listener ctl tcp $p"; done
	for p in 20000 514; do lab_udp_listen ctl "$p" || it_bail "listener ctl udp $p"; done
	for p in 443 22 502; do lab_tcp_listen ent "$p" || it_bail "listener ent tcp $p"; done
	for p in 20000 514; do lab_udp_listen ent "$p" || it_bail "listener ent udp $p"; done
	lab_tcp_listen gw 22 || it_bail "listener gw tcp 22"
}
