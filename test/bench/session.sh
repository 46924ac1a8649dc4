#!/usr/bin/env bash
#
# test/bench/session.sh — a session store: keys that expire (issue 11).
#
# Three servers on loopback replicate to each other (mantis.peers, full
# mesh), persistence on, shared_buffers = 32MB, mantis.max_keys = 100000.
# On every server, pgbench clients (prepared protocol) set UNIQUE keys
#   'sess:' || node || ':' || client || ':' || counter
# with ttl => interval '5 seconds', for the run's duration: millions of keys
# pass through a store of 100k. Measured in the same run:
#
#   * never "store full": pgbench failed transactions and aborted clients,
#     "store is full" / "memory is exhausted" errors in the servers' logs
#     (all must be 0), and registers refused by peers for want of room
#     (mantis_peers.rejected_no_room);
#   * memory flat: mantis_status (keys, expired_keys, deleted_keys,
#     memory_used, collected_*) sampled on each node every few seconds into
#     test/bench/results/session.csv; min/max/last over the first minute
#     and over the second half, and the mean of the last 20% of the run
#     against the mean of 20%-40% (flat: no upward trend);
#   * what a set with a ttl costs: before the ttl phase, a floor phase
#     (a tenth of the run, at least 20 s) of mantis_set WITHOUT ttl over a
#     fixed set of 50,000 keys (overwrites, so the store never fills), same
#     clients; reported as tps_ttl / tps_floor (total and per node), and as
#     the servers' CPU time per set (every process of the three servers,
#     read from /proc), which other load on the machine does not inflate;
#   * collected_expired per node at the end, against the keys written
#     minus those still held.
#
# Every node holds every key, so the cluster's total rate R keeps about
# R x 5 s keys live on each node (plus the expired ones not yet collected).
# When the floor's full-speed rate would keep more than 60% of max_keys
# live, the store would fill legitimately: the ttl phase is then capped
# with pgbench -R at 60% of max_keys / 5 s (split over the nodes), the floor
# is run a second time at the same cap, and the cost is compared at that
# rate (tps and CPU per set); the output says so.
#
# Usage: bash test/bench/session.sh [minutes of the ttl phase, default 10]
#   CLIENTS=2 (per node)  BENCH_PORT=57000 (servers on BENCH_PORT+1..3,
#   replication on BENCH_PORT+51..53)  SAMPLE=2 (seconds between samples)
#   TTL_RATE=<sets/s, whole cluster> forces the cap; TTL_RATE=0 forbids it.
#   PG_CONFIG or BINDIR choose the PostgreSQL binaries (as common.sh).
# Needs mantis >= 1.2 installed there.  As root, servers run as "postgres".
# Writes a report to test/bench/results/session.txt.
#
# OUTAGE=1 bash test/bench/session.sh: one of the three servers stopped for
# a whole mantis.tombstone_lifetime while the other two take unique 5-s
# keys (issue 20, item 1), run by test/bench/session-outage.sh, which this
# script sources after its helpers; its header says what it measures and
# how it is set (LIFETIME, OUTAGE_S, TTL_RATE, ...).  BENCH_PORT defaults to
# 57100 then; the report goes to test/bench/results/session-outage.txt.
#
set -eu
MINUTES=${1:-10}
OUTAGE=${OUTAGE:-0}
BENCH_NAME=session
[ "$OUTAGE" = 1 ] && BENCH_NAME=session-outage
source "$(dirname "$0")/common.sh"
if [ "$OUTAGE" = 1 ]; then BASE=${BENCH_PORT:-57100}; else BASE=${BENCH_PORT:-57000}; fi
CLIENTS=${CLIENTS:-2}
SAMPLE=${SAMPLE:-2}
MAX_KEYS=100000
STORE_MEMORY=${STORE_MEMORY:-64MB}
TTL_S=5
FLOOR_KEYS=50000
LIVE_TARGET=$((MAX_KEYS * 60 / 100))	# keys live per node when capped
CSV="$HERE/results/$BENCH_NAME.csv"
NODES="1 2 3"

DUR=$(echo "$MINUTES * 60 / 1" | bc)	# seconds of the ttl phase
[ "$DUR" -ge 20 ] || { echo "the run must last at least 20 s" >&2; exit 1; }
FLOOR_DUR=$((DUR / 10))
[ "$FLOOR_DUR" -ge 20 ] || FLOOR_DUR=20
TCK=$(getconf CLK_TCK)

