"""Query parameters that the database or a date parser cannot take: 400 `{code, detail}`, never 500."""

from __future__ import annotations

import pytest

from tests.api.conversation_factories import conversation_make

pytestmark = pytest.mark.django_db


def _refused(response) -> dict:
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["code"] and body["detail"]
    return body


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders/?number=%00",
        "/api/v1/orders/?number=10%0042",
        "/api/v1/customers/?q=%00",
        "/api/v1/conversations/?q=a%00b",
        "/api/v1/conversations/?status=open&label=%00",
        "/api/v1/audit/?action=%00",
        "/api/v1/customers/?q%00=x",
    ],
)
def test_a_nul_byte_in_a_query_parameter_answers_400(api, admin_user, path):
    body = _refused(api(admin_user).get(path))

    assert body["code"] == "invalid"  # the code filters already answered with for such values


def test_a_nul_byte_is_refused_on_pages_too(client, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    client.force_login(bob)

    _refused(client.get(f"/conversations/{conversation.pk}/timeline/?before=%00"))


@pytest.mark.parametrize("before", ["2024-02-30T10:00:00", "2024-13-01T00:00:00Z", "2024-01-01T25:61:00", "soon"])
def test_an_impossible_date_in_before_answers_400(client, bob, messenger_inbox, before):
    conversation = conversation_make(messenger_inbox)
    client.force_login(bob)

    body = _refused(client.get(f"/conversations/{conversation.pk}/timeline/", {"before": before}))

    assert body["code"] == "invalid"


@pytest.mark.parametrize("tz", ["x" * 5000, "Not/A_Zone", "../../etc/passwd"])
def test_a_time_zone_no_file_can_name_answers_400(api, admin_user, messenger_inbox, tz):
    _refused(api(admin_user).get("/api/v1/metrics/heatmap/", {"inbox": messenger_inbox.pk, "tz": tz}))


def test_a_time_zone_too_long_for_a_file_name_in_business_hours_answers_400(api, admin_user, messenger_inbox):
    response = api(admin_user).patch(
        f"/api/v1/inboxes/{messenger_inbox.pk}/", {"business_hours": {"timezone": "x" * 5000, "hours": {}}}, format="json"
    )

    _refused(response)
