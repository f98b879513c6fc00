"""Index ``wave_sites (site_id)``: "is this site in a started wave of the pilot's plan?".

The public feedback form asks it on every link lookup and again in the guarded write, the
staff feed and the staff check-in ask it per site, and a mentor's view asks which plans a
site belongs to. The unique ``(plan_id, site_id)`` key does not serve a lookup by site; at
chain scale a plan holds 1,500 sites.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:40:00

"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_wave_sites_site", "wave_sites", ["site_id"])


def downgrade() -> None:
    op.drop_index("ix_wave_sites_site", table_name="wave_sites")
