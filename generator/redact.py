"""Remove personal data from citizen text before any of it reaches the public site.

The redactor never interprets HTML or Markdown: it finds spans of personal data and
replaces exactly those spans in the original text, so every other character stays as it
was (escaping is the renderer's job).

What is found: mobile numbers and landlines in any disguise (country prefix, separators,
full-width digits, zero-width characters, Chinese numerals), resident ID numbers, bank
cards, licence plates, e-mail addresses, QQ numbers and WeChat ids next to their keywords,
the ticket's own private values (name, phone, address, others) and the editors' rules.
What survives: dates, times, amounts, ordinary and small numbers, postal codes, public
service numbers (12345, 110, 95598, ...) and ticket ids such as ``LY20261128000123``.

How it stays linear: the text is folded once into a normalised copy (Unicode digits to
ASCII, invisible characters dropped, dashes, dots and spaces folded) that maps back to the
original. Number detectors are flat patterns tried only where a digit group starts; their
repetitions are bounded (or run over disjoint character classes, with possessive
separators, so that there is nothing to backtrack into) and all of them are tried at
every group start, so that overlapping numbers are all found; their union is redacted.
A run of digits and separators of 4096 characters or more is noise and is redacted whole
if it holds a number. Editors' regular expressions are compiled with the `regex` module
when it is installed (it can stop a match after a timeout) and must not nest quantifiers.
Every stage checks the time budget; running out raises RedactionError.

Redaction is idempotent: where one finding could change how a second pass over the
redacted text reads the digits around it, the first pass already looks at the text that
way (see _whole_runs and _window_hits).
"""

from __future__ import annotations

import bisect
import html
import math
import operator
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

try:  # the `regex` module can stop a runaway editor pattern; `re` is the fallback
    import regex as _regex
except ImportError:  # pragma: no cover - exercised only where `regex` is missing
    _regex = None

__all__ = [
    "REPLACEMENTS",
    "Hit",
    "PrivateLiterals",
    "RedactionError",
    "Redacted",
    "Redactor",
    "contains_private",
    "normalize_digits",
]

REPLACEMENTS: dict[str, str] = {
    "phone": "［电话已隐去］",
    "id_number": "［身份证号已隐去］",
    "bank_card": "［银行卡号已隐去］",
    "plate": "［车牌号已隐去］",
    "email": "［邮箱已隐去］",
    "qq": "［QQ号已隐去］",
    "wechat": "［微信号已隐去］",
    "name": "［姓名已隐去］",
    "address": "［地址已隐去］",
    "other": "［已隐去］",
    "editor": "［已隐去］",
}

EDITOR_SCOPES = frozenset({"content", "reply", "comment", "note", "all"})


@dataclass(frozen=True)
class Hit:
    """One redacted span, in the coordinates of the original text."""

    kind: str
    start: int
    end: int
    rule_id: str | None = None


@dataclass(frozen=True)
class Redacted:
    """The public text and the spans of the original that were replaced."""

    text: str
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class PrivateLiterals:
    """The ticket's own private values, removed wherever they appear in its public text."""

    names: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    others: tuple[str, ...] = ()


class RedactionError(Exception):
    """The redactor cannot guarantee a safe result; the caller must hold the text back."""


# --------------------------------------------------------------------------- folding

# Characters that render as nothing (or nearly) and are used to split numbers.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U000e0000-\U000e0fff"
)
# Written [x][x]* rather than [x]+: a pattern that starts with a character class lets
# the engine skip ahead to a candidate, which halves the cost of scanning a page.
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}][{_INVISIBLE}]*")

_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_DASHES = (
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\u30fc\u2500\u2501\u301c"
)
_DOTS = "\u00b7\u2022\u2024\u2027\u2219\u22c5\u30fb\uff65\u0387"
_SLASHES = "\u2044\u2215\u29f8"


def _build_width_table() -> dict[int, str]:
    """Map every character that is a digit or separator in disguise to its ASCII form (1:1)."""
    table: dict[int, str] = {}
    for cp in range(0xFF01, 0xFF5F):  # full-width ASCII
        table[cp] = chr(cp - 0xFEE0)
    ranges = [range(0x80, 0x10000), range(0x1D7CE, 0x1D800), range(0x1FBF0, 0x1FBFA)]
    for block in ranges:
        for cp in block:
            digit = unicodedata.digit(chr(cp), None)
            if digit is not None:
                table[cp] = str(digit)
    table[0x24EA] = table[0x24FF] = "0"  # circled zeros have no digit value
    for chars, ascii_char in ((_SPACES, " "), (_DASHES, "-"), (_DOTS, "."), (_SLASHES, "/")):
        for ch in chars:
            table[ord(ch)] = ascii_char
    return table


_WIDTH_TABLE = _build_width_table()


