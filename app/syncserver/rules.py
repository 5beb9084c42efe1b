"""Which kinds of record merge how (protocol v1, "Records").

- Mutable kinds (and any kind not named here): base version + hybrid logical clock; the loser
  of a conflict is kept.
- Immutable kinds: written once; identical re-pushes are no-ops, different content is rejected.
- ``run``: forward-only by the rank of ``data.state`` (or ``data.status``); a run in a terminal
  state is fixed. ``running`` and ``paused`` share a rank, so a paused run may resume.

A tombstone (``deleted: true``) of an immutable record or a run always applies, so a teacher can
delete a class and everything in it everywhere; a deleted immutable record stays deleted. A
tombstone of a mutable record follows the mutable rule (a later edit elsewhere wins and the
deletion is listed as the loser, so nothing vanishes unseen).
"""

from __future__ import annotations

from typing import Any

MUTABLE_KINDS = frozenset({"class", "student", "assignment", "setting", "batch", "essay"})
IMMUTABLE_KINDS = frozenset({"verdict", "anchor_set_version", "scale_version"})
RUN_KIND = "run"

#: Rank of a run state; a push may keep or raise it, never lower it.
RUN_RANK: dict[str, int] = {
    "queued": 0,
    "created": 0,
    "awaiting_student_confirmation": 0,
    "running": 1,
    "paused": 1,
    "finished": 2,
    "complete": 2,
    "completed": 2,
    "failed": 2,
    "cancelled": 2,
}
TERMINAL_RANK = 2


def run_state(data: dict[str, Any]) -> str | None:
    value = data.get("state", data.get("status"))
    return value if isinstance(value, str) else None


def run_rank(data: dict[str, Any]) -> int:
    """Rank of the run's state; an unknown or missing state counts as not yet terminal (1)."""
    state = run_state(data)
    return RUN_RANK.get(state, 1) if state is not None else 1
