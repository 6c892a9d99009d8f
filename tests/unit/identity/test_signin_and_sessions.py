"""Signing in, bearer tokens, refresh rotation and signing out (API.md Identity; RELIABILITY.md A1, A4, A7..A11)."""

from __future__ import annotations

import jwt
import pytest

from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from adapters.security.jwt import JwtTokenIssuer
from application.identity.authenticate import Authenticate
from application.identity.refresh_session import RefreshSession
from application.identity.sign_in import SignIn, SignInRequest
from domain.identity.errors import InvalidCredentials, Unauthenticated
from domain.identity.model import Role
from tests.support.identity import PASSWORD, SECRET_KEY, IdentityKit, build_identity_kit

ALICE = "alice@example.com"
OTHER_SECRET_KEY = "another-unit-tests-secret-key-fedcba9876543210"


async def test_signing_in_returns_tokens_that_authenticate_the_user(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)

    tokens = await kit.sign_in(SignInRequest(email=" Alice@EXAMPLE.com", password=PASSWORD))

    assert tokens.user.email == ALICE
    assert tokens.expires_in == kit.issuer.access_ttl_seconds
    assert tokens.access_token != tokens.refresh_token
    principal = await kit.authenticate(tokens.access_token)
    assert principal.user.id == tokens.user.id
    assert principal.session_id is not None


async def test_an_unverified_user_may_sign_in(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)

    principal = await kit.principal(ALICE)

    assert not principal.user.email_verified


async def test_wrong_password_and_unknown_email_get_the_same_refusal(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)

    with pytest.raises(InvalidCredentials) as wrong_password:
        await kit.sign_in(SignInRequest(email=ALICE, password=PASSWORD + "x"))
    with pytest.raises(InvalidCredentials) as unknown_email:
        await kit.sign_in(SignInRequest(email="bob@example.com", password=PASSWORD))
    with pytest.raises(InvalidCredentials) as malformed_email:
        await kit.sign_in(SignInRequest(email="bob", password=PASSWORD))

    refusals = [refused.value for refused in (wrong_password, unknown_email, malformed_email)]
    assert len({(type(error), error.code, error.detail, str(error)) for error in refusals}) == 1
    assert not kit.db.table("sessions")


async def test_no_truncation_a_password_differing_in_its_last_character_is_refused(kit: IdentityKit) -> None:
    password = ("Zq7;vLm2" * 16)[:127] + "a"
    await kit.signed_up_and_verified(ALICE, password)

    with pytest.raises(InvalidCredentials):
        await kit.signed_in(ALICE, password[:-1] + "b")
    assert (await kit.signed_in(ALICE, password)).user.email == ALICE


async def test_signing_in_upgrades_an_outdated_password_hash() -> None:
    kit = build_identity_kit(hasher=Pbkdf2PasswordHasher(iterations=1))
    await kit.signed_up_and_verified(ALICE)
    stronger = SignIn(kit.uow_factory, Pbkdf2PasswordHasher(iterations=2), kit.issuer, kit.clock)

    await stronger(SignInRequest(email=ALICE, password=PASSWORD))

    user = await kit.stored_user(ALICE)
    assert user is not None
    assert user.password_hash.startswith("pbkdf2$2$")
    assert (await stronger(SignInRequest(email=ALICE, password=PASSWORD))).user.password_hash == user.password_hash
    with pytest.raises(InvalidCredentials):
        await stronger(SignInRequest(email=ALICE, password=PASSWORD + "x"))


