"""Client secrets (`ek_…`) and WebRTC call ownership.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realtime2.db.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_secrets",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("api_key_id", sa.String(40)),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("session", sa.JSON),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_client_secrets_user_id", "client_secrets", ["user_id"])
    op.create_index("ix_client_secrets_expires_at", "client_secrets", ["expires_at"])
    op.create_table(
        "realtime_calls",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("api_key_id", sa.String(40)),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("replica", sa.String(120), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("charged", sa.BigInteger, nullable=False),
        sa.Column("end_reason", sa.String(32)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
    )
    op.create_index("ix_realtime_calls_user_id", "realtime_calls", ["user_id"])


def downgrade() -> None:
    op.drop_table("realtime_calls")
    op.drop_table("client_secrets")
