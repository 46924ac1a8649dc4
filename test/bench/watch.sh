#!/usr/bin/env bash
#
# test/bench/watch.sh — the change feed measured on loopback, two servers
# replicating, persistence on (issue 21):
#   * wake latency: a mantis_set on n1 until a mantis_wait on n2 returns it
#     (test/bench/watch_latency.c), and on n2 itself, idle and under a
#     4-client pgbench write load on n1; the floor is the convergence
#     latency of the same run, a set on n1 until a tight mantis_get loop on
#     n2 sees it (test/bench/latency.c): nothing can learn sooner;
#   * 500 idle waiters on n2: mantis_set throughput on n1 and on n2 with
#     them beside it over the same with 500 sessions in pg_sleep() (what any
#     500 sessions cost PostgreSQL: its snapshots visit every backend), and
#     with none, alternating; and the wake latency of one waiter among them;
#   * mantis_changes from a cursor 100 changes old at 10k and at 1M keys
#     (the change log: its cost should not grow with the keys), beside the
#     scan a foreign cursor costs.
#
# Usage: bash test/bench/watch.sh [seconds per throughput run, default 10]
# Needs mantis installed (make install).  As root, servers run as "postgres".
# Writes a report to test/bench/results/watch.txt.
#
set -eu
BENCH_NAME=watch
source "$(dirname "$0")/common.sh"
BASE=${BENCH_PORT:-55700}

for tool in latency watch_latency; do
	gcc -O2 -Wall -I"$("$PG_CONFIG" --includedir)" -o "$WORK/$tool" "$HERE/$tool.c" \
		-L"$("$PG_CONFIG" --libdir)" -lpq
done

port() { echo $((BASE + $1)); }
zmq() { echo $((BASE + 50 + $1)); }
psql_n() { local n=$1; shift; as_pg "$BIN/psql" -X -q -At -h "$WORK" -p "$(port "$n")" -d postgres "$@"; }
conninfo() { echo "host=$WORK port=$(port "$1") dbname=postgres user=postgres"; }

stop_node() { as_pg "$BIN/pg_ctl" -D "$WORK/n$1" -m immediate stop >/dev/null 2>&1 || true; }
cleanup() { kill %% 2>/dev/null || true; for n in 1 2; do stop_node $n; done; rm -rf "$WORK"; }
trap cleanup EXIT

start_node() {	# start_node <n> <peer>
	local n=$1 peer=$2
	stop_node "$n"
	rm -rf "$WORK/n$n"
	as_pg "$BIN/initdb" -D "$WORK/n$n" -A trust >/dev/null
	cat >>"$WORK/n$n/postgresql.conf" <<CONF
port = $(port "$n")
listen_addresses = ''
unix_socket_directories = '$WORK'
shared_buffers = 64MB
max_connections = 700
shared_preload_libraries = 'mantis'
mantis.node_name = 'n$n'
mantis.listen = 'tcp://127.0.0.1:$(zmq "$n")'
mantis.peers = 'tcp://127.0.0.1:$(zmq "$peer")'
mantis.max_keys = 1500000
mantis.store_memory = 512MB
CONF
	as_pg "$BIN/pg_ctl" -D "$WORK/n$n" -l "$WORK/n$n.log" -w start >/dev/null
	psql_n "$n" -c "CREATE EXTENSION mantis"
}

wait_connected() {	# wait_connected <n>
	for _ in $(seq 300); do
		[ "$(psql_n "$1" -c "SELECT count(*) FROM mantis_peers WHERE state = 'connected'")" -ge 1 ] && return
		sleep 0.1
	done
	echo "n$1 did not connect" >&2; exit 1
}

tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$1" | head -1; }
ratio() { echo "scale=3; $1 / $2" | bc; }

: >"$OUT"
{
	echo "mantis watch benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, loopback, persistence on"
	echo "$(uname -srm); $("$BIN/postgres" --version)"
} | tee -a "$OUT"

start_node 1 2
start_node 2 1
wait_connected 1
wait_connected 2

echo | tee -a "$OUT"
echo "== wake latency (p50 / p99 / max)" | tee -a "$OUT"
printf 'floor, set on n1 until a mantis_get loop on n2 sees it:  %s\n' \
	"$("$WORK/latency" "$(conninfo 1)" "$(conninfo 2)" 2000)" | tee -a "$OUT"
printf 'set on n1 until mantis_wait on n2 returns it:           %s\n' \
	"$("$WORK/watch_latency" "$(conninfo 1)" "$(conninfo 2)" 2000)" | tee -a "$OUT"
printf 'set on n2 until mantis_wait on n2 returns it:           %s\n' \
	"$("$WORK/watch_latency" "$(conninfo 2)" "$(conninfo 2)" 2000)" | tee -a "$OUT"

printf '\\set k random(1, 100000)\nSELECT mantis_set('"'"'load.'"'"' || :k, '"'"'v'"'"' || :k);\n' >"$WORK/load.sql"
chmod 644 "$WORK/load.sql"
as_pg "$BIN/pgbench" -n -M prepared -c 4 -j 4 -T $((SECS + 15)) -h "$WORK" -p "$(port 1)" \
	-f "$WORK/load.sql" postgres >"$WORK/load.out" 2>&1 &
