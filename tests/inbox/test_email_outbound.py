"""Outbound email: threading headers, reply+token address, quoting, and SMTP failures classified.

Successful sends go through Django's locmem backend; failures through Django's real SMTP backend
talking to a small local SMTP server that answers with scripted reply codes.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from django.core import mail

from inbox.conversations import reply
from inbox.conversations.reply import reply_send
from inbox.intake import store
from inbox.intake.mailbox import email_store
from inbox.models import Conversation, Message, MessageStatus

INBOUND = (
    "From: Jane Doe <jane.doe@example.com>\r\n"
    "To: Support mail <support@shop.example>\r\n"
    "Subject: {subject}\r\n"
    "Date: Tue, 10 Mar 2026 15:02:05 +0100\r\n"
    "Message-ID: <{mid}@mail.gmail.com>\r\n"
    "{extra}"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Where is my lamp?\r\nIt was due on Monday.\r\n"
)


def receive(*, subject: str = "Order #1001", mid: str = "first", extra: str = "") -> Conversation:
    raw = INBOUND.format(subject=subject, mid=mid, extra=extra).encode()
    email_store(raw=raw, esp="test", fallback_key=mid)
    return Message.objects.get(email_message_id=f"<{mid}@mail.gmail.com>").conversation


def test_a_reply_carries_threading_headers_reply_to_and_a_quote(email_inbox, bob, commit, settings):
    settings.EMAIL_DOMAIN = "mail.shop.example"
    conversation = receive(extra="References: <root@shop.example>\r\n")

    message = reply_send(conversation=conversation, author=bob, text="It ships today.")

    [sent] = mail.outbox
    headers = message_from_bytes(sent.message().as_bytes(), policy=default_policy)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.external_id == headers["Message-ID"] == message.email_message_id
    assert headers["Message-ID"].endswith("@mail.shop.example>")
    assert headers["In-Reply-To"] == "<first@mail.gmail.com>" == message.email_in_reply_to
    assert headers["References"] == "<root@shop.example> <first@mail.gmail.com>" == message.email_references
    assert headers["Reply-To"] == f"reply+{conversation.reply_token}@shop.example"
    assert headers["From"].addresses[0].addr_spec == "support@shop.example"
    assert headers["From"].addresses[0].display_name == "Support mail"
    assert sent.to == ["jane.doe@example.com"]
    assert headers["Subject"] == "Re: Order #1001" == message.subject
    assert "Auto-Submitted" not in headers
    body = headers.get_body(("plain",)).get_content()
    assert body.startswith("It ships today.\n\nOn Tue, 10 Mar 2026 14:02:05 +0000, Jane Doe wrote:\n")
    assert "> Where is my lamp?\n> It was due on Monday." in body


def test_it_does_not_stack_re_prefixes(email_inbox, bob, commit):
    conversation = receive(subject="RE: Order #1001")

    reply_send(conversation=conversation, author=bob, text="Sure.")

    assert mail.outbox[0].subject == "RE: Order #1001"


def test_a_second_reply_answers_the_customers_latest_message(email_inbox, bob, commit):
    conversation = receive()
    first = reply_send(conversation=conversation, author=bob, text="Checking.")
    first.refresh_from_db()
    receive(mid="second", extra=f"In-Reply-To: {first.email_message_id}\r\nReferences: <first@mail.gmail.com> "
                                f"{first.email_message_id}\r\n")

    reply_send(conversation=conversation, author=bob, text="Found it.")

    headers = mail.outbox[1].message()
    assert headers["In-Reply-To"] == "<second@mail.gmail.com>"
    assert headers["References"].split() == ["<first@mail.gmail.com>", first.email_message_id, "<second@mail.gmail.com>"]
    assert Conversation.objects.count() == 1


def test_an_automated_message_says_so_to_stop_mail_loops(email_inbox, commit):
    conversation = receive()

    reply_send(conversation=conversation, author=None, text="We are closed until Monday.", sender_type="bot")

    assert mail.outbox[0].message()["Auto-Submitted"] == "auto-replied"


# --- SMTP failures -----------------------------------------------------------------------------------


class FakeSMTP(socketserver.ThreadingTCPServer):
    """Speaks just enough SMTP for smtplib; replies are scripted per verb ("RCPT": ["550 ...", ...])."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.script: dict[str, list[str]] = {}
        self.accepted: list[bytes] = []
        self.hang_up_on: str | None = None

    def reply_for(self, verb: str, default: str) -> str:
        queue = self.script.get(verb)
        return queue.pop(0) if queue else default


