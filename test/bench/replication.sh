#!/usr/bin/env bash
#
# test/bench/replication.sh — replication measured on loopback:
#   * convergence latency: a set on n1 until readable on n2 (p50/p99), idle
#     and under a 4-client pgbench write load on n1 (test/bench/latency.c);
#   * replicated writes per second: 4 pgbench clients set random keys on n1
#     for a while; then how long until n2 holds exactly the same registers
#     (nothing lost), and n2's apply rate during the run;
#   * catch-up: the time for a new, empty node to hold all of n1's keys, at
#     100k and at 1M keys;
#   * with MANY (10) small servers replicating to each other (full mesh,
#     shared_buffers = 32MB, max_connections = 20, peers connected first):
#     - the set-to-visible-everywhere latency, idle: a set on n1 until every
#       one of the 9 others returns it (latency.c polls them all at once;
#       p50/p99/max, and the same per server reached);
#     - idle traffic per server, which should not grow with the keys: with
#       10k, then 1M keys set on n1, replicated to all and flushed, and no
#       writes, bytes_in + bytes_out (and messages) a second per server,
#       summed over its peers in mantis_peers, over IDLE_S seconds.
#
# Usage: bash test/bench/replication.sh [seconds per load run, default 10]
#   BENCH_PORT=55600: servers on BENCH_PORT+1.., replication on +51..;
#   MANY=10; IDLE_S=15 (at least a mantis.sync_interval: repair rounds are
#   the idle traffic with greetings).  PG_CONFIG or BINDIR choose the
#   PostgreSQL binaries (as common.sh).
# Needs mantis installed (make install).  As root, servers run as "postgres".
# Writes a report to test/bench/results/replication.txt.
#
set -eu
BENCH_NAME=replication
source "$(dirname "$0")/common.sh"
BASE=${BENCH_PORT:-55600}

gcc -O2 -Wall -I"$("$PG_CONFIG" --includedir)" -o "$WORK/latency" "$HERE/latency.c" \
	-L"$("$PG_CONFIG" --libdir)" -lpq

MANY=${MANY:-10}
IDLE_S=${IDLE_S:-15}
STORE="max_connections = 20
mantis.max_keys = 1100000
mantis.store_memory = 256MB"

psql_n() { local n=$1; shift; node_psql "n$n" "$@"; }
conninfo() { node_conninfo "n$1"; }
stop_node() { node_stop "n$1"; }
cleanup() { nodes_stop; rm -rf "$WORK"; }
trap cleanup EXIT

start_node() {	# start_node <n> <peers: list of node numbers>
	local n=$1 peers="" m
	shift
	for m in "$@"; do peers="$peers${peers:+,}tcp://127.0.0.1:$((BASE + 50 + m))"; done
	node_start "n$n" $((BASE + n)) "shared_buffers = 64MB
mantis.node_name = 'n$n'
mantis.listen = 'tcp://127.0.0.1:$((BASE + 50 + n))'
mantis.peers = '$peers'
$STORE"
}

now() { date +%s.%N; }

: >"$OUT"
{
	echo "mantis replication benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, loopback"
	echo "$(uname -srm); $("$BIN/postgres" --version)"
} | tee -a "$OUT"

start_node 1 2
start_node 2 1
wait_connected n1 1
wait_connected n2 1

echo | tee -a "$OUT"
echo "== convergence latency, n1 -> n2 (set on n1 until mantis_get on n2 sees it)" | tee -a "$OUT"
printf 'idle:                 %s\n' "$("$WORK/latency" "$(conninfo 1)" "$(conninfo 2)" 2000)" | tee -a "$OUT"

