#!/usr/bin/env bash
#
# test/clients/run.sh — one user scenario, run from real client libraries
# against a real server: one driver per ecosystem (Python, Node.js, Ruby,
# Java, Go, Perl), each straight to the server and through PgBouncer in
# transaction mode.  Called by test/run_suites.sh from the repository
# root, as an unprivileged user, against the mantis installed for
# PG_CONFIG.
#
# It starts its own server (initdb in tmp_check/clients, 127.0.0.1 only,
# shared_preload_libraries = 'mantis'), creates the extension and a role
# "app" that logs in with a password (scram-sha-256, over TCP) and has only
# GRANT mantis_writer, mantis_monitor; starts PgBouncer in transaction mode
# in front of it; runs each client; and stops what it started.
#
# Standard output is one line per client, "ok     <name>" or
# "FAILED <name>", for:
#	psycopg		test/clients/python/psycopg_test.py direct
#	sqlalchemy	test/clients/python/sqlalchemy_test.py (psycopg2)
#	node		test/clients/node/test.js (pg, installed by npm ci)
#	pgbouncer	test/clients/python/psycopg_test.py pgbouncer
#	ruby		test/clients/ruby/test.rb (ruby-pg), direct then PgBouncer
#	java		test/clients/java/MantisClientTest.java (pgJDBC), compiled
#			by javac, direct then PgBouncer
#	go		test/clients/go/main.go (pgx v4), built offline in GOPATH
#			mode from Debian's Go sources, direct then PgBouncer
#	perl		test/clients/perl/test.pl (DBI with DBD::Pg), direct then
#			PgBouncer
#	watch-psycopg	test/clients/python/watch_test.py: the feature-flag
#			client mantis_flags.py (the change feed), and
#			mantis_wait() through PgBouncer
#	watch-node	test/clients/node/watch_test.js: the same with
#			mantis_flags.js
# Each client's checks go to tmp_check/clients/<name>.log, with the
# server's and PgBouncer's logs beside them; the tail of a failed
# client's log goes to standard error.  The exit status is 1 when any
# client failed.  MANTIS_CLIENTS (a space-separated subset of the names
# above) runs only those.
#
# Python is Debian's /usr/bin/python3 with Debian's python3-psycopg,
# python3-psycopg2 and python3-sqlalchemy; node-postgres comes from the npm
# registry at the versions of test/clients/node/package-lock.json; Ruby,
# Java, Go and Perl and their drivers are Debian's: ruby-pg,
# libpostgresql-jdbc-java (/usr/share/java/postgresql.jar) with the JDK's
# javac, golang-github-jackc-pgx-v4-dev with golang-go, libdbd-pg-perl.
# MANTIS_CLIENTS_PORT (default: the first free of 6540-6599) is the
# server's port; PgBouncer takes the next free one.
#
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
ALL_CLIENTS="psycopg sqlalchemy node pgbouncer ruby java go perl watch-psycopg watch-node"
CLIENTS=${MANTIS_CLIENTS:-$ALL_CLIENTS}
for c in $CLIENTS; do
	case " $ALL_CLIENTS " in
	*" $c "*) ;;
	*) echo "--- clients: no client named $c (MANTIS_CLIENTS)" >&2; echo "FAILED $c"; exit 1 ;;
	esac
done
wants() { case " $CLIENTS " in *" $1 "*) return 0 ;; esac; return 1; }
PG_CONFIG=${PG_CONFIG:-pg_config}
PYTHON=/usr/bin/python3
WORK=$ROOT/tmp_check/clients
DATA=$WORK/data
# the environment must not choose the clients' server or credentials
unset PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGPASSFILE PGDATABASE PGSERVICE \
	PGSERVICEFILE PGOPTIONS PGSSLMODE PGAPPNAME

BINDIR=$("$PG_CONFIG" --bindir 2>/dev/null) || BINDIR=
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

fail_all() {	# fail_all <why>: every client fails, for a reason told once
	local c
	echo "--- clients: $1" >&2
	for c in $CLIENTS; do echo "FAILED $c"; done
	exit 1
}

