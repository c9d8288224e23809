"""Running rules: for an event on a conversation, every active rule of that trigger, in `position`
order, each at most once per event, each logged (RuleRun: what it did, or why it did nothing).

- Where: in the transaction of the event (inbox.signals.conversation_changed is sent inside it), so
  a rule's changes commit with the event. Order events (customers.signals.customer_event) and the
  time-based triggers (inbox/rules/timers.py) open a transaction per conversation.
- Once per event: the RuleRun row, unique per (rule, conversation, event key), is inserted before a
  rule acts; a second worker or dispatcher that sees the same event conflicts there and does nothing.
- Loops: the events a rule's actions cause run the rules of their own trigger within the same chain
  of events, at most MAX_DEPTH deep, and a rule never runs twice in one chain (its own action cannot
  set it off again). Of two rules changing the same thing in a chain (the assignee, the status…),
  the first one wins and the later action is skipped, saying so.
- Failures: a rule's actions run in a savepoint. An action that fails rolls back everything that
  rule did (the other rules keep theirs) and the run is logged `failed` with the reason. An
  automated send the channel's rules refuse is not a failure: that action is skipped and logged.
- Cost: the rules of a trigger are kept by each process with their conditions compiled, and read
  again only when the rules' version changed (inbox/versions.py: one small statement, once per
  batch of events); conditions read the conversation's facts lazily, once per event, and not at all
  what the caller's current row already says (inbox/rules/conditions.py); the runs of the rules that
  did nothing are one INSERT per event, or per batch of events (`runs_logged_together`).
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inbox import versions
from inbox.models import Conversation, ConversationStatus, Message, Rule, RuleRun
from inbox.rules.actions import ActionSkipped, Context, perform
from inbox.rules.conditions import Facts, compile_conditions, describe, first_failing

logger = logging.getLogger(__name__)

MAX_DEPTH = 3
# Fields of the conversation a caller's object gets back after rules changed the row (its frame at commit).
SYNCED_FIELDS = (
    "status", "snoozed_until", "resolved_at", "assignee_id", "team_id", "priority", "unread_count", "waiting_since",
    "sla_policy_id", "sla_policy_source", "sla_state", "sla_next_due_at",
)


@dataclass
class Chain:
    """One external event and everything its rules set off."""

    depth: int = 0
    ran: set[tuple[int, int]] = field(default_factory=set)  # (rule, conversation) that acted
    claims: dict[tuple[int, str], str] = field(default_factory=dict)


_chain: contextvars.ContextVar[Chain | None] = contextvars.ContextVar("inbox_rules_chain", default=None)


def _load(trigger: str) -> list[Rule]:
    rules = list(Rule.objects.filter(active=True, trigger=trigger).order_by("position", "id"))
    for rule in rules:
        rule.checks = compile_conditions(rule.conditions)  # type: ignore[attr-defined]
    return rules


_rules: versions.Cached[list[Rule]] = versions.Cached(versions.RULES, _load)


def rules_for(trigger: str) -> list[Rule]:
    """The active rules of a trigger in order, conditions compiled; this process reads them again
    only when a rule changed since (in any process: inbox/versions.py). Treat them as read-only."""
    return _rules.get(trigger)


def rules_cache_clear(*args: Any, **kwargs: Any) -> None:
    """A rule was saved or deleted in this process (post_save / post_delete of Rule): the version
    changed too, but this saves the next batch its check."""
    _rules.clear()
    versions.forget()


# (rule id, conversation id, trigger, event key, reason, depth, decided at) of runs that did nothing, kept for one
# INSERT at the end of a batch of events (None: each event inserts its own).
_pending: contextvars.ContextVar[list[tuple] | None] = contextvars.ContextVar("inbox_rules_pending", default=None)


@contextmanager
def runs_logged_together() -> Iterator[None]:
    """Within (in one transaction): the runs of rules that did nothing are inserted together on the
    way out, in one statement. A failure inside inserts none of them (the transaction rolls back)."""
    if _pending.get() is not None:
        yield
        return
    pending: list[tuple] = []
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    _insert_skipped(pending)


def _log_skipped(skipped: list[tuple[int, str]], *, conversation_id: int, trigger: str, event_key: str,
                 depth: int) -> None:
    """The runs of the rules that did nothing — (rule id, why) — in one statement, without a model
    instance each; a second sighting of the event adds none (the unique claim)."""
    if not skipped:
        return
    at = timezone.now()  # when they were decided, even when inserted with the batch's others
    rows = [(rule_id, conversation_id, trigger, event_key, reason, depth, at) for rule_id, reason in skipped]
    pending = _pending.get()
    if pending is not None:
        pending.extend(rows)
        return
    _insert_skipped(rows)


def _insert_skipped(rows: list[tuple]) -> None:
    if not rows:
        return
    if connection.vendor != "postgresql":
        RuleRun.objects.bulk_create([
            RuleRun(rule_id=rule_id, conversation_id=conversation_id, trigger=trigger, event_key=event_key,
                    status=RuleRun.Status.SKIPPED, reason=reason, depth=depth, created_at=at)
            for rule_id, conversation_id, trigger, event_key, reason, depth, at in rows
        ], ignore_conflicts=True)
        return
    # One INSERT of one JSON document (serialised in C): far less to build than 50 rows of 9 values
    # or one array per column.
    document = json.dumps([{"r": rule_id, "c": conversation_id, "t": trigger, "k": event_key, "x": reason, "d": depth,
                            "a": at.isoformat()} for rule_id, conversation_id, trigger, event_key, reason, depth, at in rows])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RuleRun._meta.db_table} (rule_id, conversation_id, trigger, event_key, status, reason, "
            "actions, depth, created_at) SELECT r.r, r.c, r.t, r.k, %s, r.x, '[]'::jsonb, r.d, r.a "
            "FROM jsonb_to_recordset(%s::jsonb) AS r(r bigint, c bigint, t text, k text, x text, d smallint, "
            "a timestamptz) ON CONFLICT DO NOTHING",
            [RuleRun.Status.SKIPPED, document],
        )


def rules_run(
    *, conversation_id: int, trigger: str, event_key: str, message: Message | None = None,
    order_id: int | None = None, rules: list[Rule] | None = None, now: datetime | None = None,
    conversation: Conversation | None = None,
) -> list[RuleRun]:
    """Run the active rules of `trigger` for this event on this conversation; the runs of those that
    acted (every run, acting or not, is logged as a RuleRun).
    `now`: the event's moment (a time-based trigger's tick), for conditions and quiet hours.
    `conversation`: the caller's object of the row, current in this transaction (facts need no query)."""
    rules = rules_for(trigger) if rules is None else rules
    if not rules:
        return []
    chain = _chain.get()
    root = chain is None
    if chain is None:
        chain = Chain()
    else:
        chain.depth += 1
    token = _chain.set(chain)
    try:
        return _run(rules, chain=chain, conversation_id=conversation_id, trigger=trigger, event_key=event_key,
                    message=message, order_id=order_id, now=now or timezone.now(),
                    conversation=conversation if root else None)
    finally:
        _chain.reset(token)
        if not root:
            chain.depth -= 1


