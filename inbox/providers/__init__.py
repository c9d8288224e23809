"""Provider registry: one module per provider, looked up by name or by channel."""

from __future__ import annotations

from importlib import import_module

from .base import Provider

# provider name -> "module:Class"
_PROVIDERS = {
    "meta": "inbox.providers.meta:MetaProvider",
    "twilio": "inbox.providers.twilio:TwilioProvider",
    "email": "inbox.providers.email:EmailProvider",
}
_BY_CHANNEL = {"messenger": "meta", "instagram": "meta", "sms": "twilio", "email": "email"}
_instances: dict[str, Provider] = {}


def provider_by_name(name: str) -> Provider:
    if name not in _instances:
        module_name, class_name = _PROVIDERS[name].split(":")
        _instances[name] = getattr(import_module(module_name), class_name)()
    return _instances[name]


def provider_for_channel(channel: str) -> Provider:
    return provider_by_name(_BY_CHANNEL[channel])
