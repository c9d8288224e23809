"""Events processed in a batch (inbox/intake/batch.py) end exactly as when processed one by one.

Two identical Messenger pages get the same webhook traffic: new people, threads written to within
24 h and after a silence, a message older than its thread's latest one, a survey answered, an echo
and a delivery receipt among a person's messages (those threads are processed one by one), a
message already held. One page's events are processed one at a time (store.event_process, as
before batching), the other's in one batch; the rows, responsiveness records, rollups, surveys and
frames must be the same, with far fewer statements.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.services import identity_resolve
from inbox.conversations.receive import message_receive
from inbox.intake import batch, store
from inbox.intake.store import events_store
from inbox.models import (
    Conversation,
    ConversationStatus,
    CsatResponse,
    CsatStatus,
    DailyRollup,
    Inbox,
    Message,
    ResponseRecord,
    RuleRun,
    SlaClock,
    SlaPolicy,
)
from inbox.providers.base import InboundMessage, RawEvent
from inbox.realtime import publish as realtime
from inbox.rules.services import rule_create

from ..conftest import PAGE_ID

pytestmark = pytest.mark.django_db

OTHER_PAGE = "104857600000002"


@pytest.fixture
def pages(messenger_inbox, team_a):
    twin = Inbox.objects.create(kind="messenger", name="Twin Page", external_id=OTHER_PAGE, team=team_a,
                                credentials={"page_access_token": "EAAB-test-twin-token"})
    return messenger_inbox, twin


@pytest.fixture
def frames(monkeypatch):
    """Every frame sent, one by one or in a batch's single delivery."""
    sent: list[dict] = []
    monkeypatch.setattr(realtime, "_send_many", lambda items: sent.extend(frame for _, frame in items))
    monkeypatch.setattr(realtime, "_send", lambda groups, frame: sent.append(frame))
    return sent


@pytest.fixture
def stored_only(monkeypatch):
    """Webhook events are stored but not processed until the test says how."""
    monkeypatch.setattr("inbox.intake.store._enqueue_processing", lambda ids: None)


def _ms(at) -> int:
    return int(at.timestamp() * 1000)


