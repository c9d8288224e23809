"""URLs of the server-rendered pages and the files behind them (the REST API and webhooks have their own)."""

from django.urls import path

from inbox.pages import attachments, csat, dashboard, live, reports, workspace

urlpatterns = [
    path("", workspace.workspace, name="workspace"),
    path("conversations/<int:conversation_id>/", workspace.workspace, name="workspace-conversation"),
    path("conversations/<int:conversation_id>/timeline/", workspace.timeline, name="workspace-timeline"),
    path("live/<int:inbox_id>/", live.live_comments, name="live-comments"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("reports/", reports.reports_index, name="reports"),
    path("reports/<slug:name>/", reports.report_page, name="report"),
    path("attachments/<int:message_id>/<int:index>/", attachments.download, name="attachment-download"),
    path("attachments/upload/<str:token>/", attachments.upload_preview, name="attachment-upload"),
    path("media/o/<str:token>/", attachments.public, name="attachment-public"),
    path("csat/<str:token>/", csat.rate, name="csat-rate"),
]
