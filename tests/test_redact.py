"""The redactor: personal data never reaches the public site, everything else stays verbatim."""

from __future__ import annotations

import random
import re
import time
from dataclasses import FrozenInstanceError, dataclass, field
from pathlib import Path

import pytest

from generator import redact as redact_module
from generator.redact import (
    REPLACEMENTS,
    Hit,
    PrivateLiterals,
    Redacted,
    RedactionError,
    Redactor,
    contains_private,
    normalize_digits,
)

PHONE = REPLACEMENTS["phone"]
ID = REPLACEMENTS["id_number"]
CARD = REPLACEMENTS["bank_card"]
PLATE = REPLACEMENTS["plate"]
EMAIL = REPLACEMENTS["email"]
QQ = REPLACEMENTS["qq"]
WECHAT = REPLACEMENTS["wechat"]
NAME = REPLACEMENTS["name"]
ADDRESS = REPLACEMENTS["address"]

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
FULL_WIDTH = str.maketrans("0123456789-Xx", "０１２３４５６７８９－Ｘｘ")


def redact(text: str, **kwargs) -> Redacted:
    return Redactor().redact(text, **kwargs)


def redacted(text: str, **kwargs) -> str:
    return redact(text, **kwargs).text


def kinds(text: str, **kwargs) -> list[str]:
    return [hit.kind for hit in redact(text, **kwargs).hits]


def assert_no_digits_left(out: str, secret_digits: str) -> None:
    """The secret's digits appear nowhere in the output, in any disguise."""
    assert secret_digits not in normalize_digits(out), out
    assert secret_digits[-6:] not in re.sub(r"[^0-9]", "", normalize_digits(out)), out


def visible(text: str) -> str:
    """Return text without the zero-width characters that a reader does not see."""
    return re.sub("[\u200b\u200c\u200d\u2060\ufeff\u00ad]", "", text)


def id_checksum(body17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body17, weights, strict=True))
    return "10X98765432"[total % 11]


def luhn_complete(prefix: str) -> str:
    for last in "0123456789":
        if redact_module._luhn(prefix + last):
            return prefix + last
    raise AssertionError("unreachable")


VALID_ID = "370302199001011234"[:17] + id_checksum("37030219900101123")
MOBILE = "13812345678"


# --------------------------------------------------------------------------- API


def test_replacements_cover_every_kind_in_chinese():
    expected = {
        "phone",
        "id_number",
        "bank_card",
        "plate",
        "email",
        "qq",
        "wechat",
        "name",
        "address",
        "editor",
    }
    assert expected <= set(REPLACEMENTS)
    for token in REPLACEMENTS.values():
        assert token.startswith("［") and token.endswith("］")
        assert "已隐去" in token
        assert not re.search(r"[0-9]", token)


def test_result_types_are_frozen():
    result = redact(f"电话{MOBILE}")
    assert isinstance(result, Redacted)
    assert isinstance(result.hits, tuple)
    assert result.hits == (Hit("phone", 2, 13, None),)
    with pytest.raises(FrozenInstanceError):
        result.text = "x"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        result.hits[0].start = 0  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        PrivateLiterals().names = ("x",)  # type: ignore[misc]


def test_empty_and_clean_text():
    assert redact("") == Redacted("", ())
    assert redact("路灯不亮") == Redacted("路灯不亮", ())


def test_text_must_be_str():
    with pytest.raises(TypeError):
        Redactor().redact(b"13812345678")  # type: ignore[arg-type]


def test_hits_point_into_the_original_text():
    text = "请联系１３８\u200b1234\u200b5678或发邮件zhang@example.com，车牌鲁Q·12345。"
    result = redact(text)
    assert [h.kind for h in result.hits] == ["phone", "email", "plate"]
    assert text[result.hits[0].start : result.hits[0].end] == "１３８\u200b1234\u200b5678"
    assert text[result.hits[1].start : result.hits[1].end] == "zhang@example.com"
    assert text[result.hits[2].start : result.hits[2].end] == "鲁Q·12345"
    rebuilt, pos = [], 0
    for hit in result.hits:
        rebuilt += [text[pos : hit.start], REPLACEMENTS[hit.kind]]
        pos = hit.end
    assert "".join(rebuilt) + text[pos:] == result.text


def test_hits_are_sorted_and_disjoint():
    text = f"{MOBILE} {VALID_ID} 6222 0212 3456 7890 鲁A12345 a@b.cn QQ123456 {MOBILE}"
    hits = redact(text).hits
    assert len(hits) == 6
    for before, after in zip(hits, hits[1:], strict=False):
        assert before.end <= after.start


def test_time_budget_must_be_positive():
    with pytest.raises(ValueError):
        Redactor(time_budget=0)


# ------------------------------------------------------------- 1. phone numbers


MOBILE_DISGUISES = [
    "13812345678",
    "138 1234 5678",
    "138-1234-5678",
    "138.1234.5678",
    "138/1234/5678",
    "138 - 1234 - 5678",
    "138—1234—5678",
    "138－1234－5678",
    "138_1234_5678",
    "1 3 8 1 2 3 4 5 6 7 8",
    "1-3-8-1-2-3-4-5-6-7-8",
    "1381 234 5678",
    "138  1234  5678",
    "+8613812345678",
    "+86 138 1234 5678",
    "+86-138-1234-5678",
    "0086 138 1234 5678",
    "0086-13812345678",
    "(86)138-1234-5678",
    "(+86) 13812345678",
    "（86）13812345678",
    "86 13812345678",
    "013812345678",
    "１３８１２３４５６７８",
    "１３８ １２３４ ５６７８",
    "１３８－１２３４－５６７８",
    "+８６ １３８１２３４５６７８",
    "一三八一二三四五六七八",
    "幺三八幺两三四五六七八",
    "一三八 一二三四 五六七八",
    "壹叁捌壹贰叁肆伍陆柒捌",
    "138一二三四5678",
    "13８1二3４5六7８",
]


