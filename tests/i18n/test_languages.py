"""French, Greek and English: who gets which language, the catalogs, and what follows a language
(the pages, the API's sentences, automated messages, search and SMS encoding)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import translation

from customers.language import (
    customer_language,
    language_from_header,
    language_normalize,
    localized_text,
    search_config_for,
)
from customers.models import Customer
from customers.services import identity_resolve
from inbox.conversations.languages import script_language
from inbox.conversations.reply import note_add
from inbox.models import Message, SenderType
from inbox.sms import segments
from tests.api.conversation_factories import conversation_make, customer_says
from tests.conftest import PAGE_ID, load_fixture, post_meta

from .catalogs import DOMAINS, LANGUAGES, LOCALE, ROOT, entries, translator

pytestmark = pytest.mark.django_db


def login(client, user, **headers):
    client.force_login(user)
    return client


# --- Reading languages ---------------------------------------------------------------------------


@pytest.mark.parametrize("given, code", [
    ("fr", "fr"), ("fr_FR", "fr"), ("fr-CA", "fr"), ("EL", "el"), ("el_GR", "el"), ("en-US", "en"),
    ("de_DE", ""), ("", ""), (None, ""), ("français", ""),
])
def test_a_locale_or_language_tag_names_one_of_the_shops_languages_or_none(given, code):
    assert language_normalize(given) == code


def test_a_header_gives_its_best_supported_language_by_quality_then_order():
    assert language_from_header("de-DE, el;q=0.8, fr;q=0.9") == "fr"
    assert language_from_header("de, el;q=0.5") == "el"
    assert language_from_header("fr-CH, el") == "fr"
    assert language_from_header("de, *;q=0.1") == ""
    assert language_from_header("el;q=0, en;q=0.2") == "en"


def test_each_language_has_its_search_configuration_and_simple_is_the_fallback():
    assert [search_config_for(c) for c in ("fr", "el", "en", "de", "")] == ["french", "greek", "english", "simple", "simple"]


def test_a_text_mostly_in_greek_letters_is_greek_and_latin_script_says_nothing():
    assert script_language("Πού είναι η παραγγελία μου; #1042") == "el"
    assert script_language("Où est ma commande ?") == ""
    assert script_language("ok Ω") == ""


def test_a_translation_is_chosen_for_its_language_and_the_default_text_otherwise():
    translations = {"fr": "Nous sommes fermés.", "el": "   "}
    assert localized_text("We're closed.", translations, "fr") == ("Nous sommes fermés.", "fr")
    assert localized_text("We're closed.", translations, "el") == ("We're closed.", "")  # blank: not written
    assert localized_text("We're closed.", translations, "") == ("We're closed.", "")


# --- The catalogs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_entry_of_each_catalog_is_translated_and_none_is_fuzzy(language, domain):
    po = (LOCALE / language / "LC_MESSAGES" / f"{domain}.po").read_text(encoding="utf-8")
    written = [b for b in po.strip().split("\n\n")[1:] if "\nmsgid " in "\n" + b]  # the header is the first block
    assert len(written) > 100 and "#, fuzzy" not in po
    # The compiler keeps only entries translated in every form (and the header).
    assert len(entries(language, domain)) == len(written) + 1


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_the_python_compiler_builds_the_same_catalog_as_gnu_msgfmt(language, domain, tmp_path):
    import gettext

    po = LOCALE / language / "LC_MESSAGES" / f"{domain}.po"
    ours = tmp_path / "ours.mo"
    subprocess.run(["python3", str(ROOT / "scripts" / "msgfmt.py"), "-o", str(ours), str(po)], check=True, capture_output=True)
    ours_catalog = gettext.GNUTranslations(ours.open("rb"))
    assert ours_catalog.info()["language"] == language
    assert dict(ours_catalog._catalog) == {k: v for k, v in _parsed(language, domain).items()}
    if shutil.which("msgfmt") is None:
        pytest.skip("GNU msgfmt is not installed: compared with the catalog's own entries only")
    gnu = tmp_path / "gnu.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(gnu), str(po)], check=True)
    assert ours_catalog._catalog == gettext.GNUTranslations(gnu.open("rb"))._catalog


def _parsed(language: str, domain: str) -> dict:
    """The catalog's entries as Python's gettext keys them (plural forms by index)."""
    out: dict = {}
    for key, value in entries(language, domain).items():
        if key == "":
            out[""] = "".join(line + "\n" for line in value.split("\n") if line and not line.startswith("POT-Creation-Date:"))
            continue
        if "\x00" in key:
            singular = key.split("\x00")[0]
            for n, form in enumerate(value.split("\x00")):
                out[(singular, n)] = form
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("language, one, two, zero", [
    ("fr", "1 conversation", "2 conversations", "0 conversation"),  # French: 0 takes the singular
    ("el", "1 συνομιλία", "2 συνομιλίες", "0 συνομιλίες"),
    ("en", "1 conversation", "2 conversations", "0 conversations"),
])
def test_the_count_of_conversations_takes_each_languages_plural_forms(language, one, two, zero):
    if language == "en":
        forms = [("%(n)s conversation" if n == 1 else "%(n)s conversations") % {"n": n} for n in (1, 2, 0)]
    else:
        catalog = translator(language, "djangojs")
        forms = [catalog.ngettext("%(n)s conversation", "%(n)s conversations", n) % {"n": n} for n in (1, 2, 0)]
    assert forms == [one, two, zero]


@pytest.mark.parametrize("language, one, three", [
    ("fr", "1 ligne importée", "3 lignes importées"),
    ("el", "Εισήχθη 1 γραμμή", "Εισήχθησαν 3 γραμμές"),
    ("en", "Imported 1 row", "Imported 3 rows"),
])
def test_a_server_rendered_count_takes_the_plural_form_of_the_page_language(language, one, three):
    from django.template import Context, Template

    template = Template('{% load i18n %}{% blocktranslate count rows=n %}Imported {{ rows }} row:{% plural %}'
                        'Imported {{ rows }} rows:{% endblocktranslate %}')
    with translation.override(language):
        assert template.render(Context({"n": 1})).startswith(one)
        assert template.render(Context({"n": 3})).startswith(three)


# --- The pages and the API speak the agent's language --------------------------------------------


def test_the_login_page_follows_the_browsers_accept_language(client):
    french = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5")
    assert '<html lang="fr"' in french.content.decode() and "Se connecter" in french.content.decode()
    assert french["Content-Language"] == "fr" and "Accept-Language" in french["Vary"]
    greek = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="el-GR")
    assert "Σύνδεση" in greek.content.decode() and greek["Content-Language"] == "el"
    english = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de-DE")  # unsupported: the shop's default
    assert '<html lang="en"' in english.content.decode() and "Log in" in english.content.decode()


def test_an_agents_chosen_language_wins_over_the_browsers(client, bob):
    bob.agent.language = "el"
    bob.agent.save()
    page = login(client, bob).get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="el"' in page
    assert "Εισερχόμενα" in page and "Ανάθεση σε εμένα" in page
    # The page loads the scripts' catalog of its own language, as a file (CSP: no inline script).
    assert '<script src="/jsi18n/?lang=el" defer>' in page


def test_the_scripts_catalog_is_served_for_the_language_the_page_names(client):
    response = client.get("/jsi18n/?lang=fr", HTTP_ACCEPT_LANGUAGE="el")
    body = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert "Aucune conversation ici." in body and "(n > 1)" in body
    assert "Ανάθεση" not in body


def test_after_a_french_request_the_next_code_on_the_thread_is_back_in_english(client):
    client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr")
    assert translation.get_language() == "en"


def test_an_agent_sets_their_language_and_time_zone_from_the_user_menu(client, api, bob):
    me = api(bob).patch("/api/v1/agents/me/", {"language": "fr", "time_zone": "Europe/Athens"}, format="json")
    assert me.status_code == 200, me.content
    assert (me.json()["language"], me.json()["time_zone"]) == ("fr", "Europe/Athens")
    page = login(client, bob).get("/", HTTP_ACCEPT_LANGUAGE="el").content.decode()
    assert '<html lang="fr" data-time-zone="Europe/Athens">' in page
    assert 'id="ui-language"' in page and '<option value="fr" lang="fr" selected>Français</option>' in page
    back = api(bob).patch("/api/v1/agents/me/", {"language": ""}, format="json")
    assert back.json()["language"] == "" and back.json()["time_zone"] == "Europe/Athens"


@pytest.mark.parametrize("body", [{"language": "de"}, {"time_zone": "Mars/Olympus"}, {"role": "admin"}, {}])
def test_an_unknown_language_or_zone_or_another_field_is_refused(api, bob, body):
    response = api(bob).patch("/api/v1/agents/me/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_a_refused_reply_is_explained_in_the_agents_language_with_the_same_code(client, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(days=10))
    bob.agent.language = "fr"
    bob.agent.save()
    response = login(client, bob).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "Bonjour"}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "window_closed"
    assert response.json()["detail"] == "La fenêtre de messagerie est fermée\u00a0: le client doit écrire en premier."


def test_an_api_client_gets_the_detail_in_its_accept_language(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(days=10))
    response = api(bob).post(f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "Γεια"}, format="json",
                             HTTP_ACCEPT_LANGUAGE="el")
    assert response.json()["code"] == "window_closed"
    assert response.json()["detail"] == "Το παράθυρο μηνυμάτων έκλεισε: πρέπει πρώτα να γράψει ο πελάτης."


# --- Customers' languages ------------------------------------------------------------------------


def test_an_agent_sets_a_customers_language_and_a_wrong_one_is_refused(api, bob, messenger_inbox):
    customer = conversation_make(messenger_inbox).customer
    ok = api(bob).patch(f"/api/v1/customers/{customer.pk}/", {"language": "el"}, format="json")
    assert ok.status_code == 200 and ok.json()["language"] == "el"
    assert Customer.objects.get(pk=customer.pk).language == "el"
    refused = api(bob).patch(f"/api/v1/customers/{customer.pk}/", {"language": "es"}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"


def test_a_customer_of_unknown_language_gets_the_inbox_language_then_the_shops(messenger_inbox):
    customer = Customer(language="")
    assert customer_language(customer, messenger_inbox) == "en"
    messenger_inbox.settings = {"language": "fr"}
    assert customer_language(customer, messenger_inbox) == "fr"
    assert customer_language(Customer(language="el"), messenger_inbox) == "el"


def test_messengers_profile_locale_becomes_the_customers_language_unless_an_agent_chose_one(
    client, messenger_inbox, fake_provider, settings, commit
):
    from inbox.conversations.profiles import meta_profile_fill

    settings.META_PROFILE_FETCH = True
    fake_provider.script(r"^/v24\.0/1111$", json_body={"first_name": "Élodie", "last_name": "Martin", "locale": "fr_FR", "id": "1111"})
    fake_provider.script(r"^/v24\.0/2222$", json_body={"first_name": "Nikos", "last_name": "P", "locale": "el_GR", "id": "2222"})
    first = identity_resolve(channel="messenger", scope=PAGE_ID, external_id="1111").identity
    second = identity_resolve(channel="messenger", scope=PAGE_ID, external_id="2222").identity
    Customer.objects.filter(pk=second.customer_id).update(language="en")  # an agent's choice
    meta_profile_fill(identity_id=first.pk, inbox_id=messenger_inbox.pk)
    meta_profile_fill(identity_id=second.pk, inbox_id=messenger_inbox.pk)
    assert Customer.objects.get(pk=first.customer_id).language == "fr"
    assert Customer.objects.get(pk=second.customer_id).language == "en"
    assert fake_provider.sent(r"/v24\.0/1111")[0].query["fields"] == ["first_name,last_name,locale"]


def test_a_page_without_the_locale_permission_still_gets_the_name(messenger_inbox, fake_provider, settings):
    from inbox.conversations.profiles import meta_profile_fill

    settings.META_PROFILE_FETCH = True
    refusal = {"error": {"message": "(#100) Tried accessing nonexisting field (locale) on node type (User)",
                         "type": "OAuthException", "code": 100}}
    fake_provider.script(r"^/v24\.0/3333$", status=400, json_body=refusal, times=1)
    fake_provider.script(r"^/v24\.0/3333$", json_body={"first_name": "Ana", "last_name": "Lopez", "id": "3333"})
    identity = identity_resolve(channel="messenger", scope=PAGE_ID, external_id="3333").identity
    meta_profile_fill(identity_id=identity.pk, inbox_id=messenger_inbox.pk)
    identity.refresh_from_db()
    assert identity.display_name == "Ana Lopez"
    asked = [r.query["fields"][0] for r in fake_provider.sent(r"/v24\.0/3333")]
    assert asked == ["first_name,last_name,locale", "first_name,last_name"]


# --- Automated messages in the customer's language -----------------------------------------------

CLOSED_AT = datetime(2026, 1, 2, 20, 0, tzinfo=UTC)  # a Friday evening in Paris: closed
HOURS = {"timezone": "Europe/Paris", "hours": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
AWAY = {
    "enabled": True, "text": "We're closed now and back at 9:00.",
    "translations": {"fr": "Nous sommes fermés, retour à 9 h.", "el": "Είμαστε κλειστά, επιστρέφουμε στις 9:00."},
}


def _meta_message(psid: str, n: int, at: datetime) -> dict:
    payload = copy.deepcopy(load_fixture("meta/messenger_text.json"))
    item = payload["entry"][0]["messaging"][0]
    item["sender"]["id"] = psid
    item["timestamp"] = int(at.timestamp() * 1000)
    item["message"]["mid"] = f"m_lang_{n}"
    return payload


def test_a_french_customer_gets_the_french_away_message_and_a_greek_one_the_greek(
    client, api, admin_user, messenger_inbox, fake_provider, commit
):
    settings = api(admin_user).patch(
        f"/api/v1/inboxes/{messenger_inbox.pk}/", {"away": AWAY, "business_hours": HOURS}, format="json"
    )
    assert settings.status_code == 200, settings.content
    assert settings.json()["away"]["translations"]["el"] == AWAY["translations"]["el"]
    for psid, code in (("5001", "fr"), ("5002", "el"), ("5003", "")):
        customer = identity_resolve(channel="messenger", scope=PAGE_ID, external_id=psid).identity.customer
        Customer.objects.filter(pk=customer.pk).update(language=code)
    with time_machine.travel(CLOSED_AT, tick=False):
        for n, psid in enumerate(("5001", "5002", "5003")):
            post_meta(client, _meta_message(psid, n, CLOSED_AT))
    sent = {
        m.conversation.identity.external_id: m.text
        for m in Message.objects.filter(sender_type=SenderType.BOT).select_related("conversation__identity")
    }
    assert sent == {"5001": AWAY["translations"]["fr"], "5002": AWAY["translations"]["el"], "5003": AWAY["text"]}


@pytest.mark.parametrize("away", [
    {"enabled": True, "text": "Closed.", "translations": {"es": "Cerrado."}},
    {"enabled": True, "text": "Closed.", "translations": {"fr": 5}},
    {"enabled": True, "text": "Closed.", "translations": ["fr"]},
])
def test_translations_in_unknown_languages_or_of_the_wrong_shape_are_refused(api, admin_user, messenger_inbox, away):
    response = api(admin_user).patch(f"/api/v1/inboxes/{messenger_inbox.pk}/", {"away": away}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_a_translation_longer_than_the_channel_allows_is_refused(api, admin_user, instagram_inbox):
    away = {"enabled": True, "text": "Closed.", "translations": {"el": "α" * 1001}}  # Instagram: 1000 characters
    response = api(admin_user).patch(f"/api/v1/inboxes/{instagram_inbox.pk}/", {"away": away}, format="json")
    assert response.status_code == 400 and "away.translations.el" in response.json()["detail"]


def test_an_email_in_french_makes_a_french_customer_and_gets_the_french_away_message(
    client, api, admin_user, email_inbox, settings, tmp_path, commit
):
    from tests.inbox.test_email_inbound import SIGNING_KEY, WEBHOOK_SECRET, mailgun_form, post_mailgun

    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    settings.ANYMAIL_INBOUND_ESPS = ["mailgun"]
    settings.MEDIA_ROOT = tmp_path
    api(admin_user).patch(f"/api/v1/inboxes/{email_inbox.pk}/", {"away": AWAY, "business_hours": HOURS}, format="json")
    form = mailgun_form(headers={"Content-Language": "fr-FR"}, **{"stripped-text": "Bonjour, où est ma commande ?"})
    with time_machine.travel(CLOSED_AT, tick=False):
        assert post_mailgun(client, form).status_code == 200
    inbound = Message.objects.get(sender_type=SenderType.CUSTOMER)
    assert inbound.conversation.customer.language == "fr"
    assert inbound.search_config == "french"
    away = Message.objects.get(sender_type=SenderType.BOT)
    assert away.text == AWAY["translations"]["fr"]


def test_the_satisfaction_survey_asks_a_greek_customer_in_greek(sms_inbox, commit):
    from inbox.csat.config import csat_settings
    from inbox.csat.surveys import survey_compose, survey_text
    from inbox.models import CsatResponse

    conversation = conversation_make(sms_inbox)
    Customer.objects.filter(pk=conversation.customer_id).update(language="el")
    conversation.refresh_from_db()
    question, code = survey_text(csat_settings(sms_inbox.settings), customer=conversation.customer, inbox=sms_inbox)
    assert code == "el" and question.startswith("Πώς θα βαθμολογούσατε")
    survey = CsatResponse(pk=1, conversation=conversation, customer=conversation.customer, channel="sms")
    with translation.override(code):
        text, _, _ = survey_compose(survey, text=question)
    assert text.endswith("\nΑπαντήστε 1, 2, 3, 4 ή 5.")


def test_the_unsubscribe_page_speaks_the_customers_language(client, email_inbox):
    from campaigns.composition import unsubscribe_url

    customer = conversation_make(email_inbox).customer
    Customer.objects.filter(pk=customer.pk).update(language="el")
    path = unsubscribe_url(customer_id=customer.pk).split("testserver", 1)[-1]
    page = client.get(path, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="el"' in page and "Κατάργηση εγγραφής από τα διαφημιστικά email" in page


def test_a_campaign_goes_out_in_each_customers_language_and_the_preview_says_which(
    api, alice, sms_inbox, fake_provider, commit
):
    from campaigns.services import dispatch_due
    from tests.campaigns.helpers import broadcast, reachable

    translations = {"fr": {"text": "Soldes aujourd’hui, {{ customer.first_name }} !"},
                    "el": {"text": "Εκπτώσεις σήμερα, {{ customer.first_name }}!"}}
    people = {"+14155550101": "fr", "+14155550102": "el", "+14155550103": ""}
    for phone, code in people.items():
        Customer.objects.filter(pk=reachable(sms_inbox, phone, name="Ana Test").pk).update(language=code)
    text = "Sale today, {{ customer.first_name }}!"
    preview = api(alice).post("/api/v1/campaigns/preview/", {
        "channel": "sms", "inbox": sms_inbox.pk, "purpose": "transactional", "text": text,
        "translations": translations, "customer": Customer.objects.get(language="el").pk,
    }, format="json")
    assert preview.status_code == 200, preview.content
    assert preview.json()["language"] == "el" and preview.json()["text"] == "Εκπτώσεις σήμερα, Ana!"
    assert preview.json()["encoding"] == "ucs2"
    assert preview.json()["languages"] == {"fr": 1, "el": 1, "en": 1}
    with time_machine.travel(datetime(2026, 3, 3, 12, 0, tzinfo=UTC), tick=False):
        broadcast(sms_inbox, by=alice, text=text, purpose="transactional", translations=translations)
        assert dispatch_due() == {"sent": 3}
    texts = {m.conversation.identity.external_id: m.text for m in Message.objects.filter(sender_type=SenderType.BOT)
             .select_related("conversation__identity")}
    assert texts == {"+14155550101": "Soldes aujourd’hui, Ana !", "+14155550102": "Εκπτώσεις σήμερα, Ana!",
                     "+14155550103": "Sale today, Ana!"}


def test_the_marketing_stop_line_follows_the_language_of_the_message(sms_inbox):
    from campaigns.composition import sms_finalise

    with translation.override("fr"):
        assert sms_finalise("Soldes !", marketing=True) == "Soldes !\nRépondez STOP pour ne plus recevoir nos messages"
    with translation.override("el"):
        assert sms_finalise("Εκπτώσεις!", marketing=True).endswith("\nΑπαντήστε STOP για να μη λαμβάνετε άλλα μηνύματα")


# --- Search: each message in its language's configuration ---------------------------------------


def test_each_message_is_stored_with_the_search_configuration_of_its_language(bob, messenger_inbox, commit):
    from inbox.conversations.receive import message_receive
    from inbox.providers.base import InboundMessage

    french = identity_resolve(channel="messenger", scope=PAGE_ID, external_id="7001").identity.customer
    Customer.objects.filter(pk=french.pk).update(language="fr")

    def receive(psid: str, text: str) -> Message:
        return message_receive(inbox=messenger_inbox, incoming=InboundMessage(
            channel="messenger", inbox_external_id=PAGE_ID, customer_external_id=psid, external_id=f"m_{psid}_{text[:4]}",
            timestamp=datetime.now(UTC), text=text,
        ))

    assert receive("7001", "J'ai commandé une lampe").search_config == "french"
    assert receive("7002", "Πού είναι η παραγγελία μου;").search_config == "greek"  # unknown customer, Greek script
    assert receive("7003", "Where is my lamp?").search_config == "simple"  # unknown: no stemming
    bob.agent.language = "el"
    bob.agent.save()
    note = note_add(conversation=Message.objects.get(external_id__startswith="m_7001").conversation, author=bob, text="Σημείωση")
    assert note.search_config == "greek"


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.parametrize("language, written, searched", [
    ("fr", "J'ai commandé deux lampes", "commande"),
    ("el", "Περιμένω ακόμη τις επιστροφές μου", "επιστροφή"),
    ("en", "My orders never arrived", "order"),
])
def test_search_finds_the_inflections_of_each_language(api, bob, messenger_inbox, language, written, searched):
    conversation = conversation_make(messenger_inbox)
    Customer.objects.filter(pk=conversation.customer_id).update(language=language)
    message = customer_says(conversation, written)
    Message.objects.filter(pk=message.pk).update(search_config=search_config_for(language))
    with connection.cursor() as cursor:
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name='inbox_message' AND column_name='search_vector'")
        if cursor.fetchone() is None:
            pytest.skip("full-text search (migration 0015) is not in this database")
    found = api(bob).get("/api/v1/conversations/", {"q": searched, "status": ""})
    assert found.status_code == 200, found.content
    assert [c["id"] for c in found.json()["results"]] == [conversation.pk]
    # Without the language's stemming (the `simple` fallback) the inflected word is not found.
    Message.objects.filter(pk=message.pk).update(search_config="simple")
    assert api(bob).get("/api/v1/conversations/", {"q": searched, "status": ""}).json()["results"] == []


# --- SMS in every language ---------------------------------------------------------------------------


def test_a_greek_sms_counts_as_ucs2_segments_of_70_then_67():
    greek = "Η παραγγελία σας έχει σταλεί. "  # lower-case Greek letters are outside GSM-7
    one = segments((greek * 3)[:70])
    assert (one.encoding, one.segments, one.per_segment) == ("ucs2", 1, 70)
    two = segments((greek * 3)[:71])
    assert (two.encoding, two.segments, two.per_segment) == ("ucs2", 2, 67)
    assert segments((greek * 5)[:134]).segments == 2 and segments((greek * 5)[:135]).segments == 3


def test_greek_capitals_of_the_gsm_alphabet_stay_gsm7_but_one_lower_case_letter_switches():
    assert segments("ΔΦΓΛΩΠΨΣΘΞ").encoding == "gsm7"
    assert segments("ΔΦΓΛΩΠΨΣΘΞ α").encoding == "ucs2"


@pytest.mark.parametrize("text, encoding", [
    ("Votre commande a été expédiée, voilà ! Où ? Là-bas. Ça arrive.", "gsm7"),  # é è à ù and Ç are GSM-7
    ("Reçu, merci", "ucs2"),  # ç (lower case) is not
    ("Ça coûte 5 €", "ucs2"),  # û is not
    ("Noël à Paris", "ucs2"),  # ë is not
    ("Mon cœur", "ucs2"),  # œ is not
    ("Leçon", "ucs2"),
])
def test_french_accents_of_the_gsm_alphabet_stay_gsm7_and_the_others_switch_to_ucs2(text, encoding):
    assert segments(text).encoding == encoding
