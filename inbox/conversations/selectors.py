"""Reads on the inbox: what a user may list, and the query pieces the API's filters are built from.

Every read starts from `inbox.team.access.conversations_visible_to`, so an object outside what a user
may see simply isn't there (404), and lists are shaped to a constant number of queries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connections
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404

from customers.models import Customer, Label
from inbox.conversations import search
from inbox.models import META_CHANNELS, Conversation, ConversationRead, Message
from inbox.team.access import conversations_visible_to

# A conversation's labels, by name, onto `Conversation.label_names` (see there).
LABELS = Prefetch("labels", queryset=Label.objects.order_by("name"), to_attr="prefetched_labels")

# `window=expiring`: the standard window closes within this much time.
EXPIRING_WITHIN = timedelta(hours=2)


# The asking agent's own read state (ConversationRead.read_at), annotated onto the rows they get.
READ_AT = "my_read_at"


def conversations_visible(*, user) -> QuerySet[Conversation]:
    """Conversations the user may see, with what the list serializer reads joined in (and their read state)."""
    qs = conversations_visible_to(user).select_related("inbox", "customer").prefetch_related(LABELS)
    return with_read_state(qs, user=user)


def with_read_state(qs: QuerySet[Conversation], *, user) -> QuerySet[Conversation]:
    """Annotate `READ_AT`: when `user` last opened each conversation (None if never); one subquery per row."""
    reads = ConversationRead.objects.filter(conversation=OuterRef("pk"), user_id=user.pk).values("read_at")[:1]
    return qs.annotate(**{READ_AT: Subquery(reads)})


def unread_for(conversation: Conversation, read_at: datetime | None) -> bool:
    """Unread for an agent who last opened it at `read_at`: customer messages wait that nobody
    answered or marked read (unread_count) and that came in since that agent opened it."""
    if not conversation.unread_count:
        return False
    last_in = conversation.last_inbound_at
    return read_at is None or last_in is None or read_at < last_in


def conversations_unread_for(qs: QuerySet[Conversation], *, user) -> QuerySet[Conversation]:
    """`unread_for` in SQL: the `unread=me` filter."""
    seen = ConversationRead.objects.filter(conversation=OuterRef("pk"), user_id=user.pk, read_at__gte=OuterRef("last_inbound_at"))
    return qs.filter(unread_count__gt=0).exclude(Exists(seen))


# What a row of the list shows (inbox.realtime.frames.conversation_data) and what its keysets order by:
# a page reads nothing else (no inbox settings or credentials, no customer notes).
LIST_FIELDS = (
    "id", "inbox_id", "customer_id", "channel", "status", "assignee_id", "team_id", "subject",
    "last_message_at", "last_message_text", "last_message_direction", "last_message_sender_type",
    "last_inbound_at", "last_customer_action_at", "window_closed_at", "window_expires_at", "waiting_since",
    "snoozed_until", "unread_count", "created_at", "thread_key", "priority", "sla_next_due_at", "sla_state",
)
# The inbox's and the customer's columns a row shows, as values of the row: no Inbox or Customer
# instance per row (building those was a third of a page's fetch). See `listed_inbox`, `listed_customer_name`.
LISTED_RELATED = {
    "listed_inbox_kind": F("inbox__kind"),
    "listed_inbox_name": F("inbox__name"),
    "listed_customer_name": F("customer__name"),
    "listed_customer_email": F("customer__email"),
    "listed_customer_phone": F("customer__phone"),
}

# A listed row's label names, sorted (PostgreSQL: an array in the page's own query).
LABEL_NAMES = "listed_label_names"


def conversations_listed(*, user) -> QuerySet[Conversation]:
    """What the user may see, shaped for list pages: the columns a row shows, its inbox's and
    customer's as values, the user's read state and, on PostgreSQL, the label names in the same
    query (elsewhere one prefetch for the page). Read those with `listed_inbox`,
    `listed_customer_name` and `label_names_of`; `conversation.customer` is not loaded (search
    snippets prefetch it for their page)."""
    qs = conversations_visible_to(user).only(*LIST_FIELDS).annotate(**LISTED_RELATED)
    qs = with_read_state(qs, user=user)
    if connections[qs.db].vendor != "postgresql":
        return qs.prefetch_related(LABELS)
    from django.contrib.postgres.expressions import ArraySubquery  # PostgreSQL only (not the embedded SQLite)

    names = Label.objects.filter(conversations=OuterRef("pk")).order_by("name").values("name")
    return qs.annotate(**{LABEL_NAMES: ArraySubquery(names)})


def listed_inbox(conversation: Conversation) -> dict:
    """A listed row's `inbox` object: {id, kind, name}."""
    row = conversation.__dict__  # the values LISTED_RELATED annotated
    return {"id": conversation.inbox_id, "kind": row["listed_inbox_kind"], "name": row["listed_inbox_name"]}


