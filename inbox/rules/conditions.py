"""Rule conditions, evaluated against what is known of a conversation at an event (Facts).

Facts are read lazily and at most once per event (rules asking about labels share one query), and
read again after a rule changed the conversation, so a later rule sees what an earlier one did.
The conversation's row comes from the caller's object when it is current (the event's receivers
get the row as the transaction just changed it), else from one query.

A condition is compiled once (`compile_conditions`, kept with the cached rules of a version:
inbox/rules/engine.py): its value's set, normalised phrases, word and wildcard patterns and number
are made then, and the message's text is normalised once per event, not once per condition.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any

from django.db import connection
from django.db.models import OuterRef, Sum, Value
from django.db.models.functions import Coalesce

from customers.models import Customer, Label, Order
from inbox.models import Conversation, Direction, Message, SenderType
from inbox.rules import matching
from inbox.team.business_hours import Schedule

CONVERSATION_FIELDS = (
    "pk", "channel", "inbox_id", "status", "assignee_id", "team_id", "priority", "customer_id", "snoozed_until",
    "inbox__settings", "inbox__team_id", "last_message_at", "last_message_direction", "waiting_since",
)


class Facts:
    """What conditions ask about one conversation at one event."""

    def __init__(self, conversation_id: int, *, at: datetime, message: Message | None = None,
                 order_id: int | None = None, fields: set[str] | None = None,
                 conversation: Conversation | None = None) -> None:
        self.conversation_id = conversation_id
        self.at = at
        self.message = message
        self.order_id = order_id
        # The fields the rules of this event ask about: on PostgreSQL the conversation's labels and the
        # customer's tags then come with its row, in one query.
        self.fields = fields or set()
        # The caller's object, current in this transaction (until a rule changes the row: reload).
        self.conversation = conversation

    def reload(self) -> None:
        """Forget what was read: a rule just changed the conversation (read its row again)."""
        self.conversation = None
        for name in ("row", "names", "labels", "customer_tags", "orders", "text", "flat_text", "language"):
            self.__dict__.pop(name, None)

    @cached_property
    def row(self) -> dict[str, Any]:
        known = row_of(self.conversation)
        if known is not None:  # labels and tags, if asked, then come with queries of their own
            return known
        qs = Conversation.objects.filter(pk=self.conversation_id)
        extra: dict[str, Any] = {}
        if connection.vendor == "postgresql":
            from django.contrib.postgres.expressions import ArraySubquery

            if "label" in self.fields:
                extra["label_names"] = ArraySubquery(Label.objects.filter(conversations=OuterRef("pk")).values("name"))
            if "customer_tag" in self.fields:
                extra["tag_names"] = ArraySubquery(Label.objects.filter(customers=OuterRef("customer_id")).values("name"))
        return qs.annotate(**extra).values(*CONVERSATION_FIELDS, *extra).get()

    @cached_property
    def text(self) -> str:
        if self.message is not None:
            return self.message.text or ""
        latest = (
            Message.objects.filter(conversation_id=self.conversation_id, direction=Direction.IN,
                                   sender_type=SenderType.CUSTOMER)
            .order_by("-created_at", "-id").values_list("text", flat=True).first()
        )
        return latest or ""

    @cached_property
    def flat_text(self) -> str:
        """The text as text conditions read it (inbox/rules/matching.py), made once per event."""
        return matching.normalised(self.text)

    @cached_property
    def names(self) -> tuple[set[str], set[str]]:
        """The conversation's labels and the customer's tags, in one query."""
        sql, params = _names_sql()
        values = {_ANY_ID: self.conversation_id, _ANY_OTHER_ID: self.row["customer_id"]}
        labels: set[str] = set()
        tags: set[str] = set()
        with connection.cursor() as cursor:
            cursor.execute(sql, [values.get(p, p) if isinstance(p, int) else p for p in params])
            for of, name in cursor.fetchall():
                (labels if of == 1 else tags).add(name)
        return labels, tags

    @cached_property
    def labels(self) -> set[str]:
        if "label_names" in self.row:
            return set(self.row["label_names"] or [])
        return self.names[0]

    @cached_property
    def customer_tags(self) -> set[str]:
        if "tag_names" in self.row:
            return set(self.row["tag_names"] or [])
        return self.names[1]

    @cached_property
    def orders(self) -> list[Order]:
        """The customer's orders, newest first, each with `refunded` (the sum of its refunds): one query."""
        sql, params = _orders_sql()
        customer_id = self.row["customer_id"]
        return list(Order.objects.raw(sql, [customer_id if p == _ANY_ID else p for p in params]))

    @property
    def lifetime_value(self) -> Decimal:
        """Non-cancelled order totals minus their refunds (customers.selectors.lifetime_value's rule)."""
        return sum((o.total - o.refunded for o in self.orders if o.cancelled_at is None),  # type: ignore[attr-defined]
                   Decimal("0"))

    @property
    def order(self) -> Order | None:
        """The event's order (order triggers), else the customer's latest."""
        if self.order_id is not None:
            return next((o for o in self.orders if o.pk == self.order_id), None)
        return self.orders[0] if self.orders else None

    @property
    def open_now(self) -> bool:
        try:
            return schedule_of(self.row["inbox__settings"]).is_open(self.at)
        except Exception:
            return True

    @cached_property
    def language(self) -> str | None:
        """The language, if known: what the message carries (payload `language`, or Meta's `locale`),
        else the customer's recorded language (where the customers app records one)."""
        payload = (self.message.payload or {}) if self.message is not None else {}
        value = payload.get("language") or payload.get("locale")
        if not value and any(f.name == "language" for f in Customer._meta.get_fields()):
            value = Customer.objects.filter(pk=self.row["customer_id"]).values_list("language", flat=True).first()
        return str(value).replace("_", "-").lower() if value else None


