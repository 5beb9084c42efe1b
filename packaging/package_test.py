"""Start the built bundle the way a school's computer would and check that it works.

``make package-test`` (after ``make package``) runs this with the build machine's Python, but
every command it checks is the bundle's executable, started with a clean environment: ``PATH``
holds only an empty folder (no Python, no ``.venv``), no ``PYTHONPATH``/``PYTHONHOME``, and
``HOME`` (with the XDG folders) is a fresh temporary folder, so the database goes to the
platform's default data folder inside it. Checks, in order:

1. ``--version`` names this source tree's version;
2. ``import essays`` (command line) creates the database in the default data folder and
   migrates it to the newest schema;
3. ``grade`` grades the bundled demo batch against the bundled simulated judge to completion
   and writes results.csv / results.json / results.xlsx;
4. a database made by the previous release's schema (``fixtures/schema-0004.sqlite3``) is
   migrated to the newest schema, with a backup beside it;
5. ``gui --screenshots DIR`` opens the window offscreen, shows the dashboard (every page is
   captured, the import page after a real import) and exits 0; the same on the X11 plugin
   when ``Xvfb`` is installed (a virtual screen; skipped otherwise);
6. an import of a folder in a child process (as the window runs it) works frozen;
7. ``sim-server`` starts and answers.

Exit status 0 when every check passed; each check prints one line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = ROOT / "dist" / "huleedu" / "huleedu"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "schema-0004.sqlite3"
DB_NAME = "huleedu.sqlite3"
TIMEOUT_S = 600


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def head_revision() -> str:
    """The newest migration in the source tree (its file names start with the revision)."""
    versions = ROOT / "app" / "db" / "alembic" / "versions"
    return max(p.name.split("_", 1)[0] for p in versions.glob("[0-9]*_*.py"))


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with no Python on PATH and a fresh HOME."""
    home.mkdir(parents=True, exist_ok=True)
    empty = home / "empty-bin"
    empty.mkdir(exist_ok=True)
    env = {
        "PATH": str(empty),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(home / "runtime"),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home / "tmp"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    (home / "runtime").mkdir(mode=0o700, exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    env.update(extra)
    assert shutil.which("python3", path=env["PATH"]) is None
    assert shutil.which("python", path=env["PATH"]) is None
    return env


class Checker:
    def __init__(self, bundle: Path, home: Path) -> None:
        self.bundle = bundle
        self.home = home
        self.env = clean_env(home)
        self.failed: list[str] = []

    def run(
        self, *args: str | Path, timeout: float = TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bundle), *map(str, args)],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def check(self, name: str, test: Callable[[], str]) -> None:
        started = time.perf_counter()
        try:
            detail = test()
        except Exception as exc:  # a failed check is reported, the others still run
            self.failed.append(name)
            print(f"FAIL {name}: {exc}", flush=True)
            return
        print(f"ok   {name} ({time.perf_counter() - started:.1f} s): {detail}", flush=True)


def _expect(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-1500:]
        raise AssertionError(f"{what} exited {done.returncode}:\n{tail}")


def revision_of(path: Path) -> str:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return str(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="the executable")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    bundle = args.bundle.resolve()
    if not bundle.is_file():
        print(f"no bundle at {bundle}: run `make package` first", file=sys.stderr)
        return 2
    # The demo batch as the bundle carries it (a one-file bundle keeps it inside: the source's).
    demo = bundle.parent / "_internal" / "resources" / "demo"
    if not demo.is_dir():
        demo = ROOT / "resources" / "demo"
    head = head_revision()
    tmp = Path(tempfile.mkdtemp(prefix="huleedu-package-test-"))
    c = Checker(bundle, tmp / "home")

    print(f"bundle {bundle}\nhome   {c.home}", flush=True)

    def version() -> str:
        done = c.run("--version", timeout=60)
        _expect(done, "--version")
        text = done.stdout.strip()
        assert text == f"huleedu {project_version()}", text
        return text

    default_db: list[Path] = []

    def database() -> str:
        done = c.run("import", "essays", "--new-batch", "Bundle check", demo / "essays", "--json")
        _expect(done, "import essays")
        imported = json.loads(done.stdout)["counts"]["imported"]
        found = sorted(c.home.rglob(DB_NAME))
        assert found, "no database under the fresh HOME"
        default_db.append(found[0])
        revision = revision_of(found[0])
        assert revision == head, f"schema {revision}, expected {head}"
        return f"{found[0].relative_to(c.home)} at schema {revision}, {imported} essays imported"

    def grade() -> str:
        data, out = tmp / "grade-data", tmp / "grade-results"
        done = c.run(
            "grade", demo / "essays", "--anchors", demo / "anchors", "--title", "Demo",
            "--data-dir", data, "--out", out, "--sim-speed", "200", "--quiet",
        )  # fmt: skip
        _expect(done, "grade")
        runs = [p for p in out.iterdir() if p.is_dir()]
        assert len(runs) == 1, runs
        wanted = ("results.csv", "results.json", "results.xlsx")
        missing = [name for name in wanted if not (runs[0] / name).is_file()]
        assert not missing, f"missing {missing}"
        results = json.loads((runs[0] / "results.json").read_text(encoding="utf-8"))
        run = results["run"]
        assert run["status"] == "complete", run["status"]
        graded = len(results["results"])
        texts = [*(demo / "essays").glob("*.txt"), *(demo / "anchors").glob("*.txt")]
        assert graded == len(texts), f"{graded} of {len(texts)} texts ranked"
        return (
            f"run complete ({run['comparisons']} comparisons, reliability "
            f"{run['reliability']:.2f}), {graded} texts ranked, {', '.join(wanted)} written"
        )

    def upgrade() -> str:
        data = tmp / "old-release"
        data.mkdir()
        shutil.copyfile(FIXTURE, data / DB_NAME)
        before = revision_of(data / DB_NAME)
        done = c.run("list", "batches", "--data-dir", data)
        _expect(done, "list batches on the old database")
        after = revision_of(data / DB_NAME)
        assert after == head, f"schema {after}, expected {head}"
        backups = sorted((data / "backups").glob("*"))
        assert backups, "no backup made"
        assert revision_of(backups[0]) == before, "the backup is not the old database"
        return f"schema {before} -> {after}, backup {backups[0].name}"

    def window() -> str:
        shots = tmp / "shots"
        done = c.run("gui", "--screenshots", shots)
        _expect(done, "gui --screenshots")
        pictures = sorted(p.name for p in shots.glob("*.png"))
        assert any("dashboard" in name for name in pictures), pictures
        assert any("import" in name for name in pictures), pictures
        return f"exit 0, {len(pictures)} pages captured ({pictures[0]}, ...)"

    def window_x11() -> str:
        """The same on the X11 platform plugin, on a virtual screen (Xvfb), when there is one."""
        xvfb = shutil.which("Xvfb")
        if xvfb is None:
            return "skipped: no Xvfb on this machine"
        read, write = os.pipe()
        server = subprocess.Popen(
            [xvfb, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        try:
            with os.fdopen(read) as pipe:
                display = ":" + pipe.readline().strip()
            shots = tmp / "shots-x11"
            saved = dict(c.env)
            c.env.update(QT_QPA_PLATFORM="xcb", DISPLAY=display)
            try:
                done = c.run("gui", "--screenshots", shots)
            finally:
                c.env.clear()
                c.env.update(saved)
            _expect(done, "gui --screenshots on X11")
            pictures = sorted(p.name for p in shots.glob("*.png"))
            assert any("dashboard" in name for name in pictures), pictures
            return f"exit 0 on Xvfb {display}, {len(pictures)} pages captured"
        finally:
            server.terminate()
            server.wait(timeout=10)

    def child_import() -> str:
        folder = tmp / "drop"
        folder.mkdir()
        for essay in sorted((demo / "essays").glob("*.txt"))[:4]:
            shutil.copyfile(essay, folder / essay.name)
        _write_docx(folder / "word essay.docx")
        done = c.run("--package-probe", "import", tmp / "child-data", folder)
        _expect(done, "import in a child process")
        counts = json.loads(done.stdout.strip().splitlines()[-1])
        assert counts["imported"] == 5 and counts["failed"] == 0, counts
        return f"{counts['imported']} essays (one .docx) imported by a frozen child process"

    def sim_server() -> str:
        proc = subprocess.Popen(
            [str(bundle), "sim-server", "--port", "0"],
            env=c.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=10) as answer:
                    status = answer.status
            except urllib.error.HTTPError as error:  # an HTTP answer all the same
                status = error.code
            return f"{url} answered HTTP {status}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    c.check("--version", version)
    c.check("database created and migrated", database)
    c.check("grade the demo batch", grade)
    c.check("upgrade from schema 0004", upgrade)
    c.check("window offscreen", window)
    c.check("window on X11", window_x11)
    c.check("import in a child process", child_import)
    c.check("sim-server", sim_server)
    if args.keep or c.failed:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    if c.failed:
        print(f"{len(c.failed)} check(s) failed: {', '.join(c.failed)}")
        return 1
    print("all checks passed")
    return 0


def _write_docx(path: Path) -> None:
    """A small Word essay (python-docx from the build environment)."""
    import docx  # noqa: PLC0415

    document = docx.Document()
    document.add_paragraph("Phones in school")
    document.add_paragraph(
        "Phones should stay in the bag during lessons, because a lesson needs attention. "
        "In the breaks they help us plan, talk and rest, so a total ban goes too far."
    )
    document.save(str(path))


if __name__ == "__main__":
    raise SystemExit(main())
