"""Exports of a report snapshot: PDF, CSV tables (zip), JSON, and the reproducible bundle.

Every export is built from the snapshot alone (never from the current data), so it is the
same file whenever it is downloaded. The bundle holds the snapshot's exact inputs, the
``python -m analysis compare ...`` command that reproduces the numbers, and the expected
output; see docs/reports.md.
"""

from __future__ import annotations

import base64
import io
import json
import shlex
import zipfile
from typing import Any

import pandas as pd

from app.core import tables as tabular
from app.core.cache import lru_cached
from app.models import Report
from app.reports.snapshots import looks_stale

CLI_FORMAT = "json"


def filename(report: Report, ext: str) -> str:
    kind = "exploration" if report.is_exploration else "report"
    return f"rollwise-pilot{report.pilot_id}-{kind}{report.id}.{ext}"


def report_meta(report: Report) -> dict[str, Any]:
    return {
        "id": report.id,
        "pilot_id": report.pilot_id,
        "pilot_name": report.pilot.name,
        "status": report.status.value,
        "is_exploration": report.is_exploration,
        "created_at": report.created_at.isoformat() if report.created_at else None,
        "created_by": report.created_by.name if report.created_by else None,
        "reviewer": report.reviewer.name if report.reviewer else None,
        "reviewed_at": report.reviewed_at.isoformat() if report.reviewed_at else None,
        "review_comment": report.review_comment,
        "engine_version": report.engine_version,
        "data_fingerprint": report.data_fingerprint,
        "results_digest": report.results_digest,
        "parameters": report.parameters,
    }


def json_bytes(report: Report) -> bytes:
    payload = {"report": report_meta(report), "results": report.results}
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False).encode()


# --------------------------------------------------------------------------------------------
# CSV tables


def _csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A table as CSV text the way every download is written (``tabular.csv_text``: BOM,
    numbers rounded by kind of column)."""
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    frame = pd.DataFrame(
        [[_cell(row.get(k)) for k in columns] for row in rows], columns=columns, dtype=object
    )
    return tabular.csv_text(frame)


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


HEADLINE_COLUMNS = [
    "metric",
    "role",
    "direction",
    "effect",
    "se",
    "ci_low",
    "ci_high",
    "relative_effect",
    "relative_ci_low",
    "relative_ci_high",
    "p_value",
    "p_adjusted",
    "method",
    "method_reason",
    "n_pilot_sites",
    "n_control_sites",
    "verdict",
    "verdict_reason",
    "alpha",
    "min_effect",
    "margin",
    "error",
]


def tables(report: Report) -> dict[str, str]:
    """Every table of the report as CSV text, by file name."""
    results = report.results or {}
    comp = results.get("comparison") or {}
    metrics = comp.get("metrics") or {}
    out: dict[str, str] = {}
    out["headline.csv"] = _csv(list(metrics.values()), HEADLINE_COLUMNS)
    methods, pretrend, warnings = [], [], []
    for key, res in metrics.items():
        for name, r in (res.get("methods") or {}).items():
            methods.append(
                {"metric": key, "method": name, "headline": res.get("method", "").startswith(name)}
                | {k: v for k, v in r.items() if k not in ("distribution",)}
            )
        diag = res.get("diagnostics") or {}
        for point in (diag.get("pretrend") or {}).get("points") or []:
            pretrend.append({"metric": key, **point})
        for warning in diag.get("warnings") or []:
            warnings.append({"metric": key, "warning": warning})
    for warning in comp.get("warnings") or []:
        warnings.append({"metric": "", "warning": warning})
    out["methods.csv"] = _csv(methods)
    out["pretrend.csv"] = _csv(pretrend)
    out["warnings.csv"] = _csv(warnings, ["metric", "warning"])
    out["balance.csv"] = _csv((comp.get("balance") or {}).get("rows") or [])
    out["completeness.csv"] = _csv((comp.get("completeness") or {}).get("rows") or [])
    segments = []
    for by, seg in (results.get("segments") or {}).items():
        for row in (seg or {}).get("segments") or []:
            segments.append({"attribute": by, "metric": seg.get("metric"), **row})
    out["segments.csv"] = _csv(segments)
    sites = [
        {"metric": key, **row}
        for key, rows in (results.get("site_effects") or {}).items()
        for row in rows
    ]
    out["site_effects.csv"] = _csv(sites)
    daily = []
    for key, series in (results.get("daily") or {}).items():
        for day, p, c in zip(series["dates"], series["pilot"], series["control"], strict=True):
            daily.append({"metric": key, "date": day, "pilot_mean": p, "control_mean": c})
    out["daily.csv"] = _csv(daily)
    seq = results.get("sequential") or {}
    out["sequential.csv"] = _csv(seq.get("looks") or [])
    out["feedback.csv"] = _csv(_feedback_rows(results.get("feedback") or {}))
    out["themes.csv"] = _csv((results.get("feedback") or {}).get("themes") or [])
    out["deviations.csv"] = _csv(results.get("deviations") or [])
    rec = results.get("recommendation") or {}
    out["recommendation.csv"] = _csv(
        [
            {
                "decision": rec.get("decision"),
                "reasons": rec.get("reasons"),
                "guardrails": rec.get("guardrails"),
                "extension": rec.get("extension"),
            }
        ]
    )
    return out


def _feedback_rows(feedback: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for audience, section in (feedback.get("audiences") or {}).items():
        sat = section.get("satisfaction") or {}
        if sat.get("pilot_vs_control"):
            rows.append(
                {
                    "audience": audience,
                    "measure": "satisfied_share",
                    "comparison": "pilot_vs_control_post",
                    **sat["pilot_vs_control"],
                }
            )
        for arm, r in (sat.get("before_after") or {}).items():
            rows.append(
                {
                    "audience": audience,
                    "measure": "satisfied_share",
                    "comparison": f"{arm}_post_vs_pre",
                    **r,
                }
            )
        for r in (sat.get("by_segment") or {}).get("segments") or []:
            rows.append(
                {
                    "audience": audience,
                    "measure": "satisfied_share",
                    "comparison": "pilot_vs_control_post_by_segment",
                    **r,
                }
            )
        nps = section.get("nps") or {}
        for cell, r in (nps.get("cells") or {}).items():
            rows.append({"audience": audience, "measure": "nps", "comparison": cell, **r})
        if nps.get("difference"):
            rows.append(
                {
                    "audience": audience,
                    "measure": "nps",
                    "comparison": "pilot_minus_control_post",
                    **nps["difference"],
                }
            )
    return rows


def csv_zip(report: Report) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in tables(report).items():
            archive.writestr(name, text)
        archive.writestr(
            "report.json", json.dumps(report_meta(report), indent=2, ensure_ascii=False)
        )
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# The reproducible bundle


def cli_arguments(parameters: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``python -m analysis compare`` arguments for the snapshot's ``compare`` options, and
    notes on anything the command line cannot express."""
    opts = parameters.get("compare") or {}
    args = ["python", "-m", "analysis", "compare", "observations.csv", "sites.csv"]
    args += ["--start", str(opts["start"])]
    if opts.get("end"):
        args += ["--end", str(opts["end"])]
    for key in opts.get("metrics") or []:
        args += ["--metric", key]
    if opts.get("primary"):
        args += ["--primary", opts["primary"]]
    for key in opts.get("guardrails") or []:
        args += ["--guardrail", key]
    args += ["--alpha", repr(float(opts.get("alpha", 0.05)))]
    args += ["--method", opts.get("method") or "auto"]
    args += ["--seed", str(int(opts.get("seed") or 0))]
    args += ["--n-permutations", str(int(opts.get("n_permutations") or 10_000))]
    notes = []
    min_effect = opts.get("min_effect") or {}
    primary = opts.get("primary")
    if primary in min_effect:
        args += ["--min-effect", repr(float(min_effect[primary]))]
    others = sorted(k for k in min_effect if k != primary)
    if others:
        notes.append(
            "The command line takes a smallest effect of interest for the primary metric only; "
            f"the snapshot also used one for {', '.join(others)}, so their *verdicts* may differ "
            "(effects, intervals and p-values do not depend on it)."
        )
    for key, value in (opts.get("directions") or {}).items():
        args += ["--direction", f"{key}={value}"]
    for key, value in (opts.get("margins") or {}).items():
        args += ["--margin", f"{key}={float(value)!r}"]
    if opts.get("strata"):
        args += ["--strata", opts["strata"]]
    args += ["--format", CLI_FORMAT]
    return args, notes


