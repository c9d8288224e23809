"""`order_action(...)`: the one way to act on an order through Shopify (API views and macros call it).

Everything that can be refused is refused here, before anything is sent: who may see the order,
whether a store is connected and the order came from it, whether the action makes sense for the
order now (nothing left to refund, already cancelled, already shipped), and the refund limit of
the user's role. What passes becomes a `Plan`: the exact effect in words (the confirmation the
agent reads) and the parameters the task will send. With `preview` the plan is returned and
nothing is written; otherwise the plan becomes an `OrderAction` row, an audit entry and a
timeline entry in one transaction, and the task that calls Shopify is queued once it commits.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer, Order
from inbox import jobs
from inbox.audit import audit_record
from inbox.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    OrderAction,
    OrderActionKind,
    OrderActionStatus,
    Role,
    ShopifyStore,
)
from inbox.orders import facts
from inbox.orders.errors import OrderActionRefused
from inbox.orders.stores import store_current
from inbox.team.access import conversations_visible_to, customers_visible_to, role_of

TASK = "inbox.tasks.order_action_run"
CANCEL_REASONS = {
    "customer": ("CUSTOMER", "the customer asked"),
    "declined": ("DECLINED", "the payment was declined"),
    "fraud": ("FRAUD", "suspected fraud"),
    "inventory": ("INVENTORY", "items out of stock"),
    "staff": ("STAFF", "a staff error"),
    "other": ("OTHER", "another reason"),
}
NOTIFICATIONS = ("order_status", "tracking")
ADDRESS_FIELDS = ("first_name", "last_name", "company", "address1", "address2", "city", "province_code",
                  "country_code", "zip", "phone")
ADDRESS_REQUIRED = ("address1", "city", "country_code", "zip")
DISCOUNT_TYPES = ("percentage", "fixed_amount")
MAX_TEXT = 255


@dataclass
class Plan:
    """What an action will do: `summary` is the sentence the confirmation shows, `params` what the task sends."""

    kind: str
    customer: Customer
    order: Order | None
    store: ShopifyStore
    params: dict[str, Any]
    summary: str
    amount: Decimal | None = None
    currency: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def confirmation(self) -> str:
        """A digest of the plan: a confirm that echoes it is refused if the plan changed meanwhile."""
        stable = {k: v for k, v in self.params.items() if k != "code"}
        blob = json.dumps(
            [self.kind, self.order.pk if self.order else None, self.customer.pk, stable, str(self.amount), self.currency],
            sort_keys=True, default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def as_preview(self) -> dict[str, Any]:
        return {
            "preview": True, "kind": self.kind, "order": self.order.pk if self.order else None,
            "customer": self.customer.pk, "summary": self.summary,
            "amount": str(self.amount) if self.amount is not None else None, "currency": self.currency,
            "details": self.details, "confirmation": self.confirmation,
        }


@dataclass
class Outcome:
    plan: Plan
    action: OrderAction | None = None  # None for a preview

    @property
    def preview(self) -> bool:
        return self.action is None


# --- Input helpers -----------------------------------------------------------------------------------


def _invalid(detail: str) -> OrderActionRefused:
    return OrderActionRefused("invalid", detail, 400)


def _bool(params: dict, name: str, default: bool) -> bool:
    value = params.get(name, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    raise _invalid(f"{name}: true or false.")


def _text(params: dict, name: str, limit: int = MAX_TEXT) -> str:
    value = params.get(name) or ""
    if not isinstance(value, str):
        raise _invalid(f"{name}: text.")
    value = value.strip()
    if len(value) > limit or "\x00" in value:
        raise _invalid(f"{name}: at most {limit} characters.")
    return value


def _amount(value: Any, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise _invalid(f"{name}: an amount such as 12.50.") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise _invalid(f"{name}: a positive amount with at most two decimals.")
    return amount.quantize(Decimal("0.01"))


def _money(amount: Decimal | None, currency: str) -> str:
    return f"{amount or Decimal('0.00'):.2f} {currency}".strip()


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# --- Limits ----------------------------------------------------------------------------------------


def refund_limit_for(*, store: ShopifyStore, user) -> Decimal | None:
    """The most one action by `user` may refund (or a discount code be worth); None: no limit (admins)."""
    role = role_of(user)
    if role == Role.ADMIN:
        return None
    if role in (Role.LEAD, Role.MANAGER):
        return store.lead_refund_limit
    return store.agent_refund_limit


def discount_percent_limit_for(*, store: ShopifyStore, user) -> int | None:
    return None if role_of(user) == Role.ADMIN else store.discount_percent_limit


ROLE_NAMES: dict[str, str] = {Role.AGENT: "Agents", Role.LEAD: "Leads", Role.MANAGER: "Managers"}


def _limit_check(plan: Plan, user) -> None:
    role = role_of(user)
    who = ROLE_NAMES.get(role, "You") if role else "You"
    if plan.kind == OrderActionKind.DISCOUNT_CODE and plan.params.get("value_type") == "percentage":
        percent = discount_percent_limit_for(store=plan.store, user=user)
        if percent is not None and Decimal(plan.params["value"]) > percent:
            raise OrderActionRefused(
                "over_limit",
                f"{who} may create discount codes of up to {percent}% off; this one is "
                f"{plan.params['value']}%. Ask an admin.",
                403,
            )
        return
    limit = refund_limit_for(store=plan.store, user=user)
    if limit is not None and plan.amount is not None and plan.amount > limit:
        ask = "a lead or a manager" if role == Role.AGENT else "an admin"
        raise OrderActionRefused(
            "over_limit",
            f"{who} may refund up to {_money(limit, plan.currency)} per action; this is "
            f"{_money(plan.amount, plan.currency)}. Ask {ask}.",
            403,
        )


# --- Planners: one per kind ---------------------------------------------------------------------------


def _shopify_order(order: Order | None, store: ShopifyStore) -> Order:
    if order is None:
        raise OrderActionRefused("not_found", "Not found.", 404)
    if not facts.is_shopify(order):
        raise OrderActionRefused(
            "not_shopify_order",
            f"Order #{order.number} was imported ({order.source}), not synced from Shopify: change it in the shop's own tools.",
        )
    return order


def _plan_refund(*, order: Order, store: ShopifyStore, params: dict) -> Plan:
    currency = order.currency
    left = facts.refundable(order)
    if left <= 0:
        raise OrderActionRefused("nothing_to_refund", f"Order #{order.number} has nothing left to refund.")
    known = {line.id: line for line in facts.lines(order)}
    restock = _bool(params, "restock", False)
    notify = _bool(params, "notify", True)
    reason = _text(params, "reason")
    chosen: list[tuple[facts.Line, int]] = []
    if "line_items" not in params or params.get("line_items") is None:
        scope = "order"
        chosen = [(line, line.refundable_quantity) for line in known.values() if line.refundable_quantity > 0]
        default = left
    else:
        requested = params["line_items"]
        if not isinstance(requested, list):
            raise _invalid("line_items: a list of {line_item_id, quantity}.")
        seen: set[str] = set()
        for entry in requested:
            if not isinstance(entry, dict):
                raise _invalid("line_items: a list of {line_item_id, quantity}.")
            line_id = str(entry.get("line_item_id") or "")
            line = known.get(line_id)
            if line is None:
                raise _invalid(f"line_items: order #{order.number} has no line item {line_id or '(none)'}.")
            if line_id in seen:
                raise _invalid(f"line_items: line item {line_id} is listed twice.")
            seen.add(line_id)
            try:
                quantity = int(entry.get("quantity", line.refundable_quantity))
            except (TypeError, ValueError):
                raise _invalid("line_items: quantity is a whole number.") from None
            if quantity < 1 or quantity > line.refundable_quantity:
                raise OrderActionRefused(
                    "over_refundable",
                    f"{line.title}: {line.refundable_quantity} of {line.quantity} can still be refunded, not {quantity}.",
                    400,
                )
            chosen.append((line, quantity))
        scope = "line_items" if chosen else "amount"
        default = min(left, sum((line.unit_amount * q for line, q in chosen), Decimal("0")))
    if "amount" in params and params["amount"] not in (None, ""):
        amount = _amount(params["amount"], "amount")
    elif scope == "amount":
        raise _invalid("amount: how much to refund, when no line items are given.")
    else:
        amount = default
    if amount > left:
        raise OrderActionRefused(
            "over_refundable", f"At most {_money(left, currency)} of order #{order.number} can still be refunded.", 400
        )
    if amount <= 0 and not chosen:
        raise _invalid("amount: more than 0.00.")
    if restock and not chosen:
        raise _invalid("restock: only items can be restocked; name the line items.")
    items = [
        {"line_item_id": line.id, "title": line.title, "quantity": q, "fulfilled": line.fulfilled,
         "location_id": line.location_id, "amount": str((line.unit_amount * q).quantize(Decimal("0.01")))}
        for line, q in chosen
    ]
    what = ", ".join(f"{i['quantity']} × {i['title']}" for i in items) or "no items (an amount only)"
    if scope == "order":
        what += " and shipping"
    money_part = (f"Refund {_money(amount, currency)} to the original payment method" if amount > 0
                  else "Refund no money")
    summary = (
        f"{money_part} for order #{order.number}: {what}. Items restocked: {_yes(restock)}. "
        f"Shopify emails the customer: {_yes(notify)}." + (f" Reason: {reason}." if reason else "")
    )
    return Plan(
        kind=OrderActionKind.REFUND, customer=order.customer, order=order, store=store, amount=amount, currency=currency,
        summary=summary,
        params={"scope": scope, "full": scope == "order" and amount == left, "line_items": items, "restock": restock,
                "notify": notify, "reason": reason},
        details={"line_items": items, "restock": restock, "notify": notify, "reason": reason,
                 "shipping": scope == "order", "refundable": str(left)},
    )


def _plan_cancel(*, order: Order, store: ShopifyStore, params: dict) -> Plan:
    if order.cancelled_at:
        raise OrderActionRefused("already_cancelled", f"Order #{order.number} is already cancelled.")
    if facts.is_fulfilled(order):
        raise OrderActionRefused(
            "already_fulfilled", f"Order #{order.number} has shipped: Shopify cannot cancel it. Refund it instead."
        )
    reason_key = str(params.get("reason") or "customer").lower()
    if reason_key not in CANCEL_REASONS:
        raise _invalid("reason: one of " + ", ".join(CANCEL_REASONS) + ".")
    refund = _bool(params, "refund", True)
    restock = _bool(params, "restock", True)
    notify = _bool(params, "notify", True)
    staff_note = _text(params, "staff_note")
    amount = facts.refundable(order) if refund else Decimal("0.00")
    currency = order.currency
    money_part = (f"refund {_money(amount, currency)} to the original payment method" if refund and amount > 0
                  else "refund nothing")
    summary = (
        f"Cancel order #{order.number} ({CANCEL_REASONS[reason_key][1]}) and {money_part}. "
        f"Items restocked: {_yes(restock)}. Shopify emails the customer: {_yes(notify)}. This cannot be undone."
    )
    return Plan(
        kind=OrderActionKind.CANCEL, customer=order.customer, order=order, store=store, amount=amount, currency=currency,
        summary=summary,
        params={"reason": reason_key, "refund": refund, "restock": restock, "notify": notify, "staff_note": staff_note},
        details={"reason": reason_key, "refund": refund, "restock": restock, "notify": notify, "staff_note": staff_note},
    )


def _plan_shipping_address(*, order: Order, store: ShopifyStore, params: dict) -> Plan:
    if order.cancelled_at:
        raise OrderActionRefused("already_cancelled", f"Order #{order.number} is cancelled.")
    if facts.is_fulfilled(order):
        raise OrderActionRefused(
            "already_fulfilled", f"Order #{order.number} has shipped: its address can no longer change."
        )
    nested = params.get("address")
    source: dict = nested if isinstance(nested, dict) else params
    address = {name: _text(source, name, 120) for name in ADDRESS_FIELDS}
    missing = [name for name in ADDRESS_REQUIRED if not address[name]]
    if missing:
        raise _invalid("Required: " + ", ".join(missing) + ".")
    address["country_code"] = address["country_code"].upper()
    address["province_code"] = address["province_code"].upper()
    if len(address["country_code"]) != 2 or not address["country_code"].isalpha():
        raise _invalid("country_code: two letters (ISO 3166-1), e.g. US.")
    one_line = ", ".join(p for p in (
        " ".join(x for x in (address["first_name"], address["last_name"]) if x), address["company"],
        address["address1"], address["address2"], address["city"],
        " ".join(x for x in (address["province_code"], address["zip"]) if x), address["country_code"],
    ) if p)
    summary = (f"Change the shipping address of order #{order.number}, before it ships, to: {one_line}. "
               "Shopify does not email the customer about it.")
    return Plan(
        kind=OrderActionKind.SHIPPING_ADDRESS, customer=order.customer, order=order, store=store, currency=order.currency,
        summary=summary, params={"address": address},
        details={"address": address, "current": facts.shipping_address(order)},
    )


def _plan_notification(*, order: Order, store: ShopifyStore, params: dict) -> Plan:
    which = str(params.get("kind") or "")
    if which not in NOTIFICATIONS:
        raise _invalid("kind: order_status or tracking.")
    email = str((order.raw or {}).get("email") or (order.raw or {}).get("contact_email") or order.customer.email or "")
    if which == "tracking":
        tracked = facts.tracked_fulfillments(order)
        if not tracked:
            raise OrderActionRefused("no_tracking", f"Order #{order.number} has no shipment with tracking yet.")
        last = tracked[-1]
        summary = (f"Shopify emails the customer the shipping update of order #{order.number} again"
                   f" (tracking {last['number']}" + (f", {last['company']}" if last["company"] else "") + ").")
        details = {"kind": which, "tracking": last}
    else:
        if not email:
            raise OrderActionRefused("no_email", f"Order #{order.number} has no email address to send to.")
        summary = (f"Shopify emails the invoice of order #{order.number}, with the link to its order status page,"
                   f" to {email}.")
        details = {"kind": which, "email": email}
    return Plan(
        kind=OrderActionKind.NOTIFICATION, customer=order.customer, order=order, store=store, currency=order.currency,
        summary=summary, params={"kind": which}, details=details,
    )


def _plan_discount_code(*, customer: Customer, store: ShopifyStore, params: dict) -> Plan:
    shopify_orders = [o for o in customer.orders.all() if facts.is_shopify(o) and facts.customer_gid(o)]
    if not shopify_orders:
        raise OrderActionRefused(
            "no_shopify_customer",
            "This customer has no order from the Shopify store, so Shopify cannot tie a code to them.",
        )
    latest = max(shopify_orders, key=lambda o: o.placed_at)
    value_type = str(params.get("value_type") or "")
    if value_type not in DISCOUNT_TYPES:
        raise _invalid("value_type: percentage or fixed_amount.")
    value = _amount(params.get("value"), "value")
    if value <= 0 or (value_type == "percentage" and value > 100):
        raise _invalid("value: more than 0" + (" and at most 100." if value_type == "percentage" else "."))
    try:
        days = int(params.get("ends_in_days") or 30)
    except (TypeError, ValueError):
        raise _invalid("ends_in_days: a whole number of days.") from None
    if not 1 <= days <= 365:
        raise _invalid("ends_in_days: between 1 and 365.")
    title = _text(params, "title", 100) or f"Sorry from support ({customer.name or 'customer ' + str(customer.pk)})"
    currency = store.currency or latest.currency
    ends = (timezone.now() + timedelta(days=days)).date()
    worth = f"{value.normalize():f}% off" if value_type == "percentage" else f"{_money(value, currency)} off"
    summary = (f"Create a one-time discount code in Shopify: {worth} the whole order, only for "
               f"{customer.name or 'this customer'} (their Shopify account), usable once, until {ends:%d %b %Y}. "
               "The code is made when you confirm; send it to the customer yourself.")
    return Plan(
        kind=OrderActionKind.DISCOUNT_CODE, customer=customer, order=None, store=store,
        amount=value if value_type == "fixed_amount" else None, currency=currency, summary=summary,
        params={"value_type": value_type, "value": str(value), "ends_in_days": days, "title": title,
                "shopify_customer": facts.customer_gid(latest)},
        details={"value_type": value_type, "value": str(value), "ends_on": ends.isoformat(), "usage_limit": 1,
                 "title": title},
    )


ORDER_PLANNERS: dict[str, Any] = {
    OrderActionKind.REFUND: _plan_refund,
    OrderActionKind.CANCEL: _plan_cancel,
    OrderActionKind.SHIPPING_ADDRESS: _plan_shipping_address,
    OrderActionKind.NOTIFICATION: _plan_notification,
}
# Another of these on the same order while one is in flight would act on a state about to change.
EXCLUSIVE = frozenset({OrderActionKind.REFUND, OrderActionKind.CANCEL})


# --- The service -----------------------------------------------------------------------------------------


def _timeline_conversation(*, customer: Customer, actor, conversation: Conversation | None) -> Conversation | None:
    """Where the timeline entry goes: the given conversation, else the customer's open one the actor sees."""
    if conversation is not None:
        return conversation
    visible = conversations_visible_to(actor).filter(customer=customer)
    return (
        visible.filter(~Q(status=ConversationStatus.RESOLVED)).order_by("-last_message_at", "-id").first()
        or visible.order_by("-last_message_at", "-id").first()
    )


