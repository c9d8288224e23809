"""Macros: who sees and changes which, and applying one to a conversation (preview, then all or nothing).

- A personal macro (`owner`) is its owner's alone: only they see, use, change and delete it.
- A team's macro (`team`) is seen and used by the team's members; its leads and managers (and
  admins, for any team) create, change and delete it.
- Applying checks every action first (inbox/macros/actions.py): one the user may not take refuses
  the whole macro before anything runs, with that action's `{code, detail}`. Then every action runs
  in one transaction — if any fails, nothing of the macro is left — and the conversation's timeline
  gets one entry for the macro (its steps' own entries are folded into it), the macro one more use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from inbox.audit import audit_record
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.window import HUMAN_AGENT
from inbox.macros.actions import Plan, actions_clean, plan_steps, steps_run
from inbox.macros.context import order_for, template_context
from inbox.models import Conversation, ConversationEvent, Macro, Message, Role, SenderType, Team
from inbox.realtime import publish as realtime
from inbox.team.access import (
    agent_of,
    conversations_visible_to,
    is_admin,
    role_of,
    team_ids_of,
    team_ids_remembered,
)

MAX_BULK = 100
# The steps' own timeline entries that the macro's entry stands for. An order action keeps its
# own entry: Shopify's answer lands on it later.
FOLDED_KINDS = (
    ConversationEvent.Kind.ASSIGNED, ConversationEvent.Kind.STATUS, ConversationEvent.Kind.TEAM,
    ConversationEvent.Kind.LABELS,
)
EDITING_ROLES = (Role.LEAD, Role.MANAGER, Role.ADMIN)


class MacroRefused(ReplyRefused):
    """The macro may not run: `action` is the index of the action that refused (None: the macro itself)."""

    def __init__(self, code: str, detail: str, status: int, action: int | None = None):
        super().__init__(code, detail, status)
        self.action = action


# --- Who sees and changes what -------------------------------------------------------------------------


def macros_visible_to(user) -> QuerySet[Macro]:
    """Your personal macros and your teams' macros (admins: every team's); never another's personal ones."""
    if role_of(user) is None:
        return Macro.objects.none()
    shared = Q(team__isnull=False) if is_admin(user) else Q(team__in=team_ids_of(user))
    return Macro.objects.filter(Q(owner=user) | shared)


def macro_may_edit(*, user, macro: Macro) -> bool:
    if macro.owner_id is not None:
        return macro.owner_id == user.pk
    if is_admin(user):
        return True
    return role_of(user) in EDITING_ROLES and macro.team_id in team_ids_of(user)


def macros_may_create(*, user) -> bool:
    """Whether `user` has macros at all (an agent profile, or an admin)."""
    return agent_of(user) is not None or is_admin(user)


def _check_team(*, user, team: Team | None) -> None:
    if not macros_may_create(user=user):
        raise MacroRefused("forbidden", "Only agents have macros.", 403)
    if team is None or is_admin(user):
        return
    if role_of(user) not in EDITING_ROLES or team.pk not in team_ids_of(user):
        raise MacroRefused("forbidden", "Only the team's leads and managers share macros with it.", 403)


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100 or "\x00" in name:
        raise ValidationError("name: 1 to 100 characters.")
    return name.strip()


def macro_create(*, user, name: str, actions: list, team: Team | None = None) -> Macro:
    """A personal macro (no `team`), or one shared with `team` (its leads and managers, admins)."""
    _check_team(user=user, team=team)
    return Macro.objects.create(
        name=_name(name), team=team, owner=None if team is not None else user, actions=actions_clean(actions),
        created_by=user,
    )


def macro_update(*, user, macro: Macro, **changes: Any) -> Macro:
    """Change `name` and/or `actions` (a personal macro's owner, or the team's leads and managers)."""
    if not macro_may_edit(user=user, macro=macro):
        raise MacroRefused("forbidden", "You may use this macro but not change it.", 403)
    with transaction.atomic():
        macro = Macro.objects.select_for_update().get(pk=macro.pk)
        if "name" in changes:
            macro.name = _name(changes["name"])
        if "actions" in changes:
            macro.actions = actions_clean(changes["actions"])
        macro.save()
    return macro


def macro_delete(*, user, macro: Macro) -> None:
    if not macro_may_edit(user=user, macro=macro):
        raise MacroRefused("forbidden", "You may use this macro but not delete it.", 403)
    macro.delete()


# --- Applying ---------------------------------------------------------------------------------------


@dataclass
class Applied:
    macro: Macro
    conversation: Conversation
    steps: list[dict[str, Any]]
    event: ConversationEvent | None = None
    message: Message | None = None
    note: Message | None = None
    order_actions: list = field(default_factory=list)


def _plan(*, macro: Macro, user, conversation: Conversation, order_id: int | None, tag: str | None,
          sender_type: str = SenderType.AGENT) -> Plan:
    if tag not in (None, "", HUMAN_AGENT):
        raise MacroRefused("invalid_tag", f"Unknown message tag {tag!r}; only HUMAN_AGENT is allowed.", 400)
    try:
        order = order_for(conversation=conversation, order_id=order_id)
    except Http404:
        raise MacroRefused("invalid", "order: not one of this customer's orders.", 400) from None
    plan = Plan(
        conversation=conversation, user=user, order=order, now=timezone.now(), tag=tag or None,
        context=template_context(conversation=conversation, user=user, order=order), sender_type=sender_type,
    )
    return plan_steps(plan, macro.actions)


def macro_get(*, user, pk: Any) -> Macro:
    """The macro `pk` if `user` may use it; Http404 otherwise (ids of others' macros don't leak)."""
    try:
        return macros_visible_to(user).get(pk=int(pk))
    except (Macro.DoesNotExist, TypeError, ValueError):
        raise Http404 from None


