#!/usr/bin/python3
"""mantis from SQLAlchemy (1.4, Debian's) on psycopg2, as an application
uses it: an Engine, ORM Sessions, func.mantis_*() and text().

The connection comes from APP_HOST, APP_PORT, APP_DB, APP_USER and
APP_PASSWORD (set by test/clients/run.sh).  The role has only
`GRANT mantis_writer, mantis_monitor TO app`.
"""

import datetime
import json
import os
import re

import psycopg2
import psycopg2.errors
from sqlalchemy import bindparam, cast, create_engine, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from checks import Checks, eq, raises, true

ENV = os.environ
PREFIX = "sqlalchemy/"
HLC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-[0-9a-f]{4}-[0-9a-f]{16}$")

url = URL.create("postgresql+psycopg2", username=ENV["APP_USER"],
                 password=ENV["APP_PASSWORD"], host=ENV["APP_HOST"],
                 port=int(ENV["APP_PORT"]), database=ENV["APP_DB"])
engine = create_engine(url, future=True)


def sqlstate(e):
    """SQLAlchemy wraps the driver's error; psycopg2 has the SQLSTATE in pgcode."""
    return getattr(getattr(e, "orig", None), "pgcode", None)


def K(name):
    return PREFIX + name


def get(key, session=None):
    """mantis_get from a session of its own, committed: what others see."""
    if session is not None:
        return session.scalar(select(func.mantis_get(key)))
    with Session(engine) as s:
        return s.scalar(select(func.mantis_get(key)))


def put(key, value):
    with Session(engine) as s:
        r = s.scalar(select(func.mantis_set(key, value)))
        s.commit()
        return r


def scalar(stmt, **params):
    with Session(engine) as s:
        r = s.scalar(stmt, params) if params else s.scalar(stmt)
        s.commit()
        return r


ck = Checks()

with ck("connected as app over TCP with a password; not a superuser"):
    with engine.connect() as c:
        eq(tuple(c.execute(text(
            "SELECT current_user::text, inet_server_addr() IS NOT NULL,"
            " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")).one()),
           ("app", True, False))
    try:
        create_engine(url.set(password="not the password")).connect().close()
        raise AssertionError("a wrong password was accepted")
    except DBAPIError as e:
        true("password authentication failed" in str(e.orig), f"wrong password: {e.orig}")

with ck("text: set, then get the same text"):
    put(K("checkout.new_flow"), "on")
    eq(get(K("checkout.new_flow")), "on")

with ck("integer: set 42, get its text, and an int back with a typed default"):
    put(K("limit"), 42)
    eq(get(K("limit")), "42")
    eq(scalar(select(func.mantis_get(K("limit"), 100))), 42)
    put(K("big_limit"), 100000)
    eq(scalar(select(func.mantis_get(K("big_limit"), 100))), 100000)

with ck("boolean: set True stores 'true'; on, t and true read back as True with mantis_get_bool"):
    put(K("dark"), True)
    eq(get(K("dark")), "true")
    eq(scalar(select(func.mantis_get_bool(K("dark")))), True)
    eq(scalar(select(func.mantis_get(K("dark"), False))), True, "mantis_get with a bool default")
    for t in ("on", "t", "true"):
        put(K("dark"), t)
        eq(scalar(select(func.mantis_get_bool(K("dark"), False))), True, f"stored {t!r}")
    put(K("dark"), "off")
    eq(scalar(select(func.mantis_get_bool(K("dark"), True))), False, "stored 'off'")

with ck("typed readers: an absent flag is None or its default False; mantis_get_int an int"):
    eq(scalar(select(func.mantis_get_bool(K("absent")))), None)
    eq(scalar(select(func.mantis_get_bool(K("absent"), False))), False)
    eq(scalar(select(func.mantis_get_int(K("big_limit"), 100))), 100000)
    eq(scalar(select(func.mantis_get_int(K("absent"), 100))), 100, "absent, its default")
    eq(scalar(text("SELECT mantis_get_int(:k, :d)"), k=K("big_limit"), d=100), 100000, "with text()")
    scalar(text("SELECT mantis_set(:k, :v, :ttl)"), k=K("session"), v="token",
           ttl=datetime.timedelta(seconds=30))
    ms = scalar(select(func.mantis_ttl_ms(K("session"))))
    true(isinstance(ms, int) and 25000 < ms <= 30000, f"mantis_ttl_ms {ms!r}")

