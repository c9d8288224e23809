"""URLs of the agent workspace pages (the REST API and webhooks have their own)."""

from django.urls import path

from . import live_views, views

urlpatterns = [
    path("", views.workspace, name="workspace"),
    path("conversations/<int:conversation_id>/", views.workspace, name="workspace-conversation"),
    path("conversations/<int:conversation_id>/timeline/", views.timeline, name="workspace-timeline"),
    path("live/<int:inbox_id>/", live_views.live_comments, name="live-comments"),
]