def event_data(action: OrderAction) -> dict[str, Any]:
    """The timeline entry's data: who did what, for how much, and what Shopify answered."""
    return {
        "action": action.pk, "kind": action.kind, "status": action.status,
        "order": action.order.number if action.order_id and action.order else None,
        "amount": str(action.amount) if action.amount is not None else None, "currency": action.currency,
        "summary": action.summary, "actor": action.actor_name,
        "shopify": shopify_answer_text(action),
    }


def event_refresh(action: OrderAction) -> None:
    """The action's timeline entry follows its status (one entry per action, never one per attempt)."""
    if action.event_id:
        ConversationEvent.objects.filter(pk=action.event_id).update(data=event_data(action))


def shopify_answer_text(action: OrderAction) -> str:
    """Shopify's answer in a line (the timeline, the panel): what it made, or why it refused."""
    if action.status == OrderActionStatus.QUEUED:
        return "waiting for Shopify" + (f" (retrying: {action.error_detail})" if action.error_detail else "")
    if action.status == OrderActionStatus.FAILED:
        return f"refused: {action.error_detail or action.error_code}"
    made = action.shopify_id or "done"
    code = (action.response or {}).get("code")
    confirmed = " — confirmed by Shopify's webhook" if action.status == OrderActionStatus.RECONCILED else ""
    return f"done ({made}{', code ' + code if code else ''}){confirmed}"


