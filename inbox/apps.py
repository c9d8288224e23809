from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the app's receivers: what happens after a message arrives or a note is added,
        inbound email from anymail, the customers app's privacy and audit announcements, role
        groups, and sockets following access changes. (Celery's autodiscovery finds tasks.py.)"""
        from django.db.models.signals import post_migrate, post_save

        from inbox import audit, signals  # noqa: F401  (audit: receivers of the customers app's signals)
        from inbox.conversations import attachments, privacy  # noqa: F401  (privacy: erasure and export)
        from inbox.csat import privacy as csat_privacy  # noqa: F401  (erasure blanks survey comments; export lists them)
        from inbox.intake import mailbox  # noqa: F401  (the anymail inbound receiver)
        from inbox.models import Agent, Message
        from inbox.orders import privacy as order_privacy  # noqa: F401  (erasure redacts order actions)
        from inbox.orders import reconcile  # noqa: F401  (Shopify's webhooks confirm order actions)
        from inbox.team import access_events, assignment, mentions, roles

        # Inbound media (and echoes') is copied from the provider once the message is committed.
        post_save.connect(attachments.on_message_saved, sender=Message, dispatch_uid="inbox.attachments.fetch")
        signals.message_received.connect(assignment.on_message_received, dispatch_uid="inbox.assignment.auto_assign")
        signals.note_added.connect(mentions.on_note_added, dispatch_uid="inbox.mentions.notify")
        post_migrate.connect(roles.post_migrate_groups_sync, sender=self, dispatch_uid="inbox.roles.groups_sync")
        post_save.connect(roles.on_agent_saved, sender=Agent, dispatch_uid="inbox.roles.agent_groups")
        # Open sockets re-read what their user may see when teams, roles or inboxes change.
        access_events.connect()
