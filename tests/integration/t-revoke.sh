#!/usr/bin/env bash
# t-revoke: an apply that removes a service cuts that service's established
# connections at the swap (the next bytes do not arrive), while established
# connections of unchanged services survive the same apply.
. "$(dirname "$0")/lib.sh"
it_setup
it_listeners
it_start

NO443=$IT_TMP/no443.yaml
policy_without_443 "$NO443" || it_bail "derive a policy without tcp 443 from $PLANT"
chmod 0644 "$NO443"

lab_session_open r4 ent "$LAB_HIST4" 443
lab_session_open r6 ent "$LAB_HIST6" 443
lab_session_open k4 ent "$LAB_HIST4" 8443
lab_session_open k6 ent "$LAB_HIST6" 5201
lab_session_open kc ctl "$LAB_HIST4" 5201
for s in r4 r6 k4 k6 kc; do
	check "session $s carries data before the apply" lab_session_roundtrip "$s"
done

check "policy apply without tcp 443 exits 0" lab_ctl policy apply "$NO443"

# tags: NDR 5.2 RE(1), CR 5.1
TAGS="NDR 5.2 RE(1), CR 5.1"
check "revoked: established tcp ent -> historian:443 (v4) cut at the apply" \
	it_not lab_session_roundtrip r4 3
# tags: NDR 5.2 RE(1), CR 5.1
TAGS="NDR 5.2 RE(1), CR 5.1"
check "revoked: established tcp ent -> historian:443 (v6) cut at the apply" \
	it_not lab_session_roundtrip r6 3
# tags: NDR 5.2 RE(1), CR 5.1
TAGS="NDR 5.2 RE(1), CR 5.1"
check "unchanged: established tcp ent -> historian:8443 survives the apply" lab_session_roundtrip k4
# tags: NDR 5.2 RE(1), CR 5.1
TAGS="NDR 5.2 RE(1), CR 5.1"
check "unchanged: established tcp6 ent -> historian:5201 survives the apply" lab_session_roundtrip k6
# tags: NDR 5.2 RE(1), CR 5.1
TAGS="NDR 5.2 RE(1), CR 5.1"
check "unchanged conduit: established tcp ctl -> historian:5201 survives the apply" lab_session_roundtrip kc
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "revoked: new tcp ent -> historian:443 dropped" tcp_blocked ent "$LAB_HIST4" 443
check "unchanged: new tcp ent -> historian:8443 passes" lab_tcp_echo_ok ent "$LAB_HIST4" 8443
# tags: NDR 5.2 RE(1)
TAGS="NDR 5.2 RE(1)"
check "revoked packets are logged (deny ... dst=historian:443)" \
	log_has "deny reason=(revoked|conduit) .*dst=198\.18\.20\.5:443( |$)"

# A second apply that changes nothing keeps every surviving connection.
check "re-apply of the same policy exits 0" lab_ctl policy apply "$NO443"
check "unchanged: tcp ent -> historian:8443 survives a no-op apply" lab_session_roundtrip k4
check "unchanged: tcp ctl -> historian:5201 survives a no-op apply" lab_session_roundtrip kc

# Re-allowing 443 lets new connections in again.
check "policy apply of plant.yaml again exits 0" lab_ctl policy apply "$PLANT"
check "re-allowed: new tcp ent -> historian:443 passes" lab_tcp_echo_ok ent "$LAB_HIST4" 443
check "after two applies: tcp ent -> historian:8443 session still alive" lab_session_roundtrip k4
for s in r4 r6 k4 k6 kc; do lab_session_close "$s"; done
it_done
