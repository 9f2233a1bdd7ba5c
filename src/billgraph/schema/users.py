"""Users of the tenant (named in billing terms' performedBy)."""

from __future__ import annotations

import strawberry
from sqlalchemy import RowMapping


@strawberry.type(description="A person of the tenant, named in billing terms' performedBy.")
class User:
    id: strawberry.ID
    username: str = strawberry.field(description="Unique per tenant.")

    @classmethod
    def from_row(cls, row: RowMapping) -> User:
        return cls(id=strawberry.ID(str(row["id"])), username=row["username"])
