"""The metrics API: figures, roles, visibility, bad input."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Inbox

from .test_responsiveness import customer_writes, page_replies


@pytest.fixture
def week(messenger_inbox):
    now = timezone.now()
    for i in range(10):
        at = now - timedelta(days=2, hours=i)
        customer_writes(messenger_inbox, f"psid{i}", at)
        if i < 9:
            page_replies(messenger_inbox, f"psid{i}", at + timedelta(minutes=5 + i))
    return messenger_inbox


@pytest.mark.django_db
def test_a_manager_sees_the_badge_figures_of_an_inbox(api, alice, week):
    response = api(alice).get(f"/api/v1/metrics/responsiveness/?inbox={week.pk}&days=7")
    assert response.status_code == 200
    body = response.json()
    assert body["inbox"] == week.pk and body["days"] == 7
    assert (body["counted"], body["answered"]) == (10, 9)
    assert body["response_rate"] == pytest.approx(0.9)
    assert body["response_time_seconds"] == pytest.approx(sum(5 + i for i in range(8)) * 60 / 8)
    assert body["very_responsive"] is True


@pytest.mark.django_db
def test_the_period_excludes_older_messages(api, alice, week):
    body = api(alice).get(f"/api/v1/metrics/responsiveness/?inbox={week.pk}&days=1").json()
    assert body["counted"] == 0 and body["response_rate"] is None and body["very_responsive"] is False


@pytest.mark.django_db
def test_agents_may_not_open_dashboards(api, bob, week):
    response = api(bob).get(f"/api/v1/metrics/responsiveness/?inbox={week.pk}")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.django_db
def test_an_inbox_of_another_team_is_not_found(api, team_b, week):
    from tests.conftest import make_user

    dave = make_user("dave", "manager", [team_b])
    other = Inbox.objects.create(kind="sms", name="B", external_id="+14155550100", team=team_b)
    assert api(dave).get(f"/api/v1/metrics/responsiveness/?inbox={week.pk}").status_code == 404
    assert api(dave).get(f"/api/v1/metrics/responsiveness/?inbox={other.pk}").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["days=0", "days=abc", "days=9999", "inbox=x", "channel=fax", "business=maybe"])
def test_bad_parameters_get_a_clear_400(api, alice, week, query):
    response = api(alice).get(f"/api/v1/metrics/responsiveness/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.django_db
def test_trend_breakers_and_export(api, alice, week):
    client = api(alice)
    trend = client.get(f"/api/v1/metrics/trend/?inbox={week.pk}&days=7").json()
    assert len(trend) == 7 and sum(d["counted"] for d in trend) == 10
    response = client.get(f"/api/v1/metrics/breakers/?inbox={week.pk}")
    breakers = response.json()
    assert len(breakers) == 1 and breakers[0]["responded_at"] is None
    assert response["X-Total-Count"] == "1"
    csv_response = client.get(f"/api/v1/metrics/export.csv?inbox={week.pk}")
    assert csv_response["Content-Type"] == "text/csv"
    lines = csv_response.content.decode().strip().splitlines()
    assert len(lines) == 11 and lines[0].startswith("inbox,channel")


@pytest.mark.django_db
def test_at_risk_lists_conversations_waiting_over_ten_minutes(api, alice, messenger_inbox):
    now = timezone.now()
    customer_writes(messenger_inbox, "late", now - timedelta(minutes=12))
    customer_writes(messenger_inbox, "fresh", now - timedelta(minutes=2))
    body = api(alice).get("/api/v1/metrics/at-risk/").json()
    waiting = [row["customer"] for row in body["waiting"]]
    assert len(waiting) == 1
    assert len(body["closing"]) == 0


@pytest.mark.django_db
def test_the_dashboard_page_is_for_managers(client, alice, bob, week):
    client.force_login(bob)
    assert client.get("/dashboard/").status_code == 403
    client.force_login(alice)
    page = client.get("/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert week.name in html and 'id="badge-verdict"' in html and "<script>" not in html


@pytest.mark.django_db
def test_the_dashboard_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_heatmap_counts_by_local_weekday_and_hour(api, alice, messenger_inbox):
    from datetime import UTC, datetime

    from .test_responsiveness import customer_writes

    now = timezone.now()
    at = datetime(now.year, now.month, now.day, 23, 30, tzinfo=UTC) - timedelta(days=2)
    customer_writes(messenger_inbox, "heat", at)
    cells = api(alice).get("/api/v1/metrics/heatmap/?tz=Asia/Tokyo&days=7").json()
    assert len(cells) == 1
    local = at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert (cells[0]["weekday"], cells[0]["hour"], cells[0]["counted"]) == (local.isoweekday(), local.hour, 1)
    assert api(alice).get("/api/v1/metrics/heatmap/?tz=Mars/Base").status_code == 400


@pytest.mark.django_db
def test_a_cut_breakers_list_says_how_many_there_are_in_all(api, alice, week, monkeypatch):
    """The list holds the latest BREAKERS_SHOWN; the header counts every one, so a page can say so."""
    from inbox.api import metrics_views

    now = timezone.now()
    for i in range(4):  # four more never answered: five breakers in all
        customer_writes(week, f"silent{i}", now - timedelta(hours=3, minutes=i))
    monkeypatch.setattr(metrics_views, "BREAKERS_SHOWN", 3)
    response = api(alice).get(f"/api/v1/metrics/breakers/?inbox={week.pk}")
    rows = response.json()
    assert len(rows) == 3 and response["X-Total-Count"] == "5"
    received = [row["received_at"] for row in rows]
    assert received == sorted(received, reverse=True)  # the latest first