async def test_refreshing_rotates_the_refresh_token(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    first = await kit.signed_in(ALICE)

    second = await kit.refresh(first.refresh_token)

    assert second.refresh_token != first.refresh_token
    assert (await kit.authenticate(second.access_token)).user.email == ALICE
    third = await kit.refresh(second.refresh_token)
    assert (await kit.authenticate(third.access_token)).user.email == ALICE


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    first = await kit.signed_in(ALICE)
    other_device = await kit.signed_in(ALICE)
    second = await kit.refresh(first.refresh_token)

    with pytest.raises(Unauthenticated):
        await kit.refresh(first.refresh_token)

    with pytest.raises(Unauthenticated):
        await kit.refresh(second.refresh_token)
    for access in (first.access_token, second.access_token):
        with pytest.raises(Unauthenticated):
            await kit.authenticate(access)
    assert (await kit.authenticate(other_device.access_token)).user.email == ALICE
    assert (await kit.refresh(other_device.refresh_token)).user.email == ALICE


async def test_a_refresh_token_is_not_an_access_token(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    tokens = await kit.signed_in(ALICE)

    with pytest.raises(Unauthenticated):
        await kit.authenticate(tokens.refresh_token)


async def test_an_access_token_is_not_a_refresh_token(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    tokens = await kit.signed_in(ALICE)

    with pytest.raises(Unauthenticated):
        await kit.refresh(tokens.access_token)
    assert (await kit.refresh(tokens.refresh_token)).user.email == ALICE


@pytest.mark.parametrize("send_refresh_token", [True, False], ids=["with-refresh-token", "bearer-only"])
async def test_signing_out_ends_that_session_only(kit: IdentityKit, send_refresh_token: bool) -> None:
    await kit.signed_up_and_verified(ALICE)
    laptop = await kit.signed_in(ALICE)
    phone = await kit.signed_in(ALICE)

    principal = await kit.authenticate(laptop.access_token)
    await kit.sign_out(principal, laptop.refresh_token if send_refresh_token else None)

    with pytest.raises(Unauthenticated):
        await kit.authenticate(laptop.access_token)
    with pytest.raises(Unauthenticated):
        await kit.refresh(laptop.refresh_token)
    assert (await kit.authenticate(phone.access_token)).user.email == ALICE
    assert (await kit.refresh(phone.refresh_token)).user.email == ALICE


async def test_signing_out_cannot_end_another_users_session(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    await kit.signed_up_and_verified("bob@example.com")
    alice = await kit.signed_in(ALICE)
    bob = await kit.principal("bob@example.com")

    await kit.sign_out(bob, alice.refresh_token)

    assert (await kit.authenticate(alice.access_token)).user.email == ALICE
    assert (await kit.refresh(alice.refresh_token)).user.email == ALICE


async def test_tokens_signed_with_a_retired_key_verify_while_it_is_listed_as_old() -> None:
    kit = build_identity_kit(issuer=JwtTokenIssuer(SECRET_KEY))
    await kit.signed_up_and_verified(ALICE)
    tokens = await kit.signed_in(ALICE)
    rotated = JwtTokenIssuer(OTHER_SECRET_KEY, old_secrets=[SECRET_KEY])

    assert (await Authenticate(kit.uow_factory, rotated, kit.clock)(tokens.access_token)).user.email == ALICE
    renewed = await RefreshSession(kit.uow_factory, rotated, kit.clock)(tokens.refresh_token)

    forgotten = JwtTokenIssuer(OTHER_SECRET_KEY)
    with pytest.raises(Unauthenticated):
        await Authenticate(kit.uow_factory, forgotten, kit.clock)(tokens.access_token)
    assert (await Authenticate(kit.uow_factory, forgotten, kit.clock)(renewed.access_token)).user.email == ALICE


async def test_a_token_signed_with_an_unknown_key_is_refused(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    principal = await kit.principal(ALICE)
    assert principal.session_id is not None
    stranger = JwtTokenIssuer(OTHER_SECRET_KEY)

    with pytest.raises(Unauthenticated):
        await kit.authenticate(stranger.issue_access(principal.user.id, principal.session_id, Role.USER))


async def test_an_unsigned_alg_none_token_is_refused(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    tokens = await kit.signed_in(ALICE)
    header = jwt.get_unverified_header(tokens.access_token)
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})

    forged = jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]})

    with pytest.raises(Unauthenticated):
        await kit.authenticate(forged)


async def test_a_token_whose_claims_were_edited_is_refused(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    tokens = await kit.signed_in(ALICE)
    header, _payload, signature = tokens.access_token.split(".")
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    promoted = jwt.encode({**claims, "role": "admin"}, "any-key-will-do-for-the-payload-part", algorithm="HS256")

    with pytest.raises(Unauthenticated):
        await kit.authenticate(f"{header}.{promoted.split('.')[1]}.{signature}")


async def test_a_token_for_another_audience_is_refused(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    principal = await kit.principal(ALICE)
    assert principal.session_id is not None
    elsewhere = JwtTokenIssuer(SECRET_KEY, audience="another-service")

    with pytest.raises(Unauthenticated):
        await kit.authenticate(elsewhere.issue_access(principal.user.id, principal.session_id, Role.USER))


async def test_an_expired_access_token_is_refused(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    principal = await kit.principal(ALICE)
    assert principal.session_id is not None
    expired = JwtTokenIssuer(SECRET_KEY, access_ttl_seconds=-1)

    with pytest.raises(Unauthenticated):
        await kit.authenticate(expired.issue_access(principal.user.id, principal.session_id, Role.USER))


@pytest.mark.parametrize("credential", ["", "garbage", "a.b.c", "prl_not-a-key-we-issued"])
async def test_a_malformed_credential_is_refused(kit: IdentityKit, credential: str) -> None:
    with pytest.raises(Unauthenticated):
        await kit.authenticate(credential)
