"""The `huleedu` command: version, demo, engine benchmark (quick run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__
from app.cli import main
from app.demo import grade_demo, load_demo


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"huleedu {__version__}\n"
    with pytest.raises(SystemExit) as exc:  # among other options, argparse answers it
        main(["--version", "demo"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_version_is_answered_without_importing_the_verbs() -> None:
    code = "import sys; from app.cli import main; main(['--version']); print(sorted(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for heavy in ("app.grade", "app.db", "sqlalchemy", "app.simserver", "app.syncserver"):
        assert f"'{heavy}'" not in out, heavy


def test_python_dash_m_app_is_the_same_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "app", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("huleedu ")


def test_demo_json_ranks_anchors_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json", "--seed", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    essays = result["essays"]
    assert len(essays) >= 18
    for row in essays:
        assert abs(sum(row["probabilities"].values()) - 1.0) < 1e-2
        assert row["se"] > 0
    anchors = [r["anchor_grade"] for r in essays if r["anchor_grade"]]
    order = ["F", "E", "D", "D+", "C", "C+", "B", "A"]
    idx = [order.index(g) for g in anchors]
    # Ranked best first: anchor grades should come out (nearly) in descending order.
    inversions = sum(1 for i in range(len(idx)) for j in range(i + 1, len(idx)) if idx[i] < idx[j])
    assert inversions <= 2  # of 15 anchor pairs; neighbouring anchors are close in quality
    assert result["stop_reason"] in {"stable", "budget_reached"}
    assert 0.0 < result["reliability"] <= 1.0


def test_demo_table_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Ranking and proposed grades" in out
    assert "Reliability (honest)" in out


def test_demo_grades_are_plausible() -> None:
    result = grade_demo(seed=2)
    weakest, strongest = result.grade_of("hugo_karlsson"), result.grade_of("elsa_bergstrom")
    assert weakest is not None and strongest is not None
    # The weakest demo essays must not be graded above the strongest.
    order = ["F", "E", "D", "D+", "C", "C+", "B", "A"]
    assert order.index(weakest.rstrip("+-")) < order.index(strongest.rstrip("+-"))
    # What the demo shows is the run's stored results, one row per essay, best first.
    assert [r.rank for r in result.rows] == list(range(1, len(result.batch.items) + 1))
    assert result.report.status == "complete"


def test_missing_demo_folder_is_a_clear_error(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--demo-dir", str(tmp_path)]) == 1
    assert "cannot read the demo batch" in capsys.readouterr().err


def test_bench_engine_quick_prints_one_json_object() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "app", "bench", "engine", "--quick", "--seeds", "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result = json.loads(out.stdout)
    for key in (
        "ratio_random_over_ours_n30",
        "ratio_hard_over_soft_n30",
        "ratio_soft_noise_over_hard_n30",
        "reliability_abs_error",
        "reliability_bias_weak_judge_n30",
        "fit_time_ratio_vs_choix",
        "fit_max_abs_diff_vs_choix",
    ):
        assert isinstance(result[key], float)
    assert result["fit_max_abs_diff_vs_choix"] < 1e-3


def test_demo_judge_reads_quality_as_the_author_intended() -> None:
    """The simulated judge's quality model agrees with the demo author's intended order."""
    from scipy.stats import spearmanr  # noqa: PLC0415

    from app.paths import resources_dir  # noqa: PLC0415
    from core.textquality import text_quality  # noqa: PLC0415

    truth = json.loads((resources_dir() / "demo" / "truth.json").read_text(encoding="utf-8"))
    batch = load_demo()
    by_file = {item.name + ".txt": item.text for item in batch.items}
    names = sorted(truth)
    quality = [text_quality(by_file[name]) for name in names]
    rho = spearmanr(quality, [-truth[name] for name in names])[0]
    assert rho > 0.9


@pytest.mark.parametrize(
    ("provider", "model", "suffix"),
    [("openai_compatible", "sim-generic", "/v1"), ("anthropic", "claude-haiku-4-5", "/v1")],
)
def test_demo_can_be_pointed_at_a_server_by_url(
    provider: str,
    model: str,
    suffix: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same options a school uses for a local model (Ollama, vLLM, …) or a provider."""
    from app.simserver import start_in_thread  # noqa: PLC0415

    monkeypatch.setenv("SIM_KEY", "sk-sim")
    url, stop = start_in_thread("generic", speed=1000.0, seed=4)
    try:
        code = main(
            [
                "demo",
                "--json",
                "--provider",
                provider,
                "--model",
                model,
                "--base-url",
                url + suffix,
                "--mode",
                "per_request",
                "--concurrency",
                "4",
                *(["--api-key-env", "SIM_KEY"] if provider == "anthropic" else []),
            ]
        )
    finally:
        stop()
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["comparisons"] >= 60
    assert result["calls"] == result["comparisons"]  # per_request: one call per pair


def test_a_command_module_adds_its_verb_and_handles_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every module of app.commands registers its verbs; its handler's value is the exit code."""
    import app.commands  # noqa: PLC0415

    folder = tmp_path / "commands"
    folder.mkdir()
    (folder / "zz_echo.py").write_text(
        "def register(sub, bench_sub):\n"
        "    p = sub.add_parser('zz-echo', help='say a word')\n"
        "    p.add_argument('word')\n"
        "    p.set_defaults(handler=lambda args: print(args.word) or 7)\n"
        "    b = bench_sub.add_parser('zz', help='a bench')\n"
        "    b.set_defaults(handler=lambda args: print('{}') or 0)\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(app.commands, "__path__", [*app.commands.__path__, str(folder)])
    monkeypatch.delitem(sys.modules, "app.commands.zz_echo", raising=False)
    assert main(["zz-echo", "hello"]) == 7
    assert main(["bench", "zz"]) == 0
    assert capsys.readouterr().out == "hello\n{}\n"


def test_demo_takes_model_capabilities_and_names_a_bad_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["demo", "--model-capabilities", "bogus=1"])
    assert refused.value.code == 2
    assert "--model-capabilities: unknown key(s) bogus" in capsys.readouterr().err
    assert main(["demo", "--json", "--model-capabilities", "temperature=no"]) == 0
    assert json.loads(capsys.readouterr().out)["essays"]
