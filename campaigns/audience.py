"""Reads for campaigns: who is in a segment, consent in bulk, frequency-cap counts, send windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, DecimalField, Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import Channel, ConsentEvent, ConsentPurpose, Customer, Identity, Order, OrderRefund
from inbox.models import META_CHANNELS, Conversation, Inbox

from .models import CampaignSend, FrequencyCap, SendStatus

AUDIENCE_KEYS = {"labels", "bought_within_days", "lifetime_value_gt", "has_orders", "orders_min",
                 "contacted_within_days", "not_contacted_for_days", "frequency_cap"}
# SMS is never sent outside 08:00–21:00 local time, whatever a campaign says (TCPA quiet hours).
SMS_WINDOW = (time(8, 0), time(21, 0))
DEFAULT_CAPS = [
    {"channel": Channel.SMS, "limit": 6, "period_days": 30},
    {"channel": Channel.EMAIL, "limit": 1, "period_days": 7},
    {"channel": "", "limit": 1, "period_days": 1},
]


def audience_validate(audience: dict) -> dict:
    if not isinstance(audience, dict):
        raise ValidationError("audience must be an object")
    unknown = set(audience) - AUDIENCE_KEYS
    if unknown:
        raise ValidationError(f"unknown audience keys: {', '.join(sorted(unknown))}")
    clean: dict = {}
    if audience.get("labels") is not None:
        labels = audience["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
            raise ValidationError("audience.labels must be a list of label names")
        clean["labels"] = [x.strip() for x in labels]
    if audience.get("bought_within_days") is not None:
        days = audience["bought_within_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
            raise ValidationError("audience.bought_within_days must be a number of days (1–3650)")
        clean["bought_within_days"] = days
    if audience.get("lifetime_value_gt") is not None:
        try:
            value = Decimal(str(audience["lifetime_value_gt"]))
        except InvalidOperation:
            raise ValidationError("audience.lifetime_value_gt must be a number") from None
        if not value.is_finite():
            raise ValidationError("audience.lifetime_value_gt must be a number")
        clean["lifetime_value_gt"] = str(value)
    if audience.get("has_orders") is not None:
        if not isinstance(audience["has_orders"], bool):
            raise ValidationError("audience.has_orders must be true or false")
        clean["has_orders"] = audience["has_orders"]
    for key, what, top in (("orders_min", "a number of orders", 10_000), ("contacted_within_days", "a number of days", 3650),
                           ("not_contacted_for_days", "a number of days", 3650)):
        if audience.get(key) is not None:
            value = audience[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ValidationError(f"audience.{key} must be {what} (1–{top})")
            clean[key] = value
    if audience.get("frequency_cap") is not None:
        cap = audience["frequency_cap"]
        limit, days = (cap.get("limit"), cap.get("period_days")) if isinstance(cap, dict) else (None, None)
        if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 365 for v in (limit, days)):
            raise ValidationError("audience.frequency_cap must be {limit, period_days}: 1–365 each")
        clean["frequency_cap"] = {"limit": limit, "period_days": days}
    return clean


def identity_scope(*, inbox: Inbox) -> str:
    return inbox.external_id if inbox.kind in META_CHANNELS else ""


def audience_queryset(
    *, inbox: Inbox, channel: str, audience: dict, now: datetime | None = None, campaign_id: int | None = None,
) -> QuerySet[Customer]:
    """Current customers reachable on the channel (through this inbox) who match the segment.

    With `campaign_id`, those who already have `frequency_cap.limit` messages of that campaign
    (sent or planned) in the last `frequency_cap.period_days` are left out: a triggered campaign's
    own cap, on top of the shop-wide caps checked at dispatch."""
    now = now or timezone.now()
    reachable = Identity.objects.filter(customer=OuterRef("pk"), channel=channel, scope=identity_scope(inbox=inbox))
    qs = Customer.objects.filter(Exists(reachable), merged_into=None, erased_at=None)
    if audience.get("labels"):
        qs = qs.filter(labels__name__in=audience["labels"]).distinct()
    live_orders = Order.objects.filter(customer=OuterRef("pk"), cancelled_at=None)
    if audience.get("bought_within_days"):
        since = now - timedelta(days=audience["bought_within_days"])
        qs = qs.filter(Exists(live_orders.filter(placed_at__gte=since)))
    if audience.get("has_orders") is not None:
        has = Exists(Order.objects.filter(customer=OuterRef("pk")))
        qs = qs.filter(has if audience["has_orders"] else ~has)
    if audience.get("lifetime_value_gt") is not None:
        money = DecimalField(max_digits=14, decimal_places=2)
        totals = live_orders.order_by().values("customer").annotate(s=Sum("total")).values("s")
        refunds = (
            OrderRefund.objects.filter(order__customer=OuterRef("pk"), order__cancelled_at=None)
            .order_by().values("order__customer").annotate(s=Sum("amount")).values("s")
        )
        qs = qs.annotate(
            ltv=Coalesce(Subquery(totals, output_field=money), Value(Decimal("0")), output_field=money)
            - Coalesce(Subquery(refunds, output_field=money), Value(Decimal("0")), output_field=money)
        ).filter(ltv__gt=Decimal(audience["lifetime_value_gt"]))
    if audience.get("orders_min"):
        counted = live_orders.order_by().values("customer").annotate(n=Count("pk")).values("n")
        qs = qs.annotate(_orders=Coalesce(Subquery(counted), Value(0))).filter(_orders__gte=audience["orders_min"])
    if audience.get("contacted_within_days") or audience.get("not_contacted_for_days"):
        def contacted_since(days: int) -> Exists:
            return Exists(Conversation.objects.filter(customer=OuterRef("pk"), last_message_at__gte=now - timedelta(days=days)))

        if audience.get("contacted_within_days"):
            qs = qs.filter(contacted_since(audience["contacted_within_days"]))
        if audience.get("not_contacted_for_days"):
            qs = qs.filter(~contacted_since(audience["not_contacted_for_days"]))
    cap = audience.get("frequency_cap")
    if cap and campaign_id is not None:
        recent = CampaignSend.objects.filter(
            campaign_id=campaign_id, customer_id=OuterRef("pk"), status__in=[SendStatus.SENT, SendStatus.PLANNED],
            created_at__gte=now - timedelta(days=cap["period_days"]),
        ).order_by().values("customer_id").annotate(n=Count("pk")).values("n")
        qs = qs.annotate(_campaign_sends=Coalesce(Subquery(recent), Value(0))).filter(_campaign_sends__lt=cap["limit"])
    return qs


def latest_consent(channel: str, purpose: str) -> Subquery:
    """The customer's latest consent decision on the channel for the purpose (None: never asked)."""
    return _latest_consent(channel, purpose)


