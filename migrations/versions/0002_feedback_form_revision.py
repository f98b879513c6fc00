"""Feedback forms: a revision number, raised by every in-place edit of a draft version.

The public form's writer checks the revision it validated against in the same statement
that stores the response, so a response is never stored against questions edited since.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 13:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("feedback_forms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revision", sa.Integer(), server_default="1", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("feedback_forms", schema=None) as batch_op:
        batch_op.drop_column("revision")
