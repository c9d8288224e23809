"""Satisfaction surveys end to end: a resolve schedules one, the dispatcher sends it on the same
channel where the channel allows, and the customer's answer is recorded without reopening the
conversation or counting as a message to answer. Webhooks in the providers' formats; only the
providers' HTTP APIs are faked."""

from __future__ import annotations

import copy
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from customers.selectors import customer_export
from customers.services import customer_erase
from inbox import metrics
from inbox.csat.answers import rating_token, survey_rate_from_link
from inbox.csat.surveys import surveys_send_due
from inbox.models import Conversation, ConversationEvent, CsatResponse, Message, ResponseRecord, SenderType
from inbox.tasks import csat_dispatch
from tests.api.conversation_factories import conversation_make
from tests.inbox.meta_support import IGSID, PSID, fixture_at, meta_post, now_ms  # noqa: F401
from tests.inbox.test_twilio_webhooks import SMS_URL, form, post_twilio

pytestmark = pytest.mark.django_db

SURVEYS_ON = {"enabled": True, "delay_minutes": 0, "text": "How did we do? 1 (poor) to 5 (great)", "once_per_days": 30}
MESSAGES_PATH = "/messages$"


def surveys_on(inbox, **changes):
    inbox.settings = {**inbox.settings, "csat": {**SURVEYS_ON, **changes}}
    inbox.save(update_fields=["settings"])


def resolve(api, user, conversation):
    response = api(user).patch(f"/api/v1/conversations/{conversation.pk}/", {"status": "resolved"}, format="json")
    assert response.status_code == 200, response.content
    return response


def meta_text(name: str, *, text: str, mid: str, ms: int, quick_reply: str | None = None) -> dict:
    payload = copy.deepcopy(fixture_at(name, ms))
    message = payload["entry"][0]["messaging"][0]["message"]
    message.update(mid=mid, text=text)
    if quick_reply is not None:
        message["quick_reply"] = {"payload": quick_reply}
    return payload


META = {
    "messenger": ("meta/messenger_text.json", PSID),
    "instagram": ("meta/instagram_text.json", IGSID),
}


@pytest.fixture
def meta_inbox(request, messenger_inbox, instagram_inbox):
    return {"messenger": messenger_inbox, "instagram": instagram_inbox}[request.param]


# --- Messenger and Instagram ---------------------------------------------------------------------------


@pytest.mark.parametrize("meta_inbox", ["messenger", "instagram"], indirect=True)
def test_a_resolved_meta_conversation_gets_quick_replies_and_a_tapped_rating_is_recorded_without_reopening_it(
    meta_post, meta_inbox, fake_provider, api, bob  # noqa: F811
):
    surveys_on(meta_inbox)
    fixture, _sender = META[meta_inbox.kind]
    meta_post(meta_text(fixture, text="Where is my parcel?", mid="m_q1", ms=now_ms(seconds_ago=60)))
    conversation = Conversation.objects.get(inbox=meta_inbox)
    api(bob).post(f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "It ships today!"}, format="json")
    records = ResponseRecord.objects.count()
    resolve(api, bob, conversation)

    assert surveys_send_due() == {"sent": 1}
    survey = CsatResponse.objects.get(conversation=conversation)
    assert (survey.status, survey.agent_id, survey.team_id, survey.channel) == ("sent", bob.pk, meta_inbox.team_id, meta_inbox.kind)
    request = fake_provider.sent(MESSAGES_PATH)[-1].json()
    assert request["messaging_type"] == "RESPONSE" and "tag" not in request
    assert [q["payload"] for q in request["message"]["quick_replies"]] == [f"CSAT:{survey.pk}:{n}" for n in range(1, 6)]
    assert survey.message.sender_type == SenderType.BOT

    meta_post(meta_text(fixture, text="4", mid="m_rating", ms=now_ms(), quick_reply=f"CSAT:{survey.pk}:4"))

    survey.refresh_from_db()
    conversation.refresh_from_db()
    assert (survey.status, survey.rating) == ("answered", 4)
    assert conversation.status == "resolved" and conversation.waiting_since is None
    assert ResponseRecord.objects.count() == records
    answer = Message.objects.get(external_id="m_rating")
    assert answer.payload["csat"]["rating"] == 4
    event = ConversationEvent.objects.get(conversation=conversation, kind="csat")
    assert event.data["rating"] == 4


