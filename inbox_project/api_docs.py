"""The browsable API docs (/api/docs/ Swagger UI, /api/redoc/ ReDoc) under the app's Content-Security-Policy.

Swagger UI and ReDoc come from drf-spectacular-sidecar's static files (SPECTACULAR_SETTINGS), never a CDN.
Swagger UI's start-up script is served as a file of its own (SpectacularSwaggerSplitView: `?script`), and
our templates drop drf-spectacular's inline <style> and ReDoc's web fonts, so script-src stays 'self'
with no 'unsafe-inline' on both pages, and Swagger UI's page takes the app's policy unchanged.

ReDoc styles itself with <style> elements it writes at run time, which a style-src of 'self' alone
blocks (ReDoc then shows only an error). They are always the same: empty ones that styled-components
fills through the CSSOM (which CSP does not govern), and perfect-scrollbar's fixed CSS. ReDoc's page
therefore carries the app's policy plus the hashes of exactly those two contents in style-src; no
'unsafe-inline', no nonce, and script-src untouched. Its other changes: worker-src blob: for its search
worker, and img-src without https: (see RedocDocsView). (ReDoc's own `nonce` option cannot help: browsers
hide a nonce attribute from scripts, and perfect-scrollbar's style is written before ReDoc starts.)
The second hash belongs to the pinned drf-spectacular-sidecar's ReDoc build; the browser test
tests/ui/test_api_docs_browser.py fails if an upgrade changes it (the console names the new hash).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response


def edit_policy(policy: str, directive: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> str:
    """`policy` with `add` added to and `remove` taken from `directive` (which starts from default-src's
    sources when the policy does not name it)."""
    directives = [d.split() for d in policy.split(";") if d.strip()]
    by_name = {d[0].lower(): d for d in directives}
    if directive not in by_name:
        by_name[directive] = [directive, *by_name.get("default-src", [None])[1:]]
        directives.append(by_name[directive])
    entry = by_name[directive]
    entry[1:] = [source for source in entry[1:] if source not in remove] + [s for s in add if s not in entry]
    return "; ".join(" ".join(d) for d in directives)


# The inline <style> contents ReDoc 2.5.4 (drf-spectacular-sidecar 2026.10.1) writes: see above.
REDOC_STYLE_HASHES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # "" (styled-components' empty <style>s)
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar's CSS and its source map
)


class SwaggerDocsView(SpectacularSwaggerSplitView):
    template_name = "api_docs/swagger_ui.html"


class RedocDocsView(SpectacularRedocView):
    template_name = "api_docs/redoc.html"

    @extend_schema(exclude=True)  # as the view it extends: the docs page is no API operation
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        if settings.CONTENT_SECURITY_POLICY:
            policy = edit_policy(settings.CONTENT_SECURITY_POLICY, "style-src", add=REDOC_STYLE_HASHES)
            # Its search index is built in a web worker it starts from a blob: URL.
            policy = edit_policy(policy, "worker-src", add=("blob:",))
            # Its side menu always shows Redocly's logo from Redocly's CDN: images from our origin only, so
            # the browser blocks it (ReDoc then hides it) and the page makes no request to another origin.
            response["Content-Security-Policy"] = edit_policy(policy, "img-src", remove=("https:", "http:"))
        return response
