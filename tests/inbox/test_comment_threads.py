"""Facebook Page and Instagram comments as inbox threads, answered publicly or privately.

Fed by the real feed/comments webhook fixtures; replies go out to the fake Graph API.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from campaigns.models import AutoResponder
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import reply_send
from inbox.models import Conversation, Direction, Message, MessageStatus
from tests.conftest import IG_ACCOUNT_ID, PAGE_ID, load_fixture, post_meta

pytestmark = pytest.mark.django_db

COMMENT_AT = datetime(2026, 1, 1, 0, 0, 4, tzinfo=UTC)
SOON = COMMENT_AT + timedelta(minutes=5)
FB_COMMENT = "900000000000001_1200000000000001"
FB_POST = f"{PAGE_ID}_900000000000001"
JANE = "6791000000000001"


def feed_comment(comment_id=FB_COMMENT, from_id=JANE, text=None, post=FB_POST, created=1767225604):
    payload = copy.deepcopy(load_fixture("meta/feed_comment.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value.update(comment_id=comment_id, post_id=post, parent_id=post, created_time=created)
    value["from"]["id"] = from_id
    if text is not None:
        value["message"] = text
    return payload


def ig_comment(comment_id="17860000000000001", media="17950000000000001"):
    payload = copy.deepcopy(load_fixture("meta/instagram_comment.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["id"] = comment_id
    value["media"]["id"] = media
    return payload


@pytest.fixture
def webhook(client, commit, fake_provider):
    def post(payload):
        with time_machine.travel(SOON, tick=False):
            assert post_meta(client, payload).status_code == 200

    return post


def comment_threads():
    return Conversation.objects.filter(thread_key__startswith="comments:")


# --- Intake ----------------------------------------------------------------------------------------


def test_a_comment_opens_a_comment_thread_once_even_when_the_webhook_is_replayed(webhook, messenger_inbox):
    webhook(feed_comment())
    webhook(feed_comment())

    conversation = comment_threads().get()
    assert conversation.inbox == messenger_inbox
    assert conversation.thread_key == f"comments:{FB_POST}"
    assert conversation.thread == {"kind": "comments", "post_id": FB_POST}
    message = conversation.messages.get()
    assert (message.direction, message.external_id, message.text) == (
        Direction.IN, FB_COMMENT, "How much is the hoodie? price please"
    )
    assert message.created_at == COMMENT_AT
    assert message.payload == {
        "comment_id": FB_COMMENT,
        "post_id": FB_POST,
        "parent_id": "",
        "platform": "facebook",
        "permalink": "https://www.facebook.com/104857600000001/posts/pfbid0abc",
    }
    assert conversation.customer.identities.get().external_id == JANE


def test_two_comments_by_the_same_person_on_the_same_post_share_a_thread(webhook, messenger_inbox):
    webhook(feed_comment())
    webhook(feed_comment(comment_id="900000000000001_1200000000000002", text="and in XL?"))

    conversation = comment_threads().get()
    assert list(conversation.messages.values_list("text", flat=True)) == [
        "How much is the hoodie? price please", "and in XL?"
    ]


def test_comments_on_different_posts_or_by_different_people_get_their_own_threads(webhook, messenger_inbox):
    webhook(feed_comment())
    webhook(feed_comment(comment_id="900000000000002_1", post=f"{PAGE_ID}_900000000000002"))
    webhook(feed_comment(comment_id="900000000000001_3", from_id="6791000000000002"))

    threads = comment_threads()
    assert threads.count() == 3
    assert {t.thread_key for t in threads} == {f"comments:{FB_POST}", f"comments:{PAGE_ID}_900000000000002"}
    jane = threads.filter(identity__external_id=JANE)
    assert jane.count() == 2 and len({t.customer_id for t in jane}) == 1


def test_a_comment_thread_stays_apart_from_the_persons_dm_thread(webhook, messenger_inbox):
    webhook(feed_comment())
    dm = load_fixture("meta/messenger_text.json")
    dm["entry"][0]["messaging"][0]["sender"]["id"] = JANE
    webhook(dm)

    threads = Conversation.objects.filter(identity__external_id=JANE)
    assert sorted(t.thread["kind"] for t in threads) == ["comments", "dm"]
    dm_thread = threads.get(thread_key="")
    assert dm_thread.messages.count() == 1 and dm_thread.window_state(SOON) is not None


def test_an_instagram_comment_opens_a_thread_per_media(webhook, instagram_inbox):
    webhook(ig_comment())
    webhook(ig_comment(comment_id="17860000000000002", media="17950000000000002"))

    threads = comment_threads().order_by("id")
    assert [t.thread for t in threads] == [
        {"kind": "comments", "post_id": "17950000000000001"},
        {"kind": "comments", "post_id": "17950000000000002"},
    ]
    assert threads[0].messages.get().payload["media_id"] == "17950000000000001"
    assert threads[0].messages.get().payload["platform"] == "instagram"


def test_the_pages_own_comments_do_not_become_customer_messages(webhook, messenger_inbox):
    webhook(feed_comment(from_id=PAGE_ID))
    assert not Conversation.objects.exists()


def test_an_edited_and_a_removed_comment_update_the_message(webhook, messenger_inbox):
    webhook(feed_comment())
    edited = feed_comment(text="How much is the hoodie in XL?")
    edited["entry"][0]["changes"][0]["value"]["verb"] = "edited"
    webhook(edited)
    message = Message.objects.get(external_id=FB_COMMENT)
    assert message.text == "How much is the hoodie in XL?"
    assert message.payload["edits"][0]["previous_text"] == "How much is the hoodie? price please"

    removed = feed_comment()
    removed["entry"][0]["changes"][0]["value"]["verb"] = "remove"
    webhook(removed)
    message.refresh_from_db()
    assert message.deleted_at is not None


def test_the_api_tells_a_comment_thread_from_a_dm_thread(webhook, messenger_inbox, bob, api):
    webhook(feed_comment())
    conversation = comment_threads().get()
    body = api(bob).get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert body["thread"] == {"kind": "comments", "post_id": FB_POST}
    assert body["window"] is None


def test_comments_do_not_count_in_the_responsiveness_metrics(webhook, messenger_inbox):
    from inbox.models import ResponseRecord

    webhook(feed_comment())
    assert not ResponseRecord.objects.exists()


# --- Replies ---------------------------------------------------------------------------------------


@pytest.fixture
def fb_thread(webhook, messenger_inbox):
    webhook(feed_comment())
    webhook(feed_comment(comment_id="900000000000001_1200000000000002", text="and in XL?", created=1767225700))
    return comment_threads().get()


def send(conversation, author, text, at=SOON, **payload):
    with time_machine.travel(at, tick=False):
        message = reply_send(conversation=conversation, author=author, text=text, payload=payload or None)
    message.refresh_from_db()
    return message


def test_a_public_reply_goes_under_the_latest_comment_on_facebook(fb_thread, bob, fake_provider):
    message = send(fb_thread, bob, "It is $49!", comment_reply="public")

    [request] = fake_provider.sent(r"/comments$")
    assert request.path == "/v24.0/900000000000001_1200000000000002/comments"
    assert request.json() == {"message": "It is $49!"}
    assert request.query["access_token"] == ["EAAB-test-page-token"]
    assert (message.status, message.payload["comment_id"]) == (MessageStatus.SENT, "900000000000001_1200000000000002")
    assert message.external_id.endswith("_comment")
    assert fake_provider.sent(r"/messages$") == []


def test_a_public_reply_has_no_24_hour_window(fb_thread, bob, fake_provider):
    message = send(fb_thread, bob, "Still available!", at=COMMENT_AT + timedelta(days=30), comment_reply="public")
    assert message.status == MessageStatus.SENT


def test_an_agents_plain_reply_in_a_comment_thread_is_a_public_reply_to_a_chosen_comment(fb_thread, bob, fake_provider):
    send(fb_thread, bob, "Yes!", comment_id=FB_COMMENT)
    assert [r.path for r in fake_provider.sent()] == [f"/v24.0/{FB_COMMENT}/comments"]


def test_a_public_reply_on_instagram_uses_the_replies_edge(webhook, instagram_inbox, bob, fake_provider):
    webhook(ig_comment())
    send(comment_threads().get(), bob, "DM us!", comment_reply="public")
    [request] = fake_provider.sent()
    assert request.path == "/v24.0/17860000000000001/replies"
    assert request.json() == {"message": "DM us!"}


def test_a_private_reply_is_one_message_addressed_by_the_comment(fb_thread, bob, fake_provider):
    message = send(fb_thread, bob, "The XL is in stock.", comment_reply="private")

    [request] = fake_provider.sent()
    assert request.path == f"/v24.0/{PAGE_ID}/messages"
    assert request.json() == {
        "recipient": {"comment_id": "900000000000001_1200000000000002"}, "message": {"text": "The XL is in stock."}
    }
    assert message.status == MessageStatus.SENT and message.external_id.startswith("m_fake")


def test_a_comment_gets_only_one_private_reply(fb_thread, bob, alice, fake_provider):
    send(fb_thread, bob, "First", comment_reply="private")
    with pytest.raises(ReplyRefused) as refused:
        send(fb_thread, alice, "Second", comment_reply="private")
    assert (refused.value.code, refused.value.status) == ("already_replied", 409)
    # Another comment of the same thread still may get its own.
    send(fb_thread, alice, "About your first question", comment_reply="private", comment_id=FB_COMMENT)
    assert len(fake_provider.sent(r"/messages$")) == 2


def test_a_failed_private_reply_may_be_tried_again(fb_thread, bob, fake_provider):
    fake_provider.script(r"/messages$", status=400, json_body=load_fixture("meta/error_user_unavailable.json"))
    assert send(fb_thread, bob, "First", comment_reply="private").status == MessageStatus.FAILED
    assert send(fb_thread, bob, "Again", comment_reply="private").status == MessageStatus.SENT


def test_a_private_reply_is_refused_seven_days_after_the_comment(fb_thread, bob, fake_provider):
    late = datetime.fromtimestamp(1767225700, tz=UTC) + timedelta(days=7)
    with pytest.raises(ReplyRefused) as refused:
        send(fb_thread, bob, "Too late", at=late, comment_reply="private")
    assert (refused.value.code, refused.value.status) == ("window_closed", 409)
    assert fake_provider.sent() == []
    assert not Message.objects.filter(direction=Direction.OUT).exists()
    # Just inside the 7 days it goes.
    assert send(fb_thread, bob, "Just in time", at=late - timedelta(seconds=1), comment_reply="private").status == "sent"


def test_the_api_takes_comment_reply_and_refuses_with_the_contracts_error_shape(fb_thread, bob, api, fake_provider):
    url = f"/api/v1/conversations/{fb_thread.pk}/messages/"
    with time_machine.travel(SOON, tick=False):
        created = api(bob).post(url, {"text": "Sent you a DM", "comment_reply": "private"}, format="json")
        again = api(bob).post(url, {"text": "Twice?", "comment_reply": "private"}, format="json")
        bad = api(bob).post(url, {"text": "x", "comment_reply": "shout"}, format="json")
        public = api(bob).post(url, {"text": "Answered in DM"}, format="json")
    assert created.status_code == 201 and created.json()["payload"]["comment_reply"] == "private"
    assert again.status_code == 409 and again.json()["code"] == "already_replied"
    assert bad.status_code == 400
    assert public.status_code == 201 and public.json()["payload"]["comment_reply"] == "public"
    assert [r.path.rsplit("/", 1)[-1] for r in fake_provider.sent()] == ["messages", "comments"]


def test_comment_reply_is_refused_in_a_dm_thread(webhook, messenger_inbox, bob, api, fake_provider):
    webhook(load_fixture("meta/messenger_text.json"))
    dm = Conversation.objects.get()
    response = api(bob).post(f"/api/v1/conversations/{dm.pk}/messages/", {"text": "x", "comment_reply": "public"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert fake_provider.sent() == []


def test_automated_messages_are_not_sent_into_comment_threads(fb_thread, fake_provider):
    from inbox.models import SenderType

    with pytest.raises(ReplyRefused):
        with time_machine.travel(SOON, tick=False):
            reply_send(conversation=fb_thread, author=None, text="Hi!", sender_type=SenderType.BOT)
    assert fake_provider.sent() == []


def test_the_auto_responders_replies_show_in_the_thread_and_block_a_second_private_reply(
    webhook, messenger_inbox, bob, fake_provider
):
    AutoResponder.objects.create(
        inbox=messenger_inbox, keywords=["price"], public_reply="Sent you a DM!", private_reply="The hoodie is $49."
    )
    webhook(feed_comment())
    thread = comment_threads().get()
    bot = thread.messages.filter(direction=Direction.OUT).order_by("id")
    assert [(m.sender_type, m.payload["comment_reply"], m.text) for m in bot] == [
        ("bot", "public", "Sent you a DM!"), ("bot", "private", "The hoodie is $49."),
    ]
    with pytest.raises(ReplyRefused) as refused:
        send(thread, bob, "Me too", comment_reply="private")
    assert refused.value.code == "already_replied"
    assert len(fake_provider.sent(r"/messages$")) == 1


def test_the_auto_responder_does_not_private_reply_a_comment_an_agent_already_answered(
    webhook, messenger_inbox, bob, fake_provider
):
    from campaigns.automation import comment_autorespond

    webhook(feed_comment(text="hello"))
    thread = comment_threads().get()
    send(thread, bob, "Hi Jane", comment_reply="private")
    AutoResponder.objects.create(inbox=messenger_inbox, keywords=["price"], private_reply="The hoodie is $49.")
    # The same comment reaching the auto-responder late (a replayed signal, an edit adding the keyword).
    comment = {"id": FB_COMMENT, "post_id": FB_POST, "from_id": JANE, "text": "price?", "verb": "add",
               "created_time": COMMENT_AT}
    with time_machine.travel(SOON, tick=False):
        comment_autorespond(inbox=messenger_inbox, comment=comment)
    assert len(fake_provider.sent(r"/messages$")) == 1


def test_an_ig_comment_thread_lives_in_the_ig_accounts_inbox(webhook, instagram_inbox, messenger_inbox):
    webhook(ig_comment())
    assert comment_threads().get().inbox.external_id == IG_ACCOUNT_ID
