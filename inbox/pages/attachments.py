"""Files: inbound and sent attachments for agents who may see them, and signed URLs for providers.

Every response is `nosniff`, sandboxed (`Content-Security-Policy: default-src 'none'; sandbox`),
typed from an allowlist (inbox/providers/media_types.py; anything else is application/octet-stream)
and downloads unless it is a raster image, audio or video, so a customer's file can never run
script on our origin.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from inbox.conversations import attachments, files
from inbox.models import Conversation, Message
from inbox.team.access import can_see_conversation


def _error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def _not_found() -> JsonResponse:
    return _error("not_found", "Not found.", 404)


def _user(request: HttpRequest):
    """The session's user, or an API client's (`Authorization: Token <key>`)."""
    if request.user.is_authenticated:
        return request.user
    try:
        found = TokenAuthentication().authenticate(request)  # type: ignore[arg-type]  # it reads only the headers
    except AuthenticationFailed:
        return None
    return found[0] if found else None


def _file(name: str, *, content_type: str, filename: str, cache: str) -> HttpResponseBase:
    try:
        handle = default_storage.open(name, "rb")
    except (FileNotFoundError, SuspiciousFileOperation, OSError):
        return _not_found()
    # Whatever type the sender (or an old row) claimed: only allowlisted types are served as
    # themselves, anything else is application/octet-stream and a download.
    content_type = attachments.served_type(content_type)
    inline = attachments.shown_inline(content_type)
    response = FileResponse(
        handle, content_type=content_type, as_attachment=not inline, filename=filename or "attachment"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = cache
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_GET
def download(request: HttpRequest, message_id: int, index: int) -> HttpResponseBase:
    user = _user(request)
    if user is None:
        return redirect_to_login(request.get_full_path())
    if not 0 < message_id < 2**63:  # beyond bigint PostgreSQL would raise rather than find nothing
        return _not_found()
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or not can_see_conversation(user, message.conversation):
        return _not_found()
    items = message.attachments or []
    attachment = items[index] if index < len(items) else None
    if not isinstance(attachment, dict):
        return _not_found()
    name = files.stored_name(attachment)
    if name:
        return _file(
            name,
            content_type=str(attachment.get("content_type") or ""),
            filename=str(attachment.get("name") or ""),
            cache="private, max-age=3600",
        )
    target = files.redirect_target(message, attachment)
    if target:
        response = HttpResponseRedirect(target)
        response["Cache-Control"] = "private, no-store"
        return response
    if attachment.get("error"):
        return _error("unavailable", str(attachment.get("error_detail") or "The file could not be fetched."), 410)
    if files.attachment_state(message, attachment) == "pending":
        return _error("not_ready", "The file is still being fetched from the provider; try again shortly.", 409)
    return _not_found()


@require_GET
def upload_preview(request: HttpRequest, token: str) -> HttpResponseBase:
    """An upload not yet sent, for the agent who made it."""
    user = _user(request)
    if user is None:
        return redirect_to_login(request.get_full_path())
    data = attachments.upload_load(token, user=user)
    if data is None:
        return _not_found()
    conversation = Conversation.objects.filter(pk=data.get("c")).first()  # type: ignore[misc]  # None finds none
    if conversation is None or not can_see_conversation(user, conversation):
        return _not_found()
    return _file(data["stored"], content_type=data["content_type"], filename=data["name"], cache="private, max-age=3600")


@require_GET
def public(request: HttpRequest, token: str) -> HttpResponseBase:
    """What Meta and Twilio fetch to deliver an agent's file: the signature is the permission."""
    data = files.public_load(token)
    if data is None:
        return _not_found()
    return _file(data["s"], content_type=data.get("t", ""), filename=data.get("n", ""), cache="private, max-age=600")
