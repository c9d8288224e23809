"""Webhook endpoints: verify, store once, acknowledge. Processing happens in a task.

Every refusal is a 4xx with nothing stored; a database that cannot store answers 503 so the
provider retries; nothing here ever answers 500 for bad input.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.db import DatabaseError, DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from customers import shopify as shopify_orders
from inbox.intake.store import events_store
from inbox.providers import provider_by_name
from inbox.providers.base import BadPayload, RawEvent, SignatureInvalid

logger = logging.getLogger(__name__)

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def _size_refusal(request: HttpRequest) -> JsonResponse | None:
    """A body over WEBHOOK_MAX_BODY_BYTES is refused from its Content-Length, before it is read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "bad_request", "Invalid Content-Length.")
    if length > settings.WEBHOOK_MAX_BODY_BYTES:
        return _error(413, "too_large", "Request body too large.")
    return None


def receive(request: HttpRequest, provider_name: str, ok: HttpResponse) -> HttpResponse:
    """The common path of every provider webhook."""
    refusal = _size_refusal(request)
    if refusal is not None:
        return refusal
    provider = provider_by_name(provider_name)
    try:
        provider.verify(request)
    except SignatureInvalid as exc:
        logger.warning("%s webhook refused: %s", provider_name, exc)
        return _error(403, "bad_signature", "Signature missing or invalid.")
    try:
        events = provider.split(request)
    except BadPayload as exc:
        logger.warning("%s webhook malformed: %s", provider_name, exc)
        return _error(400, "bad_payload", str(exc) or "Malformed payload.")
    except RecursionError:  # JSON nested thousands deep
        logger.warning("%s webhook malformed: nested too deep", provider_name)
        return _error(400, "bad_payload", "Payload nested too deep.")
    refusal = _store(provider_name, events)
    if refusal is not None:
        return refusal
    return ok


def _store(provider_name: str, events: list[RawEvent]) -> JsonResponse | None:
    """Store the events (one statement); the refusal to answer when they cannot be stored."""
    try:
        events_store(provider=provider_name, events=events)
    except DataError as exc:
        # Data PostgreSQL can never store (NUL characters): a retry would fail the same way.
        logger.warning("%s webhook not storable: %s", provider_name, exc)
        return _error(400, "bad_payload", "Payload holds data that cannot be stored (e.g. NUL characters).")
    except DatabaseError:
        logger.exception("%s webhook could not be stored", provider_name)
        return _error(503, "unavailable", "Cannot store the event now; retry later.")
    return None


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _meta_handshake(request)
    if request.content_type != "application/json":
        return _error(415, "unsupported_media_type", "Meta webhooks are application/json.")
    return receive(request, "meta", HttpResponse("EVENT_RECEIVED", content_type="text/plain"))


def _meta_handshake(request: HttpRequest) -> HttpResponse:
    expected = settings.META_VERIFY_TOKEN
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if (
        expected
        and request.GET.get("hub.mode") == "subscribe"
        and hmac.compare_digest(token.encode(), expected.encode())
        and challenge
    ):
        return HttpResponse(challenge, content_type="text/plain")
    return _error(403, "bad_verify_token", "Verification failed.")


@csrf_exempt
@require_http_methods(["POST"])
def twilio_sms(request: HttpRequest) -> HttpResponse:
    return receive(request, "twilio", HttpResponse(TWIML_EMPTY, content_type="text/xml"))


@csrf_exempt
@require_http_methods(["POST"])
def twilio_status(request: HttpRequest) -> HttpResponse:
    return receive(request, "twilio", HttpResponse(status=204))


@csrf_exempt
@require_http_methods(["POST"])
def shopify(request: HttpRequest) -> HttpResponse:
    """Shopify's orders/*, refunds/create and customers/* topics: verified, checked and stored once
    (keyed by X-Shopify-Webhook-Id, the same on every retry), then processed in the worker
    (intake/shopify.py), as Shopify asks: answer at once, process after. A topic we do not handle is
    acknowledged and not stored."""
    refusal = _size_refusal(request)
    if refusal is not None:
        return refusal
    if request.content_type != "application/json":
        return _error(415, "unsupported_media_type", "Shopify webhooks are application/json.")
    secret = settings.SHOPIFY_WEBHOOK_SECRET
    if not secret:
        logger.warning("shopify webhook refused: SHOPIFY_WEBHOOK_SECRET is not set")
        return _error(403, "not_configured", "Shopify webhooks are not configured.")
    body = request.body
    if not shopify_orders.signature_valid(body=body, header=request.headers.get("X-Shopify-Hmac-Sha256", ""), secret=secret):
        logger.warning("shopify webhook refused: bad signature")
        return _error(401, "bad_signature", "Signature missing or invalid.")
    topic = request.headers.get("X-Shopify-Topic", "")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _error(400, "bad_payload", "Body is not JSON.")
    if not isinstance(payload, dict):
        return _error(400, "bad_payload", "Body is not a JSON object.")
    if topic not in shopify_orders.HANDLERS:
        logger.info("shopify topic %r acknowledged and ignored", topic)
        return JsonResponse({"status": "ignored"})
    try:
        shopify_orders.payload_check(topic=topic, payload=payload)
    except shopify_orders.PayloadInvalid as exc:
        logger.warning("shopify %s webhook malformed: %s", topic, exc)
        return _error(400, "bad_payload", str(exc))
    # Shopify always sends a webhook id; without one, the same signed body is the same delivery.
    webhook_id = request.headers.get("X-Shopify-Webhook-Id") or "body-" + hashlib.sha256(
        topic.encode() + b"\n" + body
    ).hexdigest()
    refusal = _store("shopify", [RawEvent(kind=topic, dedupe_key=webhook_id, payload=payload)])
    if refusal is not None:
        return refusal
    return JsonResponse({"status": "accepted"})
