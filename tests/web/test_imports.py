"""The steps of the import flow every kind of file shares (app/core/imports.py)."""

from __future__ import annotations

import pytest

from app.core import imports
from app.core.errors import ImportFailed
from app.core.imports import Field, ImportPlan, propose_mapping


@pytest.fixture
def rctx(app):
    """Messages are translated, which needs a request (for the locale)."""
    with app.test_request_context():
        yield


FIELDS = [
    Field("code", "Site code", ("门店编码", "store code"), required=True),
    Field("score", "Management score", ("管理评分",)),
]


def test_the_mapping_is_found_from_aliases_and_the_users_choice_wins(rctx):
    columns = [" Store  Code ", "管理评分", "other"]
    assert propose_mapping(FIELDS, columns) == {"code": " Store  Code ", "score": "管理评分"}
    assert propose_mapping(FIELDS, columns, {"code": "other", "score": ""}) == {"code": "other"}


def test_the_mapping_names_an_unknown_field_and_a_missing_required_column(rctx):
    with pytest.raises(ImportFailed) as unknown:
        propose_mapping(FIELDS, ["门店编码"], {"nope": "门店编码"})
    assert unknown.value.errors[0].message == "Unknown field nope in the mapping."
    with pytest.raises(ImportFailed) as missing:
        propose_mapping(FIELDS, ["管理评分"])
    assert missing.value.errors[0].message.startswith("No column for Site code.")


def test_a_plan_counts_every_error_and_lists_the_first():
    plan = ImportPlan(max_errors=3)
    assert plan.ok
    plan.add_errors([5, 2, 9, 7], "x", "bad")
    plan.add_error(1, "y", "worse")
    plan.sort_errors()
    assert (plan.ok, plan.n_errors, plan.more_errors) == (False, 5, 2)
    assert [(e.row, e.column) for e in plan.errors] == [(2, "x"), (5, "x"), (9, "x")]


def test_command_line_mappings_are_parsed_and_a_bad_one_is_named(rctx):
    assert imports.parse_mapping(["overall=Q1", " site_code : 门店 "]) == {
        "overall": "Q1",
        "site_code": "门店",
    }
    with pytest.raises(ImportFailed) as failed:
        imports.parse_mapping(["overall=Q1", "nonsense"])
    assert "Mapping line 2" in failed.value.errors[0].message


def test_the_head_of_a_file_keeps_the_row_numbers_of_the_file(rctx):
    data = b"code,score\n\nA,1\nB,2\nC,3\n"
    head = imports.read_head(data, filename="x.csv", rows=3)
    assert head.columns == ["code", "score"]
    # line 2 is empty: the first data row is row 3 as in Excel; 3 lines read, 2 rows kept
    assert head.rows == [(3, ["A", "1"]), (4, ["B", "2"])]


def test_a_plan_with_errors_is_not_applied_and_the_unlisted_ones_are_counted(rctx):
    class Kind:
        def apply(self, plan, *, by, filename):
            raise AssertionError("a plan with errors was applied")

    plan = ImportPlan(max_errors=1)
    plan.add_errors([3, 4, 5], "x", "bad")
    with pytest.raises(ImportFailed) as failed:
        imports.apply(Kind(), plan, by=None, filename=None)
    assert [str(e) for e in failed.value.errors] == [
        "2 further errors are not listed.",
        "Row 3, column x: bad",
    ]
