"""Live comments: an Instagram live_comments webhook reaches the socket of whoever may see the inbox,
and the /live/<inbox>/ page that shows them is theirs alone."""

from __future__ import annotations

import copy

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from inbox.models import Conversation, Message
from tests.conftest import load_fixture, post_meta

from .test_consumers import connect, frame_of_type, frames_within


def live_comment(comment_id: str = "17860000000000101", text: str = "Is the blue one still available?") -> dict:
    payload = copy.deepcopy(load_fixture("meta/instagram_comment.json"))
    change = payload["entry"][0]["changes"][0]
    change["field"] = "live_comments"
    change["value"].update(id=comment_id, text=text)
    return payload


@database_sync_to_async
def post_webhook(payload: dict) -> int:
    # The processing task runs eagerly once the webhook's transaction commits, as with a worker.
    return post_meta(Client(), payload).status_code


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_live_comment_reaches_who_may_see_the_inbox_and_nobody_else(bob, charlie, instagram_inbox, fake_provider):
    bob_ws, charlie_ws = await connect(bob), await connect(charlie)

    assert await post_webhook(live_comment()) == 200

    frame = await frame_of_type(bob_ws, "comment.live", timeout=2)
    assert frame["inbox"] == instagram_inbox.pk
    assert frame["comment"]["id"] == "17860000000000101"
    assert frame["comment"]["text"] == "Is the blue one still available?"
    assert frame["comment"]["from"] == {"id": "6254000000000009", "name": "jane.doe"}
    assert frame["comment"]["post_id"] == "17950000000000001"
    message = await database_sync_to_async(Message.objects.get)(external_id="17860000000000101")
    assert (frame["message"], frame["conversation"]) == (message.pk, message.conversation_id)
    assert message.payload["live"] is True

    assert await frames_within(charlie_ws, 0.7) == []
    await bob_ws.disconnect()
    await charlie_ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_ordinary_comment_is_not_a_live_frame(bob, instagram_inbox, fake_provider):
    bob_ws = await connect(bob)
    assert await post_webhook(load_fixture("meta/instagram_comment.json")) == 200
    frames = await frames_within(bob_ws, 0.7)
    assert "message.created" in [f["type"] for f in frames]
    assert "comment.live" not in [f["type"] for f in frames]
    await bob_ws.disconnect()


@pytest.mark.django_db
def test_the_live_page_lists_live_comments_for_who_may_see_the_inbox(client, bob, instagram_inbox, commit, fake_provider):
    post_meta(client, live_comment(text="<b>hello</b> from the live"))
    client.force_login(bob)
    response = client.get(f"/live/{instagram_inbox.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-label="Live comments"' in html
    assert "&lt;b&gt;hello&lt;/b&gt; from the live" in html
    assert "/static/live/live.js" in html and "<script>" not in html
    conversation = Conversation.objects.get()
    assert f"/conversations/{conversation.pk}/" in html


@pytest.mark.django_db
def test_the_live_page_is_a_404_for_who_may_not_see_the_inbox(client, charlie, instagram_inbox):
    client.force_login(charlie)
    assert client.get(f"/live/{instagram_inbox.pk}/").status_code == 404
    assert client.get("/live/999999/").status_code == 404


@pytest.mark.django_db
def test_the_live_page_asks_an_anonymous_visitor_to_log_in(client, instagram_inbox):
    response = client.get(f"/live/{instagram_inbox.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
