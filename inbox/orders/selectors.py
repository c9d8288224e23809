"""What the customer panel may offer: per order, each action possible or not and why, the user's limits,
and the recent actions with Shopify's answers. The same rules as the service, read without writing."""

from __future__ import annotations

from typing import Any

from customers.models import Customer, Order
from inbox.models import OrderAction, OrderActionKind, ShopifyStore
from inbox.orders import facts
from inbox.orders.actions import discount_percent_limit_for, refund_limit_for, shopify_answer_text
from inbox.orders.stores import store_current

RECENT = 20


def _no(reason: str) -> dict[str, Any]:
    return {"possible": False, "reason": reason}


def _order_actions(order: Order, *, in_flight: set[int]) -> dict[str, Any]:
    if not facts.is_shopify(order):
        reason = (f"Order #{order.number} was imported ({order.source}), not synced from Shopify: "
                  "refunds, cancellations and notifications happen in the shop's own tools.")
        return {kind: _no(reason) for kind in ("refund", "cancel", "shipping_address", "notification")}
    busy = order.pk in in_flight
    left = facts.refundable(order)
    lines = [line.as_dict() for line in facts.lines(order)]
    if busy:
        refund = _no("A refund or cancellation of this order is still with Shopify.")
    elif left <= 0:
        refund = _no("Nothing left to refund.")
    else:
        refund = {"possible": True, "refundable": str(left), "line_items": lines}
    if order.cancelled_at:
        cancel = _no("Already cancelled.")
    elif facts.is_fulfilled(order):
        cancel = _no("Shipped: Shopify cannot cancel it (refund it instead).")
    elif busy:
        cancel = _no("A refund or cancellation of this order is still with Shopify.")
    else:
        cancel = {"possible": True, "refundable": str(left)}
    if order.cancelled_at:
        address = _no("Cancelled.")
    elif facts.is_fulfilled(order):
        address = _no("Shipped: the address can no longer change.")
    else:
        address = {"possible": True, "current": facts.shipping_address(order)}
    kinds = ["order_status"] + (["tracking"] if facts.tracked_fulfillments(order) else [])
    notification = {"possible": True, "kinds": kinds}
    return {"refund": refund, "cancel": cancel, "shipping_address": address, "notification": notification}


def action_row(action: OrderAction) -> dict[str, Any]:
    """An action as the API answers it."""
    response = action.response or {}
    return {
        "id": action.pk, "kind": action.kind, "status": action.status, "order": action.order_id,
        "customer": action.customer_id, "summary": action.summary,
        "amount": str(action.amount) if action.amount is not None else None, "currency": action.currency,
        "actor": action.actor_name, "shopify_id": action.shopify_id, "shopify": shopify_answer_text(action),
        "code": response.get("code") if action.kind == OrderActionKind.DISCOUNT_CODE else None,
        "error": {"code": action.error_code, "detail": action.error_detail} if action.error_code else None,
        "attempts": action.attempts, "created_at": action.created_at, "sent_at": action.sent_at,
        "reconciled_at": action.reconciled_at,
    }


def _limits(store: ShopifyStore, user) -> dict[str, Any]:
    refund = refund_limit_for(store=store, user=user)
    return {
        "refund": str(refund) if refund is not None else None,
        "discount_percent": discount_percent_limit_for(store=store, user=user),
        "currency": store.currency,
    }


def order_actions_for(*, user, customer: Customer) -> dict[str, Any]:
    """The panel's view of what can be done for `customer` (already checked visible to `user`)."""
    store = store_current()
    orders = list(customer.orders.prefetch_related("refunds"))
    recent = list(OrderAction.objects.filter(customer=customer).order_by("-created_at", "-id")[:RECENT])
    history = [action_row(a) for a in recent]
    if store is None:
        none = _no("No Shopify store is connected: an admin connects one under Integrations.")
        return {
            "store": None, "limits": None, "discount_code": none, "recent": history,
            "orders": {str(o.pk): {k: none for k in ("refund", "cancel", "shipping_address", "notification")}
                       for o in orders},
        }
    in_flight = set(
        OrderAction.objects.filter(customer=customer, status="queued", kind__in=("refund", "cancel"))
        .values_list("order_id", flat=True)
    )
    can_code = any(facts.is_shopify(o) and facts.customer_gid(o) for o in orders)
    return {
        "store": {"shop_domain": store.shop_domain, "name": store.name, "currency": store.currency},
        "limits": _limits(store, user),
        "discount_code": {"possible": True} if can_code else _no(
            "No order from the Shopify store: Shopify cannot tie a code to this customer."),
        "orders": {str(o.pk): _order_actions(o, in_flight=in_flight) for o in orders},
        "recent": history,
    }
