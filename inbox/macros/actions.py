"""A macro's actions: each is cleaned when the macro is saved, then, when it is applied, checked and
described against the conversation as it is (the preview, and the preflight that refuses before
anything runs), then run through the same services as the agent's own clicks.

    {"type": "reply", "text": "Hi {{ customer.first_name }}, order #{{ order.number }} is {{ order.status }}."}
    {"type": "note", "text": "Sent the tracking link."}
    {"type": "labels", "add": ["shipping"], "remove": ["new"]}
    {"type": "assign", "to": "me" | "agent" | "team" | "round_robin" | "nobody", "agent": <user id>, "team": <team id>}
    {"type": "status", "status": "open" | "pending" | "snoozed" | "resolved", "snooze_minutes": 120}
    {"type": "attach", "file": "<token from POST /api/v1/macros/files/>"}
    {"type": "order_action", "kind": "refund" | "cancel" | ..., "params": {...}}   (inbox/orders/actions.py)

The reply goes out under every rule of the channel (reply_send: the window, HUMAN_AGENT, length,
consent); files join the reply (or go alone when the macro has no reply).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from customers.models import Order
from customers.selectors import is_opted_out
from inbox.conversations import templating
from inbox.conversations.attachments import max_bytes, type_allowed
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.files import public_url
from inbox.conversations.reply import note_add, reply_send
from inbox.conversations.triage import conversation_update
from inbox.conversations.window import length_check, reply_policy
from inbox.macros.context import sample_context
from inbox.macros.files import macro_file_read
from inbox.models import Conversation, ConversationStatus, OrderActionKind, SenderType, Team
from inbox.orders import actions as orders
from inbox.orders.errors import OrderActionRefused
from inbox.team.assignment import check_may_assign, conversation_auto_assign, conversation_team

ACTION_TYPES = ("reply", "note", "labels", "assign", "status", "attach", "order_action")
MAX_ACTIONS = 20
MAX_TEXT = 10_000
MAX_LABELS = 20
ASSIGN_TO = ("me", "agent", "team", "round_robin", "nobody")
STATUSES = tuple(ConversationStatus.values)
MAX_SNOOZE_MINUTES = 90 * 24 * 60
QUOTE_CHARS = 80


def _invalid(name: str, detail: str) -> ValidationError:
    return ValidationError(f"{name}: {detail}")


# --- Cleaning (when a macro is saved) ------------------------------------------------------------------


def _keys(action: dict, name: str, allowed: set[str]) -> None:
    unknown = set(action) - allowed - {"type"}
    if unknown:
        raise _invalid(name, f"unknown keys {', '.join(sorted(unknown))}")


def _template(action: dict, name: str) -> dict:
    _keys(action, name, {"text"})
    text = action.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _invalid(name, "text is required")
    if len(text) > MAX_TEXT or "\x00" in text:
        raise _invalid(name, f"text is at most {MAX_TEXT} characters, without NUL")
    try:
        templating.render(text, sample_context())
    except templating.TemplateRefused as exc:
        raise _invalid(name, str(exc)) from None
    return {"type": action["type"], "text": text}


def _names(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_LABELS:
        raise _invalid(name, f"a list of at most {MAX_LABELS} label names")
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > 64:
            raise _invalid(name, "a label is 1 to 64 characters")
        if item.strip() not in out:
            out.append(item.strip())
    return out


def _labels(action: dict, name: str) -> dict:
    _keys(action, name, {"add", "remove"})
    add, remove = _names(action.get("add"), f"{name}.add"), _names(action.get("remove"), f"{name}.remove")
    if not add and not remove:
        raise _invalid(name, "add or remove at least one label")
    return {"type": "labels", "add": add, "remove": [n for n in remove if n not in add]}


def _assign(action: dict, name: str) -> dict:
    _keys(action, name, {"to", "agent", "team"})
    to = action.get("to")
    if to not in ASSIGN_TO:
        raise _invalid(name, f"to is one of {', '.join(ASSIGN_TO)}")
    out: dict[str, Any] = {"type": "assign", "to": to}
    if to == "agent":
        agent = action.get("agent")
        if isinstance(agent, bool) or not isinstance(agent, int) or not get_user_model().objects.filter(
            pk=agent, is_active=True, agent__isnull=False
        ).exists():
            raise _invalid(name, "agent must be the id of an active agent")
        out["agent"] = agent
    if to == "team":
        team = action.get("team")
        if isinstance(team, bool) or not isinstance(team, int) or not Team.objects.filter(pk=team).exists():
            raise _invalid(name, "team must be the id of a team")
        out["team"] = team
    return out


def _status(action: dict, name: str) -> dict:
    _keys(action, name, {"status", "snooze_minutes"})
    status = action.get("status")
    if status not in STATUSES:
        raise _invalid(name, f"status is one of {', '.join(STATUSES)}")
    out: dict[str, Any] = {"type": "status", "status": status}
    if status == ConversationStatus.SNOOZED:
        minutes = action.get("snooze_minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SNOOZE_MINUTES:
            raise _invalid(name, f"snooze_minutes is a whole number from 1 to {MAX_SNOOZE_MINUTES}")
        out["snooze_minutes"] = minutes
    elif "snooze_minutes" in action:
        raise _invalid(name, "snooze_minutes is only for status snoozed")
    return out


def _attach(action: dict, name: str) -> dict:
    _keys(action, name, {"file", "name", "content_type", "size"})
    description = macro_file_read(action.get("file"))
    return {"type": "attach", "file": action["file"], **{k: description[k] for k in ("name", "content_type", "size")}}


def _order_action(action: dict, name: str) -> dict:
    _keys(action, name, {"kind", "params"})
    kinds = OrderActionKind.values
    if action.get("kind") not in kinds:
        raise _invalid(name, f"kind is one of {', '.join(kinds)}")
    params = action.get("params", {})
    if not isinstance(params, dict) or len(str(params)) > 2000:
        raise _invalid(name, "params is an object (the order action's fields)")
    return {"type": "order_action", "kind": action["kind"], "params": params}


CLEANERS: dict[str, Callable[[dict, str], dict]] = {
    "reply": _template, "note": _template, "labels": _labels, "assign": _assign, "status": _status,
    "attach": _attach, "order_action": _order_action,
}


def actions_clean(actions: Any) -> list[dict]:
    """The actions as stored, or ValidationError naming the first bad one (`actions[2]: …`)."""
    if not isinstance(actions, list) or not actions:
        raise ValidationError("actions: a macro needs a list of at least one action.")
    if len(actions) > MAX_ACTIONS:
        raise ValidationError(f"actions: at most {MAX_ACTIONS}.")
    cleaned = []
    for index, action in enumerate(actions):
        name = f"actions[{index}]"
        if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
            raise _invalid(name, f"an object whose type is one of {', '.join(ACTION_TYPES)}")
        cleaned.append(CLEANERS[action["type"]](action, name))
    if sum(1 for a in cleaned if a["type"] == "reply") > 1:
        raise ValidationError("actions: a macro sends at most one reply (attach files to it instead).")
    return cleaned


# --- Planning (when a macro is applied) -------------------------------------------------------------


@dataclass
class Refusal:
    code: str
    detail: str
    status: int


@dataclass
class Step:
    """One action as it would run now: what it does in words, whether it may, and how to run it."""

    index: int
    type: str
    description: str
    refusal: Refusal | None = None
    run: Callable[[], Any] | None = None
    # A triage step's change as conversation_update's arguments (`run` makes it alone).
    changes: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "type": self.type, "description": self.description,
                               "allowed": self.refusal is None}
        if self.refusal is not None:
            out.update(code=self.refusal.code, detail=self.refusal.detail)
        return out


@dataclass
class Plan:
    conversation: Conversation
    user: Any
    context: dict[str, Any]
    order: Order | None
    now: datetime
    tag: str | None = None
    # Who the reply is from: an agent's own macro (`agent`), or `bot` when an automation rule applies it.
    sender_type: str = SenderType.AGENT
    steps: list[Step] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    reply_text: str | None = None
    note_text: str | None = None
    # What running made (filled in by the steps' runs).
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def refused(self) -> Step | None:
        return next((s for s in self.steps if s.refusal is not None), None)


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return f"“{flat[:QUOTE_CHARS]}…”" if len(flat) > QUOTE_CHARS else f"“{flat}”"


def _refused(exc: ReplyRefused) -> Refusal:
    return Refusal(exc.code, exc.detail, exc.status)


def _render(text: str, plan: Plan) -> str:
    return templating.render(text, plan.context).strip()


def _plan_reply(action: dict, plan: Plan, index: int) -> Step:
    conversation = plan.conversation
    channel = conversation.get_channel_display()
    try:
        text = _render(action["text"], plan)
    except templating.TemplateRefused as exc:
        return Step(index, "reply", "Reply", Refusal("invalid_template", str(exc), 400))
    plan.reply_text = text
    step = Step(index, "reply", f"Reply on {channel}: {_quote(text)}" + (" (HUMAN_AGENT tag)" if plan.tag else ""))
    try:
        if conversation.is_comment_thread:
            raise ReplyRefused("unsupported", "Macros don't reply in comment threads; answer from the composer.", 409)
        if not text and not plan.files:
            raise ReplyRefused("empty", "The reply's text is empty for this conversation.", 400)
        length_check(channel=conversation.channel, text=text, display=channel)
        reply_policy(conversation=conversation, tag=plan.tag, sender_type=plan.sender_type, now=plan.now)
        if is_opted_out(customer=conversation.customer, channel=conversation.channel):
            raise ReplyRefused("opted_out", "The customer withdrew consent on this channel.", 409)
    except ReplyRefused as exc:
        step.refusal = _refused(exc)
        return step

    def run() -> None:
        plan.results["message"] = reply_send(
            conversation=conversation, author=plan.user, text=text, tag=plan.tag, attachments=list(plan.files) or None,
            sender_type=plan.sender_type,
        )

    step.run = run
    return step


def _plan_note(action: dict, plan: Plan, index: int) -> Step:
    try:
        text = _render(action["text"], plan)
    except templating.TemplateRefused as exc:
        return Step(index, "note", "Private note", Refusal("invalid_template", str(exc), 400))
    plan.note_text = text
    step = Step(index, "note", f"Add a private note: {_quote(text)}")
    if not text:
        step.refusal = Refusal("empty", "The note's text is empty for this conversation.", 400)
        return step

    def run() -> None:
        plan.results["note"] = note_add(conversation=plan.conversation, author=plan.user, text=text)

    step.run = run
    return step


def _plan_labels(action: dict, plan: Plan, index: int) -> Step:
    add, remove = action.get("add") or [], action.get("remove") or []
    parts = []
    if add:
        parts.append("add " + ", ".join(add))
    if remove:
        parts.append("remove " + ", ".join(remove))
    step = Step(index, "labels", "Labels: " + "; ".join(parts))

    def run() -> None:
        current = list(plan.conversation.labels.values_list("name", flat=True))
        wanted = [n for n in current if n not in remove] + [n for n in add if n not in current]
        conversation_update(conversation=plan.conversation, by=plan.user, labels=wanted)

    step.run = run
    return step


def _person(user) -> str:
    return user.get_full_name() or user.get_username()


def _plan_assign(action: dict, plan: Plan, index: int) -> Step:
    conversation, user, to = plan.conversation, plan.user, action["to"]
    try:
        if to == "team":
            team = Team.objects.filter(pk=action["team"]).first()
            if team is None:
                raise ReplyRefused("invalid", "The macro's team no longer exists.", 400)
            step = Step(index, "assign", f"Move to the team {team.name}", changes={"team": team})
            step.run = lambda: conversation_update(conversation=conversation, by=user, team=team)
            return step
        if to == "round_robin":
            step = Step(index, "assign", "Give to the next agent in the round-robin (it waits in the queue if nobody is free)")
            check_may_assign(by=user, conversation=conversation, assignee=None)
            if conversation_team(conversation) is None:
                raise ReplyRefused("no_team", "This conversation has no team whose agents could take turns.", 409)

            def round_robin() -> None:
                if conversation.assignee_id is not None:
                    conversation_update(conversation=conversation, by=user, assignee=None)
                conversation_auto_assign(conversation=conversation)

            step.run = round_robin
            return step
        if to == "nobody":
            assignee, step = None, Step(index, "assign", "Unassign")
        else:
            assignee = user if to == "me" else get_user_model().objects.filter(pk=action["agent"], is_active=True).first()
            if assignee is None:
                raise ReplyRefused("invalid_assignee", "The macro's agent is no longer active.", 400)
            step = Step(index, "assign", "Assign to me" if to == "me" else f"Assign to {_person(assignee)}")
        check_may_assign(by=user, conversation=conversation, assignee=assignee)
    except ReplyRefused as exc:  # AssignmentRefused too
        return Step(index, "assign", f"Assign ({to.replace('_', ' ')})", _refused(exc))
    step.run = lambda: conversation_update(conversation=conversation, by=user, assignee=assignee)
    step.changes = {"assignee": assignee}
    return step


def _plan_status(action: dict, plan: Plan, index: int) -> Step:
    status = action["status"]
    if status == ConversationStatus.SNOOZED:
        until = plan.now + timedelta(minutes=action["snooze_minutes"])
        hours, minutes = divmod(action["snooze_minutes"], 60)
        length = f"{hours} h {minutes} min" if hours and minutes else (f"{hours} h" if hours else f"{minutes} min")
        step = Step(index, "status", f"Snooze for {length} (until {until:%Y-%m-%d %H:%M} UTC)")
        step.run = lambda: conversation_update(
            conversation=plan.conversation, by=plan.user, status=status, snoozed_until=until
        )
        step.changes = {"status": status, "snoozed_until": until}
        return step
    words = {"open": "Reopen", "pending": "Set pending", "resolved": "Resolve"}
    step = Step(index, "status", words[status], changes={"status": status})
    step.run = lambda: conversation_update(conversation=plan.conversation, by=plan.user, status=status)
    return step


def _plan_attach(action: dict, plan: Plan, index: int, *, with_reply: bool, first: bool) -> Step:
    conversation = plan.conversation
    description = macro_file_read(action["file"])
    channel = conversation.get_channel_display()
    step = Step(index, "attach", f"Attach {description['name']} to the reply" if with_reply
                else f"Send {description['name']} on {channel}")
    try:
        if not type_allowed(description["content_type"]):
            raise ReplyRefused("type_not_allowed", f"{description['content_type']} files cannot be sent.", 400)
        if description["size"] > max_bytes(conversation.channel):
            raise ReplyRefused("too_large", f"{description['name']} is larger than {channel} allows.", 413)
        if not default_storage.exists(description["stored"]):
            raise ReplyRefused("attachment_missing", f"{description['name']} is no longer stored.", 409)
        if not with_reply:
            # The files go as a message of their own: the reply's rules hold for it.
            if conversation.is_comment_thread:
                raise ReplyRefused("unsupported", "Macros don't reply in comment threads.", 409)
            reply_policy(conversation=conversation, tag=plan.tag, sender_type=plan.sender_type, now=plan.now)
            if is_opted_out(customer=conversation.customer, channel=conversation.channel):
                raise ReplyRefused("opted_out", "The customer withdrew consent on this channel.", 409)
    except ReplyRefused as exc:
        step.refusal = _refused(exc)
        return step
    plan.files.append({**description, "url": public_url(description)})

    def run() -> None:
        if first and not with_reply:  # every file of the macro, in one message
            plan.results["message"] = reply_send(
                conversation=conversation, author=plan.user, text="", tag=plan.tag, attachments=list(plan.files),
                sender_type=plan.sender_type,
            )

    step.run = run
    return step


def _plan_order_action(action: dict, plan: Plan, index: int) -> Step:
    """Through the order actions' one door (inbox/orders/actions.py): its preview is the description."""
    kind = action["kind"]
    if kind != OrderActionKind.DISCOUNT_CODE and plan.order is None:
        return Step(index, "order_action", kind.replace("_", " "),
                    Refusal("no_order", "The customer has no order to act on.", 409))
    arguments = {"kind": kind, "actor": plan.user, "order": plan.order, "customer": plan.conversation.customer,
                 "params": action["params"]}
    try:
        preview = orders.order_action(**arguments, preview=True)
    except OrderActionRefused as exc:
        return Step(index, "order_action", kind.replace("_", " "), Refusal(exc.code, exc.detail, exc.status))
    step = Step(index, "order_action", preview.plan.summary)

    def run() -> None:
        # Inside the macro's transaction: the order action's row is part of it, its task queued on commit.
        try:
            outcome = orders.order_action(**arguments, conversation=plan.conversation, confirmation=preview.plan.confirmation)
        except OrderActionRefused as exc:
            raise ReplyRefused(exc.code, exc.detail, exc.status) from exc
        plan.results.setdefault("order_actions", []).append(outcome.action)

    step.run = run
    return step


