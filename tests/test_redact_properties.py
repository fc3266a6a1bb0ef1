"""Property tests of the redactor: whatever the disguise, no personal number gets through."""

from __future__ import annotations

import datetime
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.redact import REPLACEMENTS, PrivateLiterals, Redactor, normalize_digits

REDACTOR = Redactor(time_budget=5.0)
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Surrounding text: Chinese, ASCII letters, punctuation and markup, but no digits and no
# Chinese numerals, so that every digit of the output would come from the secret.
CHINESE = "市民反映小区噪音问题请尽快处理谢谢投诉路灯不亮垃圾清运物业管理供暖燃气的了在是我你他她们"
ASCII = "abcdefghijklmnopqrstuvwyzABCDEFGHIJKLMNOPQRSTUVWYZ"
PUNCTUATION = " ,.;:!?<>{}[]&#%*'\"/=\n，。：；！？、（）《》“”—…"
surrounding = st.text(alphabet=CHINESE + ASCII + PUNCTUATION, max_size=20)

SEPARATORS = ["", "", "", " ", "-", ".", "/", "  ", " - ", "—", "－", "\u3000", "·"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
FULL_WIDTH = {d: chr(0xFF10 + int(d)) for d in "0123456789"}
CHINESE_DIGITS = {
    "0": "〇零",
    "1": "一幺壹",
    "2": "二两贰",
    "3": "三叁",
    "4": "四肆",
    "5": "五伍",
    "6": "六陆",
    "7": "七柒",
    "8": "八捌",
    "9": "九玖",
}
PUBLIC_NUMBERS = [
    "12345",
    "110",
    "120",
    "119",
    "122",
    "12315",
    "12369",
    "12333",
    "12328",
    "95598",
    "96345",
    "0539-12345",
    "400-812-3456",
]
ID_REGIONS = ["370302", "371302", "371311", "110101", "310104", "440305", "510104", "650102"]


def id_checksum(body17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights, strict=True)) % 11]


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled, because the check digit will be appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str(-total % 10)


digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def mobiles(draw) -> str:
    return "1" + draw(st.sampled_from("3456789")) + "".join(draw(digits) for _ in range(9))


@st.composite
def landlines(draw) -> str:
    area = draw(st.sampled_from(["0539", "0531", "010", "021", "0755", "0536"]))
    local = draw(st.sampled_from("23456789")) + "".join(draw(digits) for _ in range(6))
    return area + local + draw(st.sampled_from(["", "8"]))


@st.composite
def id_numbers(draw) -> str:
    birth = draw(
        st.dates(min_value=datetime.date(1930, 1, 1), max_value=datetime.date(2025, 12, 31))
    )
    body = draw(st.sampled_from(ID_REGIONS)) + birth.strftime("%Y%m%d")
    body += "".join(draw(digits) for _ in range(3))
    return body + id_checksum(body)


@st.composite
def bank_cards(draw) -> str:
    length = draw(st.integers(16, 19))
    body = draw(st.sampled_from(["622202", "621700", "622848", "436742", "625965"]))
    body += "".join(draw(digits) for _ in range(length - len(body) - 1))
    return body + luhn_digit(body)


@st.composite
def disguised(draw, number: str, chinese: bool = True) -> str:
    """Write a number the way a citizen (or a scraper-dodger) might."""
    style = draw(
        st.sampled_from(
            ["ascii", "full", "chinese", "mixed"] if chinese else ["ascii", "full", "mixed"]
        )
    )
    out = []
    for i, ch in enumerate(number):
        if i:
            sep = draw(st.sampled_from(SEPARATORS))
            out.append(sep)
            out.append("".join(draw(st.lists(st.sampled_from(INVISIBLE), max_size=2))))
        if ch in "Xx":
            out.append(draw(st.sampled_from(["X", "x", "Ｘ", "ｘ"])))
            continue
        pick = (
            style
            if style != "mixed"
            else draw(
                st.sampled_from(["ascii", "full", "chinese"] if chinese else ["ascii", "full"])
            )
        )
        if pick == "full":
            out.append(FULL_WIDTH[ch])
        elif pick == "chinese":
            out.append(draw(st.sampled_from(CHINESE_DIGITS[ch])))
        else:
            out.append(ch)
    return "".join(out)


def no_digits_left(out: str) -> bool:
    return not re.search(r"[0-9]", normalize_digits(out))


