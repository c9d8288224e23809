"""Names (and, on Messenger, the language) of Meta customers, from Meta's User Profile API.

Meta webhooks carry only a page-scoped id, so a new Meta identity arrives nameless. When a customer
message comes from an identity without a display name (not asked recently), a task is queued after
the processing transaction commits; it asks Graph for the profile and fills blanks only: the
identity's display name, and the customer's name when the customer has none (a name an agent typed
or one from email/Shopify is never replaced). Open browsers get the conversations again over
realtime. Every attempt stamps `Identity.profile_checked_at`, so a person Meta will not describe
(no consent, blocked page, deleted account) is asked again only after PROFILE_RECHECK_AFTER, never
on every message. A failure here never touches message intake. Messenger's profile also gives the
person's `locale`: it becomes the customer's language unless one is set (an agent's choice stands).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from customers.models import Customer, Identity
from inbox import jobs
from inbox.conversations.languages import customer_language_learn
from inbox.models import META_CHANNELS, Conversation, Inbox
from inbox.providers.base import ProviderError
from inbox.providers.meta_profiles import profile_get, profile_language, profile_name
from inbox.realtime import publish as realtime

logger = logging.getLogger(__name__)

PROFILE_RECHECK_AFTER = timedelta(hours=24)
# Conversations re-sent to open browsers when a customer gets a name (newest first).
MAX_CONVERSATIONS_REFRESHED = 50


def _due_filter(now) -> Q:
    return Q(profile_checked_at=None) | Q(profile_checked_at__lt=now - PROFILE_RECHECK_AFTER)


def meta_profile_schedule(*, inbox: Inbox, identity: Identity) -> None:
    """Queue a profile lookup after commit when this Meta identity is nameless and not asked recently.

    Costs no query when nothing is due (the identity row is at hand); the claim and the queueing
    happen after the caller's transaction commits, outside its critical path.
    """
    if inbox.kind not in META_CHANNELS or identity.display_name or not getattr(settings, "META_PROFILE_FETCH", True):
        return
    checked = identity.profile_checked_at
    if checked is not None and checked >= timezone.now() - PROFILE_RECHECK_AFTER:
        return
    identity_id, inbox_id = identity.pk, inbox.pk
    transaction.on_commit(lambda: _claim_and_enqueue(identity_id, inbox_id), robust=True)


def _claim_and_enqueue(identity_id: int, inbox_id: int) -> None:
    """Stamp the attempt with a conditional UPDATE (one worker wins a race), then queue the task."""
    now = timezone.now()
    claimed = Identity.objects.filter(_due_filter(now), pk=identity_id, display_name="").update(profile_checked_at=now)
    if not claimed:
        return  # named meanwhile, or another delivery already asked
    if not jobs.enqueue("inbox.tasks.meta_profile_fetch", identity_id, inbox_id):
        # Give the claim back so the person's next message tries again.
        Identity.objects.filter(pk=identity_id, profile_checked_at=now).update(profile_checked_at=None)
        logger.warning("broker unavailable; profile of identity %s not fetched", identity_id)


def meta_profile_fill(*, identity_id: int, inbox_id: int, final: bool = True) -> bool:
    """Fetch the profile and fill blank names. Returns whether a transient failure is worth a retry.

    The Graph call runs outside any transaction; the writes happen under row locks and only where
    the fields are still blank, so an agent's edit made meanwhile wins.
    """
    identity = Identity.objects.filter(pk=identity_id).first()
    inbox = Inbox.objects.filter(pk=inbox_id).first()
    if identity is None or inbox is None or identity.display_name or identity.external_id.startswith("erased-"):
        return False
    try:
        profile = profile_get(inbox=inbox, external_id=identity.external_id)
    except ProviderError as exc:
        if exc.transient and not final:
            logger.info("profile of identity %s: transient %s (%s), will retry", identity_id, exc.reason, exc.code)
            return True
        # code and reason only: Graph's message text is not needed to understand the outcome.
        logger.info("profile of identity %s not available: %s (%s)", identity_id, exc.reason, exc.code)
        return False
    language = profile_language(profile)
    if language:
        _language_fill(identity_id=identity_id, language=language)
    name = profile_name(inbox.kind, profile)
    if not name:
        logger.info("profile of identity %s has no name", identity_id)
        return False
    _names_fill(identity_id=identity_id, name=name)
    return False


def _language_fill(*, identity_id: int, language: str) -> None:
    """The customer's language from the profile's locale, where none is set (merges followed)."""
    customer = Customer.objects.filter(identities__pk=identity_id).first()
    seen = set()
    while customer is not None and customer.merged_into_id and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.filter(pk=customer.merged_into_id).first()
    if customer is not None and not customer.erased_at:
        customer_language_learn(customer=customer, language=language)


def _names_fill(*, identity_id: int, name: str) -> None:
    with transaction.atomic():
        identity = Identity.objects.select_for_update().filter(pk=identity_id).first()
        if identity is None or identity.display_name or identity.external_id.startswith("erased-"):
            return
        identity.display_name = name
        identity.save(update_fields=["display_name"])
        customer = Customer.objects.select_for_update().get(pk=identity.customer_id)
        seen = set()
        while customer.merged_into_id and customer.pk not in seen:  # follow merges to the kept customer
            seen.add(customer.pk)
            customer = Customer.objects.select_for_update().get(pk=customer.merged_into_id)
        if customer.name or customer.erased_at:
            return
        customer.name = name
        customer.save(update_fields=["name", "updated_at"])
        conversations = (
            Conversation.objects.filter(customer=customer)
            .select_related("inbox", "customer")
            .order_by(F("last_message_at").desc(nulls_last=True), "-pk")[:MAX_CONVERSATIONS_REFRESHED]
        )
        for conversation in conversations:
            realtime.conversation_changed(conversation, "conversation.updated")
