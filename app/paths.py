"""Where the application finds its bundled resources."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources/`` folder: ``HULEEDU_RESOURCES`` if set, the frozen bundle's copy when
    packaged, otherwise the one beside the source tree."""
    override = os.environ.get("HULEEDU_RESOURCES")
    if override:
        return Path(override)
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"
