"""A macro's order action goes through the order actions' one door (inbox/orders/actions.py): previewed
in the macro's preview, recorded inside the macro's transaction, and gone if the macro fails after it."""

from __future__ import annotations

import pytest

from inbox.models import ConversationEvent, Macro, OrderAction
from tests.inbox.test_order_actions import TOTE, order, shopify_webhooks, store, thread  # noqa: F401

pytestmark = pytest.mark.django_db

REFUND_TOTE = {"type": "order_action", "kind": "refund",
               "params": {"line_items": [{"line_item_id": TOTE, "quantity": 1}], "reason": "Tote arrived torn"}}


def macro_of(alice, team, actions) -> Macro:
    return Macro.objects.create(name="Torn tote", team=team, actions=actions, created_by=alice)


def test_the_preview_states_the_refund_and_the_run_records_it_with_its_own_timeline_entry(
    api, alice, bob, team_a, thread, order, fake_shopify, commit  # noqa: F811
):
    macro = macro_of(alice, team_a, [{"type": "note", "text": "Refunding the tote"}, REFUND_TOTE,
                                     {"type": "status", "status": "resolved"}])
    body = {"conversation": thread.pk, "order": order.pk}

    preview = api(bob).post(f"/api/v1/macros/{macro.pk}/apply/", {**body, "preview": True}, format="json").json()
    assert preview["allowed"] is True and "25.00" in preview["actions"][1]["description"]
    assert not OrderAction.objects.exists() and fake_shopify.calls_of("refundCreate") == []

    response = api(bob).post(f"/api/v1/macros/{macro.pk}/apply/", body, format="json")

    assert response.status_code == 200, response.content
    action = OrderAction.objects.get()
    assert (action.kind, action.amount, action.actor_id) == ("refund", 25, bob.pk)
    assert len(fake_shopify.calls_of("refundCreate")) == 1
    # Shopify's answer lands on the order action's own entry, so the macro leaves it unfolded.
    assert ConversationEvent.objects.get(conversation=thread, kind="order_action").part_of_id is None


def test_a_refund_over_the_agents_limit_refuses_the_macro_before_anything_runs(
    api, alice, bob, team_a, thread, order, fake_shopify, commit  # noqa: F811
):
    everything = {"type": "order_action", "kind": "refund", "params": {"reason": "All wrong"}}  # the whole order
    macro = macro_of(alice, team_a, [{"type": "note", "text": "Refunding"}, everything])

    response = api(bob).post(f"/api/v1/macros/{macro.pk}/apply/", {"conversation": thread.pk, "order": order.pk},
                             format="json")

    assert response.status_code == 403
    assert (response.json()["code"], response.json()["action"]) == ("over_limit", 1)
    assert not OrderAction.objects.exists()
    assert not thread.messages.filter(is_private=True).exists()


def test_a_macro_failing_after_its_refund_leaves_no_refund_and_calls_no_shopify(
    api, alice, bob, team_a, thread, order, fake_shopify, commit, monkeypatch  # noqa: F811
):
    macro = macro_of(alice, team_a, [REFUND_TOTE, {"type": "status", "status": "resolved"}])

    def broken(**kwargs):
        raise RuntimeError("lost the database mid-macro")

    monkeypatch.setattr("inbox.macros.actions.conversation_update", broken)
    with pytest.raises(RuntimeError):
        api(bob).post(f"/api/v1/macros/{macro.pk}/apply/", {"conversation": thread.pk, "order": order.pk}, format="json")

    assert not OrderAction.objects.exists()
    assert fake_shopify.calls_of("refundCreate") == []
    assert not ConversationEvent.objects.filter(conversation=thread).exists()
