"""Exactly once across kill -9: a worker killed with sends in flight, and every reply reaches the
provider once — no idempotency key needed. Twilio: the next attempt finds the message in Twilio's
list and adopts it; Meta: the echo webhook of a send that went out settles the row, and a re-send
waits META_ECHO_GRACE_SECONDS (5 s here) for it (inbox/conversations/reply.py)."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import Counter

import pytest

from tests.conftest import PAGE_ID
from tests.fakes import TwilioMessages

from .conftest import wait_for
from .test_faults import _queue_replies, _sent_rows

pytestmark = pytest.mark.faults

SMS_NUMBER = "+14152001331"
_numbers = itertools.count(5100)


class EchoingGraph:
    """The Send API taking a message, sending its echo webhook (as Meta does, signed, naming our
    metadata) and answering a second later; counts every message it took, by metadata."""

    def __init__(self, stack):
        self.stack = stack
        self.lock = threading.Lock()
        self.sent: Counter = Counter()

    def __call__(self, recorded):
        if recorded.method != "POST" or not recorded.path.endswith("/messages"):
            return 200, {}  # profile lookups and the like
        body = recorded.json()
        metadata = body["message"]["metadata"]
        mid = f"m_echo_{uuid.uuid4().hex}"
        with self.lock:
            self.sent[metadata] += 1
        threading.Thread(target=self._echo, args=(body, mid), daemon=True).start()
        time.sleep(1.0)
        return 200, {"recipient_id": body["recipient"]["id"], "message_id": mid}

    def _echo(self, body: dict, mid: str) -> None:
        time.sleep(0.2)
        ts = int(time.time() * 1000)
        self.stack.post_meta({"object": "page", "entry": [{"id": PAGE_ID, "time": ts, "messaging": [{
            "sender": {"id": PAGE_ID}, "recipient": {"id": body["recipient"]["id"]}, "timestamp": ts,
            "message": {"is_echo": True, "app_id": 1517000000000001, "mid": mid, "metadata": body["message"]["metadata"],
                        "text": body["message"].get("text", "")},
        }]}]})


def _in_flight(stack, received: int, ids) -> int:
    return received - _sent_rows(stack, ids)


def test_a_worker_killed_with_meta_sends_in_flight_sends_every_reply_exactly_once(stack, fake_api):
    graph = EchoingGraph(stack)
    fake_api.default_responder = graph
    try:
        queued = _queue_replies(stack, tag="once", count=8, psid_digit="2")
        wait_for(lambda: sum(graph.sent.values()) >= 2, 30, interval=0.05, what="sends in flight")
        stack.kill("worker")  # SIGKILL: the provider has the in-flight messages, we have no answer
        with graph.lock:
            in_flight = _in_flight(stack, sum(graph.sent.values()), queued)
        stack.start_worker()

        wait_for(lambda: _sent_rows(stack, queued) == 8, 120, what="every reply sent")
        time.sleep(7)  # past the grace period: a late duplicate would show up now
        assert in_flight >= 1, "nothing was in flight at the kill: the test proved nothing"
        ids = {f"inbox-message:{pk}" for pk in queued}
        assert {key: n for key, n in graph.sent.items() if key in ids} == {key: 1 for key in ids}, (graph.sent, in_flight)
        rows = stack.sql("SELECT count(DISTINCT external_id), count(*) FILTER (WHERE send_started_at IS NULL) "
                         "FROM inbox_message WHERE id = ANY(%s)", list(queued))[0]
        assert rows == (8, 8)
        # The echoes did not become twins of the replies.
        twins = stack.sql("SELECT count(*) FROM inbox_message WHERE external_id LIKE 'm_echo_%%' AND NOT (id = ANY(%s))",
                          list(queued))[0][0]
        assert twins == 0
    finally:
        fake_api.default_responder = None


def _queue_sms_replies(stack, *, count: int, tag: str) -> dict[int, str]:
    """Replies to `count` SMS customers, queued by an agent; returns {message id: customer number}."""
    numbers = [f"+1706781{next(_numbers):04d}" for _ in range(count)]
    code = f"""
import json
from django.contrib.auth.models import User
from customers.services import identity_resolve
from inbox.conversations.reply import reply_send
from inbox.conversations.threads import conversation_for_identity
from inbox.models import Inbox, Team

agent = User.objects.get(username="agent")
inbox, _ = Inbox.objects.get_or_create(
    kind="sms", external_id="{SMS_NUMBER}", defaults={{"name": "SMS", "team": Team.objects.get(name="Support")}}
)
ids = {{}}
for i, number in enumerate({numbers!r}):
    identity = identity_resolve(channel="sms", external_id=number).identity
    conversation = conversation_for_identity(inbox=inbox, identity=identity)
    ids[reply_send(conversation=conversation, author=agent, text=f"Parcel {tag} {{i}} left today").pk] = number
print(json.dumps(ids))
"""
    out = stack.manage("shell", "-c", code)
    return {int(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()}


def test_a_worker_killed_with_twilio_sends_in_flight_sends_every_reply_exactly_once(stack, fake_api):
    twilio = TwilioMessages(delay=1.0)
    fake_api.default_responder = twilio
    try:
        replies = _queue_sms_replies(stack, count=8, tag=uuid.uuid4().hex[:6])
        wait_for(lambda: len(twilio.created) >= 2, 30, interval=0.05, what="sends in flight")
        stack.kill("worker")
        with twilio.lock:
            in_flight = _in_flight(stack, len(twilio.created), replies)
        stack.start_worker()

        wait_for(lambda: _sent_rows(stack, replies) == 8, 120, what="every reply sent")
        time.sleep(3)
        assert in_flight >= 1, "nothing was in flight at the kill: the test proved nothing"
        assert {n: len(twilio.sent_to(n)) for n in replies.values()} == {n: 1 for n in replies.values()}
        assert twilio.lists >= in_flight  # each interrupted attempt was looked for before any re-send
        rows = dict(stack.sql("SELECT id, external_id FROM inbox_message WHERE id = ANY(%s)", list(replies)))
        assert rows == {pk: twilio.sent_to(number)[0]["sid"] for pk, number in replies.items()}
    finally:
        fake_api.default_responder = None