port() { echo $((BASE + $1)); }
zmq() { echo $((BASE + 50 + $1)); }
psql_n() { local n=$1; shift; as_pg "$BIN/psql" -X -q -At -F, -h "$WORK" -p "$(port "$n")" -d postgres "$@"; }
now() { date +%s.%N; }
calc() { echo "$@" | bc -l; }
div() { if [ "$(calc "$2 == 0")" = 1 ]; then echo 0; else calc "$1 / $2"; fi; }
say() { echo "$@" | tee -a "$OUT"; }
# shellcheck disable=SC2059
sayf() { local f=$1; shift; printf "$f" "$@" | tee -a "$OUT"; }

SAMPLER=""
LOAD_PIDS=""	# pgbench runs left in the background (outage mode)
RATE_N=""
EXTRA_CONF=""	# more postgresql.conf lines for start_node
stop_node() { as_pg "$BIN/pg_ctl" -D "$WORK/n$1" -m immediate stop >/dev/null 2>&1 || true; }
cleanup() {
	if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; fi
	for p in $LOAD_PIDS; do kill "$p" 2>/dev/null || true; done
	for n in $NODES; do stop_node "$n"; done
	# keep the servers' logs beside the report
	for n in $NODES; do [ -f "$WORK/n$n.log" ] && cp "$WORK/n$n.log" "$HERE/results/$BENCH_NAME.n$n.log"; done
	rm -rf "$WORK"
}
trap cleanup EXIT

for n in $NODES; do
	for p in $(port "$n") $(zmq "$n"); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is in use" >&2; exit 1; fi
	done
done

start_node() {	# start_node <n>: peers are the other nodes
	local n=$1 peers="" m
	for m in $NODES; do
		[ "$m" = "$n" ] || peers="$peers${peers:+,}tcp://127.0.0.1:$(zmq "$m")"
	done
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
mantis.peers = '$peers'
mantis.max_keys = $MAX_KEYS
mantis.store_memory = $STORE_MEMORY
$EXTRA_CONF
CONF
	as_pg "$BIN/pg_ctl" -D "$WORK/n$n" -l "$WORK/n$n.log" -w start >/dev/null
	psql_n "$n" -c "CREATE EXTENSION mantis"
}

wait_until() {	# wait_until <seconds> <command...>: true once the command is
	local t0 limit=$1
	shift
	t0=$(now)
	until "$@"; do
		[ "$(calc "$(now) - $t0 > $limit")" = 1 ] && return 1
		sleep 0.2
	done
}
no_clients() {	# no pgbench backend is left on any node
	local n
	for n in $NODES; do
		[ "$(psql_n "$n" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" = 0 ] || return 1
	done
}
connected() { [ "$(psql_n "$1" -c "SELECT count(*) FROM mantis_peers WHERE state = 'connected'")" -ge 2 ]; }
all_hold() {	# all_hold <keys>: every node holds that many live keys
	local n
	for n in $NODES; do [ "$(psql_n "$n" -c "SELECT keys FROM mantis_status")" -ge "$1" ] || return 1; done
}
all_empty() {	# nothing live, expired or deleted left on any node
	local n
	for n in $NODES; do
		[ "$(psql_n "$n" -c "SELECT keys + expired_keys + deleted_keys FROM mantis_status")" = 0 ] || return 1
	done
}

# the CPU time, in clock ticks, of every process of the three servers: each
# postmaster with the children it reaped, and its live children
cpu_ticks() {
	local pms="" n
	for n in $NODES; do pms="$pms $(head -1 "$WORK/n$n/postmaster.pid")"; done
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v pms="$pms" '
		BEGIN { n = split(pms, a, " "); for (i = 1; i <= n; i++) pm[a[i]] = 1 }
		{
			pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
			# f[2] ppid, f[12] utime, f[13] stime, f[14] cutime, f[15] cstime
			if (pid in pm) s += f[12] + f[13] + f[14] + f[15]
			else if (f[2] in pm) s += f[12] + f[13]
		}
		END { printf "%d\n", s }'
}

