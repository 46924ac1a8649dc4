#!/usr/bin/python3
"""mantis's change feed from psycopg 3: the feature-flag client of
mantis_flags.py against a real server, and mantis_wait() through PgBouncer
in transaction mode.

The connection comes from APP_HOST, APP_PORT, BOUNCER_PORT, APP_DB,
APP_USER and APP_PASSWORD (set by test/clients/run.sh); the role has only
`GRANT mantis_writer, mantis_monitor TO app`.  Every wait for the client
to see something is a wait for that event with a deadline, never a sleep.
"""

import os
import threading
import time

import psycopg

from checks import Checks, eq, raises, true
from mantis_flags import MantisFlags

ENV = os.environ
P = "pyflags."          # the flags this test follows
APP_NAME = "mantis-flags-py"
DEADLINE = 15.0         # seconds to wait for an event before failing


def connect(port=None, **kw):
    args = dict(host=ENV["APP_HOST"], port=port or ENV["APP_PORT"], dbname=ENV["APP_DB"],
                user=ENV["APP_USER"], password=ENV["APP_PASSWORD"], autocommit=True)
    if port == ENV["BOUNCER_PORT"]:
        args["prepare_threshold"] = None
    args.update(kw)
    return psycopg.connect(**args)


def bouncer(**kw):
    return connect(port=ENV["BOUNCER_PORT"], **kw)


def sqlstate(e):
    return getattr(e, "sqlstate", None)


class Abort(Exception):
    pass


w = connect()           # the application's writes, another connection


def one(sql, params=(), c=None):
    return (c or w).execute(sql, params).fetchone()[0]


def put(key, value, c=None, ttl=None):
    if ttl is None:
        return one("SELECT mantis_set(%s, %s)", (key, value), c)
    return one("SELECT mantis_set(%s, %s, %s::interval)", (key, value, ttl), c)


def registers(prefix):
    return dict(w.execute("SELECT key, value FROM mantis_registers(%s)", (prefix,)).fetchall())


def until(cond, what, timeout=DEADLINE):
    """Poll cond() against a deadline (for the server's state, not the client's)."""
    end = time.monotonic() + timeout
    while not cond():
        true(time.monotonic() < end, f"{what}: not after {timeout} s")
        time.sleep(0.02)


# The flag client's connections pass a gate: closed, a reconnection waits
# at it, so that the test can write while the client is disconnected.
gate = threading.Event()
gate.set()
at_gate = threading.Event()


def flags_connect():
    if not gate.is_set():
        at_gate.set()
        gate.wait()
    return connect(application_name=APP_NAME)


events = []             # every (key, value) the client applied, in order
flags = MantisFlags(flags_connect, prefix=P, wait="20 seconds",
                    on_change=lambda k, v: events.append((k, v)))


def sees(pred, what):
    true(flags.wait_until(pred, DEADLINE), f"the client did not see {what} in {DEADLINE} s"
         f" (it has {flags.snapshot()!r})")


def waiting():
    """the flag client's sessions asleep in mantis_wait"""
    return one("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
               " AND wait_event_type = 'Extension'", (APP_NAME,))


def disconnect():
    """End the client's connection; return once it waits at the gate."""
    until(lambda: waiting() == 1, "the client's mantis_wait sleeping")
    gate.clear()
    at_gate.clear()
    pid = one("SELECT pid FROM pg_stat_activity WHERE application_name = %s"
              " AND wait_event_type = 'Extension'", (APP_NAME,))
    eq(one("SELECT pg_terminate_backend(%s)", (pid,)), True, "pg_terminate_backend")
    true(at_gate.wait(DEADLINE), "the client did not try to reconnect")


ck = Checks()

with ck("the flag client loads every flag under its prefix once, nothing else"):
    put(P + "a", "1")
    put(P + "b", "2")
    put("pyother.a", "not a flag")
    flags.start(timeout=DEADLINE)
    eq(flags.snapshot(), {P + "a": "1", P + "b": "2"}, "the flags loaded")
    eq(flags.loads, 1, "loads")
    true(flags.cursor.startswith("mc1-"), f"cursor {flags.cursor!r}")

with ck("an empty prefix loads nothing, then follows from the cursor taken before it"):
    empty = MantisFlags(lambda: connect(), prefix=P + "empty.", wait="20 seconds")
    empty.start(timeout=DEADLINE)
    try:
        eq(empty.snapshot(), {}, "loaded")
        put(P + "empty.x", "1")
        true(empty.wait_until(lambda f: f.get(P + "empty.x") == "1", DEADLINE),
             "the first flag under an empty prefix")
    finally:
        empty.close()

with ck("a set and an update reach the map"):
    put(P + "c", "on")
    put(P + "a", "11")
    sees(lambda f: f.get(P + "c") == "on" and f.get(P + "a") == "11", "c = on, a = 11")

with ck("a delete removes the key"):
    eq(one("SELECT mantis_delete(%s)", (P + "b",)), True, "mantis_delete")
    sees(lambda f: P + "b" not in f, "b deleted")
    true((P + "b", None) in events, f"no removal of b among {events!r}")

with ck("an expiry removes the key (a TTL of 1 s)"):
    put(P + "ttl", "short", ttl="1 second")
    sees(lambda f: f.get(P + "ttl") == "short", "ttl set")
    sees(lambda f: P + "ttl" not in f, "ttl expired")
    eq(registers(P + "ttl"), {}, "mantis_registers after the expiry")

