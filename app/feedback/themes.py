"""Automatic themes and strong-negative detection for free-text comments (Chinese and English).

Chinese text is segmented with jieba (the theme keywords are added to its dictionary so that
words such as 扫码 or 看不清 stay whole); English words are lower-cased and matched by stem
(``wait`` matches *wait*, *waiting*, *waited*). A comment can carry several themes.

Junk never carries a theme (:func:`is_junk`): a comment holding HTML tags (people do not type
them; robots and injection attempts do), nothing but links, symbols or digits, or letters
that form no words is left untagged. Links are removed before the words are read.

A comment is flagged **strongly negative** for the daily retro when its negativity score is
at least :data:`STRONG_NEGATIVE_SCORE`, or when it is negative at all and the respondent's
headline rating is 1 or 2 (see :func:`is_strongly_negative`).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from app.core.labels import THEME_LABELS


@dataclass(frozen=True, slots=True)
class Theme:
    """A theme's key and the words that reveal it (its name: ``app.core.labels.THEME_LABELS``)."""

    key: str
    zh: tuple[str, ...]
    en: tuple[str, ...]


THEMES: tuple[Theme, ...] = (
    Theme(
        "waiting",
        (
            "排队",
            "等待",
            "等候",
            "等了",
            "久等",
            "慢",
            "太慢",
            "很慢",
            "快",
            "速度",
            "上菜",
            "出餐",
        ),
        ("wait", "queue", "slow", "fast", "quick", "speed", "delay", "late", "line"),
    ),
    Theme(
        "qr_ordering",
        ("扫码", "二维码", "点餐", "点菜", "手机", "小程序", "下单"),
        ("qr", "scan", "app", "phone", "order", "online"),
    ),
    Theme(
        "seniors",
        ("老人", "老年", "老年人", "长辈", "父母", "爸妈", "大爷", "阿姨", "老年顾客"),
        ("senior", "elderly", "parent", "grandma", "grandpa", "older", "old people"),
    ),
    Theme(
        "staff",
        ("服务员", "店员", "服务", "热情", "耐心", "态度", "帮忙", "贴心", "帮我"),
        ("staff", "waiter", "waitress", "service", "friendly", "helpful", "rude", "polite"),
    ),
    Theme(
        "readability",
        ("菜单", "字太小", "看不清", "字体", "图片", "大字"),
        ("menu", "font", "read", "small print", "picture"),
    ),
    Theme(
        "network_payment",
        ("网络", "信号", "付款", "支付", "付钱", "买单", "卡顿", "wifi"),
        ("network", "wifi", "wi-fi", "payment", "pay", "signal", "connection"),
    ),
    Theme(
        "food",
        ("味道", "好吃", "难吃", "菜品", "饭菜", "分量", "新鲜"),
        ("food", "taste", "tasty", "dish", "portion", "fresh", "cold"),
    ),
    Theme(
        "price",
        ("价格", "贵", "便宜", "优惠", "性价比"),
        ("price", "expensive", "cheap", "discount", "value"),
    ),
    Theme(
        "equipment",
        ("打印", "打印机", "出单", "平板", "设备", "后厨"),
        ("printer", "ticket", "tablet", "device", "kitchen"),
    ),
    Theme(
        "workload",
        ("压力", "忙", "累", "人手", "加班", "工作量"),
        ("workload", "busy", "tired", "understaffed", "overtime", "pressure"),
    ),
)


def theme_label(tag: str) -> str:
    """The theme's name in the request's language (English outside a request); manual tags
    are returned as written."""
    label = THEME_LABELS.get(tag)
    if label is None:
        return tag
    return str(label)


#: Negative words and phrases: weight 1 (negative) or 2 (strongly negative).
NEGATIVE_ZH = {
    "麻烦": 1, "不会": 1, "难": 1, "太难": 1, "看不清": 1, "失败": 1, "慢": 1, "太慢": 1,
    "没人": 1, "不好": 1, "差": 1, "很差": 2, "不方便": 1, "扫不出来": 1, "等了很久": 1,
    "生气": 2, "投诉": 2, "垃圾": 2, "糟糕": 2, "失望": 2, "太差": 2, "再也不": 2, "难吃": 2,
    "恶心": 2, "骗": 2, "退款": 2, "态度恶劣": 2, "气死": 2, "最差": 2,
}  # fmt: skip
NEGATIVE_EN = {
    "slow": 1, "hard": 1, "difficult": 1, "complicated": 1, "confusing": 1, "failed": 1,
    "broken": 1, "bad": 1, "could not": 1, "couldn't": 1, "cannot": 1, "can't": 1, "poor": 1,
    "terrible": 2, "awful": 2, "worst": 2, "horrible": 2, "disgusting": 2, "rude": 2,
    "never again": 2, "angry": 2, "furious": 2, "refund": 2, "complaint": 2, "complain": 2,
    "useless": 2, "hate": 2, "unacceptable": 2, "scam": 2,
}  # fmt: skip
INTENSIFIERS_ZH = ("太", "非常", "特别", "极其", "超级", "真")
INTENSIFIERS_EN = ("very", "so", "too", "extremely", "really", "totally")
POSITIVE_ZH = ("方便", "很好", "满意", "喜欢", "热情", "贴心", "快", "不错", "挺好", "顺利")
POSITIVE_EN = ("great", "good", "easy", "quick", "friendly", "love", "nice", "helpful")

