#!/usr/bin/env bash
#
# test/run_suites.sh — run every suite against the installed mantis, as an
# unprivileged user, from a tree that user may write; called by run_all.sh.
# Each suite runs through the Makefile's targets (test/README.md), one item at
# a time so that each counts on its own:
#	unit	 make unit UNIT_TESTS=<program>, for each program of UNIT_TESTS,
#		 then make sim, sim-old and sim-wrong (the simulator of the collection
#		 rules, test/sim), then make check-dist (the release tarball builds),
#		 then make check-layers (the module graph)
#	regress	 make check-regress-preloaded, then check-regress-not-preloaded
#		 (temporary instances); one item per test of REGRESS and of
#		 REGRESS_NOT_PRELOADED
#	tap	 make prove_installcheck PROVE_TESTS=<file>, for each test/t file,
#		 MANTIS_TAP_JOBS (default 3) files at a time
#	clients	 bash test/clients/run.sh, one item per client library
#	fuzz	 make fuzz, one item per line it prints
# Each item prints "ok     <suite>/<name>" or "FAILED <suite>/<name>", and
# the last line is "N passed, N failed".
# Set MANTIS_SUITES to a space-separated subset of "unit regress tap clients
# fuzz" to run only those, and MANTIS_TAP to prefixes of test/t file names
# (e.g. "005" or "002 003") to run only those TAP files.  A TAP file that
# does not apply to this server version says so (skip_all): it is printed
# as "skip   <suite>/<name>: <why>" and not counted.
# MANTIS_RUN_NAME (test/run_all.sh: pg<version>) prefixes every item's name
# and the last line; MANTIS_TOTALS names a file that gets "<passed>
# <failed> <failed items>".
#
set -u
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-pg_config}
SUITES=${MANTIS_SUITES:-"unit regress tap clients fuzz"}

RUN=${MANTIS_RUN_NAME:+$MANTIS_RUN_NAME/}

passed=0
failed=0
failures=""

record() {	# record <name> <exit status>
	if [ "$2" = 0 ]; then
		passed=$((passed + 1)); echo "ok     $RUN$1"
	else
		failed=$((failed + 1)); failures="$failures $RUN$1"; echo "FAILED $RUN$1"
	fi
}

wants() { case " $SUITES " in *" $1 "*) return 0 ;; esac; return 1; }

mk() { make -s --no-print-directory PG_CONFIG="$PG_CONFIG" "$@"; }

if wants unit; then
	echo "== unit tests"
	programs=$(mk print-UNIT_TESTS)
	[ -n "$programs" ] || record unit/print-UNIT_TESTS 1
	for prog in $programs; do
		name=$(basename "$prog")
		mk unit UNIT_TESTS="$prog" >"unit_$name.log" 2>&1
		rc=$?
		record "unit/$name" $rc
		if [ $rc = 0 ]; then grep -h 'checks' "unit_$name.log"; else tail -n 40 "unit_$name.log"; fi
	done
	# the simulator of the collection rules: the rules hold over SIM_SEEDS
	# seeds, and the old rules, and each wrong variant of R7, fail (the
	# simulator can find what it checks)
	for target in sim sim-old sim-wrong; do
		mk "$target" >"unit_$target.log" 2>&1
		rc=$?
		record "unit/$target" $rc
		if [ $rc = 0 ]; then grep -h '^sim: [0-9]* seeds' "unit_$target.log"; else tail -n 40 "unit_$target.log"; fi
	done
	# the release tarball (make dist) builds against this PostgreSQL
	mk check-dist >unit_dist.log 2>&1
	rc=$?
	record unit/dist $rc
	if [ $rc = 0 ]; then tail -n 1 unit_dist.log; else cat unit_dist.log; fi
	# the module graph of the built objects (src/README.md's rules)
	mk check-layers >unit_layers.log 2>&1
	rc=$?
	record unit/layers $rc
	if [ $rc = 0 ]; then tail -n 1 unit_layers.log; else cat unit_layers.log; fi
fi