def bundle_zip(report: Report) -> bytes:
    """observations.csv, sites.csv, command.sh, expected.json and a README."""
    from app.reports.snapshots import read_inputs  # noqa: F401 - documents the pairing

    args, notes = cli_arguments(report.parameters or {})
    command = shlex.join(args)
    expected = (report.results or {}).get("comparison") or {}
    readme = "\n".join(
        [
            f"# Reproducible bundle of Rollwise report {report.id}",
            "",
            f"Pilot: {report.pilot.name} (id {report.pilot_id})",
            f"Engine version: analysis {report.engine_version}",
            f"Data fingerprint (SHA-256 of the inputs): {report.data_fingerprint}",
            f"Results digest: {report.results_digest}",
            "",
            "From this folder, with the Rollwise `analysis` package importable, run:",
            "",
            f"    {command} > actual.json",
            "",
            "`actual.json` then holds the same numbers as `expected.json` (the `comparison`",
            "section of the snapshot): effects, intervals, p-values and adjusted p-values per",
            "metric, every estimator and the diagnostics.",
            *([""] + [f"Note: {n}" for n in notes] if notes else []),
            "",
        ]
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(report.inputs_archive or b"")) as inputs:
        observations = inputs.read("observations.csv")
        sites = inputs.read("sites.csv")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("observations.csv", observations)
        archive.writestr("sites.csv", sites)
        archive.writestr("command.sh", "#!/bin/sh\nset -e\n" + command + " > actual.json\n")
        archive.writestr("command.json", json.dumps(args))
        archive.writestr(
            "expected.json", json.dumps(expected, indent=2, ensure_ascii=False, allow_nan=False)
        )
        archive.writestr("README.md", readme)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# PDF


def chart_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def pdf_html(report: Report, locale: str) -> str:
    """The print version of the page (charts inlined, fonts with CJK coverage)."""
    from flask import render_template

    from app.reports.context import chart_svg, report_context

    context = report_context(report, locale)
    inline = {}
    for name in context.get("chart_names", []):
        svg = chart_svg(report, name, locale)
        if svg:
            inline[name] = chart_data_uri(svg)
    return render_template(
        "reports/print.html",
        report=report,
        pilot=report.pilot,
        stale=looks_stale(report),
        inline_charts=inline,
        printing=True,
        **context,
    )


def _pdf_key(report: Report, locale: str) -> tuple:
    return (
        report.id,
        report.results_digest,
        locale,
        report.status.value,
        report.reviewed_at,
        looks_stale(report),
    )


@lru_cached(16, key=_pdf_key)
def pdf_bytes(report: Report, locale: str) -> bytes:
    """The PDF (WeasyPrint, a few seconds); cached per snapshot, language, review state and
    staleness, since a snapshot's PDF only changes with those (the 16 latest)."""
    from weasyprint import HTML  # heavy import: only when a PDF is asked for

    return HTML(string=pdf_html(report, locale)).write_pdf()
