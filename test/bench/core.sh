#!/usr/bin/env bash
#
# test/bench/core.sh — how much mantis_get and mantis_set cost, measured
# against floors taken in the same run on the same server:
#
#   * pgbench, prepared protocol, 4 clients: each call against the same
#     statement without the call ("SELECT 'key' || :k"), and against the
#     table a user would otherwise use (primary-key SELECT; INSERT ... ON
#     CONFLICT DO UPDATE); reported as ratios of transactions per second;
#   * the intrinsic cost of one call inside one statement:
#     SELECT count(mantis_get('key' || (i % N + 1))) FROM generate_series(1, 2000000) i
#     minus the same statement without the call, in ns per call;
#   * memory per key: registers held when a store of known size is full.
#
# Sets run with persistence on (the default: every changed key is flushed
# to mantis_stores each second), then once more with it off, to show what
# the flushes cost; and with mantis.transactional (the default: each set is
# buffered and applied at COMMIT), then once more applied at once, to show
# what waiting for COMMIT costs.
#
# Each comparison is run at 10k and at 1M keys.  Runs alternate floor and
# measured statement (ABAB) so drift hits both alike.
#
# Usage: bash test/bench/core.sh [seconds per pgbench run, default 10]
# Needs mantis installed (make install).  As root it runs the server as the
# "postgres" user.  Writes a report to test/bench/results/core.txt.
#
set -eu
BENCH_NAME=core
source "$(dirname "$0")/common.sh"
PORT=${BENCH_PORT:-55499}

PSQL="$BIN/psql -X -q -At -h $WORK -p $PORT -d postgres"
PGBENCH="$BIN/pgbench -h $WORK -p $PORT -n -M prepared -c 4 -j 4 -T $SECS postgres"

trap stop_local_server EXIT

start_server() {	# start_server <max_keys> <store_memory>
	start_local_server "shared_buffers = 256MB
max_connections = 20
mantis.max_keys = $1
mantis.store_memory = '$2'"
}

script() {	# script <name> <sql>: a pgbench file over keys 1..$N
	printf '\\set k random(1, %d)\n%s\n' "$N" "$2" >"$WORK/$1.sql"
	chmod 644 "$WORK/$1.sql"
}

