#!/usr/bin/env bash
#
# test/bench/collection.sh — collection with every server up (issue 20):
# how long an expired register holds its room, and what the sweep costs.
#
# Two servers on loopback replicate to each other (full mesh), persistence
# on (mantis.flush_interval at its default, 1 s), mantis.max_keys = 200000
# (room enough that nothing is refused: the latency is measured, not the
# limit).  On each server pgbench (prepared protocol, CLIENTS clients) sets
# keys at RATE sets/s (-R, split over the servers), in two phases of the
# same length and rate, one after the other on the same servers:
#
#   * floor: mantis_set WITHOUT ttl over a fixed set of 20,000 keys
#     (overwrites: the store never grows, nothing expires, nothing is swept);
#   * ttl:   mantis_set of UNIQUE keys with ttl => interval '1 second'.
#
# Measured in the same run:
#
#   * expiry-to-room latency, p50/p99/max, on n1: a sampler (one session,
#     every 20 ms) reads mantis_status; W(t) = registers held + collected
#     (keys + expired_keys + collected_expired: the keys written so far,
#     n2's included, since keys are never overwritten in this phase) and
#     C(t) = collected_expired.  Key number k expired at t_W(k) + 1 s and
#     its room came back at t_C(k); keys are collected in about the order
#     they expire (the horizon rises in HLC order), so t_C(k) - t_W(k) - 1 s
#     is its latency.  Reported against the floor R2 of common/rules.h sets:
#     a peer acknowledges only what it has flushed, so the room of a key
#     can come back at the earliest one flush of the peer after its write,
#     i.e. about flush_interval / 2 after an expiry of 1 s on average;
#   * sweep CPU: the persistence worker's CPU time ("mantis worker", which
#     sweeps and flushes) in the ttl phase minus in the floor phase, per
#     second and per key collected, and both servers' CPU time (every
#     process) ttl / floor;
#   * "store is full" in the logs (must be 0), and the most expired
#     registers n1 held at once.
#
# BURST=1 bash test/bench/collection.sh: instead of the two phases, the case
# of issue 20 at one batch a second, with mantis.max_keys = 20000 (the part
# is test/bench/collection-burst.sh, sourced after the servers are up; its
# header says what it reports).  Report in results/collection-burst.txt.
#
# Usage: bash test/bench/collection.sh [seconds per phase, default 30]
#   RATE=4000 (sets/s, whole cluster)  CLIENTS=2 (per server)
#   BENCH_PORT=57300 (servers on BENCH_PORT+1..2, replication on +51..52)
#   PG_CONFIG or BINDIR choose the PostgreSQL binaries (as common.sh).
# Needs mantis >= 1.2 installed there, and python3.  As root, servers run as
# "postgres".  Writes a report to test/bench/results/collection.txt.
#
set -eu
BURST=${BURST:-0}
BENCH_NAME=collection
[ "$BURST" = 1 ] && BENCH_NAME=collection-burst
source "$(dirname "$0")/common.sh"
if [ "$BURST" = 1 ]; then MAX_KEYS=20000; else MAX_KEYS=200000; fi
DUR=$SECS
BASE=${BENCH_PORT:-57300}
RATE=${RATE:-4000}
CLIENTS=${CLIENTS:-2}
NODES="1 2"
RATE_N=$((RATE / 2))
TCK=$(getconf CLK_TCK)

port() { echo $((BASE + $1)); }
zmq() { echo $((BASE + 50 + $1)); }
psql_n() { local n=$1; shift; as_pg "$BIN/psql" -X -q -At -F' ' -h "$WORK" -p "$(port "$n")" -d postgres "$@"; }
say() { echo "$@" | tee -a "$OUT"; }
# shellcheck disable=SC2059
sayf() { printf "$@" | tee -a "$OUT"; }

SAMPLER=""
stop_node() { as_pg "$BIN/pg_ctl" -D "$WORK/n$1" -m immediate stop >/dev/null 2>&1 || true; }
cleanup() {
	if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; fi
	for n in $NODES; do stop_node "$n"; done
	rm -rf "$WORK"
}
trap cleanup EXIT

