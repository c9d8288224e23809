"""URLs of the agent workspace pages (the REST API and webhooks have their own)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.workspace, name="workspace"),
    path("conversations/<int:conversation_id>/", views.workspace, name="workspace-conversation"),
    path("conversations/<int:conversation_id>/timeline/", views.timeline, name="workspace-timeline"),
]
