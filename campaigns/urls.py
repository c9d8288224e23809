"""Included at /api/v1/ (before inbox.api.urls; the prefixes do not overlap)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("campaigns", api.CampaignViewSet, basename="campaign")
router.register("autoresponders", api.AutoResponderViewSet, basename="autoresponder")

urlpatterns = [
    path("events/", api.EventView.as_view(), name="customer-event-create"),
    # Before the router: campaigns/audience/ and the like are not campaign ids.
    path("", include("campaigns.builder_urls")),
    *router.urls,
]
