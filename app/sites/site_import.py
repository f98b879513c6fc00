"""Importing the site registry from CSV or Excel: map columns, validate every row, upsert.

The flow is the same for the web page and ``flask sites import``: ``read_upload`` →
``plan_import`` (maps columns, validates every row, works out what would change, writes
nothing) → ``apply_import`` (an atomic upsert by site code). Any error anywhere means
nothing is written; every error names its row and column as the user sees them.

Rules (documented in ``docs/pilot-setup.md``):

* ``code``, ``name`` and ``region`` are required for a new site; an existing site (same code)
  keeps its current value where a cell is blank.
* Unmapped columns are kept as the site's free attributes (numbers stored as numbers).
* ``size_tier`` accepts small/medium/large, S/M/L and 小/中/大 (also 小型/中型/大型).
* Scores are 0-100; ``senior_share`` is 0-1 or a percentage (``35%``); counts are whole
  numbers ≥ 0. ``is_active`` accepts yes/no, true/false, 1/0, 是/否, Y/N.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import select

from app.core import tables
from app.core.audit import record
from app.core.errors import ImportFailed
from app.core.imports import Field, ImportKind, ImportPlan, propose_mapping
from app.core.labels import SITE_FIELD_LABELS as FIELD_LABELS
from app.core.numbers import column_kind, round_for_column
from app.core.tables import normalise_header, parse_numbers
from app.extensions import db
from app.models import ImportBatch, Site, SizeTier, User
from app.sites.registry import SITE_FIELDS, site_values

#: Header names people use for each field (English and Chinese); matching ignores case,
#: spaces, ``_``/``-`` and full-width forms.
SITE_ALIASES: dict[str, list[str]] = {
    "code": ["site code", "store code", "branch code", "site id", "store id", "site",
             "门店编码", "门店编号", "门店代码", "网点编码", "编码", "编号", "代码", "店号"],
    "name": ["site name", "store name", "branch name", "门店名称", "门店", "名称", "店名",
             "网点名称"],
    "region": ["area", "district", "大区", "区域", "地区", "片区"],
    "city": ["城市", "市"],
    "address": ["地址", "门店地址"],
    "size_tier": ["size", "tier", "size class", "store size", "规模", "门店规模", "规模等级",
                  "店型"],
    "staff_count": ["staff", "employees", "headcount", "staff number", "员工数", "员工人数",
                    "人数", "店员数"],
    "management_score": ["management", "manager score", "management rating", "管理评分",
                         "管理得分", "管理分", "管理水平"],
    "digital_readiness": ["digital", "digital score", "readiness", "数字化准备度",
                          "数字化评分", "数字化水平", "数字化", "数字化得分"],
    "senior_share": ["senior", "seniors", "senior customers", "elderly share",
                     "senior customer share", "老年顾客占比", "老年客户占比", "老年人占比",
                     "老人占比", "老年占比"],
    "daily_orders": ["orders", "orders per day", "daily volume", "日均订单", "日订单量",
                     "日均单量", "订单量"],
    "is_active": ["active", "status", "启用", "是否启用", "营业中", "状态"],
}  # fmt: skip

REQUIRED_NEW = ("code", "name", "region")

SIZE_WORDS = {
    "small": SizeTier.SMALL, "s": SizeTier.SMALL, "小": SizeTier.SMALL, "小型": SizeTier.SMALL,
    "小店": SizeTier.SMALL,
    "medium": SizeTier.MEDIUM, "m": SizeTier.MEDIUM, "mid": SizeTier.MEDIUM,
    "中": SizeTier.MEDIUM, "中型": SizeTier.MEDIUM, "中店": SizeTier.MEDIUM,
    "large": SizeTier.LARGE, "l": SizeTier.LARGE, "big": SizeTier.LARGE,
    "大": SizeTier.LARGE, "大型": SizeTier.LARGE, "大店": SizeTier.LARGE,
}  # fmt: skip
TRUE_WORDS = {"yes", "y", "true", "1", "是", "启用", "营业", "active", "open"}
FALSE_WORDS = {"no", "n", "false", "0", "否", "停用", "关闭", "inactive", "closed"}

#: (field, minimum, maximum, whole number, accepts percent)
NUMERIC_RULES = {
    "staff_count": (0, 100_000, True, False),
    "management_score": (0, 100, False, False),
    "digital_readiness": (0, 100, False, False),
    "senior_share": (0, 1, False, True),
    "daily_orders": (0, 1_000_000_000, False, False),
}

TEXT_LIMITS = {"code": 40, "name": 200, "region": 80, "city": 80}


@dataclass
class SiteImportPlan(ImportPlan):
    """What an import would do; ``ok`` means it can be applied."""

    extra_columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def error(self, row: Any, fname: str, message: str) -> None:
        """A problem in the column of field ``fname`` (named as in the file)."""
        self.add_error(row, self.mapping.get(fname, fname), message)


def field_labels() -> dict[str, str]:
    return {k: str(v) for k, v in FIELD_LABELS.items()}


def site_fields() -> list[Field]:
    """The fields of a site file, labelled in the user's language."""
    return [
        Field(name, str(FIELD_LABELS[name]), tuple(aliases), required=name == "code")
        for name, aliases in SITE_ALIASES.items()
    ]


