"""The floors of `make bench`: the least a Django view can do for each path, on the same server,
settings and pool as the real views, measured in the same run (bench/run.py). Mounted at
`/bench/floor/` only when `BENCH_FLOOR=1` (see `inbox_project/urls.py`); never in production.

- write floor (`/bench/floor/`): checks Meta's HMAC signature, parses the JSON body and does one
  INSERT. Its CPU per request (the web processes' CPU over a run / requests) is the processing
  floor the worker's CPU per processed message is compared with.
- read floor (`/bench/floor/read/?user=<id>&after=<at>,<id>`): the same 50 rows as the agent's
  inbox list (`?assignee=me&status=open`, newest first), by one raw keyset SQL query, as JSON. No
  authentication, visibility, labels or serializer: what is left of the list's work.
- realtime floor (`/bench/floor/realtime/`): on receipt, `group_send`s one frame to the groups in the
  body (the bench names groups that reach the same sockets as the real frames), with no processing;
  the time from the POST to each socket is the floor of webhook → socket.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
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


# The list's columns as stored on the conversation row (the API adds inbox, customer, labels, window…).
_READ_COLUMNS = ("id", "inbox_id", "channel", "customer_id", "status", "assignee_id", "team_id", "subject",
                 "last_message_at", "waiting_since", "unread_count", "snoozed_until", "created_at",
                 "last_message_text", "last_message_direction", "last_message_sender_type", "last_inbound_at")
_READ_SQL = (
    f"SELECT {', '.join(_READ_COLUMNS)} FROM inbox_conversation"
    " WHERE assignee_id = %s AND status = 'open' {after}"
    " ORDER BY last_message_at DESC NULLS LAST, id DESC LIMIT 50"
)


def read_floor(request: HttpRequest) -> JsonResponse:
    user_id = int(request.GET["user"])
    params: list = [user_id]
    after = ""
    if request.GET.get("after"):
        at, last_id = request.GET["after"].rsplit(",", 1)
        # The keyset position as one row comparison (rows with a time; the bench's pages all have one).
        after = "AND (last_message_at, id) < (%s, %s)"
        params += [datetime.fromisoformat(at), int(last_id)]
    with connection.cursor() as cursor:
        cursor.execute(_READ_SQL.format(after=after), params)
        rows = [dict(zip(_READ_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    last = rows[-1] if rows else None
    following = f"{last['last_message_at'].isoformat()},{last['id']}" if last and len(rows) == 50 else None
    return JsonResponse({"next": following, "results": rows})


@csrf_exempt
def realtime_floor(request: HttpRequest) -> HttpResponse:
    from inbox.realtime import publish

    body = json.loads(request.body)
    groups = [str(g) for g in body["groups"]]
    frame = {"type": "bench.floor", "id": body["id"]}
    publish._deliver(publish.get_channel_layer(), groups, {"type": "inbox.event", "frame": frame, "groups": groups})
    return HttpResponse("SENT", content_type="text/plain")


urlpatterns = [
    path("", floor, name="bench-floor"),
    path("read/", read_floor, name="bench-floor-read"),
    path("realtime/", realtime_floor, name="bench-floor-realtime"),
]
