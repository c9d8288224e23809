"""What the campaign builder asks before anything is sent, and the controls of a running campaign.

- `audience_breakdown`: who of a segment would get the message now, and why the others would not —
  opted out, no consent, over a frequency cap, outside the Meta window, in quiet hours now (sent
  when their window opens). It applies the dispatcher's checks (campaigns.services.send_dispatch:
  consent, then the send window, then the caps, then the Meta window) with the same functions of
  campaigns.audience, set-based, so its numbers are what a launch then sends (tests hold it to that).
- `event_catalogue`: the events a triggered campaign may listen to: the system's own and those
  integrations posted.
- `test_send`: the message to the user's own identity on the channel, through the real send path.
- `campaign_cancel`: stop for good; `campaign_timeline`: sends, deliveries, reads and replies per day.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from customers.models import Channel, ConsentPurpose, Customer, CustomerEvent, Identity, Order
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import reply_send
from inbox.conversations.threads import conversation_for_identity
from inbox.models import (
    META_CHANNELS,
    STANDARD_WINDOW,
    Conversation,
    Direction,
    Inbox,
    Message,
    MessageStatus,
    SenderType,
)

from . import audience as aud
from . import composition
from .models import Campaign, CampaignSend, CampaignStatus, Purpose, SendStatus

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The events the system itself publishes (customers.services for orders, campaigns.automation for
# conversations), with what they mean for whoever picks one.
SYSTEM_EVENTS = {
    "order.created": "An order was placed",
    "order.paid": "An order was paid",
    "order.shipped": "An order shipped (fulfilled)",
    "order.delivered": "The carrier delivered an order",
    "order.cancelled": "An order was cancelled",
    "order.refunded": "An order was refunded (in part or in full)",
    "conversation.resolved": "A support conversation was resolved",
}
SINGLE_BRACE = re.compile(r"(?<!\{)\{\s*([a-z_]+)\s*\}(?!\})")
BREAKDOWN_KEYS = ("will_receive", "quiet_hours", "opted_out", "no_consent", "capped", "window_closed")


def single_brace_variables(text: str) -> list[str]:
    """`{first_name}`-style names, which are not variables in the campaign language ({{ … }})."""
    return sorted(set(SINGLE_BRACE.findall(text or "")))


def _latest(channel: str, purpose: str) -> Any:
    return aud.latest_consent(channel, purpose)


def audience_breakdown(
    *, inbox: Inbox, channel: str, audience: dict, marketing: bool, window: tuple | None,
    now: datetime | None = None, sample: int = 5,
) -> dict[str, Any]:
    """{total, will_receive, quiet_hours, opted_out, no_consent, capped, window_closed, sample: [customers]}.

    `window` is the campaign's (start, end) send window before the channel's own limits."""
    now = now or timezone.now()
    members = aud.audience_queryset(inbox=inbox, channel=channel, audience=audience, now=now)
    rows = list(
        members.annotate(_t=_latest(channel, ConsentPurpose.TRANSACTIONAL), _m=_latest(channel, ConsentPurpose.MARKETING))
        .order_by("pk").values_list("pk", "timezone", "_t", "_m", "name")
    )
    effective = aud.effective_window(channel=channel, start=window[0], end=window[1]) if window else None
    counts: Counter[str] = Counter()
    zones: dict[str, bool] = {}
    consenting: list[tuple[int, str]] = []
    for pk, tz_name, transactional, marketing_consent, _name in rows:
        # as aud.with_consent / may_receive: a withdrawal on the channel stops everything; marketing needs a grant
        if transactional is False or (marketing and marketing_consent is False):
            counts["opted_out"] += 1
        elif marketing and marketing_consent is not True:
            counts["no_consent"] += 1
        else:
            consenting.append((pk, tz_name))
    # The send window in each customer's zone, once per zone (as broadcast_plan and send_dispatch do).
    open_now: list[int] = []
    for pk, tz_name in consenting:
        if tz_name not in zones:
            zone = aud.customer_zone(customer_tz=tz_name, inbox=inbox)
            zones[tz_name] = aud.window_next(now, tz=zone, window=effective) == now
        if zones[tz_name]:
            open_now.append(pk)
        else:
            counts["quiet_hours"] += 1
    capped = capped_ids(open_now, channel=channel, now=now) if marketing else set()
    counts["capped"] = len(capped)
    reachable = [pk for pk in open_now if pk not in capped]
    if channel in META_CHANNELS:
        open_windows = meta_window_open(reachable, inbox=inbox, now=now)
        counts["window_closed"] = len(reachable) - len(open_windows)
        reachable = [pk for pk in reachable if pk in open_windows]
    counts["will_receive"] = len(reachable)
    names = {pk: name for pk, _tz, _t, _m, name in rows}
    chosen = reachable[:sample] or [pk for pk, _ in consenting[:sample]] or [r[0] for r in rows[:sample]]
    return {
        "total": len(rows), **{k: counts.get(k, 0) for k in BREAKDOWN_KEYS},
        "sample": [{"id": pk, "name": names.get(pk) or f"Customer {pk}"} for pk in chosen],
    }


def capped_ids(customer_ids: list[int], *, channel: str, now: datetime) -> set[int]:
    """Who of `customer_ids` one more campaign message on `channel` would put over a cap
    (aud.cap_reached for many customers: one grouped query)."""
    applicable = [c for c in aud.caps() if c["channel"] in ("", channel)]
    if not applicable or not customer_ids:
        return set()
    longest = max(c["period_days"] for c in applicable)
    sent = list(
        CampaignSend.objects.filter(customer_id__in=customer_ids, status=SendStatus.SENT,
                                    sent_at__gte=now - timedelta(days=longest))
        .values_list("customer_id", "channel", "sent_at")
    )
    out = set()
    for cap in applicable:
        since = now - timedelta(days=cap["period_days"])
        n = Counter(c for c, ch, at in sent if at is not None and at >= since and (not cap["channel"] or ch == cap["channel"]))
        out |= {c for c, k in n.items() if k >= cap["limit"]}
    return out


def meta_window_open(customer_ids: list[int], *, inbox: Inbox, now: datetime) -> set[int]:
    """Who of `customer_ids` may be messaged by automation on this Page/account now: the direct
    thread of their latest identity here (the one send_dispatch writes to) has its 24 h window open
    (Conversation.window_state; automation never uses HUMAN_AGENT)."""
    if not customer_ids:
        return set()
    latest: dict[int, int] = {}
    for customer_id, identity_id in (
        Identity.objects.filter(customer_id__in=customer_ids, channel=inbox.kind, scope=aud.identity_scope(inbox=inbox))
        .order_by("customer_id", "-created_at").values_list("customer_id", "pk")
    ):
        latest.setdefault(customer_id, identity_id)
    threads = Conversation.objects.filter(
        inbox=inbox, identity_id__in=list(latest.values()), thread_key="",
        last_customer_action_at__gt=now - STANDARD_WINDOW,
    ).only("pk", "customer_id", "identity_id", "channel", "thread_key", "last_customer_action_at", "window_closed_at")
    return {c.customer_id for c in threads if c.window_state(now) == "open" and latest.get(c.customer_id) == c.identity_id}


def event_catalogue(*, since_days: int = 90) -> list[dict[str, Any]]:
    """The system's events and those integrations posted in the last `since_days`, with how many."""
    since = timezone.now() - timedelta(days=since_days)
    seen = dict(CustomerEvent.objects.filter(created_at__gte=since).order_by().values_list("name").annotate(n=Count("pk")))
    out = [{"name": name, "description": text, "source": "system", "recent": seen.get(name, 0)}
           for name, text in SYSTEM_EVENTS.items()]
    out += [{"name": name, "description": "Posted by an integration", "source": "integration", "recent": n}
            for name, n in sorted(seen.items()) if name not in SYSTEM_EVENTS]
    return out


