"""A few lines of check bookkeeping shared by the Python clients.

Each check is a `with ck("what a user expects"):` block: an exception in
it (a failed expectation or anything the driver raised) marks that check
failed and the next one runs.  Output is one "ok N - ..." or
"not ok N - ..." line per check (TAP-like), then a count; the program's
exit status is 1 when any check failed.
"""

import sys
import traceback


class Failure(Exception):
    pass


def eq(got, want, what="value"):
    """got == want, and of the same type: 42 is not "42", True is not "true"."""
    if type(got) is not type(want) or got != want:
        g, w = repr(got), repr(want)
        if len(g) > 200:
            g = g[:200] + "..."
        if len(w) > 200:
            w = w[:200] + "..."
        raise Failure(f"{what}: got {g} ({type(got).__name__}),"
                      f" want {w} ({type(want).__name__})")


def true(cond, what):
    if not cond:
        raise Failure(what)


def raises(sqlstate, fn, sqlstate_of, what="the call"):
    """fn() fails with a driver error whose SQLSTATE (read by sqlstate_of,
    as the driver exposes it) is sqlstate."""
    try:
        result = fn()
    except Exception as e:  # the driver's own exception classes differ
        got = sqlstate_of(e)
        if got != sqlstate:
            raise Failure(f"{what}: SQLSTATE {got!r}, want {sqlstate}"
                          f" ({type(e).__name__}: {str(e).strip()})")
        return e
    raise Failure(f"{what}: no error (returned {result!r}), want SQLSTATE {sqlstate}")


class Checks:
    def __init__(self):
        self.count = 0
        self.failed = []
        self._name = None

    def __call__(self, name):
        self._name = name
        return self

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.count += 1
        if exc is None:
            print(f"ok {self.count} - {self._name}", flush=True)
            return False
        self.failed.append(self._name)
        print(f"not ok {self.count} - {self._name}", flush=True)
        if isinstance(exc, Failure):
            print(f"#   {exc}", flush=True)
        else:
            for line in traceback.format_exception(exc_type, exc, tb):
                for part in line.rstrip("\n").split("\n"):
                    print(f"#   {part}", flush=True)
        return True  # go on with the next check

    def done(self):
        print(f"# {self.count} checks, {len(self.failed)} failed", flush=True)
        for name in self.failed:
            print(f"#   failed: {name}", flush=True)
        sys.exit(1 if self.failed or self.count == 0 else 0)
