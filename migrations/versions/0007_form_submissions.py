"""Back-office forms safe to resend, and archived pilots.

``form_submissions`` keeps the one-time key each back-office create form is sent with (unique),
who sent it to which endpoint, and the redirect its first sending answered with: a resent form
is answered with that redirect and creates nothing. ``pilots.archived_at`` marks an archived
pilot (hidden from lists by default, read-only) while keeping its status.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 17:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "form_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=120), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("redirect_to", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_form_submissions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_submissions")),
        sa.UniqueConstraint("key", name=op.f("uq_form_submissions_key")),
    )
    with op.batch_alter_table("form_submissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_form_submissions_created_at"), ["created_at"], unique=False
        )
    with op.batch_alter_table("pilots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(), nullable=True))


def downgrade():
    # plain ALTER TABLE ... DROP COLUMN: a batch copy of "pilots" would drop the table, and
    # ON DELETE CASCADE every row that refers to a pilot (see 0004)
    op.drop_column("pilots", "archived_at")
    op.drop_table("form_submissions")
