"""`/live/<inbox_id>/`: comments on a running live video (Instagram live_comments), as they arrive.

The page lists the latest live comments already stored, then its script (static/live/live.js)
appends the `comment.live` frames the workspace socket relays for that inbox. Only users who may
see the inbox get the page (404 otherwise, as everywhere); the socket joins `inbox-<id>` under
the same rule, so the frames reach nobody else.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from inbox.models import Direction, Message
from inbox.team.access import inboxes_visible_to

RECENT = 50


@require_GET
@login_required
def live_comments(request: HttpRequest, inbox_id: int) -> HttpResponse:
    inbox = get_object_or_404(inboxes_visible_to(request.user), pk=inbox_id)
    recent = list(
        Message.objects.filter(inbox=inbox, direction=Direction.IN, payload__live=True, deleted_at=None)
        .select_related("conversation__identity")
        .order_by("-created_at", "-id")[:RECENT]
    )
    recent.reverse()
    return render(request, "inbox/live.html", {"inbox": inbox, "comments": recent})
