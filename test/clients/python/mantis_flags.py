"""mantis_flags: feature flags kept current in process, from mantis's change feed.

A worked example for applications (psycopg 3, one background thread):

    import psycopg
    from mantis_flags import MantisFlags

    flags = MantisFlags(lambda: psycopg.connect("host=db user=app dbname=app",
                                                autocommit=True),
                        prefix="flags.").start()     # returns once loaded
    if flags.get("flags.checkout.new_flow") == "on":
        ...
    flags.close()

It loads every flag under the prefix once (mantis_changes(NULL, prefix)),
then follows mantis_wait(cursor, prefix, '30 seconds') for ever and keeps
a dict current: a value sets its key, deleted = true (a deletion or an
expiry) removes it.  A lost connection is retried with backoff and resumed
from the last cursor, on this server or any other of the cluster, so no
change is missed; SQLSTATE MT001 ("cannot answer this cursor exactly")
makes it load everything again.  Delivery is at least once: a change may
be applied twice, never missed, never one rolled back.

connect() must return a new psycopg connection in autocommit mode (through
PgBouncer in transaction mode, pass prepare_threshold=None; keepalives_idle=30
in the conninfo notices a server that vanished).  on_change(key,
value) is called for every change applied (value None for a removal) and
on_load(flags) after every full load: from the background thread, the map
already holding the change, before wait_until() sees it; keep them short.
"""

import logging
import threading

import psycopg

log = logging.getLogger("mantis_flags")

CURSOR_LOST = "MT001"


class MantisFlags:
    def __init__(self, connect, prefix="", wait="30 seconds",
                 on_change=None, on_load=None, max_backoff=10.0):
        self.connect, self.prefix, self.wait = connect, prefix, wait
        self.on_change, self.on_load = on_change, on_load
        self.max_backoff = max_backoff
        self.cursor = None          # None: load everything first
        self.loads = 0              # full loads so far
        self._flags = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._conn = None
        self._backoff = 0.1         # reset by every answer
        self._thread = threading.Thread(target=self._run, name="mantis-flags",
                                        daemon=True)

    # ---- what the application calls ----
    def start(self, timeout=30.0):
        """Start following; return self once the first load is done."""
        self._thread.start()
        if not self.wait_until(lambda flags: self.loads > 0, timeout):
            raise TimeoutError(f"mantis flags not loaded after {timeout} s")
        return self

    def get(self, key, default=None):
        with self._cond:
            return self._flags.get(key, default)

    def snapshot(self):
        with self._cond:
            return dict(self._flags)

    def wait_until(self, predicate, timeout):
        """Block until predicate(flags dict) holds (False after timeout s)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._flags), timeout)

    def close(self):
        self._stop.set()
        while self._thread.is_alive():
            conn = self._conn
            if conn is not None:
                try:
                    conn.cancel()   # ends a mantis_wait() now
                except psycopg.Error:
                    pass
            self._thread.join(0.5)

    # ---- the background thread ----
    def _run(self):
        while not self._stop.is_set():
            try:
                with self.connect() as conn:
                    self._conn = conn
                    self._follow(conn)
            except psycopg.Error as e:
                if self._stop.is_set():
                    break
                log.warning("mantis flags: %s; again in %.1f s", e, self._backoff)
                self._stop.wait(self._backoff)
                self._backoff = min(self._backoff * 2, self.max_backoff)
            finally:
                self._conn = None

    def _follow(self, conn):
        while not self._stop.is_set():
            if self.cursor is None:
                self._load(conn)
                continue
            try:
                rows = conn.execute(
                    "SELECT key, value, deleted, cursor FROM mantis_wait(%s, %s, %s)",
                    (self.cursor, self.prefix, self.wait)).fetchall()
                if not rows:
                    # nothing changed under the prefix: move the cursor past
                    # the server's other changes, so that it stays recent
                    self.cursor = conn.execute("SELECT mantis_cursor(%s, %s)",
                                               (self.cursor, self.prefix)).fetchone()[0]
            except psycopg.Error as e:
                if e.sqlstate != CURSOR_LOST:
                    raise
                log.warning("mantis flags: %s; loading every flag again", e)
                self.cursor = None
                continue
            self._apply(rows)

    def _load(self, conn):
        # a cursor taken before the snapshot: nothing after it is missed,
        # also when the snapshot is empty and brings no cursor of its own
        cursor = conn.execute("SELECT mantis_cursor()").fetchone()[0]
        rows = conn.execute(
            "SELECT key, value, deleted, cursor FROM mantis_changes(NULL, %s)",
            (self.prefix,)).fetchall()
        with self._cond:
            self._flags = {k: v for k, v, deleted, _ in rows if not deleted}
            self.cursor = rows[0][3] if rows else cursor
            self.loads += 1
            self._backoff = 0.1
            self._call(self.on_load, dict(self._flags))
            self._cond.notify_all()

    def _apply(self, rows):
        with self._cond:
            for key, value, deleted, _ in rows:
                if deleted:
                    self._flags.pop(key, None)
                else:
                    self._flags[key] = value
            if rows:
                self.cursor = rows[0][3]    # every row carries the same one
            self._backoff = 0.1
            for key, value, deleted, _ in rows:
                self._call(self.on_change, key, None if deleted else value)
            self._cond.notify_all()

    @staticmethod
    def _call(callback, *args):
        if callback is not None:
            try:
                callback(*args)
            except Exception:       # the application's: never stop following
                log.exception("mantis flags: a callback failed")