if wants regress; then
	echo "== pg_regress"
	run_regress() {	# run_regress <make target> <output dir> <variable naming its tests>
		local target=$1 out=$2 tests
		tests=$(mk "print-$3")
		[ -n "$tests" ] || { record "regress/print-$3" 1; return; }
		rm -f "$out/regression.diffs"
		mk "$target" >"$target.log" 2>&1
		for t in $tests; do
			grep -Eq "^(not )?ok .* $t |^test $t +\.\.\. ok|^     $t +\.\.\. ok" "$target.log" &&
				! grep -Eq "$t +\.\.\. FAILED" "$target.log"
			record "regress/$t" $?
		done
		[ -s "$out/regression.diffs" ] && cat "$out/regression.diffs"
		rm -f "$out/regression.diffs"
	}
	run_regress check-regress-preloaded . REGRESS
	run_regress check-regress-not-preloaded tmp_check_not_preloaded REGRESS_NOT_PRELOADED
fi

if wants tap; then
	echo "== TAP"
	# MANTIS_TAP_JOBS files at a time (default 3): a file spends most of its
	# time waiting for its servers, so three share 2 cores well (with two,
	# 80 files took about 12 minutes, over the CI budget).  Each file has
	# its own TESTDIR (the Makefile's prove_installcheck), and every port is
	# reserved in one directory for all (PG_TEST_PORT_DIR: Cluster.pm's
	# get_free_port()), so that files running together never take the same
	# one.  The results are printed in the files' order once all are done.
	export PG_TEST_PORT_DIR="$PWD/tmp_check/portlock"
	mkdir -p "$PG_TEST_PORT_DIR"
	tap_jobs=${MANTIS_TAP_JOBS:-3}
	tap_files=()
	for prefix in ${MANTIS_TAP:-""}; do
		tap_files+=(test/t/"$prefix"*.pl)
	done
	run_tap() {	# run_tap <file>: its log, and its exit status in tap_<name>.rc
		local name
		local start=$SECONDS
		name=$(basename "$1" .pl)
		mk prove_installcheck PROVE_TESTS="$1" PROVE_FLAGS=-v >"tap_$name.log" 2>&1
		echo $? >"tap_$name.rc"
		echo "$((SECONDS - start)) $name" >"tap_$name.time"
	}
	tap_start=$SECONDS
	for t in "${tap_files[@]}"; do
		[ -e "$t" ] || continue
		rm -f "tap_$(basename "$t" .pl).rc"
		while [ "$(jobs -rp | wc -l)" -ge "$tap_jobs" ]; do wait -n; done
		run_tap "$t" &
	done
	wait
	# what the TAP files cost, for the CI budget: the slowest, and in all
	echo "TAP took $((SECONDS - tap_start)) s with $tap_jobs at a time; the slowest files (s):" \
		$(cat tap_*.time 2>/dev/null | sort -rn | head -n 8 | tr ' ' ':')
	for t in "${tap_files[@]}"; do
		[ -e "$t" ] || continue
		name=$(basename "$t" .pl)
		rc=$(cat "tap_$name.rc" 2>/dev/null || echo 1)
		skipped=$(sed -n 's/^.*\.pl \.\. skipped: //p' "tap_$name.log")
		if [ "$rc" = 0 ] && [ -n "$skipped" ]; then
			echo "skip   ${RUN}tap/$name: $skipped"
			continue
		fi
		record "tap/$name" "$rc"
		if [ "$rc" != 0 ]; then
			tail -n 40 "tap_$name.log"
			for f in "tmp_check/$name"/tmp_check/log/*; do
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
	n=0
	while read -r name rc; do
		record "fuzz/$name" "$rc"
		n=$((n + 1))
	done < <(mk fuzz)
	[ $n -gt 0 ] || record fuzz/run.sh 1
fi

[ -n "$failures" ] && echo "failed:$failures"
[ -n "${MANTIS_TOTALS:-}" ] && echo "$passed $failed$failures" >"$MANTIS_TOTALS"
echo "${MANTIS_RUN_NAME:+$MANTIS_RUN_NAME: }$passed passed, $failed failed"
[ $failed = 0 ]
