"""Only the inbound-email ESPs the deployment configures are routed; the others answer 404."""

from __future__ import annotations

import base64

import pytest

from inbox.models import InboundEvent, Message

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "anymail:hook-secret-1"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(WEBHOOK_SECRET.encode()).decode()}
# A SendGrid inbound parse post: the basic auth is that ESP's only check.
SENDGRID_FORM = {
    "email": "From: Mallory <mallory@example.net>\r\nTo: support@shop.example\r\nSubject: Hi\r\n"
             "Message-ID: <forged-1@example.net>\r\n\r\nStored?\r\n",
    "to": "support@shop.example",
    "from": "Mallory <mallory@example.net>",
}


@pytest.fixture
def mailgun_only(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": "key-test"}
    settings.ANYMAIL_INBOUND_ESPS = None  # unset: the ESPs whose signing key is set
    return settings


@pytest.mark.parametrize("esp", ["sendgrid", "postmark", "mailjet", "sparkpost"])
def test_an_esp_that_is_not_configured_answers_404_and_stores_nothing(client, email_inbox, mailgun_only, esp):
    response = client.post(f"/webhooks/anymail/{esp}/inbound/", data=SENDGRID_FORM, **AUTH)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not InboundEvent.objects.exists() and not Message.objects.exists()


def test_the_esp_whose_signing_key_is_set_is_routed(client, email_inbox, mailgun_only):
    # Unsigned, so refused, but by the route's own checks: it exists.
    response = client.post("/webhooks/anymail/mailgun/inbound/", data={"token": "x"}, **AUTH)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_signature"


def test_esps_named_in_the_setting_are_routed_and_only_those(client, email_inbox, mailgun_only):
    mailgun_only.ANYMAIL_INBOUND_ESPS = ["sendgrid"]

    assert client.post("/webhooks/anymail/sendgrid/inbound/", data=SENDGRID_FORM, **AUTH).status_code != 404
    assert client.post("/webhooks/anymail/mailgun/inbound/", data={"token": "x"}, **AUTH).status_code == 404


def test_tracking_webhooks_of_an_unconfigured_esp_answer_404_too(client, mailgun_only):
    assert client.post("/webhooks/anymail/sendgrid/tracking/", data="[]", content_type="application/json", **AUTH).status_code == 404
