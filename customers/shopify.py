"""Shopify webhooks: signature, dedupe, and the mapping of Shopify's payloads onto our orders.

Shopify signs the raw body: X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(body, app secret)).
Each delivery carries X-Shopify-Webhook-Id, the same on every retry of that delivery.
Order payloads hold the order's full current state, with its `updated_at`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, overload

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .links import http_url_or_blank
from .models import Channel, ConsentPurpose, Customer, Order, WebhookReceipt
from .selectors import consent_state
from .services import (
    ItemData,
    OrderData,
    RefundData,
    consent_record,
    contact_or_blank,
    customer_for_buyer,
    labels_for,
    order_refund_add,
    order_sync,
)
from .signals import order_delivered

logger = logging.getLogger(__name__)
SOURCE = "shopify"


class PayloadInvalid(ValueError):
    """The body is signed but does not describe what its topic says."""


def signature_valid(*, body: bytes, header: str, secret: str) -> bool:
    if not secret or not header:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode())


def webhook_handle(*, topic: str, webhook_id: str, payload: dict) -> str:
    """Handle one verified delivery once: 'handled', 'duplicate' or 'ignored'. The webhook stores the
    delivery and the worker calls this (inbox/intake/shopify.py).

    The receipt and the changes commit together, so a failed delivery leaves no receipt and
    Shopify's retry is handled in full.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookReceipt.objects.create(source=SOURCE, webhook_id=webhook_id[:255], topic=topic[:64])
        except IntegrityError:
            return "duplicate"
        handler = HANDLERS.get(topic)
        if handler is None:
            logger.info("shopify topic %r acknowledged and ignored", topic)
            return "ignored"
        handler(payload)
    return "handled"


def payload_check(*, topic: str, payload: dict) -> None:
    """Raise PayloadInvalid when a delivery of a topic we handle does not describe what its topic says.

    The webhook calls this before storing the delivery (its 400), so that processing it later in the
    worker (`webhook_handle`) meets only payloads it can read; a topic we do not handle passes.
    """
    check = CHECKS.get(topic)
    if check is not None:
        check(payload)


# --- Parsing ------------------------------------------------------------------------------------------


