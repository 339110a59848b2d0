#!/bin/sh
exec "$top_srcdir/tests/fuzz/run-seeds" fuzz_s7comm s7comm
