"""Responsiveness as Meta counts it: scripted scenarios with known answers."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from inbox import metrics
from inbox.conversations.receive import message_receive
from inbox.conversations.reply import message_deliver, reply_send
from inbox.models import DailyRollup, Message, ResponseRecord
from inbox.providers.base import InboundMessage

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday
_seq = iter(range(10**6))


def customer_writes(inbox, psid: str, at: datetime, text: str = "Hi, where is my order?"):
    return message_receive(inbox=inbox, incoming=InboundMessage(
        channel=inbox.kind, inbox_external_id=inbox.external_id, customer_external_id=psid,
        external_id=f"m_in_{next(_seq)}", timestamp=at, text=text))


def page_replies(inbox, psid: str, at: datetime, text: str = "It ships today."):
    """A reply typed in Meta's own inbox, seen by us as an echo: it counts as a human response."""
    return message_receive(inbox=inbox, incoming=InboundMessage(
        channel=inbox.kind, inbox_external_id=inbox.external_id, customer_external_id=psid,
        external_id=f"m_echo_{next(_seq)}", timestamp=at, text=text, is_echo=True, is_customer_action=False))


def over(days=7, *, now):
    since, until = metrics.window(days, now=now)
    return metrics.responsiveness(since=since, until=until)


@pytest.mark.django_db
def test_nine_of_ten_answered_gives_rate_090_and_the_fastest_90_percent_mean(messenger_inbox):
    minutes = [5, 6, 7, 8, 9, 10, 12, 15, 20]
    for i in range(10):
        customer_writes(messenger_inbox, f"psid{i}", T0 + timedelta(hours=i))
        if i < 9:
            page_replies(messenger_inbox, f"psid{i}", T0 + timedelta(hours=i, minutes=minutes[i]))
    result = over(now=T0 + timedelta(days=1))
    assert (result.counted, result.answered) == (10, 9)
    assert result.response_rate == pytest.approx(0.9)
    # floor(0.9 * 9) = 8 fastest: 5..15 minutes.
    assert result.response_time_seconds == pytest.approx(sum(minutes[:8]) * 60 / 8)
    assert result.median_response_seconds == pytest.approx(9 * 60)
    assert result.very_responsive is True


@pytest.mark.django_db
def test_a_slow_team_loses_the_badge(messenger_inbox):
    for i in range(10):
        customer_writes(messenger_inbox, f"psid{i}", T0 + timedelta(hours=i))
        page_replies(messenger_inbox, f"psid{i}", T0 + timedelta(hours=i, minutes=30))
    result = over(now=T0 + timedelta(days=1))
    assert result.response_rate == 1.0
    assert result.response_time_seconds == pytest.approx(1800)
    assert result.very_responsive is False


@pytest.mark.django_db
def test_only_a_message_after_24_hours_of_silence_counts(messenger_inbox):
    customer_writes(messenger_inbox, "psid", T0)
    customer_writes(messenger_inbox, "psid", T0 + timedelta(minutes=1))  # same burst: not counted again
    page_replies(messenger_inbox, "psid", T0 + timedelta(minutes=4))
    customer_writes(messenger_inbox, "psid", T0 + timedelta(hours=23))  # < 24 h after our reply
    customer_writes(messenger_inbox, "psid", T0 + timedelta(hours=48))  # a new counted message
    result = over(now=T0 + timedelta(days=3))
    assert (result.counted, result.answered) == (2, 1)
    assert result.response_time_seconds == pytest.approx(240)


@pytest.mark.django_db
def test_bot_greetings_do_not_answer_but_a_human_reply_does(messenger_inbox, bob, fake_provider):
    with time_machine.travel(T0, tick=False):
        message = customer_writes(messenger_inbox, "psid", T0)
        bot = reply_send(conversation=message.conversation, author=None, text="Thanks! We reply within an hour.",
                         sender_type="bot")
        message_deliver(bot.pk)
    assert over(now=T0 + timedelta(hours=1)).answered == 0
    with time_machine.travel(T0 + timedelta(minutes=7), tick=False):
        human = reply_send(conversation=message.conversation, author=bob, text="Hi! Your parcel left today.")
        message_deliver(human.pk)
    result = over(now=T0 + timedelta(hours=1))
    assert (result.counted, result.answered) == (1, 1)
    assert result.response_time_seconds == pytest.approx(7 * 60)
    assert ResponseRecord.objects.get().responder == bob
    assert metrics.responsiveness(since=T0, until=T0 + timedelta(days=1), responder_id=bob.pk).answered == 1


@pytest.mark.django_db
def test_a_reply_that_fails_to_send_is_not_a_response(messenger_inbox, bob, fake_provider):
    fake_provider.script(r"/messages$", status=400, json_body={"error": {
        "message": "(#10) This message is sent outside of allowed window.", "type": "OAuthException",
        "code": 10, "error_subcode": 2018065, "fbtrace_id": "Aa1"}})
    with time_machine.travel(T0, tick=False):
        message = customer_writes(messenger_inbox, "psid", T0)
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        reply = reply_send(conversation=message.conversation, author=bob, text="On it")
        message_deliver(reply.pk)
    assert Message.objects.get(pk=reply.pk).status == "failed"
    assert over(now=T0 + timedelta(hours=1)).answered == 0


