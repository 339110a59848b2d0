#!/bin/sh
exec "$top_srcdir/tests/fuzz/run-seeds" fuzz_rfc5424 rfc5424
