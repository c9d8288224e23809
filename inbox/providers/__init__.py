"""Provider registry: one module per provider, looked up by name or by channel."""

from __future__ import annotations

from inbox.providers.base import Provider
from inbox.providers.email import EmailProvider
from inbox.providers.meta import MetaProvider
from inbox.providers.twilio import TwilioProvider

_PROVIDERS: dict[str, Provider] = {p.name: p for p in (MetaProvider(), TwilioProvider(), EmailProvider())}
_BY_CHANNEL = {"messenger": "meta", "instagram": "meta", "sms": "twilio", "email": "email"}


def provider_by_name(name: str) -> Provider:
    return _PROVIDERS[name]


def provider_for_channel(channel: str) -> Provider:
    return _PROVIDERS[_BY_CHANNEL[channel]]
