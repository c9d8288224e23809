"""The per-inbox survey settings (`Inbox.settings["csat"]`), validated where the API writes them.

    {"enabled": false, "delay_minutes": 60, "text": "...", "once_per_days": 30}

`delay_minutes` after a conversation is resolved the survey goes out (if it is still resolved);
a customer gets at most one survey every `once_per_days` days, whichever inbox asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from inbox.conversations.window import MAX_LENGTH

DEFAULT_TEXT = "How would you rate the help you got from us, from 1 (poor) to 5 (great)?"
DEFAULT_DELAY_MINUTES = 60
DEFAULT_ONCE_PER_DAYS = 30
MAX_DELAY_MINUTES = 7 * 24 * 60
MAX_ONCE_PER_DAYS = 365
# Room left for what each channel adds to the text (the SMS hint, the email's five links).
TEXT_MAX = 500
KEYS = ("enabled", "delay_minutes", "text", "once_per_days")


@dataclass(frozen=True)
class CsatSettings:
    enabled: bool = False
    delay_minutes: int = DEFAULT_DELAY_MINUTES
    text: str = DEFAULT_TEXT
    once_per_days: int = DEFAULT_ONCE_PER_DAYS

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "delay_minutes": self.delay_minutes, "text": self.text,
                "once_per_days": self.once_per_days}


def csat_settings(inbox_settings: dict | None) -> CsatSettings:
    """The inbox's survey settings, defaults filled in (nothing stored: surveys are off)."""
    stored = (inbox_settings or {}).get("csat") or {}
    return CsatSettings(
        enabled=bool(stored.get("enabled", False)),
        delay_minutes=int(stored.get("delay_minutes", DEFAULT_DELAY_MINUTES)),
        text=str(stored.get("text") or DEFAULT_TEXT),
        once_per_days=int(stored.get("once_per_days", DEFAULT_ONCE_PER_DAYS)),
    )


def _int_in(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"csat.{name} must be a whole number from {low} to {high}.")
    return value


def csat_clean(value: Any, *, current: dict | None, inbox_kind: str) -> dict[str, Any]:
    """The stored `csat` setting with the keys given in `value` changed; ValidationError when invalid."""
    if not isinstance(value, dict):
        raise ValidationError("csat must be an object {enabled, delay_minutes, text, once_per_days}.")
    unknown = set(value) - set(KEYS)
    if unknown:
        raise ValidationError(f"csat: unknown keys {', '.join(sorted(unknown))}.")
    merged = {**csat_settings({"csat": current or {}}).as_dict(), **value}
    if not isinstance(merged["enabled"], bool):
        raise ValidationError("csat.enabled must be true or false.")
    text = merged["text"]
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("csat.text must be a non-empty string.")
    limit = min(TEXT_MAX, MAX_LENGTH.get(inbox_kind, TEXT_MAX))
    if len(text) > limit:
        raise ValidationError(f"csat.text may be at most {limit} characters.")
    if "\x00" in text:
        raise ValidationError("csat.text may not contain NUL characters.")
    return {
        "enabled": merged["enabled"],
        "delay_minutes": _int_in("delay_minutes", merged["delay_minutes"], 0, MAX_DELAY_MINUTES),
        "text": text.strip(),
        "once_per_days": _int_in("once_per_days", merged["once_per_days"], 0, MAX_ONCE_PER_DAYS),
    }
