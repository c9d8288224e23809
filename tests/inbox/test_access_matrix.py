"""Who may do what: every role against every endpoint, and 404 (never 403) for what one may not see.

The cast: bob (agent, Support), charlie (agent, Wholesale), lena (lead, Support), alice (manager,
Support), root (admin), "outsider" (a user with no agent profile) and an anonymous client.
Objects belong to Support. A table row is an endpoint; a cell is the status each role gets.
"""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from inbox.models import Conversation, Role
from inbox.team.access import (
    agents_visible_to,
    can_see_conversation,
    conversations_visible_to,
    inboxes_visible_to,
    role_of,
    teams_visible_to,
)
from tests.api.conversation_factories import conversation_make
from tests.conftest import api_client_for, make_user

ROLES = ["anon", "outsider", "charlie", "bob", "lena", "alice", "root"]  # root last: its writes succeed
_n = itertools.count(1)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db, team_a, team_b, alice, bob, charlie, admin_user, messenger_inbox):
    lena = make_user("lena", Role.LEAD, [team_a])
    dave = make_user("dave", Role.AGENT, [team_a])
    outsider = User.objects.create_user("outsider", "outsider@shop.example", "pw-outsider")
    conversation = conversation_make(messenger_inbox)
    users = {"outsider": outsider, "charlie": charlie, "bob": bob, "lena": lena, "alice": alice, "root": admin_user}
    clients = {name: api_client_for(user) for name, user in users.items()}
    clients["anon"] = APIClient()
    return {
        "users": users,
        "clients": clients,
        "ids": {
            "inbox": messenger_inbox.pk,
            "team": team_a.pk,
            "other_team": team_b.pk,
            "dave": dave.pk,
            "conversation": conversation.pk,
        },
    }


def _unique(role: str) -> str:
    return f"{role}{next(_n)}"


def _bodies(role: str, ids: dict, users: dict) -> dict:
    """Request bodies per endpoint; creates are unique per role so an allowed one really succeeds."""
    n = next(_n)
    return {
        "inbox_create": {"kind": "sms", "name": "New line", "external_id": f"+1415555{n:04d}", "credentials": {}},
        "team_create": {"name": f"Team {_unique(role)}"},
        "agent_create": {
            "username": _unique("new"), "email": f"new{n}@shop.example", "password": "a-long-enough-pass-9",
            "role": "agent", "teams": [ids["team"]],
        },
        "take": {"assignee": users[role].pk if role in users else 1},
    }


# (name, method, path, body key or literal body, {role: expected status}); anon is always refused.
MATRIX = [
    ("list inboxes", "get", "/api/v1/inboxes/", None, dict(outsider=200, charlie=200, bob=200, lena=200, alice=200, root=200)),
    ("create inbox", "post", "/api/v1/inboxes/", "inbox_create", dict(outsider=403, charlie=403, bob=403, lena=403, alice=403, root=201)),
    ("read inbox", "get", "/api/v1/inboxes/{inbox}/", None, dict(outsider=404, charlie=404, bob=200, lena=200, alice=200, root=200)),
    ("change inbox", "patch", "/api/v1/inboxes/{inbox}/", {"name": "Renamed"}, dict(outsider=404, charlie=404, bob=403, lena=403, alice=403, root=200)),
    ("list teams", "get", "/api/v1/teams/", None, dict(outsider=200, charlie=200, bob=200, lena=200, alice=200, root=200)),
    ("create team", "post", "/api/v1/teams/", "team_create", dict(outsider=403, charlie=403, bob=403, lena=403, alice=403, root=201)),
    ("read team", "get", "/api/v1/teams/{team}/", None, dict(outsider=404, charlie=404, bob=200, lena=200, alice=200, root=200)),
    ("read other team", "get", "/api/v1/teams/{other_team}/", None, dict(outsider=404, charlie=200, bob=404, lena=404, alice=404, root=200)),
    ("change team", "patch", "/api/v1/teams/{team}/", {"default_capacity": 7}, dict(outsider=404, charlie=404, bob=403, lena=403, alice=403, root=200)),
    ("list agents", "get", "/api/v1/agents/", None, dict(outsider=200, charlie=200, bob=200, lena=200, alice=200, root=200)),
    ("create agent", "post", "/api/v1/agents/", "agent_create", dict(outsider=403, charlie=403, bob=403, lena=403, alice=403, root=201)),
    ("read agent", "get", "/api/v1/agents/{dave}/", None, dict(outsider=404, charlie=404, bob=200, lena=200, alice=200, root=200)),
    ("set agent availability", "patch", "/api/v1/agents/{dave}/", {"availability": "busy"}, dict(outsider=404, charlie=404, bob=403, lena=200, alice=200, root=200)),
    ("change agent role", "patch", "/api/v1/agents/{dave}/", {"role": "lead"}, dict(outsider=404, charlie=404, bob=403, lena=403, alice=403, root=200)),
    ("read me", "get", "/api/v1/agents/me/", None, dict(outsider=404, charlie=200, bob=200, lena=200, alice=200, root=200)),
    ("set my availability", "patch", "/api/v1/agents/me/", {"availability": "online"}, dict(outsider=404, charlie=200, bob=200, lena=200, alice=200, root=200)),
    ("read conversation", "get", "/api/v1/conversations/{conversation}/", None, dict(outsider=404, charlie=404, bob=200, lena=200, alice=200, root=200)),
    ("read thread", "get", "/api/v1/conversations/{conversation}/messages/", None, dict(outsider=404, charlie=404, bob=200, lena=200, alice=200, root=200)),
    ("assign to a teammate", "patch", "/api/v1/conversations/{conversation}/", {"assignee": "{dave}"}, dict(outsider=404, charlie=404, bob=403, lena=200, alice=200, root=200)),
    ("add a note", "post", "/api/v1/conversations/{conversation}/notes/", {"text": "Checked the order."}, dict(outsider=404, charlie=404, bob=201, lena=201, alice=201, root=201)),
]