class SMTPHandler(socketserver.StreamRequestHandler):
    def send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: FakeSMTP = self.server
        self.send("220 fake.smtp ESMTP")
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ")[0].split(":")[0].upper()
            if verb == server.hang_up_on:
                return  # drop the connection mid-dialog
            if verb in ("EHLO", "HELO"):
                self.send("250 fake.smtp")
            elif verb == "MAIL":
                self.send(server.reply_for("MAIL", "250 2.1.0 OK"))
            elif verb == "RCPT":
                self.send(server.reply_for("RCPT", "250 2.1.5 OK"))
            elif verb == "DATA":
                self.send("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                reply = server.reply_for("DATA", "250 2.0.0 queued")
                if reply.startswith("250"):
                    server.accepted.append(data)
                self.send(reply)
            elif verb == "QUIT":
                self.send("221 bye")
                return
            else:  # RSET, NOOP
                self.send("250 OK")


@pytest.fixture
def smtp(settings):
    server = FakeSMTP()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.server_address
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.shutdown()
    server.server_close()


def test_the_real_smtp_backend_delivers_through_the_fake_server(email_inbox, bob, commit, smtp):
    message = reply_send(conversation=receive(), author=bob, text="Hello over SMTP.")

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    [data] = smtp.accepted
    assert message.external_id.encode() in data


def test_a_refused_recipient_fails_the_message_for_good(email_inbox, bob, commit, smtp):
    smtp.script["RCPT"] = ["550 5.1.1 <jane.doe@example.com>: Recipient address rejected: User unknown"]

    message = reply_send(conversation=receive(), author=bob, text="Hello?")

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.error_code == "550"
    assert "User unknown" in message.error_detail
    assert message.send_attempts == 1 and message.external_id is None


def test_a_5xx_after_data_fails_the_message(email_inbox, bob, commit, smtp):
    smtp.script["DATA"] = ["554 5.7.1 Message rejected as spam"]

    message = reply_send(conversation=receive(), author=bob, text="Buy now")

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.error_code == "554"
    assert message.send_attempts == 1


def test_a_greylisting_4xx_is_retried_and_then_sent(email_inbox, bob, smtp):
    smtp.script["RCPT"] = ["450 4.2.0 <jane.doe@example.com>: Recipient address rejected: Greylisted"]
    message = reply_send(conversation=receive_without_commit(), author=bob, text="Second try works.")

    first = reply.message_deliver(message.pk)
    second = reply.message_deliver(message.pk)

    message.refresh_from_db()
    assert first is not None and second is None
    assert message.status == MessageStatus.SENT
    assert message.send_attempts == 2
    assert len(smtp.accepted) == 1


@pytest.mark.parametrize(
    "break_server",
    [
        lambda smtp: smtp.script.update(MAIL=["421 4.7.0 Try again later, closing connection"] * 2),
        lambda smtp: setattr(smtp, "hang_up_on", "MAIL"),
    ],
    ids=["421-service-unavailable", "server-disconnects"],
)
def test_a_transient_smtp_failure_keeps_the_message_queued_for_a_retry(email_inbox, bob, smtp, break_server):
    # No `commit` fixture: the dispatch does not run, so one delivery attempt is made by hand.
    conversation = receive_without_commit()
    message = reply_send(conversation=conversation, author=bob, text="Will retry.")
    break_server(smtp)

    retry_in = reply.message_deliver(message.pk)

    message.refresh_from_db()
    assert retry_in is not None
    assert message.status == MessageStatus.QUEUED
    assert message.send_attempts == 1 and message.next_attempt_at is not None
    assert message.error_code in ("421", "disconnected")


def test_an_unreachable_smtp_server_is_transient(email_inbox, bob, settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    message = reply_send(conversation=receive_without_commit(), author=bob, text="Anyone there?")

    assert reply.message_deliver(message.pk) is not None

    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    assert message.error_code == "ConnectionRefusedError"


def receive_without_commit() -> Conversation:
    """Process the stored inbound event by hand (no on-commit callbacks run without `commit`)."""
    from inbox.models import InboundEvent

    receive_raw = INBOUND.format(subject="Order #1001", mid="first", extra="").encode()
    [event_id] = email_store(raw=receive_raw, esp="test", fallback_key="first")
    store.event_process(event_id)
    assert InboundEvent.objects.get(pk=event_id).processed_at is not None
    return Message.objects.get(email_message_id="<first@mail.gmail.com>").conversation
