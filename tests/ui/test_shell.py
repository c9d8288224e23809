"""The app shell on every page: navigation by role, the error pages inside it, and accessibility
(axe-core from npm, served as a static file, run in Chromium on each main page)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import override_settings

from inbox.models import Role
from tests.conftest import make_user
from tests.ui.test_browser import log_in
from tests.ui.test_pages import customer_writes, note_add

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "static" / "vendor" / "axe-core" / "axe.min.js"
SECTIONS = {"Inbox": "/", "Customers": "/customers/import/", "Campaigns": "/campaigns/", "Reports": "/dashboard/", "Admin": "/admin/"}


def nav_links(html: str) -> dict[str, str]:
    nav = re.search(r'<nav aria-label="Main"[^>]*>(.*?)</nav>', html, re.S)
    assert nav, "no Main navigation landmark"
    return {text.strip(): href for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.group(1))}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "role", "sections"),
    [
        ("bob", Role.AGENT, ["Inbox", "Campaigns"]),
        ("dana", Role.LEAD, ["Inbox", "Campaigns", "Reports"]),
        ("alice", Role.MANAGER, ["Inbox", "Customers", "Campaigns", "Reports"]),
        ("root", Role.ADMIN, ["Inbox", "Customers", "Campaigns", "Reports", "Admin"]),
    ],
)
def test_the_navigation_offers_each_role_exactly_the_sections_it_may_open(client, team_a, who, role, sections):
    user = make_user(who, role, [team_a])
    client.force_login(user)
    links = nav_links(client.get("/").content.decode())
    assert list(links) == sections
    for name, path in SECTIONS.items():
        status = client.get(path).status_code
        if name in links:
            assert links[name] == path and status == 200, (name, status)
        else:
            assert status in (302, 403, 404), (name, status)  # offered to no one who would be refused


@pytest.mark.django_db
def test_every_signed_in_page_has_the_shell_with_a_logout_form_and_the_favicon(client, alice):
    client.force_login(alice)
    for path in ("/", "/dashboard/", "/campaigns/", "/customers/import/"):
        html = client.get(path).content.decode()
        assert '<nav aria-label="Main"' in html, path
        assert re.search(r'<form method="post" action="/accounts/logout/"[^>]*>\s*<input type="hidden" name="csrfmiddlewaretoken"', html), path
        assert 'rel="icon" href="/static/app/favicon.svg"' in html, path
        assert 'id="availability"' in html and 'id="bell-button"' in html, path
        assert "Back to the inbox" in html or path == "/", path
        for tag in re.findall(r"<script[^>]*>", html):
            # Code from files only: static ones and the translations' catalog (/jsi18n/).
            assert 'src="/static/' in tag or 'src="/jsi18n/' in tag or 'type="application/json"' in tag, (path, tag)
    assert 'aria-current="page">Reports' in client.get("/dashboard/").content.decode()


@pytest.mark.django_db
def test_the_login_page_is_in_the_shell_without_navigation(client):
    html = client.get("/accounts/login/").content.decode()
    assert 'class="app-header"' in html and "<nav" not in html


@pytest.mark.django_db
def test_a_forbidden_page_answers_403_in_the_shell_with_the_servers_sentence(client, bob):
    client.force_login(bob)
    response = client.get("/dashboard/")
    assert response.status_code == 403
    html = response.content.decode()
    assert '<nav aria-label="Main"' in html
    assert "Dashboards are for leads, managers and admins." in html


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_an_unknown_page_and_a_hidden_conversation_answer_404_in_the_shell(client, charlie, messenger_inbox):
    conversation = customer_writes(messenger_inbox, "2467001", "Where is my parcel?").conversation
    client.force_login(charlie)
    for path in ("/no-such-page/", f"/conversations/{conversation.pk}/"):
        response = client.get(path)
        assert response.status_code == 404
        html = response.content.decode()
        assert '<nav aria-label="Main"' in html and "There is nothing here" in html, path
        assert "Resolver404" not in html and "Http404" not in html


def test_the_server_error_page_needs_no_request_context():
    from django.template import loader

    html = loader.get_template("500.html").render()
    assert "Something went wrong on our side" in html and "<nav" not in html


# --- In Chromium -----------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_the_browser_the_error_page_sits_in_the_shell_and_leads_back(browser_context, bob):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    response = page.goto("/dashboard/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Your account cannot open this page")).to_be_visible()
    expect(page.get_by_text("Dashboards are for leads, managers and admins.")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Inbox", "Campaigns"])
    page.get_by_role("link", name="Back to the inbox").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_role("list", name="Conversations")).to_be_attached()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_the_browser_a_manager_moves_between_sections_through_the_navigation(browser_context, alice):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "alice")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Inbox", "Customers", "Campaigns", "Reports"])
    for name, heading in (("Campaigns", "Campaigns"), ("Customers", "Import customers and orders"), ("Reports", "Responsiveness")):
        nav.get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        expect(nav.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")
    nav.get_by_role("link", name="Inbox").click()
    expect(page.get_by_role("list", name="Conversations")).to_be_attached()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_availability_switch_saves_the_agents_availability(browser_context, bob):
    from playwright.sync_api import expect

    from inbox.models import Agent

    page = browser_context().new_page()
    log_in(page, "bob")
    switch = page.get_by_label("Availability")
    switch.select_option("busy")
    page.wait_for_function("() => !document.getElementById('availability').hasAttribute('aria-busy')")
    assert Agent.objects.get(user=bob).availability == "busy"
    page.reload()
    expect(page.get_by_label("Availability")).to_have_value("busy")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_bell_counts_unread_mentions_and_marks_them_read(browser_context, alice, bob, messenger_inbox):
    from playwright.sync_api import expect

    from inbox.models import Notification

    conversation = customer_writes(messenger_inbox, "2467001", "Where is my parcel?").conversation
    note_add(conversation=conversation, author=alice, text="@bob can you check the warehouse?")
    assert Notification.objects.filter(user=bob, read_at=None).count() == 1
    page = browser_context().new_page()
    log_in(page, "bob")
    bell = page.get_by_role("button", name="Notifications, 1 unread")
    expect(bell).to_be_visible()
    bell.click()
    panel = page.get_by_role("region", name="Notifications")
    expect(panel).to_contain_text("alice mentioned you")
    panel.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_role("button", name="Notifications", exact=True)).to_be_visible()
    assert not Notification.objects.filter(user=bob, read_at=None).exists()


def _axe(page) -> list[dict]:
    """Serious and critical axe-core violations of the page as it is now."""
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")  # same origin: allowed by the CSP
    page.wait_for_function("() => window.axe !== undefined")
    results = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1440, 390])
def test_the_main_pages_have_no_serious_or_critical_accessibility_violations(browser_context, alice, messenger_inbox, sms_inbox, width):
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `make npm` (npm ci) first")
    from playwright.sync_api import expect

    conversation = customer_writes(messenger_inbox, "2467001", "Where is my parcel?").conversation
    customer_writes(sms_inbox, "+17067815146", "Do you have the navy one in M?")
    context = browser_context()
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, "alice")
    found = {}
    page.get_by_role("button", name="All", exact=True).click()
    expect(page.get_by_role("list", name="Conversations").get_by_role("listitem")).to_have_count(2)
    found["inbox"] = _axe(page)
    page.goto(f"/conversations/{conversation.pk}/")
    expect(page.get_by_role("list", name="Timeline")).to_contain_text("Where is my parcel?")
    expect(page.locator("#customer-name")).to_be_attached()
    found["conversation"] = _axe(page)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    found["shortcuts"] = _axe(page)
    for name, path in (("campaigns", "/campaigns/"), ("import", "/customers/import/")):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        found[name] = _axe(page)
    page.goto("/dashboard/")  # once, with its figures loaded (what a networkidle wait also gave)
    expect(page.locator("#badge-verdict")).not_to_have_text("Loading…")
    page.wait_for_load_state("networkidle")
    found["dashboard, figures loaded"] = _axe(page)
    failing = {name: v for name, v in found.items() if v}
    assert failing == {}, json.dumps(failing, indent=1)
