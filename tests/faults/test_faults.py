"""Faults injected for real: replay storms, concurrent duplicates, Redis down, a worker killed
with SIGKILL mid-send, PostgreSQL crashed and restarted. Each asserts zero lost and zero
duplicated messages (sends: at most those in flight at the kill)."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest
import requests

from .conftest import meta_message, wait_for

pytestmark = pytest.mark.faults

_psids = itertools.count(1)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _messages_with_prefix(stack, prefix: str) -> int:
    return stack.sql("SELECT count(*) FROM inbox_message WHERE external_id LIKE %s", prefix + "%")[0][0]


def test_a_replay_storm_with_concurrent_duplicates_stores_each_message_once(stack):
    prefix = f"m_storm_{uuid.uuid4().hex[:8]}_"
    payloads = [meta_message(f"{prefix}{i}", f"9{next(_psids):06d}", f"storm {i}", _now_ms()) for i in range(40)]
    deliveries = payloads * 3  # every event delivered three times, concurrently

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda p: stack.post_meta(p).status_code, deliveries))
    assert Counter(statuses) == {200: 120}

    wait_for(lambda: _messages_with_prefix(stack, prefix) == 40, 60, what="40 stored messages")
    time.sleep(1)  # anything still in flight would show up as a duplicate now
    assert _messages_with_prefix(stack, prefix) == 40
    events = stack.sql("SELECT count(*) FROM inbox_inboundevent WHERE dedupe_key LIKE %s", "%" + prefix + "%")[0][0]
    assert events == 40


def test_webhooks_are_accepted_while_redis_is_down_and_processed_when_it_returns(stack):
    prefix = f"m_redis_{uuid.uuid4().hex[:8]}_"
    stack.redis_stop()
    try:
        statuses = [stack.post_meta(meta_message(f"{prefix}{i}", f"8{next(_psids):06d}", "hello", _now_ms())).status_code
                    for i in range(10)]
        assert statuses == [200] * 10
        stored = stack.sql("SELECT count(*) FROM inbox_inboundevent WHERE dedupe_key LIKE %s AND processed_at IS NULL",
                           "%" + prefix + "%")[0][0]
        assert stored == 10
        assert _messages_with_prefix(stack, prefix) == 0
        assert stack.post_meta(meta_message(f"{prefix}0", "8000000", "hello", _now_ms())).status_code == 200
    finally:
        stack.redis_start()
    # Worker and beat reconnect by themselves; the sweeper picks up what was stored.
    wait_for(lambda: _messages_with_prefix(stack, prefix) == 10, 90, what="messages processed after Redis returned")


class SlowGraph:
    """The Graph Send API answering after a second, counting each message it was sent (by metadata)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent: Counter = Counter()

    def __call__(self, recorded):
        body = recorded.json()
        with self.lock:
            self.sent[body["message"]["metadata"]] += 1
        time.sleep(1.0)
        return 200, {"recipient_id": body["recipient"]["id"], "message_id": f"m_out_{uuid.uuid4().hex}"}


def _queue_replies(stack, *, tag: str, count: int, psid_digit: str) -> set[int]:
    """Customers write in over the webhook; an agent answers each; returns the queued replies' ids."""
    prefix = f"m_{tag}_{uuid.uuid4().hex[:8]}_"
    for i in range(count):
        payload = meta_message(f"{prefix}{i}", f"{psid_digit}{next(_psids):06d}", "is my order on its way?", _now_ms())
        assert stack.post_meta(payload).status_code == 200
    wait_for(lambda: _messages_with_prefix(stack, prefix) == count, 60, what="inbound messages")
    stack.manage("shell", "-c", (
        "from inbox.models import Message; from inbox.conversations.reply import reply_send;"
        "from django.contrib.auth.models import User; agent = User.objects.get(username='agent');"
        f"[reply_send(conversation=m.conversation, author=agent, text='It left today') "
        f" for m in Message.objects.filter(external_id__startswith='{prefix}')]"
    ))
    queued = {row[0] for row in stack.sql(
        "SELECT r.id FROM inbox_message r JOIN inbox_message m ON m.conversation_id = r.conversation_id "
        "WHERE m.external_id LIKE %s AND r.direction = 'out'", prefix + "%")}
    assert len(queued) == count
    return queued


