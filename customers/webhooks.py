"""POST /webhooks/shopify/: verify, handle once, acknowledge.

Refusals are 4xx with nothing stored; a database that cannot store answers 503 so Shopify
retries; bad input never answers 500.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.conf import settings
from django.db import DatabaseError, DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import shopify

logger = logging.getLogger(__name__)


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


@csrf_exempt
@require_POST
def shopify_webhook(request: HttpRequest) -> HttpResponse:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "bad_request", "Invalid Content-Length.")
    if length > settings.WEBHOOK_MAX_BODY_BYTES:
        return _error(413, "too_large", "Request body too large.")
    if request.content_type != "application/json":
        return _error(415, "unsupported_media_type", "Shopify webhooks are application/json.")
    secret = settings.SHOPIFY_WEBHOOK_SECRET
    if not secret:
        logger.warning("shopify webhook refused: SHOPIFY_WEBHOOK_SECRET is not set")
        return _error(403, "not_configured", "Shopify webhooks are not configured.")
    body = request.body
    if not shopify.signature_valid(body=body, header=request.headers.get("X-Shopify-Hmac-Sha256", ""), secret=secret):
        logger.warning("shopify webhook refused: bad signature")
        return _error(401, "bad_signature", "Signature missing or invalid.")
    topic = request.headers.get("X-Shopify-Topic", "")
    # Shopify always sends a webhook id; without one, the same signed body is the same delivery.
    webhook_id = request.headers.get("X-Shopify-Webhook-Id") or "body-" + hashlib.sha256(
        topic.encode() + b"\n" + body
    ).hexdigest()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _error(400, "bad_payload", "Body is not JSON.")
    if not isinstance(payload, dict):
        return _error(400, "bad_payload", "Body is not a JSON object.")
    try:
        outcome = shopify.webhook_handle(topic=topic, webhook_id=webhook_id, payload=payload)
    except shopify.PayloadInvalid as exc:
        logger.warning("shopify %s webhook malformed: %s", topic, exc)
        return _error(400, "bad_payload", str(exc))
    except DataError as exc:  # e.g. NUL characters, which PostgreSQL never stores: retrying can't help
        logger.warning("shopify %s webhook not storable: %s", topic, exc)
        return _error(400, "bad_payload", "Payload holds data that cannot be stored (e.g. NUL characters).")
    except DatabaseError:
        logger.exception("shopify %s webhook could not be stored", topic)
        return _error(503, "unavailable", "Cannot store the event now; retry later.")
    return JsonResponse({"status": outcome})
