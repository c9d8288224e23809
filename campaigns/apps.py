from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from customers.signals import customer_event
        from inbox import signals
        from inbox.models import Conversation

        from . import automation, bot

        signals.message_received.connect(automation.on_message_received, dispatch_uid="campaigns.greeting_away")
        signals.message_received.connect(bot.on_message_received, dispatch_uid="campaigns.bot")
        signals.comment_received.connect(automation.on_comment_received, dispatch_uid="campaigns.autoresponders")
        customer_event.connect(automation.on_customer_event, dispatch_uid="campaigns.triggered")
        post_save.connect(automation.on_conversation_saved, sender=Conversation, dispatch_uid="campaigns.resolved_event")
