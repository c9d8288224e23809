"""Conversation-list indexes in the list's exact order (last_message_at DESC NULLS LAST, id DESC).

Built with CREATE/DROP INDEX CONCURRENTLY on PostgreSQL, so a live inbox keeps taking webhooks
while they build; the embedded SQLite mode gets plain statements.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


def _sqlite_index(index: models.Index) -> models.Index:
    """The same index without NULLS LAST, which SQLite refuses in CREATE INDEX (its NULLs sort
    first ascending, so last descending, anyway)."""
    fields = [
        ("-" if e.descending else "") + e.expression.name if isinstance(e, models.OrderBy) else e.name
        for e in index.expressions
    ]
    return models.Index(fields=fields, name=index.name)


class AddIndexOnline(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL; a plain index elsewhere (the embedded SQLite mode)."""

    def _plain(self, app_label, schema_editor, state, add: bool) -> None:
        model = state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = _sqlite_index(self.index)
            schema_editor.add_index(model, index) if add else schema_editor.remove_index(model, index)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return self._plain(app_label, schema_editor, to_state, add=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return self._plain(app_label, schema_editor, from_state, add=False)


class RemoveIndexOnline(RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL; a plain drop elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


RECENT_FIRST = (
    models.OrderBy(models.F("last_message_at"), descending=True, nulls_last=True),
    models.OrderBy(models.F("id"), descending=True),
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inbox", "0008_conversation_thread_key_comment_threads"),
    ]

    operations = [
        RemoveIndexOnline(model_name="conversation", name="conv_inbox_status_last"),
        RemoveIndexOnline(model_name="conversation", name="conv_last_message"),
        AddIndexOnline(
            model_name="conversation",
            index=models.Index(*RECENT_FIRST, name="conv_last_message"),
        ),
        AddIndexOnline(
            model_name="conversation",
            index=models.Index(models.F("assignee_id"), models.F("status"), *RECENT_FIRST, name="conv_assignee_status_last"),
        ),
        AddIndexOnline(
            model_name="conversation",
            index=models.Index(models.F("inbox_id"), models.F("status"), *RECENT_FIRST, name="conv_inbox_status_last"),
        ),
    ]
