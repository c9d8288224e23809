"""Every report page in headless Chromium, on a phone (390×844) and a desktop (1440×900): figures
with their meaning on hover and their change, a chart per dataset with axes and a table of the same
figures, the table paged and sorted, the CSV link following the filters, a drill-down into the
conversations behind a row, and nothing wider than the screen. Screenshots go to
$REPORT_SCREENSHOTS (default: the test's temporary folder)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from customers.services import labels_for
from inbox.models import Conversation
from inbox.reports.builders import REPORTS
from tests.reports.factories import agent_replies, customer_writes, order, resolve
from tests.ui.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}


def midday(days_ago: int) -> datetime:
    """Noon (UTC) `days_ago` days back — but never later than an hour ago. The live server's periods end
    now (the dashboard's breakers list: the 7 days before now), so "today at noon" seeded before noon
    would be a message from the future, outside the list while the whole-day figures count it."""
    noon = datetime.combine(timezone.now().astimezone(UTC).date() - timedelta(days=days_ago), time(12), UTC)
    return min(noon, timezone.now() - timedelta(hours=1))


@pytest.fixture
def shop(bob, messenger_inbox, sms_inbox):
    for i in range(14):
        inbox = messenger_inbox if i % 2 else sms_inbox
        who = f"p{i}" if inbox is messenger_inbox else f"+1415555{i:04d}"
        message = customer_writes(inbox, who, midday(i % 7) - timedelta(hours=i))
        if i % 5:
            agent_replies(message, bob, timedelta(minutes=3 * i + 1))
        if i % 3 == 0:
            resolve(message, after=timedelta(hours=i + 1))
        Conversation.objects.get(pk=message.conversation_id).labels.set(labels_for([f"reason {i % 4}", "shipping"][: 1 + i % 2]))
        if i % 4 == 0:
            order(Conversation.objects.get(pk=message.conversation_id).customer, message.created_at + timedelta(hours=5))
    return messenger_inbox


def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("REPORT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_report_reads_at_a_glance_on_a_phone_and_a_desktop(browser_context, alice, shop, viewport, tmp_path):
    from playwright.sync_api import expect

    context = browser_context()
    page = context.new_page()
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, "alice")
    folder = screenshots(tmp_path)
    for name, spec in REPORTS.items():
        page.goto(f"/reports/{name}/")
        expect(page.get_by_role("heading", level=1)).to_have_text(str(spec["title"]))
        expect(page.get_by_role("navigation", name="Reports").get_by_role("link", name=spec["title"])).to_have_attribute(
            "aria-current", "page")
        status = page.locator("#report-status")
        expect(status).not_to_have_text("Loading…")
        expect(status).not_to_contain_text("Could not")
        figures = page.locator("#figures .figure")
        if name != "sla-achievement":
            expect(figures.first).to_be_visible()
            first = figures.first
            first.hover()
            expect(first.locator(".explain")).to_be_visible()
            assert len(first.locator(".explain").inner_text()) > 20
            expect(first.locator(".figure-change")).to_contain_text("previous")
            charts = page.locator("#charts .chart-card")
            expect(charts.first.locator("canvas")).to_be_visible()
            assert page.evaluate("() => Boolean(window.Chart)")
            charts.first.get_by_text("Show as a table").click()
            expect(charts.first.locator("table.chart-table tbody tr").first).to_be_visible()
            expect(page.locator("#report-table thead th").first).to_be_visible()
        assert f"/api/v1/reports/{name}.csv" in page.locator("#export").get_attribute("href")
        # Nothing wider than the screen: wide tables scroll inside their own region.
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        page.screenshot(path=str(folder / f"report-{name}-{viewport}.png"), full_page=True)


def test_a_report_table_sorts_pages_filters_the_csv_and_drills_down_to_conversations(browser_context, alice, shop):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "alice")
    page.goto("/reports/first-response/")
    table = page.locator("#report-table")
    expect(table.locator("tbody tr")).to_have_count(7)
    header = table.get_by_role("button", name="Customer messages")
    header.click()
    expect(table.locator("thead th").nth(1)).to_have_attribute("aria-sort", "ascending")
    header.click()
    expect(table.locator("thead th").nth(1)).to_have_attribute("aria-sort", "descending")
    counts = [int(t) for t in table.locator("tbody tr td:nth-child(2)").all_inner_texts()]
    assert counts == sorted(counts, reverse=True)

    page.locator("#filters select[name=days]").select_option("7")
    expect(page.locator("#export")).to_have_attribute("href", "/api/v1/reports/first-response.csv?days=7&sort=-conversations")

    row = table.locator("tbody tr").filter(has_text="not answered")
    row.get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("conversation")
    link = dialog.get_by_role("link").first
    assert link.get_attribute("href").startswith("/conversations/")

    page.goto("/reports/volume/")
    expect(page.locator("#page-state")).to_contain_text("Page 1 of")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_dashboard_has_a_readable_trend_a_heatmap_legend_explained_figures_and_a_paged_breakers_list(
    browser_context, alice, bob, messenger_inbox, viewport, tmp_path,
):
    from playwright.sync_api import expect

    for i in range(24):  # never answered: each breaks the badge
        customer_writes(messenger_inbox, f"late{i}", midday(i % 6) - timedelta(minutes=i))
    agent_replies(customer_writes(messenger_inbox, "quick", midday(1)), bob, timedelta(minutes=2))
    agent_replies(customer_writes(messenger_inbox, "last week", midday(9)), bob, timedelta(minutes=2))

    page = browser_context().new_page()
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, "alice")
    page.goto("/dashboard/")
    expect(page.locator("#badge-verdict")).to_contain_text("Would not earn the badge")
    time_figure = page.locator("#badge-figures .figure").nth(1)
    time_figure.hover()
    expect(time_figure.locator(".explain")).to_be_visible()
    expect(time_figure.locator(".explain")).to_contain_text("fastest 90 %")
    expect(page.locator("#chg-rate")).to_contain_text("−96.0 points vs previous 7 days (100")
    trend = page.locator("#trend-chart")
    expect(trend.locator("canvas")).to_be_visible()
    trend.get_by_text("Show as a table").click()
    expect(trend.locator("table.chart-table tbody tr")).to_have_count(7)
    expect(page.locator("#heat-legend")).to_contain_text("Fewer messages")
    expect(page.locator("#heat-max")).to_contain_text("messages in an hour")
    breakers = page.locator("#breakers-table tbody tr")
    expect(breakers).to_have_count(10)
    expect(page.locator("#breakers-page")).to_have_text("Page 1 of 3 · 24 conversations")
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#breakers-page")).to_have_text("Page 2 of 3 · 24 conversations")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(screenshots(tmp_path) / f"dashboard-{viewport}.png"), full_page=True)
