#!/usr/bin/python3
"""mantis from psycopg 3, as an application uses it.

    psycopg_test.py direct      to the server, over TCP with a password
    psycopg_test.py pgbouncer   the same through PgBouncer in transaction
                                mode (prepare_threshold=None), and what
                                a pooler changes

The connection comes from APP_HOST, APP_PORT (BOUNCER_PORT), APP_DB,
APP_USER and APP_PASSWORD (set by test/clients/run.sh).  The role has
only `GRANT mantis_writer, mantis_monitor TO app`.
"""

import datetime
import json
import os
import random
import re
import string
import sys
from decimal import Decimal

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

from checks import Checks, eq, raises, true

MODE = sys.argv[1] if len(sys.argv) > 1 else "direct"
if MODE not in ("direct", "pgbouncer"):
    sys.exit(f"usage: {sys.argv[0]} direct|pgbouncer")
ENV = os.environ
BOUNCER = MODE == "pgbouncer"
PORT = ENV["BOUNCER_PORT"] if BOUNCER else ENV["APP_PORT"]
PREFIX = "pgbouncer/" if BOUNCER else "psycopg/"
HLC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-[0-9a-f]{4}-[0-9a-f]{16}$")


def connect(**kw):
    args = dict(host=ENV["APP_HOST"], port=PORT, dbname=ENV["APP_DB"],
                user=ENV["APP_USER"], password=ENV["APP_PASSWORD"],
                autocommit=True)
    if BOUNCER:
        # PgBouncer 1.18 in transaction mode cannot keep named prepared
        # statements: psycopg must not prepare (see the checks at the end)
        args["prepare_threshold"] = None
    args.update(kw)
    return psycopg.connect(**args)


def sqlstate(e):
    return getattr(e, "sqlstate", None)


def K(name):
    return PREFIX + name


class Abort(Exception):
    """raised inside `with conn.transaction()` to roll it back"""


conn = connect()
other = connect()      # another connection of the application: what others see


def one(sql, params=(), c=None):
    return (c or conn).execute(sql, params).fetchone()[0]


def get(key, c=None):
    return one("SELECT mantis_get(%s)", (key,), c)


def put(key, value, c=None):
    return one("SELECT mantis_set(%s, %s)", (key, value), c)


def registers(prefix, include_deleted=False, c=None):
    return sorted((c or conn).execute(
        "SELECT key, value, hlc FROM mantis_registers(%s, %s)",
        (prefix, include_deleted)).fetchall())


ck = Checks()

with ck("connected as app over TCP with a password; not a superuser"):
    eq(conn.execute("SELECT current_user::text, inet_server_addr() IS NOT NULL,"
                    " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
                    ).fetchone(), ("app", True, False), "user, TCP, superuser")
    try:
        connect(password="not the password").close()
        raise AssertionError("a wrong password was accepted")
    except psycopg.OperationalError as e:
        # "password authentication failed" from the server, "SASL
        # authentication failed" from PgBouncer
        true("authentication failed" in str(e), f"wrong password: {e}")

with ck("text: set, then get the same text"):
    put(K("checkout.new_flow"), "on")
    eq(get(K("checkout.new_flow")), "on")
    eq(get(K("checkout.new_flow"), other), "on", "from another connection")

with ck("integer: set 42, get its text, and an int back with a typed default"):
    put(K("limit"), 42)               # psycopg sends a Python int typed
    eq(get(K("limit")), "42")
    eq(one("SELECT mantis_get(%s, %s)", (K("limit"), 100)), 42)

with ck("integer: a default cast to int reads 100000; psycopg's smallint 100 cannot (22003)"):
    put(K("big_limit"), 100000)
    eq(one("SELECT mantis_get(%s, %s::int)", (K("big_limit"), 100)), 100000)
    # psycopg types a small Python int as smallint: the stored text must fit it
    raises("22003", lambda: one("SELECT mantis_get(%s, %s)", (K("big_limit"), 100)),
           sqlstate, "mantis_get(key, 100) with 100000 stored")

with ck("boolean: set True stores 'true'; on, t and true read back as True with mantis_get_bool"):
    put(K("dark"), True)
    eq(get(K("dark")), "true")
    eq(one("SELECT mantis_get_bool(%s)", (K("dark"),)), True)
    eq(one("SELECT mantis_get(%s, %s)", (K("dark"), False)), True, "mantis_get with a bool default")
    for text in ("on", "t", "true"):
        put(K("dark"), text)
        eq(one("SELECT mantis_get_bool(%s, %s)", (K("dark"), False)), True, f"stored {text!r}")
    put(K("dark"), "off")
    eq(one("SELECT mantis_get_bool(%s, %s)", (K("dark"), True)), False, "stored 'off'")

