"""The house rules of ../shared/ARCHITECTURE.md, read from the code's own imports.

* A workflow module (anything in an area folder that is not its web face) never imports
  ``flask.request``, a form (``forms.py``, WTForms) or a routes module: it can then be called
  from a view, a command, the API or a job alike.
* ``analysis/`` never imports Flask, SQLAlchemy or the app.
* No import circle between the app's modules (imports inside functions count: they only hide
  a circle, they do not remove it).
* No ``except ImportError`` around the project's own modules.
* Views are thin: no route module builds a query (``select``, ``text``, ``Model.query``);
  queries live in the area's workflow modules.

The checks are functions over source text, so each is also tried on a small bad example: a
rule that cannot fail protects nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The web face of the app: modules that may read the request and use forms and routes.
WEB_FACE_NAMES = {"routes.py", "forms.py", "cli.py", "commands.py", "__init__.py"}
WEB_FACE_MODULES = {
    "app",
    "app.cli",
    "app.extensions",  # CSRFProtect and the other extensions, bound in create_app
    "app.errors.handlers",
    "app.core.i18n",  # the locale of the request
    "app.core.templating",  # template globals of the request
    "app.core.formfields",  # form fields shared by every area's forms.py
    "app.core.import_pages",  # the upload and preview pages of every import
    "app.core.security",  # the security headers of each answer, by its endpoint
}
FORBIDDEN_IN_ANALYSIS = ("flask", "flask_babel", "flask_login", "flask_wtf", "sqlalchemy", "app")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(child) for child in ast.walk(node))
    return hidden


def imports_of(source: str, module: str) -> list[tuple[str, str | None]]:
    """``(imported module, imported name or None)`` for every import that runs."""
    tree = ast.parse(source)
    hidden = _type_checking_nodes(tree)
    package = module if module.count(".") == 0 else module.rsplit(".", 1)[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.extend((base, alias.name) for alias in node.names)
    return found


def is_web_face(module: str) -> bool:
    return module in WEB_FACE_MODULES or f"{module.rsplit('.', 1)[-1]}.py" in WEB_FACE_NAMES


def workflow_violations(module: str, source: str) -> list[str]:
    """What a workflow module imports that belongs to the web face."""
    problems = []
    for imported, name in imports_of(source, module):
        target = f"{imported}.{name}" if name else imported
        if target == "flask.request" or imported == "flask" and name == "request":
            problems.append("flask.request")
        elif imported.split(".")[0] in ("wtforms", "flask_wtf"):
            problems.append(imported)
        elif any(part in ("routes", "forms") for part in target.split(".")[1:]):
            problems.append(target)
    return problems


def analysis_violations(module: str, source: str) -> list[str]:
    return [
        imported
        for imported, _name in imports_of(source, module)
        if imported.split(".")[0] in FORBIDDEN_IN_ANALYSIS
    ]


def own_import_fallbacks(source: str) -> list[int]:
    """Lines of ``except ImportError`` (or ModuleNotFoundError) handlers."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            if any(n in ast.unparse(node.type) for n in ("ImportError", "ModuleNotFoundError")):
                lines.append(node.lineno)
    return lines


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in python_files("app")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for imported, name in imports_of(path.read_text(), module):
            for candidate in (f"{imported}.{name}" if name else None, imported):
                if candidate in modules and candidate != module:
                    graph[module].add(candidate)
                    break
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# ---------------------------------------------------------------- the rules on the code


def test_workflow_modules_do_not_reach_into_the_web_face():
    problems = {}
    for path in python_files("app"):
        module = module_name(path)
        if is_web_face(module) or module.startswith("app.models"):
            continue
        found = workflow_violations(module, path.read_text())
        if found:
            problems[module] = found
    assert problems == {}


def test_analysis_imports_neither_flask_nor_the_database_nor_the_app():
    problems = {}
    for path in python_files("analysis"):
        found = analysis_violations(module_name(path), path.read_text())
        if found:
            problems[module_name(path)] = found
    assert problems == {}


