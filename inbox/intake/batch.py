"""Stored events processed in batches: the customer messages of a task's events in one transaction,
each lookup done once for all of them; everything else one event at a time (store.event_process).

Processing one Messenger message cost ~18 statements and ~20 ms of CPU, most of it the ORM building
the same few queries for every event: the event's lock and its processed mark, the inbox, "is this
message held already", the identity, the thread and its lock, the thread's latest message, its
satisfaction survey, the labels of its frame. Here a batch asks each of those once (`Known` in
conversations/receive.py carries the answers), and `message_receive` still does everything else for
each message, in the order the events were stored, so a message has the same effects (rows, SLA
clocks, rules, frames, signals) as when it is processed alone. The frames of a batch leave together
at commit (realtime.publish.batched).

Order per conversation is kept: an event is batched only with the other events of the same
conversation ("thread key": the person and the inbox's provider id) when all of them are plain
customer messages; a thread with anything else in the batch (an echo, a delivery or read receipt,
a reaction, an SMS STOP/START, an email) has all its events processed one by one, in order, after
the batch commits. Any failure of the batch (a message id stored meanwhile by another worker, a
deadlock) rolls the whole batch back and processes its events one by one, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from customers.services import identities_resolve
from inbox import versions
from inbox.conversations.receive import Known, message_receive
from inbox.conversations.threads import conversation_find_or_create
from inbox.csat import answers as csat_answers
from inbox.intake import store
from inbox.models import META_CHANNELS, Conversation, InboundEvent, Inbox, Message
from inbox.providers import meta as meta_provider
from inbox.providers import twilio as twilio_provider
from inbox.providers.base import InboundMessage
from inbox.realtime import publish as realtime
from inbox.rules import engine as rules_engine

logger = logging.getLogger(__name__)

def events_process(event_ids: list[int]) -> None:
    """Process these stored events exactly once each: the batchable ones together, the rest one by one."""
    ids = list(dict.fromkeys(event_ids))
    size = max(1, settings.INBOUND_BATCH_SIZE)
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        rest = chunk
        if len(chunk) > 1 and settings.INBOUND_BATCH:
            try:
                rest = _batch_process(chunk)
            except Exception as exc:  # rolled back whole: each event on its own, as if never batched
                logger.warning("batch of %d inbound events failed (%s: %s); processing them one by one",
                               len(chunk), type(exc).__name__, str(exc)[:200])
                rest = chunk
        for event_id in rest:
            store.event_process(event_id)


# --- What can be batched --------------------------------------------------------------------------


class _Inboxes:
    """The inboxes of a batch's events, each read once."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], Inbox | None] = {}

    def get(self, kind: str, external_id: str) -> Inbox | None:
        key = (kind, external_id)
        if key not in self.found:
            self.found[key] = Inbox.objects.select_related("team").filter(kind=kind, external_id=external_id).first()
        return self.found[key]


Parsed = tuple[Hashable | None, Inbox | None, InboundMessage | None]


def _meta(event: InboundEvent, inboxes: _Inboxes) -> Parsed:
    payload = event.payload
    entry_id = str(payload.get("entry_id", ""))
    item = payload.get("item") or {}
    if event.kind == "comment" or not isinstance(item, dict):
        return None, None, None  # comment threads are their own conversations: one by one, unordered with DMs
    sender = str((item.get("sender") or {}).get("id", ""))
    recipient = str((item.get("recipient") or {}).get("id", ""))
    key = ("meta", payload.get("object"), entry_id, recipient if sender == entry_id else sender)
    kind = meta_provider.inbox_kind_of(payload)
    if event.kind not in ("message", "postback") or kind is None:
        return key, None, None
    inbox = inboxes.get(kind, entry_id)
    if inbox is None:
        return key, None, None
    incoming = meta_provider.inbound_message(event.kind, inbox_kind=inbox.kind, inbox_external_id=inbox.external_id,
                                             payload=payload)
    return key, inbox, None if incoming.is_echo else incoming


def _twilio(event: InboundEvent, inboxes: _Inboxes) -> Parsed:
    p = event.payload
    key = ("twilio", frozenset((str(p.get("To", "")), str(p.get("From", "")))))
    if event.kind != "sms":
        return key, None, None
    inbox = inboxes.get("sms", p["To"])
    if inbox is None:
        return key, None, None
    incoming = twilio_provider.inbound_message(p, inbox_external_id=inbox.external_id)
    keyword = incoming.payload.get("keyword", "")
    if keyword in twilio_provider.OPT_OUT_KEYWORDS or keyword in twilio_provider.OPT_IN_KEYWORDS:
        return key, inbox, None  # consent changes: the handler's own path
    return key, inbox, incoming


PARSERS = {"meta": _meta, "twilio": _twilio}


# --- The batch ------------------------------------------------------------------------------------


