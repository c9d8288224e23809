"""The campaign builder's API routes (campaigns/builder_api.py), included before the router's."""

from django.urls import path

from . import builder_api as views

urlpatterns = [
    path("campaigns/audience/", views.AudienceView.as_view(), name="campaign-audience-breakdown"),
    path("campaigns/events/", views.EventsView.as_view(), name="campaign-events"),
    path("campaigns/test-send/", views.TestSendView.as_view(), name="campaign-test-send"),
    path("campaigns/<int:pk>/resume/", views.ResumeView.as_view(), name="campaign-resume"),
    path("campaigns/<int:pk>/cancel/", views.CancelView.as_view(), name="campaign-cancel"),
    path("campaigns/<int:pk>/results/", views.ResultsView.as_view(), name="campaign-results"),
]
