"""An inbound email webhook's request kept as it came, and rebuilt for anymail in the worker.

The webhook's request (inbox/intake/mailbox.py) runs anymail's validators (basic auth, the ESP's
signature) and stores the request (`request_to_payload`); the worker rebuilds it
(`payload_to_request`) and anymail's own view parses it into messages (`inbound_messages`), so
parsing stays anymail's and the request does none of it: building the message from an ESP's form
and writing it back out as MIME were ~85 % of an email webhook's CPU.
"""

from __future__ import annotations

import base64
from io import BytesIO
from typing import Any
from urllib.parse import urlencode

from anymail.exceptions import AnymailError
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict
from django.utils.http import parse_header_parameters

from inbox.providers.email import raw_to_payload

# Request headers an ESP's parse_events reads (an event id, an SNS message type); never credentials.
KEPT_HEADERS = ("svix-id", "X-Amz-Sns-Message-Type", "X-Amz-Sns-Message-Id")
# ESPs whose parse_events reads the multipart body itself (SendGrid re-decodes fields by their
# declared charsets): their body is kept as it came. Anymail reads it in the request anyway.
RAW_BODY_ESPS = frozenset({"sendgrid"})
FORM_URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def request_to_payload(request: HttpRequest, esp: str) -> dict[str, Any]:
    """The ESP's request as JSON can hold it, with every address it names as searchable text.

    A form is kept as its fields (text) and uploaded files (base64), not as its encoded body:
    `%40`-escaped or base64'd addresses would be invisible to an erasure's search of stored
    payloads (inbox/conversations/privacy.py). Other bodies (JSON) are kept as text.
    """
    payload: dict[str, Any] = {"esp": esp, "content_type": request.META.get("CONTENT_TYPE", "")}
    headers = {name: request.headers[name] for name in KEPT_HEADERS if name in request.headers}
    if headers:
        payload["headers"] = headers
    form = request.content_type in (FORM_URLENCODED, MULTIPART)
    if form and not (esp in RAW_BODY_ESPS and request.content_type == MULTIPART):
        payload["form"] = [[name, value] for name, values in request.POST.lists() for value in values]
        files = []
        for field, uploads in request.FILES.lists():
            for upload in uploads:
                upload.seek(0)
                files.append({
                    "field": field, "name": upload.name, "content_type": upload.content_type,
                    "charset": upload.charset, "b64": base64.b64encode(upload.read()).decode("ascii"),
                })
                upload.seek(0)
        if files:
            payload["files"] = files
        return payload
    payload.update(raw_to_payload(request.body, key="body"))
    if form:  # the raw multipart body is base64: its fields once more, for the erasure's search
        payload["form_text"] = [[name, value] for name, values in request.POST.lists() for value in values]
    return payload


def payload_to_request(request_payload: dict[str, Any]) -> HttpRequest:
    """The stored request rebuilt for anymail's parse_events (which checks no signature)."""
    content_type = request_payload.get("content_type", "")
    meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (request_payload.get("headers") or {}).items()}
    if "form" in request_payload:
        request = HttpRequest()
        request.method = "POST"
        request.META.update(meta, CONTENT_TYPE=content_type)
        request.content_type, request.content_params = parse_header_parameters(content_type)
        fields = QueryDict(mutable=True)
        for name, value in request_payload["form"]:
            fields.appendlist(name, value)
        files = MultiValueDict()
        for item in request_payload.get("files") or []:
            data = base64.b64decode(item["b64"])
            files.appendlist(item["field"], InMemoryUploadedFile(
                BytesIO(data), item["field"], item["name"], item["content_type"], len(data), item["charset"]))
        request.POST, request.FILES = fields, files
        # request.body as anymail would read it (Mailgun's inbound view reads it only for JSON).
        pairs = [(name, value) for name, value in request_payload["form"]]
        request._body = urlencode(pairs).encode() if request.content_type == FORM_URLENCODED else b""
        return request
    body = base64.b64decode(request_payload["body_b64"]) if "body_b64" in request_payload else request_payload.get("body", "").encode()
    return WSGIRequest({
        **meta, "REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
        "PATH_INFO": "/", "SERVER_NAME": "worker", "SERVER_PORT": "443", "wsgi.url_scheme": "https",
        "wsgi.input": BytesIO(body),
    })


class UnparsableRequest(ValueError):
    """Anymail refused a stored request its cheap checks let through: retrying cannot help."""


def inbound_messages(payload: dict[str, Any]) -> list:
    """The messages of a stored webhook request (AnymailInboundMessage), parsed by the ESP's own
    anymail view. UnparsableRequest when anymail refuses it; ImproperlyConfigured when the view
    cannot be built (the ESP's settings are gone), which leaves the event for a retry."""
    view_class, initkwargs = _inbound_views()[payload["esp"]]
    view = view_class(**initkwargs)
    request = payload_to_request(payload)
    try:
        events = view.parse_events(request)
    except (AnymailError, ValueError, KeyError, TypeError) as exc:
        raise UnparsableRequest(str(exc)) from exc
    return [event.message for event in events]


def _inbound_views() -> dict[str, tuple[type, dict[str, Any]]]:
    """esp name (lower case, as stored) -> its anymail inbound view and the view's init kwargs."""
    if not _INBOUND_VIEWS:
        from anymail.signals import inbound
        from anymail.urls import urlpatterns

        for pattern in urlpatterns:
            view_class = pattern.callback.view_class
            if getattr(view_class, "signal", None) is inbound:
                _INBOUND_VIEWS[view_class.esp_name.lower()] = (view_class, pattern.callback.view_initkwargs)
    return _INBOUND_VIEWS


_INBOUND_VIEWS: dict[str, tuple[type, dict[str, Any]]] = {}
