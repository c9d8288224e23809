"""Search over conversations: the list's `?q=`, its date range, its ranking and its snippets.

On PostgreSQL it is PostgreSQL's own full-text search. Every message (notes included) carries
`search_vector`, its subject (weight A) and text (weight B) parsed with the message's own
configuration (`Message.search_config`), kept by a trigger and indexed by one partial GIN index per
configuration (migration 0015). `q` is read as web-search syntax (`websearch_to_tsquery`: words are
all required, `"a phrase"`, `or`, `-word`), parsed once per configuration, and each parsed query is
tested only against the messages of its configuration, so stemming and `-word` mean the same thing
on both sides. Customers are matched by name, email or phone with pg_trgm (substring through the
trigram indexes, and word similarity for names, so "Hoper" finds Hopper); an order number (`#1042`)
finds its customer's conversations.

A conversation is a hit when one of its messages matches, or its customer or an order of theirs
does. The date range (`after`, `before`) applies to the matching message; a customer or order hit
needs a message in the range. Everything here narrows the queryset it is given, which starts from
`inbox.team.access.conversations_visible_to`: what a user may not see is never in the query.

Relevance (`SEARCH_RANK`) is the best `ts_rank_cd` of a conversation's matching messages, scaled to
[0, 1) (normalisation 32); a customer or order hit counts 1. The embedded SQLite mode keeps a
substring match (`icontains`) and does not rank.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import reduce
from html import escape
from operator import or_

from django.contrib.postgres.search import SearchQuery, SearchQueryField, SearchVectorField
from django.db import connections
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    Expression,
    F,
    Field,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest, Left, Right

from customers.models import Customer, Order
from inbox.models import Conversation, Message, SearchConfig

# The annotation relevance ordering sorts on (inbox/api/views.py keys its cursor on it).
SEARCH_RANK = "search_rank"

_WORD = re.compile(r"\w")
_ORDER_NUMBER = re.compile(r"^#?\s*([A-Za-z0-9-]{1,32})$")
# Something a person types for a phone number: digits, spaces, + ( ) . -
_PHONE_LIKE = re.compile(r"^[\d\s()+.\-]+$")
# A phone fragment worth matching: at least this many digits.
PHONE_DIGITS_MIN = 4
# Names and emails are matched from this many characters (a trigram index needs three).
TRIGRAM_MIN = 3
# Messages matching q from which a search ordered by something else than relevance walks the list
# in its order rather than collecting every hit first (conversations_search, _dense).
DENSE_MESSAGES = 5000
# Longer queries are sentences, not names: they are not compared with names.
NAME_WORDS_MAX = 4


def is_postgresql(qs: QuerySet) -> bool:
    return connections[qs.db].vendor == "postgresql"


# --- Reading q -------------------------------------------------------------------------------------


def plain_words(q: str) -> str:
    """q without the web-search operators, for matching customers' names, emails and phones:
    quotes dropped, `-word` and `or` left out."""
    words = [w for w in q.replace('"', " ").split() if not w.startswith("-") and w.lower() != "or"]
    return " ".join(words)


def phone_digits(q: str) -> str | None:
    """The digits of q when it looks like (a piece of) a phone number: "+1 (415) 200-1331"."""
    if not _PHONE_LIKE.match(q):
        return None
    digits = re.sub(r"\D", "", q)
    return digits if len(digits) >= PHONE_DIGITS_MIN else None


def order_number(q: str) -> str | None:
    number = _ORDER_NUMBER.match(q)
    return number.group(1) if number else None


# --- PostgreSQL pieces -----------------------------------------------------------------------------


class MessageVector(Expression):
    """`inbox_message.search_vector` of the Message rows of the query (under whatever alias the
    query gives the table): the column is PostgreSQL's only, so it is no model field."""

    output_field = SearchVectorField()

    def __init__(self, pk: Expression | None = None) -> None:
        super().__init__()
        self.pk = pk if pk is not None else F("pk")

    def get_source_expressions(self) -> list:
        return [self.pk]

    def set_source_expressions(self, exprs) -> None:
        (self.pk,) = exprs

    def as_sql(self, compiler, connection):
        column, params = compiler.compile(self.pk)  # "<alias>"."id"
        return column.rsplit(".", 1)[0] + '."search_vector"', params


