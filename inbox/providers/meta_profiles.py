"""Meta's User Profile API: the name behind a PSID (Messenger) or an IGSID (Instagram).

Webhooks carry only the page-scoped id. `GET /{PSID}?fields=first_name,last_name,locale` (Messenger)
or `GET /{IGSID}?fields=name,username` (Instagram; `name` may be null) with the page's token answers
the person's name once they have written to the page, and on Messenger their `locale` ("fr_FR"):
the language their automated messages go out in. `locale` needs the page's `pages_user_locale`
permission; where Graph refuses that field (its error names it), the names are asked for again
without it. Errors use the Send API's classification
(meta.error_classify): no consent, blocked page or deleted account come back as 4xx Graph errors
(code 100, subcodes such as 2018218 / 2018247; 190 for a bad token) and are final; 5xx, rate limits
and timeouts are transient. Only the names and the locale are asked for: nothing else is kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.conf import settings

from inbox.models import Inbox
from inbox.providers.base import ProviderError
from inbox.providers.meta import error_classify, graph_auth_params, graph_call

PROFILE_FIELDS = {"messenger": "first_name,last_name", "instagram": "name,username"}
# Asked for too where the User Profile API has it (Messenger only): the person's language.
LOCALE_FIELDS = {"messenger": "locale"}


def profile_get(*, inbox: Inbox, external_id: str) -> dict[str, Any]:
    """The person's profile object as Graph answers it; ProviderError (with `transient`) otherwise."""
    fields = PROFILE_FIELDS.get(inbox.kind)
    if fields is None:
        raise ProviderError(reason="rejected", code="channel", detail=f"No profile API for {inbox.kind}.", transient=False)
    extra = LOCALE_FIELDS.get(inbox.kind) if getattr(settings, "META_PROFILE_LOCALE", True) else None
    if extra:
        try:
            return _profile_call(inbox=inbox, external_id=external_id, fields=f"{fields},{extra}")
        except ProviderError as exc:
            # Graph names the field it refuses ("nonexisting field (locale)", "pages_user_locale"):
            # then the names alone; any other refusal (no consent, blocked) stands.
            if exc.transient or "locale" not in (exc.detail or "").lower():
                raise
    return _profile_call(inbox=inbox, external_id=external_id, fields=fields)


def profile_language(profile: dict[str, Any]) -> str:
    """The profile's `locale` as given ("fr_FR", "el_GR"), or "" (customers.language reads it)."""
    locale = profile.get("locale")
    return locale.strip()[:16] if isinstance(locale, str) else ""


def _profile_call(*, inbox: Inbox, external_id: str, fields: str) -> dict[str, Any]:
    params = {**graph_auth_params(inbox), "fields": fields}
    url = f"{settings.META_GRAPH_URL.rstrip('/')}/{quote(external_id, safe='')}"
    status, data = graph_call("GET", url, params=params)
    if status < 300:
        if isinstance(data, dict) and not isinstance(data.get("error"), dict):
            return data
        raise ProviderError(reason="rejected", code=str(status), detail="The Graph API answered no profile.", transient=False)
    raise error_classify(status=status, data=data)


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def profile_name(kind: str, profile: dict[str, Any]) -> str:
    """The display name a profile gives: "First Last" on Messenger, the name or else the username on Instagram."""
    if kind == "instagram":
        name = _text(profile.get("name")) or _text(profile.get("username"))
    else:
        name = " ".join(part for part in (_text(profile.get("first_name")), _text(profile.get("last_name"))) if part)
    return name[:200]