with ck("typed readers: an absent flag is None or its default False; ints past 32767 need no cast"):
    eq(one("SELECT mantis_get_bool(%s)", (K("absent"),)), None)
    eq(one("SELECT mantis_get_bool(%s, %s)", (K("absent"), False)), False)
    eq(one("SELECT mantis_get_int(%s)", (K("big_limit"),)), 100000)
    # the default is a bigint parameter: psycopg's smallint 100 fits it
    eq(one("SELECT mantis_get_int(%s, %s)", (K("big_limit"), 100)), 100000, "with default 100")
    eq(one("SELECT mantis_get_int(%s, %s)", (K("absent"), 100)), 100, "absent, default 100")

with ck("typed readers: float, numeric, timestamptz and mantis_ttl_ms read as Python's own"):
    put(K("ratio"), 0.25)
    eq(one("SELECT mantis_get_float(%s, %s)", (K("ratio"), 1.0)), 0.25)
    put(K("price"), Decimal("19.90"))
    eq(one("SELECT mantis_get_numeric(%s)", (K("price"),)), Decimal("19.90"))
    launch = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
    put(K("launch"), launch)
    eq(one("SELECT mantis_get_timestamptz(%s)", (K("launch"),)), launch)
    one("SELECT mantis_set(%s, %s, %s)", (K("session"), "token", datetime.timedelta(seconds=30)))
    ms = one("SELECT mantis_ttl_ms(%s)", (K("session"),))
    true(isinstance(ms, int) and 25000 < ms <= 30000, f"mantis_ttl_ms {ms!r}")
    eq(one("SELECT mantis_ttl_ms(%s)", (K("ratio"),)), None, "a key without an expiry")

CFG = {"plan": "pro", "seats": 5, "ratio": 0.25, "tags": ["a", "ü"], "owner": None,
       "nested": {"on": True}}

with ck("jsonb: set from a dict (Jsonb), get a dict back with mantis_get_json"):
    put(K("cfg"), Jsonb(CFG))
    eq(one("SELECT mantis_get_json(%s)", (K("cfg"),)), CFG)
    eq(json.loads(get(K("cfg"))), CFG, "the stored text, parsed")

with ck("jsonb: set a JSON string with %s::jsonb; mantis_get_json of non-JSON is 22P02"):
    one("SELECT mantis_set(%s, %s::jsonb)", (K("cfg2"), json.dumps(CFG)))
    eq(one("SELECT mantis_get_json(%s)", (K("cfg2"),)), CFG)
    put(K("not_json"), "{oops")
    raises("22P02", lambda: one("SELECT mantis_get_json(%s)", (K("not_json"),)),
           sqlstate, "mantis_get_json of '{oops'")

with ck("None as the value is refused (22004), never a deletion; mantis_delete says whether it deleted"):
    put(K("gone"), "here")
    eq(get(K("gone")), "here")
    raises("22004", lambda: put(K("gone"), None), sqlstate, "None as the value")
    eq(get(K("gone")), "here", "still set")
    eq(one("SELECT mantis_delete(%s)", (K("gone"),)), True, "delete of a live key")
    eq(get(K("gone")), None)
    eq(registers(K("gone"), True)[0][:2], (K("gone"), None), "its deletion marker")
    put(K("gone2"), "here")
    eq(one("SELECT mantis_delete(%s)", (K("gone2"),)), True, "delete of a live key")
    eq(get(K("gone2")), None)
    eq(one("SELECT mantis_delete(%s)", (K("gone2"),)), False, "delete again")

UKEY, UVALUE = K("ключ/設定/🔑"), "Grüße, 世界 ✓ 🎉"

with ck("unicode key and value round trip, and list by prefix"):
    put(UKEY, UVALUE)
    eq(get(UKEY), UVALUE)
    eq([r[:2] for r in registers(K("ключ/"))], [(UKEY, UVALUE)])

BIG = "".join(random.Random(1).choice(string.ascii_letters + "äö€") for _ in range(100_000))

with ck("a 100 kB value round trips"):
    put(K("big"), BIG)
    got = get(K("big"))
    eq(len(got), len(BIG), "length")
    eq(got, BIG)

