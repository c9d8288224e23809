"""Reads on the inbox: what a user may list, and the query pieces the API's filters are built from.

Every read starts from `inbox.team.access.conversations_visible_to`, so an object outside what a user
may see simply isn't there (404), and lists are shaped to a constant number of queries.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import escape

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.expressions import Combinable
from django.http import Http404

from customers.models import Label, Order
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


def conversations_listed(*, user) -> QuerySet[Conversation]:
    """`conversations_visible` for list pages: the inbox's encrypted credentials are never read
    (nor decrypted, once per row) to show its name."""
    return conversations_visible(user=user).defer("inbox__credentials")


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


_ORDER_NUMBER = re.compile(r"^#?\s*([A-Za-z0-9-]{1,32})$")


def conversations_matching(qs: QuerySet[Conversation], *, q: str) -> QuerySet[Conversation]:
    """Customer name, email or phone, message text (notes included), or an order number (#1042)."""
    q = q.strip()
    if not q:
        return qs
    match: Q | Combinable = (
        Q(customer__name__icontains=q)
        | Q(customer__email__icontains=q)
        | Q(customer__phone__icontains=q)
        | Q(subject__icontains=q)
        | Exists(Message.objects.filter(conversation=OuterRef("pk"), text__icontains=q))
    )
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 4 and digits != q:
        # "+1 (415) 200-1331" finds +14152001331.
        match |= Q(customer__phone__contains=digits)
    number = _ORDER_NUMBER.match(q)
    if number:
        match |= Exists(Order.objects.filter(customer=OuterRef("customer_id"), number__iexact=number.group(1)))
    return qs.filter(match)


# --- Search snippets -------------------------------------------------------------------------------

SNIPPET_BEFORE = 60
SNIPPET_CHARS = 180


def search_snippets(conversations: list[Conversation], *, q: str) -> dict[int, str]:
    """Why each search hit matched `q`: {conversation id: snippet}, in one query for the page.

    A snippet is HTML-escaped text around the first match with every match in <mark>…</mark>:
    the latest message (or note) containing it, else the subject or the customer's name, email or
    phone, else the order number it matched. This is the substring search's version; a full-text
    search replaces it together with `conversations_matching` (e.g. with ts_headline).
    """
    q = " ".join(q.split())
    if not q or not conversations:
        return {}
    latest_hit = (
        Message.objects.filter(conversation=OuterRef("pk"), text__icontains=q).order_by("-created_at", "-id").values("text")[:1]
    )
    hits = dict(
        Conversation.objects.filter(pk__in=[c.pk for c in conversations])
        .annotate(hit=Subquery(latest_hit))
        .values_list("pk", "hit")
    )
    out: dict[int, str] = {}
    for conversation in conversations:
        customer = conversation.customer
        for text in (hits.get(conversation.pk), conversation.subject, customer.name, customer.email, customer.phone):
            snippet = snippet_highlight(text or "", q)
            if snippet:
                out[conversation.pk] = snippet
                break
        else:
            number = _ORDER_NUMBER.match(q)
            digits = re.sub(r"\D", "", q)
            if customer.phone and len(digits) >= 4 and digits in customer.phone:
                out[conversation.pk] = snippet_highlight(customer.phone, digits) or escape(customer.phone)
            elif number:
                out[conversation.pk] = f"Order <mark>#{escape(number.group(1))}</mark>"
    return out


def snippet_highlight(text: str, q: str) -> str | None:
    """`text` around the first case-insensitive occurrence of `q`, escaped, matches in <mark>; None if absent."""
    flat = " ".join(text.split())
    pattern = re.compile(re.escape(q), re.IGNORECASE)
    first = pattern.search(flat)
    if first is None:
        return None
    start = max(0, first.start() - SNIPPET_BEFORE)
    if start:  # begin on a word
        space = flat.find(" ", start, first.start())
        start = space + 1 if space >= 0 else start
    end = min(len(flat), max(start + SNIPPET_CHARS, first.end()))
    if end < len(flat):
        space = flat.rfind(" ", first.end(), end)
        end = space if space > 0 else end
    parts = ["…" if start else ""]
    at = start
    for match in pattern.finditer(flat, start, end):
        parts += [escape(flat[at:match.start()]), "<mark>", escape(match.group()), "</mark>"]
        at = match.end()
    parts += [escape(flat[at:end]), "…" if end < len(flat) else ""]
    return "".join(parts)