# --- Test send ------------------------------------------------------------------------------------


class TestSendRefused(Exception):
    def __init__(self, code: str, detail: str, status: int = 409) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def own_identity(*, user: User, inbox: Inbox) -> Identity | None:
    """The user's own way to be reached through this inbox: an identity of a customer record with
    the user's email address (email: that address itself)."""
    scope = aud.identity_scope(inbox=inbox)
    email = (user.email or "").strip().lower()
    if not email:
        return None
    if inbox.kind == Channel.EMAIL:
        found = Identity.objects.filter(channel=Channel.EMAIL, scope="", external_id__iexact=email).first()
        if found:
            return found
        from customers.services import identity_resolve

        return identity_resolve(channel=Channel.EMAIL, external_id=email, display_name=user.get_full_name()).identity
    return (
        Identity.objects.filter(channel=inbox.kind, scope=scope, customer__email__iexact=email,
                                customer__merged_into=None, customer__erased_at=None)
        .order_by("-created_at").first()
    )


def test_send(*, user: User, inbox: Inbox, text: str, subject: str = "", purpose: str = Purpose.MARKETING) -> Message:
    """The message as a recipient would get it (their variables: the user's own customer record),
    sent to the user through the same path a campaign uses; the thread shows it as a bot message."""
    identity = own_identity(user=user, inbox=inbox)
    if identity is None:
        hints: dict[str, str] = {
            Channel.SMS: "Add your phone number to a customer record with your email address",
            Channel.MESSENGER: "Message the Page once from your own account and set your email on that customer",
            Channel.INSTAGRAM: "Message the account once from your own profile and set your email on that customer",
        }
        how = hints.get(inbox.kind, "Set an email address on your user")
        raise TestSendRefused("no_identity", f"There is no identity of yours on {inbox.name}. {how}, then try again.")
    customer = Customer.objects.get(pk=identity.customer_id)
    context = composition.context_for(customer=customer)
    body = composition.render(text, context)
    title = composition.render(subject, context) if subject else ""
    marketing = purpose == Purpose.MARKETING
    body, payload = composition.compose(channel=inbox.kind, text=body, marketing=marketing, customer_id=customer.pk,
                                        campaign_id=0)
    payload["campaign_test"] = True
    conversation = conversation_for_identity(inbox=inbox, identity=identity, subject=title)
    try:
        with transaction.atomic():
            return reply_send(conversation=conversation, author=None, text=f"[Test] {body}" if inbox.kind != Channel.EMAIL else body,
                              subject=f"[Test] {title}" if title else "", payload=payload, sender_type=SenderType.BOT)
    except ReplyRefused as exc:
        raise TestSendRefused(exc.code, exc.detail, exc.status) from None