@pytest.mark.parametrize("disguise", MOBILE_DISGUISES)
def test_mobile_in_disguise(disguise):
    text = f"我的手机是{disguise}，请回电。"
    result = redact(text)
    assert result.text == f"我的手机是{PHONE}，请回电。"
    assert [h.kind for h in result.hits] == ["phone"]
    assert_no_digits_left(result.text, "13812345678")


@pytest.mark.parametrize("zw", ZERO_WIDTH)
def test_mobile_split_by_zero_width_characters(zw):
    disguised = zw.join("13812345678")
    text = f"联系{disguised}谢谢"
    result = redact(text)
    assert result.text == f"联系{PHONE}谢谢"
    hit = result.hits[0]
    assert text[hit.start : hit.end] == disguised


def test_mobile_with_every_kind_of_noise_at_once():
    disguised = "+\u200b8\ufeff6 （１\u200d3\u20608）-\u00ad一二三四 · 5 6 7 8"
    assert redacted(f"电话{disguised}") == f"电话{PHONE}"


@pytest.mark.parametrize("second", "3456789")
def test_every_mobile_prefix(second):
    number = f"1{second}012345678"
    assert redacted(f"电话{number}") == f"电话{PHONE}"
    assert redacted(f"{number}") == PHONE


@pytest.mark.parametrize("number", ["12012345678", "11012345678", "10012345678"])
def test_eleven_digits_that_are_not_mobiles_stay(number):
    assert redacted(f"编号{number}") == f"编号{number}"


LANDLINES = [
    "0539-8123456",
    "0539-81234567",
    "05398123456",
    "0539 812 3456",
    "0539 8123 4567",
    "(0539)8123456",
    "（0539）81234567",
    "(0539) 812-3456",
    "0539—8123456",
    "０５３９－８１２３４５６",
    "零五三九八一二三四五六",
    "010-62345678",
    "021-52345678",
    "0755-86543210",
    "0531.8888 6666",
    "+86 539 8123456",
    "+86-539-8123456",
    "0086 539 8123456",
    "86-0539-8123456",
    "+86 10 62345678",
]


@pytest.mark.parametrize("number", LANDLINES)
def test_landline_in_disguise(number):
    text = f"单位座机{number}，白天有人。"
    result = redact(text)
    assert result.text == f"单位座机{PHONE}，白天有人。"
    assert kinds(text) == ["phone"]


@pytest.mark.parametrize("zw", ZERO_WIDTH)
def test_landline_split_by_zero_width_characters(zw):
    assert redacted("座机" + zw.join("0539-8123456")) == f"座机{PHONE}"


def test_extension_may_stay():
    assert redacted("请拨0539-8123456转8001咨询") == f"请拨{PHONE}转8001咨询"
    assert redacted("13812345678转123") == f"{PHONE}转123"


@pytest.mark.parametrize(
    "text",
    [
        "电话：8123456",
        "联系电话 81234567",
        "座机是8123-4567",
        "固话:7654321",
        "tel: 8123456",
        "Tel 81234567",
        "致电8123456",
    ],
)
def test_local_number_after_a_phone_keyword(text):
    assert kinds(text) == ["phone"]
    assert not re.search(r"[0-9]{4}", redacted(text))


PUBLIC_NUMBERS = [
    "12345",
    "110",
    "120",
    "119",
    "122",
    "114",
    "12315",
    "12369",
    "12333",
    "12328",
    "12320",
    "12319",
    "12358",
    "12348",
    "12351",
    "12306",
    "95598",
    "96345",
    "95518",
    "95588",
    "10086",
    "10010",
    "10000",
]


@pytest.mark.parametrize("number", PUBLIC_NUMBERS)
def test_public_service_numbers_survive(number):
    for text in (
        f"拨打{number}反映",
        f"已向{number}投诉多次",
        f"请拨打{number}。",
        f"热线电话{number}",
        f"服务电话：{number}，",
        f"({number})",
        number,
    ):
        assert redacted(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "拨打12345反映",
        "临沂12345热线",
        "市长热线0539-12345",
        "热线电话：0539-12345",
        "客服热线400-812-3456",
        "电话400-812-3456",
        "免费电话800-810-8888",
        "拨打12345、110和120均无人处理",
        "12345转到了12315",
    ],
)
def test_public_numbers_in_context_survive(text):
    assert redacted(text) == text


def test_several_phones_in_one_text():
    text = "张先生13812345678，李女士139-1234-5678，单位0539-8123456。"
    assert redacted(text) == f"张先生{PHONE}，李女士{PHONE}，单位{PHONE}。"


def test_phones_in_a_list_separated_by_spaces():
    text = "联系人电话13812345678 13912345678 13712345678"
    assert redacted(text) == f"联系人电话{PHONE} {PHONE} {PHONE}"


def test_phone_next_to_letters():
    assert redacted("tel13812345678") == f"tel{PHONE}"
    assert redacted("Mobile:13812345678.") == f"Mobile:{PHONE}."


def test_phone_next_to_chinese_numeral_word():
    assert redacted("第一13812345678") == f"第一{PHONE}"


@pytest.mark.parametrize(
    "number",
    [
        MOBILE,
        "0539-8123456",
        VALID_ID,
        "37030219900101123X",
        "6222 0212 3456 7890",
        "370302900101123",
    ],
)
def test_full_width_numbers_of_every_kind(number):
    out = redacted(f"号码{number.translate(FULL_WIDTH)}。")
    assert out.startswith("号码［") and out.endswith("］。")
    assert not re.search(r"[0-9]", normalize_digits(out))


