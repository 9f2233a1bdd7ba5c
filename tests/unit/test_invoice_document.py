"""The invoice document renders deterministically, on as many pages as its lines need."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

from pypdf import PdfReader

from billgraph.services.invoice_document import Document, money, render


def _document(lines: int, status: str = "POSTED") -> Document:
    invoice: dict[str, Any] = {
        "invoice_number": "INV00000042", "invoice_date": dt.date(2026, 1, 31),
        "due_date": dt.date(2026, 2, 28), "status": status, "currency": "EUR",
        "seller": "Flottenhandel GmbH", "buyer": "Ōsaka Logistics", "account_number": "A1",
        "billing_line1": None, "billing_postal_code": None, "billing_city": None,
        "billing_region": None, "billing_country": "JP",
        "subtotal": Decimal("10") * lines, "discount_amount": Decimal(0),
        "tax_amount": Decimal(0), "amount": Decimal("10") * lines,
        "posted_at": dt.datetime(2026, 1, 31, 23, 0, tzinfo=dt.UTC)}
    rows = [{"description": f"Tracker with a long description that has to wrap × {n}",
             "quantity": Decimal(1), "unit_price": Decimal("10.00"), "amount": Decimal("10.00"),
             "discount_amount": Decimal(0), "tax_amount": Decimal(0),
             "service_period_start": dt.date(2026, 1, 1),
             "service_period_end": dt.date(2026, 1, 31)} for n in range(lines)]
    return Document(invoice, rows, [])  # type: ignore[arg-type]


def test_the_same_invoice_renders_the_same_bytes() -> None:
    assert render(_document(3)) == render(_document(3))
    assert render(_document(3)) != render(_document(3, "DRAFT"))


def test_a_long_invoice_spans_pages_with_its_headings_on_each() -> None:
    reader = PdfReader(io.BytesIO(render(_document(120))))
    assert len(reader.pages) > 2
    texts = [page.extract_text() for page in reader.pages]
    assert all("Unit price" in t for t in texts[:-1])
    assert sum(t.count("x ") for t in texts) >= 120  # × printed as x (Latin-1 fonts)
    assert "1200.00 EUR" in texts[-1] and "?saka Logistics" in texts[0]


def test_money_uses_the_currency_s_minor_units() -> None:
    assert (money(Decimal("1028.1"), "USD"), money(Decimal("1000.4"), "JPY")) == (
        "1028.10", "1000")
