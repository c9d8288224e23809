"""Writes on campaigns: create, launch, pause, plan, trigger, dispatch, unsubscribe.

A campaign never sends directly: planning creates one CampaignSend row per (campaign, customer)
(unique), and the dispatcher turns a due row into a message through inbox.conversations.reply.reply_send
in the same transaction that marks the row sent, so a worker dying mid-batch rolls both back and
a second dispatcher finds the row locked or already sent.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.utils import timezone, translation

from customers.language import customer_language, inbox_language
from customers.models import Channel, ConsentEvent, ConsentPurpose, Customer, CustomerEvent, Identity, Order
from customers.services import consent_record
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import reply_send
from inbox.conversations.threads import conversation_for_identity
from inbox.models import META_CHANNELS, Direction, Inbox, Message, MessageStatus, SenderType, WindowState

from . import audience as aud
from . import composition
from .models import (
    Campaign,
    CampaignKind,
    CampaignSend,
    CampaignStatus,
    Purpose,
    SendStatus,
    SkipReason,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

logger = logging.getLogger(__name__)

PLAN_BATCH = 5000
DISPATCH_BATCH = 500
EVENT_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-:")


class CampaignError(Exception):
    """A request the campaign's state does not allow; the API answers 409 with the code."""

    def __init__(self, code: str, detail: str, status: int = 409) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def event_name_validate(name: str) -> str:
    name = (name or "").strip().lower()
    if not name or len(name) > 64 or not set(name) <= EVENT_NAME_CHARS:
        raise ValidationError(f"event names are 1–64 characters of a-z, 0-9 and . _ - : ({name!r})")
    return name


def _time(value: object, what: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"{what} must be HH:MM") from None


def campaign_validate(
    *, kind: str, channel: str, inbox: Inbox, text: str, subject: str = "", audience: dict | None = None,
    trigger: dict | None = None, send_window: dict | None = None, starts_at: datetime | None = None,
    ends_at: datetime | None = None, translations: dict | None = None,
) -> dict:
    """The model fields for a campaign, or ValidationError with a readable message."""
    if kind not in CampaignKind.values:
        raise ValidationError("kind must be broadcast or triggered")
    if channel not in Channel.values:
        raise ValidationError(f"unknown channel {channel!r}")
    if inbox.kind != channel:
        raise ValidationError(f"inbox {inbox.pk} is a {inbox.kind} inbox, not {channel}")
    if not (text or "").strip():
        raise ValidationError("text is required")
    composition.template_check(text)
    if channel == Channel.EMAIL and not (subject or "").strip():
        raise ValidationError("an email campaign needs a subject")
    if subject:
        composition.template_check(subject)
    fields: dict = {
        "kind": kind, "channel": channel, "inbox": inbox, "text": text, "subject": subject or "",
        "audience": aud.audience_validate(audience or {}), "starts_at": starts_at, "ends_at": ends_at,
        "translations": composition.translations_validate(translations, channel=channel),
    }
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationError("ends_at must be after starts_at")
    if kind == CampaignKind.TRIGGERED:
        if not isinstance(trigger, dict) or not trigger.get("event"):
            raise ValidationError("a triggered campaign needs trigger.event")
        delay = trigger.get("delay_seconds", 0)
        if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 90 * 86400:
            raise ValidationError("trigger.delay_seconds must be 0 to 90 days in seconds")
        exceptions = trigger.get("exceptions") or []
        if not isinstance(exceptions, list):
            raise ValidationError("trigger.exceptions must be a list of event names")
        fields.update(
            trigger_event=event_name_validate(trigger["event"]), delay_seconds=delay,
            exception_events=[event_name_validate(e) for e in exceptions],
        )
    elif trigger:
        raise ValidationError("only triggered campaigns take a trigger")
    window = send_window or {}
    if not isinstance(window, dict):
        raise ValidationError("send_window must be {start, end}")
    start = _time(window.get("start", "09:00"), "send_window.start")
    end = _time(window.get("end", "21:00"), "send_window.end")
    if end <= start:
        raise ValidationError("send_window.end must be after send_window.start")
    fields.update(window_start=start, window_end=end)
    return fields


