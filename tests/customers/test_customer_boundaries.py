"""Team boundaries on customer data: privacy export and erasure per role, merged and erased records.

The rule: an export holds only the conversations (and private notes) the caller may see; erasing a
customer who also has conversations outside the caller's visibility needs an admin, and a refused
erasure erases nothing. A record merged into another is blanked and answers with the survivor's id
to whoever sees the survivor (404 to everyone else); an erased record is seen by managers and admins.

Cast: Alice (manager, Support), Bob (agent, Support), Lena (lead, Support), Charlie (agent,
Wholesale), Mona (manager, Wholesale), root (admin).
"""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from customers.models import Customer, ErasureRecord, Label, MergeRecord
from customers.selectors import customer_export
from customers.services import customer_erase, customer_merge
from inbox.conversations.privacy import ErasureRefused
from inbox.models import AuditEntry, Inbox, Message, Role
from tests.conftest import make_user

from .conftest import thread_with

pytestmark = pytest.mark.django_db

SUPPORT_TEXT = "Where is my linen shirt?"
SUPPORT_NOTE = "Support note: refund approved by Alice"
WHOLESALE_TEXT = "Invoice for 40 crates, please"
WHOLESALE_NOTE = "Wholesale note: credit limit 5000"


def _note(conversation, text: str) -> Message:
    return Message.objects.create(
        conversation=conversation, inbox=conversation.inbox, direction="out", sender_type="agent",
        is_private=True, text=text, status="sent", created_at=timezone.now(),
    )


@pytest.fixture
def lena(team_a):
    return make_user("lena", Role.LEAD, [team_a])


@pytest.fixture
def mona(team_b):
    return make_user("mona", Role.MANAGER, [team_b])


@pytest.fixture
def wholesale_inbox(team_b):
    return Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550100", team=team_b)


@pytest.fixture
def jane(messenger_inbox, wholesale_inbox):
    """Jane writes to Support on Messenger and to Wholesale by SMS: one customer, two teams' threads."""
    support = thread_with(inbox=messenger_inbox, channel="messenger", external_id="6543210987654321",
                          texts=[SUPPORT_TEXT], name="Jane Doe")
    customer = support.customer
    wholesale = thread_with(inbox=wholesale_inbox, channel="sms", external_id="+15415550142", texts=[WHOLESALE_TEXT])
    wholesale.customer.identities.update(customer=customer)
    wholesale.customer_id = customer.pk
    wholesale.save(update_fields=["customer"])
    _note(support, SUPPORT_NOTE)
    _note(wholesale, WHOLESALE_NOTE)
    return customer, support, wholesale


def _texts(export: dict) -> set[str]:
    return {m["text"] for thread in export["inbox.conversation"] for m in thread["messages"]}


# --- Export ----------------------------------------------------------------------------------------


def test_a_manager_exports_only_the_conversations_and_notes_of_her_own_teams(api, jane, alice, mona):
    customer, support, wholesale = jane

    by_alice = api(alice).get(f"/api/v1/customers/{customer.pk}/export/")
    by_mona = api(mona).get(f"/api/v1/customers/{customer.pk}/export/")

    assert by_alice.status_code == 200 and by_mona.status_code == 200
    assert [t["id"] for t in by_alice.json()["inbox.conversation"]] == [support.pk]
    assert _texts(by_alice.json()) == {SUPPORT_TEXT, SUPPORT_NOTE}
    assert WHOLESALE_NOTE not in json.dumps(by_alice.json()) and WHOLESALE_TEXT not in json.dumps(by_alice.json())
    assert [t["id"] for t in by_mona.json()["inbox.conversation"]] == [wholesale.pk]
    assert SUPPORT_NOTE not in json.dumps(by_mona.json())


def test_an_admin_exports_every_conversation_of_the_customer(api, jane, admin_user):
    customer, support, wholesale = jane

    export = api(admin_user).get(f"/api/v1/customers/{customer.pk}/export/").json()

    assert sorted(t["id"] for t in export["inbox.conversation"]) == sorted([support.pk, wholesale.pk])
    assert _texts(export) == {SUPPORT_TEXT, SUPPORT_NOTE, WHOLESALE_TEXT, WHOLESALE_NOTE}


def test_agents_and_leads_may_neither_export_nor_erase(api, jane, bob, lena):
    customer, _support, _wholesale = jane

    for user in (bob, lena):
        export = api(user).get(f"/api/v1/customers/{customer.pk}/export/")
        erase = api(user).post(f"/api/v1/customers/{customer.pk}/erase/")
        assert (export.status_code, export.json()["code"]) == (403, "forbidden")
        assert (erase.status_code, erase.json()["code"]) == (403, "forbidden")
    assert Customer.objects.get(pk=customer.pk).erased_at is None


def test_the_export_service_narrows_the_threads_to_the_user_it_is_given(jane, alice):
    customer, support, wholesale = jane

    assert [t["id"] for t in customer_export(customer=customer, by=alice)["inbox.conversation"]] == [support.pk]
    # The system itself (no user) exports everything.
    assert len(customer_export(customer=customer)["inbox.conversation"]) == 2


# --- Erasure ---------------------------------------------------------------------------------------


def test_a_manager_cannot_erase_a_customer_who_also_writes_to_another_team_and_nothing_is_erased(api, jane, alice):
    customer, _support, wholesale = jane

    response = api(alice).post(f"/api/v1/customers/{customer.pk}/erase/")

    assert response.status_code == 403
    assert response.json()["code"] == "erase_needs_admin" and "admin" in response.json()["detail"]
    customer.refresh_from_db()
    assert customer.erased_at is None and customer.name == "Jane Doe"
    assert set(Message.objects.filter(conversation=wholesale).values_list("text", flat=True)) == {
        WHOLESALE_TEXT, WHOLESALE_NOTE,
    }
    assert not ErasureRecord.objects.exists()
    assert not AuditEntry.objects.filter(action="customer.erase").exists()