# --- Controls and results ------------------------------------------------------------------------------


def campaign_cancel(*, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """Stop for good: nothing planned goes out any more (the dispatcher re-reads under the row lock)."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != CampaignStatus.FINISHED:
            campaign.status, campaign.finished_at = CampaignStatus.FINISHED, now
            if not campaign.ends_at or campaign.ends_at > now:
                campaign.ends_at = now
            campaign.save(update_fields=["status", "finished_at", "ends_at"])
            CampaignSend.objects.filter(campaign=campaign, status=SendStatus.PLANNED).update(
                status=SendStatus.CANCELLED, reason="campaign_cancelled")
    return campaign


def campaign_extra_stats(*, campaign: Campaign) -> dict[str, Any]:
    """read, revenue attributed (orders within the attribution window after a send)."""
    sent = CampaignSend.objects.filter(campaign=campaign, status=SendStatus.SENT)
    read = sent.filter(message__status=MessageStatus.READ).count()
    window = timedelta(days=campaign.attribution_days)
    total = 0
    currencies: defaultdict[str, Decimal] = defaultdict(Decimal)
    rows = list(sent.values_list("customer_id", "sent_at"))
    by_customer: dict[int, list[datetime]] = {}
    for customer_id, at in rows:
        sends = by_customer.setdefault(customer_id, [])
        if at is not None:  # always: a sent row has its sent_at (services.py sets both together)
            sends.append(at)
    orders = Order.objects.filter(customer_id__in=list(by_customer), cancelled_at__isnull=True).values_list(
        "customer_id", "placed_at", "total", "currency")
    for customer_id, placed, amount, currency in orders:
        if any(at <= placed <= at + window for at in by_customer[customer_id]):
            total += 1
            currencies[currency] += amount
    return {"read": read, "orders_attributed": total,
            "revenue": {c: str(v) for c, v in currencies.items()}}


def campaign_timeline(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Per UTC day since launch: sent, delivered (or read), read, replied."""
    sends = CampaignSend.objects.filter(campaign=campaign, status=SendStatus.SENT)
    replied = Message.objects.filter(conversation_id=OuterRef("message__conversation_id"), direction=Direction.IN,
                                     created_at__gt=OuterRef("sent_at"))
    rows = (
        sends.annotate(day=TruncDate("sent_at"), _replied=Exists(replied)).order_by().values("day")
        .annotate(sent=Count("pk"),
                  delivered=Count("pk", filter=Q(message__status__in=[MessageStatus.DELIVERED, MessageStatus.READ])),
                  read=Count("pk", filter=Q(message__status=MessageStatus.READ)),
                  replied=Count("pk", filter=Q(_replied=True)))
        .order_by("day")
    )
    return [{"day": r["day"].isoformat(), "sent": r["sent"], "delivered": r["delivered"], "read": r["read"],
             "replied": r["replied"]} for r in rows]


__all__ = ["BREAKDOWN_KEYS", "audience_breakdown", "campaign_cancel", "campaign_timeline",
           "event_catalogue", "test_send"]