# Stands for the customer's id in a query compiled once (no row has a negative id).
_ANY_ID = -7_349_271_113


_ANY_OTHER_ID = -7_349_271_114


@lru_cache(maxsize=1)
def _names_sql() -> tuple[str, tuple]:
    """Facts.names' SQL (labels tagged 1, tags 2), built by the ORM once per process."""
    labels = Label.objects.filter(conversations=_ANY_ID).annotate(of=Value(1)).values_list("of", "name")
    tags = Label.objects.filter(customers=_ANY_OTHER_ID).annotate(of=Value(2)).values_list("of", "name")
    sql, params = labels.union(tags, all=True).query.sql_with_params()
    assert list(params).count(_ANY_ID) == 1 and list(params).count(_ANY_OTHER_ID) == 1, params
    return sql, tuple(params)


@lru_cache(maxsize=1)
def _orders_sql() -> tuple[str, tuple]:
    """Facts.orders' SQL, built by the ORM once per process rather than for every event."""
    query = (Order.objects.filter(customer_id=_ANY_ID)
             .annotate(refunded=Coalesce(Sum("refunds__amount"), Value(Decimal("0"))))
             .order_by("-placed_at", "-id")).query
    sql, params = query.sql_with_params()
    assert list(params).count(_ANY_ID) == 1, params
    return sql, tuple(params)


def row_of(conversation: Conversation | None) -> dict[str, Any] | None:
    """Facts.row from the caller's object (its inbox loaded with it), or None when it cannot be."""
    if conversation is None or conversation.pk is None or not Conversation.inbox.is_cached(conversation):
        return None
    inbox = conversation.inbox
    if inbox is None or inbox.pk != conversation.inbox_id:
        return None
    row = {name: getattr(conversation, name) for name in CONVERSATION_FIELDS if "__" not in name}
    row["inbox__settings"] = inbox.settings
    row["inbox__team_id"] = inbox.team_id
    return row


_schedules: dict[str, Schedule] = {}


def schedule_of(inbox_settings: dict | None) -> Schedule:
    """The inbox's schedule, parsed once per distinct schedule (the settings are read with the row)."""
    settings_ = inbox_settings or {}
    key = repr((settings_.get("business_hours"), settings_.get("holidays")))
    found = _schedules.get(key)
    if found is None:
        found = Schedule.from_settings(settings_)
        if len(_schedules) > 512:
            _schedules.clear()
        _schedules[key] = found
    return found


def order_statuses(order: Order | None) -> set[str]:
    if order is None:
        return set()
    out = {s for s in (order.financial_status, order.fulfillment_status or "unfulfilled", order.shipment_status) if s}
    if order.cancelled_at is not None:
        out.add("cancelled")
    return out


def has_open_order(orders: list[Order]) -> bool:
    return any(o.cancelled_at is None and o.fulfillment_status != "fulfilled" for o in orders)


