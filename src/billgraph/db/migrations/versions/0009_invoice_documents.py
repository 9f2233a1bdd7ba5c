"""Invoice documents: each invoice's PDF as first rendered in its status (SPEC §13)

Revision ID: 0009_invoice_documents
Revises: 0008_adjustments
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from billgraph.db.citus import distribute

revision: str = "0009_invoice_documents"
down_revision: str | None = "0008_adjustments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoice_documents",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("rendered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "invoice_id"),
    )
    # rule 7 (docs/ARCHITECTURE.md): on Citus place the new table, then its key to
    # invoices (a key from a local table to a distributed one is refused); a no-op on
    # plain PostgreSQL
    distribute(op.get_bind())
    op.create_foreign_key("invoice_documents_invoice_id_fkey", "invoice_documents", "invoices",
                          ["tenant_id", "invoice_id"], ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_table("invoice_documents")
