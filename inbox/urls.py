from django.urls import path

from . import webhooks

webhook_urlpatterns = [
    path("meta/", webhooks.meta, name="webhook-meta"),
    path("twilio/sms/", webhooks.twilio_sms, name="webhook-twilio-sms"),
    path("twilio/status/", webhooks.twilio_status, name="webhook-twilio-status"),
]
