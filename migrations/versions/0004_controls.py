"""controls: the operator's pause per account, kept across restarts

`executor pause` (or POST /pause) stops new entries while open positions are still managed;
the row says who paused, when and why, until `executor unpause`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import executor.store.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "controls",
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("changed_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_controls")),
    )


def downgrade() -> None:
    op.drop_table("controls")
