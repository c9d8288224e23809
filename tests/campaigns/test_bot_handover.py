"""The Messenger/Instagram quick-reply bot: intro, answers, handover to a human, silence after."""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import BotSession
from inbox.conversations.reply import reply_send
from inbox.models import Conversation, Message, SenderType
from inbox.team.directory import inbox_settings_clean
from tests.conftest import post_meta
from tests.inbox.meta_support import IGSID, fixture_at, now_ms

pytestmark = pytest.mark.django_db

OPTIONS = [
    {"title": "Track my order", "payload": "TRACK_ORDER", "answer": "Track it at shop.example/track."},
    {"title": "Returns", "payload": "RETURNS", "answer": "You have 30 days to return an item."},
]
BOT = {
    "enabled": True,
    "intro": "Hi! What can we help you with?",
    "options": OPTIONS,
    "handover_text": "Connecting you with a person, hang tight.",
}
QUICK_REPLIES = [
    {"content_type": "text", "title": "Track my order", "payload": "TRACK_ORDER"},
    {"content_type": "text", "title": "Returns", "payload": "RETURNS"},
]
_mids = itertools.count(1)


@pytest.fixture
def bot_inbox(messenger_inbox):
    messenger_inbox.settings = {"bot": BOT}
    messenger_inbox.save()
    return messenger_inbox


@pytest.fixture
def say(client, commit, fake_provider):
    """The customer writes (or taps a quick reply) on Messenger, as Meta's webhook delivers it."""

    def post(text: str, *, quick_reply: str | None = None, fixture: str = "meta/messenger_text.json"):
        if quick_reply is not None:
            fixture = "meta/messenger_quick_reply.json"
        payload = fixture_at(fixture, now_ms())
        message = payload["entry"][0]["messaging"][0]["message"]
        message["mid"], message["text"] = f"m_bot_{next(_mids)}", text
        if quick_reply is not None:
            message["quick_reply"] = {"payload": quick_reply}
        assert post_meta(client, payload).status_code == 200

    return post


def bot_texts() -> list[str]:
    return list(Message.objects.filter(sender_type=SenderType.BOT).order_by("id").values_list("text", flat=True))


def graph_bodies(fake_provider) -> list[dict]:
    return [r.json() for r in fake_provider.sent("/messages$")]


def test_the_first_message_gets_the_intro_with_the_options_as_quick_replies(bot_inbox, say, fake_provider):
    say("hello")
    assert bot_texts() == ["Hi! What can we help you with?"]
    [body] = graph_bodies(fake_provider)
    assert body["message"]["text"] == "Hi! What can we help you with?"
    assert body["message"]["quick_replies"] == QUICK_REPLIES
    assert "tag" not in body and body["messaging_type"] == "RESPONSE"
    # The bot is not a response: the customer still waits for a human.
    assert Conversation.objects.get().waiting_since is not None


def test_a_tapped_option_gets_its_answer_and_the_options_again(bot_inbox, say, fake_provider):
    say("hello")
    say("Returns", quick_reply="RETURNS")
    assert bot_texts() == ["Hi! What can we help you with?", "You have 30 days to return an item."]
    answer = graph_bodies(fake_provider)[-1]["message"]
    assert answer["text"] == "You have 30 days to return an item."
    assert answer["quick_replies"] == QUICK_REPLIES
    assert BotSession.objects.get().handed_over_at is None


def test_asking_for_a_human_hands_over_and_the_bot_stays_silent_after(bot_inbox, say, fake_provider):
    say("hello")
    say("can I talk to a HUMAN please?")
    assert bot_texts()[-1] == "Connecting you with a person, hang tight."
    handover = graph_bodies(fake_provider)[-1]["message"]
    assert "quick_replies" not in handover
    conversation = Conversation.objects.get()
    assert BotSession.objects.get(conversation=conversation).handed_over_at is not None
    assert conversation.status == "open" and conversation.waiting_since is not None

    say("Track my order", quick_reply="TRACK_ORDER")
    say("hello?")
    assert len(bot_texts()) == 2
    assert len(graph_bodies(fake_provider)) == 2