# ---------------------------------------------------------------- 2. ID numbers

ID_NUMBERS = [
    VALID_ID,
    "370302199001011234",  # checksum not valid
    "37030219900101123X",
    "37030219900101123x",
    "110101200012310018",
    "440305197507150077",
    "510104188001013456",
    "650102201512319991",
    "999999999999999999",  # not even a region: 18 digits are enough
]


@pytest.mark.parametrize("number", ID_NUMBERS)
def test_id_numbers(number):
    text = f"身份证号{number}，请核实"
    result = redact(text)
    assert result.text == f"身份证号{ID}，请核实"
    assert [h.kind for h in result.hits] == ["id_number"]


@pytest.mark.parametrize(
    "disguise",
    [
        "370302 19900101 123X",
        "370302-19900101-123X",
        "370302 19900101 1234",
        "370 302 1990 0101 1234",
        "3703 0219 9001 0112 34",
        "37-03-02-19-90-01-01-12-34",
        "3 7 0 3 0 2 1 9 9 0 0 1 0 1 1 2 3 4",
        "370302.1990.01.01.1234",
        "３７０３０２１９９００１０１１２３Ｘ",
        "３７０３０２ １９９００１０１ １２３４",
        "37030219900101123 X",
        "370302\u200b19900101\u200b123X",
        "3\u200c7\u200d0\u20603\ufeff0\u00ad219900101123X",
        "叁柒零叁零贰壹玖玖零零壹零壹壹贰叁肆",
        "三七〇三〇二一九九〇〇一〇一一二三四",
    ],
)
def test_id_numbers_in_disguise(disguise):
    text = f"身份证：{disguise}。"
    result = redact(text)
    assert result.text == f"身份证：{ID}。"
    assert [h.kind for h in result.hits] == ["id_number"]


@pytest.mark.parametrize(
    "disguise",
    [
        "123 456 789 012 345 678",  # 18 digits, no structure, arbitrary groups
        "12-3456-78901-2345678",
        "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8",
    ],
)
def test_unstructured_18_digits_split_anyhow_are_ids(disguise):
    assert redacted(f"证件号{disguise}。") == f"证件号{ID}。"


@pytest.mark.parametrize(
    "number",
    [
        "370302900101123",
        "110101751231001",
        "370302 900101 123",
        "370302-900101-123",
        "3703 0290 0101 123",
        "１１０１０１７５１２３１００１",
        "123456789012345",  # 15 contiguous digits
    ],
)
def test_old_15_digit_ids(number):
    text = f"老身份证{number}"
    assert redacted(text) == f"老身份证{ID}"
    assert kinds(text) == ["id_number"]


def test_id_and_phone_side_by_side():
    text = f"身份证{VALID_ID} 电话13812345678"
    assert redacted(text) == f"身份证{ID} 电话{PHONE}"
    text = f"{VALID_ID} 13812345678"
    assert redacted(text) == f"{ID} {PHONE}"


# --------------------------------------------------------------- 3. bank cards

CARD_NUMBERS = [
    "6222021234567890",  # 16, Luhn invalid
    luhn_complete("622202123456789"),  # 16, Luhn valid
    "62220212345678901",  # 17
    "6222021234567890123",  # 19
    luhn_complete("621700123456789012"),  # 19, valid
    "4367421234567890",
    "5187181234567890",
]


@pytest.mark.parametrize("number", CARD_NUMBERS)
def test_bank_cards_contiguous(number):
    text = f"请打到卡号{number}上"
    result = redact(text)
    assert result.text == f"请打到卡号{CARD}上"
    assert [h.kind for h in result.hits] == ["bank_card"]


@pytest.mark.parametrize(
    "number",
    [
        "6222 0212 3456 7890",
        "6222-0212-3456-7890",
        "6222 0212 3456 7890 123",
        "6222-0212-3456-7890-123",
        "6222 0212 3456 7890 1",
        "6222  0212  3456  7890",
        "622202 1234567890123",
        "６２２２ ０２１２ ３４５６ ７８９０",
        "6222\u200b0212\u200b3456\u200b7890",
    ],
)
def test_bank_cards_in_groups(number):
    text = f"银行卡：{number}。"
    assert redacted(text) == f"银行卡：{CARD}。"
    assert kinds(text) == ["bank_card"]


@pytest.mark.parametrize("length", [16, 17, 18, 19])
def test_luhn_valid_cards_split_anyhow(length):
    rng = random.Random(length)
    card = luhn_complete("62" + "".join(rng.choice("0123456789") for _ in range(length - 3)))
    cuts = sorted(rng.sample(range(1, length), 5))
    pieces = [card[a:b] for a, b in zip([0, *cuts], [*cuts, length], strict=True)]
    assert redacted("卡号" + " ".join(pieces) + "，谢谢") == f"卡号{CARD}，谢谢"


def test_eighteen_digit_card_is_named_card_when_only_a_card_makes_sense():
    card = luhn_complete("62220212345678901")
    assert kinds(f"卡号{card}") == ["bank_card"]


def test_long_account_numbers_are_redacted():
    assert redacted("账号62220212345678901234") == f"账号{CARD}"


# ------------------------------------------------------------ 3. licence plates

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


def test_there_are_31_provinces():
    assert len(PROVINCES) == 31


@pytest.mark.parametrize("province", PROVINCES)
def test_plates_of_every_province(province):
    text = f"车牌{province}A12345的车占道"
    assert redacted(text) == f"车牌{PLATE}的车占道"
    assert kinds(text) == ["plate"]


