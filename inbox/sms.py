"""SMS segment counting: how many messages a text costs, and in which encoding.

Carriers carry 140 bytes per SMS. GSM-7 packs 160 septets into that (153 when a user data
header links the parts of a longer text); anything outside the GSM-7 alphabet forces UCS-2,
70 UTF-16 code units (67 per part). Characters of the GSM-7 extension table take two septets
(escape + char), and a part never ends between the two; nor does a UCS-2 part split a
surrogate pair (an emoji is two code units). Pure functions: the reply box can reuse them.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7 = "gsm7"
UCS2 = "ucs2"

# Twilio refuses bodies over 1600 characters.
MAX_CHARACTERS = 1600

SINGLE = {GSM7: 160, UCS2: 70}
CONCATENATED = {GSM7: 153, UCS2: 67}

# 3GPP TS 23.038 default alphabet (the escape code 0x1B is not a character of its own).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape code: two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "gsm7" or "ucs2"
    segments: int  # 0 for an empty text
    characters: int  # Unicode code points, what Twilio's 1600 limit counts
    per_segment: int  # capacity of each part in this text's units: 160/153 septets, 70/67 code units
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)

    @property
    def too_long(self) -> bool:
        return self.characters > MAX_CHARACTERS


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _costs(text: str, encoding: str) -> list[int]:
    """Units per character; a character's units always travel in the same part."""
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(costs: list[int], capacity: int) -> int:
    parts, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            parts += 1
            used = 0
        used += cost
    return parts


def segments(text: str) -> SegmentInfo:
    """How Twilio (and the carriers) will split `text` into SMS parts."""
    encoding = GSM7 if is_gsm7(text) else UCS2
    costs = _costs(text, encoding)
    units = sum(costs)
    if units == 0:
        return SegmentInfo(encoding, 0, 0, SINGLE[encoding], 0)
    if units <= SINGLE[encoding]:
        return SegmentInfo(encoding, 1, len(text), SINGLE[encoding], units)
    per_segment = CONCATENATED[encoding]
    return SegmentInfo(encoding, _pack(costs, per_segment), len(text), per_segment, units)
