"""What changing a password means, whoever changes it (a reset link, an operator, later the user signed in)."""

from __future__ import annotations

from datetime import datetime

from application.identity import topics
from application.identity.ports import IdentityUnitOfWork
from application.shared.ports import OutboxMessage
from domain.identity.model import TokenPurpose, User


async def replace_password(uow: IdentityUnitOfWork, user: User, password_hash: str, now: datetime) -> int:
    """Give `user` the new password and leave nothing of the old credentials alive: every session revoked,
    every reset link still out there discarded, and the owner told by email (in the same transaction). Returns
    how many sessions were revoked. The caller updates the user and commits."""
    user.password_hash = password_hash
    sessions = await uow.sessions.list_active_for_user(user.id)
    for session in sessions:
        session.revoke(now)
        await uow.sessions.update(session)
    for link in await uow.tokens.list_unused_for_user(user.id, TokenPurpose.RESET_PASSWORD):
        link.discard(now)
        await uow.tokens.update(link)
    payload = {"user_id": str(user.id)}
    await uow.outbox.add(OutboxMessage(topic=topics.PASSWORD_CHANGED_EMAIL, payload=payload, created_at=now))
    return len(sessions)
