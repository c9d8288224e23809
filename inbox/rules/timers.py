"""Time-based triggers, from one periodic dispatcher (beat: inbox-rules-dispatch), never a task per
conversation: "N minutes/hours without a customer reply", "... without an agent reply", and the end
of a snooze.

- no_customer_reply (delay N): we wrote last (an agent's or a bot's message) and the customer has
  not written since, for N. Once per silence: the event is keyed by our last message's time.
- no_agent_reply (delay N): the customer has waited N for a human reply (`waiting_since`). Once per
  wait: keyed by when the wait began.
- snooze_ended: a snoozed conversation's `snoozed_until` has passed. Keyed by that time.

Resolved conversations are not considered (a snoozed one is). Each tick looks back TIME_RULES_LOOKBACK
(a day) beyond the delay, so switching a rule on acts on what crosses its threshold from then on,
not on every old conversation at once; a dispatcher down for longer than that misses those. Each
conversation is handled in its own transaction, its row taken with SKIP LOCKED, and the rule's
RuleRun row makes a second dispatcher (or the next tick) do nothing for the same event.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from inbox.models import Conversation, ConversationStatus, Direction, Rule, RuleRun
from inbox.rules.engine import rules_run

logger = logging.getLogger(__name__)

BATCH = 200


def _lookback() -> timedelta:
    return timedelta(seconds=getattr(settings, "TIME_RULES_LOOKBACK_SECONDS", 24 * 3600))


def _due(rule: Rule, now: datetime) -> tuple[QuerySet[Conversation], str]:
    """The conversations whose event for `rule` is due now, and the field the event key is made of."""
    live = Conversation.objects.exclude(status=ConversationStatus.RESOLVED)
    if rule.trigger == "snooze_ended":
        return live.filter(status=ConversationStatus.SNOOZED, snoozed_until__lte=now,
                           snoozed_until__gt=now - _lookback()), "snoozed_until"
    threshold = now - timedelta(seconds=rule.delay_seconds or 0)
    if rule.trigger == "no_customer_reply":
        return live.filter(last_message_direction=Direction.OUT, last_message_at__lte=threshold,
                           last_message_at__gt=threshold - _lookback()), "last_message_at"
    if rule.trigger == "no_agent_reply":
        return live.filter(waiting_since__lte=threshold, waiting_since__gt=threshold - _lookback()), "waiting_since"
    raise ValueError(rule.trigger)


def _key(rule: Rule, at: datetime) -> str:
    return f"{rule.trigger}:{rule.delay_seconds or 0}:{at.isoformat()}"


def time_rules_dispatch(*, now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """Run every time-based rule whose moment has come; returns how many rules acted, per trigger."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    rules = list(Rule.objects.filter(active=True, trigger__in=["no_customer_reply", "no_agent_reply", "snooze_ended"])
                 .order_by("position", "id"))
    for rule in rules:
        try:
            candidates, stamp = _due(rule, now)
        except ValueError:
            continue
        # Not those it already ran for: a run of this rule on a conversation after the silence, wait
        # or snooze began can only be about that one (or a later one).
        done = RuleRun.objects.filter(rule=rule, conversation=OuterRef("pk"), created_at__gte=OuterRef(stamp))
        rows = list(candidates.exclude(Exists(done)).order_by(stamp).values_list("pk", stamp)[:limit])
        for pk, at in rows:
            key = _key(rule, at)
            try:
                with transaction.atomic():
                    locked = (Conversation.objects.select_for_update(skip_locked=True, of=("self",))
                              .filter(pk=pk).values_list(stamp, "status").first())
                    if locked is None or locked[0] != at or locked[1] == ConversationStatus.RESOLVED:
                        continue  # busy, or it moved on since it was read
                    runs = rules_run(conversation_id=pk, trigger=rule.trigger, event_key=key, rules=[rule], now=now)
                    counts[rule.trigger] = counts.get(rule.trigger, 0) + len(runs)
            except Exception:
                logger.exception("time-based rule %s on conversation %s failed", rule.pk, pk)
    return counts


def runs_prune(*, now: datetime | None = None) -> int:
    """Forget runs that did nothing, after RULE_RUNS_KEEP_SKIPPED_DAYS (those that acted are kept)."""
    now = now or timezone.now()
    days = int(getattr(settings, "RULE_RUNS_KEEP_SKIPPED_DAYS", 30))
    old = RuleRun.objects.filter(status=RuleRun.Status.SKIPPED, created_at__lt=now - timedelta(days=days))
    ids = list(old.values_list("pk", flat=True)[:5000])
    return RuleRun.objects.filter(pk__in=ids).delete()[0] if ids else 0
