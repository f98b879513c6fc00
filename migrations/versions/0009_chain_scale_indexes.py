"""Indexes for the pages' access paths at chain scale (issue 22).

- ``observations (metric_id, site_id, date)``: one metric of a pilot's sites over a window
  (dashboard charts, completeness grid, retro brief, rollout gates) reads only the rows it
  needs, in order, instead of every site's rows of that metric.
- ``feedback_responses (pilot_id, submitted_at)``: a pilot's responses over a period
  (feedback overview, comments, staff feed, daily feedback metrics).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 20:30:00

"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_observations_metric_site_date", "observations", ["metric_id", "site_id", "date"]
    )
    op.create_index(
        "ix_feedback_responses_pilot_time", "feedback_responses", ["pilot_id", "submitted_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_responses_pilot_time", table_name="feedback_responses")
    op.drop_index("ix_observations_metric_site_date", table_name="observations")
