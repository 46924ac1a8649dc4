#!/usr/bin/env bash
#
# test/bench/common.sh — sourced by the benchmarks after setting BENCH_NAME:
# the run length (their first argument, default 10 s), the PostgreSQL
# binaries, a work directory the server user owns, the report file
# test/bench/results/$BENCH_NAME.txt, and as_pg to run a command as the
# server user ("postgres" when we are root).
#
SECS=${1:-10}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BIN=$("$PG_CONFIG" --bindir)
WORK=$(mktemp -d "/tmp/mantis-$BENCH_NAME.XXXXXX")
OUT="$HERE/results/$BENCH_NAME.txt"
mkdir -p "$HERE/results"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres: "$WORK"; fi
