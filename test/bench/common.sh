#!/usr/bin/env bash
#
# test/bench/common.sh — sourced by the benchmarks after setting BENCH_NAME:
# the run length (their first argument, default 10 s), the PostgreSQL
# binaries, a work directory the server user owns, the report file
# test/bench/results/$BENCH_NAME.txt, as_pg to run a command as the
# server user ("postgres" when we are root), and start_local_server for the
# benchmarks that use one server, on $PORT with its socket in $WORK.
#
# Servers by name (core.sh, replication.sh): node_start starts one in
# $WORK/<name>, mesh_start N servers n1..nN replicating to each other (full
# mesh over loopback ZeroMQ, as a cluster is deployed), node_psql runs psql
# on one, nodes_stop stops them all (the EXIT trap).  CPU accounting from
# /proc: cpu_snapshot lists the CPU time of every process of some servers,
# cpu_idle measures what they spend idle, cpu_settle waits until they are
# idle again, cpu_by_process subtracts two snapshots ($TCK ticks a second).
# The work directory is made in $TMPDIR (default /tmp).
#
SECS=${1:-10}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BIN=${BINDIR:-$("$PG_CONFIG" --bindir)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mantis-$BENCH_NAME.XXXXXX")
OUT="$HERE/results/$BENCH_NAME.txt"
mkdir -p "$HERE/results"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres: "$WORK"; fi
TCK=$(getconf CLK_TCK)

# start_local_server <postgresql.conf lines>: a new server in $WORK/data
# (any earlier one stopped and removed) preloading mantis, listening on
# $PORT on the socket in $WORK only, with the extension created: the
# server named "data" of node_start (below).
start_local_server() { node_start data "$PORT" "$1"; }

# stop_local_server: the EXIT trap of those benchmarks
stop_local_server() {
	as_pg "$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}

# ---- servers by name ------------------------------------------------------

declare -A NODE_PORT=()

# node_start <name> <port> <postgresql.conf lines>: a new server in
# $WORK/<name> (any earlier one of that name stopped and removed),
# preloading mantis, on the socket in $WORK only, the extension created.
node_start() {
	local name=$1 port=$2
	node_stop "$name"
	rm -rf "${WORK:?}/$name"
	NODE_PORT[$name]=$port
	as_pg "$BIN/initdb" -D "$WORK/$name" -A trust >/dev/null
	as_pg tee -a "$WORK/$name/postgresql.conf" >/dev/null <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$WORK'
shared_preload_libraries = 'mantis'
$3
CONF
	as_pg "$BIN/pg_ctl" -D "$WORK/$name" -l "$WORK/$name.log" -w start >/dev/null
	node_psql "$name" -c "CREATE EXTENSION mantis"
}

node_stop() { as_pg "$BIN/pg_ctl" -D "$WORK/$1" -m immediate stop >/dev/null 2>&1 || true; }
nodes_stop() { local name; for name in "${!NODE_PORT[@]}"; do node_stop "$name"; done; }

# node_psql <name> <psql arguments>: unaligned, tuples only
node_psql() {
	local name=$1
	shift
	as_pg "$BIN/psql" -X -q -At -h "$WORK" -p "${NODE_PORT[$name]}" -d postgres "$@"
}
node_conninfo() { echo "host=$WORK port=${NODE_PORT[$1]} dbname=postgres user=postgres"; }

# mesh_start <count> <base port> <postgresql.conf lines>: servers n1..n<count>
# on ports base+1.., replication on tcp://127.0.0.1:base+51.., each listing
# all the others; returns once every one has all its peers connected.
mesh_start() {
	local count=$1 base=$2 n m peers
	for n in $(seq "$count"); do
		peers=""
		for m in $(seq "$count"); do
			[ "$m" = "$n" ] || peers="$peers${peers:+,}tcp://127.0.0.1:$((base + 50 + m))"
		done
		node_start "n$n" $((base + n)) "mantis.node_name = 'n$n'
mantis.listen = 'tcp://127.0.0.1:$((base + 50 + n))'
mantis.peers = '$peers'
$3"
	done
	for n in $(seq "$count"); do wait_connected "n$n" $((count - 1)); done
}

wait_connected() {	# wait_connected <name> <peers>: within 90 s
	local _
	for _ in $(seq 900); do
		[ "$(node_psql "$1" -c "SELECT count(*) FROM mantis_peers WHERE state = 'connected'")" -ge "$2" ] && return
		sleep 0.1
	done
	echo "$1 did not connect to $2 peers within 90 s:" >&2
	node_psql "$1" -c "SELECT node_name, endpoint, state, last_error FROM mantis_peers" >&2
	exit 1
}

# ---- CPU time from /proc ----------------------------------------------------

# cpu_snapshot <name>...: a line "name|pid|title|ticks" for the postmaster
# and each live child of each server: utime + stime in clock ticks ($TCK a
# second); the title is the process title less "postgres: ".  A backend
# that ends between two snapshots is in neither: measure it from inside
# (backend_ticks).
cpu_snapshot() {
	local name pm pid title ticks
	for name in "$@"; do
		pm=$(head -1 "$WORK/$name/postmaster.pid")
		for pid in "$pm" $(pgrep -P "$pm"); do
			ticks=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null) || continue
			if [ "$pid" = "$pm" ]; then
				title=postmaster
			else
				title=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed 's/^postgres: //; s/ *$//')
			fi
			echo "$name|$pid|$title|$ticks"
		done
	done
}

cpu_total() { cpu_snapshot "$@" | awk -F'|' '{ s += $4 } END { print s + 0 }'; }

# cpu_idle <name>...: sets CPU_IDLE to the ticks the servers spend idle in
# 1.5 s (the least of three windows): greetings and timers, more with more
# peers.  Call it once the servers are up and quiet.
CPU_IDLE=0
cpu_idle() {
	local t0 t1 least="" _
	for _ in 1 2 3; do
		t0=$(cpu_total "$@")
		sleep 1.5
		t1=$(cpu_total "$@")
		if [ -z "$least" ] || [ $((t1 - t0)) -lt "$least" ]; then least=$((t1 - t0)); fi
	done
	CPU_IDLE=$least
}

# cpu_settle <name>...: wait until the servers' processes are idle again:
# together at most half as much again as CPU_IDLE, and one tick a server
# (and one more), in 1.5 s.  The tail of a write (replication, the peers'
# apply, the flushes of every flush_interval) is then over.  At most about
# 60 s.
cpu_settle() {
	local t0 t1 _ limit=$((CPU_IDLE * 3 / 2 + $# + 1))
	for _ in $(seq 40); do
		t0=$(cpu_total "$@")
		sleep 1.5
		t1=$(cpu_total "$@")
		[ $((t1 - t0)) -le "$limit" ] && return 0
	done
	echo "warning: the servers were still busy 60 s later ($((t1 - t0)) ticks in 1.5 s, idle $CPU_IDLE)" >&2
}

# cpu_by_process <before> <after>: "name|title|ticks" spent between two
# snapshot files by the processes in both, summed by server and title
cpu_by_process() {
	join -t'|' <(awk -F'|' '{ print $1 ":" $2 "|" $3 "|" $4 }' "$1" | sort) \
		<(awk -F'|' '{ print $1 ":" $2 "|" $4 }' "$2" | sort) |
		awk -F'|' '{ split($1, a, ":"); d[a[1] "|" $2] += $4 - $3 }
			END { for (k in d) print k "|" d[k] }' | sort
}

# backend_ticks: SQL for the utime + stime of the backend that runs it
BACKEND_TICKS="SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
	FROM pg_read_file('/proc/self/stat') s"
