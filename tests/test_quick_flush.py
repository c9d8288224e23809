"""The flush after a transactional test (tests/quick_flush.py) leaves what Django's flush leaves:
no test's rows, and the rows post_migrate makes (content types, permissions, the role groups)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TransactionTestCase
from django.utils import timezone

from customers.models import Customer
from inbox.models import Conversation, Inbox, Message, Team
from tests import quick_flush
from tests.conftest import make_user
from tests.reports.factories import agent_replies, customer_writes

pytestmark = pytest.mark.django_db(transaction=True)


def _state() -> dict:
    return {
        "groups": sorted(Group.objects.values_list("name", flat=True)),
        "group_permissions": sorted(Group.permissions.through.objects.values_list("group__name", "permission__codename")),
        "permissions": Permission.objects.count(),
        "content_types": ContentType.objects.count(),
    }


def _test_rows() -> dict:
    return {model.__name__: model.objects.count() for model in (User, Team, Inbox, Customer, Conversation, Message)}


def _some_rows() -> None:
    team = Team.objects.create(name="Support")
    user = make_user("erin", "agent", [team])
    user.groups.add(Group.objects.first())
    inbox = Inbox.objects.create(kind="sms", name="SMS", external_id="+14155550100", team=team)
    agent_replies(customer_writes(inbox, "+14155550111", timezone.now()), user, timedelta(minutes=1))
    assert 0 not in _test_rows().values()


def test_the_quick_flush_empties_every_test_table_and_keeps_what_post_migrate_made(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the quick flush is PostgreSQL's")
    real_flushes = []
    django_teardown = quick_flush._django_teardown
    monkeypatch.setattr(quick_flush, "_django_teardown", lambda case: (real_flushes.append(case), django_teardown(case)))
    case = TransactionTestCase(methodName="__init__")
    case._fixture_teardown()  # whichever flush: a baseline from here on
    after_a_flush = _state()
    assert after_a_flush["groups"] and after_a_flush["permissions"] and after_a_flush["content_types"]

    _some_rows()
    real_flushes.clear()
    case._fixture_teardown()

    assert real_flushes == []
    assert set(_test_rows().values()) == {0}
    assert _state() == after_a_flush

    # A test that changed what post_migrate made gets Django's flush, which makes it again.
    _some_rows()
    Group.objects.first().permissions.clear()
    case._fixture_teardown()

    assert len(real_flushes) == 1
    assert set(_test_rows().values()) == {0}
    assert _state() == after_a_flush