with ck("psycopg2 alone: %s parameters, bool and int back, SQLSTATEs in e.pgcode"):
    raw = psycopg2.connect(host=ENV["APP_HOST"], port=ENV["APP_PORT"], dbname=ENV["APP_DB"],
                           user=ENV["APP_USER"], password=ENV["APP_PASSWORD"])
    try:
        with raw, raw.cursor() as cur:      # one transaction, committed at the end
            cur.execute("SELECT mantis_set(%s, %s)", (K("pg2.flag"), True))
        with raw, raw.cursor() as cur:
            cur.execute("SELECT mantis_get_bool(%s), mantis_get_bool(%s, %s), mantis_get_int(%s, %s)",
                        (K("pg2.flag"), K("absent"), False, K("big_limit"), 100))
            eq(cur.fetchone(), (True, False, 100000))
        with raw.cursor() as cur:
            e = raises("22004", lambda: cur.execute("SELECT mantis_set(%s, %s)", (K("pg2.flag"), None)),
                       lambda e: getattr(e, "pgcode", None), "mantis_set(key, None)")
            true(isinstance(e, psycopg2.errors.NullValueNotAllowed), f"class {type(e).__name__}")
        raw.rollback()
    finally:
        raw.close()

CFG = {"plan": "pro", "seats": 5, "ratio": 0.25, "tags": ["a", "ü"], "owner": None,
       "nested": {"on": True}}

with ck("jsonb: set from a dict (CAST(... AS JSONB)), get a dict back with mantis_get_json"):
    put(K("cfg"), cast(CFG, JSONB))
    eq(get(K("cfg")) and json.loads(get(K("cfg"))), CFG, "the stored text, parsed")
    eq(scalar(select(func.mantis_get_json(K("cfg")))), CFG)
    # the same with text() and a JSONB-typed parameter
    scalar(text("SELECT mantis_set(:k, CAST(:v AS jsonb))")
           .bindparams(bindparam("v", type_=JSONB)), k=K("cfg2"), v=CFG)
    eq(scalar(text("SELECT mantis_get_json(:k)"), k=K("cfg2")), CFG)

with ck("None as the value is refused (22004), never a deletion"):
    put(K("gone"), "here")
    eq(get(K("gone")), "here")
    raises("22004", lambda: put(K("gone"), None), sqlstate, "None as the value")
    eq(get(K("gone")), "here", "still set")

UKEY, UVALUE = K("ключ/設定/🔑"), "Grüße, 世界 ✓ 🎉"

with ck("unicode key and value round trip, and list by prefix"):
    put(UKEY, UVALUE)
    eq(get(UKEY), UVALUE)
    with Session(engine) as s:
        rows = s.execute(text("SELECT key, value FROM mantis_registers(:p)"),
                         {"p": K("ключ/")}).all()
    eq([tuple(r) for r in rows], [(UKEY, UVALUE)])

BIG = "0123456789abcdefghi€" * 4546     # 100,012 bytes in UTF-8

with ck("a 100 kB value round trips"):
    put(K("big"), BIG)
    eq(get(K("big")), BIG)

with ck("batch read: mantis_get_many with a list, one row per key in order"):
    put(K("m.a"), "1")
    put(K("m.b"), "2")
    keys = [K("m.b"), K("m.absent"), K("m.a")]
    with Session(engine) as s:
        rows = s.execute(text("SELECT key, value FROM mantis_get_many(:keys)"),
                         {"keys": keys}).all()
    eq([tuple(r) for r in rows], [(K("m.b"), "2"), (K("m.absent"), None), (K("m.a"), "1")])

with ck("absent key: NULL, or the typed default"):
    eq(get(K("absent")), None)
    eq(scalar(select(func.mantis_get(K("absent"), 7))), 7)
    eq(scalar(select(func.mantis_get(K("absent"), "fallback"))), "fallback")
    eq(scalar(select(func.mantis_get(K("absent"), False))), False)

with ck("errors: empty key 22023, over-long key 54000, wrong type 22P02"):
    raises("22023", lambda: get(""), sqlstate, "empty key")
    raises("54000", lambda: get("k" * 1025), sqlstate, "1025-byte key")
    put(K("word"), "abc")
    e = raises("22P02", lambda: scalar(select(func.mantis_get(K("word"), 0))),
               sqlstate, "'abc' read as an integer")
    true(isinstance(e.orig, psycopg2.errors.InvalidTextRepresentation),
         f"class {type(e.orig).__name__}")
    raises("22P02", lambda: scalar(select(func.mantis_get_json(K("word")))),
           sqlstate, "mantis_get_json of 'abc'")

with ck("errors: mantis_set in a read-only transaction is 25006"):
    def set_read_only():
        with engine.connect().execution_options(postgresql_readonly=True) as c:
            c.execute(select(func.mantis_set(K("ro"), "x")))
    raises("25006", set_read_only, sqlstate, "set in a read-only transaction")
    eq(get(K("ro")), None)

with ck("errors: what mantis_writer does not grant is 42501"):
    raises("42501", lambda: scalar(text("SELECT count(*) FROM mantis_decode(:b)"), b=b""),
           sqlstate, "mantis_decode")
    raises("42501", lambda: scalar(text("SELECT count(*) FROM mantis_stores")),
           sqlstate, "reading mantis_stores")

