"""Accounts, passwords, access tokens and rotating refresh tokens.

- Passwords: argon2id (memory-hard) through argon2-cffi; an unknown e-mail still costs one hash
  so timing does not reveal which addresses have accounts.
- Sign-in attempts are written before the password is checked and counted per e-mail and per
  client address over a sliding window; at ``signin_limit`` failed attempts for one e-mail (or
  ``signin_address_limit`` for one address) the answer is 429
  ``too_many_attempts`` until the window has passed. Kept in the database, so every instance of
  the service sees the same counts.
- Access token: a JWT with ``sub``, ``org``, ``roles``, ``iat``, ``exp``, ``iss``; verification
  accepts only ``[settings.jwt_algorithm]`` and requires ``exp``.
- Refresh token: 32 random bytes; the database keeps only its SHA-256. Each use rotates it (the
  old one is marked used in the same atomic UPDATE that checks it was unused); presenting a used
  or revoked token revokes its whole family (401 ``token_reused``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, and_, delete, func, insert, select, update

from app.syncserver.errors import ApiError, bad_request, unauthorized
from app.syncserver.models import refresh_tokens, signin_attempts, users
from app.syncserver.scopes import KNOWN_ROLES, Principal
from app.syncserver.settings import Settings


def now_utc() -> datetime:
    return datetime.now(UTC)


def password_hasher(settings: Settings) -> PasswordHasher:
    p = settings.argon2
    return PasswordHasher(
        time_cost=p.time_cost, memory_cost=p.memory_kib, parallelism=p.parallelism
    )


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    engine: Engine, settings: Settings, email: str, password: str, org: str, roles: list[str]
) -> int:
    """Insert an account; ``ValueError`` for a bad role, a short password or a taken e-mail."""
    email = normalise_email(email)
    if "@" not in email:
        raise ValueError(f"{email!r} is not an e-mail address")
    bad = [r for r in roles if r not in KNOWN_ROLES]
    if bad or not roles:
        raise ValueError(f"roles must be among {sorted(KNOWN_ROLES)}, got {roles}")
    if len(password) < 8:
        raise ValueError("the password must have at least 8 characters")
    if not org or ":" in org:
        raise ValueError("the organisation id must be non-empty and without ':'")
    digest = password_hasher(settings).hash(password)
    with engine.begin() as conn:
        taken = conn.execute(select(users.c.id).where(users.c.email == email)).first()
        if taken is not None:
            raise ValueError(f"an account for {email} already exists")
        result = conn.execute(
            insert(users).values(
                email=email,
                password_hash=digest,
                org=org,
                roles=",".join(sorted(set(roles))),
                disabled=False,
                created_at=now_utc(),
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


# ---------------------------------------------------------------------------------- tokens


class TokenCodec:
    """Signs and verifies access tokens with the one configured algorithm."""

    def __init__(self, settings: Settings) -> None:
        settings.check()
        self.settings = settings
        self.algorithm = settings.jwt_algorithm
        self._jwk_client: jwt.PyJWKClient | None = None
        self._jwk_set: jwt.PyJWKSet | None = None
        self._public_key: Any = None
        if self.algorithm == "RS256":
            from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

            if settings.rsa_public_key_pem:
                self._public_key = serialization.load_pem_public_key(
                    settings.rsa_public_key_pem.encode()
                )
            elif settings.rsa_private_key_pem and not (settings.jwks_json or settings.jwks_url):
                private = serialization.load_pem_private_key(
                    settings.rsa_private_key_pem.encode(), password=None
                )
                self._public_key = private.public_key()
            if settings.jwks_json:
                self._jwk_set = jwt.PyJWKSet.from_json(settings.jwks_json)
            if settings.jwks_url:
                self._jwk_client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True)

    @property
    def can_issue(self) -> bool:
        if self.algorithm == "HS256":
            return True
        return bool(self.settings.rsa_private_key_pem)

    def issue(self, user_id: int, org: str, roles: list[str]) -> str:
        now = now_utc()
        claims = {
            "sub": str(user_id),
            "org": org,
            "roles": roles,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.settings.access_ttl_s)).timestamp()),
            "iss": self.settings.jwt_issuer,
        }
        if self.settings.jwt_audience:
            claims["aud"] = self.settings.jwt_audience
        headers = {"kid": self.settings.jwt_key_id} if self.settings.jwt_key_id else None
        if self.algorithm == "HS256":
            assert self.settings.jwt_secret is not None
            return jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256", headers=headers)
        if not self.settings.rsa_private_key_pem:
            raise ApiError(
                400, "signin_disabled", "This server accepts tokens from the school's sign-in."
            )
        return jwt.encode(
            claims, self.settings.rsa_private_key_pem, algorithm="RS256", headers=headers
        )

    def _verification_key(self, token: str) -> Any:
        if self.algorithm == "HS256":
            return self.settings.jwt_secret
        if self._public_key is not None:
            return self._public_key
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if self._jwk_set is not None:
            keys = self._jwk_set.keys
            for k in keys:
                if kid is None or k.key_id == kid:
                    return k.key
            raise unauthorized("The sign-in key of this token is unknown.")
        assert self._jwk_client is not None
        return self._jwk_client.get_signing_key_from_jwt(token).key

    def verify(self, token: str) -> Principal:
        """The caller of a valid token; 401 ``token_expired`` / ``unauthorized`` otherwise."""
        try:
            key = self._verification_key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_required_issuer,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized("The sign-in has expired.", "token_expired") from exc
        except ApiError:
            raise
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise unauthorized("The sign-in token is not valid.") from exc
        roles = claims.get("roles") or []
        if isinstance(roles, str):
            roles = [roles]
        org = claims.get("org")
        if not isinstance(org, str) or not isinstance(roles, list):
            raise unauthorized("The sign-in token lacks the organisation or roles.")
        return Principal(user_id=str(claims["sub"]), org=org, roles=frozenset(map(str, roles)))

    def jwks(self) -> dict[str, Any] | None:
        """The public key as a JWKS document (RS256 with a key of our own), else None."""
        if self.algorithm != "RS256" or self._public_key is None:
            return None
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._public_key))
        jwk.update({"alg": "RS256", "use": "sig"})
        if self.settings.jwt_key_id:
            jwk["kid"] = self.settings.jwt_key_id
        return {"keys": [jwk]}


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class AuthService:
    """Sign-in and refresh against the database."""

    engine: Engine
    settings: Settings
    codec: TokenCodec

    def __post_init__(self) -> None:
        self._hasher = password_hasher(self.settings)
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def _session(self, conn: Any, user: Any, device_id: str, family: str) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(32)
        now = now_utc()
        conn.execute(
            insert(refresh_tokens).values(
                token_hash=_hash_token(refresh),
                family=family,
                user_id=user.id,
                device_id=device_id,
                created_at=now,
                expires_at=now + timedelta(seconds=self.settings.refresh_ttl_s),
                used_at=None,
                revoked=False,
            )
        )
        roles = [r for r in str(user.roles).split(",") if r]
        return {
            "access_token": self.codec.issue(int(user.id), str(user.org), roles),
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.settings.access_ttl_s,
            "user": {"id": str(user.id), "org": str(user.org), "roles": roles},
        }

    def signin(self, email: str, password: str, device_id: str, address: str) -> dict[str, Any]:
        email = normalise_email(email)
        now = now_utc()
        window_start = now - timedelta(seconds=self.settings.signin_window_s)
        with self.engine.begin() as conn:
            conn.execute(
                delete(signin_attempts).where(signin_attempts.c.at < now - timedelta(days=1))
            )
            attempt_id = conn.execute(
                insert(signin_attempts).values(email=email, address=address, at=now, ok=False)
            ).inserted_primary_key[0]  # type: ignore[index]
        with self.engine.connect() as conn:
            failed = signin_attempts.c.ok.is_(False)
            recent = signin_attempts.c.at >= window_start
            before = signin_attempts.c.id < attempt_id
            by_email = conn.execute(
                select(func.count()).where(
                    and_(signin_attempts.c.email == email, recent, failed, before)
                )
            ).scalar_one()
            by_address = conn.execute(
                select(func.count()).where(
                    and_(signin_attempts.c.address == address, recent, failed, before)
                )
            ).scalar_one()
            user = conn.execute(select(users).where(users.c.email == email)).first()
        limited = by_email >= self.settings.signin_limit
        if limited or by_address >= self.settings.signin_address_limit:
            # A refused attempt does not count itself, so the wait ends one window after the
            # last real failure instead of growing with every retry.
            with self.engine.begin() as conn:
                conn.execute(delete(signin_attempts).where(signin_attempts.c.id == attempt_id))
            minutes = max(1, self.settings.signin_window_s // 60)
            raise ApiError(
                429,
                "too_many_attempts",
                f"Too many sign-in attempts. Wait {minutes} minutes and try again.",
            )
        ok = False
        try:
            ok = self._hasher.verify(user.password_hash if user else self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None or user.disabled:
            raise unauthorized("The e-mail address or the password is wrong.", "bad_credentials")
        with self.engine.begin() as conn:
            conn.execute(
                update(signin_attempts).where(signin_attempts.c.id == attempt_id).values(ok=True)
            )
            return self._session(conn, user, device_id, secrets.token_hex(16))

    def refresh(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise bad_request("refresh_token is required")
        digest = _hash_token(token)
        now = now_utc()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(refresh_tokens).where(refresh_tokens.c.token_hash == digest)
            ).first()
            if row is None:
                raise unauthorized("The sign-in is not known; please sign in again.")
            taken = conn.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.id == row.id,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.revoked.is_(False),
                )
                .values(used_at=now)
            ).rowcount
            reused = taken != 1
        if reused:
            with self.engine.begin() as conn:
                conn.execute(
                    update(refresh_tokens)
                    .where(refresh_tokens.c.family == row.family)
                    .values(revoked=True)
                )
            raise unauthorized(
                "This sign-in was already used elsewhere, so it has been ended on every device "
                "for safety. Please sign in again.",
                "token_reused",
            )
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        if expires <= now:
            raise unauthorized("The sign-in has expired; please sign in again.", "token_expired")
        with self.engine.begin() as conn:
            user = conn.execute(select(users).where(users.c.id == row.user_id)).first()
            if user is None or user.disabled:
                raise unauthorized("This account is closed.")
            return self._session(conn, user, row.device_id, row.family)
