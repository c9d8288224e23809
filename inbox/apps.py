from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the anymail inbound receiver and registers the IMAP polling task
        # (Celery autodiscovers only tasks.py).
        from . import email_inbound, email_tasks  # noqa: F401

        self._connect_teams_feature()
        self._connect_attachments()

        # Customers' privacy hooks: messages are redacted on erasure and exported with the customer;
        # merges, erasures, exports and consent changes go to the audit log.
        from . import audit_hooks, customer_hooks  # noqa: F401

    def _connect_attachments(self) -> None:
        """Inbound media (and echoes') is copied from the provider once the message is committed."""
        from django.db.models.signals import post_save

        from . import attachment_tasks, attachments  # noqa: F401  (registers the task)
        from .models import Message

        post_save.connect(attachments.on_message_saved, sender=Message, dispatch_uid="inbox.attachments.fetch")

    def _connect_teams_feature(self) -> None:
        """Auto-assignment on new customer messages, @mentions in notes, role groups."""
        from django.db.models.signals import post_migrate, post_save

        from . import assignment, mentions, roles, signals
        from .models import Agent

        signals.message_received.connect(assignment.on_message_received, dispatch_uid="inbox.assignment.auto_assign")
        signals.note_added.connect(mentions.on_note_added, dispatch_uid="inbox.mentions.notify")
        post_migrate.connect(roles.post_migrate_groups_sync, sender=self, dispatch_uid="inbox.roles.groups_sync")
        post_save.connect(roles.on_agent_saved, sender=Agent, dispatch_uid="inbox.roles.agent_groups")

        # Open sockets re-read what their user may see when teams, roles or inboxes change.
        from . import access_events

        access_events.connect()
