"""Hybrid logical clock strings: ``f"{physical_ms:013d}-{counter:05d}-{device_id}"``.

Fixed-width numbers make string order equal tuple order ``(physical_ms, counter, device_id)``,
so the service compares them as strings. A change stamped more than the allowed skew ahead of
the server's clock is refused: a device with a clock far in the future would otherwise win
every conflict.
"""

from __future__ import annotations

import re

from app.syncserver.errors import ApiError, bad_request

_HLC = re.compile(r"^(\d{13})-(\d{5})-(.{1,100})$", re.DOTALL)


def physical_ms(hlc: str) -> int:
    """The physical part (ms since the epoch) of a well-formed HLC; 400 ``bad_request`` if not."""
    match = _HLC.match(hlc) if isinstance(hlc, str) else None
    if match is None:
        raise bad_request(f"the clock stamp {hlc!r} is not of the form 0000000000000-00000-device")
    return int(match.group(1))


def check_skew(hlc: str, now_ms: int, max_skew_ms: int) -> None:
    """400 ``clock_skew`` when ``hlc`` is more than ``max_skew_ms`` ahead of ``now_ms``."""
    ahead = physical_ms(hlc) - now_ms
    if ahead > max_skew_ms:
        raise ApiError(
            400,
            "clock_skew",
            f"This device's clock is {ahead / 60000:.1f} minutes ahead of the server's. "
            "Set the computer's date and time correctly, then sync again.",
        )