def listed_customer_name(conversation: Conversation) -> str:
    """A listed row's customer as `str(customer)` names them."""
    row = conversation.__dict__
    return Customer.display_name(
        row["listed_customer_name"], row["listed_customer_email"], row["listed_customer_phone"], conversation.customer_id
    )


def label_names_of(conversation: Conversation) -> list[str]:
    """A row's label names, sorted, from whichever way `conversations_listed` read them."""
    names = conversation.__dict__.get(LABEL_NAMES)
    return conversation.label_names if names is None else names


def conversation_get(*, user, pk) -> Conversation:
    """One visible conversation, or Http404 (also for ids that are not numbers)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    if not 0 < pk < 2**63:  # beyond bigint PostgreSQL would raise rather than find nothing
        raise Http404
    conversation = conversations_visible(user=user).filter(pk=pk).first()
    if conversation is None:
        raise Http404
    return conversation


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    """The thread, private notes included; the serializer's sender reads the conversation."""
    return Message.objects.filter(conversation=conversation).select_related("conversation")


# --- Filters ---------------------------------------------------------------------------------------


def conversations_with_assignee(qs: QuerySet[Conversation], *, user, assignee: str) -> QuerySet[Conversation]:
    """`me`, `none`, or a user id (validated by the caller)."""
    if assignee == "me":
        return qs.filter(assignee=user)
    if assignee == "none":
        return qs.filter(assignee__isnull=True)
    return qs.filter(assignee_id=int(assignee))


def _window_open(now: datetime) -> Q:
    """The standard 24 h window is open: mirrors Conversation.window_state() in SQL.

    window_expires_at is last_customer_action_at + 24 h (kept by the services); a send Meta
    refused as outside the window closes it until the customer acts again.
    """
    return (
        Q(channel__in=META_CHANNELS, window_expires_at__gt=now)
        & (Q(window_closed_at__isnull=True) | Q(window_closed_at__lt=F("last_customer_action_at")))
    )


# `sla=due_1h`: a running target is due within this much time.
SLA_DUE_WITHIN = timedelta(hours=1)


def conversations_by_sla(qs: QuerySet[Conversation], *, state: str, now: datetime) -> QuerySet[Conversation]:
    """due_1h: the earliest running SLA target is due within the hour (not late yet); breached: it is
    late. One range of the indexed `sla_next_due_at` (inbox/sla/clocks.py keeps it)."""
    if state == "due_1h":
        return qs.filter(sla_next_due_at__gte=now, sla_next_due_at__lt=now + SLA_DUE_WITHIN)
    if state == "breached":
        return qs.filter(sla_next_due_at__lt=now)
    raise ValueError(f"unknown sla state {state!r}")


def conversations_in_window(qs: QuerySet[Conversation], *, state: str, now: datetime) -> QuerySet[Conversation]:
    """open: a normal reply is allowed; expiring: open and closing within 2 h;
    closed: Messenger/Instagram threads where it is not (HUMAN_AGENT-only or fully closed).
    SMS and email have no window and match none of these."""
    if state == "open":
        return qs.filter(_window_open(now))
    if state == "expiring":
        return qs.filter(_window_open(now), window_expires_at__lte=now + EXPIRING_WITHIN)
    if state == "closed":
        return qs.filter(channel__in=META_CHANNELS).exclude(_window_open(now))
    raise ValueError(f"unknown window state {state!r}")


def conversations_matching(
    qs: QuerySet[Conversation],
    *,
    q: str,
    after: datetime | None = None,
    before: datetime | None = None,
    ranked: bool = False,
) -> QuerySet[Conversation]:
    """The list's search: q in web-search syntax over messages (notes included), email subjects,
    customers' names, emails and phones and order numbers (#1042), messages within [after, before);
    `ranked` annotates `search.SEARCH_RANK`. See inbox/conversations/search.py."""
    return search.conversations_search(qs, q=q, after=after, before=before, ranked=ranked)


def search_snippets(
    conversations: list[Conversation], *, q: str, after: datetime | None = None, before: datetime | None = None
) -> dict[int, str]:
    """Why each search hit matched `q`: {conversation id: snippet}, in one query for the page.

    A snippet is HTML-escaped text with every match in <mark>…</mark>: the best matching message's
    (or note's) headline, else the customer's name, email or phone, else the order number."""
    return search.search_snippets(conversations, q=q, after=after, before=before)
