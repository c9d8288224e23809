"""`POST /api/v1/events/` is for integrations: who may post, which names, which properties, and
`{{ order.* }}` in a campaign only ever showing that customer's own order."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from campaigns import composition
from customers.models import Customer, CustomerEvent, Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(db):
    """A shop backend's account: no agent profile, in the `integration` group."""
    user = User.objects.create_user("shop-backend", "backend@shop.example", "pw-backend")
    user.groups.add(Group.objects.get_or_create(name="integration")[0])
    return user


@pytest.fixture
def jane(db):
    return Customer.objects.create(name="Jane Doe", email="jane@example.com")


@pytest.fixture
def someone_elses_order(db):
    stranger = Customer.objects.create(name="Sam Stranger", email="sam@example.com")
    return Order.objects.create(customer=stranger, external_id="9001", number="7777", total="999.00",
                                tracking_number="SECRET-TRACK", placed_at=timezone.now())


def post_event(client, customer, name="cart.abandoned", properties=None):
    body = {"customer": customer.pk, "name": name}
    if properties is not None:
        body["properties"] = properties
    return client.post("/api/v1/events/", body, format="json")


@pytest.mark.parametrize("who", ["bob", "alice"])
def test_agents_and_managers_may_not_post_events(api, who, request, jane):
    response = post_event(api(request.getfixturevalue(who)), jane)

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not CustomerEvent.objects.exists()


@pytest.mark.parametrize("who", ["admin_user", "integration"])
def test_admins_and_integration_accounts_post_events(api, who, request, jane):
    response = post_event(api(request.getfixturevalue(who)), jane, properties={"score": 3})

    assert response.status_code == 201, response.json()
    assert CustomerEvent.objects.get(customer=jane).properties == {"score": 3}


@pytest.mark.parametrize("name", ["order.shipped", "order.created", "conversation.resolved", "Order.Paid"])
def test_names_the_system_emits_are_refused_from_the_api(api, integration, jane, name):
    response = post_event(api(integration), jane, name=name)

    assert response.status_code == 400
    assert response.json()["code"] == "reserved_event"
    assert not CustomerEvent.objects.exists()


@pytest.mark.parametrize(
    "properties",
    [
        [1, 2, 3],
        "a string",
        {"a": {"b": {"c": {"d": {"e": 1}}}}},
        {"blob": "x" * 9000},
        {"order_id": "42"},
        {"order_id": True},
        {"gift": {"order_id": 1.5}},
        {"note": "nul \x00 inside"},
        {"x" * 65: 1},
    ],
)
def test_properties_out_of_bounds_are_refused_with_a_code(api, integration, jane, properties):
    response = post_event(api(integration), jane, properties=properties)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] in ("invalid", "invalid_properties") and body["detail"]
    assert not CustomerEvent.objects.exists()


def test_an_order_id_of_another_customers_order_is_refused(api, integration, jane, someone_elses_order):
    response = post_event(api(integration), jane, properties={"order_id": someone_elses_order.pk})

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_order"
    assert not CustomerEvent.objects.exists()


def test_an_order_id_of_the_customers_own_order_is_accepted(api, integration, jane):
    own = Order.objects.create(customer=jane, external_id="1", number="1042", placed_at=timezone.now())

    response = post_event(api(integration), jane, properties={"order_id": own.pk})

    assert response.status_code == 201


def test_a_campaign_template_never_shows_another_customers_order(jane, someone_elses_order):
    # An event stored with a foreign order id (from before the API checked, or any other path).
    event = CustomerEvent.objects.create(customer=jane, name="cart.abandoned",
                                         properties={"order_id": someone_elses_order.pk})

    context = composition.context_for(customer=jane, event=event)
    text = composition.render("Order {{ order.number }} {{ order.total }} {{ order.tracking_number }}", context)

    assert context["order"] == {}
    assert "7777" not in text and "999" not in text and "SECRET" not in text


def test_a_campaign_template_shows_the_customers_own_order(jane):
    own = Order.objects.create(customer=jane, external_id="1", number="1042", placed_at=timezone.now())
    event = CustomerEvent.objects.create(customer=jane, name="order.shipped", properties={"order_id": own.pk})

    text = composition.render("Order {{ order.number }}", composition.context_for(customer=jane, event=event))

    assert text == "Order 1042"
