"""Shopify's stored deliveries (orders/*, refunds/create, customers/*) handed to the customers app.

The webhook (intake/webhooks.py) checked the HMAC, read the body as JSON, checked that it describes
what its topic says (`customers.shopify.payload_check`, its 400) and stored it keyed by
X-Shopify-Webhook-Id, the same on every retry of a delivery; Shopify asks for a fast answer and
processing after it. Here the customers app keeps the order, its refunds, the customer's consent
(`customers.shopify.webhook_handle`, which also records the delivery's receipt in the same transaction).
"""

from __future__ import annotations

import logging

from customers import shopify as shopify_orders
from inbox.models import InboundEvent

logger = logging.getLogger(__name__)


def handle(event: InboundEvent) -> None:
    try:
        outcome = shopify_orders.webhook_handle(topic=event.kind, webhook_id=event.dedupe_key, payload=event.payload)
    except shopify_orders.PayloadInvalid as exc:
        # Checked before it was stored, so only a payload this code reads differently since: retrying cannot help.
        logger.warning("shopify %s delivery %s not processed: %s", event.kind, event.dedupe_key, exc)
        return
    if outcome == "duplicate":
        logger.info("shopify %s delivery %s was already handled", event.kind, event.dedupe_key)
