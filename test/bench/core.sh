#!/usr/bin/env bash
#
# test/bench/core.sh — what mantis_get and mantis_set cost, measured as
# users deploy, against floors taken in the same run on the same server.
#
# Two configurations, one after the other, each a column of the report:
#
#   * 3 servers: n1, n2, n3 replicating to each other (full mesh over
#     loopback ZeroMQ, mantis_peers 'connected' before anything is
#     measured); the clients use n1;
#   * 1 server, without mantis.listen (no replication).
#
# Every server: persistence on (mantis.flush_interval at its default of
# 1 s), mantis.max_keys = 1100000, mantis.store_memory = 256MB,
# shared_buffers = 64MB, max_connections = 20.  At 10k and at 1M keys
# (servers started anew for each), measured:
#
#   a. pgbench, prepared protocol, 4 clients, SECS seconds a run, floor and
#      measured statement alternating (ABAB: drift hits both alike), the
#      best of each, as a ratio of transactions per second:
#        mantis_get('key' || :k)               over SELECT 'key' || :k
#        mantis_set('key' || :k, 'value' || :k) over SELECT 'key' || :k, 'value' || :k
#      in steady state: the load replicated, flushed (mantis_flush()) and
#      checkpointed, and every run starting on idle servers.  At 1M keys
#      also the set ratio as a bulk load leaves it: before each of its runs
#      (floor and set alike) the million keys are set anew on n1, so the
#      run overlaps the first flush of a million (and, with 3 servers,
#      their replication and the peers' flushes);
#   b. one call inside one statement of 2,000,000 calls, with
#      mantis.transactional = off:
#        SELECT count(mantis_set('key' || (i % N + 1), 'v')) FROM generate_series(1, 2000000) i
#      against the same without the call ("'key' || (i % N + 1)"), five
#      rounds interleaved, each waiting for the servers to be idle again:
#      the wall time per call over the floor's (median of the five
#      differences, and their spread); and the CPU time per call read from
#      /proc: the backend's own (it reads /proc/self/stat before and after
#      the statement; the floor's subtracted), each other process of n1
#      (the postmaster's children: replication and persistence workers,
#      walwriter, ...) up to the end of the write's tail (common.sh
#      cpu_settle), and n2's and n3's in all; summed over the five rounds;
#   c. at 10k keys, Redis beside it: Debian's redis-server on a unix socket
#      (--save '' --appendonly no), redis-benchmark GET and SET, 4 clients,
#      10,000 keys (-r 10000), no pipelining, best of two; against the
#      mantis_get / mantis_set tps of (a).
#
# On one machine the 3 servers share its cores: n2's and n3's apply and
# flushes take CPU the clients and n1 would have elsewhere.  The CPU per
# call of (b) says what each server spends, whatever the machine.
#
# Usage: bash test/bench/core.sh [seconds per pgbench run, default 10]
#   BENCH_PORT=55400: servers on BENCH_PORT+1..3 (replication on +51..53),
#   the single server on BENCH_PORT+9.  ROUNDS=2: pgbench runs of each
#   statement.  KEYS="10000 1000000" and CONFIGS="mesh single" choose
#   what runs (a shorter test).  MORE=1 adds what earlier runs measured: against a table
#   (primary-key SELECT, INSERT ... ON CONFLICT), mantis_set with
#   mantis.flush_interval = 0, buffered for COMMIT, and memory per key.
#   PG_CONFIG or BINDIR choose the PostgreSQL binaries (as common.sh).
# Needs mantis installed (make install) and, for (c), redis-server and
# redis-benchmark.  As root it runs the servers as "postgres".  Writes a
# report to test/bench/results/core.txt.
#
set -eu
BENCH_NAME=core
source "$(dirname "$0")/common.sh"
BASE=${BENCH_PORT:-55400}
ROUNDS=${ROUNDS:-2}
MORE=${MORE:-0}
CALLS=2000000
INTRINSIC_ROUNDS=5
KEYS=${KEYS:-10000 1000000}
CONFIGS=${CONFIGS:-mesh single}
CONF="shared_buffers = 64MB
max_connections = 20
mantis.max_keys = 1100000
mantis.store_memory = 256MB"

