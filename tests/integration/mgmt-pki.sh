# shellcheck shell=bash
# tests/integration/mgmt-pki.sh: a throwaway PKI for the TLS management
# endpoint and the helpers the t-mgmt-*.sh scenarios share (sourced after
# lib.sh). Test material only: never deploy it.
#
#   mgmt_pki DIR USER...   makes in DIR:
#     ca.pem ca.key            the endpoint's CA (server and client certs)
#     server.pem server.key    the gateway: CN gw.mgmt.test, SAN the lab's
#                              management addresses; serverAuth
#     USER.pem USER.key        client certificate CN=USER from ca; clientAuth
#     rogue-USER.pem .key      CN=USER from another CA (its key deleted)
#     expired-USER.pem .key    CN=USER from ca, valid only on 2020-01-01
#
# Keys are EC P-256; certificates 0644, keys 0600 (the daemon reads its
# key as root, before the privilege drop).

mgmt_pki_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

mgmt_pki_ca() { # NAME CN
	mgmt_pki_key "$1.key" &&
		openssl req -x509 -new -key "$1.key" -sha256 -days 30 \
			-subj "/O=conduitd test/CN=$2" \
			-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-addext "subjectKeyIdentifier=hash" -out "$1.pem" 2>/dev/null
}

mgmt_pki_ext() { # NAME SAN EKU
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=$3" "subjectAltName=$2" \
		"subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$1.ext"
}

mgmt_pki_leaf() { # NAME CN SAN EKU CA
	mgmt_pki_key "$1.key" &&
		openssl req -new -key "$1.key" -subj "/O=conduitd test/CN=$2" -out "$1.csr" &&
		mgmt_pki_ext "$1" "$3" "$4" &&
		openssl x509 -req -in "$1.csr" -CA "$5.pem" -CAkey "$5.key" \
			-CAcreateserial -sha256 -days 30 -extfile "$1.ext" \
			-out "$1.pem" 2>/dev/null || return 1
	rm -f "$1.csr" "$1.ext"
}

# openssl x509 -req (3.0) cannot back-date; openssl ca can.
mgmt_pki_expired() { # NAME CN SAN EKU CA
	mgmt_pki_key "$1.key" &&
		openssl req -new -key "$1.key" -subj "/O=conduitd test/CN=$2" -out "$1.csr" &&
		mgmt_pki_ext "$1" "$3" "$4" || return 1
	mkdir -p ca.db
	: >ca.db/index.txt
	echo 1000 >ca.db/serial
	cat >ca.db/ca.cnf <<-CNF
		[ ca ]
		default_ca = test
		[ test ]
		database = ca.db/index.txt
		serial = ca.db/serial
		new_certs_dir = ca.db
		default_md = sha256
		policy = anything
		unique_subject = no
		[ anything ]
		commonName = supplied
		organizationName = optional
	CNF
	openssl ca -batch -notext -config ca.db/ca.cnf -cert "$5.pem" \
		-keyfile "$5.key" -startdate 20200101000000Z \
		-enddate 20200102000000Z -extfile "$1.ext" -in "$1.csr" \
		-out "$1.pem" 2>/dev/null || return 1
	rm -rf ca.db "$1.csr" "$1.ext"
}