def test_a_worker_killed_mid_send_loses_no_reply_and_repeats_at_most_those_in_flight(stack, fake_api):
    graph = fake_api.default_responder = SlowGraph()
    sent = graph.sent
    queued = _queue_replies(stack, tag="kill", count=8, psid_digit="7")

    wait_for(lambda: sum(sent.values()) >= 2, 30, interval=0.05, what="sends in flight")
    stack.kill("worker")  # SIGKILL: no chance to finish or ack
    with graph.lock:
        in_flight_at_kill = sum(sent.values()) - _sent_rows(stack, queued)
    stack.start_worker()

    wait_for(lambda: _sent_rows(stack, queued) == 8, 120, what="every reply sent")
    time.sleep(2)
    ids = {f"inbox-message:{i}" for i in queued}
    assert ids <= set(sent), "a reply never reached the provider"
    duplicates = sum(n - 1 for key, n in sent.items() if key in ids)
    assert duplicates <= max(in_flight_at_kill, 0) <= 2, (sent, in_flight_at_kill)
    external = stack.sql("SELECT count(DISTINCT external_id) FROM inbox_message WHERE id = ANY(%s)", list(queued))[0][0]
    assert external == 8
    fake_api.default_responder = None


def _sent_rows(stack, ids) -> int:
    return stack.sql("SELECT count(*) FROM inbox_message WHERE id = ANY(%s) AND status = 'sent' AND external_id IS NOT NULL",
                     list(ids))[0][0]


def test_after_postgresql_crashes_webhooks_answer_503_then_recover_without_a_restart(stack):
    prefix = f"m_pg_{uuid.uuid4().hex[:8]}_"
    assert stack.post_meta(meta_message(f"{prefix}before", "6000001", "hi", _now_ms())).status_code == 200
    wait_for(lambda: _messages_with_prefix(stack, prefix) == 1, 60, what="first message")
    stack.pg_crash()
    try:
        response = stack.post_meta(meta_message(f"{prefix}during", "6000002", "hi", _now_ms()))
        assert response.status_code == 503
        assert response.json()["code"] == "unavailable"
    finally:
        stack.pg_start()
    # Stale pooled connections in daphne and the worker are discarded; both carry on.
    wait_for(lambda: stack.post_meta(meta_message(f"{prefix}after", "6000003", "hi", _now_ms())).status_code == 200, 30,
             what="webhook accepted after restart")
    # The provider retries what got a 503.
    assert stack.post_meta(meta_message(f"{prefix}during", "6000002", "hi", _now_ms())).status_code == 200
    wait_for(lambda: _messages_with_prefix(stack, prefix) == 3, 90, what="messages after restart")