@pytest.mark.parametrize(
    "plate",
    [
        "鲁Q12345",
        "鲁Q·12345",
        "鲁Q•12345",
        "鲁Q.12345",
        "鲁Q-12345",
        "鲁 Q 12345",
        "鲁 Q·12345",
        "鲁QA1234",
        "鲁QAB123",
        "鲁q12345",
        "鲁QD12345",
        "鲁QF12345",
        "鲁QDA1234",
        "鲁Q12345D",
        "鲁Q12345F",
        "鲁Q１２３４５",
        "鲁Q1234学",
        "鲁Q1234警",
        "鲁Q1234挂",
        "粤Z1234港",
        "粤Z1234澳",
        "京A1234使",
        "沪A1234领",
    ],
)
def test_plates_in_every_form(plate):
    text = f"一辆{plate}长期停在消防通道"
    assert redacted(text) == f"一辆{PLATE}长期停在消防通道"
    assert kinds(text) == ["plate"]


@pytest.mark.parametrize("text", ["新iPhone15", "新Mate40", "京东", "鲁南制药", "新A区", "川菜馆"])
def test_words_that_look_a_little_like_plates_stay(text):
    assert redacted(text) == text


# -------------------------------------------------------------------- 3. e-mail


@pytest.mark.parametrize(
    "address",
    [
        "zhangsan@163.com",
        "zhang.san@qq.com",
        "zhang_san+hotline@gmail.com",
        "li-si@mail.example.com.cn",
        "12345678@qq.com",
        "ZHANG@EXAMPLE.ORG",
        "ｚｈａｎｇ＠１６３．ｃｏｍ",
        "a@b.cn",
    ],
)
def test_email_addresses(address):
    text = f"邮箱：{address}，请回复"
    assert redacted(text) == f"邮箱：{EMAIL}，请回复"
    assert kinds(text) == ["email"]


def test_at_signs_that_are_not_emails_stay():
    for text in ["@市城管局 请处理", "价格@5元", "a@b", "user@localhost"]:
        assert redacted(text) == text


# -------------------------------------------------------------- 3. QQ and WeChat


@pytest.mark.parametrize(
    "text, value",
    [
        ("QQ12345678", "12345678"),
        ("qq：123456789", "123456789"),
        ("QQ号：10001", "10001"),
        ("QQ号码 12345678901", "12345678901"),
        ("我的qq是123456789", "123456789"),
        ("扣扣 123456", "123456"),
        ("扣扣号：1234567", "1234567"),
        ("企鹅号：87654321", "87654321"),
        ("企鹅 87654321", "87654321"),
        ("QQ: 123 456 789", "123 456 789"),
        ("ＱＱ：１２３４５６７８", "１２３４５６７８"),
    ],
)
def test_qq_numbers_next_to_their_keyword(text, value):
    result = redact(f"加我{text}。")
    assert result.text == f"加我{text.replace(value, QQ)}。"
    assert [h.kind for h in result.hits] == ["qq"]


@pytest.mark.parametrize(
    "text, value",
    [
        ("微信zhangsan88", "zhangsan88"),
        ("微信号：zhang_san-1990", "zhang_san-1990"),
        ("微信 abcdef", "abcdef"),
        ("VX：lisi2026", "lisi2026"),
        ("vx lisi2026", "lisi2026"),
        ("wx:lisi2026", "lisi2026"),
        ("WX号 lisi2026", "lisi2026"),
        ("薇信 wang_wu_1", "wang_wu_1"),
        ("V信：wangwu123", "wangwu123"),
        ("v信wangwu123", "wangwu123"),
        ("微信是wxid_abc123def", "wxid_abc123def"),
        ("微信号13812345678", "13812345678"),
        ("vx:138 1234 5678", "138 1234 5678"),
        ("WeChat: zhangsan88", "zhangsan88"),
    ],
)
def test_wechat_ids_next_to_their_keyword(text, value):
    result = redact(f"加{text}。")
    assert result.text == f"加{text.replace(value, WECHAT)}。"
    assert [h.kind for h in result.hits] == ["wechat"]


def test_bare_wxid_is_redacted():
    assert redacted("wxid_abcdefg123 联系") == f"{WECHAT} 联系"


@pytest.mark.parametrize(
    "text",
    [
        "zhangsan88",
        "abc_def123 是我的用户名",
        "123456789",
        "共12345678元",
        "微信公众号",
        "微信支付了30元",
        "关注微信公众号“临沂12345”",
        "QQ群",
        "VXLAN 配置",
        "用微信扫码",
        "请用QQ联系",
    ],
)
def test_ids_and_numbers_without_keyword_stay(text):
    assert redacted(text) == text


# ------------------------------------------------------ 4. per-ticket literals


@pytest.fixture
def literals() -> PrivateLiterals:
    return PrivateLiterals(
        names=("李建国",),
        phones=("138-1234-5678",),
        addresses=("临沂市兰山区凤凰水城12号楼3单元501",),
        others=("TRK-8F3K2Q",),
    )


def test_full_name_is_removed(literals):
    result = redact("我叫李建国，是业主。", literals=literals)
    assert result.text == f"我叫{NAME}，是业主。"
    assert [h.kind for h in result.hits] == ["name"]


def test_given_name_of_two_chars_is_removed(literals):
    assert redacted("建国反映的问题", literals=literals) == f"{NAME}反映的问题"


@pytest.mark.parametrize("text", ["李先生反映", "李女士反映", "李师傅反映", "老李反映", "姓李"])
def test_surname_alone_stays(literals, text):
    assert redacted(text, literals=literals) == text


def test_one_char_given_name_is_not_removed_alone():
    lits = PrivateLiterals(names=("王伟",))
    assert redacted("王伟说伟大的城市", literals=lits) == f"{NAME}说伟大的城市"