@pytest.mark.django_db
def test_messages_received_while_closed_count_from_the_opening_in_business_time(messenger_inbox):
    # Paris, Mon–Fri 09:00–17:00. 2026-11-16 is a Monday; Paris is UTC+1 in November.
    messenger_inbox.settings = {"business_hours": {"timezone": "Europe/Paris",
                                                   "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}}
    messenger_inbox.save()
    friday_night = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 22:00 Paris, closed
    monday_open = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 Paris
    customer_writes(messenger_inbox, "psid", friday_night)
    page_replies(messenger_inbox, "psid", monday_open + timedelta(minutes=10))
    record = ResponseRecord.objects.get()
    assert record.counts_from == monday_open
    assert record.business_seconds == pytest.approx(600)
    assert record.response_seconds == pytest.approx((monday_open - friday_night).total_seconds() + 600)
    since, until = T0, monday_open + timedelta(hours=1)
    assert metrics.responsiveness(since=since, until=until, business=True).very_responsive is True
    assert metrics.responsiveness(since=since, until=until).very_responsive is False


@pytest.mark.django_db
def test_business_time_follows_daylight_saving_changes(messenger_inbox):
    from inbox.team.business_hours import Schedule

    schedule = Schedule.from_settings({"business_hours": {"timezone": "America/New_York",
                                                          "hours": {"sun": [["00:00", "23:59"]]}}})
    # 2026-03-08: clocks jump from 02:00 to 03:00 in New York, so that Sunday has 23 h.
    start = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    end = datetime(2026, 3, 9, 5, 0, tzinfo=UTC)
    assert schedule.open_seconds_between(start, end) == pytest.approx((22 * 60 + 59) * 60)


@pytest.mark.django_db
def test_holidays_are_closed(messenger_inbox):
    from inbox.team.business_hours import Schedule

    schedule = Schedule.from_settings({"business_hours": {"timezone": "UTC", "hours": {"fri": [["09:00", "17:00"]]}},
                                       "holidays": ["2026-12-25"]})
    assert not schedule.is_open(datetime(2026, 12, 25, 10, tzinfo=UTC))
    assert schedule.is_open(datetime(2027, 1, 1, 10, tzinfo=UTC))
    assert schedule.next_open(datetime(2026, 12, 25, 10, tzinfo=UTC)) == datetime(2027, 1, 1, 9, tzinfo=UTC)


@pytest.mark.django_db
def test_rebuilt_records_and_rollups_equal_the_incremental_ones(messenger_inbox, sms_inbox):
    for i in range(12):
        customer_writes(messenger_inbox, f"p{i}", T0 + timedelta(hours=i))
        if i % 3:
            page_replies(messenger_inbox, f"p{i}", T0 + timedelta(hours=i, minutes=i + 1))
        customer_writes(messenger_inbox, f"p{i}", T0 + timedelta(days=2, hours=i))
    customer_writes(sms_inbox, "+14155550123", T0 + timedelta(days=1))

    def snapshot():
        records = sorted(ResponseRecord.objects.values_list(
            "customer_message_id", "responded_at", "response_seconds", "business_seconds", "counts_from", "team_id"))
        rollups = sorted(DailyRollup.objects.values_list("inbox_id", "day", "counted", "answered", "response_seconds_sum"))
        return records, rollups

    incremental = snapshot()
    assert len(incremental[0]) == 25
    assert metrics.rebuild() == 25
    assert snapshot() == incremental


def test_fastest_90_mean_takes_the_floor_of_ninety_percent():
    assert metrics.fastest_90_mean([]) is None
    assert metrics.fastest_90_mean([100]) == 100
    assert metrics.fastest_90_mean(list(range(1, 11))) == pytest.approx(5.0)  # 1..9


@pytest.mark.django_db
def test_the_rebuild_command_restores_deleted_records(messenger_inbox):
    from django.core.management import call_command

    customer_writes(messenger_inbox, "psid", T0)
    page_replies(messenger_inbox, "psid", T0 + timedelta(minutes=3))
    ResponseRecord.objects.all().delete()
    DailyRollup.objects.all().delete()
    call_command("metrics_rebuild")
    record = ResponseRecord.objects.get()
    assert record.response_seconds == pytest.approx(180)
    assert DailyRollup.objects.get().answered == 1


def _records():
    return sorted(
        (r.customer_message.external_id, r.responded_at, r.response_seconds)
        for r in ResponseRecord.objects.select_related("customer_message")
    )


def _rollups():
    return sorted(DailyRollup.objects.values_list("inbox_id", "day", "counted", "answered", "response_seconds_sum"))


@pytest.mark.django_db
@pytest.mark.parametrize("order", ["written", "later_first", "reply_first", "reversed"])
def test_messages_stored_out_of_order_give_the_records_of_a_rebuild(messenger_inbox, order):
    """Meta doesn't promise order and two workers may take one person's messages at once."""
    script = {
        "a": lambda: customer_writes(messenger_inbox, "psid", T0, "first"),
        "b": lambda: customer_writes(messenger_inbox, "psid", T0 + timedelta(minutes=20), "second"),
        "r": lambda: page_replies(messenger_inbox, "psid", T0 + timedelta(minutes=30)),
    }
    steps = {"written": "abr", "later_first": "bar", "reply_first": "rab", "reversed": "rba"}[order]
    for step in steps:
        script[step]()
    incremental, rollups = _records(), _rollups()
    ResponseRecord.objects.all().delete()
    DailyRollup.objects.all().delete()
    metrics.rebuild()
    assert incremental == _records()
    assert rollups == _rollups()
    # One counted message (the first), answered by the reply 30 minutes after it.
    assert [(seconds) for _, _, seconds in incremental] == [pytest.approx(1800)]
