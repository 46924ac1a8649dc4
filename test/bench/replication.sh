#!/usr/bin/env bash
#
# test/bench/replication.sh — replication measured on loopback:
#   * convergence latency: a set on n1 until readable on n2 (p50/p99), idle
#     and under a 4-client pgbench write load on n1 (test/bench/latency.c);
#   * replicated writes per second: 4 pgbench clients set random keys on n1
#     for a while; then how long until n2 holds exactly the same registers
#     (nothing lost), and n2's apply rate during the run;
#   * catch-up: the time for a new, empty node to hold all of n1's keys, at
#     100k and at 1M keys.
#
# Usage: bash test/bench/replication.sh [seconds per load run, default 10]
# Needs mantis installed (make install).  As root, servers run as "postgres".
# Writes a report to test/bench/results/replication.txt.
#
set -eu
BENCH_NAME=replication
source "$(dirname "$0")/common.sh"
BASE=${BENCH_PORT:-55600}


gcc -O2 -Wall -I"$("$PG_CONFIG" --includedir)" -o "$WORK/latency" "$HERE/latency.c" \
	-L"$("$PG_CONFIG" --libdir)" -lpq

port() { echo $((BASE + $1)); }
zmq() { echo $((BASE + 50 + $1)); }
psql_n() { local n=$1; shift; as_pg "$BIN/psql" -X -q -At -h "$WORK" -p "$(port "$n")" -d postgres "$@"; }
conninfo() { echo "host=$WORK port=$(port "$1") dbname=postgres user=postgres"; }

stop_node() { as_pg "$BIN/pg_ctl" -D "$WORK/n$1" -m immediate stop >/dev/null 2>&1 || true; }
cleanup() { for n in 1 2 3; do stop_node $n; done; rm -rf "$WORK"; }
trap cleanup EXIT

start_node() {	# start_node <n> <peers: list of node numbers>
	local n=$1 peers="" m
	shift
	for m in "$@"; do peers="$peers${peers:+,}tcp://127.0.0.1:$(zmq "$m")"; done
	stop_node "$n"
	rm -rf "$WORK/n$n"
	as_pg "$BIN/initdb" -D "$WORK/n$n" -A trust >/dev/null
	cat >>"$WORK/n$n/postgresql.conf" <<CONF
port = $(port "$n")
listen_addresses = ''
unix_socket_directories = '$WORK'
shared_buffers = 64MB
max_connections = 20
shared_preload_libraries = 'mantis'
mantis.node_name = 'n$n'
mantis.listen = 'tcp://127.0.0.1:$(zmq "$n")'
mantis.peers = '$peers'
mantis.max_keys = 1100000
mantis.store_memory = 256MB
CONF
	as_pg "$BIN/pg_ctl" -D "$WORK/n$n" -l "$WORK/n$n.log" -w start >/dev/null
	psql_n "$n" -c "CREATE EXTENSION mantis"
}

wait_connected() {	# wait_connected <n> <count>
	for _ in $(seq 300); do
		[ "$(psql_n "$1" -c "SELECT count(*) FROM mantis_peers WHERE state = 'connected'")" -ge "$2" ] && return
		sleep 0.1
	done
	echo "n$1 did not connect" >&2; exit 1
}

now() { date +%s.%N; }

: >"$OUT"
{
	echo "mantis replication benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, loopback"
	echo "$(uname -srm); $("$BIN/postgres" --version)"
} | tee -a "$OUT"

start_node 1 2
start_node 2 1
wait_connected 1 1
wait_connected 2 1

echo | tee -a "$OUT"
echo "== convergence latency, n1 -> n2 (set on n1 until mantis_get on n2 sees it)" | tee -a "$OUT"
printf 'idle:                 %s\n' "$("$WORK/latency" "$(conninfo 1)" "$(conninfo 2)" 2000)" | tee -a "$OUT"

