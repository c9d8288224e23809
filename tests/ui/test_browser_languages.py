"""The app in French and in Greek, in headless Chromium: the login page, the inbox, a thread and the
dashboard show no English text the catalogs translate, plural forms follow the language, and the
shell's one format (dates, numbers, money) speaks it too.

"Untranslated" is measured against the catalogs themselves (tests/i18n/catalogs.py): every English
source text whose translation differs is looked for as a whole text on the page — text nodes,
`aria-label`, `placeholder` and `title` — with any value in its placeholders. Data (names, messages,
channel brands) is not in the catalogs, so it never counts.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from inbox.models import Conversation
from inbox.sms import segments
from tests.api.conversation_factories import conversation_make, customer_says
from tests.i18n.catalogs import compiled, untranslated_patterns

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCALES = {"fr": "fr-FR", "el": "el-GR"}
# What the page says once it has loaded, in each language (the list's count for screen readers).
TWO_CONVERSATIONS = {"fr": "2 conversations", "el": "2 συνομιλίες"}
ONE_CONVERSATION = {"fr": "1 conversation", "el": "1 συνομιλία"}
CUSTOMER_TEXT = {"fr": "Bonjour, j'ai commandé une lampe.", "el": "Γεια σας, παρήγγειλα μια λάμπα."}

TEXTS_ON_PAGE = """() => {
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement && node.parentElement.closest("script, style")) { continue; }
    const text = node.textContent.trim();
    if (text) { out.push(text); }
  }
  for (const el of document.querySelectorAll("[aria-label], [placeholder], [title]")) {
    for (const name of ["aria-label", "placeholder", "title"]) {
      const value = (el.getAttribute(name) || "").trim();
      if (value) { out.push(value); }
    }
  }
  return out;
}"""


@pytest.fixture(scope="module", autouse=True)
def _catalogs_compiled():
    compiled()


def untranslated(page, language: str) -> list[tuple[str, str]]:
    texts = page.evaluate(TEXTS_ON_PAGE)
    patterns = untranslated_patterns(language)
    return sorted({(text, source) for text in texts for source, pattern in patterns if pattern.fullmatch(text)})


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(f"pw-{username}")
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))


@pytest.mark.parametrize("language", ["fr", "el"])
def test_login_inbox_thread_and_dashboard_show_no_untranslated_text(chromium, daphne_server, alice, messenger_inbox, language):
    from playwright.sync_api import expect

    threads = []
    for name in ("Élodie Martin", "Νίκος Π."):
        conversation = conversation_make(messenger_inbox, name=name, customer_wrote_ago=timedelta(hours=1))
        customer_says(conversation, CUSTOMER_TEXT[language], at=timezone.now() - timedelta(hours=1))
        Conversation.objects.filter(pk=conversation.pk).update(assignee=alice, waiting_since=timezone.now() - timedelta(hours=1))
        Customer.objects.filter(pk=conversation.customer_id).update(language=language, name=name)
        threads.append(conversation)

    context = chromium.new_context(base_url=daphne_server, locale=LOCALES[language], viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        expect(page.locator("html")).to_have_attribute("lang", language)
        assert untranslated(page, language) == []

        log_in(page, "alice")
        expect(page.locator("#conversation-list li.row")).to_have_count(2)
        expect(page.locator("#list-loading")).to_have_text(TWO_CONVERSATIONS[language])
        expect(page.locator("#connection")).to_have_class(re.compile("live"))
        assert untranslated(page, language) == []

        # The catalog's plural rule and the shell's formats follow the page's language.
        said = page.evaluate("""async () => {
            const f = await import('/static/app/format.js');
            const i = await import('/static/app/i18n.js');
            return [i.interpolate(i.ngettext('%(n)s conversation', '%(n)s conversations', 1), { n: 1 }),
                    f.language(), f.money(1234.5, 'EUR'), f.percent(0.925), f.duration(3 * 3600e3 + 5 * 60e3)];
        }""")
        expected = {"fr": [ONE_CONVERSATION["fr"], "fr", "1\u202f234,50\u00a0€", "92,5\u00a0%", "3 h 5 min"],
                    "el": [ONE_CONVERSATION["el"], "el", "1.234,50\u00a0€", "92,5%", "3 ώρ. 5 λεπ."]}[language]
        assert said == expected

        # The reply box counts SMS parts as the server does, accented French and Greek included.
        samples = ["Votre commande a été expédiée, à demain !", "Reçu, merci", "Ça coûte 5 €",
                   "Η παραγγελία σας έχει σταλεί.", ("Η παραγγελία σας έχει σταλεί. " * 3)[:71], "ΔΦΓΛΩΠΨΣΘΞ"]
        in_browser = page.evaluate(
            "s => s.map(t => { const r = window.SmsSegments.count(t); return [r.encoding, r.segments, r.units]; })", samples
        )
        assert in_browser == [[i.encoding, i.segments, i.units] for i in map(segments, samples)]
        assert [row[0] for row in in_browser] == ["gsm7", "ucs2", "ucs2", "ucs2", "ucs2", "gsm7"]

        page.goto(f"/conversations/{threads[0].pk}/")
        expect(page.locator("#timeline li")).not_to_have_count(0)
        expect(page.locator("#customer-name")).to_have_text("Élodie Martin")
        expect(page.locator("#window-info")).to_be_visible()
        expect(page.locator("#customer-language")).to_have_value(language)
        assert untranslated(page, language) == []

        page.goto("/dashboard/")
        expect(page.locator("#badge-verdict")).not_to_have_text(re.compile("…$"))
        expect(page.locator("#live-state")).to_have_class(re.compile("live"))
        assert untranslated(page, language) == []
    finally:
        context.close()


def test_the_check_finds_the_english_texts_on_an_english_page(chromium, daphne_server):
    """The detector itself: the same login page in English is full of what the catalogs translate."""
    context = chromium.new_context(base_url=daphne_server, locale="en-US")
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        found = {source for _, source in untranslated(page, "fr")}
        assert {"Log in", "Username", "Password", "Skip to content"} <= found
    finally:
        context.close()


def test_an_agent_switches_the_language_from_the_user_menu_and_the_page_follows(browser_context, bob, messenger_inbox):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#prefs summary").click()
    page.locator("#ui-language").select_option("el")
    page.wait_for_load_state("load")
    expect(page.locator("html")).to_have_attribute("lang", "el")
    expect(page.get_by_role("button", name="Δικές μου")).to_be_visible()
    bob.agent.refresh_from_db()
    assert bob.agent.language == "el"
