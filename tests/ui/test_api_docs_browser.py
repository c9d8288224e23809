"""The API docs pages (Swagger UI at /api/docs/, ReDoc at /api/redoc/) in headless Chromium, under the
app's Content-Security-Policy: they render the operations, fetch nothing from another origin, and
break no CSP rule (the one exception: ReDoc's Redocly logo, which its page's policy blocks on purpose)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every CSP violation, whether or not the browser also logs it to the console.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


class DocsPage:
    def __init__(self, browser_context, base_url: str, path: str):
        self.base_url = base_url
        self.page = browser_context().new_page()
        self.page.add_init_script(RECORD_VIOLATIONS)
        self.console: list[str] = []
        self.requests: list[str] = []
        self.failed: dict[str, str] = {}
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failed.__setitem__(r.url, r.failure))
        self.response = self.page.goto(path)

    def assert_clean(self, blocked_images: tuple[str, ...] = ()) -> None:
        csp = self.response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert self.page.evaluate("window.__cspViolations") == [f"img-src {url}" for url in blocked_images]
        errors = [line for line in self.console if line.startswith("error") or "Content Security Policy" in line]
        assert [line for line in errors if not any(url in line for url in blocked_images)] == []
        # Only our own origin (and blob: for ReDoc's search worker); a blocked image never left the browser.
        foreign = {url for url in self.requests if not url.startswith((self.base_url + "/", "blob:", "data:"))}
        assert foreign == set(blocked_images)
        assert self.failed == {url: "csp" for url in blocked_images}  # Chromium: blocked by CSP


def test_swagger_ui_lists_and_opens_the_operations_under_the_csp(browser_context, daphne_server):
    from playwright.sync_api import expect

    docs = DocsPage(browser_context, daphne_server, "/api/docs/")
    assert docs.response.status == 200
    page = docs.page
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Social inbox API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/conversations/" in paths, paths
    assert not any(p.startswith(("/api/docs", "/api/redoc", "/api/schema")) for p in paths)
    # An operation opens: Swagger UI's start-up script (served as a file) ran, not only its first paint.
    page.locator(".opblock-summary", has_text="/api/v1/conversations/").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    # No online validator: on a public host Swagger UI would load its badge from validator.swagger.io.
    assert page.evaluate("ui.getConfigs().validatorUrl") is None
    # Its stylesheet applied (from our static files).
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(250, 250, 250)"
    docs.assert_clean()


def test_redoc_lists_and_searches_the_operations_under_the_csp(browser_context, daphne_server):
    from playwright.sync_api import expect

    docs = DocsPage(browser_context, daphne_server, "/api/redoc/")
    assert docs.response.status == 200
    page = docs.page
    expect(page.locator("h1", has_text="Social inbox API")).to_be_visible()
    expect(page.get_by_text("/api/v1/conversations/").first).to_be_attached()
    # The search runs in ReDoc's web worker (worker-src blob:).
    page.get_by_placeholder("Search...").fill("private note")
    expect(page.get_by_role("search").get_by_role("menuitem", name="Add a private note")).to_be_visible()
    # Styled by ReDoc's run-time styles (hash-allowed <style> elements), not the browser's defaults.
    assert page.evaluate("getComputedStyle(document.querySelector('.menu-content')).display") == "flex"
    docs.assert_clean(blocked_images=(REDOCLY_LOGO,))
