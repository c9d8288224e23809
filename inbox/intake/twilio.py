"""Twilio's stored events (inbound SMS/MMS, status callbacks) handed to the conversation services.

The provider module (inbox/providers/twilio.py) verified and keyed the webhook and reads an
event back (`inbound_message`, `status_parse`); STOP/START keywords become consent here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from inbox.conversations.receive import consent_from_keyword, message_receive, message_status_update
from inbox.intake.inboxes import inbox_for
from inbox.models import Direction, InboundEvent, Message
from inbox.providers.twilio import (
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    STATUS_LOOKUP_ATTEMPTS,
    MessageNotYetKnown,
    inbound_message,
    status_parse,
)

logger = logging.getLogger(__name__)


def handle(event: InboundEvent) -> None:
    handler = HANDLERS.get(event.kind)
    if handler is None:
        logger.warning("twilio event %s of unknown kind %r ignored", event.pk, event.kind)
        return
    handler(event)


def _inbound(event: InboundEvent) -> None:
    p = event.payload
    inbox = inbox_for(kind="sms", external_id=p["To"])
    if inbox is None:
        logger.info("twilio: message %s to %s, a number no inbox owns; ignored", p["MessageSid"], p["To"])
        return
    incoming = inbound_message(p, inbox_external_id=inbox.external_id)
    message = message_receive(inbox=inbox, incoming=incoming)
    if message is None:  # already held: its keyword was acted on then
        return
    keyword = incoming.payload.get("keyword", "")
    if keyword in OPT_OUT_KEYWORDS or keyword in OPT_IN_KEYWORDS:
        consent_from_keyword(
            conversation=message.conversation,
            granted=keyword in OPT_IN_KEYWORDS,
            keyword=keyword,
            message_external_id=message.external_id,
        )


def _status(event: InboundEvent) -> None:
    p = event.payload
    parsed = status_parse(p)
    if parsed is None:
        return
    status, code, detail = parsed
    message = Message.objects.filter(external_id=p["MessageSid"], direction=Direction.OUT, inbox__kind="sms").first()
    if message is None:
        if event.attempts < STATUS_LOOKUP_ATTEMPTS:
            raise MessageNotYetKnown(p["MessageSid"])
        logger.info("twilio: status %s for unknown message %s dropped", p["MessageStatus"], p["MessageSid"])
        return
    message_status_update(message=message, status=status, error_code=code, error_detail=detail)


HANDLERS: dict[str, Callable[[InboundEvent], None]] = {"sms": _inbound, "status": _status}