class _Matches(Func):
    """vector @@ query"""

    arg_joiner = " @@ "
    template = "(%(expressions)s)"
    output_field = BooleanField()


def _queries(q: str) -> dict[str, SearchQuery]:
    """q parsed once per configuration (websearch_to_tsquery folds to a constant at planning)."""
    return {config: SearchQuery(q, config=config, search_type="websearch") for config in SearchConfig.values}


def _message_matches(q: str) -> Q:
    """A message matches q in its own configuration; each arm reads that configuration's index."""
    return reduce(or_, (Q(search_config=config) & Q(_Matches(MessageVector(), query)) for config, query in _queries(q).items()))


def _message_query(q: str) -> Case:
    """The parsed query of each message's own configuration, for ranking and headlines."""
    queries = _queries(q)
    return Case(
        *(When(search_config=config, then=query) for config, query in queries.items() if config != SearchConfig.SIMPLE),
        default=queries[SearchConfig.SIMPLE],
        output_field=SearchQueryField(),
    )


def _message_rank(q: str) -> Func:
    """ts_rank_cd scaled to [0, 1): rank / (rank + 1)."""
    return Cast(
        Func(MessageVector(), _message_query(q), Value(32), function="ts_rank_cd", output_field=FloatField()),
        FloatField(),
    )


class _ILike(Func):
    """column ILIKE '%fragment%' (what the trigram GIN indexes serve; Django's icontains is
    UPPER(col) LIKE UPPER(…), which they do not)."""

    template = "%(expressions)s"
    arg_joiner = " ILIKE "
    output_field = BooleanField()

    def __init__(self, column: str, fragment: str) -> None:
        pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        super().__init__(F(column), Value(pattern))


class _WordSimilar(Func):
    """fragment <% column: pg_trgm's word similarity above pg_trgm.word_similarity_threshold (0.6)."""

    template = "%(expressions)s"
    arg_joiner = " <%% "
    output_field = BooleanField()


def _customers_matching(q: str) -> QuerySet | None:
    """The ids of customers whose name holds the words or is like them, whose email holds q, or
    whose phone holds q's digits; None when q can be none of these."""
    words = plain_words(q)
    arms: list[Q] = []
    if len(words) >= TRIGRAM_MIN and len(words.split()) <= NAME_WORDS_MAX:
        arms += [Q(_ILike("name", words)), Q(_WordSimilar(Value(words), F("name")))]
    if len(words) >= TRIGRAM_MIN and " " not in words:
        arms.append(Q(_ILike("email", words)))
    digits = phone_digits(q)
    if digits:
        arms.append(Q(_ILike("phone", digits)))
    if not arms:
        return None
    return Customer.objects.filter(reduce(or_, arms)).values("pk")


def _in_range(after: datetime | None, before: datetime | None) -> Q:
    bounds = Q()
    if after is not None:
        bounds &= Q(created_at__gte=after)
    if before is not None:
        bounds &= Q(created_at__lt=before)
    return bounds


def _messages_in_range(after: datetime | None, before: datetime | None) -> Exists:
    return Exists(Message.objects.filter(_in_range(after, before), conversation=OuterRef("pk")))


# --- The search ------------------------------------------------------------------------------------


