#!/usr/bin/env bash
#
# test/bench/compaction.sh — the persistence worker's private memory while
# it compacts a large store: N registers (default 1,000,000) of 1 kB each
# are set and flushed; the worker is then restarted, so that its first
# flush follows the whole table (every row read back and merged) and writes
# a full snapshot.  Its RssAnon (private resident memory, not the shared
# store it reads) is sampled every 20 ms; the peak is reported beside the
# bytes it wrote, and its VmHWM (peak resident memory, shared pages of the
# store included) for comparison.
#
# Usage: bash test/bench/compaction.sh [registers, default 1000000]
# Needs mantis installed (make install).  As root it runs the server as the
# "postgres" user.  Writes a report to test/bench/results/compaction.txt.
#
set -eu
BENCH_NAME=compaction
N=${1:-1000000}
source "$(dirname "$0")/common.sh" 10
PORT=${BENCH_PORT:-55497}

PSQL="$BIN/psql -X -q -At -h $WORK -p $PORT -d postgres"

trap stop_local_server EXIT

start_local_server "shared_buffers = 32MB
max_wal_size = 4GB
mantis.max_keys = $N
mantis.store_memory = '$(( (N * 1400 / 1024 / 1024) + 64 ))MB'
mantis.flush_interval = 0"

worker_pid() { as_pg $PSQL -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mantis worker'"; }
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

echo "setting $N registers of 1 kB"
as_pg $PSQL -c "SELECT count(mantis_set('key.' || i, repeat(md5(i::text), 32))) FROM generate_series(1, $N) i" >/dev/null
t0=$(date +%s.%N)
as_pg $PSQL -c "SELECT mantis_flush()" >/dev/null
t1=$(date +%s.%N)

# a new worker over a loaded store compacts at its first flush
old=$(worker_pid)
kill -TERM "$old"
while :; do pid=$(worker_pid); [ -n "$pid" ] && [ "$pid" != "$old" ] && break; sleep 0.1; done

peak=0
as_pg $PSQL -c "SELECT mantis_flush()" >"$WORK/flush.out" &
flusher=$!
t2=$(date +%s.%N)
while kill -0 "$flusher" 2>/dev/null; do
	kb=$(status_kb "$pid" RssAnon)
	[ "${kb:-0}" -gt "$peak" ] && peak=$kb
	sleep 0.02
done
wait "$flusher"
t3=$(date +%s.%N)
hwm=$(status_kb "$pid" VmHWM)
written=$(cat "$WORK/flush.out")
bytes=$(as_pg $PSQL -c "SELECT sum(octet_length(registers)) FROM mantis_stores")
rows=$(as_pg $PSQL -c "SELECT count(*) FROM mantis_stores")

{
	echo "mantis compaction benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r)"
	echo "registers: $N of 1 kB; first flush (delta) $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
	echo "compaction by a new worker: follows $rows rows, writes $written registers, $(( bytes / 1024 / 1024 )) MB, in $(awk "BEGIN { printf \"%.1f\", $t3 - $t2 }") s"
	echo "worker peak private memory (RssAnon, sampled every 20 ms): $(( peak / 1024 )) MB"
	echo "worker VmHWM (peak resident, shared store pages included): $(( hwm / 1024 )) MB"
} | tee "$OUT"
