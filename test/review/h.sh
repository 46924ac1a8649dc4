# harness: source me
BIN=/tmp/pgR/usr/lib/postgresql/15/bin
D=/tmp/hRn
asp() { su postgres -s /bin/bash -c "$*"; }
# mk name pgport zport peers extra_conf
mk() {
  local n=$1 p=$2 z=$3 peers=$4 extra=$5
  asp "rm -rf $D/$n; $BIN/initdb -D $D/$n -A trust >/dev/null"
  cat >> $D/$n/postgresql.conf <<EOC
port = $p
listen_addresses = ''
unix_socket_directories = '$D'
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
max_connections = 20
restart_after_crash = on
mantis.node_name = '$n'
mantis.listen = 'tcp://127.0.0.1:$z'
mantis.peers = '$peers'
$extra
EOC
}
st() { asp "$BIN/pg_ctl -D $D/$1 -l $D/$1.log -w start >/dev/null" && asp "$BIN/psql -h $D -p $2 -d postgres -qAtc 'CREATE EXTENSION IF NOT EXISTS mantis'" ; }
sp() { asp "$BIN/pg_ctl -D $D/$1 -m ${2:-fast} -w stop >/dev/null"; }
q() { local p=$1; shift; asp "$BIN/psql -h $D -p $p -d postgres -qAtX -c \"$*\""; }