with ck("Session.rollback() discards the session's writes; others never saw them"):
    put(K("tx.price"), "10")
    s = Session(engine)
    eq(s.scalar(select(func.mantis_set(K("tx.price"), "12"))), None,
       "mantis_set's result when it waits for COMMIT")
    eq(get(K("tx.price"), s), "12", "own write, in the session")
    eq(get(K("tx.price")), "10", "another session, before the rollback")
    s.rollback()
    eq(get(K("tx.price"), s), "10", "the same session after rollback()")
    eq(get(K("tx.price")), "10", "another session, after the rollback")
    s.close()

with ck("a Session closed without commit() discards its writes"):
    # psycopg2, and so SQLAlchemy, opens a transaction at the first statement
    with Session(engine) as s:
        s.execute(select(func.mantis_set(K("forgotten"), "x")))
        eq(get(K("forgotten"), s), "x", "in the session")
    eq(get(K("forgotten")), None, "after the session closed without commit()")

with ck("Session.commit() applies two writes together, under one HLC"):
    with Session(engine) as s:
        s.execute(select(func.mantis_set(K("txc.a"), "1")))
        s.execute(select(func.mantis_set(K("txc.b"), "2")))
        eq(get(K("txc.a")), None, "another session, before commit()")
        s.commit()
    with Session(engine) as s:
        rows = s.execute(text("SELECT key, value, hlc FROM mantis_registers(:p)"
                              " ORDER BY key"), {"p": K("txc.")}).all()
    eq([(r.key, r.value) for r in rows], [(K("txc.a"), "1"), (K("txc.b"), "2")])
    eq(len({r.hlc for r in rows}), 1, "distinct HLCs of the two writes")

with ck("a nested transaction (SAVEPOINT) rolled back keeps the outer write"):
    with Session(engine) as s:
        s.execute(select(func.mantis_set(K("sp"), "outer")))
        nested = s.begin_nested()
        s.execute(select(func.mantis_set(K("sp"), "inner")))
        nested.rollback()
        eq(get(K("sp"), s), "outer", "after ROLLBACK TO SAVEPOINT")
        s.commit()
    eq(get(K("sp")), "outer", "after commit, from another session")

with ck("mantis.transactional off (SET LOCAL): applied at once, returns the HLC"):
    with Session(engine) as s:
        s.execute(text("SET LOCAL mantis.transactional = off"))
        hlc = s.scalar(select(func.mantis_set(K("now"), "applied")))
        true(isinstance(hlc, str) and HLC.match(hlc), f"mantis_set returned {hlc!r}")
        eq(get(K("now")), "applied", "another session, before the end")
        s.rollback()
    eq(get(K("now")), "applied", "after rollback")

with ck("an ORM filter on mantis_get is an index condition, the call made once"):
    # what an ORM generates for "the rows whose plan is the configured one":
    # mantis_get is STABLE, so the planner looks it up once and uses the index
    with Session(engine) as s:
        s.execute(text("CREATE TEMP TABLE plans (name text PRIMARY KEY, price int)"))
        s.execute(text("INSERT INTO plans SELECT 'plan' || i, i FROM generate_series(1, 5000) i"))
        s.execute(text("ANALYZE plans"))
        s.execute(select(func.mantis_set(K("current.plan"), "plan42")))
        query = text("SELECT price FROM plans WHERE name = mantis_get(:k)").bindparams(k=K("current.plan"))
        eq(s.scalar(query), 42, "the row of the configured plan")
        plan = "\n".join(r[0] for r in s.execute(
            text("EXPLAIN SELECT price FROM plans WHERE name = mantis_get(:k)").bindparams(
                k=K("current.plan"))))
        true("Index Scan" in plan and "Index Cond" in plan, f"the plan is an index scan:\n{plan}")
        s.rollback()

with ck("monitoring: mantis_status counters are ints, last_flush a datetime"):
    t0 = datetime.datetime.now(datetime.timezone.utc)
    put(K("flushed"), "yes")
    flushed = scalar(select(func.mantis_flush()))
    true(isinstance(flushed, int) and flushed >= 0, f"mantis_flush() returned {flushed!r}")
    with Session(engine) as s:
        keys, used, last = s.execute(
            text("SELECT keys, memory_used, last_flush FROM mantis_status")).one()
        live = s.scalar(text("SELECT count(*) FROM mantis_registers()"))
    eq(keys, live, "keys = the live registers listed")
    true(isinstance(used, int) and used >= len(BIG), f"memory_used {used!r}")
    true(isinstance(last, datetime.datetime) and last.tzinfo is not None,
         f"last_flush {last!r}")
    now = datetime.datetime.now(datetime.timezone.utc)
    slack = datetime.timedelta(seconds=1)
    true(t0 - slack <= last <= now + slack, f"last_flush {last} not in [{t0}, {now}]")

ck.done()
