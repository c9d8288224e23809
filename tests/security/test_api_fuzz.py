"""Property-based requests against the published API schema (schemathesis): never a 5xx, and answers
that match the schema. Bounded: 15 examples per operation, GETs and a few simple POSTs, as an admin.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from inbox_project.wsgi import application

# A few simple POSTs: their bodies are small and they act on at most one row.
SIMPLE_POSTS = ["/api/v1/teams/", "/api/v1/events/", "/api/v1/conversations/{id}/notes/", "/api/v1/campaigns/preview/"]

schema = (
    schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    .include(method="GET")
    .exclude(path="/api/v1/metrics/export.csv")  # CSV: the schema has no body to check it against
)
post_schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    method="POST", path=SIMPLE_POSTS
)

HYPOTHESIS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def admin_token(admin_user, messenger_inbox, team_a):
    """An admin's token; requests go through the real WSGI handler inside the test's transaction.

    The handler closes "old" connections when a request starts, which would drop the test's
    transaction: Django's test client disconnects that for the same reason.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from rest_framework.authtoken.models import Token

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield Token.objects.create(user=admin_user).key
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# Operations whose answers don't match their published schema yet: still held to "never a 5xx".
# (Reported to their owners; the fix is an @extend_schema on the view, not a change to the answer.)
KNOWN_SCHEMA_MISMATCHES: dict[str, str] = {}


def _check(case, token: str) -> None:
    known = f"{case.operation.method.upper()} {case.operation.path}" in KNOWN_SCHEMA_MISMATCHES
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        checks=[not_a_server_error] if known else [not_a_server_error, response_schema_conformance],
    )


@pytest.mark.django_db
@schema.parametrize()
@HYPOTHESIS
def test_no_get_answers_5xx_or_breaks_its_schema(case, admin_token):
    _check(case, admin_token)


@pytest.mark.django_db
@post_schema.parametrize()
@HYPOTHESIS
def test_no_simple_post_answers_5xx_or_breaks_its_schema(case, admin_token):
    _check(case, admin_token)


# --- Every query parameter the schema declares, with values a database or date parser chokes on ----

IMPOSSIBLE = {"date": "2024-02-30", "date-time": "2024-02-30T10:00:00Z"}


def _get_operations(client) -> list[tuple[str, list[dict]]]:
    spec = client.get("/api/schema/?format=json").json()
    operations = []
    for path, item in spec["paths"].items():
        if "get" not in item or path.endswith(".csv"):
            continue
        params = [*item.get("parameters", []), *item["get"].get("parameters", [])]
        operations.append((re.sub(r"\{[^}]+\}", "1", path), [p for p in params if p.get("in") == "query"]))
    return operations


@pytest.mark.django_db
def test_every_query_parameter_of_every_get_refuses_nul_and_impossible_dates(api, admin_user, messenger_inbox):
    client = api(admin_user)
    tried = 0
    for path, params in _get_operations(client):
        for param in params:
            name = param["name"]
            response = client.get(path, {name: "a\x00b"})
            assert response.status_code == 400, (path, name, response.status_code)
            assert set(response.json()) >= {"code", "detail"}
            bad_date = IMPOSSIBLE.get((param.get("schema") or {}).get("format", ""))
            if bad_date:
                response = client.get(path, {name: bad_date})
                assert response.status_code < 500, (path, name, response.status_code)
            tried += 1
    assert tried > 10
