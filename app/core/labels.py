"""Every enum member and every key shown to people, in words (English msgids, zh_CN in the
catalogue), each written once.

Workflow modules, forms, routes and templates all read their labels here; an area module keeps
no label table of its own (``tests/web/test_labels.py``). The module imports neither the
request nor WTForms, so anything may import it.

* An enum's labels are a table keyed by its members, registered in :data:`ENUM_LABELS` (and
  its colours, where it has any, in :data:`ENUM_COLOURS`). Read them with :func:`label`,
  :func:`colour`, :func:`choices_for` (select choices; forms wrap them with
  ``app.core.formfields.choices``) and :func:`by_value` (keyed by the stored value, for
  snapshots' JSON and for templates that index by ``.value``).
* A key's labels (site attributes, analysis verdicts, audit actions, …) are a table keyed by
  the key, read with ``TABLE.get(key, key)``.
* Colours are Bootstrap contextual names (``"success"``, ``"warning"``, …) for badges.
* Tables whose words sit inside a sentence are lower case and named ``…_WORDS``.
* Ordered categories (age bands, size tiers, numeric bands) sort with :func:`category_key`
  (``sorted(values, key=category_key)`` or :func:`natural_order`): ``under_30, 30_59, 60+``
  and ``small, medium, large``, never alphabetically. It lives in ``analysis/ordering.py`` so
  the analysis tables use the very same order.

The values are lazy strings: they turn into the reader's language when rendered. Sentences
built from reason codes stay with their area (``app/pilots/reasons.py``,
``app/rollout/reasons.py``, ``app/reports/sentences.py``); they take their words from here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from analysis.ordering import category_key as category_key  # re-exported: the one sort key
from analysis.ordering import natural_order as natural_order
from app.models import (
    ActionStatus,
    AdjustmentScope,
    Arm,
    AssignmentMethod,
    Audience,
    Decision,
    DesignMethod,
    Direction,
    JobStatus,
    MetricKind,
    MetricRole,
    PilotStatus,
    PlanStatus,
    QuestionType,
    ReportStatus,
    RetroFormat,
    Role,
    SizeTier,
    WaveStatus,
)

# ---------------------------------------------------------------- people

ROLE_LABELS = {
    Role.ADMIN: _l("Admin"),
    Role.CHANGE_LEAD: _l("Change lead"),
    Role.STAFF: _l("Store staff"),
    Role.ANALYST: _l("Analyst"),
}

# ---------------------------------------------------------------- sites

SIZE_TIER_LABELS = {
    SizeTier.SMALL: _l("Small"),
    SizeTier.MEDIUM: _l("Medium"),
    SizeTier.LARGE: _l("Large"),
}

#: A site's fields as the registry, the site form and site imports head them.
SITE_FIELD_LABELS = {
    "code": _l("Site code"),
    "name": _l("Name"),
    "region": _l("Region"),
    "city": _l("City"),
    "address": _l("Address"),
    "size_tier": _l("Size tier"),
    "staff_count": _l("Staff"),
    "management_score": _l("Management score"),
    "digital_readiness": _l("Digital readiness"),
    "senior_share": _l("Senior customer share"),
    "daily_orders": _l("Daily orders"),
    "is_active": _l("Active"),
}

#: The columns of a file of daily data (``app.sites.observation_import``).
OBSERVATION_FIELD_LABELS = {
    "site": _l("Site"),
    "date": _l("Date"),
    "metric": _l("Metric"),
    "value": _l("Value"),
    "denominator": _l("Denominator"),
}

#: A site's characteristics as conditions, predictions and segment effects name them. Two
#: differ in wording from :data:`SITE_FIELD_LABELS` (``staff_count``, ``senior_share``).
SITE_ATTRIBUTE_LABELS = {
    "senior_share": _l("Share of senior customers"),
    "staff_count": _l("Staff count"),
    "management_score": SITE_FIELD_LABELS["management_score"],
    "digital_readiness": SITE_FIELD_LABELS["digital_readiness"],
    "daily_orders": SITE_FIELD_LABELS["daily_orders"],
    "region": SITE_FIELD_LABELS["region"],
    "size_tier": SITE_FIELD_LABELS["size_tier"],
    "city": SITE_FIELD_LABELS["city"],
}

#: The same characteristics inside a sentence (the planner's reasons).
SITE_ATTRIBUTE_WORDS = {
    "management_score": _l("management score"),
    "digital_readiness": _l("digital readiness"),
    "senior_share": _l("share of senior customers"),
    "size_weight": _l("size"),
}

#: Bands of the digital-readiness filter of the registry (score 0-100).
READINESS_BAND_LABELS = {
    "low": _l("Low (< 40)"),
    "medium": _l("Medium (40-70)"),
    "high": _l("High (≥ 70)"),
}

# ---------------------------------------------------------------- pilots and metrics

PILOT_STATUS_LABELS = {
    PilotStatus.DRAFT: _l("Draft"),
    PilotStatus.RUNNING: _l("Running"),
    PilotStatus.ANALYSING: _l("Analysing"),
    PilotStatus.DECIDED: _l("Decided"),
    PilotStatus.ROLLING_OUT: _l("Rolling out"),
    PilotStatus.DONE: _l("Done"),
}
PILOT_STATUS_COLOURS = {
    PilotStatus.DRAFT: "secondary",
    PilotStatus.RUNNING: "primary",
    PilotStatus.ANALYSING: "info",
    PilotStatus.DECIDED: "success",
    PilotStatus.ROLLING_OUT: "warning",
    PilotStatus.DONE: "dark",
}

DECISION_LABELS = {
    Decision.ROLL_OUT: _l("Roll out"),
    Decision.EXTEND: _l("Extend the pilot"),
    Decision.STOP: _l("Stop"),
}
DECISION_COLOURS = {
    Decision.ROLL_OUT: "success",
    Decision.EXTEND: "warning",
    Decision.STOP: "danger",
}

METRIC_ROLE_LABELS = {
    MetricRole.PRIMARY: _l("Primary"),
    MetricRole.GUARDRAIL: _l("Guardrail"),
    MetricRole.SECONDARY: _l("Secondary"),
}

#: Which way a metric is better (the wizard's "better when it …").
DIRECTION_WORDS = {
    Direction.INCREASE: _l("increases"),
    Direction.DECREASE: _l("decreases"),
}

ARM_LABELS = {
    Arm.PILOT: _l("Pilot site"),
    Arm.CONTROL: _l("Control site"),
}
#: The arms inside a phrase (chart legends: "65+ · pilot").
ARM_WORDS = {
    Arm.PILOT: _l("pilot"),
    Arm.CONTROL: _l("control"),
}
#: Each arm's comparison of the pilot period with the pre-period (the report's feedback table).
ARM_BEFORE_AFTER_LABELS = {
    Arm.PILOT: _l("Pilot sites, during vs before"),
    Arm.CONTROL: _l("Control sites, during vs before"),
}

ASSIGNMENT_METHOD_LABELS = {
    AssignmentMethod.PROPOSED: _l("Proposed"),
    AssignmentMethod.RANDOM_STRATIFIED: _l("Drawn at random within its stratum"),
    AssignmentMethod.MATCHED: _l("Matched"),
    AssignmentMethod.MANUAL: _l("Added by hand"),
}

#: The steps of the design wizard, in order.
WIZARD_STEP_LABELS = {
    1: _l("Describe"),
    2: _l("Metrics"),
    3: _l("Dates"),
    4: _l("Sites"),
    5: _l("Review and start"),
}

#: Options of the site proposal (``analysis.design``): what to spread the pilot sites over,
#: which end of the problem metric to look at, how to choose control sites.
STRATIFY_LABELS = {
    "region": _l("Regions"),
    "size_tier": _l("Size tiers"),
    "": _l("No strata"),
}
PROBLEM_DIRECTION_LABELS = {
    "high": _l("High values"),
    "low": _l("Low values"),
}
#: How the sites step chooses the sites (the routes of ``app.pilots.proposal``).
DESIGN_METHOD_LABELS = {
    DesignMethod.PAIRED: _l(
        "Recommended: pairs of alike sites where the problem is present, the pilot site of "
        "each pair drawn at random"
    ),
    DesignMethod.MATCHED: _l("I chose the pilot sites by hand: find control sites like them"),
    DesignMethod.STRATIFIED: _l(
        "No history yet: draw pilot and control sites at random within strata"
    ),
}
CONTROL_RATIO_LABELS = {
    1: _l("1 control site per pilot site (pairs)"),
    2: _l("2 control sites per pilot site (triplets)"),
}
#: Why the engine could not balance a characteristic (``Imbalance.reason.code``).
IMBALANCE_TEXTS = {
    "pairs_not_close": _l(
        "%(what)s cannot be balanced: the pool has too few sites alike in it, so the paired "
        "sites differ so much that %(share)s of the possible random draws leave the pilot "
        "and control sites apart."
    ),
    "chance": _l(
        "%(what)s is unbalanced by the luck of the draw: the paired sites are alike, but "
        "chance put the higher values in one arm (this happens in %(share)s of draws with "
        "%(groups)s pairs)."
    ),
}
#: What stops a proposal, in the lead's words (codes from ``app.pilots.proposal``).
PROPOSAL_ERRORS = {
    "no_history": _l(
        "There is no history of the problem metric before the start: import daily data, or "
        "choose 'No history yet' to draw the sites at random within strata."
    ),
    "no_pilots": _l(
        "Add the pilot sites you chose first (below, as pilot sites); then the control sites "
        "like them are found."
    ),
    "pool_too_small": _l(
        "The sites where the problem is present cannot form a single pair: use one of the "
        "fixes below."
    ),
}

#: Units of the metrics, as a number is followed by them ("2.1 min"). A unit typed by a
#: change lead that is not here is shown as typed.
UNIT_LABELS = {
    "min": _l("min"),
    "minutes": _l("min"),
    "turns": _l("turns"),
    "orders": _l("orders"),
    "CNY": _l("CNY"),
    "complaints": _l("complaints"),
    "share": _l("share"),
    "errors": _l("errors"),
    "points": _l("points"),
}

METRIC_KIND_LABELS = {
    MetricKind.CONTINUOUS: _l("A measurement (e.g. minutes, CNY)"),
    MetricKind.PROPORTION: _l("A share or rate (e.g. share of customers)"),
    MetricKind.COUNT: _l("A count (e.g. complaints per day)"),
}

# ---------------------------------------------------------------- feedback

#: Who answers a form.
AUDIENCE_LABELS = {
    Audience.CUSTOMER: _l("Customers"),
    Audience.STAFF: _l("Staff"),
}
#: The form each audience answers.
AUDIENCE_FORM_LABELS = {
    Audience.CUSTOMER: _l("Customer form"),
    Audience.STAFF: _l("Staff form"),
}

QUESTION_TYPE_LABELS = {
    QuestionType.RATING: _l("Rating 1–5"),
    QuestionType.NPS: _l("Recommend 0–10 (NPS)"),
    QuestionType.SINGLE_CHOICE: _l("Single choice"),
    QuestionType.MULTI_CHOICE: _l("Multiple choice"),
    QuestionType.YES_NO: _l("Yes / no"),
    QuestionType.TEXT: _l("Free text"),
}

#: The automatic comment themes of ``app.feedback.themes`` (its ``THEMES`` give the keywords).
THEME_LABELS = {
    "waiting": _l("Waiting and speed"),
    "qr_ordering": _l("QR ordering"),
    "seniors": _l("Older customers"),
    "staff": _l("Staff and service"),
    "readability": _l("Menu and readability"),
    "network_payment": _l("Network and payment"),
    "food": _l("Food"),
    "price": _l("Price"),
    "equipment": _l("Printers and devices"),
    "workload": _l("Workload"),
}

#: The columns of a file of responses collected with another tool (besides the questions).
RESPONSE_FILE_FIELD_LABELS = {
    "site_code": _l("Site code"),
    "submitted_at": _l("Date and time (local)"),
    "segment": _l("Respondent segment"),
    "language": _l("Language"),
    "response_id": _l("Response ID in the other tool"),
}

#: The columns of a pilot's feedback export (besides its questions, headed by their wording).
FEEDBACK_EXPORT_COLUMNS = {
    "response_id": _l("Response ID"),
    "submitted_at": RESPONSE_FILE_FIELD_LABELS["submitted_at"],
    "date": _l("Date"),
    "site_code": SITE_FIELD_LABELS["code"],
    "site_name": _l("Site"),
    "arm": _l("Group"),
    "channel": _l("Channel"),
    "language": RESPONSE_FILE_FIELD_LABELS["language"],
    "segment": RESPONSE_FILE_FIELD_LABELS["segment"],
    "form_version": _l("Form version"),
    "flagged_negative": _l("Flagged as negative"),
    "tags": _l("Themes"),
}

# ---------------------------------------------------------------- retros

RETRO_FORMAT_LABELS = {
    RetroFormat.WELL_PROBLEMS_IDEAS: _l("Went well / problems / ideas"),
    RetroFormat.START_STOP_CONTINUE: _l("Start / stop / continue"),
}

#: The note columns of the retro formats (``app.models.retro.FORMAT_CATEGORIES``).
RETRO_CATEGORY_LABELS = {
    "went_well": _l("Went well"),
    "problems": _l("Problems"),
    "ideas": _l("Ideas"),
    "start": _l("Start"),
    "stop": _l("Stop"),
    "continue": _l("Continue"),
}

ACTION_STATUS_LABELS = {
    ActionStatus.OPEN: _l("Open"),
    ActionStatus.IN_PROGRESS: _l("In progress"),
    ActionStatus.DONE: _l("Done"),
    ActionStatus.DROPPED: _l("Dropped"),
}
ACTION_STATUS_COLOURS = {
    ActionStatus.OPEN: "secondary",
    ActionStatus.IN_PROGRESS: "primary",
    ActionStatus.DONE: "success",
    ActionStatus.DROPPED: "dark",
}

ADJUSTMENT_SCOPE_LABELS = {
    AdjustmentScope.ALL_PILOT_SITES: _l("All pilot sites"),
    AdjustmentScope.SELECTED_SITES: _l("Chosen pilot sites"),
    AdjustmentScope.CONDITION: _l("Pilot sites matching a condition"),
}

#: The comparisons of an adjustment's condition, as symbols (the same in both languages).
CONDITION_OPERATOR_LABELS = {
    ">=": "≥",
    ">": ">",
    "<=": "≤",
    "<": "<",
    "==": "=",
    "!=": "≠",
}

# ---------------------------------------------------------------- reports

REPORT_STATUS_LABELS = {
    ReportStatus.COMPUTING: _l("Computing"),
    ReportStatus.DRAFT: _l("Draft"),
    ReportStatus.CHANGES_REQUESTED: _l("Changes requested"),
    ReportStatus.APPROVED: _l("Approved"),
    ReportStatus.FAILED: _l("Failed"),
}
REPORT_STATUS_COLOURS = {
    ReportStatus.COMPUTING: "info",
    ReportStatus.DRAFT: "secondary",
    ReportStatus.CHANGES_REQUESTED: "warning",
    ReportStatus.APPROVED: "success",
    ReportStatus.FAILED: "danger",
}

# ---------------------------------------------------------------- background jobs

JOB_STATUS_LABELS = {
    JobStatus.QUEUED: _l("Queued"),
    JobStatus.RUNNING: _l("Running"),
    JobStatus.DONE: _l("Done"),
    JobStatus.FAILED: _l("Failed"),
}
JOB_STATUS_COLOURS = {
    JobStatus.QUEUED: "secondary",
    JobStatus.RUNNING: "info",
    JobStatus.DONE: "success",
    JobStatus.FAILED: "danger",
}

#: A metric's verdict in ``analysis.compare``.
VERDICT_LABELS = {
    "better": _l("Better"),
    "worse": _l("Worse"),
    "inconclusive": _l("Inconclusive"),
    "equivalent": _l("No meaningful difference"),
}
VERDICT_COLOURS = {
    "better": "success",
    "worse": "danger",
    "inconclusive": "secondary",
    "equivalent": "info",
}

#: A guardrail against its pre-registered margin (``app.reports.snapshots.guardrail_state``).
GUARDRAIL_STATE_LABELS = {
    "cleared": _l("Within margin"),
    "breached": _l("Beyond margin"),
    "unclear": _l("Not yet clear"),
}

#: The estimators of ``analysis.compare`` (the part of a result's ``method`` before ":").
METHOD_LABELS = {
    "did": _l("Difference-in-differences (site × day panel)"),
    "ancova": _l("ANCOVA on site means (pre-period adjusted)"),
    "welch": _l("Welch t-test on site changes"),
    "permutation": _l("Permutation test over site assignment"),
    "rank": _l("Rank test on site changes"),
    "paired": _l("Matched pairs: pair effects on site changes"),
}
#: The headline estimators an analyst may choose for an exploration.
EXPLORATION_METHOD_LABELS = {
    "auto": _l("As pre-registered (automatic choice)"),
    **{key: METHOD_LABELS[key] for key in ("did", "ancova", "welch", "permutation")},
}

# ---------------------------------------------------------------- rollout

PLAN_STATUS_LABELS = {
    PlanStatus.DRAFT: _l("Draft"),
    PlanStatus.ACTIVE: _l("Active"),
    PlanStatus.DONE: _l("Done"),
    PlanStatus.CANCELLED: _l("Cancelled"),
}

WAVE_STATUS_LABELS = {
    WaveStatus.PLANNED: _l("Planned"),
    WaveStatus.LIVE: _l("Live"),
    WaveStatus.PASSED: _l("Passed"),
    WaveStatus.HELD: _l("Held"),
    WaveStatus.FAILED: _l("Stopped"),
}
WAVE_STATUS_COLOURS = {
    WaveStatus.PLANNED: "secondary",
    WaveStatus.LIVE: "primary",
    WaveStatus.PASSED: "success",
    WaveStatus.HELD: "warning",
    WaveStatus.FAILED: "danger",
}

#: A gate's outcome, and each of its checks' status.
GATE_OUTCOME_LABELS = {"pass": _l("Pass"), "hold": _l("Hold"), "fail": _l("Fail")}
GATE_OUTCOME_COLOURS = {"pass": "success", "hold": "warning", "fail": "danger"}
GATE_OUTCOME_WORDS = {"pass": _l("pass"), "hold": _l("hold"), "fail": _l("fail")}

#: The decisions a change lead records on a wave.
WAVE_DECISION_LABELS = {
    "start": _l("Start the wave"),
    "go": _l("Go: the gate passed"),
    "hold": _l("Hold the wave"),
    "resume": _l("Resume the wave"),
    "stop": _l("Stop the wave"),
}

#: How the planner sizes waves.
WAVE_SIZING_WORDS = {
    "count": _l("number of waves"),
    "size": _l("sites per wave"),
}

#: Readiness tiers of the planner (also inside its sentences, hence lower case).
READINESS_TIER_WORDS = {"high": _l("high"), "medium": _l("medium"), "low": _l("low")}

#: The components of a site's readiness score, inside a sentence.
READINESS_COMPONENT_WORDS = {
    "management": _l("management score"),
    "digital": _l("digital readiness"),
    "capability": _l("staff capability"),
    "attitude": _l("staff attitude"),
}

#: Who signs a wave's gate off (stored as the role's value). The administrator reads
#: "Administrator" here and "Admin" in :data:`ROLE_LABELS`.
SIGNOFF_ROLE_LABELS = {
    Role.CHANGE_LEAD.value: ROLE_LABELS[Role.CHANGE_LEAD],
    Role.ANALYST.value: ROLE_LABELS[Role.ANALYST],
    Role.ADMIN.value: _l("Administrator"),
}

#: A plan's history (the audit actions of the rollout area).
ROLLOUT_HISTORY_LABELS = {
    "rollout.plan_created": _l("Plan proposed"),
    "rollout.site_moved": _l("Site moved"),
    "rollout.wave_dates_changed": _l("Wave dates changed"),
    "rollout.mentor_changed": _l("Mentor changed"),
    "rollout.checklist": _l("Checklist"),
    "rollout.gate_evaluated": _l("Gate evaluated"),
    "rollout.gate_signed_off": _l("Gate signed off"),
    "rollout.wave_start": _l("Wave started"),
    "rollout.wave_go": _l("Wave passed"),
    "rollout.wave_hold": _l("Wave held"),
    "rollout.wave_resume": _l("Wave resumed"),
    "rollout.wave_stop": _l("Wave stopped"),
    "rollout.plan_cancelled": _l("Plan cancelled"),
    "rollout.plan_activated": _l("Plan activated"),
    "rollout.plan_completed": _l("Rollout signed off"),
}

#: The columns of a plan's CSV and Excel export.
ROLLOUT_EXPORT_COLUMNS = {
    "wave": _l("Wave"),
    "holdback": _l("Holdback"),
    "site_code": SITE_FIELD_LABELS["code"],
    "site_name": _l("Site"),
    "region": SITE_FIELD_LABELS["region"],
    "size_tier": _l("Size"),
    "readiness": _l("Readiness"),
    "tier": _l("Readiness tier"),
    "load": _l("Capacity load"),
    "go_live": _l("Go-live"),
    "wave_start": _l("Wave start"),
    "gate_due": _l("Gate due"),
    "mentor": _l("Mentor"),
    "predicted_effect": _l("Predicted effect"),
    "predicted_low": _l("Interval low"),
    "predicted_high": _l("Interval high"),
    "extrapolation": _l("Extrapolation"),
    "adaptations": _l("Adaptations"),
    "checklist_done": _l("Checklist done"),
    "checklist_total": _l("Checklist items"),
}

# ---------------------------------------------------------------- files

#: The name of the one sheet of an Excel download.
DATA_SHEET_LABEL = _l("Data")

# ---------------------------------------------------------------- audit

#: What an audit event records (``AuditEvent.action``), as a pilot's audit log names it.
AUDIT_ACTION_LABELS = {
    "action.close": _l("Action closed"),
    "action.open": _l("Action opened"),
    "action.update": _l("Action updated"),
    "adjustment.create": _l("Adjustment recorded"),
    "api_token.created": _l("API token created"),
    "api_token.revoked": _l("API token revoked"),
    "feedback.flag": _l("Answer flagged"),
    "feedback.unflag": _l("Answer unflagged"),
    "feedback.import": _l("Feedback imported"),
    "feedback_form.edit": _l("Feedback form changed"),
    "form_link.revoke": _l("Form link revoked"),
    "metric.created": _l("Metric created"),
    "metric.direction_changed": _l("Metric's better direction changed"),
    "pilot.archived": _l("Pilot archived"),
    "pilot.created": _l("Pilot created"),
    "pilot.decide": _l("Decision recorded"),
    "pilot.deleted": _l("Pilot deleted"),
    "pilot.deviation": _l("Change after the pre-registration"),
    "pilot.restored": _l("Pilot restored"),
    "pilot.retros_visibility": _l("Retro visibility changed"),
    "pilot.started": _l("Pilot started"),
    "pilot.status": _l("Pilot status changed"),
    "report.approve": _l("Report approved"),
    "report.create": _l("Report computed"),
    "report.request_changes": _l("Report changes requested"),
    "retro.open": _l("Retro opened"),
    "site.created": _l("Site created"),
    "site.imported": _l("Sites imported"),
    "site.updated": _l("Site updated"),
    "user.created": _l("Account created"),
    "user.signed_out_everywhere": _l("Signed out everywhere"),
    "user.updated": _l("Account updated"),
    **ROLLOUT_HISTORY_LABELS,
}

#: Yes and no, as a recorded true/false value reads.
YES_NO_LABELS = {True: _l("yes"), False: _l("no")}

# ---------------------------------------------------------------- by enum

#: The status of the sequential monitor of the primary metric (``analysis.sequential``).
SEQUENTIAL_STATUS_LABELS = {
    "enough_evidence": _l("Enough evidence to decide"),
    "keep_running": _l("Not yet enough evidence: keep collecting data"),
    "unlikely_to_reach_min_effect": _l("Unlikely to reach the smallest effect worth acting on"),
}
#: The two periods of a pilot (the report's data-completeness table).
PERIOD_LABELS = {
    "pre": _l("Before the start"),
    "post": _l("During the pilot"),
}


def segment_value_label(value: Any) -> str:
    """A respondent segment or a site segment in words: the age band ``"30_59"`` reads
    "30–59" ("30–59 岁"), ``"60+"`` reads "60 and over"; a numeric range of a site attribute
    (``"senior_share <= 0.2"``) names the attribute ("Share of senior customers ≤ 0.2");
    anything else is shown as it is."""
    text = "" if value is None else str(value).strip()
    band = re.fullmatch(r"(\d+)\s*[_\-–]\s*(\d+)", text)
    if band:
        return str(AGE_BAND_WORDS["range"]) % {"low": band[1], "high": band[2]}
    older = re.fullmatch(r"(\d+)\s*\+", text)
    if older:
        return str(AGE_BAND_WORDS["over"]) % {"low": older[1]}
    younger = re.fullmatch(r"(?:<|under_?)\s*(\d+)", text)
    if younger:
        return str(AGE_BAND_WORDS["under"]) % {"high": younger[1]}
    names = sorted(SITE_ATTRIBUTE_LABELS, key=len, reverse=True)
    for key in names:
        if key in text and re.search(rf"\b{re.escape(key)}\b", text):
            text = re.sub(rf"\b{re.escape(key)}\b", str(SITE_ATTRIBUTE_LABELS[key]), text)
            return text.replace("<=", "≤").replace(">=", "≥")
    return text


#: Age bands of respondents, inside :func:`segment_value_label`.
AGE_BAND_WORDS = {
    "range": _l("%(low)s–%(high)s"),
    "over": _l("%(low)s and over"),
    "under": _l("under %(high)s"),
}


#: Each enum shown to people, and its labels.
ENUM_LABELS: dict[type[enum.Enum], Mapping[Any, Any]] = {
    JobStatus: JOB_STATUS_LABELS,
    ActionStatus: ACTION_STATUS_LABELS,
    AdjustmentScope: ADJUSTMENT_SCOPE_LABELS,
    Arm: ARM_LABELS,
    AssignmentMethod: ASSIGNMENT_METHOD_LABELS,
    DesignMethod: DESIGN_METHOD_LABELS,
    Audience: AUDIENCE_LABELS,
    Decision: DECISION_LABELS,
    Direction: DIRECTION_WORDS,
    MetricKind: METRIC_KIND_LABELS,
    MetricRole: METRIC_ROLE_LABELS,
    PilotStatus: PILOT_STATUS_LABELS,
    PlanStatus: PLAN_STATUS_LABELS,
    QuestionType: QUESTION_TYPE_LABELS,
    ReportStatus: REPORT_STATUS_LABELS,
    RetroFormat: RETRO_FORMAT_LABELS,
    Role: ROLE_LABELS,
    SizeTier: SIZE_TIER_LABELS,
    WaveStatus: WAVE_STATUS_LABELS,
}

#: Each enum drawn as a coloured badge, and its colours.
ENUM_COLOURS: dict[type[enum.Enum], Mapping[Any, str]] = {
    JobStatus: JOB_STATUS_COLOURS,
    ActionStatus: ACTION_STATUS_COLOURS,
    Decision: DECISION_COLOURS,
    PilotStatus: PILOT_STATUS_COLOURS,
    ReportStatus: REPORT_STATUS_COLOURS,
    WaveStatus: WAVE_STATUS_COLOURS,
}


# ---------------------------------------------------------------- metrics


def _current_locale() -> str:
    from flask_babel import get_locale

    try:
        return str(get_locale() or "en")
    except RuntimeError:  # no app context
        return "en"


def metric_label(metric: Any, locale: str | None = None) -> str:
    """A metric's name in the reader's language (or ``locale``'s): its Chinese name for a
    Chinese reader when it has one, else its English name.

    ``metric`` is a ``Metric``, anything with ``name`` and ``name_zh`` attributes (the
    retro brief's metrics) or a stored dict with ``"name"``/``"name_zh"`` (snapshots, a
    reason's parameters); the key (``"key"``) only when it has no name at all.
    """
    if metric is None:
        return ""
    if isinstance(metric, Mapping):
        name, name_zh, key = metric.get("name"), metric.get("name_zh"), metric.get("key")
    else:
        name = getattr(metric, "name", None)
        name_zh = getattr(metric, "name_zh", None)
        key = getattr(metric, "key", None)
    locale = locale or _current_locale()
    if locale.startswith("zh") and name_zh:
        return str(name_zh)
    return str(name or name_zh or key or "")


def unit_label(unit: str | None) -> str:
    """A metric's unit in the reader's language ("min" → "分钟"); a unit not in
    :data:`UNIT_LABELS` as typed; "" for none."""
    if not unit:
        return ""
    return str(UNIT_LABELS.get(unit, unit))


def metric_unit_label(metric: Any) -> str:
    """The unit of a ``Metric``, an object with ``unit`` or a dict with ``"unit"``."""
    unit = metric.get("unit") if isinstance(metric, Mapping) else getattr(metric, "unit", None)
    return unit_label(unit)


def _labels_of(enum_class: type[enum.Enum]) -> Mapping[Any, Any]:
    try:
        return ENUM_LABELS[enum_class]
    except KeyError:
        raise KeyError(f"{enum_class.__name__} has no labels in app.core.labels") from None


def label(member: enum.Enum) -> str:
    """The member's words in the current language, e.g. ``label(PilotStatus.RUNNING)``."""
    return str(_labels_of(type(member))[member])


def colour(member: enum.Enum, default: str = "secondary") -> str:
    """The member's badge colour (a Bootstrap contextual name); ``default`` when it has none."""
    return ENUM_COLOURS.get(type(member), {}).get(member, default)


def choices_for(
    enum_class: type[enum.Enum],
    members: Iterable[enum.Enum] | None = None,
    *,
    labels: Mapping[Any, Any] | None = None,
) -> list[tuple[str, Any]]:
    """``[(value, label), …]`` for a select field: all members, or ``members`` in that order;
    the enum's registered labels unless ``labels`` names another table of the same enum
    (e.g. ``AUDIENCE_FORM_LABELS``)."""
    table = _labels_of(enum_class) if labels is None else labels
    return [(m.value, table[m]) for m in (enum_class if members is None else members)]


def by_value(
    enum_class: type[enum.Enum], *, labels: Mapping[Any, Any] | None = None
) -> dict[str, Any]:
    """The enum's labels (or ``labels``, another table of the same enum) keyed by the stored
    value: ``"approved"`` rather than ``ReportStatus.APPROVED``."""
    table = _labels_of(enum_class) if labels is None else labels
    return {m.value: text for m, text in table.items()}


def colours_by_value(enum_class: type[enum.Enum]) -> dict[str, str]:
    """The enum's colours keyed by the stored value."""
    return {m.value: c for m, c in ENUM_COLOURS[enum_class].items()}


# ---------------------------------------------------------------- recorded values

#: Between the items of a list inside a sentence ("a, b" / "a，b").
LIST_SEPARATOR = _l(", ")

#: The standard items of a rollout site's checklist (stored by key).
CHECKLIST_ITEM_LABELS = {
    "training": _l("Staff trained on the new process"),
    "equipment": _l("Equipment and materials in place"),
    "briefing": _l("Go-live briefing held with the site manager"),
    "week1_review": _l("First-week review done"),
    "mentor": _l("Mentor visit"),
}

#: The fields an audit event records (``before``/``after`` keys), as a history reads them.
AUDIT_FIELD_LABELS = {
    "site": _l("Site"),
    "item": _l("Item"),
    "done": _l("Done"),
    "wave": _l("Wave"),
    "waves": _l("Waves"),
    "sites": _l("Sites"),
    "status": _l("Status"),
    "gate": _l("Gate"),
    "outcome": _l("Outcome"),
    "as_of": _l("Data up to"),
    "primary": _l("Primary metric"),
    "effect": _l("Effect"),
    "ci_low": _l("Interval low"),
    "ci_high": _l("Interval high"),
    "holdback": _l("Holdback"),
    "go_live": _l("Go-live"),
    "start": _l("Start"),
    "end": _l("End"),
    "start_date": _l("Start"),
    "end_date": _l("End"),
    "mentor": _l("Mentor"),
    "role": _l("Role"),
    "name": _l("Name"),
    "note": _l("Note"),
    "decision": _l("Decision"),
    "plan": _l("Plan"),
}


def _recorded_values() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for enum_class in ENUM_LABELS:
        values.update(by_value(enum_class))
    values.update(by_value(PlanStatus), **by_value(WaveStatus), **by_value(PilotStatus))
    values.update(GATE_OUTCOME_LABELS)
    values.update(CHECKLIST_ITEM_LABELS)
    return values


def recorded_value_label(value: Any) -> Any:
    """A value an audit event recorded as the reader reads it: a stored status, role, gate
    outcome or checklist key in words, true/false as yes/no; anything else as it is."""
    if isinstance(value, bool):
        return YES_NO_LABELS[value]
    if isinstance(value, str):
        return _recorded_values().get(value, value)
    return value


def recorded_field_label(key: Any) -> str:
    """A recorded field's name in words (:data:`AUDIT_FIELD_LABELS`); others as stored."""
    return str(AUDIT_FIELD_LABELS.get(key, SITE_FIELD_LABELS.get(key, key)))