@overload
def _when(value: object, *, field: str, required: Literal[True]) -> datetime: ...
@overload
def _when(value: object, *, field: str, required: bool = False) -> datetime | None: ...
def _when(value: object, *, field: str, required: bool = False) -> datetime | None:
    if value in (None, ""):
        if required:
            raise PayloadInvalid(f"{field} is missing")
        return None
    parsed = parse_datetime(str(value)) if isinstance(value, str) else None
    if parsed is None:
        raise PayloadInvalid(f"{field} is not a date-time: {value!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _money(value: object, *, field: str) -> Decimal:
    if value in (None, ""):
        return Decimal("0")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise PayloadInvalid(f"{field} is not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise PayloadInvalid(f"{field} is not an amount: {value!r}")
    return amount.quantize(Decimal("0.01"))


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _dict_or_empty(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _person_name(*parts: dict | None) -> str:
    for part in parts:
        if not isinstance(part, dict):
            continue
        name = " ".join(p for p in (_str(part.get("first_name")).strip(), _str(part.get("last_name")).strip()) if p)
        if name:
            return name
        if part.get("name"):
            return _str(part["name"]).strip()
    return ""


def _refund_data(refund: dict) -> RefundData:
    if not isinstance(refund, dict) or refund.get("id") in (None, ""):
        raise PayloadInvalid("a refund without an id")
    transactions = [t for t in refund.get("transactions") or [] if isinstance(t, dict)]
    amount = sum(
        (
            _money(t.get("amount"), field="refund transaction amount")
            for t in transactions
            if t.get("kind") == "refund" and t.get("status") in ("success", None)
        ),
        Decimal("0"),
    )
    if not transactions:
        # Older payloads list only refunded items: their subtotal plus tax is what went back.
        for line in refund.get("refund_line_items") or []:
            amount += _money(line.get("subtotal"), field="refund subtotal") + _money(
                line.get("total_tax"), field="refund tax"
            )
    created = _when(refund.get("processed_at") or refund.get("created_at"), field="refund created_at")
    return RefundData(
        external_id=str(refund["id"]), amount=amount, created_at=created or timezone.now(),
        note=_str(refund.get("note"))[:500],
    )


def order_data(payload: dict) -> OrderData:
    """Shopify's order resource as our OrderData."""
    if not isinstance(payload, dict) or payload.get("id") in (None, ""):
        raise PayloadInvalid("an order needs an id")
    customer = _dict_or_empty(payload.get("customer"))
    billing = _dict_or_empty(payload.get("billing_address"))
    shipping = _dict_or_empty(payload.get("shipping_address"))
    number = _str(payload.get("order_number") or payload.get("number") or payload.get("name")).lstrip("#").strip()
    email = contact_or_blank(
        channel=Channel.EMAIL, raw=payload.get("email") or payload.get("contact_email") or customer.get("email")
    )
    phone = contact_or_blank(
        channel=Channel.SMS,
        raw=payload.get("phone") or customer.get("phone") or billing.get("phone") or shipping.get("phone"),
    )
    items = []
    for line in payload.get("line_items") or []:
        if not isinstance(line, dict):
            raise PayloadInvalid("a line item is not an object")
        try:
            quantity = int(line.get("quantity") or 1)
        except (TypeError, ValueError) as exc:
            raise PayloadInvalid("a line item quantity is not a number") from exc
        items.append(
            ItemData(
                title=_str(line.get("name") or line.get("title")) or "Item",
                sku=_str(line.get("sku")),
                quantity=max(quantity, 0),
                price=_money(line.get("price"), field="line item price"),
            )
        )
    fulfillments = [f for f in payload.get("fulfillments") or [] if isinstance(f, dict)]
    fulfillments = [f for f in fulfillments if f.get("status") not in ("cancelled", "error", "failure")]
    tracked = [f for f in fulfillments if f.get("tracking_number")]
    latest = tracked[-1] if tracked else (fulfillments[-1] if fulfillments else {})
    return OrderData(
        source=SOURCE,
        external_id=str(payload["id"]),
        number=number or str(payload["id"]),
        placed_at=_when(payload.get("processed_at") or payload.get("created_at"), field="created_at", required=True),
        email=email,
        phone=phone,
        name=_person_name(customer, billing, shipping),
        currency=_str(payload.get("currency") or "USD")[:3],
        total=_money(payload.get("total_price"), field="total_price"),
        financial_status=_str(payload.get("financial_status"))[:32],
        fulfillment_status=_str(payload.get("fulfillment_status"))[:32],
        shipment_status=_str(latest.get("shipment_status"))[:32],
        tracking_number=_str(latest.get("tracking_number"))[:128],
        # Shown to agents as a link: only an http(s) URL is kept (never javascript: and the like).
        tracking_url=http_url_or_blank(_str(latest.get("tracking_url") or (latest.get("tracking_urls") or [""])[0])),
        cancelled_at=_when(payload.get("cancelled_at"), field="cancelled_at"),
        updated_at=_when(payload.get("updated_at"), field="updated_at"),
        items=items,
        refunds=[_refund_data(r) for r in payload.get("refunds") or []],
        raw=payload,
    )


# --- Topic handlers -----------------------------------------------------------------------------------


def _order(payload: dict) -> None:
    data = order_data(payload)
    synced = order_sync(data=data)
    order_delivered.send(sender=Order, order=synced.order, refunds=data.refunds)


def _refund(payload: dict) -> None:
    if not isinstance(payload, dict) or payload.get("order_id") in (None, ""):
        raise PayloadInvalid("a refund needs an order_id")
    refund = _refund_data(payload)
    if not order_refund_add(source=SOURCE, order_external_id=str(payload["order_id"]), refund=refund):
        logger.info("shopify refund %s for unknown order %s: the order's next update lists it",
                    payload.get("id"), payload.get("order_id"))
        return
    order = Order.objects.get(source=SOURCE, external_id=str(payload["order_id"]))
    order_delivered.send(sender=Order, order=order, refunds=[refund])


# Shopify's marketing consent states that are a decision (not_subscribed is "never asked").
_CONSENT_STATES = {"subscribed": True, "unsubscribed": False}


def _customer(payload: dict) -> None:
    if not isinstance(payload, dict) or payload.get("id") in (None, ""):
        raise PayloadInvalid("a customer needs an id")
    email = contact_or_blank(channel=Channel.EMAIL, raw=payload.get("email"))
    phone = contact_or_blank(channel=Channel.SMS, raw=payload.get("phone"))
    if not (email or phone):
        logger.info("shopify customer %s has no email or phone: nothing to attach", payload.get("id"))
        return
    customer = customer_for_buyer(email=email, phone=phone, name=_person_name(payload))
    tags = [t.strip() for t in _str(payload.get("tags")).split(",") if t.strip()]
    if tags:
        customer.labels.add(*labels_for([t[:64] for t in tags]))
    for key, channel in (("email_marketing_consent", Channel.EMAIL), ("sms_marketing_consent", Channel.SMS)):
        _consent_from_shopify(customer=customer, channel=channel, consent=payload.get(key), shopify_id=payload["id"])


def _consent_from_shopify(*, customer: Customer, channel: str, consent: object, shopify_id: object) -> None:
    if not isinstance(consent, dict) or consent.get("state") not in _CONSENT_STATES:
        return
    granted = _CONSENT_STATES[consent["state"]]
    # The ledger records decisions, not every re-sent copy of the same state.
    if consent_state(customer=customer, channel=channel, purpose=ConsentPurpose.MARKETING) == granted:
        return
    consent_record(
        customer=customer, channel=channel, purpose=ConsentPurpose.MARKETING, granted=granted, source="shopify",
        proof={
            "shopify_customer_id": shopify_id,
            "state": consent["state"],
            "opt_in_level": consent.get("opt_in_level"),
            "consent_updated_at": consent.get("consent_updated_at"),
        },
    )


def _refund_check(payload: dict) -> None:
    if not isinstance(payload, dict) or payload.get("order_id") in (None, ""):
        raise PayloadInvalid("a refund needs an order_id")
    _refund_data(payload)


def _customer_check(payload: dict) -> None:
    if not isinstance(payload, dict) or payload.get("id") in (None, ""):
        raise PayloadInvalid("a customer needs an id")


HANDLERS: dict[str, Callable[[dict], None]] = {
    "orders/create": _order,
    "orders/updated": _order,
    "orders/paid": _order,
    "orders/fulfilled": _order,
    "orders/partially_fulfilled": _order,
    "orders/cancelled": _order,
    "refunds/create": _refund,
    "customers/create": _customer,
    "customers/update": _customer,
}

# What payload_check reads of each topic: the same parsing its handler starts with.
CHECKS: dict[str, Callable[[dict], object]] = {
    **{topic: order_data for topic, handler in HANDLERS.items() if handler is _order},
    "refunds/create": _refund_check,
    "customers/create": _customer_check,
    "customers/update": _customer_check,
}