def plan_import(frame: pd.DataFrame, chosen: dict[str, str] | None = None) -> SiteImportPlan:
    """Validate every row of ``frame`` (from ``read_upload``) and work out the changes."""
    mapping = propose_mapping(site_fields(), frame.columns, chosen)
    used = set(mapping.values())
    plan = SiteImportPlan(
        mapping=mapping,
        extra_columns=[c for c in frame.columns if c not in used],
        n_rows=len(frame),
    )
    codes = frame[mapping["code"]]
    existing = {
        s.code: s for s in db.session.scalars(select(Site).where(Site.code.in_(set(codes) - {""})))
    }
    _check_codes(codes, plan)
    numbers = {
        fname: _parse_numeric(frame[mapping[fname]], fname, plan)
        for fname in NUMERIC_RULES
        if fname in mapping
    }
    plan.rows = [_row_values(frame, row, plan, numbers, existing) for row in frame.index]
    plan.sort_errors()
    if plan.ok:
        _classify(plan, existing)
    return plan


def _check_codes(codes: pd.Series, plan: SiteImportPlan) -> None:
    """Every row has a code of at most 40 characters, and no code appears twice."""
    first_row: dict[str, int] = {}
    for row, code in codes.items():
        if len(code) > TEXT_LIMITS["code"]:
            plan.error(row, "code", _("Longer than %(n)s characters.", n=TEXT_LIMITS["code"]))
        if not code:
            plan.error(row, "code", _("The site code is empty."))
        elif code in first_row:
            plan.error(
                row,
                "code",
                _("Site %(code)s also appears in row %(row)s.", code=code, row=first_row[code]),
            )
        else:
            first_row[code] = int(row)


def _parse_numeric(column: pd.Series, fname: str, plan: SiteImportPlan) -> pd.Series:
    """The numbers of one numeric field; cells that break its rule are errors (and NaN)."""
    low, high, whole, percent = NUMERIC_RULES[fname]
    values, bad = parse_numbers(column, percent=percent)
    for row in column.index[bad]:
        plan.error(row, fname, _("'%(value)s' is not a number.", value=column[row]))
    if fname == "senior_share":
        # 35 meaning 35 % is a common slip; say so rather than guessing
        slip = (values > 1) & (values <= 100)
        for row in values.index[slip]:
            plan.error(
                row,
                fname,
                _(
                    "'%(value)s' is not a share between 0 and 1; write 0.35 or 35%%.",
                    value=column[row],
                ),
            )
        values = values.where(~slip)
    out_of_range = pd.Series(False, index=values.index)
    if low is not None:
        out_of_range |= values < low
    if high is not None:
        out_of_range |= values > high
    for row in values.index[out_of_range]:
        if high is None:
            message = _("'%(value)s' must be %(low)s or more.", value=column[row], low=low)
        else:
            message = _(
                "'%(value)s' must be between %(low)s and %(high)s.",
                value=column[row],
                low=low,
                high=high,
            )
        plan.error(row, fname, message)
    if whole:
        fractional = values.notna() & (values != values.round())
        for row in values.index[fractional]:
            plan.error(row, fname, _("'%(value)s' is not a whole number.", value=column[row]))
    return values.where(~out_of_range)


def _row_values(
    frame: pd.DataFrame,
    row: Any,
    plan: SiteImportPlan,
    numbers: dict[str, pd.Series],
    existing: dict[str, Site],
) -> dict[str, Any]:
    """One row as field values (``None`` = blank: keep the current value)."""
    cells = {fname: frame.at[row, column] for fname, column in plan.mapping.items()}
    values: dict[str, Any] = {"code": cells["code"]}
    for fname in ("name", "region", "city", "address"):
        if fname in cells:
            limit = TEXT_LIMITS.get(fname)
            if limit and len(cells[fname]) > limit:
                plan.error(row, fname, _("Longer than %(n)s characters.", n=limit))
            values[fname] = cells[fname] or None
    if "size_tier" in cells:
        values["size_tier"] = _size_tier(cells["size_tier"], row, plan)
    for fname, parsed in numbers.items():
        number = parsed[row]
        whole = NUMERIC_RULES[fname][2]
        values[fname] = None if pd.isna(number) else int(number) if whole else float(number)
    if "is_active" in cells:
        values["is_active"] = _yes_no(cells["is_active"], row, plan)
    values["attributes"] = _attributes(frame, row, plan.extra_columns)
    if values["code"] and values["code"] not in existing:
        for fname in REQUIRED_NEW:
            if not values.get(fname):
                plan.error(
                    row, fname, _("A new site needs a %(field)s.", field=FIELD_LABELS[fname])
                )
    values["_row"] = int(row)
    return values


