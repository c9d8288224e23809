"""What a campaign message says on each channel: personalisation, SMS footer, email unsubscribe.

Templates are Django templates rendered from a string with autoescape off and a context of plain
values only (no model instances: a template may not walk relations or call methods on rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.template import Context, Engine, TemplateSyntaxError

from customers.models import Channel, Customer, CustomerEvent, Order
from inbox import sms

STOP_FOOTER = "Reply STOP to opt out"
UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
_STOP_RE = re.compile(r"\bSTOP\b")

# One engine, no loaders and no extra libraries: only built-in tags and filters.
_engine = Engine(autoescape=False, libraries={}, builtins=["django.template.defaulttags", "django.template.defaultfilters"])


class TemplateInvalid(ValueError):
    pass


def template_check(text: str) -> None:
    try:
        _engine.from_string(text)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"template error: {exc}") from None


def context_for(*, customer: Customer, event: CustomerEvent | None = None, order: Order | None = None) -> dict:
    name = (customer.name or "").strip()
    first, _, last = name.partition(" ")
    properties = dict(event.properties) if event is not None and isinstance(event.properties, dict) else {}
    if order is None and properties.get("order_id"):
        order = Order.objects.filter(pk=properties["order_id"]).first()
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
    try:
        template = _engine.from_string(text)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"template error: {exc}") from None
    return template.render(Context(context, autoescape=False)).strip()


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
    footer = f"\n\n--\nUnsubscribe: {url}"
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
