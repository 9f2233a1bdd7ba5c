"""The per-request GraphQL context: who is calling, the shared state, and the loaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from billgraph.loaders import Loaders
from billgraph.services.errors import Unauthenticated
from billgraph.services.tenants import Principal
from billgraph.state import AppState


@dataclass
class Context:
    request: Request | WebSocket
    response: Any
    state: AppState
    request_id: str
    principal: Principal | None = None
    connection_params: dict[str, Any] | None = None
    _loaders: Loaders | None = field(default=None, init=False)

    @property
    def tenant_id(self) -> uuid.UUID:
        if self.principal is None:
            raise Unauthenticated("missing or invalid API key")
        return self.principal.tenant_id

    def reset_loaders(self) -> None:
        """Forget cached rows (a websocket connection's context outlives many events)."""
        self._loaders = None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.state.read, self.tenant_id)
        return self._loaders


Info = StrawberryInfo[Context, None]
