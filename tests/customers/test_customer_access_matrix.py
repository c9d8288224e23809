"""Who may do what on every customer-scoped route: each role against each route and kind of record.

Roles as in tests/inbox/test_access_matrix.py: "outsider" (a user without an agent profile),
charlie (agent, Wholesale), bob (agent, Support), lena (lead, Support), alice (manager, Support),
root (admin); an anonymous client is always refused. Records: `mine` writes to Support, `theirs`
to Wholesale (another team's customer), `both` to both, `buyer` only ever ordered (nobody's, so
everyone's), `merged` was merged into `mine` and `merged_theirs` into `theirs`, `erased` wrote to
Support and was erased. `fresh_*` records are made anew for each role, so a write that succeeds for
one role does not change what the next one meets.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from customers.models import Customer, Order
from customers.services import customer_erase, customer_merge
from inbox.models import Conversation, Inbox, Role
from tests.conftest import api_client_for, make_user

from .conftest import thread_with

ROLES = ["anon", "outsider", "charlie", "bob", "lena", "alice", "root"]  # root last: its writes succeed
_n = itertools.count(1)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _order(customer: Customer, number: str) -> Order:
    return Order.objects.create(customer=customer, source="csv", external_id=f"ext-{number}", number=number,
                                placed_at=datetime(2026, 3, 1, tzinfo=UTC), total="10.00")


def _support_customer(inbox: Inbox, name: str) -> Customer:
    n = next(_n)
    return thread_with(inbox=inbox, channel="messenger", external_id=f"70000000{n:08d}", texts=["hi"], name=name).customer


@pytest.fixture
def world(db, team_a, team_b, alice, bob, charlie, admin_user, messenger_inbox):
    lena = make_user("lena", Role.LEAD, [team_a])
    outsider = User.objects.create_user("outsider", "outsider@shop.example", "pw-outsider")
    wholesale = Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550100", team=team_b)

    mine = _support_customer(messenger_inbox, "Mine Support")
    theirs = thread_with(inbox=wholesale, channel="sms", external_id="+14155550111", texts=["crates"],
                         name="Theirs Wholesale").customer
    both = _support_customer(messenger_inbox, "Both Teams")
    other_thread = thread_with(inbox=wholesale, channel="sms", external_id="+14155550122", texts=["also here"])
    other_thread.customer.identities.update(customer=both)
    Conversation.objects.filter(pk=other_thread.pk).update(customer=both)
    other_thread.customer.delete()  # the SMS sender's own record, empty now
    buyer = Customer.objects.create(name="Only Buyer")
    merged = Customer.objects.create(name="Merged Away", email="merged.away@example.com", notes="secret")
    customer_merge(kept=mine, other=merged)
    merged_theirs = Customer.objects.create(name="Merged Theirs", email="merged.theirs@example.com")
    customer_merge(kept=theirs, other=merged_theirs)
    erased = _support_customer(messenger_inbox, "Erased Person")
    _order(mine, "2001")
    _order(theirs, "3001")
    _order(buyer, "4001")
    _order(erased, "5001")
    customer_erase(customer=erased)

    users = {"outsider": outsider, "charlie": charlie, "bob": bob, "lena": lena, "alice": alice, "root": admin_user}
    clients = {name: api_client_for(user) for name, user in users.items()}
    clients["anon"] = APIClient()
    ids = {name: c.pk for name, c in [("mine", mine), ("theirs", theirs), ("both", both), ("buyer", buyer),
                                      ("merged", merged), ("merged_theirs", merged_theirs), ("erased", erased)]}
    return {"users": users, "clients": clients, "ids": ids, "support_inbox": messenger_inbox}


def _fresh(name: str, world: dict) -> int:
    if name == "fresh_mine":
        return _support_customer(world["support_inbox"], "Fresh Support").pk
    if name == "fresh_buyer":
        return Customer.objects.create(name="Fresh Buyer").pk
    raise KeyError(name)


def _ids_for_role(world: dict, names: set[str]) -> dict:
    return {**world["ids"], **{name: _fresh(name, world) for name in names if name.startswith("fresh_")}}


N, C, B, L, A, R = "outsider", "charlie", "bob", "lena", "alice", "root"


def row(outsider, charlie, bob, lena, alice, root) -> dict:
    return {N: outsider, C: charlie, B: bob, L: lena, A: alice, R: root}


CONSENT = {"channel": "sms", "purpose": "marketing", "granted": True, "source": "matrix"}
EVENT = "cart.abandoned"

# (name, method, path, body, expected status per role)
MATRIX = [
    ("list customers", "get", "/api/v1/customers/", None, row(200, 200, 200, 200, 200, 200)),
    ("read mine", "get", "/api/v1/customers/{mine}/", None, row(404, 404, 200, 200, 200, 200)),
    ("read theirs", "get", "/api/v1/customers/{theirs}/", None, row(404, 200, 404, 404, 404, 200)),
    ("read both", "get", "/api/v1/customers/{both}/", None, row(404, 200, 200, 200, 200, 200)),
    ("read buyer", "get", "/api/v1/customers/{buyer}/", None, row(404, 200, 200, 200, 200, 200)),
    ("read merged", "get", "/api/v1/customers/{merged}/", None, row(404, 404, 410, 410, 410, 410)),
    ("read merged theirs", "get", "/api/v1/customers/{merged_theirs}/", None, row(404, 410, 404, 404, 404, 410)),
    ("read erased", "get", "/api/v1/customers/{erased}/", None, row(404, 404, 404, 404, 200, 200)),
    ("patch mine", "patch", "/api/v1/customers/{mine}/", {"notes": "n"}, row(404, 404, 200, 200, 200, 200)),
    ("patch theirs", "patch", "/api/v1/customers/{theirs}/", {"notes": "n"}, row(404, 200, 404, 404, 404, 200)),
    ("patch merged", "patch", "/api/v1/customers/{merged}/", {"notes": "n"}, row(404, 404, 410, 410, 410, 410)),
    ("patch merged theirs", "patch", "/api/v1/customers/{merged_theirs}/", {"name": "x"},
     row(404, 410, 404, 404, 404, 410)),
    ("patch erased", "patch", "/api/v1/customers/{erased}/", {"name": "Back"}, row(404, 404, 404, 404, 409, 409)),
    ("consent mine", "post", "/api/v1/customers/{mine}/consents/", CONSENT, row(404, 404, 201, 201, 201, 201)),
    ("consent theirs", "post", "/api/v1/customers/{theirs}/consents/", CONSENT, row(404, 201, 404, 404, 404, 201)),
    ("consent merged", "post", "/api/v1/customers/{merged}/consents/", CONSENT, row(404, 404, 410, 410, 410, 410)),
    ("consent erased", "post", "/api/v1/customers/{erased}/consents/", CONSENT, row(404, 404, 404, 404, 409, 409)),
    ("suggestions mine", "get", "/api/v1/customers/{mine}/merge-suggestions/", None, row(404, 404, 200, 200, 200, 200)),
    ("suggestions theirs", "get", "/api/v1/customers/{theirs}/merge-suggestions/", None,
     row(404, 200, 404, 404, 404, 200)),
    ("suggestions merged", "get", "/api/v1/customers/{merged}/merge-suggestions/", None,
     row(404, 404, 410, 410, 410, 410)),
    ("merge a buyer into mine", "post", "/api/v1/customers/{mine}/merge/", {"other": "{fresh_buyer}"},
     row(404, 404, 200, 200, 200, 200)),
    ("merge theirs into mine", "post", "/api/v1/customers/{mine}/merge/", {"other": "{theirs}"},
     row(404, 404, 404, 404, 404, 200)),
    ("merge a merged record again", "post", "/api/v1/customers/{mine}/merge/", {"other": "{merged}"},
     row(404, 404, 409, 409, 409, 409)),
    ("merge theirs merged into mine", "post", "/api/v1/customers/{mine}/merge/", {"other": "{merged_theirs}"},
     row(404, 404, 404, 404, 404, 409)),
    ("merge into a merged record", "post", "/api/v1/customers/{merged}/merge/", {"other": "{fresh_buyer}"},
     row(404, 404, 410, 410, 410, 410)),
    ("merge into an erased record", "post", "/api/v1/customers/{erased}/merge/", {"other": "{fresh_buyer}"},
     row(404, 404, 404, 404, 409, 409)),
    ("export mine", "get", "/api/v1/customers/{mine}/export/", None, row(404, 404, 403, 403, 200, 200)),
    ("export theirs", "get", "/api/v1/customers/{theirs}/export/", None, row(404, 403, 404, 404, 404, 200)),
    ("export merged", "get", "/api/v1/customers/{merged}/export/", None, row(404, 404, 410, 410, 410, 410)),
    ("export erased", "get", "/api/v1/customers/{erased}/export/", None, row(404, 404, 404, 404, 200, 200)),
    ("erase a support customer", "post", "/api/v1/customers/{fresh_mine}/erase/", None,
     row(404, 404, 403, 403, 200, 200)),
    ("erase one who writes to both teams", "post", "/api/v1/customers/{both}/erase/", None,
     row(404, 403, 403, 403, 403, 200)),
    ("erase theirs", "post", "/api/v1/customers/{theirs}/erase/", None, row(404, 403, 404, 404, 404, 200)),
    ("erase merged", "post", "/api/v1/customers/{merged}/erase/", None, row(404, 404, 410, 410, 410, 410)),
    ("erase erased", "post", "/api/v1/customers/{erased}/erase/", None, row(404, 404, 404, 404, 409, 409)),
    ("look up an order", "get", "/api/v1/orders/?number=2001", None, row(200, 200, 200, 200, 200, 200)),
    ("post an event for mine", "post", "/api/v1/events/", {"customer": "{mine}", "name": EVENT},
     row(403, 403, 403, 403, 403, 201)),
    ("post an event for theirs", "post", "/api/v1/events/", {"customer": "{theirs}", "name": EVENT},
     row(403, 403, 403, 403, 403, 201)),
    ("post an event for merged", "post", "/api/v1/events/", {"customer": "{merged}", "name": EVENT},
     row(403, 403, 403, 403, 403, 404)),
    ("post an event for erased", "post", "/api/v1/events/", {"customer": "{erased}", "name": EVENT},
     row(403, 403, 403, 403, 403, 404)),
]


def _placeholders(path: str, body) -> set[str]:
    text = path + repr(body)
    return set(re.findall(r"\{(\w+)\}", text))


def _fill(value, ids: dict):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.django_db
@pytest.mark.parametrize("name,method,path,body,expected", MATRIX, ids=[r[0] for r in MATRIX])
def test_each_role_gets_what_it_may_on_each_customer_route(world, name, method, path, body, expected):
    wrong = []
    for role in ROLES:
        ids = _ids_for_role(world, _placeholders(path, body))
        url = path.format(**ids)
        payload = _fill(body, ids)
        call = getattr(world["clients"][role], method)
        response = call(url, payload, format="json") if payload is not None else call(url)
        if role == "anon":
            if response.status_code not in (401, 403) or response.json().get("code") != "not_authenticated":
                wrong.append((role, response.status_code, response.content[:200]))
            continue
        if response.status_code != expected[role]:
            wrong.append((role, f"{response.status_code} != {expected[role]}", response.content[:300]))
        elif response.status_code == 404:
            assert response.json() == {"code": "not_found", "detail": "Not found."}  # nothing about the record
        elif response.status_code == 410:
            body_ = response.json()
            assert body_["code"] == "merged" and body_["survivor"] in (ids["mine"], ids["theirs"])
        elif response.status_code >= 400:
            assert set(response.json()) >= {"code", "detail"}
    assert not wrong, f"{name}: {wrong}"


@pytest.mark.django_db
def test_lists_and_searches_hold_only_current_customers_each_role_may_see(world):
    ids, clients = world["ids"], world["clients"]

    def listed(role, **params):
        response = clients[role].get("/api/v1/customers/", params)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["results"]}

    assert listed("outsider") == set()
    assert listed("charlie") == {ids["theirs"], ids["both"], ids["buyer"]}
    for role in ("bob", "lena", "alice"):
        assert listed(role) == {ids["mine"], ids["both"], ids["buyer"]}
    assert listed("root") == {ids["mine"], ids["theirs"], ids["both"], ids["buyer"]}
    # A merged record's former address finds nobody's profile but the survivor's (its identities moved).
    for role in ("charlie", "bob", "root"):
        assert ids["merged"] not in listed(role, q="merged.away@example.com")


@pytest.mark.django_db
def test_orders_lookup_finds_only_orders_of_customers_the_role_may_see(world):
    ids, clients = world["ids"], world["clients"]

    def found(role, number):
        response = clients[role].get("/api/v1/orders/", {"number": number})
        assert response.status_code == 200, response.content
        return [o["customer"]["id"] for o in response.json()["results"]]

    assert {role: found(role, "2001") for role in ("outsider", "charlie", "bob", "root")} == {
        "outsider": [], "charlie": [], "bob": [ids["mine"]], "root": [ids["mine"]],
    }
    assert {role: found(role, "3001") for role in ("charlie", "bob", "alice")} == {
        "charlie": [ids["theirs"]], "bob": [], "alice": [],
    }
    assert {role: found(role, "4001") for role in ("charlie", "bob")} == {"charlie": [ids["buyer"]], "bob": [ids["buyer"]]}
    # An erased customer's order stays for the books, seen by managers and admins only.
    assert {role: found(role, "5001") for role in ("bob", "lena", "alice", "root")} == {
        "bob": [], "lena": [], "alice": [ids["erased"]], "root": [ids["erased"]],
    }


@pytest.mark.django_db
def test_the_csv_import_page_and_its_results_are_for_managers_and_admins_and_name_no_customer(world, client):
    users = world["users"]
    statuses = {}
    for role in ("outsider", "charlie", "bob", "lena", "alice", "root"):
        client.force_login(users[role])
        statuses[role] = client.get("/customers/import/").status_code
        client.logout()
    assert statuses == {"outsider": 403, "charlie": 403, "bob": 403, "lena": 403, "alice": 200, "root": 200}
    assert _anonymous_is_sent_to_login(client)

    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(users["alice"])
    upload = SimpleUploadedFile("c.csv", b"name,email\nNew Person,new.person@example.com\n", content_type="text/csv")
    response = client.post("/customers/import/", {"file": upload}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json() == {"kind": "customers", "rows": 1, "customers": 1, "orders_created": 0, "orders_updated": 0}


def _anonymous_is_sent_to_login(client) -> bool:
    response = client.get("/customers/import/")
    return response.status_code == 302 and "/accounts/login/" in response["Location"]
