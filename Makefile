# mantis: replicated last-writer-wins key-value store for PostgreSQL

MODULE_big = mantis
OBJS = \
	src/clock.o \
	src/codec.o \
	src/frame.o \
	src/functions.o \
	src/guc.o \
	src/hlc.o \
	src/keyhash.o \
	src/log_limit.o \
	src/lww.o \
	src/mantis.o \
	src/monitor.o \
	src/nodes.o \
	src/peer_view.o \
	src/persist_flush.o \
	src/persist_load.o \
	src/persist_sql.o \
	src/persist_table.o \
	src/persist_worker.o \
	src/replication.o \
	src/replication_worker.o \
	src/security.o \
	src/shmem.o \
	src/snapshot.o \
	src/store.o \
	src/store_batch.o \
	src/store_changes.o \
	src/store_read.o \
	src/store_state.o \
	src/transport.o \
	src/txn.o

# the key pair generator, installed beside the server's programs
SCRIPTS_built = mantis_keygen

EXTENSION = mantis
DATA = sql/mantis--1.0.sql sql/mantis--1.1.sql sql/mantis--1.0--1.1.sql
PGFILEDESC = "mantis - replicated key-value store in shared memory"

REGRESS = mantis_basic mantis_types mantis_txn mantis_hlc mantis_persist mantis_roles mantis_limits
REGRESS_OPTS = --temp-instance=tmp_check_regress --temp-config=$(srcdir)/test/regress.conf

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lzmq
# PostgreSQL's own headers trip -Wunused-parameter under -Wextra; everything else stays on.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

mantis_keygen: src/mantis_keygen.c
	$(CC) $(CFLAGS) -Wall -Wextra -o $@ src/mantis_keygen.c -lzmq

# Unit tests of the pure parts: no server needed.
PURE_SRCS = src/codec.c src/frame.c src/hlc.c src/keyhash.c src/lww.c src/snapshot.c
UNIT_TESTS = test/unit/test_lww

test/unit/test_lww: test/unit/test_lww.c $(PURE_SRCS) $(wildcard $(srcdir)/src/*.h)
	$(CC) -O2 -g -Wall -Wextra -I$(srcdir)/src -o $@ test/unit/test_lww.c $(PURE_SRCS)

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do ./$$t || exit 1; done

clean: clean-unit
clean-unit:
	rm -f $(UNIT_TESTS)
	rm -rf tmp_check_regress tmp_check

.PHONY: unit clean-unit
