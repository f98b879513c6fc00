"""Automatic themes (jieba for Chinese, stems for English) and strong-negative flags."""

import pytest

from app.feedback.themes import detect_themes, is_strongly_negative, negativity, tokens


def test_chinese_is_segmented_into_words():
    assert tokens("手机扫码太麻烦了，老人不会用")[:4] == ["手机", "扫码", "太", "麻烦"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("扫码点餐很方便，不用排队了", {"qr_ordering", "waiting"}),
        ("手机扫码太麻烦了，老人不会用", {"qr_ordering", "seniors"}),
        ("菜单字太小看不清", {"readability"}),
        ("网络太慢，付款失败了两次", {"network_payment", "waiting"}),
        ("服务员帮我扫码点餐，很贴心", {"qr_ordering", "staff"}),
        ("The QR menu is hard to read for my parents", {"qr_ordering", "readability", "seniors"}),
        ("We waited ages in the queue", {"waiting"}),
        ("Printer jammed again in the kitchen", {"equipment"}),
        ("高峰期压力小了", {"workload"}),
        ("", set()),
    ],
)
def test_themes(text, expected):
    assert set(detect_themes(text)) == expected


@pytest.mark.parametrize(
    "text, rating, flagged",
    [
        ("垃圾服务，再也不来了，我要投诉", 3, True),  # strong words whatever the rating
        ("Terrible, the worst service, never again", 4, True),
        ("二维码扫不出来，等了很久", 2, True),  # negative comment and a low rating
        ("二维码扫不出来，等了很久", 4, False),
        ("味道不错，服务员很热情", 5, False),
        ("Not bad, quick and easy", 4, False),
        ("", 1, True),  # the unhappiest often write nothing
        ("", 2, False),
    ],
)
def test_strongly_negative_comments_are_flagged(text, rating, flagged):
    assert is_strongly_negative(text, rating) is flagged


def test_negation_reads_as_not_negative():
    assert negativity("不麻烦") < negativity("太麻烦")
