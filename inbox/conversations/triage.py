"""Writes on a conversation's triage state: status, snooze, team, assignee, labels, read state.

Each change is one transaction that records a ConversationEvent (the timeline shows who did
what) and publishes one `conversation.updated` frame after commit, also to the groups that
could see the conversation before the change so a moved thread leaves their lists.
"""

from __future__ import annotations

import enum
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.services import labels_for
from inbox import signals
from inbox.csat.schedule import survey_schedule
from inbox.models import Conversation, ConversationEvent, ConversationRead, ConversationStatus, Team
from inbox.realtime import publish as realtime
from inbox.team.assignment import check_may_route, conversation_assign, conversation_resolved


class _Unset(enum.Enum):
    """The default of an argument left out (None is a value there: no team, not snoozed)."""

    UNSET = "unset"


UNSET = _Unset.UNSET


def _pk(obj) -> int | None:
    return obj.pk if obj is not None else None


def conversation_update(
    *,
    conversation: Conversation,
    by,
    status: str | _Unset = UNSET,
    snoozed_until: datetime | None | _Unset = UNSET,
    assignee=UNSET,
    team: Team | None | _Unset = UNSET,
    labels: list[str] | _Unset = UNSET,
) -> Conversation:
    """Apply the given changes (leave a field out to keep it); ValidationError on bad values.

    `snoozed` needs `snoozed_until` in the future; leaving `snoozed` clears it. `labels` replaces
    the conversation's labels with these names, creating unknown ones.
    """
    now = timezone.now()
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous_groups = realtime.conversation_groups(conv)
        fields: set[str] = set()
        events: list[ConversationEvent] = []

        if assignee is not UNSET and _pk(assignee) != conv.assignee_id:
            # Who may assign whom (and its own history entry and frame) is the assignment module's rule.
            conversation_assign(conversation=conv, assignee=assignee, by=by)
            conv.refresh_from_db()

        if status is not UNSET or snoozed_until is not UNSET:
            new_status = conv.status if status is UNSET else status
            if new_status not in ConversationStatus.values:
                raise ValidationError(_("Unknown status %(status)r.") % {"status": new_status})
            until = conv.snoozed_until if snoozed_until is UNSET else snoozed_until
            if new_status == ConversationStatus.SNOOZED:
                if until is None or until <= now:
                    raise ValidationError(_("Snoozing needs snoozed_until in the future."))
            elif snoozed_until not in (UNSET, None):
                raise ValidationError(_("snoozed_until is only for status snoozed."))
            else:
                until = None
            if new_status != conv.status:
                events.append(
                    ConversationEvent(
                        conversation=conv,
                        kind=ConversationEvent.Kind.STATUS,
                        actor=by,
                        data={"from": conv.status, "to": new_status, "snoozed_until": until.isoformat() if until else None},
                    )
                )
                conv.resolved_at = now if new_status == ConversationStatus.RESOLVED else None
                fields |= {"status", "resolved_at"}
            conv.status = new_status
            if until != conv.snoozed_until:
                conv.snoozed_until = until
                fields.add("snoozed_until")

        if team is not UNSET and _pk(team) != conv.team_id:
            check_may_route(by=by, conversation=conv, team=team)
            events.append(
                ConversationEvent(
                    conversation=conv,
                    kind=ConversationEvent.Kind.TEAM,
                    actor=by,
                    data={"from": conv.team_id, "to": _pk(team)},
                )
            )
            conv.team = team
            fields.add("team")

        if fields:
            conv.save(update_fields=sorted(fields))

        if labels is not UNSET:
            wanted = labels_for(labels)
            current = {label.name for label in conv.labels.all()}
            names = {label.name for label in wanted}
            if names != current:
                conv.labels.set(wanted)
                events.append(
                    ConversationEvent(
                        conversation=conv,
                        kind=ConversationEvent.Kind.LABELS,
                        actor=by,
                        data={"added": sorted(names - current), "removed": sorted(current - names)},
                    )
                )

        ConversationEvent.objects.bulk_create(events)
        if fields or events:
            realtime.conversation_changed(conv, "conversation.updated", previous_groups=previous_groups)
        if "status" in fields and conv.status == ConversationStatus.RESOLVED:
            # Before the resolve unassigns it: the survey rates the agent who had it.
            survey_schedule(conversation=conv, now=now)
            conv = conversation_resolved(conversation=conv, by=by)
        # SLA clocks and automation rules, in this transaction (inbox.signals.conversation_changed).
        for event in events:
            if event.kind in _ANNOUNCED:
                signals.conversation_changed_send(conv, _ANNOUNCED[event.kind], by=by, data=event.data)
    return conv


_ANNOUNCED: dict[str, str] = {
    ConversationEvent.Kind.STATUS: "conversation.status",
    ConversationEvent.Kind.TEAM: "conversation.team",
    ConversationEvent.Kind.LABELS: "conversation.labels",
}


def conversation_mark_read(*, conversation: Conversation, by) -> Conversation:
    """The agent has seen it (the inbox's read-receipt moment): no unread messages left, for everyone."""
    conversation_opened(conversation=conversation, by=by)
    return _unread_set(conversation=conversation, unread=False)


def conversation_mark_unread(*, conversation: Conversation, by) -> Conversation:
    """Flag it for later: at least one unread message (a count already above stays), unread for `by` too."""
    if by is not None:
        ConversationRead.objects.filter(conversation=conversation, user_id=by.pk).delete()
    return _unread_set(conversation=conversation, unread=True)


def conversation_opened(*, conversation: Conversation, by) -> datetime:
    """`by` opened the thread: read for them (their own unread state), whatever the customer is told.

    Touches only `by`'s ConversationRead row, so no frame goes out: nobody else's list changes.
    """
    now = timezone.now()
    ConversationRead.objects.update_or_create(conversation=conversation, user_id=by.pk, defaults={"read_at": now})
    return now


def _unread_set(*, conversation: Conversation, unread: bool) -> Conversation:
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        target = max(conv.unread_count, 1) if unread else 0
        if target != conv.unread_count:
            conv.unread_count = target
            conv.save(update_fields=["unread_count"])
            realtime.conversation_changed(conv, "conversation.updated")
    return conv

