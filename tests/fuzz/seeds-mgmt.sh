#!/bin/sh
exec "$top_srcdir/tests/fuzz/run-seeds" fuzz_mgmt mgmt
