"""The CSAT report, the SLA report and the managers' reports read one scope (inbox/reports/scope.py):
the same period of whole UTC days, the same inboxes and teams a user may see, the same errors."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from inbox.models import Inbox
from inbox.reports.scope import ScopeRefused, scope_for

pytestmark = pytest.mark.django_db

CSAT, SLA, REPORT = "/api/v1/csat/summary/", "/api/v1/reports/sla/", "/api/v1/reports/volume/"


def today():
    return timezone.now().astimezone(UTC).date()


def midnight(day) -> datetime:
    return datetime.combine(day, time.min, UTC)


def test_the_three_read_the_same_period_of_whole_utc_days(api, alice, messenger_inbox):
    client = api(alice)
    first, after = midnight(today() - timedelta(days=6)), midnight(today() + timedelta(days=1))

    csat = client.get(CSAT, {"days": 7}).json()["filters"]
    sla = client.get(SLA, {"days": 7}).json()
    report = client.get(REPORT, {"days": 7}).json()["scope"]

    assert (parse_datetime(csat["since"]), parse_datetime(csat["until"])) == (first, after)
    assert (parse_datetime(sla["since"]), parse_datetime(sla["until"])) == (first, after)
    assert (report["first_day"], report["last_day"]) == (first.date().isoformat(), today().isoformat())


def test_since_and_until_are_whole_days_and_until_stops_today(api, alice, messenger_inbox):
    client = api(alice)
    since, until = today() - timedelta(days=40), today() - timedelta(days=38)
    for path, key in ((CSAT, "filters"), (SLA, None)):
        body = client.get(path, {"since": since.isoformat(), "until": until.isoformat()}).json()
        period = body[key] if key else body
        assert parse_datetime(period["since"]) == midnight(since)
        assert parse_datetime(period["until"]) == midnight(until + timedelta(days=1))
        later = client.get(path, {"since": since.isoformat(), "until": (today() + timedelta(days=30)).isoformat()}).json()
        assert parse_datetime((later[key] if key else later)["until"]) == midnight(today() + timedelta(days=1))


@pytest.mark.parametrize("path", [CSAT, SLA])
def test_a_period_starting_after_today_is_a_readable_400(api, alice, messenger_inbox, path):
    refused = api(alice).get(path, {"since": (today() + timedelta(days=2)).isoformat()})

    assert refused.status_code == 400
    assert refused.json() == {"code": "invalid", "detail": "The period starts after its last day (today at the latest)."}


@pytest.mark.parametrize("path", [CSAT, SLA, REPORT])
def test_an_inbox_or_team_out_of_reach_is_the_same_404_everywhere(api, alice, team_b, messenger_inbox, path):
    other = Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550000", team=team_b)
    client = api(alice)

    inbox = client.get(path, {"inbox": other.pk})
    team = client.get(path, {"team": team_b.pk})
    unknown = client.get(path, {"team": 999_999})

    assert inbox.status_code == 404 and inbox.json() == {"code": "not_found", "detail": "No such inbox."}
    assert team.status_code == 404 and team.json() == {"code": "not_found", "detail": "No such team."}
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    assert client.get(path, {"inbox": messenger_inbox.pk}).status_code == 200


@pytest.mark.parametrize("path", [CSAT, SLA, REPORT])
def test_an_agent_is_refused_every_report(api, bob, path):
    refused = api(bob).get(path)

    assert refused.status_code == 403 and set(refused.json()) == {"code", "detail"}


def test_the_scope_of_a_lead_holds_only_their_teams_inboxes_and_an_admin_every_one(alice, admin_user, team_b, messenger_inbox):
    other = Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550000", team=team_b)

    assert scope_for(alice).inbox_ids == (messenger_inbox.pk,)
    assert set(scope_for(admin_user).inbox_ids) == {messenger_inbox.pk, other.pk}
    assert scope_for(admin_user, team=team_b.pk).team == team_b.pk
    with pytest.raises(ScopeRefused) as refused:
        scope_for(alice, first_day=today() + timedelta(days=1))
    assert (refused.value.code, refused.value.status) == ("invalid", 400)
    scope = scope_for(alice, first_day=today() - timedelta(days=9), last_day=today() + timedelta(days=3))
    assert (scope.days, scope.last_day) == (10, today())