def _size_tier(text: str, row: Any, plan: SiteImportPlan) -> SizeTier | None:
    if not text:
        return None
    tier = SIZE_WORDS.get(normalise_header(text))
    if tier is None:
        plan.error(
            row,
            "size_tier",
            _("'%(value)s' is not a size tier; use small, medium or large.", value=text),
        )
    return tier


def _yes_no(text: str, row: Any, plan: SiteImportPlan) -> bool | None:
    word = normalise_header(text)
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    if word:
        plan.error(row, "is_active", _("'%(value)s' is not yes or no.", value=text))
    return None


def _attributes(frame: pd.DataFrame, row: Any, columns: list[str]) -> dict[str, Any]:
    """Cells of the columns that are no field: the site's free attributes."""
    attributes = {}
    for column in columns:
        text = frame.at[row, column]
        if text:
            number, bad = parse_numbers(pd.Series([text]))
            attributes[column] = text if bad.iloc[0] else _plain_number(number.iloc[0])
    return attributes


def _classify(plan: SiteImportPlan, existing: dict[str, Site]) -> None:
    for values in plan.rows:
        site = existing.get(values["code"])
        if site is None:
            plan.created.append(values["code"])
        elif _changes(site, values):
            plan.updated.append(values["code"])
        else:
            plan.unchanged.append(values["code"])


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _same(current: Any, new: Any, fname: str) -> bool:
    """Equal, or a float equal to the current value as our own export rounds it (an export
    imported back changes nothing)."""
    if current == new:
        return True
    if isinstance(current, float) and isinstance(new, int | float):
        return round_for_column(current, column_kind(fname)) == new
    return False


def _changes(site: Site, values: dict[str, Any]) -> dict[str, Any]:
    """Fields whose value would change (blank cells keep the current value)."""
    changes: dict[str, Any] = {}
    for fname in SITE_FIELDS:
        if fname not in values or values[fname] is None:
            continue
        if not _same(getattr(site, fname), values[fname], fname):
            changes[fname] = values[fname]
    attributes = dict(site.attributes or {})
    incoming = {
        key: attributes[key] if key in attributes and _same(attributes[key], value, key) else value
        for key, value in values.get("attributes", {}).items()
    }
    merged = {**attributes, **incoming}
    if merged != attributes:
        changes["attributes"] = merged
    return changes


def apply_import(plan: SiteImportPlan, *, by: User | None, filename: str | None) -> ImportBatch:
    """Write a validated plan in the current transaction (the caller commits)."""
    if not plan.ok:
        raise ImportFailed(plan.errors)
    existing = {
        s.code: s
        for s in db.session.scalars(
            select(Site).where(Site.code.in_([r["code"] for r in plan.rows]))
        )
    }
    batch = ImportBatch(kind="sites", filename=filename, user_id=getattr(by, "id", None))
    db.session.add(batch)
    created = updated = unchanged = 0
    for values in plan.rows:
        site = existing.get(values["code"])
        if site is None:
            site = Site(
                code=values["code"],
                name=values["name"],
                region=values["region"],
                size_tier=values.get("size_tier") or SizeTier.MEDIUM,
                attributes=values.get("attributes", {}),
                is_active=values.get("is_active") if values.get("is_active") is not None else True,
            )
            for fname in SITE_FIELDS:
                if values.get(fname) is not None and fname not in ("size_tier", "is_active"):
                    setattr(site, fname, values[fname])
            db.session.add(site)
            existing[site.code] = site
            created += 1
            continue
        changes = _changes(site, values)
        if not changes:
            unchanged += 1
            continue
        before = site_values(site)
        for fname, value in changes.items():
            setattr(site, fname, value)
        updated += 1
        after = site_values(site)
        keys = [k for k in after if before[k] != after[k]]
        record(
            "site.imported",
            site,
            by=by,
            before={k: _plain(before[k]) for k in keys},
            after={k: _plain(after[k]) for k in keys},
            reason=_("Import of %(file)s", file=filename or "?"),
        )
    batch.rows_inserted, batch.rows_updated, batch.rows_unchanged = created, updated, unchanged
    db.session.flush()
    return batch


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


class SiteImport(ImportKind):
    """The site registry as an import kind: whole files, upsert by site code."""

    name = "sites"
    summary_template = "sites/_import_summary.html"

    @property
    def title(self) -> str:
        return _("Import sites")

    def fields(self) -> list[Field]:
        return site_fields()

    def plan(self, chunks, chosen=None, *, source=None) -> SiteImportPlan:
        return plan_import(tables.whole(chunks), dict(chosen) if chosen is not None else None)

    def apply(self, plan: SiteImportPlan, *, by, filename) -> ImportBatch:
        return apply_import(plan, by=by, filename=filename)

    def confirm_label(self, plan: SiteImportPlan) -> str:
        return _("Import %(n)s sites", n=plan.n_rows)

    def done_message(self, outcome: ImportBatch) -> str:
        c, u, n = outcome.rows_inserted, outcome.rows_updated, outcome.rows_unchanged
        return _("Sites imported: %(c)s new, %(u)s updated, %(n)s unchanged.", c=c, u=u, n=n)
