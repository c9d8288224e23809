"""`/csat/<token>/`: the page behind the five rating links of a survey email (public, no login).

The link names the survey and the rating, signed (inbox/csat/answers.py), so the link itself is the
customer's authority. A GET shows the rating and a comment box; the page's script then records the
rating at once (one click for the customer). The record itself is a POST, because mail scanners
fetch every link of a message: a GET that recorded would rate 5, then 4, 3, 2, 1 for them.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from customers.language import customer_language
from inbox.csat.answers import rating_token, rating_token_read, survey_rate_from_link
from inbox.csat.surveys import RATING_WORDS
from inbox.models import CsatResponse, CsatStatus

RATINGS = [(n, RATING_WORDS[n]) for n in range(5, 0, -1)]


def _invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "inbox/csat.html", {"invalid": True}, status=400)


@csrf_exempt  # the signed token is the authority; no session of the customer's is involved
@require_http_methods(["GET", "POST"])
def rate(request: HttpRequest, token: str) -> HttpResponse:
    read = rating_token_read(token)
    if read is None:
        return _invalid(request)
    survey_id, rating = read
    survey = (
        CsatResponse.objects.select_related("customer", "conversation__inbox")
        .filter(pk=survey_id, status__in=(CsatStatus.SENT, CsatStatus.ANSWERED)).first()
    )
    if survey is None:
        return _invalid(request)
    # The page speaks the customer's language (their survey's), not whatever their browser asks for.
    with translation.override(customer_language(survey.customer, survey.conversation.inbox)):
        return _rate(request, survey=survey, survey_id=survey_id, rating=rating, token=token)


def _rate(request: HttpRequest, *, survey: CsatResponse, survey_id: int, rating: int, token: str) -> HttpResponse:
    if request.method == "GET":
        return render(request, "inbox/csat.html", {"rating": rating, "ratings": RATINGS, "survey": survey})
    chosen = request.POST.get("rating", "")
    if chosen.isdigit() and 1 <= int(chosen) <= 5 and int(chosen) != rating:
        # The customer picked another rating on the page: the survey's own link for it.
        token = rating_token(survey_id=survey_id, rating=int(chosen))
        rating = int(chosen)
    recorded = survey_rate_from_link(token=token, comment=request.POST.get("comment", ""))
    if recorded is None:
        return _invalid(request)
    if request.headers.get("X-Requested-With") == "fetch":
        return JsonResponse({"rating": recorded.rating, "comment": bool(recorded.comment)})
    return render(request, "inbox/csat.html", {"done": True, "rating": recorded.rating, "ratings": RATINGS, "survey": recorded})