def test_compound_surname():
    lits = PrivateLiterals(names=("欧阳娜娜",))
    assert redacted("欧阳娜娜和娜娜", literals=lits) == f"{NAME}和{NAME}"
    assert redacted("欧阳先生", literals=lits) == "欧阳先生"


def test_name_in_disguise(literals):
    for text in ["李 建国", "李\u200b建\u200c国", "李  建 国"]:
        assert redacted(f"我是{text}。", literals=literals) == f"我是{NAME}。"


def test_minority_name_with_middle_dot():
    lits = PrivateLiterals(names=("买买提·艾力",))
    assert redacted("买买提·艾力反映", literals=lits) == f"{NAME}反映"
    assert redacted("艾力反映", literals=lits) == f"{NAME}反映"


@pytest.mark.parametrize(
    "text",
    [
        "电话13812345678",
        "手机号一三八一二三四五六七八",
        "１３８ １２３４ ５６７８",
        "+86 138 1234 5678",
        "1\u200b3\u200b8\u200b1\u200b2\u200b3\u200b4\u200b5\u200b6\u200b7\u200b8",
    ],
)
def test_own_phone_in_any_disguise(literals, text):
    out = redacted(text, literals=literals)
    assert_no_digits_left(out, "13812345678")
    assert PHONE in out


def test_own_phone_that_no_generic_rule_would_catch():
    lits = PrivateLiterals(phones=("555 1234",))
    assert redacted("有事找5551234", literals=lits) == f"有事找{PHONE}"
    assert redacted("有事找5551234") == "有事找5551234"


def test_own_landline_also_by_its_local_part():
    lits = PrivateLiterals(phones=("0539-7654321",))
    assert redacted("请拨7654321", literals=lits) == f"请拨{PHONE}"
    assert redacted("请拨0539 7654321", literals=lits) == f"请拨{PHONE}"


def test_address_exact_and_its_precise_parts(literals):
    full = "我住临沂市兰山区凤凰水城12号楼3单元501，楼上漏水"
    assert redacted(full, literals=literals) == f"我住{ADDRESS}，楼上漏水"
    part = "凤凰水城12号楼3单元501楼上漏水"
    assert redacted(part, literals=literals) == f"{ADDRESS}楼上漏水"
    precise = "12号楼3单元501一直漏水"
    assert redacted(precise, literals=literals) == f"{ADDRESS}一直漏水"
    spaced = "12号楼 3单元 501"
    assert redacted(spaced, literals=literals) == ADDRESS


def test_public_parts_of_the_address_stay(literals):
    for text in ["兰山区凤凰水城小区的路灯坏了", "凤凰水城12号楼门口", "临沂市兰山区"]:
        assert redacted(text, literals=literals) == text


def test_others_are_removed(literals):
    assert redacted("追踪码TRK-8F3K2Q", literals=literals) == f"追踪码{REPLACEMENTS['other']}"


def test_numeric_others_match_in_disguise():
    lits = PrivateLiterals(others=("7712 3345",))
    assert redacted("户号：7712-3345", literals=lits) == f"户号：{REPLACEMENTS['other']}"


def test_literals_may_be_given_as_lists_or_strings():
    lits = PrivateLiterals(names=["李建国"], phones="13912345678")  # type: ignore[arg-type]
    assert redacted("李建国 139 1234 5678", literals=lits) == f"{NAME} {PHONE}"


def test_empty_literals_do_nothing():
    lits = PrivateLiterals(names=("", " ", "李"), phones=("", "无"), addresses=("",), others=("",))
    assert redacted("李先生说无", literals=lits) == "李先生说无"


SURVIVORS = [
    "2026年11月28日",
    "2026-11-28",
    "2026/11/28",
    "2026.11.28",
    "11月28日",
    "14:30",
    "2026-11-28 14:30:00",
    "20261128",
    "20261128143000",
    "2026.11.28-2026.12.05",
    "2026-11-28 2026-12-05",
    "3500元",
    "1.2万元",
    "¥20,000",
    "￥20,000.00",
    "12,345,678.90元",
    "共3次",
    "5户居民",
    "2026年",
    "3号楼",
    "3号楼2单元502室",
    "502室",
    "18号",
    "LY20261128000123",
    "LY20261201000456",
    "工单LY20261128000123已办结",
    "LY20261128000123 1234",
    "LY20261128000123、LY20261128000124",
    "276000",
    "邮编276000",
    "第1页",
    "3.5公里",
    "25℃",
    "80%",
    "100米",
    "2026年第48周",
    "0.5",
    "1、2、3",
    "拨打12345反映",
]


@pytest.mark.parametrize("text", SURVIVORS)
def test_ordinary_numbers_survive(text, literals):
    assert redacted(text) == text
    assert redacted(text, literals=literals) == text
    assert redacted(f"市民于{text}反映，") == f"市民于{text}反映，"


def test_ordinary_numbers_around_personal_data_survive():
    text = "2026年11月28日14:30，市民（电话13812345678）反映3号楼噪音，已转LY20261128000123。"
    expected = f"2026年11月28日14:30，市民（电话{PHONE}）反映3号楼噪音，已转LY20261128000123。"
    assert redacted(text) == expected


def test_room_number_is_private_only_as_part_of_the_own_address():
    lits = PrivateLiterals(addresses=("凤凰水城3号楼2单元502室",))
    assert redacted("2单元502室漏水", literals=lits) == f"{ADDRESS}漏水"
    assert redacted("2单元502室漏水") == "2单元502室漏水"
    assert redacted("502元", literals=lits) == "502元"


# ---------------------------------------------------------- 5. linear time