def _latest_consent(channel: str, purpose: str) -> Subquery:
    return Subquery(
        ConsentEvent.objects.filter(customer=OuterRef("pk"), channel=channel, purpose=purpose)
        .order_by("-created_at", "-id")
        .values("granted")[:1]
    )


def with_consent(qs: QuerySet[Customer], *, channel: str, marketing: bool) -> QuerySet[Customer]:
    """Only those who may receive it: marketing needs an explicit grant on every channel;
    anything needs the customer not to have withdrawn on the channel (SMS STOP)."""
    qs = qs.annotate(_transactional=_latest_consent(channel, ConsentPurpose.TRANSACTIONAL)).filter(
        Q(_transactional__isnull=True) | Q(_transactional=True)
    )
    if marketing:
        qs = qs.annotate(_marketing=_latest_consent(channel, ConsentPurpose.MARKETING)).filter(_marketing=True)
    return qs


def may_receive(*, customer_id: int, channel: str, marketing: bool) -> bool:
    return with_consent(Customer.objects.filter(pk=customer_id), channel=channel, marketing=marketing).exists()


# --- Frequency caps ---------------------------------------------------------------------------------


def caps() -> Sequence[Mapping[str, Any]]:
    rows = list(FrequencyCap.objects.values("channel", "limit", "period_days"))
    if rows:
        return rows
    return list(getattr(settings, "CAMPAIGN_FREQUENCY_CAPS", DEFAULT_CAPS))


def cap_reached(*, customer_id: int, channel: str, now: datetime) -> bool:
    """Whether one more campaign message on `channel` would break a cap. Every campaign send
    counts, transactional ones included; only marketing sends are held back (the caller decides)."""
    applicable = [c for c in caps() if c["channel"] in ("", channel)]
    if not applicable:
        return False
    counts = {}
    for i, cap in enumerate(applicable):
        since = now - timedelta(days=cap["period_days"])
        where = Q(sent_at__gte=since) & (Q(channel=cap["channel"]) if cap["channel"] else Q())
        counts[f"c{i}"] = Count("pk", filter=where)
    got = CampaignSend.objects.filter(customer_id=customer_id, status=SendStatus.SENT).aggregate(**counts)
    return any(got[f"c{i}"] >= cap["limit"] for i, cap in enumerate(applicable))


# --- Send windows ----------------------------------------------------------------------------------


def customer_zone(*, customer_tz: str, inbox: Inbox) -> ZoneInfo:
    for name in (customer_tz, ((inbox.settings or {}).get("business_hours") or {}).get("timezone"), settings.TIME_ZONE):
        if name:
            try:
                return ZoneInfo(str(name))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def effective_window(*, channel: str, start: time, end: time) -> tuple[time, time] | None:
    if channel == Channel.SMS:
        start, end = max(start, SMS_WINDOW[0]), min(end, SMS_WINDOW[1])
    return (start, end) if start < end else None


def window_next(at: datetime, *, tz: ZoneInfo, window: tuple[time, time] | None) -> datetime | None:
    """`at` when it falls inside the local send window, else when the window next opens (UTC)."""
    if window is None:
        return None
    start, end = window
    local_day = at.astimezone(tz).date()
    for offset in range(0, 3):
        day = local_day + timedelta(days=offset)
        # Through UTC so a wall time in a DST gap or fold still maps to one real instant.
        opens = datetime.combine(day, start, tz).astimezone(UTC)
        closes = datetime.combine(day, end, tz).astimezone(UTC)
        if at < opens:
            return opens
        if at < closes:
            return at
    return None
