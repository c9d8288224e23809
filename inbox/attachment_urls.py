from django.urls import path

from . import attachment_views

urlpatterns = [
    path("attachments/<int:message_id>/<int:index>/", attachment_views.download, name="attachment-download"),
    path("attachments/upload/<str:token>/", attachment_views.upload_preview, name="attachment-upload"),
    path("media/o/<str:token>/", attachment_views.public, name="attachment-public"),
]
