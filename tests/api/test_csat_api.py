"""Survey answers over the API: settings per inbox, the list and its filters, the summary (CSAT
score = share of 4–5 ratings, response rate = answered / sent) and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import CsatResponse, Inbox
from tests.api.conversation_factories import conversation_make
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def survey(conversation, *, rating=None, comment="", agent=None, days_ago=1, status=None) -> CsatResponse:
    sent = timezone.now() - timedelta(days=days_ago)
    return CsatResponse.objects.create(
        conversation=conversation, inbox=conversation.inbox, customer=conversation.customer, agent=agent,
        team=conversation.inbox.team, channel=conversation.channel, due_at=sent, sent_at=sent,
        status=status or ("answered" if rating else "sent"), rating=rating, comment=comment,
        answered_at=sent if rating else None, commented_at=sent if comment else None,
    )


@pytest.fixture
def answered(messenger_inbox, sms_inbox, bob, alice):
    """Five surveys sent in the last week: ratings 5, 4, 2 and two unanswered."""
    return [
        survey(conversation_make(messenger_inbox), rating=5, agent=bob, comment="Fast!"),
        survey(conversation_make(messenger_inbox), rating=4, agent=bob),
        survey(conversation_make(sms_inbox), rating=2, agent=alice, comment="=HYPERLINK(\"http://evil\")"),
        survey(conversation_make(sms_inbox), agent=alice),
        survey(conversation_make(messenger_inbox), agent=bob),
    ]


def test_an_admin_turns_surveys_on_for_an_inbox_with_a_delay_text_and_a_limit(api, admin_user, messenger_inbox):
    body = {"csat": {"enabled": True, "delay_minutes": 30, "text": "Rate us 1-5?", "once_per_days": 14}}

    response = api(admin_user).patch(f"/api/v1/inboxes/{messenger_inbox.pk}/", body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["csat"] == body["csat"]
    assert Inbox.objects.get(pk=messenger_inbox.pk).settings["csat"]["delay_minutes"] == 30


@pytest.mark.parametrize("csat", [
    {"enabled": "yes"}, {"delay_minutes": -1}, {"once_per_days": 1000}, {"text": ""}, {"colour": "red"}, "on",
])
def test_invalid_survey_settings_are_refused(api, admin_user, messenger_inbox, csat):
    response = api(admin_user).patch(f"/api/v1/inboxes/{messenger_inbox.pk}/", {"csat": csat}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_the_summary_gives_the_score_as_the_share_of_4_and_5_and_the_response_rate(api, alice, answered):
    data = api(alice).get("/api/v1/csat/summary/").json()

    assert data["summary"]["sent"] == 5 and data["summary"]["answered"] == 3
    assert data["summary"]["csat_score"] == pytest.approx(2 / 3)
    assert data["summary"]["response_rate"] == pytest.approx(3 / 5)
    assert data["summary"]["ratings"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    by_channel = {r["channel"]: r for r in data["by_channel"]}
    assert by_channel["messenger"]["csat_score"] == 1.0 and by_channel["sms"]["csat_score"] == 0.0
    assert {r["agent"]["name"]: r["answered"] for r in data["by_agent"]} == {"bob": 2, "alice": 1}
    assert sorted(c["comment"] for c in data["comments"]) == ["=HYPERLINK(\"http://evil\")", "Fast!"]


def test_the_list_filters_by_agent_channel_and_period(api, alice, bob, answered, messenger_inbox):
    old = survey(conversation_make(messenger_inbox), rating=1, agent=bob, days_ago=60)

    def ids(query):
        return {r["id"] for r in api(alice).get(f"/api/v1/csat/?{query}").json()["results"]}

    assert ids(f"agent={bob.pk}") == {answered[0].pk, answered[1].pk, answered[4].pk}
    assert ids("channel=sms") == {answered[2].pk, answered[3].pk}
    assert old.pk not in ids("days=30") and old.pk in ids("days=90")
    since = (timezone.now() - timedelta(days=61)).date().isoformat()
    until = (timezone.now() - timedelta(days=59)).date().isoformat()
    assert ids(f"since={since}&until={until}") == {old.pk}


def test_agents_see_no_reports_and_leads_see_only_their_inboxes(api, bob, answered, team_b):
    assert api(bob).get("/api/v1/csat/").status_code == 403
    outsider = make_user("dora", "lead", [team_b])
    assert api(outsider).get("/api/v1/csat/summary/").json()["summary"]["sent"] == 0
    assert api(outsider).get(f"/api/v1/csat/?inbox={answered[0].inbox_id}").status_code == 404


def test_the_csv_export_neutralises_cells_a_spreadsheet_would_run_as_formulas(api, alice, answered):
    response = api(alice).get("/api/v1/csat/export.csv")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["sent_at", "answered_at", "inbox"]
    comments = [row[9] for row in rows[1:]]
    assert "'=HYPERLINK(\"http://evil\")" in comments
    assert not any(cell and cell[0] in "=+-@" for row in rows[1:] for cell in row)


def test_the_dashboard_has_the_satisfaction_section_and_its_export(client, alice):
    client.force_login(alice)
    page = client.get("/dashboard/").content.decode()
    assert 'id="csat"' in page and "/api/v1/csat/export.csv" in page and "dashboard/csat.js" in page
