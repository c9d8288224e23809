"""What a campaign message says on each channel: personalisation, SMS footer, email unsubscribe.

Templates are in the inbox's template language (`inbox/conversations/templating.py`: a bounded
subset of Django's templates, shared with macro replies) rendered from a string with autoescape off and a context of plain values only
(no model instances: a template may not walk relations or call methods on rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_lazy

from customers.language import LANGUAGE_CODES, language_normalize
from customers.models import Channel, Customer, CustomerEvent, Order
from inbox import sms
from inbox.conversations import templating as sandbox
from inbox.conversations.templating import TemplateRefused as TemplateInvalid

__all__ = ["TemplateInvalid"]

# In the language of the message it ends (the customer's: campaigns/services.py); STOP stays STOP,
# the keyword carriers and inbox/conversations/receive.py act on.
STOP_FOOTER = gettext_lazy("Reply STOP to opt out")
UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
_STOP_RE = re.compile(r"\bSTOP\b")

# What a preview without a customer, and the check of a saved campaign, render with.
SAMPLE_ORDER = {"number": "1001", "total": "59.00", "currency": "USD", "tracking_number": "", "tracking_url": "",
                "status": ""}


def sample_context() -> dict:
    context = context_for(customer=Customer(name="Jane Doe", email="jane@example.com", phone="+15555550100"))
    context["order"] = dict(SAMPLE_ORDER)
    return context


def for_language(text: str, subject: str, translations: dict | None, language: str) -> tuple[str, str, str]:
    """(text, subject, language) of a campaign for a customer of `language`: its translation when one
    is written for that language, else the campaign's own text and subject ("" language)."""
    written = (translations or {}).get(language) if language else None
    if isinstance(written, dict) and str(written.get("text") or "").strip():
        return str(written["text"]), str(written.get("subject") or subject), language
    return text, subject, ""


def translations_validate(value: object, *, channel: str) -> dict:
    """{"fr": {"text", "subject"?}, "el": {...}}: known languages, each text in the campaign
    language (checked as the campaign's own), an email's with a subject."""
    if value in (None, {}):
        return {}
    if not isinstance(value, dict):
        raise ValidationError('translations must be an object like {"fr": {"text": "...", "subject": "..."}}')
    cleaned = {}
    for code, entry in value.items():
        if language_normalize(code) != code:
            raise ValidationError(f"translations: {code!r} is not one of the languages {', '.join(LANGUAGE_CODES)}")
        if not isinstance(entry, dict) or set(entry) - {"text", "subject"}:
            raise ValidationError(f"translations.{code} must be an object {{text, subject}}")
        text, subject = entry.get("text", ""), entry.get("subject", "")
        if not isinstance(text, str) or not text.strip() or not isinstance(subject, str):
            raise ValidationError(f"translations.{code}.text is required (and subject is a string)")
        if len(text) > 5000 or len(subject) > 300:
            raise ValidationError(f"translations.{code}: text at most 5000 characters, subject at most 300")
        if channel == Channel.EMAIL and not subject.strip():
            raise ValidationError(f"translations.{code}: an email campaign needs a subject in each language")
        template_check(text)
        if subject:
            template_check(subject)
        cleaned[code] = {"text": text, **({"subject": subject} if subject else {})}
    return cleaned


def template_check(text: str) -> None:
    """TemplateInvalid unless `text` is in the campaign language and renders within its bounds
    (tried with a sample customer and order)."""
    sandbox.render(text, sample_context())


def event_order(*, customer: Customer, properties: dict) -> Order | None:
    """The order an event's `order_id` names, only when it is this customer's."""
    order_id = properties.get("order_id")
    if not isinstance(order_id, int) or isinstance(order_id, bool):
        return None
    return Order.objects.filter(pk=order_id, customer_id=customer.pk).first()


def context_for(*, customer: Customer, event: CustomerEvent | None = None, order: Order | None = None) -> dict:
    name = (customer.name or "").strip()
    first, _, last = name.partition(" ")
    properties = dict(event.properties) if event is not None and isinstance(event.properties, dict) else {}
    if order is None and customer.pk is not None:
        order = event_order(customer=customer, properties=properties)
    context = {
        "customer": {"first_name": first, "last_name": last, "name": name, "email": customer.email, "phone": customer.phone},
        "event": {"name": event.name if event else "", "properties": properties},
        "order": {},
    }
    if order is not None:
        context["order"] = {
            "number": order.number,
            "total": str(order.total),
            "currency": order.currency,
            "tracking_number": order.tracking_number,
            "tracking_url": order.tracking_url,
            "status": order.fulfillment_status,
        }
    return context


def render(text: str, context: dict) -> str:
    return sandbox.render(text, context).strip()


def sms_finalise(text: str, *, marketing: bool) -> str:
    """Marketing SMS must say how to opt out (CTIA); add it when the author did not."""
    if marketing and not _STOP_RE.search(text):
        text = f"{text.rstrip()}\n{STOP_FOOTER}"
    return text


@dataclass
class SmsCheck:
    segments: int
    encoding: str
    characters: int
    warnings: list[str] = field(default_factory=list)


def sms_check(text: str, *, marketing: bool = True) -> SmsCheck:
    final = sms_finalise(text, marketing=marketing)
    info = sms.segments(final)
    warnings = []
    if info.segments > 1:
        warnings.append(f"This text costs {info.segments} SMS segments ({info.encoding}); one segment is {sms.SINGLE[info.encoding]} characters.")
    if info.too_long:
        warnings.append(f"SMS allows at most {sms.MAX_CHARACTERS} characters.")
    return SmsCheck(info.segments, info.encoding, info.characters, warnings)


# --- Email unsubscribe (RFC 8058) ------------------------------------------------------------------


def unsubscribe_token(*, customer_id: int, campaign_id: int | None = None) -> str:
    return signing.dumps({"c": customer_id, "k": campaign_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_read(token: str) -> dict:
    """The signed payload; signing.BadSignature when forged or altered. Tokens do not expire:
    an unsubscribe link in an old email must keep working."""
    return signing.loads(token, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(*, customer_id: int, campaign_id: int | None = None) -> str:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/u/{unsubscribe_token(customer_id=customer_id, campaign_id=campaign_id)}/"


def email_extras(*, customer_id: int, campaign_id: int) -> tuple[str, dict]:
    """The body footer and the headers a marketing email carries."""
    url = unsubscribe_url(customer_id=customer_id, campaign_id=campaign_id)
    footer = "\n\n--\n" + gettext("Unsubscribe: %(url)s") % {"url": url}
    headers = {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return footer, headers


def compose(*, channel: str, text: str, marketing: bool, customer_id: int, campaign_id: int) -> tuple[str, dict]:
    """(final text, payload for reply_send) for one recipient."""
    payload: dict = {"campaign": campaign_id}
    if channel == Channel.SMS:
        text = sms_finalise(text, marketing=marketing)
    elif channel == Channel.EMAIL and marketing:
        footer, headers = email_extras(customer_id=customer_id, campaign_id=campaign_id)
        text += footer
        payload["email_headers"] = headers
    return text, payload
