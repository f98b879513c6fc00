"""Pilot designs: how the sites were chosen, the seed and settings, and each site's pair.

A pilot randomized within matched pairs (issue 19) keeps its design so the report analyses
it with its pairs: ``pilots.design_method`` (paired, matched or stratified),
``pilots.design_seed`` and ``pilots.design_settings`` (the wizard's proposal settings), and
``assignments.pair`` (the group number). The demo metric "Order errors" gets its unit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 17:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DESIGN_METHODS = ("paired", "matched", "stratified")


def upgrade():
    with op.batch_alter_table("pilots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "design_method",
                sa.Enum(*DESIGN_METHODS, name="designmethod", native_enum=False),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("design_seed", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("design_settings", sa.JSON(), nullable=True))
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pair", sa.Integer(), nullable=True))
    op.execute("UPDATE metrics SET unit = 'errors' WHERE key = 'order_errors' AND unit = ''")


def downgrade():
    # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later, PostgreSQL): a batch copy of
    # "pilots" would drop the table, and ON DELETE CASCADE every row that refers to a pilot
    op.drop_column("assignments", "pair")
    for column in ("design_settings", "design_seed", "design_method"):
        op.drop_column("pilots", column)
