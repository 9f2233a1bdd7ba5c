"""The invoice as a PDF document (SPEC §13), rendered with fpdf2.

Content: the seller (the tenant) and the buyer (the invoice owner: name, account number,
billing address), the invoice number, dates and status, one row per line (service
period, quantity, unit price, discount, tax, amount), the totals with the tax per rate,
and the balance due. A DRAFT (or CANCELED) invoice says so in large letters.

Rendering is deterministic: the same invoice gives the same bytes (the PDF's creation
date is the invoice's own — its posting time, else its date — and the file id is
fpdf2's hash of the content). And a posted invoice's document is kept
(invoice_documents) the first time it is fetched, so it never changes, even when the
buyer's name or address or the seller's name does later. "Balance due"
is what the invoice bills (its amount, due on the due date): what was due when it was
issued, which payments applied later do not rewrite.

The core PDF fonts cover Latin-1 only; other characters print as "?" (no font files
are shipped).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import clock
from billgraph.db.tx import Database, Writer
from billgraph.services.errors import NotFound
from billgraph.services.money import minor_units

INVOICE = text("""
SELECT i.*, t.name AS seller, a.name AS buyer, a.account_number, a.billing_line1,
       a.billing_postal_code, a.billing_city, a.billing_region, a.billing_country
FROM invoices i
JOIN tenants t ON t.id = i.tenant_id
JOIN accounts a ON a.tenant_id = i.tenant_id AND a.id = i.account_id
WHERE i.tenant_id = :t AND i.id = :id""")
LINES = text("""
SELECT description, quantity, unit_price, amount, discount_amount, tax_amount,
       service_period_start, service_period_end
FROM invoice_lines WHERE tenant_id = :t AND invoice_id = :id ORDER BY position, id""")
TAXES = text("""
SELECT r.name, r.code, lt.percentage, sum(lt.amount) AS amount
FROM invoice_line_taxes lt
JOIN invoice_lines l ON l.tenant_id = lt.tenant_id AND l.id = lt.invoice_line_id
JOIN tax_rates r ON r.tenant_id = lt.tenant_id AND r.id = lt.tax_rate_id
WHERE lt.tenant_id = :t AND l.tenant_id = :t AND l.invoice_id = :id
GROUP BY r.name, r.code, lt.percentage ORDER BY r.code, lt.percentage""")


@dataclass(frozen=True)
class Document:
    invoice: RowMapping
    lines: Sequence[RowMapping]
    taxes: Sequence[RowMapping]


async def load_document(conn: AsyncConnection, tenant_id: uuid.UUID,
                        invoice_id: uuid.UUID) -> Document:
    """What the invoice's document shows; NOT_FOUND for an unknown (or another tenant's)
    invoice."""
    params = {"t": tenant_id, "id": invoice_id}
    invoice = (await conn.execute(INVOICE, params)).mappings().first()
    if invoice is None:
        raise NotFound("invoice", invoice_id)
    lines = list((await conn.execute(LINES, params)).mappings())
    taxes = list((await conn.execute(TAXES, params)).mappings())
    return Document(invoice, lines, taxes)


# A posted (or canceled) invoice's document is rendered once and kept: later changes to
# the buyer's name or address, or the seller's name, do not reach it. A draft is
# rendered afresh each time (it may still change).
FROZEN = ("POSTED", "CANCELED")
CACHED = text("""
SELECT d.pdf FROM invoice_documents d
JOIN invoices i ON i.tenant_id = d.tenant_id AND i.id = d.invoice_id
WHERE d.tenant_id = :t AND d.invoice_id = :id AND d.status = i.status""")
KEEP = text("""
INSERT INTO invoice_documents (tenant_id, invoice_id, status, pdf, rendered_at)
VALUES (:t, :id, :status, :pdf, :now)
ON CONFLICT (tenant_id, invoice_id) DO UPDATE
    SET status = EXCLUDED.status, pdf = EXCLUDED.pdf, rendered_at = EXCLUDED.rendered_at
    WHERE invoice_documents.status <> EXCLUDED.status