def test_a_comment_after_the_rating_is_stored_with_it_and_the_conversation_stays_resolved(
    meta_post, messenger_inbox, fake_provider, api, bob  # noqa: F811
):
    surveys_on(messenger_inbox)
    meta_post(meta_text("meta/messenger_text.json", text="Hi", mid="m_q1", ms=now_ms(seconds_ago=60)))
    conversation = Conversation.objects.get(inbox=messenger_inbox)
    resolve(api, bob, conversation)
    surveys_send_due()
    survey = CsatResponse.objects.get(conversation=conversation)
    unread = Conversation.objects.get(pk=conversation.pk).unread_count
    meta_post(meta_text("meta/messenger_text.json", text="5", mid="m_rate", ms=now_ms(seconds_ago=2),
                        quick_reply=f"CSAT:{survey.pk}:5"))
    meta_post(meta_text("meta/messenger_text.json", text="Lovely and quick, thanks!", mid="m_comment", ms=now_ms()))

    survey.refresh_from_db()
    conversation.refresh_from_db()
    assert (survey.rating, survey.comment) == (5, "Lovely and quick, thanks!")
    assert conversation.status == "resolved" and conversation.unread_count == unread
    assert ConversationEvent.objects.get(conversation=conversation, kind="csat").data["comment"] == "Lovely and quick, thanks!"


def test_a_new_question_after_the_survey_reopens_the_conversation_as_usual(
    meta_post, messenger_inbox, fake_provider, api, bob  # noqa: F811
):
    surveys_on(messenger_inbox)
    meta_post(meta_text("meta/messenger_text.json", text="Hi", mid="m_q1", ms=now_ms(seconds_ago=60)))
    conversation = Conversation.objects.get(inbox=messenger_inbox)
    resolve(api, bob, conversation)
    surveys_send_due()

    meta_post(meta_text("meta/messenger_text.json", text="Actually, can I change the size?", mid="m_q2", ms=now_ms()))

    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.waiting_since is not None
    assert CsatResponse.objects.get(conversation=conversation).status == "sent"


def test_no_survey_goes_to_messenger_outside_the_24_hour_window_not_even_with_human_agent(
    messenger_inbox, fake_provider, api, bob
):
    surveys_on(messenger_inbox)
    conversation = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(hours=30))
    resolve(api, bob, conversation)

    assert surveys_send_due() == {"window_closed": 1}
    assert fake_provider.sent(MESSAGES_PATH) == []
    assert CsatResponse.objects.get(conversation=conversation).skip_reason == "window_closed"


# --- SMS ---------------------------------------------------------------------------------------------------


def test_an_sms_survey_asks_to_reply_1_to_5_and_a_texted_rating_with_words_is_rating_and_comment(
    client, sms_inbox, commit, fake_provider, api, bob
):
    surveys_on(sms_inbox)
    post_twilio(client, SMS_URL, form("inbound_sms.txt", Body="Do you have it in blue?"))
    conversation = Conversation.objects.get(inbox=sms_inbox)
    resolve(api, bob, conversation)

    csat_dispatch()  # what beat runs

    body = fake_provider.sent("/Messages.json$")[-1].form()["Body"]
    assert body.endswith("Reply 1, 2, 3, 4 or 5.")
    post_twilio(client, SMS_URL, form("inbound_sms.txt", Body="5 great service", MessageSid="SM" + "5" * 32,
                                      SmsSid="SM" + "5" * 32, SmsMessageSid="SM" + "5" * 32))
    survey = CsatResponse.objects.get(conversation=conversation)
    conversation.refresh_from_db()
    assert (survey.rating, survey.comment, survey.channel) == (5, "great service", "sms")
    assert conversation.status == "resolved"


def test_a_number_that_texted_stop_gets_no_survey(client, sms_inbox, commit, fake_provider, api, bob):
    surveys_on(sms_inbox)
    post_twilio(client, SMS_URL, form("inbound_stop.txt"))
    conversation = Conversation.objects.get(inbox=sms_inbox)
    resolve(api, bob, conversation)

    assert surveys_send_due() == {"opted_out": 1}
    assert fake_provider.sent("/Messages.json$") == []


def test_a_late_survey_reply_is_never_counted_as_a_message_to_answer_even_after_a_day_of_silence(
    client, sms_inbox, commit, fake_provider, api, bob
):
    surveys_on(sms_inbox)
    post_twilio(client, SMS_URL, form("inbound_sms.txt", Body="Hello?"))
    conversation = Conversation.objects.get(inbox=sms_inbox)
    resolve(api, bob, conversation)
    surveys_send_due()
    # Two days of silence: an ordinary message now would open a counted record (Meta's 24 h rule).
    two_days_ago = timezone.now() - timedelta(days=2)
    Message.objects.filter(conversation=conversation).update(created_at=two_days_ago)
    CsatResponse.objects.filter(conversation=conversation).update(sent_at=two_days_ago)
    counted = ResponseRecord.objects.filter(conversation=conversation).count()

    post_twilio(client, SMS_URL, form("inbound_sms.txt", Body="3", MessageSid="SM" + "3" * 32,
                                      SmsSid="SM" + "3" * 32, SmsMessageSid="SM" + "3" * 32))

    assert CsatResponse.objects.get(conversation=conversation).rating == 3
    assert ResponseRecord.objects.filter(conversation=conversation).count() == counted
    metrics.rebuild()
    assert ResponseRecord.objects.filter(conversation=conversation).count() == counted