@SETTINGS
@given(before=surrounding, after=surrounding, data=st.data())
def test_mobile_never_survives(before, after, data):
    number = data.draw(mobiles())
    prefix = data.draw(st.sampled_from(["", "", "+86", "+86 ", "0086-", "(86)", "+86-"]))
    text = before + prefix + data.draw(disguised(number)) + after
    out = REDACTOR.redact(text).text
    assert number not in normalize_digits(out)
    assert no_digits_left(out), out


@SETTINGS
@given(before=surrounding, after=surrounding, data=st.data())
def test_landline_never_survives(before, after, data):
    number = data.draw(landlines())
    text = before + data.draw(disguised(number)) + after
    out = REDACTOR.redact(text).text
    assert no_digits_left(out), out


@SETTINGS
@given(before=surrounding, after=surrounding, data=st.data())
def test_id_number_never_survives(before, after, data):
    number = data.draw(id_numbers())
    text = before + data.draw(disguised(number)) + after
    result = REDACTOR.redact(text)
    assert number[:17] not in normalize_digits(result.text)
    assert no_digits_left(result.text), result.text
    assert "id_number" in {hit.kind for hit in result.hits}


@SETTINGS
@given(before=surrounding, after=surrounding, data=st.data())
def test_bank_card_never_survives(before, after, data):
    number = data.draw(bank_cards())
    text = before + data.draw(disguised(number)) + after
    out = REDACTOR.redact(text).text
    assert number not in normalize_digits(out)
    assert no_digits_left(out), out


@SETTINGS
@given(
    before=surrounding,
    between=st.text(alphabet=CHINESE, min_size=1, max_size=10),
    after=surrounding,
    data=st.data(),
)
def test_own_phone_never_survives(before, between, after, data):
    number = data.draw(st.one_of(mobiles(), landlines()))
    literals = PrivateLiterals(phones=(number,))
    text = before + data.draw(disguised(number)) + between + data.draw(disguised(number)) + after
    out = REDACTOR.redact(text, literals=literals).text
    assert no_digits_left(out), out


NAMES = st.builds(
    lambda surname, given: surname + given,
    st.sampled_from(["王", "李", "张", "刘", "陈", "欧阳", "诸葛"]),
    st.text(alphabet="伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英", min_size=1, max_size=2),
)


@SETTINGS
@given(before=surrounding, after=surrounding, name=NAMES, gap=st.sampled_from(["", " ", "\u200b"]))
def test_own_name_never_survives(before, after, name, gap):
    text = before + gap.join(name) + after
    out = REDACTOR.redact(text, literals=PrivateLiterals(names=(name,))).text
    assert name not in re.sub(r"\s|\u200b", "", out.replace(REPLACEMENTS["name"], "|"))


# Fragments from which adversarial texts are assembled: numbers, separators, keywords,
# markup and noise, so that the idempotence property meets runs, hits and near-misses.
FRAGMENTS = st.one_of(
    surrounding,
    st.sampled_from(
        [
            " ",
            "-",
            ".",
            "(",
            ")",
            "+",
            "X",
            "\u200b",
            "QQ",
            "微信",
            "vx",
            "电话",
            "鲁Q",
            "@qq.com",
            "a@b.cn",
            "LY",
            "年",
            "转",
            "２０２６",
            "一三八",
            "0539",
            "86",
        ]
    ),
    st.text(alphabet="0123456789 -", max_size=12),
    mobiles(),
    id_numbers(),
    bank_cards(),
    st.sampled_from(PUBLIC_NUMBERS),
)


@SETTINGS
@given(parts=st.lists(FRAGMENTS, max_size=12))
def test_redaction_is_idempotent(parts):
    text = "".join(parts)
    once = REDACTOR.redact(text).text
    assert REDACTOR.redact(once).text == once


@SETTINGS
@given(before=surrounding, after=surrounding, data=st.data())
def test_redaction_of_disguised_numbers_is_idempotent(before, after, data):
    number = data.draw(st.one_of(mobiles(), id_numbers(), bank_cards(), landlines()))
    text = before + data.draw(disguised(number)) + after + data.draw(disguised(number))
    once = REDACTOR.redact(text).text
    assert REDACTOR.redact(once).text == once


# No digits (of any script), no "@" for e-mails, no x/X or 信 for WeChat keywords, no
# Chinese numerals: nothing left that could be personal data, so nothing may change.
PLAIN = st.text(
    alphabet=st.characters(
        blacklist_categories=("Nd", "No", "Nl", "Cs"),
        blacklist_characters="@＠xXｘＸ信" + "".join(CHINESE_DIGITS.values()) + "○洞拐勾貳參陸",
    ),
    max_size=60,
)


