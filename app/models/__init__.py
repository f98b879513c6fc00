"""All models, importable from one place (``from app.models import Site``)."""

from app.models.audit import AuditEvent
from app.models.base import Base
from app.models.feedback import (
    Audience,
    CommentTag,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    FormLink,
    QuestionType,
    ResponseChannel,
)
from app.models.job import Job, JobStatus
from app.models.metric import (
    Direction,
    ImportBatch,
    Metric,
    MetricKind,
    Observation,
    ObservationRevision,
)
from app.models.pilot import (
    Arm,
    Assignment,
    AssignmentMethod,
    Decision,
    DesignMethod,
    MetricRole,
    Pilot,
    PilotMetric,
    PilotStatus,
)
from app.models.report import Report, ReportStatus
from app.models.retro import (
    ActionItem,
    ActionStatus,
    Adjustment,
    AdjustmentScope,
    RetroFormat,
    RetroItem,
    Retrospective,
)
from app.models.rollout import MentorPair, PlanStatus, RolloutPlan, Wave, WaveSite, WaveStatus
from app.models.site import Site, SizeTier
from app.models.submission import FormSubmission
from app.models.user import ApiToken, Role, User

__all__ = [
    "ActionItem",
    "ActionStatus",
    "Adjustment",
    "AdjustmentScope",
    "ApiToken",
    "Arm",
    "Assignment",
    "AssignmentMethod",
    "Audience",
    "AuditEvent",
    "Base",
    "CommentTag",
    "Decision",
    "DesignMethod",
    "Direction",
    "FeedbackAnswer",
    "FeedbackForm",
    "FeedbackResponse",
    "FormLink",
    "FormSubmission",
    "ImportBatch",
    "Job",
    "JobStatus",
    "MentorPair",
    "Metric",
    "MetricKind",
    "MetricRole",
    "Observation",
    "ObservationRevision",
    "Pilot",
    "PilotMetric",
    "PilotStatus",
    "PlanStatus",
    "QuestionType",
    "Report",
    "ReportStatus",
    "ResponseChannel",
    "RetroFormat",
    "RetroItem",
    "Retrospective",
    "Role",
    "RolloutPlan",
    "Site",
    "SizeTier",
    "User",
    "Wave",
    "WaveSite",
    "WaveStatus",
]
