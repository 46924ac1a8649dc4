#!/usr/bin/env bash
#
# test/run_all.sh — build mantis warning-free, install it, and run every test
# suite with test/run_suites.sh against each PostgreSQL version tested: unit
# tests, pg_regress (temporary instances), TAP (several real servers) and
# fuzzing through the Makefile's test targets, and the client libraries
# (test/clients/run.sh).
#
# Versions (MANTIS_PG_VERSIONS, default "15 18 17", in that order):
#	15	this machine's (Debian 12's): every suite
#	18	in a sid root (test/pg_root.sh): every suite (the fuzzers 20 s
#		each), and the TAP files of mixed versions and pg_upgrade, with
#		this machine's 15 copied in
#	17	in a trixie root: pg_regress, and the TAP files of replication,
#		persistence and standby (MANTIS_TAP_17)
# The roots are made once per machine with debootstrap from Debian's archive
# and kept in /var/cache/mantis/pg-roots (MANTIS_PG_ROOTS); a version whose
# root cannot be made fails the run, saying why.  Items are named
# pg<version>/<suite>/<name>.
#
# As root on a fresh Debian 12 it first installs what it needs from Debian's
# archive, then runs the suites as the unprivileged "postgres" user (initdb
# and postgres refuse to run as root).  As another user it expects the
# packages to be there and "make install" to be allowed, and runs the
# version of PG_CONFIG only (the roots need root).
#
# The last line of output is "N passed, N failed", over every version.
#
set -u
cd "$(dirname "$0")/.."
SRC=$(pwd)

PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-client-15 libzmq3-dev
	libipc-run-perl make gcc clang libclang-rt-14-dev llvm faketime procps
	python3-psycopg python3-psycopg2 python3-sqlalchemy pgbouncer
	ruby ruby-pg libpostgresql-jdbc-java golang-go golang-github-jackc-pgx-v4-dev
	libdbd-pg-perl debootstrap"
# the clients suite runs node-postgres and compiles a pgJDBC program: Debian's
# node and JDK unless some are installed
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"
command -v javac >/dev/null 2>&1 || PACKAGES="$PACKAGES default-jdk-headless"

# the TAP files run on 17: replication, persistence, standby, transactions,
# expiry, collection's records and the change feed across a failover
MANTIS_TAP_17=${MANTIS_TAP_17:-"002 003 009 011 012 017 021 046 058 066 070 076 077 086"}

passed=0
failed=0
failures=""

count() {	# count <passed> <failed> [<failed items>]
	passed=$((passed + $1))
	failed=$((failed + $2))
	[ -n "${3:-}" ] && failures="$failures $3"
}

finish() {
	[ -n "$failures" ] && echo "failed:$failures"
	echo "$passed passed, $failed failed"
	[ $failed = 0 ]
	exit $?
}

