"""The model catalogue: prices and capabilities of the judge models, from ``resources/models.json``.

The file is dated (``as_of``) and meant to be edited when prices change. Prices are USD per
million tokens. A user's own catalogue, ``models.json`` in the data folder (same format;
``as_of`` may be left out), adds models or replaces listed ones: :func:`default_catalogue`
merges it over the bundled file (see :func:`user_catalogue_path`).

A model is looked up by its exact name, then by a dated snapshot of a listed
name (``claude-haiku-4-5-20251001``, ``gpt-5-mini-2025-08-07``), then by a wildcard entry
(``sim-*``).

Cost of one call (:meth:`Catalogue.cost_usd`)::

    uncached input × input price + cache reads × cached-input price
    + cache writes × cache-write price + output × output price

and, for provider batch calls, that total × (1 − ``batch_discount``).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.llm.capabilities import ModelCapabilities
from app.llm.types import Usage
from app.paths import resources_dir

__all__ = [
    "CATALOGUE_FILE",
    "USER_CATALOGUE_FILE",
    "Catalogue",
    "CatalogueError",
    "ModelInfo",
    "UnknownModelError",
    "cost_usd",
    "default_catalogue",
    "load_catalogue",
    "load_user_models",
    "use_user_catalogue",
    "user_catalogue_path",
]

CATALOGUE_FILE = "models.json"
"""File name of the catalogue inside the resources folder."""

USER_CATALOGUE_FILE = "models.json"
"""File name of the user's catalogue inside the data folder."""

_SNAPSHOT_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest|preview(?:-[0-9-]+)?)$")


class CatalogueError(ValueError):
    """The catalogue file is missing, not JSON, or not a valid catalogue."""


