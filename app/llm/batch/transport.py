"""HTTP shared by both providers' batch APIs: requests on the provider's own client with
failures as :class:`~app.llm.types.ProviderError`, and reading JSON and JSONL answers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from app.llm.providers.base import BaseProvider, error_from_exception, error_from_response
from app.llm.types import FailureCategory, ProviderError


class _Loose(BaseModel):
    """Base of the wire models: fields this app does not read are ignored."""

    model_config = ConfigDict(extra="ignore")


async def _send(provider: BaseProvider, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request on the provider's own client; failures become :class:`ProviderError`."""
    try:
        response = await provider.client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise error_from_exception(exc) from exc
    if not response.is_success:
        raise error_from_response(response, request_id=provider.request_id(response.headers))
    return response


def _json(response: httpx.Response, model: type[Any], what: str) -> Any:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise ProviderError(
            FailureCategory.PARSE_ERROR,
            f"unexpected {what} response: {exc.errors()[0]['msg'] if exc.errors() else exc}",
            status=response.status_code,
        ) from exc


def _jsonl(data: bytes | str) -> Iterable[object]:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            yield json.loads(raw)
        except json.JSONDecodeError:
            continue  # an unreadable line leaves its request without a result
