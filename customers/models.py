"""Customers, their identities on each channel, consent, and orders.

This app knows nothing of conversations: the inbox app imports it, never the other way round.
"""

from __future__ import annotations

from django.db import models

from .language import LANGUAGE_CHOICES


class Channel(models.TextChoices):
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class Label(models.Model):
    """A tag an agent puts on a customer or a conversation ("vip", "refund")."""

    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    name = models.CharField(max_length=200, blank=True)
    # Best known contact details, copied from verified identities for display and lookup.
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=20, blank=True, db_index=True)
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA zone, e.g. Europe/Paris")
    # The language automated messages go out in (customers/language.py): an agent's choice, else what
    # a provider said (Meta's profile locale, an email's Content-Language); blank: the inbox's default.
    language = models.CharField(max_length=8, blank=True, default="", choices=LANGUAGE_CHOICES)
    labels = models.ManyToManyField(Label, blank=True, related_name="customers")
    notes = models.TextField(blank=True)
    # Set when this customer was merged into another: kept so old links resolve.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.display_name(self.name, self.email, self.phone, self.pk)

    @staticmethod
    def display_name(name: str, email: str, phone: str, pk: int | None) -> str:
        """How lists and frames name a customer: the name, else the email, else the phone."""
        return name or email or phone or f"Customer {pk}"


class Identity(models.Model):
    """One way to reach a customer: a PSID, an IGSID, an E.164 phone number, or an email address.

    PSIDs and IGSIDs are scoped to the page/account that received them, hence `scope`.
    Phone numbers and emails are global (scope "").
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    scope = models.CharField(max_length=64, blank=True, default="")
    external_id = models.CharField(max_length=320)
    display_name = models.CharField(max_length=200, blank=True)
    # Verified: the provider vouches for it (a phone that texted us, a mailbox that wrote to us).
    verified = models.BooleanField(default=True)
    # Last time the provider was asked for this person's profile (Meta's User Profile API), whatever
    # the answer: a nameless identity is asked again only after a while, not on every message.
    profile_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "scope", "external_id"], name="identity_unique_per_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id}"


class ConsentPurpose(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional"
    MARKETING = "marketing", "Marketing"


class ConsentEvent(models.Model):
    """Append-only consent ledger: the latest row per (customer, channel, purpose) is the state."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    purpose = models.CharField(max_length=16, choices=ConsentPurpose.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=64, help_text="e.g. sms_keyword, api, checkout, email_unsubscribe")
    proof = models.JSONField(default=dict, blank=True, help_text="What was seen: keyword, message id, IP…")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "channel", "purpose", "-created_at"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose}: {'granted' if self.granted else 'withdrawn'}"


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    source = models.CharField(max_length=16, default="shopify")
    external_id = models.CharField(max_length=64)
    number = models.CharField(max_length=32, db_index=True, help_text="Shown to customers, e.g. 1042")
    currency = models.CharField(max_length=3, default="USD")
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    financial_status = models.CharField(max_length=32, blank=True)
    fulfillment_status = models.CharField(max_length=32, blank=True)
    tracking_number = models.CharField(max_length=128, blank=True)
    tracking_url = models.URLField(max_length=500, blank=True)
    # The carrier's word on the latest shipment (Shopify's shipment_status: in_transit, delivered…).
    shipment_status = models.CharField(max_length=32, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    placed_at = models.DateTimeField()
    # The provider's updated_at: a webhook older than what we hold is ignored.
    source_updated_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="order_unique_external")]
        indexes = [models.Index(fields=["customer", "-placed_at"])]
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return f"#{self.number}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=255)
    sku = models.CharField(max_length=64, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    price = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    def __str__(self) -> str:
        return f"{self.quantity} × {self.title}"


class MergeRecord(models.Model):
    """Audit of a customer merge: what moved where, kept after the source is gone."""

    kept = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="merges")
    merged_customer_id = models.BigIntegerField()
    merged_snapshot = models.JSONField(default=dict)
    by = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


    def __str__(self) -> str:
        return f"Customer {self.merged_customer_id} merged into {self.kept_id}"


class OrderRefund(models.Model):
    """A refund on an order; its provider id makes a replayed or re-listed refund count once."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="refunds")
    external_id = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "external_id"], name="order_refund_unique_external")]

    def __str__(self) -> str:
        return f"Refund {self.external_id} ({self.amount})"


class WebhookReceipt(models.Model):
    """A commerce webhook already handled: (source, webhook_id) is unique, so a replay does nothing."""

    source = models.CharField(max_length=16, default="shopify")
    webhook_id = models.CharField(max_length=255)
    topic = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "webhook_id"], name="webhook_receipt_unique")]

    def __str__(self) -> str:
        return f"{self.source} {self.topic} {self.webhook_id}"


class CustomerEvent(models.Model):
    """Something a customer did or that happened to them ("order.created"); campaigns trigger on these."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=64, db_index=True)
    properties = models.JSONField(default=dict, blank=True)
    # Set for events derived from provider data ("order.shipped:shopify:123") so a replay or a
    # re-sent state publishes the event once; blank for free-form events.
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=~models.Q(dedupe_key=""), name="customer_event_unique_dedupe"
            ),
        ]
        indexes = [models.Index(fields=["customer", "-created_at"], name="customer_event_recent")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} (customer {self.customer_id})"


class ErasureRecord(models.Model):
    """Audit of an erasure: who erased which customer id when, and how much; no personal data."""

    customer_id = models.BigIntegerField(db_index=True)
    by = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    summary = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Erasure of customer {self.customer_id}"
