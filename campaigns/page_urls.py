"""Browser pages: the campaigns (campaigns/builder_views.py) and the one-click unsubscribe at /u/<token>/."""

from django.urls import path

from . import builder_views, views

urlpatterns = [
    path("campaigns/", builder_views.campaigns_list, name="campaigns"),
    path("campaigns/new/", builder_views.campaign_new, name="campaign-new"),
    path("campaigns/automation/", builder_views.automation_page, name="campaign-automation"),
    path("campaigns/<int:pk>/", builder_views.campaign_page, name="campaign-page"),
    path("u/<str:token>/", views.unsubscribe_page, name="unsubscribe"),
]
