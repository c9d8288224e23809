"""A cheaper flush between transactional tests, leaving the database as Django's flush would.

After a `transaction=True` test Django runs `manage.py flush`: TRUNCATE of every table (about a
second on PostgreSQL for this schema, whatever the tables hold: each table and index gets new files)
and then the post_migrate signal (another ~0.8 s: content types, permissions, the role groups,
the default rules). Some 200 tests pay that.

Here, instead: the tables that hold rows are found in one query and emptied with DELETE (foreign
keys are deferred, so order doesn't matter); the rows post_migrate makes are kept — they are what
a flush would make again. That holds while those tables are as the last real flush left them, which
a fingerprint of their rows checks; a test that changed them (or emptied one) gets Django's own
flush, after which the fingerprints are taken again. On other databases (the embedded mode's
SQLite) it is Django's flush always.
"""

from __future__ import annotations

from django.db import connections, transaction
from django.test import TransactionTestCase

_django_teardown = TransactionTestCase._fixture_teardown
# Per database alias: the tables post_migrate fills, with a fingerprint of their rows.
_baselines: dict[str, dict[str, str]] = {}
_tables: dict[str, list[str]] = {}


def _fixture_teardown(self: TransactionTestCase) -> None:
    aliases = list(self._databases_names(include_mirrors=False))
    plain = self.available_apps is None and not self.serialized_rollback
    if plain and all(connections[a].vendor == "postgresql" for a in aliases) and all(_quick_flush(a) for a in aliases):
        return
    _django_teardown(self)
    for alias in aliases:  # what post_migrate made again is the new baseline
        connection = connections[alias]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                _baselines[alias] = {
                    t: _fingerprint(cursor, connection, t) for t in _non_empty(cursor, connection, _tables_of(alias))
                }


def _quote(connection, table: str) -> str:
    return connection.ops.quote_name(table)


def _fingerprint(cursor, connection, table: str) -> str:
    cursor.execute(f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {_quote(connection, table)} t")
    return cursor.fetchone()[0]


def _non_empty(cursor, connection, tables: list[str]) -> list[str]:
    cursor.execute(" UNION ALL ".join(
        f"SELECT %s WHERE EXISTS (SELECT 1 FROM {_quote(connection, t)})" for t in tables
    ), tables)
    return [row[0] for row in cursor.fetchall()]


def _quick_flush(alias: str) -> bool:
    """Empty the database `alias` as a flush would; False when Django's flush must do it."""
    baseline = _baselines.get(alias)
    if baseline is None:  # the first time: Django's flush, which takes the baseline
        return False
    connection, tables = connections[alias], _tables_of(alias)
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        filled = _non_empty(cursor, connection, tables)
        if set(baseline) - set(filled) or any(
            _fingerprint(cursor, connection, t) != baseline[t] for t in filled if t in baseline
        ):
            return False
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for table in filled:
            if table not in baseline:
                cursor.execute(f"DELETE FROM {_quote(connection, table)}")
    return True


def _tables_of(alias: str) -> list[str]:
    if alias not in _tables:  # the schema doesn't change during the run
        introspection = connections[alias].introspection
        _tables[alias] = sorted(introspection.django_table_names(only_existing=True, include_views=False))
    return _tables[alias]


def install(monkeypatch) -> None:
    monkeypatch.setattr(TransactionTestCase, "_fixture_teardown", _fixture_teardown)
