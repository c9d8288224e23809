"""Django's SQLite backend, with index expressions SQLite accepts: the embedded mode's database.

SQLite refuses NULLS FIRST/LAST in CREATE INDEX, and it re-creates every index of a table whenever a
migration rebuilds that table (most ALTERs on SQLite do), so an index declared on the model as
`last_message_at DESC NULLS LAST` breaks any later migration of that model. The modifiers are
dropped from index definitions here: an index is an access path and never changes what a query
answers (queries keep their NULLS LAST; SQLite's ORDER BY takes it), and SQLite sorts NULLs as the
smallest value, so a DESC NULLS LAST index is the same index without the words.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.sqlite3 import base, schema
from django.db.models.expressions import BaseExpression, OrderBy


def _without_nulls_order(expression: BaseExpression) -> BaseExpression:
    expression = expression.copy()
    if isinstance(expression, OrderBy):
        # Django takes None ("the database's default") here; the stubs only know bool.
        expression.nulls_first = expression.nulls_last = None  # type: ignore[assignment]
    expression.set_source_expressions(
        # a missing source expression stays None, as Django itself passes it; the stubs allow Combinable only
        [None if e is None else _without_nulls_order(e) for e in expression.get_source_expressions()]  # type: ignore[misc]
    )
    return expression


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def _create_index_sql(self, model: Any, *, expressions: Any = None, **kwargs: Any) -> Any:
        if expressions:
            expressions = _without_nulls_order(expressions)
        return super()._create_index_sql(  # type: ignore[misc]  # private in Django, absent from the stubs
            model, expressions=expressions, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
