"""The task's side of an order action: call Shopify once per row, and never twice for one refund.

The row lock is held across the call (a duplicate task skips the row). When the answer is lost
(network failure after Shopify may have acted), the row stays `queued` and the retry first reads
back what Shopify holds: the order's refunds (ours carries the row's reference in its note, and
went with the row's idempotency key), its `cancelledAt`, or the discount code. Only when nothing
of ours is there is the mutation sent again, with the same idempotency key.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from customers.services import RefundData, order_refund_add
from inbox.audit import audit_record
from inbox.models import OrderAction, OrderActionKind, OrderActionStatus
from inbox.orders import facts
from inbox.orders.actions import CANCEL_REASONS, event_refresh
from inbox.orders.stores import admin_for
from inbox.providers.shopify import Result, ShopifyAdmin, ShopifyError, gid, legacy_id, money

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


@dataclass
class Done:
    shopify_id: str
    answer: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


class Refused(Exception):
    """Shopify (or what it told us) says no: the row fails with this, nothing to retry."""

    def __init__(self, code: str, detail: str, answer: dict | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.answer = answer or {}


def _checked(result: Result) -> Result:
    if not result.ok:
        raise Refused("user_errors", result.error_text(), result.answer())
    return result


def retry_delay(attempt: int, at_least: float | None = None) -> float:
    """Exponential backoff with jitter (capped at 10 minutes), never sooner than Shopify asked."""
    return max(at_least or 0.0, random.uniform(0.5, min(600, 5 * 2**attempt)))


# --- Per kind ------------------------------------------------------------------------------------------


def _restock_type(item: dict, restock: bool) -> str:
    if not restock:
        return "NO_RESTOCK"
    return "RETURN" if item.get("fulfilled") else "CANCEL"


def _transactions(*, amount: Decimal, order_id: str, suggested: list) -> list[dict[str, Any]]:
    """Spread `amount` over the payments Shopify suggests refunding (most orders have one)."""
    if amount <= 0:
        return []
    left = amount
    out = []
    for t in suggested:
        cap = t.maximum_refundable or t.amount
        if cap <= 0 or left <= 0:
            continue
        part = min(left, cap)
        entry = {"orderId": order_id, "gateway": t.gateway, "kind": "REFUND", "amount": f"{part:.2f}"}
        if t.parent_id:
            entry["parentId"] = t.parent_id
        out.append(entry)
        left -= part
    if left > 0:
        most = sum(((t.maximum_refundable or t.amount) for t in suggested), Decimal("0"))
        raise Refused("over_refundable", f"Shopify can refund at most {most:.2f} of this order's payments now.")
    return out


def _refund(action: OrderAction, admin: ShopifyAdmin) -> Done:
    order = action.order
    if order is None:
        raise Refused("order_gone", "The order is no longer held.")
    p = action.params
    order_id = facts.order_gid(order)
    items = p.get("line_items") or []
    lines = []
    for i in items:
        line = {"lineItemId": gid("LineItem", i["line_item_id"]), "quantity": int(i["quantity"]),
                "restockType": _restock_type(i, bool(p.get("restock")))}
        if line["restockType"] == "RETURN" and i.get("location_id"):
            # A returned item goes back to the location it shipped from.
            line["locationId"] = gid("Location", i["location_id"])
        lines.append(line)
    # A money-only refund asks for the full suggestion: it is the one that names the payments to refund.
    state = admin.refund_state(
        order_id=order_id, refund_line_items=[{"lineItemId": x["lineItemId"], "quantity": x["quantity"]} for x in lines],
        full=bool(p.get("full")) or not lines,
    )
    ours = next((r for r in state.refunds if action.reference in r.note), None)
    if ours is None:
        note = " ".join(x for x in (p.get("reason") or "Refund from the inbox", action.reference) if x)
        refund_input: dict[str, Any] = {
            "orderId": order_id, "note": note, "notify": bool(p.get("notify")), "refundLineItems": lines,
            "transactions": _transactions(amount=action.amount or Decimal("0"), order_id=order_id,
                                          suggested=state.suggested_transactions),
        }
        if p.get("full"):
            refund_input["shipping"] = {"fullRefund": True}
        result = _checked(admin.refund_create(refund=refund_input, idempotency_key=str(action.idempotency_key)))
        refund = result.payload.get("refund") or {}
        shop_money = (refund.get("totalRefundedSet") or {}).get("shopMoney") or {}
        refund_id, amount, created = str(refund.get("id") or ""), money(shop_money.get("amount")), refund.get("createdAt")
        answer = result.answer()
        recovered = False
    else:
        refund_id, amount, created = ours.id, ours.amount, ours.created_at
        answer = {"found": {"id": ours.id, "note": ours.note, "amount": str(ours.amount)}}
        recovered = True
    if refund_id:
        # The refund is a fact of the order now; Shopify's refunds/create webhook finds it already held.
        order_refund_add(
            source=order.source, order_external_id=order.external_id,
            refund=RefundData(external_id=legacy_id(refund_id), amount=amount,
                              created_at=_when(created) or timezone.now()),
        )
    return Done(shopify_id=refund_id, answer=answer, extra={"recovered": recovered, "refunded": str(amount)})


def _when(value: Any):
    return parse_datetime(value) if isinstance(value, str) else value


def _cancel(action: OrderAction, admin: ShopifyAdmin) -> Done:
    order = action.order
    if order is None:
        raise Refused("order_gone", "The order is no longer held.")
    order_id = facts.order_gid(order)
    if action.attempts > 1:
        # A previous attempt may have gone through with its answer lost.
        cancelled_at, _ = admin.order_fulfillments(order_id=order_id)
        if cancelled_at:
            return Done(shopify_id="", answer={"found": {"cancelledAt": cancelled_at}}, extra={"recovered": True})
    p = action.params
    result = _checked(admin.order_cancel(
        order_id=order_id, reason=CANCEL_REASONS[p["reason"]][0], refund=bool(p.get("refund")),
        restock=bool(p.get("restock")), notify=bool(p.get("notify")), staff_note=p.get("staff_note") or "",
    ))
    job = result.payload.get("job") or {}
    return Done(shopify_id=str(job.get("id") or ""), answer=result.answer())


def _shipping_address(action: OrderAction, admin: ShopifyAdmin) -> Done:
    order = action.order
    if order is None:
        raise Refused("order_gone", "The order is no longer held.")
    a = action.params["address"]
    address = {
        "firstName": a.get("first_name") or None, "lastName": a.get("last_name") or None,
        "company": a.get("company") or None, "address1": a["address1"], "address2": a.get("address2") or None,
        "city": a["city"], "provinceCode": a.get("province_code") or None, "countryCode": a["country_code"],
        "zip": a["zip"], "phone": a.get("phone") or None,
    }
    address = {k: v for k, v in address.items() if v is not None}
    result = _checked(admin.shipping_address_update(order_id=facts.order_gid(order), address=address))
    return Done(shopify_id=str((result.payload.get("order") or {}).get("id") or ""), answer=result.answer())


def _notification(action: OrderAction, admin: ShopifyAdmin) -> Done:
    order = action.order
    if order is None:
        raise Refused("order_gone", "The order is no longer held.")
    order_id = facts.order_gid(order)
    if action.params["kind"] == "order_status":
        result = _checked(admin.order_invoice_send(order_id=order_id))
        return Done(shopify_id=str((result.payload.get("order") or {}).get("id") or ""), answer=result.answer())
    # Shopify's own view of the fulfillments, not the payload's: the tracking goes back as Shopify has it.
    _, fulfillments = admin.order_fulfillments(order_id=order_id)
    tracked = [f for f in fulfillments if f.get("trackingInfo") and f.get("status") not in ("CANCELLED", "ERROR", "FAILURE")]
    if not tracked:
        raise Refused("no_tracking", "Shopify holds no fulfillment with tracking for this order.")
    fulfillment = tracked[-1]
    info = fulfillment["trackingInfo"][0]
    tracking = {k: v for k, v in (("number", info.get("number")), ("url", info.get("url")),
                                  ("company", info.get("company"))) if v}
    result = _checked(admin.tracking_notify(fulfillment_id=str(fulfillment["id"]), tracking=tracking))
    return Done(shopify_id=str(fulfillment["id"]), answer=result.answer())


def _discount_code(action: OrderAction, admin: ShopifyAdmin) -> Done:
    p = action.params
    if action.attempts > 1:
        found = admin.discount_by_code(code=p["code"])
        if found:
            return Done(shopify_id=str(found.get("id") or ""), answer={"found": found},
                        extra={"recovered": True, "code": p["code"]})
    if p["value_type"] == "percentage":
        value: dict[str, Any] = {"percentage": float(Decimal(p["value"]) / 100)}
    else:
        value = {"discountAmount": {"amount": p["value"], "appliesOnEachItem": False}}
    now = timezone.now()
    discount = {
        "title": p["title"], "code": p["code"], "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(days=int(p["ends_in_days"]))).isoformat(),
        "usageLimit": 1, "appliesOncePerCustomer": True,
        "context": {"customers": {"add": [p["shopify_customer"]]}},
        "customerGets": {"value": value, "items": {"all": True}},
    }
    result = _checked(admin.discount_code_create(discount=discount))
    node = result.payload.get("codeDiscountNode") or {}
    return Done(shopify_id=str(node.get("id") or ""), answer=result.answer(), extra={"code": p["code"]})


HANDLERS: dict[str, Callable[[OrderAction, ShopifyAdmin], Done]] = {
    OrderActionKind.REFUND: _refund,
    OrderActionKind.CANCEL: _cancel,
    OrderActionKind.SHIPPING_ADDRESS: _shipping_address,
    OrderActionKind.NOTIFICATION: _notification,
    OrderActionKind.DISCOUNT_CODE: _discount_code,
}


# --- The run -----------------------------------------------------------------------------------------


def order_action_deliver(action_id: int) -> float | None:
    """Carry out a queued action once. Returns seconds until a retry is due, or None when settled.

    A transient failure leaves the row queued with `next_attempt_at`: the task retries then, or,
    when it cannot wait (in-process runs) or its worker died, the sweeper does.
    """
    with transaction.atomic():
        action = (
            OrderAction.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("order", "store", "customer", "event", "actor")
            .filter(pk=action_id)
            .first()
        )
        if action is None or action.status != OrderActionStatus.QUEUED:
            return None
        if action.store is None:
            _settle(action, failed=Refused("not_connected", "The Shopify store was disconnected."))
            return None
        action.attempts += 1
        try:
            done = HANDLERS[action.kind](action, admin_for(action.store))
        except Refused as exc:
            _settle(action, failed=exc)
            return None
        except ShopifyError as exc:
            return _transient_or_failed(action, exc)
        _settle(action, done=done)
    return None


def _transient_or_failed(action: OrderAction, exc: ShopifyError) -> float | None:
    if exc.transient and action.attempts < MAX_ATTEMPTS:
        delay = retry_delay(action.attempts, exc.retry_after)
        action.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        action.error_code = exc.reason[:64]
        action.error_detail = exc.detail
        action.response = {"error": {"reason": exc.reason, "code": exc.code, "detail": exc.detail,
                                     "cost": exc.cost, "retry_after": exc.retry_after}}
        action.save(update_fields=["attempts", "next_attempt_at", "error_code", "error_detail", "response"])
        event_refresh(action)
        logger.info("order action %s: transient %s, retry in %.1fs", action.pk, exc.reason, delay)
        return delay
    detail = exc.detail if not exc.transient else f"gave up after {action.attempts} attempts: {exc.detail}"
    _settle(action, failed=Refused(exc.reason, detail, {"error": {"code": exc.code, "detail": exc.detail}}))
    return None


def _settle(action: OrderAction, *, done: Done | None = None, failed: Refused | None = None) -> None:
    now = timezone.now()
    action.next_attempt_at = None
    if done is not None:
        action.status = OrderActionStatus.SENT
        action.sent_at = now
        action.shopify_id = done.shopify_id[:255]
        action.response = {**done.answer, **done.extra}
        action.error_code = action.error_detail = ""
    elif failed is not None:
        action.status = OrderActionStatus.FAILED
        action.error_code = failed.code[:64]
        action.error_detail = failed.detail
        action.response = failed.answer
    action.save()
    event_refresh(action)
    audit_record(
        actor=action.actor, action=f"order.{action.kind}.{action.status}",
        target=action.order or action.customer,
        data={"order_action": action.pk, "amount": str(action.amount) if action.amount is not None else None,
              "currency": action.currency, "shopify_id": action.shopify_id, "answer": action.response,
              "error": action.error_detail},
    )
