"""The teacher's default judge settings, kept in ``<data folder>/preferences.json``.

What a new run starts from: the provider and model, the mode (one pair per request, bundles of
pairs, or the provider's batch API) and bundle size, the stopping rule (stop once the ranking
is reliable enough, or use the whole budget), the budget (None: 8 comparisons per essay) and
the concurrency. Never a key: keys live in the system keyring (:mod:`app.operations.keys`).

The file is written atomically (a temporary file in the same folder, flushed, then renamed over
the old one), so a crash leaves the old or the new file, never half of one. It is validated on
load: a missing file gives the defaults; a broken one (not JSON, wrong types, settings no run
could use) gives the defaults and a warning saying what was wrong; never an exception.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from app.operations.base import FailureKind, OperationError
from app.runs.settings import SIM_MODEL, RunSettings, SettingsError
from core.prompt import DEFAULT_BUNDLE_PAIRS

PREFERENCES_FILE = "preferences.json"
#: Comparisons per essay when the budget is automatic (as :func:`settings_for`).
AUTO_COMPARISONS_PER_ESSAY = 8


@dataclass(frozen=True)
class Preferences:
    """Default settings of a new run. ``target_reliability`` None: use the whole budget;
    ``budget`` None: 8 comparisons per essay."""

    provider: str = "sim"
    model: str = SIM_MODEL
    mode: str = "bundle"
    bundle_size: int = DEFAULT_BUNDLE_PAIRS
    base_url: str | None = None
    """Only for ``openai_compatible``: the server's address."""
    budget: int | None = None
    target_reliability: float | None = 0.80
    concurrency: int = 4

    def run_options(self) -> dict[str, Any]:
        """Options for :func:`app.operations.runs.prepare_batch_run` (and ``settings_for``)."""
        return {
            "provider": self.provider,
            "model": self.model,
            "mode": self.mode,
            "bundle_size": self.bundle_size,
            "base_url": self.base_url if self.provider == "openai_compatible" else None,
            "budget": self.budget,
            "target_reliability": self.target_reliability,
            "concurrency": self.concurrency,
        }

    def problems(self) -> str | None:
        """Why no run could use these settings (a sentence), or None."""
        try:
            RunSettings(
                **{
                    **self.run_options(),
                    "budget": self.budget if self.budget is not None else 1,
                }
            )
        except SettingsError as exc:
            return str(exc)
        except TypeError as exc:
            return str(exc)
        return None


@dataclass(frozen=True)
class LoadedPreferences:
    preferences: Preferences
    warning: str | None = None
    """Set when the file could not be used as it was: what was wrong, and that defaults apply."""


def preferences_path(data_dir: Path) -> Path:
    return Path(data_dir) / PREFERENCES_FILE


_TYPES: dict[str, tuple[type, ...]] = {
    "provider": (str,),
    "model": (str,),
    "mode": (str,),
    "bundle_size": (int,),
    "base_url": (str, type(None)),
    "budget": (int, type(None)),
    "target_reliability": (float, int, type(None)),
    "concurrency": (int,),
}


def _from_json(data: object) -> tuple[Preferences, list[str]]:
    """Preferences from parsed JSON: every valid field kept, each bad one named."""
    if not isinstance(data, dict):
        return Preferences(), ["the file does not hold a JSON object"]
    wrong: list[str] = []
    values: dict[str, Any] = {}
    for f in fields(Preferences):
        if f.name not in data:
            continue
        value = data[f.name]
        if isinstance(value, bool) or not isinstance(value, _TYPES[f.name]):
            wrong.append(f"{f.name} has the wrong type ({value!r})")
            continue
        if f.name == "target_reliability" and isinstance(value, int):
            value = float(value)
        values[f.name] = value
    prefs = Preferences(**values)
    problem = prefs.problems()
    if problem:
        return Preferences(), [*wrong, problem]
    return prefs, wrong


def load_preferences(data_dir: Path, **_operation: object) -> LoadedPreferences:
    """The preferences stored in ``data_dir`` (defaults if there are none; defaults and a
    warning if the file is broken). Never raises."""
    path = preferences_path(data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadedPreferences(Preferences())
    except (OSError, UnicodeDecodeError) as exc:
        return LoadedPreferences(
            Preferences(), f"The preferences file {path} cannot be read ({exc}); using defaults."
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return LoadedPreferences(
            Preferences(),
            f"The preferences file {path} is damaged (not JSON: {exc.msg} at line "
            f"{exc.lineno}); using the default settings.",
        )
    prefs, wrong = _from_json(data)
    if wrong:
        return LoadedPreferences(
            prefs,
            f"Some preferences in {path} could not be used ({'; '.join(wrong)}); "
            "the defaults are used for them.",
        )
    return LoadedPreferences(prefs)


def save_preferences(data_dir: Path, preferences: Preferences, **_operation: object) -> Path:
    """Write ``preferences`` to ``data_dir`` atomically; OperationError(INPUT) if no run
    could use them (nothing is written)."""
    problem = preferences.problems()
    if problem:
        raise OperationError(FailureKind.INPUT, f"These settings cannot be saved: {problem}.")
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = preferences_path(folder)
    text = json.dumps(asdict(preferences), indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".preferences-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def with_changes(preferences: Preferences, **changes: Any) -> Preferences:
    """``preferences`` with some fields changed (a convenience for screens)."""
    return replace(preferences, **changes)
