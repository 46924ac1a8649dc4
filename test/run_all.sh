#!/usr/bin/env bash
#
# test/run_all.sh — build mantis warning-free, install it, and run every test
# suite with test/run_suites.sh: unit tests, pg_regress (temporary
# instances), TAP (several real servers) and fuzzing through the Makefile's
# test targets, and the client libraries (test/clients/run.sh).
#
# As root on a fresh Debian 12 it first installs what it needs from Debian's
# archive, then runs the suites as the unprivileged "postgres" user (initdb
# and postgres refuse to run as root).  As another user it expects the
# packages to be there and "make install" to be allowed.
#
# The last line of output is "N passed, N failed".
#
set -u
cd "$(dirname "$0")/.."
SRC=$(pwd)

PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-client-15 libzmq3-dev
	libipc-run-perl make gcc clang libclang-rt-14-dev llvm faketime procps
	python3-psycopg python3-psycopg2 python3-sqlalchemy pgbouncer
	ruby ruby-pg libpostgresql-jdbc-java golang-go golang-github-jackc-pgx-v4-dev
	libdbd-pg-perl"
# the clients suite runs node-postgres and compiles a pgJDBC program: Debian's
# node and JDK unless some are installed
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"
command -v javac >/dev/null 2>&1 || PACKAGES="$PACKAGES default-jdk-headless"

if [ "$(id -u)" = 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	missing=$(for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
	if [ -n "$missing" ]; then
		echo "== installing: $(echo $missing)"
		apt-get update -q >/dev/null &&
			apt-get install -y -q --no-install-recommends $missing >/dev/null ||
			{ echo "apt-get install failed"; echo "0 passed, 1 failed"; exit 1; }
	fi
fi

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

echo "== building"
make -s clean >/dev/null 2>&1
if ! make -s PG_CONFIG="$PG_CONFIG" >build.log 2>&1; then
	cat build.log; echo "0 passed, 1 failed"; exit 1
fi
if grep -q 'warning:' build.log; then
	cat build.log; echo "the build has warnings"; echo "0 passed, 1 failed"; exit 1
fi
rm -f build.log
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null || { echo "make install failed"; echo "0 passed, 1 failed"; exit 1; }

if [ "$(id -u)" = 0 ]; then
	# the suites write into the tree: give the test user a copy of its own
	WORK=$(mktemp -d /tmp/mantis-test.XXXXXX)
	cp -a "$SRC/." "$WORK/"
	chown -R postgres: "$WORK"
	chmod 755 "$WORK"
	# hand the test user the settings of the run that are set
	pass=()
	for v in MANTIS_SUITES MANTIS_TAP MANTIS_SOAK_SECONDS MANTIS_FAULT_SEED MANTIS_FUZZ_SECONDS; do
		[ -n "${!v:-}" ] && pass+=("$v=${!v}")
	done
	cd /tmp && runuser -u postgres -- env PG_CONFIG="$PG_CONFIG" "${pass[@]}" \
		bash "$WORK/test/run_suites.sh"
	rc=$?
	# keep logs of failed runs (or of every run, with MANTIS_KEEP_LOGS=1)
	# where a human can find them
	if [ $rc = 0 ] && [ -z "${MANTIS_KEEP_LOGS:-}" ]; then rm -rf "$WORK"; else echo "test tree kept in $WORK"; fi
	exit $rc
else
	exec bash "$SRC/test/run_suites.sh"
fi
