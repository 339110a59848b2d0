#!/bin/sh
# gen-certs.sh OUTDIR [ec|rsa] -- throwaway PKI for the syslog-over-TLS tests
# (RFC 5425). Test material only: never deploy these keys.
#
#   ca.pem ca.key           the collector's and the gateway's trust anchor
#   server.pem server.key   the collector: CN syslog.test, SAN syslog.test,
#                           localhost, 127.0.0.1, ::1; serverAuth
#   client.pem client.key   the gateway: CN/SAN gateway01.test; clientAuth
#   badclient.pem .key      same CA, CN/SAN intruder.test (x509/name refuses)
#   rogue-ca.pem            an untrusted CA (its key is deleted)
#   rogue.pem rogue.key     CN gateway01.test, signed by rogue-ca
#   expired.pem .key        CN gateway01.test from ca, valid only in 2020
#
# Env: DAYS (validity, default 30).
set -eu
OUT=${1:?usage: gen-certs.sh OUTDIR [ec|rsa]}
KT=${2:-ec}
DAYS=${DAYS:-30}
case $KT in ec|rsa) ;; *) echo "gen-certs.sh: key type $KT: want ec or rsa" >&2; exit 2;; esac
mkdir -p "$OUT"
cd "$OUT"
umask 077

newkey() { # KEYFILE
	if [ "$KT" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
	else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
	fi
}

mkca() { # NAME CN
	newkey "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days "$DAYS" \
		-subj "/O=conduitd test/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" -out "$1.pem"
}

leafext() { # NAME SAN EKU
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=$3" "subjectAltName=$2" \
		"subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$1.ext"
}

mkleaf() { # NAME CN SAN EKU CA
	newkey "$1.key"
	openssl req -new -key "$1.key" -subj "/O=conduitd test/CN=$2" -out "$1.csr"
	leafext "$1" "$3" "$4"
	openssl x509 -req -in "$1.csr" -CA "$5.pem" -CAkey "$5.key" \
		-CAcreateserial -sha256 -days "$DAYS" -extfile "$1.ext" \
		-out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

# An expired leaf: `openssl x509 -req` (3.0) cannot back-date, `openssl ca`
# can (-startdate/-enddate), but wants its little database.
mkexpired() { # NAME CN SAN EKU CA
	newkey "$1.key"
	openssl req -new -key "$1.key" -subj "/O=conduitd test/CN=$2" -out "$1.csr"
	leafext "$1" "$3" "$4"
	mkdir -p ca.db
	: >ca.db/index.txt
	echo 1000 >ca.db/serial
	cat >ca.db/ca.cnf <<CNF
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
		-out "$1.pem" 2>/dev/null
	rm -rf ca.db "$1.csr" "$1.ext"
}

mkca ca "conduitd test syslog CA"
mkleaf server syslog.test "DNS:syslog.test,DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth ca
mkleaf client gateway01.test "DNS:gateway01.test" clientAuth ca
mkleaf badclient intruder.test "DNS:intruder.test" clientAuth ca
mkexpired expired gateway01.test "DNS:gateway01.test" clientAuth ca
mkca rogue-ca "conduitd test rogue CA"
mkleaf rogue gateway01.test "DNS:gateway01.test" clientAuth rogue-ca
rm -f ./*.srl rogue-ca.key
# Certificates world-readable, keys for the owner only (rsyslog runs as us).
chmod 644 ./*.pem
chmod 600 ./*.key
openssl verify -CAfile ca.pem server.pem client.pem badclient.pem >/dev/null
if openssl verify -CAfile ca.pem rogue.pem >/dev/null 2>&1; then
	echo "gen-certs.sh: rogue.pem verifies against ca.pem" >&2
	exit 1
fi
echo "test PKI ($KT) in $OUT"