def _run(rules: list[Rule], *, chain: Chain, conversation_id: int, trigger: str, event_key: str,
         message: Message | None, order_id: int | None, now: datetime,
         conversation: Conversation | None = None) -> list[RuleRun]:
    """The runs of the rules that acted (those that did nothing are logged, not returned)."""
    event_key = event_key[:120]
    runs: list[RuleRun] = []
    skipped: list[tuple[int, str]] = []

    def done() -> None:
        _log_skipped(skipped, conversation_id=conversation_id, trigger=trigger, event_key=event_key, depth=chain.depth)

    if chain.depth > MAX_DEPTH:
        skipped = [(r.pk, f"not run: {MAX_DEPTH} rules deep in one chain of events (rules setting each other off)")
                   for r in rules]
        done()
        return []
    facts = Facts(conversation_id, at=now, message=message, order_id=order_id,
                  fields={c["field"] for rule in rules for c in rule.conditions}, conversation=conversation)
    for rule in rules:
        if (rule.pk, conversation_id) in chain.ran:
            skipped.append((rule.pk, "not run again: this rule already acted in this chain of events "
                                     "(its own action set it off)"))
            continue
        try:
            failing = first_failing(rule.conditions, facts, checks=getattr(rule, "checks", None))
        except Exception as exc:  # a condition that cannot be read now (e.g. a deleted inbox)
            logger.warning("rule %s: condition unreadable: %s", rule.pk, exc)
            skipped.append((rule.pk, f"a condition could not be read: {exc}"[:500]))
            continue
        if failing is not None:
            skipped.append((rule.pk, f"condition not met: {describe(failing)}"[:500]))
            continue
        run = RuleRun(rule=rule, conversation_id=conversation_id, trigger=trigger, event_key=event_key,
                      status=RuleRun.Status.DONE, depth=chain.depth)
        acted = _act(rule, run, chain=chain, conversation_id=conversation_id, trigger=trigger, now=now)
        if acted is not None:
            runs.append(acted)
            facts.reload()
    done()
    return runs


def _act(rule: Rule, run: RuleRun, *, chain: Chain, conversation_id: int, trigger: str, now: datetime) -> RuleRun | None:
    try:
        with transaction.atomic():  # the claim: once per (rule, conversation, event)
            run.save()
    except IntegrityError:
        return None  # this event was already handled for this rule
    chain.ran.add((rule.pk, conversation_id))
    ctx = Context(conversation_id=conversation_id, rule_id=rule.pk, rule_name=rule.name, trigger=trigger, now=now,
                  claims=chain.claims)
    done: list[dict[str, Any]] = []
    claims_before = dict(chain.claims)
    try:
        with transaction.atomic():  # all of the rule's actions, or none of them
            for index, action in enumerate(rule.actions):
                try:
                    done.append({"type": action["type"], "done": True, "description": perform(action, ctx)})
                except ActionSkipped as skipped:
                    done.append({"type": action["type"], "done": False, "description": str(skipped)})
                except Exception as exc:
                    raise _Failed(index, action["type"], exc) from exc
    except _Failed as failed:
        chain.claims.clear()
        chain.claims.update(claims_before)
        run.status = RuleRun.Status.FAILED
        run.reason = f"action {failed.index + 1} ({failed.kind}) failed: {failed.error}; nothing of this rule was kept"[:500]
        run.actions = [{**d, "rolled_back": True} for d in done] + [
            {"type": failed.kind, "done": False, "description": str(failed.error)[:300]}]
        logger.info("rule %s on conversation %s failed: %s", rule.pk, conversation_id, failed.error)
    else:
        run.actions = done
        if not any(d["done"] for d in done):
            run.reason = "no action could be taken"
    RuleRun.objects.filter(pk=run.pk).update(status=run.status, reason=run.reason, actions=run.actions)
    return run