# Measured on the development machine (Python 3.11, two cores shared with other jobs),
# per megabyte: random digits and spaces 0.05 s, digits with zero-width characters 0.1 s,
# "1 " * 500_000 (no number at all, every digit group tried) 0.3 s, Chinese text 0.1 s.
# A run of digits and separators of 4096+ characters is noise and is redacted whole once
# it holds a number, so these stay fast whatever the digits are.
BIG_INPUTS = {
    "random digits and spaces": lambda rng: "".join(rng.choices("0123456789 ", k=1_000_000)),
    "one digit per group": lambda rng: "1 " * 500_000,
    "a phone at every digit": lambda rng: "1 3 " * 250_000,
    "digits zero-width spaces": lambda rng: "".join(
        rng.choices("0123456789 \u200b\u200c\u200d\u2060\ufeff\u00ad", k=1_000_000)
    ),
    "phone after phone": lambda rng: "13812345678 " * 83_334,
    "digits and hyphens": lambda rng: "".join(rng.choices("0123456789--", k=1_000_000)),
    "chinese numerals": lambda rng: "".join(rng.choices("一二三四五六七八九〇 ", k=1_000_000)),
    "nested separators": lambda rng: "(" * 200_000 + "1" * 200_000 + ") " * 300_000,
    "keywords": lambda rng: "QQ微信vx电话@鲁A " * 80_000,
    "email-like": lambda rng: "a." * 250_000 + "@" + "b." * 250_000,
    "letters then at": lambda rng: "a" * 999_990 + "@qq.com",
    "chinese prose": lambda rng: "市民反映小区噪音扰民，夜间施工至凌晨两点。" * 50_000,
}
# Texts made of tens of thousands of separate numbers: every one is a hit, and each hit
# costs a few microseconds of Python (0.45 s for 83 334 phones, one per line).
MANY_HITS = {
    "a phone per line": lambda rng: "13812345678\n" * 83_334,
    "digits and newlines": lambda rng: "".join(rng.choices("0123456789 \n", k=1_000_000)),
}


def no_bare_mobile(text: str) -> bool:
    return not re.search(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])", visible(text))


@pytest.mark.parametrize("name", sorted(BIG_INPUTS))
def test_a_megabyte_is_redacted_in_linear_time(name):
    text = BIG_INPUTS[name](random.Random(5))
    assert len(text) >= 900_000
    started = time.perf_counter()
    result = Redactor(time_budget=30).redact(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"{name}: {elapsed:.2f} s"
    assert no_bare_mobile(result.text)


@pytest.mark.parametrize("name", sorted(MANY_HITS))
def test_a_megabyte_of_separate_numbers(name):
    text = MANY_HITS[name](random.Random(5))
    started = time.perf_counter()
    result = Redactor(time_budget=30).redact(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 4.0, f"{name}: {elapsed:.2f} s"
    assert no_bare_mobile(result.text)


def test_a_megabyte_of_digits_and_spaces_fits_the_default_budget():
    text = "".join(random.Random(1).choices("0123456789 ", k=1_000_000))
    result = Redactor().redact(text)  # the default budget of 0.5 s
    assert result.hits
    assert no_bare_mobile(result.text)


def test_a_long_run_of_noise_is_redacted_whole():
    noise = "1 2 3 4 5 6 7 8 9 0 " * 300 + "13812345678 " + "9 8 7 " * 300
    result = redact(f"开头{noise}结尾")
    assert result.text == f"开头{PHONE} 结尾"
    assert redacted(f"开头{'1 2 ' * 2000}结尾") == f"开头{'1 2 ' * 2000}结尾"  # no number in it


def test_a_short_list_of_numbers_is_not_redacted_whole():
    text = "1 2 3 4 5 13812345678 6 7 8 9 0"
    assert redacted(text) == f"1 2 3 4 5 {PHONE} 6 7 8 9 0"


def test_time_grows_linearly():
    small = "1 3 5 7 9 2 4 6 8 0 13812345678 工单LY20261128000123\n" * 2_000
    big = small * 8
    redactor = Redactor(time_budget=30)
    redactor.redact(small)  # warm up the caches
    started = time.perf_counter()
    redactor.redact(small)
    t_small = time.perf_counter() - started
    started = time.perf_counter()
    redactor.redact(big)
    t_big = time.perf_counter() - started
    assert t_big < 8 * t_small * 3 + 0.05


def test_time_budget_exceeded_raises():
    text = "1 3 " * 250_000
    with pytest.raises(RedactionError, match="time budget"):
        Redactor(time_budget=0.001).redact(text)


def test_time_budget_is_per_call():
    redactor = Redactor(time_budget=0.5)
    for _ in range(3):
        assert redactor.redact(f"电话{MOBILE}").text == f"电话{PHONE}"


@pytest.mark.skipif(redact_module._regex is None, reason="needs the regex module")
def test_runaway_editor_regex_hits_the_budget():
    rule = Rule("slow", "regex", r"^(?:a|aa)+$")  # exponential, without nested quantifiers
    with pytest.raises(RedactionError, match="slow"):
        Redactor([rule], time_budget=0.2).redact("a" * 40 + "b")


# ------------------------------------------------- 6. no HTML or Markdown meaning


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "{{ x }}",
        "{% raw %}{{ config }}{% endraw %}",
        "**粗体** _斜体_ [链接](http://example.com) ![图](x.png)",
        "&lt;b&gt; &amp; &#x41; &nbsp;",
        "<img src=x onerror=alert(1)>",
        "`code` ```python\nprint(1)\n```",
        "# 标题\n\n- 列表\n> 引用",
        "\\n \\t \\\\ \\u0041",
        "<!-- 注释 -->",
        "javascript:alert(document.cookie)",
        "${jndi:ldap://x}",
        "'; DROP TABLE tickets; --",
    ],
)
def test_markup_passes_through_unchanged(text):
    assert redacted(text) == text
    assert redacted(text, field="reply") == text


