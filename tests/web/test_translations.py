"""Every user-visible string has a Chinese translation, and placeholders survive it."""

import re

from babel.messages.pofile import read_po

from app.config import BASE_DIR

CATALOG = BASE_DIR / "app" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
TEMPLATE = BASE_DIR / "app" / "translations" / "messages.pot"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _load(path):
    with open(path, "rb") as handle:
        return read_po(handle)


def test_catalog_covers_every_extracted_string():
    catalog = _load(CATALOG)
    template = _load(TEMPLATE)
    missing = [m.id for m in template if m.id and m.id not in catalog]
    assert not missing, f"run `make translations` and translate: {missing}"


def test_every_chinese_string_is_translated_and_keeps_placeholders():
    catalog = _load(CATALOG)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        if set(PLACEHOLDER.findall(ids[0])) != set(PLACEHOLDER.findall(strings[0])):
            problems.append(f"placeholders differ: {ids[0]!r}")
    assert not problems, "\n".join(problems)
