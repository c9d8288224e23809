"""Conversation-list indexes in the list's exact order (last_message_at DESC NULLS LAST, id DESC).

Built with CREATE/DROP INDEX CONCURRENTLY on PostgreSQL, so a live inbox keeps taking webhooks
while they build; the embedded SQLite mode gets plain statements.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class AddIndexOnline(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexOnline(RemoveIndexConcurrently):
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