mgmt_pki() { # DIR USER...
	local dir=$1 u
	shift
	mkdir -p "$dir" || return 1
	(
		cd "$dir" || exit 1
		umask 077
		mgmt_pki_ca ca "conduitd test management CA" || exit 1
		mgmt_pki_ca rogue-ca "conduitd test rogue CA" || exit 1
		mgmt_pki_leaf server gw.mgmt.test \
			"DNS:gw.mgmt.test,IP:$LAB_GW_CTL4,IP:$LAB_GW_CTL6,IP:$LAB_GW_ENT4" \
			serverAuth ca || exit 1
		for u in "$@"; do
			mgmt_pki_leaf "$u" "$u" "DNS:$u.users.test" clientAuth ca || exit 1
			mgmt_pki_leaf "rogue-$u" "$u" "DNS:$u.users.test" clientAuth rogue-ca || exit 1
			mgmt_pki_expired "expired-$u" "$u" "DNS:$u.users.test" clientAuth ca || exit 1
		done
		rm -f ./*.srl rogue-ca.key
		chmod 644 ./*.pem
		chmod 600 ./*.key
		openssl verify -CAfile ca.pem server.pem >/dev/null || exit 1
		for u in "$@"; do
			openssl verify -CAfile ca.pem "$u.pem" >/dev/null || exit 1
			if openssl verify -CAfile ca.pem "rogue-$u.pem" >/dev/null 2>&1; then
				echo "mgmt_pki: rogue-$u.pem verifies against ca.pem" >&2
				exit 1
			fi
		done
	)
}

# ----------------------------------------------------------------- helpers --
# The daemon's hash cost in every t-mgmt scenario is 1 (password-cost 1):
# yescrypt at the default cost 5 under ASan makes each login and each
# password change take seconds; the cost does not change what is tested.

MC=$IT_HERE/mgmt-client.py
MGMT_PORT=8443
MPKI=
MGMT_TLS_CONF=()
declare -A TOTP_SECRET TOTP_LAST

# mgmt_pki_setup USER...: the PKI in $IT_TMP/mpki (MPKI) and the conf lines of a
# TLS endpoint on the gateway's control-zone address in MGMT_TLS_CONF.
mgmt_pki_setup() {
	MPKI=$IT_TMP/mpki
	mgmt_pki "$MPKI" "$@" >"$IT_TMP/mpki.log" 2>&1 ||
		{ tail -n 5 "$IT_TMP/mpki.log"; it_bail "a throwaway PKI for the TLS endpoint"; }
	MGMT_TLS_CONF=("management-listen $LAB_GW_CTL4" "management-tls-cert $MPKI/server.pem"
		"management-tls-key $MPKI/server.key" "management-tls-client-ca $MPKI/ca.pem"
		"password-cost 1")
}

# pw_write FILE LINE...: a secrets file, owner-only.
pw_write() {
	local f=$1
	shift
	(umask 077 && printf '%s\n' "$@" >"$f")
}

# expect_rc RC [REGEX] -- CMD...: CMD exits RC and (when REGEX is not "")
# its output (stdout and stderr) matches the extended REGEX.
expect_rc() {
	local want=$1 re=$2 out rc
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | tail -n 12
	echo "exit status $rc (want $want${re:+, output matching /$re/})"
	[ "$rc" -eq "$want" ] || return 1
	[ -z "$re" ] || grep -qE -- "$re" <<<"$out"
}

# user_add NAME ROLE PASSWORD [UNIXUSER]: conduitctl user add as root (the
# lab's admin). When conduitctl cannot add it, the request goes through the
# protocol client (and a diagnostic says so): the scenario's own check of
# `conduitctl user add` is what fails then, not every check after it.
USER_ADD_FALLBACKS=0
user_add() {
	local f=$IT_TMP/new-$1.pw out args
	pw_write "$f" "$3"
	out=$(lab_ctl user add "$1" --role "$2" --password-file "$f" ${4:+--unix "$4"} 2>&1) &&
		return 0
	it_diag "conduitctl user add $1 --role $2${4:+ --unix $4}: $out (adding through mgmt-client.py)"
	USER_ADD_FALLBACKS=$((USER_ADD_FALLBACKS + 1))
	args=$(jq -cn --arg n "$1" --arg r "$2" --arg p "$3" --arg u "${4:-}" \
		'{name: $n, role: $r, password: $p} + (if $u != "" then {unix: $u} else {} end)')
	/usr/bin/python3 "$MC" --unix "$LAB_SOCK" call "{\"cmd\":\"user.add\",\"args\":$args}" |
		jq -e '.ok == true' >/dev/null
}

# enroll NAME: a TOTP secret for NAME (conduitctl user totp-enroll).
enroll() {
	local j
	j=$(lab_ctl --json user totp-enroll "$1") || { echo "$j"; return 1; }
	TOTP_SECRET[$1]=$(jq -r '.secret // empty' <<<"$j")
	unset "TOTP_LAST[$1]"
	[ -n "${TOTP_SECRET[$1]}" ]
}

# code_for NAME: a TOTP code for NAME in CODE (oathtool, an independent
# implementation). The daemon accepts the steps now-1, now and now+1, each
# once per user (replay guard): the lowest unused one is taken, and when
# all three are used up the helper waits for the next step.
CODE=
code_for() {
	local u=$1 now s last
	now=$(date +%s)
	last=${TOTP_LAST[$u]:--1}
	s=$((now / 30 - 1))
	# a now-1 code would turn into now-2 within the next seconds
	[ $((now % 30)) -ge 25 ] && s=$((now / 30))
	[ "$s" -le "$last" ] && s=$((last + 1))
	while [ "$s" -gt $(($(date +%s) / 30 + 1)) ]; do sleep 1; done
	CODE=$(oathtool --totp -b -N "@$((s * 30))" "${TOTP_SECRET[$u]}")
	TOTP_LAST[$u]=$s
}

# code_peek NAME: a code of the current step in CODE that code_for does
# not count as used (for deliberately wrong codes derived from it).
code_peek() { CODE=$(oathtool --totp -b "${TOTP_SECRET[$1]}"); }

# login_file NAME PASSWORD: $IT_TMP/NAME.login with the password and a
# fresh TOTP code (in LOGIN_FILE).
LOGIN_FILE=
login_file() {
	code_for "$1"
	LOGIN_FILE=$IT_TMP/$1.login
	pw_write "$LOGIN_FILE" "$2" "$CODE"
}

# rctl USER SECRETS_FILE ARGS...: conduitctl --remote from the ctl host.
rctl() {
	local u=$1 f=$2
	shift 2
	lab_exec ctl "$CONDUITCTL" --remote "$LAB_GW_CTL4:$MGMT_PORT" --user "$u" \
		--ca "$MPKI/ca.pem" --password-file "$f" "$@"
}
# rctl_cert CERTNAME USER SECRETS_FILE ARGS...: the same with a client
# certificate ($MPKI/CERTNAME.pem and .key).
rctl_cert() {
	local c=$1 u=$2 f=$3
	shift 3
	lab_exec ctl "$CONDUITCTL" --remote "$LAB_GW_CTL4:$MGMT_PORT" --user "$u" \
		--ca "$MPKI/ca.pem" --cert "$MPKI/$c.pem" --key "$MPKI/$c.key" \
		--password-file "$f" "$@"
}
# mc_tls [--src ADDR] [--cert NAME] ARGS...: the protocol client against
# the endpoint from the ctl host (with $MPKI/NAME.pem as client certificate).
mc_tls() {
	local o=()
	while [ $# -gt 0 ]; do
		case $1 in
		--src) o+=(--src "$2"); shift 2 ;;
		--cert) o+=(--cert "$MPKI/$2.pem" --key "$MPKI/$2.key"); shift 2 ;;
		*) break ;;
		esac
	done
	lab_exec ctl /usr/bin/python3 "$MC" --tls "$LAB_GW_CTL4" "$MGMT_PORT" --ca "$MPKI/ca.pem" "${o[@]}" "$@"
}

# --- long-lived remote shells ----------------------------------------------
# rshell_open NAME USER SECRETS_FILE [CONDUITCTL OPTIONS...]: `conduitctl
# --remote` without a command (its shell) from the ctl host, reading
# commands from a fifo; output in $IT_TMP/sh-NAME.out, exit status in
# $IT_TMP/sh-NAME.rc when it ends.
rshell_open() {
	local n=$1 u=$2 f=$3 fifo=$IT_TMP/sh-$1.in fd
	shift 3
	rm -f "$fifo" "$IT_TMP/sh-$n.rc"
	mkfifo "$fifo"
	exec {fd}<>"$fifo"
	eval "RSH_FD_$n=$fd"
	RSH_ALL_FDS="$RSH_ALL_FDS $fd"
	(
		rshell_close_fds
		lab_exec ctl "$CONDUITCTL" --remote "$LAB_GW_CTL4:$MGMT_PORT" --user "$u" \
			--ca "$MPKI/ca.pem" --password-file "$f" "$@" <"$fifo" \
			>"$IT_TMP/sh-$n.out" 2>&1
		echo $? >"$IT_TMP/sh-$n.rc"
	) &
	echo $! >>"$LAB_DIR/pids"
	eval "RSH_PID_$n=$!"
}
# background jobs must not hold the write ends of the shells' fifos (or
# closing ours would never give a shell its end of input)
RSH_ALL_FDS=
rshell_close_fds() {
	local fd
	for fd in $RSH_ALL_FDS; do eval "exec $fd>&-"; done
}
rshell_send() {
	local fdv="RSH_FD_$1"
	echo "$2" >&"${!fdv}"
}
# rshell_wait_out NAME REGEX [SECONDS=10]: the shell printed REGEX.
rshell_wait_out() {
	local i
	for i in $(seq $((${3:-10} * 10))); do
		grep -qE -- "$2" "$IT_TMP/sh-$1.out" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "no /$2/ in the output of shell $1:"
	tail -n 5 "$IT_TMP/sh-$1.out"
	return 1
}
# rshell_ended NAME RC [SECONDS=10]: the shell exited with status RC.
rshell_ended() {
	local i
	for i in $(seq $((${3:-10} * 10))); do
		if [ -s "$IT_TMP/sh-$1.rc" ]; then
			echo "shell $1 exited $(cat "$IT_TMP/sh-$1.rc") (want $2); output:"
			tail -n 5 "$IT_TMP/sh-$1.out"
			[ "$(cat "$IT_TMP/sh-$1.rc")" = "$2" ]
			return
		fi
		sleep 0.1
	done
	echo "shell $1 still running after ${3:-10} s"
	return 1
}
rshell_close() {
	local fdv="RSH_FD_$1" pv="RSH_PID_$1"
	if [ -n "${!fdv:-}" ]; then
		eval "exec ${!fdv}>&-"
		RSH_ALL_FDS=${RSH_ALL_FDS/ ${!fdv}/}
	fi
	[ -n "${!pv:-}" ] && wait_dead "${!pv}" 5
	eval "RSH_FD_$1= RSH_PID_$1="
	return 0
}
