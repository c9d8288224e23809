"""`manage.py seed_demo`: a believable shop, loaded once, without touching any provider."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from customers.models import ConsentEvent, Customer, Identity, Order, OrderItem
from customers.selectors import is_opted_out
from customers.services import phone_normalise
from inbox.models import Agent, Conversation, Inbox, Message, Role, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(fake_provider):
    call_command("seed_demo", stdout=StringIO())
    return fake_provider


def _counts() -> dict[str, int]:
    models = [User, Agent, Team, Inbox, Customer, Identity, Conversation, Message, Order, OrderItem, ConsentEvent]
    return {model.__name__: model.objects.count() for model in models}


def test_it_creates_a_shop_with_hundreds_of_customers_on_all_four_channels(seeded):
    assert Customer.objects.count() >= 300
    assert set(Identity.objects.values_list("channel", flat=True)) == {"messenger", "instagram", "sms", "email"}
    assert set(Inbox.objects.values_list("kind", flat=True)) == {"messenger", "instagram", "sms", "email"}
    assert Team.objects.count() == 2


def test_phone_identities_are_valid_e164_numbers(seeded):
    phones = list(Identity.objects.filter(channel="sms").values_list("external_id", flat=True))
    assert phones
    assert all(phone_normalise(phone) == phone and phone.startswith("+1") for phone in phones)


def test_the_demo_user_is_an_admin_who_can_open_the_admin(seeded, client):
    demo = User.objects.get(username="demo")
    assert demo.is_superuser and demo.is_staff
    assert demo.agent.role == Role.ADMIN
    assert client.login(username="demo", password="demo")
    assert client.get("/admin/").status_code == 200


def test_the_cast_is_there_in_two_teams(seeded):
    roles = dict(Agent.objects.values_list("user__username", "role"))
    assert roles["alice"] == Role.MANAGER and roles["bob"] == Role.AGENT and roles["charlie"] == Role.AGENT
    alice_teams = set(Agent.objects.get(user__username="alice").teams.values_list("name", flat=True))
    charlie_teams = set(Agent.objects.get(user__username="charlie").teams.values_list("name", flat=True))
    assert alice_teams and charlie_teams and not alice_teams & charlie_teams


def test_meta_conversations_are_in_every_window_state(seeded):
    now = timezone.now()
    states = {c.window_state(now) for c in Conversation.objects.filter(channel__in=["messenger", "instagram"])}
    assert states == {"open", "human_agent", "closed"}
    assert {c.window_state(now) for c in Conversation.objects.filter(channel__in=["sms", "email"])} == {None}


def test_threads_go_both_ways_with_various_statuses_and_assignees(seeded):
    assert set(Message.objects.values_list("direction", flat=True)) == {"in", "out"}
    assert {"open", "pending", "resolved"} <= set(Conversation.objects.values_list("status", flat=True))
    assert Conversation.objects.filter(assignee=None).exists()
    assert Conversation.objects.exclude(assignee=None).values("assignee").distinct().count() >= 3
    assert Conversation.objects.exclude(labels=None).exists()
    waiting = Conversation.objects.exclude(waiting_since=None).first()
    last = waiting.messages.filter(is_private=False).exclude(sender_type="bot").order_by("created_at").last()
    assert last.direction == "in"


def test_some_sms_customers_texted_stop_and_are_opted_out(seeded):
    stops = ConsentEvent.objects.filter(channel="sms", source="sms_keyword", granted=False)
    assert stops.exists()
    opted_out = [e.customer for e in stops if is_opted_out(customer=e.customer, channel="sms")]
    assert opted_out


def test_many_customers_have_orders_with_items_totals_and_tracking(seeded):
    assert Order.objects.values("customer").distinct().count() >= 100
    order = Order.objects.exclude(tracking_number="").prefetch_related("items").first()
    assert order.tracking_url and order.items.exists()
    assert order.total >= sum(item.price * item.quantity for item in order.items.all())


def test_nothing_is_sent_to_a_provider_or_left_queued(seeded):
    assert not Message.objects.filter(status="queued").exists()
    assert seeded.requests == []


def test_running_it_again_with_once_changes_nothing(seeded):
    before = _counts()
    out = StringIO()
    call_command("seed_demo", "--once", stdout=out)
    assert _counts() == before
    assert "already" in out.getvalue()


def test_running_it_again_without_once_refuses_instead_of_duplicating(seeded):
    before = _counts()
    with pytest.raises(CommandError):
        call_command("seed_demo", stdout=StringIO())
    assert _counts() == before


def test_the_same_seed_gives_the_same_shop(fake_provider):
    call_command("seed_demo", "--customers", "40", stdout=StringIO())
    first = list(Customer.objects.order_by("id").values_list("name", "email", "phone"))
    Customer.objects.all().delete()
    User.objects.filter(username="demo").delete()
    call_command("seed_demo", "--customers", "40", stdout=StringIO())
    assert list(Customer.objects.order_by("id").values_list("name", "email", "phone")) == first


@pytest.mark.django_db
def test_the_demo_dashboard_has_figures():
    from django.core.management import call_command

    from inbox.models import ResponseRecord

    call_command("seed_demo", "--customers", "40")
    assert ResponseRecord.objects.exists()
    assert ResponseRecord.objects.filter(responded_at__isnull=False).exists()
