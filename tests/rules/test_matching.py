"""Text conditions: substrings, whole words and `*`/`?` wildcards, at bounded cost on any message."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.utils import timezone

from inbox.rules import conditions
from inbox.rules.matching import contains, contains_word, pattern_problem, wildcard_matches


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("*where is my order*", "Hi! Where   is my ORDER #1042?", True),
    ("*where is my order*", "Where is my parcel?", False),
    ("order #????*", "Order #1042 has not arrived", True),
    ("order #????*", "Order #12", False),  # `?` is exactly one character: four are needed
    ("hello", "Hello", True),
    ("hello", "Hello there", False),
    ("ab*ba", "aba", False),
    ("ab*ba", "abba", True),
    ("*refund*please", "a refund, please!", False),  # without a trailing `*` the text must end there
    ("*refund*please", "I want a refund please", True),
    ("*", "", True),
    ("?", "", False),
    ("a*b*c", "a-b-b-c", True),
    ("*.*", "no dot here", False),  # a dot is a dot, not "any character"
    ("*(*", "a (bracket", True),
])
def test_wildcards_match_the_whole_text_case_insensitively(pattern, text, expected):
    assert wildcard_matches(text, pattern) is expected


def test_whole_words_do_not_match_inside_longer_words():
    assert contains_word("Can I get a refund?", ["refund"])
    assert not contains_word("refunded already", ["refund"])
    assert contains_word("I want my money back now", ["refund", "money back"])
    assert contains("It's about a REFUND", "refund") and not contains("hello", "refund")


def test_an_adversarial_pattern_on_a_long_message_is_decided_quickly():
    text = "a" * 50_000  # only the first 10,000 characters are read
    pattern = "*a*a*a*a*a*a*a*b"
    started = time.perf_counter()
    assert wildcard_matches(text, pattern) is False
    assert time.perf_counter() - started < 0.05


def test_unbounded_patterns_are_named_as_such():
    assert pattern_problem("*" * 9 + "x") is not None
    assert pattern_problem("x" * 201) is not None
    assert pattern_problem("") is not None
    assert pattern_problem("*refund*") is None


class _Known:
    """Facts already read (what a conversation, its customer and message say at an event)."""

    def __init__(self, text: str, **row):
        self.facts = conditions.Facts(1, at=timezone.now())
        self.facts.__dict__.update({
            "text": text, "row": {"channel": "messenger", "inbox_id": 3, "status": "open", "priority": "normal",
                                  "assignee_id": None, "team_id": None, "inbox__team_id": 7,
                                  "inbox__settings": {}, "customer_id": 5, **row},
            "labels": {"vip", "returns"}, "customer_tags": {"wholesale"}, "orders": [], "language": "fr-ca"})


@pytest.mark.parametrize("condition", [
    {"field": "text", "op": "contains", "value": "WHERE is"},
    {"field": "text", "op": "not_contains", "value": "where is"},
    {"field": "text", "op": "contains_word", "value": ["order", "parcel"]},
    {"field": "text", "op": "contains_word", "value": ["ord", " "]},
    {"field": "text", "op": "matches", "value": "*my order*"},
    {"field": "text", "op": "matches", "value": "hi*?"},
    {"field": "channel", "op": "is", "value": "messenger"},
    {"field": "channel", "op": "not_in", "value": ["sms", "email"]},
    {"field": "inbox", "op": "in", "value": [3, 4]},
    {"field": "inbox", "op": "is_not", "value": 3},
    {"field": "assignee", "op": "is", "value": "none"},
    {"field": "team", "op": "is", "value": 7},
    {"field": "label", "op": "has", "value": ["vip"]},
    {"field": "label", "op": "has_not", "value": ["vip", "x"]},
    {"field": "customer_tag", "op": "has", "value": ["retail"]},
    {"field": "language", "op": "is", "value": "fr"},
    {"field": "language", "op": "not_in", "value": ["en"]},
    {"field": "order_status", "op": "in", "value": ["refunded"]},
    {"field": "has_open_order", "op": "is", "value": False},
    {"field": "business_hours", "op": "is", "value": True},
])
def test_a_compiled_condition_decides_as_the_condition_read_as_written(condition):
    """Conditions are compiled once per rules version (inbox/rules/conditions.compile_condition)."""
    for text in ("Hi, where is my order?", "nothing to see", ""):
        facts = _Known(text).facts
        assert conditions.compile_condition(condition)(facts) is conditions.holds(condition, facts), text


@pytest.mark.parametrize(("op", "value"), [("gt", 100), ("gte", "120.50"), ("lt", 120), ("lte", 0), ("eq", "120.5")])
def test_a_compiled_number_condition_decides_as_written(op, value, monkeypatch):
    condition = {"field": "lifetime_value", "op": op, "value": value}
    facts = _Known("").facts
    monkeypatch.setattr(conditions.Facts, "lifetime_value", property(lambda self: Decimal("120.50")))
    assert conditions.compile_condition(condition)(facts) is conditions.holds(condition, facts)