def test_personal_data_inside_markup_is_replaced_and_markup_kept():
    text = '<b onclick="x">13812345678</b> {{ 13812345678 }} **13812345678**'
    expected = f'<b onclick="x">{PHONE}</b> {{{{ {PHONE} }}}} **{PHONE}**'
    assert redacted(text) == expected


def test_surrounding_text_is_byte_identical():
    text = "前\u3000文\r\n\t<tag a='1'>\u200b13812345678\u200b</tag>\U0001f600后文\u00a0"
    out = redacted(text)
    assert out == "前\u3000文\r\n\t<tag a='1'>\u200b" + PHONE + "\u200b</tag>\U0001f600后文\u00a0"


def test_full_width_and_other_characters_outside_hits_are_not_normalised():
    text = "市民：１２３号，ＡＢＣ，①②③"
    assert redacted(text) == text


# --------------------------------------------------------------- 7. editor rules


@dataclass
class Rule:
    id: str
    kind: str
    pattern: str
    scope: list[str] = field(default_factory=lambda: ["all"])
    replacement: str = ""
    reason: str = "测试"


def test_editor_literal_rule():
    redactor = Redactor([Rule("r1", "literal", "王经理", replacement="［某经理］")])
    result = redactor.redact("物业王经理态度恶劣")
    assert result.text == "物业［某经理］态度恶劣"
    assert result.hits == (Hit("editor", 2, 5, "r1"),)


def test_editor_literal_rule_matches_disguises():
    redactor = Redactor([Rule("r1", "literal", "王经理")])
    assert redactor.redact("王\u200b经 理").text == REPLACEMENTS["editor"]


def test_editor_regex_rule():
    redactor = Redactor([Rule("r2", "regex", r"[张王李]总", replacement="［某负责人］")])
    result = redactor.redact("找了张总和李总都不管")
    assert result.text == "找了［某负责人］和［某负责人］都不管"
    assert [h.rule_id for h in result.hits] == ["r2", "r2"]
    assert {h.kind for h in result.hits} == {"editor"}


def test_editor_rule_default_replacement():
    result = Redactor([Rule("r3", "literal", "某某公司")]).redact("某某公司欠薪")
    assert result.text == f"{REPLACEMENTS['editor']}欠薪"


@pytest.mark.parametrize(
    "scope, field_name, applies",
    [
        (["content"], "content", True),
        (["content"], "reply", False),
        (["reply"], "reply", True),
        (["reply", "comment"], "comment", True),
        (["note"], "content", False),
        (["all"], "note", True),
        (["all"], "reply", True),
        ("all", "comment", True),
    ],
)
def test_editor_rule_scope(scope, field_name, applies):
    redactor = Redactor([Rule("r4", "literal", "某某", scope=scope)])
    out = redactor.redact("某某说", field=field_name).text
    assert (out != "某某说") is applies


def test_editor_rules_given_as_mappings():
    rules = [
        {"id": "m1", "kind": "literal", "pattern": "阿强", "scope": ["all"], "replacement": ""},
        {
            "id": "m2",
            "kind": "regex",
            "pattern": r"\d+栋",
            "scope": ["reply"],
            "replacement": "［楼栋］",
        },
    ]
    redactor = Redactor(rules)
    assert redactor.redact("阿强住5栋").text == f"{REPLACEMENTS['editor']}住5栋"
    assert redactor.redact("阿强住5栋", field="reply").text == f"{REPLACEMENTS['editor']}住［楼栋］"


def test_editor_rule_and_builtin_overlap():
    redactor = Redactor([Rule("r5", "regex", r"电话\d+", replacement="［联系方式］")])
    result = redactor.redact("电话13812345678。")
    assert result.text == "［联系方式］。"
    assert result.hits == (Hit("editor", 0, 13, "r5"),)


@pytest.mark.parametrize(
    "pattern",
    ["(", "[a-", "a{2,1}", "abc\\", "*a", "(?P<1>a)", "a)"],
)
def test_invalid_regex_names_the_rule(pattern):
    with pytest.raises(ValueError, match="bad-rule"):
        Redactor([Rule("bad-rule", "regex", pattern)])


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+",
        r"(a*)*b",
        r"(\d+\s?)+$",
        r"(?:x+y?)*",
        r"((ab)*c)+",
        r"(a{1,5}){2,}",
        r"([a-z]+\.)+com",
        r"(?:\p{Han}+)+",
        r"(a|b+)*",
        r"(?:(?:a+)b)*",
    ],
)
def test_nested_quantifiers_are_rejected(pattern):
    with pytest.raises(ValueError, match=r"slow-rule.*nested quantifier"):
        Redactor([Rule("slow-rule", "regex", pattern)])


@pytest.mark.parametrize(
    "pattern",
    [
        r"a+b+",
        r"(ab)+",
        r"(?:[a-z]\d)+",
        r"(a?b)+",
        r"[(+*)]+",
        r"\(a+\)+",
        r"(?:abc){2}",
        r"(?i)张三",
        r"(a)\1",
        r"x{3}(?:y|z)*",
        r"[\d+]*\d",
    ],
)
def test_safe_patterns_are_accepted(pattern):
    Redactor([Rule("ok", "regex", pattern)])


@pytest.mark.parametrize(
    "rule",
    [
        Rule("r", "glob", "*"),
        Rule("r", "literal", ""),
        Rule("r", "regex", "  "),
        Rule("r", "literal", "x", scope=["title"]),
        Rule("", "literal", "x"),
        Rule("r", "regex", "a*"),
    ],
)
def test_bad_rules_are_rejected(rule):
    with pytest.raises(ValueError):
        Redactor([rule])