def conversations_search(
    qs: QuerySet[Conversation],
    *,
    q: str,
    after: datetime | None = None,
    before: datetime | None = None,
    ranked: bool = False,
) -> QuerySet[Conversation]:
    """Narrow `qs` to the hits of q (and the date range); with `ranked`, annotate SEARCH_RANK."""
    q = " ".join(q.split())
    dated = after is not None or before is not None
    if not q:
        qs = qs.filter(_messages_in_range(after, before)) if dated else qs
        return qs.annotate(**{SEARCH_RANK: Value(0.0, output_field=FloatField())}) if ranked else qs
    if not is_postgresql(qs):
        return _substring_search(qs, q=q, after=after, before=before, ranked=ranked)

    matching = Message.objects.filter(_message_matches(q), _in_range(after, before))
    others: list[Q] = []
    customers = _customers_matching(q)
    if customers is not None:
        others.append(Q(customer_id__in=customers))
    number = order_number(q)
    if number:
        orders = Order.objects.filter(number__in={number, number.upper(), number.lower()}).values("customer_id")
        others.append(Q(customer_id__in=orders))

    if not ranked and _dense(matching, several_words=len(plain_words(q).split()) > 1):
        # A common word: walk the list in its own order and look into each conversation's
        # messages (a scalar subquery: PostgreSQL runs it per row, never hashes all the hits);
        # a page fills after a few hundred conversations, however many hits there are in all.
        probe = Subquery(matching.filter(conversation=OuterRef("pk")).order_by().values(one=Value(1))[:1])
        match = Q(search_hit__isnull=False)
        for other in others:
            match |= (other & Q(_messages_in_range(after, before))) if dated else other
        return qs.alias(search_hit=probe).filter(match)

    # Few hits, or every hit must be ranked: one `id IN (… UNION ALL …)`, which PostgreSQL plans as
    # a semi-join from the hits (an OR of subqueries would be guessed at half the table and walk all
    # of it for a rare word).
    hits = matching.order_by().values("conversation_id")
    for other in others:  # one arm each: a single IN is a semi-join on conv_customer_last
        by_customer = Conversation.objects.filter(other)
        if dated:
            by_customer = by_customer.filter(_messages_in_range(after, before))
        hits = hits.union(by_customer.order_by().values("pk"), all=True)
    qs = qs.filter(pk__in=hits)
    if not ranked:
        return qs
    best = (
        matching.filter(conversation=OuterRef("pk")).annotate(rank=_message_rank(q)).order_by("-rank").values("rank")[:1]
    )
    rank: Expression = Coalesce(Subquery(best, output_field=FloatField()), Value(0.0), output_field=FloatField())
    if others:
        rank = Greatest(rank, Case(When(reduce(or_, others), then=Value(1.0)), default=Value(0.0)), output_field=FloatField())
    return qs.annotate(**{SEARCH_RANK: rank})


def _dense(matching: QuerySet[Message], *, several_words: bool) -> bool:
    """At least DENSE_MESSAGES messages match (one query either way). For one word PostgreSQL's
    estimate is close (ANALYZE keeps lexeme frequencies), so EXPLAIN answers without reading a row;
    for several it multiplies their frequencies as if the words were independent, which words of
    one sentence are not (it guessed 398 for 42,298 on the benchmark), so the hits are counted, up
    to DENSE_MESSAGES only."""
    if not several_words:
        return estimated_rows(matching) >= DENSE_MESSAGES
    return matching.order_by().values("pk")[DENSE_MESSAGES - 1 : DENSE_MESSAGES].exists()


def estimated_rows(qs: QuerySet) -> int:
    """PostgreSQL's estimate of the rows qs returns (EXPLAIN: planning only, nothing is read).

    Its statistics on `search_vector` (lexeme frequencies, from ANALYZE) make this close for a
    word or a phrase, and it decides how the search runs (see DENSE_MESSAGES)."""
    sql, params = qs.query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _substring_search(
    qs: QuerySet[Conversation], *, q: str, after: datetime | None, before: datetime | None, ranked: bool
) -> QuerySet[Conversation]:
    """The embedded SQLite mode: q as one substring of a message, subject, the customer's name,
    email or phone, or an order number; not ranked."""
    messages = Message.objects.filter(_in_range(after, before), conversation=OuterRef("pk"), text__icontains=q)
    other = (
        Q(customer__name__icontains=q)
        | Q(customer__email__icontains=q)
        | Q(customer__phone__icontains=q)
        | Q(subject__icontains=q)
    )
    digits = phone_digits(q)
    if digits and digits != q:
        other |= Q(customer__phone__contains=digits)
    number = order_number(q)
    if number:
        other |= Q(Exists(Order.objects.filter(customer=OuterRef("customer_id"), number__iexact=number)))
    if after is not None or before is not None:
        other &= Q(_messages_in_range(after, before))
    qs = qs.filter(Q(Exists(messages)) | other)
    return qs.annotate(**{SEARCH_RANK: Value(0.0, output_field=FloatField())}) if ranked else qs


