"""The Meta messaging window as state on the conversation, and what a reply may do in each state."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.services import identity_resolve
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import reply_send
from inbox.conversations.threads import conversation_for_identity
from inbox.conversations.window import reply_policy
from inbox.models import Conversation, Message


@pytest.fixture
def conversation(messenger_inbox):
    identity = identity_resolve(channel="messenger", scope=messenger_inbox.external_id, external_id="2467001").identity
    return conversation_for_identity(inbox=messenger_inbox, identity=identity)


def _customer_wrote(conversation: Conversation, ago: timedelta) -> Conversation:
    conversation.last_customer_action_at = timezone.now() - ago
    conversation.save()
    return conversation


def test_the_window_is_open_for_24_hours_after_the_customer_writes(conversation):
    _customer_wrote(conversation, timedelta(hours=23, minutes=59))
    assert conversation.window_state(timezone.now()) == "open"


def test_after_24_hours_only_a_human_agent_may_reply_until_7_days(conversation):
    _customer_wrote(conversation, timedelta(hours=25))
    assert conversation.window_state(timezone.now()) == "human_agent"
    _customer_wrote(conversation, timedelta(days=7, seconds=1))
    assert conversation.window_state(timezone.now()) == "closed"


def test_a_conversation_the_customer_never_opened_is_closed(conversation):
    assert conversation.window_state(timezone.now()) == "closed"


def test_sms_and_email_have_no_window(sms_inbox):
    identity = identity_resolve(channel="sms", external_id="+1 (706) 781-5146").identity
    assert identity.external_id == "+17067815146"
    conv = conversation_for_identity(inbox=sms_inbox, identity=identity)
    assert conv.window_state(timezone.now()) is None


def test_in_window_replies_go_as_response_without_a_tag(conversation):
    _customer_wrote(conversation, timedelta(hours=1))
    policy = reply_policy(conversation=conversation, tag=None, sender_type="agent", now=timezone.now())
    assert (policy.messaging_type, policy.tag) == ("RESPONSE", "")
    # Even when the agent asks for HUMAN_AGENT, inside the window no tag is needed.
    policy = reply_policy(conversation=conversation, tag="HUMAN_AGENT", sender_type="agent", now=timezone.now())
    assert (policy.messaging_type, policy.tag) == ("RESPONSE", "")


def test_it_refuses_a_reply_after_the_window_closes_without_the_human_agent_tag(conversation, bob, commit, fake_provider):
    _customer_wrote(conversation, timedelta(hours=30))
    with pytest.raises(ReplyRefused) as refused:
        reply_send(conversation=conversation, author=bob, text="Sorry for the wait")
    assert (refused.value.code, refused.value.status) == ("window_closed", 409)
    message = reply_send(conversation=conversation, author=bob, text="Sorry for the wait", tag="HUMAN_AGENT")
    assert (message.messaging_type, message.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_automation_never_uses_human_agent(conversation):
    _customer_wrote(conversation, timedelta(hours=30))
    with pytest.raises(ReplyRefused) as refused:
        reply_policy(conversation=conversation, tag="HUMAN_AGENT", sender_type="bot", now=timezone.now())
    assert refused.value.code == "invalid_tag"


@pytest.mark.parametrize("tag", ["CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"])
def test_retired_tags_are_never_sent(conversation, bob, tag):
    _customer_wrote(conversation, timedelta(hours=30))
    with pytest.raises(ReplyRefused) as refused:
        reply_send(conversation=conversation, author=bob, text="Your order shipped", tag=tag)
    assert refused.value.code == "invalid_tag"
    assert not Message.objects.filter(conversation=conversation).exists()


def test_after_7_days_nothing_may_be_sent(conversation, bob):
    _customer_wrote(conversation, timedelta(days=8))
    with pytest.raises(ReplyRefused) as refused:
        reply_send(conversation=conversation, author=bob, text="Hello?", tag="HUMAN_AGENT")
    assert refused.value.code == "window_closed"


def test_a_window_meta_closed_reopens_when_the_customer_writes_again(conversation):
    _customer_wrote(conversation, timedelta(hours=2))
    conversation.window_closed_at = timezone.now() - timedelta(hours=1)
    assert conversation.window_state(timezone.now()) == "closed"
    _customer_wrote(conversation, timedelta(minutes=1))
    assert conversation.window_state(timezone.now()) == "open"
