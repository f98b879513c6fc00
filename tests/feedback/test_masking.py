"""Personal data is masked before storage, in Chinese and English text."""

import pytest

from app.feedback.masking import mask, mask_text

CASES = [
    # (input, expected) — realistic comments as customers write them
    ("我的电话13812345678，有问题请联系", "我的电话[phone]，有问题请联系"),
    ("手机：１３９１２３４５６７８（全角）", "手机：[phone]（全角）"),
    ("请回电 138 1234 5678 谢谢", "请回电 [phone] 谢谢"),
    ("call me on +86 138-1234-5678 please", "call me on [phone] please"),
    ("联系方式0086 15912345678", "联系方式[phone]"),
    ("Call me: 8613912345678.", "Call me: [phone]."),
    ("邮箱zhang.san@qq.com有空回复", "邮箱[email]有空回复"),
    ("Email john.doe+rw@example.co.uk for details.", "Email [email] for details."),
    ("我的QQ邮箱是 12345678@qq.com", "我的QQ邮箱是 [email]"),
    ("退款请联系 ＬＩ．ＷＥＩ＠１６３．ＣＯＭ", "退款请联系 [email]"),
    ("身份证号110101199003071234，会员没积分", "身份证号[id-number]，会员没积分"),
    (
        "My ID is 44030619851231002X, the member card failed",
        "My ID is [id-number], the member card failed",
    ),
    ("身份证 110101 19900307 1234", "身份证 [id-number]"),
    ("付款失败，卡号6222021234567890123被扣了两次", "付款失败，卡号[bank-card]被扣了两次"),
    ("card 4111 1111 1111 1111 charged twice", "card [bank-card] charged twice"),
    ("银行卡 6217-0012-3456-7890", "银行卡 [bank-card]"),
    ("电话13812345678，邮箱a@b.cn，卡6222021234567890", "电话[phone]，邮箱[email]，卡[bank-card]"),
    # things that are not personal data stay as they are
    ("等了15分钟，2号桌，人均80元", "等了15分钟，2号桌，人均80元"),
    (
        "We waited 25 minutes at table 12 on 2026-11-22",
        "We waited 25 minutes at table 12 on 2026-11-22",
    ),
    ("订单号 20261122 很快", "订单号 20261122 很快"),
    ("价格 12345678901 元太离谱", "价格 12345678901 元太离谱"),  # 11 digits, not 1[3-9]
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_personal_data_is_masked(text, expected):
    assert mask(text) == expected


def test_counts_tell_what_was_masked():
    result = mask_text("电话13812345678 邮箱a@b.com 电话13912345678")
    assert result.counts == {"email": 1, "id_number": 0, "phone": 2, "bank_card": 0}
    assert result.changed


def test_a_phone_number_inside_a_longer_number_is_not_left_half_visible():
    # 19 digits that happen to contain a mobile number: masked as one card number
    assert mask("6213812345678901234") == "[bank-card]"


def test_masking_is_idempotent():
    once = mask("电话13812345678 a@b.com")
    assert mask(once) == once