tps() {	# tps <script name>
	as_pg $PGBENCH -f "$WORK/$1.sql" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

# best of two alternating rounds: A B A B
compare() {	# compare <label> <floor script> <measured script>
	local a1 b1 a2 b2 a b
	a1=$(tps "$2"); b1=$(tps "$3"); a2=$(tps "$2"); b2=$(tps "$3")
	a=$(printf '%s\n%s\n' "$a1" "$a2" | sort -g | tail -1)
	b=$(printf '%s\n%s\n' "$b1" "$b2" | sort -g | tail -1)
	printf '%-44s %10.0f %10.0f %8.3f\n' "$1" "$a" "$b" "$(echo "$b / $a" | bc -l)" | tee -a "$OUT"
}

ms_of() {	# ms_of <sql> [setting statement]: best of 3 runs, in ms
	local best=""
	for _ in 1 2 3; do
		local t
		t=$(as_pg $PSQL -c "${2:-SELECT 1}" -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
	done
	echo "$best"
}

intrinsic() {	# intrinsic <label> <expr with i> <floor expr with i> [setting statement]
	local base call
	base=$(ms_of "SELECT count($3) FROM generate_series(1, 2000000) i" "${4:-}")
	call=$(ms_of "SELECT count($2) FROM generate_series(1, 2000000) i" "${4:-}")
	printf '%-44s %10.1f ns per call\n' "$1" "$(echo "($call - $base) * 1000000 / 2000000" | bc -l)" | tee -a "$OUT"
}

: >"$OUT"
{
	echo "mantis core benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, pgbench -M prepared -c 4 -j 4 -T $SECS"
	echo "$(uname -srm); $("$BIN/postgres" --version)"
} | tee -a "$OUT"

for N in 10000 1000000; do
	start_server 1100000 512MB
	echo | tee -a "$OUT"
	echo "== $N keys" | tee -a "$OUT"
	as_pg $PSQL -c "SELECT count(mantis_set('key' || i, 'value' || i)) FROM generate_series(1, $N) i" >/dev/null
	as_pg $PSQL -c "CREATE TABLE kv (key text PRIMARY KEY, value text);
		INSERT INTO kv SELECT 'key' || i, 'value' || i FROM generate_series(1, $N) i;" -c "VACUUM ANALYZE kv"
	as_pg $PSQL -c "SELECT count(*) FROM kv WHERE value IS NOT NULL" >/dev/null	# warm the cache
	# measure in steady state: the load is flushed and checkpointed first
	as_pg $PSQL -c "SELECT mantis_flush()" -c "CHECKPOINT" >/dev/null

	script floor_get "SELECT 'key' || :k;"
	script mantis_get "SELECT mantis_get('key' || :k);"
	script table_get "SELECT value FROM kv WHERE key = 'key' || :k;"
	script floor_set "SELECT 'key' || :k, 'value' || :k;"
	script mantis_set "SELECT mantis_set('key' || :k, 'value' || :k);"
	script set_immediate "BEGIN; SET LOCAL mantis.transactional = off; SELECT mantis_set('key' || :k, 'value' || :k); COMMIT;"
	script set_at_commit "BEGIN; SET LOCAL mantis.transactional = on; SELECT mantis_set('key' || :k, 'value' || :k); COMMIT;"
	script table_set "INSERT INTO kv VALUES ('key' || :k, 'value' || :k) ON CONFLICT (key) DO UPDATE SET value = excluded.value;"

	printf '%-44s %10s %10s %8s\n' "pgbench (tps)" "floor" "measured" "ratio" | tee -a "$OUT"
	compare "mantis_get vs SELECT 'key' || :k" floor_get mantis_get
	compare "mantis_set vs SELECT 'key' || :k, ..." floor_set mantis_set
	compare "mantis_get vs primary-key SELECT" table_get mantis_get
	compare "mantis_set vs INSERT ... ON CONFLICT" table_set mantis_set
	# the same without persistence: what the flushes of every changed key cost
	as_pg $PSQL -c "ALTER SYSTEM SET mantis.flush_interval = 0" -c "SELECT pg_reload_conf()" >/dev/null
	compare "mantis_set, mantis.flush_interval = 0" floor_set mantis_set
	as_pg $PSQL -c "ALTER SYSTEM RESET mantis.flush_interval" -c "SELECT pg_reload_conf()" >/dev/null
	# what waiting for COMMIT costs: the same transaction, its set applied
	# at once (the floor) or buffered and applied at COMMIT
	compare "mantis_set at COMMIT vs applied at once" set_immediate set_at_commit

	intrinsic "mantis_get, one call in one statement" \
		"mantis_get('key' || (i % $N + 1))" "'key' || (i % $N + 1)"
	intrinsic "mantis_set, one call in one statement" \
		"mantis_set('key' || (i % $N + 1), 'v')" "'key' || (i % $N + 1)" "SET mantis.transactional = off"
	intrinsic "mantis_set, buffered for COMMIT" \
		"mantis_set('key' || (i % $N + 1), 'v')" "'key' || (i % $N + 1)"
	intrinsic "primary-key lookup, for scale" \
		"(SELECT value FROM kv WHERE key = 'key' || (i % $N + 1))" "'key' || (i % $N + 1)"
done

# memory per key: fill a 64 MB store with "keyN" -> "valueN" until it is full;
# the index (buckets, repair digests) is sized by mantis.max_keys = 2^20
start_server 1048576 64MB
echo | tee -a "$OUT"
held=$(as_pg $PSQL -c "SET mantis.transactional = off" -c "DO \$\$ DECLARE n int := 0; BEGIN
		LOOP PERFORM mantis_set('key' || n, 'value' || n); n := n + 1; END LOOP;
	EXCEPTION WHEN out_of_memory THEN END \$\$" -c "SELECT keys FROM mantis_status")
shm=$(as_pg $PSQL -c "SELECT size FROM pg_shmem_allocations WHERE name = 'mantis'")
dsa=$((64 * 1024 * 1024))
printf 'memory per key ("keyN" -> "valueN"): %.1f bytes of store memory (%d keys filled 64 MB) + %.1f bytes of index at mantis.max_keys = 1048576\n' \
	"$(echo "$dsa / $held" | bc -l)" "$held" "$(echo "($shm - $dsa) / 1048576" | bc -l)" | tee -a "$OUT"