REDIS_PID=""
cleanup() {
	if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; fi
	nodes_stop
	rm -rf "$WORK"
}
trap cleanup EXIT

declare -A R=()	# results: R[<measure>|<configuration>] = a formatted cell
say() { echo "$@" | tee -a "$OUT"; }
calc() { echo "$@" | bc -l; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- the configurations: M is the server the clients use, NODES those
# whose processes are counted
config_start() {	# config_start <mesh|single>
	if [ "$1" = mesh ]; then
		mesh_start 3 "$BASE" "$CONF"
		M=n1 NODES=(n1 n2 n3)
	else
		node_start s $((BASE + 9)) "$CONF"
		M=s NODES=(s)
	fi
}
config_stop() { local n; for n in "${NODES[@]}"; do node_stop "$n"; done; }

# load <keys> [value suffix]: set keys 1..N on M, at once (not buffered)
load() {
	node_psql "$M" -c "SET mantis.transactional = off" \
		-c "SELECT count(mantis_set('key' || i, 'value' || i || '${2:-}')) FROM generate_series(1, $1) i" >/dev/null
}
replicated() {	# replicated <keys>: until every server holds them (at most 120 s each)
	local n _ held
	for n in "${NODES[@]}"; do
		for _ in $(seq 1200); do
			held=$(node_psql "$n" -c "SELECT keys FROM mantis_status")
			[ "$held" -ge "$1" ] && continue 2
			sleep 0.1
		done
		echo "$n holds $held keys of $1 after 120 s: the figures would be of a cluster still replicating" >&2
		exit 1
	done
}

# ---- a. pgbench

script() {	# script <name> <sql>: a pgbench file over keys 1..$N
	printf '\\set k random(1, %d)\n%s\n' "$N" "$2" >"$WORK/$1.sql"
	chmod 644 "$WORK/$1.sql"
}

tps() {	# tps <script name>: one run on M, once the servers are idle
	cpu_settle "${NODES[@]}"
	[ -z "${BEFORE_RUN:-}" ] || $BEFORE_RUN
	as_pg "$BIN/pgbench" -h "$WORK" -p "${NODE_PORT[$M]}" -n -M prepared -c 4 -j 4 -T "$SECS" \
		-f "$WORK/$1.sql" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

# compare <measure> <floor script> <measured script>: ROUNDS alternating
# runs of each, the best of each; R[measure|config] = floor measured ratio
compare() {
	local i a b fl=0 me=0
	for i in $(seq "$ROUNDS"); do
		a=$(tps "$2"); b=$(tps "$3")
		echo "  $CFG $N $1 round $i: floor $a, measured $b"
		fl=$(calc "if ($a > $fl) $a else $fl"); me=$(calc "if ($b > $me) $b else $me")
	done
	R[$1|$CFG]=$(printf '%9.0f %9.0f %7.3f' "$fl" "$me" "$(calc "$me / $fl")")
}

# fresh_load: set the N keys anew (new values) on M: all of them to flush
# (and, with 3 servers, to replicate) again; called before each run
fresh_load() { load "$N" ".$(date +%s%N)"; }

# ---- b. one call inside one statement

# statement <expr>: runs SELECT count(<expr>) over $CALLS rows on M with
# mantis.transactional = off; prints "<wall seconds> <backend ticks>"
statement() {
	node_psql "$M" -F' ' -c "SET mantis.transactional = off" \
		-c "SELECT ($BACKEND_TICKS), extract(epoch FROM clock_timestamp())" \
		-c "SELECT count($1) FROM generate_series(1, $CALLS) i" \
		-c "SELECT ($BACKEND_TICKS), extract(epoch FROM clock_timestamp())" |
		awk 'NR == 1 { t = $1; e = $2 } NR == 3 { print $2 - e, $1 - t }'
}

# intrinsic <measure> <call expr> <floor expr>: INTRINSIC_ROUNDS rounds of
# floor then call, each round on idle servers; the processes' CPU is
# counted from before the call's statement to the end of its tail.
#   R[measure|config]      floor ns, call ns (medians), call - floor (median of the rounds' differences)
#   R[measure_spread|...]  the smallest and largest of those differences
#   R[measure_cpu|...]     the backend's CPU per call over the floor's
#   R[measure_cpu:<node>:<title>|...] each other process's CPU per call
intrinsic() {
	local i f c fw=() cw=() dw=() ft=0 ct=0 k node title t
	declare -A ticks=()
	cpu_settle "${NODES[@]}"
	for i in $(seq "$INTRINSIC_ROUNDS"); do
		read -r -a f <<<"$(statement "$3")"
		cpu_snapshot "${NODES[@]}" >"$WORK/cpu.before"
		read -r -a c <<<"$(statement "$2")"
		cpu_settle "${NODES[@]}"
		cpu_snapshot "${NODES[@]}" >"$WORK/cpu.after"
		while IFS='|' read -r node title t; do
			k="$node:$title"
			ticks[$k]=$(( ${ticks[$k]:-0} + t ))
		done < <(cpu_by_process "$WORK/cpu.before" "$WORK/cpu.after")
		fw+=("${f[0]}"); cw+=("${c[0]}"); dw+=("$(calc "${c[0]} - ${f[0]}")")
		ft=$((ft + f[1])); ct=$((ct + c[1]))
		echo "  $CFG $N $1 round $i: floor ${f[0]} s, call ${c[0]} s; backend ticks ${f[1]} / ${c[1]}"
	done
	local ns="* 1000000000 / $CALLS"
	R[$1|$CFG]=$(printf '%9.1f %9.1f %7.1f' \
		"$(calc "$(printf '%s\n' "${fw[@]}" | median) $ns")" \
		"$(calc "$(printf '%s\n' "${cw[@]}" | median) $ns")" \
		"$(calc "$(printf '%s\n' "${dw[@]}" | median) $ns")")
	R[$1_spread|$CFG]=$(printf '%27s' "$(printf '%.1f to %.1f' \
		"$(calc "$(printf '%s\n' "${dw[@]}" | sort -g | head -1) $ns")" \
		"$(calc "$(printf '%s\n' "${dw[@]}" | sort -g | tail -1) $ns")")")
	local per_call="* 1000000000 / $TCK / ($INTRINSIC_ROUNDS * $CALLS)"
	R[$1_cpu|$CFG]=$(printf '%27.1f' "$(calc "($ct - $ft) $per_call")")
	for k in "${!ticks[@]}"; do
		[ "${ticks[$k]}" -gt 0 ] || continue
		R[$1_cpu:$k|$CFG]=$(printf '%27.1f' "$(calc "${ticks[$k]} $per_call")")
	done
}

# ---- c. Redis

REDIS_SOCK="$WORK/redis.sock"
redis_start() {
	redis-server --port 0 --unixsocket "$REDIS_SOCK" --save '' --appendonly no \
		--daemonize no --logfile "$WORK/redis.log" &
	REDIS_PID=$!
	for _ in $(seq 100); do [ -S "$REDIS_SOCK" ] && return; sleep 0.1; done
	echo "redis-server did not start" >&2; exit 1
}
# redis_rps <SET|GET>: requests per second of one redis-benchmark run of
# about SECS seconds (a first short run sizes it)
redis_rps() {
	local t=${1,,} n rps
	rps=$(redis-benchmark -s "$REDIS_SOCK" -c 4 -r 10000 -n 100000 -t "$t" --csv | awk -F'"' 'NR == 2 { print $4 }')
	n=$(calc "$rps * $SECS / 1" | cut -d. -f1)
	redis-benchmark -s "$REDIS_SOCK" -c 4 -r 10000 -n "$n" -t "$t" --csv | awk -F'"' 'NR == 2 { print $4 }'
}
redis_measure() {	# R[redis_get|all], R[redis_set|all]: the best of ROUNDS
	local i op r best
	for op in SET GET; do
		best=0
		for i in $(seq "$ROUNDS"); do
			r=$(redis_rps "$op")
			echo "  redis $op round $i: $r requests/s"
			best=$(calc "if ($r > $best) $r else $best")
		done
		R[redis_${op,,}|all]=$best
	done
}
# versus_redis <measure> <pgbench measure> <redis measure>: per configuration
versus_redis() {
	local cfg me re
	re=${R[$3|all]}
	for cfg in $CONFIGS; do
		me=$(echo "${R[$2|$cfg]}" | awk '{ print $2 }')
		R[$1|$cfg]=$(printf '%9.0f %9.0f %7.3f' "$re" "$me" "$(calc "$me / $re")")
	done
}

# ---- MORE=1: what earlier runs measured besides

more_measures() {
	node_psql "$M" -c "CREATE TABLE kv (key text PRIMARY KEY, value text);
		INSERT INTO kv SELECT 'key' || i, 'value' || i FROM generate_series(1, $N) i;" -c "VACUUM ANALYZE kv"
	node_psql "$M" -c "SELECT count(*) FROM kv WHERE value IS NOT NULL" >/dev/null
	script table_get "SELECT value FROM kv WHERE key = 'key' || :k;"
	script table_set "INSERT INTO kv VALUES ('key' || :k, 'value' || :k) ON CONFLICT (key) DO UPDATE SET value = excluded.value;"
	script set_immediate "BEGIN; SET LOCAL mantis.transactional = off; SELECT mantis_set('key' || :k, 'value' || :k); COMMIT;"
	script set_at_commit "BEGIN; SET LOCAL mantis.transactional = on; SELECT mantis_set('key' || :k, 'value' || :k); COMMIT;"
	compare table_get table_get mantis_get
	compare table_set table_set mantis_set
	node_psql "$M" -c "ALTER SYSTEM SET mantis.flush_interval = 0" -c "SELECT pg_reload_conf()" >/dev/null
	compare no_flush floor_set mantis_set
	node_psql "$M" -c "ALTER SYSTEM RESET mantis.flush_interval" -c "SELECT pg_reload_conf()" >/dev/null
	compare at_commit set_immediate set_at_commit
	intrinsic i_pk "(SELECT value FROM kv WHERE key = 'key' || (i % $N + 1))" "'key' || (i % $N + 1)"
}

memory_per_key() {	# on a single server whose 64 MB store is filled
	local held shm dsa=$((64 * 1024 * 1024))
	node_start mem $((BASE + 8)) "shared_buffers = 64MB
mantis.max_keys = 1048576
mantis.store_memory = 64MB"
	held=$(node_psql mem -c "SET mantis.transactional = off" -c "DO \$\$ DECLARE n int := 0; BEGIN
			LOOP PERFORM mantis_set('key' || n, 'value' || n); n := n + 1; END LOOP;
		EXCEPTION WHEN out_of_memory THEN END \$\$" -c "SELECT keys FROM mantis_status")
	shm=$(node_psql mem -c "SELECT size FROM pg_shmem_allocations WHERE name = 'mantis'")
	node_stop mem
	say
	say "$(printf 'memory per key ("keyN" -> "valueN"): %.1f bytes of store memory (%d keys filled 64 MB) + %.1f bytes of index at mantis.max_keys = 1048576' \
		"$(calc "$dsa / $held")" "$held" "$(calc "($shm - $dsa) / 1048576")")"
}

# ---- one configuration at N keys

measure() {	# measure <mesh|single>
	local n
	CFG=$1
	config_start "$CFG"
	cpu_idle "${NODES[@]}"
	load "$N"
	replicated "$N"
	for n in "${NODES[@]}"; do node_psql "$n" -c "SELECT mantis_flush()" -c "CHECKPOINT" >/dev/null; done

	script floor_get "SELECT 'key' || :k;"
	script mantis_get "SELECT mantis_get('key' || :k);"
	script floor_set "SELECT 'key' || :k, 'value' || :k;"
	script mantis_set "SELECT mantis_set('key' || :k, 'value' || :k);"
	compare get floor_get mantis_get
	compare set floor_set mantis_set
	if [ "$N" -ge 1000000 ]; then
		BEFORE_RUN=fresh_load compare set_fresh floor_set mantis_set
	fi
	intrinsic i_get "mantis_get('key' || (i % $N + 1))" "'key' || (i % $N + 1)"
	intrinsic i_set "mantis_set('key' || (i % $N + 1), 'v')" "'key' || (i % $N + 1)"
	[ "$MORE" = 1 ] && more_measures
	config_stop
}

# ---- the report

cell() { echo "${R[$1|$2]:-$(printf '%27s' -)}"; }
row() {	# row <label> <measure>
	local line cfg
	line=$(printf '%-48s' "$1")
	for cfg in $CONFIGS; do line="$line   $(cell "$2" "$cfg")"; done
	say "$line"
}
heading() {	# heading <label> <column heading>
	local line cfg
	line=$(printf '%-48s' "$1")
	for cfg in $CONFIGS; do line="$line   $(printf '%27s' "$2")"; done
	say "$line"
}
cpu_rows() {	# cpu_rows <measure>: the backend, n1's other processes, n2, n3
	local title node k sum
	row "  n1: the backend (over the floor's)" "$1_cpu"
	while read -r title; do	# by title: n1's in the mesh, s's alone
		R[$1_cpu:M:$title|mesh]=${R[$1_cpu:n1:$title|mesh]:-}
		R[$1_cpu:M:$title|single]=${R[$1_cpu:s:$title|single]:-}
		row "  n1: $title" "$1_cpu:M:$title"
	done < <(printf '%s\n' "${!R[@]}" | sed -n "s/^$1_cpu:\(n1\|s\):\(.*\)|.*/\2/p" | sort -u)
	case " $CONFIGS " in *" mesh "*) ;; *) return 0 ;; esac
	for node in n2 n3; do
		sum=0
		for k in "${!R[@]}"; do
			case $k in "$1_cpu:$node:"*"|mesh") sum=$(calc "$sum + ${R[$k]}") ;; esac
		done
		R[$1_cpu:$node|mesh]=$(printf '%27.1f' "$sum")
		row "  $node: all its processes" "$1_cpu:$node"
	done
}

