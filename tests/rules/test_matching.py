"""Text conditions: substrings, whole words and `*`/`?` wildcards, at bounded cost on any message."""

from __future__ import annotations

import time

import pytest

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
