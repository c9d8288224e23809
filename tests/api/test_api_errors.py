"""Bad input is a 4xx `{code, detail}`, never a 500, and nothing is half-written or sent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .conversation_factories import conversation_make

BASE = "/api/v1/conversations/"


@pytest.fixture
def conversation(messenger_inbox):
    return conversation_make(messenger_inbox, customer_wrote_ago=timedelta(minutes=10))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize("suffix", ["messages/", "notes/"])
def test_malformed_json_is_a_parse_error(api, bob, conversation, fake_provider, suffix):
    response = api(bob).post(f"{BASE}{conversation.pk}/{suffix}", data=b'{"text": "hi",', content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert not conversation.messages.exists()


def test_malformed_json_on_patch_is_a_parse_error(api, bob, conversation):
    response = api(bob).patch(f"{BASE}{conversation.pk}/", data=b"{status: resolved}", content_type="application/json")
    assert_error(response, 400, "parse_error")
    conversation.refresh_from_db()
    assert conversation.status == "open"


@pytest.mark.parametrize("text", [123, 1.5, True, ["hi"], {"t": "hi"}])
def test_a_reply_text_must_be_a_string(api, bob, conversation, fake_provider, text):
    response = api(bob).post(f"{BASE}{conversation.pk}/messages/", {"text": text}, format="json")
    body = assert_error(response, 400, "invalid")
    assert "text" in body["fields"]
    assert not conversation.messages.exists()
    assert fake_provider.sent() == []


@pytest.mark.parametrize("tag", [7, ["HUMAN_AGENT"], {"tag": "HUMAN_AGENT"}])
def test_a_tag_must_be_a_string_or_null(api, bob, conversation, tag):
    response = api(bob).post(f"{BASE}{conversation.pk}/messages/", {"text": "hi", "tag": tag}, format="json")
    assert "tag" in assert_error(response, 400, "invalid")["fields"]


def test_a_null_tag_is_no_tag(api, bob, conversation, fake_provider):
    response = api(bob).post(f"{BASE}{conversation.pk}/messages/", {"text": "hi", "tag": None}, format="json")
    assert response.status_code == 201
    assert response.json()["tag"] == ""


@pytest.mark.parametrize("suffix", ["messages/", "notes/"])
def test_a_nul_character_is_refused(api, bob, conversation, fake_provider, suffix):
    response = api(bob).post(f"{BASE}{conversation.pk}/{suffix}", {"text": "bad\x00byte"}, format="json")
    assert_error(response, 400, "invalid")
    assert not conversation.messages.exists()


@pytest.mark.parametrize("body", [[], ["text"], "text", 42])
def test_a_body_that_is_not_an_object_is_refused(api, bob, conversation, body):
    response = api(bob).post(f"{BASE}{conversation.pk}/messages/", body, format="json")
    assert_error(response, 400, "invalid")


def test_an_empty_reply_is_refused(api, bob, conversation):
    response = api(bob).post(f"{BASE}{conversation.pk}/messages/", {"text": "   "}, format="json")
    assert_error(response, 400, "empty")


def test_unknown_fields_are_ignored(api, bob, conversation, fake_provider):
    response = api(bob).post(
        f"{BASE}{conversation.pk}/messages/", {"text": "hi", "direction": "in", "author": 1}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["direction"] == "out"


@pytest.mark.parametrize(
    "body",
    [
        {"status": 1},
        {"status": "closed"},
        {"labels": "vip"},
        {"labels": [1, 2]},
        {"labels": [""]},
        {"labels": ["x" * 65]},
        {"assignee": "bob"},
        {"team": [1]},
        {"snoozed_until": "tomorrow"},
        {"snoozed_until": "2099-01-01T00:00:00Z"},
    ],
)
def test_a_bad_patch_is_a_400_and_changes_nothing(api, bob, conversation, body):
    response = api(bob).patch(f"{BASE}{conversation.pk}/", body, format="json")
    assert_error(response, 400, "invalid")
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert not conversation.labels.exists()


def test_methods_the_api_does_not_offer_are_405(api, bob, conversation):
    client = api(bob)
    assert_error(client.put(f"{BASE}{conversation.pk}/", {"status": "open"}, format="json"), 405, "method_not_allowed")
    assert_error(client.delete(f"{BASE}{conversation.pk}/"), 405, "method_not_allowed")


def test_an_id_that_is_not_a_number_is_a_404(api, bob):
    assert_error(api(bob).get(f"{BASE}abc/"), 404, "not_found")


def test_a_wrong_token_is_refused(client, conversation):
    response = client.get(BASE, HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "authentication_failed"


def test_an_id_beyond_any_row_is_a_404_not_a_database_error(api, bob):
    assert_error(api(bob).get(f"{BASE}99999999999999999999999/"), 404, "not_found")


@pytest.mark.parametrize(
    "params",
    [{"q": "a\x00b"}, {"label": "\x00"}, {"assignee": "9" * 25}, {"team": "9" * 25}, {"inbox": "9" * 25}],
)
def test_filter_values_the_database_would_choke_on_are_a_400(api, bob, conversation, params):
    assert_error(api(bob).get(BASE, params), 400, "invalid")


def test_a_patch_with_an_id_beyond_bigint_is_a_400(api, alice, conversation):
    response = api(alice).patch(f"{BASE}{conversation.pk}/", {"assignee": 10**30}, format="json")
    assert_error(response, 400, "invalid")