report() {	# the tables of N keys
	say
	say "== $(printf "%'d" "$N") keys"
	local line cfg title
	line=$(printf '%-48s' "")
	for cfg in $CONFIGS; do
		if [ "$cfg" = mesh ]; then title="n1 of 3 servers (replicating)"; else title="1 server"; fi
		line="$line   $(printf '%27s' "$title")"
	done
	say "$line"
	heading "pgbench tps, best of $ROUNDS alternating runs" "floor    mantis   ratio"
	row "mantis_get / SELECT 'key' || :k" get
	row "mantis_set / SELECT 'key' || :k, 'value' || :k" set
	[ "$N" -lt 1000000 ] || row "  the same, each run right after a load of 1M" set_fresh
	if [ "$N" = 10000 ] && [ -n "${R[redis_get|all]:-}" ]; then
		heading "against Redis (-c 4 -r 10000; rps, tps)" "redis    mantis   ratio"
		row "mantis_get / redis-benchmark GET" v_redis_get
		row "mantis_set / redis-benchmark SET" v_redis_set
	fi
	if [ "$MORE" = 1 ]; then
		row "mantis_get / primary-key SELECT" table_get
		row "mantis_set / INSERT ... ON CONFLICT" table_set
		row "mantis_set / its floor, flush_interval = 0" no_flush
		row "buffered for COMMIT / applied at once" at_commit
	fi
	heading "one call in a statement of $CALLS (ns)" "floor      call    diff"
	row "mantis_get, median of $INTRINSIC_ROUNDS" i_get
	row "  spread of the differences" i_get_spread
	row "mantis_set (transactional off), median of $INTRINSIC_ROUNDS" i_set
	row "  spread of the differences" i_set_spread
	[ "$MORE" = 1 ] && row "primary-key lookup, for scale" i_pk
	heading "CPU per call (ns; /proc, $INTRINSIC_ROUNDS rounds)" "per call"
	say "mantis_get"
	row "  n1: the backend (over the floor's)" i_get_cpu
	say "mantis_set, to the end of its tail"
	cpu_rows i_set
	say "  (mantis worker: persistence; mantis replication: replication)"
}

# ---- the run

: >"$OUT"
say "mantis core benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))"
say "$(uname -srm); $("$BIN/postgres" --version); pgbench -M prepared -c 4 -j 4 -T $SECS"
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
command -v redis-server >/dev/null && redis_start

for N in $KEYS; do
	R=()
	for c in $CONFIGS; do measure "$c"; done
	if [ "$N" = 10000 ] && [ -n "$REDIS_PID" ]; then
		redis_measure
		versus_redis v_redis_get get redis_get
		versus_redis v_redis_set set redis_set
	fi
	report
done
[ "$MORE" = 1 ] && memory_per_key
say
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