def _item(page: str, psid: str, *, mid: str | None = None, at, text: str = "", echo: bool = False,
          delivery: bool = False) -> tuple[str, RawEvent]:
    sender, recipient = (page, psid) if echo else (psid, page)
    item: dict = {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": _ms(at)}
    if delivery:
        item["delivery"] = {"watermark": _ms(at), "mids": []}
        return "delivery", RawEvent(kind="delivery", dedupe_key=f"delivery:{recipient}:{sender}:{_ms(at)}",
                                    payload={"object": "page", "entry_id": page, "item": item})
    item["message"] = {"mid": f"{mid}-{page}", "text": text, **({"is_echo": True} if echo else {})}
    kind = "echo" if echo else "message"
    return kind, RawEvent(kind=kind, dedupe_key=f"{mid}-{page}", payload={"object": "page", "entry_id": page, "item": item})


def _history(inbox: Inbox, psid: str, *, at, status: str = ConversationStatus.OPEN, text: str = "earlier") -> Conversation:
    """A thread with one customer message at `at`, stored the ordinary way."""
    incoming = InboundMessage(channel="messenger", inbox_external_id=inbox.external_id, customer_external_id=psid,
                              external_id=f"old-{psid}-{inbox.external_id}", timestamp=at, text=text)
    message = message_receive(inbox=inbox, incoming=incoming)
    Conversation.objects.filter(pk=message.conversation_id).update(status=status)
    return Conversation.objects.get(pk=message.conversation_id)


def _scenario(inbox: Inbox, now) -> list[int]:
    """The same history and traffic on either page; returns the stored events' ids in order."""
    page = inbox.external_id
    _history(inbox, "p-silent", at=now - timedelta(days=2), status=ConversationStatus.RESOLVED)
    _history(inbox, "p-recent", at=now - timedelta(hours=1))
    _history(inbox, "p-late", at=now - timedelta(minutes=5))
    surveyed = _history(inbox, "p-survey", at=now - timedelta(days=1), status=ConversationStatus.RESOLVED)
    CsatResponse.objects.create(conversation=surveyed, inbox=inbox, customer=surveyed.customer, channel="messenger",
                                status=CsatStatus.SENT, due_at=now - timedelta(hours=2), sent_at=now - timedelta(hours=2))
    identity_resolve(channel="messenger", scope=page, external_id="p-known-no-thread")
    held = InboundMessage(channel="messenger", inbox_external_id=page, customer_external_id="p-recent",
                          external_id=f"m-held-{page}", timestamp=now - timedelta(minutes=30), text="held already")
    message_receive(inbox=inbox, incoming=held)
    events = [
        _item(page, "p-silent", mid="m1", at=now, text="back again"),
        _item(page, "p-new", mid="m2", at=now + timedelta(seconds=1), text="hi, first time"),
        _item(page, "p-recent", mid="m3", at=now + timedelta(seconds=2), text="any news?"),
        _item(page, "p-silent", mid="m4", at=now + timedelta(seconds=3), text="hello??"),
        _item(page, "p-late", mid="m5", at=now - timedelta(minutes=10), text="written before the thread's latest"),
        _item(page, "p-survey", mid="m6", at=now + timedelta(seconds=4), text="5"),
        _item(page, "p-echoed", mid="m7", at=now + timedelta(seconds=5), text="question"),
        _item(page, "p-echoed", mid="m8", at=now + timedelta(seconds=6), text="answered from Meta's inbox", echo=True),
        _item(page, "p-echoed", mid="m9", at=now + timedelta(seconds=7), text="thanks"),
        _item(page, "p-new", mid="m10", at=now + timedelta(seconds=8), text="still there?"),
        _item(page, "p-known-no-thread", mid="m11", at=now + timedelta(seconds=9), text="first message"),
        _item(page, "p-receipt", mid="m12", at=now + timedelta(seconds=10), text="delivered?"),
        _item(page, "p-receipt", at=now + timedelta(seconds=11), delivery=True),
        _item(page, "p-recent", mid="m3", at=now + timedelta(seconds=2), text="any news?"),  # a redelivery
        _item(page, "p-recent", mid="m-held", at=now - timedelta(minutes=30), text="held already"),
    ]
    ids = []
    for _, raw in events:
        ids += events_store(provider="meta", events=[raw])
    return ids


def _state(inbox: Inbox) -> dict:
    """What processing left, by person, without ids or the page's own id."""
    page = inbox.external_id

    def clean(value):
        return json.loads(json.dumps(value, default=str).replace(f"-{page}", "").replace(page, "PAGE"))

    out: dict = {}
    for conversation in Conversation.objects.filter(inbox=inbox).select_related("identity").order_by("identity__external_id"):
        messages = list(Message.objects.filter(conversation=conversation).order_by("created_at", "id").values(
            "text", "direction", "sender_type", "status", "created_at", "payload", "is_private", "external_id"))
        for message in messages:  # the survey a rating answered is another row on each page
            if "csat" in (message["payload"] or {}):
                message["payload"]["csat"].pop("survey")
        records = list(ResponseRecord.objects.filter(conversation=conversation).order_by("received_at").values(
            "received_at", "counts_from", "responded_at", "channel"))
        surveys = list(CsatResponse.objects.filter(conversation=conversation).values("status", "rating", "comment"))
        # The rules' run log (event keys hold message ids: left out) and the SLA clocks.
        runs = sorted((RuleRun.objects.filter(conversation=conversation).values(
            "rule__name", "trigger", "status", "reason", "actions", "depth")), key=lambda run: json.dumps(run, sort_keys=True))
        clocks = list(SlaClock.objects.filter(conversation=conversation).order_by("target", "started_at").values(
            "target", "started_at", "due_at", "met_at", "stopped_at", "warning_sent", "breach_sent"))
        row = {f: getattr(conversation, f) for f in (
            "status", "unread_count", "waiting_since", "last_message_at", "last_inbound_at", "last_customer_action_at",
            "window_expires_at", "last_message_text", "last_message_direction", "snoozed_until", "priority")}
        row["sla_state"] = conversation.sla_state
        out[conversation.identity.external_id] = clean({"row": row, "messages": messages, "records": records,
                                                        "surveys": surveys, "runs": runs, "clocks": clocks})
    out["rollups"] = clean(list(DailyRollup.objects.filter(inbox=inbox).order_by("day").values("day", "counted", "answered")))
    return out


def _frames(sent: list[dict], inbox: Inbox) -> dict:
    """Per person: the texts of the messages announced, in order, and the conversation as last announced."""
    people = dict(Conversation.objects.filter(inbox=inbox).values_list("pk", "identity__external_id"))
    out: dict = {}
    for frame in sent:
        if frame["type"] == "message.created":
            person = people.get(frame["conversation"])
            out.setdefault(person, {"messages": [], "conversation": None})["messages"].append(frame["message"]["text"])
        elif frame["type"] == "conversation.updated":
            data = frame["conversation"]
            person = people.get(data["id"])
            keep = {k: data[k] for k in ("status", "unread_count", "waiting_since", "last_message_at", "labels", "window",
                                         "last_message")}
            out.setdefault(person, {"messages": [], "conversation": None})["conversation"] = keep
    return out


def test_a_batch_of_events_ends_as_processing_them_one_by_one(
        commit, frames, stored_only, pages, settings):
    settings.INBOUND_BATCH_SIZE = 50
    one_page, batch_page = pages
    now = timezone.now().replace(microsecond=0)
    # An SLA policy and a rule of the customer's text act on both pages, beside the default rules.
    SlaPolicy.objects.create(name="Standard", first_response_seconds=900, next_response_seconds=1800,
                             resolution_seconds=86400)
    rule_create(data={"name": "Where is it", "trigger": "message_received", "actions": [
        {"type": "set_priority", "priority": "high"}], "conditions": [
        {"field": "text", "op": "contains_word", "value": ["news", "there"]}]}, by=None)
    alone_ids = _scenario(one_page, now)
    batch_ids = _scenario(batch_page, now)
    frames.clear()

    # Both pages processed at the same moment (a reopened thread's clocks start when it reopens).
    with time_machine.travel(now + timedelta(minutes=1), tick=False), CaptureQueriesContext(connection) as alone:
        for event_id in alone_ids:
            store.event_process(event_id)
    alone_frames = _frames(frames, one_page)
    frames.clear()
    with time_machine.travel(now + timedelta(minutes=1), tick=False), CaptureQueriesContext(connection) as together:
        batch.events_process(batch_ids)
    batch_frames = _frames(frames, batch_page)

    batched_state, alone_state = _state(batch_page), _state(one_page)
    for person in alone_state:
        assert batched_state.get(person) == alone_state[person], person
    assert batched_state.keys() == alone_state.keys()
    assert batch_frames == alone_frames
    assert batch_frames["p-new"]["messages"] == ["hi, first time", "still there?"]
    assert _state(batch_page)["p-survey"]["surveys"] == [{"status": "answered", "rating": 5, "comment": ""}]
    assert Message.objects.filter(inbox=batch_page, external_id=f"m3-{OTHER_PAGE}").count() == 1
    from inbox.models import InboundEvent

    assert not InboundEvent.objects.filter(pk__in=batch_ids).exclude(processed_at__isnull=False, error="").exists()
    assert len(together.captured_queries) < len(alone.captured_queries)


def test_a_batch_asks_the_lookups_of_its_messages_once_for_all(commit, frames, stored_only, pages):
    """Ten people writing to threads they already have: each message costs its own INSERT and UPDATE
    (and whatever the SLA and rules receivers ask); the event locks, inbox, identities, threads and
    their locks, latest messages, surveys and frames' labels are asked once for the ten."""
    now = timezone.now()
    plans = {}
    for inbox in pages:
        for i in range(10):
            _history(inbox, f"p{i}", at=now - timedelta(hours=2))
        plans[inbox.pk] = [events_store(provider="meta", events=[_item(inbox.external_id, f"p{i}", mid=f"s{i}", at=now,
                                                                       text=f"where is order {i}?")[1]])[0]
                           for i in range(10)]
    one_page, batch_page = pages
    with CaptureQueriesContext(connection) as alone:
        for event_id in plans[one_page.pk]:
            store.event_process(event_id)
    with CaptureQueriesContext(connection) as together:
        batch.events_process(plans[batch_page.pk])

    saved_per_message = (len(alone.captured_queries) - len(together.captured_queries)) / 10
    assert saved_per_message >= 9, saved_per_message
    inserts = [q["sql"] for q in together.captured_queries if q["sql"].startswith('INSERT INTO "inbox_message"')]
    assert len(inserts) == 10
    # The rules and policies are cached (inbox/versions.py): their versions read once for the batch,
    # the rules not at all; the default rule's ten skipped runs are one INSERT; no savepoint is taken per message.
    sqls = [q["sql"] for q in together.captured_queries]
    assert sum("FROM inbox_config_version" in sql for sql in sqls) == 1
    assert not [sql for sql in sqls if 'FROM "inbox_rule"' in sql or 'FROM "inbox_slapolicy"' in sql]
    assert sum(sql.startswith('INSERT INTO "inbox_rulerun"') or sql.startswith("INSERT INTO inbox_rulerun")
               for sql in sqls) == 1
    assert sum(sql.startswith("SAVEPOINT") for sql in sqls) == 1  # the batch's transaction, inside the test's


def test_a_batch_that_fails_is_rolled_back_and_its_events_processed_one_by_one(
        commit, frames, stored_only, messenger_inbox, monkeypatch):
    now = timezone.now()
    ids = []
    for i in range(3):
        ids += events_store(provider="meta", events=[_item(PAGE_ID, f"p{i}", mid=f"f{i}", at=now, text=f"t{i}")[1]])
    calls = []
    original = batch._messages_receive

    def failing(inbox, incomings):
        original(inbox, incomings)
        calls.append(len(incomings))
        raise RuntimeError("the database went away")

    monkeypatch.setattr(batch, "_messages_receive", failing)

    batch.events_process(ids)

    assert calls == [3]
    assert Message.objects.filter(inbox=messenger_inbox, external_id__startswith="f").count() == 3
    texts = [f["message"]["text"] for f in frames if f["type"] == "message.created"]
    assert sorted(texts) == ["t0", "t1", "t2"]  # the rolled-back batch's frames never left


def test_a_batch_sends_each_conversation_once_in_a_single_delivery(commit, stored_only, messenger_inbox, monkeypatch):
    deliveries: list[list] = []
    monkeypatch.setattr(realtime, "_send_many", lambda items: deliveries.append(items))
    now = timezone.now()
    ids = []
    for i in range(4):
        ids += events_store(provider="meta", events=[_item(PAGE_ID, "p-chatty", mid=f"c{i}", at=now + timedelta(seconds=i),
                                                           text=f"part {i}")[1]])
    time.sleep(0)

    batch.events_process(ids)

    assert len(deliveries) == 1
    kinds = [frame["type"] for _, frame in deliveries[0]]
    assert kinds.count("message.created") == 4
    assert kinds.count("conversation.updated") == 1
    assert kinds.count("conversation.created") == 1
    last = [frame for _, frame in deliveries[0] if frame["type"] == "conversation.updated"][0]
    assert last["conversation"]["unread_count"] == 4  # the row as committed, not as after the first message
