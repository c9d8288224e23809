"""ConversationFilter copies its filters shallowly per request (inbox.api.filters._FilterCopies) and
builds its form class once: each FilterSet must still have filters of its own, bound to itself."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from inbox.api.filters import ConversationFilter
from inbox.conversations import selectors

from .conversation_factories import conversation_make

pytestmark = pytest.mark.django_db


class _Request:
    def __init__(self, user):
        self.user = user


def test_two_filtersets_at_once_each_filter_for_their_own_request(bob, charlie, messenger_inbox, admin_user):
    mine = conversation_make(messenger_inbox, assignee=bob)
    theirs = conversation_make(messenger_inbox, assignee=charlie)
    params = QueryDict("assignee=me")
    qs = selectors.conversations_listed(user=admin_user)
    for_bob = ConversationFilter(params, queryset=qs, request=_Request(bob))
    for_charlie = ConversationFilter(params, queryset=qs, request=_Request(charlie))
    assert for_bob.filters["assignee"] is not for_charlie.filters["assignee"]
    assert for_bob.filters["assignee"] is not ConversationFilter.base_filters["assignee"]
    assert [c.pk for c in for_charlie.qs] == [theirs.pk]
    assert [c.pk for c in for_bob.qs] == [mine.pk]
    assert ConversationFilter.base_filters["assignee"].__dict__.get("parent") is None


def test_the_shared_form_class_still_validates_each_request_on_its_own(admin_user):
    qs = selectors.conversations_listed(user=admin_user)
    bad = ConversationFilter(QueryDict("window=soon"), queryset=qs, request=_Request(admin_user))
    good = ConversationFilter(QueryDict("window=open"), queryset=qs, request=_Request(admin_user))
    assert not bad.is_valid() and "window" in bad.errors
    assert good.is_valid() and good.form.cleaned_data["window"] == "open"
    assert type(bad.form) is type(good.form)
