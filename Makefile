# mantis: replicated last-writer-wins key-value store for PostgreSQL

MODULE_big = mantis
# Every C file of src/ but the key pair generator (src/bin/), by folder:
# src/common/ is pure C that the unit tests, fuzzers and test tools link
# too; the rest is the server's (src/README.md has the map).
PURE_SRCS = $(sort $(wildcard $(srcdir)/src/common/*.c))
SERVER_SRCS = $(sort $(wildcard $(srcdir)/src/*.c $(srcdir)/src/store/*.c \
	$(srcdir)/src/persist/*.c $(srcdir)/src/replication/*.c $(srcdir)/src/watch/*.c \
	$(srcdir)/src/api/*.c))
OBJS = $(patsubst $(srcdir)/%.c,%.o,$(PURE_SRCS) $(SERVER_SRCS))
MANTIS_HEADERS = $(wildcard $(srcdir)/src/*.h $(srcdir)/src/*/*.h)

# the key pair generator, installed beside the server's programs
SCRIPTS_built = mantis_keygen

EXTENSION = mantis
DATA = sql/mantis--1.0.sql sql/mantis--1.1.sql sql/mantis--1.2.sql sql/mantis--1.3.sql \
	sql/mantis--1.4.sql \
	sql/mantis--1.0--1.1.sql sql/mantis--1.1--1.2.sql sql/mantis--1.2--1.3.sql \
	sql/mantis--1.3--1.4.sql sql/mantis--1.4--1.3.sql
PGFILEDESC = "mantis - replicated key-value store in shared memory"

# pg_regress: "make installcheck" (PGXS's rule) runs REGRESS against the
# running server, which must be set up like test/regress.conf (test/README.md);
# "make check-regress" runs them in temporary instances instead, with
# REGRESS_NOT_PRELOADED in one that does not preload mantis.
REGRESS = mantis_basic mantis_types mantis_txn mantis_hlc mantis_persist mantis_roles mantis_ttl mantis_readers mantis_tokens mantis_watch mantis_limits
REGRESS_NOT_PRELOADED = mantis_not_preloaded
REGRESS_PREP = installcheck-prep

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lzmq
# PostgreSQL's own headers trip -Wunused-parameter under -Wextra; everything else stays on.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The release, for "make dist": the extension's default version (1.4 is
# release 1.4.0, as META.json says).
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(srcdir)/mantis.control).0

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS): $(MANTIS_HEADERS)

mantis_keygen: src/bin/mantis_keygen.c
	$(CC) $(CFLAGS) -Wall -Wextra -o $@ src/bin/mantis_keygen.c -lzmq

# Unit tests of the pure parts: no server needed.  Each test/unit/test_*.c
# is one program, linked with every file of PURE_SRCS.
UNIT_TESTS = $(patsubst $(srcdir)/%.c,%,$(sort $(wildcard $(srcdir)/test/unit/test_*.c)))

test/unit/test_%: test/unit/test_%.c $(PURE_SRCS) $(MANTIS_HEADERS) test/unit/unit.h
	$(CC) -O2 -g -Wall -Wextra -I$(srcdir)/src -o $@ $< $(PURE_SRCS)