def _fill(value, ids: dict):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.django_db
@pytest.mark.parametrize("name,method,path,body,expected", MATRIX, ids=[row[0] for row in MATRIX])
def test_each_role_gets_what_it_may_on_each_endpoint(world, name, method, path, body, expected):
    ids, users, clients = world["ids"], world["users"], world["clients"]
    url = path.format(**ids)
    wrong = []
    for role in ROLES:
        payload = _bodies(role, ids, users)[body] if isinstance(body, str) else _fill(body, ids)
        call = getattr(clients[role], method)
        response = call(url, payload, format="json") if payload is not None else call(url)
        if role == "anon":
            if response.status_code not in (401, 403) or response.json().get("code") != "not_authenticated":
                wrong.append((role, response.status_code, response.content[:200]))
            continue
        if response.status_code != expected[role]:
            wrong.append((role, f"{response.status_code} != {expected[role]}", response.content[:200]))
        elif response.status_code == 404:
            assert response.json() == {"code": "not_found", "detail": "Not found."}  # nothing about the object
    assert not wrong, f"{name}: {wrong}"


@pytest.mark.django_db
def test_an_agent_takes_a_conversation_from_the_queue_but_not_from_a_teammate(world):
    bob, lena = world["users"]["bob"], world["users"]["lena"]
    url = f"/api/v1/conversations/{world['ids']['conversation']}/"

    assert world["clients"]["bob"].patch(url, {"assignee": bob.pk}, format="json").status_code == 200
    assert world["clients"]["lena"].patch(url, {"assignee": world["ids"]["dave"]}, format="json").status_code == 200
    taken = world["clients"]["bob"].patch(url, {"assignee": bob.pk}, format="json")
    assert taken.status_code == 409 and taken.json()["code"] == "already_assigned"
    assert Conversation.objects.get(pk=world["ids"]["conversation"]).assignee_id == world["ids"]["dave"]
    assert lena  # the lead did the reassigning


@pytest.mark.django_db
def test_lists_hold_only_what_each_role_may_see(world, team_b):
    ids, clients = world["ids"], world["clients"]

    def listed(role, path):
        response = clients[role].get(path)
        assert response.status_code == 200, response.content
        return sorted(item["id"] for item in response.json()["results"])

    assert listed("bob", "/api/v1/inboxes/") == [ids["inbox"]]
    assert listed("charlie", "/api/v1/inboxes/") == []
    assert listed("outsider", "/api/v1/inboxes/") == []
    assert listed("bob", "/api/v1/teams/") == [ids["team"]]
    assert listed("charlie", "/api/v1/teams/") == [team_b.pk]
    assert listed("root", "/api/v1/teams/") == sorted([ids["team"], team_b.pk])
    users = world["users"]
    support = sorted([users["bob"].pk, users["lena"].pk, users["alice"].pk, ids["dave"]])
    assert listed("bob", "/api/v1/agents/") == support
    assert listed("charlie", "/api/v1/agents/") == [users["charlie"].pk]
    assert listed("outsider", "/api/v1/agents/") == []


@pytest.mark.django_db
def test_the_access_functions_agree_with_the_roles(world, messenger_inbox):
    users = world["users"]
    conversation = Conversation.objects.get(pk=world["ids"]["conversation"])
    assert {name: role_of(user) for name, user in users.items()} == {
        "outsider": None, "charlie": "agent", "bob": "agent", "lena": "lead", "alice": "manager", "root": "admin",
    }
    assert {name for name, user in users.items() if can_see_conversation(user, conversation)} == {
        "bob", "lena", "alice", "root",
    }
    assert list(inboxes_visible_to(users["charlie"])) == []
    assert not conversations_visible_to(users["outsider"]).exists()
    assert not teams_visible_to(users["outsider"]).exists()
    assert not agents_visible_to(users["outsider"]).exists()


@pytest.mark.django_db
def test_a_conversation_routed_to_another_team_or_assigned_across_teams_becomes_visible_there(world, team_b):
    charlie = world["users"]["charlie"]
    conversation = Conversation.objects.get(pk=world["ids"]["conversation"])
    assert not can_see_conversation(charlie, conversation)

    Conversation.objects.filter(pk=conversation.pk).update(team=team_b)
    assert can_see_conversation(charlie, conversation)

    Conversation.objects.filter(pk=conversation.pk).update(team=None, assignee=charlie)
    assert can_see_conversation(charlie, conversation)


@pytest.mark.django_db
def test_a_deactivated_agent_sees_nothing(world):
    bob = world["users"]["bob"]
    bob.is_active = False
    bob.save()
    assert role_of(bob) is None
    assert not conversations_visible_to(bob).exists()
    assert world["clients"]["bob"].get("/api/v1/inboxes/").status_code in (401, 403)