def _login(stack) -> str:
    session = requests.Session()
    session.get(stack.url("/accounts/login/"), timeout=10)
    response = session.post(stack.url("/accounts/login/"), timeout=10, allow_redirects=False, data={
        "username": "agent", "password": "pw", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": stack.url("/accounts/login/")})
    assert response.status_code == 302, response.text[:500]
    return session.cookies["sessionid"]


def test_after_redis_restarts_sockets_reconnect_and_receive_events_again(stack):
    """Redis keeps no groups across a restart: the server drops the socket, the browser reconnects."""
    sessionid = _login(stack)
    ws_url = stack.url("/ws/inbox/").replace("http://", "ws://")
    prefix = f"m_ws_{uuid.uuid4().hex[:8]}_"

    async def scenario():
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(cookies={"sessionid": sessionid}) as http:
            socket = await http.ws_connect(ws_url, origin=stack.url(""))
            await loop.run_in_executor(None, stack.redis_stop)
            await loop.run_in_executor(None, stack.redis_start)
            # Whatever it was doing, the old socket must not stay silently deaf: it is closed.
            deadline = loop.time() + 30
            while loop.time() < deadline:
                frame = await socket.receive(timeout=deadline - loop.time())
                if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
            else:
                raise AssertionError("socket still open after Redis restarted")
            # Like the browser: reconnect with backoff until a socket stays up and gets the event
            # (the first sockets after a restart may still meet a stale pooled Redis connection).
            await loop.run_in_executor(None, stack.post_meta, meta_message(f"{prefix}1", "5000001", "back?", _now_ms()))
            for attempt in range(8):
                fresh = await http.ws_connect(ws_url, origin=stack.url(""))
                deadline = loop.time() + 8
                # The event may have gone out while no socket listened: resync as the browser does,
                # then ask for a new event to prove the live path works.
                await loop.run_in_executor(None, stack.post_meta,
                                           meta_message(f"{prefix}live{attempt}", "5000001", "still there?", _now_ms()))
                while loop.time() < deadline:
                    try:
                        frame = await fresh.receive(timeout=max(0.1, deadline - loop.time()))
                    except TimeoutError:
                        break
                    if frame.type == aiohttp.WSMsgType.TEXT:
                        data = json.loads(frame.data)
                        if data.get("type") == "message.created" and data["message"]["external_id"] == f"{prefix}live{attempt}":
                            assert attempt <= 3, "took too many reconnects"
                            await fresh.close()
                            return
                    elif frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        break
                await asyncio.sleep(0.5 * 2**attempt)
            raise AssertionError("no message.created after reconnecting")

    asyncio.run(scenario())
    # Nothing posted around the restart was lost.
    wait_for(lambda: _messages_with_prefix(stack, f"{prefix}1") == 1, 60, what="the message posted after the restart")


def test_a_worker_stopped_with_sigterm_finishes_its_sends_and_repeats_none(stack, fake_api):
    """Graceful shutdown: in-flight sends complete, the rest go back to the queue for the next worker."""
    graph = fake_api.default_responder = SlowGraph()
    sent = graph.sent
    queued = _queue_replies(stack, tag="term", count=6, psid_digit="4")
    wait_for(lambda: sum(sent.values()) >= 1, 30, interval=0.05, what="a send in flight")
    stack.kill("worker", signal.SIGTERM)  # waits for the worker to exit
    stack.start_worker()
    wait_for(lambda: _sent_rows(stack, queued) == 6, 120, what="every reply sent")
    time.sleep(2)
    ids = {f"inbox-message:{i}" for i in queued}
    assert {key: n for key, n in sent.items() if key in ids} == {key: 1 for key in ids}
    fake_api.default_responder = None


def test_with_no_sweeper_a_workers_listener_dispatches_webhooks_and_a_standby_worker_takes_over(stack):
    """INBOUND_DISPATCH=notify, the default here: a webhook only notifies. With beat (the sweeper)
    stopped, only a worker's listener can bring an event to processing."""
    prefix = f"m_listen_{uuid.uuid4().hex[:8]}_"
    stack.kill("beat", signal.SIGTERM)
    try:
        stack.start_worker("standby")
        assert stack.post_meta(meta_message(f"{prefix}1", "3000001", "hi", _now_ms())).status_code == 200
        wait_for(lambda: _messages_with_prefix(stack, prefix) == 1, 30, what="the leader's dispatch")

        stack.kill("worker")  # SIGKILL: its connection, and with it the leader's lock, goes away
        assert stack.post_meta(meta_message(f"{prefix}2", "3000002", "hi", _now_ms())).status_code == 200
        wait_for(lambda: _messages_with_prefix(stack, prefix) == 2, 60, what="the standby's dispatch")
        time.sleep(1)
        assert _messages_with_prefix(stack, prefix) == 2
    finally:
        if "worker" not in stack.procs:
            stack.start_worker()
        stack.start_beat()
