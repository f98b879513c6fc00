"""Mask personal data in free text before it is stored.

What is masked (in Chinese and English text alike):

* e-mail addresses -> ``[email]``
* 18-digit resident ID numbers (6-digit area, birth date, 3 digits, digit or X) -> ``[id-number]``
* mainland-China mobile numbers (``1[3-9]`` + 9 digits, optionally ``+86`` / ``0086`` / ``86``,
  spaces or hyphens between groups) -> ``[phone]``
* bank card numbers (13-19 digits): any other run of 13 or more digits, optionally
  grouped -> ``[bank-card]``

Detection runs on a copy of the text in which full-width characters (``１３８…``, ``＠``) are
replaced one-for-one by their ASCII forms, so offsets match and the original text (full-width
Chinese punctuation included) is kept everywhere except in the masked spans. Number patterns
only match whole digit groups: a phone number inside a longer run of digits is a card, not a
phone. Over-masking (an 16-digit order number becomes ``[bank-card]``) is the intended side of
the trade-off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDERS = {
    "email": "[email]",
    "id_number": "[id-number]",
    "phone": "[phone]",
    "bank_card": "[bank-card]",
}

# full-width ASCII variants U+FF01..U+FF5E -> U+0021..U+007E, and the ideographic space
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_SEP = r"[ \t\-\u00a0]"  # one separator between digit groups
_START = rf"(?<!\d)(?<!\d{_SEP})"  # not inside a longer digit group
_END = rf"(?!{_SEP}?\d)"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "email",
        re.compile(
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+\s?@\s?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
            r"\.[A-Za-z]{2,}",
        ),
    ),
    (
        "id_number",
        re.compile(
            _START + r"[1-9]\d{5}" + _SEP + r"?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
            r"(?:0[1-9]|[12]\d|3[01])" + _SEP + r"?\d{3}[\dXx](?![\dA-Za-z])"
        ),
    ),
    (
        "phone",
        re.compile(
            r"(?<![\d+])(?<!\d" + _SEP + r")(?:(?:\+|00)?86" + _SEP + r"?)?"
            r"1[3-9]\d" + _SEP + r"?\d{4}" + _SEP + r"?\d{4}" + _END
        ),
    ),
    ("bank_card", re.compile(_START + r"\d(?:" + _SEP + r"?\d){12,}" + _END)),
]


@dataclass(frozen=True, slots=True)
class MaskResult:
    text: str
    counts: dict[str, int]

    @property
    def changed(self) -> bool:
        return any(self.counts.values())


def _ascii_view(text: str) -> str:
    return text.translate(_FULLWIDTH)


def mask_text(text: str | None) -> MaskResult:
    """The text with every detected piece of personal data replaced by a placeholder."""
    if not text:
        return MaskResult(text or "", {kind: 0 for kind in PLACEHOLDERS})
    counts = {kind: 0 for kind in PLACEHOLDERS}
    current = text
    for kind, pattern in _PATTERNS:
        view = _ascii_view(current)
        pieces: list[str] = []
        last = 0
        for match in pattern.finditer(view):
            pieces.append(current[last : match.start()])
            pieces.append(PLACEHOLDERS[kind])
            last = match.end()
            counts[kind] += 1
        if last:
            pieces.append(current[last:])
            current = "".join(pieces)
    return MaskResult(current, counts)


def mask(text: str | None) -> str:
    """Shorthand: only the masked text."""
    return mask_text(text).text
