#!/usr/bin/env bash
#
# test/bench/common.sh — sourced by the benchmarks after setting BENCH_NAME:
# the run length (their first argument, default 10 s), the PostgreSQL
# binaries, a work directory the server user owns, the report file
# test/bench/results/$BENCH_NAME.txt, as_pg to run a command as the
# server user ("postgres" when we are root), and start_local_server for the
# benchmarks that use one server, on $PORT with its socket in $WORK.
#
SECS=${1:-10}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BIN=${BINDIR:-$("$PG_CONFIG" --bindir)}
WORK=$(mktemp -d "/tmp/mantis-$BENCH_NAME.XXXXXX")
OUT="$HERE/results/$BENCH_NAME.txt"
mkdir -p "$HERE/results"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres: "$WORK"; fi

# start_local_server <postgresql.conf lines>: a new server in $WORK/data
# (any earlier one stopped and removed) preloading mantis, listening on
# the socket in $WORK only, with the extension created.
start_local_server() {
	as_pg "$BIN/pg_ctl" -D "$WORK/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$WORK/data"
	as_pg "$BIN/initdb" -D "$WORK/data" -A trust >/dev/null
	as_pg tee -a "$WORK/data/postgresql.conf" >/dev/null <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$WORK'
shared_preload_libraries = 'mantis'
$1
CONF
	as_pg "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/log" -w start >/dev/null
	as_pg "$BIN/psql" -X -q -h "$WORK" -p "$PORT" -d postgres -c "CREATE EXTENSION mantis"
}

# stop_local_server: the EXIT trap of those benchmarks
stop_local_server() {
	as_pg "$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
