"""The audit log: who assigned, merged, erased, exported, changed consent or credentials, and from where.

`audit_record` is called by the services (or the views that have the request) right where the
action happens, inside the same transaction, so an action rolled back leaves no entry.
"""

from __future__ import annotations

import logging

from django.db import models
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest

from customers.models import ConsentEvent
from customers.signals import customer_erasing, customer_exporting, customer_merged
from inbox.models import AuditEntry
from inbox_project.client_ip import client_ip
from inbox_project.logs import current_request, current_request_id

logger = logging.getLogger(__name__)

# The actions recorded; others are accepted too (the log is append-only text), these are the known ones.
ACTIONS = (
    "conversation.assign",
    "customer.merge",
    "customer.erase",
    "customer.export",
    "consent.change",
    "inbox.credentials_change",
)


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    # The same address django-axes counts failures for (TRUSTED_PROXY_COUNT decides whether a proxy's
    # X-Forwarded-For is believed).
    return client_ip(request)


def _target_of(target) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)
    if isinstance(target, tuple) and len(target) == 2:
        return str(target[0]), str(target[1])
    raise TypeError("target is a model instance, a (type, id) pair or None")


def audit_record(*, actor, action: str, target=None, data: dict | None = None, request: HttpRequest | None = None) -> AuditEntry:
    """Append one entry. `actor` may be None (the system: a task, a webhook); `target` a model or (type, id).

    With `request`, a missing actor is the request's user. Without it, the request being served (if
    any) still gives the IP and request id, never the actor: work a request merely set off (an
    automatic assignment, a keyword opt-out) is not that user's doing.
    """
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        actor = request.user if request.user.is_authenticated else None
    request = request if request is not None else current_request()
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    target_type, target_id = _target_of(target)
    entry = AuditEntry.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        action=action[:64],
        target_type=target_type[:64],
        target_id=target_id[:64],
        data=data or {},
        ip=_client_ip(request),
        request_id=(getattr(request, "id", None) or current_request_id() or "")[:128],
    )
    logger.info("audit: %s by %s on %s:%s", action, entry.actor_name or "system", target_type, target_id)
    return entry


# --- What the customers app announces (it cannot import the inbox) ---------------------------------


@receiver(customer_merged, dispatch_uid="inbox.audit.merge")
def _merged(sender, kept, merged, by=None, record=None, **kwargs) -> None:
    audit_record(actor=by, action="customer.merge", target=kept, data={"merged": merged.pk, "merge_record": getattr(record, "pk", None)})


@receiver(customer_erasing, dispatch_uid="inbox.audit.erase")
def _erasing(sender, customer, by=None, **kwargs) -> None:
    audit_record(actor=by, action="customer.erase", target=customer)


@receiver(customer_exporting, dispatch_uid="inbox.audit.export")
def _exporting(sender, customer, **kwargs) -> dict:
    audit_record(actor=None, action="customer.export", target=customer, request=current_request())
    return {}


@receiver(post_save, sender=ConsentEvent, dispatch_uid="inbox.audit.consent")
def _consent(sender, instance: ConsentEvent, created: bool, **kwargs) -> None:
    if created:
        audit_record(
            actor=None, action="consent.change", target=("customers.customer", instance.customer_id), request=current_request(),
            data={"channel": instance.channel, "purpose": instance.purpose, "granted": instance.granted, "source": instance.source},
        )
