"""Meta's User Profile API: the name behind a PSID (Messenger) or an IGSID (Instagram).

Webhooks carry only the page-scoped id. `GET /{PSID}?fields=first_name,last_name` (Messenger) or
`GET /{IGSID}?fields=name,username` (Instagram; `name` may be null) with the page's token answers
the person's name once they have written to the page. Errors use the Send API's classification
(meta.error_classify): no consent, blocked page or deleted account come back as 4xx Graph errors
(code 100, subcodes such as 2018218 / 2018247; 190 for a bad token) and are final; 5xx, rate limits
and timeouts are transient. Only the name fields are asked for: nothing else is kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.conf import settings

from inbox.models import Inbox
from inbox.providers.base import ProviderError
from inbox.providers.meta import error_classify, graph_auth_params, graph_call

PROFILE_FIELDS = {"messenger": "first_name,last_name", "instagram": "name,username"}


def profile_get(*, inbox: Inbox, external_id: str) -> dict[str, Any]:
    """The person's profile object as Graph answers it; ProviderError (with `transient`) otherwise."""
    fields = PROFILE_FIELDS.get(inbox.kind)
    if fields is None:
        raise ProviderError(reason="rejected", code="channel", detail=f"No profile API for {inbox.kind}.", transient=False)
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