RETURNING pdf""")
KEPT = text("SELECT pdf FROM invoice_documents WHERE tenant_id = :t AND invoice_id = :id")


async def invoice_pdf(db: Database, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> bytes:
    """The invoice's PDF: the one kept for its status, else rendered (in a thread: a
    10,000-line invoice takes seconds) and, once posted, kept — the first one kept wins
    when two requests render it at once. NOT_FOUND for an unknown invoice."""
    params = {"t": tenant_id, "id": invoice_id}
    async with db.read() as conn:
        cached = (await conn.execute(CACHED, params)).scalar()
        if cached is not None:
            return bytes(cached)
        document = await load_document(conn, tenant_id, invoice_id)
    pdf = await asyncio.to_thread(render, document)
    status = document.invoice["status"]
    if status not in FROZEN:
        return pdf

    async def keep(writer: Writer) -> bytes:
        stored = (await writer.conn.execute(KEEP, {**params, "status": status, "pdf": pdf,
                                                   "now": clock.now()})).scalar()
        if stored is None:  # kept meanwhile by another request, for this status
            stored = (await writer.conn.execute(KEPT, params)).scalar_one()
        return bytes(stored)

    return await db.write(tenant_id, keep)


PLAIN = str.maketrans({"−": "-", "–": "-", "—": "-", "×": "x", "’": "'", "…": "..."})


def _latin1(value: object) -> str:
    return str(value).translate(PLAIN).encode("latin-1", "replace").decode("latin-1")


def money(value: Decimal, currency: str) -> str:
    """1234.5 USD -> '1234.50': the currency's minor units, written as the API writes
    amounts (no grouping), so a figure on the page reads the same as in a response."""
    digits = minor_units(currency)
    return f"{value.quantize(Decimal(1).scaleb(-digits)):.{digits}f}"


def quantity(value: Decimal) -> str:
    text_ = format(value.normalize(), "f")
    return text_


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def _created(invoice: RowMapping) -> datetime:
    posted = invoice.get("posted_at")
    if isinstance(posted, datetime):
        return posted.astimezone(UTC)
    return datetime.combine(invoice["invoice_date"], time(0), tzinfo=UTC)


COLUMNS: tuple[tuple[str, float, str], ...] = (  # heading, width (mm), alignment
    ("Description", 58, "L"), ("Service period", 38, "L"), ("Qty", 14, "R"),
    ("Unit price", 20, "R"), ("Discount", 18, "R"), ("Tax", 16, "R"), ("Amount", 22, "R"))


class _Pdf(FPDF):
    mark = ""

    def header(self) -> None:
        if self.mark:
            self.set_font("Helvetica", "B", 40)
            self.set_text_color(200, 40, 40)
            self.set_xy(self.l_margin, 8)
            self.cell(0, 16, self.mark, align="R")
            self.set_text_color(0, 0, 0)
            self.set_xy(self.l_margin, self.t_margin)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, f"Page {self.page_no()}/{{nb}}", align="C")


def render(doc: Document) -> bytes:
    """The PDF bytes of `doc` (deterministic)."""
    inv = doc.invoice
    currency = inv["currency"]
    pdf = _Pdf(format="A4")
    pdf.set_creation_date(_created(inv))
    pdf.set_title(_latin1(f"Invoice {inv['invoice_number']}"))
    pdf.set_author(_latin1(inv["seller"]))
    pdf.set_creator("billgraph")
    pdf.set_producer("billgraph")
    pdf.set_auto_page_break(True, margin=16)
    pdf.mark = {"DRAFT": "DRAFT", "CANCELED": "CANCELED"}.get(inv["status"], "")
    pdf.add_page()

    def line(value: object, size: float = 10, style: str = "", h: float = 5) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.cell(0, h, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line("INVOICE", 20, "B", 10)
    line(inv["invoice_number"], 12, "B", 7)
    pdf.ln(2)
    top = pdf.get_y()
    line("From", 9, "B")
    line(inv["seller"])
    pdf.set_xy(110, top)
    buyer = [inv["buyer"], f"Account {inv['account_number']}", inv["billing_line1"],
             " ".join(p for p in (inv["billing_postal_code"], inv["billing_city"]) if p),
             ", ".join(p for p in (inv["billing_region"], inv["billing_country"]) if p)]
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 5, "Bill to", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    for part in buyer:
        if part:
            pdf.cell(0, 5, _latin1(part), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_x(pdf.l_margin)
    pdf.ln(4)
    for label, value in (("Invoice date", _day(inv["invoice_date"])),
                         ("Due date", _day(inv["due_date"])),
                         ("Status", inv["status"]), ("Currency", currency)):
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(30, 5, label)
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 5, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    _table(pdf, doc.lines, currency)
    pdf.ln(3)
    _totals(pdf, inv, doc.taxes, currency)
    return bytes(pdf.output())


def _width(pdf: FPDF, value: str) -> float:
    """The width of `value` in the current core font (its metrics table: fpdf2's own
    get_string_width costs ~20x more, and an invoice may have 10,000 lines)."""
    widths: dict[str, float] = pdf.current_font.cw  # type: ignore[assignment, union-attr]
    return sum((widths.get(c, 600.0) for c in value), 0.0) * pdf.font_size / 1000


def _wrap(pdf: FPDF, value: str, room: float) -> list[str]:
    """`value` broken into lines at most `room` wide at spaces (a long word is cut)."""
    if _width(pdf, value) <= room:
        return [value]
    out: list[str] = []
    current = ""
    for word in value.split(" "):
        candidate = f"{current} {word}" if current else word
        if _width(pdf, candidate) <= room:
            current = candidate
            continue
        if current:
            out.append(current)
        while _width(pdf, word) > room and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and _width(pdf, word[:cut]) > room:
                cut -= 1
            out.append(word[:cut])
            word = word[cut:]
        current = word
    out.append(current)
    return out


ROW = 4.0  # mm per text line of the table
PAD = 1.0  # mm between a column's edge and its text


def _row(pdf: FPDF, cells: Sequence[str], style: str = "", *, heading: bool = False) -> None:
    """One table row: every cell wrapped to its column, the row as high as its tallest;
    on a new page the column headings come first again."""
    pdf.set_font("Helvetica", style, 8)
    wrapped = [_wrap(pdf, _latin1(c), w - 2 * PAD)
               for c, (_, w, _) in zip(cells, COLUMNS, strict=True)]
    height = ROW * max(len(w) for w in wrapped)
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()
        if not heading:
            _headings(pdf)
        pdf.set_font("Helvetica", style, 8)
    y = pdf.get_y()
    x = pdf.l_margin
    for parts, (_, width, align) in zip(wrapped, COLUMNS, strict=True):
        for n, part in enumerate(parts):
            left = x + width - PAD - _width(pdf, part) if align == "R" else x + PAD
            pdf.text(left, y + ROW * n + 3, part)
        x += width
    pdf.set_xy(pdf.l_margin, y + height)


def _headings(pdf: FPDF) -> None:
    _row(pdf, [c for c, _, _ in COLUMNS], "B", heading=True)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + sum(w for _, w, _ in COLUMNS),
             pdf.get_y())


def _table(pdf: FPDF, lines: Sequence[Any], currency: str) -> None:
    _headings(pdf)
    for ln in lines:
        start, end = ln["service_period_start"], ln["service_period_end"]
        period = f"{_day(start)} - {_day(end)}" if start or end else ""
        _row(pdf, [ln["description"], period, quantity(ln["quantity"]),
                   money(ln["unit_price"], currency), money(ln["discount_amount"], currency),
                   money(ln["tax_amount"], currency), money(ln["amount"], currency)])


def _totals(pdf: FPDF, inv: Any, taxes: Sequence[Any], currency: str) -> None:
    rows: list[tuple[str, str, str]] = [
        ("Subtotal", money(inv["subtotal"], currency), ""),
        ("Discount", money(-inv["discount_amount"], currency), "")]
    rows += [(f"Tax {t['name']} ({quantity(t['percentage'])}%)", money(t["amount"], currency),
              "") for t in taxes]
    rows += [("Tax total", money(inv["tax_amount"], currency), ""),
             ("Total", f"{money(inv['amount'], currency)} {currency}", "B"),
             (f"Balance due by {_day(inv['due_date'])}",
              f"{money(_due(inv), currency)} {currency}", "B")]
    for label, value, style in rows:
        pdf.set_font("Helvetica", style, 10)
        pdf.set_x(100)
        pdf.cell(60, 6, _latin1(label))
        pdf.cell(0, 6, _latin1(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _due(inv: Any) -> Decimal:
    """What the invoice asks to be paid: its amount (nothing once canceled)."""
    return Decimal(0) if inv["status"] == "CANCELED" else Decimal(inv["amount"])
