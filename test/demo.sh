#!/usr/bin/env bash
#
# test/demo.sh — the main job: build and install mantis, start a local
# 3-node mantis cluster on loopback (three PostgreSQL servers, each with its
# own port and ZeroMQ endpoint), set a value on n1 and read it on n3.  The
# servers keep running; "bash test/demo.sh stop" stops them.
#
# The cluster is the secure one the README's Setup describes: every link is
# encrypted and authenticated with CURVE, each server with a key pair made
# by mantis_keygen and a peers file listing the other two.
#
# As root on a fresh Debian 12 it installs what it needs from Debian first
# and runs the server as the "postgres" user.
#
set -eu
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
DEMO=${MANTIS_DEMO_DIR:-/tmp/mantis-demo}
PORT=${MANTIS_DEMO_PORT:-5433}		# n1, n2, n3 on 5433, 5434, 5435
ZMQ=${MANTIS_DEMO_ZMQ_PORT:-7701}	# their ZeroMQ endpoints on 7701, 7702, 7703

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-}" = stop ]; then
	BIN=$("$PG_CONFIG" --bindir)
	for n in 1 2 3; do
		as_pg "$BIN/pg_ctl" -D "$DEMO/n$n" -m fast stop || true
	done
	exit 0
fi

if [ "$(id -u)" = 0 ]; then
	need=""
	for p in postgresql-15 postgresql-server-dev-15 libzmq3-dev make gcc; do
		dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
	done
	if [ -n "$need" ]; then
		echo "installing:$need"
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null
	fi
fi
BIN=$("$PG_CONFIG" --bindir)

make -s PG_CONFIG="$PG_CONFIG" >/dev/null
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null

for n in 1 2 3; do
	as_pg "$BIN/pg_ctl" -D "$DEMO/n$n" -m fast stop >/dev/null 2>&1 || true
done
rm -rf "$DEMO"
mkdir -p "$DEMO"
[ "$(id -u)" = 0 ] && chown postgres: "$DEMO"

# a CURVE key pair per server (mantis_keygen prints "NAME PUBLIC_KEY")
declare -A public
for n in 1 2 3; do
	public[$n]=$(as_pg "$BIN/mantis_keygen" "n$n" "$DEMO/n$n.key" | cut -d' ' -f2)
done

# three servers on loopback: PostgreSQL on $PORT.., ZeroMQ on $ZMQ..
for n in 1 2 3; do
	peers=""
	: >"$DEMO/n$n.peers"
	for m in 1 2 3; do
		[ $m = $n ] && continue
		peers="$peers${peers:+,}tcp://127.0.0.1:$((ZMQ + m - 1))"
		echo "n$m ${public[$m]} tcp://127.0.0.1:$((ZMQ + m - 1))" >>"$DEMO/n$n.peers"
	done
	as_pg "$BIN/initdb" -D "$DEMO/n$n" -A trust -U postgres >/dev/null
	cat >>"$DEMO/n$n/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $((PORT + n - 1))
unix_socket_directories = '$DEMO'
shared_buffers = 32MB
shared_preload_libraries = 'mantis'
mantis.node_name = 'n$n'
mantis.listen = 'tcp://127.0.0.1:$((ZMQ + n - 1))'
mantis.peers = '$peers'
mantis.curve_secret_key_file = '$DEMO/n$n.key'
mantis.curve_peers_file = '$DEMO/n$n.peers'
CONF
	as_pg "$BIN/pg_ctl" -D "$DEMO/n$n" -l "$DEMO/n$n.log" -w start >/dev/null
	$BIN/psql -X -q -h 127.0.0.1 -p $((PORT + n - 1)) -U postgres -d postgres -c "CREATE EXTENSION mantis"
done

psql_n() { local n=$1; shift; $BIN/psql -X -h 127.0.0.1 -p $((PORT + n - 1)) -U postgres -d postgres "$@"; }

# wait until the three see each other
for n in 1 2 3; do
	for _ in $(seq 100); do
		[ "$(psql_n $n -At -c "SELECT count(*) FROM mantis_peers WHERE state = 'connected'")" = 2 ] && break
		sleep 0.1
	done
done

echo "n1> SELECT mantis_set('checkout.new_flow', 'on');"
psql_n 1 -At -c "SELECT mantis_set('checkout.new_flow', 'on')" >/dev/null
for _ in $(seq 100); do
	[ "$(psql_n 3 -At -c "SELECT mantis_get('checkout.new_flow')")" = on ] && break
	sleep 0.01
done
echo "n3> SELECT mantis_get('checkout.new_flow');"
psql_n 3 -At -c "SELECT mantis_get('checkout.new_flow')"
echo
sleep 0.2	# mantis_peers is republished every 100 ms
echo "n3> SELECT node_name, state, messages_in, registers_applied FROM mantis_peers;"
psql_n 3 -c "SELECT node_name, state, messages_in, registers_applied FROM mantis_peers"
echo "A 3-node mantis cluster is running on 127.0.0.1, its links encrypted with CURVE (data, keys and logs in $DEMO):"
for n in 1 2 3; do
	echo "  n$n: psql -h 127.0.0.1 -p $((PORT + n - 1)) -U postgres    (ZeroMQ tcp://127.0.0.1:$((ZMQ + n - 1)))"
done
echo "Stop it with: bash test/demo.sh stop"
