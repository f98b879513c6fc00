"""Every enum member and key shown to people has words in both languages, written once in
``app/core/labels.py``.

* Every member of every enum of ``app.models`` that people see has a label (and a colour,
  where the enum has colours).
* Every label renders in Chinese under ``Accept-Language: zh-CN`` (unless it is a proper name).
* No module outside ``app/core/labels.py`` keeps a label table: a dict or a list of choices
  whose values are translated words (the sentence templates of reason codes excepted).
* ``app/core/labels.py`` itself imports neither the request nor WTForms.

As in ``test_import_rules.py``, each scan is also tried on a small bad example.
"""

from __future__ import annotations

import ast
import enum
import inspect
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import render_template_string
from flask_babel import refresh
from flask_babel.speaklater import LazyString

import app.models as models
from app.core import labels
from app.core.labels import (
    ENUM_COLOURS,
    ENUM_LABELS,
    by_value,
    choices_for,
    colour,
    colours_by_value,
    label,
)
from app.feedback.themes import THEMES
from app.models import (
    ActionStatus,
    Arm,
    Audience,
    MetricKind,
    PilotStatus,
    ReportStatus,
    ResponseChannel,
    Role,
    SizeTier,
)
from tests.web.test_import_rules import ROOT, module_name, python_files, workflow_violations

#: Enums people never see as words, and why.
NOT_SHOWN = {
    ResponseChannel: "recorded for audits and imports; no page names it",
}

#: Labels that read the same in both languages.
PROPER_NAMES: set[str] = set()

#: Bootstrap's contextual colours (the badge classes ``text-bg-<colour>``).
BOOTSTRAP_COLOURS = {
    "primary",
    "secondary",
    "success",
    "danger",
    "warning",
    "info",
    "light",
    "dark",
}

#: Tables of sentences, not labels: ``(file, module-level name or function)``.
SENTENCE_TABLES = {
    ("app/pilots/reasons.py", "TEMPLATES"),
    ("app/rollout/reasons.py", "TEMPLATES"),
    ("app/errors/handlers.py", "_messages"),
}

TRANSLATE = {"_", "_l", "gettext", "lazy_gettext"}


@contextmanager
def reading(app, language: str) -> Iterator[None]:
    """A request in ``language`` (the locale is chosen afresh, as before every request)."""
    with app.test_request_context(headers={"Accept-Language": language}):
        refresh()
        yield


def model_enums() -> list[type[enum.Enum]]:
    found = {
        cls
        for _name, module in inspect.getmembers(models, inspect.ismodule)
        for _n, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, enum.Enum) and cls.__module__.startswith("app.models")
    }
    found |= {
        cls
        for _n, cls in inspect.getmembers(models, inspect.isclass)
        if issubclass(cls, enum.Enum) and cls.__module__.startswith("app.models")
    }
    return sorted(found, key=lambda cls: cls.__name__)


def label_tables() -> dict[str, dict]:
    """The module-level tables of ``app.core.labels`` (dicts of words or colours)."""
    return {
        name: value
        for name, value in vars(labels).items()
        if name.isupper() and isinstance(value, dict) and not name.startswith("ENUM_")
    }


# ---------------------------------------------------------------- every member has words


@pytest.mark.parametrize("enum_class", model_enums(), ids=lambda cls: cls.__name__)
def test_every_member_of_an_enum_people_see_has_a_label(enum_class):
    if enum_class in NOT_SHOWN:
        assert enum_class not in ENUM_LABELS, "labelled, so remove it from NOT_SHOWN"
        return
    assert enum_class in ENUM_LABELS, f"{enum_class.__name__} has no labels in app.core.labels"
    assert set(ENUM_LABELS[enum_class]) == set(enum_class)


def test_the_enums_are_found_and_the_exemptions_are_real():
    found = model_enums()
    assert {PilotStatus, Role, Audience, MetricKind, ResponseChannel} <= set(found)
    assert set(NOT_SHOWN) <= set(found)
    assert set(ENUM_LABELS) <= set(found)