def campaign_create(
    *, by: User | AnonymousUser | None, name: str, purpose: str = Purpose.MARKETING, sender_name: str = "", **spec: Any
) -> Campaign:
    if not (name or "").strip():
        raise ValidationError("name is required")
    if purpose not in Purpose.values:
        raise ValidationError("purpose must be marketing or transactional")
    fields = campaign_validate(**spec)
    return Campaign.objects.create(
        name=name.strip()[:200], purpose=purpose, sender_name=sender_name[:100],
        created_by=by if by and by.is_authenticated else None, **fields,
    )


def campaign_launch(*, campaign: Campaign, now: datetime | None = None) -> Campaign:
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == CampaignStatus.RUNNING:
            return campaign
        if campaign.status == CampaignStatus.FINISHED:
            raise CampaignError("finished", "This campaign has finished; make a new one.")
        if campaign.ends_at and campaign.ends_at <= now:
            raise CampaignError("ended", "This campaign's end date has passed.")
        first = campaign.launched_at is None
        campaign.status = CampaignStatus.RUNNING
        campaign.launched_at = campaign.launched_at or now
        campaign.save(update_fields=["status", "launched_at"])
        if first and campaign.kind == CampaignKind.BROADCAST:
            campaign_id = campaign.pk
            transaction.on_commit(lambda: _plan_enqueue(campaign_id))
    return campaign


def _plan_enqueue(campaign_id: int) -> None:
    from .tasks import broadcast_plan

    broadcast_plan.delay(campaign_id)


def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Stops pending sends at once: the dispatcher re-reads the status under the same row lock."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == CampaignStatus.RUNNING:
            campaign.status = CampaignStatus.PAUSED
            campaign.save(update_fields=["status"])
    return campaign


# --- Planning -----------------------------------------------------------------------------------


def _window(campaign: Campaign) -> tuple[time, time] | None:
    return aud.effective_window(channel=campaign.channel, start=campaign.window_start, end=campaign.window_end)


def broadcast_plan(*, campaign: Campaign, now: datetime | None = None) -> int:
    """One set-based pass: read the audience once, compute each time zone's send time once,
    insert the rows in large batches. Returns how many rows were new."""
    now = now or timezone.now()
    base = max(now, campaign.starts_at or now)
    window = _window(campaign)
    members = aud.audience_queryset(inbox=campaign.inbox, channel=campaign.channel, audience=campaign.audience, now=now)
    due_by_zone: dict[str, datetime] = {}
    rows = []
    for customer_id, tz_name in members.order_by().values_list("pk", "timezone"):
        due = due_by_zone.get(tz_name)
        if due is None:
            zone = aud.customer_zone(customer_tz=tz_name, inbox=campaign.inbox)
            # Outside any possible window (an empty SMS window) the row is still planned; the
            # dispatcher records it as skipped for quiet hours, so the stats explain it.
            due = due_by_zone[tz_name] = aud.window_next(base, tz=zone, window=window) or base
        rows.append(CampaignSend(
            campaign=campaign, customer_id=customer_id, channel=campaign.channel, purpose=campaign.purpose, due_at=due,
        ))
    with transaction.atomic():
        created = CampaignSend.objects.bulk_create(rows, batch_size=PLAN_BATCH, ignore_conflicts=True)
        # Committed with the rows: from now on "no planned sends left" means the broadcast is done.
        Campaign.objects.filter(pk=campaign.pk).update(planned_at=now)
    return len(created)


def event_trigger_key(event: CustomerEvent) -> str:
    """What makes a triggered send unique besides campaign and customer: each order's shipment
    sends again, the same event delivered twice does not."""
    return (event.dedupe_key or f"event:{event.pk}")[:255]


