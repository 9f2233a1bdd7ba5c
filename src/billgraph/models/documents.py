"""Invoice documents (SPEC §13): the PDF of an invoice as first rendered in its status,
kept so that a posted invoice's document never changes, whatever later happens to the
buyer's name or address or the seller's name."""

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKeyConstraint, LargeBinary
from sqlmodel import Field, SQLModel

from ._base import tenant_key, text, timestamp


class InvoiceDocument(SQLModel, table=True):
    __tablename__ = "invoice_documents"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"],
                             name="invoice_documents_invoice_id_fkey"),
    )

    tenant_id: uuid.UUID = tenant_key()
    invoice_id: uuid.UUID = tenant_key()  # one document per invoice
    status: str = text()  # the invoice's status it was rendered in
    pdf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    rendered_at: datetime = timestamp(nullable=False)