printf '\\set k random(1, 100000)\nSELECT mantis_set('"'"'load.'"'"' || :k, '"'"'v'"'"' || :k);\n' >"$WORK/load.sql"
chmod 644 "$WORK/load.sql"
as_pg "$BIN/pgbench" -n -M prepared -c 4 -j 4 -T $((SECS + 5)) -h "$WORK" -p "$(port 1)" \
	-f "$WORK/load.sql" postgres >"$WORK/load.out" 2>&1 &
LOAD=$!
sleep 2
printf 'under 4-client load:  %s\n' "$("$WORK/latency" "$(conninfo 1)" "$(conninfo 2)" 2000)" | tee -a "$OUT"
wait $LOAD
printf '(the load ran at %s sets/s)\n' "$(sed -n 's/^tps = \([0-9]*\).*/\1/p' "$WORK/load.out")" | tee -a "$OUT"

echo | tee -a "$OUT"
echo "== replicated writes: 4 pgbench clients on n1 setting random keys of 1M for ${SECS}s" | tee -a "$OUT"
printf '\\set k random(1, 1000000)\nSELECT mantis_set('"'"'thr.'"'"' || :k, '"'"'v'"'"' || :k || '"'"'.'"'"' || :client_id);\n' >"$WORK/thr.sql"
chmod 644 "$WORK/thr.sql"
a0=$(psql_n 2 -c "SELECT registers_applied FROM mantis_peers WHERE node_name = 'n1'")
t0=$(now)
as_pg "$BIN/pgbench" -n -M prepared -c 4 -j 4 -T "$SECS" -h "$WORK" -p "$(port 1)" \
	-f "$WORK/thr.sql" postgres >"$WORK/thr.out" 2>&1
t1=$(now)
a1=$(psql_n 2 -c "SELECT registers_applied FROM mantis_peers WHERE node_name = 'n1'")
sets=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/thr.out")
sum() { psql_n "$1" -c "SELECT count(*) || ' ' || md5(string_agg(key || hlc || value, ',' ORDER BY key)) FROM mantis_registers() WHERE key LIKE 'thr.%'"; }
keys() { psql_n "$1" -c "SELECT keys FROM mantis_status"; }
# poll the O(1) key counts, then confirm with a digest of every register
while :; do
	while [ "$(keys 1)" != "$(keys 2)" ]; do
		sleep 0.01
		if [ "$(echo "$(now) - $t1 > 60" | bc)" = 1 ]; then echo "n2 did not converge" | tee -a "$OUT"; exit 1; fi
	done
	t2=$(now)
	[ "$(sum 1)" = "$(sum 2)" ] && break
done
printf 'n1 set %d keys at %.0f sets/s; n2 applied %.0f registers/s during the run\n' \
	"$sets" "$(echo "$sets / ($t1 - $t0)" | bc -l)" "$(echo "($a1 - $a0) / ($t1 - $t0)" | bc -l)" | tee -a "$OUT"
printf 'n2 held exactly n1'"'"'s %s registers %.3f s after the load stopped (nothing lost)\n' \
	"$(sum 2 | cut -d' ' -f1)" "$(echo "$t2 - $t1" | bc -l)" | tee -a "$OUT"
printf '(a register written several times between two sends goes out once: "applied" counts registers, not sets)\n' | tee -a "$OUT"

echo | tee -a "$OUT"
echo "== catch-up: a new, empty node joins n1 and pulls everything" | tee -a "$OUT"
stop_node 2
for N in 100000 1000000; do
	start_node 1
	psql_n 1 -c "SELECT count(mantis_set('cu.' || i, 'value-' || i)) FROM generate_series(1, $N) i" >/dev/null
	t0=$(now)
	start_node 3 1
	until [ "$(psql_n 3 -c "SELECT keys FROM mantis_status")" -ge "$N" ]; do
		sleep 0.05
		if [ "$(echo "$(now) - $t0 > 120" | bc)" = 1 ]; then echo "n3 did not catch up" | tee -a "$OUT"; exit 1; fi
	done
	t1=$(now)
	printf '%8d keys: n3 held them all %.2f s after it started (server start included)\n' "$N" "$(echo "$t1 - $t0" | bc -l)" | tee -a "$OUT"
	stop_node 3
done