def test_words_that_merely_contain_agent_do_not_hand_over(bot_inbox, say):
    say("Hi, I'm a travel agency: do you sell personalised gift cards?")
    assert bot_texts() == ["Hi! What can we help you with?"]
    assert BotSession.objects.get().handed_over_at is None


def test_anything_the_bot_does_not_understand_goes_to_a_human(bot_inbox, say):
    say("hello")
    say("my parcel arrived broken")
    assert bot_texts() == ["Hi! What can we help you with?", "Connecting you with a person, hang tight."]
    assert BotSession.objects.get().handed_over_at is not None


def test_asking_for_an_agent_right_away_skips_the_intro(bot_inbox, say):
    say("I want a representative")
    assert bot_texts() == ["Connecting you with a person, hang tight."]


def test_the_bot_is_silent_once_an_agent_has_replied(bot_inbox, say, bob, fake_provider):
    say("hello")
    conversation = Conversation.objects.get()
    reply_send(conversation=conversation, author=bob, text="Hi, Bob here.")
    say("Returns", quick_reply="RETURNS")
    say("something else")
    assert bot_texts() == ["Hi! What can we help you with?"]
    assert BotSession.objects.get().handed_over_at is None
    assert [b["message"]["text"] for b in graph_bodies(fake_provider)] == ["Hi! What can we help you with?", "Hi, Bob here."]


def test_the_bot_answers_on_instagram_too(instagram_inbox, say, fake_provider):
    instagram_inbox.settings = {"bot": BOT}
    instagram_inbox.save()
    say("hi", fixture="meta/instagram_text.json")
    conversation = Conversation.objects.get()
    assert conversation.channel == "instagram" and conversation.identity.external_id == IGSID
    assert graph_bodies(fake_provider)[0]["message"]["quick_replies"] == QUICK_REPLIES


def test_nothing_is_sent_when_the_bot_is_off(messenger_inbox, say, fake_provider):
    messenger_inbox.settings = {"bot": {**BOT, "enabled": False}}
    messenger_inbox.save()
    say("hello")
    assert bot_texts() == [] and graph_bodies(fake_provider) == []


@pytest.mark.parametrize(
    "bot, error",
    [
        ({**BOT, "options": [{**OPTIONS[0], "title": "A title well over twenty"}]}, "title must be 1 to 20"),
        ({**BOT, "intro": ""}, "bot.intro is required"),
        ({**BOT, "options": [OPTIONS[0], {**OPTIONS[1], "payload": "TRACK_ORDER"}]}, "repeats"),
        ({**BOT, "options": [OPTIONS[0]] * 14}, "at most 13"),
        ({**BOT, "mode": "smart"}, "unknown keys"),
    ],
)
def test_bad_bot_settings_are_refused(bot, error):
    with pytest.raises(ValidationError, match=error):
        inbox_settings_clean(inbox_kind="messenger", current={}, changes={"bot": bot})


def test_the_bot_is_refused_on_an_sms_inbox():
    with pytest.raises(ValidationError, match="Messenger and Instagram"):
        inbox_settings_clean(inbox_kind="sms", current={}, changes={"bot": BOT})


def test_admins_set_the_bot_through_the_inbox_api(client, admin_user, messenger_inbox):
    client.force_login(admin_user)
    response = client.patch(f"/api/v1/inboxes/{messenger_inbox.pk}/", {"bot": BOT}, content_type="application/json")
    assert response.status_code == 200, response.content
    messenger_inbox.refresh_from_db()
    assert messenger_inbox.settings["bot"] == BOT
    bad = client.patch(
        f"/api/v1/inboxes/{messenger_inbox.pk}/", {"bot": {**BOT, "handover_text": 5}}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
