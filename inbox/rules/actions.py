"""What rules do, through the same services as an agent's clicks, as the system (no user).

Each action returns what it did in words, or raises:
- ActionSkipped: this action did not happen and the rule goes on (an automated send the channel's
  rules refuse — window, consent, quiet hours, the cap on automated replies; a change another rule
  already made in this chain of events);
- anything else: the rule failed; the engine rolls back everything the rule did and logs why.

Automated replies are `bot` messages sent with reply_send, so the 24 h window (bots never use the
HUMAN_AGENT tag), consent and length rules bind them, and they never count as responses (neither in
the responsiveness metrics nor in SLA clocks). On SMS, a reply a rule sends other than in answer to
the customer's message (time-based, order and SLA triggers) waits for 08:00-21:00 in the customer's
time zone: outside those quiet hours it is skipped. At most RULE_REPLY_CAP bot messages go to one
conversation per 24 h.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from inbox.conversations import templating
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import note_add, reply_send
from inbox.conversations.triage import conversation_update
from inbox.macros.context import order_for, template_context
from inbox.macros.services import MacroRefused, macro_apply
from inbox.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Macro,
    Message,
    Notification,
    SenderType,
    SlaPolicy,
    Team,
)
from inbox.realtime import publish as realtime
from inbox.sla.clocks import sla_policy_apply
from inbox.sla.policies import lead_user_ids
from inbox.team.assignment import conversation_auto_assign
from inbox.team.business_hours import Schedule

SMS_QUIET = (time(8, 0), time(21, 0))
# Triggers that answer what the customer just wrote: quiet hours don't hold a reply to a text.
ANSWERING = frozenset({"message_received", "conversation_created"})


class ActionSkipped(Exception):
    """The action did not happen, for a reason the log shows; the rule's other actions stand."""


@dataclass
class Context:
    conversation_id: int
    rule_id: int
    rule_name: str
    trigger: str
    now: datetime
    # (conversation id, what) -> the rule that changed it in this chain of events
    claims: dict[tuple[int, str], str] = field(default_factory=dict)

    def claim(self, what: str) -> None:
        """First rule wins: a later rule in the same chain of events does not undo an earlier one's change."""
        holder = self.claims.get((self.conversation_id, what))
        if holder is not None and holder != self.rule_name:
            raise ActionSkipped(f"the {what} was already set by the rule {holder!r} in this chain of events")
        self.claims[(self.conversation_id, what)] = self.rule_name


def _conversation(ctx: Context) -> Conversation:
    return Conversation.objects.select_related("inbox", "customer", "identity").get(pk=ctx.conversation_id)


def _assign(action: dict, ctx: Context) -> str:
    ctx.claim("assignee")
    conversation = _conversation(ctx)
    if action["to"] == "nobody":
        conversation_update(conversation=conversation, by=None, assignee=None)
        return "Unassigned"
    if action["to"] == "round_robin":
        if conversation.assignee_id is not None:
            conversation_update(conversation=conversation, by=None, assignee=None)
        assignee = conversation_auto_assign(conversation=conversation)
        return f"Gave it to {assignee.get_username()} (round-robin)" if assignee else "Queued for the round-robin (nobody free)"
    user = get_user_model().objects.filter(pk=action["agent"], is_active=True, agent__isnull=False).first()
    if user is None:
        raise ValueError(f"agent {action['agent']} is no longer an active agent")
    conversation_update(conversation=conversation, by=None, assignee=user)
    return f"Assigned to {user.get_username()}"


def _move_team(action: dict, ctx: Context) -> str:
    ctx.claim("team")
    team = Team.objects.filter(pk=action["team"]).first()
    if team is None:
        raise ValueError(f"team {action['team']} no longer exists")
    conversation_update(conversation=_conversation(ctx), by=None, team=team)
    return f"Moved to the team {team.name}"


def _label(action: dict, ctx: Context) -> str:
    for name in action["add"] + action["remove"]:
        ctx.claim(f"label {name!r}")
    conversation = _conversation(ctx)
    current = list(conversation.labels.values_list("name", flat=True))
    wanted = [n for n in current if n not in action["remove"]] + [n for n in action["add"] if n not in current]
    conversation_update(conversation=conversation, by=None, labels=wanted)
    parts = ([f"added {', '.join(action['add'])}"] if action["add"] else []) + (
        [f"removed {', '.join(action['remove'])}"] if action["remove"] else [])
    return "Labels: " + "; ".join(parts)


def _set_priority(action: dict, ctx: Context) -> str:
    ctx.claim("priority")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).select_related("inbox", "customer").get(
            pk=ctx.conversation_id)
        if conversation.priority != action["priority"]:
            ConversationEvent.objects.create(conversation=conversation, kind=ConversationEvent.Kind.PRIORITY,
                                             data={"from": conversation.priority, "to": action["priority"]})
            conversation.priority = action["priority"]
            conversation.save(update_fields=["priority"])
            realtime.conversation_changed(conversation, "conversation.updated")
    return f"Priority {action['priority']}"


def _apply_macro(action: dict, ctx: Context) -> str:
    macro = Macro.objects.filter(pk=action["macro"]).first()
    if macro is None:
        raise ValueError(f"macro {action['macro']} no longer exists")
    for step in macro.actions or []:
        if step.get("type") == "assign":
            ctx.claim("assignee" if step.get("to") != "team" else "team")
        elif step.get("type") == "status":
            ctx.claim("status")
    try:
        applied = macro_apply(macro=macro, user=None, conversation=_conversation(ctx), sender_type=SenderType.BOT)
    except MacroRefused as exc:
        raise ActionSkipped(f"the macro {macro.name!r} refused: {exc.detail} ({exc.code})") from None
    return f"Applied the macro {macro.name!r}: " + "; ".join(step["description"] for step in applied.steps)


