"""GET /invoices/{id}.pdf: an invoice's PDF document (SPEC §13, `Invoice.pdfUrl`).

Authenticated like /graphql — `Authorization: Bearer KEY` (a READ key will do), HTTP 401
without a valid key, the tenant's rate limit — and isolated like every query: an unknown
id, a malformed one or another tenant's invoice is HTTP 404 NOT_FOUND.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from billgraph.graphql_app import bearer, error_response, rate_limited, unauthenticated, unavailable
from billgraph.services import invoice_document
from billgraph.services.errors import ErrorCode, NotFound
from billgraph.services.numbers import parse_uuid
from billgraph.state import AppState

log = logging.getLogger(__name__)


def invoice_pdf_route(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    """The route's endpoint, on the process's state."""

    async def invoice_pdf(request: Request) -> Response:
        token = bearer(request.headers.get("authorization"))
        if token is None:
            return unauthenticated("missing API key: send Authorization: Bearer KEY")
        try:
            principal = await state.authenticate(token)
        except Exception:
            log.warning("cannot authenticate: the database is unavailable", exc_info=True)
            return unavailable("-")
        if principal is None:
            return unauthenticated("invalid, expired or revoked API key")
        headers: dict[str, str] = {}
        if state.limiter.enabled:
            decision = state.limiter.take(principal.tenant_id)
            if not decision.allowed:
                return rate_limited(decision, state.limiter.rate)
            headers = decision.headers()
        raw = request.path_params["invoice_id"]
        invoice_id = parse_uuid(raw)
        not_found = error_response(404, ErrorCode.NOT_FOUND, f"invoice {raw!r} not found")
        if invoice_id is None:
            return not_found
        try:
            pdf = await invoice_document.invoice_pdf(state, principal.tenant_id, invoice_id)
        except NotFound:
            return not_found
        return Response(pdf, media_type="application/pdf", headers={
            **headers, "Content-Disposition": f'inline; filename="{invoice_id}.pdf"',
            "Cache-Control": "private, no-cache"})

    return invoice_pdf
