"""The API docs pages (/api/docs/ Swagger UI, /api/redoc/ ReDoc) under the Content-Security-Policy, with
Swagger UI and ReDoc served from our static files (drf-spectacular-sidecar), never from a CDN.

What they look like in a browser under that policy: tests/ui/test_api_docs_browser.py.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

from inbox_project.api_docs import REDOC_STYLE_HASHES, edit_policy
from tests.security.test_headers import _assert_security_headers

pytestmark = pytest.mark.django_db

PAGES = ["/api/docs/", "/api/redoc/"]
REFERENCE = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]*)\"""")


def _directive(csp: str, name: str) -> list[str]:
    for directive in csp.split(";"):
        parts = directive.split()
        if parts and parts[0] == name:
            return parts[1:]
    raise AssertionError(f"{name} is not in {csp!r}")


def _references(html: str) -> list[str]:
    return [url for url in REFERENCE.findall(html) if not url.startswith("data:")]


@pytest.mark.parametrize("path", PAGES)
def test_a_docs_page_answers_with_the_security_headers_and_no_inline_code(client, path):
    response = client.get(path)
    assert response.status_code == 200
    _assert_security_headers(response)
    html = response.content.decode()
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None  # no inline script
    assert re.search(r"<style\b|\sstyle=\"|\son[a-z]+=\"", html) is None  # no inline style or handler


@pytest.mark.parametrize("path", PAGES)
def test_a_docs_page_references_no_other_origin(client, path):
    html = client.get(path).content.decode()
    assert re.search(r"https?:|//[a-z0-9]|jsdelivr|unpkg|cdn", html, re.IGNORECASE) is None, html
    references = _references(html)
    assert references and all(url.startswith("/") for url in references), references


def test_swagger_ui_takes_the_apps_policy_unchanged(client):
    response = client.get("/api/docs/")
    assert response["Content-Security-Policy"] == django_settings.CONTENT_SECURITY_POLICY


def test_redoc_adds_only_its_style_hashes_and_blob_worker_and_narrows_images(client):
    csp = client.get("/api/redoc/")["Content-Security-Policy"]
    app = django_settings.CONTENT_SECURITY_POLICY
    assert _directive(csp, "script-src") == _directive(app, "script-src") == ["'self'"]
    assert _directive(csp, "style-src") == ["'self'", *REDOC_STYLE_HASHES]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert _directive(csp, "worker-src") == ["'self'", "blob:"]
    assert _directive(csp, "img-src") == ["'self'", "data:"]  # Redocly's logo from its CDN is blocked
    for name in ("default-src", "connect-src", "frame-ancestors", "object-src", "base-uri", "form-action"):
        assert _directive(csp, name) == _directive(app, name)


def test_swagger_uis_start_up_script_is_a_file_of_its_own(client):
    html = client.get("/api/docs/").content.decode()
    scripts = re.findall(r'<script src="([^"]*)"', html)
    assert "/api/docs/?script=" in scripts
    response = client.get("/api/docs/?script=")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    body = response.content.decode()
    assert "SwaggerUIBundle(" in body and '"/api/schema/"' in body
    # Swagger UI would otherwise load a badge from validator.swagger.io, naming our schema's URL.
    assert '"validatorUrl": null' in body


@pytest.mark.parametrize("path", PAGES)
def test_the_assets_a_docs_page_references_exist_and_are_served(client, settings, path):
    """From the finders, as in development and as daphne serves them in the browser tests."""
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    html = client.get(path).content.decode()
    assets = [url for url in _references(html) if url.startswith(settings.STATIC_URL)]
    assert any("drf_spectacular_sidecar/" in url for url in assets), assets
    served = Client()  # a new handler: WhiteNoise reads the settings above
    for url in assets:
        assert finders.find(url.removeprefix(settings.STATIC_URL)) is not None, url
        response = served.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content), url


def test_in_production_the_pages_reference_collected_hashed_assets_that_whitenoise_serves(settings, tmp_path):
    """collectstatic with the production storage (hashed names, compressed), then served from STATIC_ROOT."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    call_command("collectstatic", interactive=False, verbosity=0)
    client = Client()
    for path in PAGES:
        html = client.get(path).content.decode()
        assets = [url for url in _references(html) if url.startswith(settings.STATIC_URL)]
        assert assets and all(re.search(r"\.[0-9a-f]{12}\.(js|css|png)$", url) for url in assets), assets
        for url in assets:
            response = client.get(url)
            assert response.status_code == 200, url
            assert "immutable" in response["Cache-Control"], url


def test_the_docs_pages_are_not_api_operations_in_the_schema(api, admin_user):
    paths = api(admin_user).get("/api/schema/?format=json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/api/docs", "/api/redoc"))]


def test_swagger_ui_and_redoc_come_from_the_sidecar_package():
    spectacular = django_settings.SPECTACULAR_SETTINGS
    assert spectacular["SWAGGER_UI_DIST"] == spectacular["SWAGGER_UI_FAVICON_HREF"] == "SIDECAR"
    assert spectacular["REDOC_DIST"] == "SIDECAR"
    assert "drf_spectacular_sidecar" in django_settings.INSTALLED_APPS


def test_edit_policy_adds_to_removes_from_or_creates_a_directive():
    policy = "default-src 'self'; img-src 'self' data: https:; style-src 'self'"
    assert edit_policy(policy, "style-src", add=("'sha256-x'",)) == (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'sha256-x'"
    )
    assert (
        edit_policy(policy, "img-src", remove=("https:",))
        == "default-src 'self'; img-src 'self' data:; style-src 'self'"
    )
    assert edit_policy(policy, "worker-src", add=("blob:",)) == policy + "; worker-src 'self' blob:"
    assert edit_policy("script-src 'self'", "worker-src", add=("blob:",)) == "script-src 'self'; worker-src blob:"
    assert edit_policy(policy, "style-src", add=("'self'",)) == policy  # no duplicates
