#!/usr/bin/env bash
#
# test/bench/instructions.sh — what one call costs in instructions and in
# (simulated) cache misses, which the load of a shared machine does not
# move, where timings scatter by tens of percent: one server runs under
# valgrind's cachegrind, and each measure is the difference between two
# backends, one running the call and one running the same statement
# without it (its floor):
#
#   * one call inside a statement of CALLS calls, with
#     mantis.transactional = off (mantis_get; mantis_set applied at once);
#   * one pgbench transaction (prepared protocol, one client, TX of them):
#     mantis_set buffered and applied at COMMIT, mantis_get.
#
# Events per call: Ir (instructions), D1mr/D1mw (first-level data cache
# read/write misses), DLmr/DLmw (last-level misses; the last level is set to
# 1 MB, one core's L2 on the machines this was written on, so that a miss
# there is a trip to the shared L3 or to memory).  Cachegrind does not
# model prefetches: a prefetch's gain shows in timings only.
#
# The server replicates (mantis.listen is set, with no peer), so writes pay
# for the replication worker's flags as in a cluster; persistence is on.
# Over 10k keys (KEYS=N to change).  Takes about 2 minutes.
#
# Usage: bash test/bench/instructions.sh [CALLS, default 200000]
# Needs valgrind, and mantis installed (make install).  Writes
# test/bench/results/instructions.txt.
#
set -eu
BENCH_NAME=instructions
source "$(dirname "$0")/common.sh"
CALLS=${1:-200000}
TX=${TX:-5000}
N=${KEYS:-10000}
PORT=${BENCH_PORT:-55470}
CG="$WORK/cachegrind"
PSQL="$BIN/psql -X -q -At -h $WORK -p $PORT -d postgres"

cleanup() {
	as_pg "$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# the server, every process of it under cachegrind (forked children go on
# under it, each writing its own file when it exits)
start_under_cachegrind() {
	as_pg "$BIN/initdb" -D "$WORK/data" -A trust >/dev/null
	as_pg tee -a "$WORK/data/postgresql.conf" >/dev/null <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$WORK'
shared_buffers = 32MB
max_connections = 10
shared_preload_libraries = 'mantis'
mantis.listen = 'tcp://127.0.0.1:$((PORT + 1))'
mantis.max_keys = 1100000
mantis.store_memory = 256MB
CONF
	as_pg mkdir -p "$CG"
	as_pg valgrind --tool=cachegrind --cache-sim=yes --LL=1048576,16,64 \
		--cachegrind-out-file="$CG/cg.%p" "$BIN/postgres" -D "$WORK/data" >"$WORK/log" 2>&1 &
	for _ in $(seq 300); do
		as_pg $PSQL -c 'SELECT 1' >/dev/null 2>&1 && return
		sleep 1
	done
	echo "the server did not start under cachegrind" >&2
	exit 1
}

# in_backend <sql...>: run statements in one new backend; prints its pid
in_backend() {
	local args=() s
	for s in "$@"; do args+=(-c "$s"); done
	local out
	out=$(as_pg $PSQL -c 'SELECT pg_backend_pid()' "${args[@]}")
	# its file is written as it exits, after psql's: wait for it
	for _ in $(seq 120); do
		[ -e "$CG/cg.${out%%$'\n'*}" ] && break
		sleep 0.5
	done
	echo "${out%%$'\n'*}"
}

# with_pgbench <script>: TX transactions of it on one connection; prints
# the pid of the backend that ran them: of the files its two connections
# leave (pgbench opens one more to look at the server), the one of most work
with_pgbench() {
	printf '\\set k random(1, %d)\n%s\n' "$N" "$1" >"$WORK/script.sql"
	chmod 644 "$WORK/script.sql"
	local before
	before=$(ls "$CG")
	as_pg "$BIN/pgbench" -h "$WORK" -p "$PORT" -n -M prepared -c 1 -t "$TX" \
		-f "$WORK/script.sql" postgres >/dev/null
	# each exiting backend writes its file: wait for both
	for _ in $(seq 120); do
		[ "$(comm -13 <(echo "$before") <(ls "$CG") | wc -l)" -ge 2 ] && break
		sleep 0.5
	done
	comm -13 <(echo "$before") <(ls "$CG") | while read -r f; do
		echo "$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$CG/$f") ${f#cg.}"
	done | sort -n | tail -1 | cut -d' ' -f2
}

start_under_cachegrind
as_pg $PSQL -c 'CREATE EXTENSION mantis' -c 'SET mantis.transactional = off' \
	-c "SELECT count(mantis_set('key' || i, 'value' || i)) FROM generate_series(1, $N) i" >/dev/null

off='SET mantis.transactional = off'
k="'key' || (i % $N + 1)"
series="FROM generate_series(1, $CALLS) i"
floor=$(in_backend "$off" "SELECT count($k) $series")
get=$(in_backend "$off" "SELECT count(mantis_get($k)) $series")
set=$(in_backend "$off" "SELECT count(mantis_set($k, 'v')) $series")
tx_floor=$(with_pgbench "SELECT 'key' || :k, 'value' || :k;")
tx_get=$(with_pgbench "SELECT 'key' || :k, mantis_get('key' || :k);")
tx_set=$(with_pgbench "SELECT 'key' || :k, mantis_set('key' || :k, 'value' || :k);")

# the backends write their files as they exit; the server's go at its stop
as_pg "$BIN/pg_ctl" -D "$WORK/data" -m fast stop >/dev/null
for _ in $(seq 60); do
	pgrep -f "cachegrind-out-file=$CG" >/dev/null || break
	sleep 1
done

# per_call <label> <pid> <floor pid> <calls>
per_call() {
	python3 - "$1" "$CG/cg.$2" "$CG/cg.$3" "$4" <<'PY'
import sys
label, measured, floor, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def totals(path):
    events = summary = None
    for line in open(path):
        if line.startswith('events:'):
            events = line.split()[1:]
        elif line.startswith('summary:'):
            summary = [int(v) for v in line.split()[1:]]
    return dict(zip(events, summary))
m, f = totals(measured), totals(floor)
print('%-46s' % label + '  '.join('%s %7.1f' % (e, (m[e] - f[e]) / calls)
                                 for e in ('Ir', 'D1mr', 'D1mw', 'DLmr', 'DLmw')))
PY
}

: >"$OUT"
{
	echo "mantis instructions per call, $(date -u +%Y-%m-%dT%H:%MZ), cachegrind (LL = 1 MB), $N keys"
	echo "$(uname -srm); $("$BIN/postgres" --version); mantis $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')"
	per_call "mantis_get, one call in a statement" "$get" "$floor" "$CALLS"
	per_call "mantis_set applied at once, in a statement" "$set" "$floor" "$CALLS"
	per_call "pgbench transaction with mantis_get" "$tx_get" "$tx_floor" "$TX"
	per_call "pgbench transaction with mantis_set (COMMIT)" "$tx_set" "$tx_floor" "$TX"
} | tee -a "$OUT"
