"""Audit entries for what the customers app does (it cannot import the inbox, so it announces).

Merge and erase come with their actor (`by`); an export and a consent change are attributed to the
user of the request being served, if any (a keyword STOP or an unsubscribe link has none).
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from customers.models import ConsentEvent
from customers.signals import customer_erasing, customer_exporting, customer_merged
from inbox_project.logs import current_request

from .audit import audit_record


@receiver(customer_merged, dispatch_uid="inbox.audit_hooks.merge")
def _merged(sender, kept, merged, by=None, record=None, **kwargs) -> None:
    audit_record(actor=by, action="customer.merge", target=kept, data={"merged": merged.pk, "merge_record": getattr(record, "pk", None)})


@receiver(customer_erasing, dispatch_uid="inbox.audit_hooks.erase")
def _erasing(sender, customer, by=None, **kwargs) -> None:
    audit_record(actor=by, action="customer.erase", target=customer)


@receiver(customer_exporting, dispatch_uid="inbox.audit_hooks.export")
def _exporting(sender, customer, **kwargs) -> dict:
    audit_record(actor=None, action="customer.export", target=customer, request=current_request())
    return {}


@receiver(post_save, sender=ConsentEvent, dispatch_uid="inbox.audit_hooks.consent")
def _consent(sender, instance: ConsentEvent, created: bool, **kwargs) -> None:
    if created:
        audit_record(
            actor=None, action="consent.change", target=("customers.customer", instance.customer_id), request=current_request(),
            data={"channel": instance.channel, "purpose": instance.purpose, "granted": instance.granted, "source": instance.source},
        )
