"""`/jsi18n/`: the scripts' translations (Django's JavaScript catalog) as a script file.

Every page loads it before its modules with `?lang=<the page's language>`, so the scripts speak the
page's language even where the page chose one other than the request's (a customer's rating or
unsubscribe page follows the customer, not the browser). Only the project's catalog
(locale/<lang>/LC_MESSAGES/djangojs.po) is served, not Django admin's strings. The URL names the
language, so a browser may keep it for a while.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET
from django.views.i18n import JavaScriptCatalog

CACHE_SECONDS = 300
_catalog = JavaScriptCatalog.as_view(packages=["inbox"])


@require_GET
def javascript_catalog(request: HttpRequest) -> HttpResponseBase:
    wanted = request.GET.get("lang", "")
    language = wanted if wanted in {code for code, _ in settings.LANGUAGES} else translation.get_language()
    with translation.override(language):
        response = _catalog(request)
    patch_cache_control(response, public=True, max_age=CACHE_SECONDS)
    return response