printf '\\set k random(1, 100000)\nSELECT mantis_set('"'"'load.'"'"' || :k, '"'"'v'"'"' || :k);\n' >"$WORK/load.sql"
chmod 644 "$WORK/load.sql"
as_pg "$BIN/pgbench" -n -M prepared -c 4 -j 4 -T $((SECS + 5)) -h "$WORK" -p $((BASE + 1)) \
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
as_pg "$BIN/pgbench" -n -M prepared -c 4 -j 4 -T "$SECS" -h "$WORK" -p $((BASE + 1)) \
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
stop_node 1

# ---- MANY servers

calc() { echo "$@" | bc -l; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
all_hold() {	# all_hold <keys>: every one of the MANY servers holds that many
	local n
	for n in $(seq "$MANY"); do
		[ "$(psql_n "$n" -c "SELECT keys FROM mantis_status")" -ge "$1" ] || return 1
	done
}
# traffic <n>: "<epoch> <bytes in + out> <messages in + out>" of server n,
# summed over its peers
traffic() {
	psql_n "$1" -F' ' -c "SELECT extract(epoch FROM clock_timestamp()),
		sum(bytes_in + bytes_out), sum(messages_in + messages_out) FROM mantis_peers"
}
# idle_traffic <keys>: sets keys 1..N on n1; once every server holds them
# and all are idle, a line of the rates per server over IDLE_S seconds
idle_traffic() {
	local n t0 b0 m0 t1 b1 m1 rates
	t0=$(now)
	psql_n 1 -c "SET mantis.transactional = off" \
		-c "SELECT count(mantis_set('idle.' || i, 'value-' || i)) FROM generate_series(1, $1) i" >/dev/null
	until all_hold "$1"; do
		sleep 0.2
	done
	printf '%8d keys set on n1: every server held them %.1f s after the set began\n' "$1" "$(calc "$(now) - $t0")" | tee -a "$OUT"
	for n in $(seq "$MANY"); do psql_n "$n" -c "SELECT mantis_flush()" >/dev/null; done
	cpu_settle "${MANY_NODES[@]}"
	for n in $(seq "$MANY"); do traffic "$n" >"$WORK/traffic.$n"; done
	sleep "$IDLE_S"
	rates=$(for n in $(seq "$MANY"); do
		read -r t0 b0 m0 <"$WORK/traffic.$n"
		read -r t1 b1 m1 <<<"$(traffic "$n")"
		echo "$(calc "($b1 - $b0) / ($t1 - $t0)") $(calc "($m1 - $m0) / ($t1 - $t0)")"
	done)
	printf '%8d keys: bytes in + out per server and second: min %.0f, median %.0f, max %.0f (%.0f per peer link); messages %.1f/s (median)\n' \
		"$1" "$(cut -d' ' -f1 <<<"$rates" | sort -g | head -1)" "$(cut -d' ' -f1 <<<"$rates" | median)" \
		"$(cut -d' ' -f1 <<<"$rates" | sort -g | tail -1)" "$(calc "$(cut -d' ' -f1 <<<"$rates" | median) / ($MANY - 1)")" \
		"$(cut -d' ' -f2 <<<"$rates" | median)" | tee -a "$OUT"
}

echo | tee -a "$OUT"
echo "== $MANY servers replicating to each other (full mesh, shared_buffers = 32MB, max_connections = 20)" | tee -a "$OUT"
mesh_start "$MANY" "$BASE" "shared_buffers = 32MB
$STORE"
MANY_NODES=()
for n in $(seq "$MANY"); do MANY_NODES+=("n$n"); done
cpu_idle "${MANY_NODES[@]}"
readers=()
for n in $(seq 2 "$MANY"); do readers+=("$(conninfo "$n")"); done
echo "set on n1 until every other server sees it, idle:" | tee -a "$OUT"
"$WORK/latency" "$(conninfo 1)" "${readers[@]}" 2000 | sed 's/^/  /' | tee -a "$OUT"

echo "idle traffic, no writes, over ${IDLE_S}s once every server holds the keys and is idle:" | tee -a "$OUT"
for N in 10000 1000000; do
	idle_traffic "$N"
done
