from django.urls import path

from inbox.realtime.consumers import InboxConsumer

websocket_urlpatterns: list = [
    path("ws/inbox/", InboxConsumer.as_asgi()),  # type: ignore[arg-type]  # an ASGI app, for channels' URLRouter
]