status_sum() {	# status_sum <column expression>: one line, a value per node
	local n out=""
	for n in $NODES; do out="$out${out:+ }$(psql_n "$n" -c "SELECT $1 FROM mantis_status")"; done
	echo "$out"
}
peers_sum() {	# peers_sum <column>: per node, summed over its peers
	local n out=""
	for n in $NODES; do out="$out${out:+ }$(psql_n "$n" -c "SELECT coalesce(sum($1), 0) FROM mantis_peers")"; done
	echo "$out"
}
log_errors() {	# "store full" and "memory exhausted" in every log: errors of
	# sets, and registers from peers not stored ("the store is full: N ...")
	cat "$WORK"/n*.log | grep -c -E 'store is full|store memory is exhausted' || true
}

if [ "$OUTAGE" = 1 ]; then
	source "$HERE/session-outage.sh"
	exit 0
fi

# ---- the sampler: a CSV row per node every $SAMPLE seconds, labelled with
# the phase written in $WORK/phase
# visible: the registers mantis_registers() returns (it hides the expired
# ones at once), counted every fifth sample of the ttl phase
echo "t,phase,node,keys,expired_keys,deleted_keys,memory_used,collected_expired,collected_deletions,visible,stored_rows,table_bytes" >"$CSV"
T_START=$(now)
sampler() {
	local n row phase i=0 probe
	while :; do
		phase=$(cat "$WORK/phase" 2>/dev/null || echo setup)
		i=$((i + 1))
		probe=false
		[ "$phase" = ttl ] && [ $((i % 5)) = 0 ] && probe=true
		for n in $NODES; do
			row=$(psql_n "$n" -c "SELECT keys, expired_keys, deleted_keys, memory_used, collected_expired, collected_deletions,
				CASE WHEN $probe THEN (SELECT count(*) FROM mantis_registers()) END, stored_rows, pg_total_relation_size('mantis_stores') FROM mantis_status" 2>/dev/null) || continue
			printf '%.1f,%s,n%s,%s\n' "$(calc "$(now) - $T_START")" "$phase" "$n" "$row" >>"$CSV"
		done
		sleep "$SAMPLE"
	done
}
phase() { echo "$1" >"$WORK/phase"; PHASE_T0=$(calc "$(now) - $T_START"); }

# ---- pgbench on every node at once
# run_all <phase> <seconds> <rate per node, 0: full speed> <script name>:
# writes $WORK/<phase>.n<n>.out; sets TPS_N (per node), TPS (total), SETS,
# FAILED, ABORTED, LAT (mean latency, ms, per node), CPU (server CPU s),
# ELAPSED
run_all() {
	local name=$1 secs=$2 rate=$3 script=$4 n pids="" c0 c1 t0 t1 out rc
	local rflag=()
	[ "$rate" = 0 ] || rflag=(-R "$rate")
	c0=$(cpu_ticks)
	t0=$(now)
	for n in $NODES; do
		as_pg "$BIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$secs" "${rflag[@]}" -D c=0 \
			-h "$WORK" -p "$(port "$n")" -f "$WORK/$script.n$n.sql" postgres >"$WORK/$name.n$n.out" 2>&1 &
		pids="$pids $!"
	done
	rc=0
	for p in $pids; do wait "$p" || rc=1; done
	t1=$(now)
	RUN_T1=$(calc "$t1 - $T_START")
	wait_until 30 no_clients	# the servers have reaped pgbench's backends
	c1=$(cpu_ticks)
	ELAPSED=$(calc "$t1 - $t0")
	CPU=$(calc "($c1 - $c0) / $TCK")
	TPS_N=""; LAT=""; TPS=0; SETS=0; FAILED=0; ABORTED=0
	for n in $NODES; do
		out="$WORK/$name.n$n.out"
		local tps sets failed aborted lat lag
		tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out"); tps=${tps:-0}
		sets=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out"); sets=${sets:-0}
		failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out"); failed=${failed:-0}
		aborted=$(grep -c -E 'client [0-9]+ (script [0-9]+ )?aborted' "$out" || true)
		lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$out"); lat=${lat:-?}
		lag=$(sed -n 's/^rate limit schedule lag: avg \([0-9.]*\) (max \([0-9.]*\)) ms.*/\1\/\2/p' "$out")
		[ -z "$lag" ] || lat="$lat (lag $lag)"
		TPS_N="$TPS_N${TPS_N:+ }$(printf '%.0f' "$tps")"
		LAT="$LAT${LAT:+ }$lat"
		TPS=$(calc "$TPS + $tps"); SETS=$((SETS + sets)); FAILED=$((FAILED + failed)); ABORTED=$((ABORTED + aborted))
	done
	if [ "$rc" != 0 ] || [ "$ABORTED" != 0 ]; then
		say "  (pgbench reported errors; first lines of each node's output follow)"
		for n in $NODES; do grep -m3 -E 'error|aborted|ERROR' "$WORK/$name.n$n.out" | sed "s/^/  n$n: /" | tee -a "$OUT" || true; done
	fi
}
report_run() {	# report_run <label>
	sayf '%-22s %9.0f sets/s (n1 n2 n3: %s), %d sets in %.1f s; latency ms%s: %s\n' \
		"$1" "$TPS" "$TPS_N" "$SETS" "$ELAPSED" "$([ -z "$RATE_N" ] || echo ' (schedule lag avg/max)')" "$LAT"
	sayf '%-22s %9.1f us of server CPU per set (%.1f CPU s for the three servers), failed %d, aborted clients %d\n' \
		"" "$(div "$CPU * 1000000" "$SETS")" "$CPU" "$FAILED" "$ABORTED"
}

# ---- the scripts: the same value, the same clients
VALUE='{"user": 42}'
for n in $NODES; do
	printf '\\set k random(1, %d)\nSELECT mantis_set('"'"'floor:'"'"' || :k, '"'"'%s'"'"');\n' \
		"$FLOOR_KEYS" "$VALUE" >"$WORK/floor.n$n.sql"
	# (no ":name" inside a literal: pgbench would take it for a variable)
	printf '\\set c :c + 1\nSELECT mantis_set('"'"'sess:'"'"' || '"'"'n%s'"'"' || '"'"':'"'"' || :client_id || '"'"':'"'"' || :c, '"'"'%s'"'"', ttl => interval '"'"'%d seconds'"'"');\n' \
		"$n" "$VALUE" "$TTL_S" >"$WORK/ttl.n$n.sql"
	chmod 644 "$WORK/floor.n$n.sql" "$WORK/ttl.n$n.sql"
done

: >"$OUT"
say "mantis session benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), loopback"
say "$(uname -srm); $("$BIN/postgres" --version); mantis $(git -C "$HERE" describe --always --dirty 2>/dev/null || echo '?')"
say "load before: $(uptime)"
say "3 servers, full mesh, persistence on, shared_buffers = 32MB, mantis.max_keys = $MAX_KEYS, store_memory = $STORE_MEMORY;"
say "pgbench -M prepared, $CLIENTS clients per server; value '$VALUE'; ttl $TTL_S s; ttl phase $DUR s, floor phases $FLOOR_DUR s"

for n in $NODES; do start_node "$n"; done
for n in $NODES; do wait_until 30 connected "$n" || { say "n$n did not connect"; exit 1; }; done
[ "$(psql_n 1 -c "SELECT to_regproc('mantis_ttl') IS NOT NULL")" = t ] ||
	{ say "mantis 1.2 (ttl) is not installed under $BIN"; exit 1; }
sampler &
SAMPLER=$!

# ---- floor: the fixed keys first, replicated everywhere, flushed
phase preload
psql_n 1 -c "SELECT count(mantis_set('floor:' || i, '$VALUE')) FROM generate_series(1, $FLOOR_KEYS) i" >/dev/null
wait_until 60 all_hold "$FLOOR_KEYS" || { say "the floor keys did not reach every node"; exit 1; }
for n in $NODES; do psql_n "$n" -c "SELECT mantis_flush()" -c "CHECKPOINT" >/dev/null; done

say
say "== floor: mantis_set without ttl over $FLOOR_KEYS fixed keys (overwrites), full speed, $FLOOR_DUR s"
phase floor
run_all floor "$FLOOR_DUR" 0 floor
report_run "floor, full speed"
FLOOR_TPS=$TPS FLOOR_TPS_N=$TPS_N FLOOR_CPU_SET=$(div "$CPU" "$SETS") FLOOR_BAD=$((FAILED + ABORTED))
FULL_TPS=$TPS FULL_CPU_SET=$FLOOR_CPU_SET

# ---- the cap
FULL_LIVE=$(calc "$FLOOR_TPS * $TTL_S" | cut -d. -f1)
RATE=${TTL_RATE:-}
if [ -z "$RATE" ]; then
	if [ "$FULL_LIVE" -gt "$LIVE_TARGET" ]; then RATE=$((LIVE_TARGET / TTL_S)); else RATE=0; fi
fi
say
if [ "$RATE" = 0 ]; then
	say "== no cap: the floor's rate keeps about $FULL_LIVE keys live per node (<= $LIVE_TARGET, 60% of max_keys)"
else
	RATE_N=$(((RATE + 2) / 3))
	say "== CAPPED: the floor's full-speed rate (${FLOOR_TPS%.*} sets/s) would keep about $FULL_LIVE keys live per node"
	say "   (> $LIVE_TARGET, 60% of max_keys): the store would fill legitimately, so the ttl phase runs at"
	say "   pgbench -R $RATE_N per server ($((RATE_N * 3)) sets/s for the cluster, about $((RATE_N * 3 * TTL_S)) keys live per node),"
	say "   and the floor is run again at that rate to compare the cost"
	phase floor_capped
	run_all floor_capped "$FLOOR_DUR" "$RATE_N" floor
	report_run "floor, -R $RATE_N"
	FLOOR_TPS=$TPS FLOOR_TPS_N=$TPS_N FLOOR_CPU_SET=$(div "$CPU" "$SETS") FLOOR_BAD=$((FLOOR_BAD + FAILED + ABORTED))
fi

# ---- the floor keys go, and their deletion markers are collected
phase clear
t0=$(now)
psql_n 1 -c "SELECT count(mantis_delete('floor:' || i)) FROM generate_series(1, $FLOOR_KEYS) i" >/dev/null
if wait_until 120 all_empty; then
	sayf 'the %d floor keys deleted on n1: every node held no key and no marker %.1f s later (collected)\n' \
		"$FLOOR_KEYS" "$(calc "$(now) - $t0")"
else
	say "the floor keys' deletion markers were NOT collected within 120 s: keys + expired + deleted per node: $(status_sum 'keys + expired_keys + deleted_keys')"
fi

# ---- the ttl phase
say
say "== ttl: unique keys with ttl => interval '$TTL_S seconds', $DUR s$([ "$RATE" = 0 ] && echo ", full speed" || echo ", -R $RATE_N per server")"
NR0=$(peers_sum rejected_no_room)
CE0=$(status_sum collected_expired)
LE0=$(log_errors)
phase ttl
TTL_T0=$PHASE_T0
run_all ttl "$DUR" "${RATE_N:-0}" ttl
TTL_T1=$RUN_T1
report_run "ttl"
TTL_TPS=$TPS TTL_TPS_N=$TPS_N TTL_CPU_SET=$(div "$CPU" "$SETS") WRITTEN=$SETS
# one statement per node, so that its counts are of one instant
END_ROWS=$(status_sum "keys || ':' || expired_keys || ':' || collected_expired")
NR1=$(peers_sum rejected_no_room)
TABLE=$(status_sum "stored_rows || ':' || round(pg_total_relation_size('mantis_stores') / 1048576.0, 1)")
LE1=$(log_errors)
sayf 'keys written: %d in %.0f s (%.0f a second) through a store of %d\n' "$WRITTEN" "$ELAPSED" "$(div "$WRITTEN" "$ELAPSED")" "$MAX_KEYS"

# ---- drain: wait for everything to expire and be collected
phase drain
t0=$(now)
if wait_until 60 all_empty; then DRAINED=$(printf '%.1f s' "$(calc "$(now) - $t0")"); else DRAINED="NOT within 60 s"; fi
FIN_CE=$(status_sum collected_expired)
FIN_LEFT=$(status_sum 'keys + expired_keys + deleted_keys')
kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""

say
say "== never \"store full\""
nr=0; for v in $NR1; do nr=$((nr + v)); done; for v in $NR0; do nr=$((nr - v)); done
sayf 'pgbench failed transactions + aborted clients: %d (floor %d); "store is full"/"memory exhausted" errors in the logs during ttl: %d\n' \
	"$((FAILED + ABORTED))" "$FLOOR_BAD" "$((LE1 - LE0))"
sayf 'mantis_peers.rejected_no_room during ttl, per node (n1 n2 n3): %s (total %d)\n' \
	"$(paste -d- <(tr ' ' '\n' <<<"$NR1") <(tr ' ' '\n' <<<"$NR0") | bc | tr '\n' ' ' | sed 's/ $//')" "$nr"
if [ "$((FAILED + ABORTED + LE1 - LE0 + nr))" = 0 ]; then say "verdict: never full"; else say "verdict: FULL at some point"; fi

say
say "== memory and keys per node during the ttl phase (mantis_status every $SAMPLE s; $CSV)"
awk -F, -v t0="$TTL_T0" -v t1="$TTL_T1" -v maxkeys="$MAX_KEYS" '
	$2 == "ttl" && $1 >= t0 && $1 <= t1 {
		t = $1 - t0; d = t1 - t0; n = $3
		held = $4 + $5 + $6
		if (!(n in cnt)) { nodes[++nn] = n; mx[n] = 0 }
		cnt[n]++
		if (held > hmax[n]) hmax[n] = held
		if ($7 > mx[n]) mx[n] = $7
		if (t < 60) { upd(n, "m1", $7); upd(n, "k1", $4) }
		if (t >= d / 2) { upd(n, "m2", $7); upd(n, "k2", $4) }
		if (t >= 0.2 * d && t < 0.4 * d) { a[n] += $7; an[n]++; ak[n] += $4 }
		if (t >= 0.8 * d) { b[n] += $7; bn[n]++; bk[n] += $4 }
		lastm[n] = $7; lastk[n] = $4; laste[n] = $5
	}
	function upd(n, w, v) {
		if (!((n, w) in lo) || v < lo[n, w]) lo[n, w] = v
		if (!((n, w) in hi) || v > hi[n, w]) hi[n, w] = v
	}
	END {
		printf "%-4s %-9s %26s %26s %12s\n", "node", "", "first minute min / max", "second half min / max", "last"
		for (i = 1; i <= nn; i++) {
			n = nodes[i]
			printf "%-4s %-9s %12.1f / %11.1f %12.1f / %11.1f %12.1f   (MB)\n", n, "memory", lo[n, "m1"] / 1048576, hi[n, "m1"] / 1048576, lo[n, "m2"] / 1048576, hi[n, "m2"] / 1048576, lastm[n] / 1048576
			printf "%-4s %-9s %12d / %11d %12d / %11d %12d\n", "", "keys", lo[n, "k1"], hi[n, "k1"], lo[n, "k2"], hi[n, "k2"], lastk[n]
		}
		printf "\n%-4s %12s %12s %8s %12s %12s %8s %14s %8s\n", "node", "mem 20-40%", "mem last 20%", "ratio", "keys 20-40%", "keys last20%", "ratio", "max held", "samples"
		flat = nn > 0
		for (i = 1; i <= nn; i++) {
			n = nodes[i]
			if (an[n] == 0 || bn[n] == 0) { printf "%-4s (too few samples)\n", n; flat = 0; continue }
			r = (b[n] / bn[n]) / (a[n] / an[n]); rk = (bk[n] / bn[n]) / (ak[n] / an[n])
			if (r > 1.05) flat = 0
			printf "%-4s %10.1fMB %10.1fMB %8.3f %12.0f %12.0f %8.3f %8d of %d %5d\n", n, a[n] / an[n] / 1048576, b[n] / bn[n] / 1048576, r, ak[n] / an[n], bk[n] / bn[n], rk, hmax[n], maxkeys, cnt[n]
		}
		printf "max memory_used over the run: "
		for (i = 1; i <= nn; i++) printf "%s %.1f MB  ", nodes[i], mx[nodes[i]] / 1048576
		printf "\nverdict: %s\n", flat ? "flat (mean memory of the last 20% within 5% of 20%-40%)" : "NOT flat (memory of the last 20% more than 5% above 20%-40%)"
	}' "$CSV" | tee -a "$OUT"
say "(held = keys + expired_keys + deleted_keys: the registers counted against max_keys)"
awk -F, -v t0="$TTL_T0" -v t1="$TTL_T1" -v ttl="$TTL_S" '
	$2 == "ttl" && $1 >= t0 + 2 * ttl && $1 <= t1 && $10 != "" {
		n = $3; if (!(n in c)) nodes[++nn] = n
		c[n]++; d = $4 - $10; s[n] += d; if (d > m[n]) m[n] = d; v[n] += $10; if ($10 > mv[n]) mv[n] = $10
	}
	END {
		if (nn == 0) { print "(no probe of mantis_registers() in the ttl phase)"; exit }
		print "keys (mantis_status) against the registers mantis_registers() returns at the same moment (after the first " 2 * ttl " s):"
		for (i = 1; i <= nn; i++) { n = nodes[i]
			printf "%s: %d probes, visible mean %.0f max %d; keys - visible mean %.0f max %d\n", n, c[n], v[n] / c[n], mv[n], s[n] / c[n], m[n] }
	}' "$CSV" | tee -a "$OUT"

say
say "== set cost with ttl against without (same clients, same run)"
sayf 'tps_ttl / tps_floor: %.3f (%.0f / %.0f sets/s)%s\n' "$(div "$TTL_TPS" "$FLOOR_TPS")" "$TTL_TPS" "$FLOOR_TPS" \
	"$([ "$RATE" = 0 ] || echo ", both capped at -R $RATE_N per server: this shows the rate held, the CPU below is the cost")"
say "per node (n1 n2 n3): floor $FLOOR_TPS_N; ttl $TTL_TPS_N"
[ "$RATE" = 0 ] || sayf 'against the full-speed floor: tps %.3f of %.0f sets/s, CPU per set %.3f of %.1f us\n' \
	"$(div "$TTL_TPS" "$FULL_TPS")" "$FULL_TPS" "$(div "$TTL_CPU_SET" "$FULL_CPU_SET")" "$(calc "$FULL_CPU_SET * 1000000")"
sayf 'server CPU per set: floor %.1f us, ttl %.1f us; ttl / floor %.3f (the cost ratio; its inverse %.3f is the tps ratio on saturated CPUs)\n' \
	"$(calc "$FLOOR_CPU_SET * 1000000")" "$(calc "$TTL_CPU_SET * 1000000")" "$(div "$TTL_CPU_SET" "$FLOOR_CPU_SET")" "$(div "$FLOOR_CPU_SET" "$TTL_CPU_SET")"

say
say "== collection of the expired keys (every node holds every key: each should collect all $WRITTEN)"
i=0
read -ra ce0 <<<"$CE0"; read -ra ce2 <<<"$FIN_CE"; read -ra l2 <<<"$FIN_LEFT"; read -ra rows <<<"$END_ROWS"
k1=(); e1=(); ce1=()
for r in "${rows[@]}"; do IFS=: read -r a b c <<<"$r"; k1+=("$a"); e1+=("$b"); ce1+=("$c"); done
for n in $NODES; do
	sayf 'n%s: at the end of the load collected_expired %d + live %d + expired held %d = %d (written %d, %+d); after the drain collected_expired %d, %d held\n' \
		"$n" "$((ce1[i] - ce0[i]))" "${k1[i]}" "${e1[i]}" "$((ce1[i] - ce0[i] + k1[i] + e1[i]))" "$WRITTEN" \
		"$((ce1[i] - ce0[i] + k1[i] + e1[i] - WRITTEN))" "$((ce2[i] - ce0[i]))" "${l2[i]}"
	i=$((i + 1))
done
say "every node empty (no key, no expired register, no marker) $DRAINED after the load stopped"

say
say "== on disk: mantis_stores (this node's rows, and the table with its indexes and TOAST)"
read -ra tb <<<"$TABLE"
i=0
for n in $NODES; do
	sayf 'n%s: at the end of the load %s rows, %s MB; during the ttl phase %s\n' "$n" "${tb[i]%%:*}" "${tb[i]#*:}" \
		"$(awk -F, -v t0="$TTL_T0" -v t1="$TTL_T1" -v node="n$n" '$2 == "ttl" && $3 == node && $1 >= t0 && $1 <= t1 && $11 != "" {
			t = $1 - t0; d = t1 - t0
			if (mn == "" || $11 < mn) mn = $11; if ($11 > mx) mx = $11; if ($12 > tmx) tmx = $12
			if (t < 60 && $12 > first) first = $12
			if (t >= d / 2 && (h2 == "" || $12 < h2)) h2 = $12
			if (t >= d / 2 && $12 > h2x) h2x = $12
		} END { printf "rows min/max %d / %d; table max %.1f MB (first minute %.1f, second half %.1f to %.1f)", mn, mx, tmx / 1048576, first / 1048576, h2 / 1048576, h2x / 1048576 }' "$CSV")"
	i=$((i + 1))
done

say
say "load after: $(uptime)"
