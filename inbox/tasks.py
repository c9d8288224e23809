"""Every Celery task of the inbox: thin wrappers over the services, plus the sweeper that makes
the broker optional. Celery's autodiscovery finds this module."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from inbox.conversations import attachments, profiles, reply
from inbox.conversations.reply import retry_delay
from inbox.csat import surveys
from inbox.intake import batch, mailbox, retention
from inbox.models import InboundEvent, Message, MessageStatus, OrderAction, OrderActionStatus
from inbox.orders import run as order_runs
from inbox.rules import timers
from inbox.sla import alerts, clocks, hooks

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def inbound_events_process(event_ids: list[int]) -> None:
    """Stored events, exactly once each: customer messages in batches, the rest one by one (intake/batch.py)."""
    batch.events_process(event_ids)


@shared_task(bind=True, acks_late=True, max_retries=None)
def message_send(self, message_id: int) -> None:
    retry_in = reply.message_deliver(message_id)
    if retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=retry_in)
    # In-process (eager) runs can't wait: the row keeps next_attempt_at and the sweeper retries it.


MAX_PROFILE_RETRIES = 4


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_PROFILE_RETRIES)
def meta_profile_fetch(self, identity_id: int, inbox_id: int) -> None:
    """Name a Messenger/Instagram identity from Meta's User Profile API (inbox/conversations/profiles.py)."""
    # In-process (eager) runs cannot wait for a backoff: their first failure is the last.
    final = self.request.is_eager or self.request.retries >= MAX_PROFILE_RETRIES
    try:
        retry = profiles.meta_profile_fill(identity_id=identity_id, inbox_id=inbox_id, final=final)
    except Exception:
        # A name is a nicety: whatever went wrong, the task ends here (the stamp keeps it from looping).
        logger.exception("profile of identity %s failed", identity_id)
        return
    if retry:
        raise self.retry(countdown=retry_delay(self.request.retries + 1))


@shared_task
def sweep() -> dict[str, int]:
    """Pick up what a dead worker or a down broker left: unprocessed events, queued sends."""
    now = timezone.now()
    # A queued message or stored event older than this is taken to have nothing in flight.
    stuck_before = now - timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS)
    event_ids = list(
        InboundEvent.objects.filter(processed_at=None, received_at__lt=stuck_before, attempts__lt=5)
        .order_by("received_at")
        .values_list("id", flat=True)[:500]
    )
    if event_ids:
        inbound_events_process.delay(event_ids)
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at=None, created_at__lt=stuck_before)
    message_ids = list(
        Message.objects.filter(due, status=MessageStatus.QUEUED, external_id=None).values_list("id", flat=True)[:500]
    )
    for message_id in message_ids:
        message_send.delay(message_id)
    # Order actions waiting on Shopify: a retry due, or one whose worker died (the row says what to do).
    action_ids = list(OrderAction.objects.filter(due, status=OrderActionStatus.QUEUED).values_list("id", flat=True)[:200])
    for action_id in action_ids:
        order_action_run.delay(action_id)
    if event_ids or message_ids or action_ids:
        logger.info("sweeper re-dispatched %d events, %d messages, %d order actions",
                    len(event_ids), len(message_ids), len(action_ids))
    return {"events": len(event_ids), "messages": len(message_ids), "order_actions": len(action_ids)}


@shared_task(ignore_result=True)
def inbound_events_prune() -> int:
    """Processed webhook events past INBOUND_EVENT_RETENTION_DAYS (inbox/intake/retention.py)."""
    return retention.events_prune()


@shared_task(bind=True, acks_late=True, max_retries=None)
def order_action_run(self, action_id: int) -> None:
    """Carry out one order action through Shopify (inbox/orders/run.py): once, whatever the retries."""
    retry_in = order_runs.order_action_deliver(action_id)
    if retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=retry_in)
    # In-process (eager) runs can't wait: the row keeps next_attempt_at and the sweeper retries it.


MAX_FETCH_RETRIES = 5


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_FETCH_RETRIES)
def attachments_fetch(self, message_id: int) -> None:
    """Copy a message's media from the provider (inbox/conversations/attachments.py)."""
    # In-process (eager) runs cannot wait for a backoff: their first failure is the last.
    final = self.request.is_eager or self.request.retries >= MAX_FETCH_RETRIES
    if attachments.message_attachments_fetch(message_id=message_id, final=final):
        raise self.retry(countdown=retry_delay(self.request.retries + 1))


@shared_task(ignore_result=True)
def imap_poll() -> dict[str, int]:
    """Email's periodic work: one dispatcher task polls every IMAP mailbox (beat: inbox-imap-poll)."""
    return mailbox.imap_poll()


@shared_task(ignore_result=True)
def csat_dispatch() -> dict[str, int]:
    """Satisfaction surveys: one dispatcher sends every survey that is due (beat: inbox-csat-dispatch)."""
    return surveys.surveys_send_due()


@shared_task(ignore_result=True)
def sla_dispatch() -> dict[str, int]:
    """SLA warnings and breaches: one dispatcher tells every one that is due (beat: inbox-sla-dispatch)."""
    return alerts.alerts_dispatch()


@shared_task(ignore_result=True)
def rules_dispatch() -> dict[str, int]:
    """Time-based automation rules (no customer reply, no agent reply, snooze ended), and old skipped
    runs forgotten: one dispatcher for every conversation (beat: inbox-rules-dispatch)."""
    counts = timers.time_rules_dispatch()
    counts["pruned"] = timers.runs_prune()
    return counts


@shared_task(ignore_result=True)
def sla_policies_apply(policy_ids: list[int], conversation_ids: list[int]) -> int:
    """After a policy was saved or deleted: the clocks of every unresolved conversation (and of those
    that had a deleted policy) again, each in its own transaction; how many changed."""
    ids = list(dict.fromkeys([*conversation_ids, *clocks.unresolved_ids()]))
    return clocks.conversations_refresh(ids, publish=hooks.publish_changed)


@shared_task(ignore_result=True)
def reports_digest_dispatch() -> int:
    """The weekly digests due now (beat, every 15 min; each goes out once per person and week)."""
    from inbox.reports import digest

    return digest.dispatch()
