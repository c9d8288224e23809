"""The languages the shop speaks (English, French, Greek) and which one a text goes out in.

Pure functions, no database: the inbox and the campaigns use them to read a language from what a
provider says (Meta's profile `locale` "fr_FR", an email's `Content-Language: el-GR`, a browser's
`Accept-Language`), to pick the text of a customer's language among an automated message's
translations, and to name the PostgreSQL text-search configuration of a language.

A per-language text is stored as ``{"text": "<the inbox default's words>", "translations": {"fr":
"...", "el": "..."}}``: `text` is what a customer of any other language (or of none known) gets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

# The languages of the pages, the catalogs and the customers' texts, by ISO 639-1 code.
LANGUAGE_CODES = ("en", "fr", "el")
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "el": "Ελληνικά"}
LANGUAGE_CHOICES = [(code, LANGUAGE_NAMES[code]) for code in LANGUAGE_CODES]

# PostgreSQL's text-search configuration per language; `simple` (no stemming) when unknown.
SEARCH_CONFIGS = {"en": "english", "fr": "french", "el": "greek"}
SEARCH_FALLBACK = "simple"

# "fr", "fr-FR", "fr_FR", "FR-ca", "el-GR"; a script or variant after the region is ignored.
_TAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*$")


def language_normalize(value: object) -> str:
    """The supported language code `value` names ("fr_FR" → "fr", "EL" → "el"), or "" when it
    names none of them (or nothing)."""
    if not isinstance(value, str):
        return ""
    match = _TAG.match(value)
    if match is None:
        return ""
    code = match.group(1).lower()
    if code == "gr":  # the country code written for the language: common enough in the wild
        code = "el"
    return code if code in LANGUAGE_CODES else ""


def language_from_header(value: str | None) -> str:
    """The best supported language of an `Accept-Language` or `Content-Language` header:
    highest q first, then the order given; "" when none is supported. `*` matches nothing."""
    if not value:
        return ""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(value.split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, number = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        code = language_normalize(tag)
        if code and quality > 0:
            ranked.append((-quality, index, code))
    return min(ranked)[2] if ranked else ""


def default_language() -> str:
    """The shop's default language: settings.LANGUAGE_CODE ("en-us" → "en"), English when unsupported."""
    return language_normalize(settings.LANGUAGE_CODE) or "en"


def inbox_language(inbox: Any) -> str:
    """The language an inbox's automated texts are written in (its `settings["language"]`), else the
    shop's default. Any object with a `settings` dict will do (customers knows no inbox model)."""
    stored = (getattr(inbox, "settings", None) or {}).get("language") if inbox is not None else None
    return language_normalize(stored) or default_language()


def customer_language(customer: Any, inbox: Any = None) -> str:
    """The language a customer is written to in: theirs when known (an agent's choice or what a
    provider said), else the inbox's default, else the shop's."""
    return language_normalize(getattr(customer, "language", "") or "") or inbox_language(inbox)


def message_for(setting: Mapping[str, Any] | None, *, customer: Any, inbox: Any = None) -> tuple[str, str]:
    """(text, language) of an automated message setting ``{text, translations}`` for this customer:
    the translation of their language when written, else the default text in the inbox's language."""
    setting = setting or {}
    text, used = localized_text(str(setting.get("text") or ""), setting.get("translations"),
                                customer_language(customer, inbox))
    return text, used or inbox_language(inbox)


def search_config_for(language: str | None) -> str:
    """The PostgreSQL text-search configuration for a language code: 'english', 'french', 'greek',
    else 'simple' (lower-cased words, no stemming)."""
    return SEARCH_CONFIGS.get(language_normalize(language or ""), SEARCH_FALLBACK)


def localized_text(text: str, translations: Mapping[str, Any] | None, language: str | None) -> tuple[str, str]:
    """(the text to send, the language it is in — "" for the default text) for a customer of
    `language`: their translation when one is written (non-blank), else the default `text`."""
    code = language_normalize(language or "")
    if code and isinstance(translations, Mapping):
        translated = translations.get(code)
        if isinstance(translated, str) and translated.strip():
            return translated, code
    return text, ""


def translations_clean(
    name: str, value: object, *, check: Callable[[str, str], str] | None = None
) -> dict[str, str]:
    """A `translations` object validated: keys are supported language codes, values strings;
    blank ones are dropped. `check(field_name, text)` may refuse or clean each text (a channel's
    length limit). ValidationError names the offending key."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{name} must be an object of language code to text, e.g. {{\"fr\": \"...\"}}.")
    cleaned: dict[str, str] = {}
    for key, text in value.items():
        code = language_normalize(key)
        if not code or code != key:
            raise ValidationError(f"{name}: {key!r} is not one of the languages {', '.join(LANGUAGE_CODES)}.")
        if not isinstance(text, str):
            raise ValidationError(f"{name}.{key} must be a string.")
        if check is not None:
            text = check(f"{name}.{key}", text)
        if text.strip():
            cleaned[code] = text
    return cleaned
