"""Test-wide settings: Qt offscreen, deterministic property tests in CI."""

from __future__ import annotations

import os

from hypothesis import settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# In CI the property tests replay a fixed, seed-derived set of examples, so a run's outcome does
# not depend on chance; locally they explore new examples on every run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
