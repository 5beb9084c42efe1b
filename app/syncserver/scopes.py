"""Scopes and who may read or write them.

``user:<id>``: only that user reads and writes. ``org:<id>``: every member of the organisation
reads; ``lead`` and ``admin`` write. Anything else is 403 ``forbidden`` (a malformed scope is
400 ``bad_scope``).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.syncserver.errors import ApiError, forbidden

WRITER_ROLES = frozenset({"lead", "admin"})
KNOWN_ROLES = frozenset({"teacher", "lead", "admin"})


@dataclass(frozen=True)
class Principal:
    """The caller, from a verified access token."""

    user_id: str
    org: str
    roles: frozenset[str]


def parse_scope(scope: str) -> tuple[str, str]:
    kind, sep, ident = scope.partition(":")
    if not sep or kind not in ("user", "org") or not ident or len(scope) > 200:
        raise ApiError(400, "bad_scope", f"{scope!r} is not a scope (user:<id> or org:<id>)")
    return kind, ident


def can_read(principal: Principal, scope: str) -> bool:
    kind, ident = parse_scope(scope)
    if kind == "user":
        return ident == principal.user_id
    return ident == principal.org


def can_write(principal: Principal, scope: str) -> bool:
    kind, ident = parse_scope(scope)
    if kind == "user":
        return ident == principal.user_id
    return ident == principal.org and bool(principal.roles & WRITER_ROLES)


def require_read(principal: Principal, scope: str) -> None:
    if not can_read(principal, scope):
        raise forbidden("This account may not read that data.")


def require_write(principal: Principal, scope: str) -> None:
    if not can_read(principal, scope):
        raise forbidden("This account may not read or change that data.")
    if not can_write(principal, scope):
        raise forbidden(
            "Only a lead teacher or an administrator may change the shared data of the school."
        )


def scopes_of(principal: Principal) -> list[dict[str, object]]:
    """The ``GET /v1/scopes`` list: the user's own scope and the organisation's."""
    return [
        {"scope": f"user:{principal.user_id}", "can_write": True},
        {"scope": f"org:{principal.org}", "can_write": bool(principal.roles & WRITER_ROLES)},
    ]