class UnknownModelError(LookupError):
    """A model the catalogue does not list."""

    def __init__(self, model: str, known: list[str]) -> None:
        self.model = model
        self.known = known
        super().__init__(
            f"model {model!r} is not in the model catalogue; known models: {', '.join(known)}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class ModelInfo(BaseModel):
    """Prices (USD per million tokens) and capabilities of one model.

    Attributes:
        provider: the API family that serves it.
        input_per_mtok: price of uncached input tokens.
        cached_input_per_mtok: price of input tokens read from the prompt cache.
        cache_write_per_mtok: price of input tokens written to the cache (Anthropic charges
            extra); None means the plain input price.
        output_per_mtok: price of output tokens (reasoning tokens included).
        batch_discount: fraction taken off every price in the provider's batch API (0.5 = half).
        supports_temperature: whether a temperature may be sent.
        structured_output: how the answer's schema is enforced.
        logprobs: whether token log-probabilities are returned.
        batch_api: whether a provider batch API exists.
        prompt_caching: ``automatic`` (provider caches prefixes itself), ``explicit`` (blocks
            are marked) or ``none``.
        cache_min_tokens: the shortest prefix the provider caches for this model (from the
            provider's documentation); None (a model whose minimum is not known) means
            estimates assume no caching.
        context_tokens: context window size.
        max_tokens_param: the request field that caps output tokens.
        chars_per_token: characters of essay text per token, for estimates before a run.
        reasoning: whether the model spends hidden reasoning tokens out of the output cap.
        reasoning_effort: whether it accepts a reasoning control (OpenAI ``reasoning_effort``,
            Gemini ``thinkingBudget``); None = ``reasoning`` for OpenAI and Gemini models.
        notes: free text about the entry.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["openai", "anthropic", "gemini", "openai_compatible"]
    input_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float = Field(ge=0)
    cache_write_per_mtok: float | None = Field(default=None, ge=0)
    output_per_mtok: float = Field(ge=0)
    batch_discount: float = Field(default=0.5, ge=0, lt=1)
    supports_temperature: bool
    structured_output: Literal["json_schema", "tool", "response_schema"]
    logprobs: bool
    batch_api: bool
    prompt_caching: Literal["automatic", "explicit", "none"]
    cache_min_tokens: int | None = Field(default=None, gt=0)
    context_tokens: int = Field(gt=0)
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    chars_per_token: float = Field(default=4.0, gt=0)
    reasoning: bool = False
    reasoning_effort: bool | None = None
    notes: str | None = None

    def capabilities(self) -> ModelCapabilities:
        """What the provider clients may send to this model."""
        effort = self.reasoning_effort
        if effort is None:
            effort = self.reasoning and self.provider in ("openai", "gemini")
        return ModelCapabilities(
            temperature=self.supports_temperature,
            logprobs=self.logprobs,
            reasoning=self.reasoning,
            reasoning_effort=effort,
            max_tokens_param=self.max_tokens_param,
        )

    @property
    def cache_minimum(self) -> int | None:
        """Shortest cacheable prefix in tokens, or None when the model caches nothing (its
        ``prompt_caching`` is ``none``) or its minimum is not listed: no caching assumed."""
        return None if self.prompt_caching == "none" else self.cache_min_tokens

    @property
    def cache_write_price(self) -> float:
        """Price of cache-write tokens (the input price when none is listed)."""
        if self.cache_write_per_mtok is None:
            return self.input_per_mtok
        return self.cache_write_per_mtok


class Catalogue(BaseModel):
    """All listed models, with the date the prices were taken."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: date
    currency: Literal["USD"] = "USD"
    source: str | None = None
    models: dict[str, ModelInfo] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_names(self) -> Catalogue:
        for name in self.models:
            if not name.strip() or name != name.strip():
                raise ValueError(f"model name {name!r} is empty or has surrounding spaces")
        return self

    def names(self) -> list[str]:
        """Listed model names (wildcard entries included), sorted."""
        return sorted(self.models)

    def resolve(self, model: str) -> str | None:
        """The catalogue entry ``model`` falls under, or None.

        Exact name first, then a listed name plus a snapshot suffix (a date, ``-latest``,
        ``-preview…``), then the first wildcard entry (``*`` / ``?``) that matches.
        """
        if model in self.models:
            return model
        base = _SNAPSHOT_SUFFIX.sub("", model)
        if base != model and base in self.models:
            return base
        for name in sorted(self.models, key=lambda n: (-len(n), n)):
            if any(ch in name for ch in "*?[") and fnmatch.fnmatchcase(model, name):
                return name
        return None

    def find(self, model: str) -> ModelInfo | None:
        """The entry for ``model`` (see :meth:`resolve`), or None when it is not listed."""
        key = self.resolve(model)
        return None if key is None else self.models[key]

    def get(self, model: str) -> ModelInfo:
        """The entry for ``model``.

        Raises:
            UnknownModelError: when the model is not listed; the message names the known ones.
        """
        info = self.find(model)
        if info is None:
            raise UnknownModelError(model, self.names())
        return info

    def cost_usd(self, model: str, usage: Usage, batch: bool = False) -> float:
        """Price of one call's ``usage`` in USD.

        ``usage.input_tokens`` includes cache reads (``cached_input_tokens``) and cache writes
        (``cache_write_tokens``); each part is charged at its own price. With ``batch`` the
        model's ``batch_discount`` is taken off the total.

        Raises:
            UnknownModelError: when the model is not listed.
            ValueError: with ``batch`` for a model without a batch API.
        """
        info = self.get(model)
        if batch and not info.batch_api:
            raise ValueError(f"model {model!r} has no batch API in the catalogue")
        cached = max(0, usage.cached_input_tokens)
        written = max(0, usage.cache_write_tokens)
        plain = max(0, usage.input_tokens - cached - written)
        total = (
            plain * info.input_per_mtok
            + cached * info.cached_input_per_mtok
            + written * info.cache_write_price
            + max(0, usage.output_tokens) * info.output_per_mtok
        ) / 1_000_000
        if batch:
            total *= 1.0 - info.batch_discount
        return total


def _describe_validation(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and validate a catalogue file (default: ``resources/models.json``).

    Raises:
        CatalogueError: naming the file and what is wrong with it (missing, unreadable, not
            JSON, or not a valid catalogue).
    """
    file = Path(path) if path is not None else resources_dir() / CATALOGUE_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogueError(f"model catalogue {file}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"model catalogue {file}: cannot be read ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogueError(
            f"model catalogue {file}: not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno})"
        ) from exc
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        raise CatalogueError(
            f"model catalogue {file}: invalid ({_describe_validation(exc)})"
        ) from exc


class _UserCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: date | None = None
    currency: Literal["USD"] = "USD"
    source: str | None = None
    models: dict[str, ModelInfo] = Field(default_factory=dict)


_user_path: list[Path | None] = [None]


def user_catalogue_path() -> Path:
    """The user's catalogue file: the one set by :func:`use_user_catalogue`, else
    ``models.json`` in the data folder (``HULEEDU_DATA_DIR`` or the platform's)."""
    chosen = _user_path[0]
    if chosen is not None:
        return chosen
    from app.db.engine import resolve_data_dir  # noqa: PLC0415 - the database layer only now

    return resolve_data_dir() / USER_CATALOGUE_FILE


def use_user_catalogue(path: str | Path | None) -> None:
    """Read the user's catalogue from ``path`` from now on (None: back to the data folder's)."""
    _user_path[0] = None if path is None else Path(path)
    default_catalogue.cache_clear()


def load_user_models(path: str | Path | None = None) -> dict[str, ModelInfo]:
    """The models of the user's catalogue (:func:`user_catalogue_path`); none when the file
    does not exist.

    Raises:
        CatalogueError: naming the file and what is wrong with it.
    """
    file = Path(path) if path is not None else user_catalogue_path()
    if not file.exists():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"model catalogue {file}: cannot be read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise CatalogueError(
            f"model catalogue {file}: not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno})"
        ) from exc
    try:
        return dict(_UserCatalogue.model_validate(data).models)
    except ValidationError as exc:
        raise CatalogueError(
            f"model catalogue {file}: invalid ({_describe_validation(exc)})"
        ) from exc


@functools.lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The bundled catalogue with the user's entries merged over it, read once per process
    (again after :func:`use_user_catalogue`).

    Raises:
        CatalogueError: when either file is broken (a user's broken file is named, never
            silently ignored).
    """
    bundled = load_catalogue()
    extra = load_user_models()
    if not extra:
        return bundled
    return bundled.model_copy(update={"models": {**bundled.models, **extra}})


def cost_usd(model: str, usage: Usage, batch: bool = False) -> float:
    """:meth:`Catalogue.cost_usd` on the bundled catalogue."""
    return default_catalogue().cost_usd(model, usage, batch)
