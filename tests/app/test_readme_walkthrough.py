"""The README's essay-import walk-through runs verbatim on a fresh data folder."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def walkthrough() -> list[list[str]]:
    """The commands of the first ``sh`` block of the README's *Essay intake* section
    (continuation lines joined, comments dropped)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Essay intake") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    text = block.group(1).replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(words)
    return commands


def test_the_walkthrough_is_the_documented_one() -> None:
    verbs = [words[1:3] for words in walkthrough()]
    assert verbs == [
        ["import", "roster"],
        ["import", "anchors"],
        ["import", "essays"],
        ["match", "Phones 9A"],
        ["grade", "--batch"],
    ]


def test_the_walkthrough_runs_verbatim_on_a_fresh_data_folder(tmp_path: Path) -> None:
    (tmp_path / "resources").symlink_to(REPO / "resources")
    env = {**os.environ, "HULEEDU_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)}
    for words in walkthrough():
        assert words[0] == ".venv/bin/huleedu"
        done = subprocess.run(
            [sys.executable, "-m", "app", *words[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, (words, done.stdout[-2000:], done.stderr[-2000:])
        if words[1:3] == ["import", "anchors"]:  # the new assignment's scale is announced
            said = " ".join(done.stderr.split())
            assert "on the grade scale swedish_8_anchor" in said, done.stderr
            assert "eng5_np_national_9_step" in said
    results = list((tmp_path / "results").glob("*/results.csv"))
    assert len(results) == 1
    rows = results[0].read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + 16 + 6  # header, the essays and the anchors
