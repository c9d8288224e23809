"""Included at /api/v1/ (before inbox.api.urls; the prefixes do not overlap)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("campaigns", api.CampaignViewSet, basename="campaign")
router.register("autoresponders", api.AutoResponderViewSet, basename="autoresponder")

urlpatterns = [
    path("events/", api.EventView.as_view(), name="customer-event-create"),
    *router.urls,
]