def order_action(
    *,
    kind: str,
    actor,
    order: Order | None = None,
    customer: Customer | None = None,
    params: dict[str, Any] | None = None,
    preview: bool = False,
    confirmation: str | None = None,
    conversation: Conversation | None = None,
    request=None,
) -> Outcome:
    """Plan an order action (`preview`) or record it and queue it for Shopify.

    `order` for refund, cancel, shipping_address and notification; `customer` for discount_code.
    Raises OrderActionRefused — nothing is written and nothing is sent — when it may not happen.
    `confirmation` (from a preview) makes sure what is done is what the confirmation said.
    A caller inside its own transaction (a macro) keeps all-or-nothing: the row is part of it, and
    the task is queued only when it commits.
    """
    params = dict(params or {})
    if kind not in OrderActionKind.values:
        raise _invalid("kind: one of " + ", ".join(OrderActionKind.values) + ".")
    if role_of(actor) is None:
        raise OrderActionRefused("forbidden", "Only agents may act on orders.", 403)
    visible = customers_visible_to(actor)
    if kind == OrderActionKind.DISCOUNT_CODE:
        if customer is None or not visible.filter(pk=customer.pk).exists():
            raise OrderActionRefused("not_found", "Not found.", 404)
    elif order is None or not visible.filter(pk=order.customer_id).exists():
        raise OrderActionRefused("not_found", "Not found.", 404)
    store = store_current()
    if store is None:
        raise OrderActionRefused(
            "not_connected", "No Shopify store is connected: an admin connects one under Integrations.",
        )
    with transaction.atomic():
        if customer is not None and kind == OrderActionKind.DISCOUNT_CODE:
            plan = _plan_discount_code(customer=customer, store=store, params=params)
        elif order is not None:
            # The order row is locked so two actions planned at once see each other (and the refunds).
            locked = Order.objects.select_for_update().select_related("customer").get(pk=order.pk)
            plan = ORDER_PLANNERS[kind](order=_shopify_order(locked, store), store=store, params=params)
        else:  # pragma: no cover - ruled out above
            raise OrderActionRefused("not_found", "Not found.", 404)
        _limit_check(plan, actor)
        if plan.order is not None and kind in EXCLUSIVE and OrderAction.objects.filter(
            order=plan.order, kind__in=EXCLUSIVE, status=OrderActionStatus.QUEUED
        ).exists():
            raise OrderActionRefused(
                "in_progress", f"Another refund or cancellation of order #{plan.order.number} is still with Shopify."
            )
        if preview:
            return Outcome(plan=plan)
        if confirmation and confirmation != plan.confirmation:
            raise OrderActionRefused(
                "plan_changed", "The order changed since the confirmation was shown: review it again.",
            )
        return Outcome(plan=plan, action=_record(plan=plan, actor=actor, conversation=conversation, request=request))