# --- Snippets --------------------------------------------------------------------------------------

# ts_headline marks matches with these (Unicode private-use characters, removed from the text
# first), and `<`/`>` become the other two before PostgreSQL sees the text, so its parser takes no
# customer's "<b>" for a tag (it would drop it). The result is HTML-escaped in Python, and only
# then do the four become <mark>, </mark>, &lt; and &gt;: a snippet holds no markup but <mark>.
_START, _STOP, _LT, _GT = "\ue000", "\ue001", "\ue002", "\ue003"
# One fragment of up to 30 words centred on the best match (MaxFragments=1: the default mode
# would start at the match, with nothing before it); ShortWord=0 keeps "Hi" or "don't"'s "t" at
# its edges.
HEADLINE_OPTIONS = f"StartSel={_START}, StopSel={_STOP}, MaxFragments=1, MaxWords=30, MinWords=12, ShortWord=0"
# How much of a message's beginning and end is read to tell whether a headline starts or ends it.
_EDGE = 1000
# Left out at an end of a headline, this much is put back rather than replaced by "…".
_KEEP_EDGE = 24

SNIPPET_BEFORE = 60
SNIPPET_CHARS = 180


def _guarded(column: str) -> Func:
    """The column with the sentinels removed and `<`, `>` replaced (see above)."""
    return Func(
        F(column), Value(f"<>{_START}{_STOP}{_LT}{_GT}"), Value(f"{_LT}{_GT}"), function="translate",
        output_field=TextField(),
    )


def _headline(column: str, q: str) -> Func:
    return Func(
        Cast(F("search_config"), output_field=_RegConfig()), _guarded(column), _message_query(q),
        Value(HEADLINE_OPTIONS), function="ts_headline", output_field=TextField(),
    )


class _RegConfig(Field):
    def db_type(self, connection) -> str:
        return "regconfig"


def search_snippets(
    conversations: list[Conversation], *, q: str, after: datetime | None = None, before: datetime | None = None
) -> dict[int, str]:
    """Why each hit matched q: {conversation id: snippet}, one query for the page.

    A snippet is HTML-escaped text with the matches in <mark>…</mark>: a headline of the best
    matching message or note (ts_headline; "…" where it is cut), else the customer's name, email or
    phone, else the order number."""
    q = " ".join(q.split())
    if not q or not conversations:
        return {}
    if not is_postgresql(Conversation.objects.all()):
        return _substring_snippets(conversations, q=q, after=after, before=before)
    best = (
        Message.objects.filter(_message_matches(q), _in_range(after, before), conversation=OuterRef("pk"))
        .annotate(rank=_message_rank(q))
        .order_by("-rank", "-created_at", "-id")
        .values("pk")[:1]
    )
    chosen = Conversation.objects.filter(pk__in=[c.pk for c in conversations]).annotate(best=Subquery(best)).values("best")
    rows = (
        Message.objects.filter(pk__in=chosen)
        .annotate(
            text_hl=_headline("text", q), subject_hl=_headline("subject", q),
            head=Left(_guarded("text"), _EDGE), tail=Right(_guarded("text"), _EDGE),
            subject_guarded=_guarded("subject"),
        )
        .values_list("conversation_id", "text_hl", "subject_hl", "head", "tail", "subject_guarded")
    )
    out: dict[int, str] = {}
    for conversation_id, text_hl, subject_hl, head, tail, subject in rows:
        if _START in (text_hl or "") or _START not in (subject_hl or ""):
            out[conversation_id] = _snippet(text_hl or "", head, tail)
        else:
            out[conversation_id] = _snippet(subject_hl, subject, subject)
    rest = [c for c in conversations if c.pk not in out]
    ordered = _customers_with_order(rest, q)
    for conversation in rest:
        snippet = _customer_snippet(conversation, q, has_order=conversation.customer_id in ordered)
        if snippet:
            out[conversation.pk] = snippet
    return out


