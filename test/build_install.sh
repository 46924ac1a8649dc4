#!/usr/bin/env bash
#
# test/build_install.sh — build mantis warning-free against PG_CONFIG's
# PostgreSQL and install it there; run from test/run_all.sh, on this machine
# and in the root of each other PostgreSQL version (test/pg_root.sh).  On
# failure it prints the build's output and why, and exits 1.
#
set -u
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-pg_config}

make -s clean >/dev/null 2>&1
if ! make -s PG_CONFIG="$PG_CONFIG" >build.log 2>&1; then
	cat build.log; echo "the build against $("$PG_CONFIG" --version) failed"; exit 1
fi
if grep -q 'warning:' build.log; then
	cat build.log; echo "the build against $("$PG_CONFIG" --version) has warnings"; exit 1
fi
rm -f build.log
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null ||
	{ echo "make install against $("$PG_CONFIG" --version) failed"; exit 1; }