def _batch_process(ids: list[int]) -> list[int]:
    """Process the batchable events of `ids` in one transaction; returns the ids left to process one by one."""
    rest: list[int] = []
    # One transaction; frames leave together at commit; the rules' and policies' versions are checked
    # once (inbox/versions.py) and the runs of rules that did nothing are one INSERT for the batch.
    with transaction.atomic(), realtime.batched(), versions.checked_once(), rules_engine.runs_logged_together():
        events = list(InboundEvent.objects.select_for_update(skip_locked=True)
                      .filter(pk__in=ids, processed_at=None).order_by("pk"))
        inboxes = _Inboxes()
        threads: dict[Hashable, list[tuple[InboundEvent, Inbox, InboundMessage]]] = {}
        one_by_one: set[Hashable] = set()
        for event in events:
            parse = PARSERS.get(event.provider)
            try:
                key, inbox, incoming = parse(event, inboxes) if parse else (None, None, None)
            except Exception:  # malformed: the event's own processing records why
                key, inbox, incoming = None, None, None
            if incoming is None or inbox is None or key is None:
                rest.append(event.pk)
                if key is not None:
                    one_by_one.add(key)
                continue
            threads.setdefault(key, []).append((event, inbox, incoming))
        for key in one_by_one & threads.keys():
            rest += [event.pk for event, _, _ in threads.pop(key)]
        batched = sorted((item for items in threads.values() for item in items), key=lambda item: item[0].pk)
        if batched:
            by_inbox: dict[int, list[tuple[InboundEvent, Inbox, InboundMessage]]] = {}
            for item in batched:
                by_inbox.setdefault(item[1].pk, []).append(item)
            for inbox_id in sorted(by_inbox):  # rows are locked in one order by every batch: inbox, then id
                items = by_inbox[inbox_id]
                _messages_receive(items[0][1], [incoming for _, _, incoming in items])
            InboundEvent.objects.filter(pk__in=[event.pk for event, _, _ in batched]).update(
                processed_at=timezone.now(), attempts=F("attempts") + 1, error="")
    return sorted(rest)


def _messages_receive(inbox: Inbox, incomings: list[InboundMessage]) -> None:
    """message_receive for each of these customer messages of one inbox, in order, with what every
    one of them would ask read once for all (see Known)."""
    held = set(Message.objects.filter(inbox=inbox, external_id__in=[i.external_id for i in incomings])
               .values_list("external_id", flat=True))
    todo = [i for i in incomings if i.external_id not in held]
    if not todo:
        return
    scope = inbox.external_id if inbox.kind in META_CHANNELS else ""
    people = list(dict.fromkeys((i.customer_external_id, i.customer_name) for i in todo))
    resolved = identities_resolve(channel=inbox.kind, scope=scope, people=people)
    identities = {r.identity.pk: r.identity for r in resolved.values()}
    # The threads, locked in id order (two batches never wait for each other in a circle).
    threads: dict[int, Conversation] = {}
    for conversation in (Conversation.objects.select_for_update().filter(inbox=inbox, identity_id__in=list(identities),
                                                                         thread_key="").order_by("pk")):
        conversation.inbox = inbox
        customer = identities[conversation.identity_id].customer
        if customer.pk == conversation.customer_id:
            conversation.customer = customer
        threads[conversation.identity_id] = conversation
    latest: dict[int, Any] = dict(
        Message.objects.filter(conversation_id__in=[c.pk for c in threads.values()], is_private=False)
        .values("conversation_id").annotate(at=Max("created_at")).values_list("conversation_id", "at")
    ) if threads else {}
    surveys = csat_answers.survey_candidates([(threads[resolved[i.customer_external_id].identity.pk], i) for i in todo
                                              if resolved[i.customer_external_id].identity.pk in threads])
    # Threads whose latest message is known here (read above, or made in this batch).
    read = {c.pk for c in threads.values()}
    made: set[int] = set()
    # New people's threads are made before any message, in identity order: two batches making threads
    # for the same new people then wait for each other in one order, never in a circle.
    first_of: dict[int, InboundMessage] = {}
    for incoming in todo:
        first_of.setdefault(resolved[incoming.customer_external_id].identity.pk, incoming)
    created_now: set[int] = set()
    for identity_pk in sorted(set(first_of) - set(threads)):
        person = resolved[first_of[identity_pk].customer_external_id]
        conversation, created = conversation_find_or_create(inbox=inbox, identity=person.identity,
                                                            subject=first_of[identity_pk].subject)
        if created:
            read.add(conversation.pk)
            made.add(conversation.pk)
            created_now.add(conversation.pk)
        else:  # made by another worker since the lock above: locked now, its history unknown here
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
            conversation.inbox = inbox
            if person.identity.customer_id == conversation.customer_id:
                conversation.customer = person.identity.customer
        threads[identity_pk] = conversation
    for incoming in todo:
        if incoming.external_id in held:
            continue  # twice in this batch: the second is a redelivery, as message_receive would find
        held.add(incoming.external_id)
        person = resolved[incoming.customer_external_id]
        conversation = threads[person.identity.pk]
        created = conversation.pk in created_now  # its first message: "conversation.created" goes with it
        created_now.discard(conversation.pk)
        known = Known(identity=person, conversation=conversation, conversation_created=created,
                      survey_possible=conversation.pk in surveys or conversation.pk not in read)
        if conversation.pk in made:
            known.survey_possible = False  # no survey was ever sent on a thread made in this batch
        at = latest.get(conversation.pk)
        if conversation.pk in read and (at is None or incoming.timestamp >= at):
            known.previous_known, known.previous = True, at
        message = message_receive(inbox=inbox, incoming=incoming, known=known)
        if message is not None and not message.is_private and (at is None or message.created_at > at):
            latest[conversation.pk] = message.created_at
