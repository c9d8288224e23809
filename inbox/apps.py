from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the app's receivers: what happens after a message arrives or a note is added,
        inbound email from anymail, the customers app's privacy and audit announcements, role
        groups, and sockets following access changes. (Celery's autodiscovery finds tasks.py.)"""
        from django.db.models.signals import post_delete, post_migrate, post_save

        from customers.signals import customer_event
        from inbox import audit, signals  # noqa: F401  (audit: receivers of the customers app's signals)
        from inbox.conversations import attachments, privacy  # noqa: F401  (privacy: erasure and export)
        from inbox.csat import privacy as csat_privacy  # noqa: F401  (erasure blanks survey comments; export lists them)
        from inbox.intake import mailbox  # noqa: F401  (the anymail inbound receiver)
        from inbox.models import Agent, Message, Rule
        from inbox.orders import privacy as order_privacy  # noqa: F401  (erasure redacts order actions)
        from inbox.orders import reconcile  # noqa: F401  (Shopify's webhooks confirm order actions)
        from inbox.rules import defaults as rule_defaults
        from inbox.rules import engine as rules
        from inbox.sla import hooks as sla_hooks
        from inbox.team import access_events, assignment, mentions, roles

        # Inbound media (and echoes') is copied from the provider once the message is committed.
        post_save.connect(attachments.on_message_saved, sender=Message, dispatch_uid="inbox.attachments.fetch")
        signals.message_received.connect(assignment.on_message_received, dispatch_uid="inbox.assignment.auto_assign")
        signals.note_added.connect(mentions.on_note_added, dispatch_uid="inbox.mentions.notify")
        post_migrate.connect(roles.post_migrate_groups_sync, sender=self, dispatch_uid="inbox.roles.groups_sync")
        # A conversation's events, inside their transactions: SLA clocks first, then automation rules
        # (which see the clocks, and whose own changes come back through here). Order events too.
        signals.conversation_changed.connect(sla_hooks.on_conversation_changed, dispatch_uid="inbox.sla.clocks")
        signals.conversation_changed.connect(rules.on_conversation_changed, dispatch_uid="inbox.rules.events")
        customer_event.connect(rules.on_customer_event, dispatch_uid="inbox.rules.orders")
        post_save.connect(rules.rules_cache_clear, sender=Rule, dispatch_uid="inbox.rules.cache_saved")
        post_delete.connect(rules.rules_cache_clear, sender=Rule, dispatch_uid="inbox.rules.cache_deleted")
        # The default rules (reopen on a customer message, wake snoozed, resolve after silence).
        post_migrate.connect(rule_defaults.post_migrate_defaults, sender=self, dispatch_uid="inbox.rules.defaults")
        post_save.connect(roles.on_agent_saved, sender=Agent, dispatch_uid="inbox.roles.agent_groups")
        # Open sockets re-read what their user may see when teams, roles or inboxes change.
        access_events.connect()