def test_an_admin_erases_a_customer_who_writes_to_several_teams(api, jane, admin_user):
    customer, _support, wholesale = jane

    response = api(admin_user).post(f"/api/v1/customers/{customer.pk}/erase/")

    assert response.status_code == 200
    assert Customer.objects.get(pk=customer.pk).erased_at is not None
    assert set(Message.objects.filter(conversation=wholesale).values_list("text", flat=True)) == {""}


def test_a_manager_erases_a_customer_who_writes_only_to_her_team(api, messenger_inbox, alice):
    customer = thread_with(inbox=messenger_inbox, channel="messenger", external_id="1111222233334444",
                           texts=["Please delete my data"], name="Sam").customer

    response = api(alice).post(f"/api/v1/customers/{customer.pk}/erase/")

    assert response.status_code == 200
    assert Customer.objects.get(pk=customer.pk).erased_at is not None


def test_the_erase_service_refuses_a_user_who_cannot_see_every_thread_and_rolls_everything_back(jane, alice):
    customer, support, _wholesale = jane

    with pytest.raises(ErasureRefused):
        customer_erase(customer=customer, by=alice)

    customer.refresh_from_db()
    assert customer.erased_at is None and customer.identities.count() == 2
    assert SUPPORT_TEXT in set(Message.objects.filter(conversation=support).values_list("text", flat=True))
    assert not ErasureRecord.objects.exists()


# --- Merged records --------------------------------------------------------------------------------


@pytest.fixture
def merged_pair(messenger_inbox):
    """Kept: Jane's Support thread. Merged away: a hand-typed record with notes, labels and contacts."""
    kept = thread_with(inbox=messenger_inbox, channel="messenger", external_id="6543210987654321",
                       texts=["Hi"], name="Jane Doe").customer
    other = Customer.objects.create(name="J. Doe (typed in)", email="jane.private@example.com",
                                    phone="+15415550199", notes="Prefers calls after 6pm; VIP since 2019")
    other.labels.set([Label.objects.create(name="vip")])
    record = customer_merge(kept=kept, other=other)
    return kept, other, record


def test_a_merged_record_keeps_only_its_id_and_the_merge_snapshot_keeps_what_it_said(merged_pair):
    kept, other, record = merged_pair

    other.refresh_from_db()
    assert (other.name, other.email, other.phone, other.notes) == ("", "", "", "")
    assert list(other.labels.all()) == []
    kept.refresh_from_db()
    assert "Prefers calls after 6pm" in kept.notes and list(kept.labels.values_list("name", flat=True)) == ["vip"]
    snapshot = MergeRecord.objects.get(pk=record.pk).merged_snapshot
    assert snapshot["name"] == "J. Doe (typed in)" and snapshot["email"] == "jane.private@example.com"
    assert snapshot["notes"] == "Prefers calls after 6pm; VIP since 2019" and snapshot["labels"] == ["vip"]


def test_the_survivors_export_lists_the_merged_record_as_it_was(merged_pair, alice):
    kept, other, _record = merged_pair

    [merged] = customer_export(customer=kept, by=alice)["profile"]["merged_records"]

    assert merged["id"] == other.pk
    assert merged["email"] == "jane.private@example.com" and merged["labels"] == ["vip"]


def test_a_merged_id_answers_gone_with_the_survivor_to_who_sees_it(api, merged_pair, bob):
    kept, other, _record = merged_pair

    read = api(bob).get(f"/api/v1/customers/{other.pk}/")
    patch = api(bob).patch(f"/api/v1/customers/{other.pk}/", {"notes": "overwritten"}, format="json")

    assert read.status_code == 410 and patch.status_code == 410
    assert read.json()["code"] == "merged" and read.json()["survivor"] == kept.pk and read.json()["detail"]
    assert Customer.objects.get(pk=other.pk).notes == ""


def test_an_agent_of_another_team_gets_404_for_a_merged_record_and_cannot_patch_it(api, merged_pair, charlie):
    _kept, other, _record = merged_pair

    read = api(charlie).get(f"/api/v1/customers/{other.pk}/")
    patch = api(charlie).patch(f"/api/v1/customers/{other.pk}/", {"notes": "mine now", "name": "X"}, format="json")

    assert read.status_code == 404 and read.json() == {"code": "not_found", "detail": "Not found."}
    assert patch.status_code == 404
    other.refresh_from_db()
    assert other.notes == "" and other.name == ""


# --- Erased records --------------------------------------------------------------------------------


def test_an_erased_customer_is_not_readable_by_agents_or_leads_but_is_by_its_manager(
    api, messenger_inbox, alice, bob, lena, charlie, admin_user
):
    customer = thread_with(inbox=messenger_inbox, channel="messenger", external_id="1111222233334444",
                           texts=["Please delete my data"], name="Sam").customer
    buyer = Customer.objects.create(name="Only ever bought")
    customer_erase(customer=customer, by=alice)
    customer_erase(customer=buyer)

    for pk in (customer.pk, buyer.pk):
        url = f"/api/v1/customers/{pk}/"
        assert {u.username: api(u).get(url).status_code for u in (bob, lena, charlie, alice, admin_user)} == {
            "bob": 404, "lena": 404, "charlie": 404, "alice": 200, "root": 200,
        }
    assert api(alice).patch(f"/api/v1/customers/{customer.pk}/", {"name": "Back"}, format="json").status_code == 409
