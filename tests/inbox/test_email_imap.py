"""IMAP polling: unseen messages are stored once and marked seen, only after they are stored.

The IMAP server is faked at one patch point: the IMAP4_SSL constructor `inbox.intake.mailbox` uses.
The fake answers as imaplib does (typ, data) and keeps flags like a server does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox.intake import mailbox as email_inbound
from inbox.models import Conversation, InboundEvent, Inbox, Message
from inbox.tasks import imap_poll as imap_poll_task

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
IMAP = {"host": "imap.shop.example", "port": 993, "username": "support@shop.example", "password": "app-password",
        "ssl": True, "folder": "INBOX"}


class FakeMailbox:
    def __init__(self):
        self.messages: dict[int, tuple[bytes, set[str]]] = {}
        self.logins: list[tuple[str, str]] = []
        self.commands: list[tuple] = []

    def deliver(self, raw: bytes, *flags: str) -> int:
        uid = len(self.messages) + 1
        self.messages[uid] = (raw, set(flags))
        return uid

    def seen(self, uid: int) -> bool:
        return "\\Seen" in self.messages[uid][1]


class FakeIMAP4SSL:
    mailbox: FakeMailbox
    connections: list[tuple[str, int]] = []

    def __init__(self, host, port, timeout=None):
        self.connections.append((host, port))
        self.selected = None

    def login(self, user, password):
        self.mailbox.logins.append((user, password))
        return "OK", [b"LOGIN completed"]

    def select(self, folder="INBOX"):
        self.selected = folder
        return "OK", [str(len(self.mailbox.messages)).encode()]

    def uid(self, command, *args):
        self.mailbox.commands.append((command, *args))
        if command == "SEARCH":
            unseen = [str(u).encode() for u, (_raw, flags) in self.mailbox.messages.items() if "\\Seen" not in flags]
            return "OK", [b" ".join(unseen)]
        if command == "FETCH":
            uid = int(args[0])
            raw, flags = self.mailbox.messages[uid]
            if "PEEK" not in args[1]:
                flags.add("\\Seen")
            return "OK", [(f"{uid} (UID {uid} BODY[] {{{len(raw)}}}".encode(), raw), b")"]
        if command == "STORE":
            uid = int(args[0])
            self.mailbox.messages[uid][1].add("\\Seen")
            return "OK", [f"{uid} (FLAGS (\\Seen))".encode()]
        return "BAD", [b"unknown command"]

    def logout(self):
        return "BYE", [b"logging out"]


@pytest.fixture
def mailbox(monkeypatch):
    box = FakeMailbox()
    FakeIMAP4SSL.mailbox = box
    FakeIMAP4SSL.connections = []
    monkeypatch.setattr(email_inbound, "IMAP4_SSL", FakeIMAP4SSL)
    return box


@pytest.fixture
def imap_inbox(email_inbox):
    email_inbox.credentials = {"imap": IMAP}
    email_inbox.save()
    return email_inbox


def test_it_stores_unseen_messages_once_across_two_polls(imap_inbox, mailbox, commit):
    unseen = mailbox.deliver((FIXTURES / "imap_unseen.eml").read_bytes())
    already_read = mailbox.deliver(b"From: old@example.org\r\nTo: support@shop.example\r\nMessage-ID: <old@x>\r\n\r\nold\r\n",
                                   "\\Seen")

    first = email_inbound.imap_poll()
    second = email_inbound.imap_poll()

    assert first == {"support@shop.example": 1}
    assert second == {"support@shop.example": 0}
    assert mailbox.logins == [("support@shop.example", "app-password")] * 2
    assert FakeIMAP4SSL.connections == [("imap.shop.example", 993)] * 2
    assert mailbox.seen(unseen) and mailbox.seen(already_read)
    message = Message.objects.get()
    assert message.email_message_id == "<CAM7Zr=kq2Wn+8Xv@mail.gmail.com>"
    assert message.text == "Hello,\n\ndo you ship to Tromsø, Norway? And how long does it take?\n\nTom"
    assert message.conversation.customer.email == "tom.baker@example.org"
    assert message.conversation.subject == "Do you ship to Norway?"
    assert InboundEvent.objects.get().payload["esp"] == "imap"


def test_a_message_seen_again_after_a_crash_is_still_stored_once(imap_inbox, mailbox, commit):
    uid = mailbox.deliver((FIXTURES / "imap_unseen.eml").read_bytes())
    email_inbound.imap_poll()
    # As if the worker died after storing but before the \Seen flag reached the server.
    mailbox.messages[uid][1].discard("\\Seen")

    email_inbound.imap_poll()

    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_it_fetches_with_peek_so_nothing_is_flagged_before_it_is_stored(imap_inbox, mailbox, commit):
    mailbox.deliver((FIXTURES / "imap_unseen.eml").read_bytes())

    email_inbound.imap_poll()

    fetches = [c for c in mailbox.commands if c[0] == "FETCH"]
    assert fetches == [("FETCH", "1", "(BODY.PEEK[])")]
    assert mailbox.commands.index(fetches[0]) < mailbox.commands.index(("STORE", "1", "+FLAGS", "(\\Seen)"))


def test_an_imap_auto_reply_is_stored_and_marked_automatic(imap_inbox, mailbox, commit):
    mailbox.deliver((FIXTURES / "imap_autoreply.eml").read_bytes())

    email_inbound.imap_poll()

    assert Message.objects.get().payload["auto_submitted"] is True


def test_the_beat_task_polls_only_inboxes_with_imap_credentials(imap_inbox, mailbox, commit, team_a):
    Inbox.objects.create(kind="email", name="Sales", external_id="sales@shop.example", team=team_a)
    mailbox.deliver((FIXTURES / "imap_unseen.eml").read_bytes())

    result = imap_poll_task.delay().get()

    assert result == {"support@shop.example": 1}
    assert Conversation.objects.get().inbox == imap_inbox


def test_a_mailbox_that_cannot_be_reached_does_not_stop_the_others(imap_inbox, mailbox, commit, team_a, monkeypatch):
    Inbox.objects.create(kind="email", name="Sales", external_id="sales@shop.example", team=team_a,
                         credentials={"imap": {**IMAP, "host": "down.shop.example", "username": "sales"}})
    mailbox.deliver((FIXTURES / "imap_unseen.eml").read_bytes())

    class Unreachable(FakeIMAP4SSL):
        def __init__(self, host, port, timeout=None):
            if host == "down.shop.example":
                raise ConnectionRefusedError(111, "Connection refused")
            super().__init__(host, port, timeout)

    monkeypatch.setattr(email_inbound, "IMAP4_SSL", Unreachable)

    result = email_inbound.imap_poll()

    assert result == {"support@shop.example": 1, "sales@shop.example": -1}
    assert Message.objects.count() == 1
