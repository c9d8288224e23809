"""Bulk actions on conversations picked in the list: assign, move to a team, label, snooze, resolve.

Each conversation is changed in its own transaction, through the same service (and so the same
rules, history entries and frames) as a change made on one conversation: one that fails (not
visible, not allowed, a conflict) is reported with its `{code, detail}` and the others still happen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from inbox.conversations import selectors
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.triage import conversation_update
from inbox.macros.services import macro_apply
from inbox.models import Conversation, ConversationStatus, Macro, Team

ACTIONS = ("assign", "move_team", "label", "snooze", "resolve", "macro")
MAX_IDS = 100


@dataclass(frozen=True)
class BulkOutcome:
    id: int
    ok: bool
    code: str = ""
    detail: str = ""


def conversations_bulk_apply(
    *,
    user,
    ids: Iterable[int],
    action: str,
    assignee=None,
    team: Team | None = None,
    labels: list[str] | None = None,
    snoozed_until: datetime | None = None,
    macro: Macro | None = None,
) -> list[BulkOutcome]:
    """Apply `action` to each conversation of `ids` (in order, repeats once) that `user` may see.

    assign: `assignee` (a user, or None to unassign); move_team: `team` (or None); label: add
    `labels` to each conversation's own; snooze: until `snoozed_until`; resolve; macro: run `macro`
    (on each conversation all or nothing, as POST /api/v1/macros/{id}/apply/ does).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown bulk action {action!r}")
    outcomes = []
    for pk in dict.fromkeys(ids):
        try:
            with transaction.atomic():
                conversation = selectors.conversation_get(user=user, pk=pk)
                _apply(conversation, user=user, action=action, assignee=assignee, team=team, labels=labels,
                       snoozed_until=snoozed_until, macro=macro)
        except Http404:
            outcomes.append(BulkOutcome(pk, False, "not_found", "No such conversation, or not visible to you."))
        except ReplyRefused as exc:  # AssignmentRefused too: not allowed, already assigned, not in the team
            outcomes.append(BulkOutcome(pk, False, exc.code, exc.detail))
        except ValidationError as exc:
            outcomes.append(BulkOutcome(pk, False, "invalid", "; ".join(exc.messages)))
        else:
            outcomes.append(BulkOutcome(pk, True))
    return outcomes


def _apply(conversation: Conversation, *, user, action: str, assignee, team, labels, snoozed_until, macro=None) -> None:
    if action == "assign":
        conversation_update(conversation=conversation, by=user, assignee=assignee)
    elif action == "move_team":
        conversation_update(conversation=conversation, by=user, team=team)
    elif action == "label":
        # Read the labels under the row lock, so a concurrent change is added to, not overwritten.
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        current = list(conversation.labels.values_list("name", flat=True))
        wanted = current + [name for name in labels or [] if name not in current]
        conversation_update(conversation=conversation, by=user, labels=wanted)
    elif action == "snooze":
        conversation_update(conversation=conversation, by=user, status=ConversationStatus.SNOOZED, snoozed_until=snoozed_until)
    elif action == "resolve":
        conversation_update(conversation=conversation, by=user, status=ConversationStatus.RESOLVED)
    elif action == "macro":
        macro_apply(macro=macro, user=user, conversation=conversation)
