"""Attachments end to end: provider media copied into storage, served only to who may see it,
agents' uploads sent to Meta/Twilio as signed expiring URLs and to email as the file itself."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from inbox.conversations import attachments, files
from inbox.intake.mailbox import email_store
from inbox.models import Conversation, Message
from tests.conftest import PAGE_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

from . import meta_support
from .meta_support import PSID, fixture_at, now_ms
from .test_twilio_webhooks import SMS_URL, form, post_twilio

meta_post = meta_support.meta_post

pytestmark = pytest.mark.django_db

# A real (tiny) PNG: signature, IHDR, IDAT, IEND.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MEDIA_SID = "ME1a2b3c4d5e6f708192a3b4c5d6e7f809"
MMS_SID = "MM0f3c2d1b4a5e69788796a5b4c3d2e1f0"
GRAPH_MESSAGES = f"/v24.0/{PAGE_ID}/messages$"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ATTACHMENTS_FETCH = True
    return settings.MEDIA_ROOT


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def messenger_media(meta_post, *urls: str, kinds: tuple[str, ...] = ("image", "file")) -> Message:
    """The customer sends media; Meta's payload names CDN URLs, here on the fake server."""
    payload = fixture_at("meta/messenger_attachments.json", now_ms(seconds_ago=30))
    item = payload["entry"][0]["messaging"][0]
    item["message"]["attachments"] = [{"type": k, "payload": {"url": u}} for k, u in zip(kinds, urls, strict=True)]
    assert meta_post(payload).status_code == 200
    return Message.objects.get(external_id=item["message"]["mid"])


@pytest.fixture
def hoodie(meta_post, messenger_inbox, fake_provider) -> Message:
    fake_provider.script(r"^/cdn/hoodie\.jpg$", body=PNG, content_type="image/png", times=None)
    fake_provider.script(r"^/cdn/receipt\.pdf$", body=PDF, content_type="application/pdf", times=None)
    return messenger_media(
        meta_post, f"{fake_provider.url}/cdn/hoodie.jpg?_nc_cat=1&oh=abc", f"{fake_provider.url}/cdn/receipt.pdf?oh=def"
    )


# --- Inbound: fetched once, into our storage ---------------------------------------------------------


