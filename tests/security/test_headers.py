"""Security headers on pages and API answers: CSP, Referrer-Policy, nosniff, X-Frame-Options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _assert_security_headers(response) -> None:
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "connect-src 'self' ws: wss:" in csp
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_a_page_carries_the_security_headers(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    _assert_security_headers(response)


def test_the_agent_inbox_carries_the_security_headers(client, bob):
    client.force_login(bob)
    response = client.get("/")
    assert response.status_code == 200
    _assert_security_headers(response)


def test_an_api_answer_carries_the_security_headers(api, bob):
    response = api(bob).get("/api/v1/conversations/")
    assert response.status_code == 200
    _assert_security_headers(response)


def test_an_api_error_carries_them_too(client):
    response = client.get("/api/v1/conversations/")
    assert response.status_code in (401, 403)
    _assert_security_headers(response)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_pages_carry_the_security_headers_too(client, path):
    """No page is exempt (tests/security/test_api_docs_pages.py has the rest)."""
    response = client.get(path)
    assert response.status_code == 200
    _assert_security_headers(response)


# The pages the policy covers must not rely on inline script or style: the browser would drop them.
KNOWN_INLINE: set[str] = set()


def test_templates_have_no_inline_scripts_styles_or_event_handlers():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        name = str(template.relative_to(TEMPLATES))
        text = template.read_text()
        inline_script = re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text)
        inline_style = re.search(r"<style\b|\sstyle=\"", text)
        handler = re.search(r"\son[a-z]+=\"", text)
        if (inline_script or inline_style or handler) and name not in KNOWN_INLINE:
            offenders.append(name)
    assert offenders == []
