from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the anymail inbound receiver and registers the IMAP polling task
        # (Celery autodiscovers only tasks.py).
        from . import email_inbound, email_tasks  # noqa: F401

        # Teams feature: auto-assignment on new customer messages, @mentions in notes, role groups.
        from django.db.models.signals import post_migrate

        from . import assignment, mentions, roles, signals

        signals.message_received.connect(assignment.on_message_received, dispatch_uid="inbox.assignment.auto_assign")
        signals.note_added.connect(mentions.on_note_added, dispatch_uid="inbox.mentions.notify")
        post_migrate.connect(roles.post_migrate_groups_sync, sender=self, dispatch_uid="inbox.roles.groups_sync")