def test_an_inbound_messenger_image_is_copied_into_storage_with_its_digest(hoodie, fake_provider, media_root):
    image, receipt = hoodie.attachments
    assert image["content_type"] == "image/png"  # what the CDN said, not Meta's "image/*"
    assert image["size"] == len(PNG)
    assert image["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert image["source_url"].startswith(f"{fake_provider.url}/cdn/hoodie.jpg")
    assert image["name"] == "hoodie.jpg"
    assert (media_root / image["stored"]).read_bytes() == PNG
    # Unguessable, and nothing of the customer's file name in the storage path.
    assert "hoodie" not in image["stored"] and len(Path(image["stored"]).stem) >= 32
    assert receipt["content_type"] == "application/pdf" and receipt["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert len(fake_provider.sent(r"^/cdn/")) == 2


def test_the_api_gives_this_apps_url_never_the_providers_or_the_storages(hoodie, bob, api):
    response = api(bob).get(f"/api/v1/conversations/{hoodie.conversation_id}/messages/")
    [message] = response.json()["results"]
    assert [a["url"] for a in message["attachments"]] == [
        f"/attachments/{hoodie.pk}/0/",
        f"/attachments/{hoodie.pk}/1/",
    ]
    assert message["attachments"][0]["content_type"] == "image/png"
    assert message["attachments"][0]["state"] == "ready"


def test_bob_sees_the_image_inline_with_safe_headers(hoodie, bob, client):
    client.force_login(bob)
    response = client.get(f"/attachments/{hoodie.pk}/0/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"].startswith("private")
    assert response["Content-Disposition"].startswith("inline")


def test_a_document_is_always_downloaded_not_shown(hoodie, bob, client):
    client.force_login(bob)
    response = client.get(f"/attachments/{hoodie.pk}/1/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content) == PDF


def test_an_api_token_may_download_too(hoodie, bob, api):
    assert api(bob).get(f"/attachments/{hoodie.pk}/0/").status_code == 200


def test_charlie_of_another_team_gets_404(hoodie, charlie, client):
    client.force_login(charlie)
    assert client.get(f"/attachments/{hoodie.pk}/0/").status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(hoodie, client):
    response = client.get(f"/attachments/{hoodie.pk}/0/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_an_index_past_the_last_attachment_or_an_unknown_message_is_404(hoodie, bob, client):
    client.force_login(bob)
    assert client.get(f"/attachments/{hoodie.pk}/2/").status_code == 404
    assert client.get(f"/attachments/{hoodie.pk + 1000}/0/").status_code == 404
    assert client.get(f"/attachments/{2**70}/0/").status_code == 404


def test_an_oversized_download_is_aborted_and_marked_and_the_message_kept(
    meta_post, messenger_inbox, fake_provider, settings, media_root
):
    settings.ATTACHMENT_MAX_BYTES = 1000
    fake_provider.script(r"^/cdn/big\.mp4$", body=b"\0" * 5000, content_type="video/mp4")
    message = messenger_media(meta_post, f"{fake_provider.url}/cdn/big.mp4", kinds=("video",))
    [video] = message.attachments
    assert video["error"] == "too_large"
    assert "stored" not in video
    assert stored_files(media_root) == []
    assert message.conversation.waiting_since is not None  # the message itself is fine


def test_an_expired_cdn_url_is_marked_and_the_agent_is_sent_to_it(meta_post, messenger_inbox, fake_provider, bob, client):
    fake_provider.script(r"^/cdn/old\.jpg$", status=403, text="URL signature expired")
    url = f"{fake_provider.url}/cdn/old.jpg?oh=zzz"
    message = messenger_media(meta_post, url, kinds=("image",))
    assert message.attachments[0]["error"] == "gone"
    client.force_login(bob)
    response = client.get(f"/attachments/{message.pk}/0/")
    assert response.status_code == 302 and response["Location"] == url


def test_html_served_as_media_is_refused(meta_post, messenger_inbox, fake_provider, media_root):
    fake_provider.script(r"^/cdn/x$", body=b"<script>alert(1)</script>", content_type="text/html")
    message = messenger_media(meta_post, f"{fake_provider.url}/cdn/x", kinds=("file",))
    assert message.attachments[0]["error"] == "type_not_allowed"
    assert stored_files(media_root) == []


def test_a_provider_hiccup_is_retried_by_a_worker_and_marked_only_at_the_last_attempt(
    meta_post, messenger_inbox, fake_provider, settings
):
    settings.ATTACHMENTS_FETCH = False  # the webhook stores; the task is run by hand below
    url = f"{fake_provider.url}/cdn/flaky.jpg"
    message = messenger_media(meta_post, url, kinds=("image",))
    fake_provider.script(r"^/cdn/flaky\.jpg$", status=503, text="busy", times=None)

    assert attachments.message_attachments_fetch(message_id=message.pk, final=False) is True
    message.refresh_from_db()
    assert "error" not in message.attachments[0]

    assert attachments.message_attachments_fetch(message_id=message.pk, final=True) is False
    message.refresh_from_db()
    assert message.attachments[0]["error"] == "unavailable"


def test_a_meta_file_not_yet_fetched_redirects_to_the_cdn(meta_post, messenger_inbox, settings, bob, client):
    settings.ATTACHMENTS_FETCH = False
    url = "https://scontent.xx.fbcdn.net/v/t1.15752-9/hoodie.jpg?oh=abc"
    message = messenger_media(meta_post, url, kinds=("image",))
    client.force_login(bob)
    response = client.get(f"/attachments/{message.pk}/0/")
    assert response.status_code == 302 and response["Location"] == url


# --- Twilio: our credentials, never the browser's -----------------------------------------------------


def mms(client, url: str) -> Message:
    body = form("inbound_mms.txt", NumMedia="1", MediaUrl0=url, MediaContentType0="image/png", MediaUrl1="")
    assert post_twilio(client, SMS_URL, body).status_code == 200
    return Message.objects.get(external_id=MMS_SID)


def test_twilio_media_is_fetched_with_the_accounts_basic_auth(client, sms_inbox, fake_provider, commit):
    path = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{MMS_SID}/Media/{MEDIA_SID}"
    fake_provider.script(f"^{path}$", body=PNG, content_type="image/png")
    message = mms(client, fake_provider.url + path)

    [request] = fake_provider.sent(f"^{path}$")
    expected = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    [image] = message.attachments
    assert image["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert image["name"] == "attachment-1.png"  # Twilio's URL names no file


def test_our_credentials_never_go_to_another_host(client, sms_inbox, fake_provider, commit, settings):
    settings.TWILIO_API_URL = "https://api.twilio.example"  # the fake is now "someone else"
    fake_provider.script(r"^/elsewhere$", body=PNG, content_type="image/png")
    mms(client, fake_provider.url + "/elsewhere")
    [request] = fake_provider.sent(r"^/elsewhere$")
    assert "Authorization" not in request.headers


def test_twilio_media_not_yet_fetched_is_never_a_redirect(client, sms_inbox, commit, settings, bob):
    settings.ATTACHMENTS_FETCH = False
    message = mms(client, f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{MMS_SID}/Media/{MEDIA_SID}")
    client.force_login(bob)
    response = client.get(f"/attachments/{message.pk}/0/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_ready"


# --- Email: already ours ----------------------------------------------------------------------------


def test_an_inbound_email_attachment_is_served_from_storage(email_inbox, commit, bob, client):
    raw = (
        "From: Jane Doe <jane.doe@example.com>\r\nTo: support@shop.example\r\nSubject: Broken mug\r\n"
        "Message-ID: <mug@mail.gmail.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nSee photo.\r\n"
        '--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="mug.png"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(PNG).decode() + "\r\n--b--\r\n"
    ).encode()
    email_store(raw=raw, esp="test", fallback_key="mug")
    message = Message.objects.get(email_message_id="<mug@mail.gmail.com>")
    client.force_login(bob)
    response = client.get(f"/attachments/{message.pk}/0/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == PNG


# --- Outbound: uploads ------------------------------------------------------------------------------


@pytest.fixture
def conversation(meta_post, messenger_inbox) -> Conversation:
    """A customer wrote a minute ago: the window is open."""
    meta_post(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=60)))
    return Conversation.objects.get(identity__external_id=PSID)


def upload(api, user, conversation, data: bytes = PNG, name: str = "label.png", content_type: str = "image/png"):
    return api(user).post(
        f"/api/v1/conversations/{conversation.pk}/attachments/",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


def test_an_upload_sent_on_messenger_reaches_meta_as_a_signed_url_serving_the_same_bytes(
    conversation, bob, api, client, fake_provider, commit
):
    uploaded = upload(api, bob, conversation)
    assert uploaded.status_code == 201, uploaded.json()
    body = uploaded.json()
    assert body["content_type"] == "image/png" and body["size"] == len(PNG) and body["name"] == "label.png"

    reply = api(bob).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "Your label", "attachments": [body["token"]]},
        format="json",
    )
    assert reply.status_code == 201, reply.json()
    assert reply.json()["attachments"][0]["url"] == f"/attachments/{reply.json()['id']}/0/"

    sent = [r.json()["message"] for r in fake_provider.sent(GRAPH_MESSAGES)]
    [attachment] = [m["attachment"] for m in sent if "attachment" in m]
    assert attachment["type"] == "image"
    url = urlsplit(attachment["payload"]["url"])
    assert f"{url.scheme}://{url.netloc}" == "http://testserver" and url.path.startswith("/media/o/")

    fetched = client.get(url.path)  # as Meta would: no session, no token
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content) == PNG
    assert fetched["Content-Type"] == "image/png"
    assert Message.objects.get(pk=reply.json()["id"]).status == "sent"


def test_a_tampered_or_expired_media_url_is_404(conversation, bob, api, client, monkeypatch):
    description = upload(api, bob, conversation).json()
    good = urlsplit(files.public_url(description)).path
    assert client.get(good).status_code == 200
    token = good.split("/")[3]
    tampered = good.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert client.get(tampered).status_code == 404

    two_hours_ago = time.time() - 7200
    with monkeypatch.context() as m:
        m.setattr("django.core.signing.time.time", lambda: two_hours_ago)
        expired = urlsplit(files.public_url(description)).path
    assert client.get(expired).status_code == 404


def test_twilio_gets_the_upload_as_a_signed_media_url(client, sms_inbox, bob, api, fake_provider, commit, settings):
    settings.ATTACHMENTS_FETCH = False
    conversation = mms(client, "https://api.twilio.com/x").conversation
    token = upload(api, bob, conversation).json()["token"]
    assert api(bob).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "", "attachments": [token]}, format="json"
    ).status_code == 201
    [sent] = fake_provider.sent(r"/Messages\.json$")
    media_url = sent.form()["MediaUrl"]
    assert media_url.startswith("http://testserver/media/o/")
    assert b"".join(client.get(urlsplit(media_url).path).streaming_content) == PNG


def test_email_carries_the_uploaded_file_itself(email_inbox, bob, api, commit):
    raw = (
        b"From: Jane Doe <jane.doe@example.com>\r\nTo: support@shop.example\r\nSubject: Return\r\n"
        b"Message-ID: <ret@mail.gmail.com>\r\nContent-Type: text/plain\r\n\r\nLabel please.\r\n"
    )
    email_store(raw=raw, esp="test", fallback_key="ret")
    conversation = Message.objects.get(email_message_id="<ret@mail.gmail.com>").conversation
    token = upload(api, bob, conversation, PDF, "label.pdf", "application/pdf").json()["token"]
    response = api(bob).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "Here it is.", "attachments": [token]}, format="json"
    )
    assert response.status_code == 201
    [sent] = mail.outbox
    assert sent.attachments == [("label.pdf", PDF, "application/pdf")]


def test_a_script_file_is_refused(conversation, bob, api):
    response = upload(api, bob, conversation, b"<svg onload=alert(1)/>", "x.svg", "image/svg+xml")
    assert response.status_code == 400 and response.json()["code"] == "type_not_allowed"


def test_a_file_over_the_limit_is_refused(conversation, bob, api, settings):
    settings.ATTACHMENT_MAX_BYTES = 10
    response = upload(api, bob, conversation)
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_charlie_cannot_upload_to_a_conversation_he_cannot_see(conversation, charlie, api):
    assert upload(api, charlie, conversation).status_code == 404


def test_a_reply_may_not_use_someone_elses_upload(conversation, bob, alice, api, fake_provider, commit):
    token = upload(api, alice, conversation).json()["token"]
    response = api(bob).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "hi", "attachments": [token]}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_attachment"
    assert not fake_provider.sent(GRAPH_MESSAGES)


def test_an_upload_preview_is_for_its_uploader_only(conversation, bob, alice, client, api):
    url = upload(api, bob, conversation).json()["url"]
    client.force_login(bob)
    assert client.get(url).status_code == 200
    client.force_login(alice)
    assert client.get(url).status_code == 404
