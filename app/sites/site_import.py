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

from app.core.audit import record
from app.core.errors import ImportFailed, RowError
from app.core.labels import SITE_FIELD_LABELS as FIELD_LABELS
from app.core.tables import map_columns, normalise_header, parse_numbers
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
    "staff_count": (0, None, True, False),
    "management_score": (0, 100, False, False),
    "digital_readiness": (0, 100, False, False),
    "senior_share": (0, 1, False, True),
    "daily_orders": (0, None, False, False),
}

TEXT_LIMITS = {"code": 40, "name": 200, "region": 80, "city": 80}


@dataclass
class SiteImportPlan:
    """What an import would do; ``errors`` empty means it can be applied."""

    mapping: dict[str, str]
    extra_columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    n_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def field_labels() -> dict[str, str]:
    return {k: str(v) for k, v in FIELD_LABELS.items()}


def plan_import(frame: pd.DataFrame, chosen: dict[str, str] | None = None) -> SiteImportPlan:
    """Validate every row of ``frame`` (from ``read_upload``) and work out the changes."""
    mapping = map_columns(frame, SITE_ALIASES, {"code"}, chosen=chosen, labels=field_labels())
    used = set(mapping.values())
    extra = [c for c in frame.columns if c not in used]
    plan = SiteImportPlan(mapping=mapping, extra_columns=extra, n_rows=len(frame))
    errors = plan.errors

    def err(row: int, fname: str, message: str) -> None:
        errors.append(RowError(int(row), mapping.get(fname, fname), message))

    codes = frame[mapping["code"]]
    existing = {
        s.code: s for s in db.session.scalars(select(Site).where(Site.code.in_(set(codes) - {""})))
    }
    # duplicates inside the file
    first_row: dict[str, int] = {}
    for row, code in codes.items():
        if not code:
            err(row, "code", _("The site code is empty."))
            continue
        if code in first_row:
            err(row, "code", _("Site %(code)s also appears in row %(row)s.", code=code,
                               row=first_row[code]))  # fmt: skip
        else:
            first_row[code] = int(row)

    parsed: dict[str, pd.Series] = {}
    for fname, (low, high, whole, percent) in NUMERIC_RULES.items():
        if fname not in mapping:
            continue
        column = frame[mapping[fname]]
        values, bad = parse_numbers(column, percent=percent)
        for row in column.index[bad]:
            err(row, fname, _("'%(value)s' is not a number.", value=column[row]))
        if fname == "senior_share":
            # 35 meaning 35 % is a common slip; say so rather than guessing
            for row in values.index[(values > 1) & (values <= 100)]:
                err(row, fname, _("'%(value)s' is not a share between 0 and 1; write 0.35 or "
                                  "35%%.", value=column[row]))  # fmt: skip
            values = values.where(~((values > 1) & (values <= 100)))
        out_of_range = pd.Series(False, index=values.index)
        if low is not None:
            out_of_range |= values < low
        if high is not None:
            out_of_range |= values > high
        for row in values.index[out_of_range]:
            if high is None:
                message = _("'%(value)s' must be %(low)s or more.", value=column[row], low=low)
            else:
                message = _("'%(value)s' must be between %(low)s and %(high)s.",
                            value=column[row], low=low, high=high)  # fmt: skip
            err(row, fname, message)
        if whole:
            fractional = values.notna() & (values != values.round())
            for row in values.index[fractional]:
                err(row, fname, _("'%(value)s' is not a whole number.", value=column[row]))
        parsed[fname] = values.where(~out_of_range)

    rows: list[dict[str, Any]] = []
    for row in frame.index:
        code = frame.at[row, mapping["code"]]
        values: dict[str, Any] = {"code": code}
        for fname in ("name", "region", "city", "address"):
            if fname in mapping:
                text = frame.at[row, mapping[fname]]
                limit = TEXT_LIMITS.get(fname)
                if limit and len(text) > limit:
                    err(row, fname, _("Longer than %(n)s characters.", n=limit))
                values[fname] = text or None
        if "code" in TEXT_LIMITS and len(code) > TEXT_LIMITS["code"]:
            err(row, "code", _("Longer than %(n)s characters.", n=TEXT_LIMITS["code"]))
        if "size_tier" in mapping:
            text = frame.at[row, mapping["size_tier"]]
            if text:
                tier = SIZE_WORDS.get(normalise_header(text))
                if tier is None:
                    err(row, "size_tier", _("'%(value)s' is not a size tier; use small, medium "
                                            "or large.", value=text))  # fmt: skip
                values["size_tier"] = tier
            else:
                values["size_tier"] = None
        for fname in NUMERIC_RULES:
            if fname in parsed:
                number = parsed[fname][row]
                if pd.isna(number):
                    values[fname] = None
                else:
                    values[fname] = int(number) if NUMERIC_RULES[fname][2] else float(number)
        if "is_active" in mapping:
            text = normalise_header(frame.at[row, mapping["is_active"]])
            if text in TRUE_WORDS:
                values["is_active"] = True
            elif text in FALSE_WORDS:
                values["is_active"] = False
            elif text:
                err(row, "is_active", _("'%(value)s' is not yes or no.",
                                        value=frame.at[row, mapping["is_active"]]))  # fmt: skip
            else:
                values["is_active"] = None
        attributes = {}
        for column in extra:
            text = frame.at[row, column]
            if text:
                number, bad = parse_numbers(pd.Series([text]))
                attributes[column] = text if bad.iloc[0] else _plain_number(number.iloc[0])
        values["attributes"] = attributes
        if code and code not in existing:
            for fname in REQUIRED_NEW:
                if not values.get(fname):
                    err(row, fname, _("A new site needs a %(field)s.",
                                      field=FIELD_LABELS[fname]))  # fmt: skip
        values["_row"] = int(row)
        rows.append(values)

    plan.rows = rows
    if errors:
        return plan
    for values in rows:
        site = existing.get(values["code"])
        if site is None:
            plan.created.append(values["code"])
        elif _changes(site, values):
            plan.updated.append(values["code"])
        else:
            plan.unchanged.append(values["code"])
    return plan


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _changes(site: Site, values: dict[str, Any]) -> dict[str, Any]:
    """Fields whose value would change (blank cells keep the current value)."""
    changes: dict[str, Any] = {}
    for fname in SITE_FIELDS:
        if fname not in values or values[fname] is None:
            continue
        if getattr(site, fname) != values[fname]:
            changes[fname] = values[fname]
    attributes = dict(site.attributes or {})
    merged = {**attributes, **values.get("attributes", {})}
    if merged != attributes:
        changes["attributes"] = merged
    return changes


def apply_import(plan: SiteImportPlan, *, by: User | None, filename: str | None) -> ImportBatch:
    """Write a validated plan in the current transaction (the caller commits)."""
    if plan.errors:
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
