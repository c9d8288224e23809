"""Graph API calls on comments: a public reply under a comment, a private reply to its author.

Same error classification as the Send API (meta.error_classify); answers are `{"id": ...}` for a
public reply and `{"recipient_id", "message_id"}` for a private one.
"""

from __future__ import annotations

from django.conf import settings

from inbox.models import Inbox

from .meta import error_classify, graph_auth_params, graph_call, graph_sender_id


def _post(url: str, params: dict, body: dict, id_key: str) -> str:
    status, data = graph_call("POST", url, params=params, json=body)
    if status < 300 and isinstance(data, dict) and data.get(id_key):
        return str(data[id_key])
    raise error_classify(status=status, data=data)


def public_reply(*, inbox: Inbox, comment_id: str, text: str) -> str:
    """Reply under the comment: /{comment_id}/comments on Facebook, /{comment_id}/replies on Instagram."""
    graph = settings.META_GRAPH_URL.rstrip("/")
    edge = "replies" if inbox.kind == "instagram" else "comments"
    return _post(f"{graph}/{comment_id}/{edge}", graph_auth_params(inbox), {"message": text}, "id")


def private_reply(*, inbox: Inbox, comment_id: str, text: str) -> str:
    """One message to the commenter, addressed by the comment (Meta allows one, within 7 days)."""
    graph = settings.META_GRAPH_URL.rstrip("/")
    body = {"recipient": {"comment_id": comment_id}, "message": {"text": text}}
    return _post(f"{graph}/{graph_sender_id(inbox)}/messages", graph_auth_params(inbox), body, "message_id")
