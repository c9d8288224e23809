"""Pages of the campaign builder: the list with its controls (/campaigns/), the step-by-step builder
(/campaigns/new/), a campaign's page with live results (/campaigns/<id>/), and the editors of comment
auto-responders and greeting/away messages (/campaigns/automation/).

The builder works through the API from the page's script; without a script its form still posts
here, and a created campaign always leads to its own page (never back to an emptied form).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from inbox.models import META_CHANNELS
from inbox.team import access

from . import builder, composition, services
from .api import WRITE_ROLES, campaigns_visible_to
from .views import _form_spec


def _role(request: HttpRequest) -> str | None:
    return access.role_of(request.user)


def _extra_audience(post: Any) -> dict:
    out: dict = {}
    for key in ("orders_min", "contacted_within_days", "not_contacted_for_days"):
        value = (post.get(key) or "").strip()
        if value:
            try:
                out[key] = int(value)
            except ValueError:
                raise ValidationError(f"{key.replace('_', ' ')} must be a whole number.") from None
    limit, days = (post.get("cap_limit") or "").strip(), (post.get("cap_days") or "").strip()
    if limit and days:
        try:
            out["frequency_cap"] = {"limit": int(limit), "period_days": int(days)}
        except ValueError:
            raise ValidationError("The campaign's cap is a number of messages per number of days.") from None
    return out


def _create_from_form(request: HttpRequest) -> Any:
    inboxes = access.inboxes_visible_to(request.user)
    post = request.POST
    spec = _form_spec(post, inboxes)
    spec["audience"] = {**spec["audience"], **_extra_audience(post)}
    if spec.get("trigger") is not None:  # the exceptions' checkboxes, when the page posts without its script
        spec["trigger"]["exceptions"] = sorted({*spec["trigger"]["exceptions"], *post.getlist("exception")})
        if (post.get("ends_at") or "").strip():
            try:
                spec["ends_at"] = timezone.make_aware(datetime.fromisoformat(post["ends_at"]))
            except ValueError:
                raise ValidationError("The end must be a date and time.") from None
    elif post.get("when") == "now":
        spec["starts_at"] = None
    for key in ("sender_name",):
        if post.get(key):
            spec[key] = post[key]
    return services.campaign_create(by=request.user, **spec)


@login_required
@require_http_methods(["GET", "POST"])
def campaigns_list(request: HttpRequest) -> HttpResponse:
    role = _role(request)
    if role is None:
        return HttpResponse(status=404)
    may_write = role in WRITE_ROLES
    if request.method == "POST":  # the form of earlier pages posted here: create, then its page
        if not may_write:
            return HttpResponse("Only managers and admins may create campaigns.", status=403)
        try:
            campaign = _create_from_form(request)
        except (ValidationError, composition.TemplateInvalid) as exc:
            return _builder(request, errors=exc.messages if isinstance(exc, ValidationError) else [str(exc)], status=400)
        return redirect("campaign-page", pk=campaign.pk, permanent=False)
    campaigns = list(campaigns_visible_to(request.user)[:200])
    rows = [{"campaign": c, "stats": services.campaign_stats(campaign=c)} for c in campaigns]
    return render(request, "campaigns/list.html", {"rows": rows, "may_write": may_write})


def _builder(request: HttpRequest, *, errors: list[str] | None = None, status: int = 200) -> HttpResponse:
    kind = request.POST.get("kind") or request.GET.get("kind") or "broadcast"
    return render(request, "campaigns/builder.html", {
        "inboxes": access.inboxes_visible_to(request.user).order_by("name"), "kind": kind if kind in ("broadcast", "triggered") else "broadcast",
        "form": request.POST, "errors": errors or [], "events": builder.event_catalogue(),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    if _role(request) not in WRITE_ROLES:
        return HttpResponse("Only managers and admins may create campaigns.", status=403)
    if request.method == "POST":
        try:
            campaign = _create_from_form(request)
        except (ValidationError, composition.TemplateInvalid) as exc:
            return _builder(request, errors=exc.messages if isinstance(exc, ValidationError) else [str(exc)], status=400)
        if request.POST.get("then") == "launch":
            try:
                services.campaign_launch(campaign=campaign)
            except services.CampaignError as exc:
                return _builder(request, errors=[exc.detail], status=409)
        return redirect("campaign-page", pk=campaign.pk)
    return _builder(request)


@login_required
def campaign_page(request: HttpRequest, pk: int) -> HttpResponse:
    if _role(request) is None:
        return HttpResponse(status=404)
    campaign = get_object_or_404(campaigns_visible_to(request.user), pk=pk)
    return render(request, "campaigns/campaign.html", {
        "campaign": campaign, "may_write": _role(request) in WRITE_ROLES,
        "stats": services.campaign_stats(campaign=campaign),
    })


@login_required
def automation_page(request: HttpRequest) -> HttpResponse:
    if _role(request) is None:
        return HttpResponse(status=404)
    inboxes = access.inboxes_visible_to(request.user).order_by("name")
    return render(request, "campaigns/automation.html", {
        "inboxes": inboxes, "meta_inboxes": [i for i in inboxes if i.kind in META_CHANNELS],
        "may_write": _role(request) in WRITE_ROLES,
    })
