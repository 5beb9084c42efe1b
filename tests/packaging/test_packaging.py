"""The packaging files are well-formed, without building a bundle (``make package-test`` starts
a real one; building takes about a minute and is the release step, not part of the suite)."""

from __future__ import annotations

import ast
import importlib.util
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from types import ModuleType

import pytest

from app.db.migrate import ALEMBIC_DIR, HEAD_REVISION, known_revisions

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "huleedu.spec"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spec_resources() -> list[tuple[Path, str]]:
    """The spec's RESOURCES list: (source in the tree, folder in the bundle)."""
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "RESOURCES" for t in node.targets
        ):
            assert isinstance(node.value, ast.List)
            found = []
            for item in node.value.elts:
                assert isinstance(item, ast.Tuple)
                source, dest = item.elts
                assert isinstance(dest, ast.Constant)
                path = eval(ast.unparse(source), {"ROOT": ROOT})  # ROOT / "a" / "b"
                found.append((Path(path), str(dest.value)))
            return found
    raise AssertionError("no RESOURCES in the spec")


def test_spec_parses_and_names_entry_point_icon_and_excludes() -> None:
    text = SPEC.read_text(encoding="utf-8")
    compile(text, str(SPEC), "exec")
    assert "huleedu_main.py" in text and (PACKAGING / "huleedu_main.py").is_file()
    assert (ROOT / "resources" / "icon.png").is_file()
    assert (ROOT / "resources" / "icon.ico").is_file()
    excluded_names = ["PySide6.QtQml", "PySide6.QtNetwork", "pytest", "hypothesis", "choix"]
    excluded_names += ["scipy", "app.syncserver", "fastapi", "psycopg"]
    for excluded in excluded_names:
        assert f'"{excluded}"' in text
    for plugin in ("libqxcb", "libqwayland", "libqoffscreen"):
        assert plugin in text


def test_every_resource_read_at_run_time_is_in_the_bundle() -> None:
    resources = spec_resources()
    for source, _dest in resources:
        assert source.is_dir(), source
    bundled = {dest: source for source, dest in resources}
    # app/paths.py: <bundle>/resources; app/db/migrate.py: <bundle>/app/db/alembic beside the
    # frozen module, i.e. the same relative place as in the source tree.
    assert bundled["resources"] == ROOT / "resources"
    assert bundled["app/db/alembic"] == ALEMBIC_DIR
    assert ALEMBIC_DIR.relative_to(ROOT).as_posix() == "app/db/alembic"
    for needed in (
        "resources/models.json",
        "resources/demo/assignment.json",
        "resources/demo/roster.csv",
        "resources/demo/anchors/anchors.csv",
        "app/db/alembic/env.py",
        "app/db/alembic/script.py.mako",
        f"app/db/alembic/versions/{HEAD_REVISION}_",
    ):
        matches = list(ROOT.glob(needed + "*"))
        assert matches, needed
        assert any(m.is_relative_to(source) for m in matches for source in bundled.values())


def test_frozen_resources_are_found_in_the_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.paths import resources_dir  # noqa: PLC0415

    monkeypatch.delenv("HULEEDU_RESOURCES", raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", "/opt/huleedu/_internal", raising=False)
    assert resources_dir() == Path("/opt/huleedu/_internal/resources")


def test_entry_point_supports_frozen_child_processes() -> None:
    tree = ast.parse((PACKAGING / "huleedu_main.py").read_text(encoding="utf-8"))
    guard = next(n for n in tree.body if isinstance(n, ast.If))
    first = guard.body[0]
    assert isinstance(first, ast.Expr) and "freeze_support" in ast.unparse(first)
    probe = load("huleedu_probe")
    assert probe.main(["no-such-probe"]) == 2


def test_previous_release_fixture_is_at_an_older_known_revision() -> None:
    fixture = PACKAGING / "fixtures" / "schema-0004.sqlite3"
    with closing(sqlite3.connect(f"file:{fixture}?mode=ro", uri=True)) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    revisions = known_revisions()
    assert revision == "0004"
    assert revisions.index(revision) < revisions.index(HEAD_REVISION)


def test_package_test_script_is_well_formed(tmp_path: Path) -> None:
    script = load("package_test")
    assert script.head_revision() == HEAD_REVISION
    assert script.project_version()
    env = script.clean_env(tmp_path / "home")
    assert ".venv" not in env["PATH"] and "PYTHONPATH" not in env
    assert env["HOME"] == str(tmp_path / "home")
    assert script.main(["--bundle", str(tmp_path / "missing")]) == 2


def test_bench_package_without_a_bundle_says_so(tmp_path: Path) -> None:
    from app.bench import package  # noqa: PLC0415

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 10)
    assert package.folder_size(tmp_path) == (10, 1)
    assert package.main(bundle=tmp_path / "nothing", repeats=1) == 1


def test_make_targets_and_extra() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\npackage:" in makefile and "\npackage-test:" in makefile
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'package = [\n    "pyinstaller' in pyproject


def test_the_app_grades_the_demo_with_scipy_unimportable() -> None:
    """The bundle leaves SciPy out; the core, the run loop and the command line must not need it."""
    import subprocess  # noqa: PLC0415

    guard = (
        "import sys, importlib.abc\n"
        "class NoScipy(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'scipy' or name.startswith('scipy.'):\n"
        "            raise ImportError('scipy is not in the bundle: ' + name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, NoScipy())\n"
        "import core, pkgutil, importlib\n"
        "for info in pkgutil.iter_modules(core.__path__):\n"
        "    importlib.import_module('core.' + info.name)\n"
        "from app.cli import main\n"
        "sys.exit(main(['demo', '--json']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", guard],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"essays"' in done.stdout, done.stdout[:500]
    assert "scipy" not in done.stderr