def conversation_for_macro(*, user, pk: Any) -> Conversation:
    """The conversation `pk` if `user` may see it, Http404 otherwise: its row alone, since applying
    locks and reads it again with what the steps need (the list's labels and read state are not)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    conversation = conversations_visible_to(user).filter(pk=pk).first() if 0 < pk < 2**63 else None
    if conversation is None:
        raise Http404
    return conversation


def macro_preview(*, macro: Macro, user, conversation: Conversation, order_id: int | None = None,
                  tag: str | None = None) -> dict[str, Any]:
    """What applying would do now: the rendered reply and note, each action in words and whether it
    may run (with the reason when not). Writes nothing."""
    plan = _plan(macro=macro, user=user, conversation=conversation, order_id=order_id, tag=tag)
    return {
        "macro": macro.pk,
        "conversation": conversation.pk,
        "order": plan.order.pk if plan.order else None,
        "reply": None if plan.reply_text is None else {
            "text": plan.reply_text, "channel": conversation.channel, "tag": plan.tag or "",
            "attachments": [{"name": f["name"], "content_type": f["content_type"], "size": f["size"]} for f in plan.files],
        },
        "note": plan.note_text,
        "actions": [step.as_dict() for step in plan.steps],
        "allowed": plan.refused is None,
    }


def _raise_refused(plan: Plan) -> None:
    step = plan.refused
    if step is not None and step.refusal is not None:  # a refused step is one with a refusal
        raise MacroRefused(step.refusal.code, f"Action {step.index + 1} ({step.type}): {step.refusal.detail}",
                           step.refusal.status, action=step.index)


def macro_apply(*, macro: Macro, user, conversation: Conversation, order_id: int | None = None,
                tag: str | None = None, sender_type: str = SenderType.AGENT) -> Applied:
    """Run every action of the macro on the conversation, in one transaction; MacroRefused (nothing
    done) when an action may not be taken, and nothing left behind if one fails while running.

    `user` None with `sender_type` bot: an automation rule applies it (inbox/rules/), as the system.

    The steps' frames leave together at commit, one `conversation.updated` with the state the macro
    left (realtime.batched); the user's teams are read once for all the steps' permission checks."""
    with transaction.atomic(), realtime.batched(), team_ids_remembered():
        locked = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("inbox", "customer", "identity", "team")
            # The timeline's last entry before the macro (read with the lock): the steps' own
            # entries after it are folded into the macro's.
            .annotate(last_event_id=Subquery(
                ConversationEvent.objects.filter(conversation=OuterRef("pk")).order_by("-pk").values("pk")[:1]
            ))
            .get(pk=conversation.pk)
        )
        # Every action checked on the row as it is now, under its lock, before any of them runs.
        plan = _plan(macro=macro, user=user, conversation=locked, order_id=order_id, tag=tag, sender_type=sender_type)
        _raise_refused(plan)
        before = locked.last_event_id
        steps_run(plan)
        descriptions = [step.description for step in plan.steps]
        message, note = plan.results.get("message"), plan.results.get("note")
        event = ConversationEvent.objects.create(
            conversation=locked, kind=ConversationEvent.Kind.MACRO, actor=user,
            data={"macro": macro.pk, "name": macro.name, "steps": descriptions,
                  "message": message.pk if message else None, "note": note.pk if note else None},
        )
        ConversationEvent.objects.filter(
            conversation=locked, pk__gt=before or 0, pk__lt=event.pk, kind__in=FOLDED_KINDS, part_of__isnull=True
        ).update(part_of=event)
        Macro.objects.filter(pk=macro.pk).update(usage_count=F("usage_count") + 1, last_used_at=timezone.now())
        audit_record(actor=user, action="macro.apply", target=locked, data={"macro": macro.pk, "name": macro.name})
    return Applied(
        macro=macro, conversation=locked, steps=[step.as_dict() for step in plan.steps], event=event,
        message=message, note=note, order_actions=plan.results.get("order_actions", []),
    )


@dataclass(frozen=True)
class BulkOutcome:
    id: int
    ok: bool
    code: str = ""
    detail: str = ""
    action: int | None = None


def macro_apply_many(*, macro: Macro, user, conversation_ids: Iterable[int], tag: str | None = None) -> list[BulkOutcome]:
    """The bulk bar's macro: applied to each conversation in its own transaction (each all or
    nothing); one that is not visible or refused is reported and the others still happen."""
    ids = list(dict.fromkeys(conversation_ids))
    if len(ids) > MAX_BULK:
        raise MacroRefused("invalid", f"At most {MAX_BULK} conversations at once.", 400)
    outcomes = []
    with team_ids_remembered():
        for pk in ids:
            outcomes.append(_apply_one(macro=macro, user=user, pk=pk, tag=tag))
    return outcomes


def _apply_one(*, macro: Macro, user, pk: int, tag: str | None) -> BulkOutcome:
    try:
        conversation = conversation_for_macro(user=user, pk=pk)
        macro_apply(macro=macro, user=user, conversation=conversation, tag=tag)
    except Http404:
        return BulkOutcome(pk, False, "not_found", "No such conversation, or not visible to you.")
    except MacroRefused as exc:
        return BulkOutcome(pk, False, exc.code, exc.detail, exc.action)
    except ReplyRefused as exc:
        return BulkOutcome(pk, False, exc.code, exc.detail)
    except ValidationError as exc:
        return BulkOutcome(pk, False, "invalid", "; ".join(exc.messages))
    return BulkOutcome(pk, True)