# --- Email -------------------------------------------------------------------------------------------------


def survey_links(text: str) -> dict[int, str]:
    return {int(n): url for n, url in re.findall(r"^([1-5]) - [^:]+: (http\S+)$", text, re.MULTILINE)}


def test_an_email_survey_has_five_signed_links_and_a_click_records_the_rating_only_when_posted(
    client, email_inbox, commit, api, bob
):
    surveys_on(email_inbox)
    conversation = conversation_make(email_inbox, name="Jane Doe", subject="Refund")
    resolve(api, bob, conversation)
    surveys_send_due()
    links = survey_links(mail.outbox[-1].body)
    assert sorted(links) == [1, 2, 3, 4, 5]
    path = links[2].removeprefix("http://testserver")

    assert client.get(path).status_code == 200  # what a mail scanner does: nothing recorded
    survey = CsatResponse.objects.get(conversation=conversation)
    assert survey.rating is None

    assert client.post(path, {"comment": "Took three days."}).status_code == 200
    survey.refresh_from_db()
    assert (survey.status, survey.rating, survey.comment) == ("answered", 2, "Took three days.")
    conversation.refresh_from_db()
    assert conversation.status == "resolved"


def test_a_forged_or_altered_rating_link_is_refused(client, email_inbox, commit, api, bob):
    surveys_on(email_inbox)
    conversation = conversation_make(email_inbox)
    resolve(api, bob, conversation)
    surveys_send_due()
    survey = CsatResponse.objects.get(conversation=conversation)
    token = rating_token(survey_id=survey.pk, rating=5)

    assert client.post(f"/csat/{token[:-2]}xx/").status_code == 400
    assert client.post(f"/csat/{rating_token(survey_id=survey.pk + 999, rating=5)}/").status_code == 400
    survey.refresh_from_db()
    assert survey.rating is None


# --- Scheduling rules -----------------------------------------------------------------------------------


def test_a_customer_gets_at_most_one_survey_in_the_inboxes_period(client, email_inbox, commit, api, bob):
    surveys_on(email_inbox, once_per_days=30)
    first = conversation_make(email_inbox, name="Jane Doe", subject="One")
    resolve(api, bob, first)
    surveys_send_due()
    second = Conversation.objects.create(inbox=email_inbox, customer=first.customer, identity=first.identity,
                                         channel="email", subject="Two", team=email_inbox.team)
    resolve(api, bob, second)

    assert surveys_send_due() == {"recently_surveyed": 1}
    assert len(mail.outbox) == 1


def test_a_survey_waits_for_its_delay_and_is_dropped_if_the_conversation_reopens_meanwhile(
    email_inbox, commit, api, bob
):
    surveys_on(email_inbox, delay_minutes=60)
    conversation = conversation_make(email_inbox)
    resolve(api, bob, conversation)

    assert surveys_send_due() == {}
    api(bob).patch(f"/api/v1/conversations/{conversation.pk}/", {"status": "open"}, format="json")
    assert surveys_send_due(now=timezone.now() + timedelta(minutes=61)) == {"reopened": 1}
    assert mail.outbox == []


def test_an_inbox_without_surveys_schedules_none(email_inbox, commit, api, bob):
    conversation = conversation_make(email_inbox)
    resolve(api, bob, conversation)
    assert not CsatResponse.objects.exists()


def test_the_survey_is_a_bot_message_that_leaves_a_waiting_customer_unanswered(
    meta_post, messenger_inbox, fake_provider, api, bob  # noqa: F811
):
    surveys_on(messenger_inbox)
    meta_post(meta_text("meta/messenger_text.json", text="Anyone there?", mid="m_q1", ms=now_ms(seconds_ago=60)))
    conversation = Conversation.objects.get(inbox=messenger_inbox)
    resolve(api, bob, conversation)
    surveys_send_due()

    record = ResponseRecord.objects.get(conversation=conversation)
    assert record.responded_at is None


# --- Privacy -------------------------------------------------------------------------------------------


def test_erasing_a_customer_blanks_their_survey_comments_and_keeps_the_rating(email_inbox, commit, api, bob):
    surveys_on(email_inbox)
    conversation = conversation_make(email_inbox, name="Jane Doe")
    resolve(api, bob, conversation)
    surveys_send_due()
    survey = CsatResponse.objects.get(conversation=conversation)
    survey_rate_from_link(token=rating_token(survey_id=survey.pk, rating=4), comment="Jane from Leeds, thanks!")
    exported = customer_export(customer=conversation.customer)["inbox.csatresponse"]
    assert [(s["rating"], s["comment"]) for s in exported] == [(4, "Jane from Leeds, thanks!")]

    customer_erase(customer=conversation.customer)

    survey.refresh_from_db()
    assert (survey.rating, survey.comment) == (4, "")
    assert ConversationEvent.objects.get(conversation=conversation, kind="csat").data["comment"] == ""