with ck("batch read: mantis_get_many with a list, one row per key in order"):
    put(K("m.a"), "1")
    put(K("m.b"), "2")
    keys = [K("m.b"), K("m.absent"), K("m.a"), K("m.b")]
    eq(conn.execute("SELECT key, value FROM mantis_get_many(%s)", (keys,)).fetchall(),
       [(K("m.b"), "2"), (K("m.absent"), None), (K("m.a"), "1"), (K("m.b"), "2")])

with ck("absent key: NULL, or the typed default"):
    eq(get(K("absent")), None)
    eq(one("SELECT mantis_get(%s, %s)", (K("absent"), 7)), 7)
    eq(one("SELECT mantis_get(%s, %s)", (K("absent"), "fallback")), "fallback")
    eq(one("SELECT mantis_get(%s, %s)", (K("absent"), False)), False)
    eq(one("SELECT mantis_get(%s, %s)", (K("absent"), Jsonb({"x": 1}))), {"x": 1})
    eq(get(None), None, "a NULL key")

with ck("errors: empty key 22023, over-long key 54000, wrong type 22P02"):
    e = raises("22023", lambda: get(""), sqlstate, "empty key")
    true(isinstance(e, errors.InvalidParameterValue), f"class {type(e).__name__}")
    e = raises("54000", lambda: get("k" * 1025), sqlstate, "1025-byte key")
    true(isinstance(e, errors.ProgramLimitExceeded), f"class {type(e).__name__}")
    put(K("word"), "abc")
    e = raises("22P02", lambda: one("SELECT mantis_get(%s, %s)", (K("word"), 0)),
               sqlstate, "'abc' read as an integer")
    true(isinstance(e, errors.InvalidTextRepresentation), f"class {type(e).__name__}")

with ck("errors: mantis_set in a read-only transaction is 25006"):
    ro = connect(autocommit=False)
    ro.read_only = True
    e = raises("25006", lambda: put(K("ro"), "x", ro), sqlstate, "set in BEGIN READ ONLY")
    true(isinstance(e, errors.ReadOnlySqlTransaction), f"class {type(e).__name__}")
    ro.rollback()
    ro.close()
    eq(get(K("ro")), None)

with ck("errors: what mantis_writer does not grant is 42501"):
    raises("42501", lambda: conn.execute("SELECT * FROM mantis_decode(%s)", (b"",)),
           sqlstate, "mantis_decode")
    raises("42501", lambda: conn.execute("SELECT count(*) FROM mantis_stores"),
           sqlstate, "reading mantis_stores")

with ck("transaction: a write is its own until COMMIT, and an exception rolls it back"):
    put(K("tx.price"), "10")
    try:
        with conn.transaction():
            eq(put(K("tx.price"), "12"), None, "mantis_set's result when it waits for COMMIT")
            eq(get(K("tx.price")), "12", "own write, in the transaction")
            eq(get(K("tx.price"), other), "10", "another connection, before COMMIT")
            raise Abort
    except Abort:
        pass
    eq(get(K("tx.price")), "10", "after the rollback")
    eq(get(K("tx.price"), other), "10", "another connection, after the rollback")

with ck("transaction: two writes commit together, under one HLC"):
    with conn.transaction():
        put(K("tx.a"), "1")
        put(K("tx.b"), "2")
        eq(get(K("tx.a"), other), None, "tx.a seen by another before COMMIT")
    rows = registers(K("tx."), c=other)
    eq([r[:2] for r in rows if r[0] in (K("tx.a"), K("tx.b"))],
       [(K("tx.a"), "1"), (K("tx.b"), "2")], "after COMMIT, from another connection")
    hlcs = {r[2] for r in rows if r[0] in (K("tx.a"), K("tx.b"))}
    eq(len(hlcs), 1, f"HLCs of the two writes {hlcs}")

with ck("transaction: a savepoint rolled back discards only its writes"):
    with conn.transaction():
        put(K("sp"), "outer")
        try:
            with conn.transaction():          # a SAVEPOINT
                put(K("sp"), "inner")
                put(K("sp.only_inner"), "x")
                eq(get(K("sp")), "inner")
                raise Abort
        except Abort:
            pass
        eq(get(K("sp")), "outer", "after ROLLBACK TO SAVEPOINT")
        eq(get(K("sp.only_inner")), None, "a key set only in the savepoint")
    eq(get(K("sp"), other), "outer", "after COMMIT, from another connection")
    eq(get(K("sp.only_inner"), other), None, "after COMMIT, from another connection")