port_free() {	# nothing listens on 127.0.0.1:<port>
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {	# free_port <first>: the first free port from <first> to 6599
	local p=$1
	while [ "$p" -le 6599 ]; do
		port_free "$p" && { echo "$p"; return 0; }
		p=$((p + 1))
	done
	return 1
}

log_tail() {	# log_tail <file> <lines>
	[ -f "$1" ] && { echo "--- last lines of $1:"; tail -n "$2" "$1"; } >&2
}

PG_STARTED=
BOUNCER_PID=
OWN_SOCKDIR=
cleanup() {
	if [ -n "$BOUNCER_PID" ]; then
		kill "$BOUNCER_PID" 2>/dev/null
		wait "$BOUNCER_PID" 2>/dev/null
	fi
	[ -n "$PG_STARTED" ] && "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1
	[ -n "$OWN_SOCKDIR" ] && rm -rf "$OWN_SOCKDIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

[ -n "$BINDIR" ] && [ -x "$BINDIR/postgres" ] || fail_all "no PostgreSQL server for PG_CONFIG=$PG_CONFIG"
[ -x "$PGBOUNCER" ] || fail_all "pgbouncer is not installed"
[ -x "$PYTHON" ] || fail_all "$PYTHON is not installed"

rm -rf "$WORK"
mkdir -p "$WORK" || fail_all "cannot create $WORK"
chmod 700 "$WORK"
# the server's socket, in a directory whose path is short enough for one
SOCKDIR=$WORK
if [ ${#SOCKDIR} -gt 80 ]; then
	SOCKDIR=$(mktemp -d /tmp/mantis-clients.XXXXXX) || fail_all "mktemp failed"
	OWN_SOCKDIR=$SOCKDIR
fi

PGPORT=${MANTIS_CLIENTS_PORT:-$(free_port 6540)} || fail_all "no free port in 6540-6599"
BOUNCER_PORT=$(free_port $((PGPORT + 1))) || fail_all "no free port after $PGPORT"
PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

# --- the server -----------------------------------------------------------
"$BINDIR/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C \
	--auth-local=trust --auth-host=scram-sha-256 >"$WORK/initdb.log" 2>&1 ||
	{ log_tail "$WORK/initdb.log" 20; fail_all "initdb failed"; }
cat >>"$DATA/postgresql.conf" <<EOF
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCKDIR'
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
max_connections = 30
max_wal_size = 128MB
fsync = off
mantis.store_memory = 16MB
mantis.max_keys = 10000
EOF
# the superuser on the socket; the application only over TCP, with its password
cat >"$DATA/pg_hba.conf" <<EOF
local	all	postgres	trust
host	all	app	127.0.0.1/32	scram-sha-256
EOF
PG_STARTED=1
"$BINDIR/pg_ctl" -D "$DATA" -l "$WORK/postgres.log" -w -t 60 start >/dev/null 2>&1 ||
	{ log_tail "$WORK/postgres.log" 30; fail_all "the server did not start"; }

psql_admin() {
	"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PGPORT" -U postgres -d postgres "$@"
}

# what an administrator does for an application (README, Setup), then wait
# for the worker to have loaded and to persist, so that mantis_flush() works
psql_admin -v pw="$PASSWORD" >"$WORK/setup.log" 2>&1 <<'EOF' ||
CREATE EXTENSION mantis;
CREATE ROLE app LOGIN PASSWORD :'pw';
GRANT mantis_writer, mantis_monitor TO app;
DO $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '30 s';
	state text;
BEGIN
	LOOP
		SELECT persistence INTO state FROM mantis_status;
		EXIT WHEN state = 'ready';
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'mantis persistence is still "%" after 30 s', state;
		END IF;
		PERFORM pg_sleep(0.02);
	END LOOP;
END $$;
EOF
	{ log_tail "$WORK/setup.log" 20; log_tail "$WORK/postgres.log" 20; fail_all "setup failed"; }

# --- PgBouncer, transaction mode ------------------------------------------
# The auth file holds app's SCRAM verifier (not its password): PgBouncer
# checks the client's SCRAM login with it, then logs in to the server with
# the keys that login proved.
VERIFIER=$(psql_admin -At -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'") ||
	fail_all "cannot read app's SCRAM verifier"
printf '"app" "%s"\n' "$VERIFIER" >"$WORK/userlist.txt"
chmod 600 "$WORK/userlist.txt"
cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$PGPORT dbname=postgres
; one server connection: its clients take turns on one backend
single = host=127.0.0.1 port=$PGPORT dbname=postgres pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
pool_mode = transaction
auth_type = scram-sha-256
auth_file = $WORK/userlist.txt
default_pool_size = 4
max_client_conn = 50
; pgJDBC sends extra_float_digits in its startup packet, which PgBouncer
; refuses unless told to ignore it
ignore_startup_parameters = extra_float_digits
EOF
# PgBouncer 1.21 and later can track named prepared statements in
# transaction mode (max_prepared_statements, on by default from 1.24):
# off here, so that every PgBouncer the suite meets (1.18 in Debian 12,
# 1.26 in sid) behaves as the README's table says
bouncer_version=$("$PGBOUNCER" --version 2>/dev/null | sed -n 's/^PgBouncer \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
read -r bmajor bminor <<<"${bouncer_version:-1 0}"
if [ "$bmajor" -gt 1 ] || [ "$bminor" -ge 21 ]; then
	echo "max_prepared_statements = 0" >>"$WORK/pgbouncer.ini"
fi
# in the foreground, logging to stderr, so that its pid is ours to stop
"$PGBOUNCER" "$WORK/pgbouncer.ini" >"$WORK/pgbouncer.log" 2>&1 &
BOUNCER_PID=$!
# ready when it answers (pg_isready counts a refused login as an answer)
deadline=$((SECONDS + 30))
until "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$BOUNCER_PORT" -d postgres -U app; do
	if ! kill -0 "$BOUNCER_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
		log_tail "$WORK/pgbouncer.log" 20
		fail_all "pgbouncer did not start"
	fi
	sleep 0.05
done

# --- node-postgres --------------------------------------------------------
# npm ci installs exactly the locked versions into test/clients/node
NODE_READY=
if ! wants node && ! wants watch-node; then
	:
elif command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	if (cd test/clients/node &&
		npm_config_cache="$WORK/npm-cache" npm ci --no-audit --no-fund --loglevel=error) \
		>"$WORK/npm.log" 2>&1; then
		NODE_READY=1
	fi
elif command -v node >/dev/null 2>&1 && [ -f test/clients/node/node_modules/.package-lock.json ]; then
	# a root with node but no npm (test/run_all.sh installed the modules
	# from outside, by npm ci)
	NODE_READY=1
else
	echo "node or npm is not installed" >"$WORK/npm.log"
fi

# --- the clients ----------------------------------------------------------
export APP_HOST=127.0.0.1 APP_PORT=$PGPORT APP_DB=postgres APP_USER=app \
	APP_PASSWORD=$PASSWORD BOUNCER_PORT
export PYTHONDONTWRITEBYTECODE=1

server_crashes() {	# PANICs and processes ended by a signal, in the server's log
	grep -c 'PANIC\|terminated by signal\|was terminated' "$WORK/postgres.log"
}

run_client() {	# run_client <name> <command...>
	local name=$1 rc crashes
	shift
	crashes=$(server_crashes)
	timeout -k 10 300 "$@" >"$WORK/$name.log" 2>&1
	rc=$?
	if [ "$(server_crashes)" != "$crashes" ]; then
		echo "# the server log has a new PANIC or a process ended by a signal" >>"$WORK/$name.log"
		[ $rc = 0 ] && rc=1
	fi
	if [ $rc = 0 ]; then
		echo "ok     $name"
	else
		echo "FAILED $name"
		{
			echo "--- clients/$name failed (exit status $rc); from $WORK/$name.log:"
			if grep -q '^not ok' "$WORK/$name.log"; then
				grep -A 12 '^not ok' "$WORK/$name.log" | head -n 100
			else
				tail -n 30 "$WORK/$name.log"
			fi
		} >&2
		failed=1
	fi
}

# --- Java: pgJDBC, compiled here ----------------------------------------
JDBC_JAR=/usr/share/java/postgresql.jar
java_client() {
	local out=$WORK/java-classes
	command -v javac >/dev/null 2>&1 || { echo "javac is not installed"; return 1; }
	[ -f "$JDBC_JAR" ] || { echo "$JDBC_JAR is missing (libpostgresql-jdbc-java)"; return 1; }
	mkdir -p "$out" &&
		javac -Xlint:all -d "$out" -cp "$JDBC_JAR" "$ROOT/test/clients/java/MantisClientTest.java" &&
		java -cp "$out:$JDBC_JAR" MantisClientTest
}

# --- Go: pgx v4 from Debian's source packages, built with no network ------
# GOPATH mode finds github.com/jackc/pgx/v4 and its dependencies in
# /usr/share/gocode/src, where golang-github-jackc-pgx-v4-dev put them;
# GOPROXY=off makes sure nothing is looked up anywhere else.
go_client() {
	command -v go >/dev/null 2>&1 || { echo "go is not installed"; return 1; }
	(cd "$ROOT/test/clients/go" &&
		env GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOPROXY=off \
			GOCACHE="$WORK/go-cache" go build -o "$WORK/go-client" .) &&
		"$WORK/go-client"
}

# run_client runs a program under timeout: these two run as bash -c
export -f java_client go_client
export WORK ROOT JDBC_JAR

failed=0
PY=$ROOT/test/clients/python
wants psycopg && run_client psycopg "$PYTHON" "$PY/psycopg_test.py" direct
wants sqlalchemy && run_client sqlalchemy "$PYTHON" "$PY/sqlalchemy_test.py"
node_client() {	# node_client <name> <script>
	if [ -n "$NODE_READY" ]; then
		run_client "$1" node "$ROOT/test/clients/node/$2"
	else
		# no node-postgres: the client fails, with npm's log as its own
		run_client "$1" bash -c 'cat "$1"; exit 1' npm-ci "$WORK/npm.log"
	fi
}
wants node && node_client node test.js
wants pgbouncer && run_client pgbouncer "$PYTHON" "$PY/psycopg_test.py" pgbouncer
wants ruby && run_client ruby ruby "$ROOT/test/clients/ruby/test.rb"
wants java && run_client java bash -c java_client
wants go && run_client go bash -c go_client
wants perl && run_client perl perl "$ROOT/test/clients/perl/test.pl"
wants watch-psycopg && run_client watch-psycopg "$PYTHON" "$PY/watch_test.py"
wants watch-node && node_client watch-node watch_test.js

exit $failed
