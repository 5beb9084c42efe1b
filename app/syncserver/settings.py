"""The service's settings: database, token signing, limits. Built by the command line or tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: The only signing algorithms the service knows; a token must use the configured one.
Algorithm = Literal["HS256", "RS256"]


@dataclass(frozen=True)
class Argon2Params:
    """argon2id cost: ``memory_kib`` of memory, ``time_cost`` passes, ``parallelism`` lanes.

    The defaults are argon2-cffi's (64 MiB, 3 passes, 4 lanes); tests lower them.
    """

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


@dataclass(frozen=True)
class Settings:
    """Everything :func:`app.syncserver.app.create_app` needs.

    Token signing: ``jwt_algorithm`` HS256 uses ``jwt_secret``; RS256 signs with
    ``rsa_private_key_pem`` (needed only to issue tokens at sign-in) and verifies with
    ``rsa_public_key_pem``, a JWKS document (``jwks_json``) or a JWKS URL (``jwks_url``, fetched
    and cached). Verification accepts only ``[jwt_algorithm]``.
    """

    db_url: str
    #: Optional read replica for pulls, conflict lists and text downloads (streaming replicas
    #: replay commits in order, so paging by seq there is as safe as on the primary).
    read_db_url: str | None = None
    jwt_algorithm: Algorithm = "HS256"
    jwt_secret: str | None = None
    rsa_private_key_pem: str | None = None
    rsa_public_key_pem: str | None = None
    jwks_json: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str = "huleedu-sync"
    jwt_key_id: str | None = None
    #: When set, tokens must carry this ``aud`` (tokens from a school's own sign-in service).
    jwt_audience: str | None = None
    #: When set, tokens must carry this ``iss``.
    jwt_required_issuer: str | None = None
    access_ttl_s: int = 900
    refresh_ttl_s: int = 60 * 60 * 24 * 30
    signin_limit: int = 10
    signin_address_limit: int = 10
    signin_window_s: int = 300
    max_clock_skew_ms: int = 5 * 60 * 1000
    max_changes: int = 1000
    max_body_bytes: int = 8 * 1024 * 1024
    max_page: int = 5000
    argon2: Argon2Params = field(default_factory=Argon2Params)
    pool_size: int = 8
    #: Stored push responses older than this are pruned (a later retry of such a push is still
    #: applied once: identical changes are no-ops).
    push_retention_days: int = 14

    def check(self) -> None:
        """Raise ``ValueError`` naming what is missing for the chosen algorithm."""
        if self.jwt_algorithm == "HS256":
            if not self.jwt_secret or len(self.jwt_secret) < 32:
                raise ValueError("HS256 needs a secret of at least 32 characters")
        elif self.jwt_algorithm == "RS256":
            keys = [self.rsa_public_key_pem, self.jwks_json, self.jwks_url]
            keys.append(self.rsa_private_key_pem)
            if not any(keys):
                raise ValueError("RS256 needs a public key, a JWKS file or URL, or a private key")
        else:  # pragma: no cover - Literal guards this
            raise ValueError(f"unknown algorithm {self.jwt_algorithm}")