def _record(*, plan: Plan, actor, conversation: Conversation | None, request) -> OrderAction:
    params = dict(plan.params)
    if plan.kind == OrderActionKind.DISCOUNT_CODE:
        params["code"] = "SORRY-" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
    action = OrderAction.objects.create(
        kind=plan.kind, order=plan.order, customer=plan.customer, store=plan.store, params=params,
        amount=plan.amount, currency=plan.currency, summary=plan.summary[:500],
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_name=actor.get_username() if getattr(actor, "is_authenticated", False) else "",
    )
    target = _timeline_conversation(customer=plan.customer, actor=actor, conversation=conversation)
    if target is not None:
        action.event = ConversationEvent.objects.create(
            conversation=target, kind=ConversationEvent.Kind.ORDER_ACTION, actor=action.actor, data=event_data(action)
        )
        action.save(update_fields=["event"])
    audit_record(
        actor=actor, action=f"order.{plan.kind}", target=plan.order or plan.customer, request=request,
        data={"order_action": action.pk, "amount": str(plan.amount) if plan.amount is not None else None,
              "currency": plan.currency, "summary": plan.summary, "params": params},
    )
    action_id = action.pk
    transaction.on_commit(lambda: order_action_dispatch(action_id))
    return action


def order_action_dispatch(action_id: int) -> None:
    # Broker down: the queued row is the intent; the sweeper re-dispatches it.
    jobs.enqueue(TASK, action_id)
