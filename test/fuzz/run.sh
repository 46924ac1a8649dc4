#!/usr/bin/env bash
#
# test/fuzz/run.sh — build the libFuzzer harnesses of the untrusted-input
# decoders of src/common/ (frame.c, snapshot.c, hlc.c), replay their
# seed corpora, then fuzz each for a bounded time.  Run by "make fuzz"
# (so by test/run_suites.sh), or as "bash test/fuzz/run.sh" from anywhere:
# it works in the repository root.
#
# Standard output is exactly one line per suite item, "<name> <exit status>":
#	build			 the three harnesses and make_corpus, warning-free
#	corpus			 make_corpus: every seed gets its expected verdict, and
#					 the committed test/fuzz/corpus is what it generates
#	<target>_replay  the committed corpus of <target>, each input once
#	<target>_fuzz	 MANTIS_FUZZ_SECONDS (default 60) of fuzzing of <target>
#					 from a scratch copy of its corpus
# Everything else goes to logs in test/fuzz/build/ (one per item, named
# after it); when an item fails, the tail of its log goes to standard error.
# Execution counts of the fuzzing runs are in test/fuzz/build/summary.txt.
# The exit status is 1 when any item failed.
#
set -u
cd "$(dirname "$0")/../.."

TARGETS="snapshot frame hlc"
FUZZ_SECONDS=${MANTIS_FUZZ_SECONDS:-60}
BUILD=test/fuzz/build
CORPUS=test/fuzz/corpus
CFLAGS="-g -O1 -Wall -Wextra -fno-sanitize-recover=all -I src"
SOURCES=$(echo src/common/*.c)	# the pure sources: all of src/common

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

failed=0
item() {	# item <name> <exit status>: report it, and the log tail on failure
	echo "$1 $2"
	if [ "$2" != 0 ]; then
		failed=1
		echo "--- fuzz/$1 failed (exit status $2); last lines of $BUILD/$1.log:" >&2
		tail -n 30 "$BUILD/$1.log" >&2
	fi
}

build() {	# compile all programs; fails on any error or warning
	local t
	for t in $TARGETS; do
		clang $CFLAGS -fsanitize=fuzzer,address,undefined \
			-o "$BUILD/fuzz_$t" "test/fuzz/fuzz_$t.c" $SOURCES || return 1
	done
	clang $CFLAGS -fsanitize=address,undefined \
		-o "$BUILD/make_corpus" test/fuzz/make_corpus.c $SOURCES || return 1
	! grep -q 'warning:' "$BUILD/build.log"
}

corpus() {	# regenerate the seeds elsewhere and compare with the committed ones
	rm -rf "$BUILD/corpus-gen"
	"$BUILD/make_corpus" "$BUILD/corpus-gen" || return 1
	diff -r "$CORPUS" "$BUILD/corpus-gen"
}

replay() {	# replay <target>: run every committed seed once
	"$BUILD/fuzz_$1" -runs=0 -artifact_prefix="$BUILD/artifacts/$1-" \
		"$CORPUS/$1"
}

fuzz() {	# fuzz <target>: bounded fuzzing from a scratch copy of the corpus
	local work=$BUILD/work/$1
	rm -rf "$work"
	mkdir -p "$BUILD/work"
	cp -r "$CORPUS/$1" "$work" || return 1
	timeout -k 10 $((FUZZ_SECONDS + 300)) \
		"$BUILD/fuzz_$1" -max_total_time="$FUZZ_SECONDS" -max_len=65536 \
		-rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$BUILD/artifacts/$1-" "$work"
}

summarize() {	# summarize <target>: its execution count, for summary.txt
	local execs
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$BUILD/$1_fuzz.log")
	echo "$1: ${execs:-?} executions in ${FUZZ_SECONDS} s," \
		"$(find "$BUILD/work/$1" -type f | wc -l) inputs in its corpus after"
}

mkdir -p "$BUILD/artifacts" "$BUILD/tmp" || { echo "build 1"; exit 1; }
export TMPDIR=$PWD/$BUILD/tmp	# clang's temporary files stay in the tree too

if ! command -v clang >/dev/null 2>&1; then
	echo "clang not found" >"$BUILD/build.log"
	item build 1
	exit 1
fi
build >"$BUILD/build.log" 2>&1
rc=$?
item build $rc
[ $rc = 0 ] || exit 1

corpus >"$BUILD/corpus.log" 2>&1
item corpus $?

: >"$BUILD/summary.txt"
for t in $TARGETS; do
	replay "$t" >"$BUILD/${t}_replay.log" 2>&1
	item "${t}_replay" $?
	fuzz "$t" >"$BUILD/${t}_fuzz.log" 2>&1
	item "${t}_fuzz" $?
	summarize "$t" >>"$BUILD/summary.txt"
done
exit $failed