with ck("SET LOCAL mantis.transactional = off: applied at once, returns the HLC, kept on rollback"):
    try:
        with conn.transaction():
            conn.execute("SET LOCAL mantis.transactional = off")
            hlc = put(K("now"), "applied")
            true(isinstance(hlc, str) and HLC.match(hlc), f"mantis_set returned {hlc!r}")
            eq(get(K("now"), other), "applied", "another connection, before COMMIT")
            raise Abort
    except Abort:
        pass
    eq(get(K("now")), "applied", "after ROLLBACK")
    eq(one("SHOW mantis.transactional"), "on", "the setting after the transaction")

if not BOUNCER:
    with ck("SET mantis.transactional = off for the session: each set returns its HLC"):
        conn.execute("SET mantis.transactional = off")
        h1 = put(K("sess"), "1")
        h2 = put(K("sess"), "2")
        conn.execute("RESET mantis.transactional")
        true(isinstance(h1, str) and HLC.match(h1) and isinstance(h2, str) and h2 > h1,
             f"HLCs {h1!r} then {h2!r}")
        eq(get(K("sess"), other), "2")

with ck("monitoring: mantis_status counters are ints, last_flush a datetime"):
    t0 = datetime.datetime.now(datetime.timezone.utc)
    put(K("flushed"), "yes")
    flushed = one("SELECT mantis_flush()")
    true(isinstance(flushed, int) and flushed >= 0, f"mantis_flush() returned {flushed!r}")
    keys, used, last = conn.execute(
        "SELECT keys, memory_used, last_flush FROM mantis_status").fetchone()
    live = one("SELECT count(*) FROM mantis_registers()")
    eq(keys, live, "keys = the live registers listed")
    true(isinstance(used, int) and used >= len(BIG), f"memory_used {used!r}")
    true(isinstance(last, datetime.datetime) and last.tzinfo is not None,
         f"last_flush {last!r}")
    now = datetime.datetime.now(datetime.timezone.utc)
    slack = datetime.timedelta(seconds=1)
    true(t0 - slack <= last <= now + slack, f"last_flush {last} not in [{t0}, {now}]")
    eq(one("SELECT count(*) FROM mantis_peers"), 0, "peers of a server without replication")

if BOUNCER:
    # What PgBouncer in transaction mode changes.  The pool "single" has one
    # server connection, so two clients of it take turns on one backend.
    def single(**kw):
        return connect(dbname="single", **kw)

    with ck("pitfall: psycopg's prepared statements fail through PgBouncer (hence prepare_threshold=None)"):
        a, b = single(prepare_threshold=5), single(prepare_threshold=5)
        for _ in range(8):
            get(K("prep"), a)

        def eight_gets():
            for _ in range(8):
                get(K("prep"), b)
        # b prepares _pg3_0 on the backend where a already did
        raises("42P05", eight_gets, sqlstate, "8 gets on a second client")
        a.close()
        b.close()
        a, b = single(), single()
        for c in (a, b, a, b):
            for _ in range(8):
                eq(get(K("prep"), c), None, "with prepare_threshold=None")
        a.close()
        b.close()

    with ck("a rolled-back write never reaches the next client of the same backend"):
        a, b = single(), single()
        try:
            with a.transaction():
                put(K("pool.rolled_back"), "x", a)
                eq(get(K("pool.rolled_back"), a), "x")
                raise Abort
        except Abort:
            pass
        eq(get(K("pool.rolled_back"), b), None, "read by the next client")
        with a.transaction():
            put(K("pool.committed"), "y", a)
        eq(get(K("pool.committed"), b), "y", "a committed write, read by the next client")
        a.close()
        b.close()

    with ck("pitfall: a session SET leaks to the next client; SET LOCAL does not"):
        a, b = single(), single()
        with a.transaction():
            a.execute("SET LOCAL mantis.transactional = off")
        eq(one("SHOW mantis.transactional", c=b), "on", "after a's SET LOCAL")
        a.execute("SET mantis.transactional = off")
        eq(one("SHOW mantis.transactional", c=b), "off", "after a's session SET")
        a.execute("RESET mantis.transactional")
        eq(one("SHOW mantis.transactional", c=b), "on", "after a's RESET")
        a.close()
        b.close()

ck.done()
