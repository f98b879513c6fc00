"""Per-metric bounds: ``metrics.min_value`` and ``metrics.max_value`` (issue 21).

Imports and the API refuse a value outside its metric's bounds (a negative waiting time, a
share above 1). The demo metrics, where they exist, get the bounds of the demo catalogue.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 18:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: key -> (min, max) of the demo metrics, as in ``app.demo.catalogue.METRIC_BOUNDS`` today
#: (a migration keeps its own copy: the catalogue may change later).
DEMO_BOUNDS = {
    "avg_wait_min": (0.0, 1440.0),
    "table_turnover": (0.0, None),
    "orders": (0.0, None),
    "avg_ticket": (0.0, None),
    "complaints": (0.0, None),
    "satisfaction_rate": (0.0, 1.0),
    "counter_queue_min": (0.0, 1440.0),
    "order_errors": (0.0, None),
}


def upgrade():
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_value", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("max_value", sa.Double(), nullable=True))
    metrics = sa.table(
        "metrics",
        sa.column("key", sa.String),
        sa.column("min_value", sa.Double),
        sa.column("max_value", sa.Double),
    )
    for key, (low, high) in DEMO_BOUNDS.items():
        op.execute(
            metrics.update()
            .where(
                metrics.c.key == key, metrics.c.min_value.is_(None), metrics.c.max_value.is_(None)
            )
            .values(min_value=low, max_value=high)
        )


def downgrade():
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_column("max_value")
        batch_op.drop_column("min_value")
