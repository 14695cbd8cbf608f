"""The operator's console (issue 22): user roles and disabling, per-key controls, holds
that can be asked to stop, the admin audit log, sign-up invites, balance notifications.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realtime2.db.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="user"))
        users.add_column(sa.Column("disabled_at", UTCDateTime()))
        users.add_column(sa.Column("disabled_reason", sa.String(32)))
        users.add_column(sa.Column("balance_alert_below", sa.BigInteger))
        users.add_column(
            sa.Column("balance_alert_armed", sa.Boolean, nullable=False, server_default=sa.true())
        )
        users.add_column(sa.Column("notify_url", sa.String(2000)))
        users.add_column(sa.Column("notify_secret", sa.String(100)))
    with op.batch_alter_table("api_keys") as keys:
        keys.add_column(sa.Column("expires_at", UTCDateTime()))
        keys.add_column(sa.Column("allowed_models", sa.JSON))
        keys.add_column(sa.Column("allowed_origins", sa.JSON))
        keys.add_column(sa.Column("budget_credits", sa.BigInteger))
        keys.add_column(sa.Column("budget_period", sa.String(8)))
        keys.add_column(sa.Column("budget_alerted_for", UTCDateTime()))
    with op.batch_alter_table("holds") as holds:
        holds.add_column(sa.Column("stop_reason", sa.String(32)))
    op.create_index(
        "ix_holds_key_created", "holds", ["api_key_id", "created_at", "amount", "captured"]
    )
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("actor_user_id", sa.Integer),
        sa.Column("actor_email", sa.String(320), nullable=False),
        sa.Column("actor_key_id", sa.String(40)),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(80), nullable=False),
        sa.Column("details", sa.JSON),
        sa.Column("client_address", sa.String(64)),
    )
    op.create_index("ix_admin_audit_actor_user_id", "admin_audit", ["actor_user_id"])
    op.create_index("ix_admin_audit_action", "admin_audit", ["action"])
    op.create_index("ix_admin_audit_target", "admin_audit", ["target", "id"])
    op.create_table(
        "invites",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_by", sa.Integer),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_by", sa.Integer),
        sa.Column("used_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
    )


def downgrade() -> None:
    op.drop_table("invites")
    op.drop_table("admin_audit")
    op.drop_index("ix_holds_key_created", "holds")
    with op.batch_alter_table("holds") as holds:
        holds.drop_column("stop_reason")
    with op.batch_alter_table("api_keys") as keys:
        for column in (
            "budget_alerted_for",
            "budget_period",
            "budget_credits",
            "allowed_origins",
            "allowed_models",
            "expires_at",
        ):
            keys.drop_column(column)
    with op.batch_alter_table("users") as users:
        for column in (
            "notify_secret",
            "notify_url",
            "balance_alert_armed",
            "balance_alert_below",
            "disabled_reason",
            "disabled_at",
            "role",
        ):
            users.drop_column(column)
