"""API tokens (inbox.api.authentication): DRF's token check, with the agent profile read in the same query."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .conversation_factories import conversation_make

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_agent_profile_comes_with_the_token_in_one_query(api, bob, messenger_inbox):
    conversation_make(messenger_inbox)
    client = api(bob)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    sql = [q["sql"] for q in queries]
    assert 'FROM "authtoken_token"' in sql[0] and '"inbox_agent"."role"' in sql[0]
    assert not any(s.startswith('SELECT "inbox_agent"') for s in sql[1:])


def test_an_unknown_token_and_an_inactive_users_token_are_refused(bob):
    assert _client("0" * 40).get(URL).json()["code"] == "authentication_failed"
    key = Token.objects.create(user=bob).key
    bob.is_active = False
    bob.save()
    response = _client(key).get(URL)
    # 403 rather than 401: the session authenticator comes first and names no WWW-Authenticate scheme.
    assert response.status_code in (401, 403) and response.json()["code"] == "authentication_failed"


def test_a_user_without_an_agent_profile_authenticates_and_sees_nothing(messenger_inbox):
    conversation_make(messenger_inbox)
    nobody = get_user_model().objects.create_user("nobody", "nobody@shop.example", "pw")
    response = _client(Token.objects.create(user=nobody).key).get(URL)
    assert response.status_code == 200 and response.json()["results"] == []


def test_a_list_page_is_two_queries_the_token_with_agent_and_teams_then_the_page(api, bob, messenger_inbox):
    for _ in range(3):
        conversation_make(messenger_inbox, labels=["vip"])
    client = api(bob)
    with CaptureQueriesContext(connection) as queries:
        assert len(client.get(URL).json()["results"]) == 3
    assert len(queries) == 2, [q["sql"][:80] for q in queries]
    assert '"inbox_agent_teams"' in queries[0]["sql"]


def test_team_ids_read_with_the_token_are_each_requests_own(api, bob, team_a, messenger_inbox):
    conversation_make(messenger_inbox)
    client = api(bob)
    assert len(client.get(URL).json()["results"]) == 1
    bob.agent.teams.remove(team_a)
    assert client.get(URL).json()["results"] == []