@SETTINGS
@given(text=PLAIN)
def test_text_without_digits_is_unchanged(text):
    result = REDACTOR.redact(text)
    assert result.text == text
    assert result.hits == ()


@SETTINGS
@given(text=PLAIN, field=st.sampled_from(["content", "reply", "comment", "note"]))
def test_text_without_digits_is_unchanged_in_every_field(text, field):
    assert REDACTOR.redact(text, field=field).text == text


# Without the letters of the keywords "QQ", "WeChat"/"weixin" and "tel": a public number
# right after one of them is someone's QQ, WeChat or phone number and is rightly removed
# (hypothesis once drew "QQ" + "12345").
no_keywords = st.text(alphabet=CHINESE + ASCII.translate(str.maketrans("", "", "QqWwTt")) + PUNCTUATION, max_size=20)


@SETTINGS
@given(parts=st.lists(st.tuples(no_keywords, st.sampled_from(PUBLIC_NUMBERS)), max_size=6))
def test_public_numbers_survive(parts):
    text = "拨打" + "".join(f"{before}{number}，" for before, number in parts)
    assert REDACTOR.redact(text).text == text


@SETTINGS
@given(text=st.text(max_size=80))
def test_hits_describe_the_replacement(text):
    result = REDACTOR.redact(text)
    rebuilt, pos = [], 0
    for hit in result.hits:
        assert pos <= hit.start < hit.end <= len(text)
        rebuilt += [text[pos : hit.start], REPLACEMENTS[hit.kind]]
        pos = hit.end
    assert "".join(rebuilt) + text[pos:] == result.text



# -- the ticket's own numbers, found without compiling a pattern per ticket ---------------

OWN_DIGITS = st.text(alphabet="0123456789", min_size=5, max_size=13)
GAPS = ["", "", " ", "-", "  ", "()", "....", ".....", "\t", " - ", "x"]
NOISE = [" ", "-", ".", "/", "\\", "_", "(", ")", "+", "X", "x", "号", "电话", "，", "\n",
         "(    +....86-__-"]  # the longest prefix
SEPARATOR_RUN = st.text(alphabet=" \t-./\\_()", max_size=5)  # up to 4 are one gap
# Country and trunk prefixes, up to the longest one: "(" + 4 separators + "+" + 4 + "86" + 4.
PREFIX = st.tuples(
    st.sampled_from([("(", "+", "86"), ("(", "86"), ("+", "86"), ("00", "86"), ("86",), ("0",), ("00",)]),
    st.lists(SEPARATOR_RUN, min_size=3, max_size=3),
).map(lambda p: "".join(unit + sep for unit, sep in zip(p[0], p[1], strict=False)))

@settings(SETTINGS, max_examples=1000)
@given(data=st.data())
def test_own_numbers_are_found_where_their_one_pattern_finds_them(data):
    """`_digit_value_spans` gives exactly the matches of the pattern it replaces: the
    values, longest first, each after any of its prefixes, with the same boundaries."""
    from generator.redact import _NOT_DIGIT_RE, _digit_value_spans, _values_pattern

    values = data.draw(st.lists(OWN_DIGITS, min_size=1, max_size=3, unique=True))
    if data.draw(st.booleans()):  # one value the tail of another (a landline's local part)
        values.append(values[0][-5:])
    if data.draw(st.booleans()):  # or its head: at one start, the longer is tried first
        values.append(values[0][:5])
    values = data.draw(st.permutations(list(dict.fromkeys(values))))
    disguised = st.sampled_from(values).flatmap(
        lambda v: st.lists(st.sampled_from(GAPS), min_size=len(v) - 1, max_size=len(v) - 1).map(
            lambda gaps: v[0] + "".join(g + d for g, d in zip(gaps, v[1:], strict=True))
        )
    )
    piece = st.one_of(st.sampled_from(values), disguised, PREFIX, st.sampled_from(NOISE), st.text(alphabet="0123456789", max_size=3))
    text = "".join(data.draw(st.lists(piece, max_size=12)))
    digits = _NOT_DIGIT_RE.sub("", text)
    present = tuple(dict.fromkeys(v for v in values if v in digits))
    expected = [m.span() for m in _values_pattern(True, present).finditer(text)] if present else []
    assert _digit_value_spans(text, present, digits) == expected
