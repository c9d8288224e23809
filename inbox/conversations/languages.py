"""Which language a customer and a message are in, as the conversation services learn it.

A customer's language (`Customer.language`) comes from an agent's choice (PATCH /api/v1/customers/{id}/)
or, while none is set, from what a provider says: Meta's profile `locale` (Messenger's User Profile
API, inbox/conversations/profiles.py) or an email's `Content-Language` (inbox/intake/email.py). A
provider never overrides a language already set: an agent's choice stands.

A message's text-search configuration (`Message.search_config`, full-text search in
inbox/conversations/search.py) follows the language it is written in: the one its provider named,
else the customer's, else — for Greek script, which no other supported language uses — Greek, else
`simple` (no stemming: better than stemming French words as English).
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ObjectDoesNotExist

from customers.language import language_normalize, search_config_for
from customers.models import Customer

# Share of a text's letters that must be Greek for it to count as Greek.
GREEK_SHARE = 0.5


def script_language(text: str) -> str:
    """"el" when most letters of `text` are Greek, else "" (Latin script says nothing of French vs English)."""
    greek = letters = 0
    for ch in text or "":
        if not ch.isalpha():
            continue
        letters += 1
        if unicodedata.name(ch, "").startswith("GREEK"):
            greek += 1
    return "el" if letters and greek / letters > GREEK_SHARE else ""


def message_search_config(*, text: str, customer: Customer | None = None, language: str = "") -> str:
    """The search configuration of a message: its own language, the customer's, Greek script, or simple."""
    code = (
        language_normalize(language)
        or language_normalize(getattr(customer, "language", "") or "")
        or script_language(text)
    )
    return search_config_for(code)


def user_language(user: object) -> str:
    """The language an agent picked (`Agent.language`), or "" (none picked, no agent, no user)."""
    try:
        agent = getattr(user, "agent", None)
    except ObjectDoesNotExist:
        return ""
    return language_normalize(getattr(agent, "language", "") or "")


def customer_language_learn(*, customer: Customer, language: str) -> bool:
    """Record the language a provider gave for a customer who has none yet; True when it was set.
    One UPDATE guarded on the blank, so it never overwrites an agent's concurrent choice."""
    code = language_normalize(language)
    if not code or customer.pk is None or customer.language:
        return False
    updated = Customer.objects.filter(pk=customer.pk, language="").update(language=code)
    if updated:
        customer.language = code
    return bool(updated)
