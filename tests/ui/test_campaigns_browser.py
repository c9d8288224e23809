"""The campaign builder in headless Chromium, every step on a phone (390×844) and a desktop
(1440×900): the audience and its breakdown, the message with channel-aware fields and a preview for
a real customer, the schedule, review and launch; then the campaign's page with pause, resume and
cancel; a triggered campaign with its event picker; the auto-responder editor. Screenshots go to
$REPORT_SCREENSHOTS (default: the test's temporary folder)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import AutoResponder, Campaign, CampaignSend
from customers.models import Label
from tests.campaigns.helpers import reachable
from tests.ui.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}
ZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "America/Los_Angeles", "Australia/Sydney", "Asia/Kolkata"]


def daytime_zone() -> str:
    """A time zone where it is daytime now, so the send window is open whenever the test runs."""
    return next(z for z in ZONES if 10 <= datetime.now(ZoneInfo(z)).hour < 19)


def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("REPORT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def audience(sms_inbox):
    zone = daytime_zone()
    vip = Label.objects.create(name="vip")
    ann = reachable(sms_inbox, "+33600000501", name="Ann Lee", tz=zone)
    bea = reachable(sms_inbox, "+33600000502", name="Bea Ruiz", tz=zone)
    cy = reachable(sms_inbox, "+33600000503", name="Cy Never", tz=zone, marketing=None)
    reachable(sms_inbox, "+33600000504", name="Dee Other", tz=zone)
    for c in (ann, bea, cy):
        c.labels.add(vip)
    return sms_inbox


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_marketer_builds_launches_pauses_resumes_and_cancels_a_broadcast(browser_context, alice, audience, viewport, tmp_path):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    page.set_viewport_size(VIEWPORTS[viewport])
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, "alice")
    page.goto("/campaigns/")
    page.get_by_role("link", name="New broadcast").click()
    folder = shots(tmp_path)

    # 1. Audience: the breakdown follows the segment.
    expect(page.get_by_role("group", name="1. Audience")).to_be_visible()
    expect(page.get_by_role("group", name="2. Message")).to_be_hidden()
    page.get_by_label("Campaign name").fill("Spring VIP")
    page.get_by_label("Send from").select_option(str(audience.pk))
    page.get_by_label("Customer labels (any of, comma-separated)").fill("vip")
    breakdown = page.locator("#breakdown")
    expect(breakdown.locator("[data-key=will_receive]")).to_have_text("2")
    expect(breakdown.locator("[data-key=no_consent]")).to_have_text("1")
    expect(breakdown.locator("[data-key=opted_out]")).to_have_text("0")
    expect(page.locator("#meta-rule")).to_be_hidden()
    page.screenshot(path=str(folder / f"builder-1-audience-{viewport}.png"), full_page=True)

    # 2. Message: SMS fields only, {first_name} caught and fixed, previewed for Ann with her name.
    page.get_by_role("button", name="Next: the message").click()
    expect(page.get_by_role("group", name="2. Message")).to_be_visible()
    expect(page.get_by_label("Email subject")).to_be_hidden()
    page.get_by_label("Message", exact=True).fill("Hi {first_name}, 20% off for our VIPs today!")
    expect(page.locator("#c-brace")).to_contain_text("{first_name} is not a variable")
    page.locator("#c-brace").get_by_role("button", name="Fix it").click()
    expect(page.get_by_label("Message", exact=True)).to_have_value("Hi {{ customer.first_name }}, 20% off for our VIPs today!")
    expect(page.locator("#preview")).to_have_text("Hi Ann, 20% off for our VIPs today!\nReply STOP to opt out")
    expect(page.locator("#preview")).not_to_contain_text("{")
    expect(page.locator("#c-counter")).to_contain_text("1 SMS segment")
    expect(page.locator("#c-rules")).to_contain_text("08:00–21:00")
    page.get_by_label("As received by").select_option(label="Bea Ruiz")
    expect(page.locator("#preview")).to_contain_text("Hi Bea,")
    page.screenshot(path=str(folder / f"builder-2-message-{viewport}.png"), full_page=True)

    # 3. Schedule: a broadcast has no trigger fields; SMS quiet hours are said.
    page.get_by_role("button", name="Next: when").click()
    expect(page.get_by_role("group", name="3. Schedule")).to_be_visible()
    expect(page.get_by_label("Send when this happens")).to_have_count(0)
    expect(page.get_by_text("SMS never goes out before 08:00")).to_be_visible()
    page.screenshot(path=str(folder / f"builder-3-schedule-{viewport}.png"), full_page=True)

    # 4. Review and launch: to the campaign's page, running, its audience planned.
    page.get_by_role("button", name="Next: review").click()
    review = page.locator("#review")
    expect(review).to_contain_text("Spring VIP")
    expect(review).to_contain_text("2 will receive it now")
    page.screenshot(path=str(folder / f"builder-4-review-{viewport}.png"), full_page=True)
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url("**/campaigns/*/")
    campaign = Campaign.objects.get(name="Spring VIP")
    assert campaign.audience == {"labels": ["vip"]} and campaign.text.startswith("Hi {{ customer.first_name }}")
    status = page.locator("#campaign-status")
    expect(status).to_have_text("Running")
    # Everyone in the segment is planned; consent and caps are decided when each send is due.
    expect(page.locator("#results [data-key=planned]")).to_have_text("3")
    expect(page.locator("#campaign-chart h3")).to_have_text("Sends per day")
    page.get_by_role("button", name="Pause").click()
    expect(status).to_have_text("Paused")
    page.get_by_role("button", name="Resume").click()
    expect(status).to_have_text("Running")
    page.screenshot(path=str(folder / f"campaign-page-{viewport}.png"), full_page=True)
    page.get_by_role("button", name="Cancel").click()
    expect(status).to_have_text("Finished")
    assert CampaignSend.objects.filter(campaign=campaign, status="cancelled").count() == 3
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_triggered_campaign_picks_its_event_exceptions_delay_and_cap_and_email_shows_a_subject(
    browser_context, alice, audience, email_inbox, messenger_inbox, viewport, tmp_path,
):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, "alice")
    page.goto("/campaigns/new/?kind=triggered")
    page.get_by_label("Campaign name").fill("Shipped thanks")
    page.get_by_label("Send from").select_option(str(messenger_inbox.pk))
    expect(page.locator("#meta-rule")).to_be_visible()
    page.get_by_label("Send from").select_option(str(email_inbox.pk))
    page.get_by_role("button", name="Next: the message").click()
    expect(page.get_by_label("Email subject")).to_be_visible()
    page.get_by_role("button", name="Next: when").click()
    assert page.locator("#errors").inner_text().strip() in ("Write the message.\nAn email needs a subject.",
                                                           "Write the message. An email needs a subject.")
    page.get_by_label("Email subject").fill("Your order is on its way")
    page.get_by_label("Message", exact=True).fill("Thanks {{ customer.first_name }}, order {{ order.number }} shipped.")
    page.get_by_role("button", name="Next: when").click()
    event = page.get_by_label("Send when this happens")
    expect(event.locator("option[value='order.shipped']")).to_have_count(1)
    event.select_option("order.shipped")
    page.get_by_label("After a delay of (minutes)").fill("60")
    page.get_by_role("group", name="Unless one of these happens first").get_by_label("order.cancelled").check()
    page.get_by_label("At most").fill("1")
    page.get_by_label("message(s) per customer in (days)").fill("30")
    page.screenshot(path=str(shots(tmp_path) / f"builder-triggered-schedule-{viewport}.png"), full_page=True)
    page.get_by_role("button", name="Next: review").click()
    expect(page.locator("#review")).to_contain_text("order.shipped, after 60 min")
    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_url("**/campaigns/*/")
    expect(page.locator("#campaign-status")).to_have_text("Draft")
    expect(page.get_by_role("button", name="Launch")).to_be_visible()
    campaign = Campaign.objects.get(name="Shipped thanks")
    assert (campaign.trigger_event, campaign.delay_seconds, campaign.exception_events) == ("order.shipped", 3600, ["order.cancelled"])
    assert campaign.audience["frequency_cap"] == {"limit": 1, "period_days": 30}
    assert campaign.subject == "Your order is on its way"


def test_a_manager_adds_a_comment_auto_responder_from_the_editor(browser_context, alice, messenger_inbox, tmp_path):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "alice")
    page.goto("/campaigns/automation/")
    page.get_by_label("Keywords (comma-separated)").fill("price, how much")
    page.get_by_label("Public reply (under the comment)").fill("We sent you the prices by message!")
    page.get_by_label("Private reply (one message to the commenter, within 7 days of the comment)").fill("Hi! Our price list: …")
    page.get_by_role("button", name="Save auto-responder").click()
    expect(page.get_by_role("list", name="Auto-responders")).to_contain_text("price, how much")
    responder = AutoResponder.objects.get()
    assert responder.keywords == ["price", "how much"] and responder.inbox_id == messenger_inbox.pk
    expect(page.get_by_text("Only admins change these settings.")).to_be_visible()
    page.screenshot(path=str(shots(tmp_path) / "automation-desktop.png"), full_page=True)