#: A negativity score at which a comment is flagged whatever the rating.
STRONG_NEGATIVE_SCORE = 4

_lock = threading.Lock()
_tokenizer = None
_WORD = re.compile(r"[a-z][a-z'\-]*")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _jieba():
    """One jieba tokenizer per process, with the theme vocabulary added."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                words = {w for t in THEMES for w in t.zh} | set(NEGATIVE_ZH)
                for word in words:
                    tokenizer.add_word(word, freq=20000)
                tokenizer.initialize()
                _tokenizer = tokenizer
    return _tokenizer


def warm_up() -> None:
    """Load the segmenter now (it takes about a second the first time)."""
    _jieba()


def tokens(text: str) -> list[str]:
    """Chinese words (via jieba) and lower-case English words."""
    if not text:
        return []
    lowered = text.lower()
    if _HAN.search(lowered):
        pieces = [t.strip() for t in _jieba().lcut(lowered)]
    else:
        pieces = lowered.split()
    out: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if _HAN.search(piece):
            out.append(piece)
        else:
            out.extend(_WORD.findall(piece))
    return out


def _alternation(phrases, *, whole_word: bool) -> re.Pattern[str] | None:
    """One compiled pattern for a set of English keywords (longest first), or None."""
    if not phrases:
        return None
    body = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])({body})" + (r"(?![a-z])" if whole_word else ""))


@dataclass(frozen=True, slots=True)
class _ThemeMatcher:
    """A theme's keywords, sorted once into the cheapest test for each kind.

    English keywords with a space, apostrophe or hyphen are searched as phrases; keywords of
    up to three letters must be a whole word; longer ones match words they start
    (``wait`` → *waiting*).
    """

    key: str
    zh: frozenset[str]
    phrases: re.Pattern[str] | None
    short: frozenset[str]
    stems: tuple[str, ...]

    @classmethod
    def of(cls, theme: Theme) -> _ThemeMatcher:
        phrases = [k for k in theme.en if " " in k or "'" in k or "-" in k]
        words = [k for k in theme.en if k not in phrases]
        return cls(
            key=theme.key,
            zh=frozenset(theme.zh),
            phrases=_alternation(phrases, whole_word=False),
            short=frozenset(k for k in words if len(k) <= 3),
            stems=tuple(k for k in words if len(k) > 3),
        )

    def matches(self, words: list[str], word_set: set[str], lowered: str, latin: bool) -> bool:
        if not self.zh.isdisjoint(word_set):
            return True
        if not latin:  # every English keyword needs a Latin letter
            return False
        if self.phrases is not None and self.phrases.search(lowered):
            return True
        if not self.short.isdisjoint(word_set):
            return True
        return bool(self.stems) and any(word.startswith(self.stems) for word in words)


_MATCHERS = tuple(_ThemeMatcher.of(theme) for theme in THEMES)
_LATIN = re.compile(r"[a-z]")
_NEGATIVE_EN = _alternation(NEGATIVE_EN, whole_word=True)
_POSITIVE_EN = _alternation(POSITIVE_EN, whole_word=True)
#: Chinese phrases that jieba may split differently (e.g. "扫不出来"); they count once.
_NEGATIVE_ZH_PHRASES = tuple((p, w) for p, w in NEGATIVE_ZH.items() if len(p) > 2)


_TAG = re.compile(r"</?[a-z][a-z0-9]*(?:\s[^<>]*)?/?>|<!--.*?-->|&[a-z]+;|&#\d+;", re.I | re.S)
_ELEMENT = re.compile(r"</?[a-z][a-z0-9]*(?:\s[^<>]*)?/?>|<!--", re.IGNORECASE)
_URL = re.compile(r"(?:[a-z][a-z0-9+.\-]*://|www\.)\S+|\S+@\S+\.[a-z]{2,}", re.IGNORECASE)
_LATIN_WORD = re.compile(r"[a-z]+")
_VOWEL = re.compile(r"[aeiouy]")
_CONSONANT_RUN = re.compile(r"[^aeiouy]{5,}")
_REPEAT = re.compile(r"(.)\1\1")


def readable_text(text: str | None) -> str:
    """``text`` without HTML tags, entities and links (what a theme may be read from)."""
    if not text:
        return ""
    if "<" in text or "&" in text:
        text = _TAG.sub(" ", text)
    if "/" in text or "www" in text.lower() or "@" in text:
        text = _URL.sub(" ", text)
    return text.strip()


def _plausible(word: str) -> bool:
    return (
        len(word) >= 2
        and _VOWEL.search(word) is not None
        and _CONSONANT_RUN.search(word) is None
        and _REPEAT.search(word) is None
    )


def is_junk(text: str | None) -> bool:
    """True when nothing readable is left once markup and links are gone: empty, only
    symbols or digits, or letters that do not form words (``asdfgh qwrtzx``)."""
    if text and "<" in text and _ELEMENT.search(text):
        return True
    clean = readable_text(text)
    if not clean:
        return True
    if _HAN.search(clean):
        return False
    words = _LATIN_WORD.findall(clean.lower())
    if not words:
        return True
    plausible = sum(len(w) for w in words if _plausible(w))
    return plausible * 2 < sum(len(w) for w in words)


@dataclass(frozen=True, slots=True)
class Analysis:
    themes: list[str]
    negativity: int


def analyse(text: str | None) -> Analysis:
    """Themes and negativity of one comment, segmenting it once (junk has no theme)."""
    if is_junk(text):
        return Analysis([], 0)
    clean = readable_text(text)
    words = tokens(clean)
    return Analysis(_themes(clean, words), _negativity(clean, words))


def flag_from(analysis: Analysis, rating: float | None) -> bool:
    return _flag(analysis.negativity, rating)


def detect_themes(text: str | None) -> list[str]:
    """Theme keys found in ``text`` (in the order of :data:`THEMES`)."""
    if is_junk(text):
        return []
    clean = readable_text(text)
    return _themes(clean, tokens(clean))


def _themes(text: str, words: list[str]) -> list[str]:
    if not words:
        return []
    word_set = set(words)
    lowered = text.lower()
    latin = _LATIN.search(lowered) is not None
    return [m.key for m in _MATCHERS if m.matches(words, word_set, lowered, latin)]


def negativity(text: str | None) -> int:
    """A small lexicon score: sum of negative weights, +1 after an intensifier, minus positives.

    "不错" (not bad) and "不慢" are read as positive or neutral, because jieba keeps them as
    one word or the negator precedes the negative word.
    """
    if not text or not text.strip():
        return 0
    return _negativity(text, tokens(text))


def _negativity(text: str, words: list[str]) -> int:
    if not words:
        return 0
    lowered = text.lower()
    score = 0
    for i, word in enumerate(words):
        weight = NEGATIVE_ZH.get(word, 0)
        if weight and i > 0 and words[i - 1] in ("不", "没", "没有"):
            continue
        if weight and i > 0 and words[i - 1] in INTENSIFIERS_ZH:
            weight += 1
        score += weight
    for phrase, weight in _NEGATIVE_ZH_PHRASES:
        if phrase in lowered and phrase not in words:
            score += weight
    positives = sum(1 for w in words if w in POSITIVE_ZH)
    if _LATIN.search(lowered):
        score += _negativity_en(lowered)
        positives += len({m.group(1) for m in _POSITIVE_EN.finditer(lowered)})
    return max(score - positives, 0)


def _negativity_en(lowered: str) -> int:
    """English negative words: "not slow" does not count, "very rude" counts one more.

    An intensifier raises the phrase's weight for its later occurrences in the comment too.
    """
    weights = dict(NEGATIVE_EN)
    score = 0
    for match in _NEGATIVE_EN.finditer(lowered):
        phrase = match.group(1)
        before = lowered[max(0, match.start() - 12) : match.start()].split()
        if before and before[-1] in ("not", "never", "isn't", "wasn't") and weights[phrase] == 1:
            continue
        if before and before[-1] in INTENSIFIERS_EN:
            weights[phrase] += 1
        score += weights[phrase]
    return score


def is_strongly_negative(text: str | None, rating: float | None = None) -> bool:
    """Flag for the daily retro: very negative words, or a negative comment with a 1-2 rating.

    A headline rating of 1 without a comment is flagged too: the most unhappy customers often
    write nothing, and the retro should still see them.
    """
    return _flag(negativity(text), rating)


def _flag(score: int, rating: float | None) -> bool:
    if score >= STRONG_NEGATIVE_SCORE:
        return True
    if rating is not None and rating <= 2 and score >= 1:
        return True
    return rating is not None and rating <= 1
