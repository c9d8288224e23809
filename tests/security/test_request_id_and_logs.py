"""A request id follows a webhook's message into its task's log lines; logs never carry secrets."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager

import pytest

from inbox_project.logs import JsonFormatter, SecretMaskFilter, mask_secrets, request_id_var
from inbox_project.task_context import _publish_request_id, _restore_request_id
from tests.conftest import PAGE_ID, load_fixture
from tests.inbox import meta_support
from tests.inbox.meta_support import PSID, fixture_at, now_ms

meta_post = meta_support.meta_post
reply = meta_support.reply

TOKEN = "EAAB-test-page-token"


@contextmanager
def console_output():
    """What the configured console handler (filters and formatter included) writes."""
    [handler] = [h for h in logging.getLogger().handlers if any(isinstance(f, SecretMaskFilter) for f in h.filters)]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


@pytest.fixture
def debug_logs():
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield
    root.setLevel(previous)


def test_a_response_carries_a_new_request_id(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert len(first["X-Request-ID"]) >= 16
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_safe_incoming_request_id_is_kept(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")
    assert response["X-Request-ID"] == "lb-7f3a9c2e-0001"


@pytest.mark.parametrize("bad", ["short", "a b c d e f g h", "x" * 300, "id\r\nSet-Cookie: x=1", "<script>alert(1)</script>"])
def test_an_unsafe_incoming_request_id_is_replaced(client, bad):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-ID"] != bad
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_the_webhooks_request_id_is_on_the_log_lines_of_its_processing(meta_post, messenger_inbox, client, debug_logs):
    body = json.dumps(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=5))).encode()
    with console_output() as out:
        from tests.conftest import meta_signature

        response = client.post(
            "/webhooks/meta/", data=body, content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=meta_signature(body), HTTP_X_REQUEST_ID="req-webhook-000042",
        )
    assert response.status_code == 200
    lines = out.getvalue().splitlines()
    assert lines, "the webhook's processing logged nothing at DEBUG"
    # Processing ran in the same request (eager tasks); every line it wrote carries the id.
    assert all("[req-webhook-000042]" in line for line in lines if " inbox." in line)
    assert any("[req-webhook-000042]" in line for line in lines)


def test_the_first_task_a_web_process_queues_leaves_its_logging_as_configured(monkeypatch):
    """Finding the tasks on first use must not run django.setup() again (Celery's Django fixup does,
    through `loader.import_default_modules()`): that reconfigures logging in the middle of a request,
    so the levels and handlers set since are gone, and runs every system check in it."""
    import logging.config

    from inbox import jobs

    configured: list = []
    monkeypatch.setattr(logging.config, "dictConfig", configured.append)
    monkeypatch.setattr(jobs, "_loaded", False)

    task = jobs.task("inbox.tasks.inbound_events_process")

    assert task.name == "inbox.tasks.inbound_events_process"
    assert configured == []


def test_a_published_task_carries_the_request_id_and_the_worker_restores_it():
    class Request:
        is_eager = False
        request_id = None

    class Task:
        request = Request()

    headers: dict = {}
    token = request_id_var.set("req-abc-123456")
    try:
        _publish_request_id(headers=headers)
    finally:
        request_id_var.reset(token)
    assert headers == {"request_id": "req-abc-123456"}

    Task.request.request_id = headers["request_id"]
    _restore_request_id(task_id="t1", task=Task())
    assert request_id_var.get() == "req-abc-123456"
    from inbox_project.task_context import _forget_request_id

    _forget_request_id(task_id="t1")
    assert request_id_var.get() == "-"


def test_json_log_lines_carry_level_logger_message_and_request_id():
    record = logging.LogRecord("inbox.conversations.reply", logging.WARNING, __file__, 1, "stored %d events", (3,), None)
    record.request_id = "req-json-000001"
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING"
    assert line["logger"] == "inbox.conversations.reply"
    assert line["message"] == "stored 3 events"
    assert line["request_id"] == "req-json-000001"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("POST /v24.0/1/messages?access_token=EAABsecret0123456789&appsecret_proof=ab12", "EAABsecret0123456789"),
        ("headers {'Authorization': 'Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b'}", "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"),
        ('{"username": "bob", "password": "hunter2-correct"}', "hunter2-correct"),
        ("username=bob&password=hunter2-correct&next=/", "hunter2-correct"),
    ],
)
def test_secrets_are_masked(text, secret):
    masked = mask_secrets(text)
    assert secret not in masked
    assert "***" in masked


@pytest.mark.django_db
def test_a_meta_send_failure_log_never_shows_the_page_token(meta_post, messenger_inbox, bob, reply, fake_provider, debug_logs):
    meta_post(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=60)))
    from inbox.models import Conversation

    conversation = Conversation.objects.get(identity__external_id=PSID)
    fake_provider.script(f"/v24.0/{PAGE_ID}/messages$", status=400, json_body=load_fixture("meta/error_user_unavailable.json"))

    with console_output() as out:
        message = reply(conversation, bob, "Hello?")

    assert message.status == "failed"
    output = out.getvalue()
    # urllib3 logs the full URL at DEBUG, the query string with the token in it.
    assert "/messages" in output
    assert TOKEN not in output
    assert "access_token=***" in output


@pytest.mark.django_db
def test_the_webhooks_request_id_reaches_the_socket_events_it_causes(meta_post, messenger_inbox, client):
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from tests.conftest import meta_signature

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"inbox-{messenger_inbox.pk}", channel)
    try:
        body = json.dumps(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=5))).encode()
        response = client.post(
            "/webhooks/meta/", data=body, content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=meta_signature(body), HTTP_X_REQUEST_ID="req-socket-000007",
        )
        assert response.status_code == 200

        async def first_event():
            return await asyncio.wait_for(layer.receive(channel), timeout=5)

        event = async_to_sync(first_event)()
    finally:
        async_to_sync(layer.group_discard)(f"inbox-{messenger_inbox.pk}", channel)
    assert event["request_id"] == "req-socket-000007"
    assert "request_id" not in event["frame"]


@pytest.mark.asyncio
@pytest.mark.django_db
async def test_the_request_id_and_headers_are_set_under_asgi_too(async_client):
    response = await async_client.get("/healthz", headers={"X-Request-ID": "req-asgi-0000001"})
    assert response["X-Request-ID"] == "req-asgi-0000001"
    assert "Content-Security-Policy" in response


def _settings_process(code: str, **env: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    environ.update(DJANGO_SETTINGS_MODULE="inbox_project.settings", DEBUG="1", TESTING="0", PYTHONPATH=str(root), **env)
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=environ, capture_output=True, text=True, timeout=60)


def test_log_format_json_writes_one_json_object_per_line_with_secrets_masked():
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('inbox.test').warning('send failed: GET /me?access_token=EAAB-secret-123 500')"
    )
    result = _settings_process(code, LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(raw) for raw in result.stderr.splitlines() if '"inbox.test"' in raw]
    assert line["level"] == "WARNING" and line["request_id"] == "-"
    assert line["message"] == "send failed: GET /me?access_token=*** 500"


def test_an_unknown_log_format_fails_loudly():
    result = _settings_process("import django; django.setup()", LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT" in result.stderr
