"""Junk never carries a theme: markup, bare links, random letters, nothing at all."""

from __future__ import annotations

import pytest

from app.feedback import themes

JUNK = [
    "",
    "   \n\t ",
    "<b>slow</b>",
    "<script>alert('waiting')</script>",
    "<a href='https://spam.example/queue'>click</a>",
    "https://spam.example/waiting-queue-slow",
    "www.slow-queue.cn",
    "asdfgh qwrtzx",
    "sdfghjk wait",  # one real word drowned in random letters
    "!!!???...",
    "12345 6789",
    "&lt;&gt;&amp;",
]


@pytest.mark.parametrize("text", JUNK)
def test_junk_gets_no_theme(text):
    assert themes.is_junk(text)
    assert themes.detect_themes(text) == []
    assert themes.analyse(text).themes == []


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("The queue was slow today", "waiting"),
        ("排队太久了", "waiting"),
        ("Waited 20 min!!! see https://example.com", "waiting"),
        ("I <3 the app but waiting > 10 min", "waiting"),
    ],
)
def test_real_comments_keep_their_themes(text, theme):
    assert not themes.is_junk(text)
    assert theme in themes.detect_themes(text)
    assert theme in themes.analyse(text).themes
