"""SLA clocks in business time: nights, weekends, holidays and DST changes do not count (or count
their real length), and the clocks a history makes (first/next response, resolution)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from inbox.models import SlaPolicy, SlaTarget
from inbox.sla.clocks import CUSTOMER, REPLY, STATUS, Happening, derive
from inbox.team.business_hours import Schedule

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def office(holidays=()) -> Schedule:
    return Schedule.from_settings({
        "business_hours": {"timezone": "Europe/Paris", "hours": {d: [["09:00", "17:00"]] for d in WEEKDAYS}},
        "holidays": list(holidays),
    })


def policy(**targets) -> SlaPolicy:
    return SlaPolicy(name="p", business_hours=True, warn_before_seconds=600, **targets)


def due_of(schedule: Schedule, at: datetime, seconds: int) -> datetime:
    [clock] = derive([Happening(at, CUSTOMER, 1)], policy=policy(first_response_seconds=seconds), schedule=schedule)
    return clock.due_at


def test_a_message_late_in_the_day_is_due_the_next_morning_not_overnight():
    assert due_of(office(), paris(2026, 11, 16, 16, 30), 3600) == paris(2026, 11, 17, 9, 30)


def test_a_message_in_the_night_starts_counting_at_the_opening():
    assert due_of(office(), paris(2026, 11, 17, 2, 0), 1800) == paris(2026, 11, 17, 9, 30)


def test_friday_afternoon_is_due_monday_morning_across_the_weekend():
    assert due_of(office(), paris(2026, 11, 20, 16, 30), 3600) == paris(2026, 11, 23, 9, 30)


def test_a_holiday_counts_like_a_closed_day():
    assert due_of(office(holidays=["2026-11-23"]), paris(2026, 11, 20, 16, 30), 3600) == paris(2026, 11, 24, 9, 30)


def test_a_target_longer_than_a_day_spans_several_business_days():
    # 20 business hours from Monday 09:00: Monday 8 h, Tuesday 8 h, Wednesday 4 h -> Wednesday 13:00.
    assert due_of(office(), paris(2026, 11, 16, 9, 0), 20 * 3600) == paris(2026, 11, 18, 13, 0)


def test_across_the_autumn_dst_change_the_due_time_keeps_the_local_opening_hours():
    # Friday 23 Oct 2026 16:30 CEST (14:30 UTC); clocks go back on Sunday 25 Oct.
    due = due_of(office(), paris(2026, 10, 23, 16, 30), 3600)
    assert due == paris(2026, 10, 26, 9, 30)
    assert due.astimezone(UTC) == datetime(2026, 10, 26, 8, 30, tzinfo=UTC)  # CET now: UTC+1


def test_open_hours_on_the_spring_dst_night_count_their_real_length():
    # Open 01:00-04:00 every day; on 29 Mar 2026 02:00 jumps to 03:00, so that day is open 2 real hours.
    night_shift = Schedule.from_settings({"business_hours": {
        "timezone": "Europe/Paris", "hours": {d: [["01:00", "04:00"]] for d in (*WEEKDAYS, "sat", "sun")}}})
    due = due_of(night_shift, paris(2026, 3, 29, 0, 30), 150 * 60)
    # 2 h on Sunday (01:00-04:00 is 2 real hours), then 30 min on Monday.
    assert due == paris(2026, 3, 30, 1, 30)
    assert due.astimezone(UTC) == datetime(2026, 3, 29, 23, 30, tzinfo=UTC)


def test_round_the_clock_opening_with_a_holiday_counts_real_hours_over_the_25_hour_day():
    always = Schedule.from_settings({"holidays": ["2026-12-25"]})
    # Saturday 24 Oct 12:00 CEST + 24 real hours = Sunday 25 Oct 11:00 CET (that day has 25 hours).
    assert due_of(always, paris(2026, 10, 24, 12, 0), 24 * 3600) == paris(2026, 10, 25, 11, 0)
    # Christmas Day does not count: 24 h from the 24th at noon end on the 26th at noon.
    assert due_of(always, paris(2026, 12, 24, 12, 0), 24 * 3600) == paris(2026, 12, 26, 12, 0)


def test_without_business_hours_a_target_is_clock_time():
    p = SlaPolicy(name="p", business_hours=False, warn_before_seconds=0, first_response_seconds=3600)
    at = paris(2026, 11, 20, 16, 30)
    [clock] = derive([Happening(at, CUSTOMER, 1)], policy=p, schedule=office())
    assert clock.due_at == at + timedelta(hours=1)


def test_the_warning_comes_the_policys_threshold_before_the_due_time_never_before_the_start():
    at = paris(2026, 11, 16, 10, 0)
    [clock] = derive([Happening(at, CUSTOMER, 1)], policy=policy(first_response_seconds=3600), schedule=office())
    assert clock.warn_at == clock.due_at - timedelta(minutes=10)
    [short] = derive([Happening(at, CUSTOMER, 1)], policy=policy(first_response_seconds=60), schedule=office())
    assert short.warn_at == at


def test_a_history_makes_first_response_next_response_and_resolution_clocks():
    t = paris(2026, 11, 16, 10, 0)
    p = SlaPolicy(name="p", warn_before_seconds=0, first_response_seconds=600, next_response_seconds=1200,
                  resolution_seconds=86400)
    history = [
        Happening(t, CUSTOMER, 1),
        Happening(t + timedelta(minutes=2), CUSTOMER, 2),  # the same wait
        Happening(t + timedelta(minutes=5), REPLY, 3, by=7),
        Happening(t + timedelta(minutes=30), CUSTOMER, 4),
        Happening(t + timedelta(minutes=70), REPLY, 5, by=8),  # 40 min: late
        Happening(t + timedelta(hours=2), STATUS, 1, by=7, to="resolved"),
    ]
    clocks = {c.target: c for c in derive(history, policy=p, schedule=None)}
    first, nxt, resolution = clocks[SlaTarget.FIRST_RESPONSE], clocks[SlaTarget.NEXT_RESPONSE], clocks[SlaTarget.RESOLUTION]
    assert (first.started_at, first.met_at, first.met_by) == (t, t + timedelta(minutes=5), 7)
    assert (nxt.started_at, nxt.met_at, nxt.met_by) == (t + timedelta(minutes=30), t + timedelta(minutes=70), 8)
    assert nxt.met_at > nxt.due_at
    assert (resolution.started_at, resolution.met_at) == (t, t + timedelta(hours=2))


def test_resolving_with_a_reply_owed_stops_that_clock_and_a_reopening_starts_new_ones():
    t = paris(2026, 11, 16, 10, 0)
    p = SlaPolicy(name="p", warn_before_seconds=0, first_response_seconds=600, next_response_seconds=600,
                  resolution_seconds=3600)
    history = [
        Happening(t, CUSTOMER, 1),
        Happening(t + timedelta(minutes=1), STATUS, 1, to="resolved"),
        Happening(t + timedelta(minutes=5), CUSTOMER, 2),  # while resolved: nothing yet
        Happening(t + timedelta(minutes=6), STATUS, 2, to="open"),
    ]
    clocks = derive(history, policy=p, schedule=None)
    assert [(c.target, c.started_at, c.stopped_at is not None, c.met_at is not None) for c in clocks] == [
        ("first_response", t, True, False),
        ("resolution", t, False, True),
        ("resolution", t + timedelta(minutes=6), False, False),
        ("next_response", t + timedelta(minutes=6), False, False),
    ]


def test_a_row_resolved_without_a_status_change_in_its_history_ends_its_clocks_there():
    """Rows written directly (an import, the demo shop) say they are resolved without a status event."""
    t = paris(2026, 11, 16, 10, 0)
    p = SlaPolicy(name="p", warn_before_seconds=0, first_response_seconds=600, resolution_seconds=3600)
    clocks = derive([Happening(t, CUSTOMER, 1)], policy=p, schedule=None, resolved_at=t + timedelta(minutes=5))
    assert [(c.target, c.stopped_at, c.met_at) for c in clocks] == [
        ("first_response", t + timedelta(minutes=5), None), ("resolution", None, t + timedelta(minutes=5))]
    # Reopened later by the customer: the reopening says it had been resolved.
    reopened = derive([Happening(t, CUSTOMER, 1), Happening(t + timedelta(days=2), STATUS, 1, to="open", before="resolved")],
                      policy=p, schedule=None)
    assert [c.running for c in reopened] == [False, False, True]