@pytest.mark.parametrize("enum_class", list(ENUM_COLOURS), ids=lambda cls: cls.__name__)
def test_an_enum_with_colours_has_a_bootstrap_colour_for_every_member(enum_class):
    assert set(ENUM_COLOURS[enum_class]) == set(enum_class)
    assert set(ENUM_COLOURS[enum_class].values()) <= BOOTSTRAP_COLOURS


def test_every_colour_table_uses_bootstrap_colours():
    tables = {n: t for n, t in label_tables().items() if n.endswith("_COLOURS")}
    assert tables
    for name, table in tables.items():
        assert set(table.values()) <= BOOTSTRAP_COLOURS, name


def test_every_theme_has_a_label_and_every_label_a_theme():
    assert [t.key for t in THEMES] == list(labels.THEME_LABELS)


# ---------------------------------------------------------------- both languages


def test_every_label_reads_in_chinese(app):
    tables = {n: t for n, t in label_tables().items() if not n.endswith("_COLOURS")}
    with reading(app, "en"):
        english = {(n, k): str(v) for n, t in tables.items() for k, v in t.items()}
    with reading(app, "zh-CN"):
        chinese = {(n, k): str(v) for n, t in tables.items() for k, v in t.items()}
    untranslated = sorted(
        f"{name}[{key!r}] = {text!r}"
        for (name, key), text in english.items()
        if chinese[name, key] == text
        and text not in PROPER_NAMES
        and name != "CONDITION_OPERATOR_LABELS"  # symbols
    )
    assert untranslated == []


def test_labels_are_lazy_so_they_follow_the_reader():
    """Plain strings would freeze the language of whoever imported the module first."""
    plain = sorted(
        f"{name}[{key!r}]"
        for name, table in label_tables().items()
        if not name.endswith("_COLOURS") and name != "CONDITION_OPERATOR_LABELS"
        for key, value in table.items()
        if not isinstance(value, LazyString)
    )
    assert plain == []


# ---------------------------------------------------------------- the helpers


def test_the_helpers_give_words_colours_and_choices_in_the_readers_language(app):
    with reading(app, "en"):
        assert label(PilotStatus.ROLLING_OUT) == "Rolling out"
        assert label(SizeTier.LARGE) == "Large"
        english = label(ReportStatus.CHANGES_REQUESTED)
    with reading(app, "zh-CN"):
        assert label(ReportStatus.CHANGES_REQUESTED) not in ("", english)
    assert colour(ActionStatus.DONE) == "success"
    assert colour(SizeTier.SMALL) == "secondary"  # no colours: the default
    assert colour(SizeTier.SMALL, default="light") == "light"
    assert [v for v, _label in choices_for(Role)] == [r.value for r in Role]
    assert [v for v, _label in choices_for(ActionStatus, [ActionStatus.DONE])] == ["done"]
    audience = dict(choices_for(Audience, labels=labels.AUDIENCE_FORM_LABELS))
    arms = by_value(Arm, labels=labels.ARM_WORDS)
    with reading(app, "en"):
        assert str(audience["staff"]) == "Staff form"
        assert [str(words) for words in arms.values()] == ["pilot", "control"]
    assert set(by_value(ReportStatus)) == {s.value for s in ReportStatus}
    assert colours_by_value(ReportStatus)["approved"] == "success"


def test_an_enum_without_labels_is_named_in_the_error():
    with pytest.raises(KeyError, match="ResponseChannel"):
        label(ResponseChannel.QR)


def test_templates_have_the_label_and_colour_globals_and_keep_the_old_variables(app):
    template = (
        "{{ label(status) }}|{{ colour(status) }}|"
        "{{ status_labels[status] }}|{{ status_colours[status] }}"
    )
    with reading(app, "en"):
        html = render_template_string(template, status=PilotStatus.RUNNING)
    assert html == "Running|primary|Running|primary"


def test_labels_module_can_be_imported_by_workflow_modules_forms_and_templates():
    path = ROOT / "app" / "core" / "labels.py"
    assert workflow_violations("app.core.labels", path.read_text()) == []
    own = {
        node.module
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app")
    }
    assert own == {"app.models"}  # so it can sit below every area without a circle


# ---------------------------------------------------------------- no table twice


def _translated(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in TRANSLATE
    )


