"""/api/v1/inboxes/, /teams/, /agents/: what admins set up, what everyone else may read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import timezone

from inbox.models import Agent, Conversation, Inbox, Team

from .conversation_factories import conversation_make

INBOXES = "/api/v1/inboxes/"
TEAMS = "/api/v1/teams/"
AGENTS = "/api/v1/agents/"
ME = "/api/v1/agents/me/"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def error(response, status: int, code: str = "invalid") -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"], body
    return body


# --- Inboxes ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_connects_an_inbox_and_its_credentials_never_come_back(api, admin_user, team_a):
    token = "EAAB-secret-page-token-1234567890"
    response = api(admin_user).post(
        INBOXES,
        {"kind": "messenger", "name": "Shop Page", "external_id": "104857600000042", "team": team_a.pk,
         "credentials": {"page_access_token": token}},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "messenger" and body["team"] == team_a.pk and body["has_credentials"] is True
    assert "credentials" not in body and token not in response.content.decode()
    for read in (api(admin_user).get(INBOXES), api(admin_user).get(f"{INBOXES}{body['id']}/")):
        assert token not in read.content.decode()
    assert Inbox.objects.get(pk=body["id"]).credentials == {"page_access_token": token}
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT credentials FROM inbox_inbox WHERE id = %s", [body["id"]])
        assert token not in cursor.fetchone()[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind,external_id",
    [("sms", "4155550100"), ("email", "not-an-address"), ("messenger", "my-page"), ("instagram", "")],
)
def test_an_inbox_with_an_external_id_its_channel_cannot_have_is_refused(api, admin_user, kind, external_id):
    response = api(admin_user).post(INBOXES, {"kind": kind, "name": "X", "external_id": external_id}, format="json")
    error(response, 400)
    assert not Inbox.objects.exists()


@pytest.mark.django_db
def test_the_same_page_cannot_be_connected_twice(api, admin_user, messenger_inbox):
    response = api(admin_user).post(
        INBOXES, {"kind": "messenger", "name": "Again", "external_id": messenger_inbox.external_id}, format="json"
    )
    assert "already exists" in error(response, 400)["detail"]


@pytest.mark.django_db
def test_an_admin_sets_greeting_away_business_hours_and_holidays(api, admin_user, sms_inbox):
    settings = {
        "greeting": {"enabled": True, "text": "Hi! We usually answer within the hour."},
        "away": {"enabled": True, "text": "We're closed; back at 9."},
        "business_hours": {"timezone": "Europe/Paris", "hours": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}},
        "holidays": ["2026-12-25", "2026-12-24"],
        "auto_assign": True,
    }
    response = api(admin_user).patch(f"{INBOXES}{sms_inbox.pk}/", settings, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["greeting"] == settings["greeting"] and body["away"] == settings["away"]
    assert body["business_hours"] == settings["business_hours"]
    assert body["holidays"] == ["2026-12-24", "2026-12-25"]
    assert body["auto_assign"] is True
    sms_inbox.refresh_from_db()
    assert sms_inbox.settings["business_hours"]["timezone"] == "Europe/Paris"
    assert sms_inbox.settings["greeting"]["enabled"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change,words",
    [
        ({"business_hours": {"timezone": "Mars/Olympus", "hours": {}}}, "time zone"),
        ({"business_hours": {"timezone": "UTC", "hours": {"monday": [["09:00", "17:00"]]}}}, "unknown day"),
        ({"business_hours": {"timezone": "UTC", "hours": {"mon": [["17:00", "09:00"]]}}}, "not after"),
        ({"holidays": ["25/12/2026"]}, "holiday"),
        ({"greeting": {"enabled": True, "text": "  "}}, "required"),
        ({"away": {"enabled": "yes", "text": "Closed"}}, "true or false"),
        ({"greeting": {"enabled": True, "text": "x" * 1601}}, "1600"),
    ],
)
def test_bad_automation_settings_are_refused_and_nothing_is_half_written(api, admin_user, sms_inbox, change, words):
    response = api(admin_user).patch(f"{INBOXES}{sms_inbox.pk}/", {"name": "Renamed", **change}, format="json")

    assert words in error(response, 400)["detail"]
    sms_inbox.refresh_from_db()
    assert (sms_inbox.name, sms_inbox.settings) == ("Shop SMS", {})


@pytest.mark.django_db
def test_business_hours_set_to_null_means_always_open(api, admin_user, sms_inbox):
    sms_inbox.settings = {"business_hours": {"timezone": "UTC", "hours": {"mon": [["09:00", "17:00"]]}}}
    sms_inbox.save()
    response = api(admin_user).patch(f"{INBOXES}{sms_inbox.pk}/", {"business_hours": None}, format="json")
    assert response.status_code == 200 and response.json()["business_hours"] is None


@pytest.mark.django_db
def test_new_credentials_replace_the_old_ones_without_being_shown(api, admin_user, messenger_inbox):
    response = api(admin_user).patch(
        f"{INBOXES}{messenger_inbox.pk}/", {"credentials": {"page_access_token": "EAAB-rotated"}}, format="json"
    )
    assert response.status_code == 200 and "EAAB-rotated" not in response.content.decode()
    messenger_inbox.refresh_from_db()
    assert messenger_inbox.credentials == {"page_access_token": "EAAB-rotated"}


@pytest.mark.django_db
def test_turning_auto_assign_on_hands_out_the_waiting_conversations(
    api, admin_user, messenger_inbox, bob, django_capture_on_commit_callbacks
):
    queued = conversation_make(messenger_inbox, waiting_since=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        response = api(admin_user).patch(f"{INBOXES}{messenger_inbox.pk}/", {"auto_assign": True}, format="json")
    assert response.status_code == 200
    assert Conversation.objects.get(pk=queued.pk).assignee == bob


# --- Teams --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_creates_a_team_and_a_name_is_used_once(api, admin_user):
    response = api(admin_user).post(TEAMS, {"name": "Returns", "default_capacity": 4}, format="json")
    assert response.status_code == 201, response.content
    assert {k: response.json()[k] for k in ("name", "default_capacity", "agents", "inboxes")} == {
        "name": "Returns", "default_capacity": 4, "agents": [], "inboxes": [],
    }
    assert "already exists" in error(api(admin_user).post(TEAMS, {"name": "Returns"}, format="json"), 400)["detail"]
    error(api(admin_user).post(TEAMS, {"name": "Neg", "default_capacity": -1}, format="json"), 400)


@pytest.mark.django_db
def test_a_team_shows_its_members_and_inboxes(api, bob, alice, charlie, team_a, messenger_inbox):
    response = api(bob).get(f"{TEAMS}{team_a.pk}/")
    assert response.status_code == 200
    assert response.json()["agents"] == sorted([alice.pk, bob.pk])
    assert response.json()["inboxes"] == [messenger_inbox.pk]


# --- Agents -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_creates_an_agent_who_can_log_in_with_the_role_group(api, admin_user, team_a, client):
    response = api(admin_user).post(
        AGENTS,
        {"username": "greta", "email": "greta@shop.example", "password": "correct-horse-battery", "role": "lead",
         "teams": [team_a.pk], "capacity": 6},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    greta = User.objects.get(username="greta")
    assert body["id"] == greta.pk
    assert {k: body[k] for k in ("username", "role", "teams", "capacity", "availability", "load")} == {
        "username": "greta", "role": "lead", "teams": [team_a.pk], "capacity": 6, "availability": "away", "load": 0,
    }
    assert "password" not in body
    assert list(greta.groups.values_list("name", flat=True)) == ["lead"]
    assert greta.is_staff is False
    assert client.login(username="greta", password="correct-horse-battery")
    assert client.get(ME).json()["username"] == "greta"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change,field",
    [
        ({"password": "short"}, "password"),
        ({"username": "bob"}, "taken"),
        ({"username": "BOB"}, "taken"),
        ({"role": "owner"}, "role"),
        ({"teams": [999999]}, "teams"),
        ({"email": "nope"}, "email"),
    ],
)
def test_a_bad_agent_is_refused_and_no_user_is_left_behind(api, admin_user, bob, team_a, change, field):
    body = {"username": "greta", "email": "greta@shop.example", "password": "correct-horse-battery",
            "role": "agent", "teams": [team_a.pk], **change}
    before = User.objects.count()
    response = api(admin_user).post(AGENTS, body, format="json")
    assert field in error(response, 400)["detail"].lower() or field in response.json().get("fields", {})
    assert User.objects.count() == before


@pytest.mark.django_db
def test_an_admin_changes_a_role_and_the_groups_and_staff_flag_follow(api, admin_user, bob):
    response = api(admin_user).patch(f"{AGENTS}{bob.pk}/", {"role": "admin"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "admin"
    bob.refresh_from_db()
    assert list(bob.groups.values_list("name", flat=True)) == ["admin"]
    assert bob.is_staff is True

    api(admin_user).patch(f"{AGENTS}{bob.pk}/", {"role": "agent"}, format="json")
    bob.refresh_from_db()
    assert list(bob.groups.values_list("name", flat=True)) == ["agent"]
    assert bob.is_staff is False


@pytest.mark.django_db
def test_an_admin_may_not_lock_themselves_out(api, admin_user):
    error(api(admin_user).patch(f"{AGENTS}{admin_user.pk}/", {"role": "agent"}, format="json"), 400)
    error(api(admin_user).patch(f"{AGENTS}{admin_user.pk}/", {"is_active": False}, format="json"), 400)


@pytest.mark.django_db
def test_me_shows_role_teams_and_load(api, bob, team_a, messenger_inbox):
    mine = conversation_make(messenger_inbox)
    Conversation.objects.filter(pk=mine.pk).update(assignee=bob)
    body = api(bob).get(ME).json()
    assert {k: body[k] for k in ("id", "username", "role", "teams", "availability", "load")} == {
        "id": bob.pk, "username": "bob", "role": "agent", "teams": [team_a.pk], "availability": "online", "load": 1,
    }


@pytest.mark.django_db
def test_an_agent_sets_their_own_availability_and_the_queue_drains_to_them(
    api, bob, messenger_inbox, django_capture_on_commit_callbacks
):
    messenger_inbox.settings = {"auto_assign": True}
    messenger_inbox.save()
    Agent.objects.filter(user=bob).update(availability="away")
    queued = conversation_make(messenger_inbox, waiting_since=timezone.now() - timedelta(minutes=5))

    with django_capture_on_commit_callbacks(execute=True):
        response = api(bob).patch(ME, {"availability": "online"}, format="json")

    assert response.status_code == 200 and response.json()["availability"] == "online"
    assert Conversation.objects.get(pk=queued.pk).assignee == bob
    assert api(bob).get(ME).json()["load"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"availability": "sleeping"}, {"availability": "online", "role": "admin"}, {}])
def test_me_accepts_only_a_known_availability(api, bob, body):
    error(api(bob).patch(ME, body, format="json"), 400)
    assert Agent.objects.get(user=bob).role == "agent"


# --- Groups -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_role_groups_carry_sensible_model_permissions():
    perms = {
        group.name: set(group.permissions.values_list("content_type__app_label", "codename"))
        for group in Group.objects.filter(name__in=["agent", "lead", "manager", "admin"])
    }
    assert set(perms) == {"agent", "lead", "manager", "admin"}
    assert ("inbox", "view_conversation") in perms["agent"] and ("inbox", "change_conversation") in perms["agent"]
    assert ("inbox", "add_inbox") not in perms["agent"] and ("inbox", "delete_conversation") not in perms["agent"]
    assert ("inbox", "change_agent") in perms["lead"] and ("inbox", "change_agent") not in perms["agent"]
    assert perms["agent"] < perms["lead"] < perms["manager"] < perms["admin"]
    assert {("inbox", "add_inbox"), ("inbox", "add_team"), ("auth", "add_user")} <= perms["admin"]
    assert Team.objects.count() == 0  # groups are data of their own, nothing else was made


# --- Notifications ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_agent_reads_their_mentions_and_marks_them_read(
    api, alice, bob, messenger_inbox, django_capture_on_commit_callbacks
):
    from inbox.conversations.reply import note_add

    conversation = conversation_make(messenger_inbox)
    with django_capture_on_commit_callbacks(execute=True):
        first = note_add(conversation=conversation, author=alice, text="@bob refund approved")
        note_add(conversation=conversation, author=alice, text="@bob and one more")

    listed = api(bob).get(f"{ME}notifications/?unread=1").json()["results"]
    assert [n["message"] for n in listed][-1] == first.pk and len(listed) == 2
    assert listed[-1]["by"] == {"id": alice.pk, "username": "alice"}
    assert listed[-1]["text"] == "@bob refund approved"
    assert api(alice).get(f"{ME}notifications/").json()["results"] == []  # nobody else's

    marked = api(bob).post(f"{ME}notifications/read/", {"ids": [listed[-1]["id"]]}, format="json")
    assert marked.json() == {"marked": 1}
    assert len(api(bob).get(f"{ME}notifications/?unread=1").json()["results"]) == 1
    assert api(bob).post(f"{ME}notifications/read/", {}, format="json").json() == {"marked": 1}


@pytest.mark.django_db
def test_read_receipts_are_set_per_inbox_from_a_known_mode(api, admin_user, messenger_inbox):
    url = f"{INBOXES}{messenger_inbox.pk}/"
    assert api(admin_user).patch(url, {"read_receipt": "never"}, format="json").json()["settings"]["read_receipt"] == "never"
    error(api(admin_user).patch(url, {"read_receipt": "sometimes"}, format="json"), 400)