if [ "$(id -u)" = 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	missing=$(for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
	if [ -n "$missing" ]; then
		echo "== installing: $(echo $missing)"
		apt-get update -q >/dev/null &&
			apt-get install -y -q --no-install-recommends $missing >/dev/null ||
			{ echo "apt-get install failed"; count 0 1 install; finish; }
	fi
fi

# the settings of the run that are set, for the test user
pass=()
for v in MANTIS_SUITES MANTIS_TAP MANTIS_SOAK_SECONDS MANTIS_FAULT_SEED MANTIS_FUZZ_SECONDS \
	MANTIS_TAP_JOBS MANTIS_CLIENTS; do
	[ -n "${!v:-}" ] && pass+=("$v=${!v}")
done

# suites_in <dir> <run name> [VAR=value...]: run_suites.sh in <dir> as the
# test user (or this user), adding its totals to the run's
suites_in() {
	local dir=$1 name=$2 rc
	shift 2
	rm -f "$dir/totals"
	if [ "$(id -u)" = 0 ]; then
		(cd /tmp && runuser -u postgres -- env "${pass[@]}" "$@" MANTIS_RUN_NAME="$name" \
			MANTIS_TOTALS="$dir/totals" bash "$dir/test/run_suites.sh")
	else
		env "$@" MANTIS_RUN_NAME="$name" MANTIS_TOTALS="$dir/totals" bash "$dir/test/run_suites.sh"
	fi
	add_totals "$dir/totals" "$name"
}

add_totals() {	# add_totals <file> <run name>: what run_suites.sh counted
	local p f items
	if [ -s "$1" ]; then
		read -r p f items <"$1"
		count "$p" "$f" "$items"
	else
		count 0 1 "$2/run_suites.sh"
	fi
}

# keep logs of failed runs (or of every run, with MANTIS_KEEP_LOGS=1) where
# a human can find them
keep_or_remove() {
	if [ -s "$1/totals" ] && [ "$(cut -d' ' -f2 "$1/totals")" = 0 ] && [ -z "${MANTIS_KEEP_LOGS:-}" ]; then
		rm -rf "$1"
	else
		echo "test tree kept in $1"
	fi
}

# --- this machine's PostgreSQL: 15, or PG_CONFIG's ---------------------------
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
VERSIONS=${MANTIS_PG_VERSIONS:-"15 18 17"}
host_major=$("$PG_CONFIG" --version 2>/dev/null | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
[ -n "$host_major" ] || { echo "no PostgreSQL at PG_CONFIG=$PG_CONFIG"; count 0 1 pg_config; finish; }
if [ "$(id -u)" != 0 ]; then
	VERSIONS=$host_major
	echo "== not root: PostgreSQL $host_major only (the other versions run in roots made as root)"
fi

# built and installed in any case: the 18 root copies this installation
echo "== building for PostgreSQL $host_major"
bash test/build_install.sh || { count 0 1 "pg$host_major/build"; finish; }

run_host() {
	local work
	echo "== PostgreSQL $host_major"
	if [ "$(id -u)" = 0 ]; then
		# the suites write into the tree: give the test user a copy of its own
		work=$(mktemp -d /tmp/mantis-test.XXXXXX)
		cp -a "$SRC/." "$work/"
		chown -R postgres: "$work"
		chmod 755 "$work"
		suites_in "$work" "pg$host_major" PG_CONFIG="$PG_CONFIG"
		keep_or_remove "$work"
	else
		suites_in "$SRC" "pg$host_major"
	fi
}

# run_root <version> [VAR=value...]: build and install mantis in the
# version's root, and run the suites there as its postgres user
run_root() {
	local v=$1 root work rel pgc
	shift
	echo "== PostgreSQL $v (a Debian root: test/pg_root.sh)"
	if ! root=$(bash test/pg_root.sh "$v"); then
		echo "PostgreSQL $v could not be installed: it is not tested (above)"
		count 0 1 "pg$v/root"
		return
	fi
	pgc=/usr/lib/postgresql/$v/bin/pg_config
	work=$(mktemp -d "$root/tmp/mantis-test.XXXXXX")
	rel=${work#"$root"}
	cp -a "$SRC/." "$work/"
	rm -rf "$work/test/clients/node/node_modules"
	# a worktree's .git names a repository outside the root: give the copy
	# the history itself (make check-dist archives HEAD)
	if [ -f "$SRC/.git" ]; then
		rm -f "$work/.git"
		git clone -q --no-checkout "$SRC" "$work/.git-clone" && mv "$work/.git-clone/.git" "$work/.git"
		rm -rf "$work/.git-clone"
	fi
	if ! bash test/pg_root.sh enter "$root" env PG_CONFIG="$pgc" bash "$rel/test/build_install.sh"; then
		count 0 1 "pg$v/build"
		return
	fi
	# the root has node but no npm: node-postgres is installed from here
	if [ -f test/clients/node/package-lock.json ] && command -v npm >/dev/null 2>&1; then
		(cd "$work/test/clients/node" &&
			npm_config_cache="$work/tmp_check/npm-cache" npm ci --no-audit --no-fund --loglevel=error) \
			>"$work/npm.log" 2>&1 || echo "npm ci failed (the node clients will fail): $(tail -n 3 "$work/npm.log")"
	fi
	chroot "$root" chown -R postgres: "$rel"
	chmod 755 "$work"
	rm -f "$work/totals"
	bash test/pg_root.sh enter "$root" runuser -u postgres -- env "${pass[@]}" "$@" \
		PG_CONFIG="$pgc" MANTIS_RUN_NAME="pg$v" MANTIS_TOTALS="$rel/totals" \
		bash -c "cd /tmp && exec bash $rel/test/run_suites.sh"
	add_totals "$work/totals" "pg$v"
	keep_or_remove "$work"
}

for v in $VERSIONS; do
	case $v in
	"$host_major") run_host ;;
	# the fuzzers fuzz src/common, which no server version changes: on 18
	# they are built (by sid's clang) and replay their corpus, and fuzz
	# 20 s each rather than 60
	18) run_root 18 MANTIS_PG15_INSTALL=/usr/lib/postgresql/15 \
		MANTIS_PG15_UPGRADE_INSTALL=/opt/pg15-upgrade/usr/lib/postgresql/15 \
		MANTIS_FUZZ_SECONDS="${MANTIS_FUZZ_SECONDS:-20}" ;;
	17) run_root 17 MANTIS_SUITES="${MANTIS_SUITES:-regress tap}" MANTIS_TAP="${MANTIS_TAP:-$MANTIS_TAP_17}" ;;
	*) echo "PostgreSQL $v is not tested here (MANTIS_PG_VERSIONS: 15, 17, 18)"; count 0 1 "pg$v" ;;
	esac
done
finish
