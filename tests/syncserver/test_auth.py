"""Tokens: 401 for bad or expired ones, refresh rotation, reuse revokes the family, RS256."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.syncserver.app import create_app
from app.syncserver.db import make_engine
from app.syncserver.serve import ServerThread
from tests.pgcluster import TEST_SECRET, SyncService, make_settings
from tests.syncserver.wire import signin


def _get_scopes(url: str, token: str) -> httpx.Response:
    return httpx.get(url + "/v1/scopes", headers={"Authorization": f"Bearer {token}"})


def _claims(uid: int, exp_offset: int) -> dict[str, object]:
    now = int(time.time())
    return {
        "sub": str(uid),
        "org": "school1",
        "roles": ["teacher"],
        "iat": now,
        "exp": now + exp_offset,
    }


def test_missing_bad_and_expired_tokens_are_401(sync_service: SyncService) -> None:
    uid = sync_service.create_user("tok@example.org", "password one")
    url = sync_service.url
    r = httpx.get(url + "/v1/scopes")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert _get_scopes(url, "not-a-jwt").json()["error"] == "unauthorized"
    forged = jwt.encode(_claims(uid, 600), "another-secret-another-secret-another", "HS256")
    r = _get_scopes(url, forged)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    expired = jwt.encode(_claims(uid, -10), TEST_SECRET, "HS256")
    r = _get_scopes(url, expired)
    assert r.status_code == 401 and r.json()["error"] == "token_expired"
    # "none" and algorithms outside the configured list are refused.
    unsigned = jwt.encode(_claims(uid, 600), None, algorithm="none")  # type: ignore[arg-type]
    assert _get_scopes(url, unsigned).status_code == 401
    hs512 = jwt.encode(_claims(uid, 600), TEST_SECRET + "-longer-for-hs512-0123456789", "HS512")
    assert _get_scopes(url, hs512).status_code == 401
    no_exp = jwt.encode({"sub": str(uid), "org": "school1", "roles": [], "iat": 1}, TEST_SECRET)
    assert _get_scopes(url, no_exp).status_code == 401
    good = jwt.encode(_claims(uid, 600), TEST_SECRET, "HS256")
    assert _get_scopes(url, good).status_code == 200


def test_refresh_rotates_and_reuse_revokes_the_family(sync_service: SyncService) -> None:
    sync_service.create_user("rot@example.org", "password two")
    url = sync_service.url
    first = signin(url, "rot@example.org", "password two", device="laptop")
    r = httpx.post(url + "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _get_scopes(url, second["access_token"]).status_code == 200
    # The rotated-away token is a reuse: 401 token_reused, and the whole family ends.
    r = httpx.post(url + "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401 and r.json()["error"] == "token_reused"
    r = httpx.post(url + "/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401 and r.json()["error"] == "token_reused"
    # Another sign-in (another family) is unaffected.
    other = signin(url, "rot@example.org", "password two", device="home")
    r = httpx.post(url + "/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 200
    r = httpx.post(url + "/v1/auth/refresh", json={"refresh_token": "made-up"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def test_concurrent_refresh_of_one_token_succeeds_at_most_once(sync_service: SyncService) -> None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    sync_service.create_user("race@example.org", "password three")
    url = sync_service.url
    token = signin(url, "race@example.org", "password three")["refresh_token"]

    def go(_: int) -> int:
        return httpx.post(url + "/v1/auth/refresh", json={"refresh_token": token}).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(go, range(4)))
    assert codes.count(200) <= 1
    assert all(c in (200, 401) for c in codes)


def test_expired_refresh_token(pg_database_url: str) -> None:
    settings = make_settings(pg_database_url, refresh_ttl_s=0)
    engine = make_engine(settings.db_url)
    from app.syncserver.auth import create_user  # noqa: PLC0415

    create_user(engine, settings, "old@example.org", "password four", "school1", ["teacher"])
    with ServerThread(create_app(settings, engine)) as server:
        session = signin(server.url, "old@example.org", "password four")
        r = httpx.post(
            server.url + "/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
        )
        assert r.status_code == 401 and r.json()["error"] == "token_expired"
    engine.dispose()


@pytest.fixture(scope="module")
def rsa_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    yield private, public, tmp_path_factory.mktemp("keys")


def test_rs256_signs_verifies_and_publishes_jwks(
    pg_database_url: str, rsa_keys: tuple[str, str, Path]
) -> None:
    private, public, _ = rsa_keys
    from app.syncserver.auth import create_user  # noqa: PLC0415

    issuer_settings = make_settings(
        pg_database_url,
        jwt_algorithm="RS256",
        jwt_secret=None,
        rsa_private_key_pem=private,
        jwt_key_id="k1",
    )
    engine = make_engine(issuer_settings.db_url)
    create_user(engine, issuer_settings, "rsa@example.org", "password five", "school1", ["lead"])
    with ServerThread(create_app(issuer_settings, engine)) as issuer:
        session = signin(issuer.url, "rsa@example.org", "password five")
        token = session["access_token"]
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        assert _get_scopes(issuer.url, token).status_code == 200
        # An HS256 token "signed" with the public key (algorithm confusion) is refused.
        confused = jwt.encode(_claims(1, 600), TEST_SECRET, "HS256")
        assert _get_scopes(issuer.url, confused).status_code == 401
        jwks = httpx.get(issuer.url + "/v1/auth/jwks").json()
        assert jwks["keys"][0]["kid"] == "k1" and jwks["keys"][0]["alg"] == "RS256"

        # A second service verifies the same tokens from a public key, a JWKS file, a JWKS URL.
        variants = [
            {"rsa_public_key_pem": public},
            {"jwks_json": httpx.get(issuer.url + "/v1/auth/jwks").text},
            {"jwks_url": issuer.url + "/v1/auth/jwks"},
        ]
        for extra in variants:
            settings = make_settings(
                pg_database_url, jwt_algorithm="RS256", jwt_secret=None, **extra
            )
            with ServerThread(create_app(settings, engine)) as verifier:
                assert _get_scopes(verifier.url, token).status_code == 200, extra
                assert _get_scopes(verifier.url, confused).status_code == 401, extra
                # Without a private key this instance cannot issue tokens itself.
                r = httpx.post(
                    verifier.url + "/v1/auth/signin",
                    json={"email": "rsa@example.org", "password": "password five"},
                )
                assert r.status_code == 400 and r.json()["error"] == "signin_disabled"
    # A token from another RSA key is refused.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode(_claims(1, 600), other, "RS256")
    settings = make_settings(
        pg_database_url, jwt_algorithm="RS256", jwt_secret=None, rsa_public_key_pem=public
    )
    with ServerThread(create_app(settings, engine)) as verifier:
        assert _get_scopes(verifier.url, foreign).status_code == 401
    engine.dispose()


def test_tokens_from_a_schools_sign_in_service_with_audience_and_issuer(
    pg_database_url: str, rsa_keys: tuple[str, str, Path]
) -> None:
    """Tokens made elsewhere (the school's identity provider) with RS256, aud and iss."""
    private, public, _ = rsa_keys
    settings = make_settings(
        pg_database_url,
        jwt_algorithm="RS256",
        jwt_secret=None,
        rsa_public_key_pem=public,
        jwt_audience="huleedu-sync",
        jwt_required_issuer="https://idp.school.example",
    )
    engine = make_engine(settings.db_url)
    now = int(time.time())
    base = {"sub": "ext-7", "org": "school1", "roles": ["teacher"], "iat": now, "exp": now + 60}
    good = {**base, "aud": "huleedu-sync", "iss": "https://idp.school.example"}
    with ServerThread(create_app(settings, engine)) as server:
        r = _get_scopes(server.url, jwt.encode(good, private, "RS256"))
        assert r.status_code == 200
        assert {"scope": "user:ext-7", "can_write": True} in r.json()["scopes"]
        for bad in (
            {**good, "aud": "another-service"},
            {**good, "iss": "https://evil.example"},
            base,
        ):
            assert _get_scopes(server.url, jwt.encode(bad, private, "RS256")).status_code == 401
    engine.dispose()