def _char_class(codepoints: Iterable[int]) -> str:
    """A regex character class of the code points, as ranges."""
    cps = sorted(codepoints)
    parts: list[str] = []
    start = prev = cps[0]
    for cp in [*cps[1:], -1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(re.escape(chr(start)) if start == prev else f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
        start = prev = cp
    return "[" + "".join(parts) + "]"


# Most text has none of these: folding is skipped unless one is there (str.translate with a
# large table costs ~50 ns a character).
_WIDTH_RE = re.compile(_char_class(_WIDTH_TABLE) * 2 + "*")  # [x][x]*, as _INVISIBLE_RE

# Chinese numerals as read out digit by digit (幺 for 1, 两 for 2, 拐 7, 勾 9, 洞 0).
_CN_DIGITS = {
    "0": "〇零○洞",
    "1": "一壹幺",
    "2": "二贰貳两",
    "3": "三叁參",
    "4": "四肆",
    "5": "五伍",
    "6": "六陆陸",
    "7": "七柒拐",
    "8": "八捌",
    "9": "九玖勾",
}
_CN_TABLE = {ord(ch): digit for digit, chars in _CN_DIGITS.items() for ch in chars}
_CN_RE = re.compile("[" + "".join(_CN_DIGITS.values()) + "]")

_SEP_CHARS = " \t-./\\_()"
_S = r"[ \t\-./\\_()]"  # what may stand between two digits of one number
_SS = _S + "{0,4}+"  # possessive: separators and digits never compete
_S1 = _S + "{1,4}+"
_DIGIT_SEP_RE = re.compile(rf"(?<=[0-9]){_S1}(?=[0-9])")


def _flat(text: str) -> str:
    """text without whitespace (str.split drops exactly what the regex \\s matches)."""
    return "".join(text.split())


# Three Chinese numerals with at most separators or digits between: every number read out in
# Chinese numerals has such a stretch; ordinary prose rarely does, so the Chinese reading
# of a page is made only when it can matter.
# Written out, not as (?:numeral gap){3}: a pattern that starts with a character class
# lets the engine skip to the next numeral instead of trying every position (it is only
# searched for, so the trailing gap of the third numeral does not matter).
_CN_CHAR = "[" + "".join(_CN_DIGITS.values()) + "]"
_CN_GAP = "(?:[0-9]|" + _S + "){0,4}"
_CN_STRETCH_RE = re.compile(_CN_CHAR + _CN_GAP + _CN_CHAR + _CN_GAP + _CN_CHAR)

# The full-width punctuation of Chinese prose: nearly every character _WIDTH_RE finds in a
# page. Each is replaced in one C pass (str.replace) rather than one Python call per match;
# the tables map characters one to one, to ASCII characters they do not map, so replacing
# some of them first and the rest after gives the same text.
_COMMON_WIDE = tuple((ch, _WIDTH_TABLE[ord(ch)]) for ch in "，（）：；［］！？·")


def _narrow_common(text: str) -> str:
    for wide, narrow in _COMMON_WIDE:
        if wide in text:
            text = text.replace(wide, narrow)
    return text


def _widen(text: str) -> str:
    """Return text.translate(_WIDTH_TABLE), without translate's cost per character."""
    return _WIDTH_RE.sub(_fold_match, _narrow_common(text))


def _fold_match(m: re.Match[str]) -> str:
    return m.group().translate(_WIDTH_TABLE)


def _class_codepoints(chars: str) -> Iterator[int]:
    """Yield the code points of a character class body made of characters and "a-b" ranges."""
    i = 0
    while i < len(chars):
        if chars[i + 1 : i + 2] == "-" and i + 2 < len(chars):
            yield from range(ord(chars[i]), ord(chars[i + 2]) + 1)
            i += 3
        else:
            yield ord(chars[i])
            i += 1


# Width folding and invisible characters in one table and one scan (no character is in
# both, and folding maps to ASCII only).
_FOLD_TABLE: dict[int, str | None] = {
    **dict.fromkeys(_class_codepoints(_INVISIBLE)),
    **_WIDTH_TABLE,
}
_FOLD_RE = re.compile(_char_class(_FOLD_TABLE) * 2 + "*")  # [x][x]*, as _INVISIBLE_RE


def _fold(text: str) -> str:
    """Fold width and disguised separators and drop invisible characters."""
    return _FOLD_RE.sub(_fold_all_match, _narrow_common(text))


def _fold_all_match(m: re.Match[str]) -> str:
    return m.group().translate(_FOLD_TABLE)


def normalize_digits(text: str) -> str:
    """Return the digits view of text: ASCII digits, no invisible characters, no separators between digits.

    Full-width and other Unicode digits become ASCII, Chinese numerals read digit by digit
    (一三八, 幺, 两, 〇) become digits, zero-width and format characters are removed, and
    spaces, hyphens, dots, slashes and brackets between two digits are dropped, so that
    ``"１３８ 1234-5678"`` becomes ``"13812345678"``. Other characters are kept.
    """
    return _DIGIT_SEP_RE.sub("", _fold(text).translate(_CN_TABLE))


class _Folded:
    """The normalised copy of a text, and the way back from its indices to the original's.

    Folding maps characters one to one, except invisible ones, which it drops; the way
    back walks the original once, in C-sized steps, for all the spans at the same time.
    """

    __slots__ = ("n1", "_widened")

    def __init__(self, text: str) -> None:
        widened = _widen(text)
        self._widened = widened if _INVISIBLE_RE.search(widened) else None
        self.n1 = widened if self._widened is None else _INVISIBLE_RE.sub("", widened)

    @property
    def identical(self) -> bool:
        """Return whether indices of the normalised copy are indices of the original."""
        return self._widened is None

    def original_spans(self, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Map spans of the normalised copy to spans of the original text."""
        if self._widened is None:
            return list(spans)
        points = sorted({p for start, end in spans for p in (start, end - 1)})
        where = dict(zip(points, self._walk(points), strict=True))
        return [(where[start], where[end - 1] + 1) for start, end in spans]

    def _walk(self, points: Iterable[int]) -> Iterator[int]:
        """Yield the original index of each of the sorted normalised indices."""
        wide = self._widened
        assert wide is not None
        skip = _INVISIBLE_RE.match(wide)
        orig = skip.end() if skip else 0  # the original index of normalised index `norm`
        norm = 0
        for point in points:
            need = point - norm
            while need > 0:
                chunk = wide[orig : orig + need]
                if not chunk:
                    break
                kept = len(_INVISIBLE_RE.sub("", chunk))
                orig, norm, need = orig + len(chunk), norm + kept, need - kept
                skip = _INVISIBLE_RE.match(wide, orig)
                if skip:
                    orig = skip.end()
            yield orig


# ------------------------------------------------------------------ number patterns


def _digits(n: int) -> str:
    """Return a pattern for n more digits, each possibly preceded by separators."""
    return f"(?:{_SS}[0-9]){{{n}}}"


_MONTH = f"(?:0{_SS}[1-9]|1{_SS}[0-2])"
_DAY = f"(?:0{_SS}[1-9]|[12]{_SS}[0-9]|3{_SS}[01])"
_CC86 = rf"(?:(?:\+|00){_SS}86|\({_SS}\+?{_SS}86)"  # the closing ")" is a separator
# Each alternative starts on the first digit of a digit group; all are tried at every
# group start, and the union of all their matches is what gets redacted.
_NUMBER_ALTERNATIVES = {
    # contiguous digits: 15 (old ID), 16-19 (card), 18 (ID), 17 + X (ID), longer (account)
    "plain": rf"[0-9]{{15,}}(?:{_SS}[Xx](?![A-Za-z]))?",
    "card4": f"[0-9]{{4}}(?:{_S1}[0-9]{{4}}){{3}}(?:{_S1}[0-9]{{1,4}})?",
    # 6-8-4 ID, 6-6-3 old ID, 6-10..13 card
    "grouped": (
        f"[0-9]{{6}}{_S1}(?:[0-9]{{8}}{_S1}[0-9]{{3}}{_SS}[0-9Xx]"
        f"|[0-9]{{6}}{_S1}[0-9]{{3}}|[0-9]{{10,13}})"
    ),
    # an 18-digit ID split anywhere: region, a birth date from 1800-2099, sequence
    "id18": (
        f"[1-8]{_digits(5)}{_SS}(?:1{_SS}[89]|2{_SS}0){_digits(2)}{_SS}{_MONTH}{_SS}{_DAY}"
        f"{_digits(3)}{_SS}[0-9Xx]"
    ),
    "mobile": rf"(?:{_CC86}{_SS}|86{_SS}|0{_SS})?1{_SS}[3-9]{_digits(9)}",
    # area code 0xx / 0xxx (or without its 0 after +86), local number of 7-8 digits
    "landline": (
        rf"(?:{_CC86}{_SS}(?:\({_SS})?(?:0{_SS})?|(?:86{_SS})?(?:\({_SS})?0{_SS})"
        rf"[1-9](?:{_SS}[0-9]){{1,2}}{_SS}\)?{_SS}[2-9](?:{_SS}[0-9]){{6,7}}"
    ),
}
_NUMBER_NAMES = tuple(_NUMBER_ALTERNATIVES)
_NUMBER_RE = re.compile(
    r"(?=[0-9+(])(?:(?<![0-9])|(?=[+(]))"
    + "".join(
        f"(?:(?=(?P<{name}>{body})(?![0-9])))?" for name, body in _NUMBER_ALTERNATIVES.items()
    )
    # at least one of them matched
    + "".join(f"(?({name})|" for name in _NUMBER_NAMES)
    + "(?!)"
    + ")" * len(_NUMBER_NAMES)
)
# Maximal runs of digit groups joined by at most 4 separators. The repetition nests, but
# digits and separators are disjoint, so there is one way to match and no backtracking.
_RUN_RE = re.compile(rf"[0-9](?<![0-9][0-9])[0-9]*(?:{_S1}[0-9]+)*")
# The same, for runs of at least 5 characters (the look ahead skips most shorter ones; a
# shorter run it lets through, or a piece of one it skipped, must still be filtered out).
_RUN5_RE = re.compile(rf"[0-9](?<![0-9][0-9])(?=[0-9 \t\-./\\_()]{{4}})[0-9]*(?:{_S1}[0-9]+)*")
# The same, for runs of at least 15 and of at least _GIANT characters (a cheap look ahead
# skips the shorter ones).
_LONG_RUN_RE = re.compile(rf"[0-9](?<![0-9][0-9])(?=[0-9 \t\-./\\_()]{{14}})[0-9]*(?:{_S1}[0-9]+)*")
_GIANT = 4096
_GIANT_RUN_RE = re.compile(
    rf"[0-9](?<![0-9][0-9])(?=[0-9 \t\-./\\_()]{{{_GIANT - 1}}})[0-9]*(?:{_S1}[0-9]+)*"
)
_CN_CLASS = "0-9" + "".join(_CN_DIGITS.values())
# Runs of at least 7 digits of which some are Chinese numerals (checked in Python).
_CN_RUN_RE = re.compile(
    rf"[{_CN_CLASS}](?<![{_CN_CLASS}][{_CN_CLASS}])(?:{_SS}[{_CN_CLASS}]){{6}}(?:{_SS}[{_CN_CLASS}])*"
)
_RUN_X_RE = re.compile(rf"{_SS}[Xx](?![A-Za-z])")
_TICKET_ID_RE = re.compile(r"[A-Z](?<![A-Za-z][A-Z])[A-Z][0-9]{14}(?![0-9])")
_DATE = r"(?:19|20)[0-9]{2}[-./ ]{1,3}(?:0?[1-9]|1[0-2])[-./ ]{1,3}(?:0?[1-9]|[12][0-9]|3[01])"
_DATEISH_RE = re.compile(rf"(?<![0-9]){_DATE}(?![0-9])")
_DATES_ONLY_RE = re.compile(rf"{_DATE}(?:{_S1}{_DATE})*")  # 2026.11.28-2026.12.05
_PUBLIC_RE = re.compile(r"1[0-2][0-9]|1[0-2][0-9]{3}|9[56][0-9]{3,4}|100[0-9]{2}|[48]00[0-9]{7}")
_NOT_DIGIT_RE = re.compile(r"[^0-9Xx]")
_NOT_DIGIT_CN_RE = re.compile("[^0-9Xx" + "".join(_CN_DIGITS.values()) + "]")
_NOT_DIGIT_NL_RE = re.compile(r"[^0-9Xx\n]")
_ID18_SHAPE_RE = re.compile(
    r"[1-8][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
)
_ID15_SHAPE_RE = re.compile(r"[1-8][0-9]{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}")

# Keyword contexts. An ASCII keyword must not be the tail of a longer word.
_KW_TAIL = r"[ \t]{0,2}(?:号码|号|账号|ID|id)?[ \t:是为]{0,3}"
_QQ_RE = re.compile(
    rf"(?=[Qq扣企])(?:[Qq](?<![A-Za-z][Qq])[Qq]|扣扣|企鹅){_KW_TAIL}"
    rf"(?P<v>[1-9](?:{_SS}[0-9]){{4,10}})(?![0-9])"
)
_WECHAT_RE = re.compile(
    r"(?=[微薇威徽VvWw])(?:微信|薇信|威信|徽信|[Vv]信|[VvWw](?<![A-Za-z][VvWw])[Xx]|[Ww](?<![A-Za-z][Ww])(?i:echat|eixin))"
    rf"{_KW_TAIL}(?P<v>[A-Za-z][-_A-Za-z0-9]{{5,}}|[0-9](?:{_SS}[0-9]){{4,10}}(?![0-9]))"
)
_WXID_RE = re.compile(r"w(?<![A-Za-z]w)xid_[-_A-Za-z0-9]{4,}")
_TEL_RE = re.compile(
    r"(?=[电座固手号联致Tt])(?:电话|座机|固话|手机|号码|联系方式|致电|[Tt](?<![A-Za-z][Tt])(?:el|EL))"
    rf"{_KW_TAIL}(?P<v>[0-9](?:{_SS}[0-9]){{6,11}})(?![0-9])"
)
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9._%+-](?<![A-Za-z0-9._%+-][A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*"
    r"@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,7}\.[A-Za-z]{2,24}(?![A-Za-z])"
)
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_RE = re.compile(
    rf"[{_PROVINCES}][ \t.\-]{{0,2}}[A-Za-z][ \t.\-]{{0,2}}"
    r"(?P<tail>[A-Za-z0-9]{4,6})(?P<suffix>[挂学警港澳使领试超])?(?![A-Za-z0-9])"
)


def _luhn(digits: str) -> bool:
    """Return whether digits pass the Luhn check used by bank cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _id_or_card(digits: str) -> str:
    """Classify an 18-character number: an ID, unless only a bank card makes sense of it."""
    if _ID18_SHAPE_RE.fullmatch(digits) or not digits.isdigit() or not _luhn(digits):
        return "id_number"
    return "bank_card"


def _classify(name: str, value: str) -> str:
    """Return the kind of a number found by the alternative called name."""
    if name in ("mobile", "landline"):
        return "phone"
    if name == "id18":
        return "id_number"
    digits = _NOT_DIGIT_RE.sub("", value)
    if len(digits) == 18:
        return _id_or_card(digits)
    if digits[-1] in "Xx" or (len(digits) == 15 and name != "card4"):
        return "phone" if digits.startswith("00861") else "id_number"
    return "bank_card"


def _is_public_number(digits: str) -> bool:
    """Return whether digits are a public service number, possibly behind an area code."""
    if _PUBLIC_RE.fullmatch(digits):
        return True
    if digits.startswith("0"):
        area = 3 if digits[1:2] in ("1", "2") else 4
        return bool(_PUBLIC_RE.fullmatch(digits[area:]))
    return False


def _plate_ok(tail: str, suffix: str | None) -> bool:
    """Return whether the characters after a province and letter form a licence plate."""
    tail = tail.upper()
    ndigits = sum(ch.isdigit() for ch in tail)
    if suffix:
        return len(tail) in (4, 5) and ndigits >= 2
    if len(tail) == 5:
        return ndigits >= 3
    if len(tail) == 6:  # new-energy plates: D/F first, or five digits then D/F
        return (tail[0] in "DF" and tail[2:].isdigit()) or (tail[:5].isdigit() and tail[5] in "DF")
    return False


# ----------------------------------------------------------------------- candidates


class _Cand(NamedTuple):
    """A finding before merging: a span of the normalised copy or of the original."""

    start: int
    end: int
    kind: str
    rule_id: str | None = None
    replacement: str | None = None
    numeric: bool = False  # found by a number detector: yields to public ticket ids


_PRIORITY = {
    "qq": 9,
    "wechat": 9,
    "id_number": 8,
    "bank_card": 7,
    "phone": 6,
    "name": 5,
    "address": 4,
    "other": 3,
    "plate": 2,
    "email": 2,
}


class _Budget:
    """A deadline in this thread's CPU time; every long step checks it.

    CPU time, not wall time: a runaway pattern burns CPU and is stopped all the same,
    while a ticket on a busy machine (a build sharing its cores) is not held back
    because the process waited for a core.
    """

    __slots__ = ("deadline", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.thread_time() + seconds

    def remaining(self) -> float:
        """Return the seconds left; raise RedactionError when there are none."""
        left = self.deadline - time.thread_time()
        if left <= 0:
            raise RedactionError(f"redaction exceeded its time budget of {self.seconds:g} s")
        return left

    def check(self) -> None:
        """Raise RedactionError when the time is up."""
        self.remaining()


def _numbers(
    text: str, budget: _Budget, protected: list[tuple[int, int]], offset: int = 0
) -> list[_Cand]:
    """Find phone, ID and card numbers in a normalised text that starts at offset.

    Overlapping matches are coalesced on the fly; the longest match names the merged
    span. A run of digits and separators of 4096 characters or more is no citizen's
    prose but noise (or an attack on the time budget): if it holds a number at all, it is
    redacted whole, which takes one search instead of a match at every digit group.
    """
    found: list[_Cand] = []
    giants = [
        m.span()
        for m in _GIANT_RUN_RE.finditer(text)
        if m.end() - m.start() >= _GIANT
        and not (protected and _overlaps(m.start() + offset, m.end() + offset, protected))
    ]
    for start, end in giants:
        m = _search_giant(text, start, end, budget)
        if m is not None:
            found.append(_number_cand(text, start, end, m, offset))
    if giants:
        text = _mask(text, giants)
    cur_start = cur_end = -1
    best, best_len = None, 0  # the longest match of the current span
    for count, m in enumerate(_NUMBER_RE.finditer(text)):
        if not count & 0xFFF:
            budget.check()
        start = m.start()
        end = max(m.regs[1:])[1]  # all alternatives start here: the longest
        if protected and _overlaps(start + offset, end + offset, protected):
            continue
        if start >= cur_end:
            if best is not None:
                found.append(_number_cand(text, cur_start, cur_end, best, offset))
            cur_start, cur_end, best, best_len = start, end, m, end - start
        else:
            if end > cur_end:
                cur_end = end
            if end - start > best_len:
                best, best_len = m, end - start
    if best is not None:
        found.append(_number_cand(text, cur_start, cur_end, best, offset))
    return found


def _search_giant(text: str, start: int, end: int, budget: _Budget) -> re.Match[str] | None:
    """Return the first number in text[start:end], searching in chunks between budget checks."""
    for lo in range(start, end, _CHUNK):
        budget.check()
        m = _NUMBER_RE.search(text, lo, min(end, lo + _CHUNK + 256))
        # near the end of a chunk the look-aheads saw a cut text: match again in full
        if m is not None and (m.start() < lo + _CHUNK or lo + _CHUNK >= end):
            m = _NUMBER_RE.match(text, m.start())
            if m is not None:
                return m
    return None


_CHUNK = 1 << 16


def _number_cand(text: str, start: int, end: int, m: re.Match[str], offset: int) -> _Cand:
    """Return the candidate for a merged span, named after its longest match m."""
    regs = m.regs
    longest = max(regs[1:])
    name = _NUMBER_NAMES[regs.index(longest, 1) - 1]
    kind = _classify(name, text[longest[0] : longest[1]])
    return tuple.__new__(_Cand, (start + offset, end + offset, kind, None, None, True))


def _whole_runs(
    text: str,
    budget: _Budget,
    protected: list[tuple[int, int]],
    covered: list[tuple[int, int]],
    offset: int = 0,
    *,
    only: list[tuple[int, int]] | None = None,
) -> list[_Cand]:
    """Classify whole digit runs of 15-19 digits, however they are split.

    A run split in an unusual way is still an ID when it has 18 characters (or 15 with a
    valid birth date), and a bank card when it has 16-19 digits that pass the Luhn check.
    Runs made of dates only (2026.11.28-2026.12.05) are left alone. A run that holds a
    number found already (covered: sorted, disjoint, in the coordinates of the whole
    text) must look like an ID or pass the Luhn check; the stretches of it left between
    the numbers found count as runs of their own. A second pass over the redacted text
    then sees the runs this pass saw, which keeps redaction idempotent. With only, just
    the runs that overlap those spans are looked at.
    """
    found: list[_Cand] = []
    for count, m in enumerate(_LONG_RUN_RE.finditer(text)):
        if not count & 0xFFF:
            budget.check()
        start, end = m.start() + offset, m.end() + offset
        if end - start < 15 or (only is not None and not _overlaps(start, end, only)):
            continue
        i = bisect.bisect_right(covered, (start, math.inf))
        if i and covered[i - 1][1] > start:
            i -= 1
        if i == len(covered) or covered[i][0] >= end:
            found += _classify_run(text, m.start(), m.end(), protected, offset)
            continue
        found += _classify_run(text, m.start(), m.end(), protected, offset, strict=True)
        lo = start
        while i < len(covered) and covered[i][0] < end:
            if covered[i][0] - lo >= 15:
                found += _pieces(text, lo - offset, covered[i][0] - offset, protected, offset)
            lo = max(lo, covered[i][1])
            i += 1
        found += _pieces(text, lo - offset, end - offset, protected, offset)
    return found


def _pieces(
    text: str, lo: int, hi: int, protected: list[tuple[int, int]], offset: int
) -> list[_Cand]:
    """Classify the digit runs in text[lo:hi], a stretch of a run between two findings."""
    found: list[_Cand] = []
    if hi - lo >= 15:
        stretch = text[lo:hi]  # a slice: the digits found before lo must not count
        for m in _RUN_RE.finditer(stretch):
            found += _classify_run(text, lo + m.start(), lo + m.end(), protected, offset)
    return found


def _union(cands: Iterable[_Cand]) -> list[tuple[int, int]]:
    """Return the sorted, disjoint union of the candidates' spans."""
    return _union_spans((c.start, c.end) for c in cands)


def _union_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return the sorted, disjoint union of spans."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _classify_run(
    text: str,
    start: int,
    end: int,
    protected: list[tuple[int, int]],
    offset: int,
    *,
    strict: bool = False,
) -> list[_Cand]:
    """Return the ID or card that the digit run text[start:end] is, if it is one.

    Strict: 18 digits must look like an ID or pass the Luhn check to count.
    """
    if not 15 <= end - start <= 100:
        return []
    x = _RUN_X_RE.match(text, end)
    run = text[start : x.end() if x else end]
    digits = _NOT_DIGIT_RE.sub("", run)
    if not 15 <= len(digits) <= 19 or _DATES_ONLY_RE.fullmatch(run):
        return []
    kind = None
    if len(digits) == 18:
        if not strict or _ID18_SHAPE_RE.fullmatch(digits) or _luhn(digits):
            kind = _id_or_card(digits)
    elif len(digits) == 15:
        kind = "id_number" if _ID15_SHAPE_RE.fullmatch(digits) else None
    elif digits.isdigit() and _luhn(digits):
        kind = "bank_card"
    start += offset
    if not kind or (protected and _overlaps(start, start + len(run), protected)):
        return []
    return [_Cand(start, start + len(run), kind, numeric=True)]


def _keywords(text: str) -> list[_Cand]:
    """Find QQ numbers, WeChat ids, e-mails, plates and numbers after a phone keyword."""
    found = [_Cand(*m.span("v"), "qq", numeric=True) for m in _QQ_RE.finditer(text)]
    found += [_Cand(*m.span("v"), "wechat", numeric=True) for m in _WECHAT_RE.finditer(text)]
    found += [_Cand(*m.span(), "wechat") for m in _WXID_RE.finditer(text)]
    for m in _TEL_RE.finditer(text):
        value = m.group("v")
        if not _DATEISH_RE.search(value) and not _is_public_number(_NOT_DIGIT_RE.sub("", value)):
            found.append(_Cand(*m.span("v"), "phone", numeric=True))
    if "@" in text:
        found += [_Cand(start, end, "email") for start, end in _emails(text)]
    for m in _PLATE_RE.finditer(text):
        if _plate_ok(m.group("tail"), m.group("suffix")):
            found.append(_Cand(*m.span(), "plate"))
    return found


def _emails(text: str) -> list[tuple[int, int]]:
    """Find e-mail addresses, again after masking those found, as a second pass would."""
    found: list[tuple[int, int]] = []
    for _ in range(3):
        new = [m.span() for m in _EMAIL_RE.finditer(_mask(text, _union_spans(found)))]
        if not new:
            break
        found += new
    return found


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """Return whether [start, end) overlaps one of the sorted, disjoint spans."""
    i = bisect.bisect_right(spans, (start, math.inf))
    if i and spans[i - 1][1] > start:
        return True
    return i < len(spans) and spans[i][0] < end


# ------------------------------------------------------------------------- literals

_COMPOUND_SURNAMES_TEXT = (
    "欧阳司马上官诸葛东方皇甫尉迟公孙慕容令狐长孙宇文司徒夏侯轩辕端木独孤南宫西门申屠澹台公冶"
    "呼延万俟闻人赫连钟离拓跋百里东郭太史左丘公羊仲孙单于濮阳淳于壤驷漆雕乐正宰父谷梁段干司空"
    "司寇子车颛孙巫马公西第五"
)
_COMPOUND_SURNAMES = frozenset(
    _COMPOUND_SURNAMES_TEXT[i : i + 2] for i in range(0, len(_COMPOUND_SURNAMES_TEXT), 2)
)
_ADDRESS_MARK_RE = re.compile(
    r"街道|号楼|单元|社区|小区|花园|家园|大厦|公寓|广场|胡同|大道|"
    r"[省市区县旗镇乡路街巷弄村组苑城园庄里院栋幢座层楼室号户]|(?<![0-9])(?=[0-9])"
)
_HAS_NUMERAL_RE = re.compile(r"[0-9一二三四五六七八九十〇零两]")


def _clean(value: str) -> str:
    """Return a literal as it is matched: folded, without whitespace."""
    return _flat(_fold(value))


def _given_names(name: str) -> list[str]:
    """Return the parts of a full name that identify its bearer on their own."""
    if "." in name:  # minority names such as 买买提·艾力
        return [part for part in name.split(".") if len(part) >= 2]
    if not all("\u3400" <= ch <= "\u9fff" for ch in name) or len(name) < 3:
        return []
    given = name[2:] if name[:2] in _COMPOUND_SURNAMES else name[1:]
    return [given] if len(given) >= 2 else []


def _address_parts(address: str) -> list[str]:
    """Return the address and its precise tails (building, unit, room), each >= 4 chars."""
    parts = [address]
    for m in _ADDRESS_MARK_RE.finditer(address):
        tail = address[m.end() :]
        if len(tail) >= 4 and _HAS_NUMERAL_RE.search(tail) and not tail.isdigit():
            parts.append(tail)
    return parts


def _phone_digits(value: str) -> str:
    """Return the significant digits of a phone number: no country prefix, no trunk zero."""
    digits = re.sub(r"[^0-9]", "", normalize_digits(value))
    if len(digits) == 15 and digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    elif len(digits) == 12 and digits.startswith("01") and digits[2] in "3456789":
        digits = digits[1:]
    return digits


def _phone_variants(value: str) -> list[str]:
    """Return the digit strings to look for: the number, and a landline's local part."""
    digits = _phone_digits(value)
    if len(digits) < 5:
        return []
    variants = [digits]
    if digits.startswith("0") and 10 <= len(digits) <= 12:
        local = digits[3:] if digits[1] in "12" else digits[4:]
        if len(local) >= 7:
            variants.append(local)
    return variants


def _text_pattern(literal: str) -> str:
    """Return a pattern for a literal that tolerates spaces between its characters."""
    body = r"\s{0,2}".join(re.escape(ch) for ch in literal)
    head = "(?<![0-9])" if literal[0].isdigit() else ""
    tail = "(?![0-9])" if literal[-1].isdigit() else ""
    return head + body + tail


def _digit_pattern(digits: str) -> str:
    """Return a pattern for a digit string in any disguise, with its country prefix."""
    prefix = rf"(?=[0-9+(])(?:(?<![0-9])|(?=[+(]))(?:{_CC86}{_SS}|86{_SS}|0{_SS})?"
    return prefix + _SS.join(digits) + "(?![0-9])"


@dataclass(frozen=True)
class _LiteralSet:
    """The values of one ticket's private literals, cleaned, by kind."""

    text: tuple[tuple[str, tuple[str, ...]], ...]  # (kind, values) matched as text
    digits: tuple[tuple[str, tuple[str, ...]], ...]  # (kind, values) matched as digits
    given_names: frozenset[str]  # redacted, but too common for the leak scan to alarm on


def _is_numeric(value: str) -> bool:
    return bool(re.fullmatch(rf"[0-9]{_digits(4)}(?:{_SS}[0-9])*", value))


@lru_cache(maxsize=1024)
def _literal_set(literals: PrivateLiterals) -> _LiteralSet:
    """Expand a ticket's private literals into the values to look for."""
    names: list[str] = []
    given: list[str] = []
    for name in map(_clean, literals.names):
        if len(name) >= 2:
            names.append(name)
            given += _given_names(name)
    addresses: list[str] = []
    for address in map(_clean, literals.addresses):
        if len(address) >= 2:
            addresses += _address_parts(address)
    phones = [v for phone in literals.phones for v in _phone_variants(phone)]
    others = [_clean(v) for v in literals.others]
    other_text = [v for v in others if len(v) >= 2 and not _is_numeric(v)]
    other_digits = [normalize_digits(v) for v in others if _is_numeric(v)]
    return _LiteralSet(
        text=tuple(
            (kind, tuple(dict.fromkeys(values)))
            for kind, values in (
                ("name", names + given),
                ("address", addresses),
                ("other", other_text),
            )
            if values
        ),
        digits=tuple(
            (kind, tuple(dict.fromkeys(values)))
            for kind, values in (("phone", phones), ("other", other_digits))
            if values
        ),
        given_names=frozenset(given) - frozenset(names),
    )


def _freeze(literals: PrivateLiterals) -> PrivateLiterals:
    """Return literals as tuples of non-empty strings, so that they can be cached."""
    fields = (literals.names, literals.phones, literals.addresses, literals.others)
    if set(map(type, fields)) == {tuple}:
        values = sum(fields, ())
        if all(values) and set(map(type, values)) <= {str}:
            return literals  # frozen already (the usual case: it is asked once per text)

    def values(field: Iterable[object] | str | None) -> tuple[str, ...]:
        if field is None:
            return ()
        if isinstance(field, str):  # a single value passed where a tuple was meant
            field = (field,)
        return tuple(str(v) for v in field if v)

    return PrivateLiterals(
        names=values(literals.names),
        phones=values(literals.phones),
        addresses=values(literals.addresses),
        others=values(literals.others),
    )


# --------------------------------------------------------------------- editor rules


def _attr(rule: object, name: str, default: Any = None) -> Any:
    if isinstance(rule, Mapping):
        return rule.get(name, default)
    return getattr(rule, name, default)


def _read_quantifier(pattern: str, i: int) -> tuple[int, bool]:
    """Read a quantifier at i: return (index after it, whether it repeats more than once)."""
    n = len(pattern)
    if i >= n:
        return i, False
    ch = pattern[i]
    if ch in "*+":
        multi, j = True, i + 1
    elif ch == "?":
        multi, j = False, i + 1
    elif ch == "{":
        m = re.match(r"\{(\d*)(,?)(\d*)\}", pattern[i:])
        if not m or (not m.group(1) and not m.group(3)):
            return i, False
        low, comma, high = m.groups()
        multi = (not high or int(high) > 1) if comma else int(low) > 1
        j = i + m.end()
    else:
        return i, False
    if j < n and pattern[j] in "?+":  # lazy or possessive
        j += 1
    return j, multi


def _skip_class(pattern: str, i: int) -> int:
    """Return the index after the character class that starts at i."""
    n = len(pattern)
    j = i + 1
    if j < n and pattern[j] == "^":
        j += 1
    if j < n and pattern[j] == "]":
        j += 1
    while j < n and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _has_nested_quantifier(pattern: str) -> bool:
    """Return whether a repeated group contains a repetition, as in (a+)+ or (\\d*x)*."""
    stack = [False]  # per open group: does it contain a repetition?
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            if pattern[i - 1 : i] in ("p", "P", "N", "x", "u", "U") and pattern[i : i + 1] == "{":
                close = pattern.find("}", i)
                i = n if close < 0 else close + 1
            continue
        if ch == "[":
            i = _skip_class(pattern, i)
            continue
        if ch == "(":
            i += 1
            if pattern.startswith("?#", i):
                close = pattern.find(")", i)
                i = n if close < 0 else close + 1
                continue
            if pattern.startswith("?", i):
                i += 1
            stack.append(False)
            continue
        if ch == ")":
            inner = stack.pop() if len(stack) > 1 else False
            i, multi = _read_quantifier(pattern, i + 1)
            if multi and inner:
                return True
            stack[-1] = stack[-1] or multi or inner
            continue
        j, multi = _read_quantifier(pattern, i)
        if j > i:
            stack[-1] = stack[-1] or multi
            i = j
            continue
        i += 1
    return False


@dataclass(frozen=True)
class _EditorRule:
    id: str
    scope: frozenset[str]
    replacement: str
    literal: re.Pattern[str] | None  # matched on the normalised copy
    regex: Any  # compiled pattern (`regex` or `re`), matched on the original text

    def applies_to(self, field: str) -> bool:
        return "all" in self.scope or field in self.scope


def _compile_rule(rule: object) -> _EditorRule:
    """Validate one editor rule and compile it; raise ValueError naming the rule."""
    rule_id = str(_attr(rule, "id", "") or "")
    if not rule_id:
        raise ValueError(f"redaction rule without an id: {rule!r}")
    kind = _attr(rule, "kind")
    pattern = _attr(rule, "pattern")
    if kind not in ("literal", "regex"):
        raise ValueError(
            f"redaction rule {rule_id!r}: kind must be 'literal' or 'regex', not {kind!r}"
        )
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError(f"redaction rule {rule_id!r}: empty pattern")
    scope_value = _attr(rule, "scope", None) or ["all"]
    scope = frozenset([scope_value] if isinstance(scope_value, str) else scope_value)
    if not scope <= EDITOR_SCOPES:
        unknown = ", ".join(sorted(scope - EDITOR_SCOPES))
        raise ValueError(f"redaction rule {rule_id!r}: unknown scope {unknown}")
    replacement = _attr(rule, "replacement", "") or REPLACEMENTS["editor"]
    if kind == "literal":
        cleaned = _clean(pattern)
        literal = re.compile(_text_pattern(cleaned)) if cleaned else None
        if literal is None:
            raise ValueError(f"redaction rule {rule_id!r}: empty pattern")
        return _EditorRule(rule_id, scope, str(replacement), literal, None)
    if _has_nested_quantifier(pattern):
        raise ValueError(
            f"redaction rule {rule_id!r}: nested quantifiers (such as (a+)+) can take "
            "exponential time; rewrite the pattern without a repeated group that repeats"
        )
    try:
        compiled = (_regex or re).compile(pattern)
    except (re.error, getattr(_regex, "error", re.error)) as exc:
        raise ValueError(f"redaction rule {rule_id!r}: invalid regex: {exc}") from exc
    if compiled.match(""):
        raise ValueError(f"redaction rule {rule_id!r}: pattern matches the empty string")
    return _EditorRule(rule_id, scope, str(replacement), None, compiled)


# ------------------------------------------------------------------------- redactor


_PLAIN_CACHE = 2048  # texts the redactor remembers
_PLAIN_CACHE_CHARS = 1000  # longer texts (a citizen's own account) rarely repeat


class Redactor:
    """Remove personal data from texts, with the editors' rules and a time budget."""

    def __init__(self, editor_rules: Sequence[object] = (), *, time_budget: float = 0.5) -> None:
        if not time_budget > 0:
            raise ValueError("time_budget must be positive")
        self.time_budget = float(time_budget)
        self.rules: tuple[_EditorRule, ...] = tuple(_compile_rule(r) for r in editor_rules)
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"redaction rule {rule.id!r} is defined twice")
            seen.add(rule.id)
        # (text, field) -> result, for texts that none of the literals they were given could
        # touch: departments' replies and callers' comments repeat, word for word.
        self._plain: dict[tuple[str, str], Redacted] = {}

    def redact(
        self, text: str, *, field: str = "content", literals: PrivateLiterals | None = None
    ) -> Redacted:
        """Return text with every personal datum replaced; raise RedactionError if out of time."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        if not text:
            return Redacted(text, ())
        budget = _Budget(self.time_budget)
        folded = _Folded(text)
        if literals is not None and _may_hold(folded.n1, _freeze(literals)):
            return self._redact(text, field, folded, budget, literals)
        # Without a literal in it, the text's result is the same whatever the literals.
        if len(text) > _PLAIN_CACHE_CHARS:
            return self._redact(text, field, folded, budget, None)
        key = (text, field)
        result = self._plain.get(key)
        if result is None:
            result = self._redact(text, field, folded, budget, None)
            if len(self._plain) >= _PLAIN_CACHE:
                self._plain.clear()  # (one C call: safe where threads share the redactor)
            self._plain[key] = result
        else:
            budget.check()
        return result

    def _redact(
        self,
        text: str,
        field: str,
        folded: _Folded,
        budget: _Budget,
        literals: PrivateLiterals | None,
    ) -> Redacted:
        cands = self._find(folded, budget, literals)
        cands += self._editor_literal_hits(folded.n1, field)
        if not folded.identical:  # back to the coordinates of the original text
            mapped = folded.original_spans([(c[0], c[1]) for c in cands])
            cands = [
                tuple.__new__(_Cand, (start, end, *c[2:]))
                for (start, end), c in zip(mapped, cands, strict=True)
            ]
        cands += self._editor_regex_hits(text, field, budget)
        budget.check()
        return _apply(text, _merge(cands))

    def _find(
        self, folded: _Folded, budget: _Budget, literals: PrivateLiterals | None
    ) -> list[_Cand]:
        """Find every built-in and literal candidate, in normalised coordinates."""
        n1 = folded.n1
        lits = _freeze(literals) if literals is not None else None
        protected = [m.span() for m in _TICKET_ID_RE.finditer(n1)]
        cands = [
            c
            for c in _keywords(n1)
            if not (c.numeric and protected and _overlaps(c.start, c.end, protected))
        ]
        if lits is not None:
            cands += _literal_hits(n1, lits)
        budget.check()
        cands += _numbers(n1, budget, protected)
        if _LONG_RUN_RE.search(n1):
            cands += _whole_runs(n1, budget, protected, _union(cands))
        windows = _cn_windows(n1)
        if windows:
            cands += _window_hits(n1, windows, cands, lits, budget, protected)
        budget.check()
        return cands

    def _editor_literal_hits(self, n1: str, field: str) -> list[_Cand]:
        """Apply the editors' literal rules for this field to the normalised copy."""
        found: list[_Cand] = []
        for rule in self.rules:
            if rule.literal is not None and rule.applies_to(field):
                found += [
                    _Cand(*m.span(), "editor", rule.id, rule.replacement)
                    for m in rule.literal.finditer(n1)
                ]
        return found

    def _editor_regex_hits(self, text: str, field: str, budget: _Budget) -> list[_Cand]:
        """Apply the editors' regex rules for this field to the text as written."""
        found: list[_Cand] = []
        for rule in self.rules:
            if rule.regex is not None and rule.applies_to(field):
                found += [
                    _Cand(m.start(), m.end(), "editor", rule.id, rule.replacement)
                    for m in _run_editor_regex(rule, text, budget)
                    if m.end() > m.start()
                ]
        return found


def _may_hold(n1: str, literals: PrivateLiterals) -> bool:
    """Return whether a literal can be found in the normalised text n1 (or in a window of it).

    `_literal_hits` looks for a text value only where it occurs in n1 without whitespace,
    and for a digit value only where its digits occur in the digits of the text it
    scans: n1, or a window of n1 with Chinese numerals read as digits (a stretch of
    n1.translate(_CN_TABLE), perhaps with findings masked, which only takes digits away).
    A value in none of those cannot be found, and the literals change nothing.
    """
    lits = _literal_set(literals)
    if lits.text:
        flat = _flat(n1)
        if any(v in flat for _kind, values in lits.text for v in values):
            return True
    if lits.digits:
        digits = _NOT_DIGIT_RE.sub("", n1)
        # the digits of n1.translate(_CN_TABLE), translating only what is left of it
        cn_digits = (
            _NOT_DIGIT_CN_RE.sub("", n1).translate(_CN_TABLE) if _CN_RE.search(n1) else digits
        )
        if any(v in digits or v in cn_digits for _kind, values in lits.digits for v in values):
            return True
    return False


def _run_editor_regex(rule: _EditorRule, text: str, budget: _Budget) -> list[Any]:
    """Run an editor's regex within the remaining time budget."""
    if _regex is not None and isinstance(rule.regex, _regex.Pattern):
        try:
            return list(rule.regex.finditer(text, timeout=budget.remaining()))
        except TimeoutError as exc:
            raise RedactionError(
                f"redaction rule {rule.id!r} exceeded the time budget of {budget.seconds:g} s"
            ) from exc
    budget.check()
    return list(rule.regex.finditer(text))


def _mask(text: str, spans: list[tuple[int, int]], offset: int = 0) -> str:
    """Return text with the sorted, disjoint spans (shifted by -offset) blanked out."""
    if not spans:
        return text
    pieces, pos = [], 0
    i = max(0, bisect.bisect_left(spans, (offset, -1)) - 1)
    for start, end in spans[i:]:
        if start - offset >= len(text):
            break
        start, end = max(start - offset, pos), min(end - offset, len(text))
        if start < end:
            pieces += [text[pos:start], "#" * (end - start)]
            pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _cn_windows(n1: str) -> list[tuple[int, str]]:
    """Return (offset, text) windows around digit runs written partly in Chinese numerals.

    In a window the numerals are digits; outside the windows 一 stays 一, so that a
    number after a word such as 第一 stays a number of its own.
    """
    if not _CN_RE.search(n1):
        return []
    windows = []
    for run in _CN_RUN_RE.finditer(n1):
        if _CN_RE.search(run.group()):
            lo, hi = max(0, run.start() - 8), min(len(n1), run.end() + 6)
            windows.append((lo, n1[lo:hi].translate(_CN_TABLE)))
    return windows


def _window_hits(
    n1: str,
    windows: list[tuple[int, str]],
    found: list[_Cand],
    literals: PrivateLiterals | None,
    budget: _Budget,
    protected: list[tuple[int, int]],
) -> list[_Cand]:
    """Find numbers in the windows of Chinese numerals, as they are and as redacted.

    Where Chinese numerals touch ASCII digits, the digit groups of a window differ from
    those of the plain text, so a number found in one can end inside a group of the
    other. A second pass over the redacted text would see the window with what was found
    gone; so the windows (and the plain runs around them) are scanned again with all
    findings masked, until nothing new turns up, which keeps redaction idempotent.
    """

    def scan(lo: int, window: str) -> list[_Cand]:
        hits = _numbers(window, budget, protected, lo)
        if literals is not None:
            hits += _literal_hits(window, literals, offset=lo, digits_only=True)
        return hits

    areas = [(lo, lo + len(window)) for lo, window in windows]
    new = [hit for lo, window in windows for hit in scan(lo, window)]
    for _ in range(6):
        covered = _union([*found, *new])
        more = [hit for lo, window in windows for hit in scan(lo, _mask(window, covered, lo))]
        more += _whole_runs(n1, budget, protected, covered, only=areas)
        for lo, window in windows:
            more += _whole_runs(window, budget, protected, covered, lo)
        more = [hit for hit in more if not _inside(hit, covered)]
        if not more:
            break
        new += more
    return new


def _inside(cand: _Cand, covered: list[tuple[int, int]]) -> bool:
    """Return whether the candidate lies within one of the sorted, disjoint spans."""
    i = bisect.bisect_right(covered, (cand.start, math.inf)) - 1
    return i >= 0 and covered[i][0] <= cand.start and cand.end <= covered[i][1]


def _literal_hits(
    text: str, literals: PrivateLiterals, *, offset: int = 0, digits_only: bool = False
) -> list[_Cand]:
    """Find the ticket's own private values in a normalised text that starts at offset.

    A value can only match where it occurs in the text without whitespace (names,
    addresses) or in its digits alone (numbers); values that do not pass that cheap test
    are left out of the pattern, so most tickets compile nothing at all.
    """
    lits = _literal_set(literals)
    found: list[_Cand] = []
    flat: str | None = None
    digits: str | None = None
    for is_digits, groups in ((False, lits.text), (True, lits.digits)):
        if digits_only and not is_digits:
            continue
        for kind, values in groups:
            if is_digits:
                digits = _NOT_DIGIT_RE.sub("", text) if digits is None else digits
                present = tuple(v for v in values if v in digits)
            else:
                flat = _flat(text) if flat is None else flat
                present = tuple(v for v in values if v in flat)
            if not present:
                continue
            if is_digits:
                spans = _digit_value_spans(text, present, digits)
            else:
                spans = [m.span() for m in _values_pattern(False, present).finditer(text)]
            found += [_Cand(start + offset, end + offset, kind) for start, end in spans]
    return found


# The prefixes `_digit_pattern` allows before a value's first digit, in the order its
# optional group tries them, and the longest text they match: "(" + 4 separators + "+"
# + 4 + "86" + 4.
_DIGIT_PREFIXES = (f"{_CC86}{_SS}", f"86{_SS}", f"0{_SS}", "")
_DIGIT_PREFIX_MAX = 16
_DIGIT_VIEW_RE = re.compile(r"[0-9Xx]")  # the characters _NOT_DIGIT_RE keeps


def _digit_value_spans(text: str, values: tuple[str, ...], digits: str) -> list[tuple[int, int]]:
    """The spans of `_values_pattern(True, values).finditer(text)`, without compiling it.

    Each ticket's own numbers make a new pattern, and compiling one took 0.3-0.9 ms: a
    tenth of a ticket page's time when the citizen's number is in the text. The same
    matches come from patterns compiled once per shape of number (`_shape_pattern`),
    tried only where a value can start: a match's digits are one occurrence of the value
    in `digits` (the text's [0-9Xx] alone), and its prefix ends at that occurrence's
    first digit. At each such start, in order, the values are tried longest first and
    each with its prefixes in order, as the one pattern's alternatives are; a match
    ends the search below its end, as `finditer` does.
    """
    ordered = sorted(values, key=len, reverse=True)
    where: list[int] | None = None
    starts: set[int] = set()
    for v in ordered:
        i = digits.find(v)
        while i >= 0:
            if where is None:
                where = [m.start() for m in _DIGIT_VIEW_RE.finditer(text)]
            first = where[i]
            starts.update(range(max(0, first - _DIGIT_PREFIX_MAX), first + 1))
            i = digits.find(v, i + 1)
    shapes = [(_shape_of(v), "".join(ch for ch in v if ch in _ASCII_DIGITS)) for v in ordered]
    spans: list[tuple[int, int]] = []
    end = 0
    for start in sorted(starts):
        if start < end or text[start] not in _DIGIT_STARTS:
            continue
        for shape, value_digits in shapes:
            m = next(
                (m for k in range(len(_DIGIT_PREFIXES))
                 if (m := _shape_pattern(shape, k).match(text, start)) and "".join(m.groups()) == value_digits),
                None,
            )
            if m is not None:
                spans.append(m.span())
                end = m.end()
                break
    return spans


_ASCII_DIGITS = frozenset("0123456789")
_DIGIT_STARTS = frozenset("0123456789+(")  # what the lookahead of `_digit_pattern` admits


def _shape_of(value: str) -> str:
    """A value with each digit as "d" (numbers of one shape share their patterns)."""
    return "".join("d" if ch in _ASCII_DIGITS else ch for ch in value)


@lru_cache(maxsize=512)
def _shape_pattern(shape: str, prefix: int) -> re.Pattern[str]:
    """`_digit_pattern` of a value of this shape with one of its prefixes, each digit
    open and captured."""
    body = _SS.join("([0-9])" if ch == "d" else re.escape(ch) for ch in shape)
    return re.compile(f"(?=[0-9+(])(?:(?<![0-9])|(?=[+(])){_DIGIT_PREFIXES[prefix]}{body}(?![0-9])")


@lru_cache(maxsize=4096)
def _values_pattern(is_digits: bool, values: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for the values, longest first."""
    make = _digit_pattern if is_digits else _text_pattern
    return re.compile("|".join(make(v) for v in sorted(values, key=len, reverse=True)))


def _merge(cands: Iterable[_Cand]) -> list[tuple[int, int, _Cand]]:
    """Merge overlapping spans; the editor's, then the longest, then the likeliest kind names it."""
    merged: list[tuple[int, int, _Cand]] = []  # (start, end, the candidate that names it)
    for cand in sorted(cands, key=_first):
        if merged and cand[0] < merged[-1][1]:
            start, end, best = merged[-1]
            merged[-1] = (start, max(end, cand[1]), cand if _rank(cand) > _rank(best) else best)
        else:
            merged.append((cand[0], cand[1], cand))
    return merged


_first = operator.itemgetter(0)


def _rank(cand: _Cand) -> tuple[bool, int, int]:
    return (cand.rule_id is not None, cand.end - cand.start, _PRIORITY.get(cand.kind, 0))


def _apply(text: str, spans: list[tuple[int, int, _Cand]]) -> Redacted:
    """Replace each merged span of the original text by its token."""
    pieces: list[str] = []
    hits: list[Hit] = []
    pos = 0
    for start, end, cand in spans:
        pieces.append(text[pos:start])
        pieces.append(cand.replacement or REPLACEMENTS[cand.kind])
        hits.append(Hit(cand.kind, start, end, cand.rule_id))
        pos = end
    pieces.append(text[pos:])
    return Redacted("".join(pieces), tuple(hits))


# ------------------------------------------------------------------------ leak scan

_JSON_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(haystack: str) -> str:
    """Undo HTML entities and JSON \\u escapes, which a leak could hide behind."""
    if "&" in haystack:
        haystack = html.unescape(haystack)
    if "\\u" in haystack:
        haystack = _JSON_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), haystack)
    return haystack


@lru_cache(maxsize=1024)
def _digit_scanner(values: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join(f"(?P<v{i}>{_digit_pattern(v)})" for i, v in enumerate(ordered)))


@lru_cache(maxsize=8)
def _views(haystack: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Return the haystack folded, and its readings with their digits.

    Cached: the leak scan asks about one page for each of the tickets it carries. Each
    reading (the second with Chinese numerals as digits) comes with its digit runs as
    bare digits, joined by newlines, which no number crosses: a quick test of whether a
    value can be there at all. Only when one can does `_snippets` look closer.
    """
    text = _fold(_unescape(haystack))
    readings = [text]
    if _CN_STRETCH_RE.search(text):
        readings.append(text.translate(_CN_TABLE))
    views = []
    for reading in readings:
        runs = [run for run in _RUN5_RE.findall(reading) if len(run) >= 5]
        # One pass over all runs (a listing page has thousands): newlines stay, as separators.
        views.append((reading, _NOT_DIGIT_NL_RE.sub("", "\n".join(runs))))
    return text, tuple(views)


@lru_cache(maxsize=8)
def _snippets(reading: str) -> str:
    """Return the digit runs of a reading with the two characters before them (for "+86"
    and "(86)"), joined by newlines."""
    runs = [m for m in _RUN5_RE.finditer(reading) if m.end() - m.start() >= 5]
    return "\n".join(reading[max(0, m.start() - 2) : m.end()] for m in runs)


def contains_private(haystack: str, literals: PrivateLiterals) -> list[str]:
    """Return the private values (normalised) that occur in haystack, in any disguise.

    Names, addresses (and their precise parts) and other values are compared after
    folding width, dropping invisible characters and whitespace; phone numbers and numeric
    values are compared as digit sequences in any disguise, including Chinese numerals,
    with the same digit boundaries as the redactor. HTML entities and JSON ``\\uXXXX``
    escapes in the haystack are decoded first. Given names alone (建国 of 李建国) are
    redacted but not reported: they are common words.
    """
    lits = _literal_set(_freeze(literals))
    text, runs = _views(haystack)
    found: list[str] = []
    if lits.text:  # (shared pages are checked for phone numbers only)
        flat = _flat(text)
        for _kind, values in lits.text:
            found += [v for v in values if v in flat and v not in lits.given_names]
    for reading, digits in runs:
        values = tuple(v for _kind, vs in lits.digits for v in vs if v in digits)
        if values:
            ordered = sorted(values, key=len, reverse=True)
            found += [
                ordered[int(m.lastgroup[1:])]  # type: ignore[index]
                for m in _digit_scanner(values).finditer(_snippets(reading))
            ]
    return list(dict.fromkeys(found))
