"""Meta webhooks (Messenger and Instagram) through /webhooks/meta/, with real signatures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from customers.models import Customer, Identity
from inbox import signals
from inbox.intake.store import event_process
from inbox.models import Conversation, InboundEvent, Message
from tests.conftest import IG_ACCOUNT_ID, PAGE_ID, meta_signature

from . import meta_support
from .meta_support import IGSID, PSID, fixture_at, now_ms

# Shared fixtures, bound here so pytest finds them.
meta_post = meta_support.meta_post

pytestmark = pytest.mark.django_db


def _conversation(psid: str = PSID) -> Conversation:
    return Conversation.objects.get(identity__external_id=psid)


# --- The handshake and the signature ------------------------------------------------------------


def test_the_handshake_answers_the_challenge_when_the_verify_token_matches(client):
    response = client.get(
        "/webhooks/meta/", {"hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1158201444"}
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
    ],
)
def test_the_handshake_refuses_a_wrong_token_or_mode(client, params):
    response = client.get("/webhooks/meta/", params)
    assert response.status_code == 403
    assert b"1158201444" not in response.content


def test_the_signature_matches_the_documented_example(meta_post, settings):
    body = b'{"object":"page","entry":[]}'
    expected = "sha256=1a82db3abc2fa71a3fffecfedef579a8468a44850cd8a83a0c56974faff81689"
    assert meta_signature(body) == expected
    assert meta_post(body, signature=expected).status_code == 200


@pytest.mark.parametrize(
    "signature",
    [
        "",  # missing
        "sha256=" + "0" * 64,
        meta_signature(json.dumps(fixture_at("meta/messenger_text.json")).encode(), secret="another-secret"),
        "sha1=0123456789abcdef0123456789abcdef01234567",
    ],
    ids=["missing", "zeros", "other-secret", "sha1"],
)
def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(meta_post, messenger_inbox, signature):
    response = meta_post(fixture_at("meta/messenger_text.json"), signature=signature)
    assert response.status_code == 403
    assert response.json()["code"] == "bad_signature"
    assert InboundEvent.objects.count() == 0
    assert Message.objects.count() == 0


def test_the_signature_covers_the_raw_body_so_a_changed_body_is_refused(meta_post, messenger_inbox):
    original = json.dumps(fixture_at("meta/messenger_text.json")).encode()
    tampered = original.replace(b"blue hoodie", b"red hoodie")
    assert meta_post(tampered, signature=meta_signature(original)).status_code == 403
    assert InboundEvent.objects.count() == 0


def test_without_an_app_secret_every_webhook_is_refused(meta_post, messenger_inbox, settings):
    settings.META_APP_SECRET = ""
    assert meta_post(fixture_at("meta/messenger_text.json")).status_code == 403
    assert InboundEvent.objects.count() == 0


# --- Malformed bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'"page"',
        b'{"object":"user","entry":[]}',
        b'{"entry":[]}',
        b'{"object":"page","entry":{}}',
        b'{"object":"page","entry":[{"time":1}]}',
        b'{"object":"page","entry":[{"id":"104857600000001","messaging":{}}]}',
        b'{"object":"page","entry":[{"id":"104857600000001","messaging":[{"recipient":{"id":"1"},"timestamp":1,'
        b'"message":{"mid":"m_1","text":"hi"}}]}]}',
        b'{"object":"page","entry":[{"id":"104857600000001","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},'
        b'"timestamp":"soon","message":{"mid":"m_1","text":"hi"}}]}]}',
        b'{"object":"page","entry":[{"id":"104857600000001","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},'
        b'"timestamp":1,"message":{"text":"no mid"}}]}]}',
        b'{"object":"page","entry":[{"id":"104857600000001","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},'
        b'"timestamp":1,"message":{"mid":"m_1","text":42}}]}]}',
    ],
)
def test_a_malformed_body_is_a_400_and_nothing_is_stored(meta_post, messenger_inbox, body):
    response = meta_post(body)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_payload"
    assert InboundEvent.objects.count() == 0


# --- Receiving messages -----------------------------------------------------------------------------


def test_a_message_for_a_page_no_inbox_owns_is_acknowledged_and_opens_no_conversation(meta_post):
    response = meta_post(fixture_at("meta/messenger_text.json"))
    assert response.status_code == 200
    assert response.content == b"EVENT_RECEIVED"
    assert Conversation.objects.count() == 0
    assert Customer.objects.count() == 0
    # Stored (so a replay is cheap) and marked processed: nothing is left for the sweeper.
    assert InboundEvent.objects.filter(processed_at__isnull=False).count() == 1


def test_a_text_message_creates_customer_identity_conversation_and_message_once_across_replays(meta_post, messenger_inbox):
    payload = fixture_at("meta/messenger_text.json")
    for _ in range(3):
        assert meta_post(payload).status_code == 200

    identity = Identity.objects.get()
    assert (identity.channel, identity.scope, identity.external_id) == ("messenger", PAGE_ID, PSID)
    assert Customer.objects.count() == 1
    conversation = Conversation.objects.get()
    assert conversation.inbox == messenger_inbox
    assert conversation.customer == identity.customer
    assert conversation.team == messenger_inbox.team
    message = Message.objects.get()
    assert (message.direction, message.sender_type, message.status) == ("in", "customer", "received")
    assert message.text == "Hi! Is the blue hoodie back in stock?"
    assert message.external_id.startswith("m_AG5Hz2Uq")
    assert message.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert conversation.waiting_since == message.created_at
    assert conversation.unread_count == 1
    assert InboundEvent.objects.count() == 1


def test_one_post_batching_two_entries_and_several_items_stores_each_message_once(meta_post, messenger_inbox):
    payload = fixture_at("meta/messenger_batch.json")
    assert meta_post(payload).status_code == 200
    assert meta_post(payload).status_code == 200

    assert Message.objects.count() == 4
    assert Conversation.objects.count() == 2
    assert Customer.objects.count() == 2
    assert InboundEvent.objects.count() == 4
    assert list(_conversation(PSID).messages.values_list("text", flat=True)) == ["first", "second", "third"]
    assert list(_conversation("2467001000000002").messages.values_list("text", flat=True)) == ["Hello from someone else"]


def test_messages_land_in_the_order_of_metas_timestamps_whatever_the_order_they_arrive_in(meta_post, messenger_inbox):
    payload = fixture_at("meta/messenger_batch.json")
    # The later message arrives in its own, earlier webhook.
    later = {"object": "page", "entry": [payload["entry"][0]]}
    earlier = {"object": "page", "entry": [payload["entry"][1]]}
    meta_post(later)
    meta_post(earlier)

    conversation = _conversation(PSID)
    assert list(conversation.messages.values_list("text", flat=True)) == ["first", "second", "third"]
    assert conversation.waiting_since == datetime.fromtimestamp(1767225601, tz=UTC)
    assert conversation.last_message_at == datetime.fromtimestamp(1767225603, tz=UTC)


def test_attachments_are_stored_with_their_urls_and_kinds(meta_post, messenger_inbox):
    meta_post(fixture_at("meta/messenger_attachments.json"))
    message = Message.objects.get()
    assert message.text == ""
    assert message.attachments == [
        {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/hoodie.jpg?_nc_cat=1&oh=abc", "content_type": "image/*", "type": "image"},
        {
            "url": "https://cdn.fbsbx.com/v/t59.2708-21/receipt.pdf?_nc_cat=1&oh=def",
            "content_type": "application/octet-stream",
            "type": "file",
        },
    ]


def test_a_quick_reply_keeps_its_payload(meta_post, messenger_inbox):
    meta_post(fixture_at("meta/messenger_quick_reply.json"))
    message = Message.objects.get()
    assert message.text == "Track my order"
    assert message.payload["quick_reply"] == {"payload": "TRACK_ORDER"}


def test_a_reply_to_another_message_keeps_the_replied_mid(meta_post, messenger_inbox):
    meta_post(fixture_at("meta/messenger_reply_to.json"))
    assert Message.objects.get().payload["reply_to"]["mid"].startswith("m_AG5Hz2Uq")


def test_a_postback_is_a_customer_action_that_opens_the_window_and_keeps_its_payload(meta_post, messenger_inbox):
    meta_post(fixture_at("meta/messenger_postback.json", now_ms(seconds_ago=60)))

    message = Message.objects.get()
    assert message.text == "Get Started"
    assert message.payload["postback"] == {"title": "Get Started", "payload": "GET_STARTED"}
    assert message.payload["referral"]["ref"] == "winter-sale"
    conversation = message.conversation
    assert conversation.window_state(timezone.now()) == "open"
    assert conversation.window_expires_at == message.created_at + timedelta(hours=24)


def test_a_postback_without_a_mid_is_still_stored_once(meta_post, messenger_inbox):
    payload = fixture_at("meta/messenger_postback.json")
    del payload["entry"][0]["messaging"][0]["postback"]["mid"]
    meta_post(payload)
    meta_post(payload)
    assert Message.objects.count() == 1
    assert Message.objects.get().external_id.startswith("postback:")


def test_a_reaction_is_added_to_the_message_and_reopens_the_window(meta_post, messenger_inbox):
    old = fixture_at("meta/messenger_text.json", now_ms(seconds_ago=30 * 3600))
    meta_post(old)
    conversation = _conversation()
    assert conversation.window_state(timezone.now()) == "human_agent"

    reaction = fixture_at("meta/messenger_reaction.json", now_ms(seconds_ago=10))
    reaction["entry"][0]["messaging"][0]["reaction"]["mid"] = Message.objects.get().external_id
    meta_post(reaction)
    meta_post(reaction)  # a replay adds nothing

    message = Message.objects.get()
    assert [(r["from"], r["reaction"], r["emoji"]) for r in message.reactions] == [(PSID, "love", "\u2764\ufe0f")]
    conversation.refresh_from_db()
    assert conversation.window_state(timezone.now()) == "open"

    unreact = fixture_at("meta/messenger_reaction.json", now_ms(seconds_ago=5))
    unreact["entry"][0]["messaging"][0]["reaction"] = {"mid": message.external_id, "action": "unreact"}
    meta_post(unreact)
    message.refresh_from_db()
    assert message.reactions == []


def test_a_later_reaction_replaces_the_persons_earlier_one(meta_post, messenger_inbox):
    meta_post(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=60)))
    mid = Message.objects.get().external_id
    for seconds_ago, (name, emoji) in ((20, ("love", "\u2764\ufe0f")), (10, ("laugh", "\U0001f606"))):
        reaction = fixture_at("meta/messenger_reaction.json", now_ms(seconds_ago=seconds_ago))
        reaction["entry"][0]["messaging"][0]["reaction"].update(mid=mid, reaction=name, emoji=emoji)
        meta_post(reaction)
    assert [r["reaction"] for r in Message.objects.get().reactions] == ["laugh"]


def test_an_instagram_message_lands_in_the_instagram_inbox(meta_post, instagram_inbox, messenger_inbox):
    meta_post(fixture_at("meta/instagram_text.json"))
    message = Message.objects.get()
    assert message.inbox == instagram_inbox
    assert message.conversation.channel == "instagram"
    assert message.text == "do you ship to Canada?"
    identity = message.conversation.identity
    assert (identity.channel, identity.scope, identity.external_id) == ("instagram", IG_ACCOUNT_ID, IGSID)


def test_an_instagram_story_reply_keeps_the_story(meta_post, instagram_inbox):
    meta_post(fixture_at("meta/instagram_story_reply.json"))
    message = Message.objects.get()
    assert message.text == "love this colour \U0001f60d"
    assert message.payload["reply_to"]["story"]["id"] == "17900000000000001"
    assert message.payload["reply_to"]["story"]["url"].startswith("https://lookaside.fbsbx.com/")


def test_an_instagram_unsend_marks_the_message_deleted_but_keeps_the_row(meta_post, instagram_inbox):
    meta_post(fixture_at("meta/instagram_text.json"))
    meta_post(fixture_at("meta/instagram_unsend.json"))
    meta_post(fixture_at("meta/instagram_unsend.json"))

    message = Message.objects.get()
    assert message.deleted_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert message.text == "do you ship to Canada?"
    assert InboundEvent.objects.count() == 2


def test_an_instagram_unreact_removes_the_persons_reaction(meta_post, instagram_inbox):
    meta_post(fixture_at("meta/instagram_text.json", now_ms(seconds_ago=60)))
    Message.objects.update(reactions=[{"from": IGSID, "reaction": "love", "emoji": "\u2764\ufe0f", "timestamp": 1}])
    meta_post(fixture_at("meta/instagram_reaction.json", now_ms(seconds_ago=5)))
    assert Message.objects.get().reactions == []


# --- Echoes ------------------------------------------------------------------------------------------


def test_an_echo_from_metas_own_inbox_becomes_an_agent_message_and_clears_waiting(meta_post, messenger_inbox):
    meta_post(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=120)))
    assert _conversation().waiting_since is not None

    meta_post(fixture_at("meta/messenger_echo.json", now_ms(seconds_ago=60)))
    meta_post(fixture_at("meta/messenger_echo.json", now_ms(seconds_ago=60)))

    conversation = _conversation()
    assert conversation.waiting_since is None
    assert conversation.unread_count == 0
    echo = conversation.messages.get(direction="out")
    assert (echo.sender_type, echo.status, echo.text) == ("agent", "sent", "Hi! Yes, it's back in all sizes.")
    assert echo.payload["app_id"] == 263902037430900
    assert Message.objects.count() == 2
    assert Customer.objects.count() == 1


def test_an_instagram_echo_belongs_to_the_recipients_conversation(meta_post, instagram_inbox):
    meta_post(fixture_at("meta/instagram_text.json"))
    meta_post(fixture_at("meta/instagram_echo.json"))
    conversation = Conversation.objects.get()
    assert list(conversation.messages.values_list("direction", "sender_type")) == [("in", "customer"), ("out", "agent")]


# --- Comments ----------------------------------------------------------------------------------------


@pytest.fixture
def comments():
    received = []

    def receiver(sender, inbox, comment, **kwargs):
        received.append((inbox, comment))

    signals.comment_received.connect(receiver, weak=False)
    yield received
    signals.comment_received.disconnect(receiver)


def test_a_facebook_page_comment_is_stored_once_and_signalled_normalised(meta_post, messenger_inbox, comments):
    payload = fixture_at("meta/feed_comment.json")
    meta_post(payload)
    meta_post(payload)

    assert InboundEvent.objects.filter(kind="comment").count() == 1
    assert len(comments) == 1
    inbox, comment = comments[0]
    assert inbox == messenger_inbox
    assert comment == {
        "id": "900000000000001_1200000000000001",
        "post_id": f"{PAGE_ID}_900000000000001",
        "media_id": "",
        "from_id": "6791000000000001",
        "from_name": "Jane Doe",
        "text": "How much is the hoodie? price please",
        "created_time": datetime.fromtimestamp(1767225604, tz=UTC),
        "parent_id": "",
        "platform": "facebook",
        "verb": "add",
        "field": "feed",
        "live": False,
        "from_self": False,
        "permalink": "https://www.facebook.com/104857600000001/posts/pfbid0abc",
    }
    # The comment lands in its own comment thread (tests/inbox/test_comment_threads.py), not a DM thread.
    assert list(Conversation.objects.values_list("thread_key", flat=True)) == [f"comments:{PAGE_ID}_900000000000001"]


def test_an_instagram_comment_is_signalled_with_its_media(meta_post, instagram_inbox, comments):
    meta_post(fixture_at("meta/instagram_comment.json"))
    inbox, comment = comments[0]
    assert inbox == instagram_inbox
    assert (comment["id"], comment["media_id"], comment["from_name"], comment["text"]) == (
        "17860000000000001",
        "17950000000000001",
        "jane.doe",
        "Price?",
    )
    assert comment["platform"] == "instagram"
    assert comment["created_time"] == datetime.fromtimestamp(1767225607, tz=UTC)


def test_the_pages_own_comment_is_flagged_so_automation_can_skip_it(meta_post, messenger_inbox, comments):
    payload = fixture_at("meta/feed_comment.json")
    payload["entry"][0]["changes"][0]["value"]["from"] = {"id": PAGE_ID, "name": "Shop Page"}
    meta_post(payload)
    assert comments[0][1]["from_self"] is True


def test_feed_activity_that_is_not_a_comment_is_acknowledged_and_not_stored(meta_post, messenger_inbox, comments):
    assert meta_post(fixture_at("meta/feed_reaction.json")).status_code == 200
    assert InboundEvent.objects.count() == 0
    assert comments == []


def test_a_comment_for_a_page_no_inbox_owns_is_not_signalled(meta_post, comments):
    assert meta_post(fixture_at("meta/feed_comment.json")).status_code == 200
    assert comments == []


# --- What the integration does not handle --------------------------------------------------------


def test_an_unsupported_messaging_item_is_acknowledged_and_not_stored(meta_post, messenger_inbox):
    assert meta_post(fixture_at("meta/messenger_optin.json")).status_code == 200
    assert InboundEvent.objects.count() == 0


def test_a_stored_event_of_an_unknown_kind_is_logged_and_marked_processed(messenger_inbox, caplog):
    event = InboundEvent.objects.create(provider="meta", kind="handover", dedupe_key="handover:1", payload={})
    event_process(event.pk)
    event.refresh_from_db()
    assert event.processed_at is not None
    assert event.error == ""
    assert "unknown kind 'handover'" in caplog.text


def test_an_edited_message_shows_the_new_text_and_keeps_the_old_one(meta_post, messenger_inbox):
    meta_post(fixture_at("meta/messenger_text.json"))
    meta_post(fixture_at("meta/messenger_edit.json"))
    meta_post(fixture_at("meta/messenger_edit.json"))

    message = Message.objects.get()
    assert message.text == "Hi! Is the GREEN hoodie back in stock?"
    assert [e["previous_text"] for e in message.payload["edits"]] == ["Hi! Is the blue hoodie back in stock?"]
