"""Invoice.pdfUrl and GET /invoices/{id}.pdf (SPEC §13): the document's content, read back
with pypdf; its bytes stable; the same key authentication and tenant isolation as /graphql."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from tests.api.adjustment_support import apply, discount, tax_rate
from tests.api.bill_run_support import account, bill, plan, subscribe
from tests.api.billing_support import create_invoice
from tests.support import Client, LiveServer

GERMANY = {"billingAddress": {"country": "DE", "region": "BY", "city": "München",
                              "line1": "Marienplatz 1", "postalCode": "80331"}}
INVOICES = """query($id: ID!) { invoices(first: 10, filter: {accountId: $id}) { edges { node {
  id invoiceNumber status amount taxAmount pdfUrl lines { amount } } } } }"""


async def _invoices(client: Client, account_id: str) -> list[dict[str, Any]]:
    data = await client.gql(INVOICES, {"id": account_id})
    return [e["node"] for e in data["invoices"]["edges"]]


async def _get(client: Client, path: str, key: str | None = "same") -> Any:
    token = client.key if key == "same" else key
    return await client.http.get(path, headers={"Authorization": f"Bearer {token}"}
                                 if token else {})


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def _taxed_invoice(client: Client, server: LiveServer, **run: Any) -> tuple[str, str]:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"),
               ("SUPPORT", "RECURRING", "30.00", "MONTHLY"))
    await tax_rate(client, "DE-VAT", "19", "DE")
    await tax_rate(client, "BY-CITY", "2.5", "DE", "BY")
    await discount(client, "P20", "PERCENTAGE", "20", productCodes=["SEAT"])
    customer = await account(client, "Kunde GmbH", **GERMANY)
    sub = await subscribe(client, customer, "2026-01-16",
                          items=[{"productCode": "SEAT", "quantity": 3},
                                 {"productCode": "SUPPORT"}])
    await apply(client, sub["subscriptionNumber"], "P20")
    assert (await bill(client, server, "2026-02-01", **run))["status"] == "COMPLETED"
    return customer, sub["subscriptionNumber"]


async def test_the_document_shows_the_invoice_its_lines_taxes_and_total(
        client: Client, server: LiveServer) -> None:
    customer, number = await _taxed_invoice(client, server)
    [invoice] = await _invoices(client, customer)
    assert invoice["pdfUrl"] == f"/invoices/{invoice['id']}.pdf"
    response = await _get(client, invoice["pdfUrl"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = _text(response.content)
    assert invoice["invoiceNumber"] in text
    assert "Kunde GmbH" in text and "Marienplatz 1" in text and "80331" in text
    assert "DRAFT" not in text
    # the lines (the same as the billing preview test works out): 15.48, 30.00, 15.48, 30.00
    rows = [ln for ln in text.splitlines() if f"({number})" in ln]
    assert [r.split()[-1] for r in rows] == [ln["amount"] for ln in invoice["lines"]] == [
        "15.48", "30.00", "15.48", "30.00"]
    # tax per rate: 19 % of the nets 12.38, 24.00, 15.48, 30.00 = 2.35 + 4.56 + 2.94 + 5.70
    # = 15.55; 2.5 % = 0.31 + 0.60 + 0.39 + 0.75 = 2.05; total tax 17.60
    assert "Tax DE-VAT (19%) 15.55" in text and "Tax BY-CITY (2.5%) 2.05" in text
    assert f"Tax total {invoice['taxAmount']}" in text and invoice["taxAmount"] == "17.60"
    assert "Total 99.46 USD" in text and invoice["amount"] == "99.46"
    assert "2026-01-16 - 2026-01-31" in text
    # a posted invoice's document is the same, byte for byte, however often it is fetched
    again = await _get(client, invoice["pdfUrl"])
    assert again.content == response.content


async def test_a_draft_is_marked_draft(client: Client, server: LiveServer) -> None:
    customer = await account(client, "Draft customer")
    draft = await create_invoice(client, customer, "12.50", post=False)
    data = await client.gql("query($id: ID!) { invoice(id: $id) { pdfUrl status } }",
                            {"id": draft["id"]})
    assert data["invoice"]["status"] == "DRAFT"
    text = _text((await _get(client, data["invoice"]["pdfUrl"])).content)
    assert "DRAFT" in text and draft["invoiceNumber"] in text and "12.50" in text


async def test_the_document_needs_the_key_of_its_tenant(client: Client,
                                                        server: LiveServer) -> None:
    customer = await account(client, "Customer")
    invoice = await create_invoice(client, customer, "10.00")
    path = f"/invoices/{invoice['id']}.pdf"
    read = await server.create_key(client.tenant_id, "read")
    assert (await _get(client, path, key=read)).status_code == 200
    for key in (None, "not-a-key"):
        refused = await _get(client, path, key=key)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with server.new_tenant("Someone else") as other:
        hidden = await _get(other, path)
        assert hidden.status_code == 404
        assert hidden.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    for unknown in ("/invoices/not-an-id.pdf",
                    "/invoices/00000000-0000-0000-0000-000000000000.pdf"):
        assert (await _get(client, unknown)).status_code == 404


RENAME = """mutation($id: ID!, $input: UpdateAccountInput!) { updateAccount(id: $id,
  input: $input) { id } }"""


async def test_a_posted_document_never_changes(client: Client, server: LiveServer) -> None:
    customer = await account(client, "Old name", **GERMANY)
    posted = await create_invoice(client, customer, "10.00")
    draft = await create_invoice(client, customer, "5.00", post=False)
    paths = {name: f"/invoices/{inv['id']}.pdf" for name, inv in
             (("posted", posted), ("draft", draft))}
    first = {name: (await _get(client, path)).content for name, path in paths.items()}
    assert "Old name" in _text(first["posted"]) and "Old name" in _text(first["draft"])
    # the buyer is renamed and moves: the posted invoice's document stays as it was issued,
    # the draft (not yet issued) follows
    await client.gql(RENAME, {"id": customer, "input": {
        "name": "New name", "billingAddress": {"country": "DE", "city": "Berlin",
                                                "line1": "Unter den Linden 1",
                                                "postalCode": "10117"}}})
    assert (await _get(client, paths["posted"])).content == first["posted"]
    moved = _text((await _get(client, paths["draft"])).content)
    assert "New name" in moved and "Berlin" in moved and "Old name" not in moved
    # posting the draft now freezes its document with the new name; canceling the posted
    # invoice makes it another document (marked CANCELED), kept from then on
    await client.gql("mutation($id: ID!) { postInvoice(id: $id) { id } }", {"id": draft["id"]})
    posted_later = (await _get(client, paths["draft"])).content
    assert "New name" in _text(posted_later) and "DRAFT" not in _text(posted_later)
    await client.gql("mutation($id: ID!) { cancelInvoice(id: $id) { id } }",
                     {"id": posted["id"]})
    canceled = (await _get(client, paths["posted"])).content
    assert canceled != first["posted"] and "CANCELED" in _text(canceled)
    assert (await _get(client, paths["posted"])).content == canceled
    rows = await server.sql("SELECT status FROM invoice_documents WHERE tenant_id = "
                            "CAST(:t AS uuid) ORDER BY status", t=client.tenant_id)
    assert [r["status"] for r in rows] == ["CANCELED", "POSTED"]