def _enum_of_keys(keys: list[ast.AST], enums: dict[str, type[enum.Enum]]) -> str | None:
    """The enum a table's keys name: ``Enum.MEMBER`` keys, or two or more of its values."""
    names = {
        k.value.id
        for k in keys
        if isinstance(k, ast.Attribute) and isinstance(k.value, ast.Name) and k.value.id in enums
    }
    if len(names) == 1:
        return names.pop()
    strings = {k.value for k in keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    if len(strings) >= 2 and len(strings) == len(keys):
        for name, cls in enums.items():
            if strings <= {m.value for m in cls}:
                return name
    return None


def label_tables_in(source: str) -> list[tuple[str, int, str | None]]:
    """``(where, line, enum name or None)`` of every table of translated words in ``source``:
    a dict literal, or a list/tuple of ``(value, words)`` pairs, with two or more entries
    that are all translated; ``where`` is the module-level name or the enclosing function."""
    enums = {cls.__name__: cls for cls in model_enums()}
    found: list[tuple[str, int, str | None]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            here = where
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                here = child.name if where == "<module>" else where
            elif isinstance(child, ast.Assign | ast.AnnAssign) and where == "<module>":
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                here = next((t.id for t in targets if isinstance(t, ast.Name)), where)
            if isinstance(child, ast.Dict) and len(child.keys) >= 2:
                if None not in child.keys and all(_translated(v) for v in child.values):
                    found.append((here, child.lineno, _enum_of_keys(child.keys, enums)))
            elif isinstance(child, ast.List | ast.Tuple) and len(child.elts) >= 2:
                pairs = [e for e in child.elts if isinstance(e, ast.Tuple) and len(e.elts) == 2]
                if len(pairs) == len(child.elts) and all(_translated(p.elts[1]) for p in pairs):
                    keys = [p.elts[0] for p in pairs]
                    found.append((here, child.lineno, _enum_of_keys(keys, enums)))
            visit(child, here)

    visit(ast.parse(source), "<module>")
    return found


def test_no_module_outside_labels_keeps_a_label_table():
    tables = {}
    for path in python_files("app"):
        if module_name(path) == "app.core.labels":
            continue
        where = str(path.relative_to(ROOT))
        for name, line, _enum in label_tables_in(path.read_text()):
            if (where, name) not in SENTENCE_TABLES:
                tables[f"{where}:{line}"] = name
    assert tables == {}, "move these tables to app/core/labels.py"


def test_no_enum_is_labelled_outside_labels():
    labelled = {}
    for path in python_files("app"):
        if module_name(path) == "app.core.labels":
            continue
        for _name, line, enum_name in label_tables_in(path.read_text()):
            if enum_name:
                labelled.setdefault(enum_name, []).append(f"{path.relative_to(ROOT)}:{line}")
    assert labelled == {}


def test_the_sentence_exemptions_still_exist():
    """An exemption whose table has gone would let a new label table in under its name."""
    for where, name in SENTENCE_TABLES:
        tables = label_tables_in((ROOT / where).read_text())
        assert any(found == name for found, _line, _enum in tables), (where, name)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("X = {Role.ADMIN: _l('Admin'), Role.STAFF: _l('Staff')}\n", ("X", "Role")),
        (
            "def f():\n    return {'customer': _('Customers'), 'staff': _('Staff')}\n",
            ("f", "Audience"),
        ),
        (
            "class F:\n    arm = Field(choices=[('pilot', _l('Pilot')), ('control', _l('C'))])\n",
            ("F", "Arm"),
        ),
        ("GATES = {'pass': _l('Pass'), 'fail': _l('Fail')}\n", ("GATES", None)),
    ],
)
def test_the_scan_finds_label_tables_and_the_enum_they_label(source, expected):
    assert [(name, enum_name) for name, _line, enum_name in label_tables_in(source)] == [expected]


def test_the_scan_lets_other_dicts_through():
    source = (
        "A = {'x': 1, 'y': 2}\nB = {Role.ADMIN: 'red', Role.STAFF: 'blue'}\n"
        "C = {'only': _l('One')}\nD = [('a', 'A'), ('b', 'B')]\n"
    )
    assert label_tables_in(source) == []
