#!/bin/sh
# Replay golden tests (tests/replay/golden.py): `conduitctl replay --policy`
# on real captures of ../shared/pcaps, verdicts checked against tshark and
# against the committed outputs in tests/replay/expected/. TAP on stdout.
# Run by `make check`; by hand:
#   tests/replay/run-golden.sh [--update] [CASE...]
# (conduitctl from $CONDUITCTL, else $top_builddir or $BUILD_DIR, else
# build-test/). Exit 77 (skip) only when the capture directory is missing.
#
# tags: NDR 5.2, CR 3.6, CR 7.1
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-${BUILD_DIR:-$top/build-test}}
pcaps=${PCAPS_DIR:-$top/../shared/pcaps}
ctl=${CONDUITCTL:-$build/conduitctl}

if [ ! -d "$pcaps" ]; then
	echo "1..0 # SKIP capture directory $pcaps not found (expected ../shared/pcaps next to the repository)"
	exit 77
fi
for t in tshark /usr/bin/python3; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "1..1"
		echo "not ok 1 - replay golden: $t not found (tshark is the oracle)"
		exit 1
	fi
done
if [ ! -x "$ctl" ]; then
	echo "1..1"
	echo "not ok 1 - replay golden: $ctl not found or not executable"
	exit 1
fi
exec /usr/bin/python3 "$top/tests/replay/golden.py" "$ctl" "$pcaps" \
	"$top/tests/replay" "$@"