def test_no_import_circle_in_the_app():
    assert circles(import_graph()) == []


#: Not areas: what every area may use (the app itself, its shared core and its models).
SHARED = {"app", "core", "models", "extensions", "config", "cli", "errors"}


def area_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Which area uses which: ``app.<area>.x -> app.<other>.y`` for every module import."""

    def area(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "app"

    areas: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if area(module) in SHARED:
            continue
        for target in targets:
            if area(target) not in SHARED and area(target) != area(module):
                areas.setdefault(area(module), set()).add(area(target))
                areas.setdefault(area(target), set())
    return areas


def test_no_circle_between_areas():
    """Areas use each other's workflow modules one way only (reports read pilots, feedback
    and retros; nothing in pilots reads reports)."""
    assert circles(area_graph(import_graph())) == []


def test_no_import_error_fallbacks_in_our_code():
    found = {
        str(path.relative_to(ROOT)): own_import_fallbacks(path.read_text())
        for path in [*python_files("app"), *python_files("analysis")]
    }
    assert {path: lines for path, lines in found.items() if lines} == {}


#: What building a query looks like in a routes module.
QUERY_BUILDERS = {"select", "text", "insert", "update", "delete"}


def queries_in(source: str) -> list[int]:
    """Lines where ``source`` imports a query builder from SQLAlchemy or reads ``.query``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            if any(alias.name in QUERY_BUILDERS for alias in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == "query":
            lines.append(node.lineno)
    return lines


def test_views_build_no_queries():
    found = {
        str(path.relative_to(ROOT)): queries_in(path.read_text())
        for path in python_files("app")
        if path.name == "routes.py"
    }
    assert {path: lines for path, lines in found.items() if lines} == {}


# ---------------------------------------------------------------- the checks can fail


@pytest.mark.parametrize(
    "source",
    [
        "from flask import current_app, request\n",
        "import flask\nfrom flask import request as r\n",
        "def f():\n    from app.feedback.forms import AnswerForm\n",
        "from app.pilots import routes\n",
        "from app.sites.routes import index\n",
        "from wtforms import StringField\n",
    ],
)
def test_the_workflow_rule_catches_web_imports(source):
    assert workflow_violations("app.feedback.intake", source)


def test_the_workflow_rule_lets_workflow_imports_through():
    source = (
        "from flask import current_app\nfrom app.feedback import themes\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.pilots.forms import X\n"
    )
    assert workflow_violations("app.feedback.intake", source) == []


@pytest.mark.parametrize(
    "source", ["import sqlalchemy\n", "from flask import g\n", "from app.models import Site\n"]
)
def test_the_analysis_rule_catches_app_imports(source):
    assert analysis_violations("analysis.did", source)


def test_the_circle_check_finds_a_circle_through_a_function_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    source = "def f():\n    from app.rollout import gates\n"
    assert ("app.rollout", "gates") in imports_of(source, "app.rollout.plans")


def test_the_area_check_sees_a_circle_through_two_modules():
    graph = {
        "app.feedback.analytics": {"app.retros.adjustments", "app.core.clock"},
        "app.retros.brief": {"app.feedback.analytics"},
        "app.retros.adjustments": set(),
        "app.core.clock": set(),
    }
    assert circles(area_graph(graph)) == [["feedback", "retros"]]


def test_the_fallback_check_finds_an_import_error_handler():
    source = "try:\n    import x\nexcept (ImportError, ValueError):\n    x = None\n"
    assert own_import_fallbacks(source) == [3]


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy import func, select\n",
        "from sqlalchemy.sql import text\n",
        "def f():\n    return Site.query.all()\n",
    ],
)
def test_the_thin_view_rule_finds_a_query(source):
    assert queries_in(source)


def test_the_thin_view_rule_lets_workflow_calls_through():
    assert queries_in("from app.sites.registry import active_sites\nx = active_sites()\n") == []
