#!/usr/bin/env bash
#
# test/run_suites.sh — run every suite against the installed mantis, as an
# unprivileged user, from a tree that user may write; called by run_all.sh.
# Set MANTIS_SUITES to a space-separated subset of "unit regress tap clients
# fuzz" to run only those, and MANTIS_TAP to a prefix of test/t file names
# (e.g. 005) to run only those TAP files.
#
set -u
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
PGXS_DIR=$(dirname "$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")")
PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress"
SUITES=${MANTIS_SUITES:-"unit regress tap clients fuzz"}

passed=0
failed=0
failures=""

record() {	# record <name> <exit status>
	if [ "$2" = 0 ]; then
		passed=$((passed + 1)); echo "ok     $1"
	else
		failed=$((failed + 1)); failures="$failures $1"; echo "FAILED $1"
	fi
}

wants() { case " $SUITES " in *" $1 "*) return 0 ;; esac; return 1; }

if wants unit; then
	echo "== unit tests"
	make -s unit >unit.log 2>&1
	record unit/test_lww $?
	grep -h 'checks' unit.log
fi

if wants regress; then
	echo "== pg_regress"
	run_regress() {	# run_regress <config> <tests...>
		local conf=$1; shift
		rm -rf tmp_check_regress
		"$PG_REGRESS" --temp-instance=tmp_check_regress --temp-config="$conf" \
			--inputdir=. --bindir="$BINDIR" --dbname=contrib_regression "$@" >regress.log 2>&1
		for t in "$@"; do
			grep -Eq "^(not )?ok .* $t |^test $t +\.\.\. ok|^     $t +\.\.\. ok" regress.log &&
				! grep -Eq "$t +\.\.\. FAILED" regress.log
			record "regress/$t" $?
		done
		[ -s regression.diffs ] && cat regression.diffs
		rm -f regression.diffs
	}
	run_regress test/regress.conf $(sed -n 's/^REGRESS = //p' Makefile)
	run_regress test/no_preload.conf mantis_not_preloaded
fi

if wants tap; then
	echo "== TAP"
	export PATH="$BINDIR:$PATH"
	export PERL5LIB="$(pwd)/test/perl:$PGXS_DIR/src/test/perl${PERL5LIB:+:$PERL5LIB}"
	export PG_REGRESS
	for t in test/t/${MANTIS_TAP:-}*.pl; do
		name=$(basename "$t" .pl)
		export TESTDIR="$(pwd)/tmp_check/$name"
		rm -rf "$TESTDIR"; mkdir -p "$TESTDIR"
		prove -v "$t" >"tap_$name.log" 2>&1
		rc=$?
		record "tap/$name" $rc
		if [ $rc != 0 ]; then
			tail -n 40 "tap_$name.log"
			for f in "$TESTDIR"/log/*.log; do
				[ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
			done
		fi
	done
fi

if wants clients; then
	# one line per client library, "ok     <name>" or "FAILED <name>"
	echo "== clients"
	out=$(bash test/clients/run.sh)
	rc=$?
	n=0
	while read -r status name; do
		[ -n "$name" ] || continue
		[ "$status" = ok ]
		record "clients/$name" $?
		n=$((n + 1))
	done <<<"$out"
	[ $n -gt 0 ] || record clients/run.sh "$((rc == 0 ? 1 : rc))"
fi

if wants fuzz && [ -x test/fuzz/run.sh ]; then
	echo "== fuzz"
	while read -r name rc; do
		record "fuzz/$name" "$rc"
	done < <(bash test/fuzz/run.sh)
fi

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
