"""The per-inbox survey settings (`Inbox.settings["csat"]`), validated where the API writes them.

    {"enabled": false, "delay_minutes": 60, "text": "...", "once_per_days": 30,
     "translations": {"fr": "...", "el": "..."}}

`delay_minutes` after a conversation is resolved the survey goes out (if it is still resolved);
a customer gets at most one survey every `once_per_days` days, whichever inbox asks. `text` is the
question in the inbox's language, `translations` the same per customer language; without a `text` of
the inbox's own, each customer gets the built-in question in their language (inbox/csat/surveys.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy

from customers.language import translations_clean
from inbox.conversations.window import MAX_LENGTH

DEFAULT_TEXT = gettext_lazy("How would you rate the help you got from us, from 1 (poor) to 5 (great)?")
DEFAULT_DELAY_MINUTES = 60
DEFAULT_ONCE_PER_DAYS = 30
MAX_DELAY_MINUTES = 7 * 24 * 60
MAX_ONCE_PER_DAYS = 365
# Room left for what each channel adds to the text (the SMS hint, the email's five links).
TEXT_MAX = 500
KEYS = ("enabled", "delay_minutes", "text", "once_per_days", "translations")


@dataclass(frozen=True)
class CsatSettings:
    enabled: bool = False
    delay_minutes: int = DEFAULT_DELAY_MINUTES
    text: str = ""
    once_per_days: int = DEFAULT_ONCE_PER_DAYS
    translations: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """As the API shows it: the built-in question (in the request's language) when the inbox wrote none."""
        out: dict[str, Any] = {"enabled": self.enabled, "delay_minutes": self.delay_minutes,
                               "text": self.text or str(DEFAULT_TEXT), "once_per_days": self.once_per_days}
        if self.translations:
            out["translations"] = dict(self.translations)
        return out


def csat_settings(inbox_settings: dict | None) -> CsatSettings:
    """The inbox's survey settings, defaults filled in (nothing stored: surveys are off)."""
    stored = (inbox_settings or {}).get("csat") or {}
    return CsatSettings(
        enabled=bool(stored.get("enabled", False)),
        delay_minutes=int(stored.get("delay_minutes", DEFAULT_DELAY_MINUTES)),
        text=str(stored.get("text") or ""),
        once_per_days=int(stored.get("once_per_days", DEFAULT_ONCE_PER_DAYS)),
        translations=dict(stored.get("translations") or {}),
    )


def _int_in(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"csat.{name} must be a whole number from {low} to {high}.")
    return value


def csat_clean(value: Any, *, current: dict | None, inbox_kind: str) -> dict[str, Any]:
    """The stored `csat` setting with the keys given in `value` changed; ValidationError when invalid.
    `text` is stored only when the inbox wrote its own (else customers get the built-in question,
    translated)."""
    if not isinstance(value, dict):
        raise ValidationError("csat must be an object {enabled, delay_minutes, text, once_per_days, translations}.")
    unknown = set(value) - set(KEYS)
    if unknown:
        raise ValidationError(f"csat: unknown keys {', '.join(sorted(unknown))}.")
    stored = current or {}
    merged = {
        "enabled": False, "delay_minutes": DEFAULT_DELAY_MINUTES, "once_per_days": DEFAULT_ONCE_PER_DAYS,
        **{k: stored[k] for k in KEYS if k in stored}, **value,
    }
    if not isinstance(merged["enabled"], bool):
        raise ValidationError("csat.enabled must be true or false.")
    limit = min(TEXT_MAX, MAX_LENGTH.get(inbox_kind, TEXT_MAX))

    def check(name: str, text: Any) -> str:
        if not isinstance(text, str):
            raise ValidationError(f"{name} must be a string.")
        if len(text) > limit:
            raise ValidationError(f"{name} may be at most {limit} characters.")
        if "\x00" in text:
            raise ValidationError(f"{name} may not contain NUL characters.")
        return text.strip()

    text = merged.get("text") or ""
    if "text" in value and (not isinstance(value["text"], str) or not value["text"].strip()):
        raise ValidationError("csat.text must be a non-empty string.")
    cleaned: dict[str, Any] = {
        "enabled": merged["enabled"],
        "delay_minutes": _int_in("delay_minutes", merged["delay_minutes"], 0, MAX_DELAY_MINUTES),
        "once_per_days": _int_in("once_per_days", merged["once_per_days"], 0, MAX_ONCE_PER_DAYS),
    }
    if text:
        cleaned["text"] = check("csat.text", text)
    translations = translations_clean("csat.translations", merged.get("translations"), check=check)
    if translations:
        cleaned["translations"] = translations
    return cleaned
