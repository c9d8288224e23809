"""One ASGI entry point: HTTP (the whole Django app) and the /ws/inbox/ WebSocket."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox_project.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from inbox.realtime.routing import websocket_urlpatterns  # noqa: E402
from inbox_project.origins import AppOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Only the app's own origins (scheme, host and port) may open a socket: inbox_project/origins.py.
        "websocket": AppOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