LOAD=$!
sleep 2
echo "under a 4-client write load on n1:" | tee -a "$OUT"
printf 'floor, set on n1 until a mantis_get loop on n2 sees it:  %s\n' \
	"$("$WORK/latency" "$(conninfo 1)" "$(conninfo 2)" 1000)" | tee -a "$OUT"
printf 'set on n1 until mantis_wait on n2 returns it:           %s\n' \
	"$("$WORK/watch_latency" "$(conninfo 1)" "$(conninfo 2)" 1000)" | tee -a "$OUT"
wait $LOAD
printf '(the load ran at %s sets/s)\n' "$(tps "$WORK/load.out")" | tee -a "$OUT"

echo | tee -a "$OUT"
echo "== 500 idle waiters on n2 (prefix idle., never written)" | tee -a "$OUT"
printf '\\set k random(1, 100000)\nSELECT mantis_set('"'"'thr.'"'"' || :k, '"'"'v'"'"' || :k);\n' >"$WORK/thr.sql"
chmod 644 "$WORK/thr.sql"
bench_set() {	# bench_set <node> <out>
	as_pg "$BIN/pgbench" -n -M prepared -c 4 -j 4 -T "$SECS" -h "$WORK" -p "$(port "$1")" \
		-f "$WORK/thr.sql" postgres >"$2" 2>&1
}
hold_500() {	# hold_500 <file> [sleep]: 500 sessions on n2 until killed
	"$WORK/watch_latency" hold "$(conninfo 2)" 500 $((SECS + 30)) ${2:-} >"$1" &
	HOLD=$!
	until grep -q holding "$1" 2>/dev/null; do sleep 0.2; done
}
release_500() {
	kill $HOLD; wait $HOLD 2>/dev/null || true
	until [ "$(psql_n 2 -c "SELECT count(*) < 10 FROM pg_stat_activity WHERE backend_type = 'client backend'")" = t ]; do sleep 0.2; done
}
echo "(the floor: 500 sessions in pg_sleep(), which cost a server what any 500 sessions do)" | tee -a "$OUT"
for round in 1 2; do
	for n in 1 2; do
		hold_500 "$WORK/hold.out" sleep
		bench_set "$n" "$WORK/sleep.$n.$round"
		release_500
		hold_500 "$WORK/hold.out"
		bench_set "$n" "$WORK/wait.$n.$round"
		release_500
		bench_set "$n" "$WORK/none.$n.$round"
		printf 'round %d, mantis_set on n%d: %s sets/s with 500 in mantis_wait, %s with 500 in pg_sleep (ratio %s), %s with none\n' \
			"$round" "$n" "$(tps "$WORK/wait.$n.$round")" "$(tps "$WORK/sleep.$n.$round")" \
			"$(ratio "$(tps "$WORK/wait.$n.$round")" "$(tps "$WORK/sleep.$n.$round")")" \
			"$(tps "$WORK/none.$n.$round")" | tee -a "$OUT"
	done
done
printf 'one waiter among 500 idle ones, set on n1 until mantis_wait on n2 returns it: %s\n' \
	"$("$WORK/watch_latency" "$(conninfo 1)" "$(conninfo 2)" 1000 500)" | tee -a "$OUT"

echo | tee -a "$OUT"
echo "== mantis_changes from a cursor 100 changes old (mean of 50, inside the server)" | tee -a "$OUT"
changes_cost() {	# changes_cost <foreign: true/false>: microseconds per call
	psql_n 1 -c "SET mantis.transactional = off" -c "
DO \$\$
DECLARE
	c text;
	t0 timestamptz;
	total interval := '0';
	n int;
BEGIN
	FOR r IN 1 .. 50 LOOP
		c := mantis_cursor();
		IF $1 THEN	-- the same cursor from another run of this server: a scan
			c := regexp_replace(c, '^(mc1-[0-9a-f]{16})-[0-9a-f]{16}', '\1-0000000000000001');
		END IF;
		PERFORM mantis_set('chg.' || i, r::text) FROM generate_series(1, 100) i;
		t0 := clock_timestamp();
		SELECT count(*) INTO n FROM mantis_changes(c, 'chg.');
		total := total + (clock_timestamp() - t0);
		IF n <> 100 THEN RAISE EXCEPTION 'got % rows', n; END IF;
	END LOOP;
	RAISE NOTICE 'us %', round(extract(epoch FROM total) * 1e6 / 50);
END
\$\$;" 2>&1 | sed -n 's/.*NOTICE:  us //p'
}
for keys in 10000 1000000; do
	psql_n 1 -c "SET mantis.transactional = off" \
		-c "SELECT count(mantis_set('k.' || i, 'v')) FROM generate_series(1, $keys) i" >/dev/null
	psql_n 1 -c "SELECT mantis_flush()" >/dev/null
	LOG_US=$(changes_cost false)
	SCAN_US=$(changes_cost true)
	printf '%8d keys: from the change log %s us, by a scan (a cursor of another run) %s us\n' \
		"$keys" "$LOG_US" "$SCAN_US" | tee -a "$OUT"
	eval "LOG_$keys=$LOG_US"
done
printf 'the change log at 1M keys over at 10k keys: %s (1.0: its cost does not grow with the keys)\n' \
	"$(ratio "$LOG_1000000" "$LOG_10000")" | tee -a "$OUT"