def on_customer_event(*, event: CustomerEvent) -> None:
    """Plan triggered sends for this event; cancel pending sends it is an exception for."""
    name = event.name
    at = event.created_at
    with transaction.atomic():
        # The customer's few pending sends, their campaigns' exception lists read here: a JSON
        # `contains` lookup would do it in SQL on PostgreSQL only (SQLite has none).
        pending = CampaignSend.objects.filter(customer_id=event.customer_id, status=SendStatus.PLANNED)
        stopped = [pk for pk, exceptions in pending.values_list("pk", "campaign__exception_events")
                   if name in (exceptions or [])]
        cancelled = pending.filter(pk__in=stopped).update(
            status=SendStatus.CANCELLED, reason=f"exception:{name}"[:64]
        ) if stopped else 0
        if cancelled:
            logger.info("event %s cancelled %d pending campaign sends", event.pk, cancelled)
        campaigns = Campaign.objects.select_related("inbox").filter(
            kind=CampaignKind.TRIGGERED, status=CampaignStatus.RUNNING, trigger_event=name,
        ).filter(Q(starts_at=None) | Q(starts_at__lte=at), Q(ends_at=None) | Q(ends_at__gt=at))
        customer = Customer.objects.filter(pk=event.customer_id).only("pk", "timezone").first()
        if customer is None:
            return
        trigger_key = event_trigger_key(event)
        for campaign in campaigns:
            if campaign.audience and not aud.audience_queryset(
                inbox=campaign.inbox, channel=campaign.channel, audience=campaign.audience, now=at,
                campaign_id=campaign.pk,
            ).filter(pk=customer.pk).exists():
                continue
            zone = aud.customer_zone(customer_tz=customer.timezone, inbox=campaign.inbox)
            ready = at + timedelta(seconds=campaign.delay_seconds)
            due = aud.window_next(ready, tz=zone, window=_window(campaign)) or ready
            CampaignSend.objects.bulk_create(
                [CampaignSend(campaign=campaign, customer_id=customer.pk, channel=campaign.channel,
                              purpose=campaign.purpose, due_at=due, event=event, trigger_key=trigger_key)],
                ignore_conflicts=True,
            )


# --- Dispatch -----------------------------------------------------------------------------------


def due_send_ids(*, now: datetime, limit: int = DISPATCH_BATCH) -> list[int]:
    return list(
        CampaignSend.objects.filter(
            status=SendStatus.PLANNED, due_at__lte=now, campaign__status=CampaignStatus.RUNNING
        ).order_by("due_at", "id").values_list("id", flat=True)[:limit]
    )