def _value_of(field: str, facts: Facts) -> Any:
    row = facts.row
    if field == "channel":
        return row["channel"]
    if field == "inbox":
        return row["inbox_id"]
    if field == "status":
        return row["status"]
    if field == "priority":
        return row["priority"]
    if field == "assignee":
        return row["assignee_id"] if row["assignee_id"] is not None else "none"
    if field == "team":
        team = row["team_id"] or row["inbox__team_id"]
        return team if team is not None else "none"
    if field == "text":
        return facts.text
    if field == "label":
        return facts.labels
    if field == "customer_tag":
        return facts.customer_tags
    if field == "lifetime_value":
        return facts.lifetime_value
    if field == "has_open_order":
        return has_open_order(facts.orders)
    if field == "order_status":
        return order_statuses(facts.order)
    if field == "business_hours":
        return facts.open_now
    if field == "language":
        return facts.language
    raise KeyError(field)


def holds(condition: dict[str, Any], facts: Facts) -> bool:
    field, op, value = condition["field"], condition["op"], condition["value"]
    actual = _value_of(field, facts)
    if op in ("is", "is_not", "in", "not_in"):
        wanted = value if isinstance(value, list) else [value]
        if isinstance(actual, set):  # order_status: any of the order's statuses
            hit = bool(actual & set(wanted))
        elif field == "language":  # "fr" is French of any region ("fr-ca")
            hit = actual is not None and any(actual == w or actual.startswith(f"{w}-") for w in wanted)
        else:
            hit = actual is not None and actual in wanted
        return hit if op in ("is", "in") else not hit
    if op == "contains":
        return matching.contains(actual, value)
    if op == "not_contains":
        return not matching.contains(actual, value)
    if op == "contains_word":
        return matching.contains_word(actual, value)
    if op == "matches":
        return matching.wildcard_matches(actual, value)
    if op in ("has", "has_not"):
        hit = bool(actual & set(value))
        return hit if op == "has" else not hit
    if op in ("gt", "gte", "lt", "lte", "eq"):
        amount, limit = Decimal(actual), Decimal(value)
        return {"gt": amount > limit, "gte": amount >= limit, "lt": amount < limit, "lte": amount <= limit,
                "eq": amount == limit}[op]
    raise KeyError(op)


def describe(condition: dict[str, Any]) -> str:
    value = condition["value"]
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{condition['field']} {condition['op'].replace('_', ' ')} {shown}"[:200]


Check = tuple[dict[str, Any], Callable[[Facts], bool]]


def compile_condition(condition: dict[str, Any]) -> Callable[[Facts], bool]:
    """A function of the facts equal to `holds(condition, facts)`, with its value prepared once."""
    field, op, value = condition["field"], condition["op"], condition["value"]
    if field == "text" and op in ("contains", "not_contains", "contains_word", "matches"):
        if op in ("contains", "not_contains"):
            phrase, negate = matching.normalised(value), op == "not_contains"
            return lambda facts: (phrase in facts.flat_text) != negate
        if op == "contains_word":
            words = [matching._word(p) for p in value if p.strip()]
            return lambda facts: any(w.search(facts.flat_text) is not None for w in words)
        pieces = matching._pieces(value)
        return lambda facts: matching.pieces_match(facts.flat_text, pieces)
    if op in ("is", "is_not", "in", "not_in") and field not in ("order_status", "language"):
        wanted = value if isinstance(value, list) else [value]
        positive = op in ("is", "in")
        try:
            wanted_set: frozenset | list = frozenset(wanted)
        except TypeError:
            wanted_set = wanted

        def test(facts: Facts) -> bool:
            actual = _value_of(field, facts)
            if isinstance(actual, set):
                return bool(actual & set(wanted)) == positive
            return (actual is not None and actual in wanted_set) == positive
        return test
    if op in ("has", "has_not"):
        names, positive = frozenset(value), op == "has"
        return lambda facts: bool(_value_of(field, facts) & names) == positive
    if op in ("gt", "gte", "lt", "lte", "eq"):
        limit = Decimal(value)
        compare = {"gt": Decimal.__gt__, "gte": Decimal.__ge__, "lt": Decimal.__lt__, "lte": Decimal.__le__,
                   "eq": Decimal.__eq__}[op]
        return lambda facts: compare(Decimal(_value_of(field, facts)), limit)
    return lambda facts: holds(condition, facts)


def compile_conditions(conditions: list[dict[str, Any]]) -> list[Check]:
    return [(condition, compile_condition(condition)) for condition in conditions]


def first_failing(conditions: list[dict[str, Any]], facts: Facts, *,
                  checks: list[Check] | None = None) -> dict[str, Any] | None:
    """The first condition that does not hold, or None when they all do (`checks`: compiled already)."""
    for condition, test in checks if checks is not None else compile_conditions(conditions):
        if not test(facts):
            return condition
    return None
