"""Helpers for the Meta tests: fixtures restamped to now, webhooks posted with on-commit work run."""

from __future__ import annotations

import copy
import time

import pytest

from inbox.models import Conversation
from inbox.services import reply_send
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
def meta_post(client, django_capture_on_commit_callbacks):
    """POST a signed webhook to /webhooks/meta/ and run what it queues on commit (eager Celery)."""

    def post(payload: dict | bytes, *, signature: str | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return post_meta(client, payload, signature=signature)

    return post


@pytest.fixture
def reply(django_capture_on_commit_callbacks):
    """reply_send, with the send task it queues run as after a commit."""

    def send(conversation: Conversation, author, text: str, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            message = reply_send(conversation=conversation, author=author, text=text, **kwargs)
        message.refresh_from_db()
        return message

    return send
