"""Helpers for the customers tests: signed Shopify deliveries, people with threads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import pytest
from django.utils import timezone

from customers.services import identity_resolve
from inbox.models import Conversation, InboundEvent, Message

SHOPIFY_SECRET = "test-shopify-webhook-secret"


@pytest.fixture(autouse=True)
def shopify_secret(settings):
    settings.SHOPIFY_WEBHOOK_SECRET = SHOPIFY_SECRET
    return SHOPIFY_SECRET


def shopify_hmac(body: bytes, secret: str = SHOPIFY_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post_shopify(client, topic: str, payload: dict | bytes, *, webhook_id: str | None = None, hmac_header=None,
                 process: bool = True):
    """POST a signed delivery; then, unless `process=False`, process what it stored as the worker would
    (the webhook only stores: outside the `commit` fixture its on-commit dispatch never runs)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": "shop-example.myshopify.com",
        "HTTP_X_SHOPIFY_API_VERSION": "2025-01",
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or str(uuid.uuid4()),
        "HTTP_X_SHOPIFY_TRIGGERED_AT": "2025-03-01T15:30:05.123456Z",
        "HTTP_X_SHOPIFY_HMAC_SHA256": shopify_hmac(body) if hmac_header is None else hmac_header,
    }
    response = client.post("/webhooks/shopify/", data=body, content_type="application/json", **headers)
    if process:
        shopify_events_process()
    return response


def shopify_events_process() -> list[int]:
    """Process the stored Shopify deliveries still waiting, through the worker's task; their ids."""
    from inbox.tasks import inbound_events_process

    pending = list(InboundEvent.objects.filter(provider="shopify", processed_at=None).order_by("pk")
                   .values_list("pk", flat=True))
    if pending:
        inbound_events_process(pending)
    return pending


def thread_with(*, inbox, channel: str, external_id: str, texts: list[str], name: str = "") -> Conversation:
    """A conversation in `inbox` with one customer message per text, as the inbox stores them."""
    identity = identity_resolve(
        channel=channel, external_id=external_id, scope="" if channel in ("sms", "email") else inbox.external_id,
        display_name=name,
    ).identity
    conversation = Conversation.objects.create(
        inbox=inbox, customer=identity.customer, identity=identity, channel=channel, last_message_at=timezone.now()
    )
    for n, text in enumerate(texts):
        Message.objects.create(
            conversation=conversation, inbox=inbox, direction="in", sender_type="customer", text=text,
            status="received", external_id=f"m_{uuid.uuid4().hex}", created_at=timezone.now(),
            payload={"n": n},
        )
    return conversation
