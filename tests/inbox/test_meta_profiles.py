"""Names for Messenger/Instagram customers from Meta's User Profile API (inbox/profiles.py).

Webhooks go through /webhooks/meta/ with real signatures; Graph is the fake provider answering in
Meta's formats (the default answer is FAKE_PROFILE's requested fields; errors are scripted).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from customers.models import Customer, Identity
from customers.services import customer_update
from inbox.conversations.profiles import meta_profile_fill
from inbox.models import InboundEvent, Message
from tests.conftest import PAGE_ID

from . import meta_support
from .meta_support import IGSID, PSID, fixture_at, now_ms

meta_post = meta_support.meta_post

pytestmark = pytest.mark.django_db

PAGE_TOKEN = "EAAB-test-page-token"
IG_TOKEN = "EAAB-test-ig-token"

# Meta's answers for a person the page may not describe (User Profile API errors).
NO_CONSENT = {
    "error": {
        "message": "(#100) No profile available for this user.",
        "type": "OAuthException",
        "code": 100,
        "error_subcode": 2018218,
        "fbtrace_id": "AbCdEfGhIjK",
    }
}
SERVER_ERROR = {
    "error": {
        "message": "An unexpected error has occurred. Please retry your request later.",
        "type": "OAuthException",
        "is_transient": True,
        "code": 2,
        "fbtrace_id": "AxYz0123456",
    }
}


@pytest.fixture(autouse=True)
def profiles_on(settings):
    settings.META_PROFILE_FETCH = True


def _message(name: str = "meta/messenger_text.json", *, mid: str | None = None, sender: str | None = None) -> dict:
    payload = fixture_at(name, now_ms())
    item = payload["entry"][0]["messaging"][0]
    if mid:
        item["message"]["mid"] = mid
    if sender:
        item["sender"]["id"] = sender
    return payload


def _profile_gets(fake, scoped_id: str) -> list:
    return [r for r in fake.sent(rf"^/v24\.0/{scoped_id}$") if r.method == "GET"]


def _identity(external_id: str) -> Identity:
    return Identity.objects.select_related("customer").get(external_id=external_id)


# --- Messenger and Instagram ----------------------------------------------------------------------


def test_a_new_messenger_sender_gets_first_and_last_name(meta_post, messenger_inbox, fake_provider):
    assert meta_post(_message()).status_code == 200

    identity = _identity(PSID)
    assert identity.display_name == "Peter Chang"
    assert identity.customer.name == "Peter Chang"
    assert identity.profile_checked_at is not None
    [get] = _profile_gets(fake_provider, PSID)
    assert get.query["fields"] == ["first_name,last_name,locale"]
    assert get.query["access_token"] == [PAGE_TOKEN]  # the inbox's page token, decrypted
    assert get.query["appsecret_proof"]
    assert Message.objects.filter(conversation__identity=identity).count() == 1


def test_an_instagram_sender_gets_their_name(meta_post, instagram_inbox, fake_provider):
    fake_provider.script(
        rf"^/v24\.0/{IGSID}$", json_body={"name": "Mara Quinn", "username": "mara.q", "id": IGSID}
    )
    meta_post(_message("meta/instagram_text.json"))

    identity = _identity(IGSID)
    assert (identity.display_name, identity.customer.name) == ("Mara Quinn", "Mara Quinn")
    [get] = _profile_gets(fake_provider, IGSID)
    assert get.query["fields"] == ["name,username"]
    assert get.query["access_token"] == [IG_TOKEN]


def test_an_instagram_sender_without_a_name_gets_their_username(meta_post, instagram_inbox, fake_provider):
    # Meta leaves `name` out (or null) when the person has not set one.
    fake_provider.script(rf"^/v24\.0/{IGSID}$", json_body={"name": None, "username": "mara.q", "id": IGSID})
    meta_post(_message("meta/instagram_text.json"))

    identity = _identity(IGSID)
    assert (identity.display_name, identity.customer.name) == ("mara.q", "mara.q")


def test_the_name_reaches_open_browsers(meta_post, messenger_inbox, fake_provider):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"inbox-{messenger_inbox.pk}", channel)

    meta_post(_message())

    async def named_frame() -> dict:
        while True:
            frame = (await layer.receive(channel))["frame"]
            if frame["type"] == "conversation.updated" and frame["conversation"]["customer"]["name"] == "Peter Chang":
                return frame

    frame = async_to_sync(asyncio.wait_for)(named_frame(), 5)  # a guard against hanging, not a timing claim
    assert frame["conversation"]["customer"]["id"] == _identity(PSID).customer_id


# --- Failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, NO_CONSENT),
        (400, {"error": {**NO_CONSENT["error"], "error_subcode": 2018247}}),
        (400, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190, "fbtrace_id": "A1"}}),
        (500, SERVER_ERROR),
    ],
    ids=["no-consent", "deleted", "bad-token", "server-error"],
)
def test_a_graph_error_leaves_the_name_blank_and_intake_works(meta_post, messenger_inbox, fake_provider, status, body):
    fake_provider.script(rf"^/v24\.0/{PSID}$", status=status, json_body=body)

    assert meta_post(_message()).status_code == 200

    identity = _identity(PSID)
    assert identity.display_name == "" and identity.customer.name == ""
    assert identity.profile_checked_at is not None  # tried: not asked again on the next message
    assert Message.objects.filter(conversation__identity=identity).count() == 1
    event = InboundEvent.objects.get()
    assert event.processed_at is not None and event.error == ""


def test_an_unreachable_graph_api_does_not_stop_intake(meta_post, messenger_inbox, settings):
    settings.META_GRAPH_URL = "http://127.0.0.1:9/v24.0"  # discard port: nothing listens

    assert meta_post(_message()).status_code == 200

    identity = _identity(PSID)
    assert identity.display_name == ""
    assert Message.objects.filter(conversation__identity=identity).count() == 1
    assert InboundEvent.objects.get().processed_at is not None


def test_a_transient_failure_asks_for_a_retry_until_the_last_attempt(messenger_inbox, fake_provider):
    identity = Identity.objects.create(
        customer=Customer.objects.create(), channel="messenger", scope=PAGE_ID, external_id=PSID
    )
    fake_provider.script(rf"^/v24\.0/{PSID}$", status=503, json_body=SERVER_ERROR, times=2)

    assert meta_profile_fill(identity_id=identity.pk, inbox_id=messenger_inbox.pk, final=False) is True
    assert meta_profile_fill(identity_id=identity.pk, inbox_id=messenger_inbox.pk, final=True) is False
    identity.refresh_from_db()
    assert identity.display_name == ""
    # A 4xx is final at once, however many attempts are left.
    fake_provider.script(rf"^/v24\.0/{PSID}$", status=400, json_body=NO_CONSENT)
    assert meta_profile_fill(identity_id=identity.pk, inbox_id=messenger_inbox.pk, final=False) is False
    # Graph answers again: the next attempt names them.
    assert meta_profile_fill(identity_id=identity.pk, inbox_id=messenger_inbox.pk, final=False) is False
    identity.refresh_from_db()
    assert identity.display_name == "Peter Chang"


def test_the_token_never_shows_in_logs(meta_post, messenger_inbox, fake_provider, settings, caplog):
    fake_provider.script(rf"^/v24\.0/{PSID}$", status=400, json_body=NO_CONSENT)
    with caplog.at_level(logging.INFO), caplog.at_level(logging.DEBUG, logger="inbox"):
        meta_post(_message())
        settings.META_GRAPH_URL = "http://127.0.0.1:9/v24.0"
        meta_post(_message(mid="m_second_sender", sender="2467001000000099"))

    assert _identity("2467001000000099").profile_checked_at is not None  # the failing call did happen
    assert "not available" in caplog.text
    assert PAGE_TOKEN not in caplog.text


# --- Only blanks, only once -----------------------------------------------------------------------


def test_a_name_an_agent_typed_is_never_overwritten(meta_post, messenger_inbox, fake_provider):
    fake_provider.script(rf"^/v24\.0/{PSID}$", status=400, json_body=NO_CONSENT)
    meta_post(_message())
    identity = _identity(PSID)
    customer_update(customer=identity.customer, name="Ada Lovelace")
    # A day later the person writes again and Meta now answers.
    Identity.objects.filter(pk=identity.pk).update(profile_checked_at=timezone.now() - timedelta(hours=25))

    meta_post(_message(mid="m_later"))

    identity = _identity(PSID)
    assert identity.display_name == "Peter Chang"  # the identity's own blank is filled
    assert identity.customer.name == "Ada Lovelace"
    assert len(_profile_gets(fake_provider, PSID)) == 2


def test_a_named_customer_from_another_source_keeps_the_name(meta_post, messenger_inbox, fake_provider):
    customer = Customer.objects.create(name="Grace Hopper", email="grace@example.com")
    Identity.objects.create(customer=customer, channel="messenger", scope=PAGE_ID, external_id=PSID)

    meta_post(_message())

    identity = _identity(PSID)
    assert identity.display_name == "Peter Chang"
    assert identity.customer.name == "Grace Hopper"


def test_an_identity_with_a_name_is_never_looked_up(meta_post, messenger_inbox, fake_provider):
    customer = Customer.objects.create(name="Linus")
    Identity.objects.create(customer=customer, channel="messenger", scope=PAGE_ID, external_id=PSID, display_name="Linus T")

    meta_post(_message())

    assert _profile_gets(fake_provider, PSID) == []
    assert _identity(PSID).display_name == "Linus T"


def test_a_second_message_does_not_fetch_again(meta_post, messenger_inbox, fake_provider):
    fake_provider.script(rf"^/v24\.0/{PSID}$", status=400, json_body=NO_CONSENT)
    meta_post(_message())
    meta_post(_message(mid="m_second"))
    meta_post(_message(mid="m_third"))

    assert len(_profile_gets(fake_provider, PSID)) == 1
    assert Message.objects.filter(conversation__identity__external_id=PSID).count() == 3


def test_a_nameless_identity_is_asked_again_after_a_day(meta_post, messenger_inbox, fake_provider):
    fake_provider.script(rf"^/v24\.0/{PSID}$", status=400, json_body=NO_CONSENT)
    meta_post(_message())
    Identity.objects.filter(external_id=PSID).update(profile_checked_at=timezone.now() - timedelta(hours=25))

    meta_post(_message(mid="m_next_day"))

    assert len(_profile_gets(fake_provider, PSID)) == 2
    assert _identity(PSID).customer.name == "Peter Chang"


def test_a_business_echo_to_a_new_person_does_not_look_them_up(meta_post, messenger_inbox, fake_provider):
    # Meta lets the page read a profile once the person has written; an echo is the page writing.
    meta_post(fixture_at("meta/messenger_echo.json", now_ms()))

    identity = Identity.objects.get(channel="messenger", scope=PAGE_ID)
    assert fake_provider.sent(rf"^/v24\.0/{identity.external_id}$") == []
    assert identity.profile_checked_at is None


def test_nothing_is_asked_when_profile_fetching_is_off(meta_post, messenger_inbox, fake_provider, settings):
    settings.META_PROFILE_FETCH = False
    meta_post(_message())

    assert _profile_gets(fake_provider, PSID) == []
    assert _identity(PSID).display_name == ""

