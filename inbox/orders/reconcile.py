"""Shopify's webhooks confirm the actions asked of it, instead of being taken for new facts.

A refund we asked for arrives as `refunds/create` (and in the next `orders/updated`): the
customers app records it once (its Shopify id is unique per order, and the task recorded it the
moment Shopify answered), and here the action row is marked `reconciled`. A refund whose answer
was lost is recognised by the row's reference in its note, so the row learns its refund id
without a second refund. Cancellations and address changes are confirmed by the order's state.

The work runs after the webhook's transaction commits: the task holds the action row's lock
while it talks to Shopify, and the webhook holds the order's; waiting on one while holding the
other could deadlock.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from customers.models import Order
from customers.signals import order_delivered
from inbox.audit import audit_record
from inbox.models import OrderAction, OrderActionKind, OrderActionStatus
from inbox.orders import facts
from inbox.orders.actions import event_refresh
from inbox.providers.shopify import gid, legacy_id

logger = logging.getLogger(__name__)

OPEN = (OrderActionStatus.QUEUED, OrderActionStatus.SENT)


@receiver(order_delivered, dispatch_uid="inbox.orders.reconcile")
def _delivered(sender, order: Order, refunds=(), **kwargs) -> None:
    seen = [(str(r.external_id), str(getattr(r, "note", "") or "")) for r in refunds or []]
    order_id = order.pk
    transaction.on_commit(lambda: order_reconcile(order_id=order_id, refunds=seen), robust=True)


def _address_matches(wanted: dict, held: dict) -> bool:
    def norm(value) -> str:
        return str(value or "").strip().lower()

    return all(
        norm(wanted.get(ours)) == norm(held.get(theirs))
        for ours, theirs in (("address1", "address1"), ("city", "city"), ("zip", "zip"), ("country_code", "country_code"))
    )


def order_reconcile(*, order_id: int, refunds: list[tuple[str, str]]) -> int:
    """Mark the order's actions that Shopify's delivery shows done as reconciled; how many were."""
    done = 0
    with transaction.atomic():
        order = Order.objects.filter(pk=order_id).first()
        if order is None:
            return 0
        actions = list(
            OrderAction.objects.select_for_update(of=("self",))
            .select_related("event", "actor", "order")
            .filter(order_id=order_id)
            .exclude(status=OrderActionStatus.RECONCILED)
            .filter(kind__in=(OrderActionKind.REFUND, OrderActionKind.CANCEL, OrderActionKind.SHIPPING_ADDRESS))
        )
        for action in actions:
            how = _confirmation(action, order=order, refunds=refunds)
            if how is None:
                continue
            was = action.status
            action.status = OrderActionStatus.RECONCILED
            action.reconciled_at = timezone.now()
            action.next_attempt_at = None
            if how.get("refund") and not action.shopify_id:
                action.shopify_id = gid("Refund", how["refund"])
            action.response = {**(action.response or {}), "webhook": how}
            action.save()
            event_refresh(action)
            audit_record(
                actor=None, action=f"order.{action.kind}.reconciled", target=order,
                data={"order_action": action.pk, "was": was, "shopify_id": action.shopify_id, "webhook": how},
            )
            done += 1
    if done:
        logger.info("order %s: %d action(s) confirmed by Shopify's webhook", order_id, done)
    return done


def _confirmation(action: OrderAction, *, order: Order, refunds: list[tuple[str, str]]) -> dict | None:
    if action.kind == OrderActionKind.REFUND:
        # A failed row too: "gave up" after lost answers may still have refunded — the note says so.
        ours = legacy_id(action.shopify_id) if action.shopify_id else None
        for refund_id, note in refunds:
            if refund_id == ours or action.reference in note:
                return {"refund": refund_id}
        return None
    if action.status not in OPEN:
        return None
    if action.kind == OrderActionKind.CANCEL and order.cancelled_at:
        return {"cancelled_at": order.cancelled_at.isoformat()}
    if action.kind == OrderActionKind.SHIPPING_ADDRESS and _address_matches(
        (action.params or {}).get("address") or {}, facts.shipping_address(order)
    ):
        return {"shipping_address": "matches"}
    return None
