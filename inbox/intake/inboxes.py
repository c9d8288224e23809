"""Which inbox a provider's event is for."""

from __future__ import annotations

from inbox.models import Inbox


def inbox_for(*, kind: str | list[str], external_id: str) -> Inbox | None:
    kinds = [kind] if isinstance(kind, str) else kind
    return Inbox.objects.select_related("team").filter(kind__in=kinds, external_id=external_id).first()
