"""What changing a password means, whoever changes it (a reset link, an operator, the user signed in), and what
opening a session means (sign-in, and the fresh session a password change hands back)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from application.identity import topics
from application.identity.dto import TokenPair
from application.identity.ports import IdentityUnitOfWork
from application.shared.ports import OutboxMessage
from domain.identity.model import Session, TokenPurpose, User
from domain.identity.ports import TokenIssuer
from domain.identity.secrets import hash_secret
from domain.shared.ids import new_id


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


async def open_session(
    uow: IdentityUnitOfWork, issuer: TokenIssuer, user: User, now: datetime
) -> tuple[UUID, TokenPair]:
    """Start a new session (a refresh family) for `user` and return its id and first token pair. Only the refresh
    token's hash is stored. The caller commits; the tokens are worthless unless it does."""
    session = Session(
        id=new_id(),
        user_id=user.id,
        refresh_token_hash="",
        created_at=now,
        expires_at=now + timedelta(seconds=issuer.refresh_ttl_seconds),
    )
    refresh = issuer.issue_refresh(user.id, session.id)
    session.refresh_token_hash = hash_secret(refresh)
    await uow.sessions.add(session)
    access = issuer.issue_access(user.id, session.id, user.role)
    return session.id, TokenPair(access, refresh, issuer.access_ttl_seconds, user)
