"""How many SMS parts a text costs: GSM-7 160/153 septets, UCS-2 70/67 UTF-16 code units."""

import pytest

from inbox.sms import MAX_CHARACTERS, segments


def test_an_empty_text_costs_nothing():
    info = segments("")
    assert (info.encoding, info.segments, info.characters) == ("gsm7", 0, 0)


def test_160_gsm_characters_fit_in_one_segment():
    info = segments("a" * 160)
    assert (info.encoding, info.segments, info.per_segment, info.units) == ("gsm7", 1, 160, 160)


def test_161_gsm_characters_take_two_segments_of_153():
    info = segments("a" * 161)
    assert (info.segments, info.per_segment) == (2, 153)


def test_two_full_concatenated_segments_hold_306_characters_and_307_needs_a_third():
    assert segments("a" * 153 * 2).segments == 2
    assert segments("a" * 307).segments == 3


def test_the_euro_sign_is_gsm_but_counts_two_septets():
    info = segments("€")
    assert (info.encoding, info.units, info.characters) == ("gsm7", 2, 1)
    # 80 euro signs are 160 septets: one segment; one more character tips it over.
    assert segments("€" * 80).segments == 1
    assert segments("€" * 80 + "a").segments == 2


@pytest.mark.parametrize("char", list("^{}\\[~]|\f"))
def test_every_extension_character_counts_two_septets(char):
    assert segments(char).units == 2


def test_an_escape_pair_is_never_split_across_segments():
    # 152 plain septets then "€": the pair does not fit in the first 153, so it moves whole.
    text = "a" * 152 + "€" + "a" * 152
    info = segments(text)
    assert info.units == 306  # would fit 2 x 153 if the pair could be split
    assert info.segments == 3


def test_accented_letters_of_the_gsm_alphabet_stay_gsm_and_others_turn_ucs2():
    assert segments("Ça va, Ñandù? ¿qué? Øre, Δ 5€").encoding == "gsm7"
    assert segments("Ça coûte 5€").encoding == "ucs2"  # û is not in the GSM-7 alphabet


def test_one_emoji_turns_the_whole_text_ucs2_and_counts_two_code_units():
    info = segments("Thanks 👍")
    assert (info.encoding, info.units, info.characters, info.segments) == ("ucs2", 9, 8, 1)


def test_70_ucs2_code_units_fit_in_one_segment_and_71_take_two_of_67():
    assert segments("ж" * 70).segments == 1
    info = segments("ж" * 71)
    assert (info.encoding, info.segments, info.per_segment) == ("ucs2", 2, 67)
    assert segments("ж" * 134).segments == 2
    assert segments("ж" * 135).segments == 3


def test_a_surrogate_pair_is_never_split_across_ucs2_segments():
    # 66 units then an emoji (2 units): it cannot start in the 67th slot.
    text = "ж" * 66 + "😀" + "ж" * 66
    info = segments(text)
    assert info.units == 134
    assert info.segments == 3


def test_texts_over_1600_characters_are_too_long():
    assert not segments("a" * MAX_CHARACTERS).too_long
    assert segments("a" * (MAX_CHARACTERS + 1)).too_long
    assert segments("a" * MAX_CHARACTERS).segments == 11  # ceil(1600 / 153)
