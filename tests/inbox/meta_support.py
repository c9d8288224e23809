"""Helpers for the Meta tests: fixtures restamped to now, webhooks posted with on-commit work run."""

from __future__ import annotations

import copy
import time

import pytest

from inbox.conversations.reply import reply_send
from inbox.models import Conversation
from tests.conftest import load_fixture, post_meta

PSID = "2467001000000001"
IGSID = "6254000000000001"


def now_ms(*, seconds_ago: float = 0) -> int:
    return int((time.time() - seconds_ago) * 1000)


def fixture_at(name: str, ms: int | None = None) -> dict:
    """A fixture with its messaging timestamps (and watermarks) moved to `ms`, keeping their spacing."""
    payload = copy.deepcopy(load_fixture(name))
    if ms is None:
        return payload
    items = [item for entry in payload["entry"] for item in entry.get("messaging", [])]
    if not items:
        return payload
    base = min(item["timestamp"] for item in items)
    for item in items:
        item["timestamp"] = ms + (item["timestamp"] - base)
        for field in ("delivery", "read"):
            if "watermark" in item.get(field, {}):
                item[field]["watermark"] = item["timestamp"]
    return payload


@pytest.fixture
def meta_post(client, commit):
    """POST a signed webhook to /webhooks/meta/; `commit` runs what it queues (eager Celery) at once."""

    def post(payload: dict | bytes, *, signature: str | None = None):
        return post_meta(client, payload, signature=signature)

    return post


@pytest.fixture
def reply(commit):
    """reply_send, its send task run as after a commit; returns the message as it ends up."""

    def send(conversation: Conversation, author, text: str, **kwargs):
        message = reply_send(conversation=conversation, author=author, text=text, **kwargs)
        message.refresh_from_db()
        return message

    return send


@pytest.fixture
def queued(monkeypatch):
    """reply_send while no worker has picked the send up yet: the row stays queued for message_deliver."""
    monkeypatch.setattr("inbox.conversations.reply.message_dispatch", lambda message_id: None)

    def send(conversation: Conversation, author, text: str = "It is!", **kwargs):
        return reply_send(conversation=conversation, author=author, text=text, **kwargs)

    return send
