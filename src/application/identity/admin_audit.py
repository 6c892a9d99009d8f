"""GET /api/admin/audit: the audit log, newest first, for admins only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from application.identity.dto import Principal
from application.identity.guards import require_admin
from application.identity.ports import IdentityUnitOfWork
from application.shared.audit import AuditEntry, AuditQuery
from application.shared.pagination import check_limit, decode_cursor, next_cursor


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: Sequence[AuditEntry]
    next_cursor: str | None


class ListAuditEntries:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(
        self, principal: Principal, query: AuditQuery, limit: int = 20, cursor: str | None = None
    ) -> AuditPage:
        require_admin(principal)
        check_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        async with self._uow_factory() as uow:
            entries = await uow.audit.list(query, limit + 1, before)
        return AuditPage(entries[:limit], next_cursor(entries, limit, lambda entry: (entry.created_at, entry.id)))
