"""SIP endpoints: who an inbound phone call belongs to (issue 19).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realtime2.db.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sip_endpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("uri_user", sa.String(64), nullable=False, unique=True),
        sa.Column("webhook_url", sa.String(2000), nullable=False),
        sa.Column("webhook_secret", sa.String(100), nullable=False),
        sa.Column("allowed_sources", sa.JSON),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime()),
    )
    op.create_index("ix_sip_endpoints_user_id", "sip_endpoints", ["user_id"])


def downgrade() -> None:
    op.drop_table("sip_endpoints")
