#!/usr/bin/env bash
#
# test/demo.sh — the main job: build and install mantis, start a local
# PostgreSQL server with mantis loaded on a loopback port, set a value and
# read it back.  The server keeps running; "bash test/demo.sh stop" stops it.
#
# As root on a fresh Debian 12 it installs what it needs from Debian first
# and runs the server as the "postgres" user.
#
set -eu
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
DEMO=${MANTIS_DEMO_DIR:-/tmp/mantis-demo}
PORT=${MANTIS_DEMO_PORT:-5433}

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-}" = stop ]; then
	BIN=$("$PG_CONFIG" --bindir)
	as_pg "$BIN/pg_ctl" -D "$DEMO/n1" -m fast stop || true
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

as_pg "$BIN/pg_ctl" -D "$DEMO/n1" -m fast stop >/dev/null 2>&1 || true
rm -rf "$DEMO"
mkdir -p "$DEMO"
[ "$(id -u)" = 0 ] && chown postgres: "$DEMO"
as_pg "$BIN/initdb" -D "$DEMO/n1" -A trust -U postgres >/dev/null
cat >>"$DEMO/n1/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DEMO'
shared_buffers = 32MB
shared_preload_libraries = 'mantis'
mantis.node_name = 'n1'
CONF
as_pg "$BIN/pg_ctl" -D "$DEMO/n1" -l "$DEMO/n1.log" -w start >/dev/null

PSQL="$BIN/psql -X -h 127.0.0.1 -p $PORT -U postgres -d postgres"
$PSQL -q -c "CREATE EXTENSION mantis"
echo "n1> SELECT mantis_set('checkout.new_flow', 'on');"
$PSQL -At -c "SELECT mantis_set('checkout.new_flow', 'on')"
echo "n1> SELECT mantis_get('checkout.new_flow');"
$PSQL -At -c "SELECT mantis_get('checkout.new_flow')"
echo
echo "mantis is running on 127.0.0.1:$PORT (data in $DEMO/n1, log in $DEMO/n1.log)."
echo "Connect:  psql -h 127.0.0.1 -p $PORT -U postgres"
echo "Stop:     bash test/demo.sh stop"