def _customers_with_order(conversations: list[Conversation], q: str) -> set[int]:
    """Which of these conversations' customers have the order numbered q (a query only if q can be one)."""
    number = order_number(q)
    if not number or not conversations:
        return set()
    return set(
        Order.objects.filter(
            customer_id__in={c.customer_id for c in conversations}, number__in={number, number.upper(), number.lower()}
        ).values_list("customer_id", flat=True)
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def _snippet(headline: str, head: str, tail: str) -> str:
    """A ts_headline result as safe HTML: escaped, marks restored, "…" where the text goes on.

    A fragment never ends on a number (ts_headline's rule) nor takes in punctuation at its
    edges: what it left out at either end is put back when it is that short ("…order #1042?")."""
    flat = _flat(headline)
    plain = flat.replace(_START, "").replace(_STOP, "")
    safe = _safe(flat).replace(_START, "<mark>").replace(_STOP, "</mark>")
    head, tail = _flat(head or ""), _flat(tail or "")
    at, end = head.find(plain), tail.rfind(plain)
    before = head[:at] if at >= 0 else None
    after = tail[end + len(plain):] if end >= 0 else None
    return _edge(before) + safe + _edge(after)


def _edge(left_out: str | None) -> str:
    if left_out is not None and (len(left_out) <= _KEEP_EDGE or not _WORD.search(left_out)):
        return _safe(left_out)
    return "…"


def _safe(text: str) -> str:
    return escape(text).replace(_LT, "&lt;").replace(_GT, "&gt;")


def _customer_snippet(conversation: Conversation, q: str, *, has_order: bool) -> str | None:
    customer = conversation.customer
    words = plain_words(q)
    for text in (customer.name, customer.email):
        snippet = snippet_highlight(text or "", words) if words else None
        if snippet:
            return snippet
    digits = phone_digits(q)
    if customer.phone and digits and digits in customer.phone:
        return snippet_highlight(customer.phone, digits) or escape(customer.phone)
    if customer.phone and words:
        snippet = snippet_highlight(customer.phone, words)
        if snippet:
            return snippet
    number = order_number(q)
    if number and has_order:
        return f"Order <mark>#{escape(number)}</mark>"
    if customer.name:  # a name like the words (trigram word similarity), no substring of it
        return f"<mark>{escape(customer.name)}</mark>"
    return None


def _substring_snippets(
    conversations: list[Conversation], *, q: str, after: datetime | None, before: datetime | None
) -> dict[int, str]:
    latest_hit = (
        Message.objects.filter(_in_range(after, before), conversation=OuterRef("pk"), text__icontains=q)
        .order_by("-created_at", "-id")
        .values("text")[:1]
    )
    hits = dict(
        Conversation.objects.filter(pk__in=[c.pk for c in conversations])
        .annotate(hit=Subquery(latest_hit))
        .values_list("pk", "hit")
    )
    out: dict[int, str] = {}
    for conversation in conversations:
        snippet = snippet_highlight(hits.get(conversation.pk) or "", q) or snippet_highlight(conversation.subject, q)
        snippet = snippet or _customer_snippet(conversation, q, has_order=True)
        if snippet:
            out[conversation.pk] = snippet
    return out


def snippet_highlight(text: str, q: str) -> str | None:
    """`text` around the first case-insensitive occurrence of `q`, escaped, matches in <mark>; None if absent."""
    flat = _flat(text)
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
