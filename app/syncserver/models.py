"""The service's tables (SQLAlchemy Core). PostgreSQL in production; SQLite for a test server.

- ``users``: one account per teacher; ``password_hash`` is argon2id; ``roles`` comma-separated.
- ``refresh_tokens``: only the SHA-256 of each token; ``family`` links a chain of rotations so a
  reused token revokes the chain; ``used_at`` marks a rotated-away token.
- ``scopes``: one counter row per scope; ``last_seq`` is taken under ``SELECT ... FOR UPDATE``
  so ``seq`` order is commit order.
- ``records``: the latest state of ``(scope, kind, key)``; ``seq`` is where it last changed.
- ``conflicts``: every losing value, never dropped; ``pushes``: idempotency by ``push_id``.
- ``blobs``: essay texts named by SHA-256 within a scope; ``signin_attempts``: rate limiting.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import BYTEA, JSONB

metadata = MetaData()

#: JSONB on PostgreSQL, JSON (text) on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
#: BIGINT primary keys autoincrement on SQLite only as INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Bytes = LargeBinary().with_variant(BYTEA(), "postgresql")

users = Table(
    "sync_users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("org", String(100), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

refresh_tokens = Table(
    "sync_refresh_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("family", String(64), nullable=False, index=True),
    Column("user_id", BigInteger, nullable=False, index=True),
    Column("device_id", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

scopes = Table(
    "sync_scopes",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("last_seq", BigInteger, nullable=False, default=0),
)

records = Table(
    "sync_records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("scope", String(200), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("key", String(300), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("hlc", String(120), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("data", Json, nullable=False),
    Column("device_id", String(200), nullable=False),
    Column("seq", BigInteger, nullable=False),
    UniqueConstraint("scope", "kind", "key", name="uq_sync_records_scope_kind_key"),
    # Unique: every change of a scope has its own seq (a safety net under the counter lock).
    Index("ix_sync_records_scope_seq", "scope", "seq", unique=True),
)

conflicts = Table(
    "sync_conflicts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("scope", String(200), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("key", String(300), nullable=False),
    Column("winner", Json, nullable=False),
    Column("loser", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_sync_conflicts_scope_id", "scope", "id"),
)

pushes = Table(
    "sync_pushes",
    metadata,
    Column("push_id", String(64), primary_key=True),
    Column("scope", String(200), nullable=False),
    Column("user_id", String(200), nullable=False),
    Column("response", Bytes, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

blobs = Table(
    "sync_blobs",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("content", Bytes, nullable=False),
    Column("size", BigInteger, nullable=False),
)

signin_attempts = Table(
    "sync_signin_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("address", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False, default=False),
    Index("ix_sync_signin_email_at", "email", "at"),
    Index("ix_sync_signin_address_at", "address", "at"),
)
