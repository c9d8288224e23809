"""The audit log: entries written by the services, readable by admins only, never editable."""

from __future__ import annotations

import pytest

from inbox.audit import audit_record
from inbox.audit_models import AuditEntry

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
