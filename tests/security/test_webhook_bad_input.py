"""Hostile bodies on every webhook: a clear 4xx, never a 500, and nothing stored.

Bodies are correctly signed, so what is tested is the parsing and storing behind the signature check
(a provider's bug or a leaked secret), not the signature check itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qsl, quote

import pytest

from customers.models import Customer
from inbox.models import InboundEvent, Message
from tests.conftest import meta_signature, twilio_signature

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHOPIFY_SECRET = "security-test-shopify-secret"
DEEP = 10_000


@pytest.fixture(autouse=True)
def shopify_secret(settings):
    settings.SHOPIFY_WEBHOOK_SECRET = SHOPIFY_SECRET


@pytest.fixture(autouse=True)
def _inboxes(messenger_inbox, sms_inbox):
    """Inboxes that would own the events, so a stored event would go on to become a message."""


def _nothing_stored() -> None:
    assert not InboundEvent.objects.exists()
    assert not Message.objects.exists()
    assert not Customer.objects.exists()


def _refused(response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:200])
    if response["Content-Type"].startswith("application/json"):
        assert set(response.json()) >= {"code", "detail"}
    _nothing_stored()


def post_meta_raw(client, body: bytes, content_type: str = "application/json"):
    return client.post("/webhooks/meta/", data=body, content_type=content_type, HTTP_X_HUB_SIGNATURE_256=meta_signature(body))


def post_twilio_raw(client, body: bytes, content_type: str = "application/x-www-form-urlencoded"):
    # Twilio signs the parameters as it sent them; the test signs what Django will read back.
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    signature = twilio_signature("http://testserver/webhooks/twilio/sms/", params)
    return client.post("/webhooks/twilio/sms/", data=body, content_type=content_type, HTTP_X_TWILIO_SIGNATURE=signature)


def post_shopify_raw(client, body: bytes, content_type: str = "application/json"):
    digest = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return client.post(
        "/webhooks/shopify/", data=body, content_type=content_type,
        HTTP_X_SHOPIFY_TOPIC="orders/create", HTTP_X_SHOPIFY_WEBHOOK_ID="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        HTTP_X_SHOPIFY_HMAC_SHA256=digest,
    )


def _meta_text_with(text: str) -> bytes:
    payload = json.loads((FIXTURES / "meta/messenger_text.json").read_text())
    payload["entry"][0]["messaging"][0]["message"]["text"] = text
    return json.dumps(payload).encode()


def _twilio_with(body_text: str) -> bytes:
    params = dict(parse_qsl((FIXTURES / "twilio/inbound_sms.txt").read_text().strip(), keep_blank_values=True))
    params["Body"] = body_text
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()).encode()


def _shopify_order() -> bytes:
    return (FIXTURES / "shopify/order_create.json").read_bytes()


def _nested(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


# --- Meta -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"object": "page", "entry": [{"id": "\xff\xfe\xfa"}]}', id="non-utf8"),
        pytest.param(b'{"object": "page",\x00 "entry": []}', id="raw-nul-byte"),
        pytest.param(_nested(DEEP), id="nested-10k"),
        pytest.param(b'{"object": "page", "entry": ' + b"[" * DEEP + b"]" * DEEP + b"}", id="nested-lists-10k"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1, 2, 3]", id="not-an-object"),
    ],
)
def test_meta_refuses_bodies_it_cannot_parse(client, body):
    _refused(post_meta_raw(client, body))


def test_meta_refuses_a_message_whose_text_holds_a_nul_character(client):
    # Valid JSON ("\u0000"), but PostgreSQL cannot store NUL in text or jsonb: refused, not retried forever.
    _refused(post_meta_raw(client, _meta_text_with("hi\u0000there")))


def test_meta_refuses_a_body_over_the_limit_with_413(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2048
    response = post_meta_raw(client, _meta_text_with("x" * 4096))
    assert response.status_code == 413
    _nothing_stored()


def test_meta_refuses_a_body_that_is_not_json_by_content_type(client):
    response = post_meta_raw(client, _meta_text_with("hello"), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    _refused(response)


# --- Twilio ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"MessageSid=SM\xff\xfe&AccountSid=\xfa", id="non-utf8"),
        pytest.param(_twilio_with("hello") + b"&\x00=\x00", id="raw-nul-byte"),
        pytest.param(b"a[" * DEEP + b"=1", id="nested-keys-10k"),
        pytest.param(b"", id="empty"),
    ],
)
def test_twilio_refuses_forms_it_cannot_use(client, body):
    _refused(post_twilio_raw(client, body))


def test_twilio_refuses_a_message_whose_body_holds_a_nul_character(client):
    _refused(post_twilio_raw(client, _twilio_with("STOP\x00NOW")))


def test_twilio_refuses_a_body_over_the_limit_with_413(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2048
    response = post_twilio_raw(client, _twilio_with("x" * 4096))
    assert response.status_code == 413
    _nothing_stored()


def test_twilio_refuses_json_instead_of_a_form(client):
    _refused(post_twilio_raw(client, json.dumps({"MessageSid": "SM" + "0" * 32}).encode(), content_type="application/json"))


# --- Shopify ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"id": "\xff\xfe"}', id="non-utf8"),
        pytest.param(b'{"id": 1,\x00}', id="raw-nul-byte"),
        pytest.param(_nested(DEEP), id="nested-10k"),
        pytest.param(b"", id="empty"),
        pytest.param(b'"just a string"', id="not-an-object"),
    ],
)
def test_shopify_refuses_bodies_it_cannot_parse(client, body):
    _refused(post_shopify_raw(client, body))


def test_shopify_refuses_an_order_with_a_nul_character(client):
    order = json.loads(_shopify_order())
    order["note"] = "gift\u0000wrap"
    order["customer"]["first_name"] = "Ann\u0000"
    _refused(post_shopify_raw(client, json.dumps(order).encode()))


def test_shopify_refuses_a_body_over_the_limit_with_413(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    response = post_shopify_raw(client, _shopify_order())
    assert response.status_code == 413
    _nothing_stored()


def test_shopify_refuses_a_body_that_is_not_json_by_content_type(client):
    response = post_shopify_raw(client, _shopify_order(), content_type="text/plain")
    assert response.status_code == 415
    _refused(response)


def test_a_good_body_is_still_accepted_so_the_refusals_mean_something(client, commit):
    assert post_meta_raw(client, _meta_text_with("hello")).status_code == 200
    assert post_twilio_raw(client, _twilio_with("hello")).status_code == 200
    assert post_shopify_raw(client, _shopify_order()).status_code == 200
    assert InboundEvent.objects.count() == 3
    assert Message.objects.count() == 2
