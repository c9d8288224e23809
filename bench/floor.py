"""The floor of the webhook benchmark: the least a Django view can do for a signed webhook.

It checks Meta's HMAC signature, parses the JSON body and does one INSERT, under the same server,
settings and pool as the real webhook. Mounted at `/bench/floor/` only when `BENCH_FLOOR=1`
(see `inbox_project/urls.py`); never in production.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def floor(request: HttpRequest) -> HttpResponse:
    body = request.body
    expected = "sha256=" + hmac.new(settings.META_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
        return HttpResponse(status=403)
    payload = json.loads(body)
    key = payload["entry"][0]["messaging"][0]["message"]["mid"]
    with connection.cursor() as cursor:
        # Stored as already processed so no sweeper ever picks these rows up.
        cursor.execute(
            "INSERT INTO inbox_inboundevent (provider, dedupe_key, kind, payload, received_at, processed_at, attempts, error)"
            " VALUES ('bench-floor', %s, 'message', %s, now(), now(), 0, '') ON CONFLICT DO NOTHING",
            [key, body.decode()],
        )
    return HttpResponse("EVENT_RECEIVED", content_type="text/plain")


urlpatterns = [path("", floor, name="bench-floor")]