with ck("a transactional write arrives only after COMMIT"):
    tx = connect(autocommit=False)
    with tx.transaction():
        put(P + "tx", "committed", tx)
        put(P + "marker1", "1")         # another connection, at once
        sees(lambda f: P + "marker1" in f, "marker1")
        true(P + "tx" not in flags.snapshot(), "tx seen before its COMMIT")
    sees(lambda f: f.get(P + "tx") == "committed", "tx after COMMIT")

with ck("a rolled-back write never arrives"):
    try:
        with tx.transaction():
            put(P + "rolled_back", "x", tx)
            raise Abort
    except Abort:
        pass
    tx.close()
    put(P + "marker2", "2")             # the feed is in order: after the rollback
    sees(lambda f: P + "marker2" in f, "marker2")
    eq([e for e in events if e[0] == P + "rolled_back"], [], "events of the rolled-back key")

with ck("a lost connection: it reconnects and resumes from its cursor, missing nothing"):
    disconnect()
    put(P + "offline", "written while disconnected")
    one("SELECT mantis_delete(%s)", (P + "c",))
    gate.set()
    sees(lambda f: f.get(P + "offline") == "written while disconnected" and P + "c" not in f,
         "the set and the delete made while it was disconnected")
    eq(flags.loads, 1, "loads (a resume is not a reload)")
    eq(flags.snapshot(), registers(P), "the map against mantis_registers")

with ck("a cursor the server cannot answer (SQLSTATE MT001): it loads everything again"):
    disconnect()
    parts = flags.cursor.split("-")
    parts[1] = format(int(parts[1], 16) ^ 0xFF, "016x")     # a server that is no peer
    foreign = "-".join(parts)
    raises("MT001", lambda: w.execute("SELECT * FROM mantis_changes(%s, %s)", (foreign, P)),
           sqlstate, "mantis_changes from a foreign cursor")
    flags.cursor = foreign              # as if it had been following another cluster
    one("SELECT mantis_delete(%s)", (P + "a",))
    put(P + "reloaded", "yes")
    gate.set()
    sees(lambda f: flags.loads == 2 and f.get(P + "reloaded") == "yes", "a second load")
    eq(flags.snapshot(), registers(P), "the map against mantis_registers")
    put(P + "after_reload", "1")
    sees(lambda f: P + "after_reload" in f, "a write after the reload")

with ck("close() ends the background thread at once, in the middle of a wait"):
    until(lambda: waiting() == 1, "the client's mantis_wait sleeping")
    t0 = time.monotonic()
    flags.close()
    true(time.monotonic() - t0 < 5, f"close() took {time.monotonic() - t0:.1f} s")
    true(not flags._thread.is_alive(), "the thread is still alive")

# ---- mantis_wait through PgBouncer in transaction mode ----

WAIT_SQL = ("SELECT /* py-bouncer-wait */ key, value, deleted, cursor"
            " FROM mantis_wait(%s, %s, %s)")

with ck("through PgBouncer: mantis_wait wakes on a write made by another connection"):
    waiter, writer = bouncer(), bouncer()
    since = one("SELECT mantis_cursor()", c=waiter)
    got = {}

    def wait():
        t0 = time.monotonic()
        try:
            got["rows"] = waiter.execute(WAIT_SQL, (since, "pgb.py.", "20 seconds")).fetchall()
        except Exception as e:
            got["error"] = e
        got["took"] = time.monotonic() - t0
    t = threading.Thread(target=wait)
    t.start()
    until(lambda: one("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Extension'"
                      " AND query LIKE %s", ("%py-bouncer-wait%",)) == 1,
          "the waiter asleep in mantis_wait")
    put("pgb.py.k", "v", writer)
    t.join(DEADLINE)
    true(not t.is_alive(), "mantis_wait did not return")
    true("error" not in got, f"mantis_wait failed: {got.get('error')!r}")
    eq([r[:3] for r in got["rows"]], [("pgb.py.k", "v", False)], "the rows")
    true(got["took"] < 15, f"it returned after {got['took']:.1f} s, not at the write")
    true(got["rows"][0][3] != since, "a new cursor")
    eq(one("SELECT mantis_get(%s)", ("pgb.py.k",), waiter), "v", "the connection afterwards")

with ck("through PgBouncer: mantis_wait times out with no rows"):
    since = one("SELECT mantis_cursor()", c=waiter)
    t0 = time.monotonic()
    eq(waiter.execute(WAIT_SQL, (since, "pgb.py.none.", "1 second")).fetchall(), [], "rows")
    took = time.monotonic() - t0
    true(0.9 <= took < 10, f"it took {took:.2f} s for a 1 s timeout")
    waiter.close()
    writer.close()

with ck("through PgBouncer: the flag client loads and follows"):
    put("pgb.pyflags.a", "1")
    via = MantisFlags(bouncer, prefix="pgb.pyflags.", wait="20 seconds").start(timeout=DEADLINE)
    try:
        eq(via.snapshot(), {"pgb.pyflags.a": "1"}, "loaded")
        put("pgb.pyflags.b", "2")
        true(via.wait_until(lambda f: f.get("pgb.pyflags.b") == "2", DEADLINE), "b, followed")
    finally:
        via.close()

w.close()
ck.done()