def steps_run(plan: Plan) -> None:
    """Run the planned steps in order. An assignment followed at once by a status or team change runs
    as one conversation_update (one lock, one savepoint): that call assigns first, announces it and
    re-reads the row, then makes the other change, so it is the same as the two calls in a row.
    (Labels never join: a rule answering the assignment may add one the step must keep.)"""
    steps = [step for step in plan.steps if step.run is not None]
    index = 0
    while index < len(steps):
        step, following = steps[index], steps[index + 1] if index + 1 < len(steps) else None
        if (step.changes is not None and "assignee" in step.changes and following is not None
                and following.changes is not None and not following.changes.keys() & {"assignee", "labels"}):
            conversation_update(conversation=plan.conversation, by=plan.user, **step.changes, **following.changes)
            index += 2
            continue
        step.run()  # type: ignore[misc]  # filtered on run above
        index += 1


def plan_steps(plan: Plan, actions: list[dict]) -> Plan:
    """Check and describe every action against the conversation as it is now (nothing is written)."""
    with_reply = any(a["type"] == "reply" for a in actions)
    # Files first: the reply carries them, wherever the attach actions stand in the list.
    attach_steps = {}
    first = True
    for index, action in enumerate(actions):
        if action["type"] == "attach":
            attach_steps[index] = _plan_attach(action, plan, index, with_reply=with_reply, first=first)
            first = False
    planners = {"reply": _plan_reply, "note": _plan_note, "labels": _plan_labels, "assign": _plan_assign,
                "status": _plan_status, "order_action": _plan_order_action}
    for index, action in enumerate(actions):
        if action["type"] == "attach":
            plan.steps.append(attach_steps[index])
        else:
            plan.steps.append(planners[action["type"]](action, plan, index))
    return plan
