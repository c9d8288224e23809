"""Comment auto-responders, fed by real Meta feed/comments webhooks, answered on the fake Graph API."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from campaigns.automation import keyword_matches
from campaigns.models import AutoResponder, CommentReply
from tests.conftest import PAGE_ID, load_fixture, post_meta

pytestmark = pytest.mark.django_db

COMMENT_AT = datetime(2026, 1, 1, 0, 0, 4, tzinfo=UTC)


@pytest.fixture
def fb_responder(messenger_inbox):
    return AutoResponder.objects.create(
        inbox=messenger_inbox, keywords=["price"], public_reply="Sent you a DM!", private_reply="The hoodie is $49."
    )


def feed_comment(comment_id="900000000000001_1200000000000001", from_id="6791000000000001", text=None, post=None):
    payload = copy.deepcopy(load_fixture("meta/feed_comment.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["comment_id"] = comment_id
    value["from"]["id"] = from_id
    if text is not None:
        value["message"] = text
    if post is not None:
        value["post_id"] = value["parent_id"] = post
    return payload


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Price?", True), ("what's the PRICE", True), ("priceless", False), ("how much is it", False)],
)
def test_keywords_match_whole_words_whatever_the_case(text, expected):
    assert keyword_matches(text, ["price"]) is expected


def test_a_facebook_comment_with_a_keyword_gets_a_public_and_a_private_reply(client, fb_responder, fake_provider, commit):
    with time_machine.travel(COMMENT_AT + timedelta(minutes=1), tick=False):
        assert post_meta(client, feed_comment()).status_code == 200
    public = fake_provider.sent(r"/900000000000001_1200000000000001/comments$")
    private = fake_provider.sent(rf"/{PAGE_ID}/messages$")
    assert [r.json() for r in public] == [{"message": "Sent you a DM!"}]
    assert [r.json() for r in private] == [
        {"recipient": {"comment_id": "900000000000001_1200000000000001"}, "message": {"text": "The hoodie is $49."}}
    ]
    assert public[0].query["access_token"] == ["EAAB-test-page-token"]
    reply = CommentReply.objects.get()
    assert reply.public_reply_id and reply.private_reply_id and reply.error == ""


def test_a_replayed_webhook_and_a_second_comment_on_the_same_post_get_nothing_more(client, fb_responder, fake_provider, commit):
    with time_machine.travel(COMMENT_AT + timedelta(minutes=1), tick=False):
        post_meta(client, feed_comment())
        post_meta(client, feed_comment())
        post_meta(client, feed_comment(comment_id="900000000000001_1200000000000002", text="price again?"))
        # The same person on another post is answered again.
        post_meta(client, feed_comment(comment_id="900000000000002_1", post=f"{PAGE_ID}_900000000000002"))
    assert len(fake_provider.sent(r"/comments$")) == 2
    assert CommentReply.objects.count() == 2


def test_the_pages_own_comments_and_comments_without_keywords_are_ignored(client, fb_responder, fake_provider, commit):
    with time_machine.travel(COMMENT_AT + timedelta(minutes=1), tick=False):
        post_meta(client, feed_comment(from_id=PAGE_ID))
        post_meta(client, feed_comment(comment_id="9_2", text="Love it"))
    assert fake_provider.sent() == []


def test_no_private_reply_more_than_seven_days_after_the_comment(client, fb_responder, fake_provider, commit):
    with time_machine.travel(COMMENT_AT + timedelta(days=8), tick=False):
        post_meta(client, feed_comment())
    assert len(fake_provider.sent(r"/comments$")) == 1
    assert fake_provider.sent(r"/messages$") == []


def test_an_instagram_comment_is_answered_on_the_replies_edge(client, instagram_inbox, fake_provider, commit):
    AutoResponder.objects.create(inbox=instagram_inbox, keywords=["price"], public_reply="Check your DMs")
    post_meta(client, load_fixture("meta/instagram_comment.json"))
    assert [r.json() for r in fake_provider.sent(r"/17860000000000001/replies$")] == [{"message": "Check your DMs"}]


def test_a_graph_error_is_kept_on_the_record_and_not_retried(client, fb_responder, fake_provider, commit):
    fake_provider.script(r"/comments$", status=400, json_body={"error": {"message": "Invalid", "type": "OAuthException", "code": 100}})
    with time_machine.travel(COMMENT_AT + timedelta(minutes=1), tick=False):
        post_meta(client, feed_comment())
        post_meta(client, feed_comment())
    reply = CommentReply.objects.get()
    assert "public: rejected 100" in reply.error and reply.private_reply_id


def test_managers_configure_auto_responders_agents_cannot(api, alice, bob, messenger_inbox, sms_inbox):
    body = {"inbox": messenger_inbox.pk, "keywords": ["price", "how much"], "public_reply": "DM sent", "active": True}
    created = api(alice).post("/api/v1/autoresponders/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["keywords"] == ["price", "how much"]
    assert api(bob).post("/api/v1/autoresponders/", body, format="json").status_code == 403
    assert api(bob).get("/api/v1/autoresponders/").json()["results"][0]["id"] == created.json()["id"]
    sms = api(alice).post("/api/v1/autoresponders/", {**body, "inbox": sms_inbox.pk}, format="json")
    assert sms.status_code == 400
    empty = api(alice).post("/api/v1/autoresponders/", {"inbox": messenger_inbox.pk, "keywords": ["x"]}, format="json")
    assert empty.status_code == 400
