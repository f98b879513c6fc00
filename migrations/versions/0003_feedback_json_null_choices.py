"""Feedback answers: JSON ``null`` in ``value_choices`` becomes SQL NULL.

Answers stored before the column was declared ``JSON(none_as_null=True)`` hold the JSON
document ``null`` where an answer has no choices. Readers through the ORM saw None either
way, but SQL that asks ``value_choices IS NULL`` (exports, ad-hoc analysis) missed them.
Data only; the schema does not change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 02:00:00

"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    # CAST(... AS TEXT) reads the document as text on both SQLite (TEXT) and PostgreSQL (json)
    op.execute(
        "UPDATE feedback_answers SET value_choices = NULL"
        " WHERE value_choices IS NOT NULL AND CAST(value_choices AS TEXT) = 'null'"
    )


def downgrade():
    # SQL NULL is what every version of the model reads as "no choices": nothing to undo
    pass
