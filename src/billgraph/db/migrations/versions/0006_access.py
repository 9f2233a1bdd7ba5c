"""API key lifecycle (admin scope, expiry, last use) and the audit trail (SPEC §16)

Revision ID: 0006_access
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_access"
down_revision: str | None = "0005_hierarchy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("description", sa.Text(), nullable=True))
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True),
                                        nullable=True))
    op.drop_constraint("api_keys_scope", "api_keys", type_="check")
    op.create_check_constraint("api_keys_scope", "api_keys", "scope IN ('read', 'write', 'admin')")
    # Append-only: rows are inserted (in the mutation's own transaction) and only ever
    # deleted by the retention purge, never updated.
    op.create_table(
        "audit_events",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("operation_name", sa.Text(), nullable=True),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("account_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("variables", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index("audit_events_occurred", "audit_events", ["tenant_id", "occurred_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("audit_events_occurred", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_constraint("api_keys_scope", "api_keys", type_="check")
    op.create_check_constraint("api_keys_scope", "api_keys", "scope IN ('read', 'write')")
    for column in ("last_used_at", "expires_at", "description"):
        op.drop_column("api_keys", column)