def test_duplicate_rule_ids_are_rejected():
    with pytest.raises(ValueError, match="twice"):
        Redactor([Rule("d", "literal", "甲"), Rule("d", "literal", "乙")])


# ---------------------------------------------------------- normalize_digits


@pytest.mark.parametrize(
    "text, expected",
    [
        ("１３８１２３４５６７８", "13812345678"),
        ("138 1234-5678", "13812345678"),
        ("1\u200b3\u200c8\u200d1\u20602\ufeff3\u00ad45678", "13812345678"),
        ("一三八幺两三四五六七八", "13812345678"),
        ("〇五三九", "0539"),
        ("零五三九", "0539"),
        ("电话：１３８", "电话:138"),
        ("①②③", "123"),
        ("٣٤٥", "345"),
        ("abc", "abc"),
        ("3号楼 2单元", "3号楼 2单元"),
    ],
)
def test_normalize_digits(text, expected):
    assert normalize_digits(text) == expected


# ---------------------------------------------------------- contains_private


def test_contains_private_finds_every_disguise(literals):
    page = "<p>李 建国 家住 12号楼3单元501，电话 一三八-一二三四-五六七八</p>"
    found = contains_private(page, literals)
    assert "李建国" in found
    assert "13812345678" in found
    assert "12号楼3单元501" in found


def test_contains_private_decodes_html_entities_and_json_escapes(literals):
    assert contains_private("&#26446;&#24314;&#22269;", literals) == ["李建国"]
    assert contains_private('{"t": "\\u674e\\u5efa\\u56fd"}', literals) == ["李建国"]
    assert contains_private("13812345678&#8203;", literals) == ["13812345678"]


def test_contains_private_finds_the_local_part_of_a_landline():
    lits = PrivateLiterals(phones=("0539-7654321",))
    assert contains_private("拨7654321", lits) == ["7654321"]
    assert contains_private("拨0539 765 4321", lits) == ["05397654321"]


def test_contains_private_is_quiet_on_clean_pages(literals):
    page = "<p>［姓名已隐去］反映建国路路灯不亮，工单LY20261128000123，电话［电话已隐去］</p>"
    assert contains_private(page, literals) == []


def test_contains_private_on_redacted_output_is_empty(literals):
    text = "我是李建国，住凤凰水城12号楼3单元501，电话138 1234 5678，追踪码TRK-8F3K2Q"
    out = redacted(text, literals=literals)
    assert contains_private(text, literals)
    assert contains_private(out, literals) == []


def test_contains_private_respects_digit_boundaries():
    lits = PrivateLiterals(phones=("13812345678",))
    assert contains_private("2026 1381234567 8", lits) == ["13812345678"]  # in disguise
    assert contains_private("213812345678", lits) == []


def test_contains_private_is_fast_on_large_text(literals):
    page = "市民反映小区噪音问题一直没有解决三单元二楼请尽快处理 <b>谢谢</b> 2026 " * 40_000
    started = time.perf_counter()
    assert contains_private(page, literals) == []
    assert time.perf_counter() - started < 1.0


def test_the_shipped_editor_rules_are_accepted():
    yaml = pytest.importorskip("yaml")
    path = Path(__file__).resolve().parents[1] / "data" / "catalog" / "redaction.yaml"
    if not path.exists():
        pytest.skip("no catalog")
    rules = yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]
    redactor = Redactor(rules)
    assert len(redactor.rules) == len(rules)
    for rule in rules:
        for field_name in ("content", "reply", "comment", "note"):
            redactor.redact(f"测试{rule['pattern']}测试", field=field_name)


# ----------------------------------------- texts that none of a ticket's literals touch

SHARED = "已回访{}，预计本周内完成维修。"
ABSENT = PrivateLiterals(names=("赵六",), phones=("15900001111",), addresses=("沂蒙路99号",))


@pytest.mark.parametrize(
    ("disguise", "literals"),
    [
        ("张三", PrivateLiterals(names=("张三",))),
        ("张\u200b三", PrivateLiterals(names=("张三",))),
        ("解放路１２号", PrivateLiterals(addresses=("兰山区解放路12号",))),
        ("8123456", PrivateLiterals(phones=("0539-8123456",))),
        ("八一二三四五六", PrivateLiterals(phones=("0539-8123456",))),  # found in a window only
        ("81二三456", PrivateLiterals(phones=("0539-8123456",))),
        ("37010", PrivateLiterals(others=("37010",))),
        ("ABC 123", PrivateLiterals(others=("ABC123",))),
    ],
)
def test_a_text_seen_before_without_its_literals_is_redacted_with_them(disguise, literals):
    """Repeated texts are served from a cache, but never where a literal can be found."""
    text = SHARED.format(disguise)
    redactor = Redactor()
    first = redactor.redact(text, field="reply", literals=ABSENT)
    assert redactor.redact(text, field="reply", literals=ABSENT) == first  # cached
    assert redactor.redact(text, field="reply") == first
    with_literal = redactor.redact(text, field="reply", literals=literals)
    assert with_literal == Redactor().redact(text, field="reply", literals=literals)
    assert disguise not in with_literal.text and with_literal != first
    assert redactor.redact(text, field="reply", literals=ABSENT) == first


def test_cached_texts_are_per_field():
    rules = [{"id": "r", "kind": "literal", "pattern": "维修", "scope": ["note"]}]
    redactor = Redactor(rules)
    text = SHARED.format("")
    assert "维修" in redactor.redact(text, field="reply").text
    assert "维修" not in redactor.redact(text, field="note").text


def test_a_cached_text_still_checks_the_time_budget():
    redactor = Redactor()
    text = SHARED.format("")
    redactor.redact(text, field="reply")
    redactor.time_budget = 1e-9
    with pytest.raises(RedactionError, match="time budget"):
        redactor.redact(text, field="reply")
