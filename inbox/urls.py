"""Webhook URLs (mounted at /webhooks/ by the project); the pages and the API have their own."""

from django.urls import path

from inbox.intake import webhooks

webhook_urlpatterns = [
    path("meta/", webhooks.meta, name="webhook-meta"),
    path("twilio/sms/", webhooks.twilio_sms, name="webhook-twilio-sms"),
    path("twilio/status/", webhooks.twilio_status, name="webhook-twilio-status"),
    path("shopify/", webhooks.shopify, name="webhook-shopify"),
]