def dispatch_due(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    outcome: dict[str, int] = {}
    for send_id in due_send_ids(now=now):
        result = send_dispatch(send_id=send_id, now=now)
        outcome[result] = outcome.get(result, 0) + 1
    finished = broadcasts_finish(now=now)
    if finished:
        logger.info("%d broadcasts finished: nothing left planned", finished)
    return outcome


def broadcasts_finish(*, now: datetime | None = None) -> int:
    """Running broadcasts whose audience was planned and which have nothing left planned are done.

    One UPDATE: a send still planned (or planned by a concurrent re-plan) keeps its campaign running.
    """
    now = now or timezone.now()
    pending = CampaignSend.objects.filter(campaign_id=OuterRef("pk"), status=SendStatus.PLANNED)
    return (
        Campaign.objects.filter(kind=CampaignKind.BROADCAST, status=CampaignStatus.RUNNING, planned_at__isnull=False)
        .filter(~Exists(pending))
        .update(status=CampaignStatus.FINISHED, finished_at=now)
    )


def _skip(send: CampaignSend, reason: str) -> str:
    send.status = SendStatus.SKIPPED
    send.reason = reason
    send.save(update_fields=["status", "reason"])
    return f"skipped:{reason}"


def send_dispatch(*, send_id: int, now: datetime | None = None) -> str:
    """Decide and send one due row; returns what happened (for logs and tests)."""
    now = now or timezone.now()
    with transaction.atomic():
        send = (
            CampaignSend.objects.select_for_update(skip_locked=True)
            .filter(pk=send_id, status=SendStatus.PLANNED).first()
        )
        if send is None:
            return "busy_or_done"
        # The campaign row lock orders this send against a concurrent pause.
        campaign = Campaign.objects.select_for_update(no_key=True).select_related("inbox").get(pk=send.campaign_id)
        if campaign.status != CampaignStatus.RUNNING:
            return "paused"
        if send.due_at > now:
            return "not_due"
        if campaign.ends_at and now >= campaign.ends_at:
            send.status, send.reason = SendStatus.CANCELLED, "ended"
            send.save(update_fields=["status", "reason"])
            return "cancelled:ended"
        customer = Customer.objects.filter(pk=send.customer_id).first()
        if customer is None or customer.erased_at or customer.merged_into_id:
            return _skip(send, SkipReason.NO_IDENTITY)
        marketing = send.purpose == Purpose.MARKETING
        if not aud.may_receive(customer_id=customer.pk, channel=campaign.channel, marketing=marketing):
            return _skip(send, SkipReason.NO_CONSENT)
        window = _window(campaign)
        zone = aud.customer_zone(customer_tz=customer.timezone, inbox=campaign.inbox)
        opens = aud.window_next(now, tz=zone, window=window)
        if opens != now:
            if opens is None or (campaign.ends_at and opens >= campaign.ends_at):
                return _skip(send, SkipReason.QUIET_HOURS)
            send.due_at = opens
            send.save(update_fields=["due_at"])
            return "postponed"
        if marketing and aud.cap_reached(customer_id=customer.pk, channel=campaign.channel, now=now):
            return _skip(send, SkipReason.CAPPED)
        identity = (
            Identity.objects.filter(customer=customer, channel=campaign.channel, scope=aud.identity_scope(inbox=campaign.inbox))
            .order_by("-created_at").first()
        )
        if identity is None:
            return _skip(send, SkipReason.NO_IDENTITY)
        conversation = conversation_for_identity(inbox=campaign.inbox, identity=identity, subject=campaign.subject)
        if campaign.channel in META_CHANNELS and conversation.window_state(now) != WindowState.OPEN:
            # Automation never uses HUMAN_AGENT: outside the 24 h window there is no way to send.
            return _skip(send, SkipReason.WINDOW_CLOSED)
        event = CustomerEvent.objects.filter(pk=send.event_id).first() if send.event_id else None
        context = composition.context_for(customer=customer, event=event)
        # The customer's language where the campaign is written in it, else its own text; the
        # footers (STOP, unsubscribe) follow the language of the text that goes out.
        body, title, used = composition.for_language(
            campaign.text, campaign.subject, campaign.translations, customer_language(customer, campaign.inbox)
        )
        try:
            text = composition.render(body, context)
            subject = composition.render(title, context) if title else ""
        except composition.TemplateInvalid as exc:
            send.status, send.reason = SendStatus.FAILED, str(exc)[:64]
            send.save(update_fields=["status", "reason"])
            return "failed:template"
        with translation.override(used or inbox_language(campaign.inbox)):
            text, payload = composition.compose(
                channel=campaign.channel, text=text, marketing=marketing, customer_id=customer.pk, campaign_id=campaign.pk
            )
        if campaign.sender_name:
            payload["email_from_name"] = campaign.sender_name
        try:
            with transaction.atomic():
                message = reply_send(
                    conversation=conversation, author=None, text=text, subject=subject,
                    payload=payload, sender_type=SenderType.BOT,
                )
        except ReplyRefused as exc:
            reason = {"opted_out": SkipReason.NO_CONSENT, "window_closed": SkipReason.WINDOW_CLOSED}.get(exc.code)
            if reason:
                return _skip(send, reason)
            send.status, send.reason = SendStatus.FAILED, exc.code[:64]
            send.save(update_fields=["status", "reason"])
            return f"failed:{exc.code}"
        send.status, send.message, send.sent_at = SendStatus.SENT, message, now
        send.save(update_fields=["status", "message", "sent_at"])
        return "sent"


# --- Unsubscribe ------------------------------------------------------------------------------


def unsubscribe(*, token: str, proof: dict) -> Customer:
    """RFC 8058 one-click: withdraw email marketing consent now. signing.BadSignature when forged."""
    data = composition.unsubscribe_read(token)
    customer = Customer.objects.get(pk=int(data["c"]))
    with transaction.atomic():
        consent_record(
            customer=customer, channel=Channel.EMAIL, purpose=ConsentPurpose.MARKETING, granted=False,
            source="email_unsubscribe", proof={**proof, "campaign": data.get("k")},
        )
        CampaignSend.objects.filter(
            customer=customer, channel=Channel.EMAIL, purpose=Purpose.MARKETING, status=SendStatus.PLANNED
        ).update(status=SendStatus.SKIPPED, reason=SkipReason.NO_CONSENT)
    return customer


# --- Results ------------------------------------------------------------------------------------


def campaign_stats(*, campaign: Campaign) -> dict:
    """planned, sent, skipped by reason, cancelled, delivered, failed, replies, opt-outs, orders."""
    sends = CampaignSend.objects.filter(campaign=campaign)
    by_status = dict(sends.order_by().values_list("status").annotate(n=Count("pk")))
    skipped = dict(
        sends.filter(status=SendStatus.SKIPPED).order_by().values_list("reason").annotate(n=Count("pk"))
    )
    sent = sends.filter(status=SendStatus.SENT)
    window = timedelta(days=campaign.attribution_days)
    replied = Message.objects.filter(
        conversation_id=OuterRef("message__conversation_id"), direction=Direction.IN, created_at__gt=OuterRef("sent_at")
    )
    opted_out = ConsentEvent.objects.filter(
        customer_id=OuterRef("customer_id"), channel=campaign.channel, granted=False, created_at__gte=OuterRef("sent_at")
    )
    results = sent.annotate(
        _replied=Exists(replied), _opted=Exists(opted_out),
    ).aggregate(
        sent=Count("pk"),
        delivered=Count("pk", filter=Q(message__status__in=[MessageStatus.DELIVERED, MessageStatus.READ])),
        failed=Count("pk", filter=Q(message__status=MessageStatus.FAILED)),
        replies=Count("pk", filter=Q(_replied=True)),
        opt_outs=Count("pk", filter=Q(_opted=True)),
    )
    orders = _orders_attributed(sent=sent, window=window)
    return {
        "planned": by_status.get(SendStatus.PLANNED, 0),
        "sent": results["sent"],
        "skipped": {reason.value: skipped.get(reason.value, 0) for reason in SkipReason} | {
            k: v for k, v in skipped.items() if k not in SkipReason.values
        },
        "cancelled": by_status.get(SendStatus.CANCELLED, 0),
        "delivered": results["delivered"],
        "failed": results["failed"] + by_status.get(SendStatus.FAILED, 0),
        "replies": results["replies"],
        "opt_outs": results["opt_outs"],
        "orders": orders,
    }


def _orders_attributed(*, sent: QuerySet[CampaignSend], window: timedelta) -> int:
    """Orders placed by a recipient within `window` after their send."""
    deadline = ExpressionWrapper(F("sent_at") + window, output_field=DateTimeField())
    eligible = sent.annotate(_deadline=deadline)
    return Order.objects.filter(
        Exists(eligible.filter(customer_id=OuterRef("customer_id"), sent_at__lte=OuterRef("placed_at"),
                               _deadline__gte=OuterRef("placed_at")))
    ).count()