# The simulator of the collection rules (test/sim/sim.c): pure C, linked
# with every file of PURE_SRCS like the unit tests.  "make sim" runs
# SIM_SEEDS seeds of SIM_STEPS steps each (SIM_FLAGS: more options, e.g.
# --scenario hub, --first 5000); a failing seed replays with
# test/sim/sim --seed N --trace, or --shrink for a short trace.  "make
# sim-old" checks that the simulator can fail: with the old rules
# (protocol 3) it must find violations in each of the four cases of
# issue 18, and with a clock run ahead past the lifetime and put right
# (scenario clock), within SIM_OLD_SEEDS seeds.
SIM_SEEDS = 1000
SIM_STEPS = 20000
SIM_FLAGS =
SIM_OLD_SEEDS = 20
SIM_SRCS = $(sort $(wildcard $(srcdir)/test/sim/*.c))

test/sim/sim: $(SIM_SRCS) $(srcdir)/test/sim/sim.h $(PURE_SRCS) $(MANTIS_HEADERS)
	$(CC) -O2 -g -Wall -Wextra -I$(srcdir)/src -o $@ $(SIM_SRCS) $(PURE_SRCS)

sim: test/sim/sim
	./test/sim/sim --seeds $(SIM_SEEDS) --steps $(SIM_STEPS) $(SIM_FLAGS)

# "make sim-wrong": each wrong variant of R7 (test/sim/sim.c: records
# that refuse nothing, no tombstones, collapse with no bound, records not
# persisted, expired registers with no marker) must fail within
# SIM_OLD_SEEDS seeds of the scenario outage.
sim-wrong: test/sim/sim
	@for w in refuse tombstone collapse persist marker; do \
		echo "sim-wrong: $$w"; \
		./test/sim/sim --wrong $$w --scenario outage --seeds $(SIM_OLD_SEEDS) --steps $(SIM_STEPS) \
			--quiet --expect-violations || exit 1; \
	done

sim-old: test/sim/sim
	@for s in hub readd rewind room clock; do \
		echo "sim-old: $$s"; \
		./test/sim/sim --old --scenario $$s --seeds $(SIM_OLD_SEEDS) --steps $(SIM_STEPS) \
			--quiet --expect-violations || exit 1; \
	done

# The module graph of mantis.so read from its object files: no circle, and
# dependencies one way (src/README.md); and no header of ours hiding one of
# the server's.  LAYERS_FLAGS=-v lists what each file uses.
check-layers: $(OBJS)
	@python3 $(srcdir)/test/tools/layers.py $(LAYERS_FLAGS) \
		--server-include '$(includedir_server)' $(OBJS)

unit: $(UNIT_TESTS)
	@rc=0; for t in $(UNIT_TESTS); do ./$$t || rc=1; done; exit $$rc

# --- Test targets; test/run_suites.sh runs its suites through them.
#
# "make unit" (above) builds and runs every program of UNIT_TESTS, each by a
# build rule of its own, and fails if any failed (UNIT_TESTS must be complete
# before the unit rule, whose prerequisites it gives); "make unit
# UNIT_TESTS=test/unit/test_lww" builds and runs just that one.
#
# All but "unit" and "fuzz" need "make install" first: they run the
# installed server binaries (pg_config --bindir) and the installed mantis.

# pg_regress with the installed binaries, as PGXS's installcheck runs it
mantis_pg_regress = $(top_builddir)/src/test/regress/pg_regress \
	--inputdir=$(srcdir) --bindir='$(bindir)' --dbname=$(CONTRIB_TESTDB) \
	$(pg_regress_locale_flags) $(EXTRA_REGRESS_OPTS)

# "make installcheck" first checks that the server it is about to use
# preloads mantis with the settings of test/regress.conf (except
# shared_buffers), has every other mantis setting at its default, and is
# fresh: mantis_persist creates the extension in database "postgres" (the
# default mantis.database) and the suite expects an empty store.  psql
# reaches the server as pg_regress does (PGHOST, PGPORT, PGUSER).
installcheck-prep:
	@sed -n "s/^\([a-z_.]*\) *= *'\{0,1\}\([^' #]*\).*/\1 \2/p" $(srcdir)/test/regress.conf | { \
	bad=0; names="''"; \
	while read -r name want; do \
		names="$$names, '$$name'"; \
		[ "$$name" != shared_buffers ] || continue; \
		have=$$('$(bindir)/psql' -X -At -d postgres -c "SELECT current_setting('$$name', true)" </dev/null) || exit 1; \
		if [ "$$name" = shared_preload_libraries ]; then \
			case ",$$(echo "$$have" | tr -d ' ')," in *,"$$want",*) continue ;; esac; \
		elif [ "$$have" = "$$want" ]; then continue; fi; \
		echo "installcheck: the server has $$name = '$$have', test/regress.conf sets '$$want'"; bad=1; \
	done; \
	have=$$('$(bindir)/psql' -X -At -d postgres -c "SELECT string_agg(name || ' = ''' || setting || '''', ', ') FROM pg_settings WHERE name LIKE 'mantis.%' AND name NOT IN ($$names) AND setting IS DISTINCT FROM boot_val") || exit 1; \
	[ -z "$$have" ] || { \
		echo "installcheck: the server has $$have, the suite needs the defaults"; bad=1; }; \
	have=$$('$(bindir)/psql' -X -At -d postgres -c "SELECT count(*) FROM pg_extension WHERE extname = 'mantis'") || exit 1; \
	[ "$$have" = 0 ] || { \
		echo "installcheck: database postgres has the mantis extension, so the server is not fresh;"; \
		echo "installcheck: DROP EXTENSION mantis there and restart the server (test/README.md)"; bad=1; }; \
	exit $$bad; }

# The same suite in temporary instances of the installed binaries: REGRESS
# preloading mantis with test/regress.conf (output in ., as installcheck's),
# and REGRESS_NOT_PRELOADED without the preload (test/no_preload.conf,
# output in tmp_check_not_preloaded/).  Either half runs alone as
# check-regress-preloaded or check-regress-not-preloaded.
check-regress: check-regress-preloaded check-regress-not-preloaded

check-regress-preloaded:
	$(mantis_pg_regress) --temp-instance=tmp_check_regress \
		--temp-config=$(srcdir)/test/regress.conf $(REGRESS)

check-regress-not-preloaded:
	$(MKDIR_P) tmp_check_not_preloaded
	$(mantis_pg_regress) --temp-instance=tmp_check_not_preloaded/instance \
		--temp-config=$(srcdir)/test/no_preload.conf \
		--outputdir=tmp_check_not_preloaded $(REGRESS_NOT_PRELOADED)

# TAP tests (test/t/*.pl, or those of PROVE_TESTS), each file in a prove of
# its own with TESTDIR = tmp_check/<name>, so that its servers' logs stay
# apart: tmp_check/<name>/tmp_check/log/ (PostgreSQL 15 and 16 derive
# that from TESTDIR, 17 and later read TESTDATADIR and TESTLOGDIR).
# PROVE_FLAGS (e.g. -v) go to
# prove.  This replaces PGXS's prove_installcheck, which runs t/*.pl with one
# TESTDIR.
define prove_installcheck
rc=0; \
for t in $(or $(PROVE_TESTS),$(sort $(wildcard $(srcdir)/test/t/*.pl))); do \
	name=$$(basename "$$t" .pl); \
	echo "+++ tap install-check: $$t +++"; \
	rm -rf '$(CURDIR)/tmp_check/'"$$name" && \
	$(MKDIR_P) '$(CURDIR)/tmp_check/'"$$name" && \
	TESTDIR='$(CURDIR)/tmp_check/'"$$name" \
	TESTDATADIR='$(CURDIR)/tmp_check/'"$$name/tmp_check" \
	TESTLOGDIR='$(CURDIR)/tmp_check/'"$$name/tmp_check/log" PATH="$(bindir):$$PATH" \
	PERL5LIB='$(abspath $(srcdir))/test/perl:$(abspath $(top_builddir))/src/test/perl'"$${PERL5LIB:+:$$PERL5LIB}" \
	PG_REGRESS='$(top_builddir)/src/test/regress/pg_regress' PG_CONFIG='$(PG_CONFIG)' \
	$(or $(PROVE),prove) $(PROVE_FLAGS) "$$t" || rc=1; \
done; \
exit $$rc
endef

prove_installcheck:
	@$(prove_installcheck)

# libFuzzer harnesses (needs clang): one "<item> <exit status>" line per item
# (test/fuzz/run.sh); MANTIS_FUZZ_SECONDS bounds each fuzzing run.
fuzz:
	@bash $(srcdir)/test/fuzz/run.sh

# "make dist": the source tarball packagers build for each PostgreSQL
# major version (PGXN's format: one directory mantis-<version>/ with
# META.json at its top), made by git archive from the commit checked out,
# so only what the repository tracks.  "make check-dist" makes it and
# builds it, warning-free, against PG_CONFIG's PostgreSQL
# (test/tools/check_dist.sh).
dist:
	$(MKDIR_P) dist
	git archive --format=tar.gz --prefix=mantis-$(EXTVERSION)/ \
		--output=dist/mantis-$(EXTVERSION).tar.gz HEAD
	@echo dist/mantis-$(EXTVERSION).tar.gz

check-dist:
	@PG_CONFIG='$(PG_CONFIG)' bash $(srcdir)/test/tools/check_dist.sh

# "make -s print-UNIT_TESTS" prints a variable (test/run_suites.sh reads
# UNIT_TESTS, REGRESS and REGRESS_NOT_PRELOADED so)
print-%:
	@echo '$($*)'

clean: clean-unit
clean-unit:
	rm -f $(UNIT_TESTS) test/sim/sim
	rm -rf tmp_check_regress tmp_check_not_preloaded tmp_check dist

.PHONY: unit sim sim-old sim-wrong check-layers clean-unit installcheck-prep check-regress check-regress-preloaded dist check-dist \
	check-regress-not-preloaded prove_installcheck fuzz
