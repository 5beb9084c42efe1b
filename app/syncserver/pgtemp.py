"""A throwaway PostgreSQL cluster on 127.0.0.1, for tests and ``huleedu bench sync``.

``initdb`` into a fresh temporary folder, ``pg_ctl start`` on a free loopback port (no Unix
socket outside that folder), and on :meth:`TempCluster.stop` a fast shutdown and the folder
removed. The Debian server refuses ``initdb`` as root, so as root the cluster is made and run as
the ``postgres`` system user through ``runuser`` (the folder is handed to that user first).

Failure to start raises :class:`ClusterError` with the tool's own output: callers (pytest
fixtures, the bench) let it fail loudly; nothing here skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Where Debian/Ubuntu packages keep the server binaries (newest first is tried first).
_SEARCH_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/opt/homebrew/bin")


class ClusterError(RuntimeError):
    """PostgreSQL could not be found or started; the message says why and what to install."""


def find_bin_dir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``$PG_BIN_DIR`` first, then ``initdb`` on PATH, then the usual install folders.
    """
    env = os.environ.get("PG_BIN_DIR")
    if env and (Path(env) / "initdb").exists():
        return Path(env)
    candidates: list[Path] = []
    for pattern in _SEARCH_GLOBS:
        root, _, tail = pattern.partition("*")
        if tail:
            base = Path(root)
            if base.is_dir():
                found = sorted(
                    (p / tail.strip("/") for p in base.iterdir() if p.name[:1].isdigit()),
                    key=lambda p: _version_key(p.parent.name),
                    reverse=True,
                )
                candidates.extend(found)
        else:
            candidates.append(Path(pattern))
    for cand in candidates:
        if (cand / "initdb").exists() and (cand / "pg_ctl").exists():
            return cand
    on_path = shutil.which("initdb")
    if on_path:
        real = Path(os.path.realpath(on_path)).parent
        if (real / "pg_ctl").exists():
            return real
    raise ClusterError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found; install the server "
        "(Debian/Ubuntu: apt-get install -y postgresql) or set PG_BIN_DIR"
    )


def _version_key(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in name.split("."))
    except ValueError:
        return (0,)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TempCluster:
    """A running throwaway cluster; superuser ``postgres`` with trust auth on loopback only."""

    root: Path
    port: int
    bin_dir: Path
    run_as: str | None
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) of database ``dbname``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string for psycopg."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (fresh) and return its SQLAlchemy URL."""
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start_replica(self) -> TempCluster:
        """A streaming read replica of this cluster (``pg_basebackup -R``) on its own port.

        Stop it before the primary. Replicas replay commits in commit order.
        """
        root = Path(tempfile.mkdtemp(prefix="huleedu-pg-replica-", dir=self.root.parent))
        try:
            if self.run_as:
                shutil.chown(root, user=self.run_as, group=None)
                os.chmod(root, 0o700)
            _run(
                [
                    str(self.bin_dir / "pg_basebackup"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-D",
                    str(root / "data"),
                    "-R",
                    "-X",
                    "stream",
                    # An immediate checkpoint: the default spread one can take minutes.
                    "--checkpoint=fast",
                ],
                self.run_as,
            )
            port = free_port()
            opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root}"
            _run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(root / "data"),
                    "-l",
                    str(root / "server.log"),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                self.run_as,
            )
            if not _wait_accepting(port):
                raise ClusterError("the read replica did not accept connections")
            return TempCluster(root=root, port=port, bin_dir=self.bin_dir, run_as=self.run_as)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    def stop(self) -> None:
        """Fast shutdown and removal of the folder (safe to call twice)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            _run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop"],
                self.run_as,
                check=False,
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TempCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _run(cmd: list[str], run_as: str | None, *, check: bool = True) -> str:
    full = ["runuser", "-u", run_as, "--", *cmd] if run_as else cmd
    proc = subprocess.run(full, capture_output=True, text=True, check=False, timeout=120)
    if check and proc.returncode != 0:
        raise ClusterError(
            f"{' '.join(full)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout + proc.stderr


def start_cluster(*, fsync: bool = False) -> TempCluster:
    """initdb + start a cluster on a free loopback port; raise :class:`ClusterError` if not.

    ``fsync=False`` (with ``synchronous_commit=off``) is for tests only: a throwaway cluster need
    not survive a power cut. The bench passes ``fsync=True`` so both sides pay the same.
    """
    bin_dir = find_bin_dir()
    run_as: str | None = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        run_as = "postgres"
        try:
            import pwd  # noqa: PLC0415

            pwd.getpwnam(run_as)
        except KeyError as exc:
            raise ClusterError(
                "running as root, and there is no 'postgres' system user to run the cluster "
                "(install the postgresql package, which creates it)"
            ) from exc
    # As root the folder must be reachable by the postgres user: /tmp, not a private $TMPDIR.
    parent = "/tmp" if run_as and Path("/tmp").is_dir() else None
    root = Path(tempfile.mkdtemp(prefix="huleedu-pg-", dir=parent))
    try:
        if run_as:
            shutil.chown(root, user=run_as, group=None)
            os.chmod(root, 0o700)
        data = root / "data"
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as,
        )
        last_error = ""
        for _attempt in range(5):
            port = free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
                f"-c max_connections=100 -c shared_buffers=64MB"
            )
            if not fsync:
                opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            cmd = [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ]
            full = ["runuser", "-u", run_as, "--", *cmd] if run_as else cmd
            proc = subprocess.run(full, capture_output=True, text=True, check=False, timeout=120)
            if proc.returncode == 0 and _wait_accepting(port):
                return TempCluster(root=root, port=port, bin_dir=bin_dir, run_as=run_as)
            log_file = root / "server.log"
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            last_error = f"{proc.stdout}\n{proc.stderr}\n{log[-2000:]}"
            if "already in use" not in last_error:
                break
        raise ClusterError(f"PostgreSQL did not start: {last_error}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _wait_accepting(port: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.05)
    return False