class _Failed(Exception):
    def __init__(self, index: int, kind: str, error: Exception):
        super().__init__(str(error))
        self.index, self.kind, self.error = index, kind, error


# --- Events -----------------------------------------------------------------------------------------------


def _trigger_of(event: str, data: dict[str, Any]) -> tuple[str, str] | None:
    """(trigger, event key) of an inbox.signals.conversation_changed event, or None."""
    if event == "message.received":
        return "message_received", ""
    if event == "conversation.created":
        return "conversation_created", "created"
    if event == "conversation.assigned":
        return "assigned", f"assigned:{data.get('event') or ''}:{data.get('to')}"
    if event == "conversation.status":
        before, after = data.get("from"), data.get("to")
        key = f"status:{data.get('event') or ''}:{after}"
        if after == ConversationStatus.RESOLVED and before != ConversationStatus.RESOLVED:
            return "resolved", key
        if before == ConversationStatus.RESOLVED and after != ConversationStatus.RESOLVED:
            return "reopened", key
        return None
    if event in ("sla.warning", "sla.breach"):
        return ("sla_warning" if event == "sla.warning" else "sla_breach"), f"{event}:{data.get('clock')}"
    return None


def sync_caller(conversation: Conversation) -> None:
    """The caller's object (its frame is built from it at commit) gets what the rules changed."""
    row = Conversation.objects.filter(pk=conversation.pk).values(*SYNCED_FIELDS).first()
    for name, value in (row or {}).items():
        if getattr(conversation, name, None) != value:
            setattr(conversation, name, value)


def on_conversation_changed(sender: Any, conversation: Conversation, event: str, message: Message | None = None,
                            data: dict | None = None, **kwargs: Any) -> None:
    found = _trigger_of(event, data or {})
    if found is None:
        return
    trigger, key = found
    if trigger == "message_received":
        key = f"message:{message.pk if message is not None else ''}"
    # In a batch of events (their skipped runs logged together) no savepoint is taken: reading the
    # facts changes nothing, an acting rule takes its own savepoints (_act), and any failure here
    # fails the whole batch, whose events are then processed one by one (here with the savepoint,
    # so rules never undo the event that set them off).
    batched = _pending.get() is not None and _chain.get() is None
    try:
        rules = rules_for(trigger)
        if not rules:
            return
        if batched:
            runs = rules_run(conversation_id=conversation.pk, trigger=trigger, event_key=key, message=message,
                             rules=rules, conversation=conversation)
        else:
            with transaction.atomic():  # a savepoint: rules never undo the event that set them off
                runs = rules_run(conversation_id=conversation.pk, trigger=trigger, event_key=key, message=message,
                                 rules=rules, conversation=conversation)
        if any(r.status == RuleRun.Status.DONE and any(a.get("done") for a in r.actions) for r in runs):
            sync_caller(conversation)
    except Exception:
        if batched:
            raise  # the batch is redone one by one, where this failure is contained
        logger.exception("rules for %s on conversation %s failed", event, conversation.pk)


ORDER_TRIGGERS = {"order.created": "order_created", "order.shipped": "order_fulfilled", "order.refunded": "order_refunded"}


def on_customer_event(sender: Any, event: Any, **kwargs: Any) -> None:
    """Order events (after their commit): the rules run on the customer's latest conversation, open
    ones first; a customer with no conversation has none to act on."""
    trigger = ORDER_TRIGGERS.get(event.name)
    if trigger is None:
        return
    try:
        rules = rules_for(trigger)
        if not rules:
            return
        conversation_id = (
            Conversation.objects.filter(customer_id=event.customer_id)
            .order_by("-last_message_at", "-id")
            .exclude(status=ConversationStatus.RESOLVED).values_list("pk", flat=True).first()
            or Conversation.objects.filter(customer_id=event.customer_id).order_by("-last_message_at", "-id")
            .values_list("pk", flat=True).first()
        )
        if conversation_id is None:
            return
        order_id = (event.properties or {}).get("order_id")
        with transaction.atomic():
            Conversation.objects.select_for_update(of=("self",)).filter(pk=conversation_id).first()
            rules_run(conversation_id=conversation_id, trigger=trigger, event_key=f"customer_event:{event.pk}",
                      order_id=order_id if isinstance(order_id, int) else None, rules=rules)
    except Exception:
        logger.exception("rules for customer event %s failed", getattr(event, "pk", None))