start_node() {	# start_node <n>: the peer is the other node
	local n=$1 m=$((3 - $1))
	as_pg "$BIN/initdb" -D "$WORK/n$n" -A trust >/dev/null
	as_pg tee -a "$WORK/n$n/postgresql.conf" >/dev/null <<CONF
port = $(port "$n")
listen_addresses = ''
unix_socket_directories = '$WORK'
shared_buffers = 32MB
max_connections = 20
shared_preload_libraries = 'mantis'
mantis.node_name = 'n$n'
mantis.listen = 'tcp://127.0.0.1:$(zmq "$n")'
mantis.peers = 'tcp://127.0.0.1:$(zmq "$m")'
mantis.max_keys = $MAX_KEYS
CONF
	as_pg "$BIN/pg_ctl" -D "$WORK/n$n" -l "$WORK/n$n.log" -w start >/dev/null
	psql_n "$n" -c "CREATE EXTENSION mantis"
}

wait_for() {	# wait_for <seconds> <node> <query>: until the query says t
	local _
	for _ in $(seq $(($1 * 10))); do
		[ "$(psql_n "$2" -c "$3")" = t ] && return 0
		sleep 0.1
	done
	echo "n$2: timed out waiting for: $3" >&2
	exit 1
}

# CPU ticks of one process, and of every process of both servers
pid_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
server_ticks() {
	local pms="" n
	for n in $NODES; do pms="$pms $(head -1 "$WORK/n$n/postmaster.pid")"; done
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v pms="$pms" '
		BEGIN { n = split(pms, a, " "); for (i = 1; i <= n; i++) pm[a[i]] = 1 }
		{
			pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
			if (pid in pm) s += f[12] + f[13] + f[14] + f[15]
			else if (f[2] in pm) s += f[12] + f[13]
		}
		END { printf "%d\n", s }'
}
worker_pid() { psql_n "$1" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mantis worker' OR application_name = 'mantis worker' LIMIT 1"; }

run_phase() {	# run_phase <script>: pgbench on both nodes at once for DUR s
	local n pids=""
	for n in $NODES; do
		as_pg "$BIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DUR" -R "$RATE_N" -D c=0 \
			-f "$WORK/$1.n$n.sql" -h "$WORK" -p "$(port "$n")" postgres >"$WORK/$1.n$n.out" 2>&1 &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids || { cat "$WORK/$1".n*.out >&2; exit 1; }
}

: >"$OUT"
say "mantis collection benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), loopback"
say "$(uname -srm); $("$BIN/postgres" --version); $(git -C "$HERE" describe --always --dirty 2>/dev/null || echo '?')"
if [ "$BURST" = 1 ]; then
	say "2 servers, replication and persistence on (flush_interval 1 s)"
else
	say "2 servers, replication and persistence on (flush_interval 1 s); pgbench -M prepared -R $RATE_N per server, $CLIENTS clients each; phases of $DUR s"
fi

for n in $NODES; do start_node "$n"; done
for n in $NODES; do
	wait_for 60 "$n" "SELECT count(*) = 1 FROM mantis_peers WHERE state = 'connected'"
	wait_for 60 "$n" "SELECT collection_horizon IS NOT NULL FROM mantis_status"
done
if [ "$BURST" = 1 ]; then
	source "$HERE/collection-burst.sh"
	exit 0
fi
for n in $NODES; do
	printf '\\set k random(1, 20000)\nSELECT mantis_set('"'"'floor-'"'"' || :k, '"'"'v'"'"');\n' >"$WORK/floor.n$n.sql"
	printf '\\set c :c + 1\nSELECT mantis_set('"'"'s-n%s-'"'"' || :client_id || '"'"'-'"'"' || :c, '"'"'v'"'"', ttl => interval '"'"'1 second'"'"');\n' \
		"$n" >"$WORK/ttl.n$n.sql"
done
chown postgres: "$WORK"/*.sql 2>/dev/null || true

W1=$(worker_pid 1)
W2=$(worker_pid 2)

# ---- floor
w0=$(( $(pid_ticks "$W1") + $(pid_ticks "$W2") )); s0=$(server_ticks)
run_phase floor
w1=$(( $(pid_ticks "$W1") + $(pid_ticks "$W2") )); s1=$(server_ticks)

# ---- ttl, with the sampler on n1 (one session; one NOTICE line per sample)
SAMPLES=$(( (DUR + 8) * 50 ))
psql_n 1 -c "DO \$\$ BEGIN FOR i IN 1..$SAMPLES LOOP
	RAISE NOTICE 'S % % % %', (SELECT extract(epoch FROM clock_timestamp())), (SELECT keys + expired_keys + collected_expired FROM mantis_status),
		(SELECT collected_expired FROM mantis_status), (SELECT expired_keys FROM mantis_status);
	PERFORM pg_sleep(0.02); END LOOP; END \$\$" 2>"$WORK/samples" &
SAMPLER=$!
c0=$(psql_n 1 -c "SELECT collected_expired FROM mantis_status")
w2=$(( $(pid_ticks "$W1") + $(pid_ticks "$W2") )); s2=$(server_ticks)
run_phase ttl
w3=$(( $(pid_ticks "$W1") + $(pid_ticks "$W2") )); s3=$(server_ticks)
c1=$(psql_n 1 -c "SELECT collected_expired FROM mantis_status")
wait "$SAMPLER" || true
SAMPLER=""

for n in $NODES; do grep -E 'number of transactions actually processed|^tps' "$WORK/floor.n$n.out" "$WORK/ttl.n$n.out" | sed 's/^/  /' | tee -a "$OUT"; done
full=$(cat "$WORK"/n*.log | grep -c -E 'store is full' || true)
say "\"store is full\" in the logs: $full"

python3 - "$WORK/samples" "$DUR" <<'PY' | tee -a "$OUT"
import sys, bisect
rows = []
for line in open(sys.argv[1]):
    i = line.find('S ')
    if i < 0 or 'NOTICE' not in line:
        continue
    t, w, c, e = line[i + 2:].split()[:4]
    rows.append((float(t), int(w), int(c), int(e)))
if len(rows) < 10:
    print("too few samples"); sys.exit(0)
t0, w0, c0 = rows[0][0], rows[0][1], rows[0][2]
ts = [r[0] for r in rows]; ws = [r[1] - w0 for r in rows]; cs = [r[2] - c0 for r in rows]
# running maxima: a sample taken inside a sweep may dip for a moment
for a in (ws, cs):
    for i in range(1, len(a)):
        a[i] = max(a[i], a[i - 1])
def when(series, k):        # the first sample at which series >= k
    i = bisect.bisect_left(series, k)
    return ts[i] if i < len(ts) else None
lat = []
step = max(1, cs[-1] // 2000)
for k in range(step, cs[-1] + 1, step):
    tw, tc = when(ws, k), when(cs, k)
    if tw is None or tc is None:
        continue
    lat.append(tc - tw - 1.0)
lat.sort()
if not lat:
    print("no key collected"); sys.exit(0)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print("expiry-to-room latency on n1 over %d keys (sampled every 20 ms, so +-20 ms): p50 %.2f s, p99 %.2f s, max %.2f s"
      % (cs[-1], q(0.5), q(0.99), lat[-1]))
print("most expired registers held at once on n1: %d" % max(r[3] for r in rows))
PY

say "keys collected on n1 in the ttl phase: $((c1 - c0))"
ttl_w=$(echo "($w3 - $w2) / $TCK" | bc -l); floor_w=$(echo "($w1 - $w0) / $TCK" | bc -l)
printf 'persistence workers (sweep + flush), CPU s: floor %.2f, ttl %.2f; sweep %.1f ms per second of run, %.2f us per key collected (both servers: %d keys)\n' \
	"$floor_w" "$ttl_w" "$(echo "($ttl_w - $floor_w) * 1000 / $DUR" | bc -l)" \
	"$(echo "($ttl_w - $floor_w) * 1000000 / (2 * ($c1 - $c0) + 1)" | bc -l)" "$((2 * (c1 - c0)))" | tee -a "$OUT"
printf 'both servers, CPU s: floor %.1f, ttl %.1f (ratio %.2f)\n' \
	"$(echo "($s1 - $s0) / $TCK" | bc -l)" "$(echo "($s3 - $s2) / $TCK" | bc -l)" \
	"$(echo "($s3 - $s2) / ($s1 - $s0 + 1)" | bc -l)" | tee -a "$OUT"
