"""Per-process caches of configuration rows (automation rules, SLA policies), safe across processes.

Every inbound message asks for the active rules of its trigger and the active SLA policies; they
change a few times a day. A process keeps what it read with the version of its table
(`inbox_config_version`, migration 0016: a trigger gives a table's row a new, never reused version
at every statement that writes the table, in the writing transaction) and reads the rows again only
when that version differs. Reading the versions is one small statement; within `checked_once()`
(a batch of events, one message's receivers) it is made at most once, so a batch of 50 messages
asks once. A change committed before the check is seen by the next message after it: the
worker's next batch, or the next message processed alone.

A version is read before the rows it stamps, so a change committed in between makes the cache
older than its stamp (the next check reads again), never newer. A transaction that writes a rule
sees its own new version (and so its own change); if it rolls back, the version it made is never
seen again, so what was cached under it is never taken for the table's content.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from django.db import connection

T = TypeVar("T")
RULES = "rules"
SLA_POLICIES = "sla_policies"

# Versions read in the current `checked_once()` scope (None outside one).
_scope: contextvars.ContextVar[dict[str, int | None] | None] = contextvars.ContextVar("inbox_config_versions",
                                                                                      default=None)


_table_found = False  # per process: once there, the table stays


def _table_exists(cursor) -> bool:
    if connection.vendor == "postgresql":
        cursor.execute("SELECT to_regclass('inbox_config_version') IS NOT NULL")
    else:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'inbox_config_version'")
    return bool(cursor.fetchone()[0])


def _read() -> dict[str, int | None]:
    """Every table's version, in one statement. A database without the table (migration 0016 not
    applied, or recorded as applied while it was still empty) caches nothing, as before."""
    global _table_found
    with connection.cursor() as cursor:
        if not _table_found:
            if not _table_exists(cursor):
                return {}
            _table_found = True
        cursor.execute("SELECT name, version FROM inbox_config_version")
        return dict(cursor.fetchall())


def current(name: str) -> int | None:
    """The table's version now (None: unknown, so never cached)."""
    scope = _scope.get()
    if scope is None:
        return _read().get(name)
    if name not in scope:
        scope.update(_read() or {name: None})
    return scope.get(name)


@contextmanager
def checked_once() -> Iterator[None]:
    """Within: the versions are read at most once (the first time a cache is asked), then trusted."""
    if _scope.get() is not None:
        yield
        return
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def forget() -> None:
    """Within `checked_once()`: read the versions again at the next ask (this process changed a table)."""
    scope = _scope.get()
    if scope is not None:
        scope.clear()


class Cached(Generic[T]):
    """One value per key (e.g. a trigger's rules) derived from one versioned table."""

    def __init__(self, table: str, load: Callable[[Any], T]) -> None:
        self.table = table
        self.load = load
        self._values: dict[Any, tuple[int, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any = None) -> T:
        version = current(self.table)
        hit = self._values.get(key)
        if version is not None and hit is not None and hit[0] == version:
            return hit[1]
        value = self.load(key)
        if version is not None:
            with self._lock:
                if len(self._values) > 256:  # keys are triggers: a handful
                    self._values.clear()
                self._values[key] = (version, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
