"""The audit log: entries written by the services, readable by admins only, never editable."""

from __future__ import annotations

import pytest

from inbox.audit import audit_record
from inbox.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_an_entry_names_actor_action_target_data_ip_and_request(rf, alice, messenger_inbox):
    request = rf.post("/api/v1/inboxes/1/", REMOTE_ADDR="198.51.100.20")
    request.user = alice
    request.id = "req-audit-0000001"

    entry = audit_record(
        actor=None, action="inbox.credentials_change", target=messenger_inbox, data={"fields": ["credentials"]}, request=request
    )

    entry.refresh_from_db()
    assert (entry.actor, entry.actor_name, entry.action) == (alice, "alice", "inbox.credentials_change")
    assert (entry.target_type, entry.target_id) == ("inbox.inbox", str(messenger_inbox.pk))
    assert entry.data == {"fields": ["credentials"]}
    assert entry.ip == "198.51.100.20"
    assert entry.request_id == "req-audit-0000001"


def test_the_system_may_act_without_a_user_and_targets_may_be_named(db):
    entry = audit_record(actor=None, action="customer.erase", target=("customers.customer", 42))
    assert (entry.actor, entry.actor_name, entry.target_id) == (None, "", "42")


def test_an_entry_outlives_its_actor(alice):
    entry = audit_record(actor=alice, action="customer.merge", target=("customers.customer", 1))
    alice.delete()
    entry.refresh_from_db()
    assert entry.actor is None and entry.actor_name == "alice"


def test_admins_read_the_audit_log_over_the_api_newest_first(api, admin_user, alice):
    audit_record(actor=alice, action="customer.merge", target=("customers.customer", 1))
    audit_record(actor=alice, action="customer.export", target=("customers.customer", 2), data={"format": "json"})

    response = api(admin_user).get("/api/v1/audit/")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["action"] for r in results] == ["customer.export", "customer.merge"]
    assert results[0]["actor"] == {"id": alice.pk, "username": "alice"}
    assert results[0]["target"] == {"type": "customers.customer", "id": "2"}
    assert results[0]["data"] == {"format": "json"}


def test_the_audit_api_filters_by_action_and_target(api, admin_user, alice):
    audit_record(actor=alice, action="customer.merge", target=("customers.customer", 1))
    audit_record(actor=alice, action="customer.export", target=("customers.customer", 2))
    client = api(admin_user)
    assert [r["action"] for r in client.get("/api/v1/audit/?action=customer.merge").json()["results"]] == ["customer.merge"]
    assert [r["target"]["id"] for r in client.get("/api/v1/audit/?target_id=2").json()["results"]] == ["2"]
    assert client.get("/api/v1/audit/?actor=me").json()["code"] == "invalid"


@pytest.mark.parametrize("who", ["alice", "bob", "charlie"])
def test_nobody_but_admins_reads_the_audit_log(api, request, who):
    audit_record(actor=None, action="customer.erase", target=("customers.customer", 1))
    response = api(request.getfixturevalue(who)).get("/api/v1/audit/")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_anonymous_callers_are_refused(client):
    assert client.get("/api/v1/audit/").status_code in (401, 403)


def test_the_admin_lists_entries_but_cannot_add_change_or_delete_them(client, admin_user, alice):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    entry = audit_record(actor=alice, action="customer.merge", target=("customers.customer", 1))
    client.force_login(admin_user)

    assert client.get("/admin/inbox/auditentry/").status_code == 200
    assert client.get(f"/admin/inbox/auditentry/{entry.pk}/change/").status_code == 200
    assert client.get("/admin/inbox/auditentry/add/").status_code == 403
    client.post(f"/admin/inbox/auditentry/{entry.pk}/change/", {"action": "nothing.happened"})
    client.post(f"/admin/inbox/auditentry/{entry.pk}/delete/", {"post": "yes"})
    entry.refresh_from_db()
    assert entry.action == "customer.merge"
    assert AuditEntry.objects.count() == 1


# --- Where the actions happen ------------------------------------------------------------------------


def _entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action))


@pytest.fixture
def conversation(client, messenger_inbox, commit):
    from inbox.models import Conversation
    from tests.conftest import post_meta
    from tests.inbox.meta_support import fixture_at, now_ms

    assert post_meta(client, fixture_at("meta/messenger_text.json", now_ms(seconds_ago=60))).status_code == 200
    return Conversation.objects.get()


@pytest.fixture
def two_customers(db):
    from customers.models import Customer

    return Customer.objects.create(name="Ann Lee", email="ann@example.com"), Customer.objects.create(name="Ann L.")


def test_assigning_a_conversation_is_recorded_with_who_and_from_where(api, alice, bob, conversation):
    response = api(alice).patch(f"/api/v1/conversations/{conversation.pk}/", {"assignee": bob.pk}, format="json",
                                REMOTE_ADDR="198.51.100.30", HTTP_X_REQUEST_ID="req-assign-000001")
    assert response.status_code == 200, response.json()
    [entry] = _entries("conversation.assign")
    assert (entry.actor, entry.target_id, entry.data) == (alice, str(conversation.pk), {"assignee": bob.pk})
    assert (entry.ip, entry.request_id) == ("198.51.100.30", "req-assign-000001")


def test_a_refused_assignment_records_nothing(api, charlie, bob, conversation):
    response = api(charlie).patch(f"/api/v1/conversations/{conversation.pk}/", {"assignee": bob.pk}, format="json")
    assert response.status_code in (403, 404)
    assert not _entries("conversation.assign")


def test_merging_erasing_and_exporting_customers_are_recorded(api, admin_user, two_customers):
    kept, other = two_customers
    client = api(admin_user)

    assert client.post(f"/api/v1/customers/{kept.pk}/merge/", {"other": other.pk}, format="json").status_code == 200
    assert client.get(f"/api/v1/customers/{kept.pk}/export/").status_code == 200
    assert client.post(f"/api/v1/customers/{kept.pk}/erase/").status_code == 200

    [merge] = _entries("customer.merge")
    assert (merge.actor, merge.target_id, merge.data["merged"]) == (admin_user, str(kept.pk), other.pk)
    [export] = _entries("customer.export")
    assert (export.actor, export.target_id) == (admin_user, str(kept.pk))
    # Erasing a customer erases the ones merged into it too: one entry each.
    erased = _entries("customer.erase")
    assert {e.target_id for e in erased} == {str(kept.pk), str(other.pk)}
    assert {e.actor for e in erased} == {admin_user}


def test_a_consent_change_is_recorded_with_its_source(api, admin_user, two_customers):
    kept, _ = two_customers
    response = api(admin_user).post(
        f"/api/v1/customers/{kept.pk}/consents/",
        {"channel": "sms", "purpose": "marketing", "granted": False, "source": "phone call"}, format="json",
    )
    assert response.status_code == 201, response.json()
    [entry] = _entries("consent.change")
    assert entry.actor == admin_user
    assert entry.data == {"channel": "sms", "purpose": "marketing", "granted": False, "source": "phone call"}


def test_changing_an_inboxs_credentials_is_recorded_without_the_secret(api, admin_user, messenger_inbox):
    response = api(admin_user).patch(
        f"/api/v1/inboxes/{messenger_inbox.pk}/", {"credentials": {"page_access_token": "EAAB-new-secret-token"}}, format="json"
    )
    assert response.status_code == 200, response.json()
    [entry] = _entries("inbox.credentials_change")
    assert (entry.actor, entry.target_type, entry.target_id) == (admin_user, "inbox.inbox", str(messenger_inbox.pk))
    assert "EAAB-new-secret-token" not in str(entry.data)
