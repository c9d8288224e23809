"""Each provider's intake handler: processes one stored event (an `InboundEvent` row) in a task."""

from __future__ import annotations

from collections.abc import Callable

from inbox.intake import email, meta, shopify, twilio
from inbox.models import InboundEvent

HANDLERS: dict[str, Callable[[InboundEvent], None]] = {
    "meta": meta.handle,
    "twilio": twilio.handle,
    "email": email.handle,
    "shopify": shopify.handle,
}


def handler_for(provider: str) -> Callable[[InboundEvent], None]:
    return HANDLERS[provider]