def _quiet_now(conversation: Conversation, now: datetime) -> bool:
    """SMS quiet hours (08:00-21:00) in the customer's zone, else the inbox's, else UTC."""
    zone = conversation.customer.timezone or ((conversation.inbox.settings or {}).get("business_hours") or {}).get("timezone")
    try:
        tz = ZoneInfo(zone) if zone else Schedule.from_settings(None).tz
    except Exception:
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz).time()
    return not (SMS_QUIET[0] <= local < SMS_QUIET[1])


def _render(text: str, conversation: Conversation) -> str:
    order = order_for(conversation=conversation, order_id=None)
    try:
        return templating.render(text, template_context(conversation=conversation, user=None, order=order)).strip()
    except templating.TemplateRefused as exc:
        raise ValueError(f"the text's template: {exc}") from None


def _reply(action: dict, ctx: Context) -> str:
    ctx.claim("reply")
    conversation = _conversation(ctx)
    if conversation.channel == "sms" and ctx.trigger not in ANSWERING and _quiet_now(conversation, ctx.now):
        raise ActionSkipped("not sent: SMS quiet hours (08:00-21:00 in the customer's time zone)")
    cap = int(getattr(settings, "RULE_REPLY_CAP", 3))
    recent = Message.objects.filter(conversation_id=conversation.pk, sender_type=SenderType.BOT, is_private=False,
                                    created_at__gte=ctx.now - timedelta(hours=24)).count()
    if recent >= cap:
        raise ActionSkipped(f"not sent: {recent} automated messages in the last 24 h (the cap is {cap})")
    text = _render(action["text"], conversation)
    try:
        message = reply_send(conversation=conversation, author=None, text=text, sender_type=SenderType.BOT)
    except ReplyRefused as exc:
        raise ActionSkipped(f"not sent: {exc.detail} ({exc.code})") from None
    return f"Replied (message {message.pk})"


def _note(action: dict, ctx: Context) -> str:
    conversation = _conversation(ctx)
    note = note_add(conversation=conversation, author=None, text=_render(action["text"], conversation),
                    sender_type=SenderType.BOT)
    return f"Added a note (message {note.pk})"


def _status(ctx: Context, status: str, *, until: datetime | None = None) -> None:
    ctx.claim("status")
    changes: dict[str, Any] = {"status": status}
    if until is not None:
        changes["snoozed_until"] = until
    conversation_update(conversation=_conversation(ctx), by=None, **changes)


def _snooze(action: dict, ctx: Context) -> str:
    until = ctx.now + timedelta(minutes=action["minutes"])
    _status(ctx, ConversationStatus.SNOOZED, until=until)
    return f"Snoozed until {until:%Y-%m-%d %H:%M} UTC"


def _resolve(action: dict, ctx: Context) -> str:
    _status(ctx, ConversationStatus.RESOLVED)
    return "Resolved"


def _reopen(action: dict, ctx: Context) -> str:
    _status(ctx, ConversationStatus.OPEN)
    return "Reopened"


def _apply_sla_policy(action: dict, ctx: Context) -> str:
    ctx.claim("sla_policy")
    policy = None
    if action["policy"] is not None:
        policy = SlaPolicy.objects.filter(pk=action["policy"]).first()
        if policy is None:
            raise ValueError(f"SLA policy {action['policy']} no longer exists")
    sla_policy_apply(conversation=_conversation(ctx), policy=policy)
    return f"Applied the SLA policy {policy.name!r}" if policy else "SLA policy: back to the matching one"


def _notify(action: dict, ctx: Context) -> str:
    conversation = _conversation(ctx)
    users = list(action["users"])
    if action["assignee"] and conversation.assignee_id:
        users.append(conversation.assignee_id)
    if action["team_leads"]:
        users += lead_user_ids(conversation.team_id or conversation.inbox.team_id)
    active = set(get_user_model().objects.filter(pk__in=users, is_active=True).values_list("pk", flat=True))
    users = [u for u in dict.fromkeys(users) if u in active]
    text = _render(action["text"], conversation)
    for user_id in users:
        notification = Notification.objects.create(
            user_id=user_id, kind=Notification.Kind.RULE, conversation=conversation,
            data={"text": text, "rule": ctx.rule_id, "rule_name": ctx.rule_name},
        )
        realtime.publish([f"user-{user_id}"], {
            "type": "notification", "kind": Notification.Kind.RULE, "notification": notification.pk,
            "conversation": conversation.pk, "message": None, "by": None, "text": text, "rule": ctx.rule_id,
        })
    return f"Notified {len(users)} {'person' if len(users) == 1 else 'people'}"


PERFORM = {
    "assign": _assign, "move_team": _move_team, "label": _label, "set_priority": _set_priority,
    "apply_macro": _apply_macro, "reply": _reply, "note": _note, "snooze": _snooze, "resolve": _resolve,
    "reopen": _reopen, "apply_sla_policy": _apply_sla_policy, "notify": _notify,
}


def perform(action: dict[str, Any], ctx: Context) -> str:
    return PERFORM[action["type"]](action, ctx)
