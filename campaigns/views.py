"""Pages: the campaigns list and form (managers and admins create; agents read), and unsubscribe."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from customers.language import customer_language
from customers.models import Customer
from inbox.team import access

from . import composition, services
from .api import WRITE_ROLES, campaigns_visible_to

if TYPE_CHECKING:
    from inbox.models import Inbox


def _form_spec(post: Mapping[str, Any], inboxes: QuerySet[Inbox]) -> dict:
    inbox = inboxes.filter(pk=post.get("inbox") or 0).first()
    if inbox is None:
        raise ValidationError("Choose an inbox.")
    audience: dict = {}
    labels = [x.strip() for x in (post.get("labels") or "").split(",") if x.strip()]
    if labels:
        audience["labels"] = labels
    if (post.get("bought_within_days") or "").strip():
        try:
            audience["bought_within_days"] = int(post["bought_within_days"])
        except ValueError:
            raise ValidationError("“Bought in the last … days” must be a whole number.") from None
    if (post.get("lifetime_value_gt") or "").strip():
        audience["lifetime_value_gt"] = post["lifetime_value_gt"].strip()
    kind = post.get("kind", "broadcast")
    trigger = None
    if kind == "triggered":
        try:
            delay = int(post.get("delay_minutes") or 0) * 60
        except ValueError:
            raise ValidationError("The delay must be a whole number of minutes.") from None
        trigger = {
            "event": post.get("trigger_event", ""),
            "delay_seconds": delay,
            "exceptions": [x.strip() for x in (post.get("exceptions") or "").split(",") if x.strip()],
        }
    starts_at = None
    if (post.get("starts_at") or "").strip():
        try:
            starts_at = timezone.make_aware(datetime.fromisoformat(post["starts_at"]))
        except ValueError:
            raise ValidationError("The start must be a date and time.") from None
    return {
        "name": post.get("name", ""), "kind": kind, "channel": inbox.kind, "inbox": inbox,
        "purpose": post.get("purpose") or "marketing",
        "text": post.get("text", ""), "subject": post.get("subject", ""), "audience": audience, "trigger": trigger,
        "send_window": {"start": post.get("window_start") or "09:00", "end": post.get("window_end") or "21:00"},
        "starts_at": starts_at,
    }


@login_required
@require_http_methods(["GET", "POST"])
def campaigns_page(request: HttpRequest) -> HttpResponse:
    role = access.role_of(request.user)
    if role is None:
        return HttpResponse(status=404)
    may_write = role in WRITE_ROLES
    inboxes = access.inboxes_visible_to(request.user).order_by("name")
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        if not may_write:
            return HttpResponse("Only managers and admins may create campaigns.", status=403)
        try:
            services.campaign_create(by=request.user, **_form_spec(request.POST, inboxes))
            return render(request, "campaigns/index.html", _context(request, inboxes, may_write, created=True), status=201)
        except (ValidationError, composition.TemplateInvalid) as exc:
            errors = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            status = 400
    return render(request, "campaigns/index.html", _context(request, inboxes, may_write, errors=errors), status=status)


def _context(request: HttpRequest, inboxes: QuerySet[Inbox], may_write: bool, **extra: Any) -> dict:
    campaigns = list(campaigns_visible_to(request.user)[:100])
    rows = [{"campaign": c, "stats": services.campaign_stats(campaign=c)} for c in campaigns]
    return {"rows": rows, "inboxes": inboxes, "may_write": may_write, "form": request.POST, **extra}


@csrf_exempt  # RFC 8058: mail providers POST without cookies or tokens; the signed URL is the credential
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = composition.unsubscribe_read(token)
        customer = Customer.objects.filter(pk=int(data["c"])).first()
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        customer = None
    if customer is None:
        return render(request, "campaigns/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "GET":
        # A link scanner may GET the link: only a POST (the button, or the mail client) unsubscribes.
        # In the language the customer's messages go out in, not whatever their browser asks for.
        with translation.override(customer_language(customer)):
            return render(request, "campaigns/unsubscribe.html", {"token": token})
    services.unsubscribe(
        token=token,
        proof={"one_click": request.POST.get("List-Unsubscribe") == "One-Click", "ip": request.META.get("REMOTE_ADDR", "")},
    )
    with translation.override(customer_language(customer)):
        return render(request, "campaigns/unsubscribe.html", {"done": True})
