"""Browser pages: /campaigns/ and the one-click unsubscribe at /u/<token>/."""

from django.urls import path

from . import views

urlpatterns = [
    path("campaigns/", views.campaigns_page, name="campaigns"),
    path("u/<str:token>/", views.unsubscribe_page, name="unsubscribe"),
]
