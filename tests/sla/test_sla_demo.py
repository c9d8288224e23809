"""The demo shop comes with an SLA policy whose clocks are derived from its seeded messages."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from inbox.models import Conversation, ConversationStatus, SlaClock


@pytest.mark.django_db
def test_the_demo_shop_has_sla_clocks_and_resolved_threads_run_none():
    call_command("seed_demo", "--customers", "40", stdout=StringIO())
    assert SlaClock.objects.exists()
    resolved = Conversation.objects.filter(status=ConversationStatus.RESOLVED)
    assert resolved.exists() and not resolved.exclude(sla_next_due_at=None).exists()
    assert Conversation.objects.exclude(status=ConversationStatus.RESOLVED).exclude(sla_next_due_at=None).exists()
