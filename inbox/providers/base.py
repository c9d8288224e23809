"""The one small interface every provider module implements.

A provider is an edge: it knows the provider's formats and API, and nothing of the inbox's services.
- `verify(request)` checks the request's signature in constant time (raises SignatureInvalid);
- `split(request)` turns a verified request into raw events, each with the key that makes it
  unique at that provider (raises BadPayload for malformed input) — the webhook stores these;
  the provider module's parse functions turn a stored event into `InboundMessage`s and the like,
  which the intake side (inbox/intake/) hands to the conversation services;
- `send(message, files)` delivers an outbound `Message` and returns the provider's id, or raises
  ProviderError saying whether a retry can help;
- `send_prepare(message)` names fields to store on the row before its first attempt (email's
  Message-ID), `recovery(message)` says how a send interrupted before its outcome was recorded is
  settled without a second copy (RECOVER_*), and `find_sent(message, since)` looks for it at the
  provider when that is the way (inbox/conversations/reply.py decides and calls these).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from django.http import HttpRequest

    from inbox.models import Message


class SignatureInvalid(Exception):
    """Missing or wrong signature: the webhook answers 403 and stores nothing."""


class BadPayload(Exception):
    """Malformed body: the webhook answers 400 and stores nothing."""


class ProviderError(Exception):
    """A send that failed. `transient` says whether retrying can help.

    `reason` is one of the machine codes the inbox understands (window_closed, opted_out,
    invalid_recipient, blocked, rate_limited, server_error, timeout, rejected); `code` and
    `detail` are the provider's own, kept on the message for the agent to see.
    """

    def __init__(self, *, reason: str, code: str, detail: str, transient: bool):
        super().__init__(f"{reason}: {code} {detail}")
        self.reason = reason
        self.code = str(code)
        self.detail = detail
        self.transient = transient


# How an attempt that may have reached the provider (worker killed mid-send, answer lost) is settled:
RECOVER_LOOKUP = "lookup"  # ask the provider for it (find_sent) and adopt a match instead of sending
RECOVER_ECHO = "echo"  # its echo webhook names our row; wait META_ECHO_GRACE_SECONDS for it, then re-send
RECOVER_RESEND = "resend"  # a re-send is the same message to the receiver (email: the same Message-ID)


@dataclass(frozen=True)
class RawEvent:
    kind: str
    dedupe_key: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class SendResult:
    external_id: str
    # Extra facts to keep on the message (segments, encoding, email Message-ID…).
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutgoingFile:
    """An attachment of an outbound message, as the inbox hands it to the provider."""

    url: str  # one the provider can fetch ("" when there is none)
    content_type: str
    name: str
    read: Callable[[], bytes | None]  # the bytes themselves (email carries the file), None if not ours


@dataclass
class InboundMessage:
    """A message as the inbox stores it, whatever channel it came from."""

    channel: str
    inbox_external_id: str
    customer_external_id: str
    external_id: str
    timestamp: datetime
    text: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)
    customer_name: str = ""
    # Sent by the business from the provider's own tool (Meta echo): an agent message.
    is_echo: bool = False
    # Whether it opens/extends the Meta messaging window.
    is_customer_action: bool = True
    # An echo of our own send: the id of the row it came from (Meta returns the metadata we set),
    # and which part of it when it is an attachment sent ahead of the text (None: the last part).
    own_message_id: int | None = None
    own_message_part: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    # Email.
    subject: str = ""
    html: str = ""
    email_message_id: str = ""
    email_in_reply_to: str = ""
    email_references: str = ""
    reply_token: str = ""
    # The language the provider says the message is in (an email's Content-Language: "fr", "el"), or "".
    language: str = ""
    # SMS.
    segments: int | None = None
    encoding: str = ""


class Provider:
    name: ClassVar[str]

    def verify(self, request: HttpRequest) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def split(self, request: HttpRequest) -> list[RawEvent]:  # pragma: no cover - interface
        raise NotImplementedError

    def send(self, message: Message, files: list[OutgoingFile]) -> SendResult:  # pragma: no cover - interface
        raise NotImplementedError

    def send_prepare(self, message: Message) -> dict[str, Any]:
        """Fields to store on the row, and commit, before its first attempt (none by default)."""
        return {}

    def recovery(self, message: Message) -> str:
        """How an interrupted attempt of this message is settled (a RECOVER_* value)."""
        return RECOVER_RESEND

    def find_sent(self, message: Message, *, since: datetime) -> list[SendResult]:
        """Messages at the provider that may be this one, sent since `since`, newest first
        (RECOVER_LOOKUP providers); raises ProviderError when the provider cannot say."""
        return []
