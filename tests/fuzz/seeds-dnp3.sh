#!/bin/sh
exec "$top_srcdir/tests/fuzz/run-seeds" fuzz_dnp3 dnp3
