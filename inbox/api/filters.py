"""Query parameters of `GET /api/v1/conversations/`: parsed and validated here, queried in selectors.

A bad value is a 400 `{code: "invalid"}` naming the parameter, never an ignored filter.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import ClassVar

import django_filters
from django import forms
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from customers.models import Channel
from inbox.conversations import selectors
from inbox.models import Conversation, ConversationStatus

ORDERINGS = {
    "-last_message_at": "Most recent activity first (default without `q`)",
    "waiting_since": "Longest-waiting customer first; conversations not waiting come last",
    "window_expires_at": "Messenger/Instagram window closing soonest first; no window comes last",
    "sla_due_at": "SLA target due soonest first (overdue ones first of all); no running target comes last",
    "relevance": "Best match first (with `q` only; its default)",
}
DEFAULT_ORDERING = "-last_message_at"
RELEVANCE = "relevance"


def ordering_of(params) -> str:
    """The list's order for these query parameters: as asked, else relevance when searching."""
    asked = params.get("ordering") or ""
    if asked:
        return asked
    return RELEVANCE if (params.get("q") or "").strip() else DEFAULT_ORDERING
# Larger ids can't exist (bigint) and would make PostgreSQL raise instead of matching nothing.
MAX_ID = 2**63 - 1


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) <= MAX_ID


class _AssigneeField(forms.CharField):
    def validate(self, value):
        super().validate(value)
        if value and value not in ("me", "none") and not _is_id(value):
            raise forms.ValidationError("Use me, none or a user id.")


class _TeamField(forms.CharField):
    def validate(self, value):
        super().validate(value)
        if value and value != "none" and not all(_is_id(v) for v in value.split(",")):
            raise forms.ValidationError("Use none, a team id or comma-separated team ids.")


class AssigneeFilter(django_filters.CharFilter):
    field_class = _AssigneeField


class TeamFilter(django_filters.CharFilter):
    field_class = _TeamField


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField  # type: ignore[assignment]  # the stubs expect NumberFilter's DecimalField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class StatusInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    pass


class ConversationFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        after, before = data.get("after"), data.get("before")
        if after and before and before <= after:
            self.add_error("before", "Must be later than after.")
        if data.get("ordering") == RELEVANCE and not (data.get("q") or "").strip():
            self.add_error("ordering", "relevance orders search results: it needs q.")
        return data


class _FilterCopies(OrderedDict):
    """A FilterSet's `base_filters` whose per-request deep copy (django-filter's FilterSet.__init__,
    ~650 objects: choices, help texts, validators) is one shallow copy per filter. A filter's own
    state is its `model` and `parent`, which the FilterSet sets on each copy; its `method` proxy is
    bound to the filter object, so each copy gets its own."""

    def __deepcopy__(self, memo):
        copies = OrderedDict()
        for name, base in self.items():
            clone = copy.copy(base)
            if base.method is not None:
                clone.method = base.method  # a FilterMethod bound to the copy, not to the base filter
            copies[name] = clone
        return copies


class ConversationFilter(django_filters.FilterSet):
    status = StatusInFilter(
        choices=ConversationStatus.choices,
        help_text="One status or several, comma-separated: open,pending",
    )
    inbox = IdFilter(field_name="inbox_id", help_text="Inbox id")
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    assignee = AssigneeFilter(
        method="filter_assignee", help_text="`me`, `none` (unassigned) or a user id"
    )
    team = TeamFilter(method="filter_team", help_text="A team id, several comma-separated (`3,5`), or `none`")
    customer = IdFilter(field_name="customer_id", help_text="Customer id: that customer's conversations")
    window = django_filters.ChoiceFilter(
        method="filter_window",
        choices=[("open", "open"), ("expiring", "expiring"), ("closed", "closed")],
        help_text=(
            "Meta messaging window (Messenger/Instagram only; SMS and email match none): "
            "`open` = a normal reply is allowed now; `expiring` = open and closing within 2 hours; "
            "`closed` = a normal reply is not allowed (HUMAN_AGENT-tag period or fully closed)."
        ),
    )
    q = django_filters.CharFilter(
        method="filter_search",
        max_length=200,
        help_text=(
            "Search in web-search syntax: every word must match (stemmed where the message's language is known), "
            '`"a phrase"`, `or`, `-word`; over message text, notes and email subjects, customers\' names '
            "(also near spellings), emails and phone fragments, and order numbers (`#1042`). Each hit carries a "
            "`snippet`; ordered by relevance unless `ordering` says otherwise."
        ),
    )
    after = django_filters.IsoDateTimeFilter(
        method="filter_search",
        help_text="ISO 8601 date-time: conversations with a message at or after it (with `q`: a matching message)",
    )
    before = django_filters.IsoDateTimeFilter(
        method="filter_search",
        help_text="ISO 8601 date-time: conversations with a message before it (with `q`: a matching message)",
    )
    label = django_filters.CharFilter(field_name="labels__name", help_text="Conversations carrying this label")
    sla = django_filters.ChoiceFilter(
        method="filter_sla",
        choices=[("due_1h", "due_1h"), ("breached", "breached")],
        help_text=(
            "SLA (inbox/sla/): `due_1h` = a target still running is due within the hour (not yet late); "
            "`breached` = a running target is past its due time."
        ),
    )
    unread = django_filters.ChoiceFilter(
        method="filter_unread",
        choices=[("true", "true"), ("false", "false")],
        help_text="true: only those unread for you (customer messages came in since you last opened them); false: the others",
    )
    ordering = django_filters.ChoiceFilter(
        method="filter_ordering",
        choices=list(ORDERINGS.items()),
        empty_label=None,
        help_text="Sort order (default `-last_message_at`)",
    )

    class Meta:
        model = Conversation
        fields: list[str] = []
        form = ConversationFilterForm

    _form_class: ClassVar[type[forms.Form] | None] = None  # see get_form_class

    def get_form_class(self):
        # django-filter builds a new form class, and a field per filter, for every request. These
        # fields are the same for everyone (no choices read from the database or the request), and a
        # form deep-copies its class's fields for itself, so the class is built once per FilterSet.
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = cls._form_class = super().get_form_class()
        return form_class

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        q, after, before = (data.get("q") or "").strip(), data.get("after"), data.get("before")
        if not (q or after or before):
            return queryset
        # q and the date range are one search (the range applies to the matching message).
        return selectors.conversations_matching(
            queryset, q=q, after=after, before=before, ranked=ordering_of(data) == RELEVANCE
        )

    def filter_assignee(self, queryset, name, value):
        return selectors.conversations_with_assignee(queryset, user=self.request.user, assignee=value)

    def filter_team(self, queryset, name, value):
        if value == "none":
            return queryset.filter(team__isnull=True)
        return queryset.filter(team_id__in=[int(v) for v in value.split(",")])

    def filter_sla(self, queryset, name, value):
        return selectors.conversations_by_sla(queryset, state=value, now=timezone.now())

    def filter_window(self, queryset, name, value):
        return selectors.conversations_in_window(queryset, state=value, now=timezone.now())

    def filter_unread(self, queryset, name, value):
        unread = selectors.conversations_unread_for(queryset, user=self.request.user)
        return unread if value == "true" else queryset.exclude(pk__in=unread.values("pk"))

    def filter_search(self, queryset, name, value):
        # q, after and before are applied together, in filter_queryset.
        return queryset

    def filter_ordering(self, queryset, name, value):
        # The paginator orders (it needs the ordering for its cursor); this only validates.
        return queryset


ConversationFilter.base_filters = _FilterCopies(ConversationFilter.base_filters)
